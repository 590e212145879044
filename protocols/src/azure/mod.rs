//! A lock on an Azure blob lease: the lock is the lease on the lock blob
//! (`learn.microsoft.com/rest/api/storageservices/lease-blob`; `BlobLeaseClient` in the Azure
//! SDKs; seed-systems.md §4 "S3 conditional writes / Azure blob lease").
//!
//! # The algorithm
//!
//! * **Acquire**: make sure the blob exists (create-if-absent), then `Lease Blob` `acquire` with a
//!   proposed lease id (a GUID) and a duration of 15–60 s or infinite (−1). 409
//!   `LeaseAlreadyPresent` → sleep `retry_delay_ms` and retry.
//! * **Renew** every `renew_ms` (finite leases): `renew` with the lease id restarts the duration.
//!   Refused (the lease was broken, or taken by another after it expired) → lost.
//! * **Release**: `release` with the lease id: the blob is available at once.
//! * **Break** (`break_after_ms`): a waiter refused for that long breaks the lease — no lease id
//!   needed — with `break_period_ms` (0–60 s; used only if shorter than what remains); a
//!   breaking lease cannot be renewed, and once broken it can be acquired. This is how a lock
//!   with an **infinite** lease is recovered from a dead holder (without it: stuck forever).
//! * **The expiry is the service's**: the store judges leases on its own clock — no client wall
//!   clock is involved (unlike the GCS and S3 locks).
//!
//! # The fence — for that blob only
//!
//! The service **enforces** the lease on writes and deletes of the leased blob: a write without
//! the current lease id is refused (`LeaseConflict`, HTTP 412 `LeaseIdMissing` / 409). So data
//! kept *in the leased blob itself* is fenced by the server: a holder that lost the lease (paused
//! past it, then another acquired) cannot overwrite it. [`AzureLock::write_blob`] is that write;
//! the unit test `a_write_to_the_leased_blob_needs_the_current_lease_id` shows the store refusing
//! a stale holder's write.
//!
//! Writes to **any other resource** are not fenced: the lease id is a GUID, equal-or-not, that no
//! other service checks, and no ordered token comes with it. The catalogue's protected resource
//! is such another resource (a separate node: the worker's writes never reach the store), so the
//! scenarios show the unfenced case: a holder paused past its lease writes after the next holder
//! (`azure-gc-pause.toml`). *Abstraction:* the catalogue cannot route the worker's
//! read-modify-write to the leased blob — the resource node is protocol-neutral and checks only
//! ordered tokens — so the blob-fenced case is shown at the store by the unit test instead.
//!
//! # Switches (`[[protocols]]` keys)
//!
//! `lease_duration_ms` (60 000; Azure's 15 000–60 000), `infinite_lease` (`false`), `renew_ms`
//! (duration / 3), `retry_delay_ms` (1 000–2 000), `acquire_timeout_ms` (120 000),
//! `request_timeout_ms` (1 000), `break_after_ms` (none), `break_period_ms` (0),
//! `check_validity_before_write` (the library's local deadline: renewal send time + duration).

pub mod client;
pub mod params;
#[cfg(test)]
mod tests;

pub use client::*;
pub use params::{compile, AzureVariant, AZURE_KEYS, MODELS};
