//! One live run of a (scenario, variant, seed), judged by the same checkers as a simulated run.

use std::sync::Arc;

use locklab_checkers::{check, Outcome, Report, RunInfo};
use locklab_sim::Compiled;

use crate::backend::{Backend, LiveError};
use crate::host::{run_tokio, LiveOutcome};

/// Where the server role runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// locklab's own server nodes, live on tokio.
    Locklab,
    /// Real `redis-server` processes (lease and Redlock families).
    Redis,
    /// A real etcd cluster (the Raft family).
    Etcd,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Locklab => "locklab",
            Target::Redis => "redis",
            Target::Etcd => "etcd",
        }
    }
}

/// Judge a live run's history with the simulator's checkers. When the live machinery failed
/// (`outcome.errors`), every property is `unknown`: never a pass, never a violation.
pub fn judge(compiled: &Compiled, variant: usize, outcome: &LiveOutcome) -> Report {
    let v = &compiled.variants[variant];
    let info = RunInfo {
        names: &compiled.names,
        clients: &compiled.clients,
        end_ns: outcome.end_ns,
        messages_delivered: outcome.messages_delivered,
        ttl_ms: v.ttl_ms(),
        lazy_expiry: v.lazy_expiry(),
    };
    let mut report = check(&outcome.history, &info);
    if !outcome.errors.is_empty() {
        let why = format!("unknown: the live run failed: {}", outcome.errors.join("; "));
        for p in &mut report.properties {
            p.outcome = Outcome::Unknown;
            p.summary = why.clone();
            p.violation = None;
        }
        report.vacuous = false;
    }
    report
}

/// Run variant `variant` of `compiled` live on a fresh tokio runtime (current thread), with the
/// server role played by `backend` (None: locklab's own nodes). `scale`: real seconds per scenario
/// second.
pub fn run_locklab(
    compiled: &Compiled,
    variant: usize,
    seed: u64,
    scale: f64,
    backend: Option<Arc<dyn Backend>>,
) -> Result<(LiveOutcome, Report), LiveError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let scratch = crate::procs::Scratch::new()?;
    let spec = compiled.world_spec(variant, seed, false);
    let outcome = rt.block_on(async {
        crate::procs::install_interrupt_cleanup();
        run_tokio(spec, &compiled.servers, backend, scale, scratch.path()).await
    })?;
    let report = judge(compiled, variant, &outcome);
    Ok((outcome, report))
}

/// Run variant `variant` of `compiled` under turmoil (seeded).
pub fn run_turmoil(compiled: &Compiled, variant: usize, seed: u64) -> Result<(LiveOutcome, Report), LiveError> {
    let spec = compiled.world_spec(variant, seed, false);
    let outcome = crate::turmoil_host::run_turmoil(spec).map_err(LiveError)?;
    let report = judge(compiled, variant, &outcome);
    Ok((outcome, report))
}
