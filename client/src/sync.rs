//! The synchronization primitives this crate uses, from `loom` under `--cfg loom` and from `std`
//! otherwise — the shim pattern of loom's README. Every thread, lock and atomic the guard, the
//! Lockable-style client, the in-memory server, the clock and the test resource touch goes through
//! here, so a loom build explores their interleavings and a normal build is plain `std`.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
#[cfg(loom)]
pub use loom::thread;

#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
pub use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
#[cfg(not(loom))]
pub use std::thread;

/// Locks a mutex, ignoring poisoning: a panicking worker must not take the lease state with it
/// (the state it protects is a few plain fields, each update a single assignment).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits up to `ms` between heartbeats, returning early when `stop` is set.
///
/// Under loom there is no time: the wait is a yield, and *when* the next beat happens is the
/// scheduler's choice, which is exactly what the model wants to explore. Loom tests bound the
/// number of beats (`max_beats`) so the heartbeat loop terminates.
#[cfg(not(loom))]
pub fn pause_ms(ms: u64, stop: &AtomicBool) {
    // Sleep in short slices so `shutdown` is answered within a few milliseconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while !stop.load(Ordering::Acquire) {
        let now = std::time::Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(5)));
    }
}

/// See the `std` version: under loom the pause is a scheduling point and nothing else.
#[cfg(loom)]
pub fn pause_ms(_ms: u64, _stop: &AtomicBool) {
    loom::thread::yield_now();
}
