//! A ZooKeeper server of the ensemble: its replica of the data tree, Zab's broadcast phase (the
//! leader orders writes, followers log and acknowledge them, the leader commits on a quorum), the
//! leader's session tracker, and the client connections it serves (reads answered locally, watches
//! fired when it applies a delete). See the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};

use super::msg::{Child, NodeName, Txn, TxnKind, ZkMsg, ZkOp, ZkResult, ZkSessionId, NO_SESSION};
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId, Timer};

/// The server's session tracker tick (the leader expires sessions, followers report touches).
pub const SESSION_TICK: Timer = Timer::Named("zk_session_tick", 0);

/// Parameters of one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZkServerParams {
    /// Every server of the ensemble in order; `servers[0]` leads (no failover, see the module docs).
    pub servers: Vec<NodeId>,
    /// ZooKeeper's `tickTime` (default 2000 ms): the session tracker's expiry granularity; the
    /// leader checks for expired sessions every tick and followers report touches every half tick.
    pub tick_ms: u64,
}

/// One lock node (`/_locknode_`) and its children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockDir {
    /// The parent's `cversion`: bumped by every child create and delete; a new sequential child
    /// is named with its value before the bump.
    pub cversion: u64,
    pub children: BTreeMap<u64, Child>,
}

/// A session in the replicated state: its timeout and (bookkeeping for the checkers' grant
/// records, not ZooKeeper state) the client node that opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionInfo {
    pub timeout_ms: u64,
    pub client: NodeId,
}

/// The replicated data tree (only what the lock recipe uses) and the open sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZkTree {
    pub sessions: BTreeMap<ZkSessionId, SessionInfo>,
    pub locks: BTreeMap<LockId, LockDir>,
    /// The zxid of the last applied transaction.
    pub last_zxid: u64,
}

/// What applying one transaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The answer to the request (for `createSession`: none, the session id is the zxid).
    pub answer: Option<ZkResult>,
    /// Nodes deleted (watches on them fire).
    pub deleted: Vec<(LockId, u64)>,
    /// The session `closeSession` closed.
    pub closed: Option<ZkSessionId>,
    /// Lock nodes whose children changed (child watches fire).
    pub changed: Vec<LockId>,
}

impl ZkTree {
    /// The lowest child of `lock`: the holder, per the recipe.
    pub fn lowest(&self, lock: LockId) -> Option<Child> {
        self.locks.get(&lock).and_then(|d| d.children.values().next().copied())
    }

    /// Apply transaction `zxid` (in zxid order, the same on every replica).
    pub fn apply(&mut self, zxid: u64, txn: &Txn) -> Applied {
        self.last_zxid = zxid;
        let mut out = Applied::default();
        match txn.kind {
            TxnKind::CreateSession { timeout_ms } => {
                let client = txn.origin.map_or(0, |o| o.1);
                self.sessions.insert(zxid, SessionInfo { timeout_ms, client });
            }
            TxnKind::CloseSession { session } => {
                if self.sessions.remove(&session).is_some() {
                    // The session's ephemeral nodes go with it.
                    for (&lock, dir) in self.locks.iter_mut() {
                        let mine: Vec<u64> =
                            dir.children.values().filter(|c| c.owner == session).map(|c| c.seq).collect();
                        for seq in mine {
                            dir.children.remove(&seq);
                            dir.cversion += 1;
                            out.deleted.push((lock, seq));
                        }
                    }
                    out.closed = Some(session);
                    out.changed = out.deleted.iter().map(|&(lock, _)| lock).collect();
                    out.changed.dedup();
                }
            }
            TxnKind::Create { session, lock, name } => {
                out.answer = Some(if self.sessions.contains_key(&session) {
                    let dir = self.locks.entry(lock).or_default();
                    let seq = dir.cversion;
                    dir.cversion += 1;
                    dir.children.insert(seq, Child { name, seq, czxid: zxid, owner: session });
                    out.changed.push(lock);
                    ZkResult::Created { seq, czxid: zxid }
                } else {
                    ZkResult::SessionExpired
                });
            }
            TxnKind::Delete { session, lock, seq } => {
                out.answer = Some(if !self.sessions.contains_key(&session) {
                    ZkResult::SessionExpired
                } else if let Some(dir) = self.locks.get_mut(&lock).filter(|d| d.children.contains_key(&seq)) {
                    dir.children.remove(&seq);
                    dir.cversion += 1;
                    out.deleted.push((lock, seq));
                    out.changed.push(lock);
                    ZkResult::Deleted
                } else {
                    ZkResult::NoNode
                });
            }
        }
        out
    }
}

/// A client's connection to this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conn {
    pub conn: u32,
    pub session: ZkSessionId,
    /// Messages sent on this connection so far.
    pub cseq: u64,
}

/// A ZooKeeper server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZkServer {
    pub params: ZkServerParams,
    /// This server's replica.
    pub tree: ZkTree,
    /// Logged proposals not yet applied (leader and followers).
    pub log: BTreeMap<u64, Txn>,
    /// Leader: the last zxid proposed, and who acknowledged each outstanding proposal.
    pub last_proposed: u64,
    pub acks: BTreeMap<u64, BTreeSet<NodeId>>,
    /// Leader's session tracker: each session's expiry on the leader's monotonic clock.
    pub expiry_ns: BTreeMap<ZkSessionId, u64>,
    /// Leader: sessions whose `closeSession` is proposed.
    pub closing: BTreeSet<ZkSessionId>,
    /// Follower: the highest zxid the leader said is committed.
    pub commit_seen: u64,
    /// Follower: sessions its clients touched since its last report to the leader.
    pub touched: BTreeSet<ZkSessionId>,
    pub conns: BTreeMap<NodeId, Conn>,
    /// One-shot data watches set by `exists(…, true)`: node → clients.
    pub watches: BTreeMap<(LockId, u64), BTreeSet<NodeId>>,
    /// One-shot child watches set by `getChildren(…, true)`: lock node → clients.
    pub child_watches: BTreeMap<LockId, BTreeSet<NodeId>>,
}

impl ZkServer {
    pub fn new(params: ZkServerParams) -> Self {
        ZkServer {
            params,
            tree: ZkTree::default(),
            log: BTreeMap::new(),
            last_proposed: 0,
            acks: BTreeMap::new(),
            expiry_ns: BTreeMap::new(),
            closing: BTreeSet::new(),
            commit_seen: 0,
            touched: BTreeSet::new(),
            conns: BTreeMap::new(),
            watches: BTreeMap::new(),
            child_watches: BTreeMap::new(),
        }
    }

    fn leader(&self) -> NodeId {
        self.params.servers[0]
    }

    fn is_leader(&self, ctx: &Ctx) -> bool {
        ctx.me == self.leader()
    }

    fn followers(&self, ctx: &Ctx) -> Vec<NodeId> {
        self.params.servers.iter().copied().filter(|&s| s != ctx.me).collect()
    }

    /// The tick timer's period: the leader's session check every tick, followers' touch reports
    /// every half tick (ZooKeeper's leader pings learners twice a tick; their answers carry the
    /// touched sessions).
    fn tick_ns(&self, ctx: &Ctx) -> u64 {
        if self.is_leader(ctx) {
            ms(self.params.tick_ms)
        } else {
            ms(self.params.tick_ms).div_ceil(2)
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            // Nothing survives a restart (see the module docs: servers do not crash in the
            // scenarios; Zab's recovery is not modelled).
            Input::Start { .. } => ctx.set_timer(SESSION_TICK, self.tick_ns(ctx)),
            Input::Command(_) => {}
            Input::Timer(SESSION_TICK) => {
                self.on_tick(ctx);
                ctx.set_timer(SESSION_TICK, self.tick_ns(ctx));
            }
            Input::Timer(_) => {}
            Input::Message { from, msg: Msg::Zk(m) } => self.on_message(ctx, from, *m),
            Input::Message { .. } => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, m: ZkMsg) {
        match m {
            ZkMsg::Connect { conn, session, timeout_ms } => self.on_connect(ctx, from, conn, session, timeout_ms),
            ZkMsg::Request { conn, xid, session, op } => self.on_request(ctx, from, conn, xid, session, op),
            ZkMsg::Ping { conn, session } => {
                if !self.current(from, conn) {
                    return;
                }
                if self.tree.sessions.contains_key(&session) {
                    self.touch(ctx, session);
                    self.send_on(ctx, from, |conn, cseq| ZkMsg::PingReply { conn, cseq });
                } else {
                    self.expire_conn(ctx, from);
                }
            }
            ZkMsg::Forward { txn } if self.is_leader(ctx) => self.propose(ctx, txn),
            ZkMsg::Proposal { zxid, txn } if from == self.leader() => {
                // Log it (ZooKeeper syncs the log before acknowledging), then acknowledge.
                self.log.insert(zxid, txn);
                ctx.send(from, Msg::Zk(Box::new(ZkMsg::Ack { zxid })));
                self.apply_committed(ctx);
            }
            ZkMsg::Ack { zxid } if self.is_leader(ctx) => {
                if let Some(acks) = self.acks.get_mut(&zxid) {
                    acks.insert(from);
                }
                self.try_commit(ctx);
            }
            ZkMsg::Commit { zxid } if from == self.leader() => {
                self.commit_seen = self.commit_seen.max(zxid);
                self.apply_committed(ctx);
            }
            ZkMsg::Touch { sessions } if self.is_leader(ctx) => {
                for s in sessions {
                    self.touch(ctx, s);
                }
            }
            _ => {}
        }
    }

    /// Follower: apply, strictly in zxid order, every logged proposal up to the last commit.
    /// Zab runs over FIFO channels (TCP), so a follower sees PROPOSAL n before COMMIT n and both
    /// in zxid order; the simulated network may reorder, and this loop restores that order.
    fn apply_committed(&mut self, ctx: &mut Ctx) {
        loop {
            let next = self.tree.last_zxid + 1;
            if next > self.commit_seen || !self.log.contains_key(&next) {
                return;
            }
            let txn = self.log.remove(&next).expect("logged");
            self.apply(ctx, next, &txn);
        }
    }

    /// Is `conn` the client's current connection to this server?
    fn current(&self, client: NodeId, conn: u32) -> bool {
        self.conns.get(&client).is_some_and(|c| c.conn == conn)
    }

    /// Send on the client's connection, numbering the message.
    fn send_on(&mut self, ctx: &mut Ctx, client: NodeId, make: impl FnOnce(u32, u64) -> ZkMsg) {
        if let Some(c) = self.conns.get_mut(&client) {
            c.cseq += 1;
            let msg = make(c.conn, c.cseq);
            ctx.send(client, Msg::Zk(Box::new(msg)));
        }
    }

    /// The session of this connection is gone: tell the client and close the connection.
    fn expire_conn(&mut self, ctx: &mut Ctx, client: NodeId) {
        self.send_on(ctx, client, |conn, cseq| ZkMsg::Expired { conn, cseq });
        self.conns.remove(&client);
    }

    fn on_connect(&mut self, ctx: &mut Ctx, client: NodeId, conn: u32, session: ZkSessionId, timeout_ms: u64) {
        self.conns.insert(client, Conn { conn, session: NO_SESSION, cseq: 0 });
        if session == NO_SESSION {
            let txn = Txn { kind: TxnKind::CreateSession { timeout_ms }, origin: Some((ctx.me, client, conn, 0)) };
            self.submit(ctx, txn);
        } else if self.tree.sessions.contains_key(&session) {
            // ZooKeeper revalidates a moved session with the leader; here this replica answers.
            self.conns.get_mut(&client).expect("inserted").session = session;
            self.touch(ctx, session);
            self.send_on(ctx, client, |conn, cseq| ZkMsg::ConnectReply { conn, cseq, session });
        } else {
            // "Session expired": the client learns it only now, on reconnecting.
            self.send_on(ctx, client, |conn, cseq| ZkMsg::ConnectReply { conn, cseq, session: NO_SESSION });
            self.conns.remove(&client);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx, client: NodeId, conn: u32, xid: u64, session: ZkSessionId, op: ZkOp) {
        if !self.current(client, conn) {
            return;
        }
        if !self.tree.sessions.contains_key(&session) {
            self.expire_conn(ctx, client);
            return;
        }
        self.touch(ctx, session);
        let origin = Some((ctx.me, client, conn, xid));
        let result = match op {
            ZkOp::Create { lock, name } => {
                return self.submit(ctx, Txn { kind: TxnKind::Create { session, lock, name }, origin });
            }
            ZkOp::Delete { lock, seq } => {
                return self.submit(ctx, Txn { kind: TxnKind::Delete { session, lock, seq }, origin });
            }
            // Reads are answered from this server's replica, without the leader.
            ZkOp::GetChildren { lock, watch } => {
                if watch {
                    self.child_watches.entry(lock).or_default().insert(client);
                }
                ZkResult::Children(
                    self.tree.locks.get(&lock).map(|d| d.children.values().copied().collect()).unwrap_or_default(),
                )
            }
            ZkOp::Exists { lock, seq, watch } => {
                let czxid = self.tree.locks.get(&lock).and_then(|d| d.children.get(&seq)).map(|c| c.czxid);
                if watch && czxid.is_some() {
                    self.watches.entry((lock, seq)).or_default().insert(client);
                }
                ZkResult::Exists(czxid)
            }
        };
        self.send_on(ctx, client, |conn, cseq| ZkMsg::Reply { conn, cseq, xid, result });
    }

    /// A write goes to the leader.
    fn submit(&mut self, ctx: &mut Ctx, txn: Txn) {
        if self.is_leader(ctx) {
            self.propose(ctx, txn);
        } else {
            ctx.send(self.leader(), Msg::Zk(Box::new(ZkMsg::Forward { txn })));
        }
    }

    /// Leader: assign the next zxid, log, send the proposal to every follower.
    fn propose(&mut self, ctx: &mut Ctx, txn: Txn) {
        self.last_proposed += 1;
        let zxid = self.last_proposed;
        for f in self.followers(ctx) {
            ctx.send(f, Msg::Zk(Box::new(ZkMsg::Proposal { zxid, txn: txn.clone() })));
        }
        self.log.insert(zxid, txn);
        self.acks.insert(zxid, BTreeSet::from([ctx.me]));
        self.try_commit(ctx);
    }

    /// Leader: commit, in zxid order, every proposal a quorum (the leader included) logged.
    fn try_commit(&mut self, ctx: &mut Ctx) {
        let quorum = self.params.servers.len() / 2 + 1;
        loop {
            let next = self.tree.last_zxid + 1;
            if self.acks.get(&next).is_none_or(|a| a.len() < quorum) {
                return;
            }
            self.acks.remove(&next);
            for f in self.followers(ctx) {
                ctx.send(f, Msg::Zk(Box::new(ZkMsg::Commit { zxid: next })));
            }
            let txn = self.log.remove(&next).expect("proposed");
            self.apply(ctx, next, &txn);
        }
    }

    /// Apply a committed transaction to this replica; answer the client if it asked here; fire
    /// watches; close the connections of a closed session.
    fn apply(&mut self, ctx: &mut Ctx, zxid: u64, txn: &Txn) {
        let before: BTreeMap<LockId, Option<Child>> =
            self.tree.locks.keys().map(|&l| (l, self.tree.lowest(l))).collect();
        let out = self.tree.apply(zxid, txn);
        if self.is_leader(ctx) {
            self.leader_applied(ctx, zxid, txn, &before);
        }
        if let Some((server, client, conn, xid)) = txn.origin {
            if server == ctx.me && self.current(client, conn) {
                match (&txn.kind, out.answer) {
                    (TxnKind::CreateSession { .. }, _) => {
                        self.conns.get_mut(&client).expect("current").session = zxid;
                        self.send_on(ctx, client, |conn, cseq| ZkMsg::ConnectReply { conn, cseq, session: zxid });
                    }
                    (_, Some(result)) => {
                        self.send_on(ctx, client, |conn, cseq| ZkMsg::Reply { conn, cseq, xid, result })
                    }
                    _ => {}
                }
            }
        }
        for (lock, seq) in out.deleted {
            for client in self.watches.remove(&(lock, seq)).unwrap_or_default() {
                self.send_on(ctx, client, |conn, cseq| ZkMsg::Watch { conn, cseq, lock, seq });
            }
        }
        for lock in out.changed {
            for client in self.child_watches.remove(&lock).unwrap_or_default() {
                self.send_on(ctx, client, |conn, cseq| ZkMsg::ChildWatch { conn, cseq, lock });
            }
        }
        if let Some(session) = out.closed {
            let victims: Vec<NodeId> =
                self.conns.iter().filter(|(_, c)| c.session == session).map(|(&n, _)| n).collect();
            for client in victims {
                self.expire_conn(ctx, client);
            }
        }
    }

    /// Leader: track sessions, and record a grant whenever a lock's lowest child changed.
    fn leader_applied(&mut self, ctx: &mut Ctx, zxid: u64, txn: &Txn, before: &BTreeMap<LockId, Option<Child>>) {
        match txn.kind {
            TxnKind::CreateSession { .. } => self.touch(ctx, zxid),
            TxnKind::CloseSession { session } => {
                self.expiry_ns.remove(&session);
                self.closing.remove(&session);
            }
            _ => {}
        }
        for (&lock, dir) in &self.tree.locks {
            let now = dir.children.values().next().copied();
            if let Some(child) = now {
                if before.get(&lock).copied().flatten() != Some(child) {
                    let holder = self.tree.sessions.get(&child.owner).map_or(0, |s| s.client);
                    ctx.record(Observation::Grant { lock, holder, value: child.seq, token: Some(child.czxid) });
                }
            }
        }
    }

    /// A session showed signs of life: the leader pushes its expiry to the next tick boundary after
    /// `now + timeout` (`SessionTrackerImpl.touchSession`, `roundToNextInterval`); a follower
    /// notes it for its next report.
    fn touch(&mut self, ctx: &mut Ctx, session: ZkSessionId) {
        if !self.is_leader(ctx) {
            self.touched.insert(session);
            return;
        }
        let Some(info) = self.tree.sessions.get(&session) else { return };
        if self.closing.contains(&session) {
            return;
        }
        let tick = ms(self.params.tick_ms).max(1);
        let expiry = (ctx.mono_ns + ms(info.timeout_ms)) / tick * tick + tick;
        let e = self.expiry_ns.entry(session).or_insert(0);
        *e = (*e).max(expiry);
    }

    fn on_tick(&mut self, ctx: &mut Ctx) {
        if self.is_leader(ctx) {
            // The session tracker: every session past its expiry is closed through the log.
            let expired: Vec<ZkSessionId> = self
                .expiry_ns
                .iter()
                .filter(|(s, &e)| e <= ctx.mono_ns && !self.closing.contains(s))
                .map(|(&s, _)| s)
                .collect();
            for session in expired {
                self.closing.insert(session);
                self.propose(ctx, Txn { kind: TxnKind::CloseSession { session }, origin: None });
            }
        } else if !self.touched.is_empty() {
            let sessions: Vec<ZkSessionId> = std::mem::take(&mut self.touched).into_iter().collect();
            ctx.send(self.leader(), Msg::Zk(Box::new(ZkMsg::Touch { sessions })));
        }
    }
}

/// A lock node's name as the client gives it (for traces and tests).
pub fn node_path(lock: LockId, name: NodeName, seq: u64) -> String {
    format!("/lock{lock}/{name}{seq:010}")
}
