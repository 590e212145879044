//! The client library: an application's advisory lock over one database connection (libpq /
//! psycopg with no client-side timeout), with the client host's TCP: retransmission of its
//! statement until the result arrives, acknowledgement of results, answers to keepalive probes,
//! and RST for a connection the host does not know. See the [module docs](super).

use super::msg::{ConnId, PgMsg, Stmt};
use super::server::RTO_MAX_MS;
use crate::history::{Deadline, LostReason, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Ctx, LockId, MsRange, NodeId, Timer};

/// The client's retransmission timer.
pub const RETX_TIMER: Timer = Timer::Named("pg_client_retx", 0);

/// Parameters of the client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgClientParams {
    /// `pg_try_advisory_xact_lock` inside a transaction held open for the critical section
    /// (released by `COMMIT`) instead of the session-level `pg_try_advisory_lock`.
    pub xact_level: bool,
    /// Further `pg_try_advisory_lock` calls after a `false`, per acquire.
    pub acquire_retries: u32,
    /// The wait between two tries.
    pub retry: MsRange,
    /// The first retransmission timeout of the client host's TCP (`TCP_RTO_MIN`).
    pub rto_min_ms: u64,
}

/// Where the library is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PgState {
    Free,
    Acquiring {
        attempts: u32,
    },
    Backoff {
        attempts: u32,
    },
    /// The lock function returned true on backend `pid`: held until released — the library has
    /// no deadline and learns nothing of the server's side of the session.
    Held {
        pid: u32,
        lost: bool,
    },
    Releasing,
}

/// The statement on the wire (the client kernel's send queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pending {
    pub seq: u64,
    pub stmt: Stmt,
    pub rto_ns: u64,
}

/// The `postgres` client library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgLock {
    pub server: NodeId,
    pub lock: LockId,
    pub params: PgClientParams,
    pub session: SessionId,
    /// The open connection (its session), if any; a new one is opened for the next statement.
    pub conn: Option<ConnId>,
    pub conns_opened: u32,
    /// The last statement number used on `conn`.
    pub seq: u64,
    pub pending: Option<Pending>,
    pub state: PgState,
}

impl PgLock {
    pub fn new(server: NodeId, lock: LockId, params: PgClientParams) -> Self {
        PgLock {
            server,
            lock,
            params,
            session: SessionId::default(),
            conn: None,
            conns_opened: 0,
            seq: 0,
            pending: None,
            state: PgState::Free,
        }
    }

    /// Send `stmt` on the open connection, opening a new one (a new session) if there is none.
    fn send(&mut self, ctx: &mut Ctx, stmt: Stmt) {
        let conn = match self.conn {
            Some(c) => c,
            None => {
                self.conns_opened += 1;
                self.seq = 0;
                let c = ConnId { client: ctx.me, incarnation: self.session.incarnation, n: self.conns_opened };
                self.conn = Some(c);
                c
            }
        };
        self.seq += 1;
        let rto_ns = ms(self.params.rto_min_ms);
        self.pending = Some(Pending { seq: self.seq, stmt, rto_ns });
        ctx.send(self.server, Msg::Pg(PgMsg::Query { conn, seq: self.seq, stmt }));
        ctx.set_timer(RETX_TIMER, rto_ns);
    }

    fn lock_stmt(&self) -> Stmt {
        if self.params.xact_level {
            Stmt::BeginTryXactLock(self.lock)
        } else {
            Stmt::TryLock(self.lock)
        }
    }

    pub fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.session = session;
        self.lock = lock;
        ctx.record(Observation::AcquireInvoke { lock, session });
        self.state = PgState::Acquiring { attempts: 1 };
        self.send(ctx, self.lock_stmt());
    }

    pub fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        ctx.record(Observation::ReleaseInvoke { lock: self.lock, session: self.session });
        self.state = PgState::Releasing;
        let stmt = if self.params.xact_level { Stmt::Commit } else { Stmt::Unlock(self.lock) };
        self.send(ctx, stmt);
        None
    }

    pub fn is_valid(&self, _ctx: &Ctx) -> bool {
        matches!(self.state, PgState::Held { lost: false, .. })
    }

    pub fn mark_lost(&mut self, ctx: &mut Ctx) {
        if let PgState::Held { lost, .. } = &mut self.state {
            if !*lost {
                *lost = true;
                ctx.record(Observation::LockLost {
                    lock: self.lock,
                    session: self.session,
                    reason: LostReason::DeadlineExpired,
                });
            }
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match timer {
            RETX_TIMER => {
                // TCP retransmission of the statement, doubling the timeout. (The client gives
                // up only at `tcp_retries2`, ~15 min, beyond any scenario: libpq waits.)
                if let (Some(p), Some(conn)) = (&mut self.pending, self.conn) {
                    p.rto_ns = (2 * p.rto_ns).min(ms(RTO_MAX_MS));
                    let (seq, stmt, rto_ns) = (p.seq, p.stmt, p.rto_ns);
                    ctx.send(self.server, Msg::Pg(PgMsg::Query { conn, seq, stmt }));
                    ctx.set_timer(RETX_TIMER, rto_ns);
                }
                None
            }
            Timer::AcquireRetry => {
                if let PgState::Backoff { attempts } = self.state {
                    self.state = PgState::Acquiring { attempts: attempts + 1 };
                    self.send(ctx, self.lock_stmt());
                }
                None
            }
            _ => None,
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, m: PgMsg) -> Option<LockEvent> {
        match m {
            PgMsg::Probe { conn } => {
                // The kernel answers a probe of a connection it knows; a restarted host knows
                // none of its previous incarnation's connections and answers RST.
                let reply = if Some(conn) == self.conn { PgMsg::ProbeAck { conn } } else { PgMsg::Reset { conn } };
                ctx.send(self.server, Msg::Pg(reply));
                None
            }
            PgMsg::Result { conn, seq, ok, pid } => {
                if Some(conn) != self.conn {
                    ctx.send(self.server, Msg::Pg(PgMsg::Reset { conn }));
                    return None;
                }
                ctx.send(self.server, Msg::Pg(PgMsg::Ack { conn, seq }));
                match self.pending {
                    Some(p) if p.seq == seq => {
                        self.pending = None;
                        ctx.cancel_timer(RETX_TIMER);
                        self.on_result(ctx, ok, pid)
                    }
                    _ => None,
                }
            }
            PgMsg::Reset { conn } if Some(conn) == self.conn => {
                // "server closed the connection unexpectedly": the statement in flight fails;
                // the next one opens a new connection (a new session).
                self.conn = None;
                ctx.cancel_timer(RETX_TIMER);
                let had_pending = self.pending.take().is_some();
                match self.state.clone() {
                    PgState::Acquiring { attempts } if had_pending => self.retry_or_fail(ctx, attempts),
                    PgState::Releasing if had_pending => {
                        self.state = PgState::Free;
                        ctx.record(Observation::ReleaseDone {
                            lock: self.lock,
                            session: self.session,
                            ok: Some(false),
                        });
                        Some(LockEvent::Released)
                    }
                    // Held: nothing tells the application until its next statement fails.
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn on_result(&mut self, ctx: &mut Ctx, ok: bool, pid: u32) -> Option<LockEvent> {
        match self.state.clone() {
            PgState::Acquiring { attempts } => {
                if ok {
                    self.state = PgState::Held { pid, lost: false };
                    ctx.record(Observation::AcquireOk {
                        lock: self.lock,
                        session: self.session,
                        token: None,
                        value: ctx.me as u64 + 1,
                        valid_until: Deadline::Never,
                    });
                    Some(LockEvent::Acquired)
                } else {
                    self.retry_or_fail(ctx, attempts)
                }
            }
            PgState::Releasing => {
                self.state = PgState::Free;
                ctx.record(Observation::ReleaseDone { lock: self.lock, session: self.session, ok: Some(ok) });
                Some(LockEvent::Released)
            }
            _ => None,
        }
    }

    fn retry_or_fail(&mut self, ctx: &mut Ctx, attempts: u32) -> Option<LockEvent> {
        if attempts > self.params.acquire_retries {
            self.state = PgState::Free;
            ctx.record(Observation::AcquireFail { lock: self.lock, session: self.session, definite: true });
            return Some(LockEvent::AcquireFailed);
        }
        let after_ns = self.params.retry.draw_ns(ctx);
        ctx.set_timer(Timer::AcquireRetry, after_ns);
        self.state = PgState::Backoff { attempts };
        None
    }
}

/// The worker's calls (the registry's `LockLibrary` dispatches here).
impl crate::library::LockClient for PgLock {
    fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        PgLock::acquire(self, ctx, session, lock)
    }
    fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        PgLock::release(self, ctx)
    }
    fn is_valid(&self, ctx: &Ctx) -> bool {
        PgLock::is_valid(self, ctx)
    }
    fn mark_lost(&mut self, ctx: &mut Ctx) {
        PgLock::mark_lost(self, ctx)
    }
    /// No fencing token: `pg_locks` shows the holder's pid, nothing that orders holders.
    fn token(&self) -> Option<u64> {
        None
    }
    fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        PgLock::on_timer(self, ctx, timer)
    }
    fn on_message(&mut self, ctx: &mut Ctx, _from: NodeId, msg: Msg) -> Option<LockEvent> {
        let Msg::Pg(m) = msg else { return None };
        PgLock::on_message(self, ctx, m)
    }
}
