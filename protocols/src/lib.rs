//! # locklab-protocols: distributed lock protocols as sans-IO state machines
//!
//! Every role — lock server, lock client, protected resource — is a deterministic state machine
//! behind the [node contract](node): it reacts to one [`Input`] at a time, reads time only from
//! the local clock readings in its [`Ctx`], draws randomness only from the seeded source in it, and
//! returns its effects (sends, timers, persistence, history records) as data. The simulator in
//! `locklab-sim` and the stateright models in `locklab-models` drive this very code; there is no
//! second implementation of any protocol.
//!
//! Protocols:
//! * [`lease`]: a single-server lease with Redis `SET NX PX` semantics, optional fencing tokens,
//!   persistence policies and delayed restart;
//! * [`client`]: the lease client library (acquire with timeout and retries, heartbeat, local
//!   validity, idempotent or naive retry, failover to a replica);
//! * [`redlock`]: Redlock over N independent lease servers;
//! * [`raft`]: Raft (election, replication, PreVote, CheckQuorum, ReadIndex) and the etcd-style
//!   lock service it replicates; [`raft_client`]: its client library;
//! * [`worker`]: the client node — the workload loop (acquire, read-think-write, release) around
//!   any lock library;
//! * [`resource`]: the protected resource, optionally checking fencing tokens.
//!
//! Invariants (checked by `tests/tidy.rs`): no clock reads, no global RNG, no I/O, no dependency
//! on tokio, turmoil, stateright or the simulator; no randomly seeded hash maps.

pub mod client;
pub mod history;
pub mod lease;
pub mod msg;
pub mod node;
pub mod raft;
pub mod raft_client;
pub mod redlock;
pub mod resource;
pub mod worker;

pub use client::LeaseLock;
pub use history::{Deadline, Entry, Event, Observation, SessionId, WorldEvent};
pub use lease::LeaseServer;
pub use msg::{LockId, Msg};
pub use node::{ms, Command, Ctx, Effect, Entropy, Input, NodeId, Timer};
pub use raft::RaftPeer;
pub use raft_client::RaftLock;
pub use redlock::Redlock;
pub use resource::Resource;
pub use worker::{Client, LockLibrary};

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
