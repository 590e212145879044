//! Running the stateright checker on a model and collecting verdicts and figures.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use stateright::{Checker, CheckerBuilder, Expectation, HasDiscoveries, Model, UniformChooser};

use crate::bfs;
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
    /// The whole reachable space (within the horizon) was explored: no budget ran out, no depth
    /// bound, not a random walk.
    pub complete: bool,
    /// The budget that stopped the search, if one did.
    pub exhausted: Option<Exhausted>,
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
        exhausted: None,
        verdicts,
        paths,
    }
}

/// What bounds one search besides its depth: wall-clock time and the process's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub time: Option<Duration>,
    pub memory_mib: Option<u64>,
    /// Print progress to stderr (once a second) — on a terminal only.
    pub progress: bool,
}

impl Budget {
    /// No bound at all (tests of small configurations).
    pub const NONE: Budget = Budget { time: None, memory_mib: None, progress: false };
}

/// Which budget stopped a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    Time,
    Memory,
}

/// Check every property of `model`. Exploration stops early once every property has a
/// discovery (then every `Always` property is violated and nothing is left to learn), or when
/// `budget` runs out: then [`Outcome::exhausted`] says which, and the search is not complete.
pub fn run(model: &LockModel, strategy: Strategy, threads: usize, depth: Option<usize>, budget: Budget) -> Outcome {
    let started = Instant::now();
    // A depth-first search meets the same node steps close together: remember them.
    let model = model.clone().with_step_memo(strategy == Strategy::Dfs);
    model.stop.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut exhausted = None;
    let mut outcome = match strategy {
        Strategy::Bfs => {
            // Our own BFS (see [`bfs`]); stateright's `target_max_depth` semantics (see `builder`).
            let progress = bfs::Progress::default();
            let watcher = std::thread::current();
            let found = std::thread::scope(|scope| {
                let search = scope.spawn(|| {
                    let found = bfs::search(&model, threads, depth.map(|d| d + 2), &progress);
                    watcher.unpark(); // the watchdog need not sleep out its 50 ms
                    found
                });
                watch(&model, &progress, budget, &mut exhausted);
                search.join().expect("the search thread")
            });
            from_bfs(&model, found, &progress, started)
        }
        Strategy::Dfs => {
            let checker = builder(&model, threads, depth, budget.time).spawn_dfs();
            watch(&model, &Stateright(&checker), budget, &mut exhausted);
            until_joined(&model, budget, started, &mut exhausted, || collect(&model, checker, started, false))
        }
        Strategy::Random { seed } => {
            let checker = builder(&model, threads, depth, budget.time).spawn_simulation(seed, UniformChooser);
            watch(&model, &Stateright(&checker), budget, &mut exhausted);
            until_joined(&model, budget, started, &mut exhausted, || collect(&model, checker, started, true))
        }
    };
    if exhausted.is_none() && budget.time.is_some_and(|t| outcome.seconds + 0.05 >= t.as_secs_f64()) {
        exhausted = Some(Exhausted::Time);
    }
    outcome.exhausted = exhausted;
    outcome.complete = outcome.complete && depth.is_none() && exhausted.is_none();
    outcome
}

/// Joins a stateright search (`join` collects its outcome) while keeping its budget in force.
///
/// [`watch`] stops watching when stateright says the search is done, but stateright's
/// `is_done` is about its job market (closed, say, by its own timeout), not about its worker
/// threads: a worker in the middle of a long block of work goes on after it. One such search
/// (`check raft --faults pause --horizon 4 --strategy dfs --threads 1 --timeout 900`, at nice 19
/// on two busy cores) was still exploring 24 minutes later, the main thread waiting in `join`
/// and the stop flag never set. So the budget is enforced here until the join has returned.
fn until_joined(
    model: &LockModel,
    budget: Budget,
    started: Instant,
    exhausted: &mut Option<Exhausted>,
    join: impl FnOnce() -> Outcome + Send,
) -> Outcome {
    let watcher = std::thread::current();
    std::thread::scope(|scope| {
        let joining = scope.spawn(|| {
            let outcome = join();
            watcher.unpark();
            outcome
        });
        while !joining.is_finished() {
            std::thread::park_timeout(Duration::from_millis(50));
            let rss_mib = current_rss_kib().map(|k| k / 1024);
            enforce(model, budget, started, rss_mib, exhausted);
        }
        joining.join().expect("the search thread")
    })
}

/// The outcome of our own BFS, as [`collect`] makes it of stateright's.
fn from_bfs(model: &LockModel, found: bfs::Found, progress: &bfs::Progress, started: Instant) -> Outcome {
    let seconds = started.elapsed().as_secs_f64();
    let properties = model.properties();
    let verdicts = properties
        .iter()
        .zip(&found.discoveries)
        .map(|(p, d)| Verdict { name: p.name, expectation: p.expectation.clone(), discovered: d.is_some() })
        .collect();
    let paths = properties
        .iter()
        .zip(found.discoveries)
        .filter(|(p, _)| p.expectation == Expectation::Always)
        .filter_map(|(p, d)| Some((p.name, d?)))
        .collect();
    Outcome {
        states: progress.states.load(std::sync::atomic::Ordering::Relaxed),
        unique_states: progress.unique_states.load(std::sync::atomic::Ordering::Relaxed),
        max_depth: found.max_depth,
        seconds,
        complete: true,
        exhausted: None,
        verdicts,
        paths,
    }
}

/// What the budget watchdog reads of a running search.
trait Running {
    fn is_done(&self) -> bool;
    /// States generated and unique states so far.
    fn counts(&self) -> (usize, usize);
}

/// A search stateright runs.
struct Stateright<'a, C>(&'a C);

impl<C: Checker<LockModel>> Running for Stateright<'_, C> {
    fn is_done(&self) -> bool {
        self.0.is_done()
    }
    fn counts(&self) -> (usize, usize) {
        (self.0.state_count(), self.0.unique_state_count())
    }
}

impl Running for bfs::Progress {
    fn is_done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn counts(&self) -> (usize, usize) {
        (
            self.states.load(std::sync::atomic::Ordering::Relaxed),
            self.unique_states.load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

/// Watch a running search until it is done: stop it (through the model's boundary) when the time
/// or memory budget runs out, and report progress on a terminal.
fn watch(model: &LockModel, checker: &dyn Running, budget: Budget, exhausted: &mut Option<Exhausted>) {
    let started = Instant::now();
    let mut last_report = Instant::now();
    while !checker.is_done() {
        std::thread::park_timeout(Duration::from_millis(50));
        let rss_mib = current_rss_kib().map(|k| k / 1024);
        enforce(model, budget, started, rss_mib, exhausted);
        if budget.progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let (states, unique) = checker.counts();
            eprint!(
                "\r  {:>6.1} s  {} states, {} unique, {} MiB   ",
                started.elapsed().as_secs_f64(),
                states,
                unique,
                rss_mib.map_or("?".to_string(), |m| m.to_string())
            );
        }
    }
    if budget.progress && started.elapsed() >= Duration::from_secs(1) {
        eprintln!();
    }
}

/// Once the time or memory budget has run out: say which in `exhausted` and stop the search
/// (through the model's boundary). Nothing to do once `exhausted` is set: the search is draining.
fn enforce(
    model: &LockModel,
    budget: Budget,
    started: Instant,
    rss_mib: Option<u64>,
    exhausted: &mut Option<Exhausted>,
) {
    if exhausted.is_some() {
        return;
    }
    if budget.time.is_some_and(|t| started.elapsed() >= t) {
        *exhausted = Some(Exhausted::Time);
    } else if budget.memory_mib.zip(rss_mib).is_some_and(|(limit, rss)| rss >= limit) {
        *exhausted = Some(Exhausted::Memory);
    }
    if exhausted.is_some() {
        model.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The process's resident memory now, from `/proc/self/status` (Linux).
pub fn current_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
