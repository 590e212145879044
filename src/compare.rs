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
use serde::{Deserialize, Serialize};

use locklab_checkers::Outcome;
use locklab_sim::Compiled;

use crate::runner::{run_bulk, run_one};

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
    /// Acquire latencies pooled over all seeds: (0.1 ms bucket, how many), ascending (the HTML
    /// report's distribution plot; not in the JSON report).
    #[serde(skip)]
    pub latency_buckets: Vec<(u64, u64)>,
}

/// What `compare` produced, plus the counters `--stats` prints.
pub struct Comparison {
    pub pairs: Vec<PairSummary>,
    pub runs: u64,
    pub messages: u64,
    pub events: u64,
    /// The first seed (`--seed-start`, 1 by default).
    pub seed_start: u64,
}

/// The seeds of a sweep: `start..start + count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    pub start: u64,
    pub count: u64,
}

impl Seeds {
    pub fn first(count: u64) -> Self {
        Seeds { start: 1, count }
    }
    /// `start..=start + count − 1` (inclusive, so the last seed may be `u64::MAX`).
    fn iter(self) -> std::ops::RangeInclusive<u64> {
        self.start..=self.start + (self.count - 1)
    }
}

/// One part of a sweep split for a CI matrix: shard `index` (1-based) of `of`. Run `r` of the
/// sweep — pairs in report order, seeds in order within a pair, `r = pair × seeds + (seed − start)`
/// — belongs to shard `r mod of + 1`: a stable partition that spreads every pair over the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub of: u64,
}

impl Shard {
    /// Parse `i/n` (1 ≤ i ≤ n).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (i, n) = text.split_once('/').ok_or_else(|| format!("--shard {text}: expected i/n, e.g. 2/5"))?;
        let index: u64 = i.trim().parse().map_err(|_| format!("--shard {text}: `{i}` is not a number"))?;
        let of: u64 = n.trim().parse().map_err(|_| format!("--shard {text}: `{n}` is not a number"))?;
        if of == 0 || index == 0 || index > of {
            return Err(format!("--shard {text}: need 1 ≤ i ≤ n"));
        }
        Ok(Shard { index, of })
    }
    fn owns(self, run: u64) -> bool {
        run % self.of == self.index - 1
    }
}

/// The acquire-latency resolution of the report: 0.1 ms, the precision it prints.
const LATENCY_BUCKET_NS: u64 = 100_000;

/// One pair's runs, aggregated as they finish: memory is O(properties + distinct latencies at
/// 0.1 ms), never O(seeds), so `--seeds 1000000` runs in the memory of `--seeds 10`. Every field is
/// an integer, a count or a minimum, so the order in which rayon merges partial results cannot
/// change the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairAcc {
    /// Per property of [`PROPERTIES`]: holds, violated, vacuous, n/a, unknown.
    counts: Vec<[u64; 5]>,
    /// Per property, the smallest seed that violated it.
    example_seed: Vec<Option<u64>>,
    expectation_met: u64,
    missed_seed: Option<u64>,
    /// Acquire latencies in 0.1 ms buckets → how many.
    latencies: BTreeMap<u64, u64>,
    unusable_ns: u64,
    duration_ns: u64,
    messages: u64,
    events: u64,
    critical_sections: u64,
    runs: u64,
}

impl PairAcc {
    fn new() -> Self {
        PairAcc {
            counts: vec![[0; 5]; PROPERTIES.len()],
            example_seed: vec![None; PROPERTIES.len()],
            expectation_met: 0,
            missed_seed: None,
            latencies: BTreeMap::new(),
            unusable_ns: 0,
            duration_ns: 0,
            messages: 0,
            events: 0,
            critical_sections: 0,
            runs: 0,
        }
    }

    fn add(mut self, compiled: &Compiled, variant: usize, seed: u64, max_events: u64) -> Self {
        let r = run_bulk(compiled, variant, seed, max_events);
        for (k, (p, _)) in PROPERTIES.iter().enumerate() {
            let outcome = r.report.get(p).map_or(Outcome::NotApplicable, |x| x.outcome);
            let slot = match outcome {
                Outcome::Holds => 0,
                Outcome::Violated => {
                    self.example_seed[k] = Some(self.example_seed[k].map_or(seed, |s| s.min(seed)));
                    1
                }
                Outcome::Vacuous => 2,
                Outcome::NotApplicable => 3,
                Outcome::Unknown => 4,
            };
            self.counts[k][slot] += 1;
        }
        if r.expectation.met {
            self.expectation_met += 1;
        } else {
            self.missed_seed = Some(self.missed_seed.map_or(seed, |s| s.min(seed)));
        }
        let m = &r.report.metrics;
        for &ns in &m.acquire_latencies_ns {
            *self.latencies.entry((ns + LATENCY_BUCKET_NS / 2) / LATENCY_BUCKET_NS).or_default() += 1;
        }
        self.unusable_ns += m.unusable_ns;
        self.duration_ns += r.stats.end_ns;
        self.messages += r.stats.messages_delivered;
        self.events += r.stats.events;
        self.critical_sections += m.critical_sections_completed;
        self.runs += 1;
        self
    }

    fn merge(mut self, other: PairAcc) -> Self {
        for k in 0..PROPERTIES.len() {
            for slot in 0..5 {
                self.counts[k][slot] += other.counts[k][slot];
            }
            self.example_seed[k] = min_some(self.example_seed[k], other.example_seed[k]);
        }
        self.expectation_met += other.expectation_met;
        self.missed_seed = min_some(self.missed_seed, other.missed_seed);
        for (bucket, n) in other.latencies {
            *self.latencies.entry(bucket).or_default() += n;
        }
        self.unusable_ns += other.unusable_ns;
        self.duration_ns += other.duration_ns;
        self.messages += other.messages;
        self.events += other.events;
        self.critical_sections += other.critical_sections;
        self.runs += other.runs;
        self
    }

    /// Did a run of these miss its expectation?
    pub fn missed(&self) -> bool {
        self.expectation_met < self.runs
    }

    /// The nearest-rank percentile of the pooled latencies, in ms.
    fn latency_ms(&self, p: f64) -> f64 {
        let total: u64 = self.latencies.values().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (&bucket, &n) in &self.latencies {
            seen += n;
            if seen >= rank {
                return (bucket * LATENCY_BUCKET_NS) as f64 / 1e6;
            }
        }
        unreachable!("rank is at most the total")
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The most runs one `compare` accepts (pairs × seeds): beyond it the progress count and the
/// report's counters would no longer be meaningful, and no machine finishes it.
pub const MAX_RUNS: u64 = 1 << 48;

/// Run every pair over seeds `1..=seeds`. `on_run` is called after each run (for progress).
/// Results are aggregated as runs finish (memory O(pairs), not O(runs)).
pub fn compare(
    scenarios: &[Compiled],
    variants: &[Vec<usize>],
    seeds: u64,
    max_events: u64,
    on_run: &(dyn Fn() + Sync),
) -> Comparison {
    let seeds = Seeds::first(seeds);
    let accs = run_accs(scenarios, variants, seeds, None, max_events, on_run);
    summarize(scenarios, variants, &accs, seeds)
}

/// The (scenario, variant) pairs of a sweep, in report order.
pub fn pairs_of(variants: &[Vec<usize>]) -> Vec<(usize, usize)> {
    variants.iter().enumerate().flat_map(|(s, vs)| vs.iter().map(move |&v| (s, v))).collect()
}

/// Run the pairs' seeds (only this shard's runs, when sharded), one accumulator per pair.
pub fn run_accs(
    scenarios: &[Compiled],
    variants: &[Vec<usize>],
    seeds: Seeds,
    shard: Option<Shard>,
    max_events: u64,
    on_run: &(dyn Fn() + Sync),
) -> Vec<PairAcc> {
    let pairs = pairs_of(variants);
    pairs
        .par_iter()
        .enumerate()
        .map(|(p, &(s, v))| {
            seeds
                .iter()
                .into_par_iter()
                .filter(|&seed| shard.is_none_or(|sh| sh.owns(p as u64 * seeds.count + (seed - seeds.start))))
                .fold(PairAcc::new, |acc, seed| {
                    let acc = acc.add(&scenarios[s], v, seed, max_events);
                    on_run();
                    acc
                })
                .reduce(PairAcc::new, PairAcc::merge)
        })
        .collect()
}

/// Merge the accumulators of several shards, pair by pair.
pub fn merge_accs(parts: Vec<Vec<PairAcc>>) -> Vec<PairAcc> {
    let mut iter = parts.into_iter();
    let mut total = iter.next().unwrap_or_default();
    for part in iter {
        total = total.into_iter().zip(part).map(|(a, b)| a.merge(b)).collect();
    }
    total
}

/// The report's summaries from the pairs' accumulators.
pub fn summarize(scenarios: &[Compiled], variants: &[Vec<usize>], accs: &[PairAcc], seeds_: Seeds) -> Comparison {
    let pairs = pairs_of(variants);
    let seeds = seeds_.count;
    let mut out = Vec::new();
    let (mut runs, mut messages, mut events) = (0, 0, 0);
    for (&(s, v), acc) in pairs.iter().zip(accs) {
        let compiled = &scenarios[s];
        let variant = &compiled.variants[v];
        let props: Vec<PropertySummary> = PROPERTIES
            .iter()
            .enumerate()
            .map(|(k, (p, _))| {
                let [holds, violated, vacuous, not_applicable, unknown] = acc.counts[k];
                PropertySummary {
                    property: p.to_string(),
                    holds,
                    violated,
                    vacuous,
                    not_applicable,
                    unknown,
                    violation_rate: violated as f64 / seeds as f64,
                    example_seed: acc.example_seed[k],
                    expected: variant.expect.iter().find(|(q, _)| q == p).map(|(_, e)| e.clone()),
                }
            })
            .collect();
        runs += acc.runs;
        messages += acc.messages;
        events += acc.events;
        let reproduce_seed = acc.missed_seed.or_else(|| props.iter().find_map(|p| p.example_seed));
        out.push(PairSummary {
            scenario: compiled.scenario.scenario.name.clone(),
            file: compiled.file.clone(),
            literature: compiled.scenario.scenario.literature,
            variant: variant.name.clone(),
            family: variant.family().to_string(),
            seeds,
            properties: props,
            expectation_met: acc.expectation_met,
            expectation_unchecked: variant.undeclared().into_iter().map(String::from).collect(),
            expectation_missed_seed: acc.missed_seed,
            acquire_ms_p50: acc.latency_ms(0.50),
            acquire_ms_p99: acc.latency_ms(0.99),
            usable_fraction: if acc.duration_ns == 0 {
                1.0
            } else {
                1.0 - acc.unusable_ns as f64 / acc.duration_ns as f64
            },
            messages_per_cs: (acc.critical_sections > 0).then(|| acc.messages as f64 / acc.critical_sections as f64),
            reproduce: reproduce_seed
                .map(|seed| format!("locklab run {} --seed {seed} --protocol {}", compiled.file, variant.name)),
            timeline_seed: reproduce_seed.unwrap_or(seeds_.start),
            timeline: format!("timelines/{}.{}.svg", file_stem(&compiled.file), variant.name),
            latency_buckets: acc.latencies.iter().map(|(&b, &n)| (b, n)).collect(),
        });
    }
    Comparison { pairs: out, runs, messages, events, seed_start: seeds_.start }
}

/// What one shard of a sharded `compare` writes (`shard-I-of-N.json`): enough to merge the
/// shards into exactly the report an unsharded run writes, and to refuse shards that do not
/// belong together.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShardFile {
    /// The format of this file.
    pub version: u32,
    /// The command an unsharded run would be (the report's "Generated by" line).
    pub command: String,
    pub seeds: Seeds,
    pub shard: Shard,
    pub max_events: u64,
    /// Every scenario file of the sweep with a hash of its text (merging re-reads and checks it).
    pub scenarios: Vec<(String, String)>,
    /// The pairs, in report order: (scenario file, variant name).
    pub pairs: Vec<(String, String)>,
    pub accs: Vec<PairAcc>,
}

/// The shard file format's version.
pub const SHARD_VERSION: u32 = 1;

/// FNV-1a (64 bit) of a scenario file's text, as hex: shards of one sweep must have read the
/// same files.
pub fn text_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// JUnit XML: one test case per (scenario, variant) pair, failing when its expectation was missed
/// in some seed or is incomplete (`unchecked`), with the command that reproduces a miss.
pub fn junit(c: &Comparison, command: &str) -> String {
    use crate::svg::esc;
    let failures =
        c.pairs.iter().filter(|p| p.expectation_met < p.seeds || !p.expectation_unchecked.is_empty()).count();
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(x, r#"<testsuites name="locklab" tests="{}" failures="{failures}">"#, c.pairs.len());
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        esc(command),
        c.pairs.len()
    );
    for p in &c.pairs {
        let _ =
            write!(x, r#"    <testcase classname="{}" name="{}" time="0""#, esc(&file_stem(&p.file)), esc(&p.variant));
        let mut problems = Vec::new();
        if p.expectation_met < p.seeds {
            problems.push(format!(
                "expectation met in {}/{} seeds; reproduce a miss with `{}`",
                p.expectation_met,
                p.seeds,
                p.reproduce.as_deref().unwrap_or("-")
            ));
        }
        if !p.expectation_unchecked.is_empty() {
            problems.push(format!("unchecked: no expectation declared for {}", p.expectation_unchecked.join(", ")));
        }
        if problems.is_empty() {
            let _ = writeln!(x, "/>");
        } else {
            let msg = problems.join("; ");
            let _ = writeln!(x, ">");
            let _ = writeln!(x, r#"      <failure message="{}" type="expectation">{}</failure>"#, esc(&msg), esc(&msg));
            let _ = writeln!(x, "    </testcase>");
        }
    }
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
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
    let (parts, expectation) = cell_parts(p);
    format!("[`{}`]({}): {}{}", p.variant, p.timeline, parts.join(", "), expectation)
}

/// A cell's words: the violations (or `safe`) and the verdict on the expectation (` ✓`, ` ✗ …`,
/// ` ? unchecked`).
pub fn cell_parts(p: &PairSummary) -> (Vec<String>, String) {
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
    (parts, expectation)
}

/// The Markdown report.
pub fn markdown(c: &Comparison, command: &str) -> String {
    let seeds = c.pairs.first().map_or(0, |p| p.seeds);
    let (first_seed, last_seed) = (c.seed_start, c.seed_start + seeds.saturating_sub(1));
    let mut out = String::new();
    // The registry's families, in its order (each kind's family, then its fenced family).
    let mut families: Vec<&str> = Vec::new();
    for kind in locklab_protocols::registry::PROTOCOL_KINDS {
        for f in [kind.family, kind.fenced_family] {
            if !families.contains(&f) && c.pairs.iter().any(|p| p.family == f) {
                families.push(f);
            }
        }
    }
    let _ = writeln!(out, "# locklab comparison\n");
    let _ = writeln!(
        out,
        "Every protocol variant against every scenario that declares it, over seeds \
         {first_seed}–{last_seed} ({} runs). Generated by `{command}`; do not edit by hand.\n",
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
         timeline of its reproducing seed (or seed {first_seed}).\n"
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
        let _ = writeln!(
            out,
            "Nowhere: every variant declares every applicable property, and every expectation was met in every seed."
        );
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
pub fn json(c: &Comparison, seeds: u64, command: &str) -> String {
    #[derive(Serialize)]
    struct Report<'a> {
        command: &'a str,
        seeds: u64,
        /// Present when the sweep did not start at seed 1.
        #[serde(skip_serializing_if = "Option::is_none")]
        seed_start: Option<u64>,
        runs: u64,
        pairs: &'a [PairSummary],
    }
    let seed_start = (c.seed_start != 1).then_some(c.seed_start);
    serde_json::to_string_pretty(&Report { command, seeds, seed_start, runs: c.runs, pairs: &c.pairs })
        .expect("serialisable")
        + "\n"
}

/// The file in `timelines/` that lists the pictures locklab wrote there.
pub const MANIFEST: &str = ".written-by-locklab";

/// Write the report's files (paths relative to `out`). In `out/timelines/` only the pictures that
/// an earlier `compare` listed in its manifest, and that this one does not write again, are
/// removed: anything else a user keeps there (a photo, a folder) is left alone.
pub fn write_report(out: &Path, files: &[(String, String)]) -> Result<(), String> {
    let timelines = out.join("timelines");
    std::fs::create_dir_all(&timelines)
        .map_err(|e| format!("{}: cannot create the directory: {e}", timelines.display()))?;
    let manifest = timelines.join(MANIFEST);
    let written: Vec<&str> = files.iter().filter_map(|(name, _)| name.strip_prefix("timelines/")).collect();
    if let Ok(old) = std::fs::read_to_string(&manifest) {
        for name in old.lines() {
            let plain = !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.');
            if plain && !written.contains(&name) {
                let _ = std::fs::remove_file(timelines.join(name));
            }
        }
    }
    for (name, text) in files {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    let list: String = written.iter().map(|n| format!("{n}\n")).collect();
    std::fs::write(&manifest, list).map_err(|e| format!("{}: cannot write: {e}", manifest.display()))
}

fn file_stem(file: &str) -> String {
    Path::new(file).file_stem().map_or(file.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The timeline pictures of every pair, as (path relative to the report, SVG text), and the
/// interactive report `index.html` that draws the same pictures in the browser.
pub fn timelines(scenarios: &[Compiled], c: &Comparison, command: &str) -> Vec<(String, String)> {
    let pictures: Vec<crate::timeline::Timeline> = c
        .pairs
        .par_iter()
        .map(|p| {
            let compiled = scenarios.iter().find(|s| s.file == p.file).expect("the pair's scenario");
            let variant = compiled.variant(&p.variant).expect("the pair's variant");
            let r = run_one(compiled, variant, p.timeline_seed, false);
            crate::timeline::build(&r)
        })
        .collect();
    let mut files: Vec<(String, String)> =
        c.pairs.iter().zip(&pictures).map(|(p, t)| (p.timeline.clone(), crate::svg::render(t))).collect();
    files.push(("index.html".to_string(), crate::html::index(c, &pictures, command)));
    files
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `compare` aggregates runs as they finish (memory O(pairs), not O(runs): issue 10, item 4)
    /// and still reports exactly what a run-by-run tally gives: the counts, the smallest
    /// violating seed, the expectation count and the latency percentiles (at the report's 0.1 ms).
    #[test]
    fn aggregating_as_runs_finish_gives_the_run_by_run_tally() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let compiled = locklab_sim::load_compiled(&root.join("scenarios/13-false-positive-detector.toml")).unwrap();
        let variants: Vec<usize> = (0..compiled.variants.len()).collect();
        let seeds = 40;
        let c = compare(std::slice::from_ref(&compiled), std::slice::from_ref(&variants), seeds, u64::MAX, &|| {});
        assert_eq!(c.runs, seeds * variants.len() as u64);
        for (pair, &v) in c.pairs.iter().zip(&variants) {
            let runs: Vec<_> = (1..=seeds).map(|seed| run_one(&compiled, v, seed, false)).collect();
            for (k, (p, _)) in PROPERTIES.iter().enumerate() {
                let outcomes: Vec<Outcome> =
                    runs.iter().map(|r| r.report.get(p).map_or(Outcome::NotApplicable, |x| x.outcome)).collect();
                let violated = outcomes.iter().filter(|o| **o == Outcome::Violated).count() as u64;
                let holds = outcomes.iter().filter(|o| **o == Outcome::Holds).count() as u64;
                let first = outcomes.iter().position(|o| *o == Outcome::Violated).map(|i| i as u64 + 1);
                let s = &pair.properties[k];
                assert_eq!((s.violated, s.holds, s.example_seed), (violated, holds, first), "{} {p}", pair.variant);
            }
            let met = runs.iter().filter(|r| r.expectation.met).count() as u64;
            assert_eq!(pair.expectation_met, met);
            let mut latencies: Vec<u64> =
                runs.iter().flat_map(|r| r.report.metrics.acquire_latencies_ns.clone()).collect();
            latencies.sort_unstable();
            for (q, got) in [(0.5, pair.acquire_ms_p50), (0.99, pair.acquire_ms_p99)] {
                let exact = locklab_checkers::percentile(&latencies, q);
                assert!((exact - got).abs() <= 0.05 + 1e-9, "{} p{q}: {got} vs {exact}", pair.variant);
            }
        }
    }
}
