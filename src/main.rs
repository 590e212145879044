//! The `locklab` command. Parsing is clap's; the work is in the library (`locklab::runner`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use locklab::output::out;
use locklab::{exit, output, render, runner};

/// mimalloc instead of the system allocator: whole runs allocate many small, short-lived values
/// (histories, effect buffers, Raft logs). Allocation order does not reach any output, so traces
/// and reports are the same byte for byte.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic simulation and model checking of distributed lock protocols.
///
/// Exit codes: 0 every property holds; 1 a property is violated or a run is vacuous (with
/// --expect: an expectation is not met or missing); 2 bad input or usage; 3 internal error; 4 the
/// verdict is unknown (a budget ran out); 5 the output could not be written. A reader that goes
/// away (`| head`) does not change the exit code.
#[derive(Parser)]
#[command(name = "locklab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files: every protocol variant they declare (or one), with one seed.
    Run(RunArgs),
    /// Run every protocol against every scenario over many seeds, in parallel, and write the
    /// comparison report (Markdown and JSON). Exit 0 when every variant declares an expectation
    /// for every property that applies to it and each is met in every seed; 1 when one is missed
    /// or a variant is `unchecked` (an applicable property without an expectation).
    Compare(CompareArgs),
    /// Check a recorded history (locklab JSON, Jepsen EDN or Jepsen text log) for linearizability
    /// against a sequential spec. Exit 0 linearizable, 1 not, 2 bad input, 3 internal error,
    /// 4 unknown (budget ran out).
    Lin(locklab_lincheck::cli::LinArgs),
    /// Model-check a protocol exhaustively with stateright (small configurations, bounded
    /// faults). Exit 0 when every property holds and every "sometimes" is reached, 1 on a
    /// counterexample, 2 bad input, 3 internal error.
    Check(locklab_models::cli::CheckArgs),
    /// Serve stateright's web explorer for a protocol's model on localhost.
    Explore(locklab_models::cli::ExploreArgs),
    /// Run scenarios live, in real time over real sockets on loopback — with locklab's own servers
    /// or real redis-server / etcd processes that locklab starts and stops itself — and print the
    /// observed verdicts beside the simulator's prediction. Exit codes as `run` (4: the live run
    /// could not be judged); with --report, 1 when a live outcome disagrees with the prediction.
    Live(locklab::live::LiveArgs),
    /// Combine the shards of a sharded `compare` (`--shard I/N`, one per CI job) into exactly the
    /// report an unsharded run writes. Exit codes as `compare`.
    Merge(MergeArgs),
    /// Run one scenario over a grid of parameter values × seeds (`--set PATH=VALUES`, repeatable)
    /// and write each property's violation rate with its 95% Wilson interval, latency, usable
    /// fraction and messages per critical section, as CSV, JSON, Markdown and SVG plots. Exit 0;
    /// 2 bad input; 4 when a run stopped at its event budget (its properties are unknown).
    Sweep(locklab::sweep::SweepArgs),
    /// Reduce a violating run (a seed of a variant, typically under `[[nemesis]]` faults) to a
    /// minimal concrete scenario file that still violates the same property: fewer faults,
    /// shorter ones, fewer clients, an earlier end. Prints the size before and after. Exit 0 when
    /// written, 2 bad input (or nothing violated), 3 when the rewrite does not reproduce.
    Shrink(locklab::shrink::ShrinkArgs),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Seeds per (scenario, protocol variant) pair: 1..=N.
    #[arg(long, default_value_t = 50)]
    seeds: u64,
    /// Only these protocols: families (lease, fenced, redlock, raft, skinny, godistlock, zookeeper, chubby, consul, dynamodb, gcs, s3, azure) or variant names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    protocols: Vec<String>,
    /// Only these scenarios: names or file stems, comma-separated.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Where the scenario files are.
    #[arg(long, default_value = "scenarios")]
    dir: PathBuf,
    /// Where to write comparison.md, comparison.json, index.html and timelines/.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Print runs, events and messages per second to stderr.
    #[arg(long)]
    stats: bool,
    /// Stop each run after this many events: its verdicts are then `unknown`.
    #[arg(long, default_value_t = locklab_sim::world::DEFAULT_MAX_EVENTS)]
    max_events: u64,
    /// The first seed: the sweep runs seeds S..S+N−1 (N = --seeds).
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed_start: u64,
    /// Run only shard I of N (a stable partition of the (pair, seed) runs, for a CI matrix) and
    /// write `shard-I-of-N.json` to --out; `locklab merge` combines the shards into the report.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Also write a JUnit XML report to FILE (one test case per scenario × variant).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print nothing but errors (the exit code tells the verdict).
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// Shard files (`shard-I-of-N.json` of `compare`, `sweep-shard-I-of-N.json` of `sweep`) or
    /// directories holding them.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the report (as `compare --out`; for sweep shards the default is
    /// `reports/sweep`, as `sweep --out`).
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario files (TOML), see scenarios/README.md.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// The root seed (default: the scenario's own `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Run only this protocol variant (a `name` from the file's [[protocols]]).
    #[arg(long)]
    protocol: Option<String>,
    /// Print the trace: one line per event.
    #[arg(long)]
    trace: bool,
    /// Print results as JSON (one array of runs) instead of text.
    #[arg(long)]
    json: bool,
    /// Print engine statistics (events, messages, rates) to stderr.
    #[arg(long)]
    stats: bool,
    /// Stop a run after this many events: its verdicts are then `unknown` (exit 4).
    #[arg(long, default_value_t = locklab_sim::world::DEFAULT_MAX_EVENTS)]
    max_events: u64,
    /// Judge runs by the scenarios' declared expectations instead of by the properties: exit 0
    /// when every expectation is met, 1 when one is not, or when a variant leaves an applicable
    /// property without an expectation (`unchecked`).
    #[arg(long)]
    expect: bool,
    /// Write an SVG timeline of the run to FILE (one scenario and one protocol variant).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write the lock service's client-visible history (property 3's input) as locklab JSON to
    /// FILE (one scenario and one protocol variant); `locklab lin FILE` checks it again.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::BAD_INPUT as u8 } else { exit::OK as u8 });
        }
    };
    let code = match std::panic::catch_unwind(|| match cli.command {
        Command::Run(args) => run(args),
        Command::Compare(args) => compare(args),
        Command::Lin(args) => locklab_lincheck::cli::run(&args),
        Command::Check(args) => locklab_models::cli::check_to(&args, &mut output::Stdout),
        Command::Live(args) => locklab::live::live(&args),
        Command::Merge(args) => merge(args),
        Command::Sweep(args) => locklab::sweep::sweep(&args),
        Command::Shrink(args) => locklab::shrink::shrink(&args),
        Command::Explore(args) => locklab_models::cli::explore(&args),
    }) {
        Ok(code) => code,
        // A reader that went away (`locklab check ... | head`): printing failed, nothing else did.
        Err(panic) if panic_message(&*panic).is_some_and(|m| m.contains("Broken pipe")) => exit::OK,
        Err(_) => {
            eprintln!("locklab: internal error (a bug); please report it with the command above");
            exit::INTERNAL
        }
    };
    // A live run failing because Ctrl-C's handler is stopping its servers: let the handler
    // finish and exit with 130.
    locklab_live::procs::wait_if_interrupted();
    ExitCode::from(output::exit_code(code) as u8)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> Option<&str> {
    panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied())
}

fn run(args: RunArgs) -> i32 {
    let mut compiled_all = Vec::new();
    for path in &args.scenarios {
        match locklab_sim::load_compiled(path) {
            Ok(c) => compiled_all.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    if args.svg.is_some() || args.history.is_some() {
        let runs: usize = compiled_all.iter().map(|c| if args.protocol.is_some() { 1 } else { c.variants.len() }).sum();
        if runs != 1 {
            let flag = if args.svg.is_some() { "--svg draws" } else { "--history writes" };
            eprintln!("error: {flag} one run: give one scenario and choose a variant with --protocol");
            return exit::BAD_INPUT;
        }
    }
    let mut json_runs = Vec::new();
    let mut any_violated = false;
    let mut any_unmet = false;
    let mut any_unknown = false;
    let started = Instant::now();
    let (mut events, mut messages, mut runs, mut check_ns) = (0u64, 0u64, 0u64, 0u64);
    for compiled in &compiled_all {
        let variants: Vec<usize> = match &args.protocol {
            Some(name) => match compiled.variant(name) {
                Some(v) => vec![v],
                None => {
                    let valid: Vec<&str> = compiled.variants.iter().map(|v| v.name.as_str()).collect();
                    eprintln!(
                        "error: {}: no protocol variant `{name}`; this file declares: {}",
                        compiled.file,
                        valid.join(", ")
                    );
                    return exit::BAD_INPUT;
                }
            },
            None => (0..compiled.variants.len()).collect(),
        };
        let seed = args.seed.unwrap_or(compiled.scenario.scenario.seed);
        for v in variants {
            // A text trace is streamed as the run goes (bounded memory, first lines at once); the
            // JSON output needs it whole.
            let r = if args.trace && !args.json {
                let file = compiled.file.clone();
                let variant = &compiled.variants[v].name;
                out(&format!("# trace: locklab run {file} --seed {seed} --protocol {variant}\n"));
                runner::run_with(compiled, v, seed, runner::Trace::Stream(&mut |text: &str| out(text)), args.max_events)
            } else {
                let mode = if args.trace { runner::Trace::Collect } else { runner::Trace::Off };
                runner::run_with(compiled, v, seed, mode, args.max_events)
            };
            runs += 1;
            events += r.stats.events;
            messages += r.stats.messages_delivered;
            check_ns += r.check_ns;
            if r.stats.truncated {
                eprintln!(
                    "warning: {}: stopped at the event budget ({} events, --max-events): every verdict is unknown",
                    r.reproduce(),
                    r.stats.events
                );
            }
            any_unknown |= r.report.properties.iter().any(|p| p.outcome == locklab_checkers::Outcome::Unknown);
            any_violated |= r.report.violated() || r.report.vacuous;
            any_unmet |= !r.expectation.passed();
            if let Some(path) = &args.svg {
                // Create the directory as `sweep --out` does.
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                let written = dir
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(path, locklab::svg::timeline(&r)));
                if let Err(e) = written {
                    eprintln!("error: {}: cannot write: {e}", path.display());
                    return exit::BAD_INPUT;
                }
            }
            if let Some(path) = &args.history {
                let variant = &compiled.variants[v];
                let (ttl_ms, lazy, session) = (variant.ttl_ms(), variant.lazy_expiry(), variant.session_lease());
                let json = locklab_checkers::linearizable::history_json(&r.history, ttl_ms, lazy, session, &r.names);
                if let Err(e) = std::fs::write(path, json) {
                    eprintln!("error: {}: cannot write: {e}", path.display());
                    return exit::BAD_INPUT;
                }
            }
            if args.json {
                let mut j = render::json(&r);
                if let Some(t) = &r.trace {
                    j["trace"] = serde_json::Value::String(t.clone());
                }
                json_runs.push(j);
            } else {
                out(&format!("{}\n", render::human(&r)));
            }
        }
    }
    if args.json {
        out(&format!("{}\n", serde_json::to_string_pretty(&json_runs).expect("JSON")));
    }
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "stats: {runs} runs, {events} events, {messages} messages delivered in {:.3} s: {:.0} runs/s, {:.2}M messages/s; property checks {:.0}% of the time",
            secs,
            runs as f64 / secs,
            messages as f64 / secs / 1e6,
            check_ns as f64 / 1e9 / secs * 100.0
        );
    }
    if args.expect {
        if any_unmet {
            exit::VIOLATED
        } else {
            exit::OK
        }
    } else if any_violated {
        exit::VIOLATED
    } else if any_unknown {
        exit::UNKNOWN
    } else {
        exit::OK
    }
}

fn compare(args: CompareArgs) -> i32 {
    use locklab::compare;
    if args.seeds == 0 {
        eprintln!("error: --seeds must be at least 1");
        return exit::BAD_INPUT;
    }
    let files = match compare::scenario_files(&args.dir) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("error: {}: no scenario files (*.toml)", args.dir.display());
            return exit::BAD_INPUT;
        }
        Err(e) => {
            eprintln!("error: {}: cannot read the directory: {e}", args.dir.display());
            return exit::BAD_INPUT;
        }
    };
    let mut all = Vec::new();
    for path in &files {
        match locklab_sim::load_compiled(path) {
            Ok(c) => all.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    // Validate the filters against what exists, listing the valid names on a miss.
    let stem = |c: &locklab_sim::Compiled| {
        std::path::Path::new(&c.file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    };
    for name in &args.scenarios {
        if !all.iter().any(|c| &c.scenario.scenario.name == name || &stem(c) == name) {
            let mut valid: Vec<String> = all.iter().map(|c| c.scenario.scenario.name.clone()).collect();
            valid.sort();
            eprintln!("error: --scenarios: unknown scenario `{name}`; valid names: {}", valid.join(", "));
            return exit::BAD_INPUT;
        }
    }
    let families = compare::family_names(&all);
    for name in &args.protocols {
        let known = families.contains_key(name) || all.iter().any(|c| c.variant(name).is_some());
        if !known {
            let mut variants: Vec<String> =
                all.iter().flat_map(|c| c.variants.iter().map(|v| v.name.clone())).collect();
            variants.sort();
            variants.dedup();
            eprintln!(
                "error: --protocols: unknown protocol `{name}`; valid families: {}; valid variants: {}",
                families.keys().cloned().collect::<Vec<_>>().join(", "),
                variants.join(", ")
            );
            return exit::BAD_INPUT;
        }
    }
    let scenarios: Vec<locklab_sim::Compiled> = all
        .into_iter()
        .filter(|c| {
            args.scenarios.is_empty() || args.scenarios.iter().any(|n| &c.scenario.scenario.name == n || &stem(c) == n)
        })
        .collect();
    let variants: Vec<Vec<usize>> = scenarios
        .iter()
        .map(|c| {
            (0..c.variants.len())
                .filter(|&v| {
                    let variant = &c.variants[v];
                    args.protocols.is_empty()
                        || args.protocols.iter().any(|p| *p == variant.family().to_lowercase() || *p == variant.name)
                })
                .collect()
        })
        .collect();
    let pairs: u64 = variants.iter().map(|v| v.len() as u64).sum();
    if pairs == 0 {
        eprintln!("error: the filters leave nothing to run");
        return exit::BAD_INPUT;
    }
    let shard = match args.shard.as_deref().map(compare::Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let total = match pairs.checked_mul(args.seeds).filter(|&t| t <= compare::MAX_RUNS) {
        Some(total) => total,
        None => {
            eprintln!(
                "error: --seeds {}: {pairs} pairs × {} seeds is more than the {} runs one compare accepts; \
                 lower --seeds or narrow it with --scenarios/--protocols",
                args.seeds,
                args.seeds,
                compare::MAX_RUNS
            );
            return exit::BAD_INPUT;
        }
    };
    if args.seed_start == 0 || args.seed_start.checked_add(args.seeds - 1).is_none() {
        eprintln!(
            "error: --seed-start {}: seeds start at 1, and the last seed (S + N − 1) must fit in 64 bits",
            args.seed_start
        );
        return exit::BAD_INPUT;
    }
    let seeds = compare::Seeds { start: args.seed_start, count: args.seeds };
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if let Some(sh) = shard {
        bar.set_length(total / sh.of + u64::from(total % sh.of >= sh.index));
    }
    let started = Instant::now();
    let accs = compare::run_accs(&scenarios, &variants, seeds, shard, args.max_events, &|| bar.inc(1));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: {}: cannot create the directory: {e}", args.out.display());
        return exit::BAD_INPUT;
    }
    // The command that regenerates this report, filters included (not --out or --stats, which do
    // not change it).
    let mut command = format!("locklab compare --seeds {}", args.seeds);
    if args.seed_start != 1 {
        command.push_str(&format!(" --seed-start {}", args.seed_start));
    }
    if args.dir != std::path::Path::new("scenarios") {
        command.push_str(&format!(" --dir {}", args.dir.display()));
    }
    if !args.scenarios.is_empty() {
        command.push_str(&format!(" --scenarios {}", args.scenarios.join(",")));
    }
    if !args.protocols.is_empty() {
        command.push_str(&format!(" --protocols {}", args.protocols.join(",")));
    }
    if let Some(sh) = shard {
        return write_shard(&scenarios, &variants, accs, seeds, sh, args.max_events, &command, &args.out, args.quiet);
    }
    let result = compare::summarize(&scenarios, &variants, &accs, seeds);
    let code = finish_report(&scenarios, &result, &command, &args.out, args.junit.as_deref(), args.quiet);
    if args.stats {
        eprintln!(
            "stats: {} runs in {:.2} s on {} threads: {:.0} runs/s, {:.2}M events/s, {:.2}M messages/s",
            result.runs,
            secs,
            rayon::current_num_threads(),
            result.runs as f64 / secs,
            result.events as f64 / secs / 1e6,
            result.messages as f64 / secs / 1e6
        );
    }
    code
}

/// Write a shard's accumulators; exit 1 when one of its runs missed an expectation.
#[allow(clippy::too_many_arguments)]
fn write_shard(
    scenarios: &[locklab_sim::Compiled],
    variants: &[Vec<usize>],
    accs: Vec<locklab::compare::PairAcc>,
    seeds: locklab::compare::Seeds,
    shard: locklab::compare::Shard,
    max_events: u64,
    command: &str,
    out_dir: &std::path::Path,
    quiet: bool,
) -> i32 {
    use locklab::compare;
    let mut files = Vec::new();
    for c in scenarios {
        match std::fs::read_to_string(&c.file) {
            Ok(text) => files.push((c.file.clone(), compare::text_hash(&text))),
            Err(e) => {
                eprintln!("error: {}: {e}", c.file);
                return exit::BAD_INPUT;
            }
        }
    }
    let pairs: Vec<(String, String)> = compare::pairs_of(variants)
        .into_iter()
        .map(|(s, v)| (scenarios[s].file.clone(), scenarios[s].variants[v].name.clone()))
        .collect();
    let missed = accs.iter().any(|a| a.missed());
    let unchecked = compare::pairs_of(variants).iter().any(|&(s, v)| !scenarios[s].variants[v].undeclared().is_empty());
    let file = compare::ShardFile {
        version: compare::SHARD_VERSION,
        command: command.to_string(),
        seeds,
        shard,
        max_events,
        scenarios: files,
        pairs,
        accs,
    };
    let path = out_dir.join(format!("shard-{}-of-{}.json", shard.index, shard.of));
    let text = serde_json::to_string(&file).expect("serialisable") + "\n";
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("error: {}: cannot write: {e}", path.display());
        return exit::OUTPUT;
    }
    if !quiet {
        out(&format!(
            "shard {}/{}: wrote {}; combine every shard with `locklab merge DIR...`\n",
            shard.index,
            shard.of,
            path.display()
        ));
    }
    if missed || unchecked {
        exit::VIOLATED
    } else {
        exit::OK
    }
}

/// Write the report of a finished sweep (compare, or merged shards) and say what was missed.
fn finish_report(
    scenarios: &[locklab_sim::Compiled],
    result: &locklab::compare::Comparison,
    command: &str,
    out_dir: &std::path::Path,
    junit: Option<&std::path::Path>,
    quiet: bool,
) -> i32 {
    use locklab::compare;
    let seeds = result.pairs.first().map_or(0, |p| p.seeds);
    let md = compare::markdown(result, command);
    let json = compare::json(result, seeds, command);
    let mut files = vec![("comparison.md".to_string(), md), ("comparison.json".to_string(), json)];
    files.extend(compare::timelines(scenarios, result, command));
    if let Err(e) = compare::write_report(out_dir, &files) {
        eprintln!("error: {e}");
        return exit::BAD_INPUT;
    }
    if let Some(path) = junit {
        if let Err(e) = std::fs::write(path, compare::junit(result, command)) {
            eprintln!("error: {}: cannot write: {e}", path.display());
            return exit::OUTPUT;
        }
    }
    let missed: Vec<&compare::PairSummary> = result.pairs.iter().filter(|p| p.expectation_met < p.seeds).collect();
    let unchecked: Vec<&compare::PairSummary> =
        result.pairs.iter().filter(|p| !p.expectation_unchecked.is_empty()).collect();
    if !quiet {
        out(&format!(
            "compared {} pairs over {} seeds ({} runs); wrote {}, {} and {}\n",
            result.pairs.len(),
            seeds,
            result.runs,
            out_dir.join("comparison.md").display(),
            out_dir.join("comparison.json").display(),
            out_dir.join("index.html").display()
        ));
        for p in &missed {
            out(&format!(
                "expectation not met: {} on {} in {}/{} seeds; e.g. {}\n",
                p.variant,
                p.scenario,
                p.seeds - p.expectation_met,
                p.seeds,
                p.reproduce.as_deref().unwrap_or("-")
            ));
        }
        for p in &unchecked {
            out(&format!(
                "unchecked: {} on {} ({}): no expectation declared for {}\n",
                p.variant,
                p.scenario,
                p.file,
                p.expectation_unchecked.join(", ")
            ));
        }
    }
    if missed.is_empty() && unchecked.is_empty() {
        exit::OK
    } else {
        exit::VIOLATED
    }
}

/// `locklab merge`: shards → the report an unsharded `compare` writes.
fn merge(args: MergeArgs) -> i32 {
    use locklab::compare;
    // Shards of a sweep (`sweep-shard-I-of-N.json`) merge into the sweep's outputs.
    let mut sweep_shards = Vec::new();
    for input in &args.inputs {
        let is_sweep = |p: &std::path::Path| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sweep-shard-") && n.ends_with(".json"))
        };
        if input.is_dir() {
            if let Ok(entries) = std::fs::read_dir(input) {
                let mut found: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_sweep(p)).collect();
                found.sort();
                sweep_shards.extend(found);
            }
        } else if is_sweep(input) {
            sweep_shards.push(input.clone());
        }
    }
    if !sweep_shards.is_empty() {
        let out =
            if args.out == std::path::Path::new("reports") { PathBuf::from("reports/sweep") } else { args.out.clone() };
        return locklab::sweep::merge(&sweep_shards, &out, args.junit.as_deref(), args.quiet);
    }
    let mut paths = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            match std::fs::read_dir(input) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
                        })
                        .collect();
                    found.sort();
                    paths.extend(found);
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", input.display());
                    return exit::BAD_INPUT;
                }
            }
        } else {
            paths.push(input.clone());
        }
    }
    if paths.is_empty() {
        eprintln!("error: no shard files (shard-I-of-N.json) in {:?}", args.inputs);
        return exit::BAD_INPUT;
    }
    let mut shards: Vec<compare::ShardFile> = Vec::new();
    for p in &paths {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return exit::BAD_INPUT;
            }
        };
        match serde_json::from_str::<compare::ShardFile>(&text) {
            Ok(f) if f.version == compare::SHARD_VERSION => shards.push(f),
            Ok(f) => {
                eprintln!(
                    "error: {}: shard format version {} (this locklab reads {})",
                    p.display(),
                    f.version,
                    compare::SHARD_VERSION
                );
                return exit::BAD_INPUT;
            }
            Err(e) => {
                eprintln!("error: {}: not a locklab shard file: {e}", p.display());
                return exit::BAD_INPUT;
            }
        }
    }
    let first = shards[0].clone();
    for (p, s) in paths.iter().zip(&shards) {
        if s.command != first.command
            || s.seeds != first.seeds
            || s.pairs != first.pairs
            || s.scenarios != first.scenarios
            || s.shard.of != first.shard.of
            || s.max_events != first.max_events
        {
            eprintln!(
                "error: {}: this shard belongs to another sweep than {} (`{}`)",
                p.display(),
                paths[0].display(),
                first.command
            );
            return exit::BAD_INPUT;
        }
    }
    let mut indices: Vec<u64> = shards.iter().map(|s| s.shard.index).collect();
    indices.sort();
    let expected: Vec<u64> = (1..=first.shard.of).collect();
    if indices != expected {
        eprintln!("error: shards {indices:?} of {}: need each of 1..={} exactly once", first.shard.of, first.shard.of);
        return exit::BAD_INPUT;
    }
    // The scenario files, as the shards read them.
    let mut scenarios = Vec::new();
    for (file, hash) in &first.scenarios {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {file}: {e} (merge runs where the shards ran: the paths are relative)");
                return exit::BAD_INPUT;
            }
        };
        if &compare::text_hash(&text) != hash {
            eprintln!("error: {file}: changed since the shards ran");
            return exit::BAD_INPUT;
        }
        match locklab_sim::load_compiled(std::path::Path::new(file)) {
            Ok(c) => scenarios.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    let mut variants: Vec<Vec<usize>> = vec![Vec::new(); scenarios.len()];
    for (file, variant) in &first.pairs {
        let Some(s) = scenarios.iter().position(|c| &c.file == file) else {
            eprintln!("error: pair ({file}, {variant}) names a file the shards do not list");
            return exit::BAD_INPUT;
        };
        let Some(v) = scenarios[s].variant(variant) else {
            eprintln!("error: {file}: no variant `{variant}`");
            return exit::BAD_INPUT;
        };
        variants[s].push(v);
    }
    if compare::pairs_of(&variants).len() != first.pairs.len() {
        eprintln!("error: the shards' pairs are not in report order");
        return exit::BAD_INPUT;
    }
    let accs = compare::merge_accs(shards.into_iter().map(|s| s.accs).collect());
    let result = compare::summarize(&scenarios, &variants, &accs, first.seeds);
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: {}: cannot create the directory: {e}", args.out.display());
        return exit::BAD_INPUT;
    }
    finish_report(&scenarios, &result, &first.command, &args.out, args.junit.as_deref(), args.quiet)
}
