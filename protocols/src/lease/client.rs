//! The lease lock library: a client of the Redis lock of [`crate::lease`].
//!
//! * **Acquire** sends `SET key value NX PX ttl` with a random value and waits
//!   `acquire_timeout_ms` for the answer. A refusal is retried after a random back-off; a timeout
//!   is retried at once.
//! * **A lost grant** (scenario #9). The server may have set the key and the reply been lost.
//!   Real Redis refuses *every* `SET NX` on an existing key, the client's own included, so asking
//!   again cannot tell the client it holds the lock. With `retry = "idempotent"` the client keeps
//!   its value across retries, and when a `SET NX` is refused after an earlier request with that
//!   value went unanswered, it reads the key — `GET` and `PTTL` together ([`KvMsg::Get`]) — and if
//!   the key holds its value, it holds the lock. redis-py's `Lock.owned()` is exactly this
//!   comparison ("Returns True if this key is locked by this lock": `GET` the name, compare with the
//!   local token; `redis/lock.py`), and its `extend` reads `PTTL` the same way; bsm/redislock's
//!   `obtain.lua` makes the same comparison server-side (on a failed `SET NX` it compares the
//!   stored token and re-sets the key if it matches). Running that comparison as the retry step
//!   after a refused `SET NX`, with `PTTL` bounding the validity, is locklab's composition of those
//!   documented commands; we know of no library that documents this precise retry. With
//!   `retry = "naive"` every request draws a new value, the orphaned key blocks everybody — the
//!   client included — until it expires.
//! * **Validity.** The client cannot know when the server will expire its key; it can only bound
//!   it. With `validity = "local_duration"` it measures the TTL on its *own monotonic clock from
//!   when the request that created the key was sent*, minus a safety margin for drift (the DynamoDB
//!   lock client's rule). When it learned of its grant by `GET`, it does not know which of its
//!   requests created the key, so it takes the earliest, and it also bounds the lease by the send
//!   time of the `GET` plus the `PTTL` it returned: validity ends at
//!   `min(first_send + ttl, get_send + pttl) − margin`. With `"server_timestamp"` it trusts the
//!   server's absolute expiry and compares it with its own wall clock — wrong as soon as the
//!   clocks disagree (scenario #12). With `"none"` it believes it holds the lock until it releases
//!   it.
//! * **Heartbeat.** Every `renew_ms` the client extends the lease. A heartbeat without a timeout
//!   (`heartbeat_timeout_ms` unset) waits forever for a lost reply, like a thread blocked in an
//!   HTTP request with no timeout: the lease silently runs out (scenario #11). Without a heartbeat
//!   a critical section longer than the TTL outlives its lease (`scenarios/lease-heartbeat.toml`).
//! * **Release** deletes the key by compare-and-delete, or by a plain `DEL` (scenario #8).
//! * **Failover.** Given several servers (a primary and its replicas), the client moves to the
//!   next one after `failover_after_timeouts` consecutive timeouts, as a client of Redis Sentinel
//!   does once a replica is promoted (scenario #7).
//! * **Redisson's identity** ([`LeaseClientParams::value_per_client`]): Redisson's `RLock` does not
//!   draw a value per acquire; its hash field is `<client UUID>:<thread id>`, the same for every
//!   acquire the thread makes. Against the `redisson` server that makes the lock reentrant — and a
//!   resent acquire a second hold.
//!
//! Even a perfect library cannot stop a write that is late: a pause *between* the validity check
//! and the write (or a slow write packet) lands after expiry. Only fencing at the resource stops it
//! (Kleppmann 2016).

use crate::msg::KvMsg;
use serde::Deserialize;

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::{LockEvent, RetryMode, ValidityBasis};
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// How the lock is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseMode {
    #[default]
    CompareAndDelete,
    PlainDel,
}

/// Parameters of the lease lock library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseClientParams {
    pub ttl_ms: u64,
    pub safety_margin_ms: u64,
    /// Heartbeat period; `None` for no heartbeat.
    pub renew_ms: Option<u64>,
    /// How long a heartbeat waits for its reply; `None` waits forever (the hung heartbeat, #11).
    pub heartbeat_timeout_ms: Option<u64>,
    pub acquire_timeout_ms: u64,
    /// Further requests after the first, per acquire call (refusals and timeouts alike).
    pub acquire_retries: u32,
    pub retry_backoff: MsRange,
    pub retry: RetryMode,
    pub release: ReleaseMode,
    pub validity: ValidityBasis,
    /// With several servers: move to the next after this many consecutive timeouts.
    pub failover_after_timeouts: u32,
    /// Redisson's `RLock` identity: one value for every acquire of this client (per incarnation),
    /// instead of a fresh random value per acquire.
    pub value_per_client: bool,
}

/// A lease the client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Held {
    pub value: u64,
    pub token: Option<u64>,
    pub deadline: Deadline,
    /// The outstanding heartbeat request and when it was sent (local monotonic).
    pub heartbeat: Option<(u64, u64)>,
    /// The library learned it lost the lock.
    pub lost: bool,
}

/// Where the library is. `Copy` (a few words): the handlers match on a copy of it while they
/// update `self`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseState {
    Free,
    /// An acquire request is outstanding. `first_sent_mono_ns` is when the first request with this
    /// value left (the conservative start for validity).
    Acquiring {
        value: u64,
        req: u64,
        attempts: u32,
        first_sent_mono_ns: u64,
    },
    /// A `SET NX` was refused after an earlier request with this value went unanswered: reading
    /// the key (`GET` + `PTTL`) to learn whether that request created it.
    Checking {
        value: u64,
        req: u64,
        attempts: u32,
        first_sent_mono_ns: u64,
        get_sent_mono_ns: u64,
    },
    /// Backing off after a refusal.
    Backoff {
        value: u64,
        attempts: u32,
    },
    Held(Held),
    Releasing {
        req: u64,
    },
}

/// The lease lock library of one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseLock {
    /// The primary first, then the replicas it may fail over to.
    pub servers: Vec<NodeId>,
    pub current: usize,
    pub consecutive_timeouts: u32,
    pub lock: LockId,
    pub params: LeaseClientParams,
    pub next_req: u64,
    pub session: SessionId,
    pub state: LeaseState,
    /// Every acquire request sent with the current value, and when (local monotonic). A grant's
    /// validity is measured from the send of the request it answers: with idempotent retries an
    /// earlier request, held back in the network, may be the one the server grants.
    pub acquire_sends: Vec<(u64, u64)>,
    /// The value `acquire_sends` are for.
    pub acquire_value: u64,
    /// A request with `acquire_value` timed out: its answer is unknown, so a refusal may be the
    /// client's own key refusing it.
    pub acquire_unanswered: bool,
    /// With [`LeaseClientParams::value_per_client`]: the value, drawn at the first acquire.
    pub client_value: Option<u64>,
}

impl LeaseLock {
    pub fn new(servers: Vec<NodeId>, lock: LockId, params: LeaseClientParams) -> Self {
        assert!(!servers.is_empty(), "a lease client needs a server");
        LeaseLock {
            servers,
            current: 0,
            consecutive_timeouts: 0,
            lock,
            params,
            next_req: 0,
            session: SessionId::default(),
            state: LeaseState::Free,
            acquire_sends: Vec::new(),
            acquire_value: 0,
            acquire_unanswered: false,
            client_value: None,
        }
    }

    fn server(&self) -> NodeId {
        self.servers[self.current]
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// A request timed out: count it, and fail over when the server looks dead.
    fn timed_out(&mut self) {
        self.consecutive_timeouts += 1;
        if self.servers.len() > 1 && self.consecutive_timeouts >= self.params.failover_after_timeouts {
            self.current = (self.current + 1) % self.servers.len();
            self.consecutive_timeouts = 0;
        }
    }

    pub fn token(&self) -> Option<u64> {
        match &self.state {
            LeaseState::Held(h) => h.token,
            _ => None,
        }
    }

    /// Is the lease valid now, by the library's own reckoning?
    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match &self.state {
            LeaseState::Held(h) if !h.lost => match h.deadline {
                Deadline::Never => true,
                Deadline::Mono(d) => ctx.mono_ns < d,
                Deadline::Wall(d) => ctx.wall_ns < d,
            },
            _ => false,
        }
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let LeaseState::Held(h) = &mut self.state {
            if !h.lost {
                h.lost = true;
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
        let value = match self.client_value {
            Some(v) => v,
            None => {
                let v = ctx.random_u64();
                if self.params.value_per_client {
                    self.client_value = Some(v);
                }
                v
            }
        };
        if self.params.value_per_client {
            // The same value as the previous acquire: its requests are not this acquire's.
            self.acquire_sends.clear();
            self.acquire_unanswered = false;
        }
        self.send_acquire(ctx, value, 1, None);
    }

    fn send_acquire(&mut self, ctx: &mut Ctx, value: u64, attempts: u32, first_sent_mono_ns: Option<u64>) {
        let req = self.req();
        if self.acquire_value != value {
            // A new value (a new acquire, or a naive retry): earlier requests are not ours.
            self.acquire_sends.clear();
            self.acquire_value = value;
            self.acquire_unanswered = false;
        }
        self.acquire_sends.push((req, ctx.mono_ns));
        ctx.send(self.server(), Msg::Kv(KvMsg::Acquire { req, lock: self.lock, value, ttl_ms: self.params.ttl_ms }));
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.acquire_timeout_ms));
        let first_sent_mono_ns = first_sent_mono_ns.unwrap_or(ctx.mono_ns);
        self.state = LeaseState::Acquiring { value, req, attempts, first_sent_mono_ns };
    }

    /// Retry the acquire (after a timeout or a back-off), or give up when retries are spent.
    fn retry_acquire(
        &mut self,
        ctx: &mut Ctx,
        value: u64,
        attempts: u32,
        first_sent: Option<u64>,
        definite: bool,
    ) -> Option<LockEvent> {
        if attempts > self.params.acquire_retries {
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
            self.state = LeaseState::Free;
            self.clear_acquire();
            return Some(LockEvent::AcquireFailed);
        }
        let (value, first_sent) = match self.params.retry {
            RetryMode::Idempotent => (value, first_sent),
            // A new value is a new attempt: its validity clock starts afresh.
            RetryMode::Naive => (ctx.random_u64(), None),
        };
        self.send_acquire(ctx, value, attempts + 1, first_sent);
        None
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state) {
            (Timer::AcquireTimeout, LeaseState::Acquiring { value, attempts, first_sent_mono_ns, .. }) => {
                self.timed_out();
                self.acquire_unanswered = true;
                self.retry_acquire(ctx, value, attempts, Some(first_sent_mono_ns), false)
            }
            // The `GET` went unanswered: try the `SET NX` again (its refusal leads to a new `GET`).
            (Timer::AcquireTimeout, LeaseState::Checking { value, attempts, first_sent_mono_ns, .. }) => {
                self.timed_out();
                self.retry_acquire(ctx, value, attempts, Some(first_sent_mono_ns), false)
            }
            (Timer::AcquireRetry, LeaseState::Backoff { value, attempts }) => {
                self.retry_acquire(ctx, value, attempts, None, true)
            }
            (Timer::ReleaseTimeout, LeaseState::Releasing { .. }) => {
                self.timed_out();
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
                self.state = LeaseState::Free;
                Some(LockEvent::Released)
            }
            (Timer::Heartbeat, LeaseState::Held(_)) => {
                self.heartbeat(ctx);
                None
            }
            (Timer::HeartbeatTimeout, LeaseState::Held(_)) => {
                self.timed_out();
                let lock = self.lock;
                if let LeaseState::Held(h) = &mut self.state {
                    if h.heartbeat.take().is_some() {
                        ctx.record(Observation::ExtendFail { lock, session: self.session, definite: false });
                        ctx.set_timer(Timer::Heartbeat, 0);
                    }
                }
                None
            }
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) -> Option<LockEvent> {
        match (msg, self.state) {
            (
                Msg::Kv(KvMsg::AcquireReply { req, value: reply_value, granted, token, expires_at_wall_ns, .. }),
                LeaseState::Acquiring { value, req: current, attempts, first_sent_mono_ns }
                | LeaseState::Checking { value, req: current, attempts, first_sent_mono_ns, .. },
            ) => {
                // The current request's answer, or (idempotent) an earlier request's for our value.
                let checking = matches!(self.state, LeaseState::Checking { .. });
                // (Whether `req` was one of this acquire's requests is looked up last: the list
                // grows with every retry.)
                let ours = (req == current && !checking)
                    || (self.params.retry == RetryMode::Idempotent
                        && reply_value == value
                        && self.acquire_sends.iter().any(|(r, _)| *r == req));
                if !ours || (checking && !granted) {
                    return None;
                }
                self.consecutive_timeouts = 0;
                ctx.cancel_timer(Timer::AcquireTimeout);
                if granted {
                    // A grant answers the request that created the key: measure from its send.
                    let sent_mono_ns = self
                        .acquire_sends
                        .iter()
                        .find(|(r, _)| *r == req)
                        .map_or(first_sent_mono_ns, |&(_, sent)| sent);
                    let deadline = self.deadline(sent_mono_ns, expires_at_wall_ns);
                    self.hold(ctx, value, token, deadline)
                } else if self.params.retry == RetryMode::Idempotent && self.acquire_unanswered {
                    // Refused, but an earlier request with this value went unanswered: the key
                    // that refused us may be our own. Read it.
                    let get_req = self.req();
                    ctx.send(self.server(), Msg::Kv(KvMsg::Get { req: get_req, lock: self.lock }));
                    ctx.set_timer(Timer::AcquireTimeout, ms(self.params.acquire_timeout_ms));
                    self.state = LeaseState::Checking {
                        value,
                        req: get_req,
                        attempts,
                        first_sent_mono_ns,
                        get_sent_mono_ns: ctx.mono_ns,
                    };
                    None
                } else {
                    self.back_off(ctx, value, attempts);
                    None
                }
            }
            (
                Msg::Kv(KvMsg::GetReply { req, value: key_value, pttl_ms, token, expires_at_wall_ns, .. }),
                LeaseState::Checking { value, req: current, attempts, get_sent_mono_ns, .. },
            ) if req == current => {
                self.consecutive_timeouts = 0;
                ctx.cancel_timer(Timer::AcquireTimeout);
                if key_value == Some(value) && pttl_ms > 0 {
                    // Our key: one of our requests created it, no earlier than the first was sent.
                    let first_sent_mono_ns = self.acquire_sends.first().map_or(get_sent_mono_ns, |&(_, sent)| sent);
                    let deadline = self.deadline_from_get(
                        first_sent_mono_ns,
                        get_sent_mono_ns,
                        pttl_ms as u64,
                        expires_at_wall_ns,
                    );
                    let live = match deadline {
                        Deadline::Never => true,
                        Deadline::Mono(d) => ctx.mono_ns < d,
                        Deadline::Wall(d) => ctx.wall_ns < d,
                    };
                    if live {
                        return self.hold(ctx, value, token, deadline);
                    }
                }
                // Someone else's key, none, or ours with too little time left: wait and retry.
                self.back_off(ctx, value, attempts);
                None
            }
            (Msg::Kv(KvMsg::ExtendReply { req, ok, expires_at_wall_ns, .. }), LeaseState::Held(_)) => {
                self.extended(ctx, req, ok, expires_at_wall_ns);
                None
            }
            (Msg::Kv(KvMsg::ReleaseReply { req, ok, .. }), LeaseState::Releasing { req: current })
                if req == current =>
            {
                self.consecutive_timeouts = 0;
                ctx.cancel_timer(Timer::ReleaseTimeout);
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(ok) });
                self.state = LeaseState::Free;
                Some(LockEvent::Released)
            }
            _ => None,
        }
    }

    /// The acquire returned: the lock is held until `deadline`.
    fn hold(&mut self, ctx: &mut Ctx, value: u64, token: Option<u64>, deadline: Deadline) -> Option<LockEvent> {
        self.clear_acquire();
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token,
            value,
            valid_until: deadline,
        });
        self.state = LeaseState::Held(Held { value, token, deadline, heartbeat: None, lost: false });
        if let Some(renew_ms) = self.params.renew_ms {
            ctx.set_timer(Timer::Heartbeat, ms(renew_ms));
        }
        Some(LockEvent::Acquired)
    }

    fn back_off(&mut self, ctx: &mut Ctx, value: u64, attempts: u32) {
        let backoff_ns = self.params.retry_backoff.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, backoff_ns);
        self.state = LeaseState::Backoff { value, attempts };
    }

    fn clear_acquire(&mut self) {
        self.acquire_sends.clear();
        self.acquire_value = 0;
        self.acquire_unanswered = false;
    }

    /// The validity of a lease learned by `GET`: bounded by the TTL from the first send of a
    /// request with this value (the key was created no earlier) and by the `PTTL` the server
    /// reported, counted from the send of the `GET` (it was read no earlier); minus the margin.
    fn deadline_from_get(
        &self,
        first_sent_mono_ns: u64,
        get_sent_mono_ns: u64,
        pttl_ms: u64,
        expiry_wall_ns: i64,
    ) -> Deadline {
        let margin_ns = ms(self.params.safety_margin_ms);
        match self.params.validity {
            ValidityBasis::LocalDuration => {
                let by_ttl = first_sent_mono_ns + ms(self.params.ttl_ms);
                let by_pttl = get_sent_mono_ns + ms(pttl_ms);
                Deadline::Mono(by_ttl.min(by_pttl).saturating_sub(margin_ns))
            }
            ValidityBasis::ServerTimestamp => Deadline::Wall(expiry_wall_ns - margin_ns as i64),
            ValidityBasis::None => Deadline::Never,
        }
    }

    fn deadline(&self, sent_mono_ns: u64, server_expiry_wall_ns: i64) -> Deadline {
        let margin_ns = ms(self.params.safety_margin_ms);
        match self.params.validity {
            ValidityBasis::LocalDuration => {
                Deadline::Mono((sent_mono_ns + ms(self.params.ttl_ms)).saturating_sub(margin_ns))
            }
            ValidityBasis::ServerTimestamp => Deadline::Wall(server_expiry_wall_ns - margin_ns as i64),
            ValidityBasis::None => Deadline::Never,
        }
    }

    fn heartbeat(&mut self, ctx: &mut Ctx) {
        self.next_req += 1;
        let req = self.next_req;
        let server = self.server();
        let LeaseState::Held(h) = &mut self.state else { return };
        if h.lost || h.heartbeat.is_some() {
            return; // lost, or the previous heartbeat is still blocked waiting for its reply
        }
        h.heartbeat = Some((req, ctx.mono_ns));
        ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        ctx.send(server, Msg::Kv(KvMsg::Extend { req, lock: self.lock, value: h.value, ttl_ms: self.params.ttl_ms }));
        if let Some(timeout_ms) = self.params.heartbeat_timeout_ms {
            ctx.set_timer(Timer::HeartbeatTimeout, ms(timeout_ms));
        }
    }

    fn extended(&mut self, ctx: &mut Ctx, req: u64, ok: bool, expiry_wall_ns: i64) {
        let LeaseState::Held(h) = &self.state else { return };
        let Some((hb_req, sent_mono_ns)) = h.heartbeat else { return };
        if hb_req != req {
            return;
        }
        self.consecutive_timeouts = 0;
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let deadline = self.deadline(sent_mono_ns, expiry_wall_ns);
        let (lock, session, renew_ms) = (self.lock, self.session, self.params.renew_ms);
        let LeaseState::Held(h) = &mut self.state else { return };
        h.heartbeat = None;
        if ok {
            h.deadline = deadline;
            ctx.record(Observation::ExtendOk { lock, session, valid_until: deadline });
            if let Some(renew_ms) = renew_ms {
                ctx.set_timer(Timer::Heartbeat, ms(renew_ms));
            }
        } else {
            h.lost = true;
            ctx.record(Observation::ExtendFail { lock, session, definite: true });
            ctx.record(Observation::LockLost { lock, session, reason: LostReason::ExtendRefused });
        }
    }

    /// Begin releasing; `Some(Released)` at once if there is nothing to release.
    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let LeaseState::Held(h) = std::mem::replace(&mut self.state, LeaseState::Free) else {
            return Some(LockEvent::Released);
        };
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        let req = self.req();
        let plain_del = self.params.release == ReleaseMode::PlainDel;
        let ttl_ms = self.params.ttl_ms;
        ctx.send(self.server(), Msg::Kv(KvMsg::Release { req, lock: self.lock, value: h.value, plain_del, ttl_ms }));
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.acquire_timeout_ms));
        self.state = LeaseState::Releasing { req };
        None
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for LeaseLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        LeaseLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        LeaseLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        LeaseLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        LeaseLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        LeaseLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        LeaseLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        LeaseLock::on_message(self, ctx, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Counter, Effect};

    const S1: NodeId = 0;

    fn lock() -> LeaseLock {
        LeaseLock::new(
            vec![S1],
            0,
            LeaseClientParams {
                ttl_ms: 5000,
                safety_margin_ms: 52,
                renew_ms: None,
                heartbeat_timeout_ms: Some(200),
                acquire_timeout_ms: 200,
                acquire_retries: 10,
                retry_backoff: MsRange::fixed(50),
                retry: RetryMode::Idempotent,
                release: ReleaseMode::CompareAndDelete,
                validity: ValidityBasis::LocalDuration,
                failover_after_timeouts: 2,
                value_per_client: false,
            },
        )
    }

    /// Run `f` at local time `now_ms`; return the effects.
    fn at(now_ms: u64, f: impl FnOnce(&mut Ctx)) -> Vec<Effect> {
        let mut entropy = Counter(0);
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(1, ms(now_ms), ms(now_ms) as i64, &mut entropy, &mut effects);
        f(&mut ctx);
        effects
    }

    fn sent(effects: &[Effect]) -> Vec<&Msg> {
        effects.iter().filter_map(|e| if let Effect::Send { msg, .. } = e { Some(msg) } else { None }).collect()
    }

    /// The first request's grant is lost; the retry is refused by the client's own key; it reads
    /// the key. Returns the lock in `Checking` and the value it uses.
    fn refused_after_a_lost_grant(l: &mut LeaseLock) -> u64 {
        at(0, |ctx| l.acquire(ctx, SessionId::default(), 0));
        let value = l.acquire_value;
        let e = at(200, |ctx| assert!(l.on_timer(ctx, Timer::AcquireTimeout).is_none()));
        assert!(
            matches!(sent(&e)[..], [Msg::Kv(KvMsg::Acquire { req: 2, value: v, .. })] if *v == value),
            "same value"
        );
        let refusal =
            Msg::Kv(KvMsg::AcquireReply { req: 2, lock: 0, value, granted: false, token: None, expires_at_wall_ns: 0 });
        let e = at(203, |ctx| assert!(l.on_message(ctx, refusal).is_none()));
        assert!(
            matches!(sent(&e)[..], [Msg::Kv(KvMsg::Get { req: 3, .. })]),
            "refused after a timeout: GET, got {e:?}"
        );
        value
    }

    fn get_reply(value: Option<u64>, pttl_ms: i64) -> Msg {
        Msg::Kv(KvMsg::GetReply { req: 3, lock: 0, value, pttl_ms, token: None, expires_at_wall_ns: 0 })
    }

    fn acquired_until(effects: &[Effect]) -> Option<Deadline> {
        effects.iter().find_map(|e| match e {
            Effect::Record(Observation::AcquireOk { valid_until, .. }) => Some(*valid_until),
            _ => None,
        })
    }

    /// Holding by `GET`: validity = min(first send + TTL, GET send + PTTL) − margin.
    #[test]
    fn a_key_holding_my_value_is_held_until_the_earlier_bound() {
        // PTTL is the tighter bound: 203 + 4000 − 52.
        let mut l = lock();
        let value = refused_after_a_lost_grant(&mut l);
        let e = at(206, |ctx| assert_eq!(l.on_message(ctx, get_reply(Some(value), 4000)), Some(LockEvent::Acquired)));
        assert_eq!(acquired_until(&e), Some(Deadline::Mono(ms(4151))));
        // The first send's TTL is the tighter bound: 0 + 5000 − 52.
        let mut l = lock();
        let value = refused_after_a_lost_grant(&mut l);
        let e = at(206, |ctx| assert_eq!(l.on_message(ctx, get_reply(Some(value), 4990)), Some(LockEvent::Acquired)));
        assert_eq!(acquired_until(&e), Some(Deadline::Mono(ms(4948))));
    }

    /// Someone else's key, or none: back off and retry; nothing is acquired.
    #[test]
    fn a_key_holding_another_value_is_not_mine() {
        for reply in [get_reply(Some(u64::MAX), 4000), get_reply(None, -2)] {
            let mut l = lock();
            refused_after_a_lost_grant(&mut l);
            let e = at(206, |ctx| assert!(l.on_message(ctx, reply).is_none()));
            assert_eq!(acquired_until(&e), None);
            assert!(e.contains(&Effect::SetTimer { timer: Timer::AcquireRetry, after_ns: ms(50) }), "{e:?}");
        }
    }

    /// Without an unanswered request a refusal is just a refusal: no `GET`.
    #[test]
    fn a_plain_refusal_backs_off_without_reading() {
        let mut l = lock();
        at(0, |ctx| l.acquire(ctx, SessionId::default(), 0));
        let value = l.acquire_value;
        let refusal =
            Msg::Kv(KvMsg::AcquireReply { req: 1, lock: 0, value, granted: false, token: None, expires_at_wall_ns: 0 });
        let e = at(3, |ctx| assert!(l.on_message(ctx, refusal).is_none()));
        assert!(sent(&e).is_empty(), "{e:?}");
        assert!(matches!(l.state, LeaseState::Backoff { .. }));
    }

    /// A release answer is matched to its request: a late answer to an earlier release (a
    /// duplicate, or one that outlived its time-out) does not end the current one (a
    /// cargo-mutants survivor: the `req == current` guard replaced by `true` went unnoticed).
    #[test]
    fn a_stale_release_reply_does_not_end_the_current_release() {
        let mut l = lock();
        l.state = LeaseState::Releasing { req: 7 };
        let mut event = None;
        at(1000, |ctx| event = l.on_message(ctx, Msg::Kv(KvMsg::ReleaseReply { req: 3, lock: 0, ok: false })));
        assert!(event.is_none() && l.state == LeaseState::Releasing { req: 7 }, "{:?}", l.state);
        at(1001, |ctx| event = l.on_message(ctx, Msg::Kv(KvMsg::ReleaseReply { req: 7, lock: 0, ok: true })));
        assert_eq!((event, &l.state), (Some(LockEvent::Released), &LeaseState::Free));
    }
}
