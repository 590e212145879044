//! The Consul lock library: `api/lock.go`'s `Lock`/`Unlock` with `api/session.go`'s
//! `RenewPeriodic`, as a sans-IO state machine. See the [module docs](super).
//!
//! ```text
//! Lock():
//!     session = Session.Create({TTL, LockDelay, Behavior, checks})   -- renewed every TTL/2 meanwhile
//!  WAIT:
//!     pair = KV.Get(key, index=waitIndex, wait=15s)                   -- blocking query
//!     if pair.Session == session: goto HELD
//!     if pair.Session != "": waitIndex = X-Consul-Index; goto WAIT
//!     if KV.Acquire(key, session): goto HELD
//!     pair = KV.Get(key)                                              -- why not?
//!     if pair.Session != "": waitIndex = X-Consul-Index; goto WAIT
//!     sleep 5s (DefaultLockRetryTime: a lock-delay is in force); goto WAIT
//!  HELD:
//!     go monitorLock()      -- KV.Get(key, index, ?consistent) until pair.Session != session
//!                              or an error (MonitorRetries = 0): then the lock is lost
//! Unlock(): KV.Release(key, session); Session.Destroy(session)
//! ```
//!
//! The worker believes it holds the lock from `Lock()`'s return until the monitor says otherwise:
//! no local deadline (`Deadline::Never`). A failing renewal does **not** end the belief —
//! `RenewPeriodic` returns its error to nobody (`lock.go` starts it with `go`); only the monitor
//! tells the holder, and a blocking query cut off by a partition answers nothing until its
//! timeout (the wait, 5 min by default, plus jitter and the RPC hold time).

use super::msg::{ConsulMsg, ConsulSessionId};
use super::state::Behavior;
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// Which index of the KV entry the holder passes as its fencing token.
#[derive(serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// `LockIndex`: how many times the key was acquired (restarts at 1 after `behavior = delete`).
    #[default]
    LockIndex,
    /// `ModifyIndex`: the Raft index of the acquire (monotonic across deletions).
    ModifyIndex,
}

/// Parameters of the lock library (`api.LockOptions` and the session it creates).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsulClientParams {
    /// The session's TTL (`DefaultLockSessionTTL` = 15 s).
    pub ttl_ms: u64,
    /// The session's lock-delay (the server's default, 15 s).
    pub lock_delay_ms: u64,
    pub behavior: Behavior,
    /// The session is tied to the node's `serfHealth` check (the default) or to none.
    pub checks: bool,
    pub token: TokenSource,
    /// `RenewPeriodic`'s period (TTL / 2).
    pub renew_ms: u64,
    /// How long a non-blocking call may go unanswered before the agent tries the next server (a
    /// dead server's connection fails fast in Consul; here a call to it is simply lost).
    pub call_timeout_ms: u64,
    /// Request errors (timeouts) an acquire call rides out, moving to the next server, before
    /// `Lock()` returns its error.
    pub acquire_retries: u32,
    /// Wait before calling again after `No cluster leader`.
    pub retry_backoff: MsRange,
}

/// The library's timer of its own (`Timer::Named`): the monitor's blocking query went unanswered.
pub const MONITOR_TIMEOUT: Timer = Timer::Named("consul_monitor_timeout", 0);

/// `DefaultLockWaitTime`: the blocking wait of `Lock()`'s query.
pub const LOCK_WAIT_MS: u64 = 15_000;
/// `DefaultLockRetryTime`: the sleep after an acquire refused under lock-delay.
pub const LOCK_RETRY_MS: u64 = 5_000;
/// The monitor's blocking wait: none is set, so the server's default (`DefaultQueryTime`, 5 min).
pub const MONITOR_WAIT_MS: u64 = 300_000;
/// A blocking query is an error once its wait, the server's 1/16 jitter and the agent's RPC hold
/// time (`rpc_hold_timeout`, 7 s) have passed without an answer.
pub const RPC_HOLD_MS: u64 = 7_000;
/// `RenewPeriodic`'s wait after a failed renewal.
pub const RENEW_ERROR_RETRY_MS: u64 = 1_000;

/// Where `Lock()` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Create,
    /// `KV.Get` blocking on `wait_index` (0: answer at once).
    Wait {
        wait_index: u64,
    },
    Acquire,
    /// The `KV.Get` after a refused acquire.
    Recheck,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsulLockState {
    Free,
    /// A call of `Lock()` is outstanding.
    Calling {
        step: Step,
        req: u64,
        attempts: u32,
    },
    /// Waiting before calling again (`No cluster leader`, or `DefaultLockRetryTime`).
    Sleeping {
        step: Step,
        attempts: u32,
    },
    Held {
        lock_index: u64,
        modify_index: u64,
        lost: bool,
    },
    Releasing {
        req: u64,
    },
}

/// The monitor's outstanding blocking query.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Monitor {
    pub req: u64,
    pub wait_index: u64,
    /// Resending after `No cluster leader` (the timeout keeps running).
    pub sleeping: bool,
}

/// `RenewPeriodic`'s loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Renewal {
    pub session: ConsulSessionId,
    /// The outstanding renewal, and whether it was recorded as a lease extension (while held).
    pub req: Option<(u64, bool)>,
    pub last_ok_mono_ns: u64,
}

/// The Consul lock library of one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsulLock {
    pub servers: Vec<NodeId>,
    /// Index in `servers` of the server calls go to.
    pub server: usize,
    pub lock: LockId,
    pub params: ConsulClientParams,
    pub next_req: u64,
    pub session: SessionId,
    pub consul_session: Option<ConsulSessionId>,
    pub state: ConsulLockState,
    pub renewal: Option<Renewal>,
    pub monitor: Option<Monitor>,
}

impl ConsulLock {
    pub fn new(servers: Vec<NodeId>, first: usize, lock: LockId, params: ConsulClientParams) -> Self {
        assert!(!servers.is_empty(), "a Consul client needs a server");
        let server = first % servers.len();
        ConsulLock {
            servers,
            server,
            lock,
            params,
            next_req: 0,
            session: SessionId::default(),
            consul_session: None,
            state: ConsulLockState::Free,
            renewal: None,
            monitor: None,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&self, ctx: &mut Ctx, m: ConsulMsg) {
        ctx.send(self.servers[self.server], Msg::Consul(m));
    }

    /// Held and the monitor has not said otherwise: there is no deadline to check.
    pub fn is_valid(&self, _ctx: &Ctx) -> bool {
        matches!(self.state, ConsulLockState::Held { lost: false, .. })
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.lose(ctx);
    }

    fn lose(&mut self, ctx: &mut Ctx) {
        if let ConsulLockState::Held { lost, .. } = &mut self.state {
            if !*lost {
                *lost = true;
                ctx.record(Observation::LockLost {
                    lock: self.lock,
                    session: self.session,
                    reason: LostReason::ExtendRefused,
                });
            }
        }
        if self.monitor.take().is_some() {
            ctx.cancel_timer(MONITOR_TIMEOUT);
            ctx.cancel_timer(Timer::AcquireRetry);
        }
    }

    /// `LockIndex` (or `ModifyIndex`) of the acquire, the fencing token.
    pub fn token(&self) -> Option<u64> {
        match self.state {
            ConsulLockState::Held { lock_index, modify_index, .. } => Some(match self.params.token {
                TokenSource::LockIndex => lock_index,
                TokenSource::ModifyIndex => modify_index,
            }),
            _ => None,
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        self.consul_session = None;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.call(ctx, Step::Create, 0);
    }

    /// Make (or make again) the call of `step`.
    fn call(&mut self, ctx: &mut Ctx, step: Step, attempts: u32) {
        let req = self.req();
        let p = &self.params;
        let (m, wait_ms) = match step {
            Step::Create => (
                ConsulMsg::SessionCreate {
                    req,
                    ttl_ms: p.ttl_ms,
                    lock_delay_ms: p.lock_delay_ms,
                    behavior: p.behavior,
                    checks: p.checks,
                },
                0,
            ),
            // With index 0 the query does not block: the server answers at once.
            Step::Wait { wait_index } => (
                ConsulMsg::KvGet { req, key: self.lock, wait_index, wait_ms: LOCK_WAIT_MS },
                if wait_index > 0 { LOCK_WAIT_MS } else { 0 },
            ),
            Step::Recheck => (ConsulMsg::KvGet { req, key: self.lock, wait_index: 0, wait_ms: 0 }, 0),
            Step::Acquire => {
                let session = self.consul_session.expect("a session before acquiring");
                (ConsulMsg::KvAcquire { req, key: self.lock, session }, 0)
            }
        };
        self.send(ctx, m);
        let timeout_ms = if wait_ms > 0 { wait_ms + wait_ms / 16 + RPC_HOLD_MS } else { self.params.call_timeout_ms };
        ctx.set_timer(Timer::AcquireTimeout, ms(timeout_ms));
        self.state = ConsulLockState::Calling { step, req, attempts };
    }

    /// `Lock()` returns an error: stop renewing and destroy the session (its deferred clean-up).
    fn fail(&mut self, ctx: &mut Ctx, definite: bool) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(Timer::AcquireRetry);
        self.state = ConsulLockState::Free;
        self.end_session(ctx);
        ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
        Some(LockEvent::AcquireFailed)
    }

    fn end_session(&mut self, ctx: &mut Ctx) {
        self.renewal = None;
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        if let Some(session) = self.consul_session.take() {
            let req = self.req();
            self.send(ctx, ConsulMsg::SessionDestroy { req, session });
        }
    }

    fn held(&mut self, ctx: &mut Ctx, lock_index: u64, modify_index: u64) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        self.state = ConsulLockState::Held { lock_index, modify_index, lost: false };
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token: self.token(),
            value: self.consul_session.unwrap_or(0),
            valid_until: Deadline::Never,
        });
        self.monitor_call(ctx, 0);
        Some(LockEvent::Acquired)
    }

    fn monitor_call(&mut self, ctx: &mut Ctx, wait_index: u64) {
        let req = self.req();
        let wait_ms = MONITOR_WAIT_MS;
        self.send(ctx, ConsulMsg::KvGet { req, key: self.lock, wait_index, wait_ms });
        ctx.set_timer(MONITOR_TIMEOUT, ms(wait_ms + wait_ms / 16 + RPC_HOLD_MS));
        self.monitor = Some(Monitor { req, wait_index, sleeping: false });
    }

    fn start_renewal(&mut self, ctx: &mut Ctx, session: ConsulSessionId) {
        self.renewal = Some(Renewal { session, req: None, last_ok_mono_ns: ctx.mono_ns });
        ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
    }

    fn renew(&mut self, ctx: &mut Ctx) {
        let Some(r) = &self.renewal else { return };
        let session = r.session;
        let record = matches!(self.state, ConsulLockState::Held { lost: false, .. });
        let req = self.req();
        if record {
            ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        }
        self.send(ctx, ConsulMsg::SessionRenew { req, session });
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.call_timeout_ms));
        if let Some(r) = &mut self.renewal {
            r.req = Some((req, record));
        }
    }

    /// A renewal failed with an error: retry in a second, unless a TTL has passed since the last
    /// success (then `RenewPeriodic` returns, telling no one).
    fn renew_error(&mut self, ctx: &mut Ctx) {
        // The agent would try another server: so does the next renewal.
        self.server = (self.server + 1) % self.servers.len();
        let Some(r) = &mut self.renewal else { return };
        if let Some((_, true)) = r.req.take() {
            ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: false });
        }
        if ctx.mono_ns.saturating_sub(r.last_ok_mono_ns) > ms(self.params.ttl_ms) {
            self.renewal = None;
        } else {
            ctx.set_timer(Timer::Heartbeat, ms(RENEW_ERROR_RETRY_MS));
        }
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        self.lose_monitor(ctx);
        let Some(session) = self.consul_session else {
            self.state = ConsulLockState::Free;
            ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(false) });
            return Some(LockEvent::Released);
        };
        let req = self.req();
        self.send(ctx, ConsulMsg::KvRelease { req, key: self.lock, session });
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.call_timeout_ms));
        self.state = ConsulLockState::Releasing { req };
        None
    }

    /// `Unlock()` stops the monitor (its `stopCh`) without it counting as a loss.
    fn lose_monitor(&mut self, ctx: &mut Ctx) {
        if self.monitor.take().is_some() {
            ctx.cancel_timer(MONITOR_TIMEOUT);
            ctx.cancel_timer(Timer::AcquireRetry);
        }
    }

    fn released(&mut self, ctx: &mut Ctx, ok: Option<bool>) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::ReleaseTimeout);
        self.state = ConsulLockState::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        self.end_session(ctx);
        Some(LockEvent::Released)
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state.clone()) {
            (Timer::AcquireTimeout, ConsulLockState::Calling { step, attempts, .. }) => {
                // An error: ride it out on the next server, up to `acquire_retries` times.
                self.server = (self.server + 1) % self.servers.len();
                if attempts >= self.params.acquire_retries {
                    return self.fail(ctx, false);
                }
                self.call(ctx, step, attempts + 1);
                None
            }
            (Timer::AcquireRetry, ConsulLockState::Sleeping { step, attempts }) => {
                self.call(ctx, step, attempts);
                None
            }
            (Timer::AcquireRetry, ConsulLockState::Held { .. }) => {
                if let Some(m) = &self.monitor {
                    if m.sleeping {
                        let (req, wait_index) = (m.req, m.wait_index);
                        self.send(ctx, ConsulMsg::KvGet { req, key: self.lock, wait_index, wait_ms: MONITOR_WAIT_MS });
                        self.monitor = Some(Monitor { req, wait_index, sleeping: false });
                    }
                }
                None
            }
            // The monitor's query failed: `MonitorRetries` is 0, the monitor returns, the lock is lost.
            (MONITOR_TIMEOUT, ConsulLockState::Held { .. }) => {
                self.lose(ctx);
                None
            }
            (Timer::Heartbeat, _) => {
                self.renew(ctx);
                None
            }
            (Timer::HeartbeatTimeout, _) => {
                self.renew_error(ctx);
                None
            }
            (Timer::ReleaseTimeout, ConsulLockState::Releasing { .. }) => self.released(ctx, None),
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Consul(m) = msg else { return None };
        use ConsulMsg::*;
        match m {
            // The node's agent answers Serf's probes, whatever the application is doing.
            Probe { seq } => {
                ctx.send(from, Msg::Consul(ProbeAck { seq }));
                None
            }
            NotLeader { req, leader } => {
                if let Some(i) = self.servers.iter().position(|&s| s == leader) {
                    self.server = i;
                }
                self.redirected(ctx, req, false)
            }
            NoLeader { req } => self.redirected(ctx, req, true),
            RenewReply { req, found } => {
                let Some(r) = &mut self.renewal else { return None };
                if r.req.map(|(q, _)| q) != Some(req) {
                    return None;
                }
                ctx.cancel_timer(Timer::HeartbeatTimeout);
                let recorded = r.req.take().is_some_and(|(_, rec)| rec);
                if found {
                    r.last_ok_mono_ns = ctx.mono_ns;
                    ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                    if recorded {
                        ctx.record(Observation::ExtendOk {
                            lock: self.lock,
                            session: self.session,
                            valid_until: Deadline::Never,
                        });
                    }
                } else {
                    // `ErrSessionExpired`: the renewal loop ends (and tells no one).
                    self.renewal = None;
                    if recorded {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                    }
                }
                None
            }
            KvGetReply { req, session, lock_index, index } => {
                if let Some(mon) = &self.monitor {
                    if mon.req == req {
                        ctx.cancel_timer(MONITOR_TIMEOUT);
                        if session.is_some() && session == self.consul_session {
                            self.monitor_call(ctx, index);
                        } else {
                            self.lose(ctx);
                        }
                        return None;
                    }
                }
                let ConsulLockState::Calling { step, req: r, attempts } = self.state else { return None };
                if r != req {
                    return None;
                }
                ctx.cancel_timer(Timer::AcquireTimeout);
                match (step, session) {
                    // Already ours (`goto HELD`: a retried acquire that had succeeded); the key's
                    // index is the acquire's `ModifyIndex` unless it changed since.
                    (Step::Wait { .. }, Some(s)) if Some(s) == self.consul_session => self.held(ctx, lock_index, index),
                    (Step::Wait { .. } | Step::Recheck, Some(_)) => {
                        self.call(ctx, Step::Wait { wait_index: index }, attempts);
                        None
                    }
                    (Step::Wait { .. }, None) => {
                        self.call(ctx, Step::Acquire, attempts);
                        None
                    }
                    (Step::Recheck, None) => {
                        // No holder and the acquire failed: a lock-delay is in force.
                        ctx.set_timer(Timer::AcquireRetry, ms(LOCK_RETRY_MS));
                        self.state = ConsulLockState::Sleeping { step: Step::Wait { wait_index: 0 }, attempts };
                        None
                    }
                    _ => None,
                }
            }
            SessionCreated { req, session } => {
                let ConsulLockState::Calling { step: Step::Create, req: r, attempts } = self.state else { return None };
                if r != req {
                    return None;
                }
                ctx.cancel_timer(Timer::AcquireTimeout);
                match session {
                    Some(s) => {
                        self.consul_session = Some(s);
                        self.start_renewal(ctx, s);
                        self.call(ctx, Step::Wait { wait_index: 0 }, attempts);
                        None
                    }
                    // `Check 'serfHealth' is in critical state`: `Lock()` returns the error.
                    None => self.fail(ctx, true),
                }
            }
            KvAcquireReply { req, ok, invalid, lock_index, modify_index } => {
                let ConsulLockState::Calling { step: Step::Acquire, req: r, attempts } = self.state else {
                    return None;
                };
                if r != req {
                    return None;
                }
                ctx.cancel_timer(Timer::AcquireTimeout);
                if invalid {
                    // `invalid session`: the session is gone (invalidated meanwhile).
                    return self.fail(ctx, true);
                }
                if ok {
                    return self.held(ctx, lock_index, modify_index);
                }
                self.call(ctx, Step::Recheck, attempts);
                None
            }
            KvReleaseReply { req, ok } => match self.state {
                ConsulLockState::Releasing { req: r } if r == req => self.released(ctx, Some(ok)),
                _ => None,
            },
            _ => None,
        }
    }

    /// `NotLeader` (call the leader now) or `NoLeader` (call again after a backoff): the call
    /// `req` is made again; its timeout keeps running.
    fn redirected(&mut self, ctx: &mut Ctx, req: u64, backoff: bool) -> Option<LockEvent> {
        if backoff {
            self.server = (self.server + 1) % self.servers.len();
        }
        if let Some(mon) = &self.monitor {
            if mon.req == req {
                if backoff {
                    let after = self.params.retry_backoff.draw_ns(ctx);
                    ctx.set_timer(Timer::AcquireRetry, after);
                    self.monitor.as_mut().expect("a monitor").sleeping = true;
                } else {
                    let (wait_index, key) = (mon.wait_index, self.lock);
                    self.send(ctx, ConsulMsg::KvGet { req, key, wait_index, wait_ms: MONITOR_WAIT_MS });
                }
                return None;
            }
        }
        if let Some(r) = &self.renewal {
            if r.req.map(|(q, _)| q) == Some(req) {
                let session = r.session;
                if backoff {
                    ctx.cancel_timer(Timer::HeartbeatTimeout);
                    self.renew_error(ctx);
                } else {
                    self.send(ctx, ConsulMsg::SessionRenew { req, session });
                }
                return None;
            }
        }
        match self.state.clone() {
            ConsulLockState::Calling { step, req: r, attempts } if r == req => {
                if backoff {
                    ctx.cancel_timer(Timer::AcquireTimeout);
                    let after = self.params.retry_backoff.draw_ns(ctx);
                    ctx.set_timer(Timer::AcquireRetry, after);
                    self.state = ConsulLockState::Sleeping { step, attempts };
                } else {
                    // Same call, same request id, to the leader.
                    self.resend(ctx, step, req);
                }
                None
            }
            ConsulLockState::Releasing { req: r } if r == req => {
                if let Some(session) = self.consul_session {
                    self.send(ctx, ConsulMsg::KvRelease { req, key: self.lock, session });
                }
                None
            }
            _ => None,
        }
    }

    fn resend(&mut self, ctx: &mut Ctx, step: Step, req: u64) {
        let p = &self.params;
        let m = match step {
            Step::Create => ConsulMsg::SessionCreate {
                req,
                ttl_ms: p.ttl_ms,
                lock_delay_ms: p.lock_delay_ms,
                behavior: p.behavior,
                checks: p.checks,
            },
            Step::Wait { wait_index } => ConsulMsg::KvGet { req, key: self.lock, wait_index, wait_ms: LOCK_WAIT_MS },
            Step::Recheck => ConsulMsg::KvGet { req, key: self.lock, wait_index: 0, wait_ms: 0 },
            Step::Acquire => {
                let session = self.consul_session.expect("a session before acquiring");
                ConsulMsg::KvAcquire { req, key: self.lock, session }
            }
        };
        self.send(ctx, m);
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for ConsulLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        ConsulLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ConsulLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        ConsulLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        ConsulLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        ConsulLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        ConsulLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        ConsulLock::on_message(self, ctx, from, msg)
    }
}
