//! # locklab-protocols: distributed lock protocols as sans-IO state machines
//!
//! Every role — lock server, lock client, protected resource — is a deterministic state machine
//! behind the [node contract](node): it reacts to one [`Input`] at a time, reads time only from
//! the local clock readings in its [`Ctx`], draws randomness only from the seeded source in it, and
//! returns its effects (sends, timers, persistence, history records) as data. The simulator in
//! `locklab-sim` and the stateright models in `locklab-models` drive this very code; there is no
//! second implementation of any protocol.
//!
//! One folder per protocol, each owning its server, its client library, its message payloads and
//! its durable state, with module docs that teach it:
//! * [`lease`]: a single-server lease with Redis `SET NX PX` semantics (or Redisson's reentrant
//!   scripts), optional fencing tokens, persistence policies, delayed restart and asynchronous
//!   replication ([`lease::server`]); its client library ([`lease::client`]: acquire with timeout
//!   and retries, heartbeat, local validity, idempotent or naive retry, failover to a replica);
//! * [`redlock`]: Redlock over N independent lease servers (a client library only);
//! * [`raft`]: Raft (election, replication, PreVote, CheckQuorum, ReadIndex) and the etcd-style
//!   lock service it replicates; [`raft::client`]: its client library;
//! * [`skinny`]: skinny, the teaching Paxos lock (one register per quorum of instances, no lease),
//!   with its defects as switches; [`skinny::client`]: its client library;
//! * [`godistlock`]: GoDistLock (lietu/godistlockd): a quorum relay (PROP → SCHED → COMM) with
//!   provisional locks and monotonic-clock fences, its defects as switches;
//! * [`zookeeper`]: ZooKeeper's lock recipe (ephemeral sequential nodes, sessions with a timeout)
//!   over an ensemble running Zab's broadcast; [`zookeeper::client`]: its client and the recipe.
//! * [`chubby`]: Chubby (Burrows, OSDI 2006): sessions with KeepAlive leases, jeopardy and grace
//!   period, sequencers, lock-delay, master fail-over with a new epoch; [`chubby::client`]: its
//!   client library.
//! * [`consul`]: Consul sessions and KV locks (TTL timers in the leader's memory at 2 × TTL, the
//!   Serf health check as failure detector, lock-delay, behavior release/delete, `LockIndex` as
//!   token) over a small replicated log; [`consul::client`]: `api/lock.go`.
//!
//! * [`dynamodb`]: amazon-dynamodb-lock-client over the conditional-write store (record version
//!   numbers, leases measured on the waiter's own monotonic clock, heartbeats, no fencing; its
//!   options and PR #3's fencing sequence as switches);
//! * [`gcs`]: FooBarWidget's GCS lock (the seed author's: a create-only object with the holder's
//!   `expires_at` judged by each reader's wall clock, a refresher thread, `healthy?` to poll, no
//!   token) over the conditional-write store;
//! * [`s3`]: a lock on S3 conditional writes (`If-None-Match: *`, `If-Match: <ETag>`), the same
//!   shape as the GCS lock, over the conditional-write store;
//! * [`azure`]: a lock on an Azure blob lease (15–60 s or infinite, renew, release, break) over
//!   the conditional-write store, which enforces the lease on writes to that blob;
//! * [`store`]: the conditional-write store (DynamoDB conditional writes, S3 `If-None-Match` /
//!   `If-Match`, GCS generation and metageneration preconditions, Azure Blob leases enforced on
//!   writes): the server role under the store-based locks, with no server-side TTL.
//!
//! Protocol-neutral roles, each a folder too:
//! * [`worker`]: the client node — the workload loop (acquire, read-think-write, release) around
//!   any lock library;
//! * [`resource`]: the protected resource, optionally checking fencing tokens.
//!
//! Shared modules, which every folder may import: the node contract ([`node`], [`history`]) and
//! the lock-library contract ([`library`]), which import no folder; the message sets more than
//! one folder speaks ([`msg`]); reading a protocol's own scenario keys ([`params`]); and the
//! [`registry`], the one place outside a folder that names every protocol: the wrappers
//! ([`Msg`], [`Server`], [`LockLibrary`], [`Durable`]) and the table of protocol kinds. [`Node`],
//! which wraps a server, the worker or the resource, is defined here.
//! A protocol folder never imports another's (checked by `tests/it/tidy.rs`).
//!
//! Invariants (checked by `tests/it/tidy.rs`): no clock reads, no global RNG, no I/O, no dependency
//! on tokio, turmoil, stateright or the simulator; no randomly seeded hash maps.

// The node contract and the shared, protocol-neutral modules.
pub mod history;
pub mod library;
pub mod msg;
pub mod node;
pub mod params;
pub mod registry;

// One folder per protocol (and per protocol-neutral role).
pub mod azure;
pub mod chubby;
pub mod consul;
pub mod dynamodb;
pub mod gcs;
pub mod godistlock;
pub mod lease;
pub mod lockable;
pub mod postgres;
pub mod raft;
pub mod redlock;
pub mod resource;
pub mod s3;
pub mod skinny;
pub mod store;
pub mod worker;
pub mod zookeeper;

pub use chubby::{ChubbyLock, ChubbyServer};
pub use history::{Deadline, Entry, Event, Observation, SessionId, WorldEvent};
pub use lease::{LeaseLock, LeaseServer};
pub use msg::Msg;
pub use node::{ms, Command, Ctx, Effect, Entropy, Input, LockId, NodeId, Timer};
pub use raft::{RaftLock, RaftPeer};
pub use redlock::Redlock;
pub use registry::{Durable, LockLibrary, Server};
pub use resource::Resource;
pub use skinny::{SkinnyInstance, SkinnyLock};
pub use worker::Client;
pub use zookeeper::{ZkLock, ZkServer};

/// Any node of a world: a protocol's server (the registry's [`Server`]), a client (the worker
/// around a lock library) or the protected resource. A closed enum keeps dispatch static and
/// state `Clone + Eq + Hash`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Server(Server),
    Client(Box<Client>),
    Resource(Resource),
}

impl Node {
    /// Feed one input to the node; its effects are appended to the context's buffer.
    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match self {
            Node::Server(n) => n.handle(ctx, input),
            Node::Client(n) => n.handle(ctx, input),
            Node::Resource(n) => n.handle(ctx, input),
        }
    }
}
