//! The conditional-write store: the server role under the store-based locks (DynamoDB's lock
//! client; the GCS, S3 and Azure Blob locks). Not a lock service: a linearizable key → item store
//! whose only concurrency control is the **precondition** checked atomically with each write, plus,
//! per item, an optional **Azure Blob lease** the store itself enforces. Nothing expires on the
//! store's side except Azure leases: a lock built on it measures leases itself (DynamoDB: the
//! waiter's own monotonic clock; GCS/S3: the writer's `expires_at` against the reader's wall clock).
//!
//! # The data model ([`StoreItem`], [`StoreMsg`], in `msg.rs`: several folders speak it)
//!
//! An item holds the lock record's fields — `owner`, `nonce` (DynamoDB's `recordVersionNumber`,
//! a random UUID per write; the GCS lock's identity), `lease_ms` (DynamoDB's `leaseDuration`
//! attribute), `expires_at_wall_ms` (the GCS/S3 locks' metadata, on the writer's wall clock),
//! `released` (DynamoDB's `isReleased`) — and two version numbers the store stamps:
//!
//! * `generation`: every successful **full write** ([`StoreMsg::Put`]: DynamoDB `PutItem`, S3
//!   `PutObject`, GCS object insert) takes the next value of one **store-wide** counter, so
//!   generations increase across keys and across delete and re-create, as GCS object generations
//!   do. It is the S3 ETag's stand-in (S3's ETags are content hashes, not ordered: a client may
//!   only compare them for equality, which is all `If-Match` does) and a usable fencing sequence
//!   (the DynamoDB lock client's unmerged PR #3, "fencing via sequence ids").
//! * `metageneration`: 1 after a full write, + 1 per **metadata update** ([`StoreMsg::Update`]:
//!   DynamoDB `UpdateItem`, GCS object patch), which keeps the generation.
//!
//! # Conditions ([`StoreCond`])
//!
//! | condition | real API |
//! |---|---|
//! | `None` | unconditional |
//! | `IfAbsent` | DynamoDB `attribute_not_exists(#pk)`; S3 `If-None-Match: *`; GCS `if_generation_match: 0` |
//! | `IfGeneration(g)` | S3 `If-Match: <ETag>`; GCS `if_generation_match: g` |
//! | `IfMetageneration(m)` | GCS `if_metageneration_match: m` |
//! | `IfNonce { owner, nonce }` | DynamoDB `attribute_exists(#pk) AND #rvn = :rvn AND #on = :on` |
//! | `IfReleased` | DynamoDB `attribute_exists(#pk) AND #ir = :ir` (`:ir` = true) |
//!
//! A condition other than `None` and `IfAbsent` requires the item to exist. A failed condition
//! answers [`StoreOutcome::PreconditionFailed`] (DynamoDB's `ConditionalCheckFailedException`, HTTP
//! 412) and changes nothing. An unconditional update or delete of an absent key answers
//! `NotFound`; a *conditional* one on an absent key answers `PreconditionFailed` (DynamoDB's
//! behaviour; GCS would answer 404 — a lock client treats both as "not mine any more").
//!
//! # Azure Blob leases ([`LeaseOp`], [`LeaseState`])
//!
//! `learn.microsoft.com/rest/api/storageservices/lease-blob` (seed-systems.md §4): a lease is
//! acquired with a proposed lease id for 15–60 s or infinitely; renewed (also after it expired,
//! as long as nobody wrote the blob without it or leased it since); released; or **broken** by
//! anyone without the lease id, with a break period 0–60 s that is used only if it is shorter
//! than what remains of the lease (an infinite lease breaks after the period). A breaking lease
//! cannot be renewed or acquired (a second break may only shorten it); once the period ends the
//! lease is *broken*: it can be acquired again (or released by its id). While a lease is in force
//! (leased or breaking) the store **refuses** every write and delete of that blob that does not
//! carry the lease id ([`StoreOutcome::LeaseConflict`]), and a write that carries a lease id when
//! no lease is in force (HTTP 412 `LeaseNotPresentWithBlobOperation`): the lease id is a
//! server-checked fence — for that blob only. A write without a lease id to a blob whose lease
//! has expired ends the lease (it is then available; its holder can no longer renew it). The
//! lease check comes before the condition. A delete removes the lease with the blob. A lease's
//! expiry and break period are judged on the **store's own monotonic clock** (the service's).
//! Lease operations on an absent key answer `NotFound`; a duration outside 15–60 s or a break
//! period above 60 s answers `BadRequest` (HTTP 400).
//!
//! # What is abstracted
//!
//! * **One node.** DynamoDB, S3, GCS and Azure Storage replicate every item internally; a client
//!   sees one linearizable copy (DynamoDB with `ConsistentRead`, which the lock client uses; S3
//!   and GCS are strongly consistent for object writes and reads since 2020 and always, resp.).
//!   Here the store is a single node that handles one request at a time, each atomically: the
//!   linearization point of every request is its handling, so every client-visible history is
//!   linearizable by construction. What a client can still get wrong — a lost reply, a request
//!   delayed past a retry, its own clock — is the network's and the client's, as in reality.
//! * **Durability.** The real services acknowledge a write only once it is durable; the store
//!   persists its whole table and syncs before answering every write ([`StoreDurable`]), so a
//!   crash loses nothing acknowledged and a restart continues the generation counter. (A crashed
//!   store is *unavailable*, which the services' internal replication makes rare; scenarios use
//!   crashes and partitions of the store to model service unavailability — HTTP 5xx.)
//! * **Payloads.** Items carry only the lock clients' fields, no user data (DynamoDB's `data`
//!   attribute, the object's content).
//! * **Grants.** With `record_grants` the store records a history `Grant` (token: the new
//!   generation) on each full write of an unreleased item: the ground truth for token order, for a
//!   lock client that uses the generation as its fencing token. Without it the store records
//!   nothing.

pub mod server;

#[cfg(test)]
mod tests;

pub use crate::msg::{LeaseOp, LeaseState, StoreCond, StoreFields, StoreItem, StoreMsg, StoreOutcome};
pub use server::{StoreDurable, StoreEntry, StoreLease, StoreParams, StoreServer};
