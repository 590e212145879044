//! Unit tests of the DynamoDB lock client: the acquire loop's observation on the waiter's own
//! clock, the lookup time before the write, heartbeats, release, and every switch.

use super::*;
use crate::history::{Deadline, Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::{LeaseState, Msg, StoreCond, StoreItem, StoreMsg, StoreOutcome};
use crate::node::{ms, Counter, Ctx, Effect, Timer};
use crate::params::Table;

const STORE: usize = 0;
const ME: usize = 2;
const OTHER: u64 = 3;

/// A client's world at one instant: its monotonic and wall clock readings.
struct At {
    mono_ms: u64,
    wall_ms: i64,
}

fn at(mono_ms: u64) -> At {
    At { mono_ms, wall_ms: mono_ms as i64 }
}

fn run<R>(l: &mut DynamoDbLock, t: At, f: impl FnOnce(&mut DynamoDbLock, &mut Ctx) -> R) -> (R, Vec<Effect>) {
    let mut effects = Vec::new();
    let mut entropy = Counter(100 + t.mono_ms * 10);
    let mut ctx = Ctx::new(ME, ms(t.mono_ms), t.wall_ms * 1_000_000, &mut entropy, &mut effects);
    let r = f(l, &mut ctx);
    (r, effects)
}

fn sent(effects: &[Effect]) -> Vec<StoreMsg> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to: STORE, msg: Msg::Store(m) } => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

fn one_sent(effects: &[Effect]) -> StoreMsg {
    let s = sent(effects);
    assert_eq!(s.len(), 1, "{effects:?}");
    s[0].clone()
}

fn req_of(m: &StoreMsg) -> u64 {
    match m {
        StoreMsg::Get { req, .. }
        | StoreMsg::Put { req, .. }
        | StoreMsg::Update { req, .. }
        | StoreMsg::Delete { req, .. }
        | StoreMsg::Lease { req, .. } => *req,
        _ => panic!("not a request: {m}"),
    }
}

fn item(owner: u64, nonce: u64) -> StoreItem {
    StoreItem {
        owner,
        nonce,
        lease_ms: 20_000,
        expires_at_wall_ms: None,
        released: false,
        generation: 1,
        metageneration: 1,
    }
}

fn ok(item: StoreItem) -> StoreOutcome {
    StoreOutcome::Ok {
        item: Some(item),
        generation: item.generation,
        metageneration: item.metageneration,
        lease: LeaseState::Available,
    }
}

fn reply(l: &mut DynamoDbLock, t: At, m: StoreMsg) -> (Option<LockEvent>, Vec<Effect>) {
    run(l, t, |l, ctx| l.on_message(ctx, STORE, Msg::Store(Box::new(m))))
}

fn timer(l: &mut DynamoDbLock, t: At, timer: Timer) -> (Option<LockEvent>, Vec<Effect>) {
    run(l, t, |l, ctx| l.on_timer(ctx, timer))
}

fn records(effects: &[Effect]) -> Vec<Observation> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn session() -> SessionId {
    SessionId { client: ME as u32, incarnation: 0, n: 1 }
}

/// Start acquiring at `t`; returns the `GetItem`.
fn start(l: &mut DynamoDbLock, t: At) -> StoreMsg {
    let ((), e) = run(l, t, |l, ctx| l.acquire(ctx, session(), 0));
    let m = one_sent(&e);
    assert!(matches!(m, StoreMsg::Get { .. }), "{m}");
    m
}

/// Answer the outstanding `GetItem` with `found`; returns what the client sent next, if anything.
fn answer_get(
    l: &mut DynamoDbLock,
    t: At,
    get: &StoreMsg,
    found: Option<StoreItem>,
) -> (Option<LockEvent>, Vec<StoreMsg>) {
    let outcome = found.map_or(StoreOutcome::NotFound, ok);
    let (ev, e) = reply(l, t, StoreMsg::GetReply { req: req_of(get), key: 0, outcome });
    (ev, sent(&e))
}

/// Poll again after the refresh sleep: returns the `GetItem`.
fn poll(l: &mut DynamoDbLock, t: At) -> StoreMsg {
    let (_, e) = timer(l, t, Timer::AcquireRetry);
    one_sent(&e)
}

/// A client that holds the lock, acquired at `mono_ms` 0 with generation 7.
fn holder(params: DynamoDbParams) -> (DynamoDbLock, u64) {
    let mut l = DynamoDbLock::new(STORE, 0, params);
    let get = start(&mut l, at(0));
    let (_, puts) = answer_get(&mut l, at(0), &get, None);
    let StoreMsg::Put { req, fields, .. } = puts[0] else { panic!() };
    let granted = StoreItem { generation: 7, ..item(ME as u64, fields.nonce) };
    let (ev, _) = reply(&mut l, at(5), StoreMsg::PutReply { req, key: 0, outcome: ok(granted) });
    assert_eq!(ev, Some(LockEvent::Acquired));
    (l, fields.nonce)
}

#[test]
fn defaults_are_the_clients_and_the_session_monitor_bounds_are_enforced() {
    let v = resolve(&Keys::default()).unwrap();
    let p = &v.client;
    assert_eq!(
        (p.lease_ms, p.heartbeat_ms, p.refresh_period_ms, p.additional_time_to_wait_ms),
        (20_000, 5_000, 1_000, 1_000)
    );
    assert!(!p.hold_lock_on_service_unavailable && !p.fencing_sequence && !p.absolute_expiry);
    assert_eq!(p.session_monitor_safe_ms, None);
    for bad in [5_000, 20_000, 3_000] {
        let e = resolve(&Keys { session_monitor_safe_ms: Some(bad), ..Keys::default() }).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("session_monitor_safe_ms"));
    }
    assert!(resolve(&Keys { session_monitor_safe_ms: Some(10_000), ..Keys::default() }).is_ok());
    let mut table = Table::new();
    table.insert("lease_ms".into(), toml::Value::Integer(20_000));
    assert!(compile(&table, 2).is_err(), "one store node");
    table.insert("leaseDuration".into(), toml::Value::Integer(1));
    assert_eq!(compile(&table, 1).unwrap_err().field.as_deref(), Some("leaseDuration"));
}

#[test]
fn an_absent_lock_is_put_if_absent_and_a_released_one_if_released() {
    let mut l = DynamoDbLock::new(STORE, 0, DynamoDbParams::default());
    let get = start(&mut l, at(0));
    let (_, puts) = answer_get(&mut l, at(1), &get, None);
    assert!(matches!(puts[..], [StoreMsg::Put { cond: StoreCond::IfAbsent, .. }]), "{puts:?}");
    let mut l = DynamoDbLock::new(STORE, 0, DynamoDbParams::default());
    let get = start(&mut l, at(0));
    let released = StoreItem { released: true, ..item(OTHER, 42) };
    let (_, puts) = answer_get(&mut l, at(1), &get, Some(released));
    assert!(matches!(puts[..], [StoreMsg::Put { cond: StoreCond::IfReleased, .. }]), "{puts:?}");
}

#[test]
fn every_write_carries_a_fresh_random_rvn() {
    let (mut l, acquired_nonce) = holder(DynamoDbParams::default());
    let (_, e) = timer(&mut l, at(5_000), Timer::Heartbeat);
    let StoreMsg::Update { fields, cond, .. } = one_sent(&e) else { panic!() };
    assert_ne!(fields.nonce, acquired_nonce);
    assert_eq!(cond, StoreCond::IfNonce { owner: ME as u64, nonce: acquired_nonce });
    assert_eq!(fields.expires_at_wall_ms, None, "no absolute time in the item");
}

#[test]
fn a_waiter_takes_over_only_after_the_rvn_is_unchanged_for_a_lease_on_its_own_clock() {
    let mut l = DynamoDbLock::new(STORE, 0, DynamoDbParams::default());
    let get = start(&mut l, at(0));
    // The waiter's wall clock is far off: it plays no part.
    let skewed = |mono_ms| At { mono_ms, wall_ms: mono_ms as i64 + 3_600_000 };
    let (_, s) = answer_get(&mut l, skewed(100), &get, Some(item(OTHER, 42)));
    assert!(s.is_empty(), "first sighting: wait");
    let get = poll(&mut l, skewed(1_100));
    let (_, s) = answer_get(&mut l, skewed(20_100), &get, Some(item(OTHER, 42)));
    assert!(s.is_empty(), "exactly one lease since the first sighting: not yet expired");
    let get = poll(&mut l, skewed(20_101));
    let (_, s) = answer_get(&mut l, skewed(20_101), &get, Some(item(OTHER, 42)));
    assert!(
        matches!(s[..], [StoreMsg::Put { cond: StoreCond::IfNonce { owner: OTHER, nonce: 42 }, .. }]),
        "unchanged for more than a lease: take it if the RVN is still 42: {s:?}"
    );
}

#[test]
fn a_changed_rvn_restarts_the_observation_and_patience_runs_out() {
    let mut l = DynamoDbLock::new(STORE, 0, DynamoDbParams::default());
    let get = start(&mut l, at(0));
    answer_get(&mut l, at(0), &get, Some(item(OTHER, 42)));
    let get = poll(&mut l, at(15_000));
    let (_, s) = answer_get(&mut l, at(15_000), &get, Some(item(OTHER, 43)));
    assert!(s.is_empty(), "a heartbeat: the holder lives");
    let get = poll(&mut l, at(20_500));
    let (ev, s) = answer_get(&mut l, at(20_500), &get, Some(item(OTHER, 43)));
    assert!(s.is_empty() && ev.is_none(), "43 seen only 5.5 s ago");
    // Patience: additionalTimeToWait (1 s) + one lease from the call's start.
    let get = poll(&mut l, at(21_001));
    let (ev, e) =
        reply(&mut l, at(21_001), StoreMsg::GetReply { req: req_of(&get), key: 0, outcome: ok(item(OTHER, 43)) });
    assert_eq!(ev, Some(LockEvent::AcquireFailed));
    assert!(records(&e).contains(&Observation::AcquireFail { lock: 0, session: session(), definite: true }));
}

#[test]
fn a_failed_condition_is_lock_not_granted() {
    let mut l = DynamoDbLock::new(STORE, 0, DynamoDbParams::default());
    let get = start(&mut l, at(0));
    let (_, puts) = answer_get(&mut l, at(0), &get, None);
    let (ev, _) = reply(
        &mut l,
        at(1),
        StoreMsg::PutReply { req: req_of(&puts[0]), key: 0, outcome: StoreOutcome::PreconditionFailed },
    );
    assert_eq!(ev, Some(LockEvent::AcquireFailed));
}

#[test]
fn the_holders_lookup_time_is_taken_before_its_write() {
    let mut l = DynamoDbLock::new(STORE, 0, DynamoDbParams::default());
    let get = start(&mut l, at(0));
    let (_, puts) = answer_get(&mut l, at(1_000), &get, None);
    // The PutItem's reply takes 3 s: the lease still counts from the send.
    let (_, e) =
        reply(&mut l, at(4_000), StoreMsg::PutReply { req: req_of(&puts[0]), key: 0, outcome: ok(item(ME as u64, 1)) });
    let ok_rec = records(&e).into_iter().find(|o| matches!(o, Observation::AcquireOk { .. })).unwrap();
    let Observation::AcquireOk { valid_until, token, .. } = ok_rec else { unreachable!() };
    assert_eq!(valid_until, Deadline::Mono(ms(21_000)));
    assert_eq!(token, None, "no fencing by default: the RVN is a random UUID");
    let (valid, _) = run(&mut l, at(20_999), |l, ctx| l.is_valid(ctx));
    let (expired, _) = run(&mut l, at(21_000), |l, ctx| l.is_valid(ctx));
    assert!(valid && !expired);
}

#[test]
fn a_heartbeat_renews_from_its_send_time_and_a_refused_one_loses_the_lock() {
    let (mut l, _) = holder(DynamoDbParams::default());
    let (_, e) = timer(&mut l, at(5_000), Timer::Heartbeat);
    let hb = one_sent(&e);
    let (_, e) =
        reply(&mut l, at(6_000), StoreMsg::UpdateReply { req: req_of(&hb), key: 0, outcome: ok(item(ME as u64, 9)) });
    assert!(records(&e)
        .iter()
        .any(|o| matches!(o, Observation::ExtendOk { valid_until: Deadline::Mono(v), .. } if *v == ms(25_000))));
    // The next heartbeat: heartbeatPeriod minus the time this one took.
    assert!(e
        .iter()
        .any(|e| matches!(e, Effect::SetTimer { timer: Timer::Heartbeat, after_ns } if *after_ns == ms(4_000))));
    let (valid, _) = run(&mut l, at(24_999), |l, ctx| l.is_valid(ctx));
    assert!(valid);
    let (_, e) = timer(&mut l, at(10_000), Timer::Heartbeat);
    let hb = one_sent(&e);
    let (_, e) = reply(
        &mut l,
        at(10_001),
        StoreMsg::UpdateReply { req: req_of(&hb), key: 0, outcome: StoreOutcome::PreconditionFailed },
    );
    assert!(records(&e).iter().any(|o| matches!(o, Observation::LockLost { .. })));
    let (valid, _) = run(&mut l, at(10_002), |l, ctx| l.is_valid(ctx));
    assert!(!valid);
    assert!(e.iter().any(|e| matches!(e, Effect::CancelTimer { timer: Timer::Heartbeat })), "no more heartbeats");
}

#[test]
fn a_failed_heartbeat_lets_the_lease_run_out_unless_holding_on_service_unavailable() {
    for hold in [false, true] {
        let params = DynamoDbParams {
            hold_lock_on_service_unavailable: hold,
            request_timeout_ms: 2_000,
            ..DynamoDbParams::default()
        };
        let (mut l, _) = holder(params);
        timer(&mut l, at(5_000), Timer::Heartbeat);
        let (_, e) = timer(&mut l, at(7_000), Timer::HeartbeatTimeout);
        let (valid, _) = run(&mut l, at(20_001), |l, ctx| l.is_valid(ctx));
        assert_eq!(valid, hold, "hold = {hold}");
        if hold {
            // The library tells its user the lock was extended, from the failure's instant.
            assert!(records(&e).iter().any(
                |o| matches!(o, Observation::ExtendOk { valid_until: Deadline::Mono(v), .. } if *v == ms(27_000))
            ));
        } else {
            assert!(records(&e).iter().any(|o| matches!(o, Observation::ExtendFail { definite: false, .. })));
        }
    }
}

#[test]
fn the_session_monitor_ends_validity_at_the_danger_zone() {
    let params = DynamoDbParams { session_monitor_safe_ms: Some(10_000), ..DynamoDbParams::default() };
    let (l, _) = holder(params);
    let mut l2 = l.clone();
    let (valid, _) = run(&mut l2, at(9_999), |l, ctx| l.is_valid(ctx));
    let (in_danger, _) = run(&mut l2, at(10_000), |l, ctx| l.is_valid(ctx));
    assert!(valid && !in_danger);
    let (plain, _) = holder(DynamoDbParams::default());
    let mut plain = plain;
    let (still, _) = run(&mut plain, at(10_000), |l, ctx| l.is_valid(ctx));
    assert!(still, "without the monitor the lease itself");
}

#[test]
fn the_fencing_sequence_is_the_items_generation() {
    let (l, _) = holder(DynamoDbParams::default());
    assert_eq!(l.token(), None);
    let (l, _) = holder(DynamoDbParams { fencing_sequence: true, ..DynamoDbParams::default() });
    assert_eq!(l.token(), Some(7));
}

#[test]
fn a_lock_expired_by_a_pause_is_dropped_not_heartbeated() {
    let (mut l, _) = holder(DynamoDbParams::default());
    // The heartbeat due at 5 s runs only after a 25 s pause.
    let (_, e) = timer(&mut l, at(25_000), Timer::Heartbeat);
    assert!(sent(&e).is_empty(), "Cannot send heartbeat because lock is not granted");
    assert!(records(&e).iter().any(|o| matches!(o, Observation::LockLost { .. })));
}

#[test]
fn release_deletes_if_still_ours_after_waiting_for_the_heartbeat_in_flight() {
    let (mut l, _) = holder(DynamoDbParams::default());
    let (_, e) = timer(&mut l, at(5_000), Timer::Heartbeat);
    let StoreMsg::Update { req, fields, .. } = one_sent(&e) else { panic!() };
    let (ev, e) = run(&mut l, at(5_001), |l, ctx| l.release(ctx));
    assert!(ev.is_none() && sent(&e).is_empty(), "waits for the heartbeat (synchronized on the lock item)");
    let (_, e) =
        reply(&mut l, at(5_002), StoreMsg::UpdateReply { req, key: 0, outcome: ok(item(ME as u64, fields.nonce)) });
    let del = one_sent(&e);
    assert!(
        matches!(del, StoreMsg::Delete { cond: StoreCond::IfNonce { owner, nonce }, .. } if owner == ME as u64 && nonce == fields.nonce),
        "deletes under the RVN the heartbeat wrote: {del}"
    );
    let (ev, e) = reply(
        &mut l,
        at(5_003),
        StoreMsg::DeleteReply { req: req_of(&del), key: 0, outcome: StoreOutcome::PreconditionFailed },
    );
    assert_eq!(ev, Some(LockEvent::Released));
    assert!(records(&e).contains(&Observation::ReleaseDone { lock: 0, session: session(), ok: Some(false) }));
}

#[test]
fn absolute_expiry_judges_the_writers_timestamp_by_the_readers_wall_clock() {
    let params = DynamoDbParams { absolute_expiry: true, ..DynamoDbParams::default() };
    let (mut h, _) = holder(params.clone());
    let (_, e) = timer(&mut h, At { mono_ms: 5_000, wall_ms: 1_005_000 }, Timer::Heartbeat);
    let StoreMsg::Update { fields, .. } = one_sent(&e) else { panic!() };
    assert_eq!(fields.expires_at_wall_ms, Some(1_025_000));
    // A waiter whose wall clock is 3 s ahead takes the lock 3 s before it expires by the writer's.
    let mut w = DynamoDbLock::new(STORE, 0, params);
    let get = start(&mut w, at(0));
    let stamped = StoreItem { expires_at_wall_ms: Some(1_025_000), ..item(OTHER, 42) };
    let (_, s) = answer_get(&mut w, At { mono_ms: 1, wall_ms: 1_025_001 }, &get, Some(stamped));
    assert!(matches!(s[..], [StoreMsg::Put { cond: StoreCond::IfNonce { nonce: 42, .. }, .. }]), "{s:?}");
}
