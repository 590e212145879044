//! The `chubby` kind's scenario keys, their defaults (the paper's where it gives one) and their
//! validation, resolved into the cell's and the library's parameters; how a variant builds its
//! servers and client libraries; and the variants `locklab check` model-checks.

use std::any::Any;

use serde::Deserialize;

use super::client::{ChubbyClientParams, ChubbyLock};
use super::server::{ChubbyParams, ChubbyServer, MAX_LOCK_DELAY_MS};
use crate::node::{LockId, MsRange, NodeId, Persistence};
use crate::params::{positive, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The `[[protocols]]` keys of `chubby` (besides `name`, `kind` and `expect`).
pub const CHUBBY_KEYS: &[&str] = &[
    "ttl_ms",
    "safety_margin_ms",
    "grace_period_ms",
    "lock_delay_ms",
    "heartbeat_timeout_ms",
    "acquire_timeout_ms",
    "master_heartbeat_ms",
    "election_timeout_ms",
    "check_validity_before_write",
    "fencing",
];

/// The paper's default lease extension (§2.8: "the default extension is 12s").
pub const DEFAULT_LEASE_MS: u64 = 12_000;
/// The paper's grace period (§2.8: "45s by default"; not confirmed from a source, see the module docs).
pub const DEFAULT_GRACE_PERIOD_MS: u64 = 45_000;
/// The paper's lock-delay (§2.4: "currently one minute").
pub const DEFAULT_LOCK_DELAY_MS: u64 = 60_000;
/// How close to the lease's end the master answers a held KeepAlive (not published; locklab's).
pub const KEEPALIVE_REPLY_BEFORE_MS: u64 = 1_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// The session lease extension.
    ttl_ms: Option<u64>,
    /// The client's drift allowance on its local lease timeout.
    safety_margin_ms: Option<u64>,
    grace_period_ms: Option<u64>,
    lock_delay_ms: Option<u64>,
    /// In jeopardy: how long a KeepAlive waits before the library tries the next server.
    heartbeat_timeout_ms: Option<u64>,
    /// An unanswered `OpenSession` or `Acquire` is sent again after this.
    acquire_timeout_ms: Option<u64>,
    master_heartbeat_ms: Option<u64>,
    election_timeout_ms: Option<MsSpec>,
    check_validity_before_write: Option<bool>,
    /// The resource checks sequencers (the generation number).
    fencing: Option<bool>,
}

/// A compiled `chubby` variant: the cell's parameters (the server list filled per world) and the
/// library's, and the worker's and the resource's switches.
#[derive(Clone, Debug)]
pub struct ChubbyVariant {
    pub cell: ChubbyParams,
    pub client: ChubbyClientParams,
    pub fencing: bool,
    pub check_validity_before_write: bool,
}

/// The `chubby` kind's variant from its `[[protocols]]` keys.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    let lease_ms = k.ttl_ms.unwrap_or(DEFAULT_LEASE_MS);
    if lease_ms <= KEEPALIVE_REPLY_BEFORE_MS {
        return Err(ParamError::at(
            "ttl_ms",
            format!(
                "the session lease must exceed the {KEEPALIVE_REPLY_BEFORE_MS} ms before its end at which the master \
                 answers a KeepAlive"
            ),
        ));
    }
    let lock_delay_ms = k.lock_delay_ms.unwrap_or(DEFAULT_LOCK_DELAY_MS);
    if lock_delay_ms > MAX_LOCK_DELAY_MS {
        return Err(ParamError::at(
            "lock_delay_ms",
            format!("Chubby bounds a client's lock-delay at {MAX_LOCK_DELAY_MS} ms (one minute)"),
        ));
    }
    let master_heartbeat_ms = positive("master_heartbeat_ms", k.master_heartbeat_ms.unwrap_or(1_000))?;
    let election = k.election_timeout_ms.map_or(MsRange { min_ms: 4_000, max_ms: 6_000 }, |e| e.range());
    if election.min_ms <= 2 * master_heartbeat_ms || election.max_ms < election.min_ms {
        return Err(ParamError::at(
            "election_timeout_ms",
            "min ≤ max, and the minimum must exceed twice the master's heartbeat (the master lease, their \
             difference, must outlast the heartbeats that renew it)",
        ));
    }
    let drift_allowance_ms = k.safety_margin_ms.unwrap_or(100);
    if drift_allowance_ms >= lease_ms {
        return Err(ParamError::at("safety_margin_ms", "the drift allowance must be below the session lease"));
    }
    let keepalive_retry_ms = positive("heartbeat_timeout_ms", k.heartbeat_timeout_ms.unwrap_or(1_000))?;
    let call_timeout_ms = positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(5_000))?;
    Ok(Box::new(ChubbyVariant {
        cell: ChubbyParams {
            servers: Vec::new(),
            lease_ms,
            keepalive_reply_before_ms: KEEPALIVE_REPLY_BEFORE_MS,
            lock_delay_ms,
            master_heartbeat_ms,
            election_timeout: election,
        },
        client: ChubbyClientParams {
            drift_allowance_ms,
            grace_period_ms: k.grace_period_ms.unwrap_or(DEFAULT_GRACE_PERIOD_MS),
            keepalive_retry_ms,
            call_timeout_ms,
        },
        fencing: k.fencing.unwrap_or(false),
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    }))
}

impl ProtocolBuild for ChubbyVariant {
    /// Every server knows the whole cell, in succession order (`servers[0]` is the first master).
    fn server(&self, servers: &[NodeId], _index: usize) -> Server {
        let mut cell = self.cell.clone();
        cell.servers = servers.to_vec();
        Server::ChubbyServer(Box::new(ChubbyServer::new(cell)))
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Chubby(ChubbyLock::new(servers.to_vec(), lock, self.client.clone()))
    }
    /// A lock lasts until released or until its session ends: no TTL of its own (the
    /// linearizability spec is a mutex, which a session expiry violates).
    fn ttl_ms(&self) -> Option<u64> {
        None
    }
    /// Sequencers are always issued: the lock generation number is the token.
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

/// The variants `locklab check` model-checks: `chubby` (sequencers issued, nobody checks them:
/// the catalogue's `chubby`) and `chubby-sequencer` (the resource checks them).
pub const MODELS: &[ModelVariant] = &[chubby_model("chubby", false), chubby_model("chubby-sequencer", true)];

/// One server and a pause: exhaustive in seconds. Two faults, or three servers, do not exhaust
/// within 60 s and 2 GB (`models/README.md`, "Chubby").
const CHUBBY_NOTE: &str = "one server (its own quorum) and a pause; three servers or a second fault do not exhaust \
                           within 60 s and 2 GB (models/README.md, \"Chubby\"): check those with --strategy dfs";

const fn chubby_model(name: &'static str, fencing: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: true,
        fencing,
        check_validity_before_write: false,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause",
        note: CHUBBY_NOTE,
        params: chubby_model_params,
    }
}

/// Chubby in ticks: a session lease of 3 (the master answers a held KeepAlive one tick before its
/// end, so every 2 ticks), a grace period of 1, a lock-delay of 2, the master's heartbeat every
/// tick and an election timeout of 3 (fixed: nothing drawn); an unanswered call is re-sent only
/// after the horizon.
fn chubby_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("safety_margin_ms", "0".into()),
        ("grace_period_ms", t.ms(1)),
        ("lock_delay_ms", t.ms(2)),
        ("heartbeat_timeout_ms", t.ms(1)),
        ("acquire_timeout_ms", t.ms(t.horizon_ticks)),
        ("master_heartbeat_ms", t.ms(1)),
        ("election_timeout_ms", format!("{{ min = {0}, max = {0} }}", t.ms(t.election_ticks))),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
        ("fencing", v.fencing.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_text(text: &str) -> Result<Box<dyn ProtocolBuild>, ParamError> {
        compile(&text.parse().unwrap(), 3)
    }

    #[test]
    fn defaults_are_the_papers_and_bad_keys_are_named() {
        let v = compile_text("").unwrap();
        let v = v.as_any().downcast_ref::<ChubbyVariant>().unwrap();
        assert_eq!((v.cell.lease_ms, v.cell.lock_delay_ms, v.client.grace_period_ms), (12_000, 60_000, 45_000));
        assert!(v.cell.master_lease_ns() > 0);
        let e = compile_text("lock_delay_ms = 61000").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("lock_delay_ms"));
        let e = compile_text("election_timeout_ms = 2000").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("election_timeout_ms"));
        let e = compile_text("renew_ms = 5").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("renew_ms"));
    }
}
