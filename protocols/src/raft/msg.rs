//! Raft's messages ([`RaftMsg`]): the peers' RPCs (§5.2, §5.3), and the lock service's
//! operations, answers and watch events with their payloads.

use std::fmt;

use super::durable::RaftEntry;
use crate::node::{LockId, NodeId};

/// A lease of the lock service (the log index of its grant: unique, deterministic).
pub type LeaseId = u64;

/// The body of [`RaftMsg::AppendEntries`] (§5.3).
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

/// Raft's RPCs and the lock service's client protocol.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftMsg {
    /// Raft (§5.2; thesis §9.6 when `pre_vote`): a vote request for `term`.
    RequestVote {
        term: u64,
        last_index: u64,
        last_term: u64,
        pre_vote: bool,
    },
    RequestVoteReply {
        term: u64,
        granted: bool,
        pre_vote: bool,
    },
    /// Raft (§5.3): entries after `prev_index`, or a heartbeat. Boxed: it would otherwise make
    /// every message larger.
    AppendEntries(Box<AppendEntries>),
    AppendEntriesReply {
        term: u64,
        success: bool,
        match_index: u64,
        round: u64,
    },
    /// Client → Raft lock service.
    RaftRequest {
        req: u64,
        op: RaftOp,
    },
    RaftReply {
        req: u64,
        op: RaftOpKind,
        answer: RaftAnswer,
    },
    /// Raft leader → waiter: the key this waiter watched was deleted; read the lock's state again.
    RaftWatch {
        lock: LockId,
        revision: u64,
    },
    /// Follower → leader: a client's request, forwarded (`home_peer`); its kind is the request's.
    Forward {
        client: NodeId,
        req: u64,
        op: RaftOp,
    },
    /// Leader → the forwarding follower: an answer or watch event for `client`, to pass on; its
    /// kind is the inner message's.
    Relay {
        client: NodeId,
        msg: Box<RaftMsg>,
    },
}

impl RaftMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] = &[
        "request_vote",
        "request_vote_reply",
        "append_entries",
        "append_entries_reply",
        "lease_grant",
        "lease_grant_reply",
        "lock_status",
        "lock_status_reply",
        "revoke",
        "revoke_reply",
        "watch",
    ];

    /// The message kind, as named in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { .. } => "request_vote",
            RaftMsg::RequestVoteReply { .. } => "request_vote_reply",
            RaftMsg::AppendEntries { .. } => "append_entries",
            RaftMsg::AppendEntriesReply { .. } => "append_entries_reply",
            RaftMsg::RaftRequest { op, .. } => op.kind().request_kind(),
            RaftMsg::RaftReply { op, .. } => op.reply_kind(),
            RaftMsg::RaftWatch { .. } => "watch",
            RaftMsg::Forward { op, .. } => op.kind().request_kind(),
            RaftMsg::Relay { msg, .. } => msg.kind(),
        }
    }
}

impl fmt::Display for RaftMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaftMsg::RequestVote { term, last_index, last_term, pre_vote } => write!(
                f,
                "{} term={term} last_index={last_index} last_term={last_term}",
                if *pre_vote { "pre_vote" } else { "request_vote" }
            ),
            RaftMsg::RequestVoteReply { term, granted, pre_vote } => write!(
                f,
                "{}_reply term={term} {}",
                if *pre_vote { "pre_vote" } else { "request_vote" },
                if *granted { "GRANTED" } else { "denied" }
            ),
            RaftMsg::AppendEntries(a) => write!(
                f,
                "append_entries term={} prev={}/{} entries={} commit={} round={}",
                a.term,
                a.prev_index,
                a.prev_term,
                a.entries.len(),
                a.commit,
                a.round
            ),
            RaftMsg::AppendEntriesReply { term, success, match_index, round } => write!(
                f,
                "append_entries_reply term={term} {} match={match_index} round={round}",
                if *success { "ok" } else { "REJECT" }
            ),
            RaftMsg::RaftRequest { req, op } => write!(f, "{} req={req} {op:?}", op.kind().request_kind()),
            RaftMsg::RaftReply { req, op, answer } => write!(f, "{} req={req} {answer:?}", op.reply_kind()),
            RaftMsg::RaftWatch { lock, revision } => {
                write!(f, "watch lock={lock} revision={revision} predecessor gone")
            }
            RaftMsg::Forward { client, req, op } => {
                write!(f, "forward {} req={req} {op:?} for node {client}", op.kind().request_kind())
            }
            RaftMsg::Relay { client, msg } => write!(f, "relay {msg} to node {client}"),
        }
    }
}
