//! `locklab shrink`: reduce a violating run to a minimal concrete scenario.
//!
//! Given a scenario, a seed and a variant whose run violates a property, `shrink` first writes
//! the run down concretely — the faults its `[[nemesis]]` generators drew for that seed become
//! `[[faults]]` entries, the generators go, and only that variant stays — and checks that the
//! concrete file still violates the property with the same seed (the network, clock and workload
//! draws come from their own streams, which the rewrite leaves alone). Then it shrinks greedily,
//! keeping each step only if the property is still violated: drop faults one at a time (until no
//! single fault can go), shorten each remaining fault's duration (halving, then a binary search),
//! drop clients from the last, and end the run earlier (a binary search on `duration_ms`). The
//! result is written as a scenario file that `locklab run FILE --seed N` replays; the sizes before
//! and after are printed. Each candidate is one run, within `--max-runs`; when the budget runs out
//! the file written is the smallest found so far, and the report says so.

use std::path::PathBuf;

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The scenario file (typically one with `[[nemesis]]` generators).
    pub file: PathBuf,
    /// The seed whose run violates the property.
    #[arg(long)]
    pub seed: u64,
    /// The protocol variant.
    #[arg(long)]
    pub protocol: String,
    /// The property to keep violated (default: the first one the run violates).
    #[arg(long)]
    pub property: Option<String>,
    /// Where to write the shrunk scenario (default: `<file stem>.shrunk.toml` here).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Most candidate runs to try.
    #[arg(long, default_value_t = 1000)]
    pub max_runs: u64,
    /// Event budget per run.
    #[arg(long, default_value_t = locklab_sim::world::DEFAULT_MAX_EVENTS)]
    pub max_events: u64,
}

/// The size of a scenario, as `shrink` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Size {
    faults: usize,
    fault_ms: u64,
    clients: i64,
    duration_ms: i64,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} faults ({} ms of faults), {} clients, {} ms",
            self.faults, self.fault_ms, self.clients, self.duration_ms
        )
    }
}

fn size(doc: &toml::Table) -> Size {
    let faults = doc.get("faults").and_then(|f| f.as_array()).cloned().unwrap_or_default();
    let fault_ms = faults.iter().filter_map(|f| f.get("duration_ms").and_then(|d| d.as_integer())).sum::<i64>();
    Size {
        faults: faults.len(),
        fault_ms: fault_ms.max(0) as u64,
        clients: doc.get("topology").and_then(|t| t.get("clients")).and_then(|c| c.as_integer()).unwrap_or(1),
        duration_ms: doc.get("scenario").and_then(|s| s.get("duration_ms")).and_then(|d| d.as_integer()).unwrap_or(0),
    }
}

struct Shrinker<'a> {
    args: &'a ShrinkArgs,
    property: String,
    runs: u64,
}

impl Shrinker<'_> {
    /// Does `doc`, run with the seed, still violate the property? `None` when the budget is spent.
    fn violates(&mut self, doc: &toml::Table) -> Option<bool> {
        if self.runs >= self.args.max_runs {
            return None;
        }
        self.runs += 1;
        let Ok(text) = toml::to_string(doc) else { return Some(false) };
        let name = "<shrink candidate>";
        let Ok(compiled) = locklab_sim::parse(name, &text).and_then(|s| locklab_sim::compile(name, &text, s)) else {
            return Some(false);
        };
        let r = crate::runner::run_with(&compiled, 0, self.args.seed, crate::runner::Trace::Off, self.args.max_events);
        Some(r.report.get(&self.property).is_some_and(|p| p.outcome.as_str() == "violated"))
    }

    /// Try `candidate`; keep it in `doc` when it still violates. `None`: out of budget.
    fn attempt(&mut self, doc: &mut toml::Table, candidate: toml::Table) -> Option<bool> {
        let keep = self.violates(&candidate)?;
        if keep {
            *doc = candidate;
        }
        Some(keep)
    }
}

fn faults_mut(doc: &mut toml::Table) -> &mut Vec<toml::Value> {
    doc.entry("faults").or_insert_with(|| toml::Value::Array(Vec::new())).as_array_mut().expect("faults is a list")
}

/// `locklab shrink`.
pub fn shrink(args: &ShrinkArgs) -> i32 {
    match run(args) {
        Ok(o) => {
            println!("property:  {} (seed {}, {})", o.property, args.seed, args.protocol);
            println!("before:    {}", o.before);
            println!("after:     {}", o.after);
            println!("runs:      {}{}", o.runs, if o.complete { "" } else { " (budget spent: smallest found so far)" });
            println!("wrote:     {}", o.out.display());
            println!("replay:    locklab run {} --seed {}", o.out.display(), args.seed);
            exit::OK
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            code
        }
    }
}

/// What one shrink found.
pub struct Shrunk {
    pub property: String,
    before: Size,
    after: Size,
    pub runs: u64,
    pub complete: bool,
    pub out: PathBuf,
}

impl Shrunk {
    /// "before → after", as `shrink` reports the sizes.
    pub fn sizes(&self) -> String {
        format!("{} → {}", self.before, self.after)
    }
}

/// Shrink (see the module docs); the file written and the sizes, or an exit code and message.
pub fn run(args: &ShrinkArgs) -> Result<Shrunk, (i32, String)> {
    let bad = |m: String| (exit::BAD_INPUT, m);
    let file = args.file.display().to_string();
    let compiled = locklab_sim::load_compiled(&args.file).map_err(|e| bad(e.to_string()))?;
    let source = std::fs::read_to_string(&args.file).map_err(|e| bad(format!("{file}: {e}")))?;
    let Some(variant) = compiled.variant(&args.protocol) else {
        let names: Vec<&str> = compiled.variants.iter().map(|v| v.name.as_str()).collect();
        return Err(bad(format!("--protocol {}: no such variant; this file's: {}", args.protocol, names.join(", "))));
    };
    let first = crate::runner::run_with(&compiled, variant, args.seed, crate::runner::Trace::Off, args.max_events);
    let violated: Vec<&str> =
        first.report.properties.iter().filter(|p| p.outcome.as_str() == "violated").map(|p| p.property).collect();
    let property = match &args.property {
        Some(p) if violated.contains(&p.as_str()) => p.clone(),
        Some(p) => {
            return Err(bad(format!(
                "seed {} of `{}` does not violate `{p}` (it violates: {})",
                args.seed,
                args.protocol,
                if violated.is_empty() { "nothing".to_string() } else { violated.join(", ") }
            )))
        }
        None => match violated.first() {
            Some(p) => p.to_string(),
            None => {
                return Err(bad(format!(
                    "seed {} of `{}` violates no property: nothing to shrink",
                    args.seed, args.protocol
                )))
            }
        },
    };

    // The run written down concretely: drawn faults as [[faults]], one variant, no expectations.
    let mut original: toml::Table = source.parse().map_err(|e| bad(format!("{file}: {e}")))?;
    let before = {
        let mut d = original.clone();
        let drawn = compiled.drawn_faults(args.seed);
        faults_mut(&mut d).extend(drawn.iter().map(|f| toml::Value::Table(f.to_toml(&compiled.names))));
        size(&d)
    };
    original.remove("nemesis");
    let drawn = compiled.drawn_faults(args.seed);
    faults_mut(&mut original).extend(drawn.iter().map(|f| toml::Value::Table(f.to_toml(&compiled.names))));
    if let Some(toml::Value::Array(ps)) = original.get_mut("protocols") {
        ps.retain(|p| p.get("name").and_then(|n| n.as_str()) == Some(args.protocol.as_str()));
        for p in ps.iter_mut() {
            if let toml::Value::Table(t) = p {
                t.remove("expect");
            }
        }
    }
    let mut s = Shrinker { args, property: property.clone(), runs: 0 };
    let mut doc = original.clone();
    match s.violates(&doc) {
        Some(true) => {}
        _ => {
            return Err((
                exit::INTERNAL,
                format!(
                "the concrete rewrite of seed {} (its {} drawn faults as [[faults]]) no longer violates `{property}`",
                args.seed,
                drawn.len()
            ),
            ))
        }
    }
    let complete = shrink_passes(&mut s, &mut doc).is_some();

    // Name it, say where it came from, and check the written file replays the violation.
    if let Some(toml::Value::Table(meta)) = doc.get_mut("scenario") {
        let name = meta.get("name").and_then(|n| n.as_str()).unwrap_or("scenario").to_string();
        meta.insert("name".into(), toml::Value::String(format!("{name}-shrunk")));
        meta.insert("seed".into(), toml::Value::Integer(args.seed as i64));
    }
    let after = size(&doc);
    let header = format!(
        "# Shrunk by `locklab shrink {file} --seed {} --protocol {}`: the smallest scenario found{} that still\n\
         # violates `{property}` with seed {} ({} candidate runs). Before: {before}. After: {after}.\n\
         # Replay: locklab run THIS_FILE --seed {}\n\n",
        args.seed,
        args.protocol,
        if complete { "" } else { " within --max-runs" },
        args.seed,
        s.runs,
        args.seed
    );
    let text = header + &toml::to_string(&doc).map_err(|e| (exit::INTERNAL, e.to_string()))?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.shrunk.toml",
            args.file.file_stem().map_or("scenario".into(), |s| s.to_string_lossy())
        ))
    });
    std::fs::write(&out, &text).map_err(|e| (exit::OUTPUT, format!("{}: cannot write: {e}", out.display())))?;
    let replay = locklab_sim::load_compiled(&out).map_err(|e| (exit::INTERNAL, e.to_string()))?;
    let r = crate::runner::run_with(&replay, 0, args.seed, crate::runner::Trace::Off, args.max_events);
    if r.report.get(&property).is_none_or(|p| p.outcome.as_str() != "violated") {
        return Err((exit::INTERNAL, format!("{}: the written file does not replay the violation", out.display())));
    }
    Ok(Shrunk { property, before, after, runs: s.runs, complete, out })
}

/// The greedy passes; `None` when the run budget ran out.
fn shrink_passes(s: &mut Shrinker, doc: &mut toml::Table) -> Option<()> {
    // 1. Fewer faults: drop any single one that is not needed, until none can go.
    loop {
        let mut changed = false;
        let n = doc.get("faults").and_then(|f| f.as_array()).map_or(0, |f| f.len());
        for i in (0..n).rev() {
            let mut c = doc.clone();
            faults_mut(&mut c).remove(i);
            if s.attempt(doc, c)? {
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // 2. Shorter faults: halve while it still violates, then binary-search the boundary.
    let n = doc.get("faults").and_then(|f| f.as_array()).map_or(0, |f| f.len());
    for i in 0..n {
        let get = |d: &toml::Table| faults_get(d, i, "duration_ms");
        let Some(mut hi) = get(doc) else { continue };
        let mut lo = 0;
        while hi > 1 {
            let mid = lo + (hi - lo) / 2;
            if mid == hi {
                break;
            }
            let mut c = doc.clone();
            faults_set(&mut c, i, "duration_ms", mid);
            if s.attempt(doc, c)? {
                hi = mid;
            } else {
                lo = mid + 1;
                if lo >= hi {
                    break;
                }
            }
        }
    }
    // 3. Fewer clients: drop the last client while nothing names it.
    loop {
        let clients = doc.get("topology").and_then(|t| t.get("clients")).and_then(|c| c.as_integer()).unwrap_or(1);
        if clients <= 1 {
            break;
        }
        let last = format!("c{clients}");
        let text =
            toml::to_string(&doc.get("faults").cloned().unwrap_or(toml::Value::Array(Vec::new()))).unwrap_or_default();
        let named_elsewhere = text.contains(&format!("\"{last}\""))
            || toml::to_string(&doc.get("network").cloned().unwrap_or(toml::Value::Boolean(false)))
                .unwrap_or_default()
                .contains(&format!("\"{last}\""))
            || toml::to_string(&doc.get("clocks").cloned().unwrap_or(toml::Value::Boolean(false)))
                .unwrap_or_default()
                .contains(&format!("\"{last}\""));
        if named_elsewhere {
            break;
        }
        let mut c = doc.clone();
        if let Some(toml::Value::Table(t)) = c.get_mut("topology") {
            t.insert("clients".into(), toml::Value::Integer(clients - 1));
        }
        if let Some(toml::Value::Table(w)) = c.get_mut("workload") {
            if let Some(toml::Value::Array(starts)) = w.get_mut("client_start_ms") {
                starts.pop();
            }
        }
        if !s.attempt(doc, c)? {
            break;
        }
    }
    // 4. An earlier end: binary-search the shortest duration that still violates.
    let mut hi = doc.get("scenario").and_then(|m| m.get("duration_ms")).and_then(|d| d.as_integer()).unwrap_or(1);
    let mut lo = 1;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let mut c = doc.clone();
        if let Some(toml::Value::Table(m)) = c.get_mut("scenario") {
            m.insert("duration_ms".into(), toml::Value::Integer(mid));
        }
        if s.attempt(doc, c)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(())
}

fn faults_get(doc: &toml::Table, i: usize, key: &str) -> Option<i64> {
    doc.get("faults")?.as_array()?.get(i)?.get(key)?.as_integer()
}

fn faults_set(doc: &mut toml::Table, i: usize, key: &str, value: i64) {
    if let Some(toml::Value::Table(t)) = faults_mut(doc).get_mut(i) {
        t.insert(key.into(), toml::Value::Integer(value));
    }
}
