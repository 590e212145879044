//! Sans-IO tests: the state store, the leader (a one-server cluster commits at once), and the
//! client library. Each test is named after a mechanism and fails without it.

use super::state::{Applied, Op};
use super::*;
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input, Timer};

const CLIENT: usize = 9;

fn server_params(servers: Vec<usize>) -> ConsulServerParams {
    ConsulServerParams {
        servers,
        heartbeat_ms: 200,
        election_timeout_ms: 1000,
        serf_detect_ms: 5000,
        serf_probe_ms: 1000,
        token: TokenSource::LockIndex,
    }
}

fn feed_server(node: &mut ConsulServer, me: usize, now_ms: u64, input: Input) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(me, ms(now_ms), 0, &mut entropy, &mut effects);
    node.handle(&mut ctx, input);
    effects
}

fn from_client(m: ConsulMsg) -> Input {
    Input::Message { from: CLIENT, msg: Msg::Consul(m) }
}

fn sent(effects: &[Effect]) -> Vec<(usize, ConsulMsg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg: Msg::Consul(m) } => Some((*to, m.clone())),
            _ => None,
        })
        .collect()
}

fn timer_set(effects: &[Effect], timer: Timer) -> Option<u64> {
    effects.iter().rev().find_map(|e| match e {
        Effect::SetTimer { timer: t, after_ns } if *t == timer => Some(*after_ns),
        _ => None,
    })
}

/// A one-server cluster (node 0), leading from the start.
fn leader() -> ConsulServer {
    let mut s = ConsulServer::new(server_params(vec![0]));
    feed_server(&mut s, 0, 0, Input::Start { incarnation: 0, durable: None });
    assert!(s.is_leader());
    s
}

fn create_session(s: &mut ConsulServer, now_ms: u64, ttl_ms: u64, lock_delay_ms: u64, checks: bool) -> u64 {
    let m = ConsulMsg::SessionCreate { req: 1, ttl_ms, lock_delay_ms, behavior: Behavior::Release, checks };
    let out = sent(&feed_server(s, 0, now_ms, from_client(m)));
    match out.as_slice() {
        [(CLIENT, ConsulMsg::SessionCreated { session: Some(id), .. })] => *id,
        other => panic!("unexpected {other:?}"),
    }
}

fn acquire(s: &mut ConsulServer, now_ms: u64, session: u64) -> ConsulMsg {
    let out = sent(&feed_server(s, 0, now_ms, from_client(ConsulMsg::KvAcquire { req: 2, key: 0, session })));
    out.into_iter().map(|(_, m)| m).next().expect("an answer")
}

#[test]
fn lock_index_counts_new_holders_only() {
    let mut st = StateStore::default();
    let create = Op::SessionCreate { node: 1, ttl_ms: 0, lock_delay_ms: 0, behavior: Behavior::Release, checks: true };
    assert_eq!(st.apply(1, &create, 0), Applied::Session(Some(1)));
    assert_eq!(st.apply(2, &create, 0), Applied::Session(Some(2)));
    let lock = |session| Op::KvLock { key: 0, session };
    assert!(matches!(st.apply(3, &lock(1), 0), Applied::Lock { ok: true, granted: true, lock_index: 1, .. }));
    // The holder again: true, same LockIndex, not a new grant.
    assert!(matches!(st.apply(4, &lock(1), 0), Applied::Lock { ok: true, granted: false, lock_index: 1, .. }));
    // Someone else: false.
    assert!(matches!(st.apply(5, &lock(2), 0), Applied::Lock { ok: false, .. }));
    // Released by its holder only.
    assert_eq!(st.apply(6, &Op::KvUnlock { key: 0, session: 2 }, 0), Applied::Done(false));
    assert_eq!(st.apply(7, &Op::KvUnlock { key: 0, session: 1 }, 0), Applied::Done(true));
    assert!(matches!(st.apply(8, &lock(2), 0), Applied::Lock { ok: true, granted: true, lock_index: 2, .. }));
    // A session that does not exist: `invalid session`.
    assert!(matches!(st.apply(9, &lock(77), 0), Applied::Lock { ok: false, invalid: true, .. }));
}

#[test]
fn invalidation_releases_with_lock_delay_or_deletes_and_restarts_lock_index() {
    for behavior in [Behavior::Release, Behavior::Delete] {
        let mut st = StateStore::default();
        let create = Op::SessionCreate { node: 1, ttl_ms: 0, lock_delay_ms: 15_000, behavior, checks: true };
        st.apply(1, &create, 0);
        st.apply(2, &Op::KvLock { key: 0, session: 1 }, 0);
        assert!(st.invalidate(3, 1, ms(1_000)));
        assert!(st.lock_delayed(0, ms(15_999)) && !st.lock_delayed(0, ms(16_000)), "lock-delay from invalidation");
        match behavior {
            Behavior::Release => {
                let e = &st.kv[&0];
                assert_eq!((e.session, e.lock_index, e.modify_index), (None, 1, 3));
            }
            Behavior::Delete => assert!(!st.kv.contains_key(&0), "the key is deleted"),
        }
        st.apply(4, &Op::SessionCreate { node: 2, ttl_ms: 0, lock_delay_ms: 0, behavior, checks: true }, 0);
        let next = match st.apply(5, &Op::KvLock { key: 0, session: 4 }, ms(20_000)) {
            Applied::Lock { lock_index, .. } => lock_index,
            other => panic!("{other:?}"),
        };
        assert_eq!(next, if behavior == Behavior::Delete { 1 } else { 2 }, "LockIndex after {behavior:?}");
    }
}

#[test]
fn leader_refuses_acquire_under_lock_delay() {
    let mut s = leader();
    let a = create_session(&mut s, 10, 0, 15_000, true);
    assert!(matches!(acquire(&mut s, 20, a), ConsulMsg::KvAcquireReply { ok: true, lock_index: 1, .. }));
    // Destroyed while holding: the key is free, but under lock-delay for 15 s.
    feed_server(&mut s, 0, 1_000, from_client(ConsulMsg::SessionDestroy { req: 3, session: a }));
    assert_eq!(s.store.kv[&0].session, None);
    let b = create_session(&mut s, 1_100, 0, 15_000, true);
    assert!(matches!(acquire(&mut s, 15_999, b), ConsulMsg::KvAcquireReply { ok: false, invalid: false, .. }));
    assert!(matches!(acquire(&mut s, 16_001, b), ConsulMsg::KvAcquireReply { ok: true, lock_index: 2, .. }));
}

#[test]
fn leader_reaps_a_session_at_twice_its_ttl_after_the_last_renewal() {
    let mut s = leader();
    let a = create_session(&mut s, 0, 10_000, 0, false);
    assert_eq!(s.leader_state_ref().session_deadline_ns[&a], ms(20_000), "armed at ttl × 2");
    let out = feed_server(&mut s, 0, 7_000, from_client(ConsulMsg::SessionRenew { req: 5, session: a }));
    assert_eq!(sent(&out), vec![(CLIENT, ConsulMsg::RenewReply { req: 5, found: true })]);
    assert_eq!(timer_set(&out, SESSION_TTL), Some(ms(20_000)), "renewal resets it to ttl × 2 from now");
    acquire(&mut s, 7_100, a);
    // The timer fires early (a stale wake-up): nothing happens before the deadline.
    feed_server(&mut s, 0, 26_999, Input::Timer(SESSION_TTL));
    assert!(s.store.sessions.contains_key(&a), "not before 2 × TTL: the TTL is a lower bound");
    feed_server(&mut s, 0, 27_000, Input::Timer(SESSION_TTL));
    assert!(!s.store.sessions.contains_key(&a), "invalidated at 2 × TTL");
    assert_eq!(s.store.kv[&0].session, None, "behavior release: the lock is free");
    let out = feed_server(&mut s, 0, 27_001, from_client(ConsulMsg::SessionRenew { req: 6, session: a }));
    assert_eq!(sent(&out), vec![(CLIENT, ConsulMsg::RenewReply { req: 6, found: false })]);
}

#[test]
fn a_new_leader_restarts_every_session_timer_at_twice_the_ttl() {
    // s0 leads and replicates a session to s1; s0 goes silent; s1 (next in line) takes over.
    let mut s1 = ConsulServer::new(server_params(vec![0, 1, 2]));
    feed_server(&mut s1, 1, 0, Input::Start { incarnation: 0, durable: None });
    let entries = vec![
        state::LogEntry { term: 1, op: Op::Noop },
        state::LogEntry {
            term: 1,
            op: Op::SessionCreate {
                node: CLIENT,
                ttl_ms: 10_000,
                lock_delay_ms: 0,
                behavior: Behavior::Release,
                checks: false,
            },
        },
    ];
    let append = ConsulMsg::Append { term: 1, from: 0, entries, commit: 2 };
    feed_server(&mut s1, 1, 100, Input::Message { from: 0, msg: Msg::Consul(append) });
    assert_eq!(s1.store.sessions.len(), 1);
    let out = feed_server(&mut s1, 1, 15_000, Input::Timer(Timer::ElectionTimeout));
    assert!(sent(&out).iter().any(|(to, m)| *to == 2 && *m == ConsulMsg::Claim { term: 2 }));
    let ack = ConsulMsg::ClaimAck { term: 2, log: vec![] };
    let out = feed_server(&mut s1, 1, 15_002, Input::Message { from: 2, msg: Msg::Consul(ack) });
    assert!(s1.is_leader());
    assert_eq!(timer_set(&out, SESSION_TTL), Some(ms(20_000)), "fresh timer: 2 × TTL from the takeover");
    assert_eq!(s1.leader_state_ref().session_deadline_ns[&2], ms(35_002));
}

#[test]
fn serf_declares_a_silent_node_failed_and_its_check_bound_sessions_go() {
    let mut s = leader();
    let bound = create_session(&mut s, 0, 0, 0, true);
    let ttl_only = create_session(&mut s, 1, 10_000, 0, false);
    acquire(&mut s, 2, bound);
    // Probes every second; the node answers the first only.
    let out = feed_server(&mut s, 0, 1_000, Input::Timer(SERF_PROBE));
    assert!(sent(&out).contains(&(CLIENT, ConsulMsg::Probe { seq: 1 })));
    feed_server(&mut s, 0, 1_001, from_client(ConsulMsg::ProbeAck { seq: 1 }));
    for t in [2_000, 3_000, 4_000, 5_000, 6_000] {
        feed_server(&mut s, 0, t, Input::Timer(SERF_PROBE));
        assert!(s.store.sessions.contains_key(&bound), "still alive at {t} ms");
    }
    feed_server(&mut s, 0, 7_000, Input::Timer(SERF_PROBE));
    assert!(s.store.critical.contains(&CLIENT), "silent > serf_detect_ms: critical");
    assert!(!s.store.sessions.contains_key(&bound), "the serfHealth-bound session is invalidated");
    assert!(s.store.sessions.contains_key(&ttl_only), "a session without checks is not");
    assert_eq!(s.store.kv[&0].session, None);
    // A session tied to a critical check cannot be created; once the node answers, it can.
    let m = ConsulMsg::SessionCreate { req: 7, ttl_ms: 0, lock_delay_ms: 0, behavior: Behavior::Release, checks: true };
    let out = sent(&feed_server(&mut s, 0, 7_100, from_client(m.clone())));
    assert_eq!(out, vec![(CLIENT, ConsulMsg::SessionCreated { req: 7, session: None })]);
    feed_server(&mut s, 0, 8_001, from_client(ConsulMsg::ProbeAck { seq: 8 }));
    assert!(!s.store.critical.contains(&CLIENT));
    let out = sent(&feed_server(&mut s, 0, 8_100, from_client(m)));
    assert!(matches!(out[0].1, ConsulMsg::SessionCreated { session: Some(_), .. }));
}

// ---------------------------------------------------------------- the client library

fn library() -> ConsulLock {
    let variant = params::resolve(&params::Keys::default()).expect("defaults are valid");
    variant.consul_library(&[0], 0, 0)
}

fn feed_lib(l: &mut ConsulLock, now_ms: u64, input: Input) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(CLIENT, ms(now_ms), 0, &mut entropy, &mut effects);
    match input {
        Input::Message { from, msg } => {
            l.on_message(&mut ctx, from, msg);
        }
        Input::Timer(t) => {
            l.on_timer(&mut ctx, t);
        }
        _ => l.acquire(&mut ctx, crate::history::SessionId::default(), 0),
    }
    effects
}

fn reply(m: ConsulMsg) -> Input {
    Input::Message { from: 0, msg: Msg::Consul(m) }
}

fn last_req(effects: &[Effect]) -> u64 {
    match sent(effects).last().expect("a call").1 {
        ConsulMsg::SessionCreate { req, .. }
        | ConsulMsg::KvGet { req, .. }
        | ConsulMsg::KvAcquire { req, .. }
        | ConsulMsg::SessionRenew { req, .. } => req,
        ref other => panic!("{other:?}"),
    }
}

/// Drive `Lock()` to HELD with session 5, LockIndex 1.
fn held_library() -> (ConsulLock, u64) {
    let mut l = library();
    let out = feed_lib(&mut l, 0, Input::Command(crate::node::Command::Run));
    let out = feed_lib(&mut l, 1, reply(ConsulMsg::SessionCreated { req: last_req(&out), session: Some(5) }));
    let out = feed_lib(
        &mut l,
        2,
        reply(ConsulMsg::KvGetReply { req: last_req(&out), session: None, lock_index: 0, index: 1 }),
    );
    let ok =
        ConsulMsg::KvAcquireReply { req: last_req(&out), ok: true, invalid: false, lock_index: 1, modify_index: 6 };
    let out = feed_lib(&mut l, 3, reply(ok));
    assert!(out.iter().any(|e| matches!(e, Effect::Record(Observation::AcquireOk { token: Some(1), .. }))));
    (l, last_req(&out))
}

#[test]
fn lock_waits_out_a_lock_delay_with_the_retry_sleep() {
    let mut l = library();
    let out = feed_lib(&mut l, 0, Input::Command(crate::node::Command::Run));
    let out = feed_lib(&mut l, 1, reply(ConsulMsg::SessionCreated { req: last_req(&out), session: Some(5) }));
    let out = feed_lib(
        &mut l,
        2,
        reply(ConsulMsg::KvGetReply { req: last_req(&out), session: None, lock_index: 1, index: 9 }),
    );
    let no =
        ConsulMsg::KvAcquireReply { req: last_req(&out), ok: false, invalid: false, lock_index: 1, modify_index: 9 };
    let out = feed_lib(&mut l, 3, reply(no));
    // Refused, and no holder visible: a lock-delay. Sleep DefaultLockRetryTime, then WAIT again.
    let out = feed_lib(
        &mut l,
        4,
        reply(ConsulMsg::KvGetReply { req: last_req(&out), session: None, lock_index: 1, index: 9 }),
    );
    assert_eq!(timer_set(&out, Timer::AcquireRetry), Some(ms(LOCK_RETRY_MS)));
    assert!(sent(&out).is_empty());
}

#[test]
fn the_monitor_ends_the_belief_a_failed_renewal_does_not() {
    let (mut l, monitor_req) = held_library();
    // Renewals fail (no answer) for longer than the TTL: RenewPeriodic gives up, silently.
    let mut now = 3;
    for _ in 0..20 {
        now += 1_000;
        let out = feed_lib(&mut l, now, Input::Timer(Timer::Heartbeat));
        if sent(&out).is_empty() {
            break;
        }
        now += 1_000;
        feed_lib(&mut l, now, Input::Timer(Timer::HeartbeatTimeout));
    }
    assert!(l.renewal.is_none(), "the renewal loop ended");
    assert!(matches!(l.state, ConsulLockState::Held { lost: false, .. }), "the holder was not told");
    // The monitor's blocking query answers: another session holds the key. Now the lock is lost.
    let other = ConsulMsg::KvGetReply { req: monitor_req, session: None, lock_index: 1, index: 12 };
    let out = feed_lib(&mut l, now + 1, reply(other));
    assert!(out.iter().any(|e| matches!(e, Effect::Record(Observation::LockLost { .. }))));
    assert!(matches!(l.state, ConsulLockState::Held { lost: true, .. }));
}

#[test]
fn a_monitor_query_timeout_ends_the_belief() {
    let (mut l, _) = held_library();
    let out = feed_lib(&mut l, 400_000, Input::Timer(MONITOR_TIMEOUT));
    assert!(out.iter().any(|e| matches!(e, Effect::Record(Observation::LockLost { .. }))));
}

#[test]
fn options_are_validated_as_consul_does() {
    let bad = |k: params::Keys| params::resolve(&k).unwrap_err().field.unwrap();
    assert_eq!(bad(params::Keys { ttl_ms: Some(5_000), ..Default::default() }), "ttl_ms");
    assert_eq!(bad(params::Keys { lock_delay_ms: Some(61_000), ..Default::default() }), "lock_delay_ms");
    let v = params::resolve(&params::Keys::default()).unwrap();
    assert_eq!((v.client.ttl_ms, v.client.lock_delay_ms, v.client.renew_ms), (15_000, 15_000, 7_500));
}
