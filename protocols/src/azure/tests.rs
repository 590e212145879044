//! Sans-IO tests of the Azure blob-lease lock against the store. Each test is named after a
//! mechanism and fails without it.

use super::params::{resolve, Keys};
use super::*;
use crate::history::SessionId;
use crate::library::LockEvent;
use crate::msg::{Msg, StoreCond, StoreFields, StoreMsg, StoreOutcome};
use crate::node::{ms, Counter, Ctx, Effect, Input, Timer};
use crate::registry::{store_server, Server};

const STORE: usize = 0;

struct World {
    store: Server,
    entropy: Counter,
}

impl World {
    /// Run `f` on `lock` at `now_ms` (client and store clocks alike), delivering the store's
    /// replies; every reply outcome and the last lock event.
    fn run(
        &mut self,
        lock: &mut AzureLock,
        me: usize,
        now_ms: u64,
        f: impl FnOnce(&mut AzureLock, &mut Ctx) -> Option<LockEvent>,
    ) -> (Vec<StoreOutcome>, Option<LockEvent>) {
        let mut outcomes = Vec::new();
        let mut effects = Vec::new();
        let mut event = {
            let mut ctx = Ctx::new(me, ms(now_ms), 0, &mut self.entropy, &mut effects);
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
                let mut replies = Vec::new();
                let mut ctx = Ctx::new(STORE, ms(now_ms), 0, &mut self.entropy, &mut replies);
                self.store.handle(&mut ctx, Input::Message { from: me, msg: m });
                for r in replies {
                    if let Effect::Send { msg, .. } = r {
                        if let Msg::Store(m) = &msg {
                            if let StoreMsg::PutReply { outcome, .. } | StoreMsg::LeaseReply { outcome, .. } = &**m {
                                outcomes.push(*outcome);
                            }
                        }
                        let mut ctx = Ctx::new(me, ms(now_ms), 0, &mut self.entropy, &mut effects);
                        if let Some(e) = lock.on_message(&mut ctx, STORE, msg) {
                            event = Some(e);
                        }
                    }
                }
            }
        }
        (outcomes, event)
    }
}

fn lock(k: Keys) -> AzureLock {
    AzureLock::new(STORE, 0, resolve(&k).unwrap().client)
}

fn acquire(w: &mut World, l: &mut AzureLock, me: usize, now_ms: u64) -> Option<LockEvent> {
    w.run(l, me, now_ms, |l, ctx| {
        l.acquire(ctx, SessionId { client: me as u32, incarnation: 0, n: 1 }, 0);
        None
    })
    .1
}

#[test]
fn a_write_to_the_leased_blob_needs_the_current_lease_id() {
    let mut w = World { store: store_server(false), entropy: Counter(3) };
    let k = || Keys { lease_duration_ms: Some(15_000), ..Keys::default() };
    let mut a = lock(k());
    assert_eq!(acquire(&mut w, &mut a, 1, 0), Some(LockEvent::Acquired));
    // The holder's write of the blob, with its lease id: accepted.
    let (o, _) = w.run(&mut a, 1, 1_000, |l, ctx| {
        l.write_blob(ctx, 900);
        None
    });
    assert!(matches!(o[..], [StoreOutcome::Ok { .. }]), "{o:?}");
    // A is paused past its lease; B acquires it at 16 s (the store's clock).
    let mut b = lock(k());
    assert_eq!(acquire(&mut w, &mut b, 2, 16_000), Some(LockEvent::Acquired));
    // A's late write of the blob carries its old lease id: refused by the store — the fence.
    let (o, _) = w.run(&mut a, 1, 16_500, |l, ctx| {
        l.write_blob(ctx, 901);
        None
    });
    assert_eq!(o, [StoreOutcome::LeaseConflict]);
    // A write with no lease id at all is refused too.
    let (o, _) = w.run(&mut a, 1, 16_600, |_, ctx| {
        let fields = StoreFields { owner: 1, nonce: 0, lease_ms: 0, expires_at_wall_ms: None, released: false };
        ctx.send(
            STORE,
            Msg::Store(Box::new(StoreMsg::Put { req: 902, key: 0, fields, cond: StoreCond::None, lease_id: None })),
        );
        None
    });
    assert_eq!(o, [StoreOutcome::LeaseConflict]);
    // And A's renewal fails: the lock is lost.
    w.run(&mut a, 1, 16_700, |l, ctx| l.on_timer(ctx, Timer::Heartbeat));
    assert!(matches!(a.state, AzureState::Held { lost: true, .. }));
}

#[test]
fn an_infinite_lease_is_freed_only_by_a_break() {
    let mut w = World { store: store_server(false), entropy: Counter(3) };
    let mut a = lock(Keys { infinite_lease: Some(true), ..Keys::default() });
    assert_eq!(acquire(&mut w, &mut a, 1, 0), Some(LockEvent::Acquired));
    // B without breaking: refused however late.
    let mut b = lock(Keys { infinite_lease: Some(true), ..Keys::default() });
    assert_eq!(acquire(&mut w, &mut b, 2, 1_000_000), None);
    assert_eq!(b.state, AzureState::BackingOff);
    // C breaks after 10 s of refusals (break period 0) and then acquires.
    let mut c = lock(Keys { infinite_lease: Some(true), break_after_ms: Some(10_000), ..Keys::default() });
    assert_eq!(acquire(&mut w, &mut c, 3, 1_000_000), None);
    assert_eq!(w.run(&mut c, 3, 1_005_000, |l, ctx| l.on_timer(ctx, Timer::AcquireRetry)).1, None);
    let (o, _) = w.run(&mut c, 3, 1_010_000, |l, ctx| l.on_timer(ctx, Timer::AcquireRetry));
    assert!(matches!(o[..], [StoreOutcome::LeaseConflict, StoreOutcome::Ok { .. }]), "refused, then the break: {o:?}");
    assert_eq!(w.run(&mut c, 3, 1_011_000, |l, ctx| l.on_timer(ctx, Timer::AcquireRetry)).1, Some(LockEvent::Acquired));
}
