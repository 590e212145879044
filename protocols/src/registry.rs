//! The registry: the one place outside a protocol's folder that names it.
//!
//! * The closed enums that wrap every protocol's types, each generated from a list with one line
//!   per protocol: [`Msg`] (any message), [`Server`] (any protocol's server node), [`LockLibrary`]
//!   (any client library the worker can drive, through [`LockClient`]) and [`Durable`] (what any
//!   node keeps on disk). [`crate::Node`] (at the crate root: it wraps the worker, which sits
//!   above the registry) wraps [`Server`] with the protocol-neutral roles.
//! * [`PROTOCOL_KINDS`], the table of protocol kinds: the scenario `kind`, the report's family,
//!   the keys it takes, the folder function that resolves them into a [`ProtocolBuild`] (which
//!   builds the kind's nodes), and its model-checked variants ([`ModelVariant`]). The simulator
//!   (validation, worlds, the report's families, the properties a variant owes), the models and
//!   the CLI read it and name no protocol.

use crate::azure::{self, AzureLock};
use crate::chubby::{self, ChubbyLock};
use crate::consul::{self, ConsulLock};
use crate::dynamodb::{self, DynamoDbLock};
use crate::gcs::{self, GcsLock};
use crate::godistlock;
use crate::history::SessionId;
use crate::lease::{self, LeaseLock};
use crate::library::{LockClient, LockEvent};
use crate::lockable;
use crate::msg::{KvMsg, ResourceMsg, StoreMsg};
use crate::node::{Ctx, Input, LockId, NodeId, Persistence, Timer};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::postgres;
use crate::raft::{self, RaftLock};
use crate::redlock::{Redlock, RedlockParams};
use crate::s3::{self, S3Lock};
use crate::skinny::{self, SkinnyLock};
use crate::store;
use crate::zookeeper::{self, ZkLock};

// ---- The wrappers: one line per protocol in each list ----

/// A message set's payload in [`Msg`]: the type itself, or boxed when marked `[boxed]`.
macro_rules! payload {
    ($ty:ty) => { $ty };
    ($ty:ty, boxed) => { Box<$ty> };
}

/// Generates [`Msg`]: a variant per message set, its kind (`kind()`, every kind in
/// [`Msg::kinds`]) and its trace line, each the wrapped type's own.
///
/// A set marked `[boxed]` travels in a `Box`: `Msg` is as wide as its widest payload, and every
/// delivery copies it several times over (effect buffer, event slab, the node's input), so a
/// few wide sets that few scenarios speak go behind a pointer (one allocation per message of
/// theirs) rather than widen every message of every protocol. Serde, `Debug`, `Display`,
/// equality, order and hashing see through the box: traces and reports are unchanged.
macro_rules! messages {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) $([$boxed:ident])?,)*) => {
        /// Any message between two nodes: one enum for every protocol, so a world of mixed roles
        /// is one type and the simulator's hot loop stays free of dynamic dispatch.
        #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Msg {
            $($(#[$doc])* $variant(payload!($ty $(, $boxed)?)),)*
        }

        impl Msg {
            /// The message kind, as named in scenario files (targeted drops and delays).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Msg::$variant(m) => m.kind(),)*
                }
            }

            /// Every message kind, for validating scenario files.
            pub fn kinds() -> Vec<&'static str> {
                let mut kinds = Vec::new();
                $(kinds.extend_from_slice(<$ty>::KINDS);)*
                kinds
            }
        }

        /// One-line rendering for traces; values shortened to 4 hex digits (enough to tell them
        /// apart).
        impl std::fmt::Display for Msg {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Msg::$variant(m) => write!(f, "{m}"),)*
                }
            }
        }
    };
}

messages! {
    /// The key-value lease commands: lease and Redlock clients to lease servers.
    Kv(KvMsg),
    /// The worker and the protected resource.
    Resource(ResourceMsg),
    /// Lease server replication.
    Lease(lease::LeaseMsg),
    /// Raft's RPCs and its lock service's client protocol.
    Raft(raft::RaftMsg),
    /// skinny (Paxos lock): its lock API and its two phases.
    Skinny(skinny::SkinnyMsg),
    /// GoDistLock: its client protocol (`ON`/`OFF`) and its relay phases (`PROP`/`SCHED`/`COMM`).
    GoDistLock(godistlock::GoDistLockMsg),
    /// ZooKeeper: the client protocol and Zab's broadcast between servers (boxed: 80 bytes wide).
    Zk(zookeeper::ZkMsg) [boxed],
    /// Chubby: sessions, KeepAlives, locks, and the cell's replication and succession.
    Chubby(chubby::ChubbyMsg),
    /// Consul: sessions, KV locks, Serf probes and the servers' replication.
    Consul(consul::ConsulMsg),
    /// The conditional-write store: DynamoDB's and the object-store lock clients to the store
    /// (boxed: 112 bytes wide).
    Store(StoreMsg) [boxed],
    /// PostgreSQL: statements on a connection, their results, TCP acks, keepalive probes, RST.
    Pg(postgres::PgMsg),
    /// Lockable: `acquire`/`heartbeat`/`release` by lock name, and their boolean answers.
    Lockable(lockable::LockableMsg),
}

/// Generates [`Server`]: a variant per protocol server, dispatching inputs to it.
macro_rules! servers {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// Any protocol's server node.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Server {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Server {
            /// Feed one input to the server; its effects are appended to the context's buffer.
            pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
                match self {
                    $(Server::$variant(n) => n.handle(ctx, input),)*
                }
            }
        }
    };
}

servers! {
    /// A lease server (Redis `SET NX PX`, or Redisson's scripts); Redlock runs several.
    LeaseServer(lease::LeaseServer),
    /// A Raft peer hosting the lock service (boxed: large).
    RaftPeer(Box<raft::RaftPeer>),
    /// A skinny instance (Paxos acceptor, proposer and lock API).
    SkinnyInstance(Box<skinny::SkinnyInstance>),
    /// A GoDistLock server (lock table, coordinator, relay peer).
    GoDistLockServer(Box<godistlock::GoDistLockServer>),
    /// A ZooKeeper server (a member of the ensemble).
    ZkServer(Box<zookeeper::ZkServer>),
    /// A Chubby server (a replica of the cell; the master while it holds the role).
    ChubbyServer(Box<chubby::ChubbyServer>),
    /// A Consul server (the replicated state store; sessions, KV locks and Serf on the leader).
    ConsulServer(Box<consul::ConsulServer>),
    /// The conditional-write store (DynamoDB, S3, GCS, Azure Blob), built by [`store_server`].
    StoreServer(store::StoreServer),
    /// A PostgreSQL server (sessions, advisory locks, TCP keepalive; optionally PgBouncer).
    PgServer(Box<postgres::PgServer>),
    /// The Lockable service (named locks with a 60 s lease).
    LockableServer(Box<lockable::LockableServer>),
}

/// Generates [`LockLibrary`]: a variant per client library, dispatching the worker's calls to its
/// [`LockClient`] implementation.
macro_rules! libraries {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// The lock libraries a client can use.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum LockLibrary {
            $($(#[$doc])* $variant($ty),)*
        }

        impl LockLibrary {
            fn client(&self) -> &dyn LockClient {
                match self {
                    $(LockLibrary::$variant(l) => l,)*
                }
            }
            fn client_mut(&mut self) -> &mut dyn LockClient {
                match self {
                    $(LockLibrary::$variant(l) => l,)*
                }
            }
        }
    };
}

libraries! {
    Lease(LeaseLock),
    Redlock(Redlock),
    /// The etcd-style lock over the Raft lock service.
    Raft(RaftLock),
    /// skinny's client library (one instance at a time).
    Skinny(SkinnyLock),
    /// GoDistLock's client library (`ON`/`OFF` to one server).
    GoDistLock(godistlock::GoDistLockClient),
    /// ZooKeeper's lock recipe over a session.
    Zk(ZkLock),
    /// Chubby's client library (a session kept alive, locks under it).
    Chubby(ChubbyLock),
    /// Consul's `api/lock.go` over sessions and KV locks.
    Consul(ConsulLock),
    /// amazon-dynamodb-lock-client over the conditional-write store.
    DynamoDb(DynamoDbLock),
    /// The GCS lock (FooBarWidget's Ruby gem) over the conditional-write store.
    Gcs(GcsLock),
    /// A lock on S3 conditional writes over the conditional-write store.
    S3(S3Lock),
    /// A lock on an Azure blob lease over the conditional-write store.
    Azure(AzureLock),
    /// A PostgreSQL advisory lock over one connection.
    Pg(postgres::PgLock),
    /// lockable-py's `Lock` (a heartbeat thread whose failures reach no-op callbacks).
    Lockable(lockable::LockableLock),
}

impl LockLibrary {
    pub(crate) fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        self.client_mut().acquire(ctx, session, lock)
    }
    pub(crate) fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        self.client_mut().release(ctx)
    }
    /// Does the library consider the lock held and valid now?
    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        self.client().is_valid(ctx)
    }
    /// Record that the worker found the lease invalid (the library stops believing).
    pub(crate) fn mark_lost(&mut self, ctx: &mut Ctx) {
        self.client_mut().mark_lost(ctx)
    }
    /// The fencing token of the current lease, if the service issues them.
    pub fn token(&self) -> Option<u64> {
        self.client().token()
    }
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        self.client_mut().on_timer(ctx, timer)
    }
    pub(crate) fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        self.client_mut().on_message(ctx, from, msg)
    }
}

/// Generates [`Durable`]: a variant per protocol that keeps state on disk.
macro_rules! durables {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// Durable state a node may keep on disk across a crash.
        #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Durable {
            $($(#[$doc])* $variant($ty),)*
        }
    };
}

durables! {
    LeaseServer(lease::ServerDurable),
    /// A Raft peer's term, vote and log.
    Raft(raft::RaftDurable),
    /// The conditional-write store's table and generation counter.
    Store(store::StoreDurable),
}

/// The conditional-write store, for the kinds built on it (their folders may not import
/// `store/`: the registry composes them, as it does Redlock). `record_grants`: the store records a
/// history `Grant` with the new generation as token on each full write of an unreleased item (for
/// a client that uses the generation as its fencing token).
pub fn store_server(record_grants: bool) -> Server {
    Server::StoreServer(store::StoreServer::new(store::StoreParams { record_grants }))
}

/// A compiled protocol variant: its parameters resolved from the scenario file's keys, and how it
/// builds the nodes of a world. Each protocol folder implements it for its own variant type; the
/// simulator builds every world through it without naming a protocol.
pub trait ProtocolBuild: std::fmt::Debug + Send + Sync + 'static {
    /// Server `index` of `servers` (their node ids, in order).
    fn server(&self, servers: &[NodeId], index: usize) -> Server;
    /// The lock library of client `client_index` (0-based), for lock `lock`.
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary;
    /// The lease TTL the service promises its clients; `None`: no lease (a holder holds until it
    /// releases, and the linearizability spec is a mutex).
    fn ttl_ms(&self) -> Option<u64>;
    /// The servers hand out fencing tokens.
    fn tokens(&self) -> bool;
    /// The resource checks fencing tokens.
    fn fencing(&self) -> bool;
    /// The worker checks the lease before each write.
    fn check_validity_before_write(&self) -> bool;
    /// The lease is a session the library reuses across acquires (etcd's `Session`, kept alive
    /// in the background and shared by every `Mutex.Lock`): an acquire does not renew it, so
    /// the linearizability spec takes no expiry bound from an acquire, only from the holder's
    /// keep-alives. False where each acquire starts its own lease (Redis keys, a Consul
    /// session created per acquire).
    fn session_lease(&self) -> bool {
        false
    }
    /// For the live tier, which maps some kinds onto real servers and needs their parameters.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Resolve a `[[protocols]]` entry's keys (besides `name`, `kind`, `expect`) for a world of
/// `servers` servers.
pub type Compile = fn(&Table, u32) -> Result<Box<dyn ProtocolBuild>, ParamError>;

/// One protocol kind, as scenario files name it (`kind = "…"` in `[[protocols]]`), with what the
/// simulator, the models and the CLI need to know of it without naming it themselves.
#[derive(Clone, Copy)]
pub struct ProtocolKind {
    /// The scenario file's `kind`.
    pub name: &'static str,
    /// The report's family column (`compare`'s matrix, `--protocol` filters).
    pub family: &'static str,
    /// The family when the resource checks fencing tokens (`fencing = true`).
    pub fenced_family: &'static str,
    /// The `[[protocols]]` keys this kind takes (besides `name`, `kind` and `expect`), in the order
    /// error messages list them.
    pub params: &'static [&'static str],
    /// The servers are Raft peers: the service always issues tokens (revisions), Raft's own
    /// invariants are checked, and expiry is lazy (the leader revokes from a periodic check, so a
    /// TTL is a lower bound).
    pub replicated_log: bool,
    /// The service revokes an expired lease lazily: its TTL is a lower bound (the linearizability
    /// spec is then a lease with lazy expiry). Raft's leases; Consul's sessions (reaped at up to
    /// twice their TTL).
    pub lazy_expiry: bool,
    /// The kind's parameters, resolved and validated by its own folder.
    pub compile: Compile,
    /// The variants `locklab check` model-checks, with their standard configurations.
    pub models: &'static [ModelVariant],
}

impl std::fmt::Debug for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolKind").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PartialEq for ProtocolKind {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl ProtocolKind {
    /// The report's family of a variant of this kind.
    pub fn family(&self, fencing: bool) -> &'static str {
        if fencing {
            self.fenced_family
        } else {
            self.family
        }
    }
}

/// Every protocol kind. A new protocol adds its line here (and its folder).
pub const PROTOCOL_KINDS: &[ProtocolKind] = &[
    ProtocolKind {
        name: "lease",
        family: "LEASE",
        fenced_family: "FENCED",
        params: lease::LEASE_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: lease::compile_lease,
        models: lease::MODELS,
    },
    ProtocolKind {
        name: "replicated-lease",
        family: "LEASE",
        fenced_family: "FENCED",
        params: lease::REPLICATED_LEASE_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: lease::compile_replicated,
        models: &[],
    },
    ProtocolKind {
        name: "redlock",
        family: "REDLOCK",
        fenced_family: "REDLOCK",
        params: REDLOCK_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: compile_redlock,
        models: REDLOCK_MODELS,
    },
    ProtocolKind {
        name: "raft",
        family: "RAFT",
        fenced_family: "RAFT",
        params: raft::RAFT_KEYS,
        replicated_log: true,
        lazy_expiry: true,
        compile: raft::compile,
        models: raft::MODELS,
    },
    ProtocolKind {
        name: "skinny",
        family: "SKINNY",
        fenced_family: "SKINNY",
        params: skinny::SKINNY_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: skinny::compile,
        models: skinny::MODELS,
    },
    ProtocolKind {
        name: "godistlock",
        family: "GODISTLOCK",
        fenced_family: "GODISTLOCK",
        params: godistlock::GODISTLOCK_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: godistlock::compile,
        models: godistlock::MODELS,
    },
    ProtocolKind {
        name: "zookeeper",
        family: "ZOOKEEPER",
        fenced_family: "ZOOKEEPER",
        params: zookeeper::ZOOKEEPER_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: zookeeper::compile,
        models: zookeeper::MODELS,
    },
    ProtocolKind {
        name: "chubby",
        family: "CHUBBY",
        fenced_family: "CHUBBY",
        params: chubby::CHUBBY_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: chubby::compile,
        models: chubby::MODELS,
    },
    ProtocolKind {
        name: "consul",
        family: "CONSUL",
        fenced_family: "CONSUL",
        params: consul::CONSUL_KEYS,
        replicated_log: false,
        lazy_expiry: true,
        compile: consul::compile,
        models: consul::MODELS,
    },
    ProtocolKind {
        name: "dynamodb",
        family: "DYNAMODB",
        fenced_family: "DYNAMODB",
        params: dynamodb::DYNAMODB_KEYS,
        replicated_log: false,
        lazy_expiry: true,
        compile: dynamodb::compile,
        models: dynamodb::MODELS,
    },
    ProtocolKind {
        name: "gcs",
        family: "GCS",
        fenced_family: "GCS",
        params: gcs::GCS_KEYS,
        replicated_log: false,
        lazy_expiry: true,
        compile: gcs::compile,
        models: gcs::MODELS,
    },
    ProtocolKind {
        name: "s3",
        family: "S3",
        fenced_family: "S3",
        params: s3::S3_KEYS,
        replicated_log: false,
        lazy_expiry: true,
        compile: s3::compile,
        models: s3::MODELS,
    },
    ProtocolKind {
        name: "azure",
        family: "AZURE",
        fenced_family: "AZURE",
        params: azure::AZURE_KEYS,
        replicated_log: false,
        lazy_expiry: true,
        compile: azure::compile,
        models: azure::MODELS,
    },
    ProtocolKind {
        name: "postgres",
        family: "POSTGRES",
        fenced_family: "POSTGRES",
        params: postgres::POSTGRES_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: postgres::compile,
        models: postgres::MODELS,
    },
    ProtocolKind {
        name: "lockable",
        family: "LOCKABLE",
        fenced_family: "LOCKABLE",
        params: lockable::LOCKABLE_KEYS,
        replicated_log: false,
        lazy_expiry: false,
        compile: lockable::compile,
        models: lockable::MODELS,
    },
];

/// The kind named `name`, if there is one.
pub fn protocol_kind(name: &str) -> Option<&'static ProtocolKind> {
    PROTOCOL_KINDS.iter().find(|k| k.name == name)
}

/// The names of every kind, for error messages.
pub fn protocol_kind_names() -> Vec<&'static str> {
    PROTOCOL_KINDS.iter().map(|k| k.name).collect()
}

/// Model time for `locklab check`. Every duration the protocols use is a whole number of ticks,
/// so that a timer set on a tick boundary falls due exactly on a later boundary, in the model and
/// in the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelTiming {
    /// One step of true time.
    pub tick_ms: u64,
    /// Lease TTL, in ticks (the tick is TTL/3 by default: coarse enough to stay small, fine
    /// enough that "before expiry", "at expiry" and "after expiry" are distinct instants).
    pub ttl_ticks: u32,
    /// Further acquire requests after the first: enough to outlast one TTL of back-off.
    pub acquire_retries: u32,
    /// The think time inside a critical section.
    pub think_ticks: u32,
    /// True time stops here: no `Tick` beyond it.
    pub horizon_ticks: u32,
    /// How far a clock-jump fault steps a wall clock forward.
    pub clock_jump_ms: i64,
    /// The lease and Raft clients' keep-alive (heartbeat) period, below the TTL.
    pub renew_ticks: u32,
    /// Raft only: the election timeout (fixed: min = max), the leader's heartbeat period and the
    /// leader's lease-expiry check period, in ticks.
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub lease_check_ticks: u32,
    /// Client i starts this many ticks after client i - 1.
    pub client_stagger_ticks: u32,
    /// The first client starts at this tick (Raft's clients wait for the first election).
    pub first_start_tick: u32,
}

impl ModelTiming {
    /// The lease family's timing, the base of every other.
    pub const DEFAULT: ModelTiming = ModelTiming {
        tick_ms: 1000,
        ttl_ticks: 3,
        acquire_retries: 4,
        think_ticks: 1,
        horizon_ticks: 9,
        clock_jump_ms: 3000,
        election_ticks: 3,
        heartbeat_ticks: 2,
        renew_ticks: 2,
        lease_check_ticks: 3,
        client_stagger_ticks: 1,
        first_start_tick: 0,
    };

    /// `ticks` as milliseconds, as a scenario file writes them.
    pub fn ms(&self, ticks: u32) -> String {
        (ticks as u64 * self.tick_ms).to_string()
    }
}

impl Default for ModelTiming {
    fn default() -> Self {
        ModelTiming::DEFAULT
    }
}

/// One variant `locklab check` model-checks: what tells it apart from the other variants of its
/// kind (the same switches as the catalogue's variant of the same name), its standard
/// configuration, and its `[[protocols]]` keys with every duration a whole number of ticks.
pub struct ModelVariant {
    /// The name `check` accepts (the catalogue's variant of the same name).
    pub name: &'static str,
    /// The servers hand out fencing tokens.
    pub tokens: bool,
    /// The resource rejects a write whose token is below the highest it has seen.
    pub fencing: bool,
    /// The worker checks its lease by its own clock before each write.
    pub check_validity_before_write: bool,
    pub default_servers: u32,
    pub default_persistence: Persistence,
    pub timing: ModelTiming,
    /// The standard configuration's fault budget (`check`'s default; CI checks it and the README
    /// quotes it), for 2 clients and `default_servers` servers.
    pub standard_faults: &'static str,
    /// Why the standard configuration's fault budget is what it is (printed by `check`).
    pub note: &'static str,
    /// The `[[protocols]]` keys after `name` and `kind`, every parameter explicit, values as TOML
    /// writes them.
    pub params: fn(&ModelVariant, &ModelTiming, Persistence) -> Vec<(&'static str, String)>,
}

impl std::fmt::Debug for ModelVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelVariant").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A persistence policy as a scenario file writes it.
pub fn persistence_toml(p: Persistence) -> String {
    format!(
        "\"{}\"",
        match p {
            Persistence::None => "none",
            Persistence::Always => "always",
            Persistence::Everysec => "everysec",
        }
    )
}

// ---- Redlock: the one kind made of two folders (its client library over lease servers) ----

/// The keys of `redlock`.
pub const REDLOCK_KEYS: &[&str] = &[
    "ttl_ms",
    "expiry_clock",
    "persistence",
    "restart_delay_ms",
    "renew_ms",
    "acquire_retries",
    "server_timeout_ms",
    "drift_factor",
    "drift_extra_ms",
    "validity_check",
    "retry_delay_ms",
    "check_validity_before_write",
];

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RedlockKeys {
    ttl_ms: Option<u64>,
    expiry_clock: Option<lease::ExpiryClock>,
    persistence: Option<Persistence>,
    restart_delay_ms: Option<u64>,
    renew_ms: Option<u64>,
    acquire_retries: Option<u32>,
    server_timeout_ms: Option<u64>,
    drift_factor: Option<f64>,
    drift_extra_ms: Option<u64>,
    validity_check: Option<bool>,
    retry_delay_ms: Option<MsSpec>,
    check_validity_before_write: Option<bool>,
}

/// A compiled `redlock` variant: the library's parameters and its independent lease servers'.
#[derive(Clone, Debug)]
pub struct RedlockVariant {
    pub server: lease::LeaseServerParams,
    pub client: RedlockParams,
    pub check_validity_before_write: bool,
}

fn compile_redlock(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: RedlockKeys = read(table)?;
    let ttl_ms = positive("ttl_ms", k.ttl_ms.unwrap_or(10_000))?;
    if k.renew_ms == Some(0) {
        return Err(ParamError::at("renew_ms", "must be greater than 0 (leave it out for no heartbeat)"));
    }
    let server_timeout_ms = positive("server_timeout_ms", k.server_timeout_ms.unwrap_or(50))?;
    let drift_factor = k.drift_factor.unwrap_or(0.01);
    if !(0.0..1.0).contains(&drift_factor) {
        return Err(ParamError::at("drift_factor", format!("{drift_factor}: must be in [0, 1)")));
    }
    let retry_delay = ms_range("retry_delay_ms", k.retry_delay_ms, (20, 200))?;
    let client = RedlockParams {
        ttl_ms,
        server_timeout_ms,
        drift_factor_ppm: (drift_factor * 1e6).round() as u64,
        drift_extra_ms: k.drift_extra_ms.unwrap_or(2),
        validity_check: k.validity_check.unwrap_or(true),
        retry_delay,
        acquire_retries: k.acquire_retries.unwrap_or(1000),
        renew_ms: k.renew_ms,
    };
    let server = lease::server_params(&lease::ServerKeys {
        kind: lease::ServerKind::Redis,
        expiry_clock: k.expiry_clock,
        persistence: k.persistence,
        tokens: false,
        token_counter: None,
        restart_delay_ms: k.restart_delay_ms,
        initial_token: None,
        replication_delay_ms: None,
        lock_delay_ms: None,
    });
    Ok(Box::new(RedlockVariant {
        server,
        client,
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    }))
}

impl ProtocolBuild for RedlockVariant {
    fn server(&self, _servers: &[NodeId], _index: usize) -> Server {
        Server::LeaseServer(lease::LeaseServer::new(self.server.clone()))
    }
    fn library(&self, servers: &[NodeId], _client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Redlock(Redlock::new(servers.to_vec(), lock, self.client.clone()))
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
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Redlock's model: a TTL of 5 ticks and a critical section of 3: a restarted server is back two
/// ticks after its crash at the earliest, and a client that failed a round waits a timeout and a
/// back-off, so with the lease's timing every holder would have released (or its lease run out)
/// before a second client could gather a majority, and the model would prove safe a
/// configuration that is not. Redlock keeps nothing on disk (the configuration the Redis document
/// warns about).
const REDLOCK_MODELS: &[ModelVariant] = &[ModelVariant {
    name: "redlock",
    tokens: false,
    fencing: false,
    check_validity_before_write: false,
    default_servers: 3,
    default_persistence: Persistence::None,
    timing: ModelTiming { ttl_ticks: 5, think_ticks: 3, clock_jump_ms: 5000, horizon_ticks: 9, ..ModelTiming::DEFAULT },
    standard_faults: "jump,crash",
    note: "",
    params: redlock_model_params,
}];

fn redlock_model_params(v: &ModelVariant, t: &ModelTiming, persistence: Persistence) -> Vec<(&'static str, String)> {
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("server_timeout_ms", t.ms(1)),
        ("drift_factor", "0.01".into()),
        ("drift_extra_ms", "2".into()),
        ("validity_check", "true".into()),
        ("retry_delay_ms", t.ms(1)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
        ("expiry_clock", "\"wall\"".into()),
        ("persistence", persistence_toml(persistence)),
        ("restart_delay_ms", "0".into()),
    ]
}
