//! The `consul` kind's scenario keys, their defaults and validation (Consul's own bounds), how a
//! variant builds its servers and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::{Behavior, ConsulClientParams, ConsulLock, ConsulServer, ConsulServerParams, TokenSource};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{ms_range, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `consul`, in the order error messages list them.
pub const CONSUL_KEYS: &[&str] = &[
    "ttl_ms",
    "lock_delay_ms",
    "session_behavior",
    "session_checks",
    "serf_probe_ms",
    "serf_detect_ms",
    "consul_token",
    "renew_ms",
    "raft_heartbeat_ms",
    "election_timeout_ms",
    "acquire_timeout_ms",
    "acquire_retries",
    "retry_backoff_ms",
    "fencing",
    "check_validity_before_write",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// The session's TTL (`api/lock.go`'s `DefaultLockSessionTTL`: 15 s; Consul: 10 s – 86 400 s).
    pub ttl_ms: Option<u64>,
    /// The session's lock-delay (default 15 s, at most 60 s; 0 disables it).
    pub lock_delay_ms: Option<u64>,
    /// What invalidation does to the session's keys: `release` (default) or `delete`.
    pub session_behavior: Option<Behavior>,
    /// The session is tied to the node's `serfHealth` check (default) or to none (TTL only).
    pub session_checks: Option<bool>,
    /// How often the leader probes each node (memberlist's `ProbeInterval`, 1 s).
    pub serf_probe_ms: Option<u64>,
    /// A node silent this long is declared failed (5 s).
    pub serf_detect_ms: Option<u64>,
    /// The fencing token: `lock_index` (default) or `modify_index`.
    pub consul_token: Option<TokenSource>,
    /// `RenewPeriodic`'s period (TTL / 2).
    pub renew_ms: Option<u64>,
    /// The leader's heartbeat to the other servers (200 ms).
    pub raft_heartbeat_ms: Option<u64>,
    /// Succession: a follower suspects a silent leader after this long (1 s, fixed).
    pub election_timeout_ms: Option<MsSpec>,
    /// A non-blocking call's timeout before the next server is tried (1 s).
    pub acquire_timeout_ms: Option<u64>,
    /// Errors an acquire call rides out before `Lock()` fails (3).
    pub acquire_retries: Option<u32>,
    /// The wait after `No cluster leader` (200–400 ms).
    pub retry_backoff_ms: Option<MsSpec>,
    /// The resource checks the token.
    pub fencing: Option<bool>,
    /// The worker asks the library (its monitor's view) before each write.
    pub check_validity_before_write: Option<bool>,
}

/// A compiled `consul` variant: the servers' parameters (server list filled per world), the
/// library's, and the worker's and resource's switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsulVariant {
    pub server: ConsulServerParams,
    pub client: ConsulClientParams,
    pub fencing: bool,
    pub check_validity_before_write: bool,
}

/// The `consul` kind's variant from its `[[protocols]]` keys.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let keys: Keys = read(table)?;
    Ok(Box::new(resolve(&keys)?))
}

/// Fill in the defaults and validate; an error names the offending key.
pub fn resolve(k: &Keys) -> Result<ConsulVariant, ParamError> {
    let ttl_ms = k.ttl_ms.unwrap_or(15_000);
    let lock_delay_ms = k.lock_delay_ms.unwrap_or(15_000);
    // `/v1/session/create`: "TTL … between 10s and 86400s"; lock-delay "0–60s".
    if !(10_000..=86_400_000).contains(&ttl_ms) {
        return Err(ParamError::at("ttl_ms", format!("{ttl_ms} is outside Consul's 10 s – 86 400 s")));
    }
    if lock_delay_ms > 60_000 {
        return Err(ParamError::at("lock_delay_ms", format!("{lock_delay_ms} is above Consul's 60 s")));
    }
    let renew_ms = k.renew_ms.unwrap_or(ttl_ms / 2);
    let heartbeat_ms = k.raft_heartbeat_ms.unwrap_or(200);
    let election_timeout_ms = match k.election_timeout_ms {
        None => 1_000,
        Some(MsSpec::Fixed(v)) => v,
        Some(MsSpec::Range(_)) => {
            return Err(ParamError::at("election_timeout_ms", "a `consul` succession uses one fixed timeout"))
        }
    };
    let serf_detect_ms = k.serf_detect_ms.unwrap_or(5_000);
    let serf_probe_ms = k.serf_probe_ms.unwrap_or(1_000);
    let call_timeout_ms = k.acquire_timeout_ms.unwrap_or(1_000);
    for (key, value) in [
        ("renew_ms", renew_ms),
        ("raft_heartbeat_ms", heartbeat_ms),
        ("election_timeout_ms", election_timeout_ms),
        ("serf_detect_ms", serf_detect_ms),
        ("serf_probe_ms", serf_probe_ms),
        ("acquire_timeout_ms", call_timeout_ms),
    ] {
        if value == 0 {
            return Err(ParamError::at(key, "must be greater than 0"));
        }
    }
    if renew_ms >= ttl_ms {
        return Err(ParamError::at("renew_ms", format!("{renew_ms} must be below ttl_ms ({ttl_ms})")));
    }
    if heartbeat_ms >= election_timeout_ms {
        return Err(ParamError::at(
            "raft_heartbeat_ms",
            format!("{heartbeat_ms} must be below election_timeout_ms ({election_timeout_ms})"),
        ));
    }
    let retry_backoff = ms_range("retry_backoff_ms", k.retry_backoff_ms, (200, 400))?;
    let token = k.consul_token.unwrap_or_default();
    Ok(ConsulVariant {
        server: ConsulServerParams {
            servers: Vec::new(),
            heartbeat_ms,
            election_timeout_ms,
            serf_probe_ms,
            serf_detect_ms,
            token,
        },
        client: ConsulClientParams {
            ttl_ms,
            lock_delay_ms,
            behavior: k.session_behavior.unwrap_or_default(),
            checks: k.session_checks.unwrap_or(true),
            token,
            renew_ms,
            call_timeout_ms,
            acquire_retries: k.acquire_retries.unwrap_or(3),
            retry_backoff,
        },
        fencing: k.fencing.unwrap_or(false),
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

impl ConsulVariant {
    /// A server of `servers` (all of them, in succession order).
    pub fn consul_server(&self, servers: &[NodeId]) -> ConsulServer {
        let mut params = self.server.clone();
        params.servers = servers.to_vec();
        ConsulServer::new(params)
    }

    /// Client `client_index`'s library: it calls server `client_index mod n` first.
    pub fn consul_library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> ConsulLock {
        ConsulLock::new(servers.to_vec(), client_index, lock, self.client.clone())
    }
}

impl ProtocolBuild for ConsulVariant {
    fn server(&self, servers: &[NodeId], _index: usize) -> Server {
        Server::ConsulServer(Box::new(self.consul_server(servers)))
    }
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Consul(self.consul_library(servers, client_index, lock))
    }
    /// The session's TTL: a lower bound (the registry marks the kind's expiry lazy).
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.ttl_ms)
    }
    /// Every acquire returns `LockIndex` (and `ModifyIndex`): grants carry tokens.
    fn tokens(&self) -> bool {
        true
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

/// The variants `locklab check` model-checks: the catalogue's `consul` and `consul-fenced`.
pub const MODELS: &[ModelVariant] = &[consul_model("consul", false), consul_model("consul-fenced", true)];

/// One server (a valid `bootstrap_expect = 1` cluster): the leader's own work — TTL timers at
/// 2 × TTL, Serf probes, the lock-delay check, blocking queries — without the replication, whose
/// interleavings would multiply the space as Raft's do. Fault-free: with one pause the space
/// does not exhaust within 60 s and 2 GB (`models/README.md`, "Consul").
const CONSUL_NOTE: &str = "a single fault does not exhaust within 60 s and 2 GB (models/README.md, \"Consul\"); \
                           `--faults pause` finds the two-believers counterexample in a bounded search";

const fn consul_model(name: &'static str, fencing: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: true,
        fencing,
        check_validity_before_write: false,
        default_servers: 1,
        default_persistence: Persistence::None,
        // Consul rejects a TTL below 10 s: a tick of 5 s makes it 2 ticks (reaped at 4).
        timing: ModelTiming {
            tick_ms: 5000,
            ttl_ticks: 2,
            renew_ticks: 1,
            heartbeat_ticks: 1,
            election_ticks: 2,
            clock_jump_ms: 10_000,
            horizon_ticks: 8,
            ..ModelTiming::DEFAULT
        },
        standard_faults: "none",
        note: CONSUL_NOTE,
        params: consul_model_params,
    }
}

/// Renewal every tick (TTL / 2, as `RenewPeriodic`); lock-delay, Serf's probe and its detection
/// one tick each.
fn consul_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    let quoted = |s: &str| format!("\"{s}\"");
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("renew_ms", t.ms(t.renew_ticks)),
        ("lock_delay_ms", t.ms(1)),
        ("session_behavior", quoted("release")),
        ("session_checks", "true".into()),
        ("serf_probe_ms", t.ms(1)),
        ("serf_detect_ms", t.ms(1)),
        ("consul_token", quoted("lock_index")),
        ("raft_heartbeat_ms", t.ms(t.heartbeat_ticks)),
        ("election_timeout_ms", t.ms(t.election_ticks)),
        ("acquire_timeout_ms", t.ms(1)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("retry_backoff_ms", t.ms(1)),
        ("fencing", v.fencing.to_string()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
    ]
}
