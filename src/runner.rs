//! Running one (scenario, protocol variant, seed) and judging it.

use serde::Serialize;

use locklab_checkers::{check, Report, RunInfo};
use locklab_protocols::history::Entry;
use locklab_sim::{Compiled, Stats, World};

/// Whether a run met its scenario's declared expectations.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Expectation {
    /// Every declared expectation was met (says nothing about what was left undeclared).
    pub met: bool,
    /// One line per unmet expectation.
    pub mismatches: Vec<String>,
    /// Properties that apply to the variant but have no declared expectation: the run is
    /// `unchecked`, and `run --expect` and `compare` fail on it.
    pub unchecked: Vec<&'static str>,
}

impl Expectation {
    /// Met, and complete.
    pub fn passed(&self) -> bool {
        self.met && self.unchecked.is_empty()
    }
}

/// Everything one run produced.
pub struct RunResult {
    pub file: String,
    pub scenario: String,
    pub variant: String,
    pub seed: u64,
    pub names: Vec<String>,
    pub history: Vec<Entry>,
    pub report: Report,
    pub expectation: Expectation,
    pub stats: Stats,
    /// The rendered trace, when asked for.
    pub trace: Option<String>,
}

impl RunResult {
    /// The one command that reproduces this run.
    pub fn reproduce(&self) -> String {
        format!("locklab run {} --seed {} --protocol {}", self.file, self.seed, self.variant)
    }
}

/// Run variant `variant` of `compiled` with `seed`.
pub fn run_one(compiled: &Compiled, variant: usize, seed: u64, trace: bool) -> RunResult {
    let mut world = World::new(compiled.world_spec(variant, seed, trace));
    world.run();
    let info = RunInfo {
        names: &compiled.names,
        clients: &compiled.clients,
        end_ns: world.stats.end_ns,
        messages_delivered: world.stats.messages_delivered,
        ttl_ms: compiled.variants[variant].ttl_ms(),
    };
    let report = check(&world.history, &info);
    let expectation = expectation(compiled, variant, &report);
    let trace = world.trace.as_ref().map(|t| locklab_sim::trace::render(t, &world.history, &compiled.names));
    RunResult {
        file: compiled.file.clone(),
        scenario: compiled.scenario.scenario.name.clone(),
        variant: compiled.variants[variant].name.clone(),
        seed,
        names: compiled.names.clone(),
        history: std::mem::take(&mut world.history),
        report,
        expectation,
        stats: world.stats,
        trace,
    }
}

/// Compare a report with the variant's declared expectations.
pub fn expectation(compiled: &Compiled, variant: usize, report: &Report) -> Expectation {
    let v = &compiled.variants[variant];
    let mut mismatches = Vec::new();
    for (property, expected) in &v.expect {
        let got = report.get(property).map_or("missing", |p| p.outcome.as_str());
        if got != expected {
            mismatches.push(format!("{property}: expected {expected}, got {got}"));
        }
    }
    let max_ms = report.metrics.acquire_ms_max;
    if let Some(at_least) = v.max_acquire_ms_at_least {
        if max_ms < at_least as f64 {
            mismatches.push(format!("slowest acquire: expected at least {at_least} ms, got {max_ms} ms"));
        }
    }
    if let Some(at_most) = v.max_acquire_ms_at_most {
        if max_ms > at_most as f64 {
            mismatches.push(format!("slowest acquire: expected at most {at_most} ms, got {max_ms} ms"));
        }
    }
    Expectation { met: mismatches.is_empty(), mismatches, unchecked: v.undeclared() }
}
