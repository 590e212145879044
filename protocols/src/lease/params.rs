//! The `lease` and `replicated-lease` kinds' scenario keys, their defaults and their validation,
//! and how a variant builds its nodes.

use std::any::Any;

use serde::Deserialize;

use super::{ExpiryClock, LeaseClientParams, LeaseLock, LeaseServer, LeaseServerParams, ReleaseMode, ServerKind};
use super::{Persistence, TokenCounter};
use crate::library::{RetryMode, ValidityBasis};
use crate::node::{LockId, NodeId};
use crate::params::{ms_range, read, MsSpec, ParamError, Table};
use crate::registry::{persistence_toml, LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `lease`, in the order error messages list them.
pub const LEASE_KEYS: &[&str] = &[
    "ttl_ms",
    "expiry_clock",
    "persistence",
    "restart_delay_ms",
    "renew_ms",
    "acquire_retries",
    "safety_margin_ms",
    "heartbeat_timeout_ms",
    "acquire_timeout_ms",
    "retry_backoff_ms",
    "retry",
    "release",
    "validity",
    "check_validity_before_write",
    "tokens",
    "fencing",
    "token_counter",
    "initial_token",
    "lock_delay_ms",
    "server",
];

/// The keys of `replicated-lease`.
pub const REPLICATED_LEASE_KEYS: &[&str] = &[
    "ttl_ms",
    "expiry_clock",
    "persistence",
    "restart_delay_ms",
    "renew_ms",
    "acquire_retries",
    "safety_margin_ms",
    "heartbeat_timeout_ms",
    "acquire_timeout_ms",
    "retry_backoff_ms",
    "retry",
    "release",
    "validity",
    "check_validity_before_write",
    "tokens",
    "fencing",
    "token_counter",
    "replication_delay_ms",
    "failover_after_timeouts",
];

/// Every key either lease kind takes (the kind's own list says which apply).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    ttl_ms: Option<u64>,
    expiry_clock: Option<ExpiryClock>,
    persistence: Option<Persistence>,
    restart_delay_ms: Option<u64>,
    renew_ms: Option<u64>,
    acquire_retries: Option<u32>,
    safety_margin_ms: Option<u64>,
    heartbeat_timeout_ms: Option<u64>,
    acquire_timeout_ms: Option<u64>,
    retry_backoff_ms: Option<MsSpec>,
    retry: Option<RetryMode>,
    release: Option<ReleaseMode>,
    validity: Option<ValidityBasis>,
    check_validity_before_write: Option<bool>,
    tokens: Option<bool>,
    fencing: Option<bool>,
    token_counter: Option<TokenCounter>,
    initial_token: Option<u64>,
    lock_delay_ms: Option<u64>,
    server: Option<ServerKind>,
    replication_delay_ms: Option<u64>,
    failover_after_timeouts: Option<u32>,
}

/// A compiled `lease` or `replicated-lease` variant.
#[derive(Clone, Debug)]
pub struct LeaseVariant {
    pub server: LeaseServerParams,
    pub client: LeaseClientParams,
    /// `replicated-lease`: the first server is the primary and feeds the others; clients know
    /// every server and fail over.
    pub replicated: bool,
    pub fencing: bool,
    pub check_validity_before_write: bool,
}

/// The `lease` kind's variant from its `[[protocols]]` keys.
pub fn compile_lease(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    compile(table, false).map(|v| Box::new(v) as Box<dyn ProtocolBuild>)
}

/// The `replicated-lease` kind's variant from its `[[protocols]]` keys.
pub fn compile_replicated(table: &Table, servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    if servers < 2 {
        return Err(ParamError::at("kind", "a `replicated-lease` needs a primary and a replica: servers ≥ 2"));
    }
    compile(table, true).map(|v| Box::new(v) as Box<dyn ProtocolBuild>)
}

fn compile(table: &Table, replicated: bool) -> Result<LeaseVariant, ParamError> {
    let k: Keys = read(table)?;
    let ttl_ms = k.ttl_ms.unwrap_or(10_000);
    if ttl_ms == 0 {
        return Err(ParamError::at("ttl_ms", "must be greater than 0"));
    }
    if k.renew_ms == Some(0) {
        return Err(ParamError::at("renew_ms", "must be greater than 0 (leave it out for no heartbeat)"));
    }
    let fencing = k.fencing.unwrap_or(false);
    let tokens = k.tokens.unwrap_or(fencing);
    if fencing && !tokens {
        return Err(ParamError::at("tokens", "`fencing = true` needs the server to issue tokens (`tokens = true`)"));
    }
    let server_kind = k.server.unwrap_or(ServerKind::Redis);
    if server_kind == ServerKind::Redisson && k.retry == Some(RetryMode::Naive) {
        return Err(ParamError::at(
            "retry",
            "a `redisson` client keeps one value per client (`<UUID>:<thread id>`); `naive` draws new ones",
        ));
    }
    // Redlock's drift allowance (1% of the TTL plus 2 ms) makes a sensible default margin.
    let safety_margin_ms = k.safety_margin_ms.unwrap_or(ttl_ms / 100 + 2);
    if safety_margin_ms >= ttl_ms {
        return Err(ParamError::at("safety_margin_ms", format!("{safety_margin_ms} must be below ttl_ms ({ttl_ms})")));
    }
    let acquire_timeout_ms = k.acquire_timeout_ms.unwrap_or(200);
    if acquire_timeout_ms == 0 {
        return Err(ParamError::at("acquire_timeout_ms", "must be greater than 0"));
    }
    let retry_backoff = ms_range("retry_backoff_ms", k.retry_backoff_ms, (20, 100))?;
    let client = LeaseClientParams {
        ttl_ms,
        safety_margin_ms,
        renew_ms: k.renew_ms,
        heartbeat_timeout_ms: match k.heartbeat_timeout_ms {
            Some(0) => None,
            Some(t) => Some(t),
            None => Some(acquire_timeout_ms),
        },
        acquire_timeout_ms,
        acquire_retries: k.acquire_retries.unwrap_or(1000),
        retry_backoff,
        retry: k.retry.unwrap_or(RetryMode::Idempotent),
        release: k.release.unwrap_or(ReleaseMode::CompareAndDelete),
        validity: k.validity.unwrap_or(ValidityBasis::LocalDuration),
        failover_after_timeouts: k.failover_after_timeouts.unwrap_or(2).max(1),
        value_per_client: server_kind == ServerKind::Redisson,
    };
    let server = server_params(&ServerKeys {
        kind: server_kind,
        expiry_clock: k.expiry_clock,
        persistence: k.persistence,
        tokens,
        token_counter: k.token_counter,
        restart_delay_ms: k.restart_delay_ms,
        initial_token: k.initial_token,
        replication_delay_ms: k.replication_delay_ms,
        lock_delay_ms: k.lock_delay_ms,
    });
    Ok(LeaseVariant {
        server,
        client,
        replicated,
        fencing,
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

/// The lease server's keys, as any kind that runs lease servers gives them (Redlock's servers are
/// lease servers too).
#[derive(Clone, Copy, Debug)]
pub struct ServerKeys {
    pub kind: ServerKind,
    pub expiry_clock: Option<ExpiryClock>,
    pub persistence: Option<Persistence>,
    pub tokens: bool,
    pub token_counter: Option<TokenCounter>,
    pub restart_delay_ms: Option<u64>,
    pub initial_token: Option<u64>,
    pub replication_delay_ms: Option<u64>,
    pub lock_delay_ms: Option<u64>,
}

/// The lease server's parameters, with the defaults: wall-clock expiry, no persistence, a
/// durable token counter, no delayed restart.
pub fn server_params(k: &ServerKeys) -> LeaseServerParams {
    LeaseServerParams {
        kind: k.kind,
        expiry_clock: k.expiry_clock.unwrap_or(ExpiryClock::Wall),
        persistence: k.persistence.unwrap_or(Persistence::None),
        tokens: k.tokens,
        token_counter: k.token_counter.unwrap_or(TokenCounter::Durable),
        restart_delay_ms: k.restart_delay_ms.unwrap_or(0),
        initial_token: k.initial_token.unwrap_or(0),
        replicate_to: Vec::new(),
        replication_delay_ms: k.replication_delay_ms.unwrap_or(10),
        lock_delay_ms: k.lock_delay_ms.unwrap_or(0),
    }
}

impl ProtocolBuild for LeaseVariant {
    fn server(&self, servers: &[NodeId], index: usize) -> Server {
        let mut params = self.server.clone();
        // A replicated lease: the first server is the primary and feeds the others.
        if self.replicated && index == 0 {
            params.replicate_to = servers[1..].to_vec();
        }
        Server::LeaseServer(LeaseServer::new(params))
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        let servers = if self.replicated { servers.to_vec() } else { vec![servers[0]] };
        LockLibrary::Lease(LeaseLock::new(servers, lock, self.client.clone()))
    }
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.ttl_ms)
    }
    fn tokens(&self) -> bool {
        self.server.tokens
    }
    fn fencing(&self) -> bool {
        self.fencing
    }
    fn check_validity_before_write(&self) -> bool {
        self.check_validity_before_write
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks. Heartbeats every 2 ticks, below the TTL of 3 (as the
/// catalogue's lease family in #11 and #15: `ttl_ms = 3000`, `renew_ms = 1000`), each waiting
/// one tick for its reply; the server fsyncs every write, so that the standard configuration's
/// crash tests the client side, not a server that forgets.
pub const MODELS: &[ModelVariant] = &[
    lease_model("lease", false, false, false),
    lease_model("lease-checked", false, false, true),
    lease_model("lease-fenced", true, true, false),
];

/// * `lease`: no tokens, no fencing, and the worker writes without re-checking its lease (the
///   catalogue's `lease`, e.g. `scenarios/11-hung-heartbeat.toml`);
/// * `lease-checked`: the worker checks its lease's validity before each write, so that it does
///   not even *act* as holder once its lease ran out by its own clock; no fencing (#11);
/// * `lease-fenced`: fencing alone: the server issues tokens, the resource rejects a write with
///   an older token, and the worker does **not** check its lease before writing, so a paused
///   client does write after its lease ran out and only the fence stops it. Fencing protects the
///   resource, not the belief (#1).
const fn lease_model(name: &'static str, tokens: bool, fencing: bool, checked: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens,
        fencing,
        check_validity_before_write: checked,
        default_servers: 1,
        default_persistence: Persistence::Always,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause,drop,crash",
        note: "",
        params: lease_model_params,
    }
}

fn lease_model_params(v: &ModelVariant, t: &ModelTiming, persistence: Persistence) -> Vec<(&'static str, String)> {
    let quoted = |s: &str| format!("\"{s}\"");
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("renew_ms", t.ms(t.renew_ticks)),
        ("heartbeat_timeout_ms", t.ms(1)),
        ("safety_margin_ms", "0".into()),
        ("acquire_timeout_ms", t.ms(1)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("retry_backoff_ms", t.ms(1)),
        ("retry", quoted("idempotent")),
        ("release", quoted("compare_and_delete")),
        ("validity", quoted("local_duration")),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
        ("tokens", v.tokens.to_string()),
        ("fencing", v.fencing.to_string()),
        ("token_counter", quoted("durable")),
        ("expiry_clock", quoted("wall")),
        ("persistence", persistence_toml(persistence)),
        ("restart_delay_ms", "0".into()),
    ]
}
