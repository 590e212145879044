//! Conformance of the live host under turmoil: every bundled scenario (all of whose variants are
//! locklab-native: the lease, Redlock and Raft families) runs through the live host's own code —
//! node tasks, the UDP wire encoding, timers, the send path's network, pauses, crashes with
//! durable files, clock faults — under turmoil's seeded network and time, and must give the same
//! verdict class per property as the simulator over the same seeds. A verdict class is the set of
//! outcomes a property showed over the seeds (`{violated}`, `{holds}`, `{holds, violated}` …).
//!
//! Differences are allowed only where [`DOCUMENTED`] names the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use locklab_checkers::{check, RunInfo};
use locklab_live::run::run_turmoil;
use locklab_sim::{Compiled, World};

/// (scenario file stem, variant, property, why turmoil's class may differ from the simulator's).
const DOCUMENTED: &[(&str, &str, &str, &str)] = &[
    ("skinny-dueling-proposers", "skinny-fixed", "linearizable", SKINNY_FIXED_TIMING),
    ("skinny-dueling-proposers", "skinny-fixed", "liveness", SKINNY_FIXED_TIMING),
];

/// The scenario fixes its timing (1 ms latency, no drift, nothing drawn from the seed) because the
/// outcome of the duel depends on which proposer reaches s3 first. Under turmoil the host's sends
/// and timers land on 1 ms steps, which shifts that race in some seeds — and then `skinny-fixed`
/// starves a client and answers an acquire wrongly (not linearizable against the mutex spec). The
/// simulator shows the same outcomes under the same kind of jitter: with `latency_ms = { min = 1,
/// max = 2 }`, seed 44 of 50 is not linearizable and starves (`locklab compare --dir DIR --seeds
/// 50 --protocols skinny-fixed` on that copy). A finding about `skinny-fixed`, not about turmoil.
const SKINNY_FIXED_TIMING: &str = "timing-dependent duel: the simulator shows the same outcomes with 1-2 ms jitter";

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

type Classes = BTreeMap<String, BTreeSet<&'static str>>;

fn sim_classes(c: &Compiled, v: usize, seeds: &[u64]) -> Classes {
    let mut classes = Classes::new();
    for &seed in seeds {
        let mut w = World::new(c.world_spec(v, seed, false));
        w.run();
        let variant = &c.variants[v];
        let info = RunInfo {
            names: &c.names,
            clients: &c.clients,
            end_ns: w.stats.end_ns,
            messages_delivered: w.stats.messages_delivered,
            ttl_ms: variant.ttl_ms(),
            lazy_expiry: variant.lazy_expiry(),
            session_lease: variant.session_lease(),
            mutex_comparison: false,
        };
        for p in check(&w.history, &info).properties {
            classes.entry(p.property.to_string()).or_default().insert(p.outcome.as_str());
        }
    }
    classes
}

fn turmoil_classes(c: &Compiled, v: usize, seeds: &[u64]) -> Classes {
    let mut classes = Classes::new();
    for &seed in seeds {
        let (_, report) = run_turmoil(c, v, seed).expect("a turmoil run");
        for p in report.properties {
            classes.entry(p.property.to_string()).or_default().insert(p.outcome.as_str());
        }
    }
    classes
}

/// Compare every (scenario, variant) of `files` over `seeds`, on `threads` threads; returns the
/// undocumented differences.
fn conformance(files: &[PathBuf], seeds: &[u64], threads: usize) -> Vec<String> {
    let mut jobs = Vec::new();
    for f in files {
        let c = locklab_sim::load_compiled(f).expect("a bundled scenario compiles");
        for v in 0..c.variants.len() {
            jobs.push((c.clone(), v));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let diffs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((c, v)) = jobs.get(i) else { return };
                let stem = Path::new(&c.file).file_stem().unwrap().to_string_lossy().to_string();
                let variant = &c.variants[*v].name;
                let sim = sim_classes(c, *v, seeds);
                let tur = turmoil_classes(c, *v, seeds);
                for (property, sim_class) in &sim {
                    let tur_class = tur.get(property).cloned().unwrap_or_default();
                    if &tur_class == sim_class {
                        continue;
                    }
                    if DOCUMENTED.iter().any(|(f, va, p, _)| *f == stem && va == variant && p == property) {
                        continue;
                    }
                    diffs.lock().unwrap().push(format!(
                        "{stem} · {variant} · {property}: simulator {sim_class:?}, turmoil {tur_class:?}"
                    ));
                }
            });
        }
    });
    let mut d = diffs.into_inner().unwrap();
    d.sort();
    d
}

/// A quick sample in the debug test run (turmoil is slow unoptimised): two scenarios, one seed.
#[test]
fn turmoil_agrees_with_the_simulator_on_a_sample() {
    let files: Vec<PathBuf> = scenario_files()
        .into_iter()
        .filter(|f| {
            let s = f.file_stem().unwrap().to_string_lossy();
            s == "01-gc-pause" || s == "raft-keepalive-race"
        })
        .collect();
    assert_eq!(files.len(), 2);
    let diffs = conformance(&files, &[1], 2);
    assert!(diffs.is_empty(), "turmoil and the simulator disagree:\n{}", diffs.join("\n"));
}

/// The whole catalogue, seeds 1–6 (release build: `.ci/run` runs it with `--ignored`; 6 seeds of
/// 174 pairs keep `.ci/run` within its 25-minute budget now that the session and store-based
/// systems' scenarios run a minute or two of simulated time each on turmoil's 1 ms ticks;
/// `CONFORMANCE_SEEDS=N` runs more).
#[test]
#[ignore = "minutes in a debug build; .ci/run runs it in release with --ignored"]
fn turmoil_agrees_with_the_simulator_on_the_catalogue() {
    let n: u64 = std::env::var("CONFORMANCE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let seeds: Vec<u64> = (1..=n).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // CONFORMANCE_ONLY=stem,stem narrows the run while investigating a difference.
    let only: Vec<String> =
        std::env::var("CONFORMANCE_ONLY").map(|s| s.split(',').map(str::to_string).collect()).unwrap_or_default();
    let files: Vec<PathBuf> = scenario_files()
        .into_iter()
        .filter(|f| only.is_empty() || only.iter().any(|o| f.file_stem().is_some_and(|s| s.to_string_lossy() == *o)))
        .collect();
    let diffs = conformance(&files, &seeds, threads);
    assert!(diffs.is_empty(), "turmoil and the simulator disagree ({}):\n{}", diffs.len(), diffs.join("\n"));
}
