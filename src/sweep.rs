//! `locklab sweep`: one scenario over a grid of parameter values × seeds, without editing files.
//!
//! `--set PATH=VALUES` names any key of the scenario file by its TOML path and the values it
//! takes:
//!
//! * paths: `protocols.lease-fenced.ttl_ms` (a `[[protocols]]` entry by its `name`),
//!   `protocols.*.ttl_ms` (every entry), `protocols[0].ttl_ms`, `faults[0].duration_ms`,
//!   `workload.think_ms`, `network.loss`, `clocks.drift_ppm_max` — any table or array-of-tables
//!   path; the last key may be new (a parameter the file leaves at its default);
//! * values: a list `2000,4000,8000` (TOML values: numbers, booleans, strings), or an inclusive
//!   range `1000..10000:step=1000` (integers or decimals).
//!
//! Several `--set`s make a grid (their cartesian product; the first varies slowest). Each point
//! is the scenario file with those values written in, compiled as `run` would (a value a key
//! cannot take is an error naming the point), and run for every variant × seed. Per (point,
//! variant): each property's violation rate with its 95% Wilson interval, acquire latency
//! percentiles per seed (p50 and p99 of each run, averaged over the seeds, and the worst p99 —
//! not pooled across seeds), the usable fraction and messages per critical section. Written as
//! CSV, JSON and Markdown, and one SVG plot per property (rate against the first swept
//! parameter, one line per variant and combination of the others, interval bands).
//!
//! Runs go over every core (rayon) with a progress bar; the aggregates are integers summed as
//! runs finish (memory O(points), not O(runs); the same numbers whatever order the runs finish
//! in), so a sweep is deterministic: the same file, grid, seeds and binary give the same output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::exit;
use crate::svg::esc;
use locklab_sim::Compiled;

/// Properties a sweep reports, in this order.
const PROPERTIES: &[&str] = &["no_stale_write", "mutual_exclusion", "linearizable", "token_order", "liveness"];

/// The most grid points one sweep accepts.
pub const MAX_POINTS: usize = 10_000;

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// A parameter and its values: `PATH=V1,V2,…` or `PATH=FROM..TO:step=S` (repeatable: a grid).
    #[arg(long = "set", required = true)]
    pub sets: Vec<String>,
    /// Seeds per (point, variant): S..S+N−1.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    pub seed_start: u64,
    /// Only these variants (names, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub protocols: Vec<String>,
    /// Where to write sweep.csv, sweep.json, sweep.md and the plots.
    #[arg(long, default_value = "reports/sweep")]
    pub out: PathBuf,
    /// Event budget per run (a run stopped there counts as `unknown`, never as a pass).
    #[arg(long, default_value_t = locklab_sim::world::DEFAULT_MAX_EVENTS)]
    pub max_events: u64,
    /// No progress bar and no table on stdout.
    #[arg(long)]
    pub quiet: bool,
    /// Run only shard I of N (a stable partition of the runs, as `compare --shard`) and write
    /// `sweep-shard-I-of-N.json`; `locklab merge` combines the shards into exactly the unsharded
    /// output.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Print runs/s on stderr.
    #[arg(long)]
    pub stats: bool,
    /// Also write a JUnit XML report (one test case per point × variant × property; a case
    /// fails when the property was violated in some seed, with the command that reproduces it).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// For each (point, variant) whose runs violated a property: shrink its first violating
    /// seed (`locklab shrink`, the first property violated) and write the point's scenario and
    /// the shrunk one to OUT/shrunk/ (not with --shard).
    #[arg(long, conflicts_with = "shard")]
    pub shrink: bool,
}

/// One `--set`: a path and its values.
#[derive(Clone, Debug)]
pub struct Axis {
    pub path: String,
    pub values: Vec<toml::Value>,
}

/// Parse `PATH=VALUES`.
pub fn parse_set(text: &str) -> Result<Axis, String> {
    let (path, values) = text
        .split_once('=')
        .ok_or_else(|| format!("--set {text}: expected PATH=VALUES (e.g. protocols.*.ttl_ms=1000,2000)"))?;
    let path = path.trim();
    if path.is_empty() {
        return Err(format!("--set {text}: the path is empty"));
    }
    let values = values.trim();
    let parsed = if let Some((range, step)) = values.split_once(":step=") {
        let (from, to) = range.split_once("..").ok_or_else(|| format!("--set {text}: a range is FROM..TO:step=S"))?;
        range_values(from.trim(), to.trim(), step.trim()).map_err(|e| format!("--set {text}: {e}"))?
    } else if let Some((from, to)) = values.split_once("..") {
        return Err(format!("--set {text}: a range needs a step: {from}..{to}:step=S"));
    } else {
        values
            .split(',')
            .map(|v| scalar(v.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--set {text}: {e}"))?
    };
    if parsed.is_empty() {
        return Err(format!("--set {text}: no values"));
    }
    Ok(Axis { path: path.to_string(), values: parsed })
}

/// A TOML scalar (`5`, `0.1`, `true`, `"x"`), or a bare word as a string.
fn scalar(text: &str) -> Result<toml::Value, String> {
    if text.is_empty() {
        return Err("an empty value".into());
    }
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut t) => Ok(t.remove("v").expect("parsed `v`")),
        Err(_) => Ok(toml::Value::String(text.to_string())),
    }
}

fn range_values(from: &str, to: &str, step: &str) -> Result<Vec<toml::Value>, String> {
    let ints = (from.parse::<i64>(), to.parse::<i64>(), step.parse::<i64>());
    if let (Ok(a), Ok(b), Ok(s)) = ints {
        if s <= 0 {
            return Err("the step must be positive".into());
        }
        if b < a {
            return Err(format!("{a} > {b}"));
        }
        let n = (b - a) / s + 1;
        if n as usize > MAX_POINTS {
            return Err(format!("{n} values: at most {MAX_POINTS}"));
        }
        return Ok((0..n).map(|i| toml::Value::Integer(a + i * s)).collect());
    }
    let (a, b, s) = match (from.parse::<f64>(), to.parse::<f64>(), step.parse::<f64>()) {
        (Ok(a), Ok(b), Ok(s)) => (a, b, s),
        _ => return Err("FROM, TO and S must be numbers".into()),
    };
    if s.is_nan() || s <= 0.0 || !a.is_finite() || !b.is_finite() {
        return Err("the step must be positive and the bounds finite".into());
    }
    if b < a {
        return Err(format!("{a} > {b}"));
    }
    let n = ((b - a) / s + 1e-9).floor() as usize + 1;
    if n > MAX_POINTS {
        return Err(format!("{n} values: at most {MAX_POINTS}"));
    }
    // Rounded to 12 significant digits: 0.1 + 2 × 0.1 is written 0.3, as a reader typed it.
    Ok((0..n).map(|i| toml::Value::Float(format!("{:.12e}", a + i as f64 * s).parse().expect("a float"))).collect())
}

/// Write `value` at `path` into `doc`. `protocols.NAME` picks the entry with that name,
/// `protocols.*` every entry, `x[i]` element i of an array.
pub fn set_path(doc: &mut toml::Table, path: &str, value: &toml::Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    set_in_table(doc, &segments, value, path)
}

fn set_in_table(t: &mut toml::Table, segs: &[&str], value: &toml::Value, path: &str) -> Result<(), String> {
    let (head, rest) = (segs[0], &segs[1..]);
    let (key, index) = match head.split_once('[') {
        Some((k, i)) => {
            let i = i.strip_suffix(']').and_then(|i| i.parse::<usize>().ok());
            (k, Some(i.ok_or_else(|| format!("{path}: `{head}`: an index is written [N]"))?))
        }
        None => (head, None),
    };
    if rest.is_empty() {
        if index.is_some() {
            return Err(format!("{path}: the last segment must be a key"));
        }
        t.insert(key.to_string(), value.clone());
        return Ok(());
    }
    let Some(child) = t.get_mut(key) else {
        return Err(format!("{path}: the file has no `{key}`"));
    };
    match (child, index) {
        (toml::Value::Array(items), Some(i)) => {
            let n = items.len();
            match items.get_mut(i) {
                Some(toml::Value::Table(inner)) => set_in_table(inner, rest, value, path),
                Some(_) => Err(format!("{path}: `{key}[{i}]` is not a table")),
                None => Err(format!("{path}: the file has {n} `{key}` entries (indexes from 0)")),
            }
        }
        (toml::Value::Array(items), None) => {
            // `protocols.NAME.key` / `protocols.*.key`: entries by their `name`.
            let selector = rest[0];
            if rest.len() < 2 {
                return Err(format!(
                    "{path}: `{key}` is a list: pick an entry (`{key}[0]`, `{key}.NAME` or `{key}.*`)"
                ));
            }
            let mut hit = false;
            for item in items.iter_mut() {
                if let toml::Value::Table(inner) = item {
                    let name = inner.get("name").and_then(|n| n.as_str()).unwrap_or("");
                    if selector == "*" || selector == name {
                        hit = true;
                        set_in_table(inner, &rest[1..], value, path)?;
                    }
                }
            }
            if hit {
                Ok(())
            } else {
                Err(format!("{path}: no `{key}` entry is named `{selector}`"))
            }
        }
        (toml::Value::Table(inner), None) => set_in_table(inner, rest, value, path),
        (_, _) => Err(format!("{path}: `{key}` is not a table")),
    }
}

/// A value as a label (`5000`, `0.1`, `"x"` → `x`).
fn label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// One grid point: a value per axis.
#[derive(Clone, Debug)]
struct Point {
    values: Vec<toml::Value>,
    compiled: Compiled,
    /// The point's scenario text (the file with this point's values set).
    text: String,
}

/// Per (point, variant), integer sums (order-independent, so deterministic under rayon).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Acc {
    runs: u64,
    /// Per property: (violated, decided) — decided = holds or violated (vacuous, n/a, unknown
    /// are neither).
    violated: [u64; PROPERTIES.len()],
    decided: [u64; PROPERTIES.len()],
    unknown: u64,
    /// Runs with at least one successful acquire; the sums of their p50 and p99 in µs.
    latency_runs: u64,
    p50_us_sum: u64,
    p99_us_sum: u64,
    p99_us_max: u64,
    /// Usable fraction in parts per million, summed.
    usable_ppm_sum: u64,
    messages: u64,
    critical_sections: u64,
    /// The first seed (lowest) that violated each property, for the reproduce command.
    first_violating_seed: [Option<u64>; PROPERTIES.len()],
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.runs += o.runs;
        for i in 0..PROPERTIES.len() {
            self.violated[i] += o.violated[i];
            self.decided[i] += o.decided[i];
        }
        self.unknown += o.unknown;
        self.latency_runs += o.latency_runs;
        self.p50_us_sum += o.p50_us_sum;
        self.p99_us_sum += o.p99_us_sum;
        self.p99_us_max = self.p99_us_max.max(o.p99_us_max);
        self.usable_ppm_sum += o.usable_ppm_sum;
        self.messages += o.messages;
        self.critical_sections += o.critical_sections;
        for i in 0..PROPERTIES.len() {
            self.first_violating_seed[i] = match (self.first_violating_seed[i], o.first_violating_seed[i]) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One row of the output.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub point: Vec<(String, String)>,
    pub variant: String,
    pub runs: u64,
    pub properties: Vec<PropertyRate>,
    pub unknown_runs: u64,
    pub acquire_p50_ms_mean: Option<f64>,
    pub acquire_p99_ms_mean: Option<f64>,
    pub acquire_p99_ms_max: Option<f64>,
    pub usable_fraction: f64,
    pub messages_per_cs: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PropertyRate {
    pub property: &'static str,
    pub violated: u64,
    /// Runs in which the property was decided (holds or violated).
    pub decided: u64,
    pub rate: Option<f64>,
    pub ci95: Option<(f64, f64)>,
}

fn row(point: &Point, axes: &[Axis], variant: &str, a: &Acc) -> Row {
    let properties = PROPERTIES
        .iter()
        .enumerate()
        .map(|(i, p)| PropertyRate {
            property: p,
            violated: a.violated[i],
            decided: a.decided[i],
            rate: (a.decided[i] > 0).then(|| a.violated[i] as f64 / a.decided[i] as f64),
            ci95: (a.decided[i] > 0).then(|| wilson(a.violated[i], a.decided[i])),
        })
        .collect();
    let per_run = |sum: u64| (a.latency_runs > 0).then(|| sum as f64 / a.latency_runs as f64 / 1000.0);
    Row {
        point: axes.iter().zip(&point.values).map(|(ax, v)| (ax.path.clone(), label(v))).collect(),
        variant: variant.to_string(),
        runs: a.runs,
        properties,
        unknown_runs: a.unknown,
        acquire_p50_ms_mean: per_run(a.p50_us_sum),
        acquire_p99_ms_mean: per_run(a.p99_us_sum),
        acquire_p99_ms_max: (a.latency_runs > 0).then(|| a.p99_us_max as f64 / 1000.0),
        usable_fraction: if a.runs > 0 { a.usable_ppm_sum as f64 / a.runs as f64 / 1e6 } else { 0.0 },
        messages_per_cs: (a.critical_sections > 0).then(|| a.messages as f64 / a.critical_sections as f64),
    }
}

/// `locklab sweep`.
pub fn sweep(args: &SweepArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

/// A sweep ready to run: its grid compiled, its variants chosen.
struct Prepared {
    file: String,
    source_hash: String,
    axes: Vec<Axis>,
    points: Vec<Point>,
    /// Every variant name of the file; `variants` indexes the chosen ones.
    all: Vec<String>,
    variants: Vec<usize>,
    command: String,
}

/// What a sweep shard writes, and `merge` reads.
#[derive(Serialize, serde::Deserialize, Debug)]
pub struct SweepShardFile {
    pub version: u32,
    pub file: String,
    pub source_hash: String,
    pub sets: Vec<String>,
    pub seeds: u64,
    pub seed_start: u64,
    pub protocols: Vec<String>,
    pub max_events: u64,
    pub shard: crate::compare::Shard,
    pub accs: Vec<Acc>,
}

const SWEEP_SHARD_VERSION: u32 = 1;

fn prepare(args: &SweepArgs) -> Result<Prepared, (i32, String)> {
    let bad = |m: String| (exit::BAD_INPUT, m);
    let axes: Vec<Axis> = args.sets.iter().map(|s| parse_set(s)).collect::<Result<_, _>>().map_err(bad)?;
    if args.seeds == 0 || args.seed_start == 0 || args.seed_start.checked_add(args.seeds - 1).is_none() {
        return Err(bad(format!(
            "--seeds {} --seed-start {}: at least one seed, seeds start at 1 and the last must fit in 64 bits",
            args.seeds, args.seed_start
        )));
    }
    let file = args.file.display().to_string();
    let source = std::fs::read_to_string(&args.file).map_err(|e| bad(format!("{file}: cannot read the file: {e}")))?;
    // The file must be a valid scenario as it stands.
    locklab_sim::load_compiled(&args.file).map_err(|e| bad(e.to_string()))?;
    let base: toml::Table = source.parse().map_err(|e| bad(format!("{file}: {e}")))?;
    let total_points =
        axes.iter().try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()).filter(|&n| n <= MAX_POINTS));
    let Some(total_points) = total_points else {
        return Err(bad(format!("the grid has more than {MAX_POINTS} points")));
    };
    // Every point of the grid, compiled.
    let mut points = Vec::with_capacity(total_points);
    for index in 0..total_points {
        let mut rem = index;
        let mut values = vec![toml::Value::Boolean(false); axes.len()];
        for (i, axis) in axes.iter().enumerate().rev() {
            values[i] = axis.values[rem % axis.values.len()].clone();
            rem /= axis.values.len();
        }
        let mut doc = base.clone();
        for (axis, v) in axes.iter().zip(&values) {
            set_path(&mut doc, &axis.path, v).map_err(|e| bad(format!("{file}: {e}")))?;
        }
        let text = toml::to_string(&doc).map_err(|e| (exit::INTERNAL, format!("cannot write the point: {e}")))?;
        let name = format!(
            "{file} [{}]",
            axes.iter().zip(&values).map(|(a, v)| format!("{}={}", a.path, label(v))).collect::<Vec<_>>().join(", ")
        );
        let compiled = locklab_sim::parse(&name, &text)
            .and_then(|s| locklab_sim::compile(&name, &text, s))
            .map_err(|e| bad(format!("sweep point {e}")))?;
        points.push(Point { values, compiled, text });
    }
    // Variants: the file's (after the sweep; a swept value does not rename them), filtered.
    let all: Vec<String> = points[0].compiled.variants.iter().map(|v| v.name.clone()).collect();
    for p in &args.protocols {
        if !all.contains(p) {
            return Err(bad(format!("--protocols {p}: no such variant; this file's: {}", all.join(", "))));
        }
    }
    let variants: Vec<usize> =
        (0..all.len()).filter(|&i| args.protocols.is_empty() || args.protocols.contains(&all[i])).collect();
    let mut command = format!("locklab sweep {file}");
    for s in &args.sets {
        command.push_str(&format!(" --set '{s}'"));
    }
    command.push_str(&format!(" --seeds {}", args.seeds));
    if args.seed_start != 1 {
        command.push_str(&format!(" --seed-start {}", args.seed_start));
    }
    if !args.protocols.is_empty() {
        command.push_str(&format!(" --protocols {}", args.protocols.join(",")));
    }
    Ok(Prepared { file, source_hash: crate::compare::text_hash(&source), axes, points, all, variants, command })
}

fn run(args: &SweepArgs) -> Result<i32, (i32, String)> {
    let bad = |m: String| (exit::BAD_INPUT, m);
    let shard = args.shard.as_deref().map(crate::compare::Shard::parse).transpose().map_err(bad)?;
    let prep = prepare(args)?;
    let pairs = prep.points.len() * prep.variants.len();
    let total = (pairs as u64)
        .checked_mul(args.seeds)
        .filter(|&t| t <= crate::compare::MAX_RUNS)
        .ok_or_else(|| bad("too many runs: lower --seeds or the grid".into()))?;
    let mine = match shard {
        Some(sh) => total / sh.of + u64::from(total % sh.of >= sh.index),
        None => total,
    };
    let bar = indicatif::ProgressBar::new(mine);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();
    let owned = |i: u64| shard.is_none_or(|sh| i % sh.of == sh.index - 1);
    let accs: Vec<Acc> = (0..total)
        .into_par_iter()
        .filter(|&i| owned(i))
        .fold(
            || vec![Acc::default(); pairs],
            |mut accs, i| {
                let pair = (i / args.seeds) as usize;
                let seed = args.seed_start + i % args.seeds;
                let (point, variant) = (pair / prep.variants.len(), prep.variants[pair % prep.variants.len()]);
                let r = crate::runner::run_bulk(&prep.points[point].compiled, variant, seed, args.max_events);
                let a = &mut accs[pair];
                a.runs += 1;
                if r.stats.truncated {
                    a.unknown += 1;
                }
                for (j, name) in PROPERTIES.iter().enumerate() {
                    match r.report.get(name).map(|p| p.outcome.as_str()) {
                        Some("violated") => {
                            a.violated[j] += 1;
                            a.decided[j] += 1;
                            a.first_violating_seed[j] = Some(a.first_violating_seed[j].map_or(seed, |s| s.min(seed)));
                        }
                        Some("holds") => a.decided[j] += 1,
                        _ => {}
                    }
                }
                let m = &r.report.metrics;
                if m.acquires_ok > 0 {
                    a.latency_runs += 1;
                    let p50 = (m.acquire_ms_p50 * 1000.0).round() as u64;
                    let p99 = (m.acquire_ms_p99 * 1000.0).round() as u64;
                    a.p50_us_sum += p50;
                    a.p99_us_sum += p99;
                    a.p99_us_max = a.p99_us_max.max(p99);
                }
                a.usable_ppm_sum += (m.usable_fraction * 1e6).round() as u64;
                a.messages += m.messages_delivered;
                a.critical_sections += m.critical_sections_completed;
                bar.inc(1);
                accs
            },
        )
        .reduce(
            || vec![Acc::default(); pairs],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    x.add(y);
                }
                a
            },
        );
    bar.finish_and_clear();
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "stats: {mine} runs in {secs:.2} s on {} threads: {:.0} runs/s",
            rayon::current_num_threads(),
            mine as f64 / secs
        );
    }
    if let Some(sh) = shard {
        let shard_file = SweepShardFile {
            version: SWEEP_SHARD_VERSION,
            file: prep.file.clone(),
            source_hash: prep.source_hash.clone(),
            sets: args.sets.clone(),
            seeds: args.seeds,
            seed_start: args.seed_start,
            protocols: args.protocols.clone(),
            max_events: args.max_events,
            shard: sh,
            accs,
        };
        std::fs::create_dir_all(&args.out)
            .map_err(|e| (exit::OUTPUT, format!("{}: cannot create the directory: {e}", args.out.display())))?;
        let path = args.out.join(format!("sweep-shard-{}-of-{}.json", sh.index, sh.of));
        std::fs::write(&path, serde_json::to_string(&shard_file).expect("serialisable") + "\n")
            .map_err(|e| (exit::OUTPUT, format!("{}: cannot write: {e}", path.display())))?;
        if !args.quiet {
            println!(
                "wrote {} (shard {}/{}: {mine} runs); combine the shards with `locklab merge`",
                path.display(),
                sh.index,
                sh.of
            );
        }
        return Ok(0);
    }
    if args.shrink {
        std::fs::create_dir_all(&args.out)
            .map_err(|e| (exit::OUTPUT, format!("{}: cannot create the directory: {e}", args.out.display())))?;
    }
    let code = finish(&prep, &accs, args.seeds, args.seed_start, &args.out, args.junit.as_deref(), args.quiet)?;
    if args.shrink {
        shrink_violations(args, &prep, &accs)?;
    }
    Ok(code)
}

/// `sweep --shrink`: for each (point, variant) with a violation, write the point's scenario to
/// OUT/shrunk/point-P.toml and shrink its first violating seed (of the first property, in the
/// table's order) to OUT/shrunk/point-P-VARIANT.shrunk.toml; print one line per shrink.
fn shrink_violations(args: &SweepArgs, prep: &Prepared, accs: &[Acc]) -> Result<(), (i32, String)> {
    let dir = args.out.join("shrunk");
    let mut written = 0;
    for (pair, acc) in accs.iter().enumerate() {
        let Some((property, seed)) =
            PROPERTIES.iter().zip(&acc.first_violating_seed).find_map(|(p, s)| s.map(|s| (*p, s)))
        else {
            continue;
        };
        let (point, variant) = (pair / prep.variants.len(), &prep.all[prep.variants[pair % prep.variants.len()]]);
        std::fs::create_dir_all(&dir)
            .map_err(|e| (exit::OUTPUT, format!("{}: cannot create the directory: {e}", dir.display())))?;
        let labels: Vec<String> = prep
            .axes
            .iter()
            .zip(&prep.points[point].values)
            .map(|(a, v)| format!("{} = {}", a.path, label(v)))
            .collect();
        let point_file = dir.join(format!("point-{}.toml", point + 1));
        let header = format!("# Sweep point {} of {}: {}\n\n", point + 1, prep.file, labels.join(", "));
        std::fs::write(&point_file, header + &prep.points[point].text)
            .map_err(|e| (exit::OUTPUT, format!("{}: cannot write: {e}", point_file.display())))?;
        let shrink_args = crate::shrink::ShrinkArgs {
            file: point_file,
            seed,
            protocol: variant.clone(),
            property: Some(property.to_string()),
            out: Some(dir.join(format!("point-{}-{variant}.shrunk.toml", point + 1))),
            max_runs: 1000,
            max_events: args.max_events,
        };
        let shrunk = crate::shrink::run(&shrink_args)?;
        written += 1;
        if !args.quiet {
            println!(
                "shrunk: [{}] {variant} seed {seed} ({}): {} in {} runs{} -> {}",
                labels.join(", "),
                shrunk.property,
                shrunk.sizes(),
                shrunk.runs,
                if shrunk.complete { "" } else { " (budget spent)" },
                shrunk.out.display()
            );
        }
    }
    if !args.quiet && written == 0 {
        println!("shrunk: nothing violated, nothing to shrink");
    }
    Ok(())
}

/// Write a sweep's outputs from its accumulators (the unsharded run and `merge` both end here).
fn finish(
    prep: &Prepared,
    accs: &[Acc],
    seeds: u64,
    seed_start: u64,
    out: &Path,
    junit: Option<&Path>,
    quiet: bool,
) -> Result<i32, (i32, String)> {
    let pairs = prep.points.len() * prep.variants.len();
    let rows: Vec<Row> = (0..pairs)
        .map(|pair| {
            let (point, variant) = (pair / prep.variants.len(), prep.variants[pair % prep.variants.len()]);
            row(&prep.points[point], &prep.axes, &prep.all[variant], &accs[pair])
        })
        .collect();
    write_outputs(out, &prep.axes, &rows, &prep.command).map_err(|e| (exit::OUTPUT, e))?;
    if let Some(path) = junit {
        let xml = junit_xml(prep, &rows, accs, seeds, seed_start);
        std::fs::write(path, xml).map_err(|e| (exit::OUTPUT, format!("{}: cannot write: {e}", path.display())))?;
    }
    if !quiet {
        println!("{}", markdown(&prep.axes, &rows, &prep.command));
        println!("wrote {}/sweep.{{csv,json,md}} and one plot per property", out.display());
    }
    let unknown = rows.iter().any(|r| r.unknown_runs > 0);
    Ok(if unknown { exit::UNKNOWN } else { 0 })
}

/// Combine sweep shards (`sweep-shard-I-of-N.json`) into exactly the unsharded output. The
/// scenario file is read again (it must be unchanged: its hash is in every shard).
pub fn merge(paths: &[PathBuf], out: &Path, junit: Option<&Path>, quiet: bool) -> i32 {
    let result = (|| -> Result<i32, (i32, String)> {
        let bad = |m: String| (exit::BAD_INPUT, m);
        let mut shards = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            let s: SweepShardFile = serde_json::from_str(&text)
                .map_err(|e| bad(format!("{}: not a sweep shard file: {e}", p.display())))?;
            if s.version != SWEEP_SHARD_VERSION {
                return Err(bad(format!(
                    "{}: shard format {} (this locklab reads {SWEEP_SHARD_VERSION})",
                    p.display(),
                    s.version
                )));
            }
            shards.push(s);
        }
        let first = &shards[0];
        let of = first.shard.of;
        let same = |s: &SweepShardFile| {
            s.file == first.file
                && s.source_hash == first.source_hash
                && s.sets == first.sets
                && s.seeds == first.seeds
                && s.seed_start == first.seed_start
                && s.protocols == first.protocols
                && s.max_events == first.max_events
                && s.shard.of == of
        };
        if !shards.iter().all(same) {
            return Err(bad("the shards are of different sweeps".into()));
        }
        let mut seen: Vec<u64> = shards.iter().map(|s| s.shard.index).collect();
        seen.sort_unstable();
        if seen != (1..=of).collect::<Vec<_>>() {
            return Err(bad(format!("need shards 1..={of} exactly once each; got {seen:?}")));
        }
        let args = SweepArgs {
            file: PathBuf::from(&first.file),
            sets: first.sets.clone(),
            seeds: first.seeds,
            seed_start: first.seed_start,
            protocols: first.protocols.clone(),
            out: out.to_path_buf(),
            max_events: first.max_events,
            quiet,
            shard: None,
            stats: false,
            junit: None,
            shrink: false,
        };
        let prep = prepare(&args)?;
        if prep.source_hash != first.source_hash {
            return Err(bad(format!("{}: the file changed since the shards ran", first.file)));
        }
        let mut accs = vec![Acc::default(); prep.points.len() * prep.variants.len()];
        for s in &shards {
            if s.accs.len() != accs.len() {
                return Err(bad("a shard's grid does not match the file".into()));
            }
            for (a, b) in accs.iter_mut().zip(&s.accs) {
                a.add(b);
            }
        }
        finish(&prep, &accs, first.seeds, first.seed_start, out, junit, quiet)
    })();
    match result {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

/// JUnit XML: a test suite per point × variant, a test case per property; a case fails when the
/// property was violated in some seed (message: the rate; text: the command reproducing the
/// lowest violating seed). Properties never decided are skipped.
fn junit_xml(prep: &Prepared, rows: &[Row], accs: &[Acc], seeds: u64, seed_start: u64) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures: u64 = rows.iter().map(|r| r.properties.iter().filter(|p| p.violated > 0).count() as u64).sum();
    let tests: usize = rows.len() * PROPERTIES.len();
    let _ = writeln!(s, r#"<testsuites name="locklab sweep" tests="{tests}" failures="{failures}">"#);
    for (r, a) in rows.iter().zip(accs) {
        let point = r.point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
        let suite = format!("{} [{point}] {}", prep.file, r.variant);
        let fails = r.properties.iter().filter(|p| p.violated > 0).count();
        let _ = writeln!(s, r#"  <testsuite name="{}" tests="{}" failures="{fails}">"#, esc(&suite), PROPERTIES.len());
        for (i, p) in r.properties.iter().enumerate() {
            let _ = write!(s, r#"    <testcase classname="{}" name="{}""#, esc(&suite), p.property);
            if p.decided == 0 {
                let _ = writeln!(
                    s,
                    ">\n      <skipped message=\"never decided (vacuous, n/a or unknown)\"/>\n    </testcase>"
                );
            } else if p.violated > 0 {
                let seed = a.first_violating_seed[i].unwrap_or(seed_start);
                let sets: String =
                    r.point.iter().map(|(k, v)| format!(" --set '{k}={v}'")).collect::<Vec<_>>().join("");
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"violated in {} of {} runs (seeds {}..{})\">reproduce: locklab sweep {}{} --seeds 1 --seed-start {seed} --protocols {}</failure>\n    </testcase>",
                    p.violated,
                    p.decided,
                    seed_start,
                    seed_start + seeds - 1,
                    esc(&prep.file),
                    esc(&sets),
                    esc(&r.variant)
                );
            } else {
                s.push_str("/>\n");
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

fn write_outputs(out: &Path, axes: &[Axis], rows: &[Row], command: &str) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: cannot create the directory: {e}", out.display()))?;
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    write("sweep.csv", &csv(axes, rows))?;
    let json = serde_json::json!({ "command": command, "axes": axes.iter().map(|a| &a.path).collect::<Vec<_>>(), "rows": rows });
    write("sweep.json", &(serde_json::to_string_pretty(&json).expect("serialisable") + "\n"))?;
    write("sweep.md", &markdown(axes, rows, command))?;
    let mut plots = Vec::new();
    for (i, p) in PROPERTIES.iter().enumerate() {
        if rows.iter().any(|r| r.properties[i].rate.is_some()) {
            let svg = plot(axes, rows, i);
            write(&format!("sweep-{p}.svg"), &svg)?;
            plots.push(svg);
        }
    }
    let (head, body) = table(axes, rows);
    write("index.html", &crate::html::sweep_page(command, TABLE_INTRO, &plots, &head, &body))?;
    Ok(())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |v| format!("{v:.digits$}"))
}

fn csv(axes: &[Axis], rows: &[Row]) -> String {
    let quote =
        |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    let mut s = String::new();
    let mut head: Vec<String> = axes.iter().map(|a| quote(&a.path)).collect();
    head.extend(["variant", "runs"].map(String::from));
    for p in PROPERTIES {
        head.extend([
            format!("{p}_violated"),
            format!("{p}_decided"),
            format!("{p}_rate"),
            format!("{p}_ci_low"),
            format!("{p}_ci_high"),
        ]);
    }
    head.extend(
        [
            "unknown_runs",
            "acquire_p50_ms_mean",
            "acquire_p99_ms_mean",
            "acquire_p99_ms_max",
            "usable_fraction",
            "messages_per_cs",
        ]
        .map(String::from),
    );
    let _ = writeln!(s, "{}", head.join(","));
    for r in rows {
        let mut cells: Vec<String> = r.point.iter().map(|(_, v)| quote(v)).collect();
        cells.push(quote(&r.variant));
        cells.push(r.runs.to_string());
        for p in &r.properties {
            cells.push(p.violated.to_string());
            cells.push(p.decided.to_string());
            cells.push(opt(p.rate, 4));
            cells.push(opt(p.ci95.map(|c| c.0), 4));
            cells.push(opt(p.ci95.map(|c| c.1), 4));
        }
        cells.push(r.unknown_runs.to_string());
        cells.push(opt(r.acquire_p50_ms_mean, 1));
        cells.push(opt(r.acquire_p99_ms_mean, 1));
        cells.push(opt(r.acquire_p99_ms_max, 1));
        cells.push(format!("{:.4}", r.usable_fraction));
        cells.push(opt(r.messages_per_cs, 1));
        let _ = writeln!(s, "{}", cells.join(","));
    }
    s
}

/// The words above the sweep's table (Markdown and HTML).
const TABLE_INTRO: &str =
    "Violation rate per property over the runs in which it was decided (holds or violated), with its 95% \
     Wilson interval; acquire latency p50/p99 per run, averaged over the seeds (and the worst p99); usable \
     fraction; messages per critical section.";

/// The sweep's table: its header and its rows of cells (Markdown and HTML).
fn table(axes: &[Axis], rows: &[Row]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head: Vec<String> = axes.iter().map(|a| a.path.clone()).collect();
    head.extend(["variant", "runs"].map(String::from));
    head.extend(PROPERTIES.iter().map(|p| p.to_string()));
    head.extend(["p50 ms", "p99 ms (max)", "usable", "msgs/CS"].map(String::from));
    let body = rows
        .iter()
        .map(|r| {
            let mut cells: Vec<String> = r.point.iter().map(|(_, v)| v.clone()).collect();
            cells.push(r.variant.clone());
            cells.push(if r.unknown_runs > 0 {
                format!("{} ({} unknown)", r.runs, r.unknown_runs)
            } else {
                r.runs.to_string()
            });
            for p in &r.properties {
                cells.push(match (p.rate, p.ci95) {
                    (Some(rate), Some((lo, hi))) => format!("{rate:.2} [{lo:.2}, {hi:.2}]"),
                    _ => "—".into(),
                });
            }
            cells.push(opt(r.acquire_p50_ms_mean, 0));
            cells.push(match (r.acquire_p99_ms_mean, r.acquire_p99_ms_max) {
                (Some(m), Some(x)) => format!("{m:.0} ({x:.0})"),
                _ => "—".into(),
            });
            cells.push(format!("{:.3}", r.usable_fraction));
            cells.push(opt(r.messages_per_cs, 1));
            cells
        })
        .collect();
    (head, body)
}

fn markdown(axes: &[Axis], rows: &[Row], command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Sweep\n\nRegenerate with `{command}`.\n");
    let _ = writeln!(s, "{TABLE_INTRO}\n");
    let (mut head, body) = table(axes, rows);
    for h in head.iter_mut().take(axes.len()) {
        *h = format!("`{h}`");
    }
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for cells in body {
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s
}

/// Rate of property `p` against the first axis: one line per variant and combination of the other
/// axes, with its Wilson band.
fn plot(axes: &[Axis], rows: &[Row], p: usize) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 420.0, 60.0, 220.0, 30.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let xs = &axes[0].values;
    let numeric: Option<Vec<f64>> = xs.iter().map(|v| v.as_integer().map(|i| i as f64).or(v.as_float())).collect();
    let (lo, hi) = match &numeric {
        Some(n) => (n.iter().cloned().fold(f64::MAX, f64::min), n.iter().cloned().fold(f64::MIN, f64::max)),
        None => (0.0, (xs.len().max(2) - 1) as f64),
    };
    let x_of = |i: usize| {
        let v = numeric.as_ref().map_or(i as f64, |n| n[i]);
        left + if hi > lo { (v - lo) / (hi - lo) * pw } else { pw / 2.0 }
    };
    let y_of = |r: f64| top + (1.0 - r) * ph;
    let mut series: Vec<(String, Vec<(usize, &Row)>)> = Vec::new();
    for r in rows {
        let key = std::iter::once(r.variant.clone())
            .chain(r.point.iter().skip(1).map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k))))
            .collect::<Vec<_>>()
            .join(" ");
        let x = xs.iter().position(|v| label(v) == r.point[0].1).unwrap_or(0);
        match series.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pts)) => pts.push((x, r)),
            None => series.push((key, vec![(x, r)])),
        }
    }
    const COLOURS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="18" font-size="14">{} violation rate vs {}</text>"#,
        PROPERTIES[p],
        esc(&axes[0].path)
    );
    for k in 0..=4 {
        let r = k as f64 / 4.0;
        let y = y_of(r);
        let _ = writeln!(s, r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/>"##, left + pw);
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">{r:.2}</text>"#, left - 6.0, y + 4.0);
    }
    for (i, v) in xs.iter().enumerate() {
        let x = x_of(i);
        let _ = writeln!(s, r##"<line x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#999"/>"##, top + ph, top + ph + 4.0);
        let _ = writeln!(s, r#"<text x="{x}" y="{}" text-anchor="middle">{}</text>"#, top + ph + 18.0, esc(&label(v)));
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        h - 8.0,
        esc(&axes[0].path)
    );
    let _ = writeln!(s, r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##);
    for (n, (key, pts)) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let decided: Vec<(usize, f64, (f64, f64))> =
            pts.iter().filter_map(|(x, r)| Some((*x, r.properties[p].rate?, r.properties[p].ci95?))).collect();
        if !decided.is_empty() {
            let upper = decided.iter().map(|(x, _, ci)| format!("{:.1},{:.1}", x_of(*x), y_of(ci.1)));
            let lower = decided.iter().rev().map(|(x, _, ci)| format!("{:.1},{:.1}", x_of(*x), y_of(ci.0)));
            let band: Vec<String> = upper.chain(lower).collect();
            let _ = writeln!(
                s,
                r#"<polygon points="{}" fill="{colour}" fill-opacity="0.15" stroke="none"/>"#,
                band.join(" ")
            );
            let line: Vec<String> =
                decided.iter().map(|(x, r, _)| format!("{:.1},{:.1}", x_of(*x), y_of(*r))).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                line.join(" ")
            );
            for (x, r, (lo, hi)) in &decided {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {r:.3} [{lo:.3}, {hi:.3}]</title></circle>"#,
                    x_of(*x),
                    y_of(*r),
                    esc(key)
                );
            }
        }
        let ly = top + 10.0 + n as f64 * 18.0;
        let _ =
            writeln!(s, r#"<rect x="{}" y="{}" width="14" height="4" fill="{colour}"/>"#, left + pw + 12.0, ly - 4.0);
        let _ = writeln!(s, r#"<text x="{}" y="{ly}">{}</text>"#, left + pw + 32.0, esc(key));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_lists_and_ranges() {
        let a = parse_set("protocols.*.ttl_ms=1000..4000:step=1000").unwrap();
        assert_eq!(a.values, (1..=4).map(|i| toml::Value::Integer(i * 1000)).collect::<Vec<_>>());
        let a = parse_set("network.loss=0.0..0.3:step=0.1").unwrap();
        assert_eq!(a.values.len(), 4);
        assert_eq!(a.values[3], toml::Value::Float(0.3));
        let a = parse_set("protocols.lease.validity=local_duration,\"none\",true").unwrap();
        assert_eq!(a.values[0], toml::Value::String("local_duration".into()));
        assert_eq!(a.values[1], toml::Value::String("none".into()));
        assert_eq!(a.values[2], toml::Value::Boolean(true));
        assert!(parse_set("x=1..5").unwrap_err().contains("needs a step"));
        assert!(parse_set("noequals").is_err());
        assert!(parse_set("x=5..1:step=1").is_err());
    }

    #[test]
    fn paths_reach_entries_by_name_index_and_wildcard() {
        let mut doc: toml::Table =
            "[[protocols]]\nname = \"a\"\n[[protocols]]\nname = \"b\"\n[[faults]]\nkind = \"pause\"\n".parse().unwrap();
        set_path(&mut doc, "protocols.b.ttl_ms", &toml::Value::Integer(5)).unwrap();
        set_path(&mut doc, "faults[0].duration_ms", &toml::Value::Integer(7)).unwrap();
        set_path(&mut doc, "protocols.*.fencing", &toml::Value::Boolean(true)).unwrap();
        let ps = doc["protocols"].as_array().unwrap();
        assert!(ps[0].get("ttl_ms").is_none());
        assert_eq!(ps[1]["ttl_ms"].as_integer(), Some(5));
        assert!(ps.iter().all(|p| p["fencing"].as_bool() == Some(true)));
        assert_eq!(doc["faults"][0]["duration_ms"].as_integer(), Some(7));
        assert!(set_path(&mut doc, "protocols.c.ttl_ms", &toml::Value::Integer(1)).unwrap_err().contains("named `c`"));
        assert!(set_path(&mut doc, "faults[3].x", &toml::Value::Integer(1)).unwrap_err().contains("1 `faults`"));
        assert!(set_path(&mut doc, "nothere.x", &toml::Value::Integer(1)).unwrap_err().contains("no `nothere`"));
    }

    #[test]
    fn wilson_intervals_match_the_textbook() {
        // 0 of 10: [0, 0.278]; 5 of 10: [0.237, 0.763] (Wilson 1927; Newcombe 1998, table I).
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson(5, 10);
        assert!((lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }
}
