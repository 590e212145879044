//! The client library of the Raft lock service (etcd's `clientv3/concurrency` `Session` +
//! `Mutex`, written as a sans-IO state machine).
//!
//! ```text
//! acquire(lock):
//!     if no live lease: LeaseGrant(ttl) → lease          -- a session; kept alive in the background
//!     Acquire(lease, lock, request_id) → Acquired{rev}   -- our key is the first: we hold it
//!                                      | Waiting{rev}    -- wait for a watch event on the
//!                                                           predecessor, then read the lock's state
//!                                                           again (Status, a linearizable read)
//!     the token is rev, the key's creation revision
//! release: Release(lease, lock, rev)
//! ```
//!
//! * **Finding the leader.** Requests go to the peer believed to lead. A `NotLeader` answer names
//!   the leader if the peer knows it (redirect); a timeout moves on to the next peer. A request
//!   (or keep-alive) redirected to a newly named leader is re-sent at once; otherwise it waits
//!   `retry_backoff` first, as etcd's clientv3 waits `retryConnWait` (500 ms) before retrying
//!   after an error (`clientv3/lease.go`). Re-sent at once, a keep-alive would circle a peer that
//!   knows no leader and one still naming it, with no time passing.
//! * **Retries.** With `retry = "idempotent"` a retried request carries the same client request id,
//!   so an acquire whose answer was lost is not executed twice (thesis §6.3, scenario #9). With
//!   `retry = "naive"` a timed-out acquire starts afresh with a new lease and a new request id: the
//!   orphaned key of the first attempt blocks the lock until its lease expires.
//! * **Waiting.** A watch event is a hint, never a grant: on it (or every `wait_recheck_ms`
//!   without one, since watches live on the leader and the network may drop them) the waiter reads
//!   the lock's state with a linearizable read. An event that overtakes the `Waiting` answer it
//!   follows is kept and acted on when that answer arrives.
//! * **Keep-alive and validity.** The lease is kept alive every `renew_ms`. Its local validity is
//!   measured on the client's own monotonic clock from when the successful request was *sent*
//!   (`ttl − safety_margin`), as with the lease library; a `LeaseNotFound` answer means the lease
//!   (and every key it owned) is gone. `validity = "none"` does not track it — the etcd `Mutex`
//!   does not, which is what Jepsen's etcd 3.4.3 `lock` tests exercised (#1, #10).

use super::msg::RaftMsg;
use super::msg::{LeaseId, RaftAnswer, RaftOp, RaftOpKind};
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::{LockEvent, RetryMode, ValidityBasis};
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// Parameters of the Raft lock client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftClientParams {
    pub ttl_ms: u64,
    /// Keep-alive period.
    pub renew_ms: u64,
    /// How long one request waits for its answer.
    pub request_timeout_ms: u64,
    /// Further requests after the first, per acquire call.
    pub acquire_retries: u32,
    /// Wait after a refusal or a redirect without a leader.
    pub retry_backoff: MsRange,
    pub retry: RetryMode,
    pub safety_margin_ms: u64,
    /// `LocalDuration` or `None` (`ServerTimestamp` is treated as `LocalDuration`).
    pub validity: ValidityBasis,
    /// While waiting, read the lock's state again this often even without a watch event (watches
    /// live on the leader and die with it).
    pub wait_recheck_ms: u64,
    /// Bound to one peer (`servers[leader]`, set at build): every request goes there, whoever
    /// leads; that peer forwards it (`RaftParams::forward_to_leader`). Jepsen binds each client
    /// to one node. Redirects and timeouts do not move the client.
    pub home_peer: bool,
}

/// The request an acquire call is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Grant,
    Acquire,
    Check { revision: u64 },
}

/// The client's lease (its session).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientLease {
    pub id: LeaseId,
    /// Valid until (local monotonic).
    pub deadline_mono_ns: u64,
    /// The outstanding keep-alive: (req, sent at local monotonic).
    pub keepalive: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftLockState {
    Free,
    /// A request of the acquire call is outstanding.
    Trying {
        step: Step,
        request_id: u64,
        req: u64,
        attempts: u32,
        first_sent_mono_ns: u64,
    },
    Backoff {
        step: Step,
        request_id: u64,
        attempts: u32,
    },
    /// Our key waits behind its predecessor.
    Waiting {
        request_id: u64,
        revision: u64,
        attempts: u32,
    },
    Held {
        lease: LeaseId,
        revision: u64,
        lost: bool,
    },
    Releasing {
        lease: LeaseId,
        revision: u64,
        req: u64,
        attempts: u32,
    },
}

/// The Raft lock library of one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftLock {
    pub servers: Vec<NodeId>,
    /// Index in `servers` of the peer believed to lead.
    pub leader: usize,
    pub lock: LockId,
    pub params: RaftClientParams,
    pub next_req: u64,
    pub next_request_id: u64,
    pub session: SessionId,
    pub lease: Option<ClientLease>,
    pub state: RaftLockState,
    /// A watch event that arrived before the answer saying we wait (the network reorders): the
    /// revision it was for. Without it the wake-up is lost and the waiter sleeps until its next
    /// re-check (`wait_recheck_ms`) although it holds the lock — found in `raft-14-herd`, seed 123.
    pub early_watch: Option<u64>,
}

impl RaftLock {
    pub fn new(servers: Vec<NodeId>, lock: LockId, params: RaftClientParams) -> Self {
        assert!(!servers.is_empty(), "a Raft client needs a peer");
        RaftLock {
            servers,
            leader: 0,
            lock,
            params,
            next_req: 0,
            next_request_id: 0,
            session: SessionId::default(),
            lease: None,
            state: RaftLockState::Free,
            early_watch: None,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn request_id(&mut self) -> u64 {
        self.next_request_id += 1;
        self.next_request_id
    }

    fn server(&self) -> NodeId {
        self.servers[self.leader]
    }

    fn next_server(&mut self) {
        if !self.params.home_peer {
            self.leader = (self.leader + 1) % self.servers.len();
        }
    }

    fn redirect(&mut self, hint: Option<NodeId>) -> bool {
        if self.params.home_peer {
            return false;
        }
        match hint.and_then(|h| self.servers.iter().position(|&s| s == h)) {
            Some(i) if i != self.leader => {
                self.leader = i;
                true
            }
            _ => {
                self.next_server();
                false
            }
        }
    }

    fn deadline(&self) -> Deadline {
        match (self.params.validity, &self.lease) {
            (ValidityBasis::None, _) => Deadline::Never,
            (_, Some(l)) => Deadline::Mono(l.deadline_mono_ns),
            (_, None) => Deadline::Mono(0),
        }
    }

    pub fn token(&self) -> Option<u64> {
        match self.state {
            RaftLockState::Held { revision, .. } => Some(revision),
            _ => None,
        }
    }

    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match self.state {
            RaftLockState::Held { lost: false, .. } => match self.deadline() {
                Deadline::Never => true,
                Deadline::Mono(d) => ctx.mono_ns < d,
                Deadline::Wall(d) => ctx.wall_ns < d,
            },
            _ => false,
        }
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let RaftLockState::Held { lost, .. } = &mut self.state {
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

    fn lease_live(&self, ctx: &Ctx) -> bool {
        self.lease.as_ref().is_some_and(|l| ctx.mono_ns < l.deadline_mono_ns)
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        self.early_watch = None;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.start(ctx, 1);
    }

    /// Begin (or begin again) from the lease: grant one if there is no live lease.
    fn start(&mut self, ctx: &mut Ctx, attempts: u32) {
        let step = if self.lease_live(ctx) { Step::Acquire } else { Step::Grant };
        if step == Step::Grant {
            self.drop_lease(ctx);
        }
        let request_id = self.request_id();
        self.send_step(ctx, step, request_id, attempts, None);
    }

    fn drop_lease(&mut self, ctx: &mut Ctx) {
        self.lease = None;
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
    }

    fn send_step(&mut self, ctx: &mut Ctx, step: Step, request_id: u64, attempts: u32, first_sent: Option<u64>) {
        let lease = self.lease.as_ref().map_or(0, |l| l.id);
        let op = match step {
            Step::Grant => RaftOp::LeaseGrant { request_id, ttl_ms: self.params.ttl_ms },
            Step::Acquire => RaftOp::Acquire { request_id, lease, lock: self.lock },
            Step::Check { revision } => RaftOp::Status { lease, lock: self.lock, revision },
        };
        let req = self.req();
        ctx.send(self.server(), Msg::Raft(RaftMsg::RaftRequest { req, op }));
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.request_timeout_ms));
        let first_sent_mono_ns = first_sent.unwrap_or(ctx.mono_ns);
        self.state = RaftLockState::Trying { step, request_id, req, attempts, first_sent_mono_ns };
    }

    /// A retry of the current step, or failure once the retries are spent.
    fn retry(
        &mut self,
        ctx: &mut Ctx,
        step: Step,
        request_id: u64,
        attempts: u32,
        first_sent: Option<u64>,
    ) -> Option<LockEvent> {
        if attempts > self.params.acquire_retries {
            ctx.cancel_timer(Timer::AcquireTimeout);
            // Never `definite`: this service never answers "the lock is held" (an acquire waits
            // for it instead), so giving up means the leader could not be reached (`NotLeader`
            // answers, timeouts), and an earlier attempt that timed out may have created our key.
            // Its effect is unknown — what etcd's `Mutex.Lock` returns on a deadline, and what
            // Jepsen records as `:info`. Recorded as a definite `Fail`, it made a correct
            // service look non-linearizable (`check raft --faults crash`: an acquire of a free
            // lock "failed" while the leader was down).
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite: false });
            self.state = RaftLockState::Free;
            return Some(LockEvent::AcquireFailed);
        }
        match (self.params.retry, step) {
            // A new attempt: a new lease, a new request id. The orphan key blocks until its lease
            // (which nobody keeps alive any more) expires.
            (RetryMode::Naive, Step::Acquire) => {
                self.drop_lease(ctx);
                let request_id = self.request_id();
                self.send_step(ctx, Step::Grant, request_id, attempts + 1, None);
            }
            (RetryMode::Naive, Step::Grant) => {
                let request_id = self.request_id();
                self.send_step(ctx, Step::Grant, request_id, attempts + 1, None);
            }
            _ => self.send_step(ctx, step, request_id, attempts + 1, first_sent),
        }
        None
    }

    fn backoff(&mut self, ctx: &mut Ctx, step: Step, request_id: u64, attempts: u32) {
        ctx.cancel_timer(Timer::AcquireTimeout);
        let delay_ns = self.params.retry_backoff.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, delay_ns);
        self.state = RaftLockState::Backoff { step, request_id, attempts };
    }

    fn held(&mut self, ctx: &mut Ctx, revision: u64) -> Option<LockEvent> {
        ctx.cancel_timer(Timer::AcquireTimeout);
        ctx.cancel_timer(Timer::AcquireRetry);
        let lease = self.lease.as_ref().map_or(0, |l| l.id);
        let valid_until = self.deadline();
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token: Some(revision),
            value: lease,
            valid_until,
        });
        self.state = RaftLockState::Held { lease, revision, lost: false };
        Some(LockEvent::Acquired)
    }

    fn wait(&mut self, ctx: &mut Ctx, request_id: u64, revision: u64, attempts: u32) {
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.wait_recheck_ms));
        self.state = RaftLockState::Waiting { request_id, revision, attempts };
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match (timer, self.state.clone()) {
            (Timer::AcquireTimeout, RaftLockState::Trying { step, request_id, attempts, first_sent_mono_ns, .. }) => {
                self.next_server();
                self.retry(ctx, step, request_id, attempts, Some(first_sent_mono_ns))
            }
            (Timer::AcquireTimeout, RaftLockState::Waiting { request_id, revision, attempts }) => {
                self.send_step(ctx, Step::Check { revision }, request_id, attempts, None);
                None
            }
            (Timer::AcquireRetry, RaftLockState::Backoff { step, request_id, attempts }) => {
                self.retry(ctx, step, request_id, attempts, None)
            }
            (Timer::ReleaseTimeout, RaftLockState::Releasing { lease, .. }) => {
                // Give the session up: revoke it (best effort); unkept, it expires within a TTL.
                self.next_server();
                let req = self.req();
                ctx.send(self.server(), Msg::Raft(RaftMsg::RaftRequest { req, op: RaftOp::Revoke { lease } }));
                self.drop_lease(ctx);
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
                self.state = RaftLockState::Free;
                Some(LockEvent::Released)
            }
            (Timer::Heartbeat, _) => {
                self.keepalive(ctx);
                None
            }
            (Timer::HeartbeatTimeout, _) => {
                let held = matches!(self.state, RaftLockState::Held { .. });
                if let Some(l) = &mut self.lease {
                    if l.keepalive.take().is_some() {
                        if !self.params.home_peer {
                            self.leader = (self.leader + 1) % self.servers.len();
                        }
                        if held {
                            ctx.record(Observation::ExtendFail {
                                lock: self.lock,
                                session: self.session,
                                definite: false,
                            });
                        }
                        ctx.set_timer(Timer::Heartbeat, 0);
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn keepalive(&mut self, ctx: &mut Ctx) {
        let req = self.req();
        let server = self.server();
        let held = matches!(self.state, RaftLockState::Held { lost: false, .. });
        let Some(l) = &mut self.lease else { return };
        if l.keepalive.is_some() {
            return;
        }
        l.keepalive = Some((req, ctx.mono_ns));
        let lease = l.id;
        if held {
            ctx.record(Observation::ExtendInvoke { lock: self.lock, session: self.session });
        }
        ctx.send(server, Msg::Raft(RaftMsg::RaftRequest { req, op: RaftOp::KeepAlive { lease } }));
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.request_timeout_ms));
    }

    fn on_keepalive_reply(&mut self, ctx: &mut Ctx, from: NodeId, req: u64, answer: RaftAnswer) {
        let Some(l) = &mut self.lease else { return };
        let Some((ka_req, sent_mono_ns)) = l.keepalive else { return };
        if ka_req != req {
            return;
        }
        l.keepalive = None;
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let (lock, session) = (self.lock, self.session);
        let held = matches!(self.state, RaftLockState::Held { lost: false, .. });
        match answer {
            RaftAnswer::KeepAliveOk => {
                let deadline = (sent_mono_ns + ms(self.params.ttl_ms)).saturating_sub(ms(self.params.safety_margin_ms));
                l.deadline_mono_ns = l.deadline_mono_ns.max(deadline);
                let changed_leader = self.servers[self.leader] != from;
                if let Some(i) = self.servers.iter().position(|&s| s == from).filter(|_| !self.params.home_peer) {
                    self.leader = i;
                }
                if held {
                    let valid_until = self.deadline();
                    ctx.record(Observation::ExtendOk { lock, session, valid_until });
                }
                ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                // Watches live on the leader: after a change of leader, read the lock's state again.
                if changed_leader {
                    if let RaftLockState::Waiting { .. } = self.state {
                        ctx.set_timer(Timer::AcquireTimeout, 0);
                    }
                }
            }
            RaftAnswer::LeaseNotFound => {
                self.drop_lease(ctx);
                if held {
                    ctx.record(Observation::ExtendFail { lock, session, definite: true });
                    ctx.record(Observation::LockLost { lock, session, reason: LostReason::ExtendRefused });
                    if let RaftLockState::Held { lost, .. } = &mut self.state {
                        *lost = true;
                    }
                }
            }
            RaftAnswer::NotLeader { leader } => {
                // A newly named leader is asked at once. Otherwise (no leader known, or the
                // hint names the peer just asked) the keep-alive waits before it is sent again,
                // as etcd's clientv3 waits `retryConnWait` (500 ms) after a keep-alive error
                // (clientv3/lease.go), and as this client's lock requests back off: re-sent at
                // once, it would circle the followers with no time passing while there is no
                // leader.
                let delay_ns = if self.redirect(leader) { 0 } else { self.params.retry_backoff.draw_ns(ctx) };
                ctx.set_timer(Timer::Heartbeat, delay_ns);
            }
            _ => {}
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        if !self.servers.contains(&from) {
            return None;
        }
        match msg {
            Msg::Raft(RaftMsg::RaftReply { req, op: RaftOpKind::KeepAlive, answer }) => {
                self.on_keepalive_reply(ctx, from, req, answer);
                None
            }
            Msg::Raft(RaftMsg::RaftWatch { lock, revision }) => {
                match self.state {
                    RaftLockState::Waiting { request_id, revision: mine, attempts }
                        if lock == self.lock && revision == mine =>
                    {
                        self.send_step(ctx, Step::Check { revision }, request_id, attempts, None);
                    }
                    // Our key exists and we have not yet heard that it waits: keep the event.
                    RaftLockState::Trying { step: Step::Acquire | Step::Check { .. }, .. } if lock == self.lock => {
                        self.early_watch = Some(revision);
                    }
                    _ => {}
                }
                None
            }
            Msg::Raft(RaftMsg::RaftReply { req, answer, .. }) => match self.state.clone() {
                RaftLockState::Trying { step, request_id, req: current, attempts, first_sent_mono_ns }
                    if req == current =>
                {
                    self.on_answer(ctx, from, step, request_id, attempts, first_sent_mono_ns, answer)
                }
                RaftLockState::Releasing { lease, revision, req: current, attempts } if req == current => {
                    match answer {
                        RaftAnswer::Released { ok } => {
                            ctx.cancel_timer(Timer::ReleaseTimeout);
                            ctx.record(Observation::ReleaseDone {
                                lock: self.lock,
                                session: self.session,
                                ok: Some(ok),
                            });
                            self.state = RaftLockState::Free;
                            Some(LockEvent::Released)
                        }
                        RaftAnswer::NotLeader { leader } if attempts < 3 => {
                            self.redirect(leader);
                            self.send_release(ctx, lease, revision, attempts + 1);
                            None
                        }
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_answer(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        step: Step,
        request_id: u64,
        attempts: u32,
        first_sent_mono_ns: u64,
        answer: RaftAnswer,
    ) -> Option<LockEvent> {
        match answer {
            RaftAnswer::NotLeader { leader } => {
                if self.redirect(leader) {
                    self.retry(ctx, step, request_id, attempts, Some(first_sent_mono_ns))
                } else {
                    self.backoff(ctx, step, request_id, attempts);
                    None
                }
            }
            RaftAnswer::LeaseGranted { lease, ttl_ms } => {
                if let Some(i) = self.servers.iter().position(|&s| s == from).filter(|_| !self.params.home_peer) {
                    self.leader = i;
                }
                // Validity counts from the first request of this grant: the earliest the leader
                // could have started the TTL.
                let deadline_mono_ns =
                    (first_sent_mono_ns + ms(ttl_ms)).saturating_sub(ms(self.params.safety_margin_ms));
                self.lease = Some(ClientLease { id: lease, deadline_mono_ns, keepalive: None });
                ctx.set_timer(Timer::Heartbeat, ms(self.params.renew_ms));
                let request_id = self.request_id();
                self.send_step(ctx, Step::Acquire, request_id, attempts, None);
                None
            }
            RaftAnswer::Acquired { revision } => {
                if self.params.validity != ValidityBasis::None && !self.lease_live(ctx) {
                    // Granted, but our lease ran out meanwhile: start over rather than believe.
                    self.start(ctx, attempts + 1);
                    return None;
                }
                self.held(ctx, revision)
            }
            RaftAnswer::Waiting { revision } => {
                ctx.cancel_timer(Timer::AcquireTimeout);
                self.wait(ctx, request_id, revision, attempts);
                if self.early_watch.take() == Some(revision) {
                    // The predecessor went while our answer was in flight: read again now.
                    self.send_step(ctx, Step::Check { revision }, request_id, attempts, None);
                }
                None
            }
            RaftAnswer::LeaseNotFound => {
                // The lease (and our key with it) expired: a new session.
                self.drop_lease(ctx);
                ctx.cancel_timer(Timer::AcquireTimeout);
                if attempts > self.params.acquire_retries {
                    return self.retry(ctx, step, request_id, attempts, None);
                }
                self.start(ctx, attempts + 1);
                None
            }
            _ => None,
        }
    }

    fn send_release(&mut self, ctx: &mut Ctx, lease: LeaseId, revision: u64, attempts: u32) {
        let req = self.req();
        ctx.send(
            self.server(),
            Msg::Raft(RaftMsg::RaftRequest { req, op: RaftOp::Release { lease, lock: self.lock, revision } }),
        );
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.request_timeout_ms));
        self.state = RaftLockState::Releasing { lease, revision, req, attempts };
    }

    /// Begin releasing; `Some(Released)` at once if there is nothing to release.
    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        let RaftLockState::Held { lease, revision, .. } = self.state else {
            ctx.cancel_timer(Timer::AcquireTimeout);
            ctx.cancel_timer(Timer::AcquireRetry);
            self.state = RaftLockState::Free;
            return Some(LockEvent::Released);
        };
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        self.send_release(ctx, lease, revision, 0);
        None
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for RaftLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        RaftLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        RaftLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        RaftLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        RaftLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        RaftLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        RaftLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        RaftLock::on_message(self, ctx, from, msg)
    }
}
