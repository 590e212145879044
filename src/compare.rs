//! `locklab compare`: every applicable (scenario, protocol variant) pair over many seeds, in
//! parallel, summarised as a matrix (scenarios × protocol families) in `reports/comparison.md` and
//! `reports/comparison.json`.
//!
//! The report holds no timings and no machine-dependent values: the same binary, scenarios and
//! seed count give byte-identical reports (CI regenerates it twice and compares).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use locklab_checkers::{percentile, Outcome};
use locklab_sim::Compiled;

use crate::runner::run_one;

/// The properties, in report order, with the short label a violation gets in a cell.
pub const PROPERTIES: &[(&str, &str)] = &[
    ("no_stale_write", "stale write"),
    ("mutual_exclusion", "two holders"),
    ("linearizable", "not linearizable"),
    ("token_order", "token order"),
    ("liveness", "starvation"),
    ("raft_safety", "raft invariant"),
];

/// One property over all seeds of a pair.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PropertySummary {
    pub property: String,
    pub holds: u64,
    pub violated: u64,
    pub vacuous: u64,
    pub not_applicable: u64,
    pub unknown: u64,
    /// Violated runs / runs.
    pub violation_rate: f64,
    /// The smallest seed whose run violates the property.
    pub example_seed: Option<u64>,
    /// The declared expectation, if any.
    pub expected: Option<String>,
}

/// One (scenario, variant) pair over all seeds.
#[derive(Clone, Debug, Serialize)]
pub struct PairSummary {
    pub scenario: String,
    pub file: String,
    pub literature: Option<u32>,
    pub variant: String,
    pub family: String,
    pub seeds: u64,
    pub properties: Vec<PropertySummary>,
    /// Runs whose declared expectations were all met.
    pub expectation_met: u64,
    /// Applicable properties the scenario file declares no expectation for (non-empty: the pair
    /// is `unchecked`, and `compare` exits 1).
    pub expectation_unchecked: Vec<String>,
    /// The smallest seed that missed the expectation.
    pub expectation_missed_seed: Option<u64>,
    pub acquire_ms_p50: f64,
    pub acquire_ms_p99: f64,
    pub usable_fraction: f64,
    pub messages_per_cs: Option<f64>,
    pub reproduce: Option<String>,
    /// The seed the pair's timeline picture shows (the reproducing seed, else 1).
    pub timeline_seed: u64,
    /// The timeline picture, relative to the report.
    pub timeline: String,
}

/// What `compare` produced, plus the counters `--stats` prints.
pub struct Comparison {
    pub pairs: Vec<PairSummary>,
    pub runs: u64,
    pub messages: u64,
    pub events: u64,
}

/// One finished run, reduced to what the summary needs.
struct RunDigest {
    outcomes: Vec<Outcome>,
    expectation_met: bool,
    latencies_ns: Vec<u64>,
    unusable_ns: u64,
    end_ns: u64,
    messages: u64,
    events: u64,
    critical_sections: u64,
}

/// Run every pair over seeds `1..=seeds`. `on_run` is called after each run (for progress).
pub fn compare(scenarios: &[Compiled], variants: &[Vec<usize>], seeds: u64, on_run: &(dyn Fn() + Sync)) -> Comparison {
    let work: Vec<(usize, usize, u64)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(s, _)| variants[s].iter().flat_map(move |&v| (1..=seeds).map(move |seed| (s, v, seed))))
        .collect();
    let digests: Vec<RunDigest> = work
        .par_iter()
        .map(|&(s, v, seed)| {
            let r = run_one(&scenarios[s], v, seed, false);
            on_run();
            let outcomes =
                PROPERTIES.iter().map(|(p, _)| r.report.get(p).map_or(Outcome::NotApplicable, |x| x.outcome)).collect();
            let m = r.report.metrics;
            RunDigest {
                outcomes,
                expectation_met: r.expectation.met,
                latencies_ns: m.acquire_latencies_ns,
                unusable_ns: m.unusable_ns,
                end_ns: r.stats.end_ns,
                messages: r.stats.messages_delivered,
                events: r.stats.events,
                critical_sections: m.critical_sections_completed,
            }
        })
        .collect();

    let mut pairs = Vec::new();
    let (mut runs, mut messages, mut events) = (0, 0, 0);
    let mut i = 0;
    for (s, compiled) in scenarios.iter().enumerate() {
        for &v in &variants[s] {
            let variant = &compiled.variants[v];
            let chunk = &digests[i..i + seeds as usize];
            i += seeds as usize;
            let mut props: Vec<PropertySummary> = PROPERTIES
                .iter()
                .map(|(p, _)| PropertySummary {
                    property: p.to_string(),
                    expected: variant.expect.iter().find(|(q, _)| q == p).map(|(_, e)| e.clone()),
                    ..PropertySummary::default()
                })
                .collect();
            let mut latencies = Vec::new();
            let (mut unusable, mut duration, mut msgs, mut cs, mut met) = (0u64, 0u64, 0u64, 0u64, 0u64);
            let mut missed_seed = None;
            for (k, d) in chunk.iter().enumerate() {
                let seed = k as u64 + 1;
                for (summary, outcome) in props.iter_mut().zip(&d.outcomes) {
                    match outcome {
                        Outcome::Holds => summary.holds += 1,
                        Outcome::Violated => {
                            summary.violated += 1;
                            summary.example_seed.get_or_insert(seed);
                        }
                        Outcome::Vacuous => summary.vacuous += 1,
                        Outcome::NotApplicable => summary.not_applicable += 1,
                        Outcome::Unknown => summary.unknown += 1,
                    }
                }
                if d.expectation_met {
                    met += 1;
                } else {
                    missed_seed.get_or_insert(seed);
                }
                latencies.extend_from_slice(&d.latencies_ns);
                unusable += d.unusable_ns;
                duration += d.end_ns;
                msgs += d.messages;
                cs += d.critical_sections;
                runs += 1;
                messages += d.messages;
                events += d.events;
            }
            for p in &mut props {
                p.violation_rate = p.violated as f64 / seeds as f64;
            }
            latencies.sort_unstable();
            let reproduce_seed = missed_seed.or_else(|| props.iter().find_map(|p| p.example_seed));
            pairs.push(PairSummary {
                scenario: compiled.scenario.scenario.name.clone(),
                file: compiled.file.clone(),
                literature: compiled.scenario.scenario.literature,
                variant: variant.name.clone(),
                family: variant.family().to_string(),
                seeds,
                properties: props,
                expectation_met: met,
                expectation_unchecked: variant.undeclared().into_iter().map(String::from).collect(),
                expectation_missed_seed: missed_seed,
                acquire_ms_p50: percentile(&latencies, 0.50),
                acquire_ms_p99: percentile(&latencies, 0.99),
                usable_fraction: if duration == 0 { 1.0 } else { 1.0 - unusable as f64 / duration as f64 },
                messages_per_cs: (cs > 0).then(|| msgs as f64 / cs as f64),
                reproduce: reproduce_seed
                    .map(|seed| format!("locklab run {} --seed {seed} --protocol {}", compiled.file, variant.name)),
                timeline_seed: reproduce_seed.unwrap_or(1),
                timeline: format!("timelines/{}.{}.svg", file_stem(&compiled.file), variant.name),
            });
        }
    }
    Comparison { pairs, runs, messages, events }
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p == 0.0 || p == 100.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// One cell line for a pair: the violated properties with their rates and a seed, and the verdict
/// on the expectation.
fn cell(p: &PairSummary) -> String {
    let mut parts = Vec::new();
    for (prop, (_, label)) in p.properties.iter().zip(PROPERTIES) {
        if prop.violated > 0 {
            parts.push(format!("{label} {} (seed {})", pct(prop.violation_rate), prop.example_seed.unwrap_or(0)));
        }
    }
    let vacuous = p.properties.first().map_or(0, |x| x.vacuous);
    if vacuous > 0 {
        parts.push(format!("vacuous {}", pct(vacuous as f64 / p.seeds as f64)));
    }
    if parts.is_empty() {
        parts.push("safe".to_string());
    }
    let mut expectation = if p.expectation_met == p.seeds {
        if p.expectation_unchecked.is_empty() {
            " ✓".to_string()
        } else {
            String::new()
        }
    } else {
        format!(" ✗ expected in {}/{}", p.expectation_met, p.seeds)
    };
    if !p.expectation_unchecked.is_empty() {
        expectation.push_str(" ? unchecked");
    }
    format!("[`{}`]({}): {}{}", p.variant, p.timeline, parts.join(", "), expectation)
}

/// The Markdown report.
pub fn markdown(c: &Comparison, seeds: u64) -> String {
    let mut out = String::new();
    let families: Vec<&str> =
        ["LEASE", "FENCED", "REDLOCK", "RAFT"].into_iter().filter(|f| c.pairs.iter().any(|p| p.family == *f)).collect();
    let _ = writeln!(out, "# locklab comparison\n");
    let _ = writeln!(
        out,
        "Every protocol variant against every scenario that declares it, over seeds 1–{seeds} \
         ({} runs). Generated by `locklab compare --seeds {seeds}`; do not edit by hand.\n",
        c.runs
    );
    let _ = writeln!(
        out,
        "A cell lists each variant of that family in the scenario: the properties it violated, the \
         fraction of seeds that violated each, and one seed that reproduces it (`locklab run FILE \
         --seed N --protocol VARIANT`). `safe` means no safety or liveness property was violated in \
         any seed. ✓: the literature's expectation (declared in the scenario file) was met in every \
         seed; ✗: it was not, with the count of seeds where it was; `? unchecked`: the variant leaves an \
         applicable property without an expectation (compare exits 1). Each variant name links to the \
         timeline of its reproducing seed (or seed 1).\n"
    );
    let _ = writeln!(out, "## Safety and liveness\n");
    let _ = write!(out, "| # | scenario |");
    for f in &families {
        let _ = write!(out, " {f} |");
    }
    let _ = writeln!(out);
    let _ = write!(out, "|---|---|");
    for _ in &families {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    let mut scenarios: Vec<(&str, &str, Option<u32>)> = Vec::new();
    for p in &c.pairs {
        if !scenarios.iter().any(|(s, ..)| *s == p.scenario) {
            scenarios.push((&p.scenario, &p.file, p.literature));
        }
    }
    for (scenario, file, literature) in &scenarios {
        let number = literature.map_or("–".to_string(), |n| n.to_string());
        let name = Path::new(file).file_name().map_or(file.to_string(), |f| f.to_string_lossy().into_owned());
        let _ = write!(out, "| {number} | {scenario} (`{name}`) |");
        for f in &families {
            let cells: Vec<String> =
                c.pairs.iter().filter(|p| p.scenario == *scenario && p.family == *f).map(cell).collect();
            let _ = write!(out, " {} |", if cells.is_empty() { "·".to_string() } else { cells.join("<br>") });
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "\n## Availability and cost\n");
    let _ = writeln!(
        out,
        "Acquire latency is from the call to its successful return, pooled over all seeds. Usable: \
         the fraction of time in which it is not the case that a client waits while nobody holds \
         the lock. Messages per critical section: all messages delivered / critical sections \
         completed.\n"
    );
    let _ = writeln!(out, "| scenario | variant | acquire p50 ms | acquire p99 ms | usable | msgs/CS |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for p in &c.pairs {
        let _ = writeln!(
            out,
            "| {} | `{}` | {:.1} | {:.1} | {} | {} |",
            p.scenario,
            p.variant,
            p.acquire_ms_p50,
            p.acquire_ms_p99,
            pct(p.usable_fraction),
            p.messages_per_cs.map_or("–".to_string(), |x| format!("{x:.1}"))
        );
    }
    let missed: Vec<&PairSummary> = c.pairs.iter().filter(|p| p.expectation_met < p.seeds).collect();
    let unchecked: Vec<&PairSummary> = c.pairs.iter().filter(|p| !p.expectation_unchecked.is_empty()).collect();
    let _ = writeln!(out, "\n## Where the results depart from the literature's expectation\n");
    for p in &unchecked {
        let _ = writeln!(
            out,
            "- `{}` on {}: unchecked — the scenario file declares no expectation for {}",
            p.variant,
            p.scenario,
            p.expectation_unchecked.join(", ")
        );
    }
    if missed.is_empty() && unchecked.is_empty() {
        let _ = writeln!(out, "Nowhere: every variant declares every applicable property, and every expectation was met in every seed.");
    } else {
        for p in missed {
            let _ = writeln!(
                out,
                "- `{}` on {}: expectation met in {}/{} seeds; reproduce a miss with `{}`",
                p.variant,
                p.scenario,
                p.expectation_met,
                p.seeds,
                p.reproduce.as_deref().unwrap_or("-")
            );
        }
    }
    out
}

/// The JSON report.
pub fn json(c: &Comparison, seeds: u64) -> String {
    #[derive(Serialize)]
    struct Report<'a> {
        seeds: u64,
        runs: u64,
        pairs: &'a [PairSummary],
    }
    serde_json::to_string_pretty(&Report { seeds, runs: c.runs, pairs: &c.pairs }).expect("serialisable") + "\n"
}

fn file_stem(file: &str) -> String {
    Path::new(file).file_stem().map_or(file.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The timeline pictures of every pair, as (path relative to the report, SVG text).
pub fn timelines(scenarios: &[Compiled], c: &Comparison) -> Vec<(String, String)> {
    c.pairs
        .par_iter()
        .map(|p| {
            let compiled = scenarios.iter().find(|s| s.file == p.file).expect("the pair's scenario");
            let variant = compiled.variant(&p.variant).expect("the pair's variant");
            let r = run_one(compiled, variant, p.timeline_seed, false);
            (p.timeline.clone(), crate::svg::timeline(&r))
        })
        .collect()
}

/// Scenario files in a directory, sorted by name.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Family names accepted by `--protocols`, lowercase.
pub fn family_names(scenarios: &[Compiled]) -> BTreeMap<String, ()> {
    let mut names = BTreeMap::new();
    for c in scenarios {
        for v in &c.variants {
            names.insert(v.family().to_lowercase(), ());
        }
    }
    names
}
