//! Chubby: Google's lock service for loosely-coupled distributed systems (Mike Burrows, "The
//! Chubby lock service for loosely-coupled distributed systems", OSDI 2006), modelled from the
//! paper: §2.4 (sequencers and lock-delay), §2.8 (sessions and KeepAlives), §2.9 (fail-overs).
//! Secondary source: the devmahmud "distributed systems field guide" pages on Chubby (sessions
//! and events; master election), as summarised in seed-systems.md §7. Chubby's code is not
//! public: every rule below is the paper's, and where the paper gives no number the parameter
//! says so.
//!
//! # The protocol
//!
//! A **cell** is a handful of replicas (the simulator's servers); one of them is the **master**,
//! which serves every call and writes the replicated database (sessions and locks).
//!
//! * **Sessions and KeepAlives** (§2.8). A client opens a session on first contact. Each session
//!   has a **lease**: an interval in which the master promises not to end it. The master extends
//!   the lease on creation, on a fail-over, and when it answers a **KeepAlive**: it *holds* the
//!   KeepAlive until the lease is close to its end ([`ChubbyParams::keepalive_reply_before_ms`]),
//!   then replies with the new lease timeout ("the default extension is 12s",
//!   [`ChubbyParams::lease_ms`]); the client sends its next KeepAlive at once, so one is almost
//!   always held. The master ends a session whose lease ran out, and frees its locks.
//! * **The client's local lease timeout** is conservative: the reply says how long the master held
//!   the call and how long the new lease runs from the reply, both on the master's clock; the
//!   client counts them from when it *sent* the KeepAlive (the call may have arrived at once and
//!   the reply been delayed), minus a drift allowance ([`ChubbyClientParams::drift_allowance_ms`]).
//!   (Every copy the library sends is numbered and the reply names the copy it answers, so that a
//!   re-sent KeepAlive is counted from its own sending — locklab's bookkeeping, not the paper's.)
//!   When it passes, the session is in **jeopardy**: the library looks for the master (KeepAlives
//!   to one replica after another) for a **grace period** ([`ChubbyClientParams::grace_period_ms`];
//!   the paper's 45 s default is not confirmed from a source by seed-systems.md, so it is only a
//!   parameter), and if none answers, the session is over. The library believes it holds its lock
//!   until then: local lease timeout + grace period is the validity deadline it records.
//! * **Locks** (exclusive mode here) are held by sessions. `Acquire` blocks at the master until the
//!   lock is free; the library re-sends an unanswered call ([`ChubbyClientParams::call_timeout_ms`]).
//! * **Sequencers** (§2.4): after acquiring, the holder asks for a sequencer — (lock name, mode,
//!   **lock generation number**), the generation incremented on every acquisition — and passes
//!   it to the servers it writes to, which check it (`CheckSequencer`, or "compare with the newest
//!   sequencer seen"). Here the generation is the fencing token the worker passes to the resource,
//!   and the resource's token check is that comparison: the `fencing` switch (scenario key
//!   `fencing`, "sequencer checked") turns it on. Tokens are always issued.
//! * **Lock-delay** (§2.4): if a lock becomes free because its holder's session ended (failed or
//!   unreachable), the master lets nobody claim it for the lock-delay ("currently one minute",
//!   the bound a client may ask for: [`MAX_LOCK_DELAY_MS`]); a normal release frees it at once.
//!   `lock_delay_ms = 0` turns it off. It protects an unmodified resource from a holder whose
//!   session ended while its request was delayed — as long as the delay outlasts the holder.
//! * **Master fail-over** (§2.9). A new master picks a new **epoch** number; clients send the
//!   epoch with every call and the master rejects calls of another epoch. It rebuilds its state
//!   from the database, extends every session's lease to the maximum the previous master may
//!   have granted (a full lease from now: the previous one granted at most that much from an
//!   earlier instant), answers only KeepAlives, each with a **fail-over event**, and waits until
//!   every session acknowledged it (or expired) before serving everything again. Locks and
//!   sessions survive the fail-over; a lock under lock-delay restarts its full delay.
//!
//! # What is abstracted (and why)
//!
//! Chubby replicates its database with Paxos and elects its master with Paxos and master leases.
//! A protocol folder may not import another's (the Raft folder included), so this folder models
//! the replication and the election directly and small:
//!
//! * **The database** ([`ChubbyDb`]: sessions, locks with holder, generation and lock-delay flag)
//!   is replicated by snapshot: after each write the master sends the whole database, numbered
//!   (epoch, seq), to every replica; a reply that reports a write (a grant, a release, a new
//!   session) is sent only once a quorum (the master counting itself) holds it.
//! * **The succession is deterministic** instead of a Paxos election: `servers[0]` is the first
//!   master (epoch 1); a replica that has not heard the master's heartbeat
//!   ([`ChubbyParams::master_heartbeat_ms`]) for an election timeout
//!   ([`ChubbyParams::election_timeout`]) moves on to the *next server in order*: if that is
//!   itself, it becomes master with epoch + 1; otherwise it waits another timeout for it, then
//!   moves on again. A new master first asks every replica to **promise** its epoch (they then
//!   reject older ones) and to send its database; with a quorum of promises it adopts the newest
//!   database among them — quorum intersection makes that contain every committed write, as in
//!   Paxos' first phase — writes it again under its epoch, and starts the fail-over above.
//! * **Master lease**: the master serves only while a quorum acknowledged one of its heartbeats
//!   within the master lease (the election timeout's minimum minus one heartbeat), and a replica
//!   promises a successor only once it has not heard the master for a master lease: any quorum
//!   that elects a successor shares a replica with the quorum behind the old master's lease, so
//!   the old master has stopped serving first (up to the clocks' drift, as in Chubby).
//! * **Jeopardy does not block the application**: the paper's library holds API calls during
//!   jeopardy; here the worker's writes go to the resource, not through Chubby, so what matters is
//!   only what the library believes (until the grace period ends).
//! * **No persistence**: a crashed server that restarts rejoins as an empty replica, its promises
//!   forgotten (the catalogue's scenarios crash a server without restarting it).
//! * **One session per client library**, kept open for the client's whole run (the paper's idle
//!   timeout, a minute without open handles or calls, never applies to a library that keeps
//!   KeepAlives going). Exclusive locks only (no shared mode, no files, no events besides the
//!   fail-over event, no cache).
//!
//! # What the scenarios show
//!
//! * `scenarios/chubby-pause-lock-delay.toml`: a holder paused past its session lease: the session
//!   expires, lock-delay keeps the lock free but unclaimable; a holder that resumes within the
//!   lock-delay writes harmlessly, one that resumes later writes stale — unless the resource checks
//!   sequencers; without lock-delay the other client has the lock at once.
//! * `scenarios/chubby-partition-jeopardy.toml`: a holder cut off from the cell believes (and,
//!   checking its belief, writes) through jeopardy until its grace period ends; the lock-delay must
//!   outlast it (1 min against 45 s: safe; 30 s: two holders, a stale write).
//! * `scenarios/chubby-master-failover.toml`: the master crashes while a client holds; the
//!   successor's new epoch and extended leases keep the session and the lock.
//!
//! The linearizability check treats a Chubby lock as a **mutex** (it has no TTL of its own: it
//! lasts until released or until its session ends), so a history in which a session expired under
//! a holder is reported as not linearizable — the Jepsen point, for sessions. `locklab check
//! chubby` / `chubby-sequencer` model-check one server and two clients with a pause (see
//! `models/README.md`).
//!
//! # Files
//!
//! * [`server`]: a replica / the master ([`ChubbyServer`]);
//! * [`client`]: the client library ([`ChubbyLock`]);
//! * [`msg`]: the messages ([`ChubbyMsg`]) and the database ([`ChubbyDb`]);
//! * [`params`]: the scenario keys, their defaults and validation, how a variant builds its nodes,
//!   and the variants `locklab check` model-checks.

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
