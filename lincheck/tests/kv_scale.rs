//! Issue 10 item 13: a 50-client append/get history over 10 keys (~2 000 operations,
//! the size of Jepsen's kv tests), from lincheck's own generator: refuted fast, and the
//! partitions are checked concurrently, stopping at the first refuted one.

use std::time::{Duration, Instant};

use locklab_lincheck::gen::{self, KvGen};
use locklab_lincheck::specs::{KvOp, KvRet, KvSpec};
use locklab_lincheck::{check_within, Guard, Limits, Operation, PartitionOutcome, Verdict};

fn jepsen_sized(seed: u64, info_prob: f64, stale: bool) -> Vec<Operation<KvOp, KvRet>> {
    gen::kv_history(&KvGen {
        seed,
        ops: 2000,
        clients: 50,
        keys: 10,
        info_prob,
        stale_read_at: stale.then_some(0.9),
        ..KvGen::default()
    })
}

fn limits(max_states: Option<u64>, threads: Option<usize>) -> Limits {
    Limits { guard: Guard::new(Some(Duration::from_secs(60)), None), max_states, threads }
}

/// The dead-end pruning (`Spec::monotone` + `Spec::unreachable` on the kv spec) is what
/// makes these cheap: with 100 000 states per key, deterministic, every history gets its
/// verdict (without the pruning, a 10%-crashed one needs millions of states per key).
#[test]
fn kv_append_get_histories_get_a_verdict_within_100k_states_per_key() {
    for seed in 1..=3 {
        for info_prob in [0.0, 0.1, 0.3] {
            let ok = jepsen_sized(seed, info_prob, false);
            let result = check_within(&KvSpec::default(), &ok, &limits(Some(100_000), None)).unwrap();
            assert_eq!(result.verdict, Verdict::Linearizable, "seed {seed} info {info_prob}");
            let bad = jepsen_sized(seed, info_prob, true);
            let result = check_within(&KvSpec::default(), &bad, &limits(Some(100_000), None)).unwrap();
            assert!(
                matches!(result.verdict, Verdict::NotLinearizable(_)),
                "seed {seed} info {info_prob}: {:?} after {} states",
                result.verdict,
                result.stats.states
            );
        }
    }
}

#[test]
fn the_stale_read_is_the_reported_violation() {
    let bad = jepsen_sized(1, 0.1, true);
    let result = check_within(&KvSpec::default(), &bad, &limits(None, Some(1))).unwrap();
    let Verdict::NotLinearizable(v) = &result.verdict else { panic!("{:?}", result.verdict) };
    // The generator's stale get is the only get whose value lacks a completed append.
    let stale = v.unplaced.iter().find(|&&i| bad[i].input == KvOp::Get);
    assert!(stale.is_some(), "a get could not be placed: {v:?}");
    assert_eq!(bad[*stale.unwrap()].key, v.key);
}

/// Same verdict and same reported key on one thread and on all cores; the violation is
/// the first refuted key in key order even when several are refuted.
#[test]
fn threads_do_not_change_the_outcome() {
    let mut two_bad = jepsen_sized(4, 0.1, true);
    // A second stale read on another key: rename the keys of a second bad history.
    let other: Vec<_> = jepsen_sized(5, 0.1, true)
        .into_iter()
        .map(|mut op| {
            op.key = format!("z{}", op.key);
            op.process += 1000;
            op
        })
        .collect();
    two_bad.extend(other);
    let one = check_within(&KvSpec::default(), &two_bad, &limits(Some(200_000), Some(1))).unwrap();
    let all = check_within(&KvSpec::default(), &two_bad, &limits(Some(200_000), None)).unwrap();
    let two = check_within(&KvSpec::default(), &two_bad, &limits(Some(200_000), Some(2))).unwrap();
    assert!(matches!(one.verdict, Verdict::NotLinearizable(_)));
    assert_eq!(one.verdict, all.verdict);
    assert_eq!(one.verdict, two.verdict);
    assert_eq!(one.partitions, all.partitions);
    assert_eq!(one.partitions, two.partitions);
    let Verdict::NotLinearizable(v) = &one.verdict else { unreachable!() };
    let first_refuted = one.partitions.iter().find(|p| p.outcome == PartitionOutcome::NotLinearizable).unwrap();
    assert_eq!(v.key, first_refuted.key);
    assert!(!v.key.starts_with('z'), "the k-keys come first in key order: {}", v.key);
}

/// A refuted key stops the keys after it: a hopeless partition (crashed puts with
/// distinct values, then a read of a value nobody put: 2^60 subsets) after a refuted one
/// does not keep the check running.
#[test]
fn a_refuted_key_cancels_the_hopeless_keys_after_it() {
    let mut history = jepsen_sized(1, 0.0, true); // keys k0..k9, one refuted
    for i in 0..60u64 {
        history.push(Operation {
            process: 500 + i,
            key: "zz".into(),
            call_ns: i * 10,
            return_ns: None,
            input: KvOp::Put(format!("v{i}")),
            output: None,
        });
    }
    history.push(Operation {
        process: 999,
        key: "zz".into(),
        call_ns: 1000,
        return_ns: Some(1010),
        input: KvOp::Get,
        output: Some(KvRet::Value(Some("nobody".into()))),
    });
    for threads in [Some(1), None] {
        let started = Instant::now();
        let result = check_within(&KvSpec::default(), &history, &limits(None, threads)).unwrap();
        assert!(matches!(result.verdict, Verdict::NotLinearizable(_)), "{threads:?}: {:?}", result.verdict);
        let zz = result.partitions.iter().find(|p| p.key == "zz").unwrap();
        assert_eq!(zz.outcome, PartitionOutcome::Unknown, "cancelled, not searched to the end");
        assert!(started.elapsed() < Duration::from_secs(20), "{threads:?}: {:?}", started.elapsed());
    }
}
