//! Simulator benchmarks (performance.md): delivered messages per second and whole runs per second
//! for a 5-node lease scenario with faults and history recording on, and the same two figures for
//! a Raft lock service of 3 peers and 3 clients (`raft_messages`, `raft_runs`).
//!
//! `cargo bench --bench sim`. Divan prints time per run and, through its counters, the rate:
//! `messages` counts delivered messages (goal ≥ 5M/s per core), `runs` counts runs (goal ≥ 2,000/s
//! for a ≈2k-message scenario). `checks` times the property checks alone on pre-simulated
//! histories (goal: ≤ 20% of `runs`). `run_with_trace` shows what full trace recording costs (goal
//! ≤ 2×).

use divan::counter::ItemsCount;
use divan::Bencher;

use locklab::runner::bulk_run_info;
use locklab_checkers::check;
use locklab_sim::{Compiled, World};

/// The locklab binary's allocator (src/main.rs), so the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn scenario() -> Compiled {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/lease-5node.toml");
    locklab_sim::load_compiled(path.as_ref()).expect("the benchmark scenario is valid")
}

fn raft_scenario() -> Compiled {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/raft-3peer.toml");
    locklab_sim::load_compiled(path.as_ref()).expect("the Raft benchmark scenario is valid")
}

fn simulate(compiled: &Compiled, seed: u64, trace: bool) -> World {
    let mut world = World::new(compiled.world_spec(0, seed, trace));
    world.run();
    world
}

/// The engine alone: build the world and run it to the end (history recorded).
#[divan::bench]
fn messages(bencher: Bencher) {
    bench_messages(bencher, scenario());
}

/// As `messages`, for 3 Raft peers and 3 clients.
#[divan::bench]
fn raft_messages(bencher: Bencher) {
    bench_messages(bencher, raft_scenario());
}

/// The seeds a messages bench cycles through; its counter is their mean delivered-message count,
/// so the rate is messages delivered over time spent, not one seed's count over every seed's time
/// (seed 1 of the lease scenario delivers 2,800, the mean of seeds 1–64 is ≈ 3,000).
const SEED_CYCLE: u64 = 64;

fn mean_messages(compiled: &Compiled, trace: bool) -> usize {
    let total: u64 = (1..=SEED_CYCLE).map(|s| simulate(compiled, s, trace).stats.messages_delivered).sum();
    (total / SEED_CYCLE) as usize
}

fn bench_messages(bencher: Bencher, compiled: Compiled) {
    let delivered = mean_messages(&compiled, false);
    let mut i = 0;
    bencher.counter(ItemsCount::new(delivered)).bench_local(|| {
        i += 1;
        divan::black_box(simulate(&compiled, 1 + i % SEED_CYCLE, false).stats.messages_delivered)
    });
}

/// A whole run as `locklab run` does it: simulate, then check every property.
#[divan::bench]
fn runs(bencher: Bencher) {
    bench_runs(bencher, scenario());
}

/// As `runs`, for 3 Raft peers and 3 clients (Raft's invariants are checked too).
#[divan::bench]
fn raft_runs(bencher: Bencher) {
    bench_runs(bencher, raft_scenario());
}

fn bench_runs(bencher: Bencher, compiled: Compiled) {
    let mut seed = 0;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        seed += 1;
        let world = simulate(&compiled, seed, false);
        divan::black_box(check(&world.history, &bulk_run_info(&compiled, 0, &world.stats)).violated())
    });
}

/// The property checks alone, on histories simulated beforehand (seeds 1–64, cycled): `runs`
/// minus this is the simulation; the goal is checks ≤ 20% of a whole run.
#[divan::bench]
fn checks(bencher: Bencher) {
    bench_checks(bencher, scenario());
}

/// As `checks`, for 3 Raft peers and 3 clients.
#[divan::bench]
fn raft_checks(bencher: Bencher) {
    bench_checks(bencher, raft_scenario());
}

fn bench_checks(bencher: Bencher, compiled: Compiled) {
    let worlds: Vec<World> = (1..=64).map(|seed| simulate(&compiled, seed, false)).collect();
    let mut i = 0;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        let world = &worlds[i % worlds.len()];
        i += 1;
        divan::black_box(check(&world.history, &bulk_run_info(&compiled, 0, &world.stats)).violated())
    });
}

/// The engine with the full trace recorded (not rendered): compare with `messages` (goal ≤ 2×).
#[divan::bench]
fn messages_with_trace_recorded(bencher: Bencher) {
    let compiled = scenario();
    let delivered = mean_messages(&compiled, true);
    let mut i = 0;
    bencher.counter(ItemsCount::new(delivered)).bench_local(|| {
        i += 1;
        divan::black_box(simulate(&compiled, 1 + i % SEED_CYCLE, true).trace.map(|t| t.len()))
    });
}

/// A whole run with the full trace recorded and rendered to text.
#[divan::bench]
fn run_with_trace_rendered(bencher: Bencher) {
    let compiled = scenario();
    let mut seed = 0;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        seed += 1;
        let world = simulate(&compiled, seed, true);
        let text = locklab_sim::trace::render(world.trace.as_ref().unwrap(), &world.history, &compiled.names);
        divan::black_box(text.len())
    });
}
