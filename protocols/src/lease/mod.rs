//! A single-server lease lock: the Redis key of "Distributed Locks with Redis".
//!
//! # What Redis does
//!
//! The lock is a key on one server. To acquire, a client sends `SET key value NX PX ttl` with a
//! fresh random `value`. Redis's `SET` documentation (redis.io/commands/set) defines the two
//! options: `NX` — "Only set the key if it does not already exist"; `PX` — "Set the specified
//! expire time, in milliseconds"; and the reply: `OK` if the key was set, nil "if the `SET`
//! operation was not performed because the user specified the `NX` or `XX` option but the
//! condition was not met". An expired key does not exist. So the server answers nil **whenever
//! the key exists, whatever value it holds** — including the value of the very client asking.
//! The distlock page ("Distributed Locks with Redis", redis.io/topics/distlock) adds the rest:
//! the value "must be unique across all clients and all lock requests", and release is a script
//! that deletes the key only if it still holds the caller's value (compare-and-delete). The holder
//! may extend the lease before it runs out (`PEXPIRE` guarded by the same comparison, as
//! redis-py's `Lock.extend` does). A plain `DEL` deletes whoever holds the key now and is kept as
//! a variant (scenario #8).
//!
//! Because `SET NX` is not idempotent, a client whose grant was lost in the network cannot learn
//! it holds the lock by asking again: the retry is refused by its own key. It has to *read* the
//! key: `GET` (and `PTTL` for how long it has left) — [`KvMsg::Get`](crate::KvMsg::Get), answered here, and used by the
//! lease client ([`client`]) after a refusal that follows an unanswered request. (Some
//! libraries move that comparison into the server instead: bsm/redislock's `obtain.lua` answers a
//! failed `MSETNX` by comparing the stored token with the caller's and, if they match, re-setting
//! the key and its TTL — server-side idempotency without a hold count. locklab models the plain
//! `SET NX` and, as the named alternative, Redisson's counted one.)
//!
//! # Redisson's reentrant lock ([`ServerKind::Redisson`])
//!
//! Redisson's `RLock` keeps the lock in a hash whose field is `<client UUID>:<thread id>` and whose
//! value is a hold count. Its acquire script (`RedissonLock.tryLockInnerAsync`, redisson/redisson
//! `redisson/src/main/java/org/redisson/RedissonLock.java`):
//!
//! ```lua
//! if ((redis.call('exists', KEYS[1]) == 0) or (redis.call('hexists', KEYS[1], ARGV[2]) == 1)) then
//!     redis.call('hincrby', KEYS[1], ARGV[2], 1); redis.call('pexpire', KEYS[1], ARGV[1]); return nil;
//! end; return redis.call('pttl', KEYS[1]);
//! ```
//!
//! and its unlock (`unlockInnerAsync`): no field → nil (an error to the caller); otherwise
//! `hincrby -1`; above zero → `pexpire` with the lease time and return 0 (the caller's `unlock()`
//! returns normally); at zero → `del` and publish. The acquire is reentrant, so an acquire that
//! is *resent* after a response timeout succeeds a second time and leaves the hold count at 2; one
//! `unlock()` then only decrements it and re-arms the TTL, and the lock stays held until the TTL
//! runs out. Redisson's command executor resent timed-out commands (`retryAttempts`) until 3.37.0
//! made the lock scripts "no retry" (commit 85be4d67, `evalWriteSyncedNoRetryAsync`); the
//! resend-and-count-2 behaviour is reported in redisson/redisson#4822 (cluster failover: "the
//! redis lock counter value goes up to 41 (as we have 40 retries)") and #7367 (replicated mode,
//! 3.52.0: "One `tryLock()` returns `true` with `getHoldCount() == 2`"). This is the only server
//! here that grants an acquire to a key that exists.
//!
//! # What can go wrong (and which parameter shows it)
//!
//! * Expiry is judged on the server's clock: its **wall** clock (what Redis does: keys store an
//!   absolute Unix time, so a clock step expires them early, scenario #4) or its **monotonic**
//!   clock ([`ExpiryClock`]).
//! * Persistence ([`Persistence`]): none (a restart forgets every lock), fsync on every write
//!   (`appendfsync always`), or fsync every second (`appendfsync everysec`: up to a second of
//!   grants is lost). A delayed restart (`restart_delay_ms` ≥ TTL, antirez's remedy) keeps a
//!   restarted server silent until every lease it might have granted has expired.
//! * Fencing tokens ([`LeaseServerParams::tokens`]): each grant carries a token from a counter that
//!   strictly increases (Kleppmann 2016, "Making the lock safe with fencing"). The counter is only
//!   monotonic across restarts if it is durable ([`TokenCounter::Durable`]: synced on every grant).
//!   Redis has no such counter; think of an `INCR` run in the same script as the `SET NX`.
//!
//! * Asynchronous replication ([`LeaseServerParams::replicate_to`]): a primary forwards every
//!   change to its replicas `replication_delay_ms` later. A primary that crashes inside that window
//!   takes the grant with it; the client that fails over to the promoted replica finds the lock
//!   free (scenario #7, the Redis distlock document's objection to a replicated single instance).
//!
//! * Lock-delay ([`LeaseServerParams::lock_delay_ms`], scenario #13): the TTL is the server's
//!   failure detector, and it has false positives (a holder whose heartbeats were lost is alive and
//!   may be mid-write). Chubby and Consul keep a lock whose session *expired* (not one that was
//!   released) unavailable for a lock-delay, so the wrongly-declared-dead holder's requests land
//!   before anyone else can be granted the lock — fewer stale writes, at an availability cost.
//!   (Not a Redis feature: during the delay `SET NX` is refused and `GET` answers nil.)
//!
//! Sources: Redis, `SET` command reference and "Distributed Locks with Redis" (SET NX PX, random
//! value, compare-and-delete, "crash-recovery and fsync"); Redisson `RedissonLock.java`;
//! M. Kleppmann, "How to do distributed locking" (2016).
//!
//! # Files
//!
//! * [`server`]: the lease server ([`LeaseServer`]);
//! * [`client`]: the lease lock library ([`LeaseLock`]), with its own docs on retries, validity,
//!   heartbeats and failover;
//! * [`msg`]: the payload a primary forwards to its replicas (the requests and replies themselves
//!   are variants of [`crate::Msg`]: `acquire`, `extend`, `release`, `get`, `replicate`, …);
//! * [`durable`]: what a server keeps on disk.

pub mod client;
pub mod durable;
pub mod msg;
pub mod params;
pub mod server;

pub use crate::node::Persistence;
pub use client::*;
pub use durable::*;
pub use msg::*;
pub use params::*;
pub use server::*;
