//! Verdicts, pinned state counts, and counterexamples that replay in the simulator.
//!
//! The exhaustive checks of the standard configurations take seconds in release and minutes in
//! debug: they are `#[ignore]`d in debug builds; run them with
//! `cargo test --release -p locklab-models`.

use locklab_models::check::{run, shortest_counterexample, Strategy};
use locklab_models::cli::{build_model, check, CheckArgs, EXIT_USAGE};
use locklab_models::export::export;
use locklab_models::{prop, LockModel};

fn model(protocol: &str, faults: &str) -> LockModel {
    build_model(protocol, 2, None, Some(faults), None, locklab_models::Timing::default().horizon_ticks)
        .expect("valid configuration")
}

/// (property, discovered) for every property, one-thread BFS, exhaustive.
fn verdicts(m: &LockModel) -> (usize, Vec<(&'static str, bool)>) {
    let outcome = run(m, Strategy::Bfs, 1, None, None);
    assert!(outcome.complete);
    (outcome.unique_states, outcome.verdicts.iter().map(|v| (v.name, v.discovered)).collect())
}

fn discovered(v: &[(&'static str, bool)], name: &str) -> bool {
    v.iter().find(|(n, _)| *n == name).expect("property exists").1
}

#[test]
fn lease_without_faults_is_safe_and_not_vacuous() {
    let (unique, v) = verdicts(&model("lease", "none"));
    assert_eq!(unique, PINNED_LEASE_NONE);
    for p in [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX, prop::TOKENS_INCREASE, prop::LINEARIZABLE] {
        assert!(!discovered(&v, p), "{p} violated without faults");
    }
    assert!(discovered(&v, prop::LOCK_GRANTED));
    assert!(discovered(&v, prop::TWO_CS));
}

#[test]
fn a_client_pause_makes_the_unfenced_lease_write_stale() {
    let m = model("lease", "pause");
    let (unique, v) = verdicts(&m);
    assert_eq!(unique, PINNED_LEASE_PAUSE);
    assert!(discovered(&v, prop::NO_STALE_WRITE));
    assert!(discovered(&v, prop::BELIEF_MUTEX));
    assert!(!discovered(&v, prop::LINEARIZABLE), "a client pause does not break the service");
    let path = shortest_counterexample(&m, prop::NO_STALE_WRITE).expect("a counterexample");
    assert_eq!(path.len() - 1, PINNED_LEASE_PAUSE_CX_STEPS, "shortest counterexample length");
}

#[test]
fn fencing_stops_the_paused_clients_write() {
    let (unique, v) = verdicts(&model("lease-fenced", "pause"));
    assert_eq!(unique, PINNED_LEASE_FENCED_PAUSE);
    for p in [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX, prop::TOKENS_INCREASE, prop::LINEARIZABLE] {
        assert!(!discovered(&v, p), "{p} violated");
    }
    assert!(discovered(&v, prop::TWO_CS));
}

#[test]
fn redlock_without_faults_is_safe() {
    let (unique, v) = verdicts(&model("redlock", "none"));
    assert_eq!(unique, PINNED_REDLOCK_NONE);
    for p in [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX, prop::LINEARIZABLE] {
        assert!(!discovered(&v, p), "{p} violated");
    }
    assert!(discovered(&v, prop::TWO_CS));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive; run with cargo test --release -p locklab-models")]
fn standard_lease_fenced_configuration_holds_exhaustively() {
    let m = model("lease-fenced", "pause,drop,crash");
    let (unique, v) = verdicts(&m);
    assert_eq!(unique, PINNED_LEASE_FENCED_STANDARD);
    for (name, found) in v {
        let always =
            [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX, prop::TOKENS_INCREASE, prop::LINEARIZABLE].contains(&name);
        assert_eq!(found, !always, "{name}");
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive; run with cargo test --release -p locklab-models")]
fn redlock_belief_breaks_with_a_clock_jump_on_one_server() {
    let m = model("redlock", "jump,drop");
    let path = shortest_counterexample(&m, prop::BELIEF_MUTEX).expect("a counterexample");
    let actions: Vec<String> = path.iter().filter_map(|(_, a)| a.as_ref()).map(|a| format!("{a:?}")).collect();
    assert!(actions.iter().any(|a| a.starts_with("ClockJump")), "{actions:?}");
    assert!(!actions.iter().any(|a| a.starts_with("Crash")));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive; run with cargo test --release -p locklab-models")]
fn redlock_belief_breaks_with_a_restart_without_persistence() {
    let m = model("redlock", "crash,drop");
    let path = shortest_counterexample(&m, prop::BELIEF_MUTEX).expect("a counterexample");
    let actions: Vec<String> = path.iter().filter_map(|(_, a)| a.as_ref()).map(|a| format!("{a:?}")).collect();
    assert!(actions.iter().any(|a| a.starts_with("Restart")), "{actions:?}");
    // With fsync on every write the same budget finds nothing.
    let durable = build_model("redlock", 2, None, Some("crash,drop"), Some("always"), 9).unwrap();
    let outcome = run(&durable, Strategy::Bfs, 1, None, None);
    assert!(!outcome.verdict(prop::BELIEF_MUTEX).unwrap().discovered);
}

/// Write a counterexample, load it as `locklab run` does, run it in the simulator and judge it
/// with the simulator's checkers.
fn replays(m: &LockModel, property: &'static str, sim_property: &str) {
    let path = shortest_counterexample(m, property).expect("a counterexample");
    let cx = export(m, property, &path);
    let dir = std::env::temp_dir().join(format!("locklab-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.toml", m.setup.protocol.name()));
    std::fs::write(&file, &cx.scenario_toml).unwrap();
    let compiled = locklab_sim::load_compiled(&file).expect("the scenario loads");
    let mut world = locklab_sim::World::new(compiled.world_spec(0, compiled.scenario.scenario.seed, false));
    world.run();
    let info = locklab_checkers::RunInfo {
        names: &compiled.names,
        clients: &compiled.clients,
        end_ns: world.stats.end_ns,
        messages_delivered: world.stats.messages_delivered,
        ttl_ms: compiled.variants[0].ttl_ms(),
    };
    let report = locklab_checkers::check(&world.history, &info);
    let result = report.get(sim_property).expect("the simulator checks it");
    assert_eq!(result.outcome, locklab_checkers::Outcome::Violated, "{}\n{}", cx.scenario_toml, cx.step_list);
}

#[test]
fn the_lease_counterexample_replays_in_the_simulator() {
    replays(&model("lease", "pause"), prop::NO_STALE_WRITE, "no_stale_write");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive; run with cargo test --release -p locklab-models")]
fn the_redlock_counterexample_replays_in_the_simulator() {
    replays(&model("redlock", "jump,drop"), prop::BELIEF_MUTEX, "mutual_exclusion");
}

fn args(protocol: &str, faults: Option<&str>) -> CheckArgs {
    CheckArgs {
        protocol: protocol.to_string(),
        clients: 2,
        servers: None,
        faults: faults.map(str::to_string),
        strategy: "bfs".to_string(),
        depth: None,
        threads: 1,
        timeout: None,
        stats: false,
        out: std::env::temp_dir().join("locklab-models-cli"),
        persistence: None,
        horizon: 9,
        seed: 1,
    }
}

#[test]
fn bad_input_exits_2() {
    assert_eq!(check(&args("paxos", None)), EXIT_USAGE);
    assert_eq!(check(&args("lease", Some("meteor"))), EXIT_USAGE);
    let mut a = args("lease", Some("none"));
    a.strategy = "sideways".into();
    assert_eq!(check(&a), EXIT_USAGE);
}

#[test]
fn exit_codes_follow_the_verdicts() {
    assert_eq!(check(&args("lease", Some("pause"))), 1);
    assert_eq!(check(&args("lease-fenced", Some("pause"))), 0);
}

const PINNED_LEASE_NONE: usize = 58;
const PINNED_LEASE_PAUSE: usize = 665;
const PINNED_LEASE_FENCED_PAUSE: usize = 496;
const PINNED_LEASE_PAUSE_CX_STEPS: usize = 25;
const PINNED_REDLOCK_NONE: usize = 4554;
const PINNED_LEASE_FENCED_STANDARD: usize = 83722;
