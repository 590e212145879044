//! The Google Cloud Storage lock of the seed thread's author: FooBarWidget's
//! `distributed-lock-google-cloud-storage` Ruby gem (github.com/FooBarWidget/distributed-lock-google-cloud-storage-ruby,
//! commit 5e7ef23, 2023-05-12: `lib/distributed-lock-google-cloud-storage/lock.rb`,
//! `constants.rb`, `README.md`), as summarised with sources in `seed-systems.md`
//! ("FooBarWidget/distributed-lock-google-cloud-storage-ruby").
//!
//! # The algorithm
//!
//! The lock is one object in a bucket. The store (GCS) has no TTL: expiry lives in the object's
//! metadata, written by the holder on *its* wall clock and judged by every reader on *its own*.
//!
//! * **Identity**: `SecureRandom.hex(12)` + `-` + the pid (+ the thread id when `thread_safe`),
//!   drawn per `Lock` instance — a restarted process is somebody else.
//! * **Acquire** (`lock`, `timeout: 2 * ttl`): create the object with `if_generation_match: 0`
//!   (create-only) and metadata `{expires_at: now + ttl, identity}`, `now` the LOCAL wall clock.
//!   On a precondition failure, read the object:
//!   - gone → retry at once;
//!   - `identity == mine` → the lock "was already owned by this instance, but was abandoned":
//!     delete it with `if_metageneration_match` and retry at once (**instant recovery**);
//!   - my clock is past the writer's `expires_at` → **stale**: delete it with
//!     `if_metageneration_match`, then back off (`:error`);
//!   - else back off. Back-off: random in `[backoff_min, last × multiplier]`, capped at
//!     `backoff_max` (1 s, 2, 30 s).
//! * **Refresher thread**: every `refresh_interval` (default `ttl / (max_refresh_fails × 3)` =
//!   33.3 s for 300 s; `DEFAULT_TTL_REFRESH_INTERVAL_DIVIDER = 8` is defined but referenced
//!   nowhere) update `expires_at = now + ttl` with `if_metageneration_match` and keep the new
//!   metageneration. A precondition failure or NotFound is **permanent** (the thread exits at
//!   once); other errors count, and `max_refresh_fails` (3) consecutive ones end the thread. Then
//!   `healthy?` is false.
//! * **The worker must poll `healthy?`** (`check_health!`, README "Long-running operations"): the
//!   library never interrupts work. Switch `worker_checks_health` (default `false`, the library
//!   as it ships); even when it polls, `healthy?` only says the refresher thread is alive — it
//!   does not compare `expires_at` with the clock, so a holder paused past its TTL still reads
//!   healthy until its next refresh fails.
//! * **Unlock**: stop the refresher, delete with `if_metageneration_match`.
//! * **No fencing token**: the metageneration stays inside the library (`token()` is `None`).
//!
//! * **Preconditions on the metageneration alone** (`refresh_lock` and `delete_lock_object` build
//!   the file with `skip_lookup: true` and pass only `if_metageneration_match`): GCS restarts the
//!   metageneration at 1 for every new generation of an object, so a holder that lost its object
//!   while paused can still *refresh* (or *delete*) the next holder's object while that one's
//!   metageneration equals its own — an ABA. Its refresh then succeeds (it stays healthy and
//!   extends the other's `expires_at`), and the rightful holder's next refresh fails. The model
//!   checker's pause counterexample shows it (`locklab check gcs`). (Abstraction: the store's
//!   metadata update writes every field, so here that stray refresh also writes the paused
//!   holder's identity into the object, where GCS's patch would leave the new holder's; either
//!   way the rightful holder's refresh and unlock fail on the metageneration.)
//!
//! Known defects this model shows (catalogue `scenarios/gcs-*.toml`): staleness compares the
//! reader's clock with the writer's, so a skew of more than `ttl − refresh_interval` gives two
//! holders; a pause past the TTL gives a stale write (no fence); a crashed holder blocks the lock
//! for ≈ TTL unless the same identity comes back (instant recovery).
//!
//! # What is abstracted, and how
//!
//! * **Read from the code** (`lock.rb` at the gem's main branch): `lock`, `unlock` (joins the
//!   refresher thread before the delete), `refresh_lock`, `delete_lock_object`, `lock_stale?`,
//!   `healthy?` (`@refresher_thread.alive?`).
//! * **The bucket** is a store server (`crate::store`): a linearizable key → item map with
//!   generation / metageneration preconditions. The object's metadata are the item's
//!   `owner` (= identity) and `expires_at_wall_ms`; its body is empty.
//! * **Transport errors**: each request has a timeout (`request_timeout_ms`, 1 s); an unanswered
//!   acquire request ends the attempt with `:error` (back-off), an unanswered refresh counts as a
//!   refresh error. (The Google client retries some errors itself; those retries are folded into
//!   the one timeout.)
//! * **Threads**: the refresher is a timer of the same state machine; `healthy?` is
//!   [`GcsLock::is_valid`]. The `lock(timeout:)` deadline is checked when an attempt returns
//!   `:error`, as `retry_with_backoff_until_success` does.
//! * **Identity across restarts** (`identity_survives_restart`, default `false`): a variant in
//!   which the identity is stable per client (a user-provided identity), to show instant recovery
//!   after a crash; with the default a restarted client is a stranger and waits out the TTL.
//!
//! # Switches (`[[protocols]]` keys)
//!
//! `ttl_ms` (300 000), `refresh_interval_ms` (`ttl / (max_refresh_fails × 3)`),
//! `max_refresh_fails` (3), `backoff_min_ms` (1 000), `backoff_max_ms` (30 000),
//! `backoff_multiplier` (2), `lock_timeout_ms` (`2 × ttl`), `request_timeout_ms` (1 000),
//! `identity_survives_restart` (`false`), `worker_checks_health` (`false`).
//!
//! # Files
//!
//! * [`client`]: the lock library ([`GcsLock`]);
//! * [`params`]: the scenario keys, defaults, validation, and the variants `locklab check` runs.
//!   The server is the shared conditional-write store.

pub mod client;
pub mod params;
#[cfg(test)]
mod tests;

pub use client::*;
pub use params::{compile, GcsVariant, GCS_KEYS, MODELS};
