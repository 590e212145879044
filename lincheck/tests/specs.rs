//! Hand-built histories for every spec: each linearizable case has a twin that differs
//! in one observation and is not.

use std::time::Duration;

use locklab_lincheck::gen::{self, LockGen, RegisterGen};
use locklab_lincheck::specs::*;
use locklab_lincheck::{check, check_with_options, CheckOptions, Operation, Spec, Verdict};

fn done<I, O>(process: u64, call_ns: u64, return_ns: u64, input: I, output: O) -> Operation<I, O> {
    Operation { process, key: "k".into(), call_ns, return_ns: Some(return_ns), input, output: Some(output) }
}

fn info<I, O>(process: u64, call_ns: u64, input: I) -> Operation<I, O> {
    Operation { process, key: "k".into(), call_ns, return_ns: None, input, output: None }
}

fn verdict<S: Spec>(spec: &S, history: &[Operation<S::Input, S::Output>]) -> Verdict {
    check(spec, history, None).expect("valid history").verdict
}

fn is_lin<S: Spec>(spec: &S, history: &[Operation<S::Input, S::Output>]) -> bool {
    match verdict(spec, history) {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(_) => false,
        Verdict::Unknown => panic!("no budget was given, the verdict must be definite"),
    }
}

const OK: LockRet = LockRet::Ok { token: None };
const FAIL: LockRet = LockRet::Fail;
use LockOp::{Acquire, Extend, Release};

fn tok(t: u64) -> LockRet {
    LockRet::Ok { token: Some(t) }
}

// ---------------------------------------------------------------- mutex

#[test]
fn mutex_sequential_handover_is_linearizable() {
    let h = [
        done(1, 0, 10, Acquire, OK),
        done(2, 12, 14, Acquire, FAIL),
        done(1, 20, 30, Release, OK),
        done(2, 40, 50, Acquire, OK),
        done(1, 41, 45, Release, FAIL),
    ];
    assert!(is_lin(&MutexSpec, &h));
}

#[test]
fn mutex_two_grants_without_release_are_not_linearizable() {
    let h = [done(1, 0, 10, Acquire, OK), done(2, 20, 30, Acquire, OK)];
    match verdict(&MutexSpec, &h) {
        Verdict::NotLinearizable(v) => {
            assert_eq!(v.key, "k");
            assert_eq!(v.longest_prefix, vec![0]);
            assert_eq!(v.unplaced, vec![1]);
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn mutex_concurrent_fail_may_linearize_after_the_grant() {
    // B's fail overlaps A's acquire: it can take effect after it.
    let ok = [done(1, 0, 10, Acquire, OK), done(2, 5, 15, Acquire, FAIL)];
    assert!(is_lin(&MutexSpec, &ok));
    // B's fail ends before A's acquire starts: the lock was free, so a fail is illegal.
    let bad = [done(2, 0, 3, Acquire, FAIL), done(1, 5, 10, Acquire, OK)];
    assert!(!is_lin(&MutexSpec, &bad));
}

#[test]
fn mutex_release_by_non_holder_is_not_linearizable() {
    let h = [done(1, 0, 10, Acquire, OK), done(2, 20, 30, Release, OK)];
    assert!(!is_lin(&MutexSpec, &h));
    let h = [done(1, 0, 10, Acquire, OK), done(1, 20, 30, Release, FAIL)];
    assert!(!is_lin(&MutexSpec, &h), "the holder's release cannot fail");
}

#[test]
fn mutex_crashed_acquire_may_or_may_not_take_effect() {
    // The crashed acquire explains B's fail...
    let h = [info(1, 0, Acquire), done(2, 10, 20, Acquire, FAIL)];
    assert!(is_lin(&MutexSpec, &h));
    // ...or never happened, which explains B's grant.
    let h = [info(1, 0, Acquire), done(2, 10, 20, Acquire, OK)];
    assert!(is_lin(&MutexSpec, &h));
    // It cannot do both: B's fail needs it held, C's later grant needs it free.
    let h = [info(1, 0, Acquire), done(2, 10, 20, Acquire, FAIL), done(3, 30, 40, Acquire, OK)];
    assert!(!is_lin(&MutexSpec, &h));
}

#[test]
fn mutex_rejects_what_every_lease_does_after_expiry() {
    let h = [done(1, 0, 10, Acquire, OK), done(2, 500, 510, Acquire, OK)];
    assert!(!is_lin(&MutexSpec, &h));
    assert!(is_lin(&LeaseSpec { ttl_ns: 100 }, &h));
}

// ---------------------------------------------------------------- lease

const LEASE: LeaseSpec = LeaseSpec { ttl_ns: 100 };

#[test]
fn lease_grant_before_expiry_is_not_linearizable() {
    let h = [done(1, 0, 10, Acquire, OK), done(2, 50, 60, Acquire, OK)];
    assert!(!is_lin(&LEASE, &h));
}

#[test]
fn lease_expiry_boundary_is_inclusive() {
    // A's point >= 0, so its lease ends at >= 100; a grant at exactly 100 is legal.
    let h = [done(1, 0, 10, Acquire, OK), done(2, 100, 100, Acquire, OK)];
    assert!(is_lin(&LEASE, &h));
    let h = [done(1, 0, 10, Acquire, OK), done(2, 99, 99, Acquire, OK)];
    assert!(!is_lin(&LEASE, &h));
}

#[test]
fn lease_needs_a_point_that_is_neither_earliest_nor_latest() {
    // B's fail at 110 needs A's point > 10; C's grant at 140 needs A's point <= 40.
    // Linearizing A at its earliest (0) or latest (50) point would both be wrong.
    let h = [done(1, 0, 50, Acquire, OK), done(2, 110, 110, Acquire, FAIL), done(3, 140, 140, Acquire, OK)];
    assert!(is_lin(&LEASE, &h));
    // If A must return by 8, its point is <= 8 and B's fail at 110 is impossible.
    let h = [done(1, 0, 8, Acquire, OK), done(2, 110, 110, Acquire, FAIL), done(3, 140, 140, Acquire, OK)];
    assert!(!is_lin(&LEASE, &h));
}

#[test]
fn lease_release_after_expiry_fails_and_pins_the_grant_point() {
    // B's fail at 110 needs A's point >= 11; A's failed release at 120 (expired) needs
    // A's point <= 20: satisfiable.
    let h = [done(1, 0, 50, Acquire, OK), done(2, 110, 110, Acquire, FAIL), done(1, 120, 120, Release, FAIL)];
    assert!(is_lin(&LEASE, &h));
    // B's fail at 130 needs A's point >= 31: contradiction.
    let h = [done(1, 0, 50, Acquire, OK), done(1, 120, 120, Release, FAIL), done(2, 130, 130, Acquire, FAIL)];
    assert!(!is_lin(&LEASE, &h));
}

#[test]
fn lease_extend_moves_the_expiry() {
    let extended = [done(1, 0, 10, Acquire, OK), done(1, 90, 95, Extend, OK), done(2, 150, 160, Acquire, FAIL)];
    assert!(is_lin(&LEASE, &extended));
    let not_extended = [done(1, 0, 10, Acquire, OK), done(2, 150, 160, Acquire, FAIL)];
    assert!(!is_lin(&LEASE, &not_extended));
    // Extending an expired lease is illegal.
    let late = [done(1, 0, 10, Acquire, OK), done(1, 200, 210, Extend, OK)];
    assert!(!is_lin(&LEASE, &late));
}

/// Lazy expiry (etcd's lessor revokes expired leases later): the TTL is a lower bound. A
/// holder's release or keep-alive after it may still succeed, and another's acquire may still
/// be refused — until someone else is granted the lock.
#[test]
fn lazy_lease_ends_at_its_ttl_or_later() {
    const LAZY: LazyLeaseSpec = LazyLeaseSpec { ttl_ns: 100, session: false };
    // A release and a keep-alive answered OK after the TTL: illegal for an exact lease,
    // legal for a lazily revoked one.
    let late_release = [done(1, 0, 10, Acquire, OK), done(1, 200, 210, Release, OK)];
    assert!(!is_lin(&LEASE, &late_release));
    assert!(is_lin(&LAZY, &late_release));
    let late_extend = [done(1, 0, 10, Acquire, OK), done(1, 200, 210, Extend, OK), done(2, 250, 260, Acquire, FAIL)];
    assert!(!is_lin(&LEASE, &late_extend));
    assert!(is_lin(&LAZY, &late_extend));
    // Still a lease: nobody else before the TTL, and once another is granted the old lease has
    // ended — its holder's release cannot succeed after that grant.
    let early = [done(1, 0, 10, Acquire, OK), done(2, 50, 60, Acquire, OK)];
    assert!(!is_lin(&LAZY, &early));
    let after_handover = [done(1, 0, 10, Acquire, OK), done(2, 150, 160, Acquire, OK), done(1, 200, 210, Release, OK)];
    assert!(!is_lin(&LAZY, &after_handover));
    // A keep-alive answered OK, then another granted within its TTL: the keep-alive race.
    let race = [done(1, 0, 10, Acquire, OK), done(1, 90, 95, Extend, OK), done(2, 150, 160, Acquire, OK)];
    assert!(!is_lin(&LAZY, &race));
    let fenced = [done(1, 0, 10, Acquire, tok(1)), done(1, 200, 210, Release, OK), done(2, 220, 230, Acquire, tok(2))];
    assert!(is_lin(&LazyFencingSpec { ttl_ns: 100, session: false }, &fenced));
}

/// A session lease (etcd's `Session`, reused by every `Mutex.Lock`) runs from its last
/// keep-alive, which the lock history need not show: an acquire bounds nothing, so another
/// client granted the lock soon after is no violation — but the holder's keep-alive still does,
/// and fencing tokens must still rise.
#[test]
fn a_session_lease_takes_no_expiry_from_the_acquire() {
    const SESSION: LazyLeaseSpec = LazyLeaseSpec { ttl_ns: 100, session: true };
    const LAZY: LazyLeaseSpec = LazyLeaseSpec { ttl_ns: 100, session: false };
    let early = [done(1, 0, 10, Acquire, OK), done(2, 50, 60, Acquire, OK)];
    assert!(!is_lin(&LAZY, &early), "a lease started by the acquire lasts its TTL");
    assert!(is_lin(&SESSION, &early), "a session lease may have been near its end already");
    let race = [done(1, 0, 10, Acquire, OK), done(1, 20, 25, Extend, OK), done(2, 50, 60, Acquire, OK)];
    assert!(!is_lin(&SESSION, &race), "a keep-alive answered OK bounds the expiry");
    let fenced_spec = LazyFencingSpec { ttl_ns: 100, session: true };
    let backwards = [done(1, 0, 10, Acquire, tok(2)), done(2, 50, 60, Acquire, tok(1))];
    assert!(!is_lin(&fenced_spec, &backwards), "tokens still rise");
}

#[test]
fn lease_crashed_acquire_may_take_effect_late() {
    // A crashed acquire has no upper bound on its point: it can explain a fail at 500.
    let h = [info(1, 0, Acquire), done(2, 500, 510, Acquire, FAIL)];
    assert!(is_lin(&LEASE, &h));
    // A completed acquire cannot.
    let h = [done(1, 0, 10, Acquire, OK), done(2, 500, 510, Acquire, FAIL)];
    assert!(!is_lin(&LEASE, &h));
}

// ---------------------------------------------------------------- fencing

#[test]
fn fencing_tokens_must_increase() {
    let h = [done(1, 0, 10, Acquire, tok(1)), done(1, 20, 30, Release, OK), done(2, 40, 50, Acquire, tok(2))];
    assert!(is_lin(&FencingSpec::default(), &h));
    let h = [done(1, 0, 10, Acquire, tok(2)), done(1, 20, 30, Release, OK), done(2, 40, 50, Acquire, tok(1))];
    assert!(!is_lin(&FencingSpec::default(), &h));
    assert!(is_lin(&MutexSpec, &h), "the mutex spec ignores tokens");
}

#[test]
fn fencing_order_follows_linearization_not_call_order() {
    // Two concurrent acquires: the one with the smaller token must be first, and must
    // release before the other is granted.
    let h = [done(1, 0, 100, Acquire, tok(7)), done(2, 0, 100, Acquire, tok(3)), done(2, 10, 20, Release, OK)];
    assert!(is_lin(&FencingSpec::default(), &h));
    let h = [done(1, 0, 100, Acquire, tok(3)), done(2, 0, 100, Acquire, tok(7)), done(2, 10, 20, Release, OK)];
    assert!(!is_lin(&FencingSpec::default(), &h));
}

#[test]
fn fencing_lease_mode_and_crashed_grants() {
    let spec = FencingSpec { ttl_ns: Some(100) };
    let h = [done(1, 0, 10, Acquire, tok(1)), done(2, 200, 210, Acquire, tok(2))];
    assert!(is_lin(&spec, &h));
    let h = [done(1, 0, 10, Acquire, tok(5)), done(2, 200, 210, Acquire, tok(5))];
    assert!(!is_lin(&spec, &h));
    // A crashed acquire that took effect consumed a token > 1, so token 2 is fine, but
    // it must have happened (B's fail at 20 needs a holder)...
    let h = [
        done(1, 0, 10, Acquire, tok(1)),
        done(1, 11, 12, Release, OK),
        info(3, 13, Acquire),
        done(2, 20, 30, Acquire, FAIL),
        done(4, 300, 310, Acquire, tok(2)),
    ];
    assert!(!is_lin(&spec, &h), "the crashed grant used a token >= 2");
    let mut h = h;
    h[4].output = Some(tok(3));
    assert!(is_lin(&spec, &h));
}

// ---------------------------------------------------------------- cas register

use RegisterOp::{Cas, Read, Write};
use RegisterRet::Value;

#[test]
fn register_reads_see_the_latest_write() {
    let spec = CasRegisterSpec::default();
    let h = [done(1, 0, 10, Write(1), RegisterRet::Ok), done(2, 20, 30, Read, Value(Some(1)))];
    assert!(is_lin(&spec, &h));
    let h = [done(1, 0, 10, Write(1), RegisterRet::Ok), done(2, 20, 30, Read, Value(Some(2)))];
    assert!(!is_lin(&spec, &h));
}

#[test]
fn register_new_old_inversion_is_not_linearizable() {
    let spec = CasRegisterSpec::default();
    let mut h = vec![
        done(1, 0, 100, Write(1), RegisterRet::Ok),
        done(2, 10, 20, Read, Value(None)),
        done(3, 30, 40, Read, Value(Some(1))),
    ];
    assert!(is_lin(&spec, &h));
    h.push(done(4, 50, 60, Read, Value(None)));
    assert!(!is_lin(&spec, &h));
}

#[test]
fn register_cas_fail_means_the_comparison_failed() {
    let spec = CasRegisterSpec::default();
    let h = [
        done(1, 0, 10, Write(1), RegisterRet::Ok),
        done(1, 20, 30, Cas { from: 1, to: 2 }, RegisterRet::Ok),
        done(2, 40, 50, Cas { from: 1, to: 3 }, RegisterRet::Fail),
        done(2, 60, 70, Read, Value(Some(2))),
    ];
    assert!(is_lin(&spec, &h));
    let h = [done(1, 0, 10, Write(2), RegisterRet::Ok), done(2, 40, 50, Cas { from: 2, to: 3 }, RegisterRet::Fail)];
    assert!(!is_lin(&spec, &h));
}

#[test]
fn register_crashed_write_takes_effect_at_most_once() {
    let spec = CasRegisterSpec::default();
    let mut h = vec![
        done(1, 0, 10, Write(1), RegisterRet::Ok),
        info(2, 20, Write(2)),
        done(3, 30, 40, Read, Value(Some(1))),
        done(3, 50, 60, Read, Value(Some(2))),
    ];
    assert!(is_lin(&spec, &h), "the crashed write took effect between the reads");
    h.push(done(3, 70, 80, Read, Value(Some(1))));
    assert!(!is_lin(&spec, &h), "value 1 cannot come back");
}

#[test]
fn register_crashed_cas_applies_only_if_comparison_holds() {
    let spec = CasRegisterSpec::default();
    let h = [
        done(1, 0, 10, Write(1), RegisterRet::Ok),
        info(2, 20, Cas { from: 5, to: 2 }),
        done(3, 50, 60, Read, Value(Some(2))),
    ];
    assert!(!is_lin(&spec, &h));
    let h = [
        done(1, 0, 10, Write(5), RegisterRet::Ok),
        info(2, 20, Cas { from: 5, to: 2 }),
        done(3, 50, 60, Read, Value(Some(2))),
    ];
    assert!(is_lin(&spec, &h));
}

// ---------------------------------------------------------------- kv

#[test]
fn kv_append_order_is_visible() {
    let h = [
        done(1, 0, 10, KvOp::Put("a".into()), KvRet::Ok),
        done(1, 20, 30, KvOp::Append("b".into()), KvRet::Ok),
        done(2, 25, 45, KvOp::Append("c".into()), KvRet::Ok),
        done(3, 50, 60, KvOp::Get, KvRet::Value(Some("acb".into()))),
    ];
    assert!(is_lin(&KvSpec::default(), &h), "the appends overlap, either order is fine");
    let mut bad = h.clone();
    bad[3].output = Some(KvRet::Value(Some("ca".into())));
    assert!(!is_lin(&KvSpec::default(), &bad));
    let mut bad = h.clone();
    bad[2].call_ns = 31;
    bad[3].output = Some(KvRet::Value(Some("acb".into())));
    assert!(!is_lin(&KvSpec::default(), &bad), "now b is appended before c starts");
}

#[test]
fn kv_get_of_absent_key_and_crashed_append() {
    let h = [
        done(1, 0, 10, KvOp::Get, KvRet::Value(None)),
        info(2, 20, KvOp::Append("x".into())),
        done(1, 30, 40, KvOp::Get, KvRet::Value(Some("x".into()))),
        done(1, 50, 60, KvOp::Get, KvRet::Value(Some("x".into()))),
    ];
    assert!(is_lin(&KvSpec::default(), &h));
    let mut bad = h.to_vec();
    bad.push(done(1, 70, 80, KvOp::Get, KvRet::Value(Some("xx".into()))));
    assert!(!is_lin(&KvSpec::default(), &bad), "a crashed append takes effect at most once");
}

/// Issue 10 item 12: a fresh key read as `""` (Porcupine's kv model, `Init` = `""`) or as
/// `nil` (Jepsen) is legal by default; `absent` and `empty` hold a service to one reading.
#[test]
fn kv_initial_value_of_a_fresh_key() {
    use locklab_lincheck::specs::KvInitial;
    let empty_read = [
        done(1, 0, 10, KvOp::Get, KvRet::Value(Some(String::new()))),
        done(1, 20, 30, KvOp::Append("x".into()), KvRet::Ok),
        done(2, 40, 50, KvOp::Get, KvRet::Value(Some("x".into()))),
    ];
    let nil_read = [
        done(1, 0, 10, KvOp::Get, KvRet::Value(None)),
        done(1, 20, 30, KvOp::Append("x".into()), KvRet::Ok),
        done(2, 40, 50, KvOp::Get, KvRet::Value(Some("x".into()))),
    ];
    assert!(is_lin(&KvSpec::default(), &empty_read));
    assert!(is_lin(&KvSpec::default(), &nil_read));
    assert!(is_lin(&KvSpec::new(KvInitial::Empty), &empty_read));
    assert!(!is_lin(&KvSpec::new(KvInitial::Empty), &nil_read));
    assert!(!is_lin(&KvSpec::new(KvInitial::Absent), &empty_read));
    assert!(is_lin(&KvSpec::new(KvInitial::Absent), &nil_read));
    // Once written, even with "", a key is present: nil is no longer a legal read.
    let put_empty_then_nil =
        [done(1, 0, 10, KvOp::Put(String::new()), KvRet::Ok), done(2, 20, 30, KvOp::Get, KvRet::Value(None))];
    assert!(!is_lin(&KvSpec::default(), &put_empty_then_nil));
    // A read of "" after an append is illegal under every reading.
    let stale = [
        done(1, 0, 10, KvOp::Append("x".into()), KvRet::Ok),
        done(2, 20, 30, KvOp::Get, KvRet::Value(Some(String::new()))),
    ];
    for initial in [KvInitial::Either, KvInitial::Absent, KvInitial::Empty] {
        assert!(!is_lin(&KvSpec::new(initial), &stale), "{initial:?}");
    }
}

// ---------------------------------------------------------------- P-compositionality

fn keyed<I, O>(mut op: Operation<I, O>, key: &str) -> Operation<I, O> {
    op.key = key.into();
    op
}

#[test]
fn partitions_are_independent_objects() {
    // Same history, one lock: two grants. Two locks: fine.
    let one = [done(1, 0, 10, Acquire, OK), done(2, 20, 30, Acquire, OK)];
    assert!(!is_lin(&MutexSpec, &one));
    let two = [keyed(one[0].clone(), "a"), keyed(one[1].clone(), "b")];
    let result = check(&MutexSpec, &two, None).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert_eq!(result.stats.partitions, 2);
    assert_eq!(result.partitions[0].linearization, vec![0]);
    assert_eq!(result.partitions[1].linearization, vec![1]);
}

#[test]
fn one_bad_partition_makes_the_history_bad_and_is_named() {
    let h = [
        keyed(done(1, 0, 10, Acquire, OK), "good"),
        keyed(done(1, 20, 30, Release, OK), "good"),
        keyed(done(1, 0, 10, Acquire, OK), "zbad"),
        keyed(done(2, 20, 30, Acquire, OK), "zbad"),
        keyed(done(3, 40, 50, Acquire, OK), "good"),
    ];
    let result = check(&MutexSpec, &h, None).unwrap();
    match result.verdict {
        Verdict::NotLinearizable(v) => {
            assert_eq!(v.key, "zbad");
            assert_eq!(v.longest_prefix, vec![2]);
            assert_eq!(v.unplaced, vec![3]);
        }
        other => panic!("expected a violation, got {other:?}"),
    }
    assert_eq!(result.partitions[0].key, "good");
    assert_eq!(result.partitions[0].outcome, locklab_lincheck::PartitionOutcome::Linearizable);
    assert_eq!(result.partitions[0].linearization, vec![0, 1, 4]);
}

#[test]
fn generated_multi_key_histories_split_and_pass() {
    let history = gen::register_history(&RegisterGen { seed: 3, ops: 400, keys: 4, ..RegisterGen::default() });
    let result = check(&CasRegisterSpec::default(), &history, None).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert_eq!(result.stats.partitions, 4);
    let ops: usize = result.partitions.iter().map(|p| p.ops.len()).sum();
    assert_eq!(ops, 400);
}

// ---------------------------------------------------------------- budgets

fn hard_history() -> Vec<Operation<RegisterOp, RegisterRet>> {
    gen::register_history(&RegisterGen {
        seed: 7,
        ops: 2000,
        clients: 8,
        info_prob: 0.3,
        values: 3,
        ..RegisterGen::default()
    })
}

#[test]
fn zero_budget_gives_unknown_not_a_guess() {
    let history = hard_history();
    let result = check(&CasRegisterSpec::default(), &history, Some(Duration::ZERO)).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown);
    assert!(result.partitions.iter().all(|p| p.outcome == locklab_lincheck::PartitionOutcome::Unknown));
}

#[test]
fn state_budget_gives_unknown_and_is_deterministic() {
    let history = hard_history();
    let limited = CheckOptions { budget: None, max_states: Some(50) };
    let a = check_with_options(&CasRegisterSpec::default(), &history, &limited).unwrap();
    let b = check_with_options(&CasRegisterSpec::default(), &history, &limited).unwrap();
    assert_eq!(a.verdict, Verdict::Unknown);
    assert_eq!(a.stats.states, b.stats.states);
    assert_eq!(a.stats.steps, b.stats.steps);
    // Given room, the same (generated, hence linearizable) history passes.
    let full = check(&CasRegisterSpec::default(), &history, None).unwrap();
    assert_eq!(full.verdict, Verdict::Linearizable);
}

// ---------------------------------------------------------------- generated histories

#[test]
fn generated_lock_histories_are_linearizable_under_their_spec() {
    let mutex = gen::lock_history(&LockGen { seed: 11, ops: 2000, clients: 6, info_prob: 0.05, ..LockGen::default() });
    assert!(is_lin(&MutexSpec, &mutex));
    let lease = gen::lock_history(&LockGen {
        seed: 12,
        ops: 2000,
        clients: 6,
        ttl_ns: Some(3_000_000),
        info_prob: 0.003,
        ..LockGen::default()
    });
    assert!(is_lin(&LeaseSpec { ttl_ns: 3_000_000 }, &lease));
    let fencing = gen::lock_history(&LockGen {
        seed: 13,
        ops: 2000,
        clients: 6,
        ttl_ns: Some(3_000_000),
        fencing: true,
        info_prob: 0.003,
        ..LockGen::default()
    });
    assert!(is_lin(&FencingSpec { ttl_ns: Some(3_000_000) }, &fencing));
}

#[test]
fn generated_lease_history_violates_the_mutex_spec_and_shorter_ttls() {
    let lease =
        gen::lock_history(&LockGen { seed: 12, ops: 2000, clients: 6, ttl_ns: Some(3_000_000), ..LockGen::default() });
    // Grants after expiry are legal for the lease only.
    assert!(!is_lin(&MutexSpec, &lease));
    // A checker that believed the lease were twice as long must find a grant too early.
    assert!(!is_lin(&LeaseSpec { ttl_ns: 6_000_000 }, &lease));
}

#[test]
fn corrupting_one_output_is_detected() {
    let mut history = gen::lock_history(&LockGen { seed: 5, ops: 500, clients: 4, ..LockGen::default() });
    assert!(is_lin(&MutexSpec, &history));
    // Turn the first refused acquire into a grant: two holders at once.
    let i = history
        .iter()
        .position(|op| op.input == Acquire && op.output == Some(FAIL))
        .expect("a contended lock refuses someone");
    history[i].output = Some(OK);
    assert!(!is_lin(&MutexSpec, &history));
}

// ---------------------------------------------------------------- search order

/// The same spec with the opposite search-order hint: verdicts must not change.
struct Flipped<S>(S);

impl<S: Spec> Spec for Flipped<S> {
    type Input = S::Input;
    type Output = S::Output;
    type State = S::State;
    fn init(&self) -> S::State {
        self.0.init()
    }
    fn step(
        &self,
        state: &S::State,
        op: &Operation<S::Input, S::Output>,
        range: locklab_lincheck::PointRange,
    ) -> Option<S::State> {
        self.0.step(state, op, range)
    }
    fn crashed_first(&self) -> bool {
        !self.0.crashed_first()
    }
    fn covers(&self, explored: &S::State, candidate: &S::State) -> bool {
        self.0.covers(explored, candidate)
    }
    fn cover_hash<H: std::hash::Hasher>(&self, state: &S::State, hasher: &mut H) {
        self.0.cover_hash(state, hasher)
    }
    fn interchangeable(&self, a: &Operation<S::Input, S::Output>, b: &Operation<S::Input, S::Output>) -> bool {
        self.0.interchangeable(a, b)
    }
}

#[test]
fn search_order_hint_never_changes_the_verdict() {
    let mut register =
        gen::register_history(&RegisterGen { seed: 9, ops: 300, info_prob: 0.03, ..RegisterGen::default() });
    let spec = CasRegisterSpec::default();
    assert!(is_lin(&spec, &register));
    assert!(is_lin(&Flipped(spec), &register));
    // Make the last read impossible: both orders must find the violation.
    let last_read = register.iter().rposition(|op| op.input == Read && op.output.is_some()).unwrap();
    register[last_read].output = Some(Value(Some(99)));
    assert!(!is_lin(&spec, &register));
    assert!(!is_lin(&Flipped(spec), &register));

    let mut lease = gen::lock_history(&LockGen {
        seed: 4,
        ops: 300,
        ttl_ns: Some(3_000_000),
        info_prob: 0.01,
        ..LockGen::default()
    });
    let spec = LeaseSpec { ttl_ns: 3_000_000 };
    assert!(is_lin(&spec, &lease));
    assert!(is_lin(&Flipped(spec), &lease));
    let refused = lease.iter().rposition(|op| op.input == Acquire && op.output == Some(FAIL)).unwrap();
    lease[refused].output = Some(OK);
    assert_eq!(is_lin(&spec, &lease), is_lin(&Flipped(spec), &lease));
}

// ---------------------------------------------------------------- pruning of crashed operations

/// A process whose crashed acquire is its last act may be renamed to the ghost holder; a
/// process that still has another pending operation may not: its crashed release may take
/// effect *after* its crashed acquire (a delayed message) and free the lock.
#[test]
fn crashed_acquire_then_release_of_one_process_is_not_anonymised() {
    // p1's release (called first) and acquire both crashed: acquire, then release, frees the
    // lock for p2's later grant; p3's fail in between needs the lock held.
    let h = [info(1, 0, Release), info(1, 5, Acquire), done(3, 10, 20, Acquire, FAIL), done(2, 30, 40, Acquire, OK)];
    assert!(is_lin(&MutexSpec, &h));
    // Without p1's pending release the lock stays with p1 forever: p2's grant is illegal.
    let h = [info(1, 5, Acquire), done(3, 10, 20, Acquire, FAIL), done(2, 30, 40, Acquire, OK)];
    assert!(!is_lin(&MutexSpec, &h));
}

/// Many clients that crash while acquiring (Jepsen gives each a new process): every verdict is
/// the same as without the pruning, and the search stays small.
#[test]
fn many_crashed_acquirers_are_one_ghost() {
    let mut h = vec![done(0, 0, 10, Acquire, OK), done(0, 1_000, 1_010, Release, OK)];
    for p in 1..=40u64 {
        h.push(info(p, 20 + p, Acquire));
    }
    // Someone is refused while the lock is free (after 1,010): only a crashed acquire explains it.
    h.push(done(99, 2_000, 2_010, Acquire, FAIL));
    let result = check(&MutexSpec, &h, None).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert!(result.stats.states < 200, "{} states", result.stats.states);
    // A grant after that refusal needs the lock free again: nobody can release a ghost's lock.
    h.push(done(98, 3_000, 3_010, Acquire, OK));
    assert!(!is_lin(&MutexSpec, &h));
    // A lease does expire: the ghost's lease runs out, and the grant is legal.
    assert!(is_lin(&LeaseSpec { ttl_ns: 1_500 }, &h));
}

/// The same spec without the prunings of crashed operations (no interchangeable ops, no ghost
/// holders): the reference the pruned search must agree with.
struct Unpruned<S>(S);

impl<S: Spec> Spec for Unpruned<S> {
    type Input = S::Input;
    type Output = S::Output;
    type State = S::State;
    fn init(&self) -> S::State {
        self.0.init()
    }
    fn step(
        &self,
        state: &S::State,
        op: &Operation<S::Input, S::Output>,
        range: locklab_lincheck::PointRange,
    ) -> Option<S::State> {
        self.0.step(state, op, range)
    }
    fn crashed_first(&self) -> bool {
        self.0.crashed_first()
    }
}

/// Differential test: on small random histories with many crashed operations, half of them
/// corrupted, the prunings never change a verdict.
#[test]
fn prunings_of_crashed_operations_never_change_a_verdict() {
    let mut disagreements = Vec::new();
    let (mut lin, mut not_lin) = (0, 0);
    for seed in 0..150u64 {
        let ttl_ns = if seed % 3 == 0 { None } else { Some(3_000_000) };
        let mut h =
            gen::lock_history(&LockGen { seed, ops: 24, clients: 3, ttl_ns, info_prob: 0.25, ..LockGen::default() });
        if seed % 2 == 1 {
            if let Some(i) = h.iter().position(|op| op.output == Some(FAIL)) {
                h[i].output = Some(OK);
            }
        }
        let (pruned, reference) = match ttl_ns {
            None => (is_lin(&MutexSpec, &h), is_lin(&Unpruned(MutexSpec), &h)),
            Some(ttl_ns) => (is_lin(&LeaseSpec { ttl_ns }, &h), is_lin(&Unpruned(LeaseSpec { ttl_ns }), &h)),
        };
        if pruned != reference {
            disagreements.push(seed);
        }
        if reference {
            lin += 1;
        } else {
            not_lin += 1;
        }
        let mut r = gen::register_history(&RegisterGen {
            seed,
            ops: 24,
            clients: 3,
            info_prob: 0.25,
            ..RegisterGen::default()
        });
        if seed % 2 == 1 {
            if let Some(i) = r.iter().rposition(|op| op.input == Read && op.output.is_some()) {
                r[i].output = Some(Value(Some(1 + (seed as i64 % 3))));
            }
        }
        let spec = CasRegisterSpec::default();
        if is_lin(&spec, &r) != is_lin(&Unpruned(spec), &r) {
            disagreements.push(1000 + seed);
        }
    }
    assert!(disagreements.is_empty(), "verdicts differ on seeds {disagreements:?}");
    // Both verdicts occur, so the comparison means something.
    assert!(lin > 10 && not_lin > 10, "{lin} linearizable, {not_lin} not");
}
