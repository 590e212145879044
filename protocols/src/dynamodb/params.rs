//! The `dynamodb` kind's scenario keys, their defaults (the client's own) and validation, how a
//! variant builds its store and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::{DynamoDbLock, DynamoDbParams};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{read, ParamError, Table};
use crate::registry::{store_server, LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `dynamodb`, in the order error messages list them.
pub const DYNAMODB_KEYS: &[&str] = &[
    "lease_ms",
    "heartbeat_ms",
    "refresh_period_ms",
    "additional_time_to_wait_ms",
    "request_timeout_ms",
    "hold_lock_on_service_unavailable",
    "session_monitor_safe_ms",
    "fencing_sequence",
    "absolute_expiry",
    "check_validity_before_write",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// `leaseDuration` (20 s).
    pub lease_ms: Option<u64>,
    /// `heartbeatPeriod` (5 s).
    pub heartbeat_ms: Option<u64>,
    /// `refreshPeriod` of `acquireLock` (1 s).
    pub refresh_period_ms: Option<u64>,
    /// `additionalTimeToWaitForLock` (1 s).
    pub additional_time_to_wait_ms: Option<u64>,
    /// The SDK call's timeout (the SDK's socket timeout, 50 s).
    pub request_timeout_ms: Option<u64>,
    /// `holdLockOnServiceUnavailable` (false).
    pub hold_lock_on_service_unavailable: Option<bool>,
    /// `SessionMonitor`'s `safeTimeWithoutHeartbeat` (none).
    pub session_monitor_safe_ms: Option<u64>,
    /// PR #3's fencing via sequence ids (the item's generation), checked by the resource (false).
    pub fencing_sequence: Option<bool>,
    /// The absolute-timestamp contrast (false; not the client's behaviour).
    pub absolute_expiry: Option<bool>,
    /// The worker asks `isExpired()` (or the session monitor) before each write (false).
    pub check_validity_before_write: Option<bool>,
}

/// A compiled `dynamodb` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamoDbVariant {
    pub client: DynamoDbParams,
    pub check_validity_before_write: bool,
}

/// The `dynamodb` kind's variant from its `[[protocols]]` keys: one store.
pub fn compile(table: &Table, servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let keys: Keys = read(table)?;
    if servers != 1 {
        return Err(ParamError {
            field: None,
            message: format!(
                "`dynamodb` runs on one store node (DynamoDB replicates internally): topology.servers = {servers}, expected 1"
            ),
        });
    }
    Ok(Box::new(resolve(&keys)?))
}

/// Fill in the defaults and validate; an error names the offending key.
pub fn resolve(k: &Keys) -> Result<DynamoDbVariant, ParamError> {
    let d = DynamoDbParams::default();
    let client = DynamoDbParams {
        lease_ms: k.lease_ms.unwrap_or(d.lease_ms),
        heartbeat_ms: k.heartbeat_ms.unwrap_or(d.heartbeat_ms),
        refresh_period_ms: k.refresh_period_ms.unwrap_or(d.refresh_period_ms),
        additional_time_to_wait_ms: k.additional_time_to_wait_ms.unwrap_or(d.additional_time_to_wait_ms),
        request_timeout_ms: k.request_timeout_ms.unwrap_or(d.request_timeout_ms),
        hold_lock_on_service_unavailable: k.hold_lock_on_service_unavailable.unwrap_or(false),
        session_monitor_safe_ms: k.session_monitor_safe_ms,
        fencing_sequence: k.fencing_sequence.unwrap_or(false),
        absolute_expiry: k.absolute_expiry.unwrap_or(false),
    };
    for (key, value) in [
        ("lease_ms", client.lease_ms),
        ("heartbeat_ms", client.heartbeat_ms),
        ("refresh_period_ms", client.refresh_period_ms),
        ("request_timeout_ms", client.request_timeout_ms),
    ] {
        if value == 0 {
            return Err(ParamError::at(key, "must be greater than 0"));
        }
    }
    // The client only warns when the lease is below two heartbeats (Options L318); a heartbeat
    // period at or above the lease can never keep a lock, so it is refused here.
    if client.heartbeat_ms >= client.lease_ms {
        return Err(ParamError::at(
            "heartbeat_ms",
            format!("{} must be below lease_ms ({})", client.heartbeat_ms, client.lease_ms),
        ));
    }
    // `SessionMonitor` (L1425-1432): heartbeatPeriod < safeTimeWithoutHeartbeat < leaseDuration.
    if let Some(safe) = client.session_monitor_safe_ms {
        if !(client.heartbeat_ms < safe && safe < client.lease_ms) {
            return Err(ParamError::at(
                "session_monitor_safe_ms",
                format!(
                    "{safe} must lie strictly between heartbeat_ms ({}) and lease_ms ({})",
                    client.heartbeat_ms, client.lease_ms
                ),
            ));
        }
    }
    Ok(DynamoDbVariant { client, check_validity_before_write: k.check_validity_before_write.unwrap_or(false) })
}

impl DynamoDbVariant {
    /// Client `_client_index`'s library: every client talks to the one store.
    pub fn dynamodb_library(&self, servers: &[NodeId], lock: LockId) -> DynamoDbLock {
        DynamoDbLock::new(servers[0], lock, self.client.clone())
    }
}

impl ProtocolBuild for DynamoDbVariant {
    /// The conditional-write store; it records grants (generation as token) when the client uses
    /// the generation as its fencing sequence.
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        store_server(self.client.fencing_sequence)
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::DynamoDb(self.dynamodb_library(servers, lock))
    }
    /// The lease: a lower bound (the kind's expiry is lazy: a waiter takes over only after
    /// observing the RVN unchanged for a lease on its own clock, polling every refresh period).
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.lease_ms)
    }
    fn tokens(&self) -> bool {
        self.client.fencing_sequence
    }
    fn fencing(&self) -> bool {
        self.client.fencing_sequence
    }
    fn check_validity_before_write(&self) -> bool {
        self.check_validity_before_write
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks: the catalogue's `dynamodb` and `dynamodb-fenced`
/// (`scenarios/dynamodb-gc-pause.toml`).
pub const MODELS: &[ModelVariant] = &[dynamodb_model("dynamodb", false), dynamodb_model("dynamodb-fenced", true)];

const DYNAMODB_NOTE: &str =
    "one store; lease 3 ticks, heartbeat, refresh period, additional wait and SDK timeout 1 tick each";

const fn dynamodb_model(name: &'static str, fencing: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: fencing,
        fencing,
        check_validity_before_write: false,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause",
        note: DYNAMODB_NOTE,
        params: dynamodb_model_params,
    }
}

fn dynamodb_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("lease_ms", t.ms(t.ttl_ticks)),
        ("heartbeat_ms", t.ms(1)),
        ("refresh_period_ms", t.ms(1)),
        ("additional_time_to_wait_ms", t.ms(1)),
        ("request_timeout_ms", t.ms(1)),
        ("hold_lock_on_service_unavailable", "false".into()),
        ("fencing_sequence", v.fencing.to_string()),
        ("absolute_expiry", "false".into()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
    ]
}
