//! Sans-IO tests of the GCS lock library against the store. Each test is named after a mechanism
//! and fails without it.

use super::params::resolve;
use super::*;
use crate::history::{Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::{Msg, StoreMsg};
use crate::node::{ms, Counter, Ctx, Effect, Input, Timer};
use crate::registry::{store_server, Server};

const STORE: usize = 0;

fn params() -> GcsClientParams {
    let v = resolve(&params::Keys { ttl_ms: Some(30_000), ..Default::default() }).unwrap();
    v.client
}

/// A client and the store, with the client's clocks set by the test.
struct World {
    store: Server,
    entropy: Counter,
}

impl World {
    /// The stored object under `key`, if any.
    fn item(&self, key: u32) -> Option<crate::msg::StoreItem> {
        let Server::StoreServer(st) = &self.store else { unreachable!() };
        st.entries.get(&key).map(|e| e.item)
    }

    fn item_mut(&mut self, key: u32) -> &mut crate::msg::StoreItem {
        let Server::StoreServer(st) = &mut self.store else { unreachable!() };
        &mut st.entries.get_mut(&key).unwrap().item
    }

    fn new() -> Self {
        World { store: store_server(false), entropy: Counter(100) }
    }

    /// Run `f` on `lock` at local time (`mono_ms`, `wall_ms`), deliver every store request it
    /// sends and feed the replies back (repeatedly); return every effect and the last event.
    fn run(
        &mut self,
        lock: &mut GcsLock,
        me: usize,
        mono_ms: u64,
        wall_ms: i64,
        f: impl FnOnce(&mut GcsLock, &mut Ctx) -> Option<LockEvent>,
        deliver: bool,
    ) -> (Vec<Effect>, Option<LockEvent>) {
        let mut all = Vec::new();
        let mut effects = Vec::new();
        let mut event = {
            let mut ctx = Ctx::new(me, ms(mono_ms), wall_ms * 1_000_000, &mut self.entropy, &mut effects);
            f(lock, &mut ctx)
        };
        let mut rounds = 0;
        while deliver && rounds < 20 {
            rounds += 1;
            let requests: Vec<Msg> = effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Send { to: STORE, msg } => Some(msg.clone()),
                    _ => None,
                })
                .collect();
            all.append(&mut effects);
            if requests.is_empty() {
                break;
            }
            for m in requests {
                let mut replies = Vec::new();
                {
                    let mut ctx = Ctx::new(STORE, 0, 0, &mut self.entropy, &mut replies);
                    self.store.handle(&mut ctx, Input::Message { from: me, msg: m });
                }
                for r in replies {
                    if let Effect::Send { msg, .. } = r {
                        let mut ctx = Ctx::new(me, ms(mono_ms), wall_ms * 1_000_000, &mut self.entropy, &mut effects);
                        if let Some(e) = lock.on_message(&mut ctx, STORE, msg) {
                            event = Some(e);
                        }
                    }
                }
            }
        }
        all.append(&mut effects);
        (all, event)
    }
}

fn session(client: u32) -> SessionId {
    SessionId { client, incarnation: 0, n: 1 }
}

fn acquire(w: &mut World, lock: &mut GcsLock, me: usize, wall_ms: i64) -> (Vec<Effect>, Option<LockEvent>) {
    w.run(
        lock,
        me,
        0,
        wall_ms,
        |l, ctx| {
            l.acquire(ctx, session(me as u32), 0);
            None
        },
        true,
    )
}

fn sent(effects: &[Effect]) -> Vec<StoreMsg> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { msg: Msg::Store(m), .. } => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

fn timer(effects: &[Effect], timer: Timer) -> Option<u64> {
    effects.iter().rev().find_map(|e| match e {
        Effect::SetTimer { timer: t, after_ns } if *t == timer => Some(*after_ns),
        _ => None,
    })
}

#[test]
fn default_refresh_interval_is_ttl_over_three_times_max_refresh_fails() {
    let v = resolve(&params::Keys::default()).unwrap();
    assert_eq!(v.client.ttl_ms, 300_000);
    assert_eq!(v.client.refresh_interval_ms, 33_333);
    assert_eq!(v.client.lock_timeout_ms, 600_000);
    let e = resolve(&params::Keys { refresh_interval_ms: Some(100_000), ..Default::default() }).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("refresh_interval_ms"));
}

#[test]
fn create_only_write_grants_the_first_and_records_the_writers_expiry() {
    let mut w = World::new();
    let mut a = GcsLock::new(STORE, 0, 0, params());
    let (fx, ev) = acquire(&mut w, &mut a, 1, 1_000_000);
    assert_eq!(ev, Some(LockEvent::Acquired));
    assert!(matches!(sent(&fx)[0], StoreMsg::Put { cond: crate::msg::StoreCond::IfAbsent, .. }));
    assert_eq!(w.item(0).unwrap().expires_at_wall_ms, Some(1_030_000));
    assert_eq!(timer(&fx, Timer::Heartbeat), Some(ms(3_333)));
    // A second client is refused, reads the object, finds it fresh by its clock and backs off.
    let mut b = GcsLock::new(STORE, 1, 0, params());
    let (fx, ev) = acquire(&mut w, &mut b, 2, 1_010_000);
    assert_eq!(ev, None);
    assert_eq!(b.state, GcsState::BackingOff);
    let backoff = timer(&fx, Timer::AcquireRetry).unwrap();
    assert!((ms(1000)..=ms(2000)).contains(&backoff), "{backoff}");
}

#[test]
fn staleness_is_judged_by_the_readers_wall_clock_against_the_writers_expires_at() {
    let mut w = World::new();
    let mut a = GcsLock::new(STORE, 0, 0, params());
    acquire(&mut w, &mut a, 1, 1_000_000);
    // B's wall clock reads 31 s later than A's did at the write — whatever the true time.
    let mut b = GcsLock::new(STORE, 1, 0, params());
    let (fx, _) = acquire(&mut w, &mut b, 2, 1_031_000);
    assert!(sent(&fx).iter().any(|m| matches!(m, StoreMsg::Delete { .. })), "stale object deleted: {:?}", sent(&fx));
    assert!(w.item(0).is_none());
    // It backs off after deleting (`:error`), then creates.
    assert_eq!(b.state, GcsState::BackingOff);
    let (_, ev) = w.run(&mut b, 2, 2000, 1_033_000, |l, ctx| l.on_timer(ctx, Timer::AcquireRetry), true);
    assert_eq!(ev, Some(LockEvent::Acquired));
}

#[test]
fn instant_recovery_deletes_my_own_abandoned_object_and_retries_at_once() {
    let mut w = World::new();
    let mut a = GcsLock::new(STORE, 0, 0, params());
    acquire(&mut w, &mut a, 1, 1_000_000);
    // The release is lost: the object stays. The same instance locks again, long before expiry.
    a.state = GcsState::Free;
    let (fx, ev) = acquire(&mut w, &mut a, 1, 1_001_000);
    assert_eq!(ev, Some(LockEvent::Acquired), "{:?}", sent(&fx));
    let kinds: Vec<&str> = sent(&fx).iter().map(|m| m.kind()).collect();
    assert_eq!(kinds, ["store_put", "store_get", "store_delete", "store_put"]);
    // A restarted client with a new identity is a stranger: it backs off.
    let mut a2 = GcsLock::new(STORE, 0, 0, params());
    let (_, ev) = acquire(&mut w, &mut a2, 1, 1_002_000);
    assert_eq!(ev, None);
    assert_eq!(a2.state, GcsState::BackingOff);
    // ... unless its identity survived the restart.
    let mut stable = params();
    stable.identity_survives_restart = true;
    let mut s1 = GcsLock::new(STORE, 5, 1, stable.clone());
    w.run(
        &mut s1,
        6,
        0,
        1_000_000,
        |l, ctx| {
            l.acquire(ctx, session(6), 1);
            None
        },
        true,
    );
    let mut s1_restarted = GcsLock::new(STORE, 5, 1, stable);
    let (_, ev) = w.run(
        &mut s1_restarted,
        6,
        0,
        1_000_500,
        |l, ctx| {
            l.acquire(ctx, session(6), 1);
            None
        },
        true,
    );
    assert_eq!(ev, Some(LockEvent::Acquired));
}

#[test]
fn a_refresh_precondition_failure_is_permanent_and_errors_count_to_max_refresh_fails() {
    let mut w = World::new();
    let mut a = GcsLock::new(STORE, 0, 0, params());
    acquire(&mut w, &mut a, 1, 1_000_000);
    let ctx_valid = |l: &GcsLock| {
        let mut e = Vec::new();
        let mut c = Counter(0);
        let ctx = Ctx::new(1, 0, 0, &mut c, &mut e);
        l.is_valid(&ctx)
    };
    // A refresh succeeds: expires_at moves on by the writer's clock, the metageneration bumps.
    w.run(&mut a, 1, 3333, 1_003_333, |l, ctx| l.on_timer(ctx, Timer::Heartbeat), true);
    assert_eq!(w.item(0).unwrap().expires_at_wall_ms, Some(1_033_333));
    assert_eq!(w.item(0).unwrap().metageneration, 2);
    assert!(ctx_valid(&a));
    // Two unanswered refreshes: still healthy; the third: unhealthy.
    for i in 1..=3u64 {
        w.run(&mut a, 1, 3333 * (i + 1), 0, |l, ctx| l.on_timer(ctx, Timer::Heartbeat), false);
        let (fx, _) =
            w.run(&mut a, 1, 3333 * (i + 1) + 1000, 0, |l, ctx| l.on_timer(ctx, Timer::HeartbeatTimeout), false);
        assert_eq!(ctx_valid(&a), i < 3, "after {i} errors");
        if i == 3 {
            assert!(fx.iter().any(|e| matches!(e, Effect::Record(Observation::LockLost { .. }))));
        }
    }
    // Someone else's object: the first refresh fails for good.
    let mut w = World::new();
    let mut b = GcsLock::new(STORE, 1, 0, params());
    acquire(&mut w, &mut b, 2, 1_000_000);
    w.item_mut(0).metageneration += 5;
    w.run(&mut b, 2, 3333, 1_003_333, |l, ctx| l.on_timer(ctx, Timer::Heartbeat), true);
    assert!(!ctx_valid(&b));
}
