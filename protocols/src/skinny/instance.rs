//! A skinny instance: acceptor and proposer of the one register `{id, holder}`, and the lock API
//! clients call. See the [module docs](super) for the algorithm and its defects.

use std::collections::VecDeque;

use super::msg::{SkinnyMsg, NO_HOLDER};
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId, Timer};

/// How many times `Acquire`/`Release` retry a failed Phase 1 (`lock.go`: `retries < 3`).
pub const PROPOSE_RETRIES: u32 = 3;

/// Parameters of one instance (skinny's config file: `increment`, `timeout`, `peers`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkinnyParams {
    /// The *other* instances (skinny's `peers`: an instance does not call itself).
    pub peers: Vec<NodeId>,
    /// Added to `promised` before every Phase 1; "must be unique per instance".
    pub increment: u64,
    /// The RPC timeout of one phase (skinny's `timeout`, 500 ms in its example configs).
    pub timeout_ms: u64,
    /// Fix the adoption defect: the proposer sets its own register only once a majority committed
    /// (skinny sets it unconditionally before counting).
    pub fixed: bool,
}

/// What a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Acquire { lock: LockId, holder: u64 },
    Release,
}

/// Where the operation in progress is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Phase 1 in flight: votes so far (`yea` counts this instance), replies still awaited.
    Promise { yea: u32, nay: u32, pending: u32 },
    /// Phase 2 in flight.
    Commit { id: u64, holder: u64, yea: u32, pending: u32 },
    /// Sleeping before retry number `retries` (the mutex is released meanwhile).
    Backoff,
}

/// One client call being served (skinny holds the instance's mutex for its whole duration,
/// except while sleeping between retries).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Op {
    pub client: NodeId,
    pub req: u64,
    pub kind: OpKind,
    pub retries: u32,
    pub phase: Phase,
}

/// A skinny instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkinnyInstance {
    pub params: SkinnyParams,
    /// Highest ID promised (as acceptor) or proposed (as proposer: the same variable).
    pub promised: u64,
    /// The register: last committed ID and holder.
    pub id: u64,
    pub holder: u64,
    /// The client call in progress, if any.
    pub op: Option<Op>,
    /// Requests waiting for the mutex, in arrival order.
    pub waiting: VecDeque<(NodeId, SkinnyMsg)>,
    /// Numbers this instance's phases (matches replies to calls).
    pub round: u64,
}

impl SkinnyInstance {
    pub fn new(params: SkinnyParams) -> Self {
        SkinnyInstance { params, promised: 0, id: 0, holder: NO_HOLDER, op: None, waiting: VecDeque::new(), round: 0 }
    }

    /// `isMajority(n)`: `n > (len(peers)+1)/2`, integer division — written as skinny writes it.
    #[allow(clippy::manual_div_ceil)]
    pub fn is_majority(&self, n: u32) -> bool {
        n as usize > (self.params.peers.len() + 1) / 2
    }

    /// Is the mutex held (a phase in flight)?
    fn locked(&self) -> bool {
        matches!(self.op, Some(Op { phase: Phase::Promise { .. } | Phase::Commit { .. }, .. }))
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            // Nothing is persisted: a restarted instance starts from the pristine register.
            Input::Start { .. } | Input::Command(_) => {}
            Input::Message { from, msg: Msg::Skinny(m) } => self.on_message(ctx, from, m),
            Input::Message { .. } => {}
            Input::Timer(Timer::ProposerTimeout) => self.on_phase_timeout(ctx),
            Input::Timer(Timer::ProposerBackoff) => self.on_backoff_over(ctx),
            Input::Timer(_) => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, m: SkinnyMsg) {
        match m {
            SkinnyMsg::PromiseReply { round, promised, id, holder } if round == self.round => {
                self.on_promise_reply(ctx, promised, id, holder)
            }
            SkinnyMsg::CommitReply { round, committed } if round == self.round => self.on_commit_reply(ctx, committed),
            SkinnyMsg::PromiseReply { .. } | SkinnyMsg::CommitReply { .. } => {} // a call already over
            SkinnyMsg::AcquireReply { .. } | SkinnyMsg::ReleaseReply { .. } => {}
            // Every request handler takes the mutex: it waits while a phase is in flight. Client
            // calls also wait for a call in backoff (a simplification: Go could interleave them).
            SkinnyMsg::Promise { .. } | SkinnyMsg::Commit { .. } if !self.locked() => self.serve(ctx, from, m),
            SkinnyMsg::Acquire { .. } | SkinnyMsg::Release { .. } if self.op.is_none() => self.serve(ctx, from, m),
            _ => self.waiting.push_back((from, m)),
        }
    }

    /// Serve a request that holds the mutex now.
    fn serve(&mut self, ctx: &mut Ctx, from: NodeId, m: SkinnyMsg) {
        match m {
            SkinnyMsg::Promise { round, id } => {
                let (promised, id, holder) = self.promise(id);
                ctx.send(from, Msg::Skinny(SkinnyMsg::PromiseReply { round, promised, id, holder }));
            }
            SkinnyMsg::Commit { round, id, holder } => {
                let committed = self.commit(id, holder);
                ctx.send(from, Msg::Skinny(SkinnyMsg::CommitReply { round, committed }));
            }
            SkinnyMsg::Acquire { req, lock, holder } => self.start_op(
                ctx,
                Op { client: from, req, kind: OpKind::Acquire { lock, holder }, retries: 0, phase: Phase::Backoff },
            ),
            SkinnyMsg::Release { req } => {
                self.start_op(ctx, Op { client: from, req, kind: OpKind::Release, retries: 0, phase: Phase::Backoff })
            }
            _ => {}
        }
    }

    /// Acceptor, Phase 1 (`consensus.go` `Promise`): promise iff `req.ID > promised`; always
    /// attach the previously committed register: `(promised, id, holder)`.
    pub fn promise(&mut self, id: u64) -> (bool, u64, u64) {
        let promised = id > self.promised;
        if promised {
            self.promised = id;
        }
        (promised, self.id, self.holder)
    }

    /// Acceptor, Phase 2 (`consensus.go` `Commit`): accept iff `req.ID >= promised`; answer
    /// `Committed = (req.ID == id)` — also true for a refused commit whose ID happens to equal the
    /// register's (the colliding ballots make that possible).
    pub fn commit(&mut self, id: u64, holder: u64) -> bool {
        if id >= self.promised {
            self.id = id;
            self.holder = holder;
        }
        id == self.id
    }

    fn start_op(&mut self, ctx: &mut Ctx, op: Op) {
        self.op = Some(op);
        self.propose(ctx);
    }

    /// Proposer, Phase 1 (`consensus.go` `propose`): `promised += increment`, ask every peer.
    fn propose(&mut self, ctx: &mut Ctx) {
        self.promised += self.params.increment;
        self.round += 1;
        for &p in &self.params.peers {
            ctx.send(p, Msg::Skinny(SkinnyMsg::Promise { round: self.round, id: self.promised }));
        }
        let pending = self.params.peers.len() as u32;
        self.op.as_mut().expect("an op").phase = Phase::Promise { yea: 1, nay: 0, pending };
        ctx.set_timer(Timer::ProposerTimeout, ms(self.params.timeout_ms));
        self.check_promise_done(ctx);
    }

    fn on_promise_reply(&mut self, ctx: &mut Ctx, promised: bool, id: u64, holder: u64) {
        let Some(Op { phase: Phase::Promise { yea, nay, pending }, .. }) = &mut self.op else { return };
        if promised {
            *yea += 1;
        } else {
            *nay += 1;
        }
        *pending -= 1;
        // Learn the register with the highest ID.
        if id > self.id {
            self.id = id;
            self.holder = holder;
        }
        self.check_promise_done(ctx);
    }

    /// Phase 1 ends once a majority said yea or nay (the rest are cancelled), or all answered.
    fn check_promise_done(&mut self, ctx: &mut Ctx) {
        let Some(Op { phase: Phase::Promise { yea, nay, pending }, .. }) = self.op else { return };
        if self.is_majority(yea) || self.is_majority(nay) || pending == 0 {
            ctx.cancel_timer(Timer::ProposerTimeout);
            self.end_promise(ctx, yea);
        }
    }

    /// After Phase 1: jump to a learned higher ID; with a majority, commit; otherwise retry.
    fn end_promise(&mut self, ctx: &mut Ctx, yea: u32) {
        if self.id > self.promised {
            self.promised = self.id;
        }
        let majority = self.is_majority(yea);
        let holder_now = self.holder;
        let op = self.op.as_mut().expect("an op");
        if majority {
            // Acquire: the requester if the lock is free, else the learned holder. Release: "".
            let holder = match op.kind {
                OpKind::Acquire { holder, .. } if holder_now == NO_HOLDER => holder,
                OpKind::Acquire { .. } => holder_now,
                OpKind::Release => NO_HOLDER,
            };
            self.start_commit(ctx, self.promised, holder);
        } else if op.retries < PROPOSE_RETRIES {
            op.retries += 1;
            op.phase = Phase::Backoff;
            // `backoff := retries * 2ms; jitter := rand.Int63n(1000) µs`.
            let after_ns = ms(2 * op.retries as u64) + ctx.random_between(0, 999) * 1_000;
            ctx.set_timer(Timer::ProposerBackoff, after_ns);
            self.drain(ctx); // the mutex is released while sleeping: peers' phases get served
        } else {
            self.finish(ctx);
        }
    }

    /// Proposer, Phase 2 (`consensus.go` `commit`).
    fn start_commit(&mut self, ctx: &mut Ctx, id: u64, holder: u64) {
        self.round += 1;
        for &p in &self.params.peers {
            ctx.send(p, Msg::Skinny(SkinnyMsg::Commit { round: self.round, id, holder }));
        }
        // The defect: "we just committed our own data. make it count." — before any peer answered.
        if !self.params.fixed {
            self.id = id;
            self.holder = holder;
        }
        let pending = self.params.peers.len() as u32;
        self.op.as_mut().expect("an op").phase = Phase::Commit { id, holder, yea: 1, pending };
        ctx.set_timer(Timer::ProposerTimeout, ms(self.params.timeout_ms));
        self.check_commit_done(ctx);
    }

    fn on_commit_reply(&mut self, ctx: &mut Ctx, committed: bool) {
        let Some(Op { phase: Phase::Commit { yea, pending, .. }, .. }) = &mut self.op else { return };
        if committed {
            *yea += 1;
        }
        *pending -= 1;
        self.check_commit_done(ctx);
    }

    /// Phase 2 is never cancelled: it waits for every peer or the timeout.
    fn check_commit_done(&mut self, ctx: &mut Ctx) {
        if let Some(Op { phase: Phase::Commit { pending: 0, .. }, .. }) = self.op {
            ctx.cancel_timer(Timer::ProposerTimeout);
            self.end_commit(ctx);
        }
    }

    /// The commit's outcome is ignored by `Acquire`/`Release`; the fixed variant adopts the
    /// register only when a majority committed it.
    fn end_commit(&mut self, ctx: &mut Ctx) {
        if let Some(Op { phase: Phase::Commit { id, holder, yea, .. }, .. }) = self.op {
            if self.params.fixed && self.is_majority(yea) && id >= self.promised {
                self.id = id;
                self.holder = holder;
            }
        }
        self.finish(ctx);
    }

    fn on_phase_timeout(&mut self, ctx: &mut Ctx) {
        match self.op {
            // Timed-out calls count as nay; they cannot make a majority of yea.
            Some(Op { phase: Phase::Promise { yea, .. }, .. }) => self.end_promise(ctx, yea),
            Some(Op { phase: Phase::Commit { .. }, .. }) => self.end_commit(ctx),
            _ => {}
        }
    }

    fn on_backoff_over(&mut self, ctx: &mut Ctx) {
        if matches!(self.op, Some(Op { phase: Phase::Backoff, .. })) {
            self.propose(ctx);
        }
    }

    /// Answer the client from the local register, release the mutex, serve who waited.
    fn finish(&mut self, ctx: &mut Ctx) {
        let op = self.op.take().expect("an op");
        match op.kind {
            OpKind::Acquire { lock, holder } => {
                let acquired = self.holder == holder;
                if acquired {
                    ctx.record(Observation::Grant { lock, holder: op.client, value: holder, token: None });
                }
                let reply = SkinnyMsg::AcquireReply { req: op.req, acquired, holder: self.holder };
                ctx.send(op.client, Msg::Skinny(reply));
            }
            OpKind::Release => {
                let reply = SkinnyMsg::ReleaseReply { req: op.req, released: self.holder == NO_HOLDER };
                ctx.send(op.client, Msg::Skinny(reply));
            }
        }
        self.drain(ctx);
    }

    /// Serve waiting requests in order until one takes the mutex for a call (or none is left).
    fn drain(&mut self, ctx: &mut Ctx) {
        let mut kept = VecDeque::new();
        while let Some((from, m)) = self.waiting.pop_front() {
            let client_call = matches!(m, SkinnyMsg::Acquire { .. } | SkinnyMsg::Release { .. });
            if self.locked() || (client_call && self.op.is_some()) {
                kept.push_back((from, m));
            } else {
                self.serve(ctx, from, m);
            }
        }
        self.waiting = kept;
    }
}
