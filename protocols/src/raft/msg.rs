//! The lock service's messages: the client's operations and the service's answers, and the
//! body of `AppendEntries` (§5.3). The [`crate::Msg`] variants that carry them are named in
//! `msg.rs` at the crate root.

use super::durable::RaftEntry;
use crate::node::{LockId, NodeId};

/// A lease of the lock service (the log index of its grant: unique, deterministic).
pub type LeaseId = u64;

/// The body of [`Msg::AppendEntries`](crate::Msg::AppendEntries) (§5.3).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppendEntries {
    pub term: u64,
    pub prev_index: u64,
    pub prev_term: u64,
    pub entries: Vec<RaftEntry>,
    /// The leader's commit index.
    pub commit: u64,
    /// The leader's heartbeat round (ReadIndex, thesis §6.4).
    pub round: u64,
}

/// What a client asks of the lock service.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftOp {
    LeaseGrant {
        request_id: u64,
        ttl_ms: u64,
    },
    KeepAlive {
        lease: LeaseId,
    },
    Acquire {
        request_id: u64,
        lease: LeaseId,
        lock: LockId,
    },
    /// A linearizable read: does `revision` (owned by `lease`) hold `lock` now?
    Status {
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    },
    Release {
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    },
    Revoke {
        lease: LeaseId,
    },
}

/// The kind of an operation (replies name it, for traces and targeted drops).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftOpKind {
    LeaseGrant,
    KeepAlive,
    Acquire,
    Status,
    Release,
    Revoke,
}

impl RaftOp {
    pub fn kind(&self) -> RaftOpKind {
        match self {
            RaftOp::LeaseGrant { .. } => RaftOpKind::LeaseGrant,
            RaftOp::KeepAlive { .. } => RaftOpKind::KeepAlive,
            RaftOp::Acquire { .. } => RaftOpKind::Acquire,
            RaftOp::Status { .. } => RaftOpKind::Status,
            RaftOp::Release { .. } => RaftOpKind::Release,
            RaftOp::Revoke { .. } => RaftOpKind::Revoke,
        }
    }
}

impl RaftOpKind {
    /// Message kind of a request (as named in scenario files).
    pub fn request_kind(self) -> &'static str {
        match self {
            RaftOpKind::LeaseGrant => "lease_grant",
            RaftOpKind::KeepAlive => "extend",
            RaftOpKind::Acquire => "acquire",
            RaftOpKind::Status => "lock_status",
            RaftOpKind::Release => "release",
            RaftOpKind::Revoke => "revoke",
        }
    }
    /// Message kind of a reply.
    pub fn reply_kind(self) -> &'static str {
        match self {
            RaftOpKind::LeaseGrant => "lease_grant_reply",
            RaftOpKind::KeepAlive => "extend_reply",
            RaftOpKind::Acquire => "acquire_reply",
            RaftOpKind::Status => "lock_status_reply",
            RaftOpKind::Release => "release_reply",
            RaftOpKind::Revoke => "revoke_reply",
        }
    }
}

/// The service's answer.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftAnswer {
    /// Ask the leader (`None`: unknown).
    NotLeader {
        leader: Option<NodeId>,
    },
    LeaseGranted {
        lease: LeaseId,
        ttl_ms: u64,
    },
    KeepAliveOk,
    /// The lease (or the key it owned) is gone.
    LeaseNotFound,
    /// The key with this revision holds the lock.
    Acquired {
        revision: u64,
    },
    /// The key with this revision waits behind a predecessor.
    Waiting {
        revision: u64,
    },
    Released {
        ok: bool,
    },
    Revoked,
}
