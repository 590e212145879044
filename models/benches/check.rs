//! Model-checker benchmarks (performance.md, issue 16): unique states per second per thread on
//! the standard configurations of `lease-fenced`, `redlock` and `raft` — the configurations
//! `locklab check PROTOCOL` checks without options (2 clients; lease-fenced 1 server with a
//! pause, a drop and a crash; redlock 3 servers with a clock jump and a crash; raft 3 peers, no
//! fault, horizon 6).
//!
//! `cargo bench -p locklab-models --bench check`. Each iteration is one exhaustive one-thread BFS;
//! divan's counter is the configuration's unique state count, so the `items/s` column is unique
//! states per second per thread (goal ≥ 150k). The one-fault Raft configurations of the issue's
//! last row do not exhaust (models/README.md, "Raft"), so they are not benchmarks: `locklab check
//! raft --faults pause --strategy dfs --stats` reports how far a budgeted search gets.

use divan::counter::ItemsCount;
use divan::Bencher;

use locklab_models::check::{run, Budget, Strategy};
use locklab_models::cli::build_model;
use locklab_models::LockModel;

fn main() {
    divan::main();
}

fn standard(protocol: &str) -> LockModel {
    build_model(protocol, 2, None, None, None, None).expect("a standard configuration")
}

fn bench_model(bencher: Bencher, model: LockModel) {
    let unique = run(&model, Strategy::Bfs, 1, None, Budget::NONE).unique_states;
    bencher.counter(ItemsCount::new(unique)).bench_local(|| {
        let outcome = run(&model, Strategy::Bfs, 1, None, Budget::NONE);
        assert!(outcome.complete);
        divan::black_box(outcome.unique_states)
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn lease_fenced(bencher: Bencher) {
    bench_model(bencher, standard("lease-fenced"));
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn redlock(bencher: Bencher) {
    bench_model(bencher, standard("redlock"));
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn raft(bencher: Bencher) {
    bench_model(bencher, standard("raft"));
}
