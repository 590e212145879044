//! The `gcs` kind's scenario keys, their defaults (`constants.rb`, `lock.rb`) and validation, how a
//! variant builds its store server and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::{GcsClientParams, GcsLock};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{positive, read, ParamError, Table};
use crate::registry::{store_server, LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `gcs`, in the order error messages list them.
pub const GCS_KEYS: &[&str] = &[
    "ttl_ms",
    "refresh_interval_ms",
    "max_refresh_fails",
    "backoff_min_ms",
    "backoff_max_ms",
    "backoff_multiplier",
    "lock_timeout_ms",
    "request_timeout_ms",
    "identity_survives_restart",
    "worker_checks_health",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// `DEFAULT_TTL`: 300 s.
    pub ttl_ms: Option<u64>,
    /// Default `ttl / (max_refresh_fails * 3)`; must be below `ttl / max_refresh_fails`.
    pub refresh_interval_ms: Option<u64>,
    /// `DEFAULT_MAX_REFRESH_FAILS`: 3.
    pub max_refresh_fails: Option<u32>,
    /// `DEFAULT_BACKOFF_MIN`: 1 s.
    pub backoff_min_ms: Option<u64>,
    /// `DEFAULT_BACKOFF_MAX`: 30 s.
    pub backoff_max_ms: Option<u64>,
    /// `DEFAULT_BACKOFF_MULTIPLIER`: 2.
    pub backoff_multiplier: Option<u64>,
    /// `lock(timeout:)`: default `2 * ttl`.
    pub lock_timeout_ms: Option<u64>,
    /// One store request's timeout (1 s; an abstraction of the Google client's own).
    pub request_timeout_ms: Option<u64>,
    /// The identity survives a client restart (variant; the library draws one per instance).
    pub identity_survives_restart: Option<bool>,
    /// The worker polls `healthy?` before each write (the README's advice; the library does not
    /// abort work itself). Default `false`: the library as it ships.
    pub worker_checks_health: Option<bool>,
}

/// A compiled `gcs` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcsVariant {
    pub client: GcsClientParams,
    pub worker_checks_health: bool,
}

/// The `gcs` kind's variant from its `[[protocols]]` keys.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let keys: Keys = read(table)?;
    Ok(Box::new(resolve(&keys)?))
}

/// Fill in the defaults and validate (`lock.rb`'s constructor checks); an error names its key.
pub fn resolve(k: &Keys) -> Result<GcsVariant, ParamError> {
    let ttl_ms = positive("ttl_ms", k.ttl_ms.unwrap_or(300_000))?;
    let max_refresh_fails = k.max_refresh_fails.unwrap_or(3);
    if max_refresh_fails == 0 {
        return Err(ParamError::at("max_refresh_fails", "must be greater than 0"));
    }
    let refresh_interval_ms =
        positive("refresh_interval_ms", k.refresh_interval_ms.unwrap_or(ttl_ms / (max_refresh_fails as u64 * 3)))?;
    // lock.rb: "refresh_interval must be smaller than ttl / max_refresh_fails".
    if refresh_interval_ms * max_refresh_fails as u64 >= ttl_ms {
        return Err(ParamError::at(
            "refresh_interval_ms",
            format!(
                "{refresh_interval_ms} must be below ttl_ms / max_refresh_fails ({})",
                ttl_ms / max_refresh_fails as u64
            ),
        ));
    }
    let backoff_min_ms = positive("backoff_min_ms", k.backoff_min_ms.unwrap_or(1_000))?;
    let backoff_max_ms = k.backoff_max_ms.unwrap_or(30_000);
    if backoff_max_ms < backoff_min_ms {
        return Err(ParamError::at(
            "backoff_max_ms",
            format!("{backoff_max_ms} is below backoff_min_ms ({backoff_min_ms})"),
        ));
    }
    let backoff_multiplier = positive("backoff_multiplier", k.backoff_multiplier.unwrap_or(2))?;
    let lock_timeout_ms = positive("lock_timeout_ms", k.lock_timeout_ms.unwrap_or(2 * ttl_ms))?;
    let request_timeout_ms = positive("request_timeout_ms", k.request_timeout_ms.unwrap_or(1_000))?;
    Ok(GcsVariant {
        client: GcsClientParams {
            ttl_ms,
            refresh_interval_ms,
            max_refresh_fails,
            backoff_min_ms,
            backoff_max_ms,
            backoff_multiplier,
            lock_timeout_ms,
            request_timeout_ms,
            identity_survives_restart: k.identity_survives_restart.unwrap_or(false),
        },
        worker_checks_health: k.worker_checks_health.unwrap_or(false),
    })
}

impl GcsVariant {
    /// Client `client_index`'s library, over the first store server (the bucket).
    pub fn gcs_library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> GcsLock {
        GcsLock::new(servers[0], client_index, lock, self.client.clone())
    }
}

impl ProtocolBuild for GcsVariant {
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        store_server(false)
    }
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Gcs(self.gcs_library(servers, client_index, lock))
    }
    /// The TTL, judged by readers' wall clocks after a back-off: a lower bound in true time only
    /// while clocks agree (the registry marks the kind's expiry lazy).
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.ttl_ms)
    }
    /// No fencing token: the metageneration stays inside the library.
    fn tokens(&self) -> bool {
        false
    }
    fn fencing(&self) -> bool {
        false
    }
    fn check_validity_before_write(&self) -> bool {
        self.worker_checks_health
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks: the library as it ships (`gcs`) and with the worker
/// polling `healthy?` (`gcs-checked`).
pub const MODELS: &[ModelVariant] = &[gcs_model("gcs", false), gcs_model("gcs-checked", true)];

/// One store server, a pause fault. The model's TTL is 3 ticks; `lock.rb` requires the refresh
/// interval below `ttl / max_refresh_fails`, which whole ticks allow only with
/// `max_refresh_fails = 1` (refresh every tick = `ttl / (1 × 3)`, the library's own formula).
const GCS_NOTE: &str = "one store server; max_refresh_fails = 1 so that the refresh interval (ttl / 3) is a whole tick";

const fn gcs_model(name: &'static str, checked: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: false,
        fencing: false,
        check_validity_before_write: checked,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause",
        note: GCS_NOTE,
        params: gcs_model_params,
    }
}

fn gcs_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("refresh_interval_ms", t.ms(1)),
        ("max_refresh_fails", "1".into()),
        ("backoff_min_ms", t.ms(1)),
        ("backoff_max_ms", t.ms(1)),
        ("backoff_multiplier", "2".into()),
        ("lock_timeout_ms", t.ms(2 * t.ttl_ticks)),
        ("request_timeout_ms", t.ms(1)),
        ("identity_survives_restart", "false".into()),
        ("worker_checks_health", v.check_validity_before_write.to_string()),
    ]
}
