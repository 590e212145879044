//! The command line, as CI sees it: exit codes and the text that names the problem.

use crate::{locklab, root};

#[test]
fn unfenced_gc_pause_exits_1_and_names_the_stale_write() {
    let (code, stdout, _) = locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "lease"], &root());
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("no_stale_write    VIOLATED"), "{stdout}");
    assert!(stdout.contains("session c1#1 (token none)") && stdout.contains("session c2#1 (token none)"), "{stdout}");
    assert!(stdout.contains("reproduce:        locklab run scenarios/01-gc-pause.toml --seed 1 --protocol lease"));
}

#[test]
fn fenced_gc_pause_shows_the_rejected_write() {
    // mutual exclusion of belief is still violated with fencing, so judge the stale-write property
    // through the JSON output and the trace.
    let (code, stdout, _) =
        locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "lease-fenced", "--json", "--trace"], &root());
    assert_eq!(code, 1, "belief overlap is reported even with fencing");
    let runs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let run = &runs[0];
    let stale = run["properties"].as_array().unwrap().iter().find(|p| p["property"] == "no_stale_write").unwrap();
    assert_eq!(stale["outcome"], "holds");
    let trace = run["trace"].as_str().unwrap();
    assert!(trace.lines().any(|l| l.contains("REJECTED") && l.contains("session=c1#1 token=1")), "{trace}");
}

#[test]
fn the_fenced_variant_passes_the_expectation_gate() {
    let (code, stdout, _) = locklab(&["run", "scenarios/01-gc-pause.toml", "--expect"], &root());
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_property_holding_exits_0() {
    let (code, stdout, _) = locklab(&["run", "scenarios/00-happy-path.toml"], &root());
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn unknown_protocol_variant_exits_2_and_lists_the_valid_ones() {
    let (code, _, stderr) = locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "redlok"], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("no protocol variant `redlok`") && stderr.contains("lease, lease-fenced"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, _) = locklab(&["run"], &root());
    assert_eq!(code, 2);
    let (code, _, _) = locklab(&["frobnicate"], &root());
    assert_eq!(code, 2);
    let (code, _, _) = locklab(&["run", "scenarios/01-gc-pause.toml", "--seed", "minus-one"], &root());
    assert_eq!(code, 2);
}

#[test]
fn compare_writes_a_reproducible_report() {
    let dir = std::env::temp_dir().join(format!("locklab-it-compare-{}", std::process::id()));
    let (a, b) = (dir.join("a"), dir.join("b"));
    for out in [&a, &b] {
        let (code, stdout, stderr) = locklab(
            &["compare", "--seeds", "3", "--scenarios", "gc-pause,02-delayed-write", "--out", out.to_str().unwrap()],
            &root(),
        );
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("compared 6 pairs over 3 seeds (18 runs)"), "{stdout}");
    }
    let md = std::fs::read_to_string(a.join("comparison.md")).unwrap();
    assert_eq!(md, std::fs::read_to_string(b.join("comparison.md")).unwrap(), "the report is reproducible");
    assert_eq!(
        std::fs::read_to_string(a.join("comparison.json")).unwrap(),
        std::fs::read_to_string(b.join("comparison.json")).unwrap()
    );
    assert!(
        md.contains("| 1 | gc-pause (`01-gc-pause.toml`) | [`lease`](timelines/01-gc-pause.lease.svg): stale write 100% (seed 1), two holders 100% (seed 1) ✓"),
        "{md}"
    );
    assert!(a.join("timelines/01-gc-pause.lease.svg").exists(), "a timeline per pair");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("comparison.json")).unwrap()).unwrap();
    assert_eq!(json["runs"], 18);
    let fenced = json["pairs"].as_array().unwrap().iter().find(|p| p["variant"] == "lease-fenced").unwrap();
    assert_eq!(fenced["properties"][0]["property"], "no_stale_write");
    assert_eq!(fenced["properties"][0]["violated"], 0);
}

#[test]
fn compare_filters_reject_unknown_names_and_list_valid_ones() {
    let (code, _, stderr) = locklab(&["compare", "--protocols", "paxos", "--out", "/tmp/locklab-never"], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown protocol `paxos`") && stderr.contains("valid families: "), "{stderr}");
    // Every registry family is listed (so a new protocol is named without touching this test).
    for kind in locklab_protocols::registry::PROTOCOL_KINDS {
        assert!(stderr.contains(&kind.family.to_lowercase()), "{} missing: {stderr}", kind.family);
    }
    let (code, _, stderr) = locklab(&["compare", "--scenarios", "gc-paws", "--out", "/tmp/locklab-never"], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown scenario `gc-paws`") && stderr.contains("gc-pause"), "{stderr}");
}

#[test]
fn compare_filters_by_family() {
    let dir = std::env::temp_dir().join(format!("locklab-it-family-{}", std::process::id()));
    let (code, stdout, _) =
        locklab(&["compare", "--seeds", "2", "--protocols", "redlock", "--out", dir.to_str().unwrap()], &root());
    assert_eq!(code, 0, "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("comparison.json")).unwrap()).unwrap();
    let pairs = json["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 8);
    assert!(pairs.iter().all(|p| p["family"] == "REDLOCK"));
}

/// `run --history` writes property 3's input; `lin` reads it back to the same verdict.
#[test]
fn run_history_round_trips_through_lin() {
    let dir = std::env::temp_dir().join(format!("locklab-it-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The server restarts without persistence and grants the lease again before it expired.
    for (variant, lin_code, verdict) in [("lease", 1, "not linearizable"), ("lease-fsync-always", 0, "linearizable")] {
        let file = dir.join(format!("{variant}.json"));
        let (_, stdout, stderr) = locklab(
            &["run", "scenarios/server-restart.toml", "--protocol", variant, "--history", file.to_str().unwrap()],
            &root(),
        );
        let line = stdout.lines().find(|l| l.trim_start().starts_with("linearizable")).expect("property 3 reported");
        assert!(line.contains(if lin_code == 0 { "holds" } else { "VIOLATED" }), "{line}\n{stderr}");
        let (code, stdout, stderr) = locklab(&["lin", file.to_str().unwrap()], &root());
        assert_eq!(code, lin_code, "{stdout}{stderr}");
        assert!(stdout.starts_with(verdict), "{stdout}");
        if lin_code == 1 {
            // The file carries the scenario's client names, and lin reports with them.
            assert!(stdout.contains("#0 c1 key 'lock0'") && stdout.contains("c2 key 'lock0'"), "{stdout}");
        }
    }
    // --history writes one run: several variants is a usage error.
    let (code, _, stderr) = locklab(&["run", "scenarios/server-restart.toml", "--history", "/tmp/x.json"], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("--history writes one run"), "{stderr}");
}

/// A scenario that declares no expectation (or leaves an applicable property open) must not pass
/// CI silently: `compare` and `run --expect` report it `unchecked` and exit 1.
#[test]
fn a_scenario_without_expectations_is_unchecked_and_fails() {
    let dir = std::env::temp_dir().join(format!("locklab-it-unchecked-{}", std::process::id()));
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/01-gc-pause.toml")).unwrap();
    // Drop every `expect` line: the lease variant still has stale writes in most seeds.
    let bare: String = text.lines().filter(|l| !l.starts_with("expect")).map(|l| format!("{l}\n")).collect();
    let file = scenarios.join("bare.toml");
    std::fs::write(&file, &bare).unwrap();
    let out = dir.join("report");
    let (code, stdout, stderr) = locklab(
        &["compare", "--seeds", "2", "--dir", scenarios.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &root(),
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("unchecked: lease on gc-pause"), "{stdout}");
    assert!(stdout.contains("no expectation declared for no_stale_write, mutual_exclusion, linearizable, liveness"));
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(md.contains("? unchecked") && md.contains("`lease` on gc-pause: unchecked"), "{md}");

    let (code, stdout, _) = locklab(&["run", file.to_str().unwrap(), "--expect"], &root());
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("UNCHECKED: the scenario file declares no expectation for"), "{stdout}");

    // A partial expectation is unchecked too: only `linearizable` left open.
    let partial = text.replace("linearizable = \"holds\", ", "");
    assert_ne!(partial, text);
    std::fs::write(&file, partial).unwrap();
    let (code, stdout, _) =
        locklab(&["run", file.to_str().unwrap(), "--protocol", "lease-fenced", "--expect"], &root());
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("no expectation for linearizable"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
