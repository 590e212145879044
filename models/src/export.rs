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
//! timers stay on tick boundaries.
//!
//! Within one instant the simulator runs one particular order of the events the model lets
//! happen in any order (first scheduled, first run: due timers before fresh messages). A
//! violation that depends on another in-tick order may therefore replay differently. Two things
//! deal with that: *ordering pauses* ([`export_with`]) pause, for a millisecond, a node whose
//! timer the model fires after the other nodes' activity at that instant (and hold back by a
//! millisecond a delayed message the model delivers after it); and every export is
//! replayed at once ([`replay`]), with the simulator's own checkers, so that `locklab check`
//! never claims a reproduction it has not seen (it tries the plain and the ordered export of the
//! shortest path, then of the path its search saved, and says which one reproduced).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use locklab_protocols::history::Observation;
use locklab_protocols::{Msg, NodeId, Timer};

use crate::model::{prop, Action, LockModel, LogEvent, State};

/// A counterexample in both forms.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub property: &'static str,
    /// Model steps (actions) in the path.
    pub steps: usize,
    pub scenario_toml: String,
    pub step_list: String,
}

/// The simulator's name for a model property (the checker `locklab run` reports it under).
/// Every `Always` property has one; linearizability is judged there by `locklab-lincheck`'s
/// lease spec, an implementation independent of the stateright tester the model uses.
pub fn sim_property(property: &str) -> Option<&'static str> {
    match property {
        p if p == prop::NO_STALE_WRITE => Some("no_stale_write"),
        p if p == prop::BELIEF_MUTEX => Some("mutual_exclusion"),
        p if p == prop::TOKENS_INCREASE => Some("token_order"),
        p if p == prop::LINEARIZABLE => Some("linearizable"),
        p if prop::RAFT.contains(&p) => Some("raft_safety"),
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
    export_with(model, property, path, false)
}

/// [`export`], optionally with *ordering pauses*.
///
/// The simulator runs the events of one instant first scheduled, first run: timers due at that
/// instant fire before any message sent at that instant is delivered. The model may fire a
/// node's timer *after* other nodes have handled messages in the same tick. With
/// `order_pauses`, such a node is paused at the start of that instant for a millisecond or two
/// (one more for each node deferred earlier in the tick), so that in the simulator its timer fires
/// after the other nodes' activity, as in the model; likewise a held-back message the model
/// delivers after other activity at its instant arrives a millisecond or two later. This is a
/// heuristic: whether the scenario
/// reproduces the violation is decided by replaying it ([`replay`]), never assumed.
pub fn export_with(
    model: &LockModel,
    property: &'static str,
    path: &[(State, Option<Action>)],
    order_pauses: bool,
) -> Counterexample {
    let tick_ms = model.setup.timing.tick_ms;
    let at_ms = |tick: u32| (tick as u64 + 1) * tick_ms;
    let mut steps = String::new();
    let mut faults = String::new();
    let mut counts: BTreeMap<(&'static str, NodeId, NodeId), u32> = BTreeMap::new();
    let mut flying: Vec<InFlight> = Vec::new();
    // Pauses and crashes not yet ended: (kind, node) -> start tick.
    let mut open_faults: BTreeMap<(&str, NodeId), u32> = BTreeMap::new();
    let end_tick = model.setup.timing.horizon_ticks + 1;

    let mut log = Vec::new();
    let init = model.init_state(Some(&mut log));
    // When each pending timer was (last) set, as a step number: the simulator fires the timers
    // due at one instant in the order they were set.
    let mut set_at: BTreeMap<(NodeId, Timer), usize> = BTreeMap::new();
    for (n, slot) in init.slots.iter().enumerate() {
        for &(t, _) in &slot.timers {
            set_at.insert((n, t), 0);
        }
    }
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
    // For ordering pauses, within the tick being walked: the nodes that handled an event, whether
    // a message was delivered, the latest-set timer that fired, and how many were deferred.
    let mut tick = 0u32;
    let mut acted: Vec<NodeId> = Vec::new();
    let mut delivered = false;
    let mut latest_fired: Option<usize> = None;
    let mut deferred = 0u64;
    // Would the simulator have fired a timer set at step `set` before what the model did so far
    // in this instant? (Due timers fire before fresh messages, and in the order they were set.)
    let overtaken = |set: usize, delivered: bool, latest_fired: Option<usize>| {
        delivered || latest_fired.is_some_and(|latest| latest > set)
    };
    for (state, action) in path {
        let Some(action) = action else { continue };
        n_steps += 1;
        let now = state.now_tick;
        if now != tick {
            (tick, deferred, delivered, latest_fired) = (now, 0, false, None);
            acted.clear();
        }
        // Something already happened at this instant in the model before this action.
        let late = order_pauses && !acted.is_empty();
        match *action {
            Action::Fire { node, timer } => {
                let set = set_at.get(&(node, timer)).copied().unwrap_or(0);
                if order_pauses && !acted.contains(&node) && overtaken(set, delivered, latest_fired) {
                    deferred += 1;
                    let _ = writeln!(
                        faults,
                        "# ordering pause: {} handles this instant after the others",
                        model.name(node)
                    );
                    push_process_fault(&mut faults, "pause", model.name(node), now as u64 * tick_ms, Some(deferred));
                }
                latest_fired = latest_fired.max(Some(set));
                acted.push(node);
            }
            Action::Deliver { to, .. } => {
                delivered = true;
                acted.push(to);
            }
            _ => {}
        }
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
                        // The simulator delivers a message that was due at this instant before
                        // anything sent at it: when the model delivers it after other activity,
                        // it arrives a millisecond or two later.
                        let mut extra_ms = (now - f.sent_tick) as u64 * tick_ms;
                        if late {
                            deferred += 1;
                            extra_ms += deferred;
                            let _ = writeln!(faults, "# ordering delay: after this instant's other events");
                        }
                        let _ = write!(
                            faults,
                            "[[faults]]\nkind = \"delay\"\nmessage = \"{}\"\nfrom = [\"{}\"]\nto = [\"{}\"]\nnth = {}\nextra_ms = {}\n\n",
                            f.msg.kind(),
                            model.name(f.from),
                            model.name(f.to),
                            f.nth,
                            extra_ms
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
            Action::Pause { node } | Action::Crash { node } => {
                let kind = if matches!(action, Action::Pause { .. }) { "pause" } else { "crash" };
                open_faults.insert((kind, node), now);
            }
            Action::Resume { node } | Action::Restart { node } => {
                let kind = if matches!(action, Action::Resume { .. }) { "pause" } else { "crash" };
                if let Some(start) = open_faults.remove(&(kind, node)) {
                    let duration_ms = Some((now - start) as u64 * tick_ms);
                    push_process_fault(&mut faults, kind, model.name(node), at_ms(start), duration_ms);
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
        for (n, (before, now_slot)) in state.slots.iter().zip(&after.slots).enumerate() {
            for timer in &now_slot.timers {
                if !before.timers.contains(timer) {
                    set_at.insert((n, timer.0), n_steps);
                }
            }
        }
    }
    // Nodes whose timer was due in the last instant but had not fired when the violation came
    // would, in the simulator, have fired it first.
    if let (true, Some((last, _))) = (order_pauses, path.last()) {
        if last.now_tick == tick {
            let overtaken_due = |n: NodeId| {
                model
                    .due_timers(last, n)
                    .into_iter()
                    .any(|t| overtaken(set_at.get(&(n, t)).copied().unwrap_or(0), delivered, latest_fired))
            };
            for node in (0..last.slots.len()).filter(|&n| !acted.contains(&n) && overtaken_due(n)) {
                deferred += 1;
                let _ =
                    writeln!(faults, "# ordering pause: {}'s due timer fires after the violation", model.name(node));
                push_process_fault(&mut faults, "pause", model.name(node), tick as u64 * tick_ms, Some(deferred));
            }
        }
    }
    // Faults still in progress when the path ends last until the end of the scenario: a message
    // held back and not delivered yet arrives after it.
    for f in flying.iter().filter(|f| f.delayed) {
        let _ = write!(
            faults,
            "[[faults]]\nkind = \"delay\"\nmessage = \"{}\"\nfrom = [\"{}\"]\nto = [\"{}\"]\nnth = {}\nextra_ms = {}\n\n",
            f.msg.kind(),
            model.name(f.from),
            model.name(f.to),
            f.nth,
            (end_tick + 1 - f.sent_tick) as u64 * tick_ms
        );
    }
    // Still paused at the end: resume after the horizon. Still crashed: never restart.
    for kind in ["pause", "crash"] {
        for (&(_, node), &start) in open_faults.iter().filter(|((k, _), _)| *k == kind) {
            let duration_ms = (kind == "pause").then(|| (end_tick - start) as u64 * tick_ms);
            push_process_fault(&mut faults, kind, model.name(node), at_ms(start), duration_ms);
        }
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
    // The violated property, as the scenario format's `expect` key.
    match sim_property(property) {
        Some(p) => {
            let _ = writeln!(toml, "expect = {{ {p} = \"violated\" }}\n");
        }
        None => toml.push('\n'),
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

/// Run a scenario text (first protocol variant, its seed) in the simulator and judge `property`
/// with the simulator's own checkers, exactly as `locklab run` does.
pub fn replay(scenario_toml: &str, property: &str) -> Result<Replay, String> {
    let file = "<counterexample>";
    let scenario = locklab_sim::parse(file, scenario_toml).map_err(|e| e.to_string())?;
    let compiled = locklab_sim::compile(file, scenario_toml, scenario).map_err(|e| e.to_string())?;
    Ok(replay_compiled(&compiled, property))
}

/// [`replay`] for an already compiled scenario.
pub fn replay_compiled(compiled: &locklab_sim::Compiled, property: &str) -> Replay {
    let Some(p) = sim_property(property) else {
        return Replay { violated: false, detail: format!("the simulator does not judge \"{property}\"") };
    };
    let mut world = locklab_sim::World::new(compiled.world_spec(0, compiled.scenario.scenario.seed, false));
    world.run();
    let info = locklab_checkers::RunInfo {
        names: &compiled.names,
        clients: &compiled.clients,
        end_ns: world.stats.end_ns,
        messages_delivered: world.stats.messages_delivered,
        ttl_ms: compiled.variants[0].ttl_ms(),
        lazy_expiry: compiled.variants[0].lazy_expiry(),
        session_lease: compiled.variants[0].session_lease(),
        mutex_comparison: true,
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
