//! The lease protocol's message payloads. The requests and replies (`SET NX PX`, `PEXPIRE`, release,
//! `GET`+`PTTL`, replication) are variants of [`crate::Msg`]; this is the one payload type they carry.

use crate::node::NodeId;

/// A lock's state as a primary forwards it to its replicas.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicatedEntry {
    pub value: u64,
    pub holder: NodeId,
    /// The expiry on the primary's wall clock (Redis replicates absolute expiry times).
    pub expires_at_wall_ns: i64,
    pub token: Option<u64>,
}
