//! Sans-IO tests of the S3 lock library against the store. Each test is named after a mechanism
//! and fails without it.

use super::params::{resolve, Keys};
use super::*;
use crate::history::SessionId;
use crate::library::LockEvent;
use crate::msg::{Msg, StoreCond, StoreItem, StoreMsg};
use crate::node::{ms, Counter, Ctx, Effect, Input, Timer};
use crate::registry::{store_server, Server};

const STORE: usize = 0;

struct World {
    store: Server,
    entropy: Counter,
}

impl World {
    fn new() -> Self {
        World { store: store_server(false), entropy: Counter(7) }
    }

    fn item(&self, key: u32) -> Option<StoreItem> {
        let Server::StoreServer(st) = &self.store else { unreachable!() };
        st.entries.get(&key).map(|e| e.item)
    }

    /// Run `f` at local time (`mono_ms`, `wall_ms`), delivering the store's replies; every sent
    /// store message and the last lock event.
    fn run(
        &mut self,
        lock: &mut S3Lock,
        me: usize,
        mono_ms: u64,
        wall_ms: i64,
        f: impl FnOnce(&mut S3Lock, &mut Ctx) -> Option<LockEvent>,
    ) -> (Vec<StoreMsg>, Option<LockEvent>) {
        let mut sent = Vec::new();
        let mut effects = Vec::new();
        let mut event = {
            let mut ctx = Ctx::new(me, ms(mono_ms), wall_ms * 1_000_000, &mut self.entropy, &mut effects);
            f(lock, &mut ctx)
        };
        for _ in 0..20 {
            let requests: Vec<Msg> = effects
                .drain(..)
                .filter_map(|e| match e {
                    Effect::Send { to: STORE, msg } => Some(msg),
                    _ => None,
                })
                .collect();
            if requests.is_empty() {
                break;
            }
            for m in requests {
                if let Msg::Store(s) = &m {
                    sent.push((**s).clone());
                }
                let mut replies = Vec::new();
                let mut ctx = Ctx::new(STORE, 0, 0, &mut self.entropy, &mut replies);
                self.store.handle(&mut ctx, Input::Message { from: me, msg: m });
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
        (sent, event)
    }
}

fn params(k: Keys) -> S3ClientParams {
    resolve(&Keys { ttl_ms: Some(10_000), ..k }).unwrap().client
}

fn acquire(w: &mut World, l: &mut S3Lock, me: usize, wall_ms: i64) -> (Vec<StoreMsg>, Option<LockEvent>) {
    w.run(l, me, 0, wall_ms, |l, ctx| {
        l.acquire(ctx, SessionId { client: me as u32, incarnation: 0, n: 1 }, 0);
        None
    })
}

#[test]
fn an_expired_object_is_stolen_with_if_match_on_its_etag_and_the_old_holders_renewal_fails() {
    let mut w = World::new();
    let mut a = S3Lock::new(STORE, 0, params(Keys::default()));
    assert_eq!(acquire(&mut w, &mut a, 1, 1_000_000).1, Some(LockEvent::Acquired));
    let etag = w.item(0).unwrap().generation;
    // B's clock says the object expired (reader's clock against the writer's expires_at).
    let mut b = S3Lock::new(STORE, 0, params(Keys::default()));
    let (sent, ev) = acquire(&mut w, &mut b, 2, 1_010_001);
    assert_eq!(ev, Some(LockEvent::Acquired));
    assert!(
        matches!(sent.last(), Some(StoreMsg::Put { cond: StoreCond::IfGeneration(g), .. }) if *g == etag),
        "{sent:?}"
    );
    // A's renewal carries its old ETag: 412, the lock is lost.
    w.run(&mut a, 1, 3333, 1_003_333, |l, ctx| l.on_timer(ctx, Timer::Heartbeat));
    let mut e = Vec::new();
    let mut c = Counter(0);
    assert!(!a.is_valid(&Ctx::new(1, ms(3334), 0, &mut c, &mut e)));
    // A fresh object by B's clock is left alone: C backs off.
    let mut c3 = S3Lock::new(STORE, 0, params(Keys::default()));
    let (_, ev) = acquire(&mut w, &mut c3, 3, 1_010_002);
    assert_eq!(ev, None);
    assert_eq!(c3.state, S3State::BackingOff);
}

#[test]
fn a_conditional_delete_leaves_the_next_holders_object_and_a_plain_delete_removes_it() {
    for conditional in [true, false] {
        let mut w = World::new();
        let p = params(Keys { conditional_delete: Some(conditional), ..Keys::default() });
        let mut a = S3Lock::new(STORE, 0, p.clone());
        acquire(&mut w, &mut a, 1, 1_000_000);
        let mut b = S3Lock::new(STORE, 0, p);
        assert_eq!(acquire(&mut w, &mut b, 2, 1_020_000).1, Some(LockEvent::Acquired));
        // A, late, releases.
        w.run(&mut a, 1, 20_000, 1_020_000, |l, ctx| l.release(ctx));
        assert_eq!(w.item(0).is_some(), conditional, "conditional_delete = {conditional}");
    }
}
