//! The `lockable` kind's scenario keys, their defaults and their validation, how a variant builds
//! its server and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::client::{LockableClientParams, LockableLock};
use super::server::LockableServer;
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{positive, read, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `lockable`, in the order error messages list them.
pub const LOCKABLE_KEYS: &[&str] = &[
    "ttl_ms",
    "heartbeat_ms",
    "acquire_sleep_ms",
    "acquire_retries",
    "heartbeat_attribute_bug",
    "on_lock_loss_aborts",
    "check_validity_before_write",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// The service's lease.
    ttl_ms: Option<u64>,
    heartbeat_ms: Option<u64>,
    acquire_sleep_ms: Option<u64>,
    acquire_retries: Option<u32>,
    heartbeat_attribute_bug: Option<bool>,
    on_lock_loss_aborts: Option<bool>,
    check_validity_before_write: Option<bool>,
}

/// The lease of a lock: 60 s (the Hobbyist plan; configurable on the Business plan).
pub const DEFAULT_LEASE_MS: u64 = 60_000;
/// `DEFAULT_HEARTBEAT_SLEEP_PERIOD`, `DEFAULT_ACQUIRE_SLEEP_PERIOD` (src/lockable/lock.py).
pub const DEFAULT_HEARTBEAT_MS: u64 = 1000;
pub const DEFAULT_ACQUIRE_SLEEP_MS: u64 = 1000;

/// A compiled `lockable` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockableVariant {
    pub lease_ms: u64,
    pub client: LockableClientParams,
    pub check_validity_before_write: bool,
}

/// The `lockable` kind's variant from its `[[protocols]]` keys (one server: the service).
pub fn compile(table: &Table, servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    Ok(Box::new(resolve(k, servers)?))
}

fn resolve(k: Keys, servers: u32) -> Result<LockableVariant, ParamError> {
    if servers != 1 {
        return Err(ParamError::at("kind", format!("lockable is one service (topology servers = 1), not {servers}")));
    }
    Ok(LockableVariant {
        lease_ms: positive("ttl_ms", k.ttl_ms.unwrap_or(DEFAULT_LEASE_MS))?,
        client: LockableClientParams {
            heartbeat_ms: positive("heartbeat_ms", k.heartbeat_ms.unwrap_or(DEFAULT_HEARTBEAT_MS))?,
            acquire_sleep_ms: positive("acquire_sleep_ms", k.acquire_sleep_ms.unwrap_or(DEFAULT_ACQUIRE_SLEEP_MS))?,
            acquire_retries: k.acquire_retries.unwrap_or(1000),
            // The shipped client (3155e12) has the bug.
            heartbeat_attribute_bug: k.heartbeat_attribute_bug.unwrap_or(true),
            on_lock_loss_aborts: k.on_lock_loss_aborts.unwrap_or(false),
        },
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

impl ProtocolBuild for LockableVariant {
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        Server::LockableServer(Box::new(LockableServer::new(self.lease_ms)))
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Lockable(LockableLock::new(servers[0], lock, self.client.clone()))
    }
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.lease_ms)
    }
    fn tokens(&self) -> bool {
        false
    }
    fn fencing(&self) -> bool {
        false
    }
    fn check_validity_before_write(&self) -> bool {
        self.check_validity_before_write
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks: `lockable` (the shipped client, the attribute
/// bug) and `lockable-fixed`; the lease is 3 ticks, the heartbeat and the acquire poll 1 tick,
/// and the critical section 4 ticks — longer than the lease, as the scenarios' bodies are (a
/// body shorter than the lease never meets either defect).
pub const MODELS: &[ModelVariant] =
    &[lockable_model("lockable", "none", LOCKABLE_NOTE), lockable_model("lockable-fixed", "drop", FIXED_NOTE)];

const LOCKABLE_NOTE: &str = "no fault needed: the heartbeat loop dies after its first beat (the attribute bug) and \
                             the lease lapses under the 4-tick body";
const FIXED_NOTE: &str = "a dropped heartbeat hangs the heartbeat thread (`requests.get` has no timeout): no \
                          callback, the lease lapses under the working holder";

const fn lockable_model(name: &'static str, standard_faults: &'static str, note: &'static str) -> ModelVariant {
    ModelVariant {
        name,
        tokens: false,
        fencing: false,
        check_validity_before_write: false,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming { think_ticks: 4, ..ModelTiming::DEFAULT },
        standard_faults,
        note,
        params: lockable_model_params,
    }
}

fn lockable_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("heartbeat_ms", t.ms(1)),
        ("acquire_sleep_ms", t.ms(1)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("heartbeat_attribute_bug", (v.name == "lockable").to_string()),
        ("on_lock_loss_aborts", "false".into()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_shipped_clients() {
        let v = resolve(read(&"".parse::<Table>().unwrap()).unwrap(), 1).unwrap();
        assert_eq!(v.lease_ms, 60_000);
        assert_eq!(v.client.heartbeat_ms, 1000);
        assert_eq!(v.client.acquire_sleep_ms, 1000);
        assert!(v.client.heartbeat_attribute_bug);
        assert!(!v.client.on_lock_loss_aborts);
        let e = resolve(read(&"heartbeat_ms = 0".parse::<Table>().unwrap()).unwrap(), 1).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("heartbeat_ms"));
    }
}
