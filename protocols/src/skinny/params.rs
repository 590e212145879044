//! The `skinny` kind's scenario keys, their defaults and their validation, and how a variant
//! builds its instances and client libraries.

use std::any::Any;

use serde::Deserialize;

use super::{SkinnyClientParams, SkinnyInstance, SkinnyLock, SkinnyParams};
use crate::node::{LockId, NodeId};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelVariant, ProtocolBuild, Server};

/// The keys of `skinny`, in the order error messages list them.
pub const SKINNY_KEYS: &[&str] =
    &["acquire_timeout_ms", "acquire_retries", "retry_backoff_ms", "server_timeout_ms", "skinny_fixed"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// The client's RPC timeout (skinny's `quorum.yml`: 5 s).
    acquire_timeout_ms: Option<u64>,
    acquire_retries: Option<u32>,
    retry_backoff_ms: Option<MsSpec>,
    /// An instance's RPC timeout to its peers (skinny's example config: 500 ms).
    server_timeout_ms: Option<u64>,
    /// The proposer adopts its own commit only once a majority committed it.
    skinny_fixed: Option<bool>,
}

/// A compiled `skinny` variant: the instances' parameters (peers and increments filled per world)
/// and the library's.
#[derive(Clone, Debug)]
pub struct SkinnyVariant {
    pub instance: SkinnyParams,
    pub client: SkinnyClientParams,
}

/// The `skinny` kind's variant from its `[[protocols]]` keys.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    let timeout_ms = positive("server_timeout_ms", k.server_timeout_ms.unwrap_or(500))?;
    let client_timeout_ms = positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(5000))?;
    let retry_backoff = ms_range("retry_backoff_ms", k.retry_backoff_ms, (20, 100))?;
    Ok(Box::new(SkinnyVariant {
        instance: SkinnyParams { peers: Vec::new(), increment: 0, timeout_ms, fixed: k.skinny_fixed.unwrap_or(false) },
        client: SkinnyClientParams {
            timeout_ms: client_timeout_ms,
            acquire_retries: k.acquire_retries.unwrap_or(1000),
            retry_backoff,
        },
    }))
}

impl ProtocolBuild for SkinnyVariant {
    /// Instance i calls the others and increments by i + 1 (unique, as skinny's config asks; the
    /// sums still collide).
    fn server(&self, servers: &[NodeId], index: usize) -> Server {
        let mut instance = self.instance.clone();
        instance.peers = servers.iter().copied().filter(|&s| s != servers[index]).collect();
        instance.increment = index as u64 + 1;
        Server::SkinnyInstance(Box::new(SkinnyInstance::new(instance)))
    }
    /// Client i calls instance i (mod n) first.
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Skinny(SkinnyLock::new(servers.to_vec(), client_index, lock, self.client.clone()))
    }
    /// No lease: a holder holds until it releases (the linearizability spec is a mutex).
    fn ttl_ms(&self) -> Option<u64> {
        None
    }
    fn tokens(&self) -> bool {
        false
    }
    fn fencing(&self) -> bool {
        false
    }
    fn check_validity_before_write(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks.
pub const MODELS: &[ModelVariant] = &[];
