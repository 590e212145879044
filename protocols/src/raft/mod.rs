//! Raft, and an etcd-style lock service replicated by it.
//!
//! This module is written to be read next to the paper: D. Ongaro and J. Ousterhout, "In Search of
//! an Understandable Consensus Algorithm (Extended Version)", 2014 (cited as §n), and D. Ongaro,
//! "Consensus: Bridging Theory and Practice", PhD thesis, 2014 (cited as *thesis* §n) for PreVote,
//! CheckQuorum and ReadIndex. Section numbers are given where each rule is implemented.
//!
//! # Raft in one page
//!
//! A cluster of peers keeps a replicated **log** of commands. Time is divided into **terms**
//! (§5.1); each term begins with an election and has at most one leader (**Election Safety**).
//!
//! * **Leader election** (§5.2). A follower that hears nothing from a leader for an *election
//!   timeout* (drawn at random from `[election_timeout_min, max]` from the node's seeded source, so
//!   that split votes resolve) becomes a candidate: it increments its term, votes for itself and
//!   asks the others for their vote (`RequestVote`). A peer grants at most one vote per term, and
//!   only to a candidate whose log is at least as up to date as its own (§5.4.1: last term higher,
//!   or same last term and at least as long). A majority of votes makes a leader.
//! * **Log replication** (§5.3). The leader appends client commands to its log and sends them with
//!   `AppendEntries`, which carries the index and term of the entry preceding the new ones. A
//!   follower accepts only if its log has that entry (the consistency check), deleting any
//!   conflicting suffix. Together these give **Log Matching**: two logs with an entry of the same
//!   index and term are identical up to that index.
//! * **Commitment** (§5.3, §5.4.2). An entry is committed once stored on a majority — but the
//!   leader only commits entries *of its current term* by counting replicas; earlier entries are
//!   committed indirectly, with them (Figure 8 of the paper shows why counting old entries is
//!   unsafe). To commit promptly after an election a new leader appends a no-op (§8).
//!   `commit_rule = "count_any_term"` is that bug, as a switch: a leader commits any entry stored
//!   on a majority. In `raft-figure-8` the term-3 leader commits (and answers) a term-1 acquire
//!   that the returning term-2 leader then overwrites: two holders.
//!   Committed entries are applied in order to the **state machine** (the lock service below);
//!   **Leader Completeness** (every committed entry is in every later leader's log) and **State
//!   Machine Safety** (no two peers apply different commands at one index) follow.
//! * **Persistence** (§5.1, Figure 2). `currentTerm`, `votedFor` and the log must be on stable
//!   storage *before* a peer answers an RPC. Here a change is written with `Effect::Persist` and
//!   made durable with `Effect::Sync` (per the [`Persistence`] policy); the simulator keeps what
//!   was synced across a crash. `persist_vote = false` forgets the vote on a restart: the restarted
//!   peer may vote twice in one term, and two leaders of one term follow (`raft-voter-restart`).
//! * **Answers** come from the peer a client asked, when it applies the entry it proposed — also
//!   after it stepped down, as etcd's server waits on the request id it registered
//!   (`server/etcdserver/v3_server.go`, `processInternalRaftRequestOnce`), not on leadership. An
//!   entry overwritten by another leader's is never answered (the client times out and retries).
//!
//! Switches from the thesis:
//!
//! * **PreVote** (thesis §9.6): before incrementing its term, a would-be candidate asks whether it
//!   *could* win. Peers that heard from a leader recently, or whose log is more up to date, say no.
//!   A peer cut off by a partition then does not inflate its term and depose a healthy leader on
//!   return.
//! * **CheckQuorum** (thesis §6.2): a leader that has not heard from a majority for an election
//!   timeout steps down; and peers that heard from a leader within the minimum election timeout
//!   ignore vote requests ("leader stickiness", thesis §4.2.3).
//! * **ReadIndex** (thesis §6.4): a linearizable read without writing to the log. The leader notes
//!   its commit index (at least the start of its term), confirms it is still leader with a round of
//!   heartbeats acknowledged by a majority, waits until it has applied that index, then answers.
//! * **Leader-lease reads** (thesis §6.4.1): skip the heartbeat round while a lease is valid: after
//!   a majority acknowledged a heartbeat round that started at `t`, no other leader can be elected
//!   before `t + election_timeout_min` — *if clocks run at the same rate*. That assumption is why
//!   it is a switch (`read = "lease"`, scenario #18).
//!
//! # The lock service (the replicated state machine)
//!
//! In the style of etcd v3 (`clientv3/concurrency`):
//!
//! * A client first obtains a **lease** (`LeaseGrant`, with a TTL), kept alive by `LeaseKeepAlive`.
//!   Leases expire by the **leader's** clock: the leader tracks a deadline per lease (volatile) and
//!   proposes `LeaseRevoke` once it passes. A new leader cannot know how long the old one had left,
//!   so it grants every lease a full TTL on election (etcd's "lease promote"). Keep-alives go
//!   through the log here, so a deposed leader cannot renew a lease.
//! * **An expired lease is not renewed** (etcd `server/lease/lessor.go`, `Renew`: a lease past its
//!   expiry waits for its revoke and answers `ErrLeaseNotFound`). A keep-alive that reaches the
//!   leader after the lease's deadline, or while its revoke is proposed, is not proposed; nor is a
//!   keep-alive answered OK when its entry applies with the lease's revoke pending behind it (the
//!   lease check ran between its arrival and its application). Either way the answer,
//!   `LeaseNotFound`, waits for the revoke to apply (a leader deposed first answers nothing; the
//!   client retries, as on etcd's `ErrNotPrimary`). Before this, the keep-alive applied just ahead
//!   of the revoke was answered OK: the client believed it held for a further TTL while the revoke
//!   handed its lock on (`raft-keepalive-race`, `raft-keepalive-race-in-log`).
//! * **Acquire** creates a key for the lock owned by the lease, with the cluster's next
//!   **revision** as its creation revision. Keys of a lock are ordered by creation revision; the
//!   lowest is the holder. A client that is not first *waits*, watching only its predecessor
//!   (ZooKeeper's lock recipe, no herd: scenario #14); when the predecessor's key is deleted, the
//!   waiter reads the lock's state again. `watch = "all"` notifies every waiter instead (the herd).
//!   The holder's creation revision is its **fencing token** (etcd's revision, ZooKeeper's zxid).
//! * **Release** deletes the key; revoking a lease (expiry) deletes every key it owns.
//! * **Client request ids** (thesis §6.3): an acquire retried after a lost response carries the
//!   same request id; the state machine answers with the key it already created instead of
//!   creating a second one (scenario #9).
//! * **The etcd 3.4.3 bug** (`grant_expired_waiter = true`, Jepsen, etcd issues 11456/11457): when
//!   a waiter's predecessor goes away, the service checks only that no key with a lower revision
//!   remains, not that the waiter's own key still exists. A waiter whose lease expired while it
//!   waited is told it holds the lock (scenario #10).
//!
//! History: peers record [`Observation::RaftLeader`] on election, [`Observation::RaftCommitted`]
//! when the leader advances its commit index, and [`Observation::RaftApplied`] for every entry
//! applied; entries carry a chain hash (the hash of the previous entry's chain hash, the entry's
//! term and command) so the checkers can test Log Matching, Leader Completeness and State Machine
//! Safety from the history alone. **Every peer** records [`Observation::Grant`] when it applies an
//! entry that makes a key the holder (an acquire of a free lock, or the release or revoke of the
//! holder's key promoting the next one). The state machine is deterministic, so every peer's
//! promotion of (lock, revision, client) at log index i is the same grant; the token-order
//! checker takes the first record of each and skips the repeats (other peers, or a peer
//! re-applying its log after a restart). The first records are in log order, whichever peers
//! they come from, since every peer applies index i before index j > i. So the checkers see every
//! grant the service makes — including one that only a later leader commits (an entry of an
//! earlier term) — and a peer that applied a different promotion at an index (a broken
//! persistence policy, a broken commit rule) shows up as a second, conflicting grant. The one
//! grant not from the log is the etcd 3.4.3 bug's, on the read path (`serve_reads`): the leader
//! records the `Acquired` it answers for a key that no longer exists.
//!
//! Every client command is safe to repeat — the network duplicates and clients retry: a lease grant
//! and an acquire are deduplicated by client request id, keep-alives and revokes are idempotent,
//! and a release that already deleted its key answers `ok` again (without that, a duplicated
//! release whose first answer was lost told the client "not yours": `raft-chaos`, seed 6).
//!
//! # Files
//!
//! The peer's state ([`RaftPeer`]), its parameters and the input dispatch are here; the rest is
//! split along Raft's own seams: [`election`], [`replication`] (the log and the commit rule),
//! [`read`] (ReadIndex and lease reads), [`service`] (the lock service state machine and applying
//! committed entries to it), [`durable`] (log entries and what reaches the disk), [`msg`] (what
//! clients and peers send) and [`client`] (the Raft lock library the worker drives).
//!
//! | rule | where | paper |
//! |---|---|---|
//! | randomized election timeout, one vote per term, up-to-date check | [`RaftPeer::handle`], `on_request_vote` ([`election`]) | §5.2, §5.4.1 |
//! | consistency check, conflict truncation | `on_append` ([`replication`]) | §5.3 |
//! | commit only current-term entries by counting (`commit_rule`) | `advance_commit` ([`replication`]) | §5.4.2, Figure 8 |
//! | no-op on election | `become_leader` ([`election`]) | §8 |
//! | term, vote and log persisted before answering | `save` (here), [`RaftDurable`] ([`durable`]) | §5.1, Figure 2 |
//! | PreVote | `on_election_timeout`, `on_request_vote` ([`election`]) | thesis §9.6 |
//! | CheckQuorum, leader stickiness | `on_election_timeout`, `on_request_vote` ([`election`]) | thesis §6.2, §4.2.3 |
//! | ReadIndex, lease reads | `on_read`, `confirm_reads` ([`read`]) | thesis §6.4, §6.4.1 |
//! | an expired lease is not renewed | `on_client` (here), `leader_applied` ([`service`]) | etcd `lessor.go` `Renew` |
//! | client request ids | [`LockService`] ([`service`]) | thesis §6.3 |

pub mod client;
pub mod compact;
pub mod durable;
pub mod election;
pub mod msg;
pub mod params;
pub mod read;
pub mod replication;
pub mod service;
#[cfg(test)]
mod tests;

pub use client::{ClientLease, RaftClientParams, RaftLock, RaftLockState, Step};
pub use compact::{Cached, PeerMap, PeerSet, RoundStarts};
use durable::LOG_CHUNK;
pub use durable::{chain_hash, DurableLog, RaftCmd, RaftDurable, RaftEntry};
pub use msg::{AppendEntries, LeaseId, RaftAnswer, RaftMsg, RaftOp, RaftOpKind};
pub use params::{compile, RaftVariant, MODELS, RAFT_KEYS};
pub use read::PendingRead;
pub use service::{LeaseRecord, LockKey, LockService, Watch};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;

use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, MsRange, NodeId, Persistence, Timer};
use crate::Durable;

/// How waiters learn that they may hold the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WatchMode {
    /// Each waiter watches only its predecessor (ZooKeeper's recipe, etcd's `waitDeletes`).
    #[default]
    Predecessor,
    /// Every waiter is notified of every deletion and reads again (the herd effect, #14).
    All,
}

/// How the leader serves linearizable reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// ReadIndex: confirm leadership with a heartbeat round first (thesis §6.4).
    #[default]
    ReadIndex,
    /// Leader lease: trust a recent heartbeat round for an election timeout (thesis §6.4.1).
    Lease,
}

/// Which entries a leader commits by counting replicas (§5.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CommitRule {
    /// Only an entry of the leader's current term; earlier ones commit with it (§5.4.2).
    #[default]
    CurrentTerm,
    /// The bug Figure 8 of the paper shows: any entry stored on a majority, whatever its term.
    /// A committed entry of an earlier term can then be overwritten by a later leader.
    CountAnyTerm,
}

/// Parameters of a Raft peer and of the lock service it replicates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftParams {
    /// Every peer of the cluster, this one included.
    pub peers: Vec<NodeId>,
    pub election_timeout: MsRange,
    pub heartbeat_ms: u64,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub persistence: Persistence,
    /// Persist `votedFor` (Figure 2). Off: a restart forgets the vote (breaks Election Safety).
    pub persist_vote: bool,
    /// §5.4.2: commit by counting only entries of the current term (`CountAnyTerm`: Figure 8's bug).
    pub commit_rule: CommitRule,
    pub read: ReadMode,
    pub watch: WatchMode,
    /// The etcd 3.4.3 bug: grant to a waiter without checking its key still exists (#10).
    pub grant_expired_waiter: bool,
    /// How often the leader looks for expired leases.
    pub lease_check_ms: u64,
    /// The first peer campaigns as soon as the cluster starts (as tests call `campaign()` on node
    /// 1 in raft-rs and etcd), so scenarios can say "s1 is the first leader"; later elections are
    /// randomized.
    pub campaign_at_start: bool,
    /// Most entries per `AppendEntries`.
    pub max_batch: usize,
    /// A follower forwards a client's request to the leader it knows and relays the answers (and
    /// watch events) back, as an etcd member does for the clients connected to it (its proposals
    /// travel to the leader as raft `MsgProp`, `LeaseRenew` over the peer HTTP API). Set by the
    /// `home_peer` key, with clients bound to one peer each: pausing that peer stalls its
    /// clients' keep-alives, as in Jepsen's etcd tests. Off: a follower answers `NotLeader`.
    pub forward_to_leader: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Follower,
    /// Asking for pre-votes (thesis §9.6), term not yet incremented.
    PreCandidate,
    Candidate,
    Leader,
}

/// One Raft peer hosting the lock service.
///
/// The model checker copies and hashes a peer for every step it explores (the simulator does
/// neither), so its parts are kept for that: the log, the lock service and the rarely changed maps
/// behind `Arc`s changed through `Arc::make_mut` (copies of the peer share them until one changes
/// them), the parameters [`Cached`] (shared, digest memoised), the leader's per-peer state in
/// fixed arrays by the peer's position in `params.peers` ([`PeerMap`], [`PeerSet`],
/// [`RoundStarts`]: no allocation); see [`compact`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RaftPeer {
    /// Fixed for the peer's life: shared by every copy of the peer, hashed once.
    pub params: Cached<RaftParams>,
    // Persistent state (Figure 2).
    pub term: u64,
    pub voted_for: Option<NodeId>,
    /// Entry i (1-based) is `log[i - 1]`. Hashed as its length and its last chain hash.
    pub log: Arc<Vec<RaftEntry>>,
    /// Chain hash of each entry (volatile, recomputed from the log).
    pub chain: Arc<Vec<u64>>,
    /// The log's full chunks as last written to disk (a prefix of `log`; see [`DurableLog`]).
    pub sealed: Vec<Arc<[RaftEntry]>>,
    // Volatile state.
    pub role: Role,
    pub leader: Option<NodeId>,
    pub commit: u64,
    pub applied: u64,
    /// Votes received (by position in `params.peers`).
    pub votes: PeerSet,
    /// Local monotonic time a leader was last heard from (for PreVote and stickiness).
    pub leader_contact_mono_ns: Option<u64>,
    // Leader state, by position in `params.peers`.
    pub next_index: PeerMap,
    pub match_index: PeerMap,
    /// Index of the leader's no-op: reads wait until it is committed (thesis §6.4).
    pub term_start: u64,
    /// Peers heard from since the last CheckQuorum.
    pub heard: PeerSet,
    /// Heartbeat rounds: the latest started, each peer's latest acknowledged, and start times.
    pub round: u64,
    pub acked_round: PeerMap,
    pub round_start_mono_ns: RoundStarts,
    pub lease_read_until_mono_ns: u64,
    pub reads: Vec<PendingRead>,
    /// Proposals waiting for their entry to apply: index → (term, client, req, op). Like etcd's
    /// wait registry (`processInternalRaftRequestOnce` registers the request id and waits for its
    /// apply, whoever leads by then), they outlive a step-down: the peer that proposed the entry
    /// answers when it applies it. An entry overwritten by another leader's (a different term at
    /// that index) is never answered; the client times out and retries.
    pub pending: Arc<BTreeMap<u64, (u64, NodeId, u64, RaftOpKind)>>,
    pub watches: Arc<Vec<Watch>>,
    /// Lease expiry deadlines on the leader's monotonic clock, and revokes already proposed.
    pub lease_deadline_mono_ns: Arc<BTreeMap<LeaseId, u64>>,
    pub revoking: Arc<BTreeSet<LeaseId>>,
    /// Keep-alives refused because their lease expired or is being revoked: answered
    /// `LeaseNotFound` once the revoke applies (etcd's `Renew` waits on `revokec`); dropped if
    /// this peer stops leading first (etcd answers `ErrNotPrimary`; the client retries elsewhere).
    pub revoke_waiters: Arc<BTreeMap<LeaseId, Vec<(NodeId, u64)>>>,
    pub fsync_pending: bool,
    /// Clients whose requests a follower forwarded here: client → that follower, through which
    /// their answers and watch events go back (`forward_to_leader`).
    pub via: Arc<BTreeMap<NodeId, NodeId>>,
    pub sm: Arc<LockService>,
}

/// Every field, but the log by its length and the chain hash of its last entry: the chain hash
/// summarises the whole log (it is what the checkers compare logs by, for Log Matching), and it is
/// already computed, so a peer whose log grows is not re-hashed entry by entry. `chain` itself is
/// a function of the log, and `sealed` a prefix of it (its length says which). Equal peers hash
/// equally, as `Hash` requires; equality still compares everything. (Destructured in full, so
/// that a new field cannot be forgotten here.)
impl std::hash::Hash for RaftPeer {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let RaftPeer {
            params,
            term,
            voted_for,
            log,
            chain,
            sealed,
            role,
            leader,
            commit,
            applied,
            votes,
            leader_contact_mono_ns,
            next_index,
            match_index,
            term_start,
            heard,
            round,
            acked_round,
            round_start_mono_ns,
            lease_read_until_mono_ns,
            reads,
            pending,
            watches,
            lease_deadline_mono_ns,
            revoking,
            revoke_waiters,
            fsync_pending,
            via,
            sm,
        } = self;
        params.hash(state);
        term.hash(state);
        voted_for.hash(state);
        log.len().hash(state);
        chain.last().hash(state);
        sealed.len().hash(state);
        role.hash(state);
        leader.hash(state);
        commit.hash(state);
        applied.hash(state);
        votes.hash(state);
        leader_contact_mono_ns.hash(state);
        next_index.hash(state);
        match_index.hash(state);
        term_start.hash(state);
        heard.hash(state);
        round.hash(state);
        acked_round.hash(state);
        round_start_mono_ns.hash(state);
        lease_read_until_mono_ns.hash(state);
        reads.hash(state);
        pending.hash(state);
        watches.hash(state);
        lease_deadline_mono_ns.hash(state);
        revoking.hash(state);
        revoke_waiters.hash(state);
        fsync_pending.hash(state);
        via.hash(state);
        sm.hash(state);
    }
}

impl RaftPeer {
    pub fn new(params: RaftParams) -> Self {
        assert!(!params.peers.is_empty(), "a Raft cluster needs a peer");
        RaftPeer {
            params: Cached::new(params),
            term: 0,
            voted_for: None,
            log: Arc::default(),
            chain: Arc::default(),
            sealed: Vec::new(),
            role: Role::Follower,
            leader: None,
            commit: 0,
            applied: 0,
            votes: PeerSet::default(),
            leader_contact_mono_ns: None,
            next_index: PeerMap::default(),
            match_index: PeerMap::default(),
            term_start: 0,
            heard: PeerSet::default(),
            round: 0,
            acked_round: PeerMap::default(),
            round_start_mono_ns: RoundStarts::default(),
            lease_read_until_mono_ns: 0,
            reads: Vec::new(),
            pending: Arc::default(),
            watches: Arc::default(),
            lease_deadline_mono_ns: Arc::default(),
            revoking: Arc::default(),
            revoke_waiters: Arc::default(),
            fsync_pending: false,
            via: Arc::default(),
            sm: Arc::default(),
        }
    }

    fn quorum(&self) -> usize {
        self.params.peers.len() / 2 + 1
    }

    /// The `quorum()`-th largest of `values` (what a majority has reached), without allocating for
    /// clusters of up to 16 peers — it runs on every append reply and every heartbeat reply.
    fn quorum_value(&self, values: impl Iterator<Item = u64>) -> u64 {
        let mut buf = [0u64; 16];
        let mut n = 0;
        let mut spill = Vec::new();
        for v in values {
            if n < buf.len() {
                buf[n] = v;
                n += 1;
            } else {
                spill.push(v);
            }
        }
        let all: &mut [u64] = if spill.is_empty() {
            &mut buf[..n]
        } else {
            spill.extend_from_slice(&buf);
            &mut spill
        };
        all.sort_unstable_by(|a, b| b.cmp(a));
        all[self.quorum() - 1]
    }

    /// The position of `peer` in the cluster (`params.peers`): its index in the leader's
    /// per-peer state. `None` for a node that is not a peer.
    pub(super) fn peer_pos(&self, peer: NodeId) -> Option<usize> {
        self.params.peers.iter().position(|&p| p == peer)
    }

    fn others(&self, me: NodeId) -> Vec<NodeId> {
        self.params.peers.iter().copied().filter(|&p| p != me).collect()
    }

    /// Write term, vote and log to disk under the persistence policy (Figure 2: before answering).
    fn save(&mut self, ctx: &mut Ctx) {
        if self.params.persistence == Persistence::None {
            return;
        }
        let voted_for = if self.params.persist_vote { self.voted_for } else { None };
        while (self.sealed.len() + 1) * LOG_CHUNK <= self.log.len() {
            let start = self.sealed.len() * LOG_CHUNK;
            self.sealed.push(Arc::from(&self.log[start..start + LOG_CHUNK]));
        }
        let log = DurableLog { chunks: self.sealed.clone(), tail: self.log[self.sealed.len() * LOG_CHUNK..].to_vec() };
        ctx.persist(Durable::Raft(RaftDurable { term: self.term, voted_for, log }));
        match self.params.persistence {
            Persistence::Always => ctx.sync(),
            Persistence::Everysec if !self.fsync_pending => {
                self.fsync_pending = true;
                ctx.set_timer(Timer::Fsync, ms(1000));
            }
            _ => {}
        }
    }

    fn reset_election_timer(&mut self, ctx: &mut Ctx) {
        let after_ns = self.params.election_timeout.draw_ns(ctx);
        ctx.set_timer(Timer::ElectionTimeout, after_ns);
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, durable } => {
                if let Some(Durable::Raft(d)) = durable {
                    self.term = d.term;
                    self.voted_for = d.voted_for;
                    self.log = Arc::new(d.log.entries());
                    self.sealed = d.log.chunks;
                    self.rebuild_chain(0);
                }
                if incarnation == 0 && self.params.campaign_at_start && self.params.peers.first() == Some(&ctx.me) {
                    ctx.set_timer(Timer::ElectionTimeout, 0);
                } else {
                    self.reset_election_timer(ctx);
                }
            }
            Input::Timer(Timer::ElectionTimeout) => self.on_election_timeout(ctx),
            Input::Timer(Timer::RaftHeartbeat) if self.role == Role::Leader => {
                self.broadcast_append(ctx);
                ctx.set_timer(Timer::RaftHeartbeat, ms(self.params.heartbeat_ms));
            }
            Input::Timer(Timer::LeaseCheck) => self.check_leases(ctx),
            Input::Timer(Timer::Fsync) => {
                self.fsync_pending = false;
                ctx.sync();
            }
            Input::Message { from, msg } => self.on_message(ctx, from, msg),
            _ => {}
        }
    }

    // ---- Messages ----

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) {
        match msg {
            Msg::Raft(RaftMsg::RequestVote { term, last_index, last_term, pre_vote }) => {
                self.on_request_vote(ctx, from, term, last_index, last_term, pre_vote)
            }
            Msg::Raft(RaftMsg::RequestVoteReply { term, granted, pre_vote }) => {
                self.on_vote_reply(ctx, from, term, granted, pre_vote)
            }
            Msg::Raft(RaftMsg::AppendEntries(a)) => {
                let AppendEntries { term, prev_index, prev_term, entries, commit, round } = *a;
                self.on_append(ctx, from, term, prev_index, prev_term, entries, commit, round)
            }
            Msg::Raft(RaftMsg::AppendEntriesReply { term, success, match_index, round }) => {
                self.on_append_reply(ctx, from, term, success, match_index, round)
            }
            Msg::Raft(RaftMsg::RaftRequest { req, op }) => match self.leader {
                Some(leader) if self.params.forward_to_leader && self.role != Role::Leader && leader != ctx.me => {
                    ctx.send(leader, Msg::Raft(RaftMsg::Forward { client: from, req, op }));
                }
                _ => {
                    if self.via.contains_key(&from) {
                        Arc::make_mut(&mut self.via).remove(&from);
                    }
                    self.on_client(ctx, from, req, op)
                }
            },
            Msg::Raft(RaftMsg::Forward { client, req, op }) => {
                Arc::make_mut(&mut self.via).insert(client, from);
                self.on_client(ctx, client, req, op)
            }
            Msg::Raft(RaftMsg::Relay { client, msg }) => ctx.send(client, Msg::Raft(*msg)),
            _ => {}
        }
    }

    /// Send an answer or a watch event to a client: directly, or through the follower that
    /// forwarded its requests (`forward_to_leader`).
    pub(super) fn send_client(&self, ctx: &mut Ctx, client: NodeId, msg: RaftMsg) {
        match self.via.get(&client) {
            Some(&follower) => ctx.send(follower, Msg::Raft(RaftMsg::Relay { client, msg: Box::new(msg) })),
            None => ctx.send(client, Msg::Raft(msg)),
        }
    }

    fn on_client(&mut self, ctx: &mut Ctx, client: NodeId, req: u64, op: RaftOp) {
        let kind = op.kind();
        if self.role != Role::Leader {
            self.send_client(
                ctx,
                client,
                RaftMsg::RaftReply { req, op: kind, answer: RaftAnswer::NotLeader { leader: self.leader } },
            );
            return;
        }
        let reply_to = Some((client, req, kind));
        match op {
            RaftOp::LeaseGrant { request_id, ttl_ms } => {
                self.propose(ctx, RaftCmd::LeaseGrant { client, request_id, ttl_ms }, reply_to)
            }
            RaftOp::KeepAlive { lease } if self.lease_expired(ctx, lease) => {
                // etcd's lessor (`Renew`): an expired lease is not renewed; the request waits until
                // the revoke is through and is answered "lease not found".
                Arc::make_mut(&mut self.revoke_waiters).entry(lease).or_default().push((client, req));
            }
            RaftOp::KeepAlive { lease } => self.propose(ctx, RaftCmd::LeaseKeepAlive { lease }, reply_to),
            RaftOp::Acquire { request_id, lease, lock } => {
                self.propose(ctx, RaftCmd::Acquire { client, request_id, lease, lock }, reply_to)
            }
            RaftOp::Release { lease, lock, revision } => {
                self.propose(ctx, RaftCmd::Release { lease, lock, revision }, reply_to)
            }
            RaftOp::Revoke { lease } => {
                Arc::make_mut(&mut self.revoking).insert(lease);
                self.propose(ctx, RaftCmd::LeaseRevoke { lease }, reply_to)
            }
            RaftOp::Status { lease, lock, revision } => self.on_read(ctx, client, req, lease, lock, revision),
        }
    }
}
