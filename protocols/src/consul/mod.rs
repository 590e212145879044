//! Consul sessions and KV locks (HashiCorp Consul; the session docs
//! `developer.hashicorp.com/consul/docs/automate/session`, formerly
//! `website/source/docs/internals/sessions.html.markdown`; the code: `agent/consul/session_ttl.go`,
//! `agent/consul/leader.go`, `agent/consul/kvs_endpoint.go`, `agent/consul/state/session.go`,
//! `agent/consul/state/kvs.go`, `agent/consul/state/delay.go`, `api/lock.go`, `api/session.go`).
//!
//! # The algorithm
//!
//! A **session** binds a node, its health checks (by default the node's `serfHealth`), a
//! **behavior**, a **TTL** and a **lock-delay**. It is *invalidated* when the node is deregistered,
//! a check is deregistered or goes **critical**, it is destroyed, or its TTL expires. A **lock** is
//! a KV key acquired with `PUT /v1/kv/<key>?acquire=<session>`: it succeeds iff the key has no
//! `Session` holder and no lock-delay is in force; each new holder increments the key's
//! `LockIndex` ("the number of times this key has successfully been acquired"). `?release=`
//! clears the holder. On invalidation:
//!
//! * `behavior = "release"` (default): the session's keys lose their holder (`ModifyIndex`
//!   bumped), and each gets the session's **lock-delay** (0–60 s, default 15 s): until it passes,
//!   no acquire of the key succeeds — the leader checks it *before* the Raft log
//!   (`kvsPreApply`), on its own clock, from an in-memory table (`state/delay.go`) each server
//!   fills, on its own clock, when it applies the invalidation;
//! * `behavior = "delete"`: the keys are deleted — and their `LockIndex` with them: the next
//!   acquire creates the key afresh with `LockIndex = 1` (`kvsLockTxn`).
//!
//! **TTLs live in the leader's memory.** The leader keeps one timer per session
//! (`session_ttl.go`), armed at **`ttl × 2`** (`SessionTTLMultiplier`: "the contract is that a
//! session is not expired before the TTL, but there is no explicit promise about the upper bound")
//! and reset by every `Session.Renew` (no log write). When it fires the leader destroys the session
//! through the log. Timers are not replicated: a new leader restarts every session's timer at
//! `ttl × 2` (`initializeSessionTimers` in `leader.go`), so a session may outlive its TTL by far
//! across failovers — "sessions may not be reaped for up to double this TTL".
//!
//! **Health checks are a failure detector.** The leader probes every client node (Serf /
//! memberlist, `ProbeInterval` 1 s); a node silent for `serf_detect_ms` is declared failed and
//! its `serfHealth` goes critical through the log (`reconcileMember`) — invalidating its sessions,
//! whether the node is dead or merely cut off: a false positive frees a live holder's lock.
//!
//! **The client library** ([`ConsulLock`], `api/lock.go`): create a session (TTL 15 s:
//! `DefaultLockSessionTTL`) and renew it every TTL/2 (`RenewPeriodic`); read the key with a
//! blocking query (15 s: `DefaultLockWaitTime`) until it has no holder; acquire; when refused with
//! no holder visible, a lock-delay is in force: sleep 5 s (`DefaultLockRetryTime`); once held,
//! *monitor* the key with blocking queries (`?consistent`) and believe until the monitor sees
//! another holder or fails (`MonitorRetries` = 0). A failing renewal tells the holder nothing.
//! The fencing token is `LockIndex` (or `ModifyIndex`, [`TokenSource`]).
//!
//! # What is abstracted, and how
//!
//! * **Raft.** Consul's servers replicate the state store with hashicorp/raft. This folder may not
//!   use `protocols/src/raft/`, so the servers run a small replicated log of their own
//!   ([`server`]): the leader appends each write, sends the log suffix to every follower
//!   (heartbeats every `raft_heartbeat_ms`), commits an index once a majority holds it and it is
//!   of the leader's term, then applies it and answers the client. Followers apply entries as
//!   they receive them (Raft followers apply on commit: a follower here may apply an entry that a
//!   later leader discards; the conflict rebuilds its store by replay).
//!   **Leader succession is deterministic, not an election**: `s1` leads term 1; a follower that
//!   has not heard its leader for `election_timeout_ms` suspects it, and the *next server in ring
//!   order after the last leader* claims the next term (if it is down, the one after claims an
//!   election timeout later, and so on). A server accepts a claim of a higher term (once per
//!   term); a claimant accepted by a majority adopts the most up-to-date log among them (last
//!   term, then length — a view change as in Viewstamped Replication) and writes a no-op before
//!   its own writes commit. A leader that has not heard a majority for an election timeout steps
//!   down (hashicorp/raft's leader lease), and `?consistent` reads are answered only by a leader in
//!   contact with a majority.
//! * **Persistence.** Consul servers keep their Raft log on disk; here a server that restarts
//!   starts empty (term 0, no log). Catalogue scenarios crash servers without restarting them.
//! * **Lock-delays after a log conflict.** A server that replays its log (a conflict) sets the
//!   replayed invalidations' lock-delays from the replay's instant.
//! * **Serf.** Gossip is reduced to the leader probing each node every `serf_probe_ms` (1 s,
//!   memberlist's `ProbeInterval`); detection is "no answer for `serf_detect_ms`" (memberlist's
//!   probe timeout plus suspicion timeout, a few seconds with LAN defaults). A node that answers again is marked passing again. The probes
//!   are answered by the client node's agent — here its lock library — so a paused client process
//!   stops answering (in Consul the agent is a separate process: model a cut-off node with a
//!   partition, a dead one with a crash).
//! * **The agent.** Clients call servers directly: a follower answers `NotLeader` (the agent's
//!   forwarding) and the client calls the leader; `No cluster leader` is retried after a backoff
//!   while the call's time lasts. A non-blocking call unanswered for `acquire_timeout_ms` (1 s)
//!   moves to the next server (in Consul the agent's connection to a dead server fails fast and
//!   it tries another); a blocking query is an error after its wait, the 1/16 jitter and the
//!   agent's `rpc_hold_timeout` (7 s). An acquire call rides out `acquire_retries` such errors
//!   (on the next server each time) before `Lock()` returns an error.
//! * Sessions are numbered by their log index; keys are lock ids; values are not stored.
//!
//! # Switches (`[[protocols]]` keys)
//!
//! `ttl_ms` (15 000), `lock_delay_ms` (15 000; 0 disables), `session_behavior` (`release` |
//! `delete`), `session_checks` (`true`: tied to `serfHealth`; `false`: TTL only), `serf_detect_ms`
//! (5 000), `serf_probe_ms` (1 000), `consul_token` (`lock_index` | `modify_index`), `fencing` (the resource checks the
//! token), `check_validity_before_write` (the worker asks the library — i.e. its monitor — before
//! writing), `renew_ms` (TTL / 2), `raft_heartbeat_ms` (200), `election_timeout_ms` (1 000),
//! `acquire_timeout_ms` (1 000), `acquire_retries` (3), `retry_backoff_ms` (200–400).
//!
//! # Files
//!
//! * [`state`]: the state store (sessions, KV, invalidation, lock-delay) and the log's ops;
//! * [`server`]: a server ([`ConsulServer`]): replication, succession, the leader's session
//!   timers, Serf probes, the lock-delay check, blocking queries;
//! * [`client`]: the lock library ([`ConsulLock`]);
//! * [`msg`]: the messages ([`ConsulMsg`]);
//! * [`params`]: the scenario keys, their defaults and validation, the nodes of a world, and the
//!   variants `locklab check` model-checks.

pub mod client;
pub mod msg;
pub mod params;
pub mod server;
pub mod state;
#[cfg(test)]
mod tests;

pub use client::*;
pub use msg::*;
pub use params::{compile, ConsulVariant, CONSUL_KEYS, MODELS};
pub use server::*;
pub use state::{Behavior, StateStore};
