//! skinny's messages: the lock API a client calls on one instance (`proto/lock/lock.proto`) and the
//! two Paxos phases instances call on each other (`proto/consensus/consensus.proto`).
//!
//! Holders are free-form strings in skinny; here a holder is a number, [`NO_HOLDER`] (0) standing
//! for skinny's empty string. `round` is transport bookkeeping (which gRPC call a reply answers),
//! not protocol state: skinny's instances see replies on the call they made.

use std::fmt;

use crate::node::LockId;

/// skinny's `""`: nobody holds the lock.
pub const NO_HOLDER: u64 = 0;

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkinnyMsg {
    /// Client → instance: `Acquire(holder)`.
    Acquire { req: u64, lock: LockId, holder: u64 },
    /// `Acquired = (instance's holder == requested holder)`, and the holder the instance knows.
    AcquireReply { req: u64, acquired: bool, holder: u64 },
    /// Client → instance: `Release()` (empty: anyone may release).
    Release { req: u64 },
    /// `Released = (instance's holder == "")`.
    ReleaseReply { req: u64, released: bool },
    /// Phase 1: `Promise(ID)`.
    Promise { round: u64, id: u64 },
    /// `{Promised, ID, Holder}`: the acceptor's answer and its previously committed register.
    PromiseReply { round: u64, promised: bool, id: u64, holder: u64 },
    /// Phase 2: `Commit(ID, Holder)`.
    Commit { round: u64, id: u64, holder: u64 },
    /// `Committed = (req.ID == acceptor's id)`.
    CommitReply { round: u64, committed: bool },
}

impl SkinnyMsg {
    /// Every kind, as scenario files name them.
    pub const KINDS: &'static [&'static str] = &[
        "skinny_acquire",
        "skinny_acquire_reply",
        "skinny_release",
        "skinny_release_reply",
        "promise",
        "promise_reply",
        "commit",
        "commit_reply",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            SkinnyMsg::Acquire { .. } => "skinny_acquire",
            SkinnyMsg::AcquireReply { .. } => "skinny_acquire_reply",
            SkinnyMsg::Release { .. } => "skinny_release",
            SkinnyMsg::ReleaseReply { .. } => "skinny_release_reply",
            SkinnyMsg::Promise { .. } => "promise",
            SkinnyMsg::PromiseReply { .. } => "promise_reply",
            SkinnyMsg::Commit { .. } => "commit",
            SkinnyMsg::CommitReply { .. } => "commit_reply",
        }
    }
}

/// A holder for traces: `-` for nobody.
fn who(holder: u64) -> String {
    if holder == NO_HOLDER {
        "-".to_string()
    } else {
        format!("h{holder}")
    }
}

impl fmt::Display for SkinnyMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkinnyMsg::Acquire { req, lock, holder } => {
                write!(f, "skinny_acquire req={req} lock={lock} holder={}", who(*holder))
            }
            SkinnyMsg::AcquireReply { req, acquired, holder } => write!(
                f,
                "skinny_acquire_reply req={req} {} holder={}",
                if *acquired { "ACQUIRED" } else { "not-acquired" },
                who(*holder)
            ),
            SkinnyMsg::Release { req } => write!(f, "skinny_release req={req}"),
            SkinnyMsg::ReleaseReply { req, released } => {
                write!(f, "skinny_release_reply req={req} {}", if *released { "released" } else { "NOT-released" })
            }
            SkinnyMsg::Promise { round, id } => write!(f, "promise round={round} id={id}"),
            SkinnyMsg::PromiseReply { round, promised, id, holder } => write!(
                f,
                "promise_reply round={round} {} id={id} holder={}",
                if *promised { "PROMISED" } else { "refused" },
                who(*holder)
            ),
            SkinnyMsg::Commit { round, id, holder } => {
                write!(f, "commit round={round} id={id} holder={}", who(*holder))
            }
            SkinnyMsg::CommitReply { round, committed } => {
                write!(f, "commit_reply round={round} {}", if *committed { "COMMITTED" } else { "refused" })
            }
        }
    }
}
