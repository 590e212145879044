//! ZooKeeper's messages, as this model needs them: the client protocol (connect, requests,
//! pings, watch events — ZooKeeper's `ConnectRequest`, `RequestHeader`/`ReplyHeader`, `WatcherEvent`)
//! and Zab's broadcast phase between the servers (`PROPOSAL`, `ACK`, `COMMIT`, and the learners'
//! session touches, carried in ZooKeeper by their answers to the leader's `PING`).
//!
//! `conn` numbers a client's connections (a TCP connection in ZooKeeper) and `cseq` numbers what a
//! server sent on one: ZooKeeper's replies travel on one TCP stream, so a reply is never lost
//! alone — the connection breaks. A client that sees a gap in `cseq` treats its connection as
//! broken (as TCP would), which is how a scenario's "drop the reply to c1's create" reads here.

use std::fmt;

use crate::node::{LockId, NodeId};

/// A ZooKeeper session id; [`NO_SESSION`] (0) for none (or "expired" in a connect answer).
pub type ZkSessionId = u64;

/// No session.
pub const NO_SESSION: ZkSessionId = 0;

/// The prefix a client gives its lock node; the server appends the 10-digit sequence number.
/// `guid`: the recipe's `<guid>-lock-`; `session`: ZooKeeper's own `WriteLock`'s
/// `x-<sessionId>-`; neither: a plain `lock-` (a naive client). 0 means absent.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName {
    pub guid: u64,
    pub session: ZkSessionId,
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.guid != 0 {
            write!(f, "{:08x}-lock-", self.guid & 0xffff_ffff)
        } else if self.session != NO_SESSION {
            write!(f, "x-{}-", self.session)
        } else {
            write!(f, "lock-")
        }
    }
}

/// One child of a lock node (`/_locknode_/<name><seq>`), an ephemeral sequential znode.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Child {
    pub name: NodeName,
    /// The sequence suffix: the parent's `cversion` when the child was created.
    pub seq: u64,
    /// The zxid of the create: the fencing token.
    pub czxid: u64,
    /// The session that owns the ephemeral node.
    pub owner: ZkSessionId,
}

/// A client request (one at a time: the recipe's calls are synchronous).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ZkOp {
    /// `create("/_locknode_/<name>", EPHEMERAL | SEQUENTIAL)`.
    Create { lock: LockId, name: NodeName },
    /// `getChildren("/_locknode_", watch)`: the recipe passes `false`; the herd variant `true`.
    GetChildren { lock: LockId, watch: bool },
    /// `exists("/_locknode_/<…><seq>", watch)`.
    Exists { lock: LockId, seq: u64, watch: bool },
    /// `delete("/_locknode_/<…><seq>", -1)`.
    Delete { lock: LockId, seq: u64 },
}

impl ZkOp {
    /// Does the request change the data tree (and so go through the leader)?
    pub fn is_write(&self) -> bool {
        matches!(self, ZkOp::Create { .. } | ZkOp::Delete { .. })
    }
}

/// A request's result.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ZkResult {
    /// `create2`: the path's sequence number and the new node's `Stat.czxid`.
    Created {
        seq: u64,
        czxid: u64,
    },
    /// The children, in sequence order. ZooKeeper lists names; the czxid of each is its `Stat`
    /// (folded in here so that a client that found its node by name knows its token).
    Children(Vec<Child>),
    /// `exists`: the node's czxid, or None (`null`).
    Exists(Option<u64>),
    Deleted,
    /// `KeeperException.NoNodeException`.
    NoNode,
    /// `KeeperException.SessionExpiredException`: the session was closed.
    SessionExpired,
}

/// A transaction of the replicated data tree (ZooKeeper's `TxnHeader` + record). The result
/// (sequence number, errors) is computed when a replica applies it — in the same zxid order on
/// every replica, so with the same result ZooKeeper's leader computes ahead in its
/// `PrepRequestProcessor`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnKind {
    /// `createSession`: the session id is the txn's zxid.
    CreateSession {
        timeout_ms: u64,
    },
    /// `closeSession`: the leader expired it; its ephemeral nodes are deleted.
    CloseSession {
        session: ZkSessionId,
    },
    Create {
        session: ZkSessionId,
        lock: LockId,
        name: NodeName,
    },
    Delete {
        session: ZkSessionId,
        lock: LockId,
        seq: u64,
    },
}

/// A transaction and who waits for its answer: the server the client is connected to answers
/// when it applies the commit (ZooKeeper's `FinalRequestProcessor` on that server).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Txn {
    pub kind: TxnKind,
    /// `(server, client, conn, xid)`; xid 0 for a connect.
    pub origin: Option<(NodeId, NodeId, u32, u64)>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ZkMsg {
    // ---- client → server ----
    /// Open connection `conn`: a new session (`session = 0`) or resume one.
    Connect {
        conn: u32,
        session: ZkSessionId,
        timeout_ms: u64,
    },
    Request {
        conn: u32,
        xid: u64,
        session: ZkSessionId,
        op: ZkOp,
    },
    Ping {
        conn: u32,
        session: ZkSessionId,
    },
    // ---- server → client (cseq: position on the connection) ----
    /// The session, or [`NO_SESSION`]: "session expired".
    ConnectReply {
        conn: u32,
        cseq: u64,
        session: ZkSessionId,
    },
    Reply {
        conn: u32,
        cseq: u64,
        xid: u64,
        result: ZkResult,
    },
    PingReply {
        conn: u32,
        cseq: u64,
    },
    /// A one-shot watch fired: `NodeDeleted` for `/_locknode_/<…><seq>`.
    Watch {
        conn: u32,
        cseq: u64,
        lock: LockId,
        seq: u64,
    },
    /// A one-shot child watch fired: `NodeChildrenChanged` on `/_locknode_` (the herd variant).
    ChildWatch {
        conn: u32,
        cseq: u64,
        lock: LockId,
    },
    /// The server closed the connection of an expired session.
    Expired {
        conn: u32,
        cseq: u64,
    },
    // ---- Zab broadcast between servers ----
    /// Follower → leader: a write request of one of its clients.
    Forward {
        txn: Txn,
    },
    Proposal {
        zxid: u64,
        txn: Txn,
    },
    Ack {
        zxid: u64,
    },
    Commit {
        zxid: u64,
    },
    /// Follower → leader: the sessions its clients touched since the last report.
    Touch {
        sessions: Vec<ZkSessionId>,
    },
}

impl ZkMsg {
    /// Every kind, as scenario files name them.
    pub const KINDS: &'static [&'static str] = &[
        "zk_connect",
        "zk_create",
        "zk_get_children",
        "zk_exists",
        "zk_delete",
        "zk_ping",
        "zk_connect_reply",
        "zk_reply",
        "zk_create_reply",
        "zk_get_children_reply",
        "zk_exists_reply",
        "zk_delete_reply",
        "zk_ping_reply",
        "zk_watch",
        "zk_child_watch",
        "zk_expired",
        "zk_forward",
        "zk_proposal",
        "zk_ack",
        "zk_commit",
        "zk_touch",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            ZkMsg::Connect { .. } => "zk_connect",
            ZkMsg::Request { op, .. } => match op {
                ZkOp::Create { .. } => "zk_create",
                ZkOp::GetChildren { .. } => "zk_get_children",
                ZkOp::Exists { .. } => "zk_exists",
                ZkOp::Delete { .. } => "zk_delete",
            },
            ZkMsg::Ping { .. } => "zk_ping",
            ZkMsg::ConnectReply { .. } => "zk_connect_reply",
            ZkMsg::Reply { result, .. } => match result {
                ZkResult::Created { .. } => "zk_create_reply",
                ZkResult::Children(_) => "zk_get_children_reply",
                ZkResult::Exists(_) => "zk_exists_reply",
                ZkResult::Deleted => "zk_delete_reply",
                ZkResult::NoNode | ZkResult::SessionExpired => "zk_reply",
            },
            ZkMsg::PingReply { .. } => "zk_ping_reply",
            ZkMsg::Watch { .. } => "zk_watch",
            ZkMsg::ChildWatch { .. } => "zk_child_watch",
            ZkMsg::Expired { .. } => "zk_expired",
            ZkMsg::Forward { .. } => "zk_forward",
            ZkMsg::Proposal { .. } => "zk_proposal",
            ZkMsg::Ack { .. } => "zk_ack",
            ZkMsg::Commit { .. } => "zk_commit",
            ZkMsg::Touch { .. } => "zk_touch",
        }
    }
}

fn sess(s: ZkSessionId) -> String {
    if s == NO_SESSION {
        "-".into()
    } else {
        format!("0x{s:x}")
    }
}

impl fmt::Display for ZkOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkOp::Create { lock, name } => write!(f, "create /lock{lock}/{name} EPHEMERAL|SEQUENTIAL"),
            ZkOp::GetChildren { lock, watch } => {
                write!(f, "getChildren /lock{lock}{}", if *watch { " watch" } else { "" })
            }
            ZkOp::Exists { lock, seq, watch } => {
                write!(f, "exists /lock{lock}/…{seq:010}{}", if *watch { " watch" } else { "" })
            }
            ZkOp::Delete { lock, seq } => write!(f, "delete /lock{lock}/…{seq:010}"),
        }
    }
}

impl fmt::Display for ZkResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkResult::Created { seq, czxid } => write!(f, "created seq={seq:010} czxid={czxid}"),
            ZkResult::Children(children) => {
                write!(f, "children [")?;
                for (i, c) in children.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{}{:010}", c.name, c.seq)?;
                }
                write!(f, "]")
            }
            ZkResult::Exists(Some(czxid)) => write!(f, "exists czxid={czxid}"),
            ZkResult::Exists(None) => write!(f, "exists null"),
            ZkResult::Deleted => write!(f, "deleted"),
            ZkResult::NoNode => write!(f, "NONODE"),
            ZkResult::SessionExpired => write!(f, "SESSIONEXPIRED"),
        }
    }
}

impl fmt::Display for TxnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnKind::CreateSession { timeout_ms } => write!(f, "createSession timeout={timeout_ms}ms"),
            TxnKind::CloseSession { session } => write!(f, "closeSession {}", sess(*session)),
            TxnKind::Create { session, lock, name } => write!(f, "create /lock{lock}/{name} owner={}", sess(*session)),
            TxnKind::Delete { session, lock, seq } => write!(f, "delete /lock{lock}/…{seq:010} by {}", sess(*session)),
        }
    }
}

impl fmt::Display for ZkMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkMsg::Connect { conn, session, timeout_ms } => {
                write!(f, "zk_connect conn={conn} session={} timeout={timeout_ms}ms", sess(*session))
            }
            ZkMsg::Request { conn, xid, session, op } => {
                write!(f, "{} conn={conn} xid={xid} session={} {op}", self.kind(), sess(*session))
            }
            ZkMsg::Ping { conn, session } => write!(f, "zk_ping conn={conn} session={}", sess(*session)),
            ZkMsg::ConnectReply { conn, cseq, session } => {
                if *session == NO_SESSION {
                    write!(f, "zk_connect_reply conn={conn} cseq={cseq} SESSION EXPIRED")
                } else {
                    write!(f, "zk_connect_reply conn={conn} cseq={cseq} session={}", sess(*session))
                }
            }
            ZkMsg::Reply { conn, cseq, xid, result } => {
                write!(f, "{} conn={conn} cseq={cseq} xid={xid} {result}", self.kind())
            }
            ZkMsg::PingReply { conn, cseq } => write!(f, "zk_ping_reply conn={conn} cseq={cseq}"),
            ZkMsg::Watch { conn, cseq, lock, seq } => {
                write!(f, "zk_watch conn={conn} cseq={cseq} NodeDeleted /lock{lock}/…{seq:010}")
            }
            ZkMsg::ChildWatch { conn, cseq, lock } => {
                write!(f, "zk_child_watch conn={conn} cseq={cseq} NodeChildrenChanged /lock{lock}")
            }
            ZkMsg::Expired { conn, cseq } => write!(f, "zk_expired conn={conn} cseq={cseq} session closed"),
            ZkMsg::Forward { txn } => write!(f, "zk_forward {}", txn.kind),
            ZkMsg::Proposal { zxid, txn } => write!(f, "zk_proposal zxid={zxid} {}", txn.kind),
            ZkMsg::Ack { zxid } => write!(f, "zk_ack zxid={zxid}"),
            ZkMsg::Commit { zxid } => write!(f, "zk_commit zxid={zxid}"),
            ZkMsg::Touch { sessions } => {
                let list: Vec<String> = sessions.iter().map(|s| sess(*s)).collect();
                write!(f, "zk_touch [{}]", list.join(" "))
            }
        }
    }
}
