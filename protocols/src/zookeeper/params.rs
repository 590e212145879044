//! The `zookeeper` kind's scenario keys, their defaults and their validation; how a variant builds
//! its servers and clients; and the variants `locklab check` model-checks.

use std::any::Any;

use serde::Deserialize;

use super::{NodeNaming, WatchMode, ZkClientParams, ZkLock, ZkServer, ZkServerParams};
use crate::node::{LockId, MsRange, NodeId, Persistence};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `zookeeper`, in the order error messages list them.
pub const ZOOKEEPER_KEYS: &[&str] = &[
    "session_timeout_ms",
    "tick_ms",
    "zk_guid",
    "zk_session_in_name",
    "zk_local_expiry",
    "zk_watch",
    "retry_backoff_ms",
    "check_validity_before_write",
    "fencing",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// The session timeout the clients ask for.
    session_timeout_ms: Option<u64>,
    /// The servers' `tickTime`.
    tick_ms: Option<u64>,
    /// A GUID in the lock node's name (the recipe); `false`: a naive retry.
    zk_guid: Option<bool>,
    /// The session id in the name (ZooKeeper's `WriteLock`), with `zk_guid = false`.
    zk_session_in_name: Option<bool>,
    /// Curator's LOST after a session timeout disconnected.
    zk_local_expiry: Option<bool>,
    /// `predecessor` (the recipe) or `children` (the herd).
    zk_watch: Option<WatchKey>,
    /// The pause before reconnecting.
    retry_backoff_ms: Option<MsSpec>,
    /// The worker checks "held and connected" before each write.
    check_validity_before_write: Option<bool>,
    /// The resource checks the lock node's czxid.
    fencing: Option<bool>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum WatchKey {
    Predecessor,
    Children,
}

/// ZooKeeper's `tickTime` in `zoo_sample.cfg`.
pub const DEFAULT_TICK_MS: u64 = 2000;
/// The session timeout when none is given (kazoo's default; Curator's is 60 s).
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;

/// A compiled `zookeeper` variant: the servers' parameters (the ensemble filled per world), the
/// client's, and the worker's and resource's switches.
#[derive(Clone, Debug)]
pub struct ZkVariant {
    pub server: ZkServerParams,
    pub client: ZkClientParams,
    pub fencing: bool,
    pub check_validity_before_write: bool,
}

/// The `zookeeper` kind's variant from its `[[protocols]]` keys, with ZooKeeper's defaults.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    let tick_ms = positive("tick_ms", k.tick_ms.unwrap_or(DEFAULT_TICK_MS))?;
    let session_timeout_ms = k.session_timeout_ms.unwrap_or(DEFAULT_SESSION_TIMEOUT_MS);
    // The server negotiates the timeout into [2, 20] ticks (minSessionTimeout, maxSessionTimeout);
    // a scenario asking for another value would silently get a different one, so it is refused.
    if !(2 * tick_ms..=20 * tick_ms).contains(&session_timeout_ms) {
        return Err(ParamError::at(
            "session_timeout_ms",
            format!(
                "{session_timeout_ms} ms is outside ZooKeeper's negotiable range [2, 20] × tick_ms = [{}, {}] ms",
                2 * tick_ms,
                20 * tick_ms
            ),
        ));
    }
    let naming = match (k.zk_guid.unwrap_or(true), k.zk_session_in_name.unwrap_or(false)) {
        (true, true) => {
            return Err(ParamError::at(
                "zk_session_in_name",
                "ZooKeeper's WriteLock names its node with the session id instead of a GUID: set `zk_guid = false`",
            ))
        }
        (true, false) => NodeNaming::Guid,
        (false, true) => NodeNaming::SessionId,
        (false, false) => NodeNaming::Plain,
    };
    let watch = match k.zk_watch {
        None | Some(WatchKey::Predecessor) => WatchMode::Predecessor,
        Some(WatchKey::Children) => WatchMode::Children,
    };
    let reconnect_backoff: MsRange = ms_range("retry_backoff_ms", k.retry_backoff_ms, (0, 1000))?;
    Ok(Box::new(ZkVariant {
        server: ZkServerParams { servers: Vec::new(), tick_ms },
        client: ZkClientParams {
            session_timeout_ms,
            naming,
            watch,
            local_expiry: k.zk_local_expiry.unwrap_or(false),
            reconnect_backoff,
        },
        fencing: k.fencing.unwrap_or(false),
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    }))
}

impl ProtocolBuild for ZkVariant {
    /// Every server knows the ensemble; the first leads.
    fn server(&self, servers: &[NodeId], _index: usize) -> Server {
        let mut params = self.server.clone();
        params.servers = servers.to_vec();
        Server::ZkServer(Box::new(ZkServer::new(params)))
    }
    /// Client i's connect string starts at server i (mod n).
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Zk(ZkLock::new(servers.to_vec(), client_index, lock, self.client.clone()))
    }
    /// A session is not a lease on the lock: the client holds until it learns otherwise (the
    /// linearizability spec is a mutex).
    fn ttl_ms(&self) -> Option<u64> {
        None
    }
    /// The lock node's czxid is always there to be checked.
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

/// The variants `locklab check` model-checks: the catalogue's of the same names
/// (`scenarios/zookeeper-session-expiry.toml`).
pub const MODELS: &[ModelVariant] = &[
    zk_model("zookeeper", false, false),
    zk_model("zookeeper-checked", false, true),
    zk_model("zookeeper-fenced", true, false),
];

/// One server (the leader alone, a Zab quorum of one) and a client pause: exhaustive in seconds.
/// Three servers interleave every write's forward, proposals, acks and commits within a tick and
/// do not exhaust within 2 GB even without faults (`models/README.md`, "ZooKeeper").
const ZK_NOTE: &str =
    "one server: three do not exhaust within 2 GB even without faults (models/README.md, \"ZooKeeper\"); \
                       check those with --servers 3 --strategy dfs --timeout S (bounded verdicts)";

const fn zk_model(name: &'static str, fencing: bool, checked: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: true,
        fencing,
        check_validity_before_write: checked,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults: "pause",
        note: ZK_NOTE,
        params: zk_model_params,
    }
}

/// The session timeout is the TTL's 3 ticks and ZooKeeper's tick is the model's: the client's read
/// timeout is 2 ticks and it pings every tick; the leader checks for expired sessions every tick;
/// a reconnect waits one tick.
fn zk_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("session_timeout_ms", t.ms(t.ttl_ticks)),
        ("tick_ms", t.ms(1)),
        ("retry_backoff_ms", t.ms(1)),
        ("zk_guid", "true".into()),
        ("zk_session_in_name", "false".into()),
        ("zk_local_expiry", "false".into()),
        ("zk_watch", "\"predecessor\"".into()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
        ("fencing", v.fencing.to_string()),
    ]
}
