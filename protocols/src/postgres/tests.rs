//! Sans-IO tests of the server's sessions, lock functions and TCP timers, and of the client
//! library. Each test is named after a mechanism and fails without it.

use super::*;
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input};

const C1: usize = 1;
const C2: usize = 2;

fn params() -> PgServerParams {
    PgServerParams {
        keepalives_idle_ms: 10_000,
        keepalives_interval_ms: 5_000,
        keepalives_count: 3,
        user_timeout_ms: 0,
        pooler_transaction_mode: false,
        rto_min_ms: 200,
    }
}

fn feed(s: &mut PgServer, now_ms: u64, input: Input) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(0, ms(now_ms), 0, &mut entropy, &mut effects);
    s.handle(&mut ctx, input);
    effects
}

fn conn(client: usize, n: u32) -> ConnId {
    ConnId { client, incarnation: 0, n }
}

fn query(s: &mut PgServer, now_ms: u64, c: ConnId, seq: u64, stmt: Stmt) -> Option<bool> {
    let effects = feed(s, now_ms, Input::Message { from: c.client, msg: Msg::Pg(PgMsg::Query { conn: c, seq, stmt }) });
    let r = effects.iter().find_map(|e| match e {
        Effect::Send { msg: Msg::Pg(PgMsg::Result { ok, seq: s2, .. }), .. } if *s2 == seq => Some(*ok),
        _ => None,
    });
    // The client's kernel acknowledges the result.
    feed(s, now_ms, Input::Message { from: c.client, msg: Msg::Pg(PgMsg::Ack { conn: c, seq }) });
    r
}

fn sent_kinds(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => Some(msg.kind()),
            _ => None,
        })
        .collect()
}

#[test]
fn session_locks_are_reentrant_with_a_count() {
    let mut s = PgServer::new(params());
    let a = conn(C1, 1);
    assert_eq!(query(&mut s, 0, a, 1, Stmt::TryLock(0)), Some(true));
    assert_eq!(query(&mut s, 1, a, 2, Stmt::TryLock(0)), Some(true));
    assert_eq!(s.locks[&0].session_count, 2);
    assert_eq!(query(&mut s, 2, a, 3, Stmt::Unlock(0)), Some(true));
    // Still held after one unlock: another session is refused.
    assert_eq!(query(&mut s, 3, conn(C2, 1), 1, Stmt::TryLock(0)), Some(false));
    assert_eq!(query(&mut s, 4, a, 4, Stmt::Unlock(0)), Some(true));
    assert_eq!(query(&mut s, 5, conn(C2, 1), 2, Stmt::TryLock(0)), Some(true));
}

#[test]
fn a_new_session_of_the_same_client_cannot_unlock_the_old_sessions_lock() {
    let mut s = PgServer::new(params());
    assert_eq!(query(&mut s, 0, conn(C1, 1), 1, Stmt::TryLock(0)), Some(true));
    let again = conn(C1, 2);
    assert_eq!(query(&mut s, 1, again, 1, Stmt::TryLock(0)), Some(false));
    assert_eq!(query(&mut s, 2, again, 2, Stmt::Unlock(0)), Some(false));
    assert!(s.locks.contains_key(&0));
}

#[test]
fn xact_locks_end_with_the_transaction() {
    let mut s = PgServer::new(params());
    let a = conn(C1, 1);
    assert_eq!(query(&mut s, 0, a, 1, Stmt::BeginTryXactLock(0)), Some(true));
    assert_eq!(query(&mut s, 1, conn(C2, 1), 1, Stmt::TryLock(0)), Some(false));
    // There is no explicit unlock of a transaction-level lock.
    assert_eq!(query(&mut s, 2, a, 2, Stmt::Unlock(0)), Some(false));
    assert_eq!(query(&mut s, 3, a, 3, Stmt::Commit), Some(true));
    assert!(s.locks.is_empty());
}

/// Idle 10 s + 3 probes × 5 s: the session ends 25 s after the client was last heard from.
#[test]
fn keepalive_ends_a_silent_session_after_idle_plus_count_intervals() {
    let mut s = PgServer::new(params());
    assert_eq!(query(&mut s, 0, conn(C1, 1), 1, Stmt::TryLock(0)), Some(true));
    let mut probes = 0;
    for t in (1000..=24_000).step_by(1000) {
        probes += sent_kinds(&feed(&mut s, t, Input::Timer(TCP_TIMER))).iter().filter(|k| **k == "pg_probe").count();
        assert!(s.locks.contains_key(&0), "held at {t} ms");
    }
    assert_eq!(probes, 3);
    let effects = feed(&mut s, 25_000, Input::Timer(TCP_TIMER));
    assert!(s.locks.is_empty(), "released when the probes fail");
    assert!(sent_kinds(&effects).contains(&"pg_reset"));
}

#[test]
fn an_answered_probe_keeps_the_session() {
    let mut s = PgServer::new(params());
    let a = conn(C1, 1);
    assert_eq!(query(&mut s, 0, a, 1, Stmt::TryLock(0)), Some(true));
    for t in (1000..=60_000).step_by(1000) {
        let effects = feed(&mut s, t, Input::Timer(TCP_TIMER));
        if sent_kinds(&effects).contains(&"pg_probe") {
            feed(&mut s, t, Input::Message { from: C1, msg: Msg::Pg(PgMsg::ProbeAck { conn: a }) });
        }
    }
    assert!(s.locks.contains_key(&0));
}

/// `tcp_user_timeout` does not act on an idle connection before the keepalive idle time.
#[test]
fn user_timeout_alone_does_not_shorten_an_idle_session() {
    let mut s = PgServer::new(PgServerParams { user_timeout_ms: 2_000, keepalives_idle_ms: 7_200_000, ..params() });
    assert_eq!(query(&mut s, 0, conn(C1, 1), 1, Stmt::TryLock(0)), Some(true));
    for t in (1000..=90_000).step_by(1000) {
        feed(&mut s, t, Input::Timer(TCP_TIMER));
    }
    assert!(s.locks.contains_key(&0));
    // With keepalive probing, the user timeout closes at the first probe past it.
    let mut s = PgServer::new(PgServerParams { user_timeout_ms: 12_000, ..params() });
    assert_eq!(query(&mut s, 0, conn(C1, 1), 1, Stmt::TryLock(0)), Some(true));
    for t in (1000..=15_000).step_by(1000) {
        feed(&mut s, t, Input::Timer(TCP_TIMER));
    }
    assert!(s.locks.is_empty(), "closed at 15 s (probes out, 12 s silent), before 25 s");
}

/// An unacknowledged result is retransmitted; with `tcp_user_timeout` the connection closes
/// when it stays unacknowledged that long.
#[test]
fn user_timeout_closes_a_connection_with_unacknowledged_data() {
    let mut s = PgServer::new(PgServerParams { user_timeout_ms: 3_000, ..params() });
    let a = conn(C1, 1);
    let effects = feed(
        &mut s,
        0,
        Input::Message { from: C1, msg: Msg::Pg(PgMsg::Query { conn: a, seq: 1, stmt: Stmt::TryLock(0) }) },
    );
    assert!(sent_kinds(&effects).contains(&"pg_result"));
    let mut retx = 0;
    for t in (100..=3_100).step_by(100) {
        retx += sent_kinds(&feed(&mut s, t, Input::Timer(TCP_TIMER))).iter().filter(|k| **k == "pg_result").count();
    }
    assert!(retx >= 3, "{retx} retransmissions");
    assert!(s.locks.is_empty());
}

#[test]
fn a_rebooted_client_answers_the_probe_with_rst_and_the_session_ends() {
    let mut s = PgServer::new(params());
    let old = conn(C1, 1);
    assert_eq!(query(&mut s, 0, old, 1, Stmt::TryLock(0)), Some(true));
    // The rebooted client's library knows no connection: a probe gets RST.
    let mut lib = PgLock::new(
        0,
        0,
        PgClientParams {
            xact_level: false,
            acquire_retries: 0,
            retry: crate::node::MsRange::fixed(1000),
            rto_min_ms: 200,
        },
    );
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(C1, 0, 0, &mut entropy, &mut effects);
    lib.on_message(&mut ctx, PgMsg::Probe { conn: old });
    let Some(Effect::Send { msg: Msg::Pg(reply @ PgMsg::Reset { .. }), .. }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    feed(&mut s, 10_000, Input::Message { from: C1, msg: Msg::Pg(reply) });
    assert!(s.locks.is_empty());
}

#[test]
fn through_the_transaction_pooler_every_client_holds_the_session_lock() {
    let mut s = PgServer::new(PgServerParams { pooler_transaction_mode: true, ..params() });
    assert_eq!(query(&mut s, 0, conn(C1, 1), 1, Stmt::TryLock(0)), Some(true));
    // The next statement, another client's, reuses the same (idle, LIFO) backend: reentrant.
    assert_eq!(query(&mut s, 1, conn(C2, 1), 1, Stmt::TryLock(0)), Some(true));
    // Without the pooler, the second session is refused.
    let mut direct = PgServer::new(params());
    assert_eq!(query(&mut direct, 0, conn(C1, 1), 1, Stmt::TryLock(0)), Some(true));
    assert_eq!(query(&mut direct, 1, conn(C2, 1), 1, Stmt::TryLock(0)), Some(false));
}

#[test]
fn through_the_pooler_an_unlock_on_another_backend_returns_false() {
    let mut s = PgServer::new(PgServerParams { pooler_transaction_mode: true, ..params() });
    let a = conn(C1, 1);
    assert_eq!(query(&mut s, 0, a, 1, Stmt::TryLock(0)), Some(true));
    // c2 opens a transaction: it pins the only idle backend (the lock's).
    assert_eq!(query(&mut s, 1, conn(C2, 1), 1, Stmt::BeginTryXactLock(7)), Some(true));
    assert_eq!(query(&mut s, 2, a, 2, Stmt::Unlock(0)), Some(false));
    assert!(s.locks.contains_key(&0), "the lock stays with the pooled connection");
    // A client disconnecting releases nothing through the pooler.
    feed(&mut s, 3, Input::Message { from: C1, msg: Msg::Pg(PgMsg::Reset { conn: a }) });
    assert!(s.locks.contains_key(&0));
}

#[test]
fn through_the_pooler_xact_locks_pin_the_backend_and_exclude() {
    let mut s = PgServer::new(PgServerParams { pooler_transaction_mode: true, ..params() });
    assert_eq!(query(&mut s, 0, conn(C1, 1), 1, Stmt::BeginTryXactLock(0)), Some(true));
    assert_eq!(query(&mut s, 1, conn(C2, 1), 1, Stmt::BeginTryXactLock(0)), Some(false));
    assert_eq!(query(&mut s, 2, conn(C1, 1), 2, Stmt::Commit), Some(true));
    assert_eq!(query(&mut s, 3, conn(C2, 1), 2, Stmt::BeginTryXactLock(0)), Some(true));
}
