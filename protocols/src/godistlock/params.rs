//! The `godistlock` kind's scenario keys, their defaults and their validation, how a variant builds
//! its servers and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::client::{GoDistLockClient, GoDistLockClientParams};
use super::server::{GoDistLockParams, GoDistLockServer, WAIT_TIMEOUT_MS};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `godistlock`, in the order error messages list them.
pub const GODISTLOCK_KEYS: &[&str] = &[
    "ttl_ms",
    "acquire_timeout_ms",
    "acquire_retries",
    "retry_backoff_ms",
    "server_timeout_ms",
    "check_validity_before_write",
    "fencing",
    "godistlock_uptime_ms",
    "godistlock_fixed",
    "godistlock_nil_panic",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// The `<timeout>` of `ON`.
    ttl_ms: Option<u64>,
    acquire_timeout_ms: Option<u64>,
    acquire_retries: Option<u32>,
    retry_backoff_ms: Option<MsSpec>,
    /// `WAIT_TIMEOUT`.
    server_timeout_ms: Option<u64>,
    check_validity_before_write: Option<bool>,
    fencing: Option<bool>,
    /// Each server's monotonic clock reading at the start (its uptime), in order.
    godistlock_uptime_ms: Option<Vec<u64>>,
    /// The fixed variant.
    godistlock_fixed: Option<bool>,
    /// A failed acquire's nil-pointer panic kills the coordinator.
    godistlock_nil_panic: Option<bool>,
}

/// Defaults: `ON` timeout 10 s; the client waits 5 s for an answer (a `DoLock` whose peers do not
/// answer takes three `WAIT_TIMEOUT`s, 3 s); a backoff of 50 to 200 ms between `ON`s.
pub const DEFAULT_TTL_MS: u64 = 10_000;
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_RETRY_BACKOFF_MS: (u64, u64) = (50, 200);

/// A compiled `godistlock` variant: every parameter resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoDistLockVariant {
    /// A server's parameters (peers, cluster size and uptime filled per server by `server`).
    pub server: GoDistLockParams,
    pub client: GoDistLockClientParams,
    /// Per server, in order.
    pub uptime_ms: Vec<u64>,
    pub fencing: bool,
    pub check_validity_before_write: bool,
}

/// The `godistlock` kind's variant from its `[[protocols]]` keys, for a cluster of `servers`.
pub fn compile(table: &Table, servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    Ok(Box::new(resolve(k, servers)?))
}

fn resolve(k: Keys, servers: u32) -> Result<GoDistLockVariant, ParamError> {
    let ttl_ms = positive("ttl_ms", k.ttl_ms.unwrap_or(DEFAULT_TTL_MS))?;
    let acquire_timeout_ms =
        positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(DEFAULT_ACQUIRE_TIMEOUT_MS))?;
    let wait_timeout_ms = positive("server_timeout_ms", k.server_timeout_ms.unwrap_or(WAIT_TIMEOUT_MS))?;
    let retry_backoff = ms_range("retry_backoff_ms", k.retry_backoff_ms, DEFAULT_RETRY_BACKOFF_MS)?;
    let uptime_ms = match k.godistlock_uptime_ms {
        None => vec![0; servers as usize],
        Some(list) if list.len() == servers as usize => list,
        Some(list) => {
            return Err(ParamError::at(
                "godistlock_uptime_ms",
                format!("{} values for {servers} servers: give one per server, in order (s1, s2, …)", list.len()),
            ))
        }
    };
    let mut server = GoDistLockParams::new(servers);
    server.wait_timeout_ms = wait_timeout_ms;
    server.fixed = k.godistlock_fixed.unwrap_or(false);
    server.nil_panic = k.godistlock_nil_panic.unwrap_or(false);
    Ok(GoDistLockVariant {
        server,
        client: GoDistLockClientParams {
            timeout_ms: ttl_ms,
            acquire_timeout_ms,
            acquire_retries: k.acquire_retries.unwrap_or(1000),
            retry_backoff,
        },
        uptime_ms,
        fencing: k.fencing.unwrap_or(false),
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

impl GoDistLockVariant {
    /// Server number `index` of `servers` (node ids in order).
    pub fn server_node(&self, servers: &[NodeId], index: usize) -> GoDistLockServer {
        let mut params = self.server.clone();
        let me = servers[index];
        params.peers = servers.iter().copied().filter(|&s| s != me).collect();
        params.servers = servers.len() as u32;
        params.uptime_ms = self.uptime_ms.get(index).copied().unwrap_or(0);
        GoDistLockServer::new(params)
    }
}

impl ProtocolBuild for GoDistLockVariant {
    fn server(&self, servers: &[NodeId], index: usize) -> Server {
        Server::GoDistLockServer(Box::new(self.server_node(servers, index)))
    }
    /// Client i asks server i (mod n) first: different clients, different coordinators.
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::GoDistLock(GoDistLockClient::new(servers.to_vec(), client_index, lock, self.client.clone()))
    }
    /// The `ON` timeout.
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.timeout_ms)
    }
    /// Every grant carries a fence.
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

/// The variants `locklab check` model-checks: 3 servers (all uptimes 0), 2 clients, a pause and a
/// drop. `WAIT_TIMEOUT` and `TEMP_TIMEOUT` are 1 s: one tick; the client waits a tick for `GIVE`
/// and backs off a tick. `pause,drop,crash` does not finish within 120 s (models/README.md).
pub const MODELS: &[ModelVariant] = &[
    godistlock_model("godistlock", false),
    godistlock_model("godistlock-fenced", true),
    godistlock_model("godistlock-fixed", false),
    godistlock_model("godistlock-fixed-fenced", true),
];

const fn godistlock_model(name: &'static str, fencing: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: true,
        fencing,
        check_validity_before_write: false,
        default_servers: 3,
        // Nothing is persisted, whatever the policy says.
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause,drop",
        note: "",
        params: godistlock_model_params,
    }
}

fn godistlock_model_params(
    v: &ModelVariant,
    t: &ModelTiming,
    _persistence: Persistence,
) -> Vec<(&'static str, String)> {
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("acquire_timeout_ms", t.ms(1)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("retry_backoff_ms", t.ms(1)),
        ("server_timeout_ms", t.ms(1)),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
        ("fencing", v.fencing.to_string()),
        ("godistlock_fixed", v.name.starts_with("godistlock-fixed").to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let v = resolve(read(&table("")).unwrap(), 3).unwrap();
        assert_eq!(v.client.timeout_ms, DEFAULT_TTL_MS);
        assert_eq!(v.server.wait_timeout_ms, WAIT_TIMEOUT_MS);
        assert_eq!(v.uptime_ms, vec![0, 0, 0]);
        let e = resolve(read(&table("godistlock_uptime_ms = [1, 2]")).unwrap(), 3).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("godistlock_uptime_ms"));
        let e = resolve(read(&table("ttl_ms = 0")).unwrap(), 3).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("ttl_ms"));
    }
}
