//! lockable-py's `Lock` (src/lockable/lock.py at 3155e12): a blocking acquire that polls, a
//! heartbeat loop on a thread of its own (`HeartBeatLoop`, a one-worker `ThreadPoolExecutor`),
//! and a release that sends `release` and then waits for the loop to stop. See the
//! [module docs](super).

use super::msg::LockableMsg;
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, NodeId, Timer};

/// Parameters of the client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockableClientParams {
    /// `DEFAULT_HEARTBEAT_SLEEP_PERIOD`: the loop sleeps this long between heartbeats.
    pub heartbeat_ms: u64,
    /// `DEFAULT_ACQUIRE_SLEEP_PERIOD`: a refused blocking acquire sleeps this long and tries again.
    pub acquire_sleep_ms: u64,
    /// Further acquire requests after a refusal (`blocking=True` tries forever).
    pub acquire_retries: u32,
    /// The loop's `time.sleep(self.heartbeat_sleep_period …)` names an attribute that does not
    /// exist (`self._heartbeat_sleep_period` does): `AttributeError` right after the first
    /// heartbeat, caught, `on_heartbeat_exception`, the loop is over.
    pub heartbeat_attribute_bug: bool,
    /// The user passed `on_lock_loss` / `on_heartbeat_exception` callbacks that mark the lock
    /// lost for the worker (the defaults, `lambda: None`, tell the worker nothing).
    pub on_lock_loss_aborts: bool,
}

/// The heartbeat thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeartbeatThread {
    /// Not started, or finished (returned or raised).
    Stopped,
    /// `client.try_heartbeat` is waiting for its answer (`requests.get` has no timeout).
    InFlight { req: u64 },
    /// `time.sleep(1 s)`.
    Sleeping,
}

/// The worker's side.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockableState {
    Free,
    Acquiring {
        req: u64,
        attempts: u32,
    },
    Backoff {
        attempts: u32,
    },
    /// `acquire()` returned. `lost` only when a user callback said so.
    Held {
        lost: bool,
    },
    /// `release()`: `client.try_release` in flight (`req`), then `shutdown()` waiting for the
    /// heartbeat thread to finish.
    Releasing {
        req: Option<u64>,
        ok: Option<bool>,
    },
}

/// The `lockable` client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockableLock {
    pub server: NodeId,
    pub lock: LockId,
    pub params: LockableClientParams,
    pub session: SessionId,
    pub next_req: u64,
    pub state: LockableState,
    pub heartbeat: HeartbeatThread,
    /// `_shutdown_requested`: checked by the loop before each heartbeat.
    pub shutdown_requested: bool,
}

impl LockableLock {
    pub fn new(server: NodeId, lock: LockId, params: LockableClientParams) -> Self {
        LockableLock {
            server,
            lock,
            params,
            session: SessionId::default(),
            next_req: 0,
            state: LockableState::Free,
            heartbeat: HeartbeatThread::Stopped,
            shutdown_requested: false,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&self, ctx: &mut Ctx, m: LockableMsg) {
        ctx.send(self.server, Msg::Lockable(m));
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.try_acquire(ctx, 1);
    }

    fn try_acquire(&mut self, ctx: &mut Ctx, attempts: u32) {
        let req = self.req();
        self.send(ctx, LockableMsg::Acquire { req, name: self.lock });
        self.state = LockableState::Acquiring { req, attempts };
    }

    /// The heartbeat loop's next iteration: stop if shutdown was requested, else heartbeat.
    fn heartbeat_now(&mut self, ctx: &mut Ctx) {
        if self.shutdown_requested {
            self.heartbeat = HeartbeatThread::Stopped;
            return;
        }
        let req = self.req();
        if matches!(self.state, LockableState::Held { .. }) {
            ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        }
        self.send(ctx, LockableMsg::Heartbeat { req, name: self.lock });
        self.heartbeat = HeartbeatThread::InFlight { req };
    }

    /// A callback ran on the heartbeat thread: with the user's callbacks, the worker learns.
    fn callback(&mut self, ctx: &mut Ctx, reason: LostReason) {
        if !self.params.on_lock_loss_aborts {
            return; // `lambda: None`
        }
        if let LockableState::Held { lost } = &mut self.state {
            if !*lost {
                *lost = true;
                ctx.record(Observation::LockLost { lock: self.lock, session: self.session, reason });
            }
        }
    }

    /// `release()`: `client.try_release(name)` — by name — then `shutdown()`.
    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        let req = self.req();
        self.send(ctx, LockableMsg::Release { req, name: self.lock });
        self.state = LockableState::Releasing { req: Some(req), ok: None };
        None
    }

    /// `shutdown()` returns once the heartbeat thread has finished (`executor.shutdown()` waits):
    /// at once if it stopped, after its sleep if sleeping, never if its request hangs.
    fn maybe_release_done(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        let LockableState::Releasing { req: None, ok } = self.state else { return None };
        self.shutdown_requested = true;
        if self.heartbeat != HeartbeatThread::Stopped {
            return None;
        }
        self.shutdown_requested = false;
        self.state = LockableState::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        Some(LockEvent::Released)
    }

    pub fn is_valid(&self, _ctx: &Ctx) -> bool {
        matches!(self.state, LockableState::Held { lost: false })
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let LockableState::Held { lost } = &mut self.state {
            if !*lost {
                *lost = true;
                ctx.record(Observation::LockLost {
                    lock: self.lock,
                    session: self.session,
                    reason: LostReason::DeadlineExpired,
                });
            }
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match timer {
            Timer::AcquireRetry => {
                if let LockableState::Backoff { attempts } = self.state {
                    self.try_acquire(ctx, attempts + 1);
                }
                None
            }
            Timer::Heartbeat if self.heartbeat == HeartbeatThread::Sleeping => {
                self.heartbeat_now(ctx);
                self.maybe_release_done(ctx)
            }
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, m: LockableMsg) -> Option<LockEvent> {
        let LockableMsg::Response { req, ok } = m else { return None };
        if self.heartbeat == (HeartbeatThread::InFlight { req }) {
            return self.on_heartbeat_response(ctx, ok);
        }
        match self.state {
            LockableState::Acquiring { req: r, attempts } if r == req => {
                if ok {
                    self.state = LockableState::Held { lost: false };
                    ctx.record(Observation::AcquireOk {
                        lock: self.lock,
                        session: self.session,
                        token: None,
                        value: ctx.me as u64 + 1,
                        valid_until: Deadline::Never,
                    });
                    // `self._heartbeat_loop.start()`: the first heartbeat goes out at once.
                    self.shutdown_requested = false;
                    self.heartbeat_now(ctx);
                    return Some(LockEvent::Acquired);
                }
                if attempts > self.params.acquire_retries {
                    self.state = LockableState::Free;
                    ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite: true });
                    return Some(LockEvent::AcquireFailed);
                }
                ctx.set_timer(Timer::AcquireRetry, ms(self.params.acquire_sleep_ms));
                self.state = LockableState::Backoff { attempts };
                None
            }
            LockableState::Releasing { req: Some(r), .. } if r == req => {
                self.state = LockableState::Releasing { req: None, ok: Some(ok) };
                self.maybe_release_done(ctx)
            }
            _ => None,
        }
    }

    fn on_heartbeat_response(&mut self, ctx: &mut Ctx, ok: bool) -> Option<LockEvent> {
        let held = matches!(self.state, LockableState::Held { .. });
        if !ok {
            // `heartbeat_response is False`: `on_lock_loss()`, return.
            if held {
                ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
            }
            self.heartbeat = HeartbeatThread::Stopped;
            self.callback(ctx, LostReason::ExtendRefused);
        } else {
            if held {
                ctx.record(Observation::ExtendOk {
                    lock: self.lock,
                    session: self.session,
                    valid_until: Deadline::Never,
                });
            }
            if self.params.heartbeat_attribute_bug {
                // `time.sleep(self.heartbeat_sleep_period…)`: AttributeError, caught:
                // `on_heartbeat_exception(e)`; the loop is over.
                self.heartbeat = HeartbeatThread::Stopped;
                self.callback(ctx, LostReason::ExtendRefused);
            } else {
                self.heartbeat = HeartbeatThread::Sleeping;
                ctx.set_timer(Timer::Heartbeat, ms(self.params.heartbeat_ms));
            }
        }
        self.maybe_release_done(ctx)
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for LockableLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        LockableLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        LockableLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        LockableLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        LockableLock::mark_lost(self, ctx)
    }
    /// No fencing token: acquire answers a bare boolean.
    fn token(&self) -> Option<u64> {
        None
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        LockableLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Lockable(m) = msg else { return None };
        LockableLock::on_message(self, ctx, m)
    }
}
