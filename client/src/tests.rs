//! The guard and the Lockable-style client with `std` threads (every wait bounded).

use std::time::{Duration, Instant};

use crate::sync::{Arc, AtomicBool, Ordering};
use crate::*;

const LOCK: &str = "L";

fn setup(fence: Fence) -> (Arc<ManualClock>, Arc<MemoryServer<ManualClock>>, Arc<Resource<ManualClock>>) {
    let clock = Arc::new(ManualClock::new(0));
    let server = Arc::new(MemoryServer::new(clock.clone()));
    let resource = Arc::new(Resource::new(server.clone(), LOCK, fence));
    (clock, server, resource)
}

fn config(ttl_ms: u64) -> GuardConfig {
    GuardConfig {
        ttl_ms,
        // Real milliseconds between beats (the pause sleeps); the TTL is on the manual clock.
        heartbeat_interval_ms: 1,
        drift_margin_ms: 0,
        max_beats: None,
    }
}

/// Polls `cond` every millisecond for at most 5 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn guard_writes_with_its_token_and_releases_on_shutdown() {
    let (_clock, server, resource) = setup(Fence::HighestToken);
    let guard =
        LeaseGuard::acquire(server.clone(), _clock, LOCK, config(100), Box::new(|_| {})).unwrap().expect("free lock");
    let h = guard.handle();
    let token = guard.grant().token;
    assert_eq!(token, 1);
    assert_eq!(h.write(|t| resource.write(1, token, Some(t))), Ok(true));
    assert_eq!(guard.shutdown(), Ok(true), "released at the server");
    assert_eq!(server.live_token(LOCK), None);
    assert_eq!(h.write(|_| ()), Err(LeaseLost(LossReason::Released)));
    assert_eq!(resource.violations(), Violations::default());
    // The lock is free again, with the next token.
    assert_eq!(server.acquire(LOCK, 100).unwrap().map(|g| g.token), Some(2));
}

/// Counts renewals, to wait for one without reading the guard's internals.
struct Counting {
    server: Arc<MemoryServer<ManualClock>>,
    renewals: std::sync::atomic::AtomicUsize,
}

impl Transport for Counting {
    fn acquire(&self, name: &str, ttl_ms: u64) -> Result<Option<Grant>, TransportError> {
        self.server.acquire(name, ttl_ms)
    }
    fn renew(&self, name: &str, grant: Grant, ttl_ms: u64) -> Result<bool, TransportError> {
        let answer = self.server.renew(name, grant, ttl_ms);
        self.renewals.fetch_add(1, Ordering::SeqCst);
        answer
    }
    fn release(&self, name: &str, grant: Grant) -> Result<bool, TransportError> {
        self.server.release(name, grant)
    }
}

#[test]
fn heartbeat_keeps_the_lease_past_its_ttl() {
    let (clock, server, _resource) = setup(Fence::HighestToken);
    let transport = Arc::new(Counting { server: server.clone(), renewals: Default::default() });
    let guard =
        LeaseGuard::acquire(transport.clone(), clock.clone(), LOCK, config(100), Box::new(|_| {})).unwrap().unwrap();
    let h = guard.handle();
    // Move time in steps of half the TTL, waiting after each for a renewal sent after the step
    // (two more renewals: the first may have read the clock before it): 10 TTLs in all.
    for _ in 0..20 {
        clock.advance(50);
        let seen = transport.renewals.load(Ordering::SeqCst);
        wait_for("a renewal", || transport.renewals.load(Ordering::SeqCst) >= seen + 2);
    }
    assert_eq!(clock.now_ms(), 1000);
    assert_eq!(server.live_token(LOCK), Some(1), "still held after 10 TTLs");
    assert!(h.is_valid());
    assert_eq!(guard.shutdown(), Ok(true));
}

#[test]
fn loss_is_signalled_to_workers_and_the_callback_when_renewal_is_refused() {
    let (clock, server, _resource) = setup(Fence::HighestToken);
    let signalled = Arc::new(AtomicBool::new(false));
    let s = signalled.clone();
    let guard = LeaseGuard::acquire(
        server.clone(),
        clock,
        LOCK,
        config(10_000),
        Box::new(move |r| {
            assert_eq!(r, LossReason::Refused);
            s.store(true, Ordering::SeqCst);
        }),
    )
    .unwrap()
    .unwrap();
    let h = guard.handle();
    // Someone else (an operator, a buggy peer) deletes the lease at the server.
    assert_eq!(server.release(LOCK, guard.grant()), Ok(true));
    wait_for("the loss callback", || signalled.load(Ordering::SeqCst));
    assert_eq!(h.lost(), Some(LossReason::Refused));
    assert_eq!(h.write(|_| ()), Err(LeaseLost(LossReason::Refused)));
    assert_eq!(guard.shutdown(), Ok(false), "nothing left to release");
}

#[test]
fn a_stuck_heartbeat_cannot_keep_workers_writing_past_the_local_deadline() {
    let (clock, server, _resource) = setup(Fence::HighestToken);
    let mut cfg = config(1_000);
    cfg.heartbeat_interval_ms = 3_600_000; // never beats within the test
    cfg.drift_margin_ms = 10;
    let guard = LeaseGuard::acquire(server, clock.clone(), LOCK, cfg, Box::new(|_| {})).unwrap().unwrap();
    let h = guard.handle();
    clock.advance(989);
    assert!(h.write(|t| t).is_ok(), "valid before deadline (1000 - 10 margin)");
    clock.advance(1);
    assert_eq!(h.write(|t| t), Err(LeaseLost(LossReason::Expired)));
    clock.advance(10); // the server's expiry (no margin there)
    let start = Instant::now();
    assert_eq!(guard.shutdown(), Ok(false), "expired at the server too: release refused");
    assert!(start.elapsed() < Duration::from_secs(1), "shutdown interrupts the heartbeat's pause");
}

/// Lockable's design with real threads, deterministically sequenced: the heartbeat stops after
/// its first beat (the attribute-name bug), the TTL elapses, someone else acquires and writes, and
/// the worker's body — told nothing — writes after them.
#[test]
fn lockable_style_body_writes_after_expiry_and_after_the_next_holder() {
    let (clock, server, resource) = setup(Fence::None);
    let exception = Arc::new(AtomicBool::new(false));
    let e = exception.clone();
    let callbacks = Callbacks {
        on_heartbeat_exception: Box::new(move |_| e.store(true, Ordering::SeqCst)),
        ..Callbacks::default()
    };
    let cfg = LockableConfig { heartbeat_stops_after_first_beat: true, ..LockableConfig::default() };
    let client = LockableStyleClient::acquire(server.clone(), LOCK, cfg, callbacks).unwrap().unwrap();
    let epoch = client.grant().token;
    assert!(resource.write(1, epoch, None));
    wait_for("the heartbeat's AttributeError", || exception.load(Ordering::SeqCst));
    clock.advance(cfg.ttl_ms);
    let next = server.acquire(LOCK, cfg.ttl_ms).unwrap().expect("expired: granted again");
    assert!(resource.write(2, next.token, Some(next.token)));
    assert!(resource.write(1, epoch, None), "the body is told nothing");
    assert_eq!(client.release(), Ok(false));
    let v = resource.violations();
    assert_eq!((v.writes_after_expiry, v.stale_writes), (1, 1));
}

/// Many writers, a heartbeat and an adversary with real threads: whatever the timing, with the
/// guard and a fencing resource no stale write is applied and no write follows the loss signal.
#[test]
fn guard_under_std_threads_never_writes_after_loss_or_stale() {
    for round in 0..20 {
        let (clock, server, resource) = setup(Fence::HighestToken);
        let r = resource.clone();
        let guard = LeaseGuard::acquire(
            server.clone(),
            clock.clone(),
            LOCK,
            config(1_000),
            Box::new(move |_| r.note_loss_signalled(1)),
        )
        .unwrap()
        .unwrap();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let h = guard.handle();
                let r = resource.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while n < 10_000 {
                        if h.write(|t| r.write(1, t, Some(t))).is_err() {
                            break;
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(200 * round));
        clock.advance(1_000);
        let next = server.acquire(LOCK, 1_000).unwrap().expect("expired");
        resource.write(2, next.token, Some(next.token));
        for w in workers {
            w.join().unwrap();
        }
        let _ = guard.shutdown();
        let v = resource.violations();
        assert_eq!(v.stale_writes, 0, "round {round}");
        assert_eq!(v.writes_after_loss_signal, 0, "round {round}");
    }
}
