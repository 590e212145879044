//! The `locklab lin` command: check a recorded history file.
//!
//! ```text
//! locklab lin HISTORY [--model NAME] [--format json|edn|log] [--ttl-ms MS]
//!                     [--kv-initial either|absent|empty] [--budget SECONDS] [--memory-mb MB]
//!                     [--max-states N] [--threads N] [--html OUT.html] [--stats]
//!                     [--to-json OUT.json]
//! ```
//!
//! Every run is bounded: by default 10 s of wall-clock time and 2048 MB of resident
//! memory, reading the file included (`--budget inf`, `--memory-mb inf` lift them).
//!
//! Exit codes (for CI):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | linearizable |
//! | 1 | not linearizable |
//! | 2 | bad input or usage (unreadable or malformed history, unknown model, ...) |
//! | 3 | internal error (a bug in locklab: please report it), or the report could not be written to standard output (`> /dev/full`); a closed pipe (`\| head`) is not an error: the verdict's code stands |
//! | 4 | unknown: the budget ran out before a verdict |

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::budget::Guard;
use crate::budget::Limit;
use crate::format::{self, Format, History, LoadFailure, Model};
use crate::html::{self, OpView};
use crate::specs::{
    CasRegisterSpec, FencingSpec, KvInitial, KvOp, KvRet, KvSpec, LazyFencingSpec, LazyLeaseSpec, LeaseSpec, LockOp,
    LockRet, MutexSpec, RegisterOp, RegisterRet,
};
use crate::{check_within, CheckResult, Limits, Operation, Spec, Verdict};

/// Exit code: the history is linearizable.
pub const EXIT_LINEARIZABLE: i32 = 0;
/// Exit code: the history is not linearizable.
pub const EXIT_NOT_LINEARIZABLE: i32 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: internal error.
pub const EXIT_INTERNAL: i32 = 3;
/// Exit code: the budget ran out; nothing is known.
pub const EXIT_UNKNOWN: i32 = 4;
/// The report could not be written (a full disk, a closed descriptor — not a broken pipe):
/// the same code every `locklab` command uses.
pub const EXIT_OUTPUT: i32 = 5;

/// Default of `--budget`: seconds for the whole command.
pub const DEFAULT_BUDGET_S: f64 = 10.0;
/// Default of `--memory-mb`: resident memory of the process, in MB.
pub const DEFAULT_MEMORY_MB: f64 = 2048.0;

/// Arguments of `locklab lin`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LinArgs {
    /// History file: locklab JSON, Jepsen EDN or Jepsen text log, recognised by its
    /// content (the extension only breaks ties); --format forces one.
    pub history: PathBuf,
    /// Read the file as this format instead of sniffing it: json, edn or log.
    #[arg(long)]
    pub format: Option<String>,
    /// Sequential spec: mutex, lease, fencing, cas-register or kv. Defaults to the
    /// "model" of a JSON history.
    #[arg(long)]
    pub model: Option<String>,
    /// Lease duration in milliseconds (required by lease, optional for fencing).
    /// Defaults to the "ttl_ns" of a JSON history.
    #[arg(long = "ttl-ms")]
    pub ttl_ms: Option<f64>,
    /// kv model: what a get of a never-written key may return: either (nil or "", the
    /// default), absent (nil only) or empty ("" only, as Porcupine's kv model).
    #[arg(long = "kv-initial")]
    pub kv_initial: Option<String>,
    /// Wall-clock budget in seconds for the whole command, reading the file included
    /// [default: 10; `inf`: none]; when it runs out the verdict is "unknown" (exit 4).
    #[arg(long = "budget", value_name = "SECONDS")]
    pub budget_s: Option<f64>,
    /// Memory budget in MB: the most resident memory the process may use, reading the
    /// file included [default: 2048; `inf`: none]; "unknown" (exit 4) when exceeded.
    #[arg(long = "memory-mb", value_name = "MB")]
    pub memory_mb: Option<f64>,
    /// Deterministic budget: the most search states to explore per partition (key)
    /// before giving up (exit 4) [default: none]. Unlike --budget, the outcome does not
    /// depend on machine speed or thread count.
    #[arg(long)]
    pub max_states: Option<u64>,
    /// Threads checking partitions (keys) concurrently [default: every core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write a self-contained HTML timeline of the history and its (partial)
    /// linearization to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Print operations, partitions, states explored, cache hits, elapsed time and rate.
    #[arg(long)]
    pub stats: bool,
    /// Also write the history in locklab's JSON format to this file (format conversion).
    #[arg(long = "to-json")]
    pub to_json: Option<PathBuf>,
    /// Print the verdict as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the verdict as JUnit XML to FILE (one test case: the history).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Runs `lin`, printing to stdout and stderr; returns the exit code.
pub fn run(args: &LinArgs) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`run`] with explicit output streams (for tests and embedding).
///
/// The report is written to `out` in one piece at the end. If that write fails because
/// the reader went away (a broken pipe: `locklab lin h.json | head -1`), `lin` ends
/// quietly with the verdict's exit code, which the shell shows in `${PIPESTATUS[0]}`; any
/// other write error (`> /dev/full`) is one message on `err` and exit 5.
pub fn run_with(args: &LinArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut report = Vec::new();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_inner(args, &mut report, err))) {
        Ok(Ok(code)) => match out.write_all(&report).and_then(|()| out.flush()) {
            Ok(()) => code,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
            Err(e) => {
                let _ = writeln!(err, "error: cannot write the report to standard output: {e}");
                EXIT_OUTPUT
            }
        },
        Ok(Err(Failure::Usage(message))) => {
            let _ = writeln!(err, "error: {message}");
            EXIT_BAD_INPUT
        }
        Ok(Err(Failure::Internal(message))) => {
            let _ = writeln!(err, "internal error: {message}");
            EXIT_INTERNAL
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            let _ = writeln!(err, "internal error: {message}");
            EXIT_INTERNAL
        }
    }
}

enum Failure {
    Usage(String),
    Internal(String),
}

fn seconds(value: f64, what: &str) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(value).map_err(|_| Failure::Usage(format!("{what} must be a non-negative number")))
}

/// A budget in `unit`s: `None` for `inf`; an error if negative or not a number.
fn budget(value: Option<f64>, default: f64, what: &str) -> Result<Option<f64>, Failure> {
    match value.unwrap_or(default) {
        v if v == f64::INFINITY => Ok(None),
        v if v >= 0.0 => Ok(Some(v)),
        _ => Err(Failure::Usage(format!("{what} must be a non-negative number or inf"))),
    }
}

/// The budgets in force, for the message when one runs out.
struct Budgets {
    time_s: Option<f64>,
    memory_mb: Option<f64>,
    max_states: Option<u64>,
}

impl Budgets {
    fn unknown(&self, limit: Option<Limit>, when: &str) -> String {
        let which = match limit {
            Some(Limit::Time) => format!(
                "the time budget (--budget {} s) ran out {when}; raise it with --budget SECONDS (or inf)",
                self.time_s.unwrap_or(f64::INFINITY)
            ),
            Some(Limit::Memory) => format!(
                "the memory budget (--memory-mb {}: resident memory exceeded it) ran out {when}; raise it with --memory-mb MB (or inf)",
                self.memory_mb.unwrap_or(f64::INFINITY)
            ),
            Some(Limit::States) => format!(
                "the state budget (--max-states {} per partition) ran out {when}; raise it with --max-states N",
                self.max_states.unwrap_or(u64::MAX)
            ),
            None => format!("the budget ran out {when}"),
        };
        format!("unknown: {which} (this is not a pass)")
    }
}

fn run_inner(args: &LinArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32, Failure> {
    let budgets = Budgets {
        time_s: budget(args.budget_s, DEFAULT_BUDGET_S, "--budget")?,
        memory_mb: budget(args.memory_mb, DEFAULT_MEMORY_MB, "--memory-mb")?,
        max_states: args.max_states,
    };
    let guard = Guard::new(
        budgets.time_s.map(|s| seconds(s, "--budget")).transpose()?,
        budgets.memory_mb.map(|mb| (mb * 1024.0 * 1024.0) as u64),
    );
    if args.threads == Some(0) {
        return Err(Failure::Usage("--threads must be at least 1".into()));
    }
    let forced = args.format.as_deref().map(Format::from_name).transpose().map_err(Failure::Usage)?;
    let loaded = match format::load_with(&args.history, forced, &guard) {
        Ok(loaded) => loaded,
        Err(LoadFailure::Invalid(e)) => return Err(Failure::Usage(e.to_string())),
        Err(LoadFailure::Budget(limit)) => {
            let _ = writeln!(out, "{}", budgets.unknown(Some(limit), "while reading the history"));
            return Ok(EXIT_UNKNOWN);
        }
    };
    let ttl_ns = match args.ttl_ms {
        Some(ms) => Some(seconds(ms / 1000.0, "--ttl-ms")?.as_nanos() as u64),
        None => loaded.ttl_ns,
    };
    let name = match (&args.model, &loaded.model) {
        (Some(arg), Some(file)) if arg != file => {
            return Err(Failure::Usage(format!(
                "--model {arg} contradicts the history's model '{file}' ({})",
                args.history.display()
            )))
        }
        (Some(name), _) | (None, Some(name)) => name.clone(),
        (None, None) => {
            return Err(Failure::Usage(format!("no model: pass --model (one of: {})", format::MODEL_NAMES.join(", "))))
        }
    };
    let model = Model::from_name(&name, ttl_ns).map_err(Failure::Usage)?;
    let history = match loaded.history {
        Some(h) if h.family() != model.family() => {
            return Err(Failure::Usage(format!(
                "{}: model {} checks {} operations but the history has {} operations",
                args.history.display(),
                model.name(),
                model.family().name(),
                h.family().name()
            )))
        }
        Some(h) => h,
        None => match model.family() {
            format::Family::Lock => History::Lock(Vec::new()),
            format::Family::Register => History::Register(Vec::new()),
            format::Family::Kv => History::Kv(Vec::new()),
        },
    };
    if let Some(path) = &args.to_json {
        std::fs::write(path, format::to_json_named(&model, &history, &loaded.names))
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let limits = Limits { guard, max_states: args.max_states, threads: args.threads };
    let kv_initial = args.kv_initial.as_deref().map(KvInitial::from_name).transpose().map_err(Failure::Usage)?;
    if kv_initial.is_some() && model.family() != format::Family::Kv {
        return Err(Failure::Usage(format!("--kv-initial applies to the kv model only, not {}", model.name())));
    }
    let specs = Specs { kv: KvSpec::new(kv_initial.unwrap_or_default()) };
    let names = args.html.is_some().then_some(&loaded.names);
    let Checked { result, views, states } =
        check_history_for(&model, &specs, &history, &limits, names).map_err(Failure::Internal)?;

    let mut text = Vec::new();
    let code = report(&result, &views, &loaded.names, &budgets, &mut text);
    let verdict = match &result.verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable(_) => "not linearizable",
        Verdict::Unknown => "unknown",
    };
    if args.json {
        let (key, prefix, unplaced) = match &result.verdict {
            Verdict::NotLinearizable(v) => (
                Some(v.key.clone()),
                v.longest_prefix.iter().map(|&i| views[i].describe(i, &loaded.names)).collect::<Vec<_>>(),
                v.unplaced.iter().map(|&i| views[i].describe(i, &loaded.names)).collect::<Vec<_>>(),
            ),
            _ => (None, Vec::new(), Vec::new()),
        };
        let j = serde_json::json!({
            "history": args.history.display().to_string(),
            "model": model.name(),
            "verdict": verdict,
            "exit_code": code,
            "operations": views.len(),
            "partitions": result.partitions.len(),
            "key": key,
            "longest_linearizable_prefix": prefix,
            "unplaced": unplaced,
            "summary": String::from_utf8_lossy(&text).trim_end(),
            "states": result.stats.states,
        });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&j).expect("JSON"));
    } else {
        let _ = out.write_all(&text);
    }
    if let Some(path) = &args.junit {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let name = esc(&args.history.display().to_string());
        let body = esc(String::from_utf8_lossy(&text).trim_end());
        let case = match &result.verdict {
            Verdict::Linearizable => format!("    <testcase classname=\"lin\" name=\"{name}\" time=\"0\"/>\n"),
            Verdict::NotLinearizable(_) => format!(
                "    <testcase classname=\"lin\" name=\"{name}\" time=\"0\">\n      <failure message=\"not linearizable against {}\" type=\"linearizability\">{body}</failure>\n    </testcase>\n",
                model.name()
            ),
            Verdict::Unknown => format!(
                "    <testcase classname=\"lin\" name=\"{name}\" time=\"0\">\n      <skipped message=\"unknown: a budget ran out\"/>\n    </testcase>\n"
            ),
        };
        let failures = usize::from(matches!(result.verdict, Verdict::NotLinearizable(_)));
        let skipped = usize::from(matches!(result.verdict, Verdict::Unknown));
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"locklab lin\" tests=\"1\" failures=\"{failures}\">\n  <testsuite name=\"locklab lin --model {}\" tests=\"1\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n{case}  </testsuite>\n</testsuites>\n",
            model.name()
        );
        std::fs::write(path, xml).map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if args.stats {
        let s = &result.stats;
        let secs = s.elapsed.as_secs_f64();
        let rate = if secs > 0.0 { s.states as f64 / secs } else { 0.0 };
        let stats_out: &mut dyn Write = if args.json { &mut *err } else { &mut *out };
        let _ = writeln!(
            stats_out,
            "stats: ops={} partitions={} states={} steps={} cache_hits={} elapsed_ms={:.3} states_per_s={:.0}",
            s.ops,
            s.partitions,
            s.states,
            s.steps,
            s.cache_hits,
            secs * 1e3,
            rate
        );
    }
    if let Some(path) = &args.html {
        let title = format!("{} — {}", args.history.display(), model.name());
        let (initial_state, states) = states.unwrap_or_default();
        let page = html::Page {
            title,
            model: model.name().to_string(),
            ttl_ns: model.ttl_ns(),
            names: &loaded.names,
            ops: &views,
            result: &result,
            initial_state,
            states,
        };
        std::fs::write(path, html::render(&page))
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
        let _ = writeln!(err, "wrote {}", path.display());
    }
    Ok(code)
}

/// Settings of the specs that a [`Model`] name does not carry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Specs {
    /// The kv spec (its initial value).
    pub kv: KvSpec,
}

/// Checks a loaded history against a model by name; also returns display views.
pub fn check_history(
    model: &Model,
    specs: &Specs,
    history: &History,
    limits: &Limits,
) -> Result<(CheckResult, Vec<OpView>), String> {
    let checked = check_history_for(model, specs, history, limits, None)?;
    Ok((checked.result, checked.views))
}

/// What [`check_history_for`] returns.
pub struct Checked {
    /// The checker's result.
    pub result: CheckResult,
    /// One display view per operation (with lease expiries under a spec with a TTL).
    pub views: Vec<OpView>,
    /// The spec's initial state in words, and per partition the state after each operation of
    /// its linearization — only when asked for (`names` given): the HTML page.
    pub states: Option<(String, Vec<Option<Vec<String>>>)>,
}

/// [`check_history`], and when `names` is given (the HTML page wants them) the spec's states
/// along each partition's linearization, replayed after the search ([`crate::replay`]), so the
/// check itself costs the same with or without `--html`.
pub fn check_history_for(
    model: &Model,
    specs: &Specs,
    history: &History,
    limits: &Limits,
    names: Option<&BTreeMap<u64, String>>,
) -> Result<Checked, String> {
    fn go<S: Spec>(
        spec: &S,
        ops: &[Operation<S::Input, S::Output>],
        limits: &Limits,
        names: Option<&BTreeMap<u64, String>>,
        view: impl Fn(&Operation<S::Input, S::Output>) -> OpView,
    ) -> Result<Checked, String> {
        let result = check_within(spec, ops, limits).map_err(|e| e.to_string())?;
        let mut views: Vec<OpView> = ops.iter().map(view).collect();
        let states = names.map(|names| {
            let name = |p: u64| html::process_name(names, p);
            let per_part = result
                .partitions
                .iter()
                .map(|part| {
                    let states = crate::replay(spec, ops, &part.ops, &part.linearization)?;
                    // A linearized grant's lease expires when the spec's constraints say, which
                    // is tighter than call + TTL … return + TTL.
                    for (&i, state) in part.linearization.iter().zip(&states) {
                        if views[i].expiry_ns.is_some() {
                            if let Some(window) = spec.expiry_window_ns(state) {
                                views[i].expiry_ns = Some(window);
                            }
                        }
                    }
                    Some(states.iter().map(|s| spec.describe_state(s, &name)).collect())
                })
                .collect();
            (spec.describe_state(&spec.init(), &name), per_part)
        });
        Ok(Checked { result, views, states })
    }
    let lock = |ttl_ns: Option<u64>| {
        move |op: &Operation<LockOp, LockRet>| OpView {
            expiry_ns: html::lease_expiry(op, ttl_ns),
            ..OpView::of(op, html::lock_label(op))
        }
    };
    let register = |op: &Operation<RegisterOp, RegisterRet>| OpView::of(op, html::register_label(op));
    let kv = |op: &Operation<KvOp, KvRet>| OpView::of(op, html::kv_label(op));
    match (model, history) {
        (Model::Mutex, History::Lock(h)) => go(&MutexSpec, h, limits, names, lock(None)),
        (Model::Lease { ttl_ns }, History::Lock(h)) => {
            go(&LeaseSpec { ttl_ns: *ttl_ns }, h, limits, names, lock(Some(*ttl_ns)))
        }
        (Model::Fencing { ttl_ns }, History::Lock(h)) => {
            go(&FencingSpec { ttl_ns: *ttl_ns }, h, limits, names, lock(*ttl_ns))
        }
        (Model::LazyLease { ttl_ns, session }, History::Lock(h)) => {
            go(&LazyLeaseSpec { ttl_ns: *ttl_ns, session: *session }, h, limits, names, lock(Some(*ttl_ns)))
        }
        (Model::LazyFencing { ttl_ns, session }, History::Lock(h)) => {
            go(&LazyFencingSpec { ttl_ns: *ttl_ns, session: *session }, h, limits, names, lock(Some(*ttl_ns)))
        }
        (Model::CasRegister, History::Register(h)) => go(&CasRegisterSpec::default(), h, limits, names, register),
        (Model::Kv, History::Kv(h)) => go(&specs.kv, h, limits, names, kv),
        _ => Err(format!("model {} cannot check {} operations", model.name(), history.family().name())),
    }
}

fn report(
    result: &CheckResult,
    views: &[OpView],
    names: &BTreeMap<u64, String>,
    budgets: &Budgets,
    out: &mut dyn Write,
) -> i32 {
    match &result.verdict {
        Verdict::Linearizable => {
            let _ = writeln!(out, "linearizable ({} operations, {} partitions)", views.len(), result.partitions.len());
            EXIT_LINEARIZABLE
        }
        Verdict::Unknown => {
            let _ = writeln!(out, "{}", budgets.unknown(result.stats.limit, "before a verdict"));
            EXIT_UNKNOWN
        }
        Verdict::NotLinearizable(v) => {
            let _ = writeln!(out, "not linearizable: key '{}'", v.key);
            let _ = writeln!(out, "longest linearizable prefix ({} operations):", v.longest_prefix.len());
            let shown = 20;
            let skip = v.longest_prefix.len().saturating_sub(shown);
            if skip > 0 {
                let _ = writeln!(out, "  ... {skip} earlier operations");
            }
            for &i in &v.longest_prefix[skip..] {
                let _ = writeln!(out, "  {}", views[i].describe(i, names));
            }
            let _ = writeln!(out, "operations that could not be placed next:");
            for &i in &v.unplaced {
                let _ = writeln!(out, "  {}", views[i].describe(i, names));
            }
            EXIT_NOT_LINEARIZABLE
        }
    }
}
