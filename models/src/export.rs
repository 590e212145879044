//! Counterexamples out of the model checker, in two forms: a scenario file that `locklab run`
//! replays to the same violation, and a readable step list.
//!
//! # How a path becomes a scenario
//!
//! The scenario's base (topology, workload, protocol parameters) is the very text the model was
//! built from ([`crate::setup`]). What the path adds is its faults, each in a form the simulator
//! already understands:
//!
//! | model action                          | scenario fault                                        |
//! |---------------------------------------|-------------------------------------------------------|
//! | `Pause` at tick *k*, `Resume` at *j*  | `pause`, `at_ms = (k+1)·tick`, `duration_ms = (j−k)·tick` |
//! | `Crash` at *k*, `Restart` at *j*      | `crash`, `at_ms = (k+1)·tick`, `duration_ms = (j−k)·tick` |
//! | `ClockJump` at *k*                    | `clock_jump`, `at_ms = (k+1)·tick`, `by_ms`            |
//! | `Drop` of a message                   | `drop` of the n-th message of its kind on its link     |
//! | `Delay`, delivered *d* ticks later     | `delay` of that message, `extra_ms = d·tick`           |
//!
//! Process faults happen at quiescent points in the model, which are the instants `(k+1)·tick`
//! in the simulator, before that instant's events. The scenario's latency is zero, so everything
//! the model does within tick *k* happens at the instant `k·tick` in the simulator, and clocks and
//! timers stay on tick boundaries. Within one instant, the simulator runs one particular order
//! of the events the model lets happen in any order; a violation that depends on a particular
//! in-tick order may therefore replay differently, which is why every export is replayed at once
//! ([`replay`]) and the report says whether it reproduced.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use locklab_protocols::history::Observation;
use locklab_protocols::{Msg, NodeId};

use crate::model::{prop, Action, LockModel, LogEvent, State};
use crate::spec;

/// A counterexample in both forms.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub property: &'static str,
    /// Model steps (actions) in the path.
    pub steps: usize,
    pub scenario_toml: String,
    pub step_list: String,
}

/// The simulator's name for a model property, if the simulator's checkers judge it.
pub fn sim_property(property: &str) -> Option<&'static str> {
    match property {
        p if p == prop::NO_STALE_WRITE => Some("no_stale_write"),
        p if p == prop::BELIEF_MUTEX => Some("mutual_exclusion"),
        p if p == prop::TOKENS_INCREASE => Some("token_order"),
        _ => None,
    }
}

/// A file-name-friendly form of a property name.
pub fn slug(property: &str) -> String {
    property
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

struct InFlight {
    from: NodeId,
    to: NodeId,
    msg: Msg,
    sent_tick: u32,
    nth: u32,
    delayed: bool,
}

fn obs_line(model: &LockModel, node: NodeId, obs: &Observation) -> String {
    format!("{}: {obs:?}", model.name(node))
}

/// Turn a path of the model into a scenario file and a step list.
pub fn export(model: &LockModel, property: &'static str, path: &[(State, Option<Action>)]) -> Counterexample {
    let tick_ms = model.setup.timing.tick_ms;
    let at_ms = |tick: u32| (tick as u64 + 1) * tick_ms;
    let mut steps = String::new();
    let mut faults = String::new();
    let mut counts: BTreeMap<(&'static str, NodeId, NodeId), u32> = BTreeMap::new();
    let mut flying: Vec<InFlight> = Vec::new();
    let mut paused_at: BTreeMap<NodeId, u32> = BTreeMap::new();
    let mut crashed_at: BTreeMap<NodeId, u32> = BTreeMap::new();
    let end_tick = model.setup.timing.horizon_ticks + 1;

    let mut log = Vec::new();
    let _ = model.init_state(Some(&mut log));
    let _ = writeln!(steps, "[t=0 ms] start");
    let mut absorb = |log: &mut Vec<LogEvent>, now: u32, steps: &mut String, flying: &mut Vec<InFlight>| {
        for event in log.drain(..) {
            match event {
                LogEvent::Sent { from, to, msg } => {
                    let n = counts.entry((msg.kind(), from, to)).or_insert(0);
                    *n += 1;
                    let _ = writeln!(steps, "        {} → {}: {msg}", model.name(from), model.name(to));
                    flying.push(InFlight { from, to, msg, sent_tick: now, nth: *n, delayed: false });
                }
                LogEvent::Recorded { node, obs } => {
                    let _ = writeln!(steps, "        {}", obs_line(model, node, &obs));
                }
            }
        }
    };
    absorb(&mut log, 0, &mut steps, &mut flying);

    let mut n_steps = 0;
    for (state, action) in path {
        let Some(action) = action else { continue };
        n_steps += 1;
        let now = state.now_tick;
        let _ = writeln!(steps, "[t={} ms] {}", now as u64 * tick_ms, model_action(model, action));
        let take = |flying: &mut Vec<InFlight>, index: usize| -> Option<InFlight> {
            let e = &state.network[index];
            let i = flying.iter().position(|f| f.from == e.from && f.to == e.to && f.msg == e.msg)?;
            Some(flying.remove(i))
        };
        match *action {
            Action::Deliver { index, .. } => {
                if let Some(f) = take(&mut flying, index) {
                    if f.delayed && now > f.sent_tick {
                        let _ = write!(
                            faults,
                            "[[faults]]\nkind = \"delay\"\nmessage = \"{}\"\nfrom = [\"{}\"]\nto = [\"{}\"]\nnth = {}\nextra_ms = {}\n\n",
                            f.msg.kind(),
                            model.name(f.from),
                            model.name(f.to),
                            f.nth,
                            (now - f.sent_tick) as u64 * tick_ms
                        );
                    }
                }
            }
            Action::Drop { index, .. } => {
                if let Some(f) = take(&mut flying, index) {
                    let _ = write!(
                        faults,
                        "[[faults]]\nkind = \"drop\"\nmessage = \"{}\"\nfrom = [\"{}\"]\nto = [\"{}\"]\nnth = {}\n\n",
                        f.msg.kind(),
                        model.name(f.from),
                        model.name(f.to),
                        f.nth
                    );
                }
            }
            Action::Delay { index, .. } => {
                let e = &state.network[index];
                if let Some(f) = flying.iter_mut().find(|f| f.from == e.from && f.to == e.to && f.msg == e.msg) {
                    f.delayed = true;
                }
            }
            Action::Pause { node } => {
                paused_at.insert(node, now);
            }
            Action::Resume { node } => {
                if let Some(start) = paused_at.remove(&node) {
                    push_process_fault(
                        &mut faults,
                        "pause",
                        model.name(node),
                        at_ms(start),
                        Some((now - start) as u64 * tick_ms),
                    );
                }
            }
            Action::Crash { node } => {
                crashed_at.insert(node, now);
            }
            Action::Restart { node } => {
                if let Some(start) = crashed_at.remove(&node) {
                    push_process_fault(
                        &mut faults,
                        "crash",
                        model.name(node),
                        at_ms(start),
                        Some((now - start) as u64 * tick_ms),
                    );
                }
            }
            Action::ClockJump { node } => {
                let _ = write!(
                    faults,
                    "[[faults]]\nkind = \"clock_jump\"\nnode = \"{}\"\nat_ms = {}\nby_ms = {}\n\n",
                    model.name(node),
                    at_ms(now),
                    model.setup.timing.clock_jump_ms
                );
            }
            Action::Fire { .. } | Action::Tick => {}
        }
        let mut after = state.clone();
        model.step(&mut after, action, Some(&mut log));
        absorb(&mut log, after.now_tick, &mut steps, &mut flying);
    }
    // Faults still in progress when the path ends last until the end of the scenario.
    for (node, start) in paused_at {
        push_process_fault(
            &mut faults,
            "pause",
            model.name(node),
            at_ms(start),
            Some((end_tick - start) as u64 * tick_ms),
        );
    }
    for (node, start) in crashed_at {
        push_process_fault(&mut faults, "crash", model.name(node), at_ms(start), None);
    }
    if let Some((last, _)) = path.last() {
        let _ = writeln!(steps, "[t={} ms] VIOLATED: {property}", last.now_tick as u64 * tick_ms);
    }

    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# Counterexample to \"{property}\" found by `locklab check {}` ({} model steps).\n\
         # Replay: locklab run <this file> --protocol {}\n#",
        model.setup.protocol.name(),
        n_steps,
        model.setup.protocol.name()
    );
    toml.push_str(&model.setup.base_toml);
    match sim_property(property) {
        Some(p) => {
            let _ = writeln!(toml, "expect = {{ {p} = \"violated\" }}\n");
        }
        None => {
            toml.push_str("# (linearizability is judged by locklab-models' lease spec over the replayed history)\n\n")
        }
    }
    toml.push_str(&faults);
    Counterexample { property, steps: n_steps, scenario_toml: toml, step_list: steps }
}

fn push_process_fault(out: &mut String, kind: &str, node: &str, at_ms: u64, duration_ms: Option<u64>) {
    let _ = write!(out, "[[faults]]\nkind = \"{kind}\"\nnode = \"{node}\"\nat_ms = {at_ms}\n");
    if let Some(d) = duration_ms {
        let _ = writeln!(out, "duration_ms = {d}");
    }
    out.push('\n');
}

fn model_action(model: &LockModel, action: &Action) -> String {
    use stateright::Model;
    model.format_action(action)
}

/// What replaying a scenario in the simulator showed for one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    pub violated: bool,
    /// The simulator's outcome (`holds`, `violated`, `vacuous`, …) and message.
    pub detail: String,
}

/// Run a scenario text (first protocol variant, seed 1) in the simulator and judge `property`
/// the way the model does: with the simulator's checkers, or for linearizability with the lease
/// spec of [`crate::spec`] over the run's history.
pub fn replay(scenario_toml: &str, property: &str) -> Result<Replay, String> {
    let file = "<counterexample>";
    let scenario = locklab_sim::parse(file, scenario_toml).map_err(|e| e.to_string())?;
    let compiled = locklab_sim::compile(file, scenario_toml, scenario).map_err(|e| e.to_string())?;
    Ok(replay_compiled(&compiled, property))
}

/// [`replay`] for an already compiled scenario.
pub fn replay_compiled(compiled: &locklab_sim::Compiled, property: &str) -> Replay {
    let mut world = locklab_sim::World::new(compiled.world_spec(0, compiled.scenario.scenario.seed, false));
    world.run();
    match sim_property(property) {
        Some(p) => {
            let info = locklab_checkers::RunInfo {
                names: &compiled.names,
                clients: &compiled.clients,
                end_ns: world.stats.end_ns,
                messages_delivered: world.stats.messages_delivered,
                ttl_ms: compiled.variants[0].ttl_ms(),
            };
            let report = locklab_checkers::check(&world.history, &info);
            match report.get(p) {
                Some(r) => Replay {
                    violated: r.outcome == locklab_checkers::Outcome::Violated,
                    detail: match &r.violation {
                        Some(v) => format!("{}: {}", r.outcome.as_str(), v.message),
                        None => format!("{}: {}", r.outcome.as_str(), r.summary),
                    },
                },
                None => Replay { violated: false, detail: format!("the simulator reports no `{p}`") },
            }
        }
        None => {
            let ttl_ms = compiled.variants[0].ttl_ms().unwrap_or(0);
            let history = spec::history_of_run(&world.history);
            let ok = spec::check_history(ttl_ms * 1_000_000, &history).unwrap_or(false);
            Replay {
                violated: !ok,
                detail: format!(
                    "{} ({} client-visible events)",
                    if ok { "linearizable" } else { "NOT linearizable" },
                    history.len()
                ),
            }
        }
    }
}
