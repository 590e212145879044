//! Messages. The top-level [`Msg`] is the registry's (`registry.rs`): it only wraps each
//! protocol's own message type, so a world of mixed roles is one type and the simulator's hot loop
//! stays free of dynamic dispatch. This module holds the message sets that more than one
//! folder speaks: the key-value lease commands ([`KvMsg`]: the lease server answers them, the
//! lease and Redlock clients send them), the conditional-write store's ([`StoreMsg`]: the store
//! server in `store/` answers them; the DynamoDB lock client and the object-store lock clients
//! send them) and the protected resource's ([`ResourceMsg`]: the worker sends them, the resource
//! answers).

use std::fmt;

use crate::history::SessionId;
pub use crate::node::LockId;
pub use crate::registry::Msg;

/// The key-value lease commands of a Redis-like server (`SET NX PX`, `PEXPIRE`, compare-and-delete,
/// `GET`+`PTTL`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KvMsg {
    /// `SET lock value NX PX ttl_ms`: take the lock if the key does not exist (it is absent or
    /// expired). Refused whenever the key exists, whatever its value (the default `redis` server);
    /// the `redisson` server runs Redisson's reentrant acquire script instead.
    Acquire {
        req: u64,
        lock: LockId,
        value: u64,
        ttl_ms: u64,
    },
    /// Answer to [`KvMsg::Acquire`]. `token` is the fencing token when the server issues them;
    /// `expires_at_wall_ns` is the expiry on the *server's* wall clock (trusted only by clients
    /// that compute validity from server timestamps, scenario #12).
    AcquireReply {
        req: u64,
        lock: LockId,
        value: u64,
        granted: bool,
        token: Option<u64>,
        expires_at_wall_ns: i64,
    },
    /// Extend the lease (heartbeat): `PEXPIRE` guarded by a value comparison.
    Extend {
        req: u64,
        lock: LockId,
        value: u64,
        ttl_ms: u64,
    },
    ExtendReply {
        req: u64,
        lock: LockId,
        ok: bool,
        expires_at_wall_ns: i64,
    },
    /// Release: compare-and-delete on `value`, or a plain `DEL` when `plain_del` (scenario #8).
    /// `ttl_ms` is the lease time, which only Redisson's unlock script uses (`ARGV[2]`: a
    /// decremented hold count above zero re-arms the key's expiry).
    Release {
        req: u64,
        lock: LockId,
        value: u64,
        plain_del: bool,
        ttl_ms: u64,
    },
    ReleaseReply {
        req: u64,
        lock: LockId,
        ok: bool,
    },
    /// `GET lock` and `PTTL lock` read together (one `MULTI`/`EXEC`, or a two-line Lua script):
    /// what the lease client sends after a refused `SET NX` when an earlier request with the same
    /// value went unanswered — the key may be its own (scenario #9).
    Get {
        req: u64,
        lock: LockId,
    },
    /// Answer to [`KvMsg::Get`]: the key's value (`None`: no such key) and `PTTL` in whole
    /// milliseconds (−2: no such key, as Redis answers). `token` and `expires_at_wall_ns` (Redis 7's
    /// `PEXPIRETIME`) serve clients that use tokens or trust server timestamps (#12).
    GetReply {
        req: u64,
        lock: LockId,
        value: Option<u64>,
        pttl_ms: i64,
        token: Option<u64>,
        expires_at_wall_ns: i64,
    },
}

impl KvMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] =
        &["acquire", "acquire_reply", "extend", "extend_reply", "release", "release_reply", "get", "get_reply"];

    /// The message kind, as named in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            KvMsg::Acquire { .. } => "acquire",
            KvMsg::AcquireReply { .. } => "acquire_reply",
            KvMsg::Extend { .. } => "extend",
            KvMsg::ExtendReply { .. } => "extend_reply",
            KvMsg::Release { .. } => "release",
            KvMsg::ReleaseReply { .. } => "release_reply",
            KvMsg::Get { .. } => "get",
            KvMsg::GetReply { .. } => "get_reply",
        }
    }
}

impl fmt::Display for KvMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvMsg::Acquire { req, lock, value, ttl_ms } => {
                write!(f, "acquire req={req} lock={lock} value={:04x} ttl_ms={ttl_ms}", value & 0xffff)
            }
            KvMsg::AcquireReply { req, lock, value, granted, token, .. } => write!(
                f,
                "acquire_reply req={req} lock={lock} value={:04x} {} token={}",
                value & 0xffff,
                if *granted { "GRANTED" } else { "denied" },
                opt(token)
            ),
            KvMsg::Extend { req, lock, value, ttl_ms } => {
                write!(f, "extend req={req} lock={lock} value={:04x} ttl_ms={ttl_ms}", value & 0xffff)
            }
            KvMsg::ExtendReply { req, lock, ok, .. } => {
                write!(f, "extend_reply req={req} lock={lock} {}", if *ok { "ok" } else { "FAILED" })
            }
            KvMsg::Release { req, lock, value, plain_del, .. } => write!(
                f,
                "release req={req} lock={lock} value={:04x} {}",
                value & 0xffff,
                if *plain_del { "plain-DEL" } else { "compare-and-delete" }
            ),
            KvMsg::ReleaseReply { req, lock, ok } => {
                write!(f, "release_reply req={req} lock={lock} {}", if *ok { "ok" } else { "not-owner" })
            }
            KvMsg::Get { req, lock } => write!(f, "get req={req} lock={lock} (GET + PTTL)"),
            KvMsg::GetReply { req, lock, value, pttl_ms, .. } => match value {
                Some(v) => write!(f, "get_reply req={req} lock={lock} value={:04x} pttl_ms={pttl_ms}", v & 0xffff),
                None => write!(f, "get_reply req={req} lock={lock} nil pttl_ms={pttl_ms}"),
            },
        }
    }
}

/// The protected resource's read and write.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceMsg {
    /// Read the protected resource's counter.
    Read {
        req: u64,
    },
    ReadReply {
        req: u64,
        value: u64,
    },
    /// Write the protected resource's counter. `session` is instrumentation only (the
    /// resource's logic never looks at it): it lets the checker attribute writes to lock sessions.
    Write {
        req: u64,
        session: SessionId,
        token: Option<u64>,
        value: u64,
    },
    WriteReply {
        req: u64,
        applied: bool,
    },
}

impl ResourceMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] = &["read", "read_reply", "write", "write_reply"];

    /// The message kind, as named in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            ResourceMsg::Read { .. } => "read",
            ResourceMsg::ReadReply { .. } => "read_reply",
            ResourceMsg::Write { .. } => "write",
            ResourceMsg::WriteReply { .. } => "write_reply",
        }
    }
}

impl fmt::Display for ResourceMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceMsg::Read { req } => write!(f, "read req={req}"),
            ResourceMsg::ReadReply { req, value } => write!(f, "read_reply req={req} value={value}"),
            ResourceMsg::Write { req, token, value, .. } => {
                write!(f, "write req={req} token={} value={value}", opt(token))
            }
            ResourceMsg::WriteReply { req, applied } => {
                write!(f, "write_reply req={req} {}", if *applied { "applied" } else { "REJECTED" })
            }
        }
    }
}

/// A token as traces print it (`-`: none).
pub fn opt(token: &Option<u64>) -> String {
    match token {
        Some(t) => t.to_string(),
        None => "-".to_string(),
    }
}

// ---- The conditional-write store (DynamoDB, S3, GCS, Azure Blob) ----

/// One item of the conditional-write store: a lock record as DynamoDB's lock client, the GCS and
/// S3 lock objects and an Azure lock blob keep it. The store interprets none of the lock fields
/// (it never expires anything: no server-side TTL); it only compares them in conditions and
/// stamps the two version numbers.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreItem {
    /// Who wrote the item (DynamoDB's `ownerName`; the GCS lock's identity's owner part): the
    /// client's node id.
    pub owner: u64,
    /// A random value per write: DynamoDB's `recordVersionNumber` (a UUID per write), the GCS
    /// lock's identity (random hex per lock instance).
    pub nonce: u64,
    /// The lease the writer claims, in milliseconds (DynamoDB's `leaseDuration` attribute). Only
    /// clients read it; the store never acts on it.
    pub lease_ms: u64,
    /// An absolute expiry on the *writer's* wall clock, in milliseconds (the GCS/S3 locks'
    /// `expires_at` metadata); `None` for DynamoDB, which stores no absolute time.
    pub expires_at_wall_ms: Option<i64>,
    /// DynamoDB's `isReleased` attribute (a lock released without deleting its item).
    pub released: bool,
    /// The write's generation: drawn from a store-wide counter on every full write ([`StoreMsg::Put`]),
    /// so it increases across keys and across delete and re-create (as GCS generations do). It is
    /// also the S3 ETag stand-in and usable as a fencing sequence.
    pub generation: u64,
    /// Metadata version within one generation: 1 after a full write, + 1 for each metadata-only
    /// update ([`StoreMsg::Update`]), as GCS metagenerations.
    pub metageneration: u64,
}

/// The fields a writer sets ([`StoreMsg::Put`] and [`StoreMsg::Update`]); the store stamps
/// `generation` and `metageneration` itself.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreFields {
    /// See [`StoreItem::owner`].
    pub owner: u64,
    /// See [`StoreItem::nonce`].
    pub nonce: u64,
    /// See [`StoreItem::lease_ms`].
    pub lease_ms: u64,
    /// See [`StoreItem::expires_at_wall_ms`].
    pub expires_at_wall_ms: Option<i64>,
    /// See [`StoreItem::released`].
    pub released: bool,
}

/// A write's precondition, checked atomically with the write (a failed one leaves the item as
/// it was and answers [`StoreOutcome::PreconditionFailed`]).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreCond {
    /// Unconditional.
    None,
    /// The key is absent: DynamoDB `attribute_not_exists(#pk)`, S3 `If-None-Match: *`, GCS
    /// `if_generation_match: 0`.
    IfAbsent,
    /// The item exists with this generation: S3 `If-Match: <ETag>`, GCS `if_generation_match`.
    IfGeneration(u64),
    /// The item exists with this metageneration: GCS `if_metageneration_match`.
    IfMetageneration(u64),
    /// The item exists with this owner and nonce: DynamoDB `attribute_exists(#pk) AND #rvn = :rvn
    /// AND #on = :on` (the heartbeat's and release's condition; the takeover of an expired lock
    /// names the owner it observed).
    IfNonce { owner: u64, nonce: u64 },
    /// The item exists and is released: DynamoDB `attribute_exists(#pk) AND #ir = :true`.
    IfReleased,
}

/// An Azure Lease Blob operation (`x-ms-lease-action`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseOp {
    /// `acquire` with a proposed lease id; `duration_ms`: `None` = infinite (−1), otherwise
    /// 15 000 ..= 60 000 ms.
    Acquire { lease_id: u64, duration_ms: Option<u64> },
    /// `renew`: restart the lease's duration (also an expired lease, if nobody took it since).
    Renew { lease_id: u64 },
    /// `release`: the blob becomes available at once.
    Release { lease_id: u64 },
    /// `break` (no lease id needed): the lease ends after `break_period_ms` (0 ..= 60 000), or
    /// after what remains of it if that is shorter; it cannot be renewed meanwhile.
    Break { break_period_ms: u64 },
}

/// An item's lease as Azure reports it (`x-ms-lease-state`, and `x-ms-lease-time` where it
/// applies). The lease id itself is never revealed.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseState {
    /// No lease.
    Available,
    /// Leased; `remaining_ms` is `None` for an infinite lease.
    Leased { remaining_ms: Option<u64> },
    /// A finite lease ran out and nobody has acquired it since (its holder may still renew it).
    Expired,
    /// Being broken: it ends in `remaining_ms`.
    Breaking { remaining_ms: u64 },
    /// Broken: no lease is in force (only `acquire` or `release` apply).
    Broken,
}

/// What the store answers.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreOutcome {
    /// Done. `item`: the item after the operation (`None` after a delete); `generation` and
    /// `metageneration`: the item's after the operation (a delete: the deleted item's); `lease`:
    /// the item's lease state after the operation.
    Ok { item: Option<StoreItem>, generation: u64, metageneration: u64, lease: LeaseState },
    /// The write's condition did not hold (DynamoDB `ConditionalCheckFailedException`, HTTP 412).
    PreconditionFailed,
    /// Refused by the item's Azure lease: a write without the lease's id (or with another, or
    /// with one while no lease is in force), or a lease operation its state does not allow
    /// (HTTP 409 / 412 `LeaseIdMissing`, `LeaseAlreadyPresent`, `LeaseIsBrokenAndCannotBeRenewed`…).
    LeaseConflict,
    /// No such key (GET, an unconditional update or delete, a lease operation).
    NotFound,
    /// A malformed request (a lease duration outside 15–60 s, a break period above 60 s): HTTP 400.
    BadRequest,
}

/// The conditional-write store's requests and replies. `req` is transport bookkeeping (which
/// request a reply answers), not protocol state; every reply names its request's `key`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreMsg {
    /// Read an item (DynamoDB `GetItem` with `ConsistentRead`, GCS/S3 object metadata GET).
    Get {
        req: u64,
        key: LockId,
    },
    /// A full write (DynamoDB `PutItem`, S3 `PutObject`, GCS object insert): a new generation,
    /// metageneration 1. `lease_id`: Azure's `x-ms-lease-id` (required while the blob is leased).
    Put {
        req: u64,
        key: LockId,
        fields: StoreFields,
        cond: StoreCond,
        lease_id: Option<u64>,
    },
    /// A metadata update (DynamoDB `UpdateItem`, GCS object patch): every field replaced, same
    /// generation, metageneration + 1.
    Update {
        req: u64,
        key: LockId,
        fields: StoreFields,
        cond: StoreCond,
        lease_id: Option<u64>,
    },
    /// Delete the item (DynamoDB `DeleteItem`, object delete); its lease goes with it.
    Delete {
        req: u64,
        key: LockId,
        cond: StoreCond,
        lease_id: Option<u64>,
    },
    /// An Azure Lease Blob operation on the item.
    Lease {
        req: u64,
        key: LockId,
        op: LeaseOp,
    },
    GetReply {
        req: u64,
        key: LockId,
        outcome: StoreOutcome,
    },
    PutReply {
        req: u64,
        key: LockId,
        outcome: StoreOutcome,
    },
    UpdateReply {
        req: u64,
        key: LockId,
        outcome: StoreOutcome,
    },
    DeleteReply {
        req: u64,
        key: LockId,
        outcome: StoreOutcome,
    },
    LeaseReply {
        req: u64,
        key: LockId,
        outcome: StoreOutcome,
    },
}

impl StoreMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] = &[
        "store_get",
        "store_put",
        "store_update",
        "store_delete",
        "store_lease",
        "store_get_reply",
        "store_put_reply",
        "store_update_reply",
        "store_delete_reply",
        "store_lease_reply",
    ];

    /// The message kind, as named in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreMsg::Get { .. } => "store_get",
            StoreMsg::Put { .. } => "store_put",
            StoreMsg::Update { .. } => "store_update",
            StoreMsg::Delete { .. } => "store_delete",
            StoreMsg::Lease { .. } => "store_lease",
            StoreMsg::GetReply { .. } => "store_get_reply",
            StoreMsg::PutReply { .. } => "store_put_reply",
            StoreMsg::UpdateReply { .. } => "store_update_reply",
            StoreMsg::DeleteReply { .. } => "store_delete_reply",
            StoreMsg::LeaseReply { .. } => "store_lease_reply",
        }
    }
}

impl fmt::Display for StoreFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "owner={} nonce={:04x} lease_ms={}", self.owner, self.nonce & 0xffff, self.lease_ms)?;
        if let Some(at) = self.expires_at_wall_ms {
            write!(f, " expires_at_wall_ms={at}")?;
        }
        if self.released {
            write!(f, " released")?;
        }
        Ok(())
    }
}

impl fmt::Display for StoreCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreCond::None => write!(f, "if=-"),
            StoreCond::IfAbsent => write!(f, "if=absent"),
            StoreCond::IfGeneration(g) => write!(f, "if=gen:{g}"),
            StoreCond::IfMetageneration(m) => write!(f, "if=metagen:{m}"),
            StoreCond::IfNonce { owner, nonce } => write!(f, "if=owner:{owner},nonce:{:04x}", nonce & 0xffff),
            StoreCond::IfReleased => write!(f, "if=released"),
        }
    }
}

impl fmt::Display for StoreOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreOutcome::Ok { item: Some(i), .. } => write!(
                f,
                "ok owner={} nonce={:04x} lease_ms={}{}{} gen={} metagen={}",
                i.owner,
                i.nonce & 0xffff,
                i.lease_ms,
                match i.expires_at_wall_ms {
                    Some(at) => format!(" expires_at_wall_ms={at}"),
                    None => String::new(),
                },
                if i.released { " released" } else { "" },
                i.generation,
                i.metageneration
            ),
            StoreOutcome::Ok { item: None, generation, .. } => write!(f, "ok gen={generation} (deleted)"),
            StoreOutcome::PreconditionFailed => write!(f, "PRECONDITION-FAILED"),
            StoreOutcome::LeaseConflict => write!(f, "LEASE-CONFLICT"),
            StoreOutcome::NotFound => write!(f, "not-found"),
            StoreOutcome::BadRequest => write!(f, "BAD-REQUEST"),
        }
    }
}

impl fmt::Display for StoreMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lease = |l: &Option<u64>| match l {
            Some(id) => format!(" lease={:04x}", id & 0xffff),
            None => String::new(),
        };
        match self {
            StoreMsg::Get { req, key } => write!(f, "store_get req={req} key={key}"),
            StoreMsg::Put { req, key, fields, cond, lease_id } => {
                write!(f, "store_put req={req} key={key} {fields} {cond}{}", lease(lease_id))
            }
            StoreMsg::Update { req, key, fields, cond, lease_id } => {
                write!(f, "store_update req={req} key={key} {fields} {cond}{}", lease(lease_id))
            }
            StoreMsg::Delete { req, key, cond, lease_id } => {
                write!(f, "store_delete req={req} key={key} {cond}{}", lease(lease_id))
            }
            StoreMsg::Lease { req, key, op } => match op {
                LeaseOp::Acquire { lease_id, duration_ms } => write!(
                    f,
                    "store_lease req={req} key={key} acquire lease={:04x} duration_ms={}",
                    lease_id & 0xffff,
                    opt(duration_ms)
                ),
                LeaseOp::Renew { lease_id } => {
                    write!(f, "store_lease req={req} key={key} renew lease={:04x}", lease_id & 0xffff)
                }
                LeaseOp::Release { lease_id } => {
                    write!(f, "store_lease req={req} key={key} release lease={:04x}", lease_id & 0xffff)
                }
                LeaseOp::Break { break_period_ms } => {
                    write!(f, "store_lease req={req} key={key} break break_period_ms={break_period_ms}")
                }
            },
            StoreMsg::GetReply { req, key, outcome } => write!(f, "store_get_reply req={req} key={key} {outcome}"),
            StoreMsg::PutReply { req, key, outcome } => write!(f, "store_put_reply req={req} key={key} {outcome}"),
            StoreMsg::UpdateReply { req, key, outcome } => {
                write!(f, "store_update_reply req={req} key={key} {outcome}")
            }
            StoreMsg::DeleteReply { req, key, outcome } => {
                write!(f, "store_delete_reply req={req} key={key} {outcome}")
            }
            StoreMsg::LeaseReply { req, key, outcome } => {
                write!(f, "store_lease_reply req={req} key={key} {outcome}")
            }
        }
    }
}
