//! The history vocabulary: what nodes record ([`Observation`]) and what the driver records about
//! the world ([`WorldEvent`]). Checkers read nothing else: they judge a run from its history.

use std::fmt;

use crate::node::{LockId, NodeId};

/// One lock session: the period a client holds (or believes it holds) the lock after one
/// successful acquire. `n` counts the client's acquire calls within one incarnation.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId {
    pub client: u32,
    pub incarnation: u32,
    pub n: u32,
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.incarnation == 0 {
            write!(f, "n{}#{}", self.client, self.n)
        } else {
            write!(f, "n{}.{}#{}", self.client, self.incarnation, self.n)
        }
    }
}

/// Until when a client's lock library considers its lease valid, in the client's local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Deadline {
    /// The library does not track validity: it believes until it releases or is told otherwise.
    Never,
    /// Until the local monotonic clock reads this (locally measured durations).
    Mono(u64),
    /// Until the local wall clock reads this (absolute timestamps from the server, #12).
    Wall(i64),
}

/// Why a client stopped believing it holds the lock without releasing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LostReason {
    /// The server refused to extend the lease.
    ExtendRefused,
    /// The worker checked the local validity deadline and found it passed.
    DeadlineExpired,
}

/// What a node records. Client operations form the client-visible history (invoke and return);
/// server grants and resource writes are the ground truth the checkers compare it with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observation {
    /// Client: an acquire call begins (it may span several requests and retries).
    AcquireInvoke { lock: LockId, session: SessionId },
    /// Client: the acquire call returned: the client now holds the lock until `valid_until`.
    AcquireOk { lock: LockId, session: SessionId, token: Option<u64>, value: u64, valid_until: Deadline },
    /// Client: the acquire call gave up. `definite` when the service said no; otherwise the
    /// last request timed out and its effect is unknown.
    AcquireFail { lock: LockId, session: SessionId, definite: bool },
    /// Client: a heartbeat (lease extension) begins.
    ExtendInvoke { lock: LockId, session: SessionId },
    /// Client: the lease was extended; valid until `valid_until`.
    ExtendOk { lock: LockId, session: SessionId, valid_until: Deadline },
    /// Client: the extension was refused (`definite`) or timed out.
    ExtendFail { lock: LockId, session: SessionId, definite: bool },
    /// Client: the library stopped believing it holds the lock.
    LockLost { lock: LockId, session: SessionId, reason: LostReason },
    /// Client: release begins; from here on the client no longer acts as holder.
    ReleaseInvoke { lock: LockId, session: SessionId },
    /// Client: the release returned; `ok` when the server deleted this client's key, `None` on timeout.
    ReleaseDone { lock: LockId, session: SessionId, ok: Option<bool> },
    /// Client workload: a write to the protected resource was sent as holder of `session`.
    WriteSent { lock: LockId, session: SessionId, token: Option<u64>, value: u64 },
    /// Client workload: the critical section was abandoned before writing.
    CsAbort { lock: LockId, session: SessionId },
    /// Client workload: the critical section completed (every write acknowledged).
    CsDone { lock: LockId, session: SessionId },
    /// Lock server: a key was granted to `value` (ground truth for token order).
    Grant { lock: LockId, holder: NodeId, value: u64, token: Option<u64> },
    /// Lock server: a plain DEL removed a key that belonged to another value (#8).
    ForeignDelete { lock: LockId, deleted_value: u64, by: NodeId },
    /// Protected resource: a write was applied. `prev` is the value it overwrote.
    WriteApplied { session: SessionId, token: Option<u64>, value: u64, prev: u64 },
    /// Protected resource: a write was rejected because its token is below `max_token_seen`.
    WriteRejected { session: SessionId, token: Option<u64>, max_token_seen: Option<u64> },
    /// Raft peer: became leader of `term`; `log_chain[i]` is the chain hash of its entry i + 1.
    RaftLeader { term: u64, log_chain: Vec<u64> },
    /// Raft leader of `term`: entries up to `index` are committed; `chain` is the chain hash there.
    RaftCommitted { term: u64, index: u64, chain: u64 },
    /// Raft peer: applied entry `index` (of term `entry_term`, chain hash `chain`) to its state machine.
    RaftApplied { index: u64, entry_term: u64, chain: u64 },
}

/// What the driver records about the world (faults), for traces and checkers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorldEvent {
    Crash,
    Restart {
        incarnation: u32,
    },
    PauseStart {
        duration_ns: u64,
    },
    PauseEnd,
    ClockJump {
        by_ns: i64,
    },
    PartitionStart {
        description: String,
    },
    PartitionHeal {
        description: String,
    },
    /// A targeted rule dropped a message.
    MessageDropped {
        kind: &'static str,
        from: NodeId,
        to: NodeId,
    },
    /// A targeted rule delayed a message by `extra_ns`.
    MessageDelayed {
        kind: &'static str,
        from: NodeId,
        to: NodeId,
        extra_ns: u64,
    },
}

/// One history entry: what happened, where, and when in true time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// True time, nanoseconds since the run began.
    pub t_ns: u64,
    pub node: NodeId,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Recorded by a node. `until_ns` is the driver's translation of a [`Deadline`] in the
    /// observation (acquire and extend results) into true time, `None` for `Deadline::Never`.
    Obs {
        obs: Observation,
        until_ns: Option<u64>,
    },
    World(WorldEvent),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session is `n<client>#<n>`, with the incarnation when the client restarted.
    #[test]
    fn session_ids_name_the_incarnation_only_after_a_restart() {
        assert_eq!(SessionId { client: 4, incarnation: 0, n: 2 }.to_string(), "n4#2");
        assert_eq!(SessionId { client: 4, incarnation: 1, n: 2 }.to_string(), "n4.1#2");
    }
}
