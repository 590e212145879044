//! amazon-dynamodb-lock-client (awslabs, commit 601eab1): a lock kept as an item in a DynamoDB
//! table, over the conditional-write [store](crate::msg::StoreMsg) (`protocols/src/store/`, which
//! the registry composes with this client: folders do not import each other).
//!
//! Sources (seed-systems.md, "awslabs/amazon-dynamodb-lock-client"):
//! `src/main/java/com/amazonaws/services/dynamodbv2/AmazonDynamoDBLockClientOptions.java` (defaults
//! L35-41, the lease-vs-heartbeat warning L318), `AcquireLockOptions.java` (L86-92; refreshPeriod
//! and additionalTimeToWait default `DEFAULT_BUFFER_MS` = 1000 ms, L287, L466-476),
//! `AmazonDynamoDBLockClient.java` (acquireLock L497-615, the lookup time before the write L766,
//! sendHeartbeat L1213-1305, the heartbeat loop L1311-1335, the RVN `UUID.randomUUID()` L1393,
//! SessionMonitor's bounds L1425-1432), `LockItem.java` (`isExpired`), and the README's "How we
//! handle clock skew".
//!
//! # The algorithm
//!
//! The lock is an item `{key, ownerName, leaseDuration, recordVersionNumber, isReleased, data}`. It
//! stores **no absolute time**: the record version number (RVN, a random UUID written with every
//! acquire and every heartbeat) is the holder's proof of life, and each client measures durations
//! on **its own monotonic clock**.
//!
//! * **Acquire** ([`DynamoDbLock`], `acquireLock`): read the item (`GetItem`). Absent: `PutItem` if
//!   `attribute_not_exists`. Released: `PutItem` if `isReleased = true`. Held by someone: the first
//!   sighting remembers the item and the local time of the lookup, and extends the call's patience
//!   by the item's lease (once); every `refreshPeriod` (1 s) the item is read again: the same RVN
//!   for longer than the lease **since this waiter first saw it** means the holder stopped
//!   heartbeating — `PutItem` if the RVN is still the one seen; a different RVN restarts the
//!   observation. A conditional check that fails, or patience (`additionalTimeToWait` + one lease)
//!   run out, ends the call with `LockNotGrantedException` (an `AcquireFail` here; the worker
//!   tries again after its idle time). A successful write's lookup time is taken **before** the
//!   request is sent (L766), so the holder's own lease ends no later than any waiter's view of it.
//! * **Heartbeats** (a background thread, every `heartbeatPeriod` = 5 s, minus the time the last
//!   one took): `UpdateItem` with a new RVN if the RVN and owner are still this client's. Success:
//!   the lookup time becomes the heartbeat's send time. `ConditionalCheckFailed`: someone took the
//!   lock; the client stops heartbeating it (`LockLost` here). Any other failure leaves the lookup
//!   time alone: the lease runs out locally after `leaseDuration` (20 s).
//! * **Validity**: `LockItem.isExpired()` is `now − lookupTime > leaseDuration` on the holder's
//!   monotonic clock; the worker (with `check_validity_before_write`) asks it before each write.
//! * **Release** (`deleteLockOnRelease`, the default): stop heartbeating, `DeleteItem` if the RVN
//!   and owner are still this client's.
//!
//! Why clock skew does not matter ("How we handle clock skew"): no client compares its clock with
//! another's. A waiter takes over at least one lease after it *saw* the RVN that the holder last
//! wrote, and the holder counts its lease from *before* that write — so in true time the waiter's
//! takeover comes after the holder's own deadline, whatever their wall clocks say (drift aside).
//! What it does **not** survive: a holder that stops running (a GC pause longer than the lease)
//! and then writes without looking — there is **no fencing** (the RVN is a random UUID; issue #1,
//! issue #62 "Document limitations", and PR #3 "fencing via sequence ids", open and unmerged).
//!
//! # Switches (each a `[[protocols]]` key)
//!
//! * `hold_lock_on_service_unavailable` (`holdLockOnServiceUnavailable`, false): on a heartbeat
//!   that fails with "service unavailable" the client just bumps its lookup time — "for systems
//!   which should always hold a lock … and it is okay for multiple threads to hold the lock". Two
//!   holders, knowingly. The library reports the heartbeat as a success (`ExtendOk`).
//! * `session_monitor_safe_ms` (`SessionMonitor`'s `safeTimeWithoutHeartbeat`, none): the holder's
//!   validity ends this long after the last successful heartbeat — the *danger zone* before the
//!   lease's end, where the monitor's callback runs; `is_valid` turns false there. It must satisfy
//!   `heartbeat_ms < session_monitor_safe_ms < lease_ms` (L1425-1432; the client throws otherwise).
//! * `fencing_sequence` (PR #3, false): the holder passes a monotonic sequence with each write and
//!   the resource rejects a lower one. Here the sequence is the item's `generation` from the
//!   store's counter (a full write, `PutItem`, takes a new one; heartbeats keep it), and the store
//!   records each grant with it (the ground truth for `token_order`).
//! * `absolute_expiry` (false; **not** the DynamoDB client's behaviour — a contrast): every write
//!   also stores `expires_at` = the writer's wall clock + lease, and a waiter takes the lock as soon
//!   as **its own wall clock** is past it (the GCS/S3 lock style), without observing the RVN for a
//!   lease. Under client clock skew it takes over early (`scenarios/dynamodb-clock-skew.toml`).
//!
//! # What is abstracted, and how
//!
//! * **The table** is the conditional-write store, one node ([`crate::msg::StoreMsg`];
//!   linearizable, durable). DynamoDB's `ConsistentRead`, which the client uses for `GetItem`, is a
//!   read of that one copy. Item attributes: `ownerName` → `owner` (the client's node id: one
//!   owner name per client), `recordVersionNumber` → `nonce` (a 64-bit draw from the node's seeded
//!   randomness per write, for the UUID), `leaseDuration` → `lease_ms`, `isReleased` → `released`;
//!   no `data`.
//! * **Conditions**: the takeover of an expired lock writes if `#rvn = :rvn` (and the owner it
//!   observed, which the RVN determines). `acquireReleasedLocksConsistently` (false) is not
//!   modelled: a released lock is taken on `isReleased` alone, as by default.
//! * **SDK errors**: DynamoDB's 503 and the SDK's retries and socket timeout are reduced to one
//!   `request_timeout_ms` (default 50 s, the SDK's `DEFAULT_SOCKET_TIMEOUT`; scenarios scale it):
//!   a call with no answer by then fails. A failed `GetItem` or `PutItem` ends `acquireLock` with
//!   the exception (`AcquireFail`, not definite); a failed heartbeat counts as "service
//!   unavailable" for `hold_lock_on_service_unavailable` (a partitioned or crashed store: the
//!   service is unreachable either way).
//! * **Threads**: the heartbeat thread and the application run in one state machine, so a process
//!   pause stops both (as a JVM GC pause does); the session monitor's callback is not run — its
//!   effect is the shortened validity.
//! * **One lock per client at a time**, as the worker uses it (the client's `locks` map holds one).
//!
//! # Files
//!
//! * [`client`]: the lock client ([`DynamoDbLock`]);
//! * [`params`]: the scenario keys ([`DYNAMODB_KEYS`]), defaults and validation ([`compile`]), the
//!   variants `locklab check` model-checks ([`MODELS`]).

pub mod client;
pub mod params;
#[cfg(test)]
mod tests;

pub use client::*;
pub use params::*;
