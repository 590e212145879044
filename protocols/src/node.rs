//! The node contract: every role is a state machine that reacts to one [`Input`] at a time and
//! returns its effects as data ([`Effect`]).
//!
//! A node never reads a clock and never draws randomness on its own. Whatever drives it (the
//! discrete-event engine in `locklab-sim`, the stateright models in `locklab-models`) hands it a
//! [`Ctx`] holding the node's *local* clock readings at this instant and a deterministic source of
//! random numbers, and collects the effects the node asks for. This is the shape of tikv/raft-rs
//! and of stateright's actors: the protocol is pure logic, the driver owns time and I/O.

use serde::Deserialize;

use crate::history::Observation;
use crate::msg::Msg;
use crate::Durable;

/// Identifies one lock (one Redis key) on a lock service.
pub type LockId = u32;

/// Index of a node in its world. Names such as `s1`, `c2`, `r1` are the driver's business.
pub type NodeId = usize;

/// One deterministic random draw source, supplied by the driver (seeded ChaCha in the simulator).
pub trait Entropy {
    /// The next 64 uniformly random bits.
    fn next_u64(&mut self) -> u64;
}

/// Unit tests' entropy: 1, 2, 3, … (predictable draws).
#[cfg(test)]
pub(crate) struct Counter(pub u64);

#[cfg(test)]
impl Entropy for Counter {
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Timers a node can set. Each node has at most one pending timer of each value: setting a timer
/// again replaces it. Durations are in the node's local monotonic time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Client: no reply to the outstanding acquire request in time.
    AcquireTimeout,
    /// Client: back-off before the next acquire attempt is over.
    AcquireRetry,
    /// Client: time to send the next heartbeat (lease extension).
    Heartbeat,
    /// Client: no reply to the outstanding heartbeat in time.
    HeartbeatTimeout,
    /// Client: no reply to the outstanding release in time.
    ReleaseTimeout,
    /// Client: no reply from the protected resource in time.
    ResourceTimeout,
    /// Client workload: the think time inside the critical section is over.
    Think,
    /// Client workload: the idle time between lock sessions is over.
    Idle,
    /// Server: flush the page cache to disk (`appendfsync everysec`).
    Fsync,
    /// Server: the delayed restart is over, start serving.
    RestartDelay,
    /// Server: forward recent changes to the replicas.
    Replicate,
    /// Raft peer: no leader heard from (follower, candidate) or CheckQuorum due (leader).
    ElectionTimeout,
    /// Raft leader: send heartbeats (empty or catching-up `AppendEntries`).
    RaftHeartbeat,
    /// Raft leader: look for expired leases of the lock service.
    LeaseCheck,
    /// skinny instance: the RPC timeout of the phase in flight.
    ProposerTimeout,
    /// skinny instance: the backoff before retrying Phase 1 is over.
    ProposerBackoff,
    /// A protocol's own timer, named in its folder (`Timer::Named("session_ttl", lock)`): a new
    /// protocol sets these rather than adding variants here. The number tells apart timers of the
    /// same name (per lock, per session, …); each (name, number) is one timer.
    Named(&'static str, u64),
}

/// What a node reacts to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// The process starts. `incarnation` counts restarts (0 for the first start); `durable` is
    /// whatever durable state survived on disk (None for a first start or nothing synced).
    Start { incarnation: u32, durable: Option<Durable> },
    /// A message from a peer.
    Message { from: NodeId, msg: Msg },
    /// A timer set earlier fired.
    Timer(Timer),
    /// A command from the workload driver.
    Command(Command),
}

/// Commands from the workload driver to a client node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Begin the workload loop: acquire → critical section → release → idle, repeated.
    Run,
}

/// Effects a node asks its driver to carry out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Send `msg` to `to` over the (unreliable) network.
    Send { to: NodeId, msg: Msg },
    /// Fire `timer` after `after_ns` of the node's local monotonic time, replacing any pending one.
    SetTimer { timer: Timer, after_ns: u64 },
    /// Cancel `timer` if pending.
    CancelTimer { timer: Timer },
    /// Write durable state to the page cache (lost on crash unless followed by [`Effect::Sync`]).
    Persist(Durable),
    /// fsync: everything persisted so far survives a crash.
    Sync,
    /// Record a client-visible or resource-visible event in the history.
    Record(Observation),
}

/// The node's window on the world for the handling of one input.
pub struct Ctx<'a> {
    /// This node.
    pub me: NodeId,
    /// The node's local monotonic clock, in nanoseconds. Drifts, never jumps.
    pub mono_ns: u64,
    /// The node's local wall clock, in nanoseconds since its epoch. Drifts and may jump.
    pub wall_ns: i64,
    entropy: &'a mut dyn Entropy,
    effects: &'a mut Vec<Effect>,
}

impl<'a> Ctx<'a> {
    /// A context for one input. `effects` is appended to (callers reuse the buffer).
    pub fn new(
        me: NodeId,
        mono_ns: u64,
        wall_ns: i64,
        entropy: &'a mut dyn Entropy,
        effects: &'a mut Vec<Effect>,
    ) -> Self {
        Ctx { me, mono_ns, wall_ns, entropy, effects }
    }

    /// A deterministic random draw.
    pub fn random_u64(&mut self) -> u64 {
        self.entropy.next_u64()
    }

    /// A deterministic uniform draw in `[min, max]` (inclusive); `min` when `max <= min`.
    pub fn random_between(&mut self, min: u64, max: u64) -> u64 {
        if max <= min {
            return min;
        }
        let span = max - min + 1;
        min + self.entropy.next_u64() % span
    }

    #[inline]
    pub fn send(&mut self, to: NodeId, msg: Msg) {
        self.effects.push(Effect::Send { to, msg });
    }

    #[inline]
    pub fn set_timer(&mut self, timer: Timer, after_ns: u64) {
        self.effects.push(Effect::SetTimer { timer, after_ns });
    }

    #[inline]
    pub fn cancel_timer(&mut self, timer: Timer) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    pub fn persist(&mut self, durable: Durable) {
        self.effects.push(Effect::Persist(durable));
    }

    pub fn sync(&mut self) {
        self.effects.push(Effect::Sync);
    }

    #[inline]
    pub fn record(&mut self, obs: Observation) {
        self.effects.push(Effect::Record(obs));
    }
}

/// Milliseconds to nanoseconds, for parameters given in milliseconds.
pub const fn ms(ms: u64) -> u64 {
    ms * 1_000_000
}

/// A duration drawn uniformly from `[min_ms, max_ms]` for each use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsRange {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl MsRange {
    pub const fn fixed(value_ms: u64) -> Self {
        MsRange { min_ms: value_ms, max_ms: value_ms }
    }
    /// A draw, in nanoseconds.
    pub fn draw_ns(&self, ctx: &mut Ctx) -> u64 {
        ms(ctx.random_between(self.min_ms, self.max_ms))
    }
}

/// When the server's lock table reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// Nothing survives a crash.
    #[default]
    None,
    /// fsync after every write (`appendfsync always`).
    Always,
    /// fsync once a second (`appendfsync everysec`): the unsynced suffix is lost on a crash.
    Everysec,
}
