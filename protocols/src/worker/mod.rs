//! The client node: an application (the *worker*) using a lock library.
//!
//! The worker is the code a user writes around a lock:
//!
//! ```text
//! loop sessions times:
//!     lock.acquire()                       -- the library's business (lease, Redlock, Raft, …)
//!     repeat ops_per_session times:
//!         v = resource.read()
//!         think                            -- a GC pause here is scenario #1
//!         if check_validity_before_write and not lock.is_valid(): abandon
//!         resource.write(v + 1, token)     -- the critical section's effect
//!     lock.release()                       -- also after an abandoned section (a `finally` block)
//!     idle
//! ```
//!
//! The library is a [`LockLibrary`]: it owns its messages and timers and reports back with
//! [`LockEvent`]s. Separating the two keeps each protocol's client short enough to teach from, and
//! lets every protocol run under the same workload.

use crate::history::{Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::msg::ResourceMsg;
use crate::node::{ms, Ctx, Input, LockId, MsRange, NodeId, Timer};
use crate::registry::LockLibrary;

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
    /// Ask the library whether the lease is still valid before each write.
    pub check_validity_before_write: bool,
}

/// Where the worker is in its loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Waiting for the workload driver's `Run`.
    Stopped,
    Acquiring,
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
    Releasing,
    Idle,
    /// Every session done.
    Done,
}

/// A client node: the worker plus its lock library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Client {
    /// One protected resource per lock: lock `i` guards `resources[i]`.
    pub resources: Vec<NodeId>,
    /// The lock of the current session.
    pub lock_id: LockId,
    pub workload: WorkloadParams,
    pub incarnation: u32,
    /// Request ids for the resource (the library numbers its own).
    pub next_req: u64,
    /// Acquire calls made so far in this incarnation (the `n` of [`SessionId`]).
    pub sessions_started: u32,
    pub session: SessionId,
    pub phase: Phase,
    pub lock: LockLibrary,
}

impl Client {
    pub fn new(resources: Vec<NodeId>, workload: WorkloadParams, lock: LockLibrary) -> Self {
        assert!(!resources.is_empty(), "a client needs a resource to protect");
        Client {
            resources,
            lock_id: 0,
            workload,
            incarnation: 0,
            next_req: 0,
            sessions_started: 0,
            session: SessionId::default(),
            phase: Phase::Stopped,
            lock,
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, .. } => {
                self.incarnation = incarnation;
                // A restarted application resumes its workload at once.
                if incarnation > 0 {
                    self.start_session(ctx);
                }
            }
            Input::Command(_) => {
                if self.phase == Phase::Stopped {
                    self.start_session(ctx);
                }
            }
            Input::Timer(timer @ (Timer::Think | Timer::Idle | Timer::ResourceTimeout)) => self.on_timer(ctx, timer),
            Input::Timer(timer) => {
                let event = self.lock.on_timer(ctx, timer);
                self.on_lock_event(ctx, event);
            }
            Input::Message {
                msg:
                    msg @ (Msg::Resource(ResourceMsg::ReadReply { .. }) | Msg::Resource(ResourceMsg::WriteReply { .. })),
                ..
            } => self.on_resource_reply(ctx, msg),
            Input::Message { from, msg } => {
                let event = self.lock.on_message(ctx, from, msg);
                self.on_lock_event(ctx, event);
            }
        }
    }

    fn start_session(&mut self, ctx: &mut Ctx) {
        if self.sessions_started >= self.workload.sessions {
            self.phase = Phase::Done;
            return;
        }
        self.sessions_started += 1;
        self.session = SessionId { client: ctx.me as u32, incarnation: self.incarnation, n: self.sessions_started };
        self.phase = Phase::Acquiring;
        // With several locks, each session picks one (and so the resource it guards) at random.
        if self.resources.len() > 1 {
            self.lock_id = (ctx.random_u64() % self.resources.len() as u64) as LockId;
        }
        self.lock.acquire(ctx, self.session, self.lock_id);
    }

    fn on_lock_event(&mut self, ctx: &mut Ctx, event: Option<LockEvent>) {
        match (event, &self.phase) {
            (Some(LockEvent::Acquired), Phase::Acquiring) => self.read(ctx, 0),
            (Some(LockEvent::AcquireFailed), Phase::Acquiring) | (Some(LockEvent::Released), Phase::Releasing) => {
                self.go_idle(ctx)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) {
        match (timer, self.phase.clone()) {
            (Timer::Think, Phase::Thinking { op, read_value }) => self.write(ctx, op, read_value),
            // The resource did not answer: give up on this critical section.
            (Timer::ResourceTimeout, Phase::Reading { .. } | Phase::Writing { .. }) => self.release(ctx),
            (Timer::Idle, Phase::Idle) => self.start_session(ctx),
            _ => {}
        }
    }

    fn on_resource_reply(&mut self, ctx: &mut Ctx, msg: Msg) {
        match (msg, self.phase.clone()) {
            (Msg::Resource(ResourceMsg::ReadReply { req, value }), Phase::Reading { op, req: current })
                if req == current =>
            {
                ctx.cancel_timer(Timer::ResourceTimeout);
                let think_ns = self.workload.think.draw_ns(ctx);
                ctx.set_timer(Timer::Think, think_ns);
                self.phase = Phase::Thinking { op, read_value: value };
            }
            (Msg::Resource(ResourceMsg::WriteReply { req, .. }), Phase::Writing { op, req: current })
                if req == current =>
            {
                ctx.cancel_timer(Timer::ResourceTimeout);
                if op + 1 < self.workload.ops_per_session {
                    self.read(ctx, op + 1);
                } else {
                    ctx.record(Observation::CsDone { lock: self.lock_id, session: self.session });
                    self.release(ctx);
                }
            }
            _ => {}
        }
    }

    fn read(&mut self, ctx: &mut Ctx, op: u32) {
        self.next_req += 1;
        let req = self.next_req;
        ctx.send(self.resources[self.lock_id as usize], Msg::Resource(ResourceMsg::Read { req }));
        ctx.set_timer(Timer::ResourceTimeout, ms(self.workload.resource_timeout_ms));
        self.phase = Phase::Reading { op, req };
    }

    fn write(&mut self, ctx: &mut Ctx, op: u32, read_value: u64) {
        if self.workload.check_validity_before_write && !self.lock.is_valid(ctx) {
            self.lock.mark_lost(ctx);
            ctx.record(Observation::CsAbort { lock: self.lock_id, session: self.session });
            self.release(ctx);
            return;
        }
        let token = self.lock.token();
        self.next_req += 1;
        let req = self.next_req;
        let value = read_value + 1;
        ctx.record(Observation::WriteSent { lock: self.lock_id, session: self.session, token, value });
        ctx.send(
            self.resources[self.lock_id as usize],
            Msg::Resource(ResourceMsg::Write { req, session: self.session, token, value }),
        );
        ctx.set_timer(Timer::ResourceTimeout, ms(self.workload.resource_timeout_ms));
        self.phase = Phase::Writing { op, req };
    }

    /// Release the lock (also after an abandoned critical section: releasing is the clean-up a
    /// `finally` block does, expired lease or not — which is what makes a plain DEL dangerous).
    fn release(&mut self, ctx: &mut Ctx) {
        ctx.cancel_timer(Timer::ResourceTimeout);
        self.phase = Phase::Releasing;
        let event = self.lock.release(ctx);
        self.on_lock_event(ctx, event);
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
