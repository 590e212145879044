//! Messages. The top-level [`Msg`] is the registry's (`registry.rs`): it only wraps each
//! protocol's own message type, so a world of mixed roles is one type and the simulator's hot loop
//! stays free of dynamic dispatch. This module holds the two message sets that more than one
//! folder speaks: the key-value lease commands ([`KvMsg`]: the lease server answers them, the
//! lease and Redlock clients send them) and the protected resource's ([`ResourceMsg`]: the worker
//! sends them, the resource answers).

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

// ---- The conditional-write store (provisional stand-in for wt-dynamo's `store`, replaced on merge) ----

/// A store item: the lock record a store-based lock keeps under one key.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StoreItem {
    pub owner: u64,
    /// The writer's identity for this write (DynamoDB's record version number).
    pub nonce: u64,
    pub lease_ms: u64,
    /// An expiry on the *writer's* wall clock (GCS/S3 locks), if the writer puts one.
    pub expires_at_wall_ms: Option<i64>,
    pub released: bool,
    /// Fresh, store-wide, on every full write (the S3 ETag / GCS generation stand-in).
    pub generation: u64,
    /// Starts at 1 on a full write; bumped by a metadata update.
    pub metageneration: u64,
}

/// A request's precondition.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreCond {
    None,
    IfAbsent,
    IfGeneration(u64),
    IfMetageneration(u64),
    IfNonce { owner: u64, nonce: u64 },
    IfReleased,
}

/// A request's result.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreOutcome {
    Ok { item: Option<StoreItem> },
    PreconditionFailed,
    LeaseConflict,
    NotFound,
}

/// The conditional-write store's requests and replies.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreMsg {
    Get { req: u64, key: LockId, cond: StoreCond, lease_id: Option<u64> },
    Put { req: u64, key: LockId, cond: StoreCond, lease_id: Option<u64>, item: StoreItem },
    Update { req: u64, key: LockId, cond: StoreCond, lease_id: Option<u64>, item: StoreItem },
    Delete { req: u64, key: LockId, cond: StoreCond, lease_id: Option<u64> },
    Reply { req: u64, key: LockId, outcome: StoreOutcome },
}

impl StoreMsg {
    pub const KINDS: &'static [&'static str] =
        &["store_get", "store_put", "store_update", "store_delete", "store_reply"];
    pub fn kind(&self) -> &'static str {
        match self {
            StoreMsg::Get { .. } => "store_get",
            StoreMsg::Put { .. } => "store_put",
            StoreMsg::Update { .. } => "store_update",
            StoreMsg::Delete { .. } => "store_delete",
            StoreMsg::Reply { .. } => "store_reply",
        }
    }
}

impl fmt::Display for StoreMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
