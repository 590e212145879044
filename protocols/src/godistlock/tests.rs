//! Sans-IO tests of the server and the client library: construct them, feed inputs with a
//! [`Ctx`] at a chosen monotonic time, assert the effects.

use super::*;
use crate::history::{Observation, SessionId};
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input, MsRange, Timer};

const CLIENT: usize = 9;

/// Server `me` of `n` (nodes 0..n).
fn server(me: usize, n: usize, fixed: bool) -> GoDistLockServer {
    let table: crate::params::Table = format!("godistlock_fixed = {fixed}").parse().unwrap();
    let build = compile(&table, n as u32).expect("valid");
    let v = build.as_any().downcast_ref::<GoDistLockVariant>().expect("a godistlock variant");
    let ids: Vec<usize> = (0..n).collect();
    v.server_node(&ids, me)
}

fn feed(node: &mut GoDistLockServer, me: usize, at_ms: u64, input: Input) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(me, ms(at_ms), 0, &mut entropy, &mut effects);
    node.handle(&mut ctx, input);
    effects
}

fn msg(from: usize, m: GoDistLockMsg) -> Input {
    Input::Message { from, msg: Msg::GoDistLock(m) }
}

fn sent(effects: &[Effect]) -> Vec<(usize, GoDistLockMsg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg: Msg::GoDistLock(m) } => Some((*to, m.clone())),
            _ => None,
        })
        .collect()
}

fn on(req: u64) -> Input {
    msg(CLIENT, GoDistLockMsg::On { req, lock: 0, timeout_ms: 5000 })
}

/// The nonce of the phase message `m`.
fn nonce(m: &GoDistLockMsg) -> u64 {
    match m {
        GoDistLockMsg::Prop { nonce, .. } | GoDistLockMsg::Sched { nonce, .. } | GoDistLockMsg::Comm { nonce, .. } => {
            *nonce
        }
        other => panic!("not a phase: {other:?}"),
    }
}

/// Drive server 0 of 3 through a whole acquire in which both peers agree; return the `GIVE`.
fn acquire_on_s0(s0: &mut GoDistLockServer, at_ms: u64, counters: [u64; 2]) -> Vec<Effect> {
    let props = sent(&feed(s0, 0, at_ms, on(1)));
    assert_eq!(props.len(), 2, "PROP to both peers");
    let n = nonce(&props[0].1);
    feed(s0, 0, at_ms, msg(1, GoDistLockMsg::Stat { nonce: n, status: STATUS_OK, counter: counters[0] }));
    let scheds =
        sent(&feed(s0, 0, at_ms, msg(2, GoDistLockMsg::Stat { nonce: n, status: STATUS_OK, counter: counters[1] })));
    assert!(matches!(scheds[0].1, GoDistLockMsg::Sched { .. }), "{scheds:?}");
    let n = nonce(&scheds[0].1);
    feed(s0, 0, at_ms, msg(1, GoDistLockMsg::Ack { nonce: n, status: STATUS_OK }));
    let comms = sent(&feed(s0, 0, at_ms, msg(2, GoDistLockMsg::Ack { nonce: n, status: STATUS_OK })));
    assert!(matches!(comms[0].1, GoDistLockMsg::Comm { timeout_ms: 5000, .. }), "{comms:?}");
    let n = nonce(&comms[0].1);
    feed(s0, 0, at_ms, msg(1, GoDistLockMsg::Conf { nonce: n, status: STATUS_OK }));
    feed(s0, 0, at_ms, msg(2, GoDistLockMsg::Conf { nonce: n, status: STATUS_OK }))
}

#[test]
fn quorum_need_counts_only_the_other_servers() {
    assert_eq!(quorum_need(3), 2, "3 servers: both others");
    assert_eq!(quorum_need(4), 3, "4 servers: all three others");
    assert_eq!(quorum_need(5), 3);
    assert_eq!(quorum_need(2), 2, "2 servers: 2 others needed, only 1 exists");
    let s = server(0, 3, false);
    assert!(!s.has_quorum(1, true) && s.has_quorum(2, false), "the coordinator's vote does not count");
    let fixed = server(0, 3, true);
    assert!(fixed.has_quorum(1, true), "fixed: a majority counting the coordinator");
    assert!(!fixed.has_quorum(1, false), "fixed: … if it still holds its local lock");
}

#[test]
fn three_phases_then_give_with_the_coordinators_clock_as_fence() {
    let mut s0 = server(0, 3, false);
    s0.params.uptime_ms = 7_000;
    let effects = acquire_on_s0(&mut s0, 100, [0, 0]);
    // The fence: uptime + the monotonic reading when the local provisional lock was given.
    let fence = ms(7_000) + ms(100);
    assert_eq!(sent(&effects), vec![(CLIENT, GoDistLockMsg::Give { req: 1, fence })]);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Record(Observation::Grant { token: Some(f), .. }) if *f == fence)));
    // The local lock is valid for the client's timeout from the last phase.
    assert_eq!(s0.locks[&0].expires_mono_ns, ms(100) + ms(5000));
}

#[test]
fn one_refusing_peer_of_three_fails_the_acquire_and_only_the_local_lock_is_released() {
    let mut s0 = server(0, 3, false);
    let props = sent(&feed(&mut s0, 0, 0, on(1)));
    let n = nonce(&props[0].1);
    feed(&mut s0, 0, 10, msg(1, GoDistLockMsg::Stat { nonce: n, status: STATUS_OK, counter: 0 }));
    assert!(s0.locks.contains_key(&0), "the local provisional lock is held meanwhile");
    // s2 refuses: 1 ok < quorumNeed 2.
    let effects =
        feed(&mut s0, 0, 20, msg(2, GoDistLockMsg::Stat { nonce: n, status: STATUS_HELD_BY_RELAY, counter: 0 }));
    assert_eq!(sent(&effects), vec![(CLIENT, GoDistLockMsg::Err { req: 1 })], "no abort to the peers");
    assert!(!s0.locks.contains_key(&0), "local lock released");
}

#[test]
fn a_silent_peer_in_prop_outlasts_the_local_lock_and_hangs_the_client() {
    // WAIT_TIMEOUT = TEMP_TIMEOUT = 1 s: when PROP gives up on a silent peer, the local
    // provisional lock has just expired, and `Release` of a lock nobody holds never returns.
    let mut s0 = server(0, 3, false);
    let props = sent(&feed(&mut s0, 0, 0, on(1)));
    let n = nonce(&props[0].1);
    feed(&mut s0, 0, 10, msg(1, GoDistLockMsg::Stat { nonce: n, status: STATUS_OK, counter: 0 }));
    let effects = feed(&mut s0, 0, 1000, Input::Timer(RELAY_WAIT));
    assert!(sent(&effects).is_empty(), "DoLock never returns: no answer at all");
    assert!(s0.hung_clients.contains(&CLIENT));
    // Fixed: answered, and the peers told.
    let mut f0 = server(0, 3, true);
    let props = sent(&feed(&mut f0, 0, 0, on(1)));
    let n = nonce(&props[0].1);
    feed(&mut f0, 0, 10, msg(1, GoDistLockMsg::Stat { nonce: n, status: STATUS_HELD_BY_RELAY, counter: 0 }));
    let out = sent(&feed(&mut f0, 0, 1000, Input::Timer(RELAY_WAIT)));
    assert!(out.contains(&(CLIENT, GoDistLockMsg::Err { req: 1 })), "{out:?}");
}

#[test]
fn fixed_variant_aborts_to_the_peers() {
    let mut s0 = server(0, 3, true);
    let props = sent(&feed(&mut s0, 0, 0, on(1)));
    let n = nonce(&props[0].1);
    // Both peers refuse: no majority even counting the coordinator.
    feed(&mut s0, 0, 10, msg(1, GoDistLockMsg::Stat { nonce: n, status: STATUS_HELD_BY_RELAY, counter: 0 }));
    let out =
        sent(&feed(&mut s0, 0, 10, msg(2, GoDistLockMsg::Stat { nonce: n, status: STATUS_HELD_BY_RELAY, counter: 0 })));
    assert!(out.contains(&(1, GoDistLockMsg::RelayOff { lock: 0, client: CLIENT })));
    assert!(out.contains(&(2, GoDistLockMsg::RelayOff { lock: 0, client: CLIENT })));
    assert!(out.contains(&(CLIENT, GoDistLockMsg::Err { req: 1 })));
}

#[test]
fn peer_provisional_lock_belongs_to_the_coordinator_and_lasts_one_second() {
    let mut s2 = server(2, 3, false);
    let out = sent(&feed(&mut s2, 2, 0, msg(0, GoDistLockMsg::Prop { nonce: 1, lock: 0, client: 8 })));
    assert_eq!(out, vec![(0, GoDistLockMsg::Stat { nonce: 1, status: STATUS_OK, counter: 0 })]);
    assert_eq!(s2.locks[&0].owner, Owner::Relay(0));
    // Another coordinator is refused: held by another relay.
    let out = sent(&feed(&mut s2, 2, 999, msg(1, GoDistLockMsg::Prop { nonce: 1, lock: 0, client: 9 })));
    assert_eq!(out, vec![(1, GoDistLockMsg::Stat { nonce: 1, status: STATUS_HELD_BY_RELAY, counter: 0 })]);
    // The same coordinator acquiring for *another* client "re-establishes" its lock.
    let out = sent(&feed(&mut s2, 2, 999, msg(0, GoDistLockMsg::Prop { nonce: 2, lock: 0, client: 9 })));
    assert_eq!(out, vec![(0, GoDistLockMsg::Stat { nonce: 2, status: STATUS_OK, counter: 0 })]);
    // One second after that renewal it has expired: the other coordinator gets it.
    let out = sent(&feed(&mut s2, 2, 1999, msg(1, GoDistLockMsg::Prop { nonce: 3, lock: 0, client: 9 })));
    assert_eq!(out, vec![(1, GoDistLockMsg::Stat { nonce: 3, status: STATUS_OK, counter: 0 })]);
}

#[test]
fn comm_waits_in_get_lock_and_blocks_the_relay_connection() {
    let mut s2 = server(2, 3, false);
    feed(&mut s2, 2, 0, msg(1, GoDistLockMsg::Comm { nonce: 1, lock: 0, timeout_ms: 3000, client: 8, fence: 0 }));
    // s0's COMM finds s1's firm lock: no answer yet, a wake-up set for its expiry.
    let effects =
        feed(&mut s2, 2, 100, msg(0, GoDistLockMsg::Comm { nonce: 5, lock: 0, timeout_ms: 3000, client: 9, fence: 0 }));
    assert!(sent(&effects).is_empty());
    assert!(effects.contains(&Effect::SetTimer { timer: RELAY_WAIT, after_ns: ms(2900) }));
    // s0's next request waits behind it on the same connection.
    assert!(sent(&feed(&mut s2, 2, 200, msg(0, GoDistLockMsg::Prop { nonce: 6, lock: 1, client: 9 }))).is_empty());
    // At the expiry the COMM is served (CONF 0, late), then the PROP.
    let out = sent(&feed(&mut s2, 2, 3000, Input::Timer(RELAY_WAIT)));
    assert_eq!(
        out,
        vec![
            (0, GoDistLockMsg::Conf { nonce: 5, status: STATUS_OK }),
            (0, GoDistLockMsg::Stat { nonce: 6, status: STATUS_OK, counter: 0 })
        ]
    );
    assert_eq!(s2.locks[&0].owner, Owner::Relay(0));
}

#[test]
fn off_releases_only_locally() {
    let mut s0 = server(0, 3, false);
    acquire_on_s0(&mut s0, 0, [0, 0]);
    let effects = feed(&mut s0, 0, 50, msg(CLIENT, GoDistLockMsg::Off { lock: 0 }));
    assert!(sent(&effects).is_empty(), "the relays are not told");
    assert!(!s0.locks.contains_key(&0));
    // Fixed: OFF is relayed.
    let mut f0 = server(0, 3, true);
    acquire_on_s0(&mut f0, 0, [0, 0]);
    let out = sent(&feed(&mut f0, 0, 50, msg(CLIENT, GoDistLockMsg::Off { lock: 0 })));
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(_, m)| matches!(m, GoDistLockMsg::RelayOff { .. })));
}

#[test]
fn off_after_expiry_hangs_the_client_connection() {
    let mut s0 = server(0, 3, false);
    acquire_on_s0(&mut s0, 0, [0, 0]);
    // The lock expired (5 s timeout): Release never returns.
    feed(&mut s0, 0, 6000, msg(CLIENT, GoDistLockMsg::Off { lock: 0 }));
    assert!(s0.hung_clients.contains(&CLIENT));
    assert!(sent(&feed(&mut s0, 0, 6100, on(2))).is_empty(), "the connection is stuck: ON is never handled");
}

#[test]
fn fences_of_two_coordinators_are_not_comparable() {
    // s0 booted 3 days ago, s1 10 minutes ago: s1's fence for a later grant is smaller.
    let mut s0 = server(0, 3, false);
    s0.params.uptime_ms = 259_200_000;
    let mut s1 = server(1, 3, false);
    s1.params.uptime_ms = 600_000;
    let early = sent(&acquire_on_s0(&mut s0, 0, [0, 0]));
    let GoDistLockMsg::Give { fence: f0, .. } = early[0].1 else { panic!() };
    let later = sent(&feed(&mut s1, 1, 20_000, on(1)));
    assert!(matches!(later[0].1, GoDistLockMsg::Prop { .. }));
    let f1 = s1.locks[&0].fence;
    assert!(f1 < f0, "a later fence from a younger machine is below the earlier one: {f1} < {f0}");
}

#[test]
fn fixed_fence_is_the_quorums_counter() {
    let mut f0 = server(0, 3, true);
    let effects = acquire_on_s0(&mut f0, 0, [41, 7]);
    assert_eq!(sent(&effects), vec![(CLIENT, GoDistLockMsg::Give { req: 1, fence: 41 })]);
    assert_eq!(f0.counter, 41);
    // A peer keeps the maximum of the fences it saw committed and bumps it on every PROP it grants.
    let mut f2 = server(2, 3, true);
    feed(&mut f2, 2, 0, msg(0, GoDistLockMsg::Comm { nonce: 1, lock: 0, timeout_ms: 10, client: 8, fence: 41 }));
    let out = sent(&feed(&mut f2, 2, 20, msg(1, GoDistLockMsg::Prop { nonce: 1, lock: 0, client: 9 })));
    assert_eq!(out, vec![(1, GoDistLockMsg::Stat { nonce: 1, status: STATUS_OK, counter: 42 })]);
}

#[test]
fn nil_panic_kills_the_coordinator_on_a_failed_acquire() {
    let mut s0 = server(0, 3, false);
    s0.params.nil_panic = true;
    acquire_on_s0(&mut s0, 0, [0, 0]);
    // Another client's ON: the local TryGet fails, DoLock returns nil, HandleOn panics.
    let effects = feed(&mut s0, 0, 10, msg(8, GoDistLockMsg::On { req: 1, lock: 0, timeout_ms: 5000 }));
    assert!(sent(&effects).is_empty());
    assert!(s0.halted);
    assert!(feed(&mut s0, 0, 20, msg(1, GoDistLockMsg::Prop { nonce: 1, lock: 3, client: 9 })).is_empty());
    // Without the switch: ERR.
    let mut s0 = server(0, 3, false);
    acquire_on_s0(&mut s0, 0, [0, 0]);
    let out = sent(&feed(&mut s0, 0, 10, msg(8, GoDistLockMsg::On { req: 1, lock: 0, timeout_ms: 5000 })));
    assert_eq!(out, vec![(8, GoDistLockMsg::Err { req: 1 })]);
}

#[test]
fn client_measures_validity_locally_and_retries_the_next_server_after_a_timeout() {
    let params = GoDistLockClientParams {
        timeout_ms: 2000,
        acquire_timeout_ms: 5000,
        acquire_retries: 3,
        retry_backoff: MsRange::fixed(100),
    };
    let mut c = GoDistLockClient::new(vec![0, 1, 2], 4, 0, params);
    assert_eq!(c.current, 1, "client index 4 mod 3 servers");
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(CLIENT, ms(10), 0, &mut entropy, &mut effects);
    c.acquire(&mut ctx, SessionId::default(), 0);
    assert!(c.on_timer(&mut ctx, Timer::AcquireTimeout).is_none());
    assert_eq!(c.current, 2, "no answer: the next server");
    c.on_timer(&mut ctx, Timer::AcquireRetry);
    let req = c.next_req;
    let mut ctx = Ctx::new(CLIENT, ms(30), 0, &mut entropy, &mut effects);
    c.on_message(&mut ctx, Msg::GoDistLock(GoDistLockMsg::Give { req, fence: 77 }));
    assert_eq!(c.token(), Some(77));
    let ctx = Ctx::new(CLIENT, ms(10) + ms(1999), 0, &mut entropy, &mut effects);
    assert!(c.is_valid(&ctx));
    let ctx = Ctx::new(CLIENT, ms(10) + ms(2000), 0, &mut entropy, &mut effects);
    assert!(!c.is_valid(&ctx), "valid for the timeout from when ON was sent");
}

#[test]
fn a_give_that_arrives_after_its_timeout_is_no_lock() {
    let params = GoDistLockClientParams {
        timeout_ms: 2000,
        acquire_timeout_ms: 5000,
        acquire_retries: 3,
        retry_backoff: MsRange::fixed(100),
    };
    let mut c = GoDistLockClient::new(vec![0, 1, 2], 0, 0, params);
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(CLIENT, 0, 0, &mut entropy, &mut effects);
    c.acquire(&mut ctx, SessionId::default(), 0);
    // Three phases that each waited out a silent peer: GIVE after 3 s, for a 2 s timeout.
    let mut ctx = Ctx::new(CLIENT, ms(3000), 0, &mut entropy, &mut effects);
    assert!(c.on_message(&mut ctx, Msg::GoDistLock(GoDistLockMsg::Give { req: 1, fence: 5 })).is_none());
    assert_eq!(c.state, GoDistLockState::Backoff { attempts: 1 });
    assert!(!effects.iter().any(|e| matches!(e, Effect::Record(Observation::AcquireOk { .. }))));
}

#[test]
fn fixed_peer_locks_belong_to_one_acquire() {
    // The same client through two coordinators: the second is refused (the real peer, owning
    // locks per relay id, would refuse too; per client it would "re-establish").
    let mut f2 = server(2, 3, true);
    let out = sent(&feed(&mut f2, 2, 0, msg(0, GoDistLockMsg::Prop { nonce: 1, lock: 0, client: 8 })));
    assert!(matches!(out[0].1, GoDistLockMsg::Stat { status: STATUS_OK, .. }));
    let out = sent(&feed(&mut f2, 2, 10, msg(1, GoDistLockMsg::Prop { nonce: 1, lock: 0, client: 8 })));
    assert!(matches!(out[0].1, GoDistLockMsg::Stat { status: STATUS_HELD_BY_RELAY, .. }), "{out:?}");
    // The fixed provisional lock lasts four WAIT_TIMEOUTs (a whole DoLock and a margin).
    assert_eq!(f2.locks[&0].expires_mono_ns, ms(4000));
    // The coordinator's self vote needs its local lock: lost to another acquire, no majority.
    let mut f0 = server(0, 3, true);
    let props = sent(&feed(&mut f0, 0, 0, on(1)));
    let n = nonce(&props[0].1);
    f0.locks.insert(0, HeldLock { fence: 99, expires_mono_ns: ms(9000), owner: Owner::Client(7) });
    feed(&mut f0, 0, 10, msg(1, GoDistLockMsg::Stat { nonce: n, status: STATUS_OK, counter: 1 }));
    let out = sent(&feed(&mut f0, 0, 10, msg(2, GoDistLockMsg::Stat { nonce: n, status: 1, counter: 0 })));
    assert!(out.contains(&(CLIENT, GoDistLockMsg::Err { req: 1 })), "1 peer + no self vote of 3: {out:?}");
}
