//! The registry: the closed enums that wrap every protocol's types — [`Durable`] (what any node
//! keeps on disk) and [`LockLibrary`] (any client library the worker can drive) — dispatching to
//! each protocol's folder; and [`PROTOCOL_KINDS`], the table of protocol kinds with their scenario
//! parameters, which the simulator (validation, the report's families, the properties a variant
//! owes), the models and the CLI read. Together with [`crate::msg::Msg`] and [`crate::Node`] (at
//! the crate root: it wraps the worker, which sits above the registry), this is the one place
//! outside a protocol's folder that names it.

use crate::consul::ConsulLock;
use crate::history::SessionId;
use crate::lease::{self, LeaseLock};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{Ctx, LockId, NodeId, Timer};
use crate::raft::{self, RaftLock};
use crate::redlock::Redlock;
use crate::skinny::SkinnyLock;

/// Durable state a node may keep on disk across a crash.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Durable {
    LeaseServer(lease::ServerDurable),
    /// A Raft peer's term, vote and log.
    Raft(raft::RaftDurable),
}

/// The lock libraries a client can use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockLibrary {
    Lease(LeaseLock),
    Redlock(Redlock),
    /// The etcd-style lock over the Raft lock service.
    Raft(RaftLock),
    /// skinny's client library (one instance at a time).
    Skinny(SkinnyLock),
    /// Consul's `api/lock.go` over sessions and KV locks.
    Consul(ConsulLock),
}

impl LockLibrary {
    pub(crate) fn acquire(&mut self, ctx: &mut Ctx, session: SessionId, lock: LockId) {
        match self {
            LockLibrary::Lease(l) => l.acquire(ctx, session, lock),
            LockLibrary::Redlock(l) => l.acquire(ctx, session, lock),
            LockLibrary::Raft(l) => l.acquire(ctx, session, lock),
            LockLibrary::Skinny(l) => l.acquire(ctx, session, lock),
            LockLibrary::Consul(l) => l.acquire(ctx, session, lock),
        }
    }
    pub(crate) fn release(&mut self, ctx: &mut Ctx) -> Option<LockEvent> {
        match self {
            LockLibrary::Lease(l) => l.release(ctx),
            LockLibrary::Redlock(l) => l.release(ctx),
            LockLibrary::Raft(l) => l.release(ctx),
            LockLibrary::Skinny(l) => l.release(ctx),
            LockLibrary::Consul(l) => l.release(ctx),
        }
    }
    /// Does the library consider the lock held and valid now?
    pub fn is_valid(&self, ctx: &Ctx) -> bool {
        match self {
            LockLibrary::Lease(l) => l.is_valid(ctx),
            LockLibrary::Redlock(l) => l.is_valid(ctx),
            LockLibrary::Raft(l) => l.is_valid(ctx),
            LockLibrary::Skinny(l) => l.is_valid(ctx),
            LockLibrary::Consul(l) => l.is_valid(ctx),
        }
    }
    /// Record that the worker found the lease invalid (the library stops believing).
    pub(crate) fn mark_lost(&mut self, ctx: &mut Ctx) {
        match self {
            LockLibrary::Lease(l) => l.mark_lost(ctx),
            LockLibrary::Redlock(l) => l.mark_lost(ctx),
            LockLibrary::Raft(l) => l.mark_lost(ctx),
            LockLibrary::Skinny(l) => l.mark_lost(ctx),
            LockLibrary::Consul(l) => l.mark_lost(ctx),
        }
    }
    /// The fencing token of the current lease, if the service issues them.
    pub fn token(&self) -> Option<u64> {
        match self {
            LockLibrary::Lease(l) => l.token(),
            LockLibrary::Redlock(_) => None,
            LockLibrary::Raft(l) => l.token(),
            LockLibrary::Skinny(l) => l.token(),
            LockLibrary::Consul(l) => l.token(),
        }
    }
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) -> Option<LockEvent> {
        match self {
            LockLibrary::Lease(l) => l.on_timer(ctx, timer),
            LockLibrary::Redlock(l) => l.on_timer(ctx, timer),
            LockLibrary::Raft(l) => l.on_timer(ctx, timer),
            LockLibrary::Skinny(l) => l.on_timer(ctx, timer),
            LockLibrary::Consul(l) => l.on_timer(ctx, timer),
        }
    }
    pub(crate) fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) -> Option<LockEvent> {
        match self {
            LockLibrary::Lease(l) => l.on_message(ctx, msg),
            LockLibrary::Redlock(l) => l.on_message(ctx, from, msg),
            LockLibrary::Raft(l) => l.on_message(ctx, from, msg),
            LockLibrary::Skinny(l) => l.on_message(ctx, msg),
            LockLibrary::Consul(l) => l.on_message(ctx, from, msg),
        }
    }
}

/// One protocol kind, as scenario files name it (`kind = "…"` in `[[protocols]]`), with what the
/// simulator, the models and the CLI need to know of it without naming it themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    ProtocolKind { name: "lease", family: "LEASE", fenced_family: "FENCED", params: LEASE, replicated_log: false },
    ProtocolKind {
        name: "replicated-lease",
        family: "LEASE",
        fenced_family: "FENCED",
        params: REPLICATED_LEASE,
        replicated_log: false,
    },
    ProtocolKind {
        name: "redlock",
        family: "REDLOCK",
        fenced_family: "REDLOCK",
        params: REDLOCK,
        replicated_log: false,
    },
    ProtocolKind { name: "raft", family: "RAFT", fenced_family: "RAFT", params: RAFT, replicated_log: true },
    ProtocolKind { name: "skinny", family: "SKINNY", fenced_family: "SKINNY", params: SKINNY, replicated_log: false },
    ProtocolKind { name: "consul", family: "CONSUL", fenced_family: "CONSUL", params: CONSUL, replicated_log: false },
];

/// The kind named `name`, if there is one.
pub fn protocol_kind(name: &str) -> Option<&'static ProtocolKind> {
    PROTOCOL_KINDS.iter().find(|k| k.name == name)
}

/// The names of every kind, for error messages.
pub fn protocol_kind_names() -> Vec<&'static str> {
    PROTOCOL_KINDS.iter().map(|k| k.name).collect()
}

/// The scenario parameters of `lease`.
const LEASE: &[&str] = &[
    "ttl_ms",
    "expiry_clock",
    "persistence",
    "restart_delay_ms",
    "renew_ms",
    "acquire_retries",
    "safety_margin_ms",
    "heartbeat_timeout_ms",
    "acquire_timeout_ms",
    "retry_backoff_ms",
    "retry",
    "release",
    "validity",
    "check_validity_before_write",
    "tokens",
    "fencing",
    "token_counter",
    "initial_token",
    "lock_delay_ms",
    "server",
];

/// The scenario parameters of `replicated-lease`.
const REPLICATED_LEASE: &[&str] = &[
    "ttl_ms",
    "expiry_clock",
    "persistence",
    "restart_delay_ms",
    "renew_ms",
    "acquire_retries",
    "safety_margin_ms",
    "heartbeat_timeout_ms",
    "acquire_timeout_ms",
    "retry_backoff_ms",
    "retry",
    "release",
    "validity",
    "check_validity_before_write",
    "tokens",
    "fencing",
    "token_counter",
    "replication_delay_ms",
    "failover_after_timeouts",
];

/// The scenario parameters of `redlock`.
const REDLOCK: &[&str] = &[
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

/// The scenario parameters of `raft`.
const RAFT: &[&str] = &[
    "ttl_ms",
    "renew_ms",
    "safety_margin_ms",
    "acquire_timeout_ms",
    "acquire_retries",
    "retry_backoff_ms",
    "retry",
    "validity",
    "check_validity_before_write",
    "fencing",
    "persistence",
    "election_timeout_ms",
    "raft_heartbeat_ms",
    "pre_vote",
    "check_quorum",
    "persist_vote",
    "commit_rule",
    "raft_max_batch",
    "read",
    "watch",
    "grant_expired_waiter",
    "lease_check_ms",
    "campaign_at_start",
    "wait_recheck_ms",
];

/// The scenario parameters of `skinny`.
const SKINNY: &[&str] =
    &["acquire_timeout_ms", "acquire_retries", "retry_backoff_ms", "server_timeout_ms", "skinny_fixed"];

/// The scenario parameters of `consul` (resolved by `consul::ConsulOptions::resolve`).
const CONSUL: &[&str] = &[
    "ttl_ms",
    "lock_delay_ms",
    "session_behavior",
    "session_checks",
    "serf_detect_ms",
    "serf_probe_ms",
    "consul_token",
    "renew_ms",
    "raft_heartbeat_ms",
    "election_timeout_ms",
    "acquire_timeout_ms",
    "acquire_retries",
    "retry_backoff_ms",
    "fencing",
    "check_validity_before_write",
];
