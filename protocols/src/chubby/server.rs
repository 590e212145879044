//! A Chubby server: one replica of a Chubby cell, the master while it holds that role. See the
//! [module docs](super) for the protocol and for what is abstracted.

use std::collections::{BTreeMap, BTreeSet};

use super::msg::{ChubbyDb, ChubbyMsg};
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, MsRange, NodeId, Timer};

/// The master's heartbeat to its replicas is due.
pub const HEARTBEAT_TIMER: Timer = Timer::Named("chubby_heartbeat", 0);
/// The master's one timer for its sessions and locks: the next held KeepAlive to answer, lease to
/// end or lock-delay to end.
pub const WAKE_TIMER: Timer = Timer::Named("chubby_wake", 0);
/// A replica has not heard the master for an election timeout (or a recovery did not finish).
pub const ELECTION_TIMER: Timer = Timer::Named("chubby_election", 0);

/// The largest lock-delay a client may ask for (paper §2.4: "clients may specify any lock-delay up
/// to some bound, currently one minute"; the default is the bound).
pub const MAX_LOCK_DELAY_MS: u64 = 60_000;

/// Parameters of a cell's servers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChubbyParams {
    /// Every server of the cell, in succession order (filled per world): `servers[0]` is the first
    /// master, and a dead master's successor is the next one in this order.
    pub servers: Vec<NodeId>,
    /// How far a KeepAlive reply (and session creation, and a fail-over) extends a session's lease
    /// (paper §2.8: "the default extension is 12s").
    pub lease_ms: u64,
    /// The master holds a KeepAlive until the session's lease ends within this (the paper: "until
    /// the client's previous lease interval is close to expiring"; its exact slack is not
    /// published).
    pub keepalive_reply_before_ms: u64,
    /// The lock-delay after a holder's session ended (0: off). Paper §2.4: one minute by default.
    pub lock_delay_ms: u64,
    /// The master's heartbeat to its replicas (the replicated database's heartbeat).
    pub master_heartbeat_ms: u64,
    /// A replica that has not heard from the master for this long moves to the next in succession.
    pub election_timeout: MsRange,
}

impl ChubbyParams {
    /// The master lease: how long after a quorum acknowledged a heartbeat the master may still
    /// serve. Below the shortest election timeout by one heartbeat, so that the master has stopped
    /// serving before any replica can start a successor (the paper's replicas "promise not to
    /// elect a different master for an interval of a few seconds known as the master lease").
    pub fn master_lease_ns(&self) -> u64 {
        ms(self.election_timeout.min_ms.saturating_sub(self.master_heartbeat_ms))
    }

    fn quorum(&self) -> usize {
        self.servers.len() / 2 + 1
    }
}

/// What this server is doing in the cell.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Following the master it knows (if any).
    Replica,
    /// Starting as the successor: `Recover` sent; the promises (with their databases) so far.
    Recovering { promised: BTreeSet<NodeId>, best: (u64, u64, Box<ChubbyDb>) },
    /// The new master's fail-over: only KeepAlives are served until every session has
    /// acknowledged the fail-over event (or expired).
    FailingOver { waiting: BTreeSet<u64> },
    /// Serving every call.
    Master,
}

/// A blocked `Acquire`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Waiter {
    pub client: NodeId,
    pub req: u64,
    pub session: u64,
    pub lock: LockId,
}

/// A Chubby server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChubbyServer {
    pub params: ChubbyParams,
    /// The highest epoch this server has promised (as a replica) or picked (as master).
    pub epoch: u64,
    /// The master of `epoch` as far as this server knows.
    pub master: Option<NodeId>,
    pub role: Role,
    /// The database: its latest version, written by the master of `db_epoch` as write `seq`.
    pub db: ChubbyDb,
    pub db_epoch: u64,
    pub seq: u64,
    // -- The master's memory (lost with the role). --
    /// Writes up to this `seq` are on a quorum.
    pub committed: u64,
    /// Per replica: the highest `seq` acknowledged and the newest heartbeat `sent_ns` echoed.
    pub acks: BTreeMap<NodeId, (u64, u64)>,
    /// The master may serve until this local instant (its master lease).
    pub master_lease_until_ns: u64,
    /// Replies that report a write, sent once that write (`seq`) is committed.
    pub pending: Vec<(u64, NodeId, ChubbyMsg)>,
    /// Session → the end of its lease on this master's monotonic clock.
    pub leases: BTreeMap<u64, u64>,
    /// Session → the KeepAlive being held: (client, arrival instant, its number).
    pub held: BTreeMap<u64, (NodeId, u64, u64)>,
    /// Blocked acquires, in arrival order.
    pub waiters: Vec<Waiter>,
    /// Locks under lock-delay: lock → the instant it ends.
    pub delay_until: BTreeMap<LockId, u64>,
    /// Calls that arrived during the fail-over, served once it is over.
    pub deferred: Vec<(NodeId, ChubbyMsg)>,
    // -- A replica's memory. --
    /// When this replica last accepted the master's database or heartbeat (local monotonic).
    pub master_heard_ns: u64,
}

impl ChubbyServer {
    pub fn new(params: ChubbyParams) -> Self {
        ChubbyServer {
            params,
            epoch: 0,
            master: None,
            role: Role::Replica,
            db: ChubbyDb::default(),
            db_epoch: 0,
            seq: 0,
            committed: 0,
            acks: BTreeMap::new(),
            master_lease_until_ns: 0,
            pending: Vec::new(),
            leases: BTreeMap::new(),
            held: BTreeMap::new(),
            waiters: Vec::new(),
            delay_until: BTreeMap::new(),
            deferred: Vec::new(),
            master_heard_ns: 0,
        }
    }

    fn is_master(&self) -> bool {
        matches!(self.role, Role::Master | Role::FailingOver { .. })
    }

    /// The server after `s` in succession order.
    fn successor(&self, s: NodeId) -> NodeId {
        let servers = &self.params.servers;
        let i = servers.iter().position(|&x| x == s).unwrap_or(0);
        servers[(i + 1) % servers.len()]
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, .. } => self.start(ctx, incarnation),
            Input::Command(_) => {}
            Input::Message { from, msg: Msg::Chubby(m) } => self.on_message(ctx, from, m),
            Input::Message { .. } => {}
            Input::Timer(HEARTBEAT_TIMER) => self.on_heartbeat(ctx),
            Input::Timer(WAKE_TIMER) => self.on_wake(ctx),
            Input::Timer(ELECTION_TIMER) => self.on_election_timeout(ctx),
            Input::Timer(_) => {}
        }
    }

    /// The first master is `servers[0]` (a documented abstraction of Chubby's Paxos election);
    /// nothing is persisted, so a restarted server rejoins as an empty replica.
    fn start(&mut self, ctx: &mut Ctx, incarnation: u32) {
        let first = self.params.servers[0];
        if incarnation == 0 {
            self.epoch = 1;
            self.master = Some(first);
        }
        if incarnation == 0 && ctx.me == first {
            self.db_epoch = 1;
            self.role = Role::Master;
            // Every replica starts following it: its first lease is granted by the cell's start.
            self.master_lease_until_ns = ctx.mono_ns + self.params.master_lease_ns();
            self.on_heartbeat(ctx);
        } else {
            self.role = Role::Replica;
            self.reset_election_timer(ctx);
        }
    }

    fn reset_election_timer(&mut self, ctx: &mut Ctx) {
        let after_ns = self.params.election_timeout.draw_ns(ctx);
        ctx.set_timer(ELECTION_TIMER, after_ns);
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, m: ChubbyMsg) {
        match m {
            ChubbyMsg::Replicate { epoch, seq, db, sent_ns } => self.on_replicate(ctx, from, epoch, seq, *db, sent_ns),
            ChubbyMsg::ReplicateAck { epoch, seq, sent_ns } => self.on_ack(ctx, from, epoch, seq, sent_ns),
            ChubbyMsg::Recover { epoch } => self.on_recover(ctx, from, epoch),
            ChubbyMsg::RecoverReply { epoch, db_epoch, seq, db } => {
                self.on_recover_reply(ctx, from, epoch, db_epoch, seq, db)
            }
            ChubbyMsg::Stale { epoch, master } if epoch > self.epoch => self.step_down(ctx, epoch, master),
            ChubbyMsg::OpenSession { epoch, .. }
            | ChubbyMsg::KeepAlive { epoch, .. }
            | ChubbyMsg::Acquire { epoch, .. }
            | ChubbyMsg::Release { epoch, .. } => {
                if !self.is_master() || epoch != self.epoch || !self.master_lease_valid(ctx) {
                    // A replica answers with the master it knows; a master rejects another epoch.
                    let master = if self.is_master() { Some(ctx.me) } else { self.master };
                    ctx.send(from, Msg::Chubby(ChubbyMsg::NotMaster { master, epoch: self.epoch }));
                    return;
                }
                match (&self.role, &m) {
                    (Role::FailingOver { .. }, ChubbyMsg::KeepAlive { .. }) | (Role::Master, _) => {
                        self.serve(ctx, from, m)
                    }
                    _ => self.deferred.push((from, m)),
                }
            }
            _ => {}
        }
    }

    /// A cell of one server is its own quorum: its master lease never lapses.
    fn master_lease_valid(&self, ctx: &Ctx) -> bool {
        self.params.servers.len() == 1 || ctx.mono_ns < self.master_lease_until_ns
    }

    // ---------------------------------------------------------------- the client calls (master)

    fn serve(&mut self, ctx: &mut Ctx, from: NodeId, m: ChubbyMsg) {
        let now = ctx.mono_ns;
        match m {
            ChubbyMsg::OpenSession { req, .. } => {
                let session = self.db.next_session + 1;
                self.db.next_session = session;
                self.db.sessions.insert(session, from);
                self.leases.insert(session, now + ms(self.params.lease_ms));
                self.write(ctx);
                let reply =
                    ChubbyMsg::OpenSessionReply { req, epoch: self.epoch, session, lease_ns: ms(self.params.lease_ms) };
                self.reply_after_commit(ctx, from, reply);
            }
            ChubbyMsg::KeepAlive { session, seq, .. } => {
                if !self.db.sessions.contains_key(&session) {
                    ctx.send(from, Msg::Chubby(ChubbyMsg::SessionExpired { session }));
                    return;
                }
                let first_since_failover = match &mut self.role {
                    Role::FailingOver { waiting } => waiting.remove(&session),
                    _ => false,
                };
                if first_since_failover {
                    // The fail-over event: answered at once with the extended lease.
                    let end = self.leases.get(&session).copied().unwrap_or(now);
                    let reply = ChubbyMsg::KeepAliveReply {
                        epoch: self.epoch,
                        session,
                        seq,
                        held_ns: 0,
                        lease_ns: end.saturating_sub(now),
                        failover: true,
                    };
                    ctx.send(from, Msg::Chubby(reply));
                    self.maybe_end_failover(ctx);
                    return;
                }
                self.held.insert(session, (from, now, seq));
            }
            ChubbyMsg::Acquire { req, session, lock, .. } => {
                if !self.db.sessions.contains_key(&session) {
                    ctx.send(from, Msg::Chubby(ChubbyMsg::SessionExpired { session }));
                    return;
                }
                let entry = self.db.locks.get(&lock).cloned().unwrap_or_default();
                if entry.holder == Some(session) {
                    // A repeated call (the reply was lost, or the client re-sent after a fail-over).
                    let reply = ChubbyMsg::AcquireReply { req, session, lock, generation: entry.generation };
                    self.reply_after_commit(ctx, from, reply);
                    return;
                }
                self.waiters.retain(|w| !(w.session == session && w.lock == lock));
                self.waiters.push(Waiter { client: from, req, session, lock });
            }
            ChubbyMsg::Release { req, session, lock, generation, .. } => {
                let held =
                    self.db.locks.get(&lock).is_some_and(|e| e.holder == Some(session) && e.generation == generation);
                let generation_now = self.db.locks.get(&lock).map_or(0, |e| e.generation);
                if held {
                    // A normal release: the lock is free at once (no lock-delay).
                    let entry = self.db.locks.get_mut(&lock).expect("held");
                    entry.holder = None;
                    entry.delayed = false;
                    self.write(ctx);
                    self.reply_after_commit(ctx, from, ChubbyMsg::ReleaseReply { req, ok: true });
                } else if generation > 0 && generation <= generation_now {
                    // A repeated call (re-sent after a fail-over, or its reply lost): the session
                    // is alive, so only its own release can have ended that hold. Answered after
                    // the release's write, like the first answer.
                    self.reply_after_commit(ctx, from, ChubbyMsg::ReleaseReply { req, ok: true });
                } else {
                    ctx.send(from, Msg::Chubby(ChubbyMsg::ReleaseReply { req, ok: false }));
                }
            }
            _ => {}
        }
        self.grant_waiters(ctx);
        self.schedule_wake(ctx);
    }

    /// Grant every free lock that is not under lock-delay to its first waiter whose session lives.
    fn grant_waiters(&mut self, ctx: &mut Ctx) {
        if !matches!(self.role, Role::Master) {
            return;
        }
        let now = ctx.mono_ns;
        let sessions = &self.db.sessions;
        self.waiters.retain(|w| sessions.contains_key(&w.session));
        let mut granted = Vec::new();
        let mut i = 0;
        while i < self.waiters.len() {
            let w = self.waiters[i].clone();
            let entry = self.db.locks.entry(w.lock).or_default();
            let delayed = entry.delayed && self.delay_until.get(&w.lock).is_some_and(|&until| now < until);
            if entry.holder.is_none() && !delayed {
                entry.holder = Some(w.session);
                entry.generation += 1;
                entry.delayed = false;
                self.delay_until.remove(&w.lock);
                granted.push((w.clone(), entry.generation));
                self.waiters.remove(i);
            } else {
                i += 1;
            }
        }
        if granted.is_empty() {
            return;
        }
        self.write(ctx);
        for (w, generation) in granted {
            let reply = ChubbyMsg::AcquireReply { req: w.req, session: w.session, lock: w.lock, generation };
            self.reply_after_commit(ctx, w.client, reply);
        }
    }

    /// A reply that reports the database as it is now: sent once the latest write is committed.
    fn reply_after_commit(&mut self, ctx: &mut Ctx, to: NodeId, reply: ChubbyMsg) {
        if self.seq <= self.committed {
            self.send_reply(ctx, to, reply);
        } else {
            self.pending.push((self.seq, to, reply));
        }
    }

    fn send_reply(&mut self, ctx: &mut Ctx, to: NodeId, reply: ChubbyMsg) {
        if let ChubbyMsg::AcquireReply { lock, session, generation, .. } = &reply {
            ctx.record(Observation::Grant { lock: *lock, holder: to, value: *session, token: Some(*generation) });
        }
        ctx.send(to, Msg::Chubby(reply));
    }

    // ------------------------------------------------------------- leases, lock-delay (master)

    /// The master's one timer: the next held KeepAlive to answer, lease to end or lock-delay to end.
    fn schedule_wake(&mut self, ctx: &mut Ctx) {
        if !self.is_master() {
            return;
        }
        let before = ms(self.params.keepalive_reply_before_ms);
        let replies = self.held.keys().filter_map(|s| self.leases.get(s)).map(|&end| end.saturating_sub(before));
        let ends = self.leases.values().copied();
        let delays = self.delay_until.values().copied();
        if let Some(next) = replies.chain(ends).chain(delays).min() {
            ctx.set_timer(WAKE_TIMER, next.saturating_sub(ctx.mono_ns));
        }
    }

    fn on_wake(&mut self, ctx: &mut Ctx) {
        if !self.is_master() {
            return;
        }
        if !self.master_lease_valid(ctx) {
            let epoch = self.epoch;
            self.step_down(ctx, epoch, None);
            return;
        }
        let now = ctx.mono_ns;
        // Answer the KeepAlives whose session's lease is close to its end: a new lease.
        let before = ms(self.params.keepalive_reply_before_ms);
        let due: Vec<u64> = self
            .held
            .keys()
            .copied()
            .filter(|s| self.leases.get(s).is_some_and(|&end| now + before >= end && now < end))
            .collect();
        for session in due {
            let (client, arrived, seq) = self.held.remove(&session).expect("held");
            self.leases.insert(session, now + ms(self.params.lease_ms));
            let reply = ChubbyMsg::KeepAliveReply {
                epoch: self.epoch,
                session,
                seq,
                held_ns: now - arrived,
                lease_ns: ms(self.params.lease_ms),
                failover: false,
            };
            ctx.send(client, Msg::Chubby(reply));
        }
        // Sessions whose lease ended: over. Their locks are freed under lock-delay.
        let expired: Vec<u64> = self.leases.iter().filter(|(_, &end)| end <= now).map(|(&s, _)| s).collect();
        if !expired.is_empty() {
            for session in &expired {
                self.leases.remove(session);
                self.held.remove(session);
                self.db.sessions.remove(session);
                if let Role::FailingOver { waiting } = &mut self.role {
                    waiting.remove(session);
                }
            }
            let lock_delay_ns = ms(self.params.lock_delay_ms);
            for (lock, entry) in self.db.locks.iter_mut() {
                if entry.holder.is_some_and(|h| expired.contains(&h)) {
                    entry.holder = None;
                    if lock_delay_ns > 0 {
                        entry.delayed = true;
                        self.delay_until.insert(*lock, now + lock_delay_ns);
                    }
                }
            }
            self.write(ctx);
        }
        // Lock-delays that ended.
        let ended: Vec<LockId> = self.delay_until.iter().filter(|(_, &u)| u <= now).map(|(&l, _)| l).collect();
        for lock in ended {
            self.delay_until.remove(&lock);
            if let Some(e) = self.db.locks.get_mut(&lock) {
                if e.delayed && e.holder.is_none() {
                    e.delayed = false;
                    self.write(ctx);
                }
            }
        }
        self.maybe_end_failover(ctx);
        self.grant_waiters(ctx);
        self.schedule_wake(ctx);
    }

    // ------------------------------------------------------- the replicated database (master)

    /// A new version of the database: send it to the replicas.
    fn write(&mut self, ctx: &mut Ctx) {
        self.seq += 1;
        self.db_epoch = self.epoch;
        self.broadcast(ctx);
        self.advance_commit(ctx);
    }

    fn broadcast(&mut self, ctx: &mut Ctx) {
        for &s in &self.params.servers {
            if s != ctx.me {
                let msg = ChubbyMsg::Replicate {
                    epoch: self.epoch,
                    seq: self.seq,
                    db: Box::new(self.db.clone()),
                    sent_ns: ctx.mono_ns,
                };
                ctx.send(s, Msg::Chubby(msg));
            }
        }
    }

    /// The master's heartbeat: the database again (it doubles as the master lease's renewal).
    fn on_heartbeat(&mut self, ctx: &mut Ctx) {
        if !self.is_master() {
            return;
        }
        // (A cell of one server is its own quorum.)
        self.advance_commit(ctx);
        if !self.master_lease_valid(ctx) {
            let epoch = self.epoch;
            self.step_down(ctx, epoch, None);
            return;
        }
        self.broadcast(ctx);
        ctx.set_timer(HEARTBEAT_TIMER, ms(self.params.master_heartbeat_ms));
    }

    fn on_ack(&mut self, ctx: &mut Ctx, from: NodeId, epoch: u64, seq: u64, sent_ns: u64) {
        if epoch != self.epoch || !self.is_master() {
            return;
        }
        let a = self.acks.entry(from).or_insert((0, 0));
        a.0 = a.0.max(seq);
        a.1 = a.1.max(sent_ns);
        self.advance_commit(ctx);
    }

    /// Commit what a quorum has, renew the master lease from the heartbeats a quorum echoed.
    fn advance_commit(&mut self, ctx: &mut Ctx) {
        let q = self.params.quorum();
        let mut seqs: Vec<u64> = self.acks.values().map(|a| a.0).collect();
        seqs.push(self.seq);
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        let mut sents: Vec<u64> = self.acks.values().map(|a| a.1).collect();
        sents.push(ctx.mono_ns);
        sents.sort_unstable_by(|a, b| b.cmp(a));
        if sents.len() >= q {
            let until = sents[q - 1] + self.params.master_lease_ns();
            self.master_lease_until_ns = self.master_lease_until_ns.max(until);
        }
        if seqs.len() >= q && seqs[q - 1] > self.committed {
            self.committed = seqs[q - 1];
            let (ready, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.pending).into_iter().partition(|(s, _, _)| *s <= self.committed);
            self.pending = later;
            for (_, to, reply) in ready {
                self.send_reply(ctx, to, reply);
            }
        }
    }

    // ------------------------------------------------------------------------ replicas

    fn on_replicate(&mut self, ctx: &mut Ctx, from: NodeId, epoch: u64, seq: u64, db: ChubbyDb, sent_ns: u64) {
        if epoch < self.epoch {
            ctx.send(from, Msg::Chubby(ChubbyMsg::Stale { epoch: self.epoch, master: self.master }));
            return;
        }
        if epoch > self.epoch || !matches!(self.role, Role::Replica) {
            self.step_down(ctx, epoch, Some(from));
        }
        self.epoch = epoch;
        self.master = Some(from);
        self.master_heard_ns = ctx.mono_ns;
        if (epoch, seq) > (self.db_epoch, self.seq) {
            self.db = db;
            self.db_epoch = epoch;
            self.seq = seq;
        }
        self.reset_election_timer(ctx);
        ctx.send(from, Msg::Chubby(ChubbyMsg::ReplicateAck { epoch, seq: self.seq, sent_ns }));
    }

    /// Give up any master role: the master's memory is lost.
    fn step_down(&mut self, ctx: &mut Ctx, epoch: u64, master: Option<NodeId>) {
        self.epoch = self.epoch.max(epoch);
        self.master = master;
        self.role = Role::Replica;
        self.acks.clear();
        self.pending.clear();
        self.leases.clear();
        self.held.clear();
        self.waiters.clear();
        self.delay_until.clear();
        self.deferred.clear();
        self.committed = 0;
        ctx.cancel_timer(HEARTBEAT_TIMER);
        ctx.cancel_timer(WAKE_TIMER);
        self.reset_election_timer(ctx);
    }

    /// No word from the master for an election timeout: the succession moves on. The successor of
    /// the master this server knows becomes master; everyone else assumes it did, and moves on
    /// again if it does not hear from it within another timeout.
    fn on_election_timeout(&mut self, ctx: &mut Ctx) {
        if self.is_master() {
            return;
        }
        let from = match (&self.role, self.master) {
            // A recovery that did not reach a quorum: the next one in succession tries.
            (Role::Recovering { .. }, _) => ctx.me,
            (_, Some(m)) => m,
            (_, None) => *self.params.servers.last().expect("a cell has servers"),
        };
        let next = self.successor(from);
        if next == ctx.me && !matches!(self.role, Role::Recovering { .. }) {
            // Pick a new epoch; ask every replica for its promise and database.
            self.epoch += 1;
            self.master = Some(ctx.me);
            let mut promised = BTreeSet::new();
            promised.insert(ctx.me);
            let best = (self.db_epoch, self.seq, Box::new(self.db.clone()));
            self.role = Role::Recovering { promised, best };
            for &s in &self.params.servers {
                if s != ctx.me {
                    ctx.send(s, Msg::Chubby(ChubbyMsg::Recover { epoch: self.epoch }));
                }
            }
        } else {
            self.role = Role::Replica;
            self.master = Some(next);
        }
        self.reset_election_timer(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx, from: NodeId, epoch: u64) {
        if epoch <= self.epoch {
            ctx.send(from, Msg::Chubby(ChubbyMsg::Stale { epoch: self.epoch, master: self.master }));
            return;
        }
        // The master lease: a replica that heard the master within a master lease does not
        // promise a successor (the old master may still be serving on the strength of its ack).
        let heard_recently = ctx.mono_ns < self.master_heard_ns + self.params.master_lease_ns();
        if matches!(self.role, Role::Replica) && self.master.is_some_and(|m| m != from) && heard_recently {
            return;
        }
        if !matches!(self.role, Role::Replica) {
            self.step_down(ctx, epoch, Some(from));
        }
        self.epoch = epoch;
        self.master = Some(from);
        self.reset_election_timer(ctx);
        let reply =
            ChubbyMsg::RecoverReply { epoch, db_epoch: self.db_epoch, seq: self.seq, db: Box::new(self.db.clone()) };
        ctx.send(from, Msg::Chubby(reply));
    }

    fn on_recover_reply(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        epoch: u64,
        db_epoch: u64,
        seq: u64,
        db: Box<ChubbyDb>,
    ) {
        let quorum = self.params.quorum();
        let Role::Recovering { promised, best } = &mut self.role else { return };
        if epoch != self.epoch {
            return;
        }
        promised.insert(from);
        if (db_epoch, seq) > (best.0, best.1) {
            *best = (db_epoch, seq, db);
        }
        if promised.len() < quorum {
            return;
        }
        // A quorum promised: the newest database among them holds every committed write.
        let (_, best_seq, best_db) = best.clone();
        self.db = *best_db;
        self.seq = best_seq;
        self.acks.clear();
        self.committed = 0;
        self.pending.clear();
        self.master_lease_until_ns = ctx.mono_ns + self.params.master_lease_ns();
        // Paper §2.9: extend every session's lease to the maximum the previous master may have
        // granted — it granted at most `lease_ms` from an instant before now.
        let now = ctx.mono_ns;
        self.leases = self.db.sessions.keys().map(|&s| (s, now + ms(self.params.lease_ms))).collect();
        // Locks under lock-delay: the full delay again, from now (conservative).
        let lock_delay_ns = ms(self.params.lock_delay_ms);
        self.delay_until =
            self.db.locks.iter().filter(|(_, e)| e.delayed).map(|(&l, _)| (l, now + lock_delay_ns)).collect();
        let waiting: BTreeSet<u64> = self.db.sessions.keys().copied().collect();
        self.role = Role::FailingOver { waiting };
        ctx.cancel_timer(ELECTION_TIMER);
        // The recovered database, written again under the new epoch.
        self.write(ctx);
        ctx.set_timer(HEARTBEAT_TIMER, ms(self.params.master_heartbeat_ms));
        self.maybe_end_failover(ctx);
        self.schedule_wake(ctx);
    }

    /// Every session acknowledged the fail-over event (or expired): serve everything again.
    fn maybe_end_failover(&mut self, ctx: &mut Ctx) {
        if !matches!(&self.role, Role::FailingOver { waiting } if waiting.is_empty()) {
            return;
        }
        self.role = Role::Master;
        for (from, m) in std::mem::take(&mut self.deferred) {
            self.serve(ctx, from, m);
        }
        self.grant_waiters(ctx);
        self.schedule_wake(ctx);
    }
}
