//! From a parsed [`Scenario`] to a validated [`Compiled`] scenario, and from that plus a seed to
//! a [`WorldSpec`]. Validation happens once, here, and every error is located in the file.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use toml::Spanned;

use locklab_protocols::consul::{ConsulOptions, ConsulVariant};
use locklab_protocols::lease::{ExpiryClock, LeaseServerParams, ServerKind, TokenCounter};
use locklab_protocols::lease::{LeaseClientParams, ReleaseMode};
use locklab_protocols::library::{RetryMode, ValidityBasis};
use locklab_protocols::node::{MsRange, Persistence};
use locklab_protocols::raft::RaftClientParams;
use locklab_protocols::raft::RaftParams;
use locklab_protocols::redlock::RedlockParams;
use locklab_protocols::registry::{protocol_kind, protocol_kind_names, ProtocolKind};
use locklab_protocols::skinny::{SkinnyClientParams, SkinnyInstance, SkinnyLock, SkinnyParams};
use locklab_protocols::worker::WorkloadParams;
use locklab_protocols::LockLibrary;
use locklab_protocols::{ms, Client, LeaseLock, LeaseServer, Msg, Node, NodeId, RaftLock, RaftPeer, Redlock, Resource};

use crate::clock::Clock;
use crate::scenario::{FaultSpec, InputError, Locator, MsSpec, ProtocolSpec, Scenario};
use crate::world::{stream, sub_seed, Action, Chance, Link, MessageRule, Trigger, WorldSpec, TRIGGER_EVENTS};

/// The longest simulated time a scenario may last, in ms.
pub const MAX_DURATION_MS: u64 = 1_000_000_000;

/// The outcomes a property can have, as written in `expect` tables and reports.
pub const OUTCOMES: &[&str] = &["holds", "violated", "vacuous", "n/a"];

/// A protocol variant, with every parameter resolved.
#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub kind: String,
    pub server: LeaseServerParams,
    pub client: ClientParams,
    /// The resource checks fencing tokens.
    pub fencing: bool,
    /// The worker checks the lease before each write.
    pub check_validity_before_write: bool,
    /// Expected outcome per property name.
    pub expect: Vec<(String, String)>,
    pub max_acquire_ms_at_least: Option<u64>,
    pub max_acquire_ms_at_most: Option<u64>,
    /// `raft`: the peers' and the client library's parameters (the peer list is filled per world).
    pub raft: Option<RaftVariant>,
}

/// A `raft` variant's parameters.
#[derive(Clone, Debug)]
pub struct RaftVariant {
    pub peer: RaftParams,
    pub client: RaftClientParams,
}

/// The client library's parameters, by protocol kind.
#[derive(Clone, Debug)]
pub enum ClientParams {
    Lease(LeaseClientParams),
    Redlock(RedlockParams),
    /// skinny: the instances' parameters (peers and increments filled per world) and the library's.
    Skinny(SkinnyParams, SkinnyClientParams),
    /// consul: the servers' parameters (server list filled per world) and the library's.
    Consul(Box<ConsulVariant>),
}

impl Variant {
    /// The lease TTL the service promises its clients.
    pub fn ttl_ms(&self) -> Option<u64> {
        match &self.client {
            ClientParams::Lease(p) => Some(p.ttl_ms),
            ClientParams::Redlock(p) => Some(p.ttl_ms),
            // No lease: a holder holds until it releases (the linearizability spec is a mutex).
            ClientParams::Skinny(..) => None,
            // The session's TTL, a lower bound (the leader reaps at up to twice it): lazy expiry.
            ClientParams::Consul(c) => Some(c.client.ttl_ms),
        }
    }

    /// The properties a complete expectation of this variant declares: the four that every lock
    /// service has, token order when the service issues fencing tokens, and Raft's own invariants
    /// when the servers are Raft peers. A variant that leaves one of them open is `unchecked`:
    /// `compare` and `run --expect` fail on it, so a missing expectation never passes silently.
    pub fn required_properties(&self) -> Vec<&'static str> {
        let mut required = vec!["no_stale_write", "mutual_exclusion", "linearizable", "liveness"];
        let replicated_log = self.protocol().replicated_log;
        if replicated_log || self.server.tokens {
            required.push("token_order");
        }
        if replicated_log {
            required.push("raft_safety");
        }
        required
    }

    /// The required properties the scenario file leaves without an expectation.
    pub fn undeclared(&self) -> Vec<&'static str> {
        self.required_properties().into_iter().filter(|p| !self.expect.iter().any(|(q, _)| q == p)).collect()
    }

    /// Does the service revoke an expired lease lazily (a TTL that is a lower bound)? The
    /// etcd-style Raft service does: its leader revokes expired leases from a periodic check.
    pub fn lazy_expiry(&self) -> bool {
        self.protocol().replicated_log || matches!(self.client, ClientParams::Consul(_))
    }

    /// The protocol family, as the literature's catalogue names it (the report's columns).
    pub fn family(&self) -> &'static str {
        self.protocol().family(self.fencing)
    }

    /// The registry's entry for this variant's kind (validated when the scenario was compiled).
    pub fn protocol(&self) -> &'static ProtocolKind {
        protocol_kind(&self.kind).expect("a compiled variant's kind is in the registry")
    }
}

/// When a fault happens.
#[derive(Clone, Debug)]
enum When {
    At(u64),
    After { event: &'static str, node: NodeId, nth: u32, delay_ns: u64 },
}

/// A scenario, validated, with names resolved to node ids.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub file: String,
    pub scenario: Scenario,
    pub names: Vec<String>,
    pub servers: Vec<NodeId>,
    /// The first resource (`r1`).
    pub resource: NodeId,
    /// Every resource: lock `i` guards `resources[i]`.
    pub resources: Vec<NodeId>,
    pub clients: Vec<NodeId>,
    pub variants: Vec<Variant>,
    faults: Vec<(When, Vec<(u64, Action)>)>,
    rules: Vec<MessageRule>,
    clock_overrides: Vec<(NodeId, Option<i64>, Option<i32>)>,
    link_overrides: Vec<LinkOverride>,
}

/// A `[[network.links]]` entry with names resolved.
#[derive(Clone, Debug)]
struct LinkOverride {
    from: NodeId,
    to: NodeId,
    latency: Option<MsSpec>,
    loss: Option<f64>,
    duplicate: Option<f64>,
}

fn check_probability(loc: &Locator, span: std::ops::Range<usize>, field: &str, p: f64) -> Result<(), InputError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(loc.at(span, field, format!("{p} is not a probability (0.0 to 1.0)")))
    }
}

fn check_range(loc: &Locator, field: &str, spec: &MsSpec) -> Result<(), InputError> {
    if let MsSpec::Range(r) = spec {
        if r.min > r.max {
            return Err(loc.whole(Some(field), format!("min ({}) is greater than max ({})", r.min, r.max)));
        }
    }
    Ok(())
}

/// Validate a parsed scenario. `source` is the file's text (for line numbers).
pub fn compile(file: &str, source: &str, scenario: Scenario) -> Result<Compiled, InputError> {
    let loc = Locator { file, source };
    let topo = &scenario.topology;
    if topo.servers == 0 || topo.servers > 9 {
        return Err(
            loc.whole(Some("topology.servers"), format!("{} servers: between 1 and 9 are supported", topo.servers))
        );
    }
    if topo.clients == 0 || topo.clients > 16 {
        return Err(
            loc.whole(Some("topology.clients"), format!("{} clients: between 1 and 16 are supported", topo.clients))
        );
    }
    if scenario.scenario.duration_ms == 0 {
        return Err(loc.whole(Some("scenario.duration_ms"), "must be greater than 0"));
    }
    if scenario.scenario.duration_ms > MAX_DURATION_MS {
        return Err(loc.whole(
            Some("scenario.duration_ms"),
            format!(
                "{} ms: at most {MAX_DURATION_MS} ms (about 11.6 simulated days) — a run costs time in proportion \
                 to simulated time, and a longer one could not finish",
                scenario.scenario.duration_ms
            ),
        ));
    }
    let mut names = Vec::new();
    let servers: Vec<NodeId> = (0..topo.servers as usize).collect();
    names.extend((1..=topo.servers).map(|i| format!("s{i}")));
    let locks = scenario.workload.locks;
    if locks == 0 || locks > 8 {
        return Err(loc.whole(Some("workload.locks"), format!("{locks} locks: between 1 and 8 are supported")));
    }
    let resource = names.len();
    let resources: Vec<NodeId> = (resource..resource + locks as usize).collect();
    names.extend((1..=locks).map(|i| format!("r{i}")));
    let clients: Vec<NodeId> = (names.len()..names.len() + topo.clients as usize).collect();
    names.extend((1..=topo.clients).map(|i| format!("c{i}")));

    let node_id = |name: &Spanned<String>, field: &str| -> Result<NodeId, InputError> {
        names.iter().position(|n| n == name.get_ref()).ok_or_else(|| {
            loc.at(
                name.span(),
                field,
                format!("unknown node `{}`; this scenario's nodes are: {}", name.get_ref(), names.join(", ")),
            )
        })
    };

    // Network.
    let net = &scenario.network;
    check_range(&loc, "network.latency_ms", &net.latency_ms)?;
    for (field, p) in
        [("network.loss", net.loss), ("network.duplicate", net.duplicate), ("network.reorder", net.reorder)]
    {
        if !(0.0..=1.0).contains(&p) {
            return Err(loc.whole(Some(field), format!("{p} is not a probability (0.0 to 1.0)")));
        }
    }
    let mut link_overrides = Vec::new();
    for link in &net.links {
        let from = node_id(&link.from, "network.links.from")?;
        let to = node_id(&link.to, "network.links.to")?;
        if let Some(spec) = &link.latency_ms {
            check_range(&loc, "network.links.latency_ms", spec)?;
        }
        for (field, p) in [("loss", link.loss), ("duplicate", link.duplicate)] {
            if let Some(p) = p {
                check_probability(&loc, link.from.span(), field, p)?;
            }
        }
        link_overrides.push(LinkOverride {
            from,
            to,
            latency: link.latency_ms,
            loss: link.loss,
            duplicate: link.duplicate,
        });
    }

    // Clocks.
    if scenario.clocks.drift_ppm_max >= 100_000 {
        return Err(loc.whole(Some("clocks.drift_ppm_max"), "must be below 100000 ppm (10%)"));
    }
    let mut clock_overrides = Vec::new();
    for c in &scenario.clocks.nodes {
        let node = node_id(&c.node, "clocks.nodes.node")?;
        if let Some(d) = c.drift_ppm {
            if d.unsigned_abs() >= 100_000 {
                return Err(loc.at(c.node.span(), "drift_ppm", format!("{d} ppm: must be within ±100000")));
            }
        }
        clock_overrides.push((node, c.offset_ms, c.drift_ppm));
    }

    // Workload.
    let w = &scenario.workload;
    for (field, spec) in
        [("workload.think_ms", &w.think_ms), ("workload.idle_ms", &w.idle_ms), ("workload.start_ms", &w.start_ms)]
    {
        check_range(&loc, field, spec)?;
    }
    if let Some(starts) = &w.client_start_ms {
        if starts.len() != topo.clients as usize {
            return Err(loc.whole(
                Some("workload.client_start_ms"),
                format!("{} entries for {} clients: give one start time per client", starts.len(), topo.clients),
            ));
        }
    }
    if w.ops_per_session == 0 {
        return Err(loc.whole(Some("workload.ops_per_session"), "must be at least 1"));
    }

    // Faults.
    let mut faults = Vec::new();
    let mut rules = Vec::new();
    for f in &scenario.faults {
        compile_fault(&loc, f, &node_id, &mut faults, &mut rules)?;
    }

    // Protocols.
    if scenario.protocols.is_empty() {
        return Err(loc.whole(Some("protocols"), "at least one [[protocols]] entry is needed"));
    }
    let mut variants: Vec<Variant> = Vec::new();
    for p in &scenario.protocols {
        let v = compile_protocol(&loc, p, topo.servers)?;
        if variants.iter().any(|o| o.name == v.name) {
            return Err(loc.at(p.name.span(), "name", format!("protocol variant `{}` is declared twice", v.name)));
        }
        variants.push(v);
    }

    Ok(Compiled {
        file: file.to_string(),
        scenario,
        names,
        servers,
        resource,
        resources,
        clients,
        variants,
        faults,
        rules,
        clock_overrides,
        link_overrides,
    })
}

type NodeIdFn<'a> = dyn Fn(&Spanned<String>, &str) -> Result<NodeId, InputError> + 'a;

fn compile_fault(
    loc: &Locator,
    f: &FaultSpec,
    node_id: &NodeIdFn,
    faults: &mut Vec<(When, Vec<(u64, Action)>)>,
    rules: &mut Vec<MessageRule>,
) -> Result<(), InputError> {
    let kind = f.kind.get_ref().as_str();
    let span = f.kind.span();
    let allowed: &[&str] = match kind {
        "pause" => &["at_ms", "after", "delay_ms", "node", "duration_ms"],
        "crash" => &["at_ms", "after", "delay_ms", "node", "duration_ms"],
        "clock_jump" => &["at_ms", "after", "delay_ms", "node", "by_ms"],
        "partition" => &["at_ms", "after", "delay_ms", "duration_ms", "groups", "from", "to"],
        "drop" => &["message", "from", "to", "nth", "count"],
        "delay" => &["message", "from", "to", "nth", "count", "extra_ms"],
        other => {
            return Err(loc.at(
                span,
                "kind",
                format!("unknown fault kind `{other}`; valid kinds: pause, crash, clock_jump, partition, drop, delay"),
            ))
        }
    };
    let present = [
        ("at_ms", f.at_ms.is_some()),
        ("after", f.after.is_some()),
        ("delay_ms", f.delay_ms != 0),
        ("node", f.node.is_some()),
        ("duration_ms", f.duration_ms.is_some()),
        ("by_ms", f.by_ms.is_some()),
        ("groups", f.groups.is_some()),
        ("from", f.from.is_some()),
        ("to", f.to.is_some()),
        ("message", f.message.is_some()),
        ("nth", f.nth.is_some()),
        ("count", f.count.is_some()),
        ("extra_ms", f.extra_ms.is_some()),
    ];
    for (field, is_set) in present {
        if is_set && !allowed.contains(&field) {
            return Err(loc.at(
                span.clone(),
                field,
                format!("does not apply to a `{kind}` fault (it takes: {})", allowed.join(", ")),
            ));
        }
    }
    let required = |field: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(loc.at(span.clone(), field, format!("a `{kind}` fault needs `{field}`")))
        }
    };

    if kind == "drop" || kind == "delay" {
        required("message", f.message.is_some())?;
        let message = f.message.as_ref().expect("checked");
        let Some(&kind_name) = Msg::KINDS.iter().find(|k| **k == message.get_ref()) else {
            return Err(loc.at(
                message.span(),
                "message",
                format!("unknown message kind `{}`; valid kinds: {}", message.get_ref(), Msg::KINDS.join(", ")),
            ));
        };
        let ids = |v: &Option<Vec<Spanned<String>>>, field: &str| -> Result<Vec<NodeId>, InputError> {
            v.iter().flatten().map(|n| node_id(n, field)).collect()
        };
        let delay_ns = if kind == "delay" {
            required("extra_ms", f.extra_ms.is_some())?;
            Some(ms(f.extra_ms.expect("checked")))
        } else {
            None
        };
        let nth = f.nth.unwrap_or(1);
        if nth == 0 {
            return Err(loc.at(span, "nth", "counts from 1"));
        }
        rules.push(MessageRule {
            kind: kind_name,
            from: ids(&f.from, "from")?,
            to: ids(&f.to, "to")?,
            nth,
            count: f.count.unwrap_or(1),
            seen: 0,
            delay_ns,
        });
        return Ok(());
    }

    let when = match (&f.at_ms, &f.after) {
        (Some(at), None) => When::At(ms(*at)),
        (None, Some(t)) => {
            let Some(&event) = TRIGGER_EVENTS.iter().find(|e| **e == t.event.get_ref()) else {
                return Err(loc.at(
                    t.event.span(),
                    "after.event",
                    format!(
                        "unknown trigger event `{}`; valid events: {}",
                        t.event.get_ref(),
                        TRIGGER_EVENTS.join(", ")
                    ),
                ));
            };
            if t.nth == 0 {
                return Err(loc.at(t.event.span(), "after.nth", "counts from 1"));
            }
            When::After { event, node: node_id(&t.node, "after.node")?, nth: t.nth, delay_ns: ms(f.delay_ms) }
        }
        _ => return Err(loc.at(span, "at_ms", format!("a `{kind}` fault needs exactly one of `at_ms` or `after`"))),
    };

    let mut actions = Vec::new();
    match kind {
        "pause" => {
            required("node", f.node.is_some())?;
            required("duration_ms", f.duration_ms.is_some())?;
            let node = node_id(f.node.as_ref().expect("checked"), "node")?;
            actions.push((0, Action::Pause { node, duration_ns: ms(f.duration_ms.expect("checked")) }));
        }
        "crash" => {
            required("node", f.node.is_some())?;
            let node = node_id(f.node.as_ref().expect("checked"), "node")?;
            actions.push((0, Action::Crash { node }));
            if let Some(d) = f.duration_ms {
                actions.push((ms(d), Action::Restart { node }));
            }
        }
        "clock_jump" => {
            required("node", f.node.is_some())?;
            required("by_ms", f.by_ms.is_some())?;
            let node = node_id(f.node.as_ref().expect("checked"), "node")?;
            actions.push((0, Action::ClockJump { node, by_ns: f.by_ms.expect("checked") * 1_000_000 }));
        }
        "partition" => {
            let mut links = Vec::new();
            let description = match (&f.groups, &f.from, &f.to) {
                (Some(spec_groups), None, None) => {
                    let groups: Vec<Vec<NodeId>> = spec_groups
                        .iter()
                        .map(|g| g.iter().map(|n| node_id(n, "groups")).collect::<Result<_, _>>())
                        .collect::<Result<_, _>>()?;
                    if groups.len() < 2 {
                        return Err(loc.at(span, "groups", "a partition needs at least two groups"));
                    }
                    for (i, a) in groups.iter().enumerate() {
                        for b in groups.iter().skip(i + 1) {
                            for &x in a {
                                for &y in b {
                                    links.push((x, y));
                                    links.push((y, x));
                                }
                            }
                        }
                    }
                    spec_groups
                        .iter()
                        .map(|g| {
                            format!("{{{}}}", g.iter().map(|n| n.get_ref().as_str()).collect::<Vec<_>>().join(","))
                        })
                        .collect::<Vec<_>>()
                        .join(" | ")
                }
                (None, Some(spec_from), Some(spec_to)) => {
                    let from: Vec<NodeId> = spec_from.iter().map(|n| node_id(n, "from")).collect::<Result<_, _>>()?;
                    let to: Vec<NodeId> = spec_to.iter().map(|n| node_id(n, "to")).collect::<Result<_, _>>()?;
                    for &x in &from {
                        for &y in &to {
                            links.push((x, y));
                        }
                    }
                    let names =
                        |v: &Vec<Spanned<String>>| v.iter().map(|n| n.get_ref().as_str()).collect::<Vec<_>>().join(",");
                    format!("one-way {} -> {}", names(spec_from), names(spec_to))
                }
                _ => return Err(loc.at(span, "groups", "a partition needs either `groups` or both `from` and `to`")),
            };
            actions.push((0, Action::Partition { links: links.clone(), description: description.clone(), on: true }));
            if let Some(d) = f.duration_ms {
                actions.push((ms(d), Action::Partition { links, description, on: false }));
            }
        }
        _ => unreachable!("kinds checked above"),
    }
    faults.push((when, actions));
    Ok(())
}

fn compile_protocol(loc: &Locator, p: &ProtocolSpec, servers: u32) -> Result<Variant, InputError> {
    let kind = p.kind.get_ref().as_str();
    let at = |field: &str, message: String| loc.in_entry(p.name.span(), field, message);
    let Some(protocol) = protocol_kind(kind) else {
        return Err(loc.at(
            p.kind.span(),
            "kind",
            format!("unknown protocol kind `{kind}`; valid kinds: {}", protocol_kind_names().join(", ")),
        ));
    };
    let present = [
        ("ttl_ms", p.ttl_ms.is_some()),
        ("safety_margin_ms", p.safety_margin_ms.is_some()),
        ("renew_ms", p.renew_ms.is_some()),
        ("heartbeat_timeout_ms", p.heartbeat_timeout_ms.is_some()),
        ("acquire_timeout_ms", p.acquire_timeout_ms.is_some()),
        ("acquire_retries", p.acquire_retries.is_some()),
        ("retry_backoff_ms", p.retry_backoff_ms.is_some()),
        ("retry", p.retry.is_some()),
        ("release", p.release.is_some()),
        ("validity", p.validity.is_some()),
        ("check_validity_before_write", p.check_validity_before_write.is_some()),
        ("tokens", p.tokens.is_some()),
        ("fencing", p.fencing.is_some()),
        ("token_counter", p.token_counter.is_some()),
        ("initial_token", p.initial_token.is_some()),
        ("expiry_clock", p.expiry_clock.is_some()),
        ("persistence", p.persistence.is_some()),
        ("restart_delay_ms", p.restart_delay_ms.is_some()),
        ("lock_delay_ms", p.lock_delay_ms.is_some()),
        ("server", p.server.is_some()),
        ("server_timeout_ms", p.server_timeout_ms.is_some()),
        ("drift_factor", p.drift_factor.is_some()),
        ("drift_extra_ms", p.drift_extra_ms.is_some()),
        ("validity_check", p.validity_check.is_some()),
        ("retry_delay_ms", p.retry_delay_ms.is_some()),
        ("replication_delay_ms", p.replication_delay_ms.is_some()),
        ("failover_after_timeouts", p.failover_after_timeouts.is_some()),
        ("election_timeout_ms", p.election_timeout_ms.is_some()),
        ("raft_heartbeat_ms", p.raft_heartbeat_ms.is_some()),
        ("pre_vote", p.pre_vote.is_some()),
        ("check_quorum", p.check_quorum.is_some()),
        ("persist_vote", p.persist_vote.is_some()),
        ("commit_rule", p.commit_rule.is_some()),
        ("raft_max_batch", p.raft_max_batch.is_some()),
        ("read", p.read.is_some()),
        ("watch", p.watch.is_some()),
        ("grant_expired_waiter", p.grant_expired_waiter.is_some()),
        ("lease_check_ms", p.lease_check_ms.is_some()),
        ("campaign_at_start", p.campaign_at_start.is_some()),
        ("wait_recheck_ms", p.wait_recheck_ms.is_some()),
        ("skinny_fixed", p.skinny_fixed.is_some()),
        ("session_behavior", p.session_behavior.is_some()),
        ("session_checks", p.session_checks.is_some()),
        ("serf_detect_ms", p.serf_detect_ms.is_some()),
        ("serf_probe_ms", p.serf_probe_ms.is_some()),
        ("consul_token", p.consul_token.is_some()),
    ];
    // The keys this kind takes (besides `name`, `kind` and `expect`): the registry's.
    let keys = protocol.params;
    for (field, is_set) in present {
        if is_set && !keys.contains(&field) {
            return Err(at(field, format!("does not apply to a `{kind}` protocol (it takes: {})", keys.join(", "))));
        }
    }
    match kind {
        "replicated-lease" if servers < 2 => {
            return Err(loc.at(
                p.kind.span(),
                "kind",
                "a `replicated-lease` needs a primary and a replica: servers ≥ 2",
            ))
        }
        _ => {}
    }
    let ttl_ms = p.ttl_ms.unwrap_or(10_000);
    if ttl_ms == 0 {
        return Err(at("ttl_ms", "must be greater than 0".into()));
    }
    if p.renew_ms == Some(0) {
        return Err(at("renew_ms", "must be greater than 0 (leave it out for no heartbeat)".into()));
    }
    let fencing = p.fencing.unwrap_or(false);
    // Consul always returns `LockIndex`: its grants carry tokens (token order is owed).
    let tokens = p.tokens.unwrap_or(fencing) || kind == "consul";
    if fencing && !tokens {
        return Err(at("tokens", "`fencing = true` needs the server to issue tokens (`tokens = true`)".into()));
    }
    let server_kind = p.server.unwrap_or(ServerKind::Redis);
    if server_kind == ServerKind::Redisson && p.retry == Some(RetryMode::Naive) {
        return Err(at(
            "retry",
            "a `redisson` client keeps one value per client (`<UUID>:<thread id>`); `naive` draws new ones".into(),
        ));
    }
    let client = if kind == "consul" {
        if let Some(r) = &p.retry_backoff_ms {
            check_range(loc, "retry_backoff_ms", r)?;
        }
        let election_timeout_ms = match p.election_timeout_ms {
            None => None,
            Some(MsSpec::Fixed(v)) => Some(v),
            Some(MsSpec::Range(_)) => {
                return Err(at("election_timeout_ms", "a `consul` succession uses one fixed timeout".into()))
            }
        };
        let options = ConsulOptions {
            ttl_ms: p.ttl_ms,
            lock_delay_ms: p.lock_delay_ms,
            session_behavior: p.session_behavior,
            session_checks: p.session_checks,
            serf_detect_ms: p.serf_detect_ms,
            serf_probe_ms: p.serf_probe_ms,
            consul_token: p.consul_token,
            renew_ms: p.renew_ms,
            raft_heartbeat_ms: p.raft_heartbeat_ms,
            election_timeout_ms,
            acquire_timeout_ms: p.acquire_timeout_ms,
            acquire_retries: p.acquire_retries,
            retry_backoff: p.retry_backoff_ms.map(|r| r.range()),
        };
        ClientParams::Consul(Box::new(options.resolve().map_err(|(field, message)| at(field, message))?))
    } else if kind == "skinny" {
        let timeout_ms = p.server_timeout_ms.unwrap_or(500);
        let client_timeout_ms = p.acquire_timeout_ms.unwrap_or(5000);
        for (field, value) in [("server_timeout_ms", timeout_ms), ("acquire_timeout_ms", client_timeout_ms)] {
            if value == 0 {
                return Err(at(field, "must be greater than 0".into()));
            }
        }
        let retry_backoff =
            p.retry_backoff_ms.unwrap_or(MsSpec::Range(crate::scenario::MsBounds { min: 20, max: 100 }));
        check_range(loc, "retry_backoff_ms", &retry_backoff)?;
        ClientParams::Skinny(
            SkinnyParams { peers: Vec::new(), increment: 0, timeout_ms, fixed: p.skinny_fixed.unwrap_or(false) },
            SkinnyClientParams {
                timeout_ms: client_timeout_ms,
                acquire_retries: p.acquire_retries.unwrap_or(1000),
                retry_backoff: retry_backoff.range(),
            },
        )
    } else if kind == "redlock" {
        let server_timeout_ms = p.server_timeout_ms.unwrap_or(50);
        if server_timeout_ms == 0 {
            return Err(at("server_timeout_ms", "must be greater than 0".into()));
        }
        let drift_factor = p.drift_factor.unwrap_or(0.01);
        if !(0.0..1.0).contains(&drift_factor) {
            return Err(at("drift_factor", format!("{drift_factor}: must be in [0, 1)")));
        }
        let retry_delay = p.retry_delay_ms.unwrap_or(MsSpec::Range(crate::scenario::MsBounds { min: 20, max: 200 }));
        check_range(loc, "retry_delay_ms", &retry_delay)?;
        ClientParams::Redlock(RedlockParams {
            ttl_ms,
            server_timeout_ms,
            drift_factor_ppm: (drift_factor * 1e6).round() as u64,
            drift_extra_ms: p.drift_extra_ms.unwrap_or(2),
            validity_check: p.validity_check.unwrap_or(true),
            retry_delay: retry_delay.range(),
            acquire_retries: p.acquire_retries.unwrap_or(1000),
            renew_ms: p.renew_ms,
        })
    } else {
        // Redlock's drift allowance (1% of the TTL plus 2 ms) makes a sensible default margin.
        let safety_margin_ms = p.safety_margin_ms.unwrap_or(ttl_ms / 100 + 2);
        if safety_margin_ms >= ttl_ms {
            return Err(at("safety_margin_ms", format!("{safety_margin_ms} must be below ttl_ms ({ttl_ms})")));
        }
        let acquire_timeout_ms = p.acquire_timeout_ms.unwrap_or(200);
        if acquire_timeout_ms == 0 {
            return Err(at("acquire_timeout_ms", "must be greater than 0".into()));
        }
        let retry_backoff =
            p.retry_backoff_ms.unwrap_or(MsSpec::Range(crate::scenario::MsBounds { min: 20, max: 100 }));
        check_range(loc, "retry_backoff_ms", &retry_backoff)?;
        ClientParams::Lease(LeaseClientParams {
            ttl_ms,
            safety_margin_ms,
            renew_ms: p.renew_ms,
            heartbeat_timeout_ms: match p.heartbeat_timeout_ms {
                Some(0) => None,
                Some(t) => Some(t),
                None => Some(acquire_timeout_ms),
            },
            acquire_timeout_ms,
            acquire_retries: p.acquire_retries.unwrap_or(1000),
            retry_backoff: retry_backoff.range(),
            retry: p.retry.unwrap_or(RetryMode::Idempotent),
            release: p.release.unwrap_or(ReleaseMode::CompareAndDelete),
            validity: p.validity.unwrap_or(ValidityBasis::LocalDuration),
            failover_after_timeouts: p.failover_after_timeouts.unwrap_or(2).max(1),
            value_per_client: server_kind == ServerKind::Redisson,
        })
    };
    let server = LeaseServerParams {
        kind: server_kind,
        expiry_clock: p.expiry_clock.unwrap_or(ExpiryClock::Wall),
        persistence: p.persistence.unwrap_or(Persistence::None),
        tokens,
        token_counter: p.token_counter.unwrap_or(TokenCounter::Durable),
        restart_delay_ms: p.restart_delay_ms.unwrap_or(0),
        initial_token: p.initial_token.unwrap_or(0),
        replicate_to: Vec::new(),
        replication_delay_ms: p.replication_delay_ms.unwrap_or(10),
        lock_delay_ms: p.lock_delay_ms.unwrap_or(0),
    };
    let raft = match (&client, kind) {
        (ClientParams::Lease(lease), "raft") => Some(compile_raft(loc, p, lease)?),
        _ => None,
    };
    let mut expect = Vec::new();
    let e = &p.expect;
    for (property, value) in [
        ("no_stale_write", &e.no_stale_write),
        ("mutual_exclusion", &e.mutual_exclusion),
        ("linearizable", &e.linearizable),
        ("token_order", &e.token_order),
        ("liveness", &e.liveness),
        ("raft_safety", &e.raft_safety),
    ] {
        if let Some(v) = value {
            if !OUTCOMES.contains(&v.get_ref().as_str()) {
                return Err(loc.at(
                    v.span(),
                    &format!("expect.{property}"),
                    format!("`{}` is not an outcome; valid outcomes: {}", v.get_ref(), OUTCOMES.join(", ")),
                ));
            }
            expect.push((property.to_string(), v.get_ref().clone()));
        }
    }
    Ok(Variant {
        name: p.name.get_ref().clone(),
        kind: kind.to_string(),
        server,
        client,
        fencing,
        check_validity_before_write: p.check_validity_before_write.unwrap_or(false),
        expect,
        max_acquire_ms_at_least: e.max_acquire_ms_at_least,
        max_acquire_ms_at_most: e.max_acquire_ms_at_most,
        raft,
    })
}

/// A `raft` variant's parameters, from the keys it takes and the lease client's resolved ones.
fn compile_raft(loc: &Locator, p: &ProtocolSpec, lease: &LeaseClientParams) -> Result<RaftVariant, InputError> {
    let at = |field: &str, message: String| loc.in_entry(p.name.span(), field, message);
    let election = p.election_timeout_ms.unwrap_or(MsSpec::Range(crate::scenario::MsBounds { min: 150, max: 300 }));
    check_range(loc, "election_timeout_ms", &election)?;
    let election_timeout = election.range();
    if lease.validity == ValidityBasis::ServerTimestamp {
        return Err(at("validity", "a `raft` client measures its lease locally: `local_duration` or `none`".into()));
    }
    if election_timeout.min_ms == 0 {
        return Err(at("election_timeout_ms", "must be greater than 0".into()));
    }
    let heartbeat_ms = p.raft_heartbeat_ms.unwrap_or(50);
    if heartbeat_ms == 0 || heartbeat_ms >= election_timeout.min_ms {
        return Err(at(
            "raft_heartbeat_ms",
            format!("{heartbeat_ms}: must be above 0 and below the election timeout ({} ms)", election_timeout.min_ms),
        ));
    }
    let lease_check_ms = p.lease_check_ms.unwrap_or(50);
    let max_batch = p.raft_max_batch.unwrap_or(64);
    if max_batch == 0 {
        return Err(at("raft_max_batch", "must be greater than 0".into()));
    }
    let wait_recheck_ms = p.wait_recheck_ms.unwrap_or(lease.ttl_ms);
    for (field, value) in [("lease_check_ms", lease_check_ms), ("wait_recheck_ms", wait_recheck_ms)] {
        if value == 0 {
            return Err(at(field, "must be greater than 0".into()));
        }
    }
    let peer = RaftParams {
        peers: Vec::new(),
        election_timeout,
        heartbeat_ms,
        pre_vote: p.pre_vote.unwrap_or(false),
        check_quorum: p.check_quorum.unwrap_or(false),
        // Raft needs its state on disk before it answers: fsync on every write unless told otherwise.
        persistence: p.persistence.unwrap_or(Persistence::Always),
        persist_vote: p.persist_vote.unwrap_or(true),
        commit_rule: p.commit_rule.unwrap_or_default(),
        read: p.read.unwrap_or_default(),
        watch: p.watch.unwrap_or_default(),
        grant_expired_waiter: p.grant_expired_waiter.unwrap_or(false),
        lease_check_ms,
        campaign_at_start: p.campaign_at_start.unwrap_or(true),
        max_batch: max_batch as usize,
    };
    let client = RaftClientParams {
        ttl_ms: lease.ttl_ms,
        renew_ms: p.renew_ms.unwrap_or(lease.ttl_ms / 3).max(1),
        request_timeout_ms: lease.acquire_timeout_ms,
        acquire_retries: lease.acquire_retries,
        retry_backoff: lease.retry_backoff,
        retry: lease.retry,
        safety_margin_ms: lease.safety_margin_ms,
        validity: lease.validity,
        wait_recheck_ms,
    };
    Ok(RaftVariant { peer, client })
}

fn range_ns(spec: &MsSpec) -> (u64, u64) {
    let r = spec.range();
    (ms(r.min_ms), ms(r.max_ms))
}

fn draw(rng: &mut ChaCha8Rng, min: u64, max: u64) -> u64 {
    if max <= min {
        min
    } else {
        min + rng.next_u64() % (max - min + 1)
    }
}

impl Compiled {
    /// The variant named `name`.
    pub fn variant(&self, name: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.name == name)
    }

    /// Does anything in this scenario draw from the seed? (If not, every seed gives the same run.)
    pub fn has_randomness(&self) -> bool {
        let s = &self.scenario;
        let ranged = |m: &MsSpec| matches!(m, MsSpec::Range(r) if r.min != r.max);
        ranged(&s.network.latency_ms)
            || s.network.loss > 0.0
            || s.network.duplicate > 0.0
            || s.network.reorder > 0.0
            || s.clocks.drift_ppm_max > 0
            || s.clocks.offset_ms_max > 0
            || ranged(&s.workload.think_ms)
            || ranged(&s.workload.idle_ms)
            || ranged(&s.workload.start_ms)
    }

    /// Build the world for one variant and one seed.
    pub fn world_spec(&self, variant: usize, seed: u64, trace: bool) -> WorldSpec {
        let v = &self.variants[variant];
        let n = self.names.len();
        let s = &self.scenario;

        let mut clock_rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, stream::CLOCKS));
        let drift_max = s.clocks.drift_ppm_max as i64;
        let offset_max = s.clocks.offset_ms_max as i64;
        let mut clocks: Vec<Clock> = (0..n)
            .map(|_| {
                let drift = draw(&mut clock_rng, 0, 2 * drift_max as u64) as i64 - drift_max;
                let offset_ms = draw(&mut clock_rng, 0, 2 * offset_max as u64) as i64 - offset_max;
                Clock::new(drift as i32, offset_ms * 1_000_000)
            })
            .collect();
        for &(node, offset_ms, drift_ppm) in &self.clock_overrides {
            if let Some(o) = offset_ms {
                clocks[node].wall_offset_ns = o * 1_000_000;
            }
            if let Some(d) = drift_ppm {
                clocks[node].drift_ppm = d;
            }
        }

        let (lat_min, lat_max) = range_ns(&s.network.latency_ms);
        let base = Link {
            latency_min_ns: lat_min,
            latency_max_ns: lat_max,
            loss: Chance::new(s.network.loss),
            duplicate: Chance::new(s.network.duplicate),
            reorder: Chance::new(s.network.reorder),
            reorder_max_ns: ms(s.network.reorder_ms),
        };
        let mut links = vec![base; n * n];
        for o in &self.link_overrides {
            let link = &mut links[o.from * n + o.to];
            if let Some(l) = o.latency {
                (link.latency_min_ns, link.latency_max_ns) = range_ns(&l);
            }
            if let Some(p) = o.loss {
                link.loss = Chance::new(p);
            }
            if let Some(p) = o.duplicate {
                link.duplicate = Chance::new(p);
            }
        }

        let w = &s.workload;
        let workload = WorkloadParams {
            sessions: w.sessions,
            ops_per_session: w.ops_per_session,
            think: w.think_ms.range(),
            idle: w.idle_ms.range(),
            resource_timeout_ms: w.resource_timeout_ms,
            check_validity_before_write: v.check_validity_before_write,
        };
        let lock_id = 0;
        let mut nodes = Vec::with_capacity(n);
        for (id, name) in self.names.iter().enumerate() {
            let node = if let Some(index) = self.servers.iter().position(|&s| s == id) {
                let mut params = v.server.clone();
                // A replicated lease: the first server is the primary and feeds the others.
                if v.kind == "replicated-lease" && index == 0 {
                    params.replicate_to = self.servers[1..].to_vec();
                }
                match (&v.raft, &v.client) {
                    // skinny: instance i calls the others and increments by i + 1 (unique, as
                    // skinny's config asks; the sums still collide).
                    (None, ClientParams::Skinny(instance, _)) => {
                        let mut instance = instance.clone();
                        instance.peers = self.servers.iter().copied().filter(|&s| s != id).collect();
                        instance.increment = index as u64 + 1;
                        Node::SkinnyInstance(Box::new(SkinnyInstance::new(instance)))
                    }
                    (None, ClientParams::Consul(c)) => Node::ConsulServer(Box::new(c.server(&self.servers))),
                    (Some(r), _) => {
                        let mut peer = r.peer.clone();
                        peer.peers = self.servers.clone();
                        Node::RaftPeer(Box::new(RaftPeer::new(peer)))
                    }
                    (None, _) => Node::LeaseServer(LeaseServer::new(params)),
                }
            } else if self.resources.contains(&id) {
                Node::Resource(Resource::new(v.fencing))
            } else {
                let lock = match (&v.client, &v.raft) {
                    (_, Some(r)) => LockLibrary::Raft(RaftLock::new(self.servers.clone(), lock_id, r.client.clone())),
                    (ClientParams::Lease(params), None) => {
                        let servers =
                            if v.kind == "replicated-lease" { self.servers.clone() } else { vec![self.servers[0]] };
                        LockLibrary::Lease(LeaseLock::new(servers, lock_id, params.clone()))
                    }
                    (ClientParams::Redlock(params), None) => {
                        LockLibrary::Redlock(Redlock::new(self.servers.clone(), lock_id, params.clone()))
                    }
                    // Client i calls instance i (mod n) first.
                    (ClientParams::Skinny(_, params), None) => {
                        let first = self.clients.iter().position(|&c| c == id).unwrap_or(0);
                        LockLibrary::Skinny(SkinnyLock::new(self.servers.clone(), first, lock_id, params.clone()))
                    }
                    // Client i calls server i (mod n) first.
                    (ClientParams::Consul(c), None) => {
                        let first = self.clients.iter().position(|&c| c == id).unwrap_or(0);
                        LockLibrary::Consul(c.library(&self.servers, first, lock_id))
                    }
                };
                Node::Client(Box::new(Client::new(self.resources.clone(), workload.clone(), lock)))
            };
            nodes.push((name.clone(), node, clocks[id].clone()));
        }

        let mut workload_rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, stream::WORKLOAD));
        let (start_min, start_max) = range_ns(&w.start_ms);
        let starts = self
            .clients
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let drawn = draw(&mut workload_rng, start_min, start_max);
                (w.client_start_ms.as_ref().map_or(drawn, |s| ms(s[i])), c)
            })
            .collect();

        let mut scheduled = Vec::new();
        let mut triggers = Vec::new();
        for (when, actions) in &self.faults {
            match when {
                When::At(at) => scheduled.extend(actions.iter().map(|(d, a)| (at + d, a.clone()))),
                When::After { event, node, nth, delay_ns } => triggers.push(Trigger {
                    event,
                    node: *node,
                    nth: *nth,
                    seen: 0,
                    actions: actions.iter().map(|(d, a)| (delay_ns + d, a.clone())).collect(),
                }),
            }
        }

        WorldSpec {
            seed,
            duration_ns: ms(s.scenario.duration_ms),
            nodes,
            links,
            scheduled,
            triggers,
            rules: self.rules.clone(),
            starts,
            trace,
        }
    }
}

/// MsRange re-export for callers building parameters by hand.
pub type Range = MsRange;
