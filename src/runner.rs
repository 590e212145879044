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
    /// Faults the scenario declared that never acted: triggers that never fired, targeted
    /// drops and delays that matched fewer messages than written for.
    pub unfired: Vec<String>,
    /// Wall-clock time the property checks took (for `--stats` only: never in a report).
    pub check_ns: u64,
}

impl RunResult {
    /// The one command that reproduces this run.
    pub fn reproduce(&self) -> String {
        format!("locklab run {} --seed {} --protocol {}", self.file, self.seed, self.variant)
    }
}

/// How a run's trace is produced.
pub enum Trace<'a> {
    Off,
    /// Rendered whole into [`RunResult::trace`] at the end.
    Collect,
    /// Rendered and handed over as the run goes, a stretch at a time (header first): memory stays
    /// bounded however long the run, and the first lines appear at once.
    Stream(&'a mut dyn FnMut(&str)),
}

/// Events simulated between two flushes of a streamed trace.
const STREAM_EVENTS: u64 = 4096;

/// Run variant `variant` of `compiled` with `seed`, within the default event budget.
pub fn run_one(compiled: &Compiled, variant: usize, seed: u64, trace: bool) -> RunResult {
    let mode = if trace { Trace::Collect } else { Trace::Off };
    run_with(compiled, variant, seed, mode, locklab_sim::world::DEFAULT_MAX_EVENTS)
}

/// Run variant `variant` of `compiled` with `seed`, stopping after `max_events` events: a run
/// stopped there is `truncated`, and every property of it is `unknown` (never a pass, never a
/// violation), with the budget named in each summary.
pub fn run_with(compiled: &Compiled, variant: usize, seed: u64, trace: Trace, max_events: u64) -> RunResult {
    run_checked(compiled, variant, seed, trace, max_events, true)
}

/// [`run_with`] without a trace, for bulk runs whose reports print no property summary
/// (`compare`, `sweep`): the checks skip what only a summary shows, the history's check as a plain
/// mutex ([`RunInfo::mutex_comparison`]). Every verdict and metric is the same.
pub fn run_bulk(compiled: &Compiled, variant: usize, seed: u64, max_events: u64) -> RunResult {
    run_checked(compiled, variant, seed, Trace::Off, max_events, false)
}

fn run_checked(
    compiled: &Compiled,
    variant: usize,
    seed: u64,
    mut trace: Trace,
    max_events: u64,
    mutex_comparison: bool,
) -> RunResult {
    let record = !matches!(trace, Trace::Off);
    let mut world = World::new(compiled.world_spec(variant, seed, record));
    world.set_max_events(max_events);
    match &mut trace {
        Trace::Stream(sink) => {
            sink(&locklab_sim::trace::header());
            world.start();
            let mut text = String::new();
            loop {
                let done = world.step(STREAM_EVENTS);
                if let Some(records) = &mut world.trace {
                    locklab_sim::trace::render_records(&mut text, records, &world.history, &compiled.names);
                    records.clear();
                    if !text.is_empty() {
                        sink(&text);
                        text.clear();
                    }
                }
                if done {
                    break;
                }
            }
        }
        _ => world.run(),
    }
    let info = RunInfo { mutex_comparison, ..run_info(compiled, variant, &world.stats) };
    let check_started = std::time::Instant::now();
    let mut report = check(&world.history, &info);
    let check_ns = check_started.elapsed().as_nanos() as u64;
    if world.stats.truncated {
        let why = format!(
            "unknown: the run stopped at its event budget ({} events) at {} ms of {} ms; raise it with --max-events",
            world.stats.events,
            world.stats.end_ns / 1_000_000,
            compiled.scenario.scenario.duration_ms
        );
        for p in &mut report.properties {
            p.outcome = locklab_checkers::Outcome::Unknown;
            p.summary = why.clone();
            p.violation = None;
        }
        report.vacuous = false;
    }
    let expectation = expectation(compiled, variant, &report);
    let name = |n: usize| compiled.names.get(n).map_or("?", |s| s.as_str());
    let mut unfired: Vec<String> = world
        .unfired_triggers()
        .iter()
        .map(|t| {
            format!(
                "the fault after {}'s `{}` #{} never fired: the event happened {} time(s)",
                name(t.node),
                t.event,
                t.nth,
                t.seen
            )
        })
        .collect();
    unfired.extend(world.unmatched_rules().iter().map(|r| {
        let nodes = |v: &[usize]| {
            if v.is_empty() {
                "any".to_string()
            } else {
                v.iter().map(|&n| name(n)).collect::<Vec<_>>().join(",")
            }
        };
        format!(
            "the {} of `{}` messages {} -> {} (#{} to #{}) matched only {} message(s)",
            if r.delay_ns.is_some() { "delay" } else { "drop" },
            r.kind,
            nodes(&r.from),
            nodes(&r.to),
            r.nth,
            r.nth + r.count - 1,
            r.seen
        )
    }));
    let trace = match trace {
        Trace::Collect => world.trace.as_ref().map(|t| locklab_sim::trace::render(t, &world.history, &compiled.names)),
        _ => None,
    };
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
        unfired,
        check_ns,
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

/// [`run_info`] as `compare` and `sweep` check their runs ([`run_bulk`]): without the plain-mutex
/// comparison that only a single run's summary shows. The benches and `examples/profile_runs` use
/// it, so that they measure what the bulk commands do.
pub fn bulk_run_info<'a>(compiled: &'a Compiled, variant: usize, stats: &Stats) -> RunInfo<'a> {
    RunInfo { mutex_comparison: false, ..run_info(compiled, variant, stats) }
}

/// What the property checks need to know about a simulated run of `variant`.
pub fn run_info<'a>(compiled: &'a Compiled, variant: usize, stats: &Stats) -> RunInfo<'a> {
    let v = &compiled.variants[variant];
    RunInfo {
        names: &compiled.names,
        clients: &compiled.clients,
        end_ns: stats.end_ns,
        messages_delivered: stats.messages_delivered,
        ttl_ms: v.ttl_ms(),
        lazy_expiry: v.lazy_expiry(),
        session_lease: v.session_lease(),
        mutex_comparison: true,
    }
}
