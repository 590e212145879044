//! PostgreSQL advisory locks: a lock bound to a database session, which is a TCP connection.
//!
//! Sources (the spec is `seed-systems.md` §5): the PostgreSQL documentation, 13.3.5 "Advisory
//! Locks" (session-level locks are held "until explicitly released or the session ends", they
//! "do not honor transaction semantics" — a rollback does not release them — and are reentrant:
//! "if a resource is locked three times it must then be unlocked three times"; transaction-level
//! locks are "automatically released at the end of the transaction, and there is no explicit
//! unlock operation"), 9.27.10 "Advisory Lock Functions" (`pg_try_advisory_lock` "will either
//! obtain the lock immediately and return true, or return false"; `pg_advisory_unlock` returns
//! false and warns when the session does not hold the lock), 20.3.1 "Connection Settings"
//! (`tcp_keepalives_idle`, `tcp_keepalives_interval`, `tcp_keepalives_count`: "0 selects the
//! operating system's default"; `tcp_user_timeout`, PG 12+, default 0 = the system default, off),
//! Linux tcp(7) and `net/ipv4/tcp_timer.c` (`tcp_keepalive_timer`, `tcp_write_timeout`), and
//! PgBouncer's documentation (`pool_mode = transaction`: "session-level advisory locks" are
//! among the features that break; server connections are reused LIFO, `server_round_robin = 0`;
//! `server_reset_query` is not run in transaction mode).
//!
//! # What is modelled
//!
//! * **A session is a connection** ([`ConnId`]): the first query on a new connection creates a
//!   backend (a new `pid`); the session ends — and with it every lock it holds — only when the
//!   backend learns that the connection is gone. A client that reconnects gets a *new* session:
//!   it cannot see the old session's lock as its own, `pg_advisory_unlock` on it returns false.
//! * **The lock functions**: `pg_try_advisory_lock` (reentrant: the session's count goes up),
//!   `pg_advisory_unlock` (down; false if this session holds none), and, with `xact_level =
//!   true`, `BEGIN; pg_try_advisory_xact_lock` held until `COMMIT` (or the session's end rolls
//!   the transaction back). The client polls the try-variant every `retry_backoff_ms` (1 s).
//!   No fencing token: `pg_locks` shows the holder's pid, which orders nothing.
//! * **How the server learns that a client is gone: TCP only.** An idle backend waits on its
//!   socket and hears nothing from a client that crashed (power loss: no FIN, no RST) or is cut
//!   off. Its kernel's keepalive (`tcp_keepalive_timer`) probes after `tcp_keepalives_idle_ms`
//!   of silence (Linux default 7200 s), every `tcp_keepalives_interval_ms` (75 s), and closes
//!   the connection after `tcp_keepalives_count` (9) unanswered probes: about 2 h 11 min. With
//!   `tcp_user_timeout_ms > 0`, once probes are out the connection closes when nothing was heard
//!   for that long — which on an idle connection still only starts after the keepalive idle
//!   time: `tcp_user_timeout` alone does *not* shorten it. Data the server sent and the client
//!   did not acknowledge (a result) is retransmitted from `TCP_RTO_MIN` (200 ms) doubling to
//!   120 s, and the connection is closed after `tcp_user_timeout_ms`, or, when it is 0, after
//!   `tcp_retries2` (≈ 924.6 s). Probes, their answers, results and acknowledgements are
//!   messages a partition drops. A client host that restarted answers a probe (or a result) of
//!   a connection it no longer knows with RST: the server closes it at once.
//! * **The client's side**: the application believes it holds the lock from the `true` until it
//!   unlocks (`Deadline::Never`): nothing tells it that the server ended its session. libpq has
//!   no client-side timeout: a statement in a partition is retransmitted by the client's TCP and
//!   the call waits (up to `tcp_retries2`, beyond every scenario). A statement on a connection
//!   the server closed gets RST ("server closed the connection unexpectedly"); the next
//!   statement opens a new connection.
//! * **`pooler_transaction_mode`**: PgBouncer in transaction mode between the clients and the
//!   backends. Each statement outside a transaction runs on whichever server connection is idle
//!   (the most recently released: LIFO), and the lock belongs to that *backend*, not to the
//!   client. The real effect: with little concurrency every statement lands on the same backend,
//!   so every client's `pg_try_advisory_lock` returns true (the backend already holds it:
//!   reentrant) — everybody "holds" the lock; an unlock that lands on another backend returns
//!   false and the lock stays with the pooled connection; a client disconnecting releases
//!   nothing (the server connection returns to the pool with its locks). A transaction pins its
//!   backend, so `xact_level = true` (the lock inside a transaction spanning the critical
//!   section) keeps working through the pooler.
//!
//! # Abstractions
//!
//! * The handshake is folded into the first query of a connection; the client closes no
//!   connection of its own (an application with a pool keeps it), so FIN is not modelled.
//! * A client `crash` is a host crash (no FIN/RST); a process crash whose kernel survives would
//!   close the connection at once — not modelled.
//! * A paused client's kernel would still answer probes; the simulator defers every message of
//!   a paused node, so here a pause longer than the probe window also ends the session.
//! * The blocking `pg_advisory_lock` (a wait queue on the server) is not modelled: the client
//!   polls the try-variant. The client's own keepalive is not modelled (its TCP only matters for
//!   its pending statement, which it retransmits).
//! * One database server; the pooler runs in the same node.
//! * `client_connection_check_interval` (PG 14+, default 0 = off) checks the socket only while a
//!   query runs — never for an idle lock holder — and is not modelled; nor are
//!   `idle_session_timeout` / `idle_in_transaction_session_timeout` (default off; they would end
//!   a healthy idle holder's session as readily as a dead one's).
//!
//! # Scenarios
//!
//! `scenarios/postgres-partitioned-holder.toml` (the holder cut off from the database during a
//! long critical section: default keepalive → the server keeps the session, safe; a scaled-down
//! keepalive → the server ends the session mid-partition, c2 acquires, c1 writes on: stale
//! write), `scenarios/postgres-holder-host-restart.toml` (the holder's host reboots: its new
//! session, and everyone else, find the lock held by the zombie session for the whole run;
//! scaled keepalive: the probe meets the rebooted kernel's RST), and
//! `scenarios/postgres-pooler-transaction-mode.toml` (session locks through PgBouncer: two
//! holders; transaction-level: safe).

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
