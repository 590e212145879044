//! # locklab-live: the live tier
//!
//! The simulator predicts; the live tier observes. This crate runs the very same `protocols/`
//! nodes (lock servers, clients with their lock libraries, the protected resource) as tokio tasks
//! that exchange their messages over real UDP sockets on loopback, with real timers — and, where
//! a protocol names a real system, lets real `redis-server` and etcd processes play the server
//! role behind an adapter (see [`backend`]).

pub mod backend;
pub mod etcd;
pub mod host;
pub mod procs;
pub mod proxy;
pub mod redis;
pub mod run;
pub mod turmoil_host;
pub mod wire;
