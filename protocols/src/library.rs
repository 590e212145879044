//! The lock library contract, shared by every protocol's client library and the [worker](crate::worker):
//! what a library reports back ([`LockEvent`]) and the client options more than one library offers.
//! Protocol-neutral: it imports no protocol folder.

use serde::Deserialize;

use crate::history::SessionId;
use crate::msg::Msg;
use crate::node::{Ctx, LockId, NodeId, Timer};

/// What a lock library tells the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockEvent {
    /// The acquire call returned: the lock is held.
    Acquired,
    /// The acquire call gave up.
    AcquireFailed,
    /// The release call returned (or timed out).
    Released,
}

/// How a retry after a timed-out acquire chooses its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RetryMode {
    /// Reuse the value; the lease client, refused after an unanswered request, reads the key
    /// (`GET` + `PTTL`) to learn whether the lost request created it. (The Raft client reuses
    /// its request id, which the service deduplicates.)
    #[default]
    Idempotent,
    /// Draw a new value for every request.
    Naive,
}

/// How the client bounds the validity of its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValidityBasis {
    /// TTL minus the safety margin, on the local monotonic clock, from when the request was sent.
    #[default]
    LocalDuration,
    /// The server's absolute expiry timestamp minus the margin, on the local wall clock.
    ServerTimestamp,
    /// No deadline: the client believes it holds the lock until it releases it.
    None,
}

/// What the worker calls on a client library. Each protocol's library implements it in its own
/// folder; the registry's `LockLibrary` dispatches to it.
pub trait LockClient {
    /// Start acquiring `lock` for lock session `session`.
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId);
    /// Start releasing; `Some` if the release completed at once.
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent>;
    /// Does the library consider the lock held and valid now?
    fn is_valid(&self, ctx: &Ctx) -> bool;
    /// The worker found the lease invalid: the library stops believing.
    fn mark_lost(&mut self, ctx: &mut Ctx);
    /// The fencing token of the current lease, if the service issues them.
    fn token(&self) -> Option<u64>;
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent>;
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent>;
}
