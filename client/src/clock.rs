//! Clocks the guard and the in-memory server read: real (`SystemClock`) or driven by the test
//! (`ManualClock`).
//!
//! Both the client and the in-memory server take their clock as a parameter. Tests share one
//! `ManualClock` between them, so "the TTL elapses" is a single action — `advance(ttl_ms)` — that
//! expires the server's lease and passes the client's local deadline at the same instant. Under
//! loom that action is placed by the scheduler anywhere among the other threads' steps (see the
//! crate docs, "How time is modelled under loom").

use crate::sync::{AtomicU64, Ordering};

/// A monotonic millisecond clock.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since an arbitrary, fixed origin; never decreases.
    fn now_ms(&self) -> u64;
}

/// The machine's monotonic clock (`std::time::Instant`), counted from its creation.
#[derive(Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl SystemClock {
    /// A clock reading 0 now.
    pub fn new() -> Self {
        SystemClock { origin: std::time::Instant::now() }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// A clock that moves only when told to: the tests' time, and loom's.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        ManualClock { now_ms: AtomicU64::new(now_ms) }
    }

    /// Moves the clock forward by `ms` (one atomic step: everyone reading the clock afterwards sees
    /// the new time).
    pub fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}
