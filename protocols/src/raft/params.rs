//! The `raft` kind's scenario keys, their defaults and their validation, and how a variant builds
//! its peers and client libraries.

use std::any::Any;

use serde::Deserialize;

use super::{CommitRule, RaftClientParams, RaftLock, RaftParams, RaftPeer, ReadMode, WatchMode};
use crate::library::{RetryMode, ValidityBasis};
use crate::node::{LockId, NodeId, Persistence};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{persistence_toml, LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `raft`, in the order error messages list them.
pub const RAFT_KEYS: &[&str] = &[
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
    "home_peer",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    ttl_ms: Option<u64>,
    renew_ms: Option<u64>,
    safety_margin_ms: Option<u64>,
    acquire_timeout_ms: Option<u64>,
    acquire_retries: Option<u32>,
    retry_backoff_ms: Option<MsSpec>,
    retry: Option<RetryMode>,
    validity: Option<ValidityBasis>,
    check_validity_before_write: Option<bool>,
    fencing: Option<bool>,
    persistence: Option<Persistence>,
    election_timeout_ms: Option<MsSpec>,
    raft_heartbeat_ms: Option<u64>,
    pre_vote: Option<bool>,
    check_quorum: Option<bool>,
    persist_vote: Option<bool>,
    commit_rule: Option<CommitRule>,
    raft_max_batch: Option<u32>,
    read: Option<ReadMode>,
    watch: Option<WatchMode>,
    grant_expired_waiter: Option<bool>,
    lease_check_ms: Option<u64>,
    campaign_at_start: Option<bool>,
    wait_recheck_ms: Option<u64>,
    home_peer: Option<bool>,
}

/// A compiled `raft` variant: the peers' parameters (the peer list is filled per world) and the
/// client library's.
#[derive(Clone, Debug)]
pub struct RaftVariant {
    pub peer: RaftParams,
    pub client: RaftClientParams,
    pub fencing: bool,
    pub check_validity_before_write: bool,
}

/// The `raft` kind's variant from its `[[protocols]]` keys.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    let ttl_ms = positive("ttl_ms", k.ttl_ms.unwrap_or(10_000))?;
    if k.renew_ms == Some(0) {
        return Err(ParamError::at("renew_ms", "must be greater than 0 (leave it out for no heartbeat)"));
    }
    let safety_margin_ms = k.safety_margin_ms.unwrap_or(ttl_ms / 100 + 2);
    if safety_margin_ms >= ttl_ms {
        return Err(ParamError::at("safety_margin_ms", format!("{safety_margin_ms} must be below ttl_ms ({ttl_ms})")));
    }
    let acquire_timeout_ms = positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(200))?;
    let retry_backoff = ms_range("retry_backoff_ms", k.retry_backoff_ms, (20, 100))?;
    let election_timeout = ms_range("election_timeout_ms", k.election_timeout_ms, (150, 300))?;
    let validity = k.validity.unwrap_or(ValidityBasis::LocalDuration);
    if validity == ValidityBasis::ServerTimestamp {
        return Err(ParamError::at(
            "validity",
            "a `raft` client measures its lease locally: `local_duration` or `none`",
        ));
    }
    if election_timeout.min_ms == 0 {
        return Err(ParamError::at("election_timeout_ms", "must be greater than 0"));
    }
    let heartbeat_ms = k.raft_heartbeat_ms.unwrap_or(50);
    if heartbeat_ms == 0 || heartbeat_ms >= election_timeout.min_ms {
        return Err(ParamError::at(
            "raft_heartbeat_ms",
            format!("{heartbeat_ms}: must be above 0 and below the election timeout ({} ms)", election_timeout.min_ms),
        ));
    }
    let max_batch = k.raft_max_batch.unwrap_or(64);
    if max_batch == 0 {
        return Err(ParamError::at("raft_max_batch", "must be greater than 0"));
    }
    let lease_check_ms = positive("lease_check_ms", k.lease_check_ms.unwrap_or(50))?;
    let wait_recheck_ms = positive("wait_recheck_ms", k.wait_recheck_ms.unwrap_or(ttl_ms))?;
    let home_peer = k.home_peer.unwrap_or(false);
    let peer = RaftParams {
        peers: Vec::new(),
        election_timeout,
        heartbeat_ms,
        pre_vote: k.pre_vote.unwrap_or(false),
        check_quorum: k.check_quorum.unwrap_or(false),
        // Raft needs its state on disk before it answers: fsync on every write unless told otherwise.
        persistence: k.persistence.unwrap_or(Persistence::Always),
        persist_vote: k.persist_vote.unwrap_or(true),
        commit_rule: k.commit_rule.unwrap_or_default(),
        read: k.read.unwrap_or_default(),
        watch: k.watch.unwrap_or_default(),
        grant_expired_waiter: k.grant_expired_waiter.unwrap_or(false),
        lease_check_ms,
        campaign_at_start: k.campaign_at_start.unwrap_or(true),
        max_batch: max_batch as usize,
        forward_to_leader: home_peer,
    };
    let client = RaftClientParams {
        ttl_ms,
        renew_ms: k.renew_ms.unwrap_or(ttl_ms / 3).max(1),
        request_timeout_ms: acquire_timeout_ms,
        acquire_retries: k.acquire_retries.unwrap_or(1000),
        retry_backoff,
        retry: k.retry.unwrap_or(RetryMode::Idempotent),
        safety_margin_ms,
        validity,
        wait_recheck_ms,
        home_peer,
    };
    Ok(Box::new(RaftVariant {
        peer,
        client,
        fencing: k.fencing.unwrap_or(false),
        check_validity_before_write: k.check_validity_before_write.unwrap_or(false),
    }))
}

impl ProtocolBuild for RaftVariant {
    fn server(&self, servers: &[NodeId], _index: usize) -> Server {
        let mut peer = self.peer.clone();
        peer.peers = servers.to_vec();
        Server::RaftPeer(Box::new(RaftPeer::new(peer)))
    }
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        let mut library = RaftLock::new(servers.to_vec(), lock, self.client.clone());
        if self.client.home_peer {
            // Jepsen binds each client to one node: client j talks only to peer j mod n.
            library.leader = client_index % servers.len();
        }
        LockLibrary::Raft(library)
    }
    fn ttl_ms(&self) -> Option<u64> {
        Some(self.client.ttl_ms)
    }
    /// The service always issues tokens: the lock key's creation revision.
    fn tokens(&self) -> bool {
        true
    }
    fn fencing(&self) -> bool {
        self.fencing
    }
    fn check_validity_before_write(&self) -> bool {
        self.check_validity_before_write
    }
    fn session_lease(&self) -> bool {
        // `RaftLock::start` reuses a live lease: grant only when there is none.
        true
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks: the etcd-style lock service over 3 peers, its
/// sessions' keep-alive every 2 ticks, the key's creation revision as token:
/// * `raft`: the resource does not check the token (Jepsen's etcd lesson: consensus does not make
///   a lease a lock);
/// * `raft-checked`: the worker checks its session's validity before each write; no fencing;
/// * `raft-fenced`: fencing by revision alone: the resource rejects writes with an older
///   revision; no pre-write check.
///
/// Every Raft duration is a whole number of ticks, and the election timeout is fixed (min = max):
/// a randomized timeout would put deadlines between ticks, where the model has no instant. The
/// leader's heartbeat is below it, so without faults no follower ever times out: elections happen
/// only after a fault. The clients start once the first election (s1 campaigns at start) is over:
/// a client racing the election only adds time-outs and retries to the state space.
pub const MODELS: &[ModelVariant] = &[
    raft_model("raft", false, false),
    raft_model("raft-checked", false, true),
    raft_model("raft-fenced", true, false),
];

/// The standard configuration is fault-free: 3 peers and 2 clients interleave the leader's
/// replication to each peer with everything else, and a budget of a single fault (pause, drop,
/// delay or crash) does not exhaust within 60 s and 2 GB (`models/README.md`, "Raft").
const RAFT_NOTE: &str = "a single fault does not exhaust within 60 s and 2 GB (models/README.md, \"Raft\"); \
                         check those with --faults F --strategy dfs --timeout S (bounded verdicts)";

const fn raft_model(name: &'static str, fencing: bool, checked: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: true,
        fencing,
        check_validity_before_write: checked,
        default_servers: 3,
        default_persistence: Persistence::Always,
        timing: ModelTiming {
            client_stagger_ticks: 2,
            lease_check_ticks: 1,
            renew_ticks: 2,
            horizon_ticks: 6,
            first_start_tick: 1,
            ..ModelTiming::DEFAULT
        },
        standard_faults: "none",
        note: RAFT_NOTE,
        params: raft_model_params,
    }
}

fn raft_model_params(v: &ModelVariant, t: &ModelTiming, persistence: Persistence) -> Vec<(&'static str, String)> {
    let quoted = |s: &str| format!("\"{s}\"");
    vec![
        ("ttl_ms", t.ms(t.ttl_ticks)),
        ("renew_ms", t.ms(t.renew_ticks)),
        ("safety_margin_ms", "0".into()),
        ("acquire_timeout_ms", t.ms(1)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("retry_backoff_ms", t.ms(1)),
        ("retry", quoted("idempotent")),
        ("validity", quoted("local_duration")),
        ("check_validity_before_write", v.check_validity_before_write.to_string()),
        ("fencing", v.fencing.to_string()),
        ("election_timeout_ms", format!("{{ min = {0}, max = {0} }}", t.ms(t.election_ticks))),
        ("raft_heartbeat_ms", t.ms(t.heartbeat_ticks)),
        ("lease_check_ms", t.ms(t.lease_check_ticks)),
        ("wait_recheck_ms", t.ms(t.ttl_ticks)),
        ("campaign_at_start", "true".into()),
        ("persistence", persistence_toml(persistence)),
    ]
}
