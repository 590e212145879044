//! The messages of the `postgres` kind: the statements a client sends on one TCP connection (one
//! database session), their results, the TCP segments that carry no statement (acknowledgements,
//! keepalive probes and their answers, the reset of a connection the server no longer knows), all
//! tagged with the connection they belong to.

use std::fmt;

use crate::node::{LockId, NodeId};

/// One TCP connection: the client node, its incarnation (a restarted process opens new
/// connections) and the number of the connection within it. A PostgreSQL session *is* a
/// connection: a new connection is a new backend process with a new `pid`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub client: NodeId,
    pub incarnation: u32,
    pub n: u32,
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn{}.{}.{}", self.client, self.incarnation, self.n)
    }
}

/// The SQL a client sends.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stmt {
    /// `SELECT pg_try_advisory_lock(k)`: a session-level lock, reentrant (each success adds one
    /// to the session's count for `k`).
    TryLock(LockId),
    /// `SELECT pg_advisory_unlock(k)`: `true` if this session held `k` (its count drops by one),
    /// `false` (with `WARNING: you don't own a lock of type ExclusiveLock`) otherwise.
    Unlock(LockId),
    /// `BEGIN; SELECT pg_try_advisory_xact_lock(k)`: a transaction-level lock, held until the
    /// transaction ends; on `false` the client rolls back at once (folded into this statement).
    BeginTryXactLock(LockId),
    /// `COMMIT`: ends the transaction, releasing its transaction-level locks.
    Commit,
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::TryLock(k) => write!(f, "pg_try_advisory_lock({k})"),
            Stmt::Unlock(k) => write!(f, "pg_advisory_unlock({k})"),
            Stmt::BeginTryXactLock(k) => write!(f, "BEGIN; pg_try_advisory_xact_lock({k})"),
            Stmt::Commit => write!(f, "COMMIT"),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PgMsg {
    /// Client → server: statement number `seq` on `conn` (a retransmission repeats `seq`). The
    /// first segment of an unknown connection opens it (handshake and first query in one).
    Query { conn: ConnId, seq: u64, stmt: Stmt },
    /// Server → client: the result of statement `seq` (a boolean, as the lock functions return;
    /// `COMMIT` answers `true`); `pid` is the backend that ran it.
    Result { conn: ConnId, seq: u64, ok: bool, pid: u32 },
    /// Client → server: the TCP acknowledgement of result `seq`.
    Ack { conn: ConnId, seq: u64 },
    /// Server → client: a TCP keepalive probe (an empty segment; the client's kernel answers it).
    Probe { conn: ConnId },
    /// Client → server: the answer to a probe.
    ProbeAck { conn: ConnId },
    /// Server → client: RST: the server closed the connection or does not know it.
    Reset { conn: ConnId },
}

impl PgMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] =
        &["pg_query", "pg_result", "pg_ack", "pg_probe", "pg_probe_ack", "pg_reset"];

    pub fn kind(&self) -> &'static str {
        match self {
            PgMsg::Query { .. } => "pg_query",
            PgMsg::Result { .. } => "pg_result",
            PgMsg::Ack { .. } => "pg_ack",
            PgMsg::Probe { .. } => "pg_probe",
            PgMsg::ProbeAck { .. } => "pg_probe_ack",
            PgMsg::Reset { .. } => "pg_reset",
        }
    }
}

impl fmt::Display for PgMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgMsg::Query { conn, seq, stmt } => write!(f, "query {conn} #{seq} {stmt}"),
            PgMsg::Result { conn, seq, ok, pid } => write!(f, "result {conn} #{seq} {ok} pid={pid}"),
            PgMsg::Ack { conn, seq } => write!(f, "ack {conn} #{seq}"),
            PgMsg::Probe { conn } => write!(f, "keepalive-probe {conn}"),
            PgMsg::ProbeAck { conn } => write!(f, "keepalive-ack {conn}"),
            PgMsg::Reset { conn } => write!(f, "rst {conn}"),
        }
    }
}
