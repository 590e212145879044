//! `[[nemesis]]`: randomized recurring faults drawn from the run's seed — deterministic per seed,
//! different across seeds, within their window, and healed before the healing phase.

use crate::root;

fn pauses(file: &str, seed: u64) -> Vec<(u64, usize, u64)> {
    let compiled = locklab_sim::load_compiled(&root().join(file)).expect("compiles");
    let spec = compiled.world_spec(0, seed, false);
    spec.scheduled
        .iter()
        .filter_map(|(t, a)| match a {
            locklab_sim::world::Action::Pause { node, duration_ns } => Some((*t, *node, *duration_ns)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_nemesis_draws_its_schedule_from_the_seed() {
    let file = "scenarios/nemesis/raft-jepsen-lock-set.toml";
    let a = pauses(file, 1);
    assert_eq!(a, pauses(file, 1), "the same seed draws the same schedule");
    assert_ne!(a, pauses(file, 2), "another seed draws another");
    // "every 4-6 s until 100 s": about 20 pauses, each starting after the previous, 4-6 s apart,
    // lasting at most 10 s and over by 100 s (the healing phase is fault-free).
    assert!((16..=25).contains(&a.len()), "{} pauses", a.len());
    for w in a.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!((4_000_000_000..=6_000_000_000).contains(&gap), "gap {gap} ns");
    }
    for &(t, _, d) in &a {
        assert!(d <= 10_000_000_000 && t + d <= 100_000_000_000, "pause at {t} for {d}");
    }
    // Targets: servers and clients alike (`targets = "all"`).
    let nodes: std::collections::BTreeSet<usize> = (1..=10).flat_map(|s| pauses(file, s)).map(|p| p.1).collect();
    assert!(nodes.len() >= 8, "pauses hit {nodes:?}");
}

#[test]
fn a_bad_nemesis_is_an_error_naming_its_field() {
    let dir = tempfile::Builder::new().prefix("locklab-it-nemesis-").tempdir().unwrap();
    let source = std::fs::read_to_string(root().join("scenarios/nemesis/raft-jepsen-lock-set.toml")).unwrap();
    for (from, to, words) in [
        ("targets = \"all\"", "targets = \"everyone\"", "clients, servers, all"),
        ("targets = \"all\"", "targets = [\"c9\"]", "unknown node `c9`"),
        ("until_ms = 100000", "until_ms = 999999", "until_ms"),
        ("kind = \"pause\"", "kind = \"explode\"", "unknown nemesis kind"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, source.replace(from, to)).unwrap();
        let (code, _, stderr) = crate::locklab(&["run", path.to_str().unwrap()], &root());
        assert_eq!(code, 2, "{to}: {stderr}");
        assert!(stderr.contains(words), "{to}: expected `{words}` in {stderr}");
    }
}

/// `run` says what each fault hit, and reports a triggered fault that never fired instead of
/// skipping it silently.
#[test]
fn run_summarizes_faults_and_reports_the_unfired() {
    let (_, stdout, _) = crate::locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "lease"], &root());
    assert!(
        stdout.contains(
            "c1 paused for 8000 ms while holding lock0 (session c1#1, 4843 ms of lease left by its own clock)"
        ),
        "{stdout}"
    );
    let dir = tempfile::Builder::new().prefix("locklab-it-unfired-").tempdir().unwrap();
    let path = dir.path().join("unfired.toml");
    let source = std::fs::read_to_string(root().join("scenarios/01-gc-pause.toml")).unwrap();
    std::fs::write(&path, source.replace("nth = 1 }", "nth = 9 }")).unwrap();
    let (_, stdout, _) = crate::locklab(&["run", path.to_str().unwrap(), "--protocol", "lease", "--json"], &root());
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let not_fired = v[0]["not_fired"].as_array().unwrap();
    assert_eq!(not_fired.len(), 1, "{stdout}");
    assert!(not_fired[0].as_str().unwrap().contains("`acquired` #9 never fired"), "{stdout}");
}
