//! The command line, as CI sees it: exit codes and the text that names the problem.

use crate::{locklab, root};

#[test]
fn unfenced_gc_pause_exits_1_and_names_the_stale_write() {
    let (code, stdout, _) = locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "lease"], &root());
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("no_stale_write    VIOLATED"), "{stdout}");
    assert!(stdout.contains("c1#1 (token 1)") && stdout.contains("c2#1 (token 2)"), "{stdout}");
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
