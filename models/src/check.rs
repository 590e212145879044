//! Running the stateright checker on a model and collecting verdicts and figures.

use std::collections::{BTreeMap, BTreeSet};
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
    /// The path the search itself saved for each violated `Always` property: not necessarily the
    /// shortest (see [`shortest_counterexample`]), but a second candidate when the shortest one
    /// does not replay in the simulator.
    pub paths: BTreeMap<&'static str, Vec<(State, Option<Action>)>>,
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
        // `depth` counts steps; stateright counts states (the initial one has depth 1) and skips
        // states at depth ≥ its target: paths of at most `d` steps end at depth `d + 1`.
        b = b.target_max_depth(d + 2);
    }
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b
}

fn collect<C: Checker<LockModel>>(model: &LockModel, checker: C, started: Instant, bounded: bool) -> Outcome {
    let checker = checker.join();
    let seconds = started.elapsed().as_secs_f64();
    let mut discoveries = checker.discoveries();
    let properties = model.properties();
    let verdicts = properties
        .iter()
        .map(|p| Verdict {
            name: p.name,
            expectation: p.expectation.clone(),
            discovered: discoveries.contains_key(p.name),
        })
        .collect();
    let paths = properties
        .iter()
        .filter(|p| p.expectation == Expectation::Always)
        .filter_map(|p| Some((p.name, discoveries.remove(p.name)?.into_vec())))
        .collect();
    Outcome {
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        seconds,
        complete: !bounded,
        verdicts,
        paths,
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

/// The shortest path to a state violating `property`.
///
/// Two pitfalls of stateright 0.31 shape this function:
///
/// * BFS keeps *replacing* a property's saved path as it meets further violating states, so a
///   full search reports the last violation it saw, not the first (not the shortest).
/// * The checker looks at `finish_when` only between blocks of 1500 states, so even a search
///   told to stop at the first discovery may replace it with one a level deeper before it stops.
///
/// So: a one-thread BFS (which visits states in order of depth) that stops at the first block
/// with a discovery, then bounded re-searches that look only at strictly shorter paths, until
/// there is none. `target_max_depth(d)` skips states at depth ≥ `d` (the initial state has depth
/// 1, and a path of `n` states ends at depth `n`), so `target_max_depth(n)` sees exactly the
/// paths of fewer than `n` states. The result is a shortest counterexample; its length is
/// checked independently by a test (`tests/models.rs`).
pub fn shortest_counterexample(model: &LockModel, property: &'static str) -> Option<Vec<(State, Option<Action>)>> {
    let search = |max_depth: Option<usize>| {
        let mut b = model.clone().checker().finish_when(HasDiscoveries::AnyOf(BTreeSet::from([property])));
        if let Some(d) = max_depth {
            b = b.target_max_depth(d);
        }
        b.spawn_bfs().join().discovery(property).map(|p| p.into_vec())
    };
    let mut best = search(None)?;
    while best.len() > 1 {
        match search(Some(best.len())) {
            Some(shorter) if shorter.len() < best.len() => best = shorter,
            _ => break,
        }
    }
    Some(best)
}

/// Is there a path of at most `states` states to a state violating `property`? An exhaustive
/// one-thread BFS bounded at that depth, with no early stop: the independent check that
/// [`shortest_counterexample`] found a shortest path.
pub fn violated_within(model: &LockModel, property: &'static str, states: usize) -> bool {
    model.clone().checker().target_max_depth(states + 1).spawn_bfs().join().discovery(property).is_some()
}
