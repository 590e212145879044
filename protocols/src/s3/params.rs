//! The `s3` kind's scenario keys, defaults and validation, how a variant builds its store server
//! and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::{S3ClientParams, S3Lock};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{store_server, LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `s3`, in the order error messages list them.
pub const S3_KEYS: &[&str] = &[
    "ttl_ms",
    "renew_ms",
    "retry_delay_ms",
    "acquire_timeout_ms",
    "request_timeout_ms",
    "conditional_delete",
    "check_validity_before_write",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// The lease written as `expires_at` (30 s).
    pub ttl_ms: Option<u64>,
    /// The renewal period (`ttl / 3`).
    pub renew_ms: Option<u64>,
    /// The sleep between attempts (1–2 s).
    pub retry_delay_ms: Option<MsSpec>,
    /// The acquire call's deadline (`2 × ttl`).
    pub acquire_timeout_ms: Option<u64>,
    /// One request's timeout (1 s).
    pub request_timeout_ms: Option<u64>,
    /// `DELETE If-Match` (default) or a plain `DELETE`.
    pub conditional_delete: Option<bool>,
    /// The worker checks the local deadline (last successful write's send time + TTL) before writing.
    pub check_validity_before_write: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Variant {
    pub client: S3ClientParams,
    pub check_validity_before_write: bool,
}

pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let keys: Keys = read(table)?;
    Ok(Box::new(resolve(&keys)?))
}

pub fn resolve(k: &Keys) -> Result<S3Variant, ParamError> {
    let ttl_ms = positive("ttl_ms", k.ttl_ms.unwrap_or(30_000))?;
    let renew_ms = positive("renew_ms", k.renew_ms.unwrap_or(ttl_ms / 3))?;
    if renew_ms >= ttl_ms {
        return Err(ParamError::at("renew_ms", format!("{renew_ms} must be below ttl_ms ({ttl_ms})")));
    }
    Ok(S3Variant {
        client: S3ClientParams {
            ttl_ms,
            renew_ms,
            retry: ms_range("retry_delay_ms", k.retry_delay_ms, (1_000, 2_000))?,
            acquire_timeout_ms: positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(2 * ttl_ms))?,
            request_timeout_ms: positive("request_timeout_ms", k.request_timeout_ms.unwrap_or(1_000))?,
            conditional_delete: k.conditional_delete.unwrap_or(true),
        },
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

impl ProtocolBuild for S3Variant {
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        store_server(false)
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::S3(S3Lock::new(servers[0], lock, self.client.clone()))
    }
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.ttl_ms)
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
pub const MODELS: &[ModelVariant] = &[s3_model("s3", false), s3_model("s3-checked", true)];

const S3_NOTE: &str = "one store server; a pause";

const fn s3_model(name: &'static str, checked: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: false,
        fencing: false,
        check_validity_before_write: checked,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause",
        note: S3_NOTE,
        params: s3_model_params,
    }
}

fn s3_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("renew_ms", t.ms(1)),
        ("retry_delay_ms", t.ms(1)),
        ("acquire_timeout_ms", t.ms(2 * t.ttl_ticks)),
        ("request_timeout_ms", t.ms(1)),
        ("conditional_delete", "true".into()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
    ]
}
