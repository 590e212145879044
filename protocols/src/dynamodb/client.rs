//! amazon-dynamodb-lock-client's `AmazonDynamoDBLockClient` (commit 601eab1) as a sans-IO state
//! machine over the conditional-write store. See the [module docs](super).
//!
//! ```text
//! acquireLock (L497-615):
//!     start = now; wait = additionalTimeToWait
//!     loop:
//!         item = GetItem(key)                                  -- lookupTime = now (on the reply)
//!         absent   -> PutItem(new RVN) if attribute_not_exists  -> HELD (lookupTime before the put)
//!         released -> PutItem(new RVN) if #ir = true            -> HELD
//!         first sighting: observed = item; wait += item.leaseDuration (once)
//!         same RVN as observed and now - observed.lookupTime > leaseDuration
//!                  -> PutItem(new RVN) if #rvn = observed RVN   -> HELD
//!         RVN changed: observed = item                           (the observation restarts)
//!         ConditionalCheckFailed -> LockNotGranted
//!         now - start > wait -> LockNotGranted
//!         sleep refreshPeriod
//! heartbeat thread, every heartbeatPeriod (L1213-1335):
//!     UpdateItem SET leaseDuration, RVN = new if #rvn = RVN AND #on = owner
//!         ok  -> lookupTime = time before the update
//!         CCF -> the lock is lost (removed, no more heartbeats)
//!         503 -> holdLockOnServiceUnavailable ? lookupTime = now : nothing (the lease runs out)
//!     (a lock already expired locally is dropped instead: "Cannot send heartbeat because lock is
//!      not granted")
//! releaseLock: (after a heartbeat in flight: both synchronize on the lock item)
//!     stop heartbeating; DeleteItem if #rvn = RVN AND #on = owner
//! isExpired(): now - lookupTime > leaseDuration   (monotonic: System.nanoTime)
//! ```

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::{Msg, StoreCond, StoreFields, StoreItem, StoreMsg, StoreOutcome};
use crate::node::{ms, Ctx, LockId, NodeId, Timer};

/// The client's options (`AmazonDynamoDBLockClientOptions`, `AcquireLockOptions`) and the
/// switches of the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DynamoDbParams {
    /// `leaseDuration` (20 s).
    pub lease_ms: u64,
    /// `heartbeatPeriod` (5 s).
    pub heartbeat_ms: u64,
    /// `refreshPeriod`: the sleep between two `GetItem`s of the acquire loop (1 s).
    pub refresh_period_ms: u64,
    /// `additionalTimeToWaitForLock`: how long acquire waits beyond one lease (1 s).
    pub additional_time_to_wait_ms: u64,
    /// An SDK call without an answer this long fails (the SDK's socket timeout, 50 s by default).
    pub request_timeout_ms: u64,
    /// `holdLockOnServiceUnavailable`: a heartbeat that fails with "unavailable" (here: times out)
    /// bumps the local lookup time, as if it had succeeded.
    pub hold_lock_on_service_unavailable: bool,
    /// `SessionMonitor`'s `safeTimeWithoutHeartbeat`: the holder counts its lock as valid only this
    /// long after the last successful heartbeat (`None`: no session monitor, the lease itself).
    pub session_monitor_safe_ms: Option<u64>,
    /// PR #3, "fencing via sequence ids" (unmerged): the holder passes the item's generation as a
    /// fencing token and the resource checks it.
    pub fencing_sequence: bool,
    /// A contrast, not the client: the holder also writes an absolute `expires_at` (its wall clock
    /// + lease) and a waiter takes the lock as soon as its own wall clock is past it (GCS/S3 style).
    pub absolute_expiry: bool,
}

impl Default for DynamoDbParams {
    fn default() -> Self {
        DynamoDbParams {
            lease_ms: 20_000,
            heartbeat_ms: 5_000,
            refresh_period_ms: 1_000,
            additional_time_to_wait_ms: 1_000,
            request_timeout_ms: 50_000,
            hold_lock_on_service_unavailable: false,
            session_monitor_safe_ms: None,
            fencing_sequence: false,
            absolute_expiry: false,
        }
    }
}

/// `lockTryingToBeAcquired`: an item someone else holds, and when this client first saw its RVN
/// (on its own monotonic clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Observed {
    pub item: StoreItem,
    pub lookup_mono_ns: u64,
}

/// The acquire loop's own state across polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcquireLoop {
    pub start_mono_ns: u64,
    /// `millisecondsToWait`: `additionalTimeToWait`, plus one lease after the first sighting.
    pub wait_ms: u64,
    pub observed: Option<Observed>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DynamoDbState {
    Free,
    /// `GetItem` outstanding.
    Getting {
        req: u64,
        lp: AcquireLoop,
    },
    /// Sleeping `refreshPeriod` before the next `GetItem`.
    Sleeping {
        lp: AcquireLoop,
    },
    /// `PutItem` outstanding; `lookup_mono_ns`: taken before sending it (L766).
    Putting {
        req: u64,
        nonce: u64,
        lookup_mono_ns: u64,
    },
    /// Held: the item's RVN is `nonce` as far as this client knows; `lookup_mono_ns`: the last
    /// successful write's (taken before sending it); `lost`: a heartbeat was refused, or the
    /// worker found the lease expired.
    Held {
        nonce: u64,
        generation: u64,
        lookup_mono_ns: u64,
        lost: bool,
    },
    /// `DeleteItem` outstanding.
    Releasing {
        req: u64,
    },
}

/// The heartbeat in flight: its request, the RVN it writes, and when it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeartbeatCall {
    pub req: u64,
    pub nonce: u64,
    pub sent_mono_ns: u64,
}

/// One client's lock client (one lock at a time, as the worker uses it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DynamoDbLock {
    pub store: NodeId,
    pub lock: LockId,
    pub params: DynamoDbParams,
    pub next_req: u64,
    pub session: SessionId,
    pub state: DynamoDbState,
    pub heartbeat: Option<HeartbeatCall>,
    /// `releaseLock` was called while a heartbeat was in flight: both hold the lock item's
    /// monitor (`synchronized (lockItem)`), so the release waits for the heartbeat to finish.
    pub release_waiting: bool,
}

impl DynamoDbLock {
    pub fn new(store: NodeId, lock: LockId, params: DynamoDbParams) -> Self {
        DynamoDbLock {
            store,
            lock,
            params,
            next_req: 0,
            session: SessionId::default(),
            state: DynamoDbState::Free,
            heartbeat: None,
            release_waiting: false,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&self, ctx: &mut Ctx, m: StoreMsg) {
        ctx.send(self.store, Msg::Store(Box::new(m)));
    }

    /// `ownerName`: one per client (the node).
    fn owner(ctx: &Ctx) -> u64 {
        ctx.me as u64
    }

    /// How long after a lookup the holder counts its lock as valid: the session monitor's safe
    /// time when there is one, else the lease (`isExpired`).
    fn validity_ms(&self) -> u64 {
        self.params.session_monitor_safe_ms.unwrap_or(self.params.lease_ms)
    }

    fn deadline(&self, lookup_mono_ns: u64) -> Deadline {
        Deadline::Mono(lookup_mono_ns + ms(self.validity_ms()))
    }

    /// The item fields this client writes: a fresh RVN; with `absolute_expiry`, its wall clock +
    /// lease as `expires_at`.
    fn fields(&self, ctx: &Ctx, nonce: u64) -> StoreFields {
        StoreFields {
            owner: Self::owner(ctx),
            nonce,
            lease_ms: self.params.lease_ms,
            expires_at_wall_ms: self
                .params
                .absolute_expiry
                .then(|| ctx.wall_ns.div_euclid(1_000_000) + self.params.lease_ms as i64),
            released: false,
        }
    }

    /// Held, not lost, and not past the lookup time + lease (or + the session monitor's safe time).
    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match self.state {
            DynamoDbState::Held { lookup_mono_ns, lost: false, .. } => {
                ctx.mono_ns < lookup_mono_ns + ms(self.validity_ms())
            }
            _ => false,
        }
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.lose(ctx, LostReason::DeadlineExpired);
    }

    fn lose(&mut self, ctx: &mut Ctx, reason: LostReason) {
        if let DynamoDbState::Held { lost, .. } = &mut self.state {
            if !*lost {
                *lost = true;
                ctx.record(Observation::LockLost { lock: self.lock, session: self.session, reason });
            }
        }
        self.stop_heartbeat(ctx);
    }

    fn stop_heartbeat(&mut self, ctx: &mut Ctx) {
        self.heartbeat = None;
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
    }

    /// With `fencing_sequence`: the generation of this client's `PutItem` (a heartbeat keeps it).
    pub fn token(&self) -> Option<u64> {
        match self.state {
            DynamoDbState::Held { generation, .. } if self.params.fencing_sequence => Some(generation),
            _ => None,
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock, session });
        let lp =
            AcquireLoop { start_mono_ns: ctx.mono_ns, wait_ms: self.params.additional_time_to_wait_ms, observed: None };
        self.get(ctx, lp);
    }

    fn get(&mut self, ctx: &mut Ctx, lp: AcquireLoop) {
        let req = self.req();
        self.send(ctx, StoreMsg::Get { req, key: self.lock });
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.request_timeout_ms));
        self.state = DynamoDbState::Getting { req, lp };
    }

    /// `PutItem` with a fresh RVN under `cond`; the lookup time is taken now, before the write.
    fn put(&mut self, ctx: &mut Ctx, cond: StoreCond) {
        let req = self.req();
        let nonce = ctx.random_u64();
        let fields = self.fields(ctx, nonce);
        self.send(ctx, StoreMsg::Put { req, key: self.lock, fields, cond, lease_id: None });
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.request_timeout_ms));
        self.state = DynamoDbState::Putting { req, nonce, lookup_mono_ns: ctx.mono_ns };
    }

    fn fail(&mut self, ctx: &mut Ctx, definite: bool) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(Timer::AcquireRetry);
        self.state = DynamoDbState::Free;
        ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
        Some(LockEvent::AcquireFailed)
    }

    /// One turn of the acquire loop after a `GetItem` answered `item`.
    fn on_item(&mut self, ctx: &mut Ctx, mut lp: AcquireLoop, item: Option<StoreItem>) -> Option<LockEvent> {
        let Some(item) = item else {
            self.put(ctx, StoreCond::IfAbsent);
            return None;
        };
        if item.released {
            self.put(ctx, StoreCond::IfReleased);
            return None;
        }
        let takeover = StoreCond::IfNonce { owner: item.owner, nonce: item.nonce };
        if self.params.absolute_expiry {
            // The contrast: the holder's absolute expiry against this client's wall clock.
            let now_wall_ms = ctx.wall_ns.div_euclid(1_000_000);
            if item.expires_at_wall_ms.is_some_and(|at| now_wall_ms > at) {
                self.put(ctx, takeover);
                return None;
            }
        }
        match lp.observed {
            None => {
                // First sighting: wait at least one of its leases.
                lp.observed = Some(Observed { item, lookup_mono_ns: ctx.mono_ns });
                lp.wait_ms += item.lease_ms;
            }
            Some(seen) if seen.item.nonce == item.nonce => {
                // `isExpired()` on this client's monotonic clock, from when it first saw this RVN.
                if !self.params.absolute_expiry && ctx.mono_ns - seen.lookup_mono_ns > ms(seen.item.lease_ms) {
                    self.put(ctx, takeover);
                    return None;
                }
            }
            // The RVN changed: the holder is alive; observe afresh.
            Some(_) => lp.observed = Some(Observed { item, lookup_mono_ns: ctx.mono_ns }),
        }
        if ctx.mono_ns - lp.start_mono_ns > ms(lp.wait_ms) {
            return self.fail(ctx, true);
        }
        ctx.set_timer(Timer::AcquireRetry, ms(self.params.refresh_period_ms));
        self.state = DynamoDbState::Sleeping { lp };
        None
    }

    fn held(&mut self, ctx: &mut Ctx, nonce: u64, generation: u64, lookup_mono_ns: u64) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        self.state = DynamoDbState::Held { nonce, generation, lookup_mono_ns, lost: false };
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token: self.token(),
            value: nonce,
            valid_until: self.deadline(lookup_mono_ns),
        });
        ctx.set_timer(Timer::Heartbeat, ms(self.params.heartbeat_ms));
        Some(LockEvent::Acquired)
    }

    /// `sendHeartbeat`: `UpdateItem` with a new RVN if the item is still ours. A lock already
    /// expired by the local clock is dropped instead ("Cannot send heartbeat because lock is not
    /// granted"): a holder that was paused past its lease never heartbeats it back.
    fn send_heartbeat(&mut self, ctx: &mut Ctx) {
        let DynamoDbState::Held { nonce, lookup_mono_ns, lost: false, .. } = self.state else { return };
        if ctx.mono_ns - lookup_mono_ns > ms(self.params.lease_ms) {
            self.lose(ctx, LostReason::DeadlineExpired);
            return;
        }
        let req = self.req();
        let new_nonce = ctx.random_u64();
        let fields = self.fields(ctx, new_nonce);
        let cond = StoreCond::IfNonce { owner: Self::owner(ctx), nonce };
        ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        self.send(ctx, StoreMsg::Update { req, key: self.lock, fields, cond, lease_id: None });
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.request_timeout_ms));
        self.heartbeat = Some(HeartbeatCall { req, nonce: new_nonce, sent_mono_ns: ctx.mono_ns });
    }

    /// The heartbeat thread sleeps `heartbeatPeriod` minus the time the last one took.
    fn next_heartbeat(&mut self, ctx: &mut Ctx, sent_mono_ns: u64) {
        let elapsed = ctx.mono_ns - sent_mono_ns;
        ctx.set_timer(Timer::Heartbeat, ms(self.params.heartbeat_ms).saturating_sub(elapsed));
    }

    fn on_heartbeat_reply(&mut self, ctx: &mut Ctx, call: HeartbeatCall, outcome: StoreOutcome) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        self.heartbeat = None;
        if self.release_waiting {
            // The release takes over: it deletes the item under the RVN the heartbeat wrote.
            if let (StoreOutcome::Ok { .. }, DynamoDbState::Held { nonce, .. }) = (outcome, &mut self.state) {
                *nonce = call.nonce;
            }
            return self.send_release(ctx);
        }
        match (outcome, &mut self.state) {
            (StoreOutcome::Ok { .. }, DynamoDbState::Held { nonce, lookup_mono_ns, lost: false, .. }) => {
                *nonce = call.nonce;
                *lookup_mono_ns = call.sent_mono_ns;
                let valid_until = self.deadline(call.sent_mono_ns);
                ctx.record(Observation::ExtendOk { lock: self.lock, session: self.session, valid_until });
                self.next_heartbeat(ctx, call.sent_mono_ns);
            }
            (_, DynamoDbState::Held { lost: false, .. }) => {
                // ConditionalCheckFailed: someone else has the lock; stop heartbeating it.
                ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                self.lose(ctx, LostReason::ExtendRefused);
            }
            _ => {}
        }
        None
    }

    /// No answer: the SDK call fails. `holdLockOnServiceUnavailable` then bumps the lookup time
    /// (the library tells its user the lock is still held); otherwise the lease runs out locally.
    fn on_heartbeat_timeout(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        let call = self.heartbeat.take()?;
        if self.release_waiting {
            return self.send_release(ctx);
        }
        let hold = self.params.hold_lock_on_service_unavailable;
        if let DynamoDbState::Held { lookup_mono_ns, lost: false, .. } = &mut self.state {
            if hold {
                *lookup_mono_ns = ctx.mono_ns;
                let valid_until = self.deadline(ctx.mono_ns);
                ctx.record(Observation::ExtendOk { lock: self.lock, session: self.session, valid_until });
            } else {
                ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: false });
            }
            self.next_heartbeat(ctx, call.sent_mono_ns);
        }
        None
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        if self.heartbeat.is_some() && matches!(self.state, DynamoDbState::Held { .. }) {
            // Wait for the heartbeat in flight (the lock item's monitor).
            ctx.cancel_timer(Timer::Heartbeat);
            self.release_waiting = true;
            return None;
        }
        self.send_release(ctx)
    }

    /// Stop heartbeating, then `DeleteItem` if the RVN and owner are still this client's.
    fn send_release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        self.release_waiting = false;
        self.stop_heartbeat(ctx);
        let DynamoDbState::Held { nonce, .. } = self.state else {
            self.state = DynamoDbState::Free;
            ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(false) });
            return Some(LockEvent::Released);
        };
        let req = self.req();
        let cond = StoreCond::IfNonce { owner: Self::owner(ctx), nonce };
        self.send(ctx, StoreMsg::Delete { req, key: self.lock, cond, lease_id: None });
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.request_timeout_ms));
        self.state = DynamoDbState::Releasing { req };
        None
    }

    fn released(&mut self, ctx: &mut Ctx, ok: Option<bool>) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::ReleaseTimeout);
        self.state = DynamoDbState::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        Some(LockEvent::Released)
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state) {
            // An SDK exception other than ConditionalCheckFailed ends `acquireLock`.
            (Timer::AcquireTimeout, DynamoDbState::Getting { .. } | DynamoDbState::Putting { .. }) => {
                self.fail(ctx, false)
            }
            (Timer::AcquireRetry, DynamoDbState::Sleeping { lp }) => {
                self.get(ctx, lp);
                None
            }
            (Timer::Heartbeat, DynamoDbState::Held { lost: false, .. }) => {
                self.send_heartbeat(ctx);
                None
            }
            (Timer::HeartbeatTimeout, DynamoDbState::Held { .. }) => self.on_heartbeat_timeout(ctx),
            (Timer::ReleaseTimeout, DynamoDbState::Releasing { .. }) => self.released(ctx, None),
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Store(m) = msg else { return None };
        match (*m, self.state) {
            (StoreMsg::GetReply { req, outcome, .. }, DynamoDbState::Getting { req: r, lp }) if req == r => {
                ctx.cancel_timer(Timer::AcquireTimeout);
                match outcome {
                    StoreOutcome::Ok { item, .. } => self.on_item(ctx, lp, item),
                    StoreOutcome::NotFound => self.on_item(ctx, lp, None),
                    _ => self.fail(ctx, true),
                }
            }
            (StoreMsg::PutReply { req, outcome, .. }, DynamoDbState::Putting { req: r, nonce, lookup_mono_ns })
                if req == r =>
            {
                match outcome {
                    StoreOutcome::Ok { generation, .. } => self.held(ctx, nonce, generation, lookup_mono_ns),
                    // ConditionalCheckFailed: "someone else acquired the lock" -> LockNotGranted.
                    _ => self.fail(ctx, true),
                }
            }
            (StoreMsg::UpdateReply { req, outcome, .. }, DynamoDbState::Held { .. }) => match self.heartbeat {
                Some(call) if call.req == req => self.on_heartbeat_reply(ctx, call, outcome),
                _ => None,
            },
            (StoreMsg::DeleteReply { req, outcome, .. }, DynamoDbState::Releasing { req: r }) if req == r => {
                self.released(ctx, Some(matches!(outcome, StoreOutcome::Ok { .. })))
            }
            _ => None,
        }
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for DynamoDbLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        DynamoDbLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        DynamoDbLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        DynamoDbLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        DynamoDbLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        DynamoDbLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        DynamoDbLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        DynamoDbLock::on_message(self, ctx, from, msg)
    }
}
