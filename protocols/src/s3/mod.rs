//! A lock on Amazon S3 conditional writes: the same shape as the GCS lock (`crate::gcs`), with
//! S3's preconditions — `seed-systems.md` §4 "S3 conditional writes / Azure blob lease", and the
//! S3 user guide's "conditional writes"
//! (docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html): `If-None-Match: *`
//! (create only if the key is absent) and `If-Match: <ETag>` (write only if the ETag matches;
//! 412 Precondition Failed otherwise).
//!
//! There is no canonical S3 lock library; this is the recipe seed-systems.md gives, which several
//! open-source S3 lock helpers follow:
//!
//! * **Acquire**: `PUT` the lock object `{owner, expires_at = now + ttl}` (`now`: the writer's
//!   wall clock) with `If-None-Match: *`. On 412, read the object: gone → create again; its
//!   `expires_at` is past by the READER's wall clock → **steal** it with `PUT If-Match: <its
//!   ETag>` (atomic: of two stealers only one matches); else sleep `retry_delay_ms` and retry.
//! * **Renew** every `renew_ms`: `PUT If-Match: <my ETag>` with a new `expires_at`; a 412 or 404
//!   means someone took the object over: the lock is lost.
//! * **Release**: `DELETE If-Match: <my ETag>` (`conditional_delete`, default; S3 added
//!   conditional deletes in 2024 — seed-systems.md notes it as not verified there), or a plain
//!   `DELETE` (`conditional_delete = false`), which deletes whoever's object is there.
//! * **No fencing token**: an ETag is a content hash, comparable for equality only.
//! * The library keeps a **local deadline** (send time of its last successful write + TTL, on its
//!   monotonic clock); the worker checks it before each write when `check_validity_before_write`.
//!
//! Compared with the GCS gem: every renewal is a *full* write, so each gets a fresh ETag (the
//! store's store-wide generation): a paused holder's stale `If-Match` can never match the next
//! holder's object (no ABA as with GCS's metageneration). Expiry is still judged by the reader's
//! clock against the writer's `expires_at`, so clock skew beyond `ttl − renew_ms` gives two holders.
//!
//! # What is abstracted
//!
//! * The bucket is the shared conditional-write store (`crate::store`, built by the registry's
//!   `store_server`); the ETag is the item's `generation` (unique store-wide). S3's 409
//!   `ConditionalRequestConflict` (a concurrent conditional write in flight) does not arise: the
//!   store handles one request at a time.
//! * Transport errors are a per-request timeout (`request_timeout_ms`): an acquire attempt that
//!   times out sleeps and retries; a renewal that times out is retried next period.
//!
//! # Switches (`[[protocols]]` keys)
//!
//! `ttl_ms` (30 000), `renew_ms` (`ttl / 3`), `retry_delay_ms` (1 000–2 000),
//! `acquire_timeout_ms` (`2 × ttl`), `request_timeout_ms` (1 000), `conditional_delete` (`true`),
//! `check_validity_before_write` (`false`). The defaults are this model's choice (no reference
//! library fixes them).

pub mod client;
pub mod params;
#[cfg(test)]
mod tests;

pub use client::*;
pub use params::{compile, S3Variant, MODELS, S3_KEYS};
