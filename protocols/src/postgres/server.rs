//! The PostgreSQL server: backends (one per session), the advisory lock table, the TCP side of
//! each client connection (retransmission, keepalive, `tcp_user_timeout`), and optionally a
//! PgBouncer in transaction mode in front of the backends. See the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};

use super::msg::{ConnId, PgMsg, Stmt};
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId, Timer};

/// The server's one timer: the next retransmission or keepalive event of any connection.
pub const TCP_TIMER: Timer = Timer::Named("pg_tcp", 0);

/// Linux `TCP_RTO_MIN` (200 ms) and `TCP_RTO_MAX` (120 s): the retransmission timeout starts at
/// the minimum (the simulated round trip is far below it) and doubles per retransmission.
pub const RTO_MIN_MS: u64 = 200;
pub const RTO_MAX_MS: u64 = 120_000;
/// `net.ipv4.tcp_retries2 = 15`: with `TCP_RTO_MIN` doubling up to `TCP_RTO_MAX`, unacknowledged
/// data is given up after about 924.6 s (tcp(7)), when `tcp_user_timeout` is 0.
pub const RETRIES2_TIMEOUT_MS: u64 = 924_600;

/// Parameters of the server (and of the pooler, when there is one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgServerParams {
    /// `tcp_keepalives_idle` (0 in postgresql.conf = the system default, Linux 7200 s).
    pub keepalives_idle_ms: u64,
    /// `tcp_keepalives_interval` (Linux default 75 s).
    pub keepalives_interval_ms: u64,
    /// `tcp_keepalives_count` (Linux default 9).
    pub keepalives_count: u32,
    /// `tcp_user_timeout` (PG 12+; 0 = off, the default).
    pub user_timeout_ms: u64,
    /// PgBouncer in `pool_mode = transaction` between the clients and the backends.
    pub pooler_transaction_mode: bool,
    /// The first retransmission timeout (`TCP_RTO_MIN`, 200 ms on Linux).
    pub rto_min_ms: u64,
}

/// One advisory lock as `pg_locks` would show it: the holding backend's pid, the session-level
/// count (reentrant: N locks need N unlocks) and whether a transaction of that backend holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Held {
    pub pid: u32,
    pub session_count: u32,
    pub xact: bool,
}

/// A result segment the client has not acknowledged yet (the kernel's send queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unacked {
    pub seq: u64,
    pub ok: bool,
    pub pid: u32,
    pub first_sent_mono_ns: u64,
    pub rto_ns: u64,
    pub next_retx_mono_ns: u64,
}

/// The server's side of one client connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conn {
    /// When a segment from the client last arrived (the keepalive's idle time counts from here).
    pub last_recv_mono_ns: u64,
    /// Keepalive probes sent since then (`icsk_probes_out`).
    pub probes_out: u32,
    /// When the keepalive timer next fires.
    pub keepalive_due_mono_ns: u64,
    /// The last statement executed and its result, to answer a retransmitted query.
    pub last_seq: u64,
    pub last_result: (bool, u32),
    pub unacked: Option<Unacked>,
    /// The backend serving this connection: its own session's backend without a pooler; with
    /// the pooler, the backend pinned while a transaction is open.
    pub backend: Option<u32>,
}

/// A PostgreSQL server (with its pooler, when configured).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgServer {
    pub params: PgServerParams,
    pub conns: BTreeMap<ConnId, Conn>,
    /// Connections this server closed (a segment on one is answered with RST).
    pub closed: BTreeSet<ConnId>,
    /// The advisory lock table (`pg_locks`, locktype `advisory`).
    pub locks: BTreeMap<LockId, Held>,
    /// Backends with an open transaction.
    pub in_txn: BTreeSet<u32>,
    /// The pooler's idle server connections, most recently released last (PgBouncer reuses
    /// them LIFO, `server_round_robin = 0`).
    pub idle_backends: Vec<u32>,
    pub next_pid: u32,
}

impl PgServer {
    pub fn new(params: PgServerParams) -> Self {
        PgServer {
            params,
            conns: BTreeMap::new(),
            closed: BTreeSet::new(),
            locks: BTreeMap::new(),
            in_txn: BTreeSet::new(),
            idle_backends: Vec::new(),
            next_pid: 100,
        }
    }

    fn spawn_backend(&mut self) -> u32 {
        self.next_pid += 1;
        self.next_pid
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            // Nothing survives a restart: a fresh server has no sessions and no locks.
            Input::Start { .. } | Input::Command(_) | Input::Timer(_) => {}
            Input::Message { from, msg: Msg::Pg(m) } => self.on_message(ctx, from, m),
            Input::Message { .. } => {}
        }
        self.wake(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, m: PgMsg) {
        let conn_id = match &m {
            PgMsg::Query { conn, .. }
            | PgMsg::Ack { conn, .. }
            | PgMsg::ProbeAck { conn }
            | PgMsg::Reset { conn }
            | PgMsg::Result { conn, .. }
            | PgMsg::Probe { conn } => *conn,
        };
        if let PgMsg::Reset { conn } = m {
            // The client's kernel does not know this connection (its host restarted): close.
            if self.conns.contains_key(&conn) {
                self.close(ctx, conn, false);
            }
            return;
        }
        let opens = matches!(m, PgMsg::Query { seq: 1, .. }) && !self.closed.contains(&conn_id);
        if !self.conns.contains_key(&conn_id) {
            if !opens {
                ctx.send(from, Msg::Pg(PgMsg::Reset { conn: conn_id }));
                return;
            }
            // A new connection: without a pooler, a new backend (a new session, a new pid).
            let backend = if self.params.pooler_transaction_mode { None } else { Some(self.spawn_backend()) };
            let conn = Conn {
                last_recv_mono_ns: ctx.mono_ns,
                probes_out: 0,
                keepalive_due_mono_ns: ctx.mono_ns + ms(self.params.keepalives_idle_ms),
                last_seq: 0,
                last_result: (false, 0),
                unacked: None,
                backend,
            };
            self.conns.insert(conn_id, conn);
        }
        let idle_ns = ms(self.params.keepalives_idle_ms);
        let conn = self.conns.get_mut(&conn_id).expect("present");
        // Any segment from the peer: the connection is alive (`icsk_probes_out = 0`).
        conn.last_recv_mono_ns = ctx.mono_ns;
        conn.probes_out = 0;
        conn.keepalive_due_mono_ns = ctx.mono_ns + idle_ns;
        match m {
            PgMsg::Ack { seq, .. } if conn.unacked.is_some_and(|u| u.seq == seq) => conn.unacked = None,
            PgMsg::Query { seq, stmt, .. } => {
                if seq == conn.last_seq {
                    // A retransmission: the result was lost (or is in flight); send it again.
                    let (ok, pid) = conn.last_result;
                    ctx.send(from, Msg::Pg(PgMsg::Result { conn: conn_id, seq, ok, pid }));
                } else if seq == conn.last_seq + 1 {
                    let (ok, pid) = self.execute(ctx, from, conn_id, stmt);
                    let rto_ns = ms(self.params.rto_min_ms);
                    let conn = self.conns.get_mut(&conn_id).expect("present");
                    conn.last_seq = seq;
                    conn.last_result = (ok, pid);
                    conn.unacked = Some(Unacked {
                        seq,
                        ok,
                        pid,
                        first_sent_mono_ns: ctx.mono_ns,
                        rto_ns,
                        next_retx_mono_ns: ctx.mono_ns + rto_ns,
                    });
                    ctx.send(from, Msg::Pg(PgMsg::Result { conn: conn_id, seq, ok, pid }));
                }
            }
            _ => {}
        }
    }

    /// The backend that runs the next statement of `conn`: its own; with the pooler, the one
    /// pinned by its open transaction, else the most recently released idle one (a new one when
    /// none is idle).
    fn backend_for(&mut self, conn_id: ConnId) -> u32 {
        if let Some(pid) = self.conns[&conn_id].backend {
            return pid;
        }
        match self.idle_backends.pop() {
            Some(pid) => pid,
            None => self.spawn_backend(),
        }
    }

    /// Run one statement; the result and the backend that ran it.
    pub fn execute(&mut self, ctx: &mut Ctx, from: NodeId, conn_id: ConnId, stmt: Stmt) -> (bool, u32) {
        let pid = self.backend_for(conn_id);
        let ok = match stmt {
            Stmt::TryLock(k) => match self.locks.get_mut(&k) {
                None => {
                    self.locks.insert(k, Held { pid, session_count: 1, xact: false });
                    true
                }
                Some(h) if h.pid == pid => {
                    // Reentrant: the same session (backend) takes it again.
                    h.session_count += 1;
                    true
                }
                Some(_) => false,
            },
            Stmt::Unlock(k) => match self.locks.get_mut(&k) {
                Some(h) if h.pid == pid && h.session_count > 0 => {
                    h.session_count -= 1;
                    if h.session_count == 0 && !h.xact {
                        self.locks.remove(&k);
                    }
                    true
                }
                // "WARNING: you don't own a lock of type ExclusiveLock"
                _ => false,
            },
            Stmt::BeginTryXactLock(k) => {
                let ok = match self.locks.get_mut(&k) {
                    None => {
                        self.locks.insert(k, Held { pid, session_count: 0, xact: true });
                        true
                    }
                    Some(h) if h.pid == pid => {
                        h.xact = true;
                        true
                    }
                    Some(_) => false,
                };
                if ok {
                    // The transaction stays open: the backend is pinned to this connection.
                    self.in_txn.insert(pid);
                    self.conns.get_mut(&conn_id).expect("present").backend = Some(pid);
                }
                ok
            }
            Stmt::Commit => {
                if self.in_txn.remove(&pid) {
                    self.end_transaction(pid);
                    if self.params.pooler_transaction_mode {
                        self.conns.get_mut(&conn_id).expect("present").backend = None;
                    }
                }
                true
            }
        };
        if ok && matches!(stmt, Stmt::TryLock(_) | Stmt::BeginTryXactLock(_)) {
            let lock = match stmt {
                Stmt::TryLock(k) | Stmt::BeginTryXactLock(k) => k,
                _ => unreachable!(),
            };
            ctx.record(Observation::Grant { lock, holder: from, value: from as u64 + 1, token: None });
        }
        // The pooler returns the server connection to the pool once no transaction is open.
        if self.params.pooler_transaction_mode && self.conns[&conn_id].backend.is_none() {
            self.idle_backends.push(pid);
        }
        (ok, pid)
    }

    /// The transaction of backend `pid` ends (commit, or rollback at session end): its
    /// transaction-level locks go.
    fn end_transaction(&mut self, pid: u32) {
        self.locks.retain(|_, h| {
            if h.pid == pid {
                h.xact = false;
            }
            h.pid != pid || h.session_count > 0
        });
    }

    /// The connection is gone (keepalive or retransmission failure, or the client's RST). The
    /// backend notices and exits: its open transaction rolls back and — without a pooler — its
    /// session ends, releasing every session-level lock. Through the pooler the client
    /// connection closes, an open transaction is rolled back, and the server connection goes
    /// back to the pool with its session locks still held.
    fn close(&mut self, ctx: &mut Ctx, conn_id: ConnId, send_reset: bool) {
        let Some(conn) = self.conns.remove(&conn_id) else { return };
        self.closed.insert(conn_id);
        if let Some(pid) = conn.backend {
            if self.in_txn.remove(&pid) {
                self.end_transaction(pid);
            }
            if self.params.pooler_transaction_mode {
                self.idle_backends.push(pid);
            } else {
                self.locks.retain(|_, h| h.pid != pid);
            }
        }
        if send_reset {
            ctx.send(conn_id.client, Msg::Pg(PgMsg::Reset { conn: conn_id }));
        }
    }

    /// Run every connection's due TCP work (retransmissions, keepalive probes, the time-outs
    /// that close a connection), then set the timer for the next.
    fn wake(&mut self, ctx: &mut Ctx) {
        let now = ctx.mono_ns;
        let p = self.params.clone();
        let mut to_close = Vec::new();
        for (&conn_id, conn) in self.conns.iter_mut() {
            if let Some(u) = &mut conn.unacked {
                // Unacknowledged data: the retransmission timer is in charge, not keepalive.
                if now >= u.next_retx_mono_ns {
                    let waited_ns = now - u.first_sent_mono_ns;
                    let limit_ns = if p.user_timeout_ms > 0 { ms(p.user_timeout_ms) } else { ms(RETRIES2_TIMEOUT_MS) };
                    if waited_ns >= limit_ns {
                        to_close.push(conn_id);
                        continue;
                    }
                    ctx.send(
                        conn_id.client,
                        Msg::Pg(PgMsg::Result { conn: conn_id, seq: u.seq, ok: u.ok, pid: u.pid }),
                    );
                    u.rto_ns = (2 * u.rto_ns).min(ms(RTO_MAX_MS));
                    u.next_retx_mono_ns = now + u.rto_ns;
                }
                continue;
            }
            if now < conn.keepalive_due_mono_ns {
                continue;
            }
            // `tcp_keepalive_timer` (net/ipv4/tcp_timer.c).
            let elapsed_ns = now - conn.last_recv_mono_ns;
            if elapsed_ns >= ms(p.keepalives_idle_ms) {
                let user_timeout_hit =
                    p.user_timeout_ms != 0 && elapsed_ns >= ms(p.user_timeout_ms) && conn.probes_out > 0;
                let probes_exhausted = p.user_timeout_ms == 0 && conn.probes_out >= p.keepalives_count;
                if user_timeout_hit || probes_exhausted {
                    to_close.push(conn_id);
                    continue;
                }
                ctx.send(conn_id.client, Msg::Pg(PgMsg::Probe { conn: conn_id }));
                conn.probes_out += 1;
                conn.keepalive_due_mono_ns = now + ms(p.keepalives_interval_ms);
            } else {
                conn.keepalive_due_mono_ns = conn.last_recv_mono_ns + ms(p.keepalives_idle_ms);
            }
        }
        for conn_id in to_close {
            self.close(ctx, conn_id, true);
        }
        let next = self
            .conns
            .values()
            .map(|c| match c.unacked {
                Some(u) => u.next_retx_mono_ns,
                None => c.keepalive_due_mono_ns,
            })
            .min();
        match next {
            Some(t) => ctx.set_timer(TCP_TIMER, t.saturating_sub(now).max(1)),
            None => ctx.cancel_timer(TCP_TIMER),
        }
    }
}
