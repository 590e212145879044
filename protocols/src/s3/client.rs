//! The S3 lock library: a lock object written with S3 conditional writes, as a state machine over
//! the conditional-write store. See the module docs for the algorithm and sources.

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::{LockClient, LockEvent};
use crate::msg::{LockId, Msg, StoreCond, StoreFields, StoreItem, StoreMsg, StoreOutcome};
use crate::node::{ms, Ctx, MsRange, NodeId, Timer};

/// The acquire call's overall deadline.
const ACQUIRE_DEADLINE: Timer = Timer::Named("s3_acquire_deadline", 0);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3ClientParams {
    /// The lease written into the object as `expires_at = writer's wall clock + ttl`.
    pub ttl_ms: u64,
    /// The renewal period (`PUT If-Match: <ETag>`).
    pub renew_ms: u64,
    /// The sleep between acquire attempts while the lock is held by someone else.
    pub retry: MsRange,
    /// The acquire call gives up after this long.
    pub acquire_timeout_ms: u64,
    /// One request's timeout.
    pub request_timeout_ms: u64,
    /// Release with `DELETE If-Match: <ETag>` (S3's conditional delete); `false`: a plain
    /// `DELETE` (the API before conditional deletes), which removes whoever's object is there.
    pub conditional_delete: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// `PUT If-None-Match: *`.
    Create,
    /// `HEAD`/`GET` the object after a 412.
    Inspect,
    /// `PUT If-Match: <stale ETag>`: take over an expired object atomically.
    Steal,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum S3State {
    Free,
    Acquiring {
        step: Step,
        req: u64,
        sent_mono: u64,
    },
    BackingOff,
    Held {
        /// The ETag of my last write.
        etag: u64,
        /// Local deadline: the send time of my last successful write + TTL, on my monotonic clock.
        valid_until_mono: u64,
        lost: bool,
        /// The renewal in flight and when it was sent.
        renewing: Option<(u64, u64)>,
    },
    Releasing {
        req: u64,
    },
}

/// The S3 lock library of one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3Lock {
    pub store: NodeId,
    pub params: S3ClientParams,
    pub lock: LockId,
    pub session: SessionId,
    /// A random owner id per acquire call.
    pub owner_nonce: u64,
    pub state: S3State,
    pub timed_out: bool,
    pub next_req: u64,
}

impl S3Lock {
    pub fn new(store: NodeId, lock: LockId, params: S3ClientParams) -> Self {
        S3Lock {
            store,
            params,
            lock,
            session: SessionId::default(),
            owner_nonce: 0,
            state: S3State::Free,
            timed_out: false,
            next_req: 0,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&mut self, ctx: &mut Ctx, m: StoreMsg) {
        ctx.send(self.store, Msg::Store(Box::new(m)));
    }

    /// The object's body: `{owner, expires_at}` with `expires_at` on MY wall clock.
    fn body(&self, ctx: &Ctx) -> StoreFields {
        StoreFields {
            owner: ctx.me as u64,
            nonce: self.owner_nonce,
            lease_ms: self.params.ttl_ms,
            expires_at_wall_ms: Some(ctx.wall_ns.div_euclid(1_000_000) + self.params.ttl_ms as i64),
            released: false,
        }
    }

    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        matches!(self.state, S3State::Held { lost: false, valid_until_mono, .. } if ctx.mono_ns < valid_until_mono)
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        self.timed_out = false;
        self.owner_nonce = ctx.random_u64();
        ctx.record(Observation::AcquireInvoke { lock, session });
        ctx.set_timer(ACQUIRE_DEADLINE, ms(self.params.acquire_timeout_ms));
        self.step(ctx, Step::Create, 0);
    }

    fn step(&mut self, ctx: &mut Ctx, step: Step, stale_etag: u64) {
        let req = self.req();
        let key = self.lock;
        let m = match step {
            Step::Create => {
                StoreMsg::Put { req, key, fields: self.body(ctx), cond: StoreCond::IfAbsent, lease_id: None }
            }
            Step::Inspect => StoreMsg::Get { req, key },
            Step::Steal => StoreMsg::Put {
                req,
                key,
                fields: self.body(ctx),
                cond: StoreCond::IfGeneration(stale_etag),
                lease_id: None,
            },
        };
        self.send(ctx, m);
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.request_timeout_ms));
        self.state = S3State::Acquiring { step, req, sent_mono: ctx.mono_ns };
    }

    fn back_off(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        if self.timed_out {
            return self.fail(ctx, true);
        }
        let sleep_ns = self.params.retry.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, sleep_ns);
        self.state = S3State::BackingOff;
        None
    }

    fn fail(&mut self, ctx: &mut Ctx, definite: bool) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(Timer::AcquireRetry);
        ctx.cancel_timer(ACQUIRE_DEADLINE);
        self.state = S3State::Free;
        ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
        Some(LockEvent::AcquireFailed)
    }

    fn acquired(&mut self, ctx: &mut Ctx, etag: u64, sent_mono: u64) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(ACQUIRE_DEADLINE);
        let valid_until_mono = sent_mono + ms(self.params.ttl_ms);
        self.state = S3State::Held { etag, valid_until_mono, lost: false, renewing: None };
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token: None,
            value: self.owner_nonce,
            valid_until: Deadline::Mono(valid_until_mono),
        });
        ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
        Some(LockEvent::Acquired)
    }

    fn lose(&mut self, ctx: &mut Ctx, reason: LostReason) {
        if let S3State::Held { lost, renewing, .. } = &mut self.state {
            if !*lost {
                *lost = true;
                *renewing = None;
                ctx.cancel_timer(Timer::Heartbeat);
                ctx.cancel_timer(Timer::HeartbeatTimeout);
                ctx.record(Observation::LockLost { lock: self.lock, session: self.session, reason });
            }
        }
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.lose(ctx, LostReason::DeadlineExpired);
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let S3State::Held { etag, .. } = self.state else {
            self.state = S3State::Free;
            ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(false) });
            return Some(LockEvent::Released);
        };
        let req = self.req();
        let key = self.lock;
        let cond = if self.params.conditional_delete { StoreCond::IfGeneration(etag) } else { StoreCond::None };
        self.send(ctx, StoreMsg::Delete { req, key, cond, lease_id: None });
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.request_timeout_ms));
        self.state = S3State::Releasing { req };
        None
    }

    fn released(&mut self, ctx: &mut Ctx, ok: Option<bool>) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::ReleaseTimeout);
        self.state = S3State::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        Some(LockEvent::Released)
    }

    fn renew(&mut self, ctx: &mut Ctx) {
        let S3State::Held { etag, lost: false, .. } = self.state else { return };
        let req = self.req();
        let key = self.lock;
        let fields = self.body(ctx);
        ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        self.send(ctx, StoreMsg::Put { req, key, fields, cond: StoreCond::IfGeneration(etag), lease_id: None });
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.request_timeout_ms));
        if let S3State::Held { renewing, .. } = &mut self.state {
            *renewing = Some((req, ctx.mono_ns));
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state.clone()) {
            (ACQUIRE_DEADLINE, S3State::BackingOff) => self.fail(ctx, true),
            (ACQUIRE_DEADLINE, S3State::Acquiring { .. }) => {
                self.timed_out = true;
                None
            }
            (Timer::AcquireRetry, S3State::BackingOff) => {
                self.step(ctx, Step::Create, 0);
                None
            }
            (Timer::AcquireTimeout, S3State::Acquiring { .. }) => self.back_off(ctx),
            (Timer::Heartbeat, S3State::Held { .. }) => {
                self.renew(ctx);
                None
            }
            (Timer::HeartbeatTimeout, S3State::Held { renewing: Some(_), .. }) => {
                // A renewal error: try again next period; the local deadline bounds the belief.
                if let S3State::Held { renewing, .. } = &mut self.state {
                    *renewing = None;
                }
                ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: false });
                ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                None
            }
            (Timer::ReleaseTimeout, S3State::Releasing { .. }) => self.released(ctx, None),
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Store(m) = msg else { return None };
        let (StoreMsg::GetReply { req, outcome, .. }
        | StoreMsg::PutReply { req, outcome, .. }
        | StoreMsg::DeleteReply { req, outcome, .. }) = *m
        else {
            return None;
        };
        match self.state.clone() {
            S3State::Acquiring { step, req: current, sent_mono } if req == current => {
                self.on_acquire_reply(ctx, step, sent_mono, outcome)
            }
            S3State::Held { renewing: Some((current, sent_mono)), .. } if req == current => {
                ctx.cancel_timer(Timer::HeartbeatTimeout);
                match outcome {
                    StoreOutcome::Ok { generation, .. } => {
                        let valid_until_mono = sent_mono + ms(self.params.ttl_ms);
                        if let S3State::Held { etag, valid_until_mono: v, renewing, .. } = &mut self.state {
                            *etag = generation;
                            *v = valid_until_mono;
                            *renewing = None;
                        }
                        ctx.record(Observation::ExtendOk {
                            lock: self.lock,
                            session: self.session,
                            valid_until: Deadline::Mono(valid_until_mono),
                        });
                        ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                    }
                    // 412: the ETag changed — someone took the object over. 404: it is gone.
                    _ => {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                        self.lose(ctx, LostReason::ExtendRefused);
                    }
                }
                None
            }
            S3State::Releasing { req: current } if req == current => {
                let ok = matches!(outcome, StoreOutcome::Ok { .. });
                self.released(ctx, Some(ok))
            }
            _ => None,
        }
    }

    fn on_acquire_reply(
        &mut self,
        ctx: &mut Ctx,
        step: Step,
        sent_mono: u64,
        outcome: StoreOutcome,
    ) -> Option<LockEvent> {
        match (step, outcome) {
            (Step::Create | Step::Steal, StoreOutcome::Ok { generation, .. }) => {
                self.acquired(ctx, generation, sent_mono)
            }
            (Step::Create, StoreOutcome::PreconditionFailed) => {
                self.step(ctx, Step::Inspect, 0);
                None
            }
            (Step::Inspect, StoreOutcome::NotFound) => {
                self.step(ctx, Step::Create, 0);
                None
            }
            (Step::Inspect, StoreOutcome::Ok { item: Some(item), .. }) => {
                if Self::expired(ctx, &item) {
                    self.step(ctx, Step::Steal, item.generation);
                    None
                } else {
                    self.back_off(ctx)
                }
            }
            _ => self.back_off(ctx),
        }
    }

    /// Expired by MY wall clock against the writer's `expires_at`.
    fn expired(ctx: &Ctx, item: &StoreItem) -> bool {
        item.expires_at_wall_ms.is_some_and(|e| ctx.wall_ns.div_euclid(1_000_000) > e)
    }
}

impl LockClient for S3Lock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        S3Lock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        S3Lock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        S3Lock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        S3Lock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        // ETags are content hashes: comparable for equality only, not an order. No token.
        None
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        S3Lock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        S3Lock::on_message(self, ctx, from, msg)
    }
}
