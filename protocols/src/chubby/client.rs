//! The Chubby client library: one session per client, kept alive by KeepAlives, and the lock
//! calls made under it. See the [module docs](super).

use super::msg::ChubbyMsg;
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, NodeId, Timer};

/// Parameters of the client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChubbyClientParams {
    /// Subtracted from every local lease timeout: the allowance for the master's clock running
    /// faster than the client's (the paper's "conservative assumptions … the rate at which the
    /// master's clock is advancing").
    pub drift_allowance_ms: u64,
    /// How long the client stays in jeopardy before it declares its session lost (the paper's
    /// grace period, "45s by default" — a number seed-systems.md could not confirm from a source;
    /// a parameter here).
    pub grace_period_ms: u64,
    /// In jeopardy: how long a KeepAlive waits before the library tries the next server (the
    /// paper's library looks for the new master through the replicas).
    pub keepalive_retry_ms: u64,
    /// An `OpenSession` or `Acquire` call without an answer is sent again after this (an `Acquire`
    /// that the master holds because the lock is busy is simply held again).
    pub call_timeout_ms: u64,
}

/// The session, as the library sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionState {
    /// No session (none yet, or the last one was lost).
    None,
    /// `OpenSession` sent (first at `first_sent_ns`, local monotonic).
    Opening { req: u64, first_sent_ns: u64 },
    /// The session is alive by the local lease timeout (`local_end_ns`, local monotonic clock).
    Open { session: u64, local_end_ns: u64 },
    /// The local lease timeout passed without a KeepAlive reply: jeopardy, until the grace period
    /// (counted from `local_end_ns`) ends.
    Jeopardy { session: u64, local_end_ns: u64 },
}

/// The lock, as the library sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockState {
    Free,
    /// Waiting for a session, or for the master's grant of `Acquire` `req`.
    Acquiring {
        req: u64,
    },
    /// Held: the sequencer is (`lock`, exclusive, `generation`). `lost` once the library or the
    /// worker stopped believing.
    Held {
        generation: u64,
        lost: bool,
    },
    Releasing {
        req: u64,
        generation: u64,
    },
}

/// The KeepAlive call in progress: every copy sent (a new number each time, so that the reply
/// names the copy it answers), until one is answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeepAliveCall {
    /// (number, local monotonic instant it was sent) of every copy.
    pub sends: Vec<(u64, u64)>,
    /// Recorded in the history as an extension of the held lock.
    pub extends: bool,
}

/// The Chubby client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChubbyLock {
    /// The cell's servers; calls go to `servers[master]` (the library's guess of the master).
    pub servers: Vec<NodeId>,
    pub master: usize,
    /// The master's epoch as the library knows it (sent with every call).
    pub epoch: u64,
    pub lock: LockId,
    pub params: ChubbyClientParams,
    pub next_req: u64,
    pub session_state: SessionState,
    /// The outstanding KeepAlive, if any.
    pub keepalive: Option<KeepAliveCall>,
    /// The number of the last KeepAlive.
    pub keepalive_seq: u64,
    pub state: LockState,
    /// The worker's lock session (history bookkeeping).
    pub session: SessionId,
}

impl ChubbyLock {
    pub fn new(servers: Vec<NodeId>, lock: LockId, params: ChubbyClientParams) -> Self {
        assert!(!servers.is_empty(), "a Chubby cell needs a server");
        ChubbyLock {
            servers,
            master: 0,
            epoch: 0,
            lock,
            params,
            next_req: 0,
            session_state: SessionState::None,
            keepalive: None,
            keepalive_seq: 0,
            state: LockState::Free,
            session: SessionId::default(),
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn to_master(&self, ctx: &mut Ctx, m: ChubbyMsg) {
        ctx.send(self.servers[self.master], Msg::Chubby(m));
    }

    /// The Chubby session id, while there is one.
    pub fn chubby_session(&self) -> Option<u64> {
        match self.session_state {
            SessionState::Open { session, .. } | SessionState::Jeopardy { session, .. } => Some(session),
            _ => None,
        }
    }

    fn local_end_ns(&self) -> Option<u64> {
        match self.session_state {
            SessionState::Open { local_end_ns, .. } | SessionState::Jeopardy { local_end_ns, .. } => Some(local_end_ns),
            _ => None,
        }
    }

    /// Believed until the session is lost: the local lease timeout plus the grace period.
    fn believed_until_ns(&self) -> Option<u64> {
        self.local_end_ns().map(|end| end + ms(self.params.grace_period_ms))
    }

    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        matches!(self.state, LockState::Held { lost: false, .. })
            && self.believed_until_ns().is_some_and(|until| ctx.mono_ns < until)
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.lose_lock(ctx, LostReason::DeadlineExpired);
    }

    fn lose_lock(&mut self, ctx: &mut Ctx, reason: LostReason) {
        if let LockState::Held { lost, .. } = &mut self.state {
            if !*lost {
                *lost = true;
                ctx.record(Observation::LockLost { lock: self.lock, session: self.session, reason });
            }
        }
    }

    /// The sequencer's generation number: the token the resource checks.
    pub fn token(&self) -> Option<u64> {
        match self.state {
            LockState::Held { generation, .. } => Some(generation),
            _ => None,
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock, session });
        let req = self.req();
        self.state = LockState::Acquiring { req };
        match self.session_state {
            SessionState::None => self.open_session(ctx),
            SessionState::Opening { .. } => {}
            SessionState::Open { .. } | SessionState::Jeopardy { .. } => self.send_acquire(ctx),
        }
    }

    fn open_session(&mut self, ctx: &mut Ctx) {
        let (req, first_sent_ns) = match self.session_state {
            SessionState::Opening { req, first_sent_ns } => (req, first_sent_ns),
            _ => (self.req(), ctx.mono_ns),
        };
        self.session_state = SessionState::Opening { req, first_sent_ns };
        self.to_master(ctx, ChubbyMsg::OpenSession { req, epoch: self.epoch });
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.call_timeout_ms));
    }

    fn send_acquire(&mut self, ctx: &mut Ctx) {
        let (LockState::Acquiring { req }, Some(session)) = (&self.state, self.chubby_session()) else { return };
        let m = ChubbyMsg::Acquire { req: *req, epoch: self.epoch, session, lock: self.lock };
        self.to_master(ctx, m);
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.call_timeout_ms));
    }

    /// A new KeepAlive call (after a reply, or the session's first).
    fn new_keepalive(&mut self, ctx: &mut Ctx) {
        let extends = matches!(self.state, LockState::Held { lost: false, .. });
        if extends {
            ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        }
        self.keepalive = Some(KeepAliveCall { sends: Vec::new(), extends });
        self.send_keepalive(ctx);
    }

    /// Send a copy of the KeepAlive call in progress, numbered.
    fn send_keepalive(&mut self, ctx: &mut Ctx) {
        let Some(session) = self.chubby_session() else { return };
        let Some(call) = &mut self.keepalive else { return };
        self.keepalive_seq += 1;
        call.sends.push((self.keepalive_seq, ctx.mono_ns));
        let m = ChubbyMsg::KeepAlive { epoch: self.epoch, session, seq: self.keepalive_seq };
        self.to_master(ctx, m);
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        let generation = match self.state {
            LockState::Held { generation, .. } => generation,
            _ => 0,
        };
        let Some(session) = self.chubby_session() else {
            // The session is gone, and the lock with it: nothing to ask the master.
            self.state = LockState::Free;
            ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
            return Some(LockEvent::Released);
        };
        let req = self.req();
        self.state = LockState::Releasing { req, generation };
        self.to_master(ctx, ChubbyMsg::Release { req, epoch: self.epoch, session, lock: self.lock, generation });
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.call_timeout_ms));
        None
    }

    /// The session is over (the master said so, or the grace period ended): its lock is lost;
    /// a pending acquire continues under a new session.
    fn session_lost(&mut self, ctx: &mut Ctx, reason: LostReason) -> Option<LockEvent> {
        self.session_state = SessionState::None;
        self.keepalive = None;
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        ctx.cancel_timer(Timer::Heartbeat);
        match self.state {
            LockState::Held { .. } => {
                self.lose_lock(ctx, reason);
                None
            }
            LockState::Acquiring { .. } => {
                self.open_session(ctx);
                None
            }
            LockState::Releasing { .. } => {
                ctx.cancel_timer(Timer::ReleaseTimeout);
                self.state = LockState::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
                Some(LockEvent::Released)
            }
            LockState::Free => None,
        }
    }

    /// Set the session timer for the local lease timeout (open) or the grace period's end.
    fn arm_session_timer(&mut self, ctx: &mut Ctx) {
        let at = match self.session_state {
            SessionState::Open { local_end_ns, .. } => local_end_ns,
            SessionState::Jeopardy { local_end_ns, .. } => local_end_ns + ms(self.params.grace_period_ms),
            _ => return,
        };
        ctx.set_timer(Timer::HeartbeatTimeout, at.saturating_sub(ctx.mono_ns));
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match timer {
            Timer::HeartbeatTimeout => match self.session_state {
                SessionState::Open { session, local_end_ns } => {
                    // Jeopardy: the master may be gone. Look for it, KeepAlive after KeepAlive.
                    self.session_state = SessionState::Jeopardy { session, local_end_ns };
                    self.arm_session_timer(ctx);
                    self.send_keepalive(ctx);
                    ctx.set_timer(Timer::Heartbeat, ms(self.params.keepalive_retry_ms));
                    None
                }
                SessionState::Jeopardy { .. } => self.session_lost(ctx, LostReason::DeadlineExpired),
                _ => None,
            },
            Timer::Heartbeat => {
                if matches!(self.session_state, SessionState::Jeopardy { .. }) {
                    self.master = (self.master + 1) % self.servers.len();
                    self.send_keepalive(ctx);
                    ctx.set_timer(Timer::Heartbeat, ms(self.params.keepalive_retry_ms));
                }
                None
            }
            Timer::AcquireTimeout => {
                match (&self.session_state, &self.state) {
                    (SessionState::Opening { .. }, _) => {
                        self.master = (self.master + 1) % self.servers.len();
                        self.open_session(ctx);
                    }
                    (_, LockState::Acquiring { .. }) => self.send_acquire(ctx),
                    _ => {}
                }
                None
            }
            Timer::ReleaseTimeout => {
                if let LockState::Releasing { .. } = self.state {
                    self.state = LockState::Free;
                    ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
                    return Some(LockEvent::Released);
                }
                None
            }
            _ => None,
        }
    }

    /// Re-send whatever is outstanding (after learning of a new master or epoch).
    fn resend(&mut self, ctx: &mut Ctx) {
        if let SessionState::Opening { req, .. } = self.session_state {
            self.to_master(ctx, ChubbyMsg::OpenSession { req, epoch: self.epoch });
            return;
        }
        if self.keepalive.is_some() {
            self.send_keepalive(ctx);
        }
        match self.state {
            LockState::Acquiring { .. } => self.send_acquire(ctx),
            LockState::Releasing { req, generation } => {
                if let Some(session) = self.chubby_session() {
                    let m = ChubbyMsg::Release { req, epoch: self.epoch, session, lock: self.lock, generation };
                    self.to_master(ctx, m);
                }
            }
            _ => {}
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Chubby(m) = msg else { return None };
        match m {
            ChubbyMsg::NotMaster { master, epoch } => {
                let known = self.servers.iter().position(|&s| Some(s) == master);
                let newer = epoch > self.epoch;
                if newer {
                    self.epoch = epoch;
                }
                match known {
                    Some(i) if newer || i != self.master => {
                        self.master = i;
                        self.resend(ctx);
                    }
                    _ if newer => self.resend(ctx),
                    _ => {}
                }
                None
            }
            ChubbyMsg::OpenSessionReply { req, epoch, session, lease_ns } => {
                let SessionState::Opening { req: r, first_sent_ns } = self.session_state else { return None };
                if req != r {
                    return None;
                }
                ctx.cancel_timer(Timer::AcquireTimeout);
                self.epoch = self.epoch.max(epoch);
                self.master = self.servers.iter().position(|&s| s == from).unwrap_or(self.master);
                // Conservative: the master started the lease when a call arrived, which is no
                // earlier than the first sending of this call.
                let local_end_ns = (first_sent_ns + lease_ns).saturating_sub(ms(self.params.drift_allowance_ms));
                self.session_state = SessionState::Open { session, local_end_ns };
                self.arm_session_timer(ctx);
                self.new_keepalive(ctx);
                self.send_acquire(ctx);
                None
            }
            ChubbyMsg::KeepAliveReply { epoch, session, seq, held_ns, lease_ns, failover } => {
                let call = self.keepalive.as_ref()?;
                // The copy this reply answers (a reply to an earlier call is not this call's).
                let sent_ns = call.sends.iter().find(|(n, _)| *n == seq).map(|(_, t)| *t)?;
                if self.chubby_session() != Some(session) {
                    return None;
                }
                let extends = call.extends;
                self.epoch = self.epoch.max(epoch);
                self.master = self.servers.iter().position(|&s| s == from).unwrap_or(self.master);
                // Conservative: the master's lease runs `held + lease` from the arrival of this
                // copy, which is no earlier than its sending; minus the drift allowance.
                let local_end_ns = (sent_ns + held_ns + lease_ns).saturating_sub(ms(self.params.drift_allowance_ms));
                self.session_state = SessionState::Open { session, local_end_ns };
                ctx.cancel_timer(Timer::Heartbeat);
                self.arm_session_timer(ctx);
                if extends && matches!(self.state, LockState::Held { lost: false, .. }) {
                    let until = self.believed_until_ns().expect("open");
                    ctx.record(Observation::ExtendOk {
                        lock: self.lock,
                        session: self.session,
                        valid_until: Deadline::Mono(until),
                    });
                }
                // The next KeepAlive at once, so that one is almost always held at the master.
                self.new_keepalive(ctx);
                if failover {
                    // A new master: calls in flight to the old one are lost; send them again.
                    if let LockState::Acquiring { .. } = self.state {
                        self.send_acquire(ctx);
                    }
                }
                None
            }
            ChubbyMsg::SessionExpired { session } => {
                if self.chubby_session() == Some(session) {
                    // A KeepAlive recorded as an extension of the held lock: refused.
                    if self.keepalive.as_ref().is_some_and(|c| c.extends) {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                    }
                    self.session_lost(ctx, LostReason::ExtendRefused)
                } else {
                    None
                }
            }
            ChubbyMsg::AcquireReply { req, session, generation, .. } => {
                if self.state != (LockState::Acquiring { req }) || self.chubby_session() != Some(session) {
                    return None;
                }
                ctx.cancel_timer(Timer::AcquireTimeout);
                self.state = LockState::Held { generation, lost: false };
                let until = self.believed_until_ns().expect("a session");
                ctx.record(Observation::AcquireOk {
                    lock: self.lock,
                    session: self.session,
                    token: Some(generation),
                    value: session,
                    valid_until: Deadline::Mono(until),
                });
                Some(LockEvent::Acquired)
            }
            ChubbyMsg::ReleaseReply { req, ok } => {
                if !matches!(self.state, LockState::Releasing { req: r, .. } if r == req) {
                    return None;
                }
                ctx.cancel_timer(Timer::ReleaseTimeout);
                self.state = LockState::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(ok) });
                Some(LockEvent::Released)
            }
            _ => None,
        }
    }
}

impl crate::library::LockClient for ChubbyLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        ChubbyLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ChubbyLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        ChubbyLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        ChubbyLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        ChubbyLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        ChubbyLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        ChubbyLock::on_message(self, ctx, from, msg)
    }
}
