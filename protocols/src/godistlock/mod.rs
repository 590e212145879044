//! GoDistLock: the quorum + fence-token lock manager of the seed documents (`lietu/godistlockd`,
//! last commit d4ee8a9, 2021-06-20; its README says "HEAVILY WORK IN PROGRESS, UNUSABLE IN CURRENT
//! STATE"), modelled from its code: `server/server.go` (`DoLock`), `server/relaymanager.go` (the
//! phases, `WAIT_TIMEOUT`, `calculateQuorum`), `server/relay.go` (the peer's side),
//! `server/lockmanager.go` (the lock table, `NewFence`), `server/client.go` (`HandleOn`,
//! `HandleOff`, `Close`), `protocol.md` and `README.md`.
//!
//! # What the README promises
//!
//! "You will not be given a lock if the cluster of servers is unable to get a majority agreement
//! that you can get exclusive access to the lock"; "acquiring a lock requires >50% quorum"; "if
//! you are running a cluster of 3 servers, 1 server can go down and the rest can continue
//! operation"; "the fence token system will allow developers to build services that can check
//! that whoever is making changes is actually the one with the latest token".
//!
//! # What the code does
//!
//! A client speaks a line protocol to **one** server: `ON <lock> <timeout> <nonce>` (answered
//! `GIVE <nonce> <fence>`) and `OFF <lock> <nonce>` (never answered). That server coordinates
//! (`Server.DoLock`):
//!
//! 1. a **local provisional lock**: `TryGet(client, lock, TEMP_TIMEOUT = 1 s)`; if someone else
//!    holds it, `DoLock` returns nil at once;
//! 2. **`PROP`** to every other server: each takes a provisional lock for 1 s (`TryGet(relayId,
//!    lock, 1 s)`) owned by `relay:<coordinator id>` — the coordinator, not the client — and
//!    answers `STAT` 0 (ok), 1 (held by a client of mine) or 2 (held by another relay);
//! 3. **`SCHED`**: each peer `TryGet`s again (renewing its own provisional lock for 1 s) → `ACK`;
//! 4. **`COMM <lock> <timeout>`**: each peer `GetLock(relayId, lock, timeout)` — a firm lock with
//!    the client's timeout, still owned by the coordinator. `GetLock` *waits* while another owner
//!    holds the lock (the lock manager's queue), blocking that relay connection, and then answers
//!    `CONF 0`, possibly long after the coordinator stopped waiting.
//!
//! Each phase is a broadcast that waits for every reply or `WAIT_TIMEOUT` = 1 s and counts the
//! replies with status 0 **from the other servers only**; it needs `ok ≥ quorumNeed =
//! ceil(n × 0.5001)` with `n` the servers in the address list (the coordinator's own vote is
//! not counted): with 3 servers both others must agree, with 4 all three others. After each
//! successful phase the coordinator's local lock is made valid for the client's timeout. A phase
//! without quorum makes `DoLock` **release its local lock only** — no peer is told, so their
//! provisional (1 s) or firm (`timeout`) locks stay until they expire — and return nil.
//!
//! The **fence** is `NewFence()` = `strconv.FormatUint(monotime.Now(), 10)`, drawn when the
//! coordinator's local lock is given: a reading of *that machine's* monotonic clock, i.e. the
//! time since it booted ("TODO: This should figure out the correct fence to use in relay
//! network"). Fences from two coordinators are not comparable. The simulator's monotonic clocks
//! all start at 0 and differ only by drift, so each server has an **uptime** (`godistlock_uptime_ms`,
//! default 0 for every server): fence = uptime + the server's local monotonic reading from
//! [`Ctx`](crate::node::Ctx). With the default, the fence is that server's local clock reading
//! and fences from different servers differ only by drift.
//!
//! Locks expire by the server's monotonic clock (`Expires > monotime.Now()`); nothing is
//! persisted (a restarted server has an empty table). `OFF` releases **only locally**: the relay
//! `OFF` is defined in `protocol.md` but never sent, and the relay's `Incoming` would reject it.
//!
//! # Defects, as they show here
//!
//! * **Fences from two coordinators interleave** (`scenarios/godistlock-fence-interleave.toml`):
//!   a later holder's fence from a server that booted later is *below* an earlier holder's, so a
//!   fencing resource accepts the earlier holder's stale write after the later holder's (and
//!   token order is violated).
//! * **`OFF` and failed acquires leave peers holding** (`scenarios/godistlock-off-local.toml`):
//!   the next client, through another coordinator, waits for the whole timeout. (Through the same
//!   coordinator it does not: the peers "re-establish" the lock for the same relay id.)
//! * **"1 server can go down"** is false (`scenarios/godistlock-server-loss.toml`): with 3 servers
//!   the coordinator needs both others, so after one crash nobody acquires.
//! * **`Release` of a lock nobody holds never returns** (its answer channel is only written when
//!   the lock is held): an `OFF` after the lock expired, or a failed `DoLock` whose local lock
//!   expired meanwhile, blocks that client's connection for good. Since `WAIT_TIMEOUT` equals
//!   `TEMP_TIMEOUT` (1 s), *every* `PROP` that waits out a silent peer finds its local lock just
//!   expired: that client never hears from this server again. Modelled
//!   ([`GoDistLockServer::hung_clients`]); the client library times out and moves to the next server.
//! * **The nil-pointer panic**: `HandleOn` reads `lock.Fence` of the nil lock of a failed
//!   acquire and the process dies. Switch `godistlock_nil_panic = true` (the server halts); by
//!   default the server answers `ERR`, as the client protocol's error reply would — a deliberate
//!   departure, or every contended acquire would kill its coordinator.
//!
//! The fixed variant, `godistlock_fixed = true`, shows what it would take (each piece was needed:
//! the model checker found a counterexample to token order or mutual exclusion without it):
//! * a fence counter agreed by the quorum: each peer that grants `PROP` bumps its counter and
//!   returns it, the fence is the maximum, `COMM` carries it and peers keep the maximum;
//! * a majority quorum that counts the coordinator itself — but only while it still holds its
//!   own local lock;
//! * provisional locks that outlast a whole `DoLock` (four `WAIT_TIMEOUT`s instead of one), so
//!   that a phase waiting out a silent peer cannot lose them to a competitor;
//! * locks owned by one acquire (coordinator and client), not by the coordinator alone (two
//!   clients of one coordinator) nor by the client alone (one client retrying through two);
//! * an abort (relay `OFF`) to the peers when a phase fails, `OFF` relayed to the peers, and no
//!   hanging `Release`.
//!
//! # The client library
//!
//! godistlockd ships none; [`GoDistLockClient`] is the one its README describes: `ON` to one
//! server (client *i* starts with server *i* mod *n*, so different clients use different
//! coordinators), `ERR` → back off and retry, no answer within `acquire_timeout_ms` → the next
//! server ("clients know to switch to another server if connections to one fail"). The lock is
//! valid for the `ON` timeout measured on the client's clock from when `ON` was sent, and a
//! `GIVE` that arrives after that is no lock (retry); the token is the fence. `OFF` goes to the
//! server that gave the lock and is never answered.

//! # Abstractions
//!
//! * Relay connections are not modelled: every phase goes to every other server, and a crashed
//!   or partitioned one simply does not answer within `WAIT_TIMEOUT` (the real relay manager
//!   sends only on live connections and refuses at once, `CanHaveQuorum`, when fewer than
//!   `quorumNeed` are connected: the same outcome, without the 1 s wait). Peers always "can have
//!   quorum" (`STAT` 3 is never sent).
//! * Client connections are not modelled either: a client's disconnect (`Client.Close`, which
//!   releases its locks locally) does not happen; a crashed client's locks expire by timeout.
//! * The lock manager's 10 ms queue poll is an exact wake-up when the blocking lock expires; two
//!   `COMM`s queued for the same lock are served in coordinator order (Go: map order, random).
//!
//! # Files
//!
//! * [`server`]: the server ([`GoDistLockServer`]): lock table, coordinator, relay peer;
//! * [`client`]: the client library ([`GoDistLockClient`]);
//! * [`msg`]: the messages ([`GoDistLockMsg`]);
//! * [`params`]: scenario keys, defaults and validation ([`compile`]), the nodes of a world
//!   ([`GoDistLockVariant`]) and the variants `locklab check` model-checks ([`MODELS`]).

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
