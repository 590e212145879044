//! Chubby's messages: the client library's calls on the master (sessions, KeepAlives, locks) and
//! the cell's own traffic between the master and its replicas (the replicated database and the
//! master's succession). See the [module docs](super) for what each does.
//!
//! Every client call carries the epoch the client believes current; a master answers a call of
//! another epoch with [`ChubbyMsg::NotMaster`] ("the master rejects calls with stale epochs",
//! paper §2.9), as does a replica (with the master it knows: the paper's master-location answer).

use std::collections::BTreeMap;
use std::fmt;

use crate::node::{LockId, NodeId};

/// One lock in the replicated database.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LockEntry {
    /// The session holding the lock (exclusive mode), if any.
    pub holder: Option<u64>,
    /// The lock generation number: incremented every time the lock is acquired (the third part
    /// of a sequencer, and the fencing token the resource compares).
    pub generation: u64,
    /// The lock became free because its holder's session ended (not by a release): the
    /// lock-delay applies. Replicated so that a new master keeps honouring it.
    pub delayed: bool,
}

/// The replicated database: sessions and locks. Lease timeouts are *not* in it: they live in the
/// master's memory, which is why a new master must extend every lease conservatively.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChubbyDb {
    /// The next session id to hand out.
    pub next_session: u64,
    /// Open sessions: id → the client node that owns it.
    pub sessions: BTreeMap<u64, NodeId>,
    pub locks: BTreeMap<LockId, LockEntry>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChubbyMsg {
    /// Client → master: create a session (first contact).
    OpenSession {
        req: u64,
        epoch: u64,
    },
    /// The new session and its lease, `lease_ns` from when the master created it.
    OpenSessionReply {
        req: u64,
        epoch: u64,
        session: u64,
        lease_ns: u64,
    },
    /// Client → master: KeepAlive number `seq` of the session (a re-sent one keeps its number).
    /// The master holds it until the session's lease is close to its end.
    KeepAlive {
        epoch: u64,
        session: u64,
        seq: u64,
    },
    /// The new lease: `lease_ns` from the reply's sending, after the master held the call for
    /// `held_ns` (both on the master's clock). `failover`: the fail-over event of a new master.
    /// `seq` echoes the KeepAlive's number.
    KeepAliveReply {
        epoch: u64,
        session: u64,
        seq: u64,
        held_ns: u64,
        lease_ns: u64,
        failover: bool,
    },
    /// The session is unknown to the master: it expired (or never existed).
    SessionExpired {
        session: u64,
    },
    /// Client → master: acquire `lock` in exclusive mode (blocking: the master answers when it
    /// grants it).
    Acquire {
        req: u64,
        epoch: u64,
        session: u64,
        lock: LockId,
    },
    /// The lock is held; its sequencer is (`lock`, exclusive, `generation`).
    AcquireReply {
        req: u64,
        session: u64,
        lock: LockId,
        generation: u64,
    },
    /// Client → master: release the lock held under `generation`.
    Release {
        req: u64,
        epoch: u64,
        session: u64,
        lock: LockId,
        generation: u64,
    },
    ReleaseReply {
        req: u64,
        ok: bool,
    },
    /// A replica, or a master of another epoch: the master it knows and its epoch.
    NotMaster {
        master: Option<NodeId>,
        epoch: u64,
    },
    /// Master → replicas: the database after write `seq` of `epoch` (also the master's heartbeat,
    /// `sent_ns` on the master's clock, echoed for its master lease).
    Replicate {
        epoch: u64,
        seq: u64,
        db: Box<ChubbyDb>,
        sent_ns: u64,
    },
    /// Replica → master: it has the database up to `seq` of `epoch`.
    ReplicateAck {
        epoch: u64,
        seq: u64,
        sent_ns: u64,
    },
    /// A new master → replicas: promise `epoch` (reject every older one) and send your database.
    Recover {
        epoch: u64,
    },
    /// The promise, with the replica's database (written by the master of `db_epoch`, write `seq`).
    RecoverReply {
        epoch: u64,
        db_epoch: u64,
        seq: u64,
        db: Box<ChubbyDb>,
    },
    /// A replica refuses a call of an older epoch than the one it promised.
    Stale {
        epoch: u64,
        master: Option<NodeId>,
    },
}

impl ChubbyMsg {
    /// Every kind, as scenario files name them.
    pub const KINDS: &'static [&'static str] = &[
        "open_session",
        "open_session_reply",
        "keep_alive",
        "keep_alive_reply",
        "session_expired",
        "chubby_acquire",
        "chubby_acquire_reply",
        "chubby_release",
        "chubby_release_reply",
        "not_master",
        "db_replicate",
        "db_replicate_ack",
        "recover",
        "recover_reply",
        "stale_epoch",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            ChubbyMsg::OpenSession { .. } => "open_session",
            ChubbyMsg::OpenSessionReply { .. } => "open_session_reply",
            ChubbyMsg::KeepAlive { .. } => "keep_alive",
            ChubbyMsg::KeepAliveReply { .. } => "keep_alive_reply",
            ChubbyMsg::SessionExpired { .. } => "session_expired",
            ChubbyMsg::Acquire { .. } => "chubby_acquire",
            ChubbyMsg::AcquireReply { .. } => "chubby_acquire_reply",
            ChubbyMsg::Release { .. } => "chubby_release",
            ChubbyMsg::ReleaseReply { .. } => "chubby_release_reply",
            ChubbyMsg::NotMaster { .. } => "not_master",
            ChubbyMsg::Replicate { .. } => "db_replicate",
            ChubbyMsg::ReplicateAck { .. } => "db_replicate_ack",
            ChubbyMsg::Recover { .. } => "recover",
            ChubbyMsg::RecoverReply { .. } => "recover_reply",
            ChubbyMsg::Stale { .. } => "stale_epoch",
        }
    }
}

fn ms3(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000, (ns % 1_000_000) / 1_000)
}

fn node(n: &Option<NodeId>) -> String {
    match n {
        Some(n) => format!("node{n}"),
        None => "-".to_string(),
    }
}

impl fmt::Display for ChubbyDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sessions: Vec<String> = self.sessions.keys().map(|s| format!("S{s}")).collect();
        let locks: Vec<String> = self
            .locks
            .iter()
            .map(|(l, e)| {
                let holder = e.holder.map_or("-".to_string(), |s| format!("S{s}"));
                format!("{l}:{holder}/g{}{}", e.generation, if e.delayed { "/delayed" } else { "" })
            })
            .collect();
        write!(f, "sessions=[{}] locks=[{}]", sessions.join(","), locks.join(","))
    }
}

impl fmt::Display for ChubbyMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChubbyMsg::OpenSession { req, epoch } => write!(f, "open_session req={req} epoch={epoch}"),
            ChubbyMsg::OpenSessionReply { req, epoch, session, lease_ns } => {
                write!(f, "open_session_reply req={req} epoch={epoch} session=S{session} lease_ms={}", ms3(*lease_ns))
            }
            ChubbyMsg::KeepAlive { epoch, session, seq } => {
                write!(f, "keep_alive epoch={epoch} session=S{session} seq={seq}")
            }
            ChubbyMsg::KeepAliveReply { epoch, session, seq, held_ns, lease_ns, failover } => write!(
                f,
                "keep_alive_reply epoch={epoch} session=S{session} seq={seq} held_ms={} lease_ms={}{}",
                ms3(*held_ns),
                ms3(*lease_ns),
                if *failover { " FAILOVER" } else { "" }
            ),
            ChubbyMsg::SessionExpired { session } => write!(f, "session_expired session=S{session}"),
            ChubbyMsg::Acquire { req, epoch, session, lock } => {
                write!(f, "chubby_acquire req={req} epoch={epoch} session=S{session} lock={lock}")
            }
            ChubbyMsg::AcquireReply { req, session, lock, generation } => {
                write!(
                    f,
                    "chubby_acquire_reply req={req} session=S{session} HELD sequencer=({lock},exclusive,{generation})"
                )
            }
            ChubbyMsg::Release { req, epoch, session, lock, generation } => {
                write!(
                    f,
                    "chubby_release req={req} epoch={epoch} session=S{session} lock={lock} generation={generation}"
                )
            }
            ChubbyMsg::ReleaseReply { req, ok } => {
                write!(f, "chubby_release_reply req={req} {}", if *ok { "released" } else { "NOT-held" })
            }
            ChubbyMsg::NotMaster { master, epoch } => write!(f, "not_master master={} epoch={epoch}", node(master)),
            ChubbyMsg::Replicate { epoch, seq, db, .. } => write!(f, "db_replicate epoch={epoch} seq={seq} {db}"),
            ChubbyMsg::ReplicateAck { epoch, seq, .. } => write!(f, "db_replicate_ack epoch={epoch} seq={seq}"),
            ChubbyMsg::Recover { epoch } => write!(f, "recover epoch={epoch}"),
            ChubbyMsg::RecoverReply { epoch, db_epoch, seq, db } => {
                write!(f, "recover_reply epoch={epoch} db=({db_epoch},{seq}) {db}")
            }
            ChubbyMsg::Stale { epoch, master } => write!(f, "stale_epoch epoch={epoch} master={}", node(master)),
        }
    }
}
