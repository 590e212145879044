//! `locklab live`: run scenario files in real time over real sockets — with locklab's own
//! servers, or real `redis-server` / etcd processes — and print what was observed beside what the
//! simulator predicted for the same scenario and variant. `--report` writes the conformance table
//! (`reports/live.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use locklab_checkers::Outcome;
use locklab_live::host::LiveOutcome;
use locklab_live::run::{deviations, judge, maps_kind, play_live, support, Binaries, Target};
use locklab_sim::Compiled;

use crate::exit;
use crate::output::out;
use crate::runner;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    /// locklab's own server nodes, live on tokio over UDP.
    Locklab,
    /// Real redis-server processes (lease and Redlock variants).
    Redis,
    /// A real etcd cluster (Raft variants).
    Etcd,
    /// Every target each variant can run on (with --report).
    All,
}

#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// Scenario files (TOML). Default: every file in --dir.
    pub scenarios: Vec<PathBuf>,
    /// Where the scenario files are (when none is named).
    #[arg(long, default_value = "scenarios")]
    pub dir: PathBuf,
    /// What plays the server role.
    #[arg(long, value_enum, default_value = "locklab")]
    pub target: TargetArg,
    /// Only this protocol variant (a `name` from the file's [[protocols]]).
    #[arg(long)]
    pub protocol: Option<String>,
    /// Live runs per (scenario, variant): seeds 1..=N (the seed draws latencies, clock offsets
    /// and the workload, as in the simulator).
    #[arg(long, default_value_t = 3)]
    pub runs: u64,
    /// Real seconds per scenario second (0.1: ten times faster than written). Real servers keep
    /// their own granularity (etcd's lease TTLs are whole seconds).
    #[arg(long, default_value_t = 0.25)]
    pub time_scale: f64,
    /// Seeds of the simulated prediction: 1..=N.
    #[arg(long, default_value_t = 50)]
    pub sim_seeds: u64,
    /// Judge by the scenarios' declared expectations (exit 1 when a live run misses one).
    #[arg(long)]
    pub expect: bool,
    /// Print one JSON object per (scenario, variant, target) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the conformance table (Markdown) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Live runs at once (each is mostly waiting on timers).
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// The redis-server binary (default: found on the PATH).
    #[arg(long)]
    pub redis_server: Option<PathBuf>,
    /// The etcd binary (default: found on the PATH).
    #[arg(long)]
    pub etcd: Option<PathBuf>,
}

/// Disagreements between the simulator's prediction and a real server that are understood:
/// (scenario name, variant, target, what the disagreement is a finding about).
pub const EXPLAINED: &[(&str, &str, &str, &str)] = &[
    (
        "redlock-clock-jump",
        "redlock-monotonic",
        "redis",
        "about the model: `redlock-monotonic` models a server that expires keys on its monotonic clock; Redis 7.0 \
         expires them on the wall clock (`t_string.c`: `PX` becomes `mstime()` + ms; `server.c`: `mstime()` is \
         `gettimeofday`; `db.c` `keyIsExpired` compares the two), so a step of its wall clock expires the key early \
         whatever the client library assumes. Real Redis matches `redlock`.",
    ),
    (
        "server-restart",
        "lease-fenced",
        "redis",
        "about the model: the simulated `lease-fenced` server syncs its token counter on every grant \
         (`token_counter = \"durable\"`); on real Redis the counter is a key like the lock (`INCR` in the acquire \
         script), as durable as Redis's persistence and no more — without `appendonly` a restart resets it and tokens \
         are reused. `lease-fenced-volatile-counter` is the faithful model of that deployment; run Redis with \
         `appendfsync always` to keep the counter.",
    ),
    (
        "redlock-restart",
        "redlock-fsync",
        "redis",
        "about the model: the variant expires keys on the server's monotonic clock (`expiry_clock = \"monotonic\"`); \
         real Redis expires them on its wall clock, and this scenario also steps s3's wall clock by 10 s after the \
         restart, so the key that `appendfsync always` kept expires early and c2 forms a second majority — the finding \
         of `redlock-clock-jump` again: on real Redis, fsync alone does not save Redlock from a clock step.",
    ),
    (
        "redlock-restart",
        "redlock-delayed-restart-wall-clock",
        "redis",
        "about the live setup: Redis has no delayed restart; locklab carries it out, waiting `restart_delay_ms` of \
         real (monotonic) time before starting redis-server again, so the wall-clock step cannot cut the wait short \
         as it does in the simulated variant, which times the delay on the server's wall clock. Live, the delayed \
         restart is safe (as `redlock-delayed-restart` predicts).",
    ),
    (
        "raft-expired-waiter",
        "raft-etcd-3.4.3",
        "etcd",
        "about the real system's version: the variant models the bug Jepsen found in etcd 3.4.3's lock recipe \
         (etcd issues 11456/11457: a waiter was told it held the lock when no lower revision was left, without \
         checking that its own key still existed; fixed in 3.4.4). The adapter runs the fixed recipe against etcd \
         3.4.23, so the live run matches the fixed variant `raft` (everything holds).",
    ),
    (
        "raft-expired-waiter",
        "raft-etcd-3.4.3-fenced",
        "etcd",
        "about the real system's version: as for `raft-etcd-3.4.3` — etcd 3.4.23 with the fixed recipe does not \
         tell an expired waiter it holds the lock, so even the belief is right.",
    ),
    (
        "redlock-fast-server-clocks",
        "redlock-checked",
        "locklab",
        "about the live setup's timing, not the protocol: the scenario's safety rests on c1 releasing some 10–20 ms \
         of scenario time before the fast servers expire its keys; tokio's timers fire on whole real milliseconds, \
         which at `--time-scale 0.5` is up to 2 ms of scenario time late per timer, and c1's 10 ms think cycles \
         accumulate that slop. At `--time-scale 1` every run agrees (`locklab live \
         scenarios/redlock-fast-server-clocks.toml --protocol redlock-checked --runs 3 --time-scale 1`), which is \
         how `.ci/run` checks the locklab rows.",
    ),
    (
        "skinny-dueling-proposers",
        "skinny",
        "locklab",
        "about the scenario's timing, not the live host: the duel's outcome depends on which proposer reaches s3 \
         first, so the scenario fixes every delay (1 ms, no drift); a live run's timing varies by fractions of a \
         millisecond, and then c1's write can land after c2's (a stale write besides the two holders) — the \
         simulator shows the same with 1–2 ms of jitter (stale writes in 7 of 50 seeds, see the scenario file).",
    ),
];

/// What the report says about a row that disagreed: it conformed when played alone, or the
/// explanation of a known difference, or nothing (then it is a finding to investigate).
fn finding(row: &Row) -> Option<String> {
    if let Some(alone) = row.alone.as_ref().filter(|a| row.agrees_with(a)) {
        let obs: Vec<String> = alone.iter().map(|(p, t)| format!("{p} {}", t.class())).collect();
        return Some(format!(
            "about the live setup's timing, not the protocol: this row disagreed while other live runs were in \
             flight on the same cores, which delays timers and messages by milliseconds; played again alone, every \
             run agrees ({}).",
            obs.join(", ")
        ));
    }
    explanation(row).map(str::to_string)
}

fn explanation(row: &Row) -> Option<&'static str> {
    EXPLAINED
        .iter()
        .find(|(s, v, t, _)| *s == row.scenario && *v == row.variant && *t == row.target.name())
        .map(|(_, _, _, e)| *e)
}

/// Outcome counts of one property over runs.
#[derive(Default, Clone, Debug)]
struct Tally(BTreeMap<&'static str, u64>);

impl Tally {
    fn add(&mut self, o: Outcome) {
        *self.0.entry(o.as_str()).or_default() += 1;
    }
    /// "violated" when every run agreed, else "violated 3/5, holds 2/5".
    fn class(&self) -> String {
        let total: u64 = self.0.values().sum();
        if self.0.len() == 1 {
            return self.0.keys().next().unwrap().to_string();
        }
        self.0.iter().map(|(k, n)| format!("{k} {n}/{total}")).collect::<Vec<_>>().join(", ")
    }
    fn outcomes(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
}

/// One (scenario, variant, target) row.
struct Row {
    scenario: String,
    variant: String,
    target: Target,
    server: String,
    predicted: Vec<(String, Tally)>,
    observed: Vec<(String, Tally)>,
    runs: u64,
    expectation_misses: Vec<String>,
    errors: Vec<String>,
    skipped: Option<String>,
    /// Where the live run necessarily differs from the scenario as written.
    notes: Vec<String>,
    /// The slowest acquire (scenario ms): over the simulated seeds, and over the live runs.
    predicted_acquire_ms_max: f64,
    observed_acquire_ms_max: f64,
    /// A row that disagreed while other live runs were in flight is played again alone: what
    /// those runs observed (see [`run_jobs`]).
    alone: Option<Vec<(String, Tally)>>,
}

impl Row {
    /// The row agrees, or disagreed only while other live runs were in flight: played again
    /// alone, every outcome was predicted.
    fn conforms(&self) -> bool {
        self.agrees() || self.alone.as_ref().is_some_and(|a| self.agrees_with(a))
    }
    /// Every outcome a live run showed was also predicted by the simulator for some seed.
    fn agrees(&self) -> bool {
        self.agrees_with(&self.observed)
    }
    fn agrees_with(&self, observed: &[(String, Tally)]) -> bool {
        observed.iter().all(|(p, obs)| {
            let pred = self.predicted.iter().find(|(q, _)| q == p).map(|(_, t)| t.outcomes()).unwrap_or_default();
            self.unobservable(obs) || obs.outcomes().iter().all(|o| pred.contains(o) || *o == "unknown")
        })
    }
    /// A property a real server's history cannot show (etcd's Raft internals: `raft_safety`
    /// needs the peers' own records) reads `n/a` live: not a disagreement.
    fn unobservable(&self, obs: &Tally) -> bool {
        self.target != Target::Locklab && obs.outcomes() == ["n/a"]
    }
    fn unknown(&self) -> bool {
        !self.errors.is_empty() || self.observed.iter().any(|(_, t)| t.0.contains_key("unknown"))
    }
}

fn targets_for(arg: TargetArg) -> Vec<Target> {
    match arg {
        TargetArg::Locklab => vec![Target::Locklab],
        TargetArg::Redis => vec![Target::Redis],
        TargetArg::Etcd => vec![Target::Etcd],
        TargetArg::All => vec![Target::Locklab, Target::Redis, Target::Etcd],
    }
}

fn predicted(compiled: &Compiled, variant: usize, seeds: u64) -> (Vec<(String, Tally)>, f64) {
    let mut tallies: Vec<(String, Tally)> = Vec::new();
    let mut acquire_ms_max: f64 = 0.0;
    for seed in 1..=seeds {
        let r = runner::run_one(compiled, variant, seed, false);
        acquire_ms_max = acquire_ms_max.max(r.report.metrics.acquire_ms_max);
        for p in &r.report.properties {
            match tallies.iter_mut().find(|(q, _)| *q == p.property) {
                Some((_, t)) => t.add(p.outcome),
                None => {
                    let mut t = Tally::default();
                    t.add(p.outcome);
                    tallies.push((p.property.to_string(), t));
                }
            }
        }
    }
    (tallies, acquire_ms_max)
}

pub fn live(args: &LiveArgs) -> i32 {
    // Ctrl-C from here on stops every server this process started and removes its directories.
    locklab_live::procs::install_interrupt_cleanup();
    if !(args.time_scale > 0.0 && args.time_scale <= 10.0) {
        eprintln!("error: --time-scale must be in (0, 10]: {}", args.time_scale);
        return exit::BAD_INPUT;
    }
    if args.runs == 0 {
        eprintln!("error: --runs must be at least 1");
        return exit::BAD_INPUT;
    }
    let files: Vec<PathBuf> = if args.scenarios.is_empty() {
        match std::fs::read_dir(&args.dir) {
            Ok(entries) => {
                let mut v: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                eprintln!("error: {}: {e}", args.dir.display());
                return exit::BAD_INPUT;
            }
        }
    } else {
        args.scenarios.clone()
    };
    let mut compiled_all = Vec::new();
    for f in &files {
        match locklab_sim::load_compiled(f) {
            Ok(c) => compiled_all.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    let targets = targets_for(args.target);
    let bins = Binaries { redis_server: args.redis_server.clone(), etcd: args.etcd.clone() };
    // Every (scenario, variant, target) job; unsupported ones become rows that say why.
    let mut jobs: Vec<(usize, usize, Target)> = Vec::new();
    for (ci, c) in compiled_all.iter().enumerate() {
        let variants: Vec<usize> = match &args.protocol {
            Some(name) => match c.variant(name) {
                Some(v) => vec![v],
                None if args.scenarios.is_empty() => vec![],
                None => {
                    let valid: Vec<&str> = c.variants.iter().map(|v| v.name.as_str()).collect();
                    eprintln!(
                        "error: {}: no protocol variant `{name}`; this file declares: {}",
                        c.file,
                        valid.join(", ")
                    );
                    return exit::BAD_INPUT;
                }
            },
            None => (0..c.variants.len()).collect(),
        };
        for v in variants {
            for &t in &targets {
                // With `--target all`, each variant goes to the targets that have a mapping for
                // its kind (the report's header names them); a named target lists every variant.
                if args.target == TargetArg::All && !maps_kind(t, &c.variants[v].kind) {
                    continue;
                }
                jobs.push((ci, v, t));
            }
        }
    }
    if args.protocol.is_some() && args.target != TargetArg::All && args.report.is_none() {
        // Asking for a variant on a target it cannot run on is bad input; without --protocol, the
        // variants that cannot run are listed with the reason (never a silent skip).
        for &(ci, v, t) in &jobs {
            if let Err(why) = support(&compiled_all[ci], v, t) {
                eprintln!(
                    "error: {}: variant `{}` cannot run live on {}: {why}",
                    compiled_all[ci].file,
                    compiled_all[ci].variants[v].name,
                    t.name()
                );
                return exit::BAD_INPUT;
            }
        }
    }
    let rows = run_jobs(&compiled_all, &jobs, args, &bins);
    let mut code = exit::OK;
    if args.json {
        let v: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
        out(&format!("{}\n", serde_json::to_string_pretty(&v).expect("JSON")));
    }
    for row in &rows {
        if !args.json {
            print_row(row, args);
        }
        let violated = row.observed.iter().any(|(_, t)| t.0.contains_key("violated") || t.0.contains_key("vacuous"));
        let row_code = if row.skipped.is_some() {
            exit::OK
        } else if row.unknown() {
            exit::UNKNOWN
        } else if args.expect {
            if row.expectation_misses.is_empty() {
                exit::OK
            } else {
                exit::VIOLATED
            }
        } else if violated {
            exit::VIOLATED
        } else {
            exit::OK
        };
        code = worst(code, row_code);
    }
    if let Some(path) = &args.report {
        let text = report(&rows, args);
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: {}: {e}", path.display());
            return exit::OUTPUT;
        }
        eprintln!("wrote {}", path.display());
        // A report's exit code is about conformance: a disagreement is a finding (exit 1).
        code = if rows.iter().any(|r| r.skipped.is_none() && r.unknown()) {
            exit::UNKNOWN
        } else if rows.iter().all(|r| r.skipped.is_some() || r.conforms()) {
            exit::OK
        } else {
            exit::VIOLATED
        };
    }
    code
}

fn worst(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit::OK => 0,
        exit::VIOLATED => 1,
        exit::UNKNOWN => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// A variant's simulated prediction: the outcome tallies over its seeds and the slowest acquire.
type Prediction = (Vec<(String, Tally)>, f64);

/// What the live runs of one job gave: per seed, the played outcome and the server role's name,
/// up to the first run that could not be played (its error ends the list).
type Played = Vec<Result<(LiveOutcome, String), String>>;

/// Runs every job in phases: every prediction (CPU-bound, on every core), then the live runs
/// (timing-bound, `--parallel` at once, nothing else computing), then the judging of what they
/// recorded (CPU-bound again). The phases are kept apart because a live run plays its scenario in
/// real time: simulations or history checks competing for the same cores delay its timers and
/// messages by milliseconds, and scenarios with millisecond margins (`raft-figure-8` crashes two
/// voters 2 ms after a grant) then take a different path than the one the scenario describes.
/// Other live runs in flight still do that now and then on a 2-core machine, so last, a row that
/// disagreed is played again alone, one run at a time; the report shows both observations.
fn run_jobs(compiled: &[Compiled], jobs: &[(usize, usize, Target)], args: &LiveArgs, bins: &Binaries) -> Vec<Row> {
    use rayon::prelude::*;
    // Why each job cannot run live (None: it can), worked out once.
    let unsupported: Vec<Option<String>> = jobs.iter().map(|&(ci, v, t)| support(&compiled[ci], v, t).err()).collect();
    let mut wanted: Vec<(usize, usize)> =
        jobs.iter().zip(&unsupported).filter(|(_, why)| why.is_none()).map(|(&(ci, v, _), _)| (ci, v)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let predictions: BTreeMap<(usize, usize), Prediction> =
        wanted.par_iter().map(|&(ci, v)| ((ci, v), predicted(&compiled[ci], v, args.sim_seeds))).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let played: std::sync::Mutex<BTreeMap<usize, Played>> = std::sync::Mutex::new(BTreeMap::new());
    let workers = args.parallel.clamp(1, 64);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(ci, v, target)) = jobs.get(i) else { return };
                if unsupported[i].is_some() {
                    continue;
                }
                let mut runs = Played::new();
                for seed in 1..=args.runs {
                    let r = play_live(&compiled[ci], v, seed, target, args.time_scale, bins).map_err(|e| e.to_string());
                    let failed = r.is_err();
                    runs.push(r);
                    if failed {
                        break;
                    }
                }
                played.lock().unwrap().insert(i, runs);
            });
        }
    });
    let mut played = played.into_inner().unwrap();
    let played: Vec<Played> = (0..jobs.len()).map(|i| played.remove(&i).unwrap_or_default()).collect();
    let mut rows: Vec<Row> = jobs
        .par_iter()
        .zip(played)
        .zip(unsupported)
        .map(|((&(ci, v, target), runs), why)| match why {
            Some(why) => skipped_row(&compiled[ci], v, target, why),
            None => row(&compiled[ci], v, target, predictions.get(&(ci, v)), runs),
        })
        .collect();
    if workers > 1 {
        for (row, &(ci, v, target)) in rows.iter_mut().zip(jobs) {
            if row.skipped.is_some() || row.unknown() || row.agrees() {
                continue;
            }
            let runs: Played = (1..=args.runs)
                .map(|seed| play_live(&compiled[ci], v, seed, target, args.time_scale, bins).map_err(|e| e.to_string()))
                .collect();
            let again = self::row(&compiled[ci], v, target, None, runs);
            if again.errors.is_empty() {
                row.alone = Some(again.observed);
            }
        }
    }
    rows
}

/// The row of a job that cannot run live on its target, saying why.
fn skipped_row(compiled: &Compiled, v: usize, target: Target, why: String) -> Row {
    Row { skipped: Some(why), ..empty_row(compiled, v, target) }
}

fn empty_row(compiled: &Compiled, v: usize, target: Target) -> Row {
    let variant = &compiled.variants[v];
    Row {
        scenario: compiled.scenario.scenario.name.clone(),
        variant: variant.name.clone(),
        target,
        server: String::new(),
        predicted: Vec::new(),
        observed: Vec::new(),
        runs: 0,
        expectation_misses: Vec::new(),
        errors: Vec::new(),
        skipped: None,
        notes: deviations(compiled, target),
        predicted_acquire_ms_max: 0.0,
        observed_acquire_ms_max: 0.0,
        alone: None,
    }
}

/// A job's row (for a job that can run live): its prediction beside the judged live runs.
fn row(compiled: &Compiled, v: usize, target: Target, prediction: Option<&Prediction>, runs: Played) -> Row {
    let mut row = empty_row(compiled, v, target);
    if let Some(p) = prediction {
        (row.predicted, row.predicted_acquire_ms_max) = p.clone();
    }
    for (seed, run) in (1..).zip(runs) {
        match run {
            Ok((outcome, server)) => {
                let report = judge(compiled, v, &outcome);
                row.server = server;
                row.runs += 1;
                row.observed_acquire_ms_max = row.observed_acquire_ms_max.max(report.metrics.acquire_ms_max);
                row.errors.extend(outcome.errors.iter().map(|e| format!("seed {seed}: {e}")));
                for p in &report.properties {
                    match row.observed.iter_mut().find(|(q, _)| *q == p.property) {
                        Some((_, t)) => t.add(p.outcome),
                        None => {
                            let mut t = Tally::default();
                            t.add(p.outcome);
                            row.observed.push((p.property.to_string(), t));
                        }
                    }
                }
                let e = runner::expectation(compiled, v, &report);
                row.expectation_misses.extend(e.mismatches.iter().map(|m| format!("seed {seed}: {m}")));
            }
            Err(e) => row.errors.push(format!("seed {seed}: {e}")),
        }
    }
    row
}

fn print_row(row: &Row, args: &LiveArgs) {
    let mut s = String::new();
    let _ = writeln!(s, "{} · {} · target {}", row.scenario, row.variant, row.target.name());
    if let Some(why) = &row.skipped {
        let _ = writeln!(s, "  not run live: {why}");
        out(&s);
        return;
    }
    let server = if row.target == Target::Locklab { "locklab".to_string() } else { row.server.clone() };
    for (p, pred) in &row.predicted {
        let obs = match row.observed.iter().find(|(q, _)| q == p) {
            Some((_, t)) if row.unobservable(t) && pred.outcomes() != ["n/a"] => {
                "n/a (not observable: the real server records no such events)".to_string()
            }
            Some((_, t)) => t.class(),
            None => "-".into(),
        };
        let _ = writeln!(
            s,
            "  {p:<17} simulated {n}/{n} seeds: {}  ·  live on {server}, {r}/{r} runs: {obs}",
            pred.class(),
            n = args.sim_seeds,
            r = row.runs,
        );
    }
    let _ = writeln!(
        s,
        "  {:<17} simulated max {:.0} ms  ·  live max {:.0} ms",
        "slowest acquire", row.predicted_acquire_ms_max, row.observed_acquire_ms_max
    );
    for n in &row.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    for e in &row.errors {
        let _ = writeln!(s, "  live machinery failed: {e}");
    }
    if args.expect {
        for m in &row.expectation_misses {
            let _ = writeln!(s, "  expectation missed: {m}");
        }
    }
    let _ = writeln!(
        s,
        "  {}",
        if row.unknown() {
            "unknown (the live run could not be judged)"
        } else if row.agrees() {
            "agrees: every live outcome was predicted by the simulator"
        } else if row.conforms() {
            "agrees when played alone: every outcome of the runs played again alone was predicted by the simulator"
        } else {
            "DISAGREES: a live outcome the simulator never showed (a finding about the model or the real system)"
        }
    );
    if !row.unknown() && !row.agrees() {
        let _ = writeln!(s, "  {}", finding(row).unwrap_or("not yet explained: investigate".into()));
    }
    out(&s);
}

/// The conformance table.
fn report(rows: &[Row], args: &LiveArgs) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Live conformance: predicted (simulator) vs observed (live)\n");
    let _ = writeln!(
        s,
        "Generated by `locklab live --target {} --runs {} --time-scale {} --sim-seeds {} --report …`. Each row runs one \
         scenario's protocol variant live — real UDP sockets on loopback and real timers, played at {}× real time — \
         with locklab's own servers (`locklab`) or with real server processes that locklab starts on loopback, \
         and judges the history with the simulator's checkers. *Predicted*: the outcome classes of each property \
         over simulated seeds 1–{}. *Observed*: over live runs with seeds 1–{}. A row *agrees* when every outcome a \
         live run showed is one the simulator also showed; a row that disagreed while other live runs were in flight is \
         played again alone, one run at a time, and reads *yes, played alone* when those runs agree. Cells list the properties that do not simply hold \
         (`n/a` omitted). Targets: `locklab` runs every variant; `redis` the lease and Redlock variants (one \
         redis-server per server node); `etcd` the Raft variants (a 3-member etcd cluster, in real time). A row \
         *not run live* says why.\n",
        match args.target {
            TargetArg::Locklab => "locklab",
            TargetArg::Redis => "redis",
            TargetArg::Etcd => "etcd",
            TargetArg::All => "all",
        },
        args.runs,
        args.time_scale,
        args.sim_seeds,
        args.time_scale,
        args.sim_seeds,
        args.runs
    );
    let _ = writeln!(s, "| scenario | variant | target | server | predicted | observed | agrees |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    let cell = |t: &[(String, Tally)]| {
        let parts: Vec<String> = t
            .iter()
            .filter(|(_, t)| t.outcomes().iter().any(|o| *o != "holds" && *o != "n/a"))
            .map(|(p, t)| format!("{p}: {}", classes(t)))
            .collect();
        if parts.is_empty() {
            "all hold".to_string()
        } else {
            parts.join("; ")
        }
    };
    for r in rows {
        match &r.skipped {
            Some(why) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | — | not run live: {why} | | |",
                    r.scenario,
                    r.variant,
                    r.target.name()
                );
            }
            None => {
                let agrees = if r.unknown() {
                    format!("unknown: {}", r.errors.join("; "))
                } else if r.agrees() {
                    "yes".into()
                } else if r.conforms() {
                    "yes, played alone".into()
                } else {
                    "**no**".into()
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    r.scenario,
                    r.variant,
                    r.target.name(),
                    r.server,
                    cell(&r.predicted),
                    cell(&r.observed),
                    agrees
                );
            }
        }
    }
    let disagreements: Vec<&Row> = rows.iter().filter(|r| r.skipped.is_none() && !r.unknown() && !r.agrees()).collect();
    let _ = writeln!(s, "\n## Findings: where a live outcome differs from the prediction\n");
    if disagreements.is_empty() {
        let _ = writeln!(s, "None: every live outcome was one the simulator predicted.");
    }
    for r in disagreements {
        let _ = writeln!(
            s,
            "- **{} · {} · {}**: {}",
            r.scenario,
            r.variant,
            r.target.name(),
            finding(r).unwrap_or("not yet explained: investigate.".into())
        );
    }
    s
}

/// The outcome classes without counts ("violated" or "holds, violated"): stable across runs
/// whose timing differs, so the committed report can be checked.
fn classes(t: &Tally) -> String {
    t.outcomes().join(" or ")
}

fn tally_json(t: &[(String, Tally)]) -> serde_json::Value {
    serde_json::Value::Object(
        t.iter()
            .map(|(p, t)| {
                (p.clone(), serde_json::json!(t.0.iter().map(|(k, n)| (k.to_string(), *n)).collect::<BTreeMap<_, _>>()))
            })
            .collect(),
    )
}

fn row_json(r: &Row) -> serde_json::Value {
    serde_json::json!({
        "scenario": r.scenario,
        "variant": r.variant,
        "target": r.target.name(),
        "server": r.server,
        "skipped": r.skipped,
        "runs": r.runs,
        "predicted": tally_json(&r.predicted),
        "observed": tally_json(&r.observed),
        "predicted_acquire_ms_max": r.predicted_acquire_ms_max,
        "observed_acquire_ms_max": r.observed_acquire_ms_max,
        "expectation_misses": r.expectation_misses,
        "errors": r.errors,
        "notes": r.notes,
        "observed_alone": r.alone.as_deref().map(tally_json),
        "agrees": r.skipped.is_none() && !r.unknown() && r.conforms(),
        "agrees_with_others_in_flight": r.skipped.is_none() && !r.unknown() && r.agrees(),
    })
}
