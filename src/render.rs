//! Human-readable and JSON renderings of run results.

use std::fmt::Write as _;

use serde::Serialize;

use locklab_checkers::{Metrics, Outcome, PropertyResult};
use locklab_sim::trace::{describe, fmt_ms, Names};
use locklab_sim::Stats;

use crate::runner::{Expectation, RunResult};

/// One history entry as a trace-style line.
pub fn history_line(r: &RunResult, index: usize) -> String {
    let names = Names(&r.names);
    let e = &r.history[index];
    let (event, detail) = describe(e, &names);
    format!("{:>11} {:<4} {:<9} {}", fmt_ms(e.t_ns), names.node(e.node), event, detail)
}

/// The human report of one run.
pub fn human(r: &RunResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario {} ({})  protocol {}  seed {}", r.scenario, r.file, r.variant, r.seed);
    for p in &r.report.properties {
        let mark = match p.outcome {
            Outcome::Holds => "holds",
            Outcome::Violated => "VIOLATED",
            Outcome::Vacuous => "VACUOUS",
            Outcome::NotApplicable => "n/a",
            Outcome::Unknown => "UNKNOWN",
        };
        let _ = writeln!(out, "  {:<17} {:<9} {}", p.property, mark, p.summary);
        if let Some(v) = &p.violation {
            let _ = writeln!(out, "      {}", v.message);
            let _ = writeln!(out, "      lead-up and first violating event (true_ms node event detail):");
            for &i in &v.lead_up {
                let _ = writeln!(out, "      {}", history_line(r, i));
            }
            let _ = writeln!(out, "    > {}", history_line(r, v.event));
        }
    }
    let faults = fault_summary(r);
    if !faults.is_empty() || !r.unfired.is_empty() {
        let _ = writeln!(out, "  faults            what each fault hit, as it happened:");
        for line in &faults {
            let _ = writeln!(out, "      {line}");
        }
        for line in &r.unfired {
            let _ = writeln!(out, "      NOT FIRED: {line}");
        }
    }
    let m = &r.report.metrics;
    let _ = writeln!(
        out,
        "  metrics           acquire p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; usable {:.1}%; {} critical sections completed; {} msgs/CS",
        m.acquire_ms_p50,
        m.acquire_ms_p99,
        m.acquire_ms_max,
        m.usable_fraction * 100.0,
        m.critical_sections_completed,
        m.messages_per_cs.map_or("-".to_string(), |x| format!("{x:.1}"))
    );
    let e = &r.expectation;
    if !e.met {
        let _ = writeln!(out, "  expectation       NOT MET: {}", e.mismatches.join("; "));
    }
    if !e.unchecked.is_empty() {
        let _ = writeln!(
            out,
            "  expectation       UNCHECKED: the scenario file declares no expectation for {}",
            e.unchecked.join(", ")
        );
    } else if e.met {
        let _ = writeln!(out, "  expectation       met (the literature's prediction reproduced)");
    }
    let _ = writeln!(out, "  reproduce:        {}", r.reproduce());
    out
}

/// The most fault lines `run` prints (a nemesis run can have hundreds).
const MAX_FAULT_LINES: usize = 20;

/// One line per fault that acted, with what its target was doing: "c1 paused for 8000 ms while
/// holding lock0 (session c1#1, 4900 ms of lease left by its own clock)".
pub fn fault_summary(r: &RunResult) -> Vec<String> {
    use locklab_protocols::history::{Event, WorldEvent};
    let names = Names(&r.names);
    let sessions = locklab_checkers::sessions(&r.history, r.stats.end_ns);
    let doing = |node: usize, t: u64| -> String {
        if let Some(s) =
            sessions.iter().find(|s| s.client == node && s.acquired_ns <= t && t <= s.ended_ns.unwrap_or(u64::MAX))
        {
            let session = format!("{}#{}", r.names[s.client], s.id.n);
            let left = match s.valid_until_ns {
                Some(u) if u > t => format!(", {} ms of lease left by its own clock", (u - t) / 1_000_000),
                Some(_) => ", its lease already over by its own clock".to_string(),
                None => String::new(),
            };
            return format!(" while holding lock{} (session {session}{left})", s.lock);
        }
        if r.names[node].starts_with('c') {
            return " while not holding the lock".to_string();
        }
        String::new()
    };
    let mut lines = Vec::new();
    let mut total = 0;
    for e in &r.history {
        let Event::World(w) = &e.event else { continue };
        let (t, node) = (e.t_ns, e.node);
        let line = match w {
            WorldEvent::PauseStart { duration_ns } => {
                format!("paused for {} ms{}", duration_ns / 1_000_000, doing(node, t))
            }
            WorldEvent::Crash => format!("crashed{}", doing(node, t)),
            WorldEvent::Restart { incarnation } => format!("restarted (incarnation {incarnation})"),
            WorldEvent::ClockJump { by_ns } => {
                format!("wall clock stepped by {} ms{}", by_ns / 1_000_000, doing(node, t))
            }
            WorldEvent::PartitionStart { description } => format!("partition {description} begins"),
            WorldEvent::PartitionHeal { description } => format!("partition {description} heals"),
            WorldEvent::MessageDropped { kind, from, to } => {
                format!("`{kind}` {} -> {} dropped", names.node(*from), names.node(*to))
            }
            WorldEvent::MessageDelayed { kind, from, to, extra_ns } => {
                format!("`{kind}` {} -> {} delayed by {} ms", names.node(*from), names.node(*to), extra_ns / 1_000_000)
            }
            _ => continue,
        };
        total += 1;
        if lines.len() < MAX_FAULT_LINES {
            let who = match w {
                WorldEvent::PartitionStart { .. } | WorldEvent::PartitionHeal { .. } => String::new(),
                WorldEvent::MessageDropped { .. } | WorldEvent::MessageDelayed { .. } => String::new(),
                _ => format!("{} ", names.node(node)),
            };
            lines.push(format!("{:>11} ms  {who}{line}", fmt_ms(t)));
        }
    }
    if total > lines.len() {
        lines.push(format!("… and {} more (the whole list: --trace)", total - lines.len()));
    }
    lines
}

#[derive(Serialize)]
struct ViolationJson<'a> {
    message: &'a str,
    event: usize,
    event_line: String,
    lead_up: Vec<String>,
}

#[derive(Serialize)]
struct PropertyJson<'a> {
    property: &'a str,
    outcome: Outcome,
    summary: &'a str,
    violation: Option<ViolationJson<'a>>,
}

#[derive(Serialize)]
struct RunJson<'a> {
    scenario: &'a str,
    file: &'a str,
    protocol: &'a str,
    seed: u64,
    reproduce: String,
    vacuous: bool,
    properties: Vec<PropertyJson<'a>>,
    metrics: &'a Metrics,
    expectation: &'a Expectation,
    stats: StatsJson,
    /// What each fault hit (as `run` prints it), and the declared faults that never acted.
    faults: Vec<String>,
    not_fired: &'a [String],
}

#[derive(Serialize)]
struct StatsJson {
    events: u64,
    messages_sent: u64,
    messages_delivered: u64,
    messages_dropped: u64,
    timers_fired: u64,
    simulated_ms: u64,
}

impl From<Stats> for StatsJson {
    fn from(s: Stats) -> Self {
        StatsJson {
            events: s.events,
            messages_sent: s.messages_sent,
            messages_delivered: s.messages_delivered,
            messages_dropped: s.messages_dropped,
            timers_fired: s.timers_fired,
            simulated_ms: s.end_ns / 1_000_000,
        }
    }
}

fn property_json<'a>(r: &RunResult, p: &'a PropertyResult) -> PropertyJson<'a> {
    PropertyJson {
        property: p.property,
        outcome: p.outcome,
        summary: &p.summary,
        violation: p.violation.as_ref().map(|v| ViolationJson {
            message: &v.message,
            event: v.event,
            event_line: history_line(r, v.event),
            lead_up: v.lead_up.iter().map(|&i| history_line(r, i)).collect(),
        }),
    }
}

/// The JSON value of one run.
pub fn json(r: &RunResult) -> serde_json::Value {
    let j = RunJson {
        scenario: &r.scenario,
        file: &r.file,
        protocol: &r.variant,
        seed: r.seed,
        reproduce: r.reproduce(),
        vacuous: r.report.vacuous,
        properties: r.report.properties.iter().map(|p| property_json(r, p)).collect(),
        metrics: &r.report.metrics,
        expectation: &r.expectation,
        stats: r.stats.into(),
        faults: fault_summary(r).into_iter().map(|l| l.trim().to_string()).collect(),
        not_fired: &r.unfired,
    };
    serde_json::to_value(j).expect("run results serialise")
}
