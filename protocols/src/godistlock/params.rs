//! GoDistLock's scenario parameters: defaults, validation, and the nodes of one world. The
//! simulator hands the `[[protocols]]` keys over as a [`GoDistLockSpec`] and builds the nodes from
//! the resolved [`GoDistLockVariant`], so its own code for this protocol is a few lines.

use super::client::{GoDistLockClient, GoDistLockClientParams};
use super::server::{GoDistLockParams, GoDistLockServer, WAIT_TIMEOUT_MS};
use crate::node::{LockId, MsRange, NodeId};

/// The `[[protocols]]` keys a `godistlock` variant takes, as written (all optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoDistLockSpec {
    /// `ttl_ms`: the `<timeout>` of `ON`.
    pub ttl_ms: Option<u64>,
    pub acquire_timeout_ms: Option<u64>,
    pub acquire_retries: Option<u32>,
    pub retry_backoff: Option<MsRange>,
    /// `server_timeout_ms`: `WAIT_TIMEOUT`.
    pub server_timeout_ms: Option<u64>,
    /// `godistlock_uptime_ms`: each server's monotonic clock reading at the start, in order.
    pub uptime_ms: Option<Vec<u64>>,
    /// `godistlock_fixed`.
    pub fixed: Option<bool>,
    /// `godistlock_nil_panic`.
    pub nil_panic: Option<bool>,
}

/// Every parameter of a `godistlock` variant, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoDistLockVariant {
    /// A server's parameters (peers and uptime filled per server by [`Self::server`]).
    pub server: GoDistLockParams,
    pub client: GoDistLockClientParams,
    /// Per server, in order.
    pub uptime_ms: Vec<u64>,
}

/// Defaults: `ON` timeout 10 s; the client waits 5 s for an answer (a `DoLock` whose peers do not
/// answer takes three `WAIT_TIMEOUT`s, 3 s); a backoff of 50 to 200 ms between `ON`s.
pub const DEFAULT_TTL_MS: u64 = 10_000;
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_RETRY_BACKOFF: MsRange = MsRange { min_ms: 50, max_ms: 200 };

/// Resolve a variant's keys for a cluster of `servers`. An error names the key and the problem.
pub fn resolve(spec: &GoDistLockSpec, servers: u32) -> Result<GoDistLockVariant, (&'static str, String)> {
    let ttl_ms = spec.ttl_ms.unwrap_or(DEFAULT_TTL_MS);
    let acquire_timeout_ms = spec.acquire_timeout_ms.unwrap_or(DEFAULT_ACQUIRE_TIMEOUT_MS);
    let wait_timeout_ms = spec.server_timeout_ms.unwrap_or(WAIT_TIMEOUT_MS);
    for (key, value) in
        [("ttl_ms", ttl_ms), ("acquire_timeout_ms", acquire_timeout_ms), ("server_timeout_ms", wait_timeout_ms)]
    {
        if value == 0 {
            return Err((key, "must be greater than 0".into()));
        }
    }
    let uptime_ms = match &spec.uptime_ms {
        None => vec![0; servers as usize],
        Some(list) if list.len() == servers as usize => list.clone(),
        Some(list) => {
            return Err((
                "godistlock_uptime_ms",
                format!("{} values for {servers} servers: give one per server, in order (s1, s2, …)", list.len()),
            ))
        }
    };
    let mut server = GoDistLockParams::new(servers);
    server.wait_timeout_ms = wait_timeout_ms;
    server.fixed = spec.fixed.unwrap_or(false);
    server.nil_panic = spec.nil_panic.unwrap_or(false);
    Ok(GoDistLockVariant {
        server,
        client: GoDistLockClientParams {
            timeout_ms: ttl_ms,
            acquire_timeout_ms,
            acquire_retries: spec.acquire_retries.unwrap_or(1000),
            retry_backoff: spec.retry_backoff.unwrap_or(DEFAULT_RETRY_BACKOFF),
        },
        uptime_ms,
    })
}

impl GoDistLockVariant {
    /// The `ON` timeout (the lease the service promises).
    pub fn ttl_ms(&self) -> u64 {
        self.client.timeout_ms
    }

    /// Server number `index` of `servers` (node ids in order).
    pub fn server(&self, index: usize, servers: &[NodeId]) -> GoDistLockServer {
        let mut params = self.server.clone();
        let me = servers[index];
        params.peers = servers.iter().copied().filter(|&s| s != me).collect();
        params.servers = servers.len() as u32;
        params.uptime_ms = self.uptime_ms.get(index).copied().unwrap_or(0);
        GoDistLockServer::new(params)
    }

    /// Client number `index`'s library: it calls server `index mod n` first.
    pub fn client(&self, index: usize, servers: &[NodeId], lock: LockId) -> GoDistLockClient {
        GoDistLockClient::new(servers.to_vec(), index, lock, self.client.clone())
    }
}
