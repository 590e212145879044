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

// The node contract and the shared, protocol-neutral modules.
pub mod history;
pub mod library;
pub mod msg;
pub mod node;
pub mod registry;

// One folder per protocol (and per protocol-neutral role).
pub mod lease;
pub mod raft;
pub mod redlock;
pub mod resource;
pub mod worker;

pub use history::{Deadline, Entry, Event, Observation, SessionId, WorldEvent};
pub use lease::{LeaseLock, LeaseServer};
pub use msg::Msg;
pub use node::{ms, Command, Ctx, Effect, Entropy, Input, LockId, NodeId, Timer};
pub use raft::{RaftLock, RaftPeer};
pub use redlock::Redlock;
pub use registry::{Durable, LockLibrary, Node};
pub use resource::Resource;
pub use worker::Client;
