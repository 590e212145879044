//! The skinny client library: one instance at a time. See the [module docs](super).

use super::msg::SkinnyMsg;
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// Parameters of the client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkinnyClientParams {
    /// How long a call waits for the instance (skinny's client `quorum.yml`: `timeout: 5s`).
    pub timeout_ms: u64,
    /// Further `Acquire` calls after the first, per acquire (a refused or timed-out call).
    pub acquire_retries: u32,
    /// Delay before another `Acquire` call.
    pub retry_backoff: MsRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkinnyLockState {
    Free,
    Acquiring {
        req: u64,
        attempts: u32,
    },
    Backoff {
        attempts: u32,
    },
    /// Held until released: no lease, no deadline. `lost` once the worker said so.
    Held {
        lost: bool,
    },
    Releasing {
        req: u64,
    },
}

/// The skinny client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkinnyLock {
    /// Every instance; calls go to `instances[current]`, the next one after a timeout.
    pub instances: Vec<NodeId>,
    pub current: usize,
    pub lock: LockId,
    pub params: SkinnyClientParams,
    pub next_req: u64,
    pub session: SessionId,
    pub state: SkinnyLockState,
}

impl SkinnyLock {
    /// A library that first calls `instances[first % len]`.
    pub fn new(instances: Vec<NodeId>, first: usize, lock: LockId, params: SkinnyClientParams) -> Self {
        assert!(!instances.is_empty(), "skinny needs an instance");
        let current = first % instances.len();
        SkinnyLock {
            instances,
            current,
            lock,
            params,
            next_req: 0,
            session: SessionId::default(),
            state: SkinnyLockState::Free,
        }
    }

    /// This client's holder name (skinny's free-form string): its node id + 1 (0 is "").
    fn holder(ctx: &Ctx) -> u64 {
        ctx.me as u64 + 1
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// Held and not marked lost: there is no deadline to check.
    pub fn is_valid(&self, _ctx: &Ctx) -> bool {
        matches!(self.state, SkinnyLockState::Held { lost: false })
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let SkinnyLockState::Held { lost } = &mut self.state {
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

    /// skinny issues no fencing token (its Paxos ID is never returned to clients).
    pub fn token(&self) -> Option<u64> {
        None
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.send_acquire(ctx, 1);
    }

    fn send_acquire(&mut self, ctx: &mut Ctx, attempts: u32) {
        let req = self.req();
        let msg = SkinnyMsg::Acquire { req, lock: self.lock, holder: Self::holder(ctx) };
        ctx.send(self.instances[self.current], Msg::Skinny(msg));
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.timeout_ms));
        self.state = SkinnyLockState::Acquiring { req, attempts };
    }

    /// Another call after a backoff, or give up (`definite` when the last call was answered).
    fn retry_or_fail(&mut self, ctx: &mut Ctx, attempts: u32, definite: bool) -> Option<LockEvent> {
        if attempts > self.params.acquire_retries {
            self.state = SkinnyLockState::Free;
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
            return Some(LockEvent::AcquireFailed);
        }
        let after_ns = self.params.retry_backoff.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, after_ns);
        self.state = SkinnyLockState::Backoff { attempts };
        None
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        let req = self.req();
        ctx.send(self.instances[self.current], Msg::Skinny(SkinnyMsg::Release { req }));
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.timeout_ms));
        self.state = SkinnyLockState::Releasing { req };
        None
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, &self.state) {
            (Timer::AcquireTimeout, &SkinnyLockState::Acquiring { attempts, .. }) => {
                // No answer: try the next instance.
                self.current = (self.current + 1) % self.instances.len();
                self.retry_or_fail(ctx, attempts, false)
            }
            (Timer::AcquireRetry, &SkinnyLockState::Backoff { attempts }) => {
                self.send_acquire(ctx, attempts + 1);
                None
            }
            (Timer::ReleaseTimeout, SkinnyLockState::Releasing { .. }) => {
                self.current = (self.current + 1) % self.instances.len();
                self.state = SkinnyLockState::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
                Some(LockEvent::Released)
            }
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) -> Option<LockEvent> {
        let Msg::Skinny(m) = msg else { return None };
        match (m, &self.state) {
            (SkinnyMsg::AcquireReply { req, acquired, .. }, &SkinnyLockState::Acquiring { req: r, attempts })
                if req == r =>
            {
                ctx.cancel_timer(Timer::AcquireTimeout);
                if acquired {
                    self.state = SkinnyLockState::Held { lost: false };
                    ctx.record(Observation::AcquireOk {
                        lock: self.lock,
                        session: self.session,
                        token: None,
                        value: Self::holder(ctx),
                        valid_until: Deadline::Never,
                    });
                    Some(LockEvent::Acquired)
                } else {
                    self.retry_or_fail(ctx, attempts, true)
                }
            }
            (SkinnyMsg::ReleaseReply { req, released }, &SkinnyLockState::Releasing { req: r }) if req == r => {
                ctx.cancel_timer(Timer::ReleaseTimeout);
                self.state = SkinnyLockState::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(released) });
                Some(LockEvent::Released)
            }
            _ => None,
        }
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for SkinnyLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        SkinnyLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        SkinnyLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        SkinnyLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        SkinnyLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        SkinnyLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        SkinnyLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        SkinnyLock::on_message(self, ctx, msg)
    }
}
