//! The lease client, as the Lockable service implies it, and the workload that drives it.
//!
//! # The lock library
//!
//! * **Acquire** sends `SET NX PX` with a random value and waits `acquire_timeout_ms` for the
//!   answer. A refusal is retried after a random back-off; a timeout is retried at once. After a
//!   lost response the retry either reuses the value (**idempotent**: the server recognises its own
//!   holder and answers yes) or draws a new one (**naive**: the orphaned key blocks everybody,
//!   the client included, until it expires — scenario #9).
//! * **Validity.** The client cannot know when the server will expire its key; it can only bound
//!   it. With `validity = "local_duration"` it measures the TTL on its *own monotonic clock from
//!   when the request was sent*, minus a safety margin for drift (the DynamoDB lock client's rule).
//!   With `"server_timestamp"` it trusts the server's absolute expiry and compares it with its own
//!   wall clock — wrong as soon as the clocks disagree (scenario #12). With `"none"` it believes
//!   it holds the lock until it releases it.
//! * **Heartbeat.** Every `renew_ms` the client extends the lease. A heartbeat without a timeout
//!   (`heartbeat_timeout_ms` unset) waits forever for a lost reply, like a thread blocked in an
//!   HTTP request with no timeout: the lease silently runs out (scenario #11).
//! * **Release** deletes the key by compare-and-delete, or by a plain `DEL` (scenario #8).
//!
//! # The workload (the application using the library)
//!
//! `acquire → (read counter → think → write counter + 1) × ops_per_session → release → idle`,
//! repeated `sessions` times. With `check_validity_before_write` the worker asks the library
//! whether the lease is still valid before each write and abandons the critical section if not.
//! Even then a pause *between* the check and the write (or a slow write packet) makes the write
//! late: only fencing at the resource stops it (Kleppmann 2016).

use serde::Deserialize;

use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::msg::{LockId, Msg};
use crate::node::{ms, Ctx, Input, NodeId, Timer};

/// A duration drawn uniformly from `[min_ms, max_ms]` for each use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsRange {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl MsRange {
    pub const fn fixed(value_ms: u64) -> Self {
        MsRange { min_ms: value_ms, max_ms: value_ms }
    }
    /// A draw, in nanoseconds.
    pub fn draw_ns(&self, ctx: &mut Ctx) -> u64 {
        ms(ctx.random_between(self.min_ms, self.max_ms))
    }
}

/// How a retry after a timed-out acquire chooses its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RetryMode {
    /// Reuse the value: the server recognises the retry.
    #[default]
    Idempotent,
    /// Draw a new value for every request.
    Naive,
}

/// How the lock is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseMode {
    #[default]
    CompareAndDelete,
    PlainDel,
}

/// How the client bounds the validity of its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValidityBasis {
    /// TTL minus the safety margin, on the local monotonic clock, from when the request was sent.
    #[default]
    LocalDuration,
    /// The server's absolute expiry timestamp minus the margin, on the local wall clock.
    ServerTimestamp,
    /// No deadline: the client believes it holds the lock until it releases it.
    None,
}

/// Parameters of the lock library.
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
    pub check_validity_before_write: bool,
}

/// Parameters of the workload loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadParams {
    /// Lock sessions per client (acquire calls that succeed or give up).
    pub sessions: u32,
    /// Read-think-write cycles per session.
    pub ops_per_session: u32,
    pub think: MsRange,
    pub idle: MsRange,
    /// How long to wait for the resource before giving up on an operation.
    pub resource_timeout_ms: u64,
}

/// Where the client is in its workload loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Waiting for the workload driver's `Run`.
    Stopped,
    /// An acquire request is outstanding. `first_sent_mono_ns` is when the first request of this
    /// attempt left (the conservative start for validity).
    Acquiring {
        value: u64,
        req: u64,
        attempts: u32,
        first_sent_mono_ns: u64,
    },
    /// Backing off after a refusal.
    Backoff {
        value: u64,
        attempts: u32,
    },
    Reading {
        op: u32,
        req: u64,
    },
    Thinking {
        op: u32,
        read_value: u64,
    },
    Writing {
        op: u32,
        req: u64,
    },
    Releasing {
        req: u64,
    },
    Idle,
    /// Every session done.
    Done,
}

/// A lease the client holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Held {
    pub session: SessionId,
    pub value: u64,
    pub token: Option<u64>,
    pub deadline: Deadline,
    /// The outstanding heartbeat request and when it was sent (local monotonic).
    pub heartbeat: Option<(u64, u64)>,
    /// The library learned it lost the lock.
    pub lost: bool,
}

/// A client node: the lock library plus the workload that uses it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseClient {
    pub server: NodeId,
    pub resource: NodeId,
    pub lock: LockId,
    pub params: LeaseClientParams,
    pub workload: WorkloadParams,
    pub incarnation: u32,
    pub next_req: u64,
    /// Acquire calls made so far in this incarnation (the `n` of [`SessionId`]).
    pub sessions_started: u32,
    pub session: SessionId,
    pub phase: Phase,
    pub held: Option<Held>,
}

impl LeaseClient {
    pub fn new(
        server: NodeId,
        resource: NodeId,
        lock: LockId,
        params: LeaseClientParams,
        workload: WorkloadParams,
    ) -> Self {
        LeaseClient {
            server,
            resource,
            lock,
            params,
            workload,
            incarnation: 0,
            next_req: 0,
            sessions_started: 0,
            session: SessionId::default(),
            phase: Phase::Stopped,
            held: None,
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// Is the lease valid now, by the library's own reckoning?
    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match &self.held {
            None => false,
            Some(h) if h.lost => false,
            Some(h) => match h.deadline {
                Deadline::Never => true,
                Deadline::Mono(d) => ctx.mono_ns < d,
                Deadline::Wall(d) => ctx.wall_ns < d,
            },
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, .. } => {
                self.incarnation = incarnation;
                // A restarted application resumes its workload at once.
                if incarnation > 0 {
                    self.start_acquire(ctx);
                }
            }
            Input::Command(_) => {
                if self.phase == Phase::Stopped {
                    self.start_acquire(ctx);
                }
            }
            Input::Timer(t) => self.on_timer(ctx, t),
            Input::Message { msg, .. } => self.on_message(ctx, msg),
        }
    }

    fn start_acquire(&mut self, ctx: &mut Ctx) {
        if self.sessions_started >= self.workload.sessions {
            self.phase = Phase::Done;
            return;
        }
        self.sessions_started += 1;
        self.session = SessionId { client: ctx.me as u32, incarnation: self.incarnation, n: self.sessions_started };
        ctx.record(Observation::AcquireInvoke { lock: self.lock, session: self.session });
        let value = ctx.random_u64();
        self.send_acquire(ctx, value, 1, None);
    }

    fn send_acquire(&mut self, ctx: &mut Ctx, value: u64, attempts: u32, first_sent_mono_ns: Option<u64>) {
        let req = self.req();
        ctx.send(self.server, Msg::Acquire { req, lock: self.lock, value, ttl_ms: self.params.ttl_ms });
        ctx.set_timer(Timer::AcquireTimeout, ms(self.params.acquire_timeout_ms));
        let first_sent_mono_ns = first_sent_mono_ns.unwrap_or(ctx.mono_ns);
        self.phase = Phase::Acquiring { value, req, attempts, first_sent_mono_ns };
    }

    /// Retry the acquire (after a timeout or a back-off), or give up when retries are spent.
    fn retry_acquire(&mut self, ctx: &mut Ctx, value: u64, attempts: u32, first_sent: Option<u64>, definite: bool) {
        if attempts > self.params.acquire_retries {
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite });
            self.go_idle(ctx);
            return;
        }
        let value = match self.params.retry {
            RetryMode::Idempotent => value,
            RetryMode::Naive => ctx.random_u64(),
        };
        // A new value is a new attempt: its validity clock starts afresh.
        let first_sent = if self.params.retry == RetryMode::Naive { None } else { first_sent };
        self.send_acquire(ctx, value, attempts + 1, first_sent);
    }

    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) {
        match (timer, self.phase.clone()) {
            (Timer::AcquireTimeout, Phase::Acquiring { value, attempts, first_sent_mono_ns, .. }) => {
                self.retry_acquire(ctx, value, attempts, Some(first_sent_mono_ns), false);
            }
            (Timer::AcquireRetry, Phase::Backoff { value, attempts }) => {
                self.retry_acquire(ctx, value, attempts, None, true);
            }
            (Timer::Think, Phase::Thinking { op, read_value }) => self.write(ctx, op, read_value),
            (Timer::ResourceTimeout, Phase::Reading { .. } | Phase::Writing { .. }) => {
                // The resource did not answer: give up on this critical section.
                self.release(ctx);
            }
            (Timer::ReleaseTimeout, Phase::Releasing { .. }) => {
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
                self.go_idle(ctx);
            }
            (Timer::Idle, Phase::Idle) => self.start_acquire(ctx),
            (Timer::Heartbeat, _) => self.heartbeat(ctx),
            (Timer::HeartbeatTimeout, _) => {
                if let Some(h) = &mut self.held {
                    if h.heartbeat.take().is_some() {
                        ctx.record(Observation::ExtendFail { lock: self.lock, session: h.session, definite: false });
                        ctx.set_timer(Timer::Heartbeat, 0);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) {
        match (msg, self.phase.clone()) {
            (
                Msg::AcquireReply { req, value: reply_value, granted, token, expires_at_wall_ns, .. },
                Phase::Acquiring { value, req: current, attempts, first_sent_mono_ns },
            ) => {
                // The current request's answer, or (idempotent) an earlier request's for our value.
                let ours = req == current || (self.params.retry == RetryMode::Idempotent && reply_value == value);
                if !ours {
                    return;
                }
                ctx.cancel_timer(Timer::AcquireTimeout);
                if granted {
                    self.acquired(ctx, value, token, first_sent_mono_ns, expires_at_wall_ns);
                } else {
                    let backoff_ns = self.params.retry_backoff.draw_ns(ctx);
                    ctx.set_timer(Timer::AcquireRetry, backoff_ns);
                    self.phase = Phase::Backoff { value, attempts };
                }
            }
            (Msg::ExtendReply { req, ok, expires_at_wall_ns, .. }, _) => {
                self.extended(ctx, req, ok, expires_at_wall_ns)
            }
            (Msg::ReadReply { req, value }, Phase::Reading { op, req: current }) if req == current => {
                ctx.cancel_timer(Timer::ResourceTimeout);
                let think_ns = self.workload.think.draw_ns(ctx);
                ctx.set_timer(Timer::Think, think_ns);
                self.phase = Phase::Thinking { op, read_value: value };
            }
            (Msg::WriteReply { req, .. }, Phase::Writing { op, req: current }) if req == current => {
                ctx.cancel_timer(Timer::ResourceTimeout);
                if op + 1 < self.workload.ops_per_session {
                    self.read(ctx, op + 1);
                } else {
                    ctx.record(Observation::CsDone { lock: self.lock, session: self.session });
                    self.release(ctx);
                }
            }
            (Msg::ReleaseReply { req, ok, .. }, Phase::Releasing { req: current }) if req == current => {
                ctx.cancel_timer(Timer::ReleaseTimeout);
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(ok) });
                self.go_idle(ctx);
            }
            _ => {}
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

    fn acquired(&mut self, ctx: &mut Ctx, value: u64, token: Option<u64>, sent_mono_ns: u64, expiry_wall_ns: i64) {
        let deadline = self.deadline(sent_mono_ns, expiry_wall_ns);
        ctx.record(Observation::AcquireOk {
            lock: self.lock,
            session: self.session,
            token,
            value,
            valid_until: deadline,
        });
        self.held = Some(Held { session: self.session, value, token, deadline, heartbeat: None, lost: false });
        if let Some(renew_ms) = self.params.renew_ms {
            ctx.set_timer(Timer::Heartbeat, ms(renew_ms));
        }
        self.read(ctx, 0);
    }

    fn heartbeat(&mut self, ctx: &mut Ctx) {
        let Some(h) = &mut self.held else { return };
        if h.lost || h.heartbeat.is_some() {
            return; // lost, or the previous heartbeat is still blocked waiting for its reply
        }
        self.next_req += 1;
        let req = self.next_req;
        h.heartbeat = Some((req, ctx.mono_ns));
        ctx.record(Observation::ExtendInvoke { lock: self.lock, session: h.session });
        ctx.send(self.server, Msg::Extend { req, lock: self.lock, value: h.value, ttl_ms: self.params.ttl_ms });
        if let Some(timeout_ms) = self.params.heartbeat_timeout_ms {
            ctx.set_timer(Timer::HeartbeatTimeout, ms(timeout_ms));
        }
    }

    fn extended(&mut self, ctx: &mut Ctx, req: u64, ok: bool, expiry_wall_ns: i64) {
        let Some(h) = &self.held else { return };
        let Some((hb_req, sent_mono_ns)) = h.heartbeat else { return };
        if hb_req != req {
            return;
        }
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let deadline = self.deadline(sent_mono_ns, expiry_wall_ns);
        let lock = self.lock;
        let renew_ms = self.params.renew_ms;
        let h = self.held.as_mut().expect("checked above");
        h.heartbeat = None;
        if ok {
            h.deadline = deadline;
            ctx.record(Observation::ExtendOk { lock, session: h.session, valid_until: deadline });
            if let Some(renew_ms) = renew_ms {
                ctx.set_timer(Timer::Heartbeat, ms(renew_ms));
            }
        } else {
            h.lost = true;
            ctx.record(Observation::ExtendFail { lock, session: h.session, definite: true });
            ctx.record(Observation::LockLost { lock, session: h.session, reason: LostReason::ExtendRefused });
        }
    }

    fn read(&mut self, ctx: &mut Ctx, op: u32) {
        let req = self.req();
        ctx.send(self.resource, Msg::Read { req });
        ctx.set_timer(Timer::ResourceTimeout, ms(self.workload.resource_timeout_ms));
        self.phase = Phase::Reading { op, req };
    }

    fn write(&mut self, ctx: &mut Ctx, op: u32, read_value: u64) {
        if self.params.check_validity_before_write && !self.is_valid(ctx) {
            if let Some(h) = &mut self.held {
                if !h.lost {
                    h.lost = true;
                    ctx.record(Observation::LockLost {
                        lock: self.lock,
                        session: h.session,
                        reason: LostReason::DeadlineExpired,
                    });
                }
            }
            ctx.record(Observation::CsAbort { lock: self.lock, session: self.session });
            self.release(ctx);
            return;
        }
        let token = self.held.as_ref().and_then(|h| h.token);
        let req = self.req();
        let value = read_value + 1;
        ctx.record(Observation::WriteSent { lock: self.lock, session: self.session, token, value });
        ctx.send(self.resource, Msg::Write { req, session: self.session, token, value });
        ctx.set_timer(Timer::ResourceTimeout, ms(self.workload.resource_timeout_ms));
        self.phase = Phase::Writing { op, req };
    }

    /// Release the lock (also after an abandoned critical section: releasing is the clean-up a
    /// `finally` block does, expired lease or not — which is what makes a plain DEL dangerous).
    fn release(&mut self, ctx: &mut Ctx) {
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        ctx.cancel_timer(Timer::ResourceTimeout);
        let Some(h) = self.held.take() else {
            self.go_idle(ctx);
            return;
        };
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: h.session });
        let req = self.req();
        let plain_del = self.params.release == ReleaseMode::PlainDel;
        ctx.send(self.server, Msg::Release { req, lock: self.lock, value: h.value, plain_del });
        ctx.set_timer(Timer::ReleaseTimeout, ms(self.params.acquire_timeout_ms));
        self.phase = Phase::Releasing { req };
    }

    fn go_idle(&mut self, ctx: &mut Ctx) {
        if self.sessions_started >= self.workload.sessions {
            self.phase = Phase::Done;
            return;
        }
        let idle_ns = self.workload.idle.draw_ns(ctx);
        ctx.set_timer(Timer::Idle, idle_ns);
        self.phase = Phase::Idle;
    }
}
