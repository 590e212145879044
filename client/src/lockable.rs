//! [`LockableStyleClient`]: Lockable's client design (lockable-dev/lockable-py, commit 3155e12,
//! `src/lockable/lock.py`), reproduced to show its race.
//!
//! What it copies:
//! * after acquire, one heartbeat thread (Lockable: a single-thread `ThreadPoolExecutor`) renews
//!   the lease, then sleeps `DEFAULT_HEARTBEAT_SLEEP_PERIOD` = 1000 ms, in a loop;
//! * a refused heartbeat calls `on_lock_loss()` **on the heartbeat thread** and ends the loop; a
//!   transport error calls `on_heartbeat_exception(e)` and ends the loop too (no retry);
//! * both callbacks default to no-ops (`lambda: None`), and nothing else tells the worker: the
//!   `with` body keeps running and writing, unchecked;
//! * `heartbeat_stops_after_first_beat`: the bug at HEAD — the loop sleeps on
//!   `self.heartbeat_sleep_period` but the attribute is `self._heartbeat_sleep_period`, so the
//!   first sleep raises `AttributeError`, which is caught and passed to `on_heartbeat_exception`,
//!   and the lease lapses 60 s later while the body runs;
//! * `release()` sends release, then shuts the loop down.
//!
//! Abstracted: Lockable's HTTP API names the lock only (no per-acquisition owner; the account's
//! auth token is the only identity). Here renew and release carry the [`Grant`] like every
//! [`Transport`] call, which only makes renewals *more* likely to notice the loss; the race does
//! not depend on it. Lockable hands out no token: [`LockableStyleClient::grant`] exists only so a
//! test harness can record the ground-truth lease epoch of a write.

use crate::sync::{pause_ms, thread, Arc, AtomicBool, Ordering};
use crate::transport::{Grant, Transport, TransportError};

/// Lockable's client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockableConfig {
    /// Lease length: 60 s on the Hobbyist plan (docs.lockable.dev).
    pub ttl_ms: u64,
    /// `DEFAULT_HEARTBEAT_SLEEP_PERIOD` = 1000 ms.
    pub heartbeat_sleep_ms: u64,
    /// The attribute-name bug of the current client (see the module docs).
    pub heartbeat_stops_after_first_beat: bool,
    /// Stop after this many heartbeats (`None`: until release or failure); for loom only.
    pub max_beats: Option<u32>,
}

impl Default for LockableConfig {
    fn default() -> Self {
        LockableConfig {
            ttl_ms: 60_000,
            heartbeat_sleep_ms: 1_000,
            heartbeat_stops_after_first_beat: false,
            max_beats: None,
        }
    }
}

/// `on_lock_loss` and `on_heartbeat_exception`; both no-ops by default, as in Lockable.
pub struct Callbacks {
    /// Called on the heartbeat thread when a heartbeat is refused.
    pub on_lock_loss: Box<dyn Fn() + Send + Sync>,
    /// Called on the heartbeat thread when a heartbeat fails with an error.
    pub on_heartbeat_exception: Box<dyn Fn(&TransportError) + Send + Sync>,
}

impl Default for Callbacks {
    fn default() -> Self {
        Callbacks { on_lock_loss: Box::new(|| {}), on_heartbeat_exception: Box::new(|_| {}) }
    }
}

struct Shared<T> {
    name: String,
    transport: T,
    grant: Grant,
    config: LockableConfig,
    callbacks: Callbacks,
    stop: AtomicBool,
}

impl<T: Transport> Shared<T> {
    fn heartbeat_loop(&self) {
        let mut beats = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            match self.transport.renew(&self.name, self.grant, self.config.ttl_ms) {
                Ok(true) => {}
                Ok(false) => {
                    (self.callbacks.on_lock_loss)();
                    return;
                }
                Err(e) => {
                    (self.callbacks.on_heartbeat_exception)(&e);
                    return;
                }
            }
            beats += 1;
            if self.config.heartbeat_stops_after_first_beat {
                let e =
                    TransportError("AttributeError: 'Lock' object has no attribute 'heartbeat_sleep_period'".into());
                (self.callbacks.on_heartbeat_exception)(&e);
                return;
            }
            if self.config.max_beats.is_some_and(|m| beats >= m) {
                return;
            }
            pause_ms(self.config.heartbeat_sleep_ms, &self.stop);
        }
    }
}

/// A lock held the Lockable way: the caller's body runs on its own thread, unaware of the
/// heartbeat's fate.
pub struct LockableStyleClient<T: Transport> {
    shared: Arc<Shared<T>>,
    heartbeat: Option<thread::JoinHandle<()>>,
}

impl<T: Transport> LockableStyleClient<T> {
    /// Tries once to acquire `name`; on success starts the heartbeat thread.
    pub fn acquire(
        transport: T,
        name: &str,
        config: LockableConfig,
        callbacks: Callbacks,
    ) -> Result<Option<Self>, TransportError> {
        let Some(grant) = transport.acquire(name, config.ttl_ms)? else {
            return Ok(None);
        };
        let shared = Arc::new(Shared {
            name: name.to_string(),
            transport,
            grant,
            config,
            callbacks,
            stop: AtomicBool::new(false),
        });
        let hb = shared.clone();
        let heartbeat = thread::spawn(move || hb.heartbeat_loop());
        Ok(Some(LockableStyleClient { shared, heartbeat: Some(heartbeat) }))
    }

    /// The grant (ground truth for a test harness: Lockable's `acquire` returns a bool only).
    pub fn grant(&self) -> Grant {
        self.shared.grant
    }

    /// Lockable's `release()`: sends release, then shuts the heartbeat loop down.
    pub fn release(mut self) -> Result<bool, TransportError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<bool, TransportError> {
        let Some(heartbeat) = self.heartbeat.take() else {
            return Ok(true);
        };
        let answer = self.shared.transport.release(&self.shared.name, self.shared.grant);
        self.shared.stop.store(true, Ordering::Release);
        let _ = heartbeat.join();
        answer
    }
}

impl<T: Transport> Drop for LockableStyleClient<T> {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}
