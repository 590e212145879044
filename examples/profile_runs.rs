//! The `runs` bench's workload without the bench harness, for a profiler (callgrind, perf stat):
//! simulate seeds 1..=N of benches/lease-5node.toml and check every property, as `cargo bench
//! --bench sim` `runs` does.
//!
//! `cargo build --release --example profile_runs`, then e.g.
//! `valgrind --tool=callgrind target/release/examples/profile_runs 20 runs`
//! (modes: `runs` simulate and check, `sim` simulate only, `checks` simulate outside the
//! measured loop is impossible under callgrind, so `checks` = `runs` minus `sim`).

use locklab::runner::bulk_run_info;
use locklab_checkers::check;
use locklab_sim::World;

/// The locklab binary's allocator (src/main.rs), so the profile shows what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mode = args.next().unwrap_or_else(|| "runs".to_string());
    let file =
        args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/benches/lease-5node.toml").to_string());
    if mode == "sizes" {
        use std::mem::size_of;
        println!(
            "Ev {} Msg {} Input {} Effect {} Entry {} Obs {} Node {} Slot {} Timer {}",
            size_of::<locklab_sim::world::Ev>(),
            size_of::<locklab_protocols::Msg>(),
            size_of::<locklab_protocols::Input>(),
            size_of::<locklab_protocols::Effect>(),
            size_of::<locklab_protocols::history::Entry>(),
            size_of::<locklab_protocols::history::Observation>(),
            size_of::<locklab_protocols::Node>(),
            size_of::<locklab_sim::world::Slot>(),
            size_of::<locklab_protocols::Timer>()
        );
        return;
    }
    let compiled = locklab_sim::load_compiled(file.as_ref()).expect("the scenario is valid");
    let mut violated = 0;
    let mut messages = 0;
    for seed in 1..=seeds {
        let mut world = World::new(compiled.world_spec(0, seed, false));
        world.run();
        messages += world.stats.messages_delivered;
        if mode == "stats" {
            use locklab_lincheck::specs::{FencingSpec, MutexSpec};
            use locklab_lincheck::{check_with_options, CheckOptions};
            let (ops, _) = locklab_checkers::linearizable::lock_operations(&world.history);
            let o = CheckOptions { budget: None, max_states: Some(200_000) };
            let a = check_with_options(&FencingSpec { ttl_ns: Some(2_000_000_000) }, &ops, &o).unwrap();
            let b = check_with_options(&MutexSpec, &ops, &o).unwrap();
            let pending = ops.iter().filter(|o| o.output.is_none()).count();
            println!("{:?}", world.stats);
            println!(
                "seed {seed}: history {} ops {} pending {pending} lease steps {} states {} hits {} {:?} | mutex steps {} states {} hits {} {:?}",
                world.history.len(), ops.len(), a.stats.steps, a.stats.states, a.stats.cache_hits, a.verdict == locklab_lincheck::Verdict::Linearizable,
                b.stats.steps, b.stats.states, b.stats.cache_hits, b.verdict == locklab_lincheck::Verdict::Linearizable
            );
        }
        if mode == "runs" {
            violated += check(&world.history, &bulk_run_info(&compiled, 0, &world.stats)).violated() as u32;
        }
    }
    println!("{seeds} seeds, {messages} messages, {violated} violated");
}

#[allow(dead_code)]
fn stats() {}
