//! The `locklab check` and `locklab explore` subcommands (the binary wires them in).
//!
//! `check` explores one configuration, prints the figures (states, unique states, rate, peak
//! memory) and each property's verdict, and writes every counterexample as a scenario file plus
//! a step list, replaying the scenario in the simulator at once to say whether it reproduces.
//!
//! Exit codes, as for `locklab run`: 0 every `Always` property holds and every `Sometimes`
//! property was reached; 1 a property is violated or a `Sometimes` property was not reached;
//! 2 bad input; 3 internal error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stateright::{Expectation, Model};

use crate::check::{run, shortest_counterexample, Budget, Exhausted, Strategy};
use crate::export::{export_with, replay, slug};
use crate::model::{Faults, LockModel, Network};
use crate::setup::{Protocol, Setup, Timing};

pub const EXIT_OK: i32 = 0;
pub const EXIT_VIOLATION: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INTERNAL: i32 = 3;
/// A budget (time, memory, `--depth`, or a random walk's nature) left verdicts undecided, and no
/// counterexample was found.
pub const EXIT_UNKNOWN: i32 = 4;

/// Default wall-clock budget of a search, in seconds (`--timeout`; 0: none).
pub const DEFAULT_TIMEOUT_S: u64 = 120;
/// Default memory budget of a search, in MiB of resident memory (`--memory-mb`; 0: none).
pub const DEFAULT_MEMORY_MIB: u64 = 2048;

/// Model-check a small configuration of a protocol exhaustively.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Protocol variant: lease, lease-checked, lease-fenced, redlock, raft, raft-checked,
    /// raft-fenced, skinny, skinny-fixed. A name means the variant of that name in the scenario catalogue: `-fenced`
    /// relies on the resource's fence alone (tokens, `fencing = true`,
    /// `check_validity_before_write = false`), `-checked` on the worker's pre-write lease check
    /// alone (`check_validity_before_write = true`, no fencing), the bare name on neither. The
    /// banner prints every parameter as the scenario file's `[[protocols]]` keys.
    pub protocol: String,
    /// Number of clients.
    #[arg(long, default_value_t = 2)]
    pub clients: u32,
    /// Number of lock servers (default: 1 for a lease, 3 for Redlock and Raft).
    #[arg(long)]
    pub servers: Option<u32>,
    /// Fault budget, e.g. `pause,drop=2,crash` (pause, drop, delay, crash, jump; `none`).
    /// Default: the protocol's standard configuration.
    #[arg(long)]
    pub faults: Option<String>,
    /// Search strategy: bfs (shortest counterexamples), dfs (least memory), random (simulation).
    #[arg(long, default_value = "bfs")]
    pub strategy: String,
    /// How messages to one node are ordered: `unordered` (any message in flight may arrive
    /// next: every reordering) or `fifo` (each node handles its messages in the order they were
    /// sent, unless a delay fault holds one back; an abstraction with fewer behaviours, under
    /// which a sound partial-order reduction applies: see models/README.md).
    #[arg(long, default_value = "unordered")]
    pub network: String,
    /// With `--network fifo`: expand every action, not only an ample set (to check the
    /// reduction against the full FIFO model).
    #[arg(long)]
    pub no_reduction: bool,
    /// Stop exploring below this depth (steps); the verdicts are then bounded, not exhaustive.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Give up after this many seconds (default 120; 0: no limit). Verdicts the search did not
    /// decide are then `unknown` (exit 4 unless a counterexample was found).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Give up when the process's resident memory reaches this many MiB (default 2048; 0: no
    /// limit); undecided verdicts are then `unknown`.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Also print threads, search depth, duplicates and peak memory (states, unique states and
    /// the rate are always printed).
    #[arg(long)]
    pub stats: bool,
    /// Where counterexamples go (scenario .toml and .steps.txt per violated property).
    #[arg(long, default_value = "reports/counterexamples")]
    pub out: PathBuf,
    /// Server persistence policy: none, always, everysec (default: always for a lease and Raft, none for Redlock).
    #[arg(long)]
    pub persistence: Option<String>,
    /// True time explored, in ticks of 1 s (a lease's and Raft's TTL is 3 ticks, Redlock's 5). Default: 9, Raft 6.
    #[arg(long)]
    pub horizon: Option<u32>,
    /// Seed of the random strategy.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as one JSON object (the text report included as `text`).
    #[arg(long)]
    pub json: bool,
    /// Also write JUnit XML to FILE: one test case per property.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub timing: TimingArgs,
}

/// The model's timing, each default the protocol's standard configuration's (`check` prints the
/// resulting `[[protocols]]` keys, in the scenario file's words, in its banner). Every duration
/// is a whole number of ticks, so that every timer falls due on a tick.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TimingArgs {
    /// Length of one tick of true time, in ms (default 1000).
    #[arg(long, value_name = "MS")]
    pub tick_ms: Option<u64>,
    /// Lease TTL, in ticks (default 3; Redlock 5).
    #[arg(long, value_name = "TICKS")]
    pub ttl: Option<u32>,
    /// Keep-alive (heartbeat) period, in ticks (default 2).
    #[arg(long, value_name = "TICKS")]
    pub renew: Option<u32>,
    /// Think time inside the critical section, in ticks (default 1; Redlock 3).
    #[arg(long, value_name = "TICKS")]
    pub think: Option<u32>,
    /// Further acquire attempts after the first (default 4).
    #[arg(long, value_name = "N")]
    pub acquire_retries: Option<u32>,
    /// Client i starts this many ticks after client i − 1 (default 1; Raft 2).
    #[arg(long, value_name = "TICKS")]
    pub stagger: Option<u32>,
    /// How far a `jump` fault steps a wall clock, in ms (default 3000; Redlock 5000).
    #[arg(long, value_name = "MS")]
    pub clock_jump_ms: Option<i64>,
    /// Raft: election timeout, heartbeat and lease-check periods, in ticks (default 3, 2, 1).
    #[arg(long, value_name = "TICKS")]
    pub election: Option<u32>,
    #[arg(long, value_name = "TICKS")]
    pub heartbeat: Option<u32>,
    #[arg(long, value_name = "TICKS")]
    pub lease_check: Option<u32>,
}

impl TimingArgs {
    /// `base` with every given value in place, checked.
    pub fn apply(&self, base: Timing) -> Result<Timing, String> {
        let mut t = base;
        let positive = |name: &str, v: Option<u32>| -> Result<Option<u32>, String> {
            match v {
                Some(0) => Err(format!("--{name} 0: must be at least 1 tick")),
                Some(v) if v > 40 => Err(format!("--{name} {v}: at most 40 ticks")),
                v => Ok(v),
            }
        };
        if let Some(ms) = self.tick_ms {
            if ms == 0 || ms > 3_600_000 {
                return Err(format!("--tick-ms {ms}: between 1 and 3600000"));
            }
            t.tick_ms = ms;
        }
        if let Some(v) = positive("ttl", self.ttl)? {
            t.ttl_ticks = v;
        }
        if let Some(v) = positive("renew", self.renew)? {
            t.renew_ticks = v;
        }
        if let Some(v) = positive("think", self.think)? {
            t.think_ticks = v;
        }
        if let Some(v) = self.acquire_retries {
            t.acquire_retries = v;
        }
        if let Some(v) = positive("stagger", self.stagger)? {
            t.client_stagger_ticks = v;
        }
        if let Some(v) = self.clock_jump_ms {
            t.clock_jump_ms = v;
        }
        if let Some(v) = positive("election", self.election)? {
            t.election_ticks = v;
        }
        if let Some(v) = positive("heartbeat", self.heartbeat)? {
            t.heartbeat_ticks = v;
        }
        if let Some(v) = positive("lease-check", self.lease_check)? {
            t.lease_check_ticks = v;
        }
        Ok(t)
    }
}

/// Serve stateright's web explorer on a configuration (127.0.0.1 only).
#[derive(clap::Args, Debug, Clone)]
pub struct ExploreArgs {
    /// Protocol variant: lease, lease-checked, lease-fenced, redlock, raft, raft-checked,
    /// raft-fenced, skinny, skinny-fixed (see `check --help`).
    pub protocol: String,
    /// Port to listen on (127.0.0.1 only).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Number of clients.
    #[arg(long, default_value_t = 2)]
    pub clients: u32,
    /// Number of lock servers (default: 1 for a lease, 3 for Redlock and Raft).
    #[arg(long)]
    pub servers: Option<u32>,
    /// Fault budget (see `check --faults`).
    #[arg(long)]
    pub faults: Option<String>,
    /// Server persistence policy: none, always, everysec.
    #[arg(long)]
    pub persistence: Option<String>,
    /// True time explored, in ticks of 1 s (a lease's and Raft's TTL is 3 ticks, Redlock's 5). Default: 9, Raft 6.
    #[arg(long)]
    pub horizon: Option<u32>,
    #[command(flatten)]
    pub timing: TimingArgs,
}

/// The standard fault budget of a protocol (the registry's: its model variant's standard
/// configuration, what CI checks and the figures in the README).
pub fn standard_faults(protocol: Protocol) -> &'static str {
    protocol.variant().standard_faults
}

fn parse_persistence(p: Option<&str>, protocol: Protocol) -> Result<locklab_protocols::node::Persistence, String> {
    use locklab_protocols::node::Persistence;
    match p {
        None => Ok(protocol.default_persistence()),
        Some("none") => Ok(Persistence::None),
        Some("always") => Ok(Persistence::Always),
        Some("everysec") => Ok(Persistence::Everysec),
        Some(other) => Err(format!("unknown persistence `{other}`; valid: none, always, everysec")),
    }
}

/// Build the model a command line asks for.
pub fn build_model(
    protocol: &str,
    clients: u32,
    servers: Option<u32>,
    faults: Option<&str>,
    persistence: Option<&str>,
    horizon: Option<u32>,
) -> Result<LockModel, String> {
    build_model_with(protocol, clients, servers, faults, persistence, horizon, &TimingArgs::default())
}

/// [`build_model`] with the model's timing changed where `timing` says.
pub fn build_model_with(
    protocol: &str,
    clients: u32,
    servers: Option<u32>,
    faults: Option<&str>,
    persistence: Option<&str>,
    horizon: Option<u32>,
    timing_args: &TimingArgs,
) -> Result<LockModel, String> {
    let protocol = Protocol::parse(protocol)?;
    let faults = Faults::parse(faults.unwrap_or(standard_faults(protocol)))?;
    let persistence = parse_persistence(persistence, protocol)?;
    let horizon = horizon.unwrap_or(crate::setup::timing_for(protocol).horizon_ticks);
    if horizon == 0 || horizon > 40 {
        return Err(format!("--horizon {horizon}: between 1 and 40 ticks"));
    }
    let timing = timing_args.apply(Timing { horizon_ticks: horizon, ..crate::setup::timing_for(protocol) })?;
    let setup = Setup::new(protocol, clients, servers.unwrap_or(protocol.default_servers()), persistence, timing)?;
    Ok(LockModel::new(setup, faults))
}

/// Peak resident memory of this process, from `/proc/self/status` (Linux), in KiB.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this process has used (user + system), from `/proc/self/stat` (Linux; in the
/// kernel's `USER_HZ`, 100 per second on every mainstream Linux), in seconds.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// [`build_model`], reporting a usage error on stderr.
fn model_or_usage(
    protocol: &str,
    clients: u32,
    servers: Option<u32>,
    faults: Option<&str>,
    persistence: Option<&str>,
    horizon: Option<u32>,
    timing: &TimingArgs,
) -> Option<LockModel> {
    build_model_with(protocol, clients, servers, faults, persistence, horizon, timing)
        .map_err(|e| eprintln!("error: {e}"))
        .ok()
}

/// The first lines `check` prints: the configuration, then the variant's parameters in the
/// scenario file's words (its `[[protocols]]` keys and values, as in the scenario the model was
/// compiled from and every counterexample it exports).
pub fn banner(model: &LockModel, strategy: Strategy, threads: usize) -> String {
    let setup = &model.setup;
    let servers = setup.servers.len();
    let strategy = match strategy {
        Strategy::Bfs => "BFS".to_string(),
        Strategy::Dfs => "DFS".to_string(),
        Strategy::Random { seed } => format!("random walks, seed {seed}"),
    };
    let network = match (model.network, model.reduce) {
        (Network::Unordered, _) => String::new(),
        (Network::Fifo, true) => ", FIFO network (partial-order reduction)".to_string(),
        (Network::Fifo, false) => ", FIFO network (no reduction)".to_string(),
    };
    let params: Vec<String> = setup
        .protocol
        .params(&setup.timing, setup.persistence)
        .into_iter()
        .map(|(key, value)| format!("{key} = {value}"))
        .collect();
    format!(
        "checking {}: {} clients, {servers} {}, faults {}, tick {} ms, horizon {} ticks{network} ({strategy}, {threads} {})\n\
         [[protocols]] name = \"{}\", {}\n",
        setup.protocol.name(),
        setup.clients.len(),
        if servers == 1 { "server" } else { "servers" },
        model.faults,
        setup.timing.tick_ms,
        setup.timing.horizon_ticks,
        if threads == 1 { "thread" } else { "threads" },
        setup.protocol.name(),
        params.join(", "),
    )
}

/// `locklab check`, printing to stdout. Returns the exit code.
pub fn check(args: &CheckArgs) -> i32 {
    check_to(args, &mut std::io::stdout())
}

/// `locklab check`, printing to `out` (the `locklab` binary passes a writer that survives a
/// reader going away: the verdict's exit code is kept). Returns the exit code:
/// 0 every property decided as expected, 1 a counterexample (or, after a complete search, a
/// `sometimes` never reached), 2 bad input, 3 internal error, 4 unknown (a budget ran out first).
/// What one `check` found, for `--json` and `--junit`.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckSummary {
    pub protocol: String,
    /// `unordered` or `fifo` (`--network`), and whether the FIFO reduction was on.
    pub network: String,
    pub reduction: bool,
    pub complete: bool,
    pub states: usize,
    pub unique_states: usize,
    pub seconds: f64,
    /// (property, "always" | "sometimes", outcome as printed).
    pub properties: Vec<(String, String, String)>,
    /// (property, scenario file, replay line).
    pub counterexamples: Vec<(String, String, String)>,
    pub exit_code: i32,
}

pub fn check_to(args: &CheckArgs, out: &mut dyn std::io::Write) -> i32 {
    let mut text = Vec::new();
    let mut summary = CheckSummary {
        protocol: args.protocol.clone(),
        network: args.network.clone(),
        reduction: args.network == "fifo" && !args.no_reduction,
        ..CheckSummary::default()
    };
    let code = check_inner(args, &mut text, &mut summary);
    summary.exit_code = code;
    if args.json {
        let mut j = serde_json::to_value(&summary).expect("JSON");
        j["text"] = serde_json::Value::String(String::from_utf8_lossy(&text).into_owned());
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&j).expect("JSON"));
    } else {
        let _ = out.write_all(&text);
    }
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, junit(&summary)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    code
}

/// JUnit XML: one test case per property; a violated "always" or an unreached "sometimes" fails,
/// an undecided one (bounded search) is skipped.
fn junit(s: &CheckSummary) -> String {
    let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut cases = String::new();
    let (mut failures, mut skipped) = (0, 0);
    for (name, kind, outcome) in &s.properties {
        let head = format!(
            "    <testcase classname=\"check.{}\" name=\"{} {}\" time=\"0\"",
            esc(&s.protocol),
            kind,
            esc(name)
        );
        if outcome == "VIOLATED" || outcome == "NOT REACHED" {
            failures += 1;
            let cx = s.counterexamples.iter().find(|(p, _, _)| p == name);
            let detail =
                cx.map_or(String::new(), |(_, file, replay)| format!("counterexample: {file}; replay: {replay}"));
            cases.push_str(&format!(
                "{head}>\n      <failure message=\"{} {}\" type=\"model-check\">{}</failure>\n    </testcase>\n",
                esc(name),
                esc(outcome),
                esc(&detail)
            ));
        } else if outcome.starts_with("unknown") {
            skipped += 1;
            cases.push_str(&format!("{head}>\n      <skipped message=\"{}\"/>\n    </testcase>\n", esc(outcome)));
        } else {
            cases.push_str(&format!("{head}/>\n"));
        }
    }
    let n = s.properties.len();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"locklab check\" tests=\"{n}\" failures=\"{failures}\">\n  <testsuite name=\"locklab check {}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n{cases}  </testsuite>\n</testsuites>\n",
        esc(&s.protocol)
    )
}

fn check_inner(args: &CheckArgs, out: &mut dyn std::io::Write, summary: &mut CheckSummary) -> i32 {
    let Some(model) = model_or_usage(
        &args.protocol,
        args.clients,
        args.servers,
        args.faults.as_deref(),
        args.persistence.as_deref(),
        args.horizon,
        &args.timing,
    ) else {
        return EXIT_USAGE;
    };
    let model = match Network::parse(&args.network) {
        Ok(network) => model.with_network(network).with_reduction(!args.no_reduction),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.no_reduction && model.network != Network::Fifo {
        eprintln!("error: --no-reduction applies to --network fifo only (the unordered network has no reduction)");
        return EXIT_USAGE;
    }
    let strategy = match Strategy::parse(&args.strategy, args.seed) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.threads == 0 {
        eprintln!("error: --threads must be at least 1");
        return EXIT_USAGE;
    }
    let timeout_s = match (strategy, args.timeout) {
        (_, Some(s)) => s,
        (Strategy::Random { .. }, None) => 10,
        _ => DEFAULT_TIMEOUT_S,
    };
    let memory_mib = args.memory_mb.unwrap_or(DEFAULT_MEMORY_MIB);
    let budget = Budget {
        time: (timeout_s > 0).then(|| Duration::from_secs(timeout_s)),
        memory_mib: (memory_mib > 0).then_some(memory_mib),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let setup = &model.setup;
    let _ = write!(out, "{}", banner(&model, strategy, args.threads));
    let cpu_before = cpu_seconds();
    let outcome = run(&model, strategy, args.threads, args.depth, budget);
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    let complete = outcome.complete;
    summary.complete = complete;
    summary.states = outcome.states as usize;
    summary.unique_states = outcome.unique_states as usize;
    summary.seconds = outcome.seconds;
    let rate = outcome.unique_states as f64 / outcome.seconds.max(1e-9) / args.threads as f64;
    let _ = writeln!(
        out,
        "states: {} explored, {} unique, {:.2} s, {:.0} unique states/s/thread",
        outcome.states, outcome.unique_states, outcome.seconds, rate
    );
    if args.stats {
        let _ = writeln!(
            out,
            "stats:  {} threads, max depth {}, {:.2} generated per unique state, peak memory {}, CPU {}",
            args.threads,
            outcome.max_depth,
            outcome.states as f64 / outcome.unique_states.max(1) as f64,
            match peak_memory_kib() {
                Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
                None => "unknown".to_string(),
            },
            // On a shared machine the wall-clock rate understates what a thread does when it runs.
            match cpu {
                Some(cpu) if cpu > 0.0 => {
                    format!("{cpu:.2} s ({:.0} unique states per CPU-second)", outcome.unique_states as f64 / cpu)
                }
                _ => "unknown".to_string(),
            }
        );
    }
    if !complete {
        let why = match outcome.exhausted {
            Some(Exhausted::Time) => format!("the time budget ran out ({timeout_s} s; --timeout to raise, 0 for none)"),
            Some(Exhausted::Memory) => {
                format!("the memory budget ran out ({memory_mib} MiB; --memory-mb to raise, 0 for none)")
            }
            None if matches!(strategy, Strategy::Random { .. }) => "random walks never exhaust the space".to_string(),
            None => "--depth bounds the search".to_string(),
        };
        let _ = writeln!(out, "search: BOUNDED ({why}): what it did not find is unknown, not absent");
    }
    let mut code = EXIT_OK;
    let mut unknown = false;
    let mut violated = Vec::new();
    for v in &outcome.verdicts {
        let line = match (&v.expectation, v.discovered) {
            (Expectation::Always, true) => {
                violated.push(v.name);
                "VIOLATED".to_string()
            }
            (Expectation::Always, false) if complete => "holds".to_string(),
            (_, true) => "reached".to_string(),
            (_, false) if complete => {
                code = EXIT_VIOLATION;
                "NOT REACHED".to_string()
            }
            (_, false) => {
                unknown = true;
                "unknown (bounded search)".to_string()
            }
        };
        let kind = if v.expectation == Expectation::Always { "always   " } else { "sometimes" };
        let _ = writeln!(out, "  {kind} {:<34} {line}", v.name);
        summary.properties.push((v.name.to_string(), kind.trim().to_string(), line.clone()));
    }
    if !violated.is_empty() {
        code = EXIT_VIOLATION;
    } else if unknown && code == EXIT_OK {
        code = EXIT_UNKNOWN;
    }
    for name in violated {
        // The shortest counterexample first. The model lets the events of one instant happen in
        // any order, the simulator runs them in one order: when the shortest path depends on an
        // order the simulator does not take, the path the search itself saved is tried too.
        // Each path is tried as is, then with ordering pauses (see `export::export_with`).
        // After a bounded search (a space too large to exhaust) the shortest path is not
        // searched for: that one-thread BFS would be the exhaustive search the bound avoided.
        let mut paths = Vec::new();
        if complete {
            if let Some(path) = shortest_counterexample(&model, name) {
                paths.push(("shortest", path));
            }
        }
        if let Some(other) = outcome.paths.get(name) {
            paths.push(("found by the search", other.clone()));
        }
        if paths.is_empty() {
            eprintln!("internal error: no counterexample path for {name}");
            return EXIT_INTERNAL;
        }
        let candidates = paths.iter().flat_map(|(label, path)| {
            [(label.to_string(), path, false), (format!("{label}, with ordering pauses"), path, true)]
        });
        let mut written = None;
        for (label, path, order_pauses) in candidates {
            let cx = export_with(&model, name, path, order_pauses);
            let replayed = replay(&cx.scenario_toml, name);
            let reproduced = matches!(&replayed, Ok(r) if r.violated);
            if written.is_none() || reproduced {
                written = Some((label, cx, replayed));
            }
            if reproduced {
                break;
            }
        }
        let Some((label, cx, replayed)) = written else { continue };
        if let Err(e) = std::fs::create_dir_all(&args.out) {
            eprintln!("error: cannot create {}: {e}", args.out.display());
            return EXIT_USAGE;
        }
        let base = args.out.join(format!("{}-{}", setup.protocol.name(), slug(name)));
        let toml_path = base.with_extension("toml");
        let steps_path = base.with_extension("steps.txt");
        for (p, text) in [(&toml_path, &cx.scenario_toml), (&steps_path, &cx.step_list)] {
            if let Err(e) = std::fs::write(p, text) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return EXIT_USAGE;
            }
        }
        let replayed = match replayed {
            Ok(r) if r.violated => format!("reproduced ({})", r.detail),
            Ok(r) => format!(
                "NOT reproduced by the simulator ({}): the violation depends on an order of same-instant events the simulator does not take",
                r.detail
            ),
            Err(e) => format!("the scenario does not load: {e}"),
        };
        summary.counterexamples.push((name.to_string(), toml_path.display().to_string(), replayed.clone()));
        let _ = writeln!(
            out,
            "counterexample to \"{name}\": {} steps ({label})\n  scenario: {}\n  steps:    {}\n  replay:   {replayed}\n  run it:   locklab run {} --protocol {} --trace",
            cx.steps,
            toml_path.display(),
            steps_path.display(),
            toml_path.display(),
            setup.protocol.name()
        );
    }
    code
}

/// `locklab explore`: serve stateright's explorer on 127.0.0.1. Blocks while serving.
pub fn explore(args: &ExploreArgs) -> i32 {
    let Some(model) = model_or_usage(
        &args.protocol,
        args.clients,
        args.servers,
        args.faults.as_deref(),
        args.persistence.as_deref(),
        args.horizon,
        &args.timing,
    ) else {
        return EXIT_USAGE;
    };
    // stateright panics when it cannot bind: find out first, and say so. `--port 0` asks the
    // system for a free port: the one it gave is what the explorer serves on and what we print.
    let port = match std::net::TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(listener) => {
            let port = listener.local_addr().map_or(args.port, |a| a.port());
            drop(listener);
            port
        }
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return EXIT_USAGE;
        }
    };
    let address = ("127.0.0.1", port);
    println!("exploring {} at http://127.0.0.1:{port}/ (Ctrl-C to stop)", model.setup.protocol.name());
    let started = Instant::now();
    match std::panic::catch_unwind(|| {
        // Blocks for as long as the web server runs.
        // The explorer's wrapper: states print as words (`explorer::Explorable`).
        let _checker = crate::explorer::Explorable::new(model).checker().serve(address);
    }) {
        Ok(()) => EXIT_OK,
        Err(_) => {
            eprintln!("internal error: the explorer stopped after {:?}", started.elapsed());
            EXIT_INTERNAL
        }
    }
}
