//! Verdicts, pinned state counts, shortest counterexamples, and counterexamples that replay in
//! the simulator.
//!
//! Every test here is exhaustive (one-thread BFS over the whole reachable space) and finishes in
//! seconds in a debug build: the root `Cargo.toml` compiles stateright and this crate with
//! `opt-level = 3` even in the dev profile. The unique-state counts are pinned, as stateright's
//! own examples do: a change to a protocol, to the model or to stateright that changes the state
//! space shows up here, and the new number goes in with the change that explains it.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use locklab_models::check::{run, shortest_counterexample, violated_within, Strategy};
use locklab_models::cli::{build_model, check, explore, CheckArgs, ExploreArgs, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};
use locklab_models::export::{export, export_with, replay, replay_compiled};
use locklab_models::{prop, Action, LockModel, State};
use stateright::Model as _;

const ALWAYS: [&str; 4] = [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX, prop::TOKENS_INCREASE, prop::LINEARIZABLE];

fn model_with(protocol: &str, faults: &str, persistence: Option<&str>) -> LockModel {
    build_model(protocol, 2, None, Some(faults), persistence, Some(9)).expect("valid configuration")
}

fn model(protocol: &str, faults: &str) -> LockModel {
    model_with(protocol, faults, None)
}

/// Unique states and (property, discovered) for every property: one-thread BFS, exhaustive.
fn verdicts(m: &LockModel) -> (usize, Vec<(&'static str, bool)>) {
    let outcome = run(m, Strategy::Bfs, 1, None, None);
    assert!(outcome.complete);
    (outcome.unique_states, outcome.verdicts.iter().map(|v| (v.name, v.discovered)).collect())
}

fn discovered(v: &[(&'static str, bool)], name: &str) -> bool {
    v.iter().find(|(n, _)| *n == name).expect("property exists").1
}

/// The properties with a discovery: violated `Always`s and reached `Sometimes`s.
fn found(v: &[(&'static str, bool)]) -> Vec<&'static str> {
    v.iter().filter(|(_, d)| *d).map(|(n, _)| *n).collect()
}

/// The shortest counterexample, checked independently: its last state violates the property,
/// and an exhaustive search bounded one step shorter finds no violation at all.
fn shortest(m: &LockModel, property: &'static str) -> Vec<(State, Option<Action>)> {
    let path = shortest_counterexample(m, property).expect("a counterexample");
    let condition = m.properties().into_iter().find(|p| p.name == property).expect("property").condition;
    let (last, _) = path.last().expect("a path has a state");
    assert!(!condition(m, last), "the path ends in a state that violates {property}");
    assert!(violated_within(m, property, path.len()), "the bounded search sees the path itself");
    assert!(!violated_within(m, property, path.len() - 1), "a shorter counterexample to {property} exists");
    path
}

fn action_names(path: &[(State, Option<Action>)]) -> Vec<String> {
    path.iter().filter_map(|(_, a)| a.as_ref()).map(|a| format!("{a:?}")).collect()
}

/// Write the counterexample as `locklab run` reads it (a file, loaded by the simulator's
/// loader), run it in the simulator, judge it with the simulator's checkers: the same property
/// must be violated. Also check the step list ends with the violation.
fn replays(m: &LockModel, property: &'static str, path: &[(State, Option<Action>)]) {
    let cx = export(m, property, path);
    assert_eq!(cx.steps, path.len() - 1);
    assert!(cx.step_list.trim_end().ends_with(&format!("VIOLATED: {property}")), "{}", cx.step_list);
    let dir = std::env::temp_dir().join(format!("locklab-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}-{}.toml", m.setup.protocol.name(), locklab_models::export::slug(property)));
    std::fs::write(&file, &cx.scenario_toml).unwrap();
    let compiled = locklab_sim::load_compiled(&file).expect("the scenario loads");
    let outcome = replay_compiled(&compiled, property);
    assert!(outcome.violated, "{}\n{}\n{}", outcome.detail, cx.scenario_toml, cx.step_list);
}

// ---- the lease, without fencing ----

#[test]
fn lease_without_faults_is_safe_and_not_vacuous() {
    let (unique, v) = verdicts(&model("lease", "none"));
    assert_eq!(unique, PINNED_LEASE_NONE);
    assert_eq!(found(&v), [prop::LOCK_GRANTED, prop::TWO_CS]);
}

#[test]
fn a_client_pause_makes_the_unfenced_lease_write_stale() {
    let m = model("lease", "pause");
    let (unique, v) = verdicts(&m);
    assert_eq!(unique, PINNED_LEASE_PAUSE);
    assert!(discovered(&v, prop::NO_STALE_WRITE));
    assert!(discovered(&v, prop::BELIEF_MUTEX));
    assert!(!discovered(&v, prop::LINEARIZABLE), "a client pause does not break the service");
    let path = shortest(&m, prop::NO_STALE_WRITE);
    assert_eq!(path.len() - 1, PINNED_LEASE_PAUSE_CX_STEPS, "shortest counterexample length");
    assert!(action_names(&path).iter().any(|a| a.starts_with("Pause")));
    replays(&m, prop::NO_STALE_WRITE, &path);
}

#[test]
fn the_standard_lease_configuration_breaks_and_replays() {
    let m = model("lease", "pause,drop,crash");
    let (_, v) = verdicts(&m);
    assert_eq!(
        found(&v),
        [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX, prop::LOCK_GRANTED, prop::TWO_CS],
        "tokens are issued in order and the service itself stays linearizable"
    );
    for property in [prop::NO_STALE_WRITE, prop::BELIEF_MUTEX] {
        replays(&m, property, &shortest(&m, property));
    }
}

// ---- the lease with fencing ----

#[test]
fn fencing_stops_the_paused_clients_write() {
    let (unique, v) = verdicts(&model("lease-fenced", "pause"));
    assert_eq!(unique, PINNED_LEASE_FENCED_PAUSE);
    assert_eq!(found(&v), [prop::LOCK_GRANTED, prop::TWO_CS]);
}

#[test]
fn standard_lease_fenced_configuration_holds_exhaustively() {
    let m = model("lease-fenced", "pause,drop,crash");
    let (unique, v) = verdicts(&m);
    assert_eq!(unique, PINNED_LEASE_FENCED_STANDARD);
    for (name, found) in v {
        assert_eq!(found, !ALWAYS.contains(&name), "{name}: every Always holds, every Sometimes is reached");
    }
}

#[test]
fn a_fenced_lease_server_that_forgets_breaks_belief_not_the_resource() {
    // Without persistence a restarted server grants a lock it had already granted: two clients
    // believe, but the resource still rejects the older token.
    let m = model_with("lease-fenced", "pause,crash", Some("none"));
    let (_, v) = verdicts(&m);
    assert!(discovered(&v, prop::BELIEF_MUTEX));
    assert!(!discovered(&v, prop::NO_STALE_WRITE));
    let path = shortest(&m, prop::BELIEF_MUTEX);
    assert!(action_names(&path).iter().any(|a| a.starts_with("Restart")));
    replays(&m, prop::BELIEF_MUTEX, &path);
}

#[test]
fn ordering_pauses_make_a_same_instant_counterexample_replay() {
    // The shortest path has client 2 acquire at the very instant client 1's resource time-out is
    // due, before it fires. The simulator fires due timers first, so the plain export does not
    // show two holders; with an ordering pause on client 1 it does.
    let m = model_with("lease-fenced", "crash,delay", Some("none"));
    let path = shortest(&m, prop::BELIEF_MUTEX);
    let cx = export_with(&m, prop::BELIEF_MUTEX, &path, true);
    assert!(cx.scenario_toml.contains("# ordering pause"), "{}", cx.scenario_toml);
    let replayed = replay(&cx.scenario_toml, prop::BELIEF_MUTEX).expect("loads");
    assert!(replayed.violated, "{}\n{}", replayed.detail, cx.scenario_toml);
}

// ---- Redlock ----

#[test]
fn redlock_without_faults_is_safe() {
    let (unique, v) = verdicts(&model("redlock", "none"));
    assert_eq!(unique, PINNED_REDLOCK_NONE);
    assert_eq!(found(&v), [prop::LOCK_GRANTED, prop::TWO_CS]);
}

#[test]
fn redlock_belief_breaks_with_a_clock_jump_on_one_server() {
    // Kleppmann's scenario on three servers: c1's request to one server is lost (c1 still has a
    // majority), one of c1's servers' wall clock jumps and expires c1's key, c2 wins a majority.
    let m = model("redlock", "jump,drop");
    let path = shortest(&m, prop::BELIEF_MUTEX);
    let actions = action_names(&path);
    assert_eq!(actions.iter().filter(|a| a.starts_with("ClockJump")).count(), 1, "{actions:?}");
    replays(&m, prop::BELIEF_MUTEX, &path);
    // The jump is what breaks it: the same budget without the jump finds nothing.
    let (_, v) = verdicts(&model("redlock", "drop"));
    assert!(!discovered(&v, prop::BELIEF_MUTEX));
}

#[test]
fn redlock_belief_breaks_with_a_restart_without_persistence() {
    let m = model_with("redlock", "crash,drop", Some("none"));
    let path = shortest(&m, prop::BELIEF_MUTEX);
    let actions = action_names(&path);
    assert!(actions.iter().any(|a| a.starts_with("Restart")), "{actions:?}");
    replays(&m, prop::BELIEF_MUTEX, &path);
    // With fsync on every write the same budget finds nothing.
    let (_, v) = verdicts(&model_with("redlock", "crash,drop", Some("always")));
    assert!(!discovered(&v, prop::BELIEF_MUTEX));
}

#[test]
fn the_standard_redlock_configuration_breaks_and_replays() {
    let m = model("redlock", "jump,crash");
    let (unique, v) = verdicts(&m);
    assert_eq!(unique, PINNED_REDLOCK_STANDARD);
    assert_eq!(found(&v), [prop::BELIEF_MUTEX, prop::LINEARIZABLE, prop::LOCK_GRANTED, prop::TWO_CS]);
    for property in [prop::BELIEF_MUTEX, prop::LINEARIZABLE] {
        replays(&m, property, &shortest(&m, property));
    }
}

// ---- the Raft-backed lock service (3 peers, 2 clients) ----

const RAFT_ALWAYS: [&str; 4] = prop::RAFT;

#[test]
fn raft_without_faults_is_safe_and_not_vacuous() {
    // Horizon 4 is the smallest in which both clients finish a critical section: c1 holds at
    // tick 1 and releases at 2, c2 starts at 3 and releases at 4.
    let m = build_model("raft", 2, None, Some("none"), None, Some(4)).expect("valid configuration");
    let (unique, v) = verdicts(&m);
    assert_eq!(unique, PINNED_RAFT_NONE);
    assert_eq!(found(&v), [prop::LOCK_GRANTED, prop::TWO_CS], "every Always holds, Raft's own included");
    for name in RAFT_ALWAYS {
        assert!(v.iter().any(|(n, _)| *n == name), "{name} is checked");
    }
}

/// A schedule chosen by hand (a *directed* walk through the model, not a search): take the first
/// enabled non-fault step, advance time only when nothing else is enabled, pause c1 as soon as it
/// holds a valid lease, and resume it once the resource applied c2's write. Returns the path
/// (ending in a state where `stop` holds) in stateright's path form.
fn directed_pause(m: &LockModel, stop: impl Fn(&State) -> bool) -> Vec<(State, Option<Action>)> {
    let c1 = m.setup.clients[0];
    let mut s = m.init_states().remove(0);
    let mut path = Vec::new();
    while !stop(&s) {
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        let progress = |a: &&Action| matches!(a, Action::Deliver { .. } | Action::Fire { .. });
        let pick = actions
            .iter()
            .find(|a| matches!(a, Action::Pause { node } if *node == c1) && m.lease_valid(&s, c1))
            .or_else(|| {
                actions.iter().find(|a| matches!(a, Action::Resume { .. }) && s.ghost.newest_applied == Some(1))
            })
            .or_else(|| actions.iter().find(progress))
            .or_else(|| actions.iter().find(|a| matches!(a, Action::Tick)))
            .cloned()
            .unwrap_or_else(|| panic!("the walk is stuck at tick {} after {} steps", s.now_tick, path.len()));
        let next = m.next_state(&s, pick.clone()).expect("a step");
        path.push((s, Some(pick)));
        s = next;
        assert!(path.len() < 1000, "the walk does not end");
    }
    path.push((s, None));
    path
}

#[test]
fn a_client_pause_makes_the_unfenced_raft_lock_write_stale() {
    // Jepsen's etcd lesson: consensus does not make a lease a lock. c1 holds the lock and pauses;
    // its session expires, the leader revokes it and grants c2; c2 writes and releases; c1 resumes
    // and writes as holder. The exhaustive search of this budget (`--faults pause`) does not fit a
    // test (nor 60 s: see models/README.md, "Raft"), so the path is a directed walk through the
    // model; it is then exported and replayed in the simulator like every other counterexample.
    let m = build_model("raft", 2, None, Some("pause"), None, None).expect("valid configuration");
    let path = directed_pause(&m, |s| s.ghost.stale_write);
    let condition = m.properties().into_iter().find(|p| p.name == prop::NO_STALE_WRITE).unwrap().condition;
    assert!(!condition(&m, &path.last().unwrap().0));
    assert!(action_names(&path).iter().any(|a| a.starts_with("Pause")));
    assert_eq!(path.len() - 1, PINNED_RAFT_PAUSE_WALK_STEPS);
    assert_eq!(path.last().unwrap().0.now_tick, 6, "the stale write lands at the horizon's last tick");
    replays(&m, prop::NO_STALE_WRITE, &path);

    // With fencing by revision, the same schedule ends with the resource rejecting c1's write.
    let fenced = build_model("raft-fenced", 2, None, Some("pause"), None, None).expect("valid configuration");
    let path = directed_pause(&fenced, |s| s.now_tick == fenced.setup.timing.horizon_ticks && fenced.quiescent(s));
    let last = &path.last().unwrap().0;
    assert!(!last.ghost.stale_write);
    assert_eq!(last.ghost.acquired.len(), 2, "both clients were granted the lock");
}

// ---- the command line ----

fn args(protocol: &str, faults: Option<&str>, out: &str) -> CheckArgs {
    CheckArgs {
        protocol: protocol.to_string(),
        clients: 2,
        servers: None,
        faults: faults.map(str::to_string),
        strategy: "bfs".to_string(),
        depth: None,
        threads: 1,
        timeout: None,
        stats: true,
        out: std::env::temp_dir().join(format!("locklab-models-cli-{}-{out}", std::process::id())),
        persistence: None,
        horizon: Some(9),
        seed: 1,
    }
}

#[test]
fn bad_input_exits_2() {
    assert_eq!(check(&args("paxos", None, "bad")), EXIT_USAGE);
    assert_eq!(check(&args("lease", Some("meteor"), "bad")), EXIT_USAGE);
    assert_eq!(check(&args("lease", Some("pause=999"), "bad")), EXIT_USAGE);
    let mut a = args("lease", Some("none"), "bad");
    a.strategy = "sideways".into();
    assert_eq!(check(&a), EXIT_USAGE);
    let mut a = args("lease", Some("none"), "bad");
    a.threads = 0;
    assert_eq!(check(&a), EXIT_USAGE);
    let mut a = args("lease", None, "bad");
    a.clients = 9;
    assert_eq!(check(&a), EXIT_USAGE);
    let mut a = args("lease", None, "bad");
    a.horizon = Some(0);
    assert_eq!(check(&a), EXIT_USAGE);
}

#[test]
fn exit_codes_follow_the_verdicts_and_counterexamples_are_written() {
    let a = args("lease", Some("pause"), "lease");
    let _ = std::fs::remove_dir_all(&a.out);
    assert_eq!(check(&a), EXIT_VIOLATION);
    for file in [
        "lease-no-stale-write.toml",
        "lease-no-stale-write.steps.txt",
        "lease-belief-mutual-exclusion.toml",
        "lease-belief-mutual-exclusion.steps.txt",
    ] {
        assert!(a.out.join(file).is_file(), "{file} written");
    }
    let scenario = std::fs::read_to_string(a.out.join("lease-no-stale-write.toml")).unwrap();
    let replayed = replay(&scenario, prop::NO_STALE_WRITE).expect("loads");
    assert!(replayed.violated, "{}", replayed.detail);

    let a = args("lease-fenced", Some("pause"), "fenced");
    assert_eq!(check(&a), EXIT_OK);
    assert!(!a.out.exists(), "no counterexample, no files");

    // A configuration where a Sometimes property cannot be reached fails: one client never
    // completes two critical sections of two clients.
    let mut a = args("lease", Some("none"), "one");
    a.clients = 1;
    assert_eq!(check(&a), EXIT_VIOLATION);
}

#[test]
fn explore_serves_the_explorer_on_loopback() {
    // A free port (a small race with other processes, acceptable in a test).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = ExploreArgs {
        protocol: "lease".into(),
        port,
        clients: 2,
        servers: None,
        faults: Some("none".into()),
        persistence: None,
        horizon: Some(9),
    };
    // The server never returns; the thread dies with the test process.
    std::thread::spawn(move || explore(&args));
    let mut body = String::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { continue };
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /.states HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        body.clear();
        let _ = stream.read_to_string(&mut body);
        break;
    }
    assert!(body.lines().next().is_some_and(|l| l.ends_with("200 OK")), "{body}");
    assert!(body.contains("now_tick: 0"), "the initial state is served: {body}");
    assert!(body.contains(prop::NO_STALE_WRITE), "with its properties");
    // A second explorer on the same port.
    let status = explore(&ExploreArgs {
        protocol: "lease".into(),
        port,
        clients: 2,
        servers: None,
        faults: None,
        persistence: None,
        horizon: Some(9),
    });
    assert_eq!(status, EXIT_USAGE, "the port is taken: a clear error, not a panic");
}

const PINNED_LEASE_NONE: usize = 58;
const PINNED_LEASE_PAUSE: usize = 665;
const PINNED_LEASE_FENCED_PAUSE: usize = 496;
const PINNED_LEASE_PAUSE_CX_STEPS: usize = 24;
const PINNED_REDLOCK_NONE: usize = 4554;
const PINNED_LEASE_FENCED_STANDARD: usize = 78134;
const PINNED_REDLOCK_STANDARD: usize = 119229;
const PINNED_RAFT_NONE: usize = 211243;
const PINNED_RAFT_PAUSE_WALK_STEPS: usize = 110;
