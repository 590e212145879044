//! `locklab shrink`: a violating randomized run becomes a minimal concrete scenario that `run`
//! replays with the same violation.

use crate::{locklab, root};

/// A lease with clients paused at random (every 1.5-2.5 s, 0-6 s): some seed violates mutual
/// exclusion; its shrunk scenario keeps one pause and still does.
const NEMESIS_LEASE: &str = r#"
[scenario]
name = "nemesis-lease"
title = "lease under random client pauses"
source = "locklab test"
duration_ms = 30000
seed = 1

[topology]
servers = 1
clients = 3

[network]
latency_ms = { min = 1, max = 3 }

[workload]
sessions = 100
ops_per_session = 1
think_ms = { min = 100, max = 400 }
idle_ms = { min = 10, max = 100 }

[[nemesis]]
kind = "pause"
every_ms = { min = 1500, max = 2500 }
targets = "clients"
duration_ms = { min = 0, max = 6000 }
until_ms = 25000

[[protocols]]
name = "lease"
kind = "lease"
ttl_ms = 3000
renew_ms = 1000
"#;

#[test]
fn a_violating_nemesis_run_shrinks_to_a_replayable_scenario() {
    let dir = tempfile::Builder::new().prefix("locklab-it-shrink-").tempdir().unwrap();
    let file = dir.path().join("nemesis-lease.toml");
    std::fs::write(&file, NEMESIS_LEASE).unwrap();
    let file = file.to_str().unwrap();
    // The first seed whose run violates mutual exclusion.
    let seed = (1..=10u64)
        .find(|s| {
            let (code, stdout, _) = locklab(&["run", file, "--seed", &s.to_string()], &root());
            code == 1 && stdout.contains("mutual_exclusion  VIOLATED")
        })
        .expect("one of seeds 1-10 violates mutual exclusion");
    let out = dir.path().join("shrunk.toml");
    let (code, stdout, stderr) = locklab(
        &[
            "shrink",
            file,
            "--seed",
            &seed.to_string(),
            "--protocol",
            "lease",
            "--property",
            "mutual_exclusion",
            "--out",
            out.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let faults = |line: &str| -> usize { line.split_whitespace().nth(1).unwrap().parse().unwrap() };
    let before = stdout.lines().find(|l| l.starts_with("before:")).unwrap();
    let after = stdout.lines().find(|l| l.starts_with("after:")).unwrap();
    assert!(faults(after) < faults(before), "{stdout}");
    assert!(faults(after) >= 1, "a pause is what breaks the lease: {stdout}");
    let shrunk = std::fs::read_to_string(&out).unwrap();
    assert!(!shrunk.contains("[[nemesis]]"), "the schedule is written down concretely:\n{shrunk}");
    let (code, replay, _) = locklab(&["run", out.to_str().unwrap(), "--seed", &seed.to_string()], &root());
    assert_eq!(code, 1, "{replay}");
    assert!(replay.contains("mutual_exclusion  VIOLATED"), "{replay}");
    // Nothing to shrink is an error, not an empty file.
    let (code, _, stderr) =
        locklab(&["shrink", "scenarios/00-happy-path.toml", "--seed", "1", "--protocol", "lease"], &root());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nothing to shrink"), "{stderr}");
}

/// `sweep --shrink`: every (point, variant) that violated a property gets its point's scenario
/// and a shrunk one beside the sweep's outputs; each shrunk file replays its violation.
#[test]
fn sweep_shrink_writes_a_replayable_scenario_per_violating_point() {
    let dir = tempfile::Builder::new().prefix("locklab-it-sweep-shrink-").tempdir().unwrap();
    let file = dir.path().join("nemesis-lease.toml");
    std::fs::write(&file, NEMESIS_LEASE).unwrap();
    let out = dir.path().join("sweep");
    let (code, stdout, stderr) = locklab(
        &[
            "sweep",
            file.to_str().unwrap(),
            "--set",
            "protocols.lease.ttl_ms=3000,60000",
            "--seeds",
            "10",
            "--out",
            out.to_str().unwrap(),
            "--shrink",
        ],
        &root(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("shrunk: ")).collect();
    // A 60 s lease outlives every pause of this 30 s run: only the 3 s point violates.
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("ttl_ms = 3000"), "{stdout}");
    let seed: u64 = lines[0].split(" seed ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let shrunk = out.join("shrunk").join("point-1-lease.shrunk.toml");
    assert!(out.join("shrunk").join("point-1.toml").exists());
    assert!(!out.join("shrunk").join("point-2-lease.shrunk.toml").exists());
    let (code, replay, _) = locklab(&["run", shrunk.to_str().unwrap(), "--seed", &seed.to_string()], &root());
    assert_eq!(code, 1, "{replay}");
    assert!(replay.contains("VIOLATED"), "{replay}");
    // Not with a shard: a shard has no verdicts to shrink.
    let (code, _, stderr) = locklab(
        &["sweep", file.to_str().unwrap(), "--seeds", "2", "--out", "x", "--shard", "1/2", "--shrink"],
        &root(),
    );
    assert_eq!(code, 2, "{stderr}");
}
