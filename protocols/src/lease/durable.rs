//! What a lease server keeps on disk (under its [`Persistence`](crate::node::Persistence) policy).

use std::collections::BTreeMap;

use crate::node::{LockId, NodeId};

/// One key in the server's table.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockEntry {
    pub value: u64,
    pub holder: NodeId,
    /// Expiry on the clock chosen by [`ExpiryClock`](super::ExpiryClock), in that clock's nanoseconds.
    pub expires_at_ns: i64,
    pub token: Option<u64>,
    /// Redisson's hold count (the hash field's value); always 1 on a Redis server.
    pub hold_count: u32,
}

/// What a lease server keeps on disk.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerDurable {
    pub locks: BTreeMap<LockId, LockEntry>,
    /// The last fencing token handed out.
    pub last_token: u64,
}
