//! Linearizability checker benchmarks on generated histories (deterministic seeds).
//!
//! Run: `cargo bench -p locklab-lincheck --bench lincheck`. Each benchmark checks one
//! pre-generated history; the time is per full check (single thread). The histories are
//! linearizable by construction, so every check must explore to the end — except the
//! `kv_append_get` ones marked non-linearizable (a stale read at 90%), which must be
//! refuted.

use divan::Bencher;
use locklab_lincheck::gen::{self, KvGen, LockGen, RegisterGen};
use locklab_lincheck::specs::{CasRegisterSpec, FencingSpec, KvSpec, LeaseSpec, MutexSpec};
use locklab_lincheck::{check, check_within, Limits, Verdict};

fn main() {
    divan::main();
}

const TTL_NS: u64 = 3_000_000;

fn lock_gen(ops: usize, ttl_ns: Option<u64>, fencing: bool, info_prob: f64) -> LockGen {
    LockGen { seed: 42, ops, clients: 6, keys: 1, ttl_ns, fencing, info_prob, ..LockGen::default() }
}

/// Mutex history, 6 clients, 1% crashed operations.
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 10)]
fn mutex(bencher: Bencher, ops: usize) {
    let history = gen::lock_history(&lock_gen(ops, None, false, 0.01));
    bencher.bench(|| {
        let result = check(&MutexSpec, &history, None).unwrap();
        assert_eq!(result.verdict, Verdict::Linearizable);
        result.stats.states
    });
}

/// Lease history (TTL 3 ms), 6 clients, 0.2% crashed operations.
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 10)]
fn lease(bencher: Bencher, ops: usize) {
    let history = gen::lock_history(&lock_gen(ops, Some(TTL_NS), false, 0.002));
    bencher.bench(|| {
        let result = check(&LeaseSpec { ttl_ns: TTL_NS }, &history, None).unwrap();
        assert_eq!(result.verdict, Verdict::Linearizable);
        result.stats.states
    });
}

/// Fencing-token lease history, 6 clients, no crashed operations (crashed acquires on
/// a fencing lease are the checker's weak spot: see the README).
#[divan::bench(args = [10_000, 100_000], sample_count = 10)]
fn fencing(bencher: Bencher, ops: usize) {
    let history = gen::lock_history(&lock_gen(ops, Some(TTL_NS), true, 0.0));
    bencher.bench(|| {
        let result = check(&FencingSpec { ttl_ns: Some(TTL_NS) }, &history, None).unwrap();
        assert_eq!(result.verdict, Verdict::Linearizable);
        result.stats.states
    });
}

/// Mutex over 8 locks, 8 clients: P-compositionality splits it into 8 partitions.
#[divan::bench(args = [100_000], sample_count = 10)]
fn mutex_8_keys(bencher: Bencher, ops: usize) {
    let history = gen::lock_history(&LockGen { keys: 8, clients: 8, ..lock_gen(ops, None, false, 0.01) });
    // One thread, as the other rows (`check` would use every core for the 8 keys).
    let limits = Limits { threads: Some(1), ..Limits::default() };
    bencher.bench(|| {
        let result = check_within(&MutexSpec, &history, &limits).unwrap();
        assert_eq!(result.verdict, Verdict::Linearizable);
        result.stats.states
    });
}

/// Compare-and-set register, 5 clients, 5 values, many crashed operations
/// (`info_percent`% of operations never return).
#[divan::bench(args = [(1_000, 10), (1_000, 30), (10_000, 10)], sample_count = 10)]
fn cas_register(bencher: Bencher, (ops, info_percent): (usize, u32)) {
    let history = gen::register_history(&RegisterGen {
        seed: 1,
        ops,
        clients: 5,
        info_prob: info_percent as f64 / 100.0,
        ..RegisterGen::default()
    });
    bencher.bench(|| {
        let result = check(&CasRegisterSpec::default(), &history, None).unwrap();
        assert_eq!(result.verdict, Verdict::Linearizable);
        result.stats.states
    });
}

/// Jepsen-sized key-value history (issue 10 item 13): 2 000 appends and gets, 50
/// clients, 10 keys, `info_percent`% crashed; `stale` = a stale read at 90% (must be
/// refuted). One thread (`Limits::threads = Some(1)`): the partitions one after another.
#[divan::bench(args = [(false, 0), (false, 10), (true, 0), (true, 10), (true, 30)], sample_count = 10)]
fn kv_append_get(bencher: Bencher, (stale, info_percent): (bool, u32)) {
    let history = gen::kv_history(&KvGen {
        seed: 1,
        ops: 2000,
        clients: 50,
        keys: 10,
        info_prob: info_percent as f64 / 100.0,
        stale_read_at: stale.then_some(0.9),
        ..KvGen::default()
    });
    let limits = Limits { threads: Some(1), ..Limits::default() };
    bencher.bench(|| {
        let result = check_within(&KvSpec::default(), &history, &limits).unwrap();
        assert_eq!(matches!(result.verdict, Verdict::NotLinearizable(_)), stale);
        assert_ne!(result.verdict, Verdict::Unknown);
        result.stats.states
    });
}
