//! ZooKeeper's lock recipe, with sessions, over an ensemble that replicates by Zab's broadcast.
//!
//! Sources: ZooKeeper's documentation, `recipes.md` ("Locks", and "Important Note About Error
//! Handling" on the lost create result); ZooKeeper's source as it behaves in 3.4–3.8
//! (`ClientCnxn`: read timeout, pings, connect timeout, reconnect pause; `SessionTrackerImpl`:
//! expiry buckets of one `tickTime`; `Leader`/`Follower`: PROPOSAL, ACK, COMMIT; `DataTree`:
//! sequential names from the parent's `cversion`, ephemeral nodes deleted by `closeSession`);
//! ZooKeeper's own `WriteLock` (`zookeeper-recipes-lock`, node names `x-<sessionId>-`);
//! ZOOKEEPER-1262 ("the documented recipe is flawed for a lost create",
//! <https://mail-archive.com/dev@zookeeper.apache.org/msg05728.html>) and Accumulo #637 (the same
//! concern); Apache Curator's `ConnectionStateManager` (SUSPENDED / LOST). The parameters that
//! come from ZooKeeper's code are recalled from it, not re-read for this model: they are named
//! below so that they can be checked.
//!
//! # The recipe (`recipes.md`)
//!
//! 1. `create("_locknode_/<guid>-lock-", EPHEMERAL | SEQUENTIAL)`; the server appends a 10-digit
//!    sequence number (the parent's `cversion`).
//! 2. `getChildren("_locknode_", watch = false)` — no watch on the children, to avoid the herd
//!    effect.
//! 3. If our node has the lowest sequence number, we hold the lock.
//! 4. Else `exists(<the next lower node>, watch = true)`.
//! 5. If `exists` returns null, go to 2; else wait for the watch to fire, then go to 2.
//!
//! Unlock: `delete` our node. The node is *ephemeral*: when the session ends, the leader deletes
//! it, and the next waiter's watch fires.
//!
//! **The GUID.** A server can execute the create and the reply be lost (the server crashes, the
//! connection breaks): the client gets CONNECTIONLOSS and does not know whether its node exists.
//! The session survives a reconnect, so the node does too. With the GUID in the name, the retry
//! first lists the children and finds its node. Without it (`zk_guid = false`) the retried
//! create makes a second node; the first, an **orphan** owned by the live session, is the lowest
//! and blocks everyone — the client itself included, which waits on its own orphan — until the
//! session ends (ZOOKEEPER-1262; with a session that keeps pinging, that is never). ZooKeeper's
//! own `WriteLock` embeds the session id instead (`zk_session_in_name = true`): the retry finds
//! the node by the session's prefix (which works while one session makes one attempt at a time,
//! as here).
//!
//! **The herd.** `zk_watch = "children"` is what step 2's "no watch" avoids: every waiter calls
//! `getChildren(watch = true)`, so every change of the children wakes every waiter, and each lists
//! them again to learn that it still waits (compare `msgs/CS` with the recipe's).
//!
//! # Sessions, as the client sees them (`ClientCnxn`)
//!
//! * The client opens a session with a timeout (`session_timeout_ms`), on one server of its
//!   connect string (client *i* starts at server *i mod n*).
//! * `readTimeout = 2/3 × session timeout`: having heard nothing from its server for that long,
//!   the client drops the connection (**Disconnected**) and tries the next server (after a random
//!   pause, `retry_backoff_ms`, ZooKeeper's 0–1000 ms); a connect attempt waits
//!   `session timeout / n` (`connectTimeout`). It pings after half the read timeout.
//! * The request in flight fails with CONNECTIONLOSS; the recipe retries once reconnected.
//! * **Expired** is announced only by a server, when the client reconnects (or on the open
//!   connection when the server applies the `closeSession`). A partitioned client cannot hear it:
//!   the plain client goes on believing it holds the lock until it reconnects.
//!   `zk_local_expiry = true` is Curator's connection state: after a session timeout spent
//!   disconnected (SUSPENDED), declare the session LOST and open a new one. Note that LOST comes
//!   *after* the leader's expiry (the clock starts at SUSPENDED, 2/3 of a timeout in).
//! * `check_validity_before_write = true`: the worker checks, before each write, that it still
//!   holds and is **connected** (Curator's advice: treat SUSPENDED as not holding).
//! * A reply is never lost alone on TCP: each server→client message carries its place on the
//!   connection (`cseq`); the client delivers them in that order, holding back any that arrive
//!   after a gap (the simulated network may reorder, TCP does not). A message that never arrives
//!   stalls the stream, and the read timeout drops the connection. So a scenario's "drop c1's
//!   first `zk_create_reply`" is a connection that dies at that reply: c1 notices 2/3 of a
//!   session timeout later.
//!
//! # Sessions, as the ensemble sees them (`SessionTrackerImpl`)
//!
//! The leader tracks every session's expiry: a touch (a request or ping on any server) pushes it
//! to the tick boundary after `now + timeout` (`roundToNextInterval`, buckets of `tickTime`,
//! `tick_ms`); the leader checks every tick and proposes a `closeSession` for each expired
//! session; applying it deletes the session's ephemeral nodes on every replica (watches fire).
//! Followers report the sessions their clients touched every half tick (in ZooKeeper, in their
//! answers to the leader's pings).
//!
//! # The ensemble: Zab's broadcast phase
//!
//! Writes (`createSession`, `create`, `delete`, `closeSession`) go to the leader, which gives each
//! the next zxid, logs it and sends a PROPOSAL to every follower; followers log and ACK; once a
//! quorum (the leader included) logged it, the leader COMMITs it, in zxid order, and every server
//! applies it to its replica; the server the client is connected to answers. Reads (`getChildren`,
//! `exists`) are answered from the local replica, as in ZooKeeper. A transaction's outcome (the
//! sequence number, NONODE) is computed on apply — identical on every replica, as they apply the
//! same order — where ZooKeeper's leader computes it ahead (`PrepRequestProcessor`).
//!
//! **Abstracted:** leader election and Zab's recovery (discovery, synchronization). `servers[0]`
//! (`s1`) leads for the whole run and zxids carry no epoch. Reason: this model is about the lock
//! recipe and session expiry, and the scenarios fault clients and the network, never the servers;
//! folders cannot share Raft's election, and a leader change in ZooKeeper would also restart
//! every session's timeout (the new leader's tracker starts afresh) — a separate study. A
//! crashed server restarts empty and out of sync (nothing is persisted): a crashed leader leaves
//! the ensemble unavailable, which `liveness` reports.
//!
//! # Fencing
//!
//! The lock node's `czxid` (its create's zxid, returned by `create2`'s Stat) increases in the
//! order the lock is granted (the sequence order of one lock's children is create order, which is
//! zxid order); the worker sends it with each write, and with `fencing = true` the resource
//! rejects a write below the highest it has seen. The leader records the grant (the ground truth
//! for `token_order`) when a lock's lowest child changes.
//!
//! # Files
//!
//! * [`server`]: a server ([`ZkServer`]): replica, Zab, session tracker, connections, watches;
//! * [`client`]: the client ([`ZkLock`]): connection, session, the recipe;
//! * [`msg`]: the messages ([`ZkMsg`]);
//! * [`params`]: the scenario keys ([`ZOOKEEPER_KEYS`]) resolved into parameters, with defaults
//!   and validation ([`compile`]); the variants `locklab check` model-checks ([`MODELS`]).

pub mod client;
pub mod msg;
pub mod params;
pub mod server;
#[cfg(test)]
mod tests;

pub use client::*;
pub use msg::*;
pub use params::*;
pub use server::*;
