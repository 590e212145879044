//! The lease protocol's own messages: replication from a primary to its replicas. The requests
//! and replies clients send (`SET NX PX`, `PEXPIRE`, release, `GET`+`PTTL`) are the shared
//! [`crate::msg::KvMsg`], which Redlock's clients speak too.

use std::fmt;

use crate::msg::opt;
use crate::node::{LockId, NodeId};

/// A lock's state as a primary forwards it to its replicas.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicatedEntry {
    pub value: u64,
    pub holder: NodeId,
    /// The expiry on the primary's wall clock (Redis replicates absolute expiry times).
    pub expires_at_wall_ns: i64,
    pub token: Option<u64>,
}

/// Lease server to lease server.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseMsg {
    /// Primary → replica: the current state of one lock (`None`: deleted) as
    /// `(value, holder, expires_at_wall_ns, token)`, and the token counter.
    Replicate {
        lock: LockId,
        /// Boxed: rare, and it would otherwise make every message larger.
        entry: Option<Box<ReplicatedEntry>>,
        last_token: u64,
    },
}

impl LeaseMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] = &["replicate"];

    /// The message kind, as named in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            LeaseMsg::Replicate { .. } => "replicate",
        }
    }
}

impl fmt::Display for LeaseMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseMsg::Replicate { lock, entry, last_token } => match entry.as_deref() {
                Some(ReplicatedEntry { value, token, .. }) => {
                    write!(
                        f,
                        "replicate lock={lock} value={:04x} token={} last_token={last_token}",
                        value & 0xffff,
                        opt(token)
                    )
                }
                None => write!(f, "replicate lock={lock} deleted"),
            },
        }
    }
}
