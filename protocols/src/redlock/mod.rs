//! Redlock: a lock over N independent Redis servers, as the Redis distributed-lock document
//! ("Distributed Locks with Redis", the Redlock algorithm) specifies it.
//!
//! # The algorithm
//!
//! The servers are *independent*: no replication, no coordination — each is the single-server
//! lease of [`crate::lease`]. To acquire, a client:
//!
//! 1. reads its clock (`start`);
//! 2. sends `SET key value NX PX ttl` with one random `value` to all N servers, giving each a
//!    small per-server timeout (`server_timeout_ms`) so a dead server cannot stall it;
//! 3. computes the time spent, `elapsed = now − start`, and the lock's **validity**:
//!    `validity = ttl − elapsed − drift`, where `drift = ttl × drift_factor + 2 ms` allows for
//!    the servers' clocks running at different rates (the document's defaults: 0.01 and 2 ms; the
//!    implementations it lists explain the 2 ms as "Redis expires precision, which is 1
//!    millisecond, plus 1 millisecond min drift for small TTLs" — RedLock.net, redlock-php). A
//!    server expires a key when *its own* clock says the TTL is over, so a server whose clock runs
//!    fast by a fraction `f` drops the key `ttl × f / (1 + f)` early; the allowance covers any `f`
//!    up to the drift factor. `scenarios/redlock-fast-server-clocks.toml` is the scenario that needs it: two of
//!    three servers 0.8% fast, keys gone ~79 ms early, allowance 102 ms — safe with it, two
//!    holders without it (`drift_factor = 0`, `drift_extra_ms = 0`);
//! 4. holds the lock only if a **majority** (N/2 + 1) granted it **and** the validity is
//!    positive; it may then act as holder for `validity`;
//! 5. otherwise unlocks *all* servers (even those it thinks refused: a reply may have been lost)
//!    and retries after a random delay, so that competing clients desynchronise (scenario #17).
//!
//! Extending sends the guarded `PEXPIRE` to all servers and succeeds on the same two conditions;
//! release is compare-and-delete on every server.
//!
//! # Where it breaks (Kleppmann 2016 vs antirez, "Is Redlock safe?")
//!
//! Redlock's safety rests on timing: the servers' expiry must not run fast (a wall-clock jump on
//! one server expires its key early: scenario #4 — antirez's answer is "don't step clocks; use
//! the monotonic clock", `expiry_clock = "monotonic"`), a server must not forget a key on restart
//! (scenario #5: persistence, or a restart delayed by the TTL), and a client that pauses after
//! step 3 cannot know it (scenario #1). The elapsed-time check of step 3 catches a pause *during*
//! acquisition (scenario #6); switch it off (`validity_check = false`) to see why it is there.
//! Redlock issues no fencing tokens.
//!
//! # Files
//!
//! * [`client`]: the Redlock library ([`Redlock`]). Redlock has no server of its own: it speaks the
//!   lease protocol's messages ([`crate::Msg`]'s `acquire`, `release`, …) to independent lease servers.

pub mod client;

pub use client::*;
