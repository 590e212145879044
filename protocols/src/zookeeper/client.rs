//! The ZooKeeper client: a connection with a session (ZooKeeper's `ClientCnxn`) and the lock
//! recipe on top of it (`recipes.md`, "Locks"). See the [module docs](super).

use std::collections::BTreeMap;

use super::msg::{Child, NodeName, ZkMsg, ZkOp, ZkResult, ZkSessionId, NO_SESSION};
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// Curator's connection state: a session timeout after the connection was lost — LOST.
pub const SESSION_LOST: Timer = Timer::Named("zk_session_lost", 0);

/// How a client names its lock node, and so whether a retried create can find a node whose
/// create reply it missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeNaming {
    /// The recipe: `<guid>-lock-`, a fresh GUID per acquire; after a connection loss during the
    /// create, `getChildren` and look for the GUID.
    Guid,
    /// ZooKeeper's own `WriteLock` (`zookeeper-recipes-lock`): `x-<sessionId>-`; after a
    /// connection loss, look for a child with this session's prefix.
    SessionId,
    /// Neither (`zk_guid = false`): a retried create makes a second node; the first is an orphan.
    Plain,
}

/// What a waiter watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchMode {
    /// The recipe: `exists(predecessor, watch)`; a release wakes one waiter.
    Predecessor,
    /// The herd (what the recipe warns against): `getChildren(lock, watch)`; every change wakes
    /// every waiter, and each lists the children again.
    Children,
}

/// Parameters of the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZkClientParams {
    /// The session timeout the client asks for (and the server grants, unclamped here).
    pub session_timeout_ms: u64,
    pub naming: NodeNaming,
    pub watch: WatchMode,
    /// Curator's `ConnectionStateManager`: once the connection has been lost (SUSPENDED) for a
    /// session timeout, declare the session LOST locally and start a new one. Off: the plain
    /// ZooKeeper client, which learns of an expiry only from a server after reconnecting.
    pub local_expiry: bool,
    /// The pause before connecting again after a connection loss (`ClientCnxn` sleeps a random
    /// 0–1000 ms before a new attempt).
    pub reconnect_backoff: MsRange,
}

impl ZkClientParams {
    /// `ClientCnxn`: `readTimeout = sessionTimeout * 2 / 3` — no message from the server for this
    /// long and the client drops the connection (Disconnected).
    pub fn read_timeout_ms(&self) -> u64 {
        self.session_timeout_ms * 2 / 3
    }
    /// A ping when the connection has been idle for half the read timeout.
    pub fn ping_interval_ms(&self) -> u64 {
        (self.read_timeout_ms() / 2).max(1)
    }
    /// `connectTimeout = sessionTimeout / number of servers`.
    pub fn connect_timeout_ms(&self, servers: usize) -> u64 {
        (self.session_timeout_ms / servers.max(1) as u64).max(1)
    }
}

/// The connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Link {
    /// No connection (not yet opened, lost, or closed by an expiry).
    Down,
    Connecting,
    Connected,
}

/// Where the recipe is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Free,
    /// Step 1, `create`. `recheck`: the connection broke while a create was in flight; with a
    /// name that identifies the node, first look for it (`getChildren`).
    Create {
        recheck: bool,
    },
    /// Step 2, `getChildren` (no watch).
    List,
    /// Step 4, `exists(predecessor, watch)`; `armed` once it returned non-null: wait for the event.
    Watch {
        pred: u64,
        armed: bool,
    },
    /// The herd variant: `getChildren(watch)` returned, not lowest: wait for the children to change.
    WaitChildren,
    /// Step 3: the lowest node is ours. `lost` once the client learned otherwise (an expiry) or
    /// the worker found it invalid.
    Held {
        lost: bool,
    },
    /// Unlock: `delete` our node.
    Delete,
}

/// The ZooKeeper lock client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZkLock {
    /// The connect string; the client connects to `servers[current]`, the next one after a loss.
    pub servers: Vec<NodeId>,
    pub current: usize,
    pub lock: LockId,
    pub params: ZkClientParams,
    pub link: Link,
    /// Numbers connections; `heard_cseq` counts what the current one delivered.
    pub conn: u32,
    pub heard_cseq: u64,
    /// Messages of the current connection that arrived ahead of a missing one, held back as TCP
    /// holds back segments after a gap (the simulated network may reorder; TCP does not deliver
    /// out of order). A gap that never fills stalls the stream until the read timeout.
    pub early: BTreeMap<u64, ZkMsg>,
    pub zk_session: ZkSessionId,
    pub next_xid: u64,
    /// The request in flight (its xid).
    pub pending: Option<u64>,
    pub session: SessionId,
    pub step: Step,
    /// This acquire's GUID (nonzero).
    pub guid: u64,
    /// Our lock node, once known.
    pub own: Option<Child>,
}

impl ZkLock {
    /// A client whose connect string starts at `servers[first % len]`.
    pub fn new(servers: Vec<NodeId>, first: usize, lock: LockId, params: ZkClientParams) -> Self {
        assert!(!servers.is_empty(), "ZooKeeper needs a server");
        let current = first % servers.len();
        ZkLock {
            servers,
            current,
            lock,
            params,
            link: Link::Down,
            conn: 0,
            heard_cseq: 0,
            early: BTreeMap::new(),
            zk_session: NO_SESSION,
            next_xid: 0,
            pending: None,
            session: SessionId::default(),
            step: Step::Free,
            guid: 0,
            own: None,
        }
    }

    /// Held, not known lost, and connected: what the worker checks with
    /// `check_validity_before_write` (Curator's advice: treat SUSPENDED as "maybe not the holder").
    pub fn is_valid(&self, _ctx: &Ctx) -> bool {
        self.is_valid_now()
    }

    /// [`Self::is_valid`] without a context (the check reads no clock).
    pub fn is_valid_now(&self) -> bool {
        self.step == Step::Held { lost: false } && self.link == Link::Connected
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.lose(ctx, LostReason::DeadlineExpired);
    }

    fn lose(&mut self, ctx: &mut Ctx, reason: LostReason) {
        if self.step == (Step::Held { lost: false }) {
            self.step = Step::Held { lost: true };
            ctx.record(Observation::LockLost { lock: self.lock, session: self.session, reason });
        }
    }

    /// The fencing token: our node's czxid.
    pub fn token(&self) -> Option<u64> {
        match self.step {
            Step::Held { .. } => self.own.map(|c| c.czxid),
            _ => None,
        }
    }

    fn name(&self) -> NodeName {
        match self.params.naming {
            NodeNaming::Guid => NodeName { guid: self.guid, session: NO_SESSION },
            NodeNaming::SessionId => NodeName { guid: 0, session: self.zk_session },
            NodeNaming::Plain => NodeName { guid: 0, session: NO_SESSION },
        }
    }

    /// Is `child` the node this client created for this acquire (found by its name)?
    fn is_mine(&self, child: &Child) -> bool {
        match self.params.naming {
            NodeNaming::Guid => child.name.guid == self.guid,
            NodeNaming::SessionId => child.name.session == self.zk_session && child.owner == self.zk_session,
            NodeNaming::Plain => false,
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.guid = ctx.random_u64() | 1;
        self.own = None;
        self.step = Step::Create { recheck: false };
        if self.link == Link::Down && self.zk_session == NO_SESSION {
            self.connect(ctx);
        } else {
            self.resume(ctx);
        }
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        if matches!(self.step, Step::Held { .. }) && self.own.is_some() && self.zk_session != NO_SESSION {
            self.step = Step::Delete;
            self.resume(ctx);
            return None;
        }
        // Nothing to delete: the session (and with it the node) is gone.
        self.step = Step::Free;
        self.own = None;
        ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: None });
        Some(LockEvent::Released)
    }

    // ---- The connection ----

    fn connect(&mut self, ctx: &mut Ctx) {
        self.conn += 1;
        self.heard_cseq = 0;
        self.early.clear();
        self.pending = None;
        self.link = Link::Connecting;
        let msg =
            ZkMsg::Connect { conn: self.conn, session: self.zk_session, timeout_ms: self.params.session_timeout_ms };
        ctx.send(self.servers[self.current], Msg::Zk(Box::new(msg)));
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.connect_timeout_ms(self.servers.len())));
    }

    /// No contact for the read timeout, a broken stream, or a connect that timed out: Disconnected.
    /// The request in flight fails with CONNECTIONLOSS; the client tries the next server.
    fn connection_lost(&mut self, ctx: &mut Ctx) {
        let was_connected = self.link == Link::Connected;
        self.link = Link::Down;
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.cancel_timer(Timer::HeartbeatTimeout);
        let in_flight = self.pending.take().is_some();
        match self.step {
            Step::Create { recheck } => self.step = Step::Create { recheck: recheck || in_flight },
            // The watch is re-checked from the list after reconnecting.
            Step::Watch { .. } | Step::WaitChildren => self.step = Step::List,
            _ => {}
        }
        if was_connected && self.params.local_expiry && self.zk_session != NO_SESSION {
            // Curator: SUSPENDED now; LOST once a session timeout has passed without reconnecting.
            ctx.set_timer(SESSION_LOST, ms(self.params.session_timeout_ms));
        }
        self.current = (self.current + 1) % self.servers.len();
        let after_ns = self.params.reconnect_backoff.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, after_ns);
    }

    fn connected(&mut self, ctx: &mut Ctx, session: ZkSessionId) {
        self.link = Link::Connected;
        self.zk_session = session;
        ctx.cancel_timer(SESSION_LOST);
        ctx.set_timer(Timer::Heartbeat, ms(self.params.ping_interval_ms()));
        ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.read_timeout_ms()));
    }

    /// The session is gone (a server said so, or Curator declared it LOST): its ephemeral nodes
    /// are deleted or will be. A holder learns it lost the lock; an acquire starts over with a new
    /// session; a release is done.
    fn expired(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        self.zk_session = NO_SESSION;
        self.pending = None;
        ctx.cancel_timer(SESSION_LOST);
        let mut event = None;
        match self.step {
            Step::Held { .. } => self.lose(ctx, LostReason::ExtendRefused),
            Step::Create { .. } | Step::List | Step::Watch { .. } | Step::WaitChildren => {
                self.own = None;
                self.step = Step::Create { recheck: false };
            }
            Step::Delete => {
                self.own = None;
                self.step = Step::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(true) });
                event = Some(LockEvent::Released);
            }
            Step::Free => {}
        }
        if matches!(self.step, Step::Create { .. }) {
            // A new handle, a new session.
            self.link = Link::Down;
            self.connect(ctx);
        } else {
            self.link = Link::Down;
            ctx.cancel_timer(Timer::Heartbeat);
            ctx.cancel_timer(Timer::HeartbeatTimeout);
            ctx.cancel_timer(Timer::AcquireRetry);
        }
        event
    }

    fn send_request(&mut self, ctx: &mut Ctx, op: ZkOp) {
        self.next_xid += 1;
        self.pending = Some(self.next_xid);
        let msg = ZkMsg::Request { conn: self.conn, xid: self.next_xid, session: self.zk_session, op };
        ctx.send(self.servers[self.current], Msg::Zk(Box::new(msg)));
    }

    // ---- The recipe ----

    /// Issue the current step's request, when connected and nothing is in flight.
    fn resume(&mut self, ctx: &mut Ctx) {
        if self.link != Link::Connected || self.pending.is_some() {
            return;
        }
        let lock = self.lock;
        match self.step {
            Step::Create { recheck: true } if self.params.naming != NodeNaming::Plain => {
                self.send_request(ctx, ZkOp::GetChildren { lock, watch: false })
            }
            Step::Create { .. } => {
                self.step = Step::Create { recheck: false };
                self.send_request(ctx, ZkOp::Create { lock, name: self.name() })
            }
            Step::List => {
                let watch = self.params.watch == WatchMode::Children;
                self.send_request(ctx, ZkOp::GetChildren { lock, watch })
            }
            Step::Watch { pred, armed: false } => self.send_request(ctx, ZkOp::Exists { lock, seq: pred, watch: true }),
            Step::Delete => {
                let seq = self.own.map_or(0, |c| c.seq);
                self.send_request(ctx, ZkOp::Delete { lock, seq })
            }
            Step::Watch { armed: true, .. } | Step::WaitChildren | Step::Held { .. } | Step::Free => {}
        }
    }

    /// Steps 2–4 on a children list: lowest → held; else watch the next lower node.
    fn evaluate(&mut self, ctx: &mut Ctx, children: &[Child]) -> Option<LockEvent> {
        let own = self.own?;
        if !children.iter().any(|c| c.seq == own.seq) {
            // Our node is gone (its session ended): start over.
            self.own = None;
            self.step = Step::Create { recheck: false };
            self.resume(ctx);
            return None;
        }
        match children.iter().filter(|c| c.seq < own.seq).map(|c| c.seq).max() {
            None => {
                self.step = Step::Held { lost: false };
                ctx.record(Observation::AcquireOk {
                    lock: self.lock,
                    session: self.session,
                    token: Some(own.czxid),
                    value: own.seq,
                    valid_until: Deadline::Never,
                });
                Some(LockEvent::Acquired)
            }
            Some(_) if self.params.watch == WatchMode::Children => {
                self.step = Step::WaitChildren;
                None
            }
            Some(pred) => {
                self.step = Step::Watch { pred, armed: false };
                self.resume(ctx);
                None
            }
        }
    }

    fn on_result(&mut self, ctx: &mut Ctx, result: ZkResult) -> Option<LockEvent> {
        match (self.step, result) {
            (_, ZkResult::SessionExpired) => self.expired(ctx),
            (Step::Create { .. }, ZkResult::Created { seq, czxid }) => {
                self.own = Some(Child { name: self.name(), seq, czxid, owner: self.zk_session });
                self.step = Step::List;
                self.resume(ctx);
                None
            }
            (Step::Create { recheck: true }, ZkResult::Children(children)) => {
                match children.iter().find(|c| self.is_mine(c)).copied() {
                    Some(found) => {
                        // The create went through; its reply was lost with the connection.
                        self.own = Some(found);
                        self.step = Step::List;
                        self.evaluate(ctx, &children)
                    }
                    None => {
                        self.step = Step::Create { recheck: false };
                        self.resume(ctx);
                        None
                    }
                }
            }
            (Step::List, ZkResult::Children(children)) => self.evaluate(ctx, &children),
            (Step::Watch { pred, .. }, ZkResult::Exists(Some(_))) => {
                self.step = Step::Watch { pred, armed: true };
                None
            }
            (Step::Watch { .. }, ZkResult::Exists(None)) => {
                self.step = Step::List;
                self.resume(ctx);
                None
            }
            (Step::Delete, ZkResult::Deleted | ZkResult::NoNode) => {
                self.own = None;
                self.step = Step::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(true) });
                Some(LockEvent::Released)
            }
            _ => None,
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match timer {
            Timer::HeartbeatTimeout if self.link != Link::Down => {
                self.connection_lost(ctx);
                None
            }
            Timer::Heartbeat if self.link == Link::Connected => {
                let ping = ZkMsg::Ping { conn: self.conn, session: self.zk_session };
                ctx.send(self.servers[self.current], Msg::Zk(Box::new(ping)));
                ctx.set_timer(Timer::Heartbeat, ms(self.params.ping_interval_ms()));
                None
            }
            Timer::AcquireRetry if self.link == Link::Down => {
                self.connect(ctx);
                None
            }
            SESSION_LOST
                if self.params.local_expiry && self.link != Link::Connected && self.zk_session != NO_SESSION =>
            {
                // Curator's LOST: give the old connection up for good.
                self.conn += 1;
                self.expired(ctx)
            }
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) -> Option<LockEvent> {
        let Msg::Zk(m) = msg else { return None };
        let m = *m;
        let (conn, cseq) = match &m {
            ZkMsg::ConnectReply { conn, cseq, .. }
            | ZkMsg::Reply { conn, cseq, .. }
            | ZkMsg::PingReply { conn, cseq }
            | ZkMsg::Watch { conn, cseq, .. }
            | ZkMsg::ChildWatch { conn, cseq, .. }
            | ZkMsg::Expired { conn, cseq } => (*conn, *cseq),
            _ => return None,
        };
        if conn != self.conn || self.link == Link::Down || cseq <= self.heard_cseq {
            return None; // an old connection's, or a duplicate
        }
        if cseq > self.heard_cseq + 1 {
            self.early.insert(cseq, m);
            return None;
        }
        let mut event = self.deliver(ctx, m);
        // The gap is filled: deliver what waited behind it, in order.
        while let Some(next) = self.early.remove(&(self.heard_cseq + 1)) {
            if self.link == Link::Down {
                break;
            }
            event = self.deliver(ctx, next).or(event);
        }
        event
    }

    /// One message of the current connection, in stream order.
    fn deliver(&mut self, ctx: &mut Ctx, m: ZkMsg) -> Option<LockEvent> {
        self.heard_cseq += 1;
        if self.link == Link::Connected {
            ctx.set_timer(Timer::HeartbeatTimeout, ms(self.params.read_timeout_ms()));
        }
        match m {
            ZkMsg::ConnectReply { session, .. } if self.link == Link::Connecting => {
                if session == NO_SESSION {
                    return self.expired(ctx);
                }
                self.connected(ctx, session);
                self.resume(ctx);
                None
            }
            ZkMsg::Reply { xid, result, .. } if self.pending == Some(xid) => {
                self.pending = None;
                self.on_result(ctx, result)
            }
            ZkMsg::Watch { lock, seq, .. } => {
                if lock == self.lock && matches!(self.step, Step::Watch { pred, .. } if pred == seq) {
                    self.step = Step::List;
                    self.resume(ctx);
                }
                None
            }
            ZkMsg::ChildWatch { lock, .. } => {
                if lock == self.lock && self.step == Step::WaitChildren {
                    self.step = Step::List;
                    self.resume(ctx);
                }
                None
            }
            ZkMsg::Expired { .. } => self.expired(ctx),
            _ => None,
        }
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for ZkLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        ZkLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ZkLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        ZkLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        ZkLock::mark_lost(self, ctx)
    }
    fn token(&self) -> Option<u64> {
        ZkLock::token(self)
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        ZkLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        ZkLock::on_message(self, ctx, msg)
    }
}
