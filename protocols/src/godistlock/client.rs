//! The GoDistLock client library: `ON` to one server, `OFF` to the same server. See the
//! [module docs](super).
//!
//! godistlockd ships no client library; this is the one its protocol and README describe: a
//! client talks to one server ("clients know to switch to another server if connections to one
//! fail"), sends `ON <lock> <timeout>`, gets `GIVE <fence>` and uses the fence as its token.

use super::msg::GoDistLockMsg;
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// Parameters of the client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoDistLockClientParams {
    /// The `<timeout>` of `ON`: how long the servers keep the lock (the scenario's `ttl_ms`).
    pub timeout_ms: u64,
    /// How long the client waits for `GIVE`/`ERR` before trying the next server.
    pub acquire_timeout_ms: u64,
    /// Further `ON`s after the first, per acquire (after an `ERR` or a time-out).
    pub acquire_retries: u32,
    /// Delay before another `ON` after an `ERR` or a time-out.
    pub retry_backoff: MsRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoDistLockState {
    Free,
    Acquiring {
        req: u64,
        attempts: u32,
        /// When the `ON` was sent (local monotonic): validity is measured from here.
        sent_mono_ns: u64,
    },
    Backoff {
        attempts: u32,
    },
    /// Held until `valid_until_mono_ns` by the client's own clock; `lost` once the worker said so.
    Held {
        fence: u64,
        valid_until_mono_ns: u64,
        lost: bool,
    },
}

/// The GoDistLock client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoDistLockClient {
    /// Every server; `ON` and `OFF` go to `servers[current]`, the next one after a time-out.
    pub servers: Vec<NodeId>,
    pub current: usize,
    pub lock: LockId,
    pub params: GoDistLockClientParams,
    pub next_req: u64,
    pub session: SessionId,
    pub state: GoDistLockState,
    /// An `ON` of the current acquire call went unanswered: its effect is unknown (the server may
    /// still grant it), so a later refusal is not a definite failure of the call.
    pub unanswered: bool,
}

impl GoDistLockClient {
    /// A library that first calls `servers[first % len]` (client i → server i mod n, so that
    /// different clients use different coordinators).
    pub fn new(servers: Vec<NodeId>, first: usize, lock: LockId, params: GoDistLockClientParams) -> Self {
        assert!(!servers.is_empty(), "GoDistLock needs a server");
        let current = first % servers.len();
        GoDistLockClient {
            servers,
            current,
            lock,
            params,
            next_req: 0,
            session: SessionId::default(),
            state: GoDistLockState::Free,
            unanswered: false,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        matches!(self.state, GoDistLockState::Held { lost: false, valid_until_mono_ns, .. } if ctx.mono_ns < valid_until_mono_ns)
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let GoDistLockState::Held { lost, .. } = &mut self.state {
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

    /// The fence of `GIVE`.
    pub fn token(&self) -> Option<u64> {
        match self.state {
            GoDistLockState::Held { fence, .. } => Some(fence),
            _ => None,
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        self.unanswered = false;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.send_on(ctx, 1);
    }

    fn send_on(&mut self, ctx: &mut Ctx, attempts: u32) {
        let req = self.req();
        let msg = GoDistLockMsg::On { req, lock: self.lock, timeout_ms: self.params.timeout_ms };
        ctx.send(self.servers[self.current], Msg::GoDistLock(msg));
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.acquire_timeout_ms));
        self.state = GoDistLockState::Acquiring { req, attempts, sent_mono_ns: ctx.mono_ns };
    }

    /// Another `ON` after a backoff, or give up (`definite` when every `ON` was answered).
    fn retry_or_fail(&mut self, ctx: &mut Ctx, attempts: u32, answered: bool) -> Option<LockEvent> {
        self.unanswered |= !answered;
        let definite = !self.unanswered;
        if attempts > self.params.acquire_retries {
            self.state = GoDistLockState::Free;
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
            return Some(LockEvent::AcquireFailed);
        }
        let after_ns = self.params.retry_backoff.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, after_ns);
        self.state = GoDistLockState::Backoff { attempts };
        None
    }

    /// `OFF <lock>` to the server that gave the lock. The server never answers `OFF`: the release
    /// is done as soon as it is sent, and its effect is unknown (`ok: None`).
    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        ctx.send(self.servers[self.current], Msg::GoDistLock(GoDistLockMsg::Off { lock: self.lock }));
        self.state = GoDistLockState::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
        Some(LockEvent::Released)
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, &self.state) {
            (Timer::AcquireTimeout, &GoDistLockState::Acquiring { attempts, .. }) => {
                // No answer: "switch to another server if connections to one fail".
                self.current = (self.current + 1) % self.servers.len();
                self.retry_or_fail(ctx, attempts, false)
            }
            (Timer::AcquireRetry, &GoDistLockState::Backoff { attempts }) => {
                self.send_on(ctx, attempts + 1);
                None
            }
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) -> Option<LockEvent> {
        let Msg::GoDistLock(m) = msg else { return None };
        match (m, &self.state) {
            (GoDistLockMsg::Give { req, fence }, &GoDistLockState::Acquiring { req: r, sent_mono_ns, attempts })
                if req == r =>
            {
                ctx.cancel_timer(Timer::AcquireTimeout);
                // Validity measured locally, from when `ON` was sent, for the requested timeout.
                let valid_until_mono_ns = sent_mono_ns + ms(self.params.timeout_ms);
                if ctx.mono_ns >= valid_until_mono_ns {
                    // A `GIVE` that arrives after its own timeout ran out (the client was paused
                    // with it in flight) is no lock: try again.
                    return self.retry_or_fail(ctx, attempts, true);
                }
                self.state = GoDistLockState::Held { fence, valid_until_mono_ns, lost: false };
                ctx.record(Observation::AcquireOk {
                    lock: self.lock,
                    session: self.session,
                    token: Some(fence),
                    value: ctx.me as u64 + 1,
                    valid_until: Deadline::Mono(valid_until_mono_ns),
                });
                Some(LockEvent::Acquired)
            }
            (GoDistLockMsg::Err { req }, &GoDistLockState::Acquiring { req: r, attempts, .. }) if req == r => {
                ctx.cancel_timer(Timer::AcquireTimeout);
                self.retry_or_fail(ctx, attempts, true)
            }
            _ => None,
        }
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for GoDistLockClient {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        GoDistLockClient::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        GoDistLockClient::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        GoDistLockClient::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        GoDistLockClient::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        GoDistLockClient::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        GoDistLockClient::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        GoDistLockClient::on_message(self, ctx, msg)
    }
}
