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
        session_lease: v.session_lease(),
        mutex_comparison: true,
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

/// Run variant `variant` of `compiled` under turmoil (seeded).
pub fn run_turmoil(compiled: &Compiled, variant: usize, seed: u64) -> Result<(LiveOutcome, Report), LiveError> {
    let spec = compiled.world_spec(variant, seed, false);
    let outcome = crate::turmoil_host::run_turmoil(spec).map_err(LiveError)?;
    let report = judge(compiled, variant, &outcome);
    Ok((outcome, report))
}

/// The lease servers' parameters of a `lease`, `replicated-lease` or `redlock` variant (what Redis
/// runs), as their folders resolved them.
fn lease_server(v: &locklab_sim::Variant) -> Option<&locklab_protocols::lease::LeaseServerParams> {
    use locklab_protocols::lease::LeaseVariant;
    use locklab_protocols::registry::RedlockVariant;
    v.params::<LeaseVariant>().map(|l| &l.server).or_else(|| v.params::<RedlockVariant>().map(|r| &r.server))
}

/// Does `target` have a mapping for variant kind `kind` at all (Redis: lease and Redlock; etcd:
/// Raft; locklab: every kind)?
pub fn maps_kind(target: Target, kind: &str) -> bool {
    match target {
        Target::Locklab => true,
        Target::Redis => matches!(kind, "lease" | "redlock"),
        Target::Etcd => kind == "raft",
    }
}

/// Can variant `variant` of `compiled` run live on `target`? `Err` names why not (a reason a
/// report prints, never a silent skip).
pub fn support(compiled: &Compiled, variant: usize, target: Target) -> Result<(), String> {
    use locklab_protocols::lease::ServerKind;
    let v = &compiled.variants[variant];
    let server_names: Vec<&str> = compiled.servers.iter().map(|&s| compiled.names[s].as_str()).collect();
    let on_server =
        |n: &Option<toml::Spanned<String>>| n.as_ref().is_some_and(|n| server_names.contains(&n.get_ref().as_str()));
    match target {
        Target::Locklab => return Ok(()),
        Target::Redis => {
            if !matches!(v.kind.as_str(), "lease" | "redlock") {
                return Err(format!("kind `{}` has no Redis mapping (redis runs the lease and redlock kinds)", v.kind));
            }
            let Some(server) = lease_server(v) else {
                return Err(format!("kind `{}` runs no lease servers", v.kind));
            };
            if server.kind == ServerKind::Redisson {
                return Err("Redisson's reentrant scripts are not mapped onto redis-server".into());
            }
            if server.lock_delay_ms > 0 {
                return Err("lock-delay (Chubby's and Consul's) is not a Redis feature".into());
            }
        }
        Target::Etcd => {
            if v.kind != "raft" {
                return Err(format!("kind `{}` has no etcd mapping (etcd runs the raft kind)", v.kind));
            }
        }
    }
    let s = &compiled.scenario;
    for f in &s.faults {
        let kind = f.kind.get_ref().as_str();
        if kind == "partition" {
            let mut named: Vec<String> = Vec::new();
            for g in f.groups.iter().flatten() {
                named.extend(g.iter().map(|n| n.get_ref().clone()));
            }
            for n in f.from.iter().chain(f.to.iter()).flatten() {
                named.push(n.get_ref().clone());
            }
            let servers_named = named.iter().filter(|n| server_names.contains(&n.as_str())).count();
            let between_servers = f.groups.as_ref().is_some_and(|gs| {
                gs.iter().filter(|g| g.iter().any(|n| server_names.contains(&n.get_ref().as_str()))).count() > 1
            }) || (f.from.iter().flatten().any(|n| server_names.contains(&n.get_ref().as_str()))
                && f.to.iter().flatten().any(|n| server_names.contains(&n.get_ref().as_str())));
            if between_servers && servers_named > 0 {
                return Err("a partition between servers: the real servers talk to each other directly, not through locklab's proxy".into());
            }
        }
        if kind == "clock_jump" && on_server(&f.node) && target == Target::Etcd {
            return Err(
                "a wall-clock jump on an etcd member: etcd's leases run on its monotonic clock (not modelled live)"
                    .into(),
            );
        }
    }
    for spec in &s.clocks.nodes {
        let node = spec.node.get_ref();
        if server_names.contains(&node.as_str()) && spec.drift_ppm.is_some_and(|d| d != 0) {
            return Err(format!(
                "clock drift on server {node}: a real process's clock rate cannot be changed (libfaketime's rate factor is not used)"
            ));
        }
    }
    Ok(())
}

/// Where a live run on `target` necessarily differs from the scenario as written (printed
/// beside its verdicts): a real process keeps its own clock rate.
pub fn deviations(compiled: &Compiled, target: Target) -> Vec<String> {
    let mut notes = Vec::new();
    if target != Target::Locklab && compiled.scenario.clocks.drift_ppm_max > 0 {
        notes.push(format!(
            "the real servers run at the machine's clock rate ([clocks] drift_ppm_max = {} applies to locklab's nodes only)",
            compiled.scenario.clocks.drift_ppm_max
        ));
    }
    if target == Target::Etcd {
        notes.push("played in real time (etcd's lease TTLs are whole seconds)".into());
        let s = &compiled.scenario.clocks;
        let server_offset = s.nodes.iter().any(|n| {
            compiled.servers.iter().any(|&id| compiled.names[id] == *n.node.get_ref())
                && n.offset_ms.is_some_and(|o| o != 0)
        });
        if s.offset_ms_max > 0 || server_offset {
            notes.push(
                "etcd members keep the machine's wall clock: libfaketime cannot reach Go's clock reads (vDSO); \
                 etcd's leases run on its monotonic clock anyway"
                    .into(),
            );
        }
    }
    notes
}

/// Where the real servers' binaries are (None: found on the PATH).
#[derive(Clone, Debug, Default)]
pub struct Binaries {
    pub redis_server: Option<std::path::PathBuf>,
    pub etcd: Option<std::path::PathBuf>,
}

/// Start the real servers for `target` (None for locklab's own nodes). `server_offsets_ns`: each
/// server's initial wall-clock offset in this seed's world (scenario ns).
async fn start_backend(
    target: Target,
    compiled: &Compiled,
    variant: usize,
    scale: f64,
    bins: &Binaries,
    server_offsets_ns: Vec<i64>,
) -> Result<Option<Arc<dyn Backend>>, LiveError> {
    let v = &compiled.variants[variant];
    match target {
        Target::Locklab => Ok(None),
        Target::Redis => {
            let server =
                lease_server(v).ok_or_else(|| LiveError(format!("kind `{}` runs no lease servers", v.kind)))?;
            let mut opts = crate::redis::RedisOptions::new(compiled.servers.len(), server.clone(), scale);
            opts.binary = bins.redis_server.clone();
            opts.clock_offsets_ns = server_offsets_ns;
            let b: Arc<dyn Backend> = crate::redis::RedisBackend::start(opts).await?;
            Ok(Some(b))
        }
        Target::Etcd => {
            let opts = crate::etcd::EtcdOptions { bin: bins.etcd.clone(), ..Default::default() };
            let b: Arc<dyn Backend> = crate::etcd::EtcdBackend::start(compiled.servers.len(), opts).await?;
            Ok(Some(b))
        }
    }
}

/// Play one live run of variant `variant` of `compiled` with `seed` on `target`, at `scale` real
/// seconds per scenario second, on a fresh single-threaded tokio runtime. Every server process
/// started for it is stopped, and every temporary directory removed, before this returns. Returns
/// the run's outcome, which [`judge`] checks, and the server role as reports print it ("locklab",
/// "redis-server 7.0.15", "etcd 3.4.23").
pub fn play_live(
    compiled: &Compiled,
    variant: usize,
    seed: u64,
    target: Target,
    scale: f64,
    bins: &Binaries,
) -> Result<(LiveOutcome, String), LiveError> {
    support(compiled, variant, target).map_err(LiveError)?;
    // etcd grants lease TTLs in whole real seconds, at least 1.5 election timeouts (2 s by
    // default): a scenario's TTL shrunk below that would be raised, changing the scenario. Raft
    // scenarios run on etcd in real time.
    let scale = if target == Target::Etcd { scale.max(1.0) } else { scale };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let scratch = crate::procs::Scratch::new()?;
    let spec = compiled.world_spec(variant, seed, false);
    crate::procs::install_interrupt_cleanup();
    let (outcome, server) = rt.block_on(async {
        let offsets = compiled.servers.iter().map(|&s| spec.nodes[s].2.wall_offset_ns).collect();
        let backend = start_backend(target, compiled, variant, scale, bins, offsets).await?;
        let server = backend.as_ref().map_or_else(|| "locklab".to_string(), |b| b.describe());
        let result = run_tokio(spec, &compiled.servers, backend.clone(), scale, scratch.path()).await;
        if let Some(b) = backend {
            b.shutdown().await;
        }
        Ok::<_, LiveError>((result?, server))
    })?;
    Ok((outcome, server))
}
