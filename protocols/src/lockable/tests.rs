//! Sans-IO tests of the service and of lockable-py's `Lock`. Each test is named after a
//! mechanism and fails without it.

use super::*;
use crate::history::{Observation, SessionId};
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input, Timer};

const SERVER: usize = 0;
const C1: usize = 1;
const C2: usize = 2;

fn ask(s: &mut LockableServer, now_ms: u64, from: usize, m: LockableMsg) -> bool {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(SERVER, ms(now_ms), 0, &mut entropy, &mut effects);
    s.handle(&mut ctx, Input::Message { from, msg: Msg::Lockable(m) });
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Send { msg: Msg::Lockable(LockableMsg::Response { ok, .. }), .. } => Some(*ok),
            _ => None,
        })
        .expect("answered")
}

#[test]
fn the_lease_lapses_without_heartbeats_and_is_renewed_by_them() {
    let mut s = LockableServer::new(60_000);
    assert!(ask(&mut s, 0, C1, LockableMsg::Acquire { req: 1, name: 0 }));
    assert!(!ask(&mut s, 59_999, C2, LockableMsg::Acquire { req: 1, name: 0 }));
    assert!(ask(&mut s, 60_000, C2, LockableMsg::Acquire { req: 2, name: 0 }), "lapsed after 60 s");
    assert!(ask(&mut s, 100_000, C2, LockableMsg::Heartbeat { req: 3, name: 0 }));
    assert!(!ask(&mut s, 119_000, C1, LockableMsg::Acquire { req: 2, name: 0 }), "renewed at 100 s");
}

#[test]
fn anyone_can_release_or_heartbeat_a_lock_by_name() {
    let mut s = LockableServer::new(60_000);
    assert!(ask(&mut s, 0, C1, LockableMsg::Acquire { req: 1, name: 0 }));
    // c2 keeps c1's lock alive, then deletes it.
    assert!(ask(&mut s, 50_000, C2, LockableMsg::Heartbeat { req: 1, name: 0 }));
    assert!(!ask(&mut s, 100_000, C2, LockableMsg::Acquire { req: 2, name: 0 }));
    assert!(ask(&mut s, 100_001, C2, LockableMsg::Release { req: 3, name: 0 }));
    assert!(ask(&mut s, 100_002, C2, LockableMsg::Acquire { req: 4, name: 0 }));
}

/// Drive a client library: feed one input, return its effects.
fn feed(lib: &mut LockableLock, now_ms: u64, f: impl FnOnce(&mut LockableLock, &mut Ctx)) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(C1, ms(now_ms), 0, &mut entropy, &mut effects);
    f(lib, &mut ctx);
    effects
}

fn params(bug: bool, aborts: bool) -> LockableClientParams {
    LockableClientParams {
        heartbeat_ms: 1000,
        acquire_sleep_ms: 1000,
        acquire_retries: 10,
        heartbeat_attribute_bug: bug,
        on_lock_loss_aborts: aborts,
    }
}

fn heartbeat_req(effects: &[Effect]) -> Option<u64> {
    effects.iter().find_map(|e| match e {
        Effect::Send { msg: Msg::Lockable(LockableMsg::Heartbeat { req, .. }), .. } => Some(*req),
        _ => None,
    })
}

/// Acquire (answered true at once); returns the first heartbeat's request id.
fn acquired(lib: &mut LockableLock) -> u64 {
    feed(lib, 0, |l, c| l.acquire(c, SessionId::default(), 0));
    let effects = feed(lib, 1, |l, c| {
        l.on_message(c, LockableMsg::Response { req: 1, ok: true });
    });
    heartbeat_req(&effects).expect("the first heartbeat goes out at once")
}

/// Run the heartbeat thread for `beats` answered heartbeats; how many went out.
fn run_heartbeats(lib: &mut LockableLock, first: u64, beats: u64) -> u64 {
    let mut req = Some(first);
    let mut sent = 0;
    for i in 0..beats {
        let Some(r) = req else { break };
        sent += 1;
        feed(lib, 2 + i * 1000, |l, c| {
            l.on_message(c, LockableMsg::Response { req: r, ok: true });
        });
        let effects = feed(lib, 1002 + i * 1000, |l, c| {
            l.on_timer(c, Timer::Heartbeat);
        });
        req = heartbeat_req(&effects);
    }
    sent
}

#[test]
fn the_attribute_bug_stops_the_heartbeat_after_the_first_beat() {
    let mut lib = LockableLock::new(SERVER, 0, params(true, false));
    let first = acquired(&mut lib);
    assert_eq!(run_heartbeats(&mut lib, first, 10), 1);
    assert!(lib.is_valid(&Ctx::new(C1, 0, 0, &mut Counter(0), &mut Vec::new())), "the worker learns nothing");
    let mut fixed = LockableLock::new(SERVER, 0, params(false, false));
    let first = acquired(&mut fixed);
    assert_eq!(run_heartbeats(&mut fixed, first, 10), 10);
}

#[test]
fn the_users_callback_tells_the_worker_of_the_attribute_error() {
    let mut lib = LockableLock::new(SERVER, 0, params(true, true));
    let first = acquired(&mut lib);
    let effects = feed(&mut lib, 2, |l, c| {
        l.on_message(c, LockableMsg::Response { req: first, ok: true });
    });
    assert!(effects.iter().any(|e| matches!(e, Effect::Record(Observation::LockLost { .. }))));
    assert!(!lib.is_valid(&Ctx::new(C1, 0, 0, &mut Counter(0), &mut Vec::new())));
}

#[test]
fn a_hung_heartbeat_fires_no_callback_and_blocks_release() {
    let mut lib = LockableLock::new(SERVER, 0, params(false, true));
    let first = acquired(&mut lib);
    // The heartbeat's answer never comes: nothing happens, however long.
    let effects = feed(&mut lib, 100_000, |l, c| {
        l.on_timer(c, Timer::Heartbeat);
    });
    assert!(effects.is_empty());
    assert!(lib.is_valid(&Ctx::new(C1, 0, 0, &mut Counter(0), &mut Vec::new())), "no callback runs");
    // release() sends release and its answer comes, but shutdown() waits for the hung thread.
    feed(&mut lib, 100_001, |l, c| {
        assert_eq!(l.release(c), None);
    });
    let release_req = first + 1;
    let mut event = None;
    feed(&mut lib, 100_002, |l, c| event = l.on_message(c, LockableMsg::Response { req: release_req, ok: true }));
    assert_eq!(event, None, "release() does not return");
    // Were the heartbeat answered, release would return after the loop's sleep.
    feed(&mut lib, 100_003, |l, c| event = l.on_message(c, LockableMsg::Response { req: first, ok: true }));
    assert_eq!(event, None);
    feed(&mut lib, 101_003, |l, c| event = l.on_timer(c, Timer::Heartbeat));
    assert_eq!(event, Some(crate::library::LockEvent::Released));
}
