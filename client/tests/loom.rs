//! Loom models of the lease clients: every interleaving (up to the preemption bound) of the
//! heartbeat thread, a worker thread and an adversary thread that lets the TTL elapse at any point
//! and then acts as the next holder.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release -p locklab-client --test loom --target-dir
//! target/loom -- --nocapture` (the counts are printed). The preemption bound is 3 unless
//! `LOOM_MAX_PREEMPTIONS` says otherwise.
//!
//! Time (the crate docs say more): loom has none, so "the TTL elapses" is the adversary's
//! `clock.advance(TTL_MS)` on the clock the client and the server share — one atomic step the
//! scheduler may place anywhere. The adversary then acquires (the server grants the next epoch
//! once the lease is expired) and writes with its token.
//!
//! Each test tallies, across executions, the violations the resource recorded, and asserts after
//! the model: the Lockable-style client's race must be *found* (the test fails if no execution
//! writes after expiry, or after the loss was signalled), the guard's must never occur.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use locklab_client::sync::{thread, Arc};
use locklab_client::*;

const LOCK: &str = "L";
const TTL_MS: u64 = 1_000;
const WORKER: u32 = 1;
const NEXT_HOLDER: u32 = 2;
/// Writes the worker attempts under the lease.
const WRITES: usize = 2;
/// The preemption bound unless `LOOM_MAX_PREEMPTIONS` is set.
const PREEMPTION_BOUND: usize = 3;

/// Counts across the executions of one model (each test has its own).
#[derive(Default)]
struct Tally {
    executions: AtomicUsize,
    /// Executions with at least one accepted write after the writer's lease expired.
    after_expiry: AtomicUsize,
    /// Executions with an accepted stale write (no_stale_write violated).
    stale: AtomicUsize,
    /// Executions with a write attempted after the library signalled the worker's loss.
    after_loss_signal: AtomicUsize,
    /// Executions in which the loss was signalled at all (the property is not vacuous).
    loss_signalled: AtomicUsize,
    /// Executions in which the worker's write was applied at least once.
    worker_wrote: AtomicUsize,
}

impl Tally {
    const fn new() -> Self {
        Tally {
            executions: AtomicUsize::new(0),
            after_expiry: AtomicUsize::new(0),
            stale: AtomicUsize::new(0),
            after_loss_signal: AtomicUsize::new(0),
            loss_signalled: AtomicUsize::new(0),
            worker_wrote: AtomicUsize::new(0),
        }
    }

    fn record(&self, resource: &Resource<ManualClock>, loss_signalled: bool) {
        let v = resource.violations();
        self.executions.fetch_add(1, Relaxed);
        for (n, counter) in [
            (v.writes_after_expiry, &self.after_expiry),
            (v.stale_writes, &self.stale),
            (v.writes_after_loss_signal, &self.after_loss_signal),
            (usize::from(loss_signalled), &self.loss_signalled),
            (resource.writes().iter().filter(|w| w.writer == WORKER && w.accepted).count(), &self.worker_wrote),
        ] {
            if n > 0 {
                counter.fetch_add(1, Relaxed);
            }
        }
    }

    fn report(&self, name: &str, bound: usize) {
        println!(
            "loom {name}: {} executions explored (preemption bound {bound}); executions with: \
             write after expiry {}, stale write {}, write after the loss signal {}; \
             loss signalled in {}, worker's write applied in {}",
            self.executions.load(Relaxed),
            self.after_expiry.load(Relaxed),
            self.stale.load(Relaxed),
            self.after_loss_signal.load(Relaxed),
            self.loss_signalled.load(Relaxed),
            self.worker_wrote.load(Relaxed),
        );
    }
}

fn builder() -> (loom::model::Builder, usize) {
    let mut b = loom::model::Builder::new();
    let bound = *b.preemption_bound.get_or_insert(PREEMPTION_BOUND);
    (b, bound)
}

struct World {
    clock: Arc<ManualClock>,
    server: Arc<MemoryServer<ManualClock>>,
    resource: Arc<Resource<ManualClock>>,
}

fn world(fence: Fence) -> World {
    let clock = Arc::new(ManualClock::new(0));
    let server = Arc::new(MemoryServer::new(clock.clone()));
    let resource = Arc::new(Resource::new(server.clone(), LOCK, fence));
    World { clock, server, resource }
}

/// The adversary: the TTL elapses (one step, anywhere), then the next client acquires the expired
/// lock — the server bumps the epoch — and writes with its token.
fn spawn_adversary(w: &World) -> thread::JoinHandle<()> {
    let (clock, server, resource) = (w.clock.clone(), w.server.clone(), w.resource.clone());
    thread::spawn(move || {
        clock.advance(TTL_MS);
        if let Some(g) = server.acquire(LOCK, TTL_MS).unwrap() {
            resource.write(NEXT_HOLDER, g.token, Some(g.token));
        }
    })
}

/// One execution of the Lockable-style client: acquire, heartbeat thread (one beat), a worker
/// thread running the `with` body (writes, unchecked), the adversary, then `release()`.
fn lockable_execution(tally: &'static Tally) {
    let w = world(Fence::None);
    let signalled = Arc::new(loom::sync::atomic::AtomicBool::new(false));
    let (r, s) = (w.resource.clone(), signalled.clone());
    // The test's on_lock_loss records the signal and does nothing else — to the worker it is the
    // default no-op: nothing reaches the body.
    let callbacks = Callbacks {
        on_lock_loss: Box::new(move || {
            s.store(true, loom::sync::atomic::Ordering::SeqCst);
            r.note_loss_signalled(WORKER);
        }),
        ..Callbacks::default()
    };
    let config = LockableConfig { ttl_ms: TTL_MS, max_beats: Some(1), ..LockableConfig::default() };
    let client =
        LockableStyleClient::acquire(w.server.clone(), LOCK, config, callbacks).unwrap().expect("the lock is free");
    let epoch = client.grant().token;
    let resource = w.resource.clone();
    let worker = thread::spawn(move || {
        for _ in 0..WRITES {
            resource.write(WORKER, epoch, None);
        }
    });
    let adversary = spawn_adversary(&w);
    worker.join().unwrap();
    let _ = client.release();
    adversary.join().unwrap();
    tally.record(&w.resource, signalled.load(loom::sync::atomic::Ordering::SeqCst));
}

/// One execution of the guard: acquire, heartbeat thread (one beat), a worker thread writing
/// through `LeaseHandle::write` with the token, the adversary, then `shutdown()`.
fn guard_execution(tally: &'static Tally, fence: Fence) {
    let w = world(fence);
    let signalled = Arc::new(loom::sync::atomic::AtomicBool::new(false));
    let (r, s) = (w.resource.clone(), signalled.clone());
    let config =
        GuardConfig { ttl_ms: TTL_MS, heartbeat_interval_ms: TTL_MS / 3, drift_margin_ms: 0, max_beats: Some(1) };
    let guard = LeaseGuard::acquire(
        w.server.clone(),
        w.clock.clone(),
        LOCK,
        config,
        Box::new(move |_| {
            s.store(true, loom::sync::atomic::Ordering::SeqCst);
            r.note_loss_signalled(WORKER);
        }),
    )
    .unwrap()
    .expect("the lock is free");
    let handle = guard.handle();
    let resource = w.resource.clone();
    let worker = thread::spawn(move || {
        for _ in 0..WRITES {
            if handle.write(|token| resource.write(WORKER, token, Some(token))).is_err() {
                break;
            }
        }
    });
    let adversary = spawn_adversary(&w);
    worker.join().unwrap();
    adversary.join().unwrap();
    let _ = guard.shutdown();
    tally.record(&w.resource, signalled.load(loom::sync::atomic::Ordering::SeqCst));
}

/// (a) Lockable's design: loom finds the worker writing after expiry, after the heartbeat thread
/// was told of the loss, and after the next holder's write. The test fails if it does not.
#[test]
fn lockable_style_client_writes_after_expiry() {
    static TALLY: Tally = Tally::new();
    let (b, bound) = builder();
    b.check(|| lockable_execution(&TALLY));
    TALLY.report("lockable_style_client_writes_after_expiry", bound);
    assert!(TALLY.after_expiry.load(Relaxed) > 0, "loom found no write after expiry");
    assert!(
        TALLY.after_loss_signal.load(Relaxed) > 0,
        "loom found no write after the loss was signalled on the heartbeat thread"
    );
    assert!(TALLY.stale.load(Relaxed) > 0, "loom found no stale write");
}

/// (b) The guard with a resource that checks tokens: in every interleaving no write is attempted
/// after the loss was signalled and no stale write is applied — and the run is not vacuous (the
/// loss is signalled in some executions, the worker's writes applied in others).
#[test]
fn guard_never_writes_after_loss_or_stale() {
    static TALLY: Tally = Tally::new();
    let (b, bound) = builder();
    b.check(|| guard_execution(&TALLY, Fence::HighestToken));
    TALLY.report("guard_never_writes_after_loss_or_stale", bound);
    assert_eq!(TALLY.after_loss_signal.load(Relaxed), 0, "a write after the loss signal");
    assert_eq!(TALLY.stale.load(Relaxed), 0, "a stale write was applied");
    assert!(TALLY.loss_signalled.load(Relaxed) > 0, "vacuous: the loss was never signalled");
    assert!(TALLY.worker_wrote.load(Relaxed) > 0, "vacuous: the worker never wrote");
}

/// (c) The limit of any client-side check: with a resource that ignores tokens, loom finds the
/// stale write through the guard too — the TTL elapses between the permit's check and the write
/// reaching the resource, and the next holder writes first. The guard's own promise (nothing
/// after the loss signal) still holds. This is why the guard hands out the token.
#[test]
fn guard_without_a_fencing_resource_still_admits_a_stale_write() {
    static TALLY: Tally = Tally::new();
    let (b, bound) = builder();
    b.check(|| guard_execution(&TALLY, Fence::None));
    TALLY.report("guard_without_a_fencing_resource_still_admits_a_stale_write", bound);
    assert!(TALLY.stale.load(Relaxed) > 0, "loom found no stale write without the fence");
    assert_eq!(TALLY.after_loss_signal.load(Relaxed), 0, "a write after the loss signal");
}

/// (d) Clean shutdown: a worker keeps writing while the main thread shuts the guard down, with
/// no expiry. Shutdown must record the release (waiting for an in-flight permit) before it
/// releases at the server, so no write lands once the lock is free: every applied write found its
/// lease live at the server.
#[test]
fn guard_shutdown_releases_only_after_the_last_write() {
    static TALLY: Tally = Tally::new();
    let (b, bound) = builder();
    b.check(|| {
        let w = world(Fence::HighestToken);
        let config =
            GuardConfig { ttl_ms: TTL_MS, heartbeat_interval_ms: TTL_MS / 3, drift_margin_ms: 0, max_beats: Some(1) };
        let guard = LeaseGuard::acquire(w.server.clone(), w.clock.clone(), LOCK, config, Box::new(|_| {}))
            .unwrap()
            .expect("the lock is free");
        let handle = guard.handle();
        let resource = w.resource.clone();
        let worker = thread::spawn(move || {
            for _ in 0..WRITES {
                if handle.write(|token| resource.write(WORKER, token, Some(token))).is_err() {
                    break;
                }
            }
        });
        assert_eq!(guard.shutdown(), Ok(true), "nothing else frees the lock");
        worker.join().unwrap();
        assert_eq!(w.server.live_token(LOCK), None, "released");
        TALLY.record(&w.resource, false);
    });
    TALLY.report("guard_shutdown_releases_only_after_the_last_write", bound);
    assert_eq!(TALLY.after_expiry.load(Relaxed), 0, "a write landed after the release");
    assert!(TALLY.worker_wrote.load(Relaxed) > 0, "vacuous: the worker never wrote");
}
