//! Lockable (lockable.dev, the service of the seed's HN thread) and its Python client,
//! lockable-py, as shipped at commit 3155e12 (2022-06-12): `src/lockable/lock.py` (`Lock`,
//! `HeartBeatLoop`) and `src/lockable/client.py` (`try_acquire`, `try_heartbeat`,
//! `try_release`); the HTTP endpoints from lockable-docs (`https-endpoints.md`). The spec is
//! `seed-systems.md` §8.
//!
//! # The service
//!
//! `GET /v1/acquire/<name>`, `/v1/heartbeat/<name>`, `/v1/release/<name>`, with the account's
//! token as basic-auth user, each answered `{"response": bool}`. An acquired lock has a lease of
//! 60 s (`ttl_ms`; the Hobbyist plan's, configurable on Business), renewed by each heartbeat.
//! **The lock is named, never owned**: no request carries anything that tells one acquisition
//! from another, so any client of the account can heartbeat — keep alive — or release — delete —
//! any lock by its name ([`LockableServer`]). Acquire answers a bare boolean: no fencing token.
//! (What the service answers to a heartbeat or a release of a lock nobody holds is not
//! documented; here: `false`.)
//!
//! # The client
//!
//! * `acquire()` (`_maybe_block_and_acquire`, `blocking=True`): `try_acquire`; on `false`
//!   `time.sleep(1 s)` (`DEFAULT_ACQUIRE_SLEEP_PERIOD`) and again. Then
//!   `self._heartbeat_loop.start()`.
//! * The heartbeat loop (`_run_heartbeat_loop`, on a one-worker `ThreadPoolExecutor`): while
//!   not `_shutdown_requested`: `try_heartbeat`; if it answered `False`: `on_lock_loss()` and
//!   return; `time.sleep(1 s)`. Any exception: `on_heartbeat_exception(e)` and the loop is over
//!   — **no retry**. The callbacks default to `lambda: None`: **the worker learns nothing**, its
//!   `with` body runs on. `requests.get` is called **without a timeout**: a request whose
//!   packet or answer is lost hangs the heartbeat thread for good (literature scenario 11).
//! * `release()`: `try_release(name)` — by name — then `shutdown()`, which sets
//!   `_shutdown_requested` and waits for the loop to finish (`executor.shutdown()`): after the
//!   loop's current sleep, or never if its heartbeat hangs.
//!
//! # Switches
//!
//! * `heartbeat_attribute_bug` (default **true**: the client as shipped). The loop sleeps on
//!   `self.heartbeat_sleep_period`, an attribute that does not exist (`__init__` sets
//!   `self._heartbeat_sleep_period`): right after the first heartbeat succeeds, `AttributeError`,
//!   caught, `on_heartbeat_exception(e)` (a no-op), the loop is over. The lock's lease lapses 60 s
//!   after it was acquired while the body runs. `false` is the client as its author meant it.
//!   (The acquire loop uses `self._acquire_sleep_period` correctly at 3155e12.)
//! * `on_lock_loss_aborts`: the user passes callbacks (`on_lock_loss` and
//!   `on_heartbeat_exception`) that mark the lock lost for the worker, and the worker checks
//!   before each write (`check_validity_before_write = true`). It helps only when a callback
//!   runs: a refused heartbeat, the attribute error — not a hung request.
//!
//! # Abstractions
//!
//! * Threads are logical: the heartbeat thread's state ([`HeartbeatThread`]) lives beside the
//!   worker's in one node; a thread's blocking call is a message in flight. Only the order of
//!   messages and timers interleaves them (the loom tests of issue 14 explore real interleavings).
//! * HTTP errors (`raise_for_status`, connection refused) are not modelled: a lost request or
//!   answer hangs, as `requests.get` without a timeout does on a silent peer.
//! * The service is one node whose lease runs on its monotonic clock.
//!
//! # Scenarios
//!
//! `scenarios/lockable-heartbeat-attribute-bug.toml` (the shipped client: a body longer than
//! 60 s overlaps the next holder), `scenarios/lockable-hung-heartbeat.toml` (#11: a lost
//! heartbeat hangs the thread, no callback fires, the worker writes on) and
//! `scenarios/lockable-release-by-name.toml` (a previous holder's delayed release deletes the
//! next holder's lock).

pub mod client;
pub mod msg;
pub mod params;
pub mod server;
#[cfg(test)]
mod tests;

pub use client::*;
pub use msg::*;
pub use params::*;
pub use server::*;
