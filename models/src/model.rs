//! The stateright model: the protocol nodes of `locklab-protocols`, a network, explicit time and
//! a budget of faults.
//!
//! # State
//!
//! A [`State`] holds every node (the very `locklab_protocols::Node` the simulator runs, in a
//! [`Slot`] with its pending timers, process status, disk and draw counter), the messages in
//! flight (a sorted multiset: the network is unordered; or, with `check --network fifo`, one
//! FIFO inbox per node, an abstraction under which a sound partial-order reduction applies: see
//! [`Network`]), true time in ticks, what is left of the
//! fault budget, and [`Ghost`] state the properties read (acquire order, newest applied write,
//! the client-visible history for the linearizability check).
//!
//! Slots, messages in flight and the ghost are shared between a state and its successors until
//! a step changes them, and hashed through a cached digest ([`Shared`]): a step touches one or
//! two nodes, and copying and hashing successors is most of what an explicit-state checker does.
//! A message to a server that is down is lost at once when nothing could make it arrive
//! (`LockModel::lost_at_once`: an exact reduction).
//!
//! # How time is modelled, and why
//!
//! stateright itself has no time: an actor's timer may fire at any moment, whatever its
//! duration. For lock protocols that is fatal, because their safety *is* about time: a lease
//! protects its holder only until it expires. So time is part of the state:
//!
//! * **True time** is a tick counter `now_tick`, advanced by the [`Action::Tick`] action. A tick
//!   is a coarse step (TTL/3 by default; [`crate::setup::Timing`]). Every duration the protocols
//!   use is a whole number of ticks.
//! * **Local clocks** are derived from true time by each node's [`locklab_sim::clock::Clock`]
//!   (the simulator's own clock type: drift and offset), plus the wall-clock steps the
//!   clock-jump fault has applied. The [`Ctx`] handed to a node carries these local readings,
//!   exactly as in the simulator.
//! * **Timers** are kept per node with their deadline on that node's monotonic clock. A timer
//!   may fire only once the node's clock has reached its deadline ([`Action::Fire`]).
//! * **Timeliness.** Time may advance only when the world is *quiescent*: no due timer on a
//!   running node and no prompt message to a running node. Within one tick, everything that is
//!   due happens, in every possible order (the model explores all interleavings); then time
//!   moves on. So without faults, nodes are timely and messages arrive within the tick they are
//!   sent. Lateness is what the fault budget buys: a pause, a delayed message.
//!
//! # Faults (each an action, each bounded by the budget in [`Faults`])
//!
//! * [`Action::Pause`] / [`Action::Resume`]: a client stops the world. It takes no step while
//!   true time (and every other clock) moves on; its timers and messages wait for it.
//! * [`Action::Drop`]: a message in flight is lost.
//! * [`Action::Delay`]: a message is held back. It no longer has to arrive within its tick and
//!   may be delivered at any later moment (an unordered network delays for free; the budget only
//!   bounds how many messages may miss their tick).
//! * [`Action::Crash`] / [`Action::Restart`]: a server loses its volatile state and timers;
//!   on restart it starts from a pristine node with whatever it had `Persist`ed *and* `Sync`ed
//!   (the persistence policy is a protocol parameter: none, always, everysec).
//! * [`Action::ClockJump`]: a server's wall clock steps forward by `clock_jump_ms`.
//!
//! Process faults (pause, resume, crash, restart, clock jump) happen only at quiescent points,
//! i.e. between the last event of one tick and the first of the next. That loses nothing
//! (inside a tick there is no time to lose) and it is what lets a counterexample replay in the
//! simulator: a fault at the quiescent point of tick *k* is a fault at `(k+1) × tick_ms`, before
//! anything else happens at that instant.
//!
//! # Randomness
//!
//! Nodes draw through `locklab_protocols::Entropy`. Here a draw is a hash of the node id and a
//! per-node counter kept in the state, so two paths that reach the same state draw the same
//! values next: states stay canonical and the state space finite.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use locklab_protocols::history::Observation;
use locklab_protocols::{Command, Ctx, Durable, Effect, Entropy, Input, Msg, Node, NodeId, SessionId, Timer};
use stateright::{Model, Property};

use crate::setup::Setup;
use crate::spec::{check_history_with, LeaseSpec, LinEvent};

/// The fault budget: how many of each fault one behaviour may contain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Faults {
    pub pauses: u8,
    pub drops: u8,
    pub delays: u8,
    pub crashes: u8,
    pub clock_jumps: u8,
}

/// Fault names accepted by [`Faults::parse`].
pub const FAULT_NAMES: &[&str] = &["pause", "drop", "delay", "crash", "jump"];

impl Faults {
    /// Parse a list such as `pause,drop=2,crash` (a bare name means one) or `none`.
    pub fn parse(list: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "none" {
                continue;
            }
            let (name, count) = match item.split_once('=') {
                Some((n, c)) => {
                    let count: u8 = c.trim().parse().map_err(|_| format!("`{item}`: the count must be 0 to 255"))?;
                    (n.trim(), count)
                }
                None => (item, 1),
            };
            let slot = match name {
                "pause" => &mut f.pauses,
                "drop" | "loss" => &mut f.drops,
                "delay" => &mut f.delays,
                "crash" => &mut f.crashes,
                "jump" | "clock_jump" | "clock-jump" => &mut f.clock_jumps,
                other => {
                    return Err(format!("unknown fault `{other}`; valid faults: {} (or none)", FAULT_NAMES.join(", ")))
                }
            };
            *slot = count;
        }
        Ok(f)
    }
}

impl std::fmt::Display for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("pause", self.pauses),
            ("drop", self.drops),
            ("delay", self.delays),
            ("crash", self.crashes),
            ("jump", self.clock_jumps),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name}={n}"))
        .collect();
        if parts.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", parts.join(","))
        }
    }
}

/// Whether a process runs. `resumable`/`restartable`: a tick has passed since the fault (a pause
/// or an outage lasts at least one tick). `resuming`/`restarting`: the resume or restart has been
/// decided at a quiescent point and takes effect with the next tick, i.e. at the start of the
/// next instant, like every other process fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Up,
    Paused { resumable: bool, resuming: bool },
    Down { restartable: bool, restarting: bool },
}

/// One node and what the driver keeps about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    pub node: Node,
    pub status: Status,
    pub incarnation: u32,
    /// Pending timers with their deadline on the node's monotonic clock, sorted by timer. (One
    /// list per node: two states that differ only in *which* node holds a timer differ here.)
    pub timers: Vec<(Timer, u64)>,
    /// Random draws made so far (the draw source is a function of node id and this counter).
    pub draws: u32,
    /// Durable state synced to disk (survives a crash). Shared (see [`Shared`]): a sync shares
    /// the persisted value rather than copying it, successor states share both, and each is
    /// digested once, when persisted, not whenever the slot changes.
    pub disk: Option<Shared<Durable>>,
    /// Durable state persisted but not synced (lost on a crash).
    pub cache: Option<Shared<Durable>>,
    /// Sum of the wall-clock steps applied to this node.
    pub wall_steps_ns: i64,
}

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Envelope {
    pub to: NodeId,
    pub from: NodeId,
    pub msg: Msg,
    /// Held back by a delay fault: need not arrive within its tick.
    pub delayed: bool,
}

/// What the properties read: derived from the nodes' observations, never from protocol internals.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Lock sessions in the order their acquire returned (the order of "granted" for staleness).
    pub acquired: Vec<SessionId>,
    /// Index in `acquired` of the newest session whose write the resource applied.
    pub newest_applied: Option<u8>,
    pub stale_write: bool,
    /// A client sent a write as holder after its own lease had run out, while another client's
    /// lease was valid (acting as holder is believing).
    pub write_overlap: bool,
    /// [`Network::Fifo`] only: two clients believed they held the lock at once, in some state of
    /// this behaviour (belief mutual exclusion made sticky, as every other property's flag is:
    /// the partial-order reduction preserves the behaviours' end states, not every state in
    /// between).
    pub two_believers: bool,
    pub last_token: Option<u64>,
    /// Grants recorded so far as (token, holder): every Raft peer records the grant of each entry
    /// it applies, and a repeat of an identical grant is the same grant, not a new one (as
    /// `checkers::token_order` judges it).
    pub grants_seen: Vec<(u64, NodeId)>,
    pub token_regressed: bool,
    pub lock_granted: bool,
    /// Bit i: client i completed a critical section.
    pub cs_done_clients: u32,
    /// The client-visible history of acquires, extends (keep-alives) and releases (kept while it
    /// is linearizable; the verdict is sticky).
    pub lin_history: Vec<LinEvent>,
    pub linearizable: bool,
    /// Raft only (empty otherwise): what the peers recorded, for Raft's own invariants.
    pub raft: RaftGhost,
}

impl Ghost {
    /// Whether recording `obs` may change the ghost state (every observation [`LockModel`]'s
    /// `record` or `spec::record` reads; the rest — sends, timers, protocol notes — leave the
    /// ghost as it is, and the state keeps sharing it). Over-approximating is safe: it costs a
    /// copy, never a verdict.
    fn may_change(obs: &Observation) -> bool {
        use Observation as O;
        matches!(
            obs,
            O::RaftLeader { .. }
                | O::RaftCommitted { .. }
                | O::RaftApplied { .. }
                | O::AcquireOk { .. }
                | O::Grant { .. }
                | O::WriteApplied { .. }
                | O::CsDone { .. }
                | O::AcquireInvoke { .. }
                | O::ExtendInvoke { .. }
                | O::ReleaseInvoke { .. }
                | O::AcquireFail { .. }
                | O::ExtendOk { .. }
                | O::ExtendFail { .. }
                | O::ReleaseDone { .. }
        )
    }
}

/// Raft's invariants (Ongaro & Ousterhout 2014, Figure 3), judged from the peers' `RaftLeader`,
/// `RaftCommitted` and `RaftApplied` observations as `locklab-checkers` judges them
/// (`checkers/src/raft.rs`), but incrementally: each violation is a sticky flag.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RaftGhost {
    /// (term, leader), sorted by term.
    pub leaders: Vec<(u64, NodeId)>,
    /// (index, entry term, chain hash) of the first record of each applied (index, term), sorted.
    pub applied: Vec<(u64, u64, u64)>,
    /// (index, chain hash) of the first commit or application recorded at each index, sorted.
    pub entries: Vec<(u64, u64)>,
    /// The highest entry committed so far: (index, chain hash, commit term).
    pub highest_commit: Option<(u64, u64, u64)>,
    pub two_leaders: bool,
    pub log_mismatch: bool,
    pub incomplete_leader: bool,
    pub different_entries: bool,
}

impl RaftGhost {
    fn record(&mut self, node: NodeId, obs: &Observation) {
        match obs {
            Observation::RaftLeader { term, log_chain } => {
                match self.leaders.binary_search_by_key(term, |l| l.0) {
                    Ok(i) => self.two_leaders |= self.leaders[i].1 != node,
                    Err(i) => self.leaders.insert(i, (*term, node)),
                }
                // Leader Completeness: an entry committed in an earlier term is in the new
                // leader's log. (Commits recorded before the election; that is all the checker's
                // order-independent rule adds here, since a commit needs a majority.)
                if let Some((index, chain, commit_term)) = self.highest_commit {
                    if commit_term < *term && log_chain.get(index as usize - 1) != Some(&chain) {
                        self.incomplete_leader = true;
                    }
                }
            }
            Observation::RaftCommitted { term, index, chain } => {
                self.same_entry(*index, *chain);
                if self.highest_commit.is_none_or(|(i, _, _)| *index > i) {
                    self.highest_commit = Some((*index, *chain, *term));
                }
            }
            Observation::RaftApplied { index, entry_term, chain } => {
                match self.applied.binary_search_by_key(&(*index, *entry_term), |a| (a.0, a.1)) {
                    Ok(i) => self.log_mismatch |= self.applied[i].2 != *chain,
                    Err(i) => self.applied.insert(i, (*index, *entry_term, *chain)),
                }
                self.same_entry(*index, *chain);
            }
            _ => {}
        }
    }

    /// State Machine Safety: one entry per index, among everything committed or applied.
    fn same_entry(&mut self, index: u64, chain: u64) {
        match self.entries.binary_search_by_key(&index, |e| e.0) {
            Ok(i) => self.different_entries |= self.entries[i].1 != chain,
            Err(i) => self.entries.insert(i, (index, chain)),
        }
    }
}

/// A part of the state — a node's [`Slot`], a message in flight, the [`Ghost`] — shared between
/// states until a step changes it, with a digest of its contents.
///
/// Two costs dominate an explicit-state checker: copying a state to make each successor, and
/// hashing each successor to look it up among the states already seen. A step changes one or
/// two of the nodes, removes a message and adds a few; everything else is shared (`Arc`: a
/// successor copies pointers, not logs and maps), and its digest (a 64-bit hash of the part,
/// computed once when it is made or changed, with ahash under fixed keys as stateright's own
/// fingerprints) is what the state's hash reads. The state's fingerprint is then a hash of
/// digests: as collision-resistant as stateright's own 64-bit fingerprints, for a fraction of the
/// work. Equality and order still compare contents.
#[derive(Clone)]
pub struct Shared<T> {
    value: Arc<T>,
    /// `None` while the value is being changed; [`Shared::seal`] computes it.
    digest: Option<u64>,
}

/// A node's slot in a [`State`] (see [`Shared`]).
pub type SlotRef = Shared<Slot>;

/// The digest of one part of a state: ahash with fixed keys (deterministic across runs).
pub(crate) fn digest_of<T: Hash + ?Sized>(value: &T) -> u64 {
    ahash_keys().hash_one(value)
}

impl<T: Hash + Clone> Shared<T> {
    fn new(value: T) -> Self {
        Shared { value: Arc::new(value), digest: None }
    }

    /// A value that will not change before it is hashed (a message in flight).
    fn sealed(value: T) -> Self {
        let digest = Some(digest_of(&value));
        Shared { value: Arc::new(value), digest }
    }

    /// The value, for a change: copied first if another state shares it.
    fn make_mut(&mut self) -> &mut T {
        self.digest = None;
        Arc::make_mut(&mut self.value)
    }

    /// The value itself: moved out if no other state shares it, else copied.
    fn into_inner(self) -> T {
        Arc::try_unwrap(self.value).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Whether two handles share one value (a step that did not change it kept it shared).
    fn same(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.value, &b.value)
    }

    fn seal(&mut self) {
        if self.digest.is_none() {
            self.digest = Some(digest_of(&*self.value));
        }
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.value, &other.value) || self.value == other.value
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T: Ord> PartialOrd for Shared<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Shared<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.value, &other.value) {
            std::cmp::Ordering::Equal
        } else {
            self.value.cmp(&other.value)
        }
    }
}

impl<T: Hash> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        debug_assert!(self.digest.is_some(), "a state is hashed before it was sealed");
        state.write_u64(self.digest.unwrap_or_else(|| digest_of(&*self.value)));
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// The model's state. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub now_tick: u32,
    /// Shared between states until a step changes them: a step touches one or two nodes, so a
    /// successor state copies (and re-hashes) only those. See [`SlotRef`].
    pub slots: Vec<SlotRef>,
    /// Messages in flight, sorted (each shared and digested when sent: see [`Shared`]).
    pub network: Vec<Shared<Envelope>>,
    /// What is left of the fault budget.
    pub budget: Faults,
    /// Shared between states until an observation changes it (most steps record none).
    pub ghost: Shared<Ghost>,
}

impl State {
    /// A copy to take a step from: as `clone`, but the network has room for the messages a step
    /// sends (a clone copies it at its length, and the first send would grow it again).
    fn copy_for_step(&self) -> State {
        let mut network = Vec::with_capacity(self.network.len() + 2);
        network.extend(self.network.iter().cloned());
        State {
            now_tick: self.now_tick,
            slots: self.slots.clone(),
            network,
            budget: self.budget,
            ghost: self.ghost.clone(),
        }
    }

    /// Digest every part a step changed (see [`Shared`]).
    fn seal(&mut self) {
        for slot in &mut self.slots {
            slot.seal();
        }
        self.ghost.seal();
    }
}

/// Everything that can happen next.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Deliver the message at `index` of the network (a message to a crashed node is lost).
    Deliver {
        index: usize,
        from: NodeId,
        to: NodeId,
        kind: &'static str,
    },
    /// Fault: lose the message at `index`.
    Drop {
        index: usize,
        from: NodeId,
        to: NodeId,
        kind: &'static str,
    },
    /// Fault: hold back the message at `index` past its tick.
    Delay {
        index: usize,
        from: NodeId,
        to: NodeId,
        kind: &'static str,
    },
    /// A due timer fires.
    Fire {
        node: NodeId,
        timer: Timer,
    },
    /// True time advances one tick.
    Tick,
    Pause {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    Crash {
        node: NodeId,
    },
    Restart {
        node: NodeId,
    },
    ClockJump {
        node: NodeId,
    },
}

/// What happened during a step, for counterexample export (not kept in the state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    Sent { from: NodeId, to: NodeId, msg: Msg },
    Recorded { node: NodeId, obs: Observation },
}

/// The draw source handed to a node: splitmix64 of (node, counter).
struct CounterEntropy<'a> {
    node: NodeId,
    draws: &'a mut u32,
}

impl Entropy for CounterEntropy<'_> {
    fn next_u64(&mut self) -> u64 {
        *self.draws += 1;
        let mut z = ((self.node as u64) << 32 | *self.draws as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Property names (as reported and as used in tests).
pub mod prop {
    pub const NO_STALE_WRITE: &str = "no stale write";
    pub const BELIEF_MUTEX: &str = "belief mutual exclusion";
    pub const TOKENS_INCREASE: &str = "fencing tokens increase";
    pub const LINEARIZABLE: &str = "linearizable (lease spec)";
    pub const LOCK_GRANTED: &str = "a lock is granted";
    pub const TWO_CS: &str = "two critical sections complete";
    /// Raft's own invariants (Figure 3 of the Raft paper), checked only when the servers are Raft
    /// peers.
    pub const ELECTION_SAFETY: &str = "raft: election safety";
    pub const LOG_MATCHING: &str = "raft: log matching";
    pub const LEADER_COMPLETENESS: &str = "raft: leader completeness";
    pub const STATE_MACHINE_SAFETY: &str = "raft: state machine safety";
    pub const RAFT: [&str; 4] = [ELECTION_SAFETY, LOG_MATCHING, LEADER_COMPLETENESS, STATE_MACHINE_SAFETY];
}

/// How the network orders the prompt messages in flight to one node (`check --network`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// Any message in flight may arrive next: every reordering of a tick's messages is explored
    /// (the default).
    #[default]
    Unordered,
    /// One FIFO inbox per node: a node handles its prompt messages in the order they were sent
    /// (in the global order of the steps that sent them). A delayed message leaves the inbox and
    /// may arrive at any quiescent point from then on, i.e. after the rest of its tick's traffic
    /// or later. This is an abstraction (fewer behaviours: a message never overtakes one sent
    /// to the same node before it, unless a delay fault holds it back), under which a sound
    /// partial-order reduction applies (see `LockModel::ample_set`).
    Fifo,
}

impl Network {
    pub fn parse(name: &str) -> Result<Network, String> {
        match name {
            "unordered" => Ok(Network::Unordered),
            "fifo" => Ok(Network::Fifo),
            other => Err(format!("--network {other}: expected unordered or fifo")),
        }
    }
}

/// A configuration to check: protocol nodes, timing and the fault budget.
#[derive(Clone, Debug)]
pub struct LockModel {
    pub setup: Setup,
    pub faults: Faults,
    /// How messages to one node are ordered; [`Network::Fifo`] also turns on the partial-order
    /// reduction.
    pub network: Network,
    /// With [`Network::Fifo`]: expand only an ample set of actions where one exists (on by
    /// default; off only to test the reduction against the full FIFO model).
    pub reduce: bool,
    /// Remember node steps in [`NodeStepMemo`] (`check::run` turns it on for a depth-first
    /// search; a speed setting only).
    pub step_memo: bool,
    /// Set by the budget watchdog (`check::run`): every state is then outside the boundary, so the
    /// search winds down at once and its unexplored verdicts read `unknown`.
    pub stop: Arc<AtomicBool>,
    /// Verdicts of the linearizability tester, by (spec, history): shared by the search's threads.
    lin_memo: Arc<LinMemo>,
}

/// Memoised linearizability verdicts, keyed by the exact spec and history (no digest stands in
/// for a key: a collision cannot change a verdict).
///
/// The tester runs at every return, and it is a search (exponential at worst): profiled on
/// `check lease-fenced`, it was 27% of the checker's time before this memo. Many states share
/// one history — it records only client-visible calls and returns, while the states also differ
/// in servers, messages and timers — so most checks are look-ups. Sharded by the history's
/// digest so that the search threads seldom wait on one another.
#[derive(Default)]
struct LinMemo {
    shards: [std::sync::Mutex<MemoShard>; 16],
}

/// One shard of [`LinMemo`]: per spec (one, unless a model's setup is changed after cloning),
/// history → verdict.
type MemoShard = Vec<(LeaseSpec, std::collections::HashMap<Vec<LinEvent>, bool, FixedAhash>)>;

/// ahash under the fixed keys of [`digest_of`], for the memo's map (std's SipHash was 3% of
/// `check raft`).
#[derive(Clone, Copy, Default)]
struct FixedAhash;

impl std::hash::BuildHasher for FixedAhash {
    type Hasher = ahash::AHasher;
    fn build_hasher(&self) -> ahash::AHasher {
        ahash_keys().build_hasher()
    }
}

fn ahash_keys() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

impl LinMemo {
    fn check(&self, spec: LeaseSpec, history: &[LinEvent]) -> bool {
        let shard = &self.shards[(digest_of(history) % 16) as usize];
        let lookup =
            |shard: &MemoShard| shard.iter().find(|(s, _)| *s == spec).and_then(|(_, m)| m.get(history).copied());
        if let Some(verdict) = lookup(&shard.lock().expect("a memo shard")) {
            return verdict;
        }
        let verdict = check_history_with(spec.clone(), history).unwrap_or(false);
        let mut shard = shard.lock().expect("a memo shard");
        let i = match shard.iter().position(|(s, _)| *s == spec) {
            Some(i) => i,
            None => {
                shard.push((spec, Default::default()));
                shard.len() - 1
            }
        };
        shard[i].1.insert(history.to_vec(), verdict);
        verdict
    }
}

impl std::fmt::Debug for LinMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinMemo")
    }
}

impl LockModel {
    pub fn new(setup: Setup, faults: Faults) -> Self {
        LockModel {
            setup,
            faults,
            network: Network::Unordered,
            reduce: true,
            step_memo: false,
            stop: Arc::new(AtomicBool::new(false)),
            lin_memo: Arc::default(),
        }
    }

    /// The same configuration with another network order.
    pub fn with_network(self, network: Network) -> Self {
        LockModel { network, ..self }
    }

    /// The same configuration with [`NodeStepMemo`] on or off (a speed setting: it never
    /// changes a state).
    pub fn with_step_memo(self, step_memo: bool) -> Self {
        LockModel { step_memo, ..self }
    }

    /// The same configuration with the partial-order reduction on or off (it applies to
    /// [`Network::Fifo`] only).
    pub fn with_reduction(self, reduce: bool) -> Self {
        LockModel { reduce, ..self }
    }

    fn tick_ns(&self) -> u64 {
        self.setup.timing.tick_ms * 1_000_000
    }

    /// True time of a state, in ns.
    pub fn now_ns(&self, s: &State) -> u64 {
        s.now_tick as u64 * self.tick_ns()
    }

    /// A node's local (monotonic, wall) readings in a state.
    pub fn readings(&self, s: &State, node: NodeId) -> (u64, i64) {
        let t_ns = self.now_ns(s);
        let clock = &self.setup.clocks[node];
        (clock.mono_ns(t_ns), clock.wall_ns(t_ns) + s.slots[node].wall_steps_ns)
    }

    fn client_index(&self, node: NodeId) -> Option<usize> {
        self.setup.clients.iter().position(|&c| c == node)
    }

    /// Feed one input to a node and carry out its effects.
    fn dispatch(&self, s: &mut State, node: NodeId, input: Input, log: &mut Option<&mut Vec<LogEvent>>) {
        let outputs = self.run_node(s, node, input);
        self.deliver_outputs(s, node, outputs, log);
    }

    /// The first half of [`LockModel::dispatch`]: feed one input to a node and apply the effects
    /// that stay in its own slot (timers, persistence); return the others, in order.
    ///
    /// What this does is a function of the node's slot, the input and the tick alone (the
    /// node's clock readings are a function of the tick and its slot; its draws come from a
    /// counter in the slot), which is what [`LockModel::node_step`] relies on.
    fn run_node(&self, s: &mut State, node: NodeId, input: Input) -> Outputs {
        let (mono_ns, wall_ns) = self.readings(s, node);
        let mut effects = Vec::with_capacity(8);
        let slot = s.slots[node].make_mut();
        {
            let mut entropy = CounterEntropy { node, draws: &mut slot.draws };
            let mut ctx = Ctx::new(node, mono_ns, wall_ns, &mut entropy, &mut effects);
            slot.node.handle(&mut ctx, input);
        }
        let mut outputs = Outputs::new();
        for effect in effects {
            match effect {
                Effect::Send { to, msg } => {
                    outputs.push(Output::Send(Shared::sealed(Envelope { to, from: node, msg, delayed: false })))
                }
                Effect::SetTimer { timer, after_ns } => {
                    let deadline = mono_ns + after_ns;
                    match slot.timers.binary_search_by(|(t, _)| t.cmp(&timer)) {
                        Ok(i) => slot.timers[i].1 = deadline,
                        Err(i) => slot.timers.insert(i, (timer, deadline)),
                    }
                }
                Effect::CancelTimer { timer } => slot.timers.retain(|(t, _)| *t != timer),
                Effect::Persist(durable) => slot.cache = Some(Shared::sealed(durable)),
                Effect::Sync => {
                    if slot.cache.is_some() {
                        slot.disk = slot.cache.clone();
                    }
                }
                Effect::Record(obs) => outputs.push(Output::Record(obs)),
            }
        }
        outputs
    }

    /// The second half of [`LockModel::dispatch`]: what a node's step does outside its slot, in
    /// the order the node did it. Messages go in flight (unless lost at once); observations go
    /// to the ghost state. (Doing these after the slot's own effects changes nothing: the
    /// slot's effects touch timers and storage, and neither a send nor an observation reads
    /// those.)
    fn deliver_outputs(
        &self,
        s: &mut State,
        node: NodeId,
        outputs: impl IntoIterator<Item = Output>,
        log: &mut Option<&mut Vec<LogEvent>>,
    ) {
        for output in outputs {
            match output {
                Output::Send(e) => {
                    if let Some(log) = log {
                        log.push(LogEvent::Sent { from: node, to: e.to, msg: e.msg.clone() });
                    }
                    if !self.lost_at_once(s, e.to) {
                        self.put_in_flight(&mut s.network, e);
                    }
                }
                Output::Record(obs) => self.record(s, node, obs, log),
            }
        }
    }

    /// A delivery or a timer's firing at `node`: [`LockModel::run_node`] through this thread's
    /// [`NodeStepMemo`], then [`LockModel::deliver_outputs`].
    ///
    /// The search meets the same step of a node again and again: every interleaving of the
    /// other nodes' steps before it leads to a state where this node's slot and this message
    /// are the very same shared values. The memo answers such a step with the slot it led to
    /// (shared, already digested) and its outputs, which are then delivered to *this* state.
    fn node_step(&self, s: &mut State, node: NodeId, input: StepInput, log: &mut Option<&mut Vec<LogEvent>>) {
        if !self.step_memo {
            let outputs = self.run_step(s, node, &input);
            return self.deliver_outputs(s, node, outputs, log);
        }
        let key = NodeStepKey { node, slot: s.slots[node].clone(), input, now_tick: s.now_tick };
        if let Some((after, outputs)) = NODE_STEPS.with(|memo| memo.borrow().get(&key).cloned()) {
            s.slots[node] = after;
            self.deliver_outputs(s, node, outputs, log);
            return;
        }
        let outputs = self.run_step(s, node, &key.input);
        s.slots[node].seal();
        let after = s.slots[node].clone();
        NODE_STEPS.with(|memo| memo.borrow_mut().put(key, (after, outputs.clone())));
        self.deliver_outputs(s, node, outputs, log);
    }

    /// [`LockModel::run_node`] for a delivery or a timer's firing (which first leaves the
    /// node's timer list).
    fn run_step(&self, s: &mut State, node: NodeId, input: &StepInput) -> Outputs {
        let input = match input {
            StepInput::Message(e) => Input::Message { from: e.from, msg: e.msg.clone() },
            StepInput::Timer(timer) => {
                s.slots[node].make_mut().timers.retain(|(t, _)| t != timer);
                Input::Timer(*timer)
            }
        };
        self.run_node(s, node, input)
    }

    /// A message sent now to `to` is lost whatever happens next, so it is not put in flight.
    ///
    /// This is a reduction, and it is exact for the properties: `to` is down and not due to
    /// restart at the next tick (`restarting: false`), and no delay is left in the budget. Such a
    /// message is prompt (it blocks `Tick`) and nothing can make its receiver run before it is
    /// delivered — a restart needs a quiescent point, a delay needs budget — so in the full model
    /// it is delivered to a down node (lost) or dropped (lost, spending a drop) before time moves
    /// on. Putting it in flight only adds intermediate states that differ from the reduced ones in
    /// the network alone (no property reads the network), interleaved with everything else in
    /// the tick; dropping it spends budget that the reduced model keeps (a budget only enables
    /// actions). Every state the reduced model reaches is one the full model reaches, and every
    /// violation of the full model is found (the pinned verdicts of `tests/models.rs` did not
    /// change; the unique-state counts of configurations with a crash fell).
    ///
    /// With [`Network::Fifo`] the condition is that the configuration has no delay at all (not
    /// merely none left): a step's effect must not depend on the delays other nodes' steps
    /// spent, or the partial-order reduction's commutation argument would fail.
    fn lost_at_once(&self, s: &State, to: NodeId) -> bool {
        let no_delay = match self.network {
            Network::Unordered => s.budget.delays == 0,
            Network::Fifo => self.faults.delays == 0,
        };
        no_delay && matches!(s.slots[to].status, Status::Down { restarting: false, .. })
    }

    /// Update the ghost state from one observation.
    fn record(&self, s: &mut State, node: NodeId, obs: Observation, log: &mut Option<&mut Vec<LogEvent>>) {
        let t_ns = self.now_ns(s);
        if matches!(obs, Observation::WriteSent { .. }) && !self.lease_valid(s, node) {
            let other_valid = self.setup.clients.iter().any(|&c| c != node && self.lease_valid(s, c));
            if other_valid && !s.ghost.write_overlap {
                s.ghost.make_mut().write_overlap = true;
            }
        }
        if !Ghost::may_change(&obs) {
            if let Some(log) = log {
                log.push(LogEvent::Recorded { node, obs });
            }
            return;
        }
        let g = s.ghost.make_mut();
        g.raft.record(node, &obs);
        match &obs {
            Observation::AcquireOk { session, .. } => {
                g.acquired.push(*session);
                g.lock_granted = true;
            }
            Observation::Grant { token: Some(token), holder, .. } if !g.grants_seen.contains(&(*token, *holder)) => {
                if g.last_token.is_some_and(|last| *token <= last) {
                    g.token_regressed = true;
                }
                g.last_token = Some(*token);
                g.grants_seen.push((*token, *holder));
            }
            Observation::WriteApplied { session, .. } => {
                if let Some(rank) = g.acquired.iter().position(|a| a == session) {
                    let rank = rank as u8;
                    match g.newest_applied {
                        Some(newest) if rank < newest => g.stale_write = true,
                        Some(newest) if rank == newest => {}
                        _ => g.newest_applied = Some(rank),
                    }
                }
            }
            Observation::CsDone { .. } => {
                if let Some(i) = self.client_index(node) {
                    g.cs_done_clients |= 1 << i;
                }
            }
            _ => {}
        }
        if g.linearizable {
            // A call alone never makes a history non-linearizable (it may stay in flight), so
            // only a return is a reason to check again.
            if crate::spec::record(&mut g.lin_history, &obs, t_ns)
                && matches!(g.lin_history.last(), Some(LinEvent::Return(..)))
            {
                // The etcd-style Raft service revokes an expired lease lazily (its TTL is a lower
                // bound); the single-server leases and Redlock expire keys at their TTL.
                // Without a lease (skinny, ZooKeeper, Chubby) the spec is a mutex, as the
                // simulator's checker's; a lease revoked lazily (Raft, Consul) has a TTL that is
                // a lower bound.
                let spec = match self.setup.ttl_ns {
                    None => LeaseSpec::mutex(),
                    Some(ttl_ns) if self.setup.protocol.lazy_expiry() => {
                        LeaseSpec::lazy(ttl_ns, self.setup.session_lease)
                    }
                    Some(ttl_ns) => LeaseSpec::new(ttl_ns),
                };
                g.linearizable = self.lin_memo.check(spec, &g.lin_history);
            }
        }
        if let Some(log) = log {
            log.push(LogEvent::Recorded { node, obs });
        }
    }

    fn due(&self, s: &State, node: NodeId) -> Option<Timer> {
        let slot = &s.slots[node];
        if slot.status != Status::Up || slot.timers.is_empty() {
            return None;
        }
        let (mono_ns, _) = self.readings(s, node);
        slot.timers.iter().find(|(_, deadline)| *deadline <= mono_ns).map(|(t, _)| *t)
    }

    /// The timers of `node` that may fire now (it is up and its clock reached their deadline).
    pub fn due_timers(&self, s: &State, node: NodeId) -> Vec<Timer> {
        let slot = &s.slots[node];
        if slot.status != Status::Up {
            return Vec::new();
        }
        let (mono_ns, _) = self.readings(s, node);
        slot.timers.iter().filter(|(_, deadline)| *deadline <= mono_ns).map(|(t, _)| *t).collect()
    }

    /// Nothing is due: no prompt message to a node that is not paused, no due timer.
    pub fn quiescent(&self, s: &State) -> bool {
        let prompt = s.network.iter().any(|e| !e.delayed && !matches!(s.slots[e.to].status, Status::Paused { .. }));
        !prompt && (0..s.slots.len()).all(|n| self.due(s, n).is_none())
    }

    /// Nothing can ever happen again: time would pass in vain.
    fn at_rest(&self, s: &State) -> bool {
        s.network.is_empty()
            && s.slots.iter().all(|slot| slot.status == Status::Up && slot.timers.is_empty())
            && (0..self.setup.clients.len()).all(|i| self.setup.start_tick(i) <= s.now_tick)
    }

    /// Does client `node` hold a lease that is valid by its own clock now?
    pub fn lease_valid(&self, s: &State, node: NodeId) -> bool {
        let slot = &s.slots[node];
        let Node::Client(client) = &slot.node else { return false };
        if matches!(slot.status, Status::Down { .. }) {
            return false;
        }
        let mut no_entropy = CounterEntropy { node, draws: &mut 0 };
        let mut no_effects = Vec::new();
        let (mono_ns, wall_ns) = self.readings(s, node);
        let ctx = Ctx::new(node, mono_ns, wall_ns, &mut no_entropy, &mut no_effects);
        client.lock.is_valid(&ctx)
    }

    /// How many clients believe they hold the lock now (a valid lease by their own clock).
    pub fn believers(&self, s: &State) -> usize {
        self.setup.clients.iter().filter(|&&c| self.lease_valid(s, c)).count()
    }

    /// Carry out `action` on `s`; `log` collects sends and observations for export.
    pub fn step(&self, s: &mut State, action: &Action, log: Option<&mut Vec<LogEvent>>) {
        self.apply(s, action, log);
        self.finish_step(s);
    }

    /// What follows every step: the FIFO model's sticky belief flag, and the digests.
    fn finish_step(&self, s: &mut State) {
        if self.network == Network::Fifo && !s.ghost.two_believers && self.believers(s) >= 2 {
            s.ghost.make_mut().two_believers = true;
        }
        s.seal();
    }

    fn apply(&self, s: &mut State, action: &Action, mut log: Option<&mut Vec<LogEvent>>) {
        match *action {
            Action::Deliver { index, .. } => {
                let e = s.network.remove(index);
                if !matches!(s.slots[e.to].status, Status::Down { .. }) {
                    self.node_step(s, e.to, StepInput::Message(e), &mut log);
                }
            }
            Action::Drop { index, .. } => {
                s.network.remove(index);
                s.budget.drops -= 1;
            }
            Action::Delay { index, .. } => {
                let mut e = s.network.remove(index).into_inner();
                e.delayed = true;
                self.put_in_flight(&mut s.network, Shared::sealed(e));
                s.budget.delays -= 1;
            }
            Action::Fire { node, timer } => self.node_step(s, node, StepInput::Timer(timer), &mut log),
            Action::Tick => {
                s.now_tick += 1;
                for node in 0..s.slots.len() {
                    let status = match s.slots[node].status {
                        Status::Paused { resuming: true, .. } => Status::Up,
                        Status::Paused { .. } => Status::Paused { resumable: true, resuming: false },
                        Status::Down { restarting: true, .. } => {
                            self.restart(s, node, &mut log);
                            continue;
                        }
                        Status::Down { .. } => Status::Down { restartable: true, restarting: false },
                        Status::Up => Status::Up,
                    };
                    if status != s.slots[node].status {
                        s.slots[node].make_mut().status = status;
                    }
                }
                for i in 0..self.setup.clients.len() {
                    if self.setup.start_tick(i) == s.now_tick {
                        self.dispatch(s, self.setup.clients[i], Input::Command(Command::Run), &mut log);
                    }
                }
            }
            Action::Pause { node } => {
                s.slots[node].make_mut().status = Status::Paused { resumable: false, resuming: false };
                s.budget.pauses -= 1;
            }
            Action::Resume { node } => {
                s.slots[node].make_mut().status = Status::Paused { resumable: true, resuming: true }
            }
            Action::Crash { node } => {
                let slot = s.slots[node].make_mut();
                slot.status = Status::Down { restartable: false, restarting: false };
                slot.timers.clear();
                slot.cache = None;
                s.budget.crashes -= 1;
            }
            Action::Restart { node } => {
                s.slots[node].make_mut().status = Status::Down { restartable: true, restarting: true }
            }
            Action::ClockJump { node } => {
                s.slots[node].make_mut().wall_steps_ns += self.setup.timing.clock_jump_ms * 1_000_000;
                s.budget.clock_jumps -= 1;
            }
        }
    }

    /// A crashed server starts again: a pristine node fed what survived on its disk.
    fn restart(&self, s: &mut State, node: NodeId, log: &mut Option<&mut Vec<LogEvent>>) {
        let slot = s.slots[node].make_mut();
        slot.status = Status::Up;
        slot.incarnation += 1;
        slot.node = self.setup.pristine[node].clone();
        let input = Input::Start { incarnation: slot.incarnation, durable: slot.disk.as_deref().cloned() };
        self.dispatch(s, node, input, log);
    }

    /// The initial state, with its start-up observations logged.
    pub fn init_state(&self, mut log: Option<&mut Vec<LogEvent>>) -> State {
        let slots = self
            .setup
            .pristine
            .iter()
            .map(|node| {
                SlotRef::new(Slot {
                    node: node.clone(),
                    status: Status::Up,
                    incarnation: 0,
                    timers: Vec::new(),
                    draws: 0,
                    disk: None,
                    cache: None,
                    wall_steps_ns: 0,
                })
            })
            .collect();
        let mut s = State {
            now_tick: 0,
            slots,
            network: Vec::new(),
            budget: self.faults,
            ghost: Shared::new(Ghost {
                acquired: Vec::new(),
                newest_applied: None,
                stale_write: false,
                write_overlap: false,
                two_believers: false,
                last_token: None,
                grants_seen: Vec::new(),
                token_regressed: false,
                lock_granted: false,
                cs_done_clients: 0,
                lin_history: Vec::new(),
                linearizable: true,
                raft: RaftGhost::default(),
            }),
        };
        for node in 0..s.slots.len() {
            self.dispatch(&mut s, node, Input::Start { incarnation: 0, durable: None }, &mut log);
        }
        for i in 0..self.setup.clients.len() {
            if self.setup.start_tick(i) == 0 {
                self.dispatch(&mut s, self.setup.clients[i], Input::Command(Command::Run), &mut log);
            }
        }
        s.seal();
        s
    }

    /// The name of a node.
    pub fn name(&self, node: NodeId) -> &str {
        &self.setup.names[node]
    }

    fn is_stopped_or_done(&self, s: &State, node: NodeId) -> bool {
        use locklab_protocols::worker::Phase;
        matches!(&s.slots[node].node, Node::Client(c) if matches!(c.phase, Phase::Stopped | Phase::Done))
    }
}

impl Model for LockModel {
    type State = State;
    type Action = Action;

    fn within_boundary(&self, _state: &State) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn init_states(&self) -> Vec<State> {
        vec![self.init_state(None)]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let quiescent = self.quiescent(s);
        // FIFO: each node's inbox head, and only an ample set of it all where one exists.
        let heads = match self.network {
            Network::Unordered => None,
            Network::Fifo => {
                let heads = self.inbox_heads(s);
                if !quiescent && self.reduce {
                    if let Some(ample) = self.ample_set(s, &heads) {
                        actions.extend(ample);
                        return;
                    }
                }
                Some(heads)
            }
        };
        for (index, e) in s.network.iter().enumerate() {
            let (from, to, kind) = (e.from, e.to, e.msg.kind());
            let runs = !matches!(s.slots[to].status, Status::Paused { .. });
            let deliverable = match &heads {
                None => runs,
                // The inbox head arrives next; a delayed message at a quiescent point or later.
                Some(heads) => heads[to] == Some(index) || (e.delayed && quiescent && runs),
            };
            if deliverable {
                actions.push(Action::Deliver { index, from, to, kind });
            }
            if s.budget.drops > 0 {
                actions.push(Action::Drop { index, from, to, kind });
            }
            if s.budget.delays > 0 && !e.delayed {
                actions.push(Action::Delay { index, from, to, kind });
            }
        }
        for node in 0..s.slots.len() {
            self.fire_actions(s, node, actions);
        }
        if quiescent {
            self.quiescent_actions(s, actions);
        }
    }

    fn next_state(&self, s: &State, action: Action) -> Option<State> {
        if self.network == Network::Fifo && self.reduce {
            if let Some(next) = self.remembered_neutral_step(s, &action) {
                return Some(next);
            }
        }
        let mut next = s.copy_for_step();
        self.step(&mut next, &action, None);
        Some(next)
    }

    fn format_action(&self, action: &Action) -> String {
        let n = |id: NodeId| self.name(id).to_string();
        match action {
            Action::Deliver { from, to, kind, .. } => format!("deliver {kind} {} → {}", n(*from), n(*to)),
            Action::Drop { from, to, kind, .. } => format!("DROP {kind} {} → {}", n(*from), n(*to)),
            Action::Delay { from, to, kind, .. } => format!("DELAY {kind} {} → {}", n(*from), n(*to)),
            Action::Fire { node, timer } => format!("{} timer {timer:?} fires", n(*node)),
            Action::Tick => "tick".to_string(),
            Action::Pause { node } => format!("PAUSE {}", n(*node)),
            Action::Resume { node } => format!("resume {}", n(*node)),
            Action::Crash { node } => format!("CRASH {}", n(*node)),
            Action::Restart { node } => format!("restart {}", n(*node)),
            Action::ClockJump { node } => {
                format!("CLOCK JUMP {} wall clock +{} ms", n(*node), self.setup.timing.clock_jump_ms)
            }
        }
    }

    /// The state after the step in words (the explorer shows it beside each action).
    fn format_step(&self, last_state: &State, action: Action) -> Option<String> {
        self.next_state(last_state, action).map(|next| crate::explorer::describe_state(self, &next))
    }

    /// A sequence diagram of the path (the explorer draws it): see [`crate::explorer`].
    fn as_svg(&self, path: stateright::Path<State, Action>) -> Option<String> {
        Some(crate::explorer::sequence_svg(self, &path.into_vec()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut properties = vec![
            Property::always(prop::NO_STALE_WRITE, |_, s: &State| !s.ghost.stale_write),
            Property::always(prop::BELIEF_MUTEX, |m: &LockModel, s: &State| {
                !s.ghost.write_overlap && !s.ghost.two_believers && m.believers(s) <= 1
            }),
        ];
        // Only a variant whose servers issue tokens has an order of tokens to judge (as the
        // scenario format declares `token_order` only for such variants).
        if self.setup.protocol.switches().tokens {
            properties.push(Property::always(prop::TOKENS_INCREASE, |_, s: &State| !s.ghost.token_regressed));
        }
        properties.extend([
            Property::always(prop::LINEARIZABLE, |_, s: &State| s.ghost.linearizable),
            Property::sometimes(prop::LOCK_GRANTED, |_, s: &State| s.ghost.lock_granted),
            Property::sometimes(prop::TWO_CS, |_, s: &State| s.ghost.cs_done_clients.count_ones() >= 2),
        ]);
        if self.setup.protocol.is_raft() {
            properties.extend([
                Property::always(prop::ELECTION_SAFETY, |_, s: &State| !s.ghost.raft.two_leaders),
                Property::always(prop::LOG_MATCHING, |_, s: &State| !s.ghost.raft.log_mismatch),
                Property::always(prop::LEADER_COMPLETENESS, |_, s: &State| !s.ghost.raft.incomplete_leader),
                Property::always(prop::STATE_MACHINE_SAFETY, |_, s: &State| !s.ghost.raft.different_entries),
            ]);
        }
        properties
    }
}

impl LockModel {
    /// The due timers of `node` that fire (it is up and its clock reached their deadline).
    fn fire_actions(&self, s: &State, node: NodeId, actions: &mut Vec<Action>) {
        let slot = &s.slots[node];
        if slot.status != Status::Up {
            return;
        }
        let (mono_ns, _) = self.readings(s, node);
        for &(timer, deadline) in &slot.timers {
            if deadline <= mono_ns {
                actions.push(Action::Fire { node, timer });
            }
        }
    }

    /// What may happen at a quiescent point: time passes, process faults and their ends.
    fn quiescent_actions(&self, s: &State, actions: &mut Vec<Action>) {
        if s.now_tick < self.setup.timing.horizon_ticks && !self.at_rest(s) {
            actions.push(Action::Tick);
        }
        for (i, &c) in self.setup.clients.iter().enumerate() {
            // Raft: a client is paused only once it has started (a pause before the start is
            // merely a later start, and it lets the two clients' acquires overlap, which
            // multiplies the interleavings of the peers' replication).
            let started = !self.setup.protocol.is_raft() || self.setup.start_tick(i) <= s.now_tick;
            match s.slots[c].status {
                Status::Up if s.budget.pauses > 0 && started && !self.is_stopped_or_done(s, c) => {
                    actions.push(Action::Pause { node: c })
                }
                Status::Paused { resumable: true, resuming: false } => actions.push(Action::Resume { node: c }),
                _ => {}
            }
        }
        for &server in &self.setup.servers {
            match s.slots[server].status {
                Status::Up => {
                    if s.budget.crashes > 0 {
                        actions.push(Action::Crash { node: server });
                    }
                    if s.budget.clock_jumps > 0 {
                        actions.push(Action::ClockJump { node: server });
                    }
                }
                Status::Down { restartable: true, restarting: false } => actions.push(Action::Restart { node: server }),
                _ => {}
            }
        }
    }

    /// Put a message in flight, where the network's order says.
    ///
    /// [`Network::Unordered`]: the network is a sorted multiset. [`Network::Fifo`]: it is
    /// grouped by receiver, each receiver's prompt messages first, in the order they were sent
    /// (its inbox), then its delayed ones, sorted (they arrive in any order).
    fn put_in_flight(&self, network: &mut Vec<Shared<Envelope>>, e: Shared<Envelope>) {
        let key = (e.to, e.delayed);
        let i = match self.network {
            Network::Unordered => network.binary_search(&e).unwrap_or_else(|i| i),
            Network::Fifo if e.delayed => {
                let lo = network.partition_point(|x| (x.to, x.delayed) < key);
                let len = network[lo..].partition_point(|x| (x.to, x.delayed) == key);
                lo + network[lo..lo + len].binary_search(&e).unwrap_or_else(|i| i)
            }
            Network::Fifo => network.partition_point(|x| (x.to, x.delayed) <= key),
        };
        network.insert(i, e);
    }

    /// [`Network::Fifo`]: the index of each running node's inbox head (its oldest prompt
    /// message), by node.
    fn inbox_heads(&self, s: &State) -> Vec<Option<usize>> {
        let mut heads = vec![None; s.slots.len()];
        for (index, e) in s.network.iter().enumerate() {
            let first = index == 0 || s.network[index - 1].to != e.to;
            if first && !e.delayed && !matches!(s.slots[e.to].status, Status::Paused { .. }) {
                heads[e.to] = Some(index);
            }
        }
        heads
    }

    /// The partial-order reduction of [`Network::Fifo`]: the actions of one node whose steps
    /// commute with everything else that can happen before them, if there is such a node.
    ///
    /// The set for node *n* (a stubborn set in Valmari's sense) is: deliver *n*'s inbox head,
    /// fire each of *n*'s due timers, and drop or delay that head (as the budget allows). It is
    /// chosen only at a state that is not quiescent, only for a node with a message waiting,
    /// and only if each delivery and firing in it is *neutral*: it puts no message in flight (one
    /// lost at once, to a server that is down, is none), changes no
    /// ghost state (records no observation the properties read, no `WriteSent`), and, if *n* is
    /// a client, does not change whether it believes it holds the lock. Then, for every
    /// sequence σ of other actions that can happen first:
    ///
    /// * σ contains no action of the set, and every action of the set is still enabled after
    ///   σ, with the same effect. Only *n*'s head may be delivered to *n*, and a message sent to
    ///   *n* during σ joins the *end* of its inbox, so σ cannot deliver to *n*; only *n* fires
    ///   *n*'s timers; no tick or process fault happens (they wait for a quiescent point, which
    ///   needs *n*'s head gone). A node's step reads only its own state, the message and time
    ///   (whether a message is lost at once depends on the configuration's delay budget, not on
    ///   what is left of it).
    /// * Each action of the set commutes with σ: it changes only *n* and removes its own
    ///   message. It sends nothing — two sends to one inbox do *not* commute (their order is the
    ///   order of delivery), so a step that sends is never in a reduced set — and it changes
    ///   nothing σ's steps read (no ghost state, no belief).
    ///
    /// These are the conditions under which a search that expands only such sets reaches
    /// every end state of the full model (Valmari 1991, "Stubborn sets for reduced state space
    /// generation"; Godefroid 1996, ch. 4). Every property here is a sticky flag of the state
    /// (belief mutual exclusion through [`Ghost::two_believers`]): a violation reached in the
    /// full model stays in every state after it, so it is in an end state, which the reduced
    /// search reaches. This assumes every state can reach an end state (the horizon), i.e. no
    /// step sequence within one tick runs forever. Counterexamples are real behaviours of the
    /// FIFO model, but not necessarily its shortest ones. The tests below check the promise
    /// against the full FIFO model: the same end states, and local commutation.
    fn ample_set(&self, s: &State, heads: &[Option<usize>]) -> Option<Vec<Action>> {
        let mut sets: Vec<Vec<Action>> = Vec::new();
        // Only a node with a message waiting: then delivering its inbox head is in the set, and
        // no other step can deliver to it first. (A node with due timers alone may receive a
        // message sent later in the tick before they fire, which may cancel them.)
        for (node, head) in heads.iter().enumerate() {
            let Some(index) = *head else { continue };
            let e = &s.network[index];
            let (from, to, kind) = (e.from, e.to, e.msg.kind());
            let mut set = vec![Action::Deliver { index, from, to, kind }];
            if s.budget.drops > 0 {
                set.push(Action::Drop { index, from, to, kind });
            }
            if s.budget.delays > 0 {
                set.push(Action::Delay { index, from, to, kind });
            }
            self.fire_actions(s, node, &mut set);
            sets.push(set);
        }
        // Smallest first (ties in node order): the fewer successors, the smaller the space.
        sets.sort_by_key(Vec::len);
        sets.into_iter().find(|set| {
            set.iter().all(|action| match *action {
                Action::Deliver { to: node, .. } | Action::Fire { node, .. } => self.neutral(s, node, action),
                _ => true,
            })
        })
    }

    /// Whether `action`, a step of `node`, is neutral (see [`LockModel::neutral_slot`]),
    /// answered from [`NEUTRAL_STEPS`] when this thread has seen the same step before.
    fn neutral(&self, s: &State, node: NodeId, action: &Action) -> bool {
        let Some(key) = StepKey::of(self, s, action) else { return self.neutral_slot(s, node, action).is_some() };
        if let Some(after) = NEUTRAL_STEPS.with(|memo| memo.borrow().get(&key).cloned()) {
            return after.is_some();
        }
        let after = self.neutral_slot(s, node, action);
        let neutral = after.is_some();
        NEUTRAL_STEPS.with(|memo| memo.borrow_mut().put(key, after));
        neutral
    }

    /// The successor of `s` by `action`, built from [`NEUTRAL_STEPS`] if this thread found
    /// the step neutral before: `s` with the node's slot replaced (and the message delivered).
    /// A neutral step changes nothing else (see [`LockModel::neutral_slot`]).
    fn remembered_neutral_step(&self, s: &State, action: &Action) -> Option<State> {
        let key = StepKey::of(self, s, action)?;
        let after = NEUTRAL_STEPS.with(|memo| memo.borrow().get(&key).cloned())??;
        let mut next = s.copy_for_step();
        if let Action::Deliver { index, .. } = *action {
            next.network.remove(index);
        }
        next.slots[key.node()] = after;
        self.finish_step(&mut next);
        Some(next)
    }

    /// The node's slot after `action`, a step of `node` (digested), if the step is neutral: it
    /// puts no message in flight, changes no ghost state and no client's belief (see
    /// [`LockModel::ample_set`]). Such a step changes the node's slot and, for a delivery,
    /// removes the message; nothing else.
    fn neutral_slot(&self, s: &State, node: NodeId, action: &Action) -> Option<SlotRef> {
        let client = self.client_index(node).is_some();
        let mut next = s.copy_for_step();
        let mut log = Vec::new();
        self.apply(&mut next, action, if client { Some(&mut log) } else { None });
        // Sent: a message put in flight (one lost at once, to a server that is down, is not).
        let delivered = usize::from(matches!(action, Action::Deliver { .. }));
        let sent = next.network.len() + delivered > s.network.len();
        let wrote =
            log.iter().any(|event| matches!(event, LogEvent::Recorded { obs: Observation::WriteSent { .. }, .. }));
        let neutral = Shared::same(&next.ghost, &s.ghost)
            && !sent
            && !wrote
            && (!client || self.lease_valid(&next, node) == self.lease_valid(s, node));
        neutral.then(|| {
            next.slots[node].seal();
            next.slots[node].clone()
        })
    }
}

/// What a node's delivery or timer step depends on (see [`LockModel::run_node`]): its slot,
/// the message or timer, and the tick (its clock's readings are a function of the tick and the
/// slot).
///
/// The slot and the message are compared by identity: the key holds the very shared values
/// (pointer-equal handles), which keeps them alive, so an address cannot have been reused for
/// another value while the key exists. A slot or message equal in value but not shared is a
/// miss, never a wrong hit.
struct NodeStepKey {
    node: NodeId,
    slot: SlotRef,
    input: StepInput,
    now_tick: u32,
}

enum StepInput {
    Message(Shared<Envelope>),
    Timer(Timer),
}

/// A key of a [`DirectMapped`] memo: a hash to pick the bucket, and exact equality.
trait MemoKey {
    fn hash(&self) -> u64;
    fn same(&self, other: &Self) -> bool;
}

impl MemoKey for NodeStepKey {
    fn hash(&self) -> u64 {
        let slot = Arc::as_ptr(&self.slot.value) as u64;
        let input = match &self.input {
            StepInput::Message(e) => Arc::as_ptr(&e.value) as u64,
            StepInput::Timer(timer) => digest_of(timer),
        };
        (slot ^ input.rotate_left(21) ^ (self.now_tick as u64) << 7 ^ self.node as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn same(&self, other: &NodeStepKey) -> bool {
        self.node == other.node
            && self.now_tick == other.now_tick
            && Shared::same(&self.slot, &other.slot)
            && match (&self.input, &other.input) {
                (StepInput::Message(a), StepInput::Message(b)) => Shared::same(a, b),
                (StepInput::Timer(a), StepInput::Timer(b)) => a == b,
                _ => false,
            }
    }
}

/// What a step's neutrality depends on, for [`NEUTRAL_STEPS`]: the step's [`NodeStepKey`], and
/// which nodes are down (a message sent to one is lost at once: [`LockModel::lost_at_once`]).
/// Neutrality also reads the ghost state, but only through observations that make a step
/// non-neutral whatever the ghost holds (one that may change the ghost changes it; a
/// `WriteSent` is never neutral). So equal keys mean equal verdicts and, for a neutral step, an
/// equal slot after it.
struct StepKey {
    step: NodeStepKey,
    /// Bit *i*: node *i* is down and not restarting.
    down: u64,
}

impl StepKey {
    /// The key of `action` from `s`, if it is a delivery or a timer's firing (and the
    /// configuration has at most 64 nodes).
    fn of(model: &LockModel, s: &State, action: &Action) -> Option<StepKey> {
        let (node, input) = match *action {
            Action::Deliver { index, to, .. } => (to, StepInput::Message(s.network.get(index)?.clone())),
            Action::Fire { node, timer } => (node, StepInput::Timer(timer)),
            _ => return None,
        };
        if s.slots.len() > 64 {
            return None;
        }
        let down = (0..s.slots.len()).filter(|&i| model.lost_at_once(s, i)).fold(0u64, |bits, i| bits | 1 << i);
        let step = NodeStepKey { node, slot: s.slots[node].clone(), input, now_tick: s.now_tick };
        Some(StepKey { step, down })
    }

    fn node(&self) -> NodeId {
        self.step.node
    }
}

impl MemoKey for StepKey {
    fn hash(&self) -> u64 {
        self.step.hash() ^ self.down.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(40)
    }

    fn same(&self, other: &StepKey) -> bool {
        self.down == other.down && self.step.same(&other.step)
    }
}

/// A small direct-mapped memo, one per search thread: a new entry replaces whatever shared its
/// bucket, so it holds at most [`MEMO_BUCKETS`] entries (and the shared values their keys keep
/// alive).
struct DirectMapped<K, V> {
    buckets: Vec<Option<(K, V)>>,
}

const MEMO_BUCKETS: usize = 4096;

impl<K: MemoKey, V> DirectMapped<K, V> {
    const fn new() -> Self {
        DirectMapped { buckets: Vec::new() }
    }

    fn get(&self, key: &K) -> Option<&V> {
        let (k, v) = self.buckets.get(key.hash() as usize % MEMO_BUCKETS)?.as_ref()?;
        k.same(key).then_some(v)
    }

    fn put(&mut self, key: K, value: V) {
        if self.buckets.is_empty() {
            self.buckets.resize_with(MEMO_BUCKETS, || None);
        }
        let i = key.hash() as usize % MEMO_BUCKETS;
        self.buckets[i] = Some((key, value));
    }
}

/// Neutrality verdicts: key → the node's slot after the step if it is neutral, `None` if not.
/// The partial-order reduction judges the same step again and again — a node's inbox head is
/// judged at each state reached while other nodes take steps — and most judgements are "not
/// neutral" (the step sends), each otherwise a full step of the node thrown away.
type StepMemo = DirectMapped<StepKey, Option<SlotRef>>;

/// What a node's step does outside its own slot (see [`LockModel::deliver_outputs`]).
#[derive(Clone)]
enum Output {
    Send(Shared<Envelope>),
    Record(Observation),
}

/// A step's outputs: most steps have at most a few, kept inline.
type Outputs = smallvec::SmallVec<[Output; 4]>;

/// Node steps: key → the slot after the step and its outputs.
///
/// It pays when the search meets the same steps close together. A depth-first search does: it
/// walks both sides of each diamond of independent steps one after the other (`check raft
/// --faults pause --horizon 3 --network fifo --strategy dfs`: 84% of steps answered, 55% fewer
/// instructions in all, with [`StepMemo`]). A breadth-first search meets the other side a whole
/// level later, mostly after eviction (`check lease`: one step in five answered). So it is on
/// for depth-first searches only ([`LockModel::with_step_memo`]).
type NodeStepMemo = DirectMapped<NodeStepKey, (SlotRef, Outputs)>;

thread_local! {
    /// Each search thread's [`NodeStepMemo`].
    static NODE_STEPS: std::cell::RefCell<NodeStepMemo> = const { std::cell::RefCell::new(NodeStepMemo::new()) };
    /// Each search thread's [`StepMemo`].
    static NEUTRAL_STEPS: std::cell::RefCell<StepMemo> = const { std::cell::RefCell::new(StepMemo::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LockOp, LockRet, OpId, OpKind};

    fn acquire(client: u32, invoke_ns: u64, return_ns: u64) -> [LinEvent; 2] {
        let id = OpId { session: SessionId { client, incarnation: 0, n: 1 }, kind: OpKind::Acquire, n: 0 };
        [
            LinEvent::Invoke(id, LockOp::Acquire { invoke_ns }),
            LinEvent::Return(id, LockRet::Acquire { granted: true, return_ns }),
        ]
    }

    #[test]
    fn the_lin_memo_answers_the_testers_verdict_for_each_exact_history() {
        let memo = LinMemo::default();
        let spec = LeaseSpec::new(3_000);
        let one = acquire(1, 0, 10).to_vec();
        // A second grant 20 ns later, inside the first one's TTL: not linearizable.
        let two = [acquire(1, 0, 10), acquire(2, 20, 30)].concat();
        // Asked twice each: the second answer comes from the memo.
        for history in [&one, &two, &one, &two] {
            let direct = check_history_with(spec.clone(), history).expect("a well-formed history");
            assert_eq!(memo.check(spec.clone(), history), direct);
        }
        assert!(memo.check(spec.clone(), &one));
        assert!(!memo.check(spec.clone(), &two));
        // Another spec is another key: with a TTL of 10 ns the first lease has expired.
        assert!(memo.check(LeaseSpec::new(10), &two));
    }
}

#[cfg(test)]
mod reduction {
    //! The partial-order reduction of [`Network::Fifo`] against the full FIFO model.
    use std::collections::{HashSet, VecDeque};

    use super::*;

    fn fifo(protocol: &str, faults: Option<&str>, horizon: u32) -> LockModel {
        crate::cli::build_model(protocol, 2, None, faults, None, Some(horizon))
            .expect("valid configuration")
            .with_network(Network::Fifo)
    }

    /// Every reachable state, and the end states (nothing enabled), by a plain BFS.
    fn explore(m: &LockModel) -> (HashSet<State>, HashSet<State>) {
        let mut queue = VecDeque::from(vec![m.init_state(None)]);
        let (mut seen, mut ends) = (HashSet::new(), HashSet::new());
        while let Some(s) = queue.pop_front() {
            if !seen.insert(s.clone()) {
                continue;
            }
            let mut actions = Vec::new();
            m.actions(&s, &mut actions);
            if actions.is_empty() {
                ends.insert(s.clone());
            }
            queue.extend(actions.into_iter().map(|a| m.next_state(&s, a).expect("a successor")));
        }
        (seen, ends)
    }

    /// What the soundness argument of [`LockModel::ample_set`] promises: the reduced search
    /// reaches exactly the full model's end states, hence every sticky violation. (Without the
    /// rule that the chosen node has a message waiting, `godistlock` loses 643 of its 1,970 end
    /// states, among them all 8 non-linearizable ones.)
    #[test]
    fn the_reduction_reaches_every_end_state_of_the_full_fifo_model() {
        for (protocol, faults, horizon) in [
            ("godistlock", None, 9),
            ("skinny-fixed", None, 9),
            ("raft", Some("none"), 6),
            ("raft", Some("crash"), 3),
            ("lease", Some("pause,drop"), 6),
        ] {
            let m = fifo(protocol, faults, horizon);
            let (seen, ends) = explore(&m);
            let (seen_full, ends_full) = explore(&m.clone().with_reduction(false));
            assert!(seen.len() < seen_full.len(), "{protocol}: the reduction reduces");
            assert!(ends == ends_full, "{protocol}: {} end states, the full model {}", ends.len(), ends_full.len());
            let violations = |states: &HashSet<State>| states.iter().filter(|s| !s.ghost.linearizable).count() > 0;
            assert_eq!(
                violations(&seen),
                violations(&ends_full),
                "{protocol}: a violation is reached iff one ends a behaviour"
            );
        }
    }

    /// The same action in another state: a message by its envelope, a timer by node and timer.
    fn same_action(m: &LockModel, s: &State, a: &Action, before: &State) -> Option<Action> {
        let mut all = Vec::new();
        m.actions(s, &mut all);
        all.into_iter().find(|b| match (a, b) {
            (Action::Deliver { index: i, .. }, Action::Deliver { index: j, .. })
            | (Action::Drop { index: i, .. }, Action::Drop { index: j, .. })
            | (Action::Delay { index: i, .. }, Action::Delay { index: j, .. }) => before.network[*i] == s.network[*j],
            _ => a == b,
        })
    }

    /// Locally, each action of an ample set commutes with each action left out (both orders
    /// reach one state), wherever the budget allows both.
    #[test]
    fn an_ample_action_commutes_with_every_action_left_out() {
        let m = fifo("godistlock", None, 9);
        let full = m.clone().with_reduction(false);
        let (seen, _) = explore(&full);
        let mut pairs = 0;
        for s in &seen {
            let (mut all, mut ample) = (Vec::new(), Vec::new());
            full.actions(s, &mut all);
            m.actions(s, &mut ample);
            for t in &ample {
                let st = full.next_state(s, t.clone()).unwrap();
                for a in all.iter().filter(|a| !ample.contains(a)) {
                    let sa = full.next_state(s, a.clone()).unwrap();
                    let (Some(a2), Some(t2)) = (same_action(&full, &st, a, s), same_action(&full, &sa, t, s)) else {
                        // Two faults competing for the last of the budget: not both executable.
                        assert!(matches!(
                            (t, a),
                            (Action::Drop { .. }, Action::Drop { .. }) | (Action::Delay { .. }, Action::Delay { .. })
                        ));
                        continue;
                    };
                    assert!(
                        full.next_state(&st, a2).unwrap() == full.next_state(&sa, t2).unwrap(),
                        "{} and {} do not commute",
                        m.format_action(t),
                        m.format_action(a)
                    );
                    pairs += 1;
                }
            }
        }
        assert!(pairs > 1000, "{pairs} pairs checked");
    }

    /// The step memos ([`NodeStepMemo`], and [`StepMemo`] behind the reduction) change no state:
    /// at every reachable state, every action's successor computed through them is the one
    /// computed afresh, value and digest. And they are used: asked twice for one step, the
    /// model answers the second time with the very slot it led to the first time.
    #[test]
    fn the_step_memos_answer_exactly_what_the_step_computes() {
        for (protocol, faults, horizon, network) in [
            ("raft", Some("crash"), 3, Network::Fifo),
            ("lease", Some("pause,drop"), 6, Network::Fifo),
            ("godistlock", None, 9, Network::Unordered),
            ("raft", Some("none"), 6, Network::Unordered),
        ] {
            let fresh = fifo(protocol, faults, horizon).with_network(network);
            let remembering = fresh.clone().with_step_memo(true);
            let (seen, _) = explore(&remembering);
            let (mut steps, mut shared) = (0, 0);
            for s in &seen {
                let mut actions = Vec::new();
                remembering.actions(s, &mut actions);
                for a in actions {
                    let answered = remembering.next_state(s, a.clone()).expect("a successor");
                    let mut computed = s.copy_for_step();
                    fresh.step(&mut computed, &a, None);
                    assert!(answered == computed, "{protocol}: {} differs", fresh.format_action(&a));
                    assert_eq!(digest_of(&answered), digest_of(&computed), "{protocol}: {}", fresh.format_action(&a));
                    if let Action::Deliver { to: node, .. } | Action::Fire { node, .. } = a {
                        let again = remembering.next_state(s, a).expect("a successor");
                        steps += 1;
                        shared += usize::from(Shared::same(&again.slots[node], &answered.slots[node]));
                    }
                }
            }
            // A step whose node ends where it began keeps its slot; every other one was answered
            // from a memo: nearly all.
            assert!(shared * 10 > steps * 9, "{protocol}: {shared} of {steps} steps answered again from a memo");
        }
    }

    /// Without the memo, a step computed twice gives two slots (equal, not shared): the test
    /// above tells a remembered step from a recomputed one.
    #[test]
    fn a_step_computed_afresh_shares_no_slot() {
        let m = fifo("raft", Some("none"), 4).with_network(Network::Unordered);
        // Take the first action until a delivery is enabled.
        let mut s = m.init_state(None);
        let a = (0..100)
            .find_map(|_| {
                let mut actions = Vec::new();
                m.actions(&s, &mut actions);
                let delivery = actions.iter().find(|a| matches!(a, Action::Deliver { .. })).cloned();
                if delivery.is_none() {
                    s = m.next_state(&s, actions.swap_remove(0)).unwrap();
                }
                delivery
            })
            .expect("a delivery");
        let Action::Deliver { to, .. } = a else { unreachable!() };
        let (one, two) = (m.next_state(&s, a.clone()).unwrap(), m.next_state(&s, a).unwrap());
        assert!(one == two && !Shared::same(&one.slots[to], &two.slots[to]));
    }
}
