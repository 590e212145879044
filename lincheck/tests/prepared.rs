//! A [`Prepared`] history checked against several specs gives, spec by spec, exactly what a fresh
//! [`check_within`] gives: the same verdict, partition reports and search statistics — whether the
//! second spec reuses the first one's search skeletons (the lock specs make the same pruning
//! decisions) or needs its own (a spec that prunes nothing).

use locklab_lincheck::gen::{lock_history, LockGen};
use locklab_lincheck::specs::{FencingSpec, LeaseSpec, LockOp, LockRet, LockState, MutexSpec};
use locklab_lincheck::{check_within, Guard, Limits, Operation, PointRange, Prepared, Spec, Verdict};

/// The mutex without the optional prunings: other decisions, so no shared skeleton.
struct Unpruned;

impl Spec for Unpruned {
    type Input = LockOp;
    type Output = LockRet;
    type State = LockState;
    fn init(&self) -> LockState {
        MutexSpec.init()
    }
    fn step(&self, state: &LockState, op: &Operation<LockOp, LockRet>, range: PointRange) -> Option<LockState> {
        MutexSpec.step(state, op, range)
    }
}

fn limits(threads: Option<usize>) -> Limits {
    Limits { guard: Guard::new(None, None), max_states: Some(20_000), threads }
}

/// A generated history with a few outputs flipped (so that some are not linearizable).
fn history(seed: u64) -> Vec<Operation<LockOp, LockRet>> {
    let config = LockGen {
        seed,
        ops: 80,
        clients: 3,
        keys: 1 + (seed % 3) as usize,
        ttl_ns: Some(3_000_000),
        fencing: seed.is_multiple_of(2),
        info_prob: 0.1,
        ..LockGen::default()
    };
    let mut h = lock_history(&config);
    for k in 0..(seed % 3) as usize {
        let i = (seed as usize * 7 + k * 13) % h.len();
        h[i].output = match h[i].output {
            Some(LockRet::Fail) => Some(LockRet::Ok { token: None }),
            Some(LockRet::Ok { .. }) => Some(LockRet::Fail),
            None => None,
        };
    }
    h
}

fn same<S: Spec<Input = LockOp, Output = LockRet>>(
    spec: &S,
    prepared: &Prepared<LockOp, LockRet>,
    h: &[Operation<LockOp, LockRet>],
    threads: Option<usize>,
) -> Verdict {
    let fresh = check_within(spec, h, &limits(threads)).expect("valid");
    let reused = prepared.check(spec, &limits(threads));
    assert_eq!(reused.verdict, fresh.verdict);
    assert_eq!(reused.partitions, fresh.partitions);
    if threads == Some(1) {
        // (With threads, cancelled searches make the statistics scheduling-dependent.)
        assert_eq!(
            (reused.stats.steps, reused.stats.states, reused.stats.cache_hits),
            (fresh.stats.steps, fresh.stats.states, fresh.stats.cache_hits)
        );
    }
    fresh.verdict
}

#[test]
fn prepared_checks_match_fresh_checks() {
    let (mut refuted, mut linearizable) = (0, 0);
    for seed in 1..=60 {
        let h = history(seed);
        for threads in [Some(1), None] {
            let prepared = Prepared::new(&h).expect("valid");
            // The lease first (it builds the skeletons), then specs that reuse them or not.
            let verdicts = [
                same(&LeaseSpec { ttl_ns: 3_000_000 }, &prepared, &h, threads),
                same(&MutexSpec, &prepared, &h, threads),
                same(&Unpruned, &prepared, &h, threads),
                same(&FencingSpec { ttl_ns: Some(3_000_000) }, &prepared, &h, threads),
                same(&MutexSpec, &prepared, &h, threads),
            ];
            for v in verdicts {
                match v {
                    Verdict::Linearizable => linearizable += 1,
                    Verdict::NotLinearizable(_) => refuted += 1,
                    Verdict::Unknown => {}
                }
            }
        }
    }
    assert!(refuted > 50 && linearizable > 50, "refuted {refuted}, linearizable {linearizable}");
}
