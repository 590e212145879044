//! The registry: the closed enums that wrap every protocol's types — [`Node`] (any node of a
//! world), [`Durable`] (what any node keeps on disk) and [`LockLibrary`] (any client library the
//! worker can drive) — dispatching to each protocol's folder. Together with [`crate::msg::Msg`],
//! this is the one place outside a protocol's folder that names it.

use crate::history::SessionId;
use crate::lease::{self, LeaseLock, LeaseServer};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{Ctx, Input, LockId, NodeId, Timer};
use crate::raft::{self, RaftLock, RaftPeer};
use crate::redlock::Redlock;
use crate::resource::Resource;
use crate::worker::Client;

/// Durable state a node may keep on disk across a crash.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Durable {
    LeaseServer(lease::ServerDurable),
    /// A Raft peer's term, vote and log.
    Raft(raft::RaftDurable),
}

/// Any node of a world. A closed enum keeps dispatch static and state `Clone + Eq + Hash`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    LeaseServer(LeaseServer),
    Client(Box<Client>),
    Resource(Resource),
    /// A Raft peer hosting the lock service (boxed: large).
    RaftPeer(Box<RaftPeer>),
}

impl Node {
    /// Feed one input to the node; its effects are appended to the context's buffer.
    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match self {
            Node::LeaseServer(n) => n.handle(ctx, input),
            Node::Client(n) => n.handle(ctx, input),
            Node::Resource(n) => n.handle(ctx, input),
            Node::RaftPeer(n) => n.handle(ctx, input),
        }
    }
}

/// The lock libraries a client can use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockLibrary {
    Lease(LeaseLock),
    Redlock(Redlock),
    /// The etcd-style lock over the Raft lock service.
    Raft(RaftLock),
}

impl LockLibrary {
    pub(crate) fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        match self {
            LockLibrary::Lease(l) => l.acquire(ctx, session, lock),
            LockLibrary::Redlock(l) => l.acquire(ctx, session, lock),
            LockLibrary::Raft(l) => l.acquire(ctx, session, lock),
        }
    }
    pub(crate) fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        match self {
            LockLibrary::Lease(l) => l.release(ctx),
            LockLibrary::Redlock(l) => l.release(ctx),
            LockLibrary::Raft(l) => l.release(ctx),
        }
    }
    /// Does the library consider the lock held and valid now?
    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match self {
            LockLibrary::Lease(l) => l.is_valid(ctx),
            LockLibrary::Redlock(l) => l.is_valid(ctx),
            LockLibrary::Raft(l) => l.is_valid(ctx),
        }
    }
    /// Record that the worker found the lease invalid (the library stops believing).
    pub(crate) fn mark_lost(&mut self, ctx: &mut Ctx) {
        match self {
            LockLibrary::Lease(l) => l.mark_lost(ctx),
            LockLibrary::Redlock(l) => l.mark_lost(ctx),
            LockLibrary::Raft(l) => l.mark_lost(ctx),
        }
    }
    /// The fencing token of the current lease, if the service issues them.
    pub fn token(&self) -> Option<u64> {
        match self {
            LockLibrary::Lease(l) => l.token(),
            LockLibrary::Redlock(_) => None,
            LockLibrary::Raft(l) => l.token(),
        }
    }
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match self {
            LockLibrary::Lease(l) => l.on_timer(ctx, timer),
            LockLibrary::Redlock(l) => l.on_timer(ctx, timer),
            LockLibrary::Raft(l) => l.on_timer(ctx, timer),
        }
    }
    pub(crate) fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        match self {
            LockLibrary::Lease(l) => l.on_message(ctx, msg),
            LockLibrary::Redlock(l) => l.on_message(ctx, from, msg),
            LockLibrary::Raft(l) => l.on_message(ctx, from, msg),
        }
    }
}
