//! The `postgres` kind's scenario keys, their defaults and their validation, how a variant builds
//! its server and client libraries, and its model-checked variants.

use std::any::Any;

use serde::Deserialize;

use super::client::{PgClientParams, PgLock};
use super::server::{PgServer, PgServerParams, RTO_MIN_MS};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `postgres`, in the order error messages list them.
pub const POSTGRES_KEYS: &[&str] = &[
    "xact_level",
    "acquire_retries",
    "retry_backoff_ms",
    "tcp_keepalives_idle_ms",
    "tcp_keepalives_interval_ms",
    "tcp_keepalives_count",
    "tcp_user_timeout_ms",
    "tcp_rto_min_ms",
    "pooler_transaction_mode",
    "check_validity_before_write",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    xact_level: Option<bool>,
    acquire_retries: Option<u32>,
    retry_backoff_ms: Option<MsSpec>,
    tcp_keepalives_idle_ms: Option<u64>,
    tcp_keepalives_interval_ms: Option<u64>,
    tcp_keepalives_count: Option<u32>,
    tcp_user_timeout_ms: Option<u64>,
    tcp_rto_min_ms: Option<u64>,
    pooler_transaction_mode: Option<bool>,
    check_validity_before_write: Option<bool>,
}

/// Linux defaults (`tcp_keepalives_* = 0` in postgresql.conf means "the system default"):
/// `net.ipv4.tcp_keepalive_time = 7200`, `tcp_keepalive_intvl = 75`, `tcp_keepalive_probes = 9`.
pub const DEFAULT_KEEPALIVES_IDLE_MS: u64 = 7_200_000;
pub const DEFAULT_KEEPALIVES_INTERVAL_MS: u64 = 75_000;
pub const DEFAULT_KEEPALIVES_COUNT: u32 = 9;
/// The application polls `pg_try_advisory_lock` once a second.
pub const DEFAULT_RETRY_BACKOFF_MS: (u64, u64) = (1000, 1000);
pub const DEFAULT_ACQUIRE_RETRIES: u32 = 1000;

/// A compiled `postgres` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgVariant {
    pub server: PgServerParams,
    pub client: PgClientParams,
    pub check_validity_before_write: bool,
}

/// The `postgres` kind's variant from its `[[protocols]]` keys (one server: the database).
pub fn compile(table: &Table, servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    Ok(Box::new(resolve(k, servers)?))
}

fn resolve(k: Keys, servers: u32) -> Result<PgVariant, ParamError> {
    if servers != 1 {
        return Err(ParamError::at(
            "kind",
            format!("postgres is one database server (topology servers = 1), not {servers}"),
        ));
    }
    let rto_min_ms = positive("tcp_rto_min_ms", k.tcp_rto_min_ms.unwrap_or(RTO_MIN_MS))?;
    let server = PgServerParams {
        keepalives_idle_ms: positive(
            "tcp_keepalives_idle_ms",
            k.tcp_keepalives_idle_ms.unwrap_or(DEFAULT_KEEPALIVES_IDLE_MS),
        )?,
        keepalives_interval_ms: positive(
            "tcp_keepalives_interval_ms",
            k.tcp_keepalives_interval_ms.unwrap_or(DEFAULT_KEEPALIVES_INTERVAL_MS),
        )?,
        keepalives_count: positive(
            "tcp_keepalives_count",
            k.tcp_keepalives_count.unwrap_or(DEFAULT_KEEPALIVES_COUNT) as u64,
        )? as u32,
        user_timeout_ms: k.tcp_user_timeout_ms.unwrap_or(0),
        pooler_transaction_mode: k.pooler_transaction_mode.unwrap_or(false),
        rto_min_ms,
    };
    Ok(PgVariant {
        server,
        client: PgClientParams {
            xact_level: k.xact_level.unwrap_or(false),
            acquire_retries: k.acquire_retries.unwrap_or(DEFAULT_ACQUIRE_RETRIES),
            retry: ms_range("retry_backoff_ms", k.retry_backoff_ms, DEFAULT_RETRY_BACKOFF_MS)?,
            rto_min_ms,
        },
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    })
}

impl ProtocolBuild for PgVariant {
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        Server::PgServer(Box::new(PgServer::new(self.server.clone())))
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Pg(PgLock::new(servers[0], lock, self.client.clone()))
    }
    /// No lease: a session holds its lock until it unlocks or ends.
    fn ttl_ms(&self) -> Option<u64> {
        None
    }
    /// No fencing token.
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

/// The variants `locklab check` model-checks: the catalogue's `postgres` (session-level locks,
/// a keepalive scaled to 2 ticks idle + 1 probe of 1 tick) and `postgres-pooled` (the same
/// through PgBouncer in transaction mode).
pub const MODELS: &[ModelVariant] =
    &[postgres_model("postgres", "pause,drop", POSTGRES_NOTE), postgres_model("postgres-pooled", "none", POOLED_NOTE)];

/// Why the standard fault budgets are what they are (printed by `check`).
const POSTGRES_NOTE: &str = "a pause stands for the holder's silence (the simulator defers a paused node's \
                             messages, its kernel's probe answers included): the keepalive (2 ticks idle, \
                             1 probe) ends the believing holder's session — two holders; `--faults none` \
                             and `--faults drop` hold (TCP retransmits)";
const POOLED_NOTE: &str = "no fault needed: through the transaction pooler every client's try lands on the \
                           backend that holds the lock";

const fn postgres_model(name: &'static str, standard_faults: &'static str, note: &'static str) -> ModelVariant {
    ModelVariant {
        name,
        tokens: false,
        fencing: false,
        check_validity_before_write: false,
        default_servers: 1,
        default_persistence: Persistence::None,
        timing: ModelTiming::DEFAULT,
        standard_faults,
        note,
        params: postgres_model_params,
    }
}

fn postgres_model_params(v: &ModelVariant, t: &ModelTiming, _persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("xact_level", "false".into()),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("retry_backoff_ms", t.ms(1)),
        ("tcp_keepalives_idle_ms", t.ms(2)),
        ("tcp_keepalives_interval_ms", t.ms(1)),
        ("tcp_keepalives_count", "1".into()),
        ("tcp_user_timeout_ms", "0".into()),
        ("tcp_rto_min_ms", t.ms(1)),
        ("pooler_transaction_mode", (v.name == "postgres-pooled").to_string()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_are_the_linux_and_postgres_defaults() {
        let v = resolve(read(&table("")).unwrap(), 1).unwrap();
        assert_eq!(v.server.keepalives_idle_ms, 7_200_000);
        assert_eq!(v.server.keepalives_interval_ms, 75_000);
        assert_eq!(v.server.keepalives_count, 9);
        assert_eq!(v.server.user_timeout_ms, 0);
        assert!(!v.server.pooler_transaction_mode);
        assert!(!v.client.xact_level);
        let e = resolve(read(&table("tcp_keepalives_count = 0")).unwrap(), 1).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("tcp_keepalives_count"));
        assert!(resolve(read(&table("")).unwrap(), 3).is_err());
    }
}
