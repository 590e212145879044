//! # locklab-client: the lease guard a user embeds, checked by loom
//!
//! The rest of locklab simulates lock protocols as message-passing nodes. This crate is the other
//! half of the seed thread's critique, which is of a *client*: Lockable's heartbeat thread can fail
//! (or stop, through a bug) while the worker thread keeps writing, because the loss is signalled
//! only to a callback on the heartbeat thread, and that callback is a no-op by default
//! (seed-systems.md §8; lockable-py `src/lockable/lock.py`). Here are both designs, real
//! threads and locks, and [loom](https://docs.rs/loom) tests that explore their interleavings.
//!
//! ## The pieces
//!
//! * [`Transport`]: acquire (name, TTL) → [`Grant`] {token, TTL}, renew, release. The token is the
//!   lock's grant number (the *lease epoch*): the fencing token. [`MemoryServer`] implements it in
//!   memory with lazy expiry on an injected [`Clock`].
//! * [`LeaseGuard`]: the correct guard. A heartbeat thread renews every `heartbeat_interval_ms`;
//!   workers write only through [`LeaseHandle::write`] / a [`Permit`], which checks validity — no
//!   loss recorded, and the local deadline (send time of the last successful acquire/renew + TTL −
//!   drift margin) not reached — and hands out the token **under the same lock** (a read lock of
//!   the lease state) that the heartbeat must take, for writing, to record a loss. So once the loss
//!   is recorded no write starts, and a write in progress finishes before the loss is recorded.
//!   Loss notification: the permit refuses with [`LeaseLost`] (visible to every worker), and an
//!   `on_loss` callback runs on the heartbeat thread after the loss is recorded. Clean shutdown:
//!   [`LeaseGuard::shutdown`] stops the heartbeat, records the release (waiting for in-flight
//!   permits), joins the thread, then releases at the server — no write after the release.
//! * [`LockableStyleClient`]: Lockable's design, for contrast (see its module docs): loss goes
//!   only to a heartbeat-thread callback, default no-op; the worker's body writes without checking.
//! * `RedisTransport` (not under loom): the transport over a real `redis-server` — blocking
//!   RESP on a std `TcpStream`, the live tier's Lua scripts (`SET NX PX` + `INCR` token, guarded
//!   `PEXPIRE`, compare-and-delete); `tests/redis.rs` runs the guard against one on loopback.
//! * [`Resource`]: the tests' protected resource. It records each write with (writer, token, lease
//!   epoch), whether the lease was live at the server at that instant (ground truth), and whether
//!   the library had already signalled that writer's loss; it may check tokens ([`Fence`]).
//!   [`Resource::violations`] counts writes after expiry, stale writes (locklab's
//!   `no_stale_write`) and writes after the loss signal.
//!
//! ## What the guard does and does not promise
//!
//! A validity check on the client cannot keep a write from *arriving* after the lease expired:
//! time passes between the check and the write (a GC pause, a slow network), and no lock the
//! client holds stops the clock. That is why the guard attaches the token and the resource checks
//! it. The guard promises: (1) no write starts after it has signalled the loss or after its local
//! deadline; (2) every write carries the token; and so, with a resource that rejects lower
//! tokens, (3) no stale write is applied. The loom tests check all three, and show the limit:
//! with a resource that does not check tokens, loom finds the stale write even through the guard.
//! A fourth model checks shutdown: no write is applied after the lease is released at the server.
//!
//! ## How time is modelled under loom
//!
//! Loom has no time: it explores thread interleavings, and `sleep` would mean nothing to it. So
//! time is state. The client and the server read one shared [`ManualClock`] (an atomic), and "the
//! TTL elapses" is an *action*: an adversary thread calls `clock.advance(ttl_ms)`, one atomic step
//! that at once expires the server's lease (lazy expiry: every later request sees it absent) and
//! passes the client's local deadline (which never exceeds the server's expiry: it counts from the
//! request's send time and subtracts a margin). Because the adversary is a thread, the scheduler
//! can place that step anywhere — between the permit check and the write, before or after a
//! renewal, during release. The adversary then acts as the next client: it acquires the lock
//! (the server bumps the epoch: the new grant's token is one higher) and writes with its token.
//! The heartbeat's sleep is a yield under loom (`sync::pause_ms`): when the next beat happens is
//! the scheduler's choice too. Loom models must terminate, so the loom tests bound the heartbeat
//! to one renewal (`max_beats: Some(1)`); a renewal *after* the expiry is the interesting one, and
//! the scheduler places it before or after the adversary's step.
//!
//! ## The bound and the count
//!
//! `client/tests/loom.rs` runs each model with `loom::model::Builder` at a preemption bound of 3
//! (`preemption_bound = Some(3)`; `LOOM_MAX_PREEMPTIONS` overrides it), counts executions in a
//! static counter and prints the number explored; `client/README.md` has the figures.
//!
//! ## Building under loom
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p locklab-client --test loom --target-dir
//! target/loom` (`.ci/run` runs it). Under `cfg(loom)` the [`sync`] shims are loom's `Arc`,
//! `RwLock`, `Mutex`, atomics and threads; otherwise `std`'s. loom is a dependency only under
//! `cfg(loom)`, so normal builds never compile it.

mod clock;
mod guard;
mod lockable;
#[cfg(not(loom))]
pub mod redis;
mod resource;
pub mod sync;
mod transport;

pub use clock::{Clock, ManualClock, SystemClock};
pub use guard::{GuardConfig, LeaseGuard, LeaseHandle, LeaseLost, LossReason, OnLoss, Permit};
pub use lockable::{Callbacks, LockableConfig, LockableStyleClient};
#[cfg(not(loom))]
pub use redis::RedisTransport;
pub use resource::{Fence, Resource, Violations, WriteRecord};
pub use transport::{Grant, MemoryServer, Transport, TransportError};

#[cfg(all(test, not(loom)))]
mod tests;
