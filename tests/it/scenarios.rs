//! Every bundled scenario declares what the literature expects of each protocol variant; the
//! simulator must reproduce it — for the scenario's own seed and for a few more, so that a result
//! is not an accident of one seed.

use locklab::runner::run_one;

use crate::bundled_scenarios;

const EXTRA_SEEDS: [u64; 4] = [2, 3, 17, 1234];

#[test]
fn bundled_scenarios_meet_their_expectations() {
    let files = bundled_scenarios();
    assert!(files.len() >= 8, "the catalogue shrank: {files:?}");
    let mut failures = Vec::new();
    let mut runs = 0;
    for file in &files {
        let compiled = locklab_sim::load_compiled(file).unwrap_or_else(|e| panic!("{e}"));
        let own_seed = compiled.scenario.scenario.seed;
        for v in 0..compiled.variants.len() {
            for seed in std::iter::once(own_seed).chain(EXTRA_SEEDS) {
                let r = run_one(&compiled, v, seed, false);
                runs += 1;
                if !r.expectation.unchecked.is_empty() {
                    failures.push(format!(
                        "{}: variant {} declares no expectation for {}",
                        r.file,
                        r.variant,
                        r.expectation.unchecked.join(", ")
                    ));
                } else if !r.expectation.met {
                    failures.push(format!("{}: {}", r.reproduce(), r.expectation.mismatches.join("; ")));
                }
                if r.report.vacuous {
                    failures.push(format!("{}: vacuous (nothing granted)", r.reproduce()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {runs} runs failed:\n{}", failures.len(), failures.join("\n"));
}

/// The headline result of the foundation, spelled out: a GC pause without fencing corrupts the
/// resource; with fencing the late write is rejected.
#[test]
fn gc_pause_is_a_stale_write_without_fencing_and_a_rejection_with_it() {
    let compiled = locklab_sim::load_compiled(&crate::root().join("scenarios/01-gc-pause.toml")).unwrap();
    let unfenced = run_one(&compiled, compiled.variant("lease").unwrap(), 1, false);
    let stale = unfenced.report.get("no_stale_write").unwrap();
    assert_eq!(stale.outcome.as_str(), "violated");
    let message = &stale.violation.as_ref().unwrap().message;
    assert!(
        message.contains("session c1#1 (token none)") && message.contains("session c2#1 (token none)"),
        "{message}"
    );
    assert!(unfenced.report.metrics.writes_rejected == 0);

    let fenced = run_one(&compiled, compiled.variant("lease-fenced").unwrap(), 1, false);
    assert_eq!(fenced.report.get("no_stale_write").unwrap().outcome.as_str(), "holds");
    assert!(fenced.report.metrics.writes_rejected >= 1, "the late write must be rejected, not avoided");
    // Fencing protects the resource, not the belief.
    assert_eq!(fenced.report.get("mutual_exclusion").unwrap().outcome.as_str(), "violated");
}

/// A run where nothing can be granted is vacuous, not safe.
#[test]
fn a_run_without_grants_is_vacuous() {
    let text = std::fs::read_to_string(crate::root().join("scenarios/00-happy-path.toml")).unwrap();
    // Partition every client from the server for the whole run.
    let text =
        format!("{text}\n[[faults]]\nkind = \"partition\"\nat_ms = 0\ngroups = [[\"s1\"], [\"c1\", \"c2\", \"c3\"]]\n");
    let scenario = locklab_sim::parse("vacuous.toml", &text).unwrap();
    let compiled = locklab_sim::compile("vacuous.toml", &text, scenario).unwrap();
    let r = run_one(&compiled, 0, 1, false);
    assert!(r.report.vacuous);
    // Every lock property is vacuous; Raft's own invariants do not depend on grants (and do not
    // apply to a lease server).
    for p in &r.report.properties {
        let expected = if p.property == "raft_safety" { "n/a" } else { "vacuous" };
        assert_eq!(p.outcome.as_str(), expected, "{}", p.property);
    }
    assert!(!r.expectation.met, "a vacuous run cannot meet an expectation of `holds`");
}
