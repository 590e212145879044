//! The replicated log and what a peer keeps on stable storage (Figure 2: currentTerm, votedFor,
//! log[]), with the chain hash the checkers test Log Matching with.

use std::sync::Arc;

use super::msg::LeaseId;
use crate::node::{LockId, NodeId};

/// A command in the replicated log.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftCmd {
    /// Appended by a new leader so that it can commit (§8).
    Noop,
    LeaseGrant {
        client: NodeId,
        request_id: u64,
        ttl_ms: u64,
    },
    LeaseKeepAlive {
        lease: LeaseId,
    },
    LeaseRevoke {
        lease: LeaseId,
    },
    Acquire {
        client: NodeId,
        request_id: u64,
        lease: LeaseId,
        lock: LockId,
    },
    Release {
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    },
}

/// One log entry.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftEntry {
    pub term: u64,
    pub cmd: RaftCmd,
}

/// What a peer keeps on stable storage (Figure 2: currentTerm, votedFor, log[]).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftDurable {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: DurableLog,
}

/// Entries per sealed chunk of a [`DurableLog`].
pub(super) const LOG_CHUNK: usize = 64;

/// The log as written to disk: full chunks of `LOG_CHUNK` (64) entries, shared between successive
/// writes (a write copies only the unsealed tail, not the whole log, so persisting stays cheap as
/// the log grows), then the tail. Semantically just the concatenation.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DurableLog {
    pub chunks: Vec<Arc<[RaftEntry]>>,
    pub tail: Vec<RaftEntry>,
}

impl DurableLog {
    /// Every entry, in order.
    pub fn entries(&self) -> Vec<RaftEntry> {
        let mut log = Vec::with_capacity(self.chunks.len() * LOG_CHUNK + self.tail.len());
        for chunk in &self.chunks {
            log.extend_from_slice(chunk);
        }
        log.extend_from_slice(&self.tail);
        log
    }
}

/// FNV-1a over a few words: a stable hash (no `Hash` impl whose output could change).
fn fnv(words: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The chain hash of an entry following `prev`.
pub fn chain_hash(prev: u64, entry: &RaftEntry) -> u64 {
    let cmd = match entry.cmd {
        RaftCmd::Noop => fnv(&[0]),
        RaftCmd::LeaseGrant { client, request_id, ttl_ms } => fnv(&[1, client as u64, request_id, ttl_ms]),
        RaftCmd::LeaseKeepAlive { lease } => fnv(&[2, lease]),
        RaftCmd::LeaseRevoke { lease } => fnv(&[3, lease]),
        RaftCmd::Acquire { client, request_id, lease, lock } => {
            fnv(&[4, client as u64, request_id, lease, lock as u64])
        }
        RaftCmd::Release { lease, lock, revision } => fnv(&[5, lease, lock as u64, revision]),
    };
    fnv(&[prev, entry.term, cmd])
}
