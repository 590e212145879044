//! The lock library: `DistributedLock::GoogleCloudStorage::Lock` (`lib/.../lock.rb`) as a state
//! machine over the conditional-write store. See the module docs for the algorithm and sources.

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::{LockClient, LockEvent};
use crate::msg::{LockId, Msg, StoreCond, StoreFields, StoreItem, StoreMsg, StoreOutcome};
use crate::node::{ms, Ctx, NodeId, Timer};

/// The overall `lock(timeout:)` deadline (a timer of this folder's own).
const LOCK_TIMEOUT: Timer = Timer::Named("gcs_lock_timeout", 0);

/// The library's parameters (`lock.rb`'s constructor options; defaults in `constants.rb`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GcsClientParams {
    /// `ttl`: how long after its last refresh the object is considered stale (300 s).
    pub ttl_ms: u64,
    /// `refresh_interval`: the refresher thread's period (default `ttl / (max_refresh_fails * 3)`).
    pub refresh_interval_ms: u64,
    /// `max_refresh_fails`: consecutive refresh errors before the lock is declared unhealthy (3).
    pub max_refresh_fails: u32,
    /// `backoff_min` / `backoff_max` / `backoff_multiplier` of the acquire loop (1 s, 30 s, 2).
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    pub backoff_multiplier: u64,
    /// `lock(timeout:)`: the acquire call gives up after this long (default `2 * ttl`).
    pub lock_timeout_ms: u64,
    /// How long one store request may go unanswered before it counts as an error (the Google
    /// client's request timeout; an abstraction: the real client retries transport errors itself).
    pub request_timeout_ms: u64,
    /// The identity survives a crash-restart of the client (scenario variant, not the library's
    /// default: `lock.rb` draws a random prefix per `Lock` instance and appends the pid, so a
    /// restarted process has a new identity). With it, "instant recovery" reclaims the abandoned
    /// object at once instead of waiting out the TTL.
    pub identity_survives_restart: bool,
}

/// One attempt of the acquire loop, and the store request it is waiting on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// `create_lock_object`: create with `if_generation_match: 0`.
    Create,
    /// `@bucket.file(@path)`: read the object after a precondition failure.
    Inspect,
    /// Delete my own abandoned object (`identity == mine`), then retry at once.
    DeleteAbandoned,
    /// Delete a stale object (reader's clock past the writer's `expires_at`), then back off.
    DeleteStale,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GcsState {
    Free,
    Acquiring {
        step: Step,
        req: u64,
    },
    /// Sleeping the back-off before the next attempt.
    BackingOff,
    /// The lock is held: `metageneration` of my object as last written by me.
    Held {
        metageneration: u64,
        /// `healthy?`: the refresher thread is alive.
        healthy: bool,
        /// Consecutive refresh errors.
        refresh_fails: u32,
        /// The refresh in flight.
        refreshing: Option<u64>,
    },
    /// `unlock` joins the refresher thread: a refresh in flight finishes first (its new
    /// metageneration is the one the delete must match).
    JoiningRefresher {
        metageneration: u64,
        refresh_req: u64,
    },
    Releasing {
        req: u64,
    },
}

/// The GCS lock library of one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GcsLock {
    /// The store (the bucket).
    pub store: NodeId,
    pub client_index: usize,
    pub params: GcsClientParams,
    pub lock: LockId,
    pub session: SessionId,
    /// `identity`: drawn on first use (per instance, so per incarnation) unless it survives restarts.
    pub identity: Option<u64>,
    pub state: GcsState,
    /// The last back-off slept (`retry_with_backoff_until_success`'s `last`).
    pub backoff_last_ms: u64,
    /// The acquire call's deadline has passed.
    pub timed_out: bool,
    /// The last refusal was a definite answer (for the acquire's failure record).
    pub definite: bool,
    pub next_req: u64,
}

impl GcsLock {
    pub fn new(store: NodeId, client_index: usize, lock: LockId, params: GcsClientParams) -> Self {
        GcsLock {
            store,
            client_index,
            params,
            lock,
            session: SessionId::default(),
            identity: None,
            state: GcsState::Free,
            backoff_last_ms: 0,
            timed_out: false,
            definite: false,
            next_req: 0,
        }
    }

    /// This instance's identity (`SecureRandom.hex(12) + "-" + Process.pid`).
    fn identity(&mut self, ctx: &mut Ctx) -> u64 {
        if let Some(id) = self.identity {
            return id;
        }
        let id = if self.params.identity_survives_restart {
            // A stable, per-client identity (the scenario variant).
            0x6c6f_636b_0000_0000 | (self.client_index as u64 + 1)
        } else {
            ctx.random_u64() | 1 << 63
        };
        self.identity = Some(id);
        id
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&mut self, ctx: &mut Ctx, m: StoreMsg) {
        ctx.send(self.store, Msg::Store(Box::new(m)));
    }

    /// The object's content as this client writes it: `expires_at = now + ttl` on the LOCAL wall
    /// clock, and the identity.
    fn object(&self, ctx: &Ctx, identity: u64) -> StoreFields {
        StoreFields {
            owner: ctx.me as u64,
            nonce: identity,
            lease_ms: self.params.ttl_ms,
            expires_at_wall_ms: Some(ctx.wall_ns.div_euclid(1_000_000) + self.params.ttl_ms as i64),
            released: false,
        }
    }

    pub fn is_valid(&self, _ctx: &Ctx) -> bool {
        matches!(self.state, GcsState::Held { healthy: true, .. })
    }

    pub fn token(&self) -> Option<u64> {
        // The metageneration is internal: `lock.rb` exposes no fencing token.
        None
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        self.backoff_last_ms = self.params.backoff_min_ms;
        self.timed_out = false;
        self.definite = false;
        ctx.record(Observation::AcquireInvoke { lock, session });
        ctx.set_timer(LOCK_TIMEOUT, ms(self.params.lock_timeout_ms));
        self.step(ctx, Step::Create, None);
    }

    /// Send the request of `step` (`item`: the object read, for the deletes).
    fn step(&mut self, ctx: &mut Ctx, step: Step, item: Option<StoreItem>) {
        let req = self.req();
        let key = self.lock;
        let m = match step {
            Step::Create => {
                let identity = self.identity(ctx);
                let fields = self.object(ctx, identity);
                StoreMsg::Put { req, key, fields, cond: StoreCond::IfAbsent, lease_id: None }
            }
            Step::Inspect => StoreMsg::Get { req, key },
            Step::DeleteAbandoned | Step::DeleteStale => {
                let m = item.map_or(0, |i| i.metageneration);
                StoreMsg::Delete { req, key, cond: StoreCond::IfMetageneration(m), lease_id: None }
            }
        };
        self.send(ctx, m);
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.request_timeout_ms));
        self.state = GcsState::Acquiring { step, req };
    }

    /// The attempt returned `:error`: give up if the call's time is over, else sleep
    /// `rand(min..last * multiplier)`, capped at `max`.
    fn back_off(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        if self.timed_out {
            return self.fail(ctx);
        }
        let p = &self.params;
        let upper = (self.backoff_last_ms * p.backoff_multiplier).max(p.backoff_min_ms);
        let sleep_ms = ctx.random_between(p.backoff_min_ms, upper).min(p.backoff_max_ms);
        self.backoff_last_ms = sleep_ms;
        ctx.set_timer(Timer::AcquireRetry, ms(sleep_ms));
        self.state = GcsState::BackingOff;
        None
    }

    fn fail(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(Timer::AcquireRetry);
        ctx.cancel_timer(LOCK_TIMEOUT);
        self.state = GcsState::Free;
        ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite: self.definite });
        Some(LockEvent::AcquireFailed)
    }

    fn acquired(&mut self, ctx: &mut Ctx, item: StoreItem) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(LOCK_TIMEOUT);
        self.state =
            GcsState::Held { metageneration: item.metageneration, healthy: true, refresh_fails: 0, refreshing: None };
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token: None,
            value: item.nonce,
            valid_until: Deadline::Never,
        });
        // The refresher thread starts.
        ctx.set_timer(Timer::Heartbeat, ms(self.params.refresh_interval_ms));
        Some(LockEvent::Acquired)
    }

    /// The refresher thread exits: `healthy?` is false from now on.
    fn unhealthy(&mut self, ctx: &mut Ctx) {
        if let GcsState::Held { healthy, refreshing, .. } = &mut self.state {
            if *healthy {
                *healthy = false;
                *refreshing = None;
                ctx.cancel_timer(Timer::Heartbeat);
                ctx.cancel_timer(Timer::HeartbeatTimeout);
                ctx.record(Observation::LockLost {
                    lock: self.lock,
                    session: self.session,
                    reason: LostReason::ExtendRefused,
                });
            }
        }
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.unhealthy(ctx);
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        // `unlock`: stop the refresher (joining it: a refresh in flight completes), then delete
        // with `if_metageneration_match`.
        ctx.cancel_timer(Timer::Heartbeat);
        match self.state {
            GcsState::Held { metageneration, refreshing: Some(refresh_req), .. } => {
                self.state = GcsState::JoiningRefresher { metageneration, refresh_req };
                None
            }
            GcsState::Held { metageneration, .. } => {
                self.delete_mine(ctx, metageneration);
                None
            }
            _ => {
                self.state = GcsState::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(false) });
                Some(LockEvent::Released)
            }
        }
    }

    fn delete_mine(&mut self, ctx: &mut Ctx, metageneration: u64) {
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let req = self.req();
        let key = self.lock;
        self.send(
            ctx,
            StoreMsg::Delete { req, key, cond: StoreCond::IfMetageneration(metageneration), lease_id: None },
        );
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.request_timeout_ms));
        self.state = GcsState::Releasing { req };
    }

    fn released(&mut self, ctx: &mut Ctx, ok: Option<bool>) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::ReleaseTimeout);
        self.state = GcsState::Free;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok });
        Some(LockEvent::Released)
    }

    fn refresh(&mut self, ctx: &mut Ctx) {
        let GcsState::Held { metageneration, healthy: true, .. } = self.state else { return };
        let req = self.req();
        let key = self.lock;
        let identity = self.identity(ctx);
        // `file.update(if_metageneration_match:)` patching `expires_at` (the store's update
        // writes every field: the identity is rewritten unchanged — see the module docs).
        let fields = self.object(ctx, identity);
        ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        self.send(
            ctx,
            StoreMsg::Update { req, key, fields, cond: StoreCond::IfMetageneration(metageneration), lease_id: None },
        );
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.request_timeout_ms));
        if let GcsState::Held { refreshing, .. } = &mut self.state {
            *refreshing = Some(req);
        }
    }

    /// A refresh raised a transient error: count it; `max_refresh_fails` in a row end the thread.
    fn refresh_error(&mut self, ctx: &mut Ctx) {
        let max = self.params.max_refresh_fails;
        let interval_ms = self.params.refresh_interval_ms;
        let GcsState::Held { refresh_fails, refreshing, .. } = &mut self.state else { return };
        *refresh_fails += 1;
        *refreshing = None;
        let give_up = *refresh_fails >= max;
        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: false });
        if give_up {
            self.unhealthy(ctx);
        } else {
            ctx.set_timer(Timer::Heartbeat, ms(interval_ms));
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state.clone()) {
            (LOCK_TIMEOUT, GcsState::BackingOff) => self.fail(ctx),
            (LOCK_TIMEOUT, GcsState::Acquiring { .. }) => {
                // Checked when the attempt in flight ends (`retry_with_backoff_until_success`).
                self.timed_out = true;
                None
            }
            (Timer::AcquireRetry, GcsState::BackingOff) => {
                self.step(ctx, Step::Create, None);
                None
            }
            // A request error: the attempt ends with `:error`.
            (Timer::AcquireTimeout, GcsState::Acquiring { step, .. }) => {
                self.definite = false;
                match step {
                    // The abandoned object may still be there: retry at once, as after a delete.
                    Step::DeleteAbandoned => {
                        self.step(ctx, Step::Create, None);
                        None
                    }
                    _ => self.back_off(ctx),
                }
            }
            (Timer::Heartbeat, GcsState::Held { .. }) => {
                self.refresh(ctx);
                None
            }
            (Timer::HeartbeatTimeout, GcsState::Held { refreshing: Some(_), .. }) => {
                self.refresh_error(ctx);
                None
            }
            (Timer::HeartbeatTimeout, GcsState::JoiningRefresher { metageneration, .. }) => {
                ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: false });
                self.delete_mine(ctx, metageneration);
                None
            }
            (Timer::ReleaseTimeout, GcsState::Releasing { .. }) => self.released(ctx, None),
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Store(m) = msg else { return None };
        let (StoreMsg::GetReply { req, outcome, .. }
        | StoreMsg::PutReply { req, outcome, .. }
        | StoreMsg::UpdateReply { req, outcome, .. }
        | StoreMsg::DeleteReply { req, outcome, .. }) = *m
        else {
            return None;
        };
        match self.state.clone() {
            GcsState::Acquiring { step, req: current } if req == current => self.on_acquire_reply(ctx, step, outcome),
            GcsState::Held { refreshing: Some(current), .. } if req == current => {
                ctx.cancel_timer(Timer::HeartbeatTimeout);
                match outcome {
                    StoreOutcome::Ok { item: Some(item), .. } => {
                        if let GcsState::Held { metageneration, refresh_fails, refreshing, .. } = &mut self.state {
                            *metageneration = item.metageneration;
                            *refresh_fails = 0;
                            *refreshing = None;
                        }
                        ctx.record(Observation::ExtendOk {
                            lock: self.lock,
                            session: self.session,
                            valid_until: Deadline::Never,
                        });
                        ctx.set_timer(Timer::Heartbeat, ms(self.params.refresh_interval_ms));
                    }
                    // `FailedPreconditionError` or `NotFoundError`: someone else owns the object
                    // now (or it is gone): a permanent failure, the thread exits at once.
                    _ => {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                        self.unhealthy(ctx);
                    }
                }
                None
            }
            GcsState::JoiningRefresher { metageneration, refresh_req } if req == refresh_req => {
                let m = match outcome {
                    StoreOutcome::Ok { item: Some(item), .. } => {
                        ctx.record(Observation::ExtendOk {
                            lock: self.lock,
                            session: self.session,
                            valid_until: Deadline::Never,
                        });
                        item.metageneration
                    }
                    _ => {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: self.session, definite: true });
                        metageneration
                    }
                };
                self.delete_mine(ctx, m);
                None
            }
            GcsState::Releasing { req: current } if req == current => {
                let ok = matches!(outcome, StoreOutcome::Ok { .. });
                self.released(ctx, Some(ok))
            }
            _ => None,
        }
    }

    fn on_acquire_reply(&mut self, ctx: &mut Ctx, step: Step, outcome: StoreOutcome) -> Option<LockEvent> {
        match (step, outcome) {
            (Step::Create, StoreOutcome::Ok { item: Some(item), .. }) => self.acquired(ctx, item),
            // Precondition failed: someone's object is there; look at it.
            (Step::Create, StoreOutcome::PreconditionFailed) => {
                self.definite = true;
                self.step(ctx, Step::Inspect, None);
                None
            }
            (Step::Create, _) => self.back_off(ctx),
            // Gone meanwhile: `:retry_immediately`.
            (Step::Inspect, StoreOutcome::NotFound) => {
                self.step(ctx, Step::Create, None);
                None
            }
            (Step::Inspect, StoreOutcome::Ok { item: Some(item), .. }) => {
                if Some(item.nonce) == self.identity {
                    // "Lock was already owned by this instance, but was abandoned": instant recovery.
                    self.step(ctx, Step::DeleteAbandoned, Some(item));
                    None
                } else if item.expires_at_wall_ms.is_some_and(|e| ctx.wall_ns.div_euclid(1_000_000) > e) {
                    // `lock_stale?`: MY clock against the WRITER's `expires_at`.
                    self.step(ctx, Step::DeleteStale, Some(item));
                    None
                } else {
                    self.back_off(ctx)
                }
            }
            (Step::Inspect, _) => self.back_off(ctx),
            (Step::DeleteAbandoned, _) => {
                self.step(ctx, Step::Create, None);
                None
            }
            (Step::DeleteStale, _) => self.back_off(ctx),
        }
    }
}

impl LockClient for GcsLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        GcsLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        GcsLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        GcsLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        GcsLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        GcsLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        GcsLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        GcsLock::on_message(self, ctx, from, msg)
    }
}
