//! The Redlock client library: a quorum of lease servers. See the [module docs](super).

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::KvMsg;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// Parameters of a Redlock client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RedlockParams {
    pub ttl_ms: u64,
    /// How long to wait for the servers in one round (acquire, extend, release).
    pub server_timeout_ms: u64,
    /// Clock drift allowance as a fraction of the TTL, in parts per million (10_000 = 0.01).
    pub drift_factor_ppm: u64,
    /// Fixed part of the drift allowance.
    pub drift_extra_ms: u64,
    /// Subtract the time spent acquiring from the validity (step 3). Off: scenario #6.
    pub validity_check: bool,
    /// Random delay before retrying a failed round.
    pub retry_delay: MsRange,
    /// Further rounds after the first, per acquire call.
    pub acquire_retries: u32,
    /// Extension period; `None` for no extension.
    pub renew_ms: Option<u64>,
}

impl RedlockParams {
    /// `drift = ttl × drift_factor + drift_extra`, in ns.
    pub fn drift_ns(&self) -> u64 {
        ms(self.ttl_ms) / 1_000_000 * self.drift_factor_ppm + ms(self.drift_extra_ms)
    }
}

/// One round of requests to every server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Round {
    pub req: u64,
    /// Local monotonic time the round started (`start` of step 1).
    pub start_mono_ns: u64,
    /// Bit i: server i said yes.
    pub yes: u32,
    pub replies: u32,
}

impl Round {
    fn new(req: u64, start_mono_ns: u64) -> Self {
        Round { req, start_mono_ns, yes: 0, replies: 0 }
    }
    fn answer(&mut self, server_index: usize, yes: bool) {
        self.replies += 1;
        if yes {
            self.yes |= 1 << server_index;
        }
    }
    fn yes_count(&self) -> u32 {
        self.yes.count_ones()
    }
    /// Servers that answered no (as opposed to not answering).
    fn no_count(&self) -> u32 {
        self.replies - self.yes_count()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RedlockState {
    Free,
    Acquiring { value: u64, round: Round, attempts: u32 },
    Backoff { attempts: u32 },
    Held { value: u64, deadline_mono_ns: u64, extending: Option<Round>, lost: bool },
    Releasing { round: Round },
}

/// The Redlock client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Redlock {
    pub servers: Vec<NodeId>,
    pub lock: LockId,
    pub params: RedlockParams,
    pub next_req: u64,
    pub session: SessionId,
    pub state: RedlockState,
}

impl Redlock {
    pub fn new(servers: Vec<NodeId>, lock: LockId, params: RedlockParams) -> Self {
        assert!(!servers.is_empty() && servers.len() <= 32, "Redlock needs 1 to 32 servers");
        Redlock { servers, lock, params, next_req: 0, session: SessionId::default(), state: RedlockState::Free }
    }

    /// N/2 + 1.
    pub fn quorum(&self) -> u32 {
        self.servers.len() as u32 / 2 + 1
    }

    fn index_of(&self, server: NodeId) -> Option<usize> {
        self.servers.iter().position(|&s| s == server)
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        matches!(self.state, RedlockState::Held { deadline_mono_ns, lost: false, .. } if ctx.mono_ns < deadline_mono_ns)
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let RedlockState::Held { lost, .. } = &mut self.state {
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

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock: self.lock, session });
        self.start_round(ctx, 1);
    }

    /// Steps 1 and 2: read the clock, ask every server.
    fn start_round(&mut self, ctx: &mut Ctx, attempts: u32) {
        let value = ctx.random_u64();
        let req = self.req();
        for &server in &self.servers {
            ctx.send(server, Msg::Kv(KvMsg::Acquire { req, lock: self.lock, value, ttl_ms: self.params.ttl_ms }));
        }
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.server_timeout_ms));
        self.state = RedlockState::Acquiring { value, round: Round::new(req, ctx.mono_ns), attempts };
    }

    /// Steps 3 to 5, once every server answered or the round timed out.
    fn decide(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        let RedlockState::Acquiring { value, round, attempts } = self.state.clone() else { return None };
        ctx.cancel_timer(Timer::AcquireTimeout);
        let ttl_ns = ms(self.params.ttl_ms);
        let drift_ns = self.params.drift_ns();
        let elapsed_ns = ctx.mono_ns - round.start_mono_ns;
        // Validity counted from the round's start (with the check) or, naively, from now.
        let (validity_ns, valid_from) = if self.params.validity_check {
            (ttl_ns as i64 - elapsed_ns as i64 - drift_ns as i64, round.start_mono_ns + elapsed_ns)
        } else {
            (ttl_ns as i64 - drift_ns as i64, ctx.mono_ns)
        };
        if round.yes_count() >= self.quorum() && validity_ns > 0 {
            let deadline_mono_ns = valid_from + validity_ns as u64;
            ctx.record(Observation::AcquireOk {
                lock: self.lock,
                session: self.session,
                token: None,
                value,
                valid_until: Deadline::Mono(deadline_mono_ns),
            });
            self.state = RedlockState::Held { value, deadline_mono_ns, extending: None, lost: false };
            if let Some(renew_ms) = self.params.renew_ms {
                ctx.set_timer(Timer::Heartbeat, ms(renew_ms));
            }
            return Some(LockEvent::Acquired);
        }
        // Failed: unlock every server (fire and forget), then retry after a random delay.
        let req = self.req();
        for &server in &self.servers {
            ctx.send(
                server,
                Msg::Kv(KvMsg::Release { req, lock: self.lock, value, plain_del: false, ttl_ms: self.params.ttl_ms }),
            );
        }
        if attempts > self.params.acquire_retries {
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite: true });
            self.state = RedlockState::Free;
            return Some(LockEvent::AcquireFailed);
        }
        let delay_ns = self.params.retry_delay.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, delay_ns);
        self.state = RedlockState::Backoff { attempts };
        None
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, &self.state) {
            (Timer::AcquireTimeout, RedlockState::Acquiring { .. }) => self.decide(ctx),
            (Timer::AcquireRetry, RedlockState::Backoff { attempts }) => {
                let attempts = *attempts;
                self.start_round(ctx, attempts + 1);
                None
            }
            (Timer::Heartbeat, RedlockState::Held { extending: None, lost: false, .. }) => {
                self.extend(ctx);
                None
            }
            (Timer::HeartbeatTimeout, RedlockState::Held { extending: Some(_), .. }) => {
                self.extended(ctx);
                None
            }
            (Timer::ReleaseTimeout, RedlockState::Releasing { .. }) => self.released(ctx),
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        let index = self.index_of(from)?;
        let n = self.servers.len() as u32;
        match (msg, &mut self.state) {
            (Msg::Kv(KvMsg::AcquireReply { req, granted, .. }), RedlockState::Acquiring { round, .. })
                if req == round.req =>
            {
                round.answer(index, granted);
                if round.replies == n {
                    return self.decide(ctx);
                }
            }
            (Msg::Kv(KvMsg::ExtendReply { req, ok, .. }), RedlockState::Held { extending: Some(round), .. })
                if req == round.req =>
            {
                round.answer(index, ok);
                if round.replies == n {
                    self.extended(ctx);
                }
            }
            (Msg::Kv(KvMsg::ReleaseReply { req, ok, .. }), RedlockState::Releasing { round }) if req == round.req => {
                round.answer(index, ok);
                if round.replies == n {
                    return self.released(ctx);
                }
            }
            _ => {}
        }
        None
    }

    fn extend(&mut self, ctx: &mut Ctx) {
        let req = self.req();
        let RedlockState::Held { value, extending, .. } = &mut self.state else { return };
        for &server in &self.servers {
            ctx.send(
                server,
                Msg::Kv(KvMsg::Extend { req, lock: self.lock, value: *value, ttl_ms: self.params.ttl_ms }),
            );
        }
        *extending = Some(Round::new(req, ctx.mono_ns));
        ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.server_timeout_ms));
    }

    fn extended(&mut self, ctx: &mut Ctx) {
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let quorum = self.quorum();
        let ttl_ns = ms(self.params.ttl_ms) as i64;
        let drift_ns = self.params.drift_ns() as i64;
        let (lock, session) = (self.lock, self.session);
        let RedlockState::Held { deadline_mono_ns, extending, lost, .. } = &mut self.state else { return };
        let Some(round) = extending.take() else { return };
        let elapsed_ns = (ctx.mono_ns - round.start_mono_ns) as i64;
        let validity_ns = ttl_ns - elapsed_ns - drift_ns;
        if round.yes_count() >= quorum && validity_ns > 0 {
            *deadline_mono_ns = ctx.mono_ns + validity_ns as u64;
            ctx.record(Observation::ExtendOk { lock, session, valid_until: Deadline::Mono(*deadline_mono_ns) });
            if let Some(renew_ms) = self.params.renew_ms {
                ctx.set_timer(Timer::Heartbeat, ms(renew_ms));
            }
        } else {
            // Refused only if a majority said no; silence is not a refusal (the keys may live on).
            let definite = round.no_count() >= quorum;
            *lost = true;
            ctx.record(Observation::ExtendFail { lock, session, definite });
            ctx.record(Observation::LockLost { lock, session, reason: LostReason::ExtendRefused });
        }
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let RedlockState::Held { value, .. } = self.state else {
            self.state = RedlockState::Free;
            return Some(LockEvent::Released);
        };
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        let req = self.req();
        for &server in &self.servers {
            ctx.send(
                server,
                Msg::Kv(KvMsg::Release { req, lock: self.lock, value, plain_del: false, ttl_ms: self.params.ttl_ms }),
            );
        }
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.server_timeout_ms));
        self.state = RedlockState::Releasing { round: Round::new(req, ctx.mono_ns) };
        None
    }

    fn released(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::ReleaseTimeout);
        let RedlockState::Releasing { round } = &self.state else { return None };
        // Released if a majority deleted the key, refused if a majority did not hold it; with
        // fewer answers than that, the client cannot know.
        let ok = if round.yes_count() >= self.quorum() {
            Some(true)
        } else if round.no_count() >= self.quorum() {
            Some(false)
        } else {
            None
        };
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        self.state = RedlockState::Free;
        Some(LockEvent::Released)
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for Redlock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        Redlock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        Redlock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        Redlock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        Redlock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        None
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        Redlock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        Redlock::on_message(self, ctx, from, msg)
    }
}
