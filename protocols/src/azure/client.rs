//! The Azure blob-lease lock library: hold the lock = hold the blob's lease. See the module docs.

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::{LockClient, LockEvent};
use crate::msg::{LeaseOp, LockId, Msg, StoreCond, StoreFields, StoreMsg, StoreOutcome};
use crate::node::{ms, Ctx, MsRange, NodeId, Timer};

const ACQUIRE_DEADLINE: Timer = Timer::Named("azure_acquire_deadline", 0);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AzureClientParams {
    /// `x-ms-lease-duration`: 15 000–60 000 ms, or `None` for an infinite lease (−1).
    pub lease_duration_ms: Option<u64>,
    /// The renewal period (finite leases only).
    pub renew_ms: u64,
    /// The sleep after a refused acquire (409 `LeaseAlreadyPresent`).
    pub retry: MsRange,
    /// The acquire call gives up after this long.
    pub acquire_timeout_ms: u64,
    /// One request's timeout.
    pub request_timeout_ms: u64,
    /// A waiter refused for this long breaks the lease (`None`: never breaks).
    pub break_after_ms: Option<u64>,
    /// `x-ms-lease-break-period` of that break (0–60 000 ms).
    pub break_period_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Create the lock blob if absent (a lease needs a blob).
    EnsureBlob,
    /// `Lease Blob` `acquire` with my proposed lease id.
    AcquireLease,
    /// `Lease Blob` `break`.
    Break,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AzureState {
    Free,
    Acquiring { step: Step, req: u64, sent_mono: u64 },
    BackingOff,
    Held { valid_until_mono: Option<u64>, lost: bool, renewing: Option<(u64, u64)> },
    Releasing { req: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AzureLock {
    pub store: NodeId,
    pub params: AzureClientParams,
    pub lock: LockId,
    pub session: SessionId,
    /// My proposed lease id (a GUID), drawn per acquire call.
    pub lease_id: u64,
    pub state: AzureState,
    /// When the first refusal of this acquire call came (local monotonic), for `break_after_ms`.
    pub refused_since_mono: Option<u64>,
    pub timed_out: bool,
    pub next_req: u64,
}

impl AzureLock {
    pub fn new(store: NodeId, lock: LockId, params: AzureClientParams) -> Self {
        AzureLock {
            store,
            params,
            lock,
            session: SessionId::default(),
            lease_id: 0,
            state: AzureState::Free,
            refused_since_mono: None,
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

    /// The lease id to attach to a write of the leased blob (`x-ms-lease-id`), while held.
    pub fn blob_lease_id(&self) -> Option<u64> {
        matches!(self.state, AzureState::Held { .. }).then_some(self.lease_id)
    }

    /// A write of the lock blob itself under the lease (`Put Blob` with `x-ms-lease-id`): the
    /// store refuses it (`LeaseConflict`) unless the lease is this client's and in force.
    pub fn write_blob(&mut self, ctx: &mut Ctx, req: u64) {
        let fields = StoreFields {
            owner: ctx.me as u64,
            nonce: self.lease_id,
            lease_ms: self.params.lease_duration_ms.unwrap_or(0),
            expires_at_wall_ms: None,
            released: false,
        };
        let m = StoreMsg::Put { req, key: self.lock, fields, cond: StoreCond::None, lease_id: Some(self.lease_id) };
        self.send(ctx, m);
    }

    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match self.state {
            AzureState::Held { lost: false, valid_until_mono: None, .. } => true,
            AzureState::Held { lost: false, valid_until_mono: Some(v), .. } => ctx.mono_ns < v,
            _ => false,
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        self.timed_out = false;
        self.refused_since_mono = None;
        self.lease_id = ctx.random_u64();
        ctx.record(Observation::AcquireInvoke { lock, session });
        ctx.set_timer(ACQUIRE_DEADLINE, ms(self.params.acquire_timeout_ms));
        self.step(ctx, Step::EnsureBlob);
    }

    fn step(&mut self, ctx: &mut Ctx, step: Step) {
        let req = self.req();
        let key = self.lock;
        let m = match step {
            Step::EnsureBlob => StoreMsg::Put {
                req,
                key,
                fields: StoreFields {
                    owner: ctx.me as u64,
                    nonce: 0,
                    lease_ms: 0,
                    expires_at_wall_ms: None,
                    released: false,
                },
                cond: StoreCond::IfAbsent,
                lease_id: None,
            },
            Step::AcquireLease => StoreMsg::Lease {
                req,
                key,
                op: LeaseOp::Acquire { lease_id: self.lease_id, duration_ms: self.params.lease_duration_ms },
            },
            Step::Break => {
                StoreMsg::Lease { req, key, op: LeaseOp::Break { break_period_ms: self.params.break_period_ms } }
            }
        };
        self.send(ctx, m);
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.request_timeout_ms));
        self.state = AzureState::Acquiring { step, req, sent_mono: ctx.mono_ns };
    }

    fn back_off(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        if self.timed_out {
            return self.fail(ctx);
        }
        let sleep_ns = self.params.retry.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, sleep_ns);
        self.state = AzureState::BackingOff;
        None
    }

    fn fail(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(Timer::AcquireRetry);
        ctx.cancel_timer(ACQUIRE_DEADLINE);
        self.state = AzureState::Free;
        ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite: true });
        Some(LockEvent::AcquireFailed)
    }

    fn deadline(&self, sent_mono: u64) -> Option<u64> {
        self.params.lease_duration_ms.map(|d| sent_mono + ms(d))
    }

    fn acquired(&mut self, ctx: &mut Ctx, sent_mono: u64) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(ACQUIRE_DEADLINE);
        let valid_until_mono = self.deadline(sent_mono);
        self.state = AzureState::Held { valid_until_mono, lost: false, renewing: None };
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token: None,
            value: self.lease_id,
            valid_until: valid_until_mono.map_or(Deadline::Never, Deadline::Mono),
        });
        if self.params.lease_duration_ms.is_some() {
            ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
        }
        Some(LockEvent::Acquired)
    }

    fn lose(&mut self, ctx: &mut Ctx, reason: LostReason) {
        if let AzureState::Held { lost, renewing, .. } = &mut self.state {
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
        if !matches!(self.state, AzureState::Held { .. }) {
            self.state = AzureState::Free;
            ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(false) });
            return Some(LockEvent::Released);
        }
        let req = self.req();
        let key = self.lock;
        self.send(ctx, StoreMsg::Lease { req, key, op: LeaseOp::Release { lease_id: self.lease_id } });
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.request_timeout_ms));
        self.state = AzureState::Releasing { req };
        None
    }

    fn released(&mut self, ctx: &mut Ctx, ok: Option<bool>) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::ReleaseTimeout);
        self.state = AzureState::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        Some(LockEvent::Released)
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state.clone()) {
            (ACQUIRE_DEADLINE, AzureState::BackingOff) => self.fail(ctx),
            (ACQUIRE_DEADLINE, AzureState::Acquiring { .. }) => {
                self.timed_out = true;
                None
            }
            (Timer::AcquireRetry, AzureState::BackingOff) => {
                self.step(ctx, Step::AcquireLease);
                None
            }
            (Timer::AcquireTimeout, AzureState::Acquiring { .. }) => self.back_off(ctx),
            (Timer::Heartbeat, AzureState::Held { lost: false, .. }) => {
                let req = self.req();
                let key = self.lock;
                ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
                self.send(ctx, StoreMsg::Lease { req, key, op: LeaseOp::Renew { lease_id: self.lease_id } });
                ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.request_timeout_ms));
                if let AzureState::Held { renewing, .. } = &mut self.state {
                    *renewing = Some((req, ctx.mono_ns));
                }
                None
            }
            (Timer::HeartbeatTimeout, AzureState::Held { renewing: Some(_), .. }) => {
                if let AzureState::Held { renewing, .. } = &mut self.state {
                    *renewing = None;
                }
                ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: false });
                ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                None
            }
            (Timer::ReleaseTimeout, AzureState::Releasing { .. }) => self.released(ctx, None),
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Store(m) = msg else { return None };
        let (StoreMsg::PutReply { req, outcome, .. } | StoreMsg::LeaseReply { req, outcome, .. }) = *m else {
            return None;
        };
        match self.state.clone() {
            AzureState::Acquiring { step, req: current, sent_mono } if req == current => match (step, outcome) {
                // The blob exists now (created, or already there, leased or not).
                (Step::EnsureBlob, _) => {
                    self.step(ctx, Step::AcquireLease);
                    None
                }
                (Step::AcquireLease, StoreOutcome::Ok { .. }) => self.acquired(ctx, sent_mono),
                (Step::AcquireLease, StoreOutcome::NotFound) => {
                    self.step(ctx, Step::EnsureBlob);
                    None
                }
                (Step::AcquireLease, _) => {
                    let since = *self.refused_since_mono.get_or_insert(ctx.mono_ns);
                    match self.params.break_after_ms {
                        Some(after) if ctx.mono_ns >= since + ms(after) => {
                            self.refused_since_mono = None;
                            self.step(ctx, Step::Break);
                            None
                        }
                        _ => self.back_off(ctx),
                    }
                }
                (Step::Break, _) => self.back_off(ctx),
            },
            AzureState::Held { renewing: Some((current, sent_mono)), .. } if req == current => {
                ctx.cancel_timer(Timer::HeartbeatTimeout);
                match outcome {
                    StoreOutcome::Ok { .. } => {
                        let v = self.deadline(sent_mono);
                        if let AzureState::Held { valid_until_mono, renewing, .. } = &mut self.state {
                            *valid_until_mono = v;
                            *renewing = None;
                        }
                        ctx.record(Observation::ExtendOk {
                            lock: self.lock,
                            session: self.session,
                            valid_until: v.map_or(Deadline::Never, Deadline::Mono),
                        });
                        ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                    }
                    _ => {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                        self.lose(ctx, LostReason::ExtendRefused);
                    }
                }
                None
            }
            AzureState::Releasing { req: current } if req == current => {
                let ok = matches!(outcome, StoreOutcome::Ok { .. });
                self.released(ctx, Some(ok))
            }
            _ => None,
        }
    }
}

impl LockClient for AzureLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        AzureLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        AzureLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        AzureLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        AzureLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        // The lease id is a GUID the store checks for equality on the leased blob; it is no
        // ordered token another resource could check.
        None
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        AzureLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        AzureLock::on_message(self, ctx, from, msg)
    }
}
