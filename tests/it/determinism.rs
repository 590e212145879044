//! Same scenario, seed and binary: byte-identical traces. Different seed: a different trace
//! wherever the scenario draws from the seed.

use expect_test::expect_file;

use locklab::runner::run_one;

use crate::{bundled_scenarios, root};

fn trace(file: &std::path::Path, variant: usize, seed: u64) -> String {
    let compiled = locklab_sim::load_compiled(file).unwrap();
    run_one(&compiled, variant, seed, true).trace.expect("trace requested")
}

#[test]
fn same_seed_same_trace_and_different_seed_different_trace() {
    for file in bundled_scenarios() {
        let compiled = locklab_sim::load_compiled(&file).unwrap();
        for v in 0..compiled.variants.len() {
            let a = trace(&file, v, 7);
            let b = trace(&file, v, 7);
            assert_eq!(a, b, "{} variant {v}: two runs with seed 7 differ", file.display());
            if compiled.has_randomness() {
                let c = trace(&file, v, 8);
                assert_ne!(a, c, "{} variant {v}: seeds 7 and 8 give the same trace", file.display());
            }
        }
    }
}

/// The golden trace of scenario #1: any change to the engine, the protocol or the trace format
/// shows up here as a diff. Rewrite with `UPDATE_EXPECT=1 cargo test`.
#[test]
fn golden_trace_gc_pause() {
    let file = root().join("scenarios/01-gc-pause.toml");
    let compiled = locklab_sim::load_compiled(&file).unwrap();
    let r = run_one(&compiled, compiled.variant("lease-fenced").unwrap(), 1, true);
    expect_file!["../golden/01-gc-pause.lease-fenced.seed1.trace"].assert_eq(&r.trace.unwrap());
}
