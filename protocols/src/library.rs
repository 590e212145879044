//! The lock library contract, shared by every protocol's client library and the [worker](crate::worker):
//! what a library reports back ([`LockEvent`]) and the client options more than one library offers.
//! Protocol-neutral: it imports no protocol folder.

use serde::Deserialize;

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
