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
    let m = &r.report.metrics;
    let _ = writeln!(
        out,
        "  metrics           acquire p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; usable {:.1}%; {} critical sections; {} msgs/CS",
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
    };
    serde_json::to_value(j).expect("run results serialise")
}
