//! Running the stateright checker on a model and collecting verdicts and figures.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use stateright::{Checker, CheckerBuilder, Expectation, HasDiscoveries, Model, UniformChooser};

use crate::model::{Action, LockModel, State};

/// How the state space is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth first: finds the shortest counterexamples, keeps every frontier state in memory.
    Bfs,
    /// Depth first: least memory.
    Dfs,
    /// Random walks (stateright's simulation checker): not exhaustive, for spaces too big.
    Random { seed: u64 },
}

impl Strategy {
    pub fn parse(name: &str, seed: u64) -> Result<Strategy, String> {
        match name {
            "bfs" => Ok(Strategy::Bfs),
            "dfs" => Ok(Strategy::Dfs),
            "random" => Ok(Strategy::Random { seed }),
            other => Err(format!("unknown strategy `{other}`; valid strategies: bfs, dfs, random")),
        }
    }
}

/// One property's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub name: &'static str,
    pub expectation: Expectation,
    /// A counterexample (Always) or an example (Sometimes) was found.
    pub discovered: bool,
}

/// What one check produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// The whole reachable space (within the horizon) was explored: no timeout, no depth bound,
    /// not a random walk.
    pub complete: bool,
    pub verdicts: Vec<Verdict>,
}

impl Outcome {
    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.name == name)
    }
}

fn builder(
    model: &LockModel,
    threads: usize,
    depth: Option<usize>,
    timeout: Option<Duration>,
) -> CheckerBuilder<LockModel> {
    let mut b = model.clone().checker().threads(threads);
    if let Some(d) = depth {
        b = b.target_max_depth(d);
    }
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b
}

fn collect<C: Checker<LockModel>>(model: &LockModel, checker: C, started: Instant, bounded: bool) -> Outcome {
    let checker = checker.join();
    let seconds = started.elapsed().as_secs_f64();
    let discoveries = checker.discoveries();
    let verdicts = model
        .properties()
        .into_iter()
        .map(|p| Verdict { name: p.name, expectation: p.expectation, discovered: discoveries.contains_key(p.name) })
        .collect();
    Outcome {
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        seconds,
        complete: !bounded,
        verdicts,
    }
}

/// Check every property of `model`. Exploration stops early only once every property has a
/// discovery (then every `Always` property is violated and nothing is left to learn).
pub fn run(
    model: &LockModel,
    strategy: Strategy,
    threads: usize,
    depth: Option<usize>,
    timeout: Option<Duration>,
) -> Outcome {
    let started = Instant::now();
    let b = builder(model, threads, depth, timeout);
    let mut outcome = match strategy {
        Strategy::Bfs => collect(model, b.spawn_bfs(), started, false),
        Strategy::Dfs => collect(model, b.spawn_dfs(), started, false),
        Strategy::Random { seed } => collect(model, b.spawn_simulation(seed, UniformChooser), started, true),
    };
    let timed_out = timeout.is_some_and(|t| outcome.seconds + 0.05 >= t.as_secs_f64());
    outcome.complete = outcome.complete && depth.is_none() && !timed_out;
    outcome
}

/// The shortest path to a state violating `property`: one-thread BFS that stops at the first
/// block with a discovery (stateright keeps replacing a property's saved path while it searches,
/// so a full search would report the last, not the first), then bounded re-searches until no
/// shorter path exists.
pub fn shortest_counterexample(model: &LockModel, property: &'static str) -> Option<Vec<(State, Option<Action>)>> {
    let search = |max_depth: Option<usize>| {
        let mut b = model.clone().checker().finish_when(HasDiscoveries::AnyOf(BTreeSet::from([property])));
        if let Some(d) = max_depth {
            b = b.target_max_depth(d);
        }
        b.spawn_bfs().join().discovery(property).map(|p| p.into_vec())
    };
    let mut best = search(None)?;
    // A path of n states has depth n; look for one with fewer states.
    while best.len() > 1 {
        match search(Some(best.len() - 1)) {
            Some(shorter) if shorter.len() < best.len() => best = shorter,
            _ => break,
        }
    }
    Some(best)
}
