//! The `locklab` command. Parsing is clap's; the work is in the library (`locklab::runner`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use locklab::{exit, render, runner};

/// Deterministic simulation and model checking of distributed lock protocols.
///
/// Exit codes: 0 every property holds; 1 a property is violated or a run is vacuous (with
/// --expect: an expectation is not met); 2 bad input or usage; 3 internal error.
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
    /// Judge runs by the scenarios' declared expectations instead of by the properties: exit 0
    /// when every expectation is met, 1 otherwise.
    #[arg(long)]
    expect: bool,
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
    }) {
        Ok(code) => code,
        Err(_) => {
            eprintln!("locklab: internal error (a bug); please report it with the command above");
            exit::INTERNAL
        }
    };
    ExitCode::from(code as u8)
}

/// Write to stdout; a reader that went away (`| head`) is not an error of ours.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("locklab: cannot write to stdout: {e}");
        }
    }
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
    let mut json_runs = Vec::new();
    let mut any_violated = false;
    let mut any_unmet = false;
    let started = Instant::now();
    let (mut events, mut messages, mut runs) = (0u64, 0u64, 0u64);
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
            let r = runner::run_one(compiled, v, seed, args.trace);
            runs += 1;
            events += r.stats.events;
            messages += r.stats.messages_delivered;
            any_violated |= r.report.violated() || r.report.vacuous;
            any_unmet |= !r.expectation.met;
            if args.json {
                let mut j = render::json(&r);
                if let Some(t) = &r.trace {
                    j["trace"] = serde_json::Value::String(t.clone());
                }
                json_runs.push(j);
            } else {
                if let Some(t) = &r.trace {
                    out(&format!("# trace: {}\n{t}", r.reproduce()));
                }
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
            "stats: {runs} runs, {events} events, {messages} messages delivered in {:.3} s: {:.0} runs/s, {:.2}M messages/s",
            secs,
            runs as f64 / secs,
            messages as f64 / secs / 1e6
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
    } else {
        exit::OK
    }
}
