//! The `azure` kind's scenario keys, defaults and validation (the Lease Blob API's bounds), how a
//! variant builds its store server and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::{AzureClientParams, AzureLock};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{store_server, LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `azure`, in the order error messages list them.
pub const AZURE_KEYS: &[&str] = &[
    "lease_duration_ms",
    "infinite_lease",
    "renew_ms",
    "retry_delay_ms",
    "acquire_timeout_ms",
    "request_timeout_ms",
    "break_after_ms",
    "break_period_ms",
    "check_validity_before_write",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// `x-ms-lease-duration` (15 000–60 000; default 60 000).
    pub lease_duration_ms: Option<u64>,
    /// An infinite lease (`x-ms-lease-duration: -1`); no renewals.
    pub infinite_lease: Option<bool>,
    /// The renewal period (default duration / 3).
    pub renew_ms: Option<u64>,
    /// The sleep after a refused acquire (1 000–2 000).
    pub retry_delay_ms: Option<MsSpec>,
    /// The acquire call's deadline (default 120 000).
    pub acquire_timeout_ms: Option<u64>,
    /// One request's timeout (1 000).
    pub request_timeout_ms: Option<u64>,
    /// A waiter refused this long breaks the lease (default: never).
    pub break_after_ms: Option<u64>,
    /// The break period (0–60 000; default 0).
    pub break_period_ms: Option<u64>,
    /// The worker checks the local deadline (renewal's send time + duration) before each write.
    pub check_validity_before_write: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureVariant {
    pub client: AzureClientParams,
    pub check_validity_before_write: bool,
}

pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let keys: Keys = read(table)?;
    Ok(Box::new(resolve(&keys)?))
}

pub fn resolve(k: &Keys) -> Result<AzureVariant, ParamError> {
    let infinite = k.infinite_lease.unwrap_or(false);
    let duration_ms = k.lease_duration_ms.unwrap_or(60_000);
    if !(15_000..=60_000).contains(&duration_ms) {
        return Err(ParamError::at("lease_duration_ms", format!("{duration_ms} is outside Azure's 15 000–60 000 ms")));
    }
    if infinite && k.lease_duration_ms.is_some() {
        return Err(ParamError::at("lease_duration_ms", "an infinite lease takes no duration"));
    }
    let renew_ms = positive("renew_ms", k.renew_ms.unwrap_or(duration_ms / 3))?;
    if renew_ms >= duration_ms {
        return Err(ParamError::at("renew_ms", format!("{renew_ms} must be below lease_duration_ms ({duration_ms})")));
    }
    let break_period_ms = k.break_period_ms.unwrap_or(0);
    if break_period_ms > 60_000 {
        return Err(ParamError::at("break_period_ms", format!("{break_period_ms} is above Azure's 60 000 ms")));
    }
    Ok(AzureVariant {
        client: AzureClientParams {
            lease_duration_ms: (!infinite).then_some(duration_ms),
            renew_ms,
            retry: ms_range("retry_delay_ms", k.retry_delay_ms, (1_000, 2_000))?,
            acquire_timeout_ms: positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(120_000))?,
            request_timeout_ms: positive("request_timeout_ms", k.request_timeout_ms.unwrap_or(1_000))?,
            break_after_ms: k.break_after_ms,
            break_period_ms,
        },
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

impl ProtocolBuild for AzureVariant {
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        store_server(false)
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Azure(AzureLock::new(servers[0], lock, self.client.clone()))
    }
    /// The lease duration (judged by the store's own clock); `None` for an infinite lease.
    fn ttl_ms(&self) -> Option<u64> {
        self.client.lease_duration_ms
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

/// The variants `locklab check` model-checks.
pub const MODELS: &[ModelVariant] = &[azure_model("azure", false), azure_model("azure-checked", true)];

/// Azure's shortest lease is 15 s: a tick of 5 s makes it 3 ticks.
const AZURE_NOTE: &str = "one store server; tick 5 s so that the 15 s minimum lease is 3 ticks";

const fn azure_model(name: &'static str, checked: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: false,
        fencing: false,
        check_validity_before_write: checked,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming { tick_ms: 5000, clock_jump_ms: 15_000, ..ModelTiming::DEFAULT },
        standard_faults: "pause",
        note: AZURE_NOTE,
        params: azure_model_params,
    }
}

fn azure_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("lease_duration_ms", t.ms(t.ttl_ticks)),
        ("renew_ms", t.ms(1)),
        ("retry_delay_ms", t.ms(1)),
        ("acquire_timeout_ms", t.ms(2 * t.ttl_ticks)),
        ("request_timeout_ms", t.ms(1)),
        ("break_period_ms", "0".into()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
    ]
}
