//! From a parsed [`Scenario`] to a validated [`Compiled`] scenario, and from that plus a seed to
//! a [`WorldSpec`]. Validation happens once, here, and every error is located in the file.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use toml::Spanned;

use std::sync::Arc;

use locklab_protocols::node::MsRange;
use locklab_protocols::registry::{protocol_kind, protocol_kind_names, ProtocolBuild, ProtocolKind, PROTOCOL_KINDS};
use locklab_protocols::worker::WorkloadParams;
use locklab_protocols::{ms, Client, Msg, Node, NodeId, Resource};

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
    /// The kind's parameters, resolved by its folder, and how it builds its nodes.
    pub build: Arc<dyn ProtocolBuild>,
    /// The resource checks fencing tokens.
    pub fencing: bool,
    /// The worker checks the lease before each write.
    pub check_validity_before_write: bool,
    /// Expected outcome per property name.
    pub expect: Vec<(String, String)>,
    pub max_acquire_ms_at_least: Option<u64>,
    pub max_acquire_ms_at_most: Option<u64>,
}

impl Variant {
    /// The lease TTL the service promises its clients (`None`: no lease, a holder holds until it
    /// releases, and the linearizability spec is a mutex).
    pub fn ttl_ms(&self) -> Option<u64> {
        self.build.ttl_ms()
    }

    /// The variant's parameters as its kind's folder resolved them (the live tier maps some kinds
    /// onto real servers and needs them), if they are of type `T`.
    pub fn params<T: 'static>(&self) -> Option<&T> {
        self.build.as_any().downcast_ref::<T>()
    }

    /// The properties a complete expectation of this variant declares: the four that every lock
    /// service has, token order when the service issues fencing tokens, and Raft's own invariants
    /// when the servers are Raft peers. A variant that leaves one of them open is `unchecked`:
    /// `compare` and `run --expect` fail on it, so a missing expectation never passes silently.
    pub fn required_properties(&self) -> Vec<&'static str> {
        let mut required = vec!["no_stale_write", "mutual_exclusion", "linearizable", "liveness"];
        let replicated_log = self.protocol().replicated_log;
        if replicated_log || self.build.tokens() {
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
        self.protocol().lazy_expiry
    }

    /// Is the lease a session reused across acquires ([`ProtocolBuild::session_lease`])?
    pub fn session_lease(&self) -> bool {
        self.build.session_lease()
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
    /// Fault generators, drawn per seed in `world_spec`.
    nemeses: Vec<Nemesis>,
    rules: Vec<MessageRule>,
    clock_overrides: Vec<(NodeId, Option<i64>, Option<i32>)>,
    link_overrides: Vec<LinkOverride>,
}

/// A `[[nemesis]]` entry, validated, with names resolved.
#[derive(Clone, Debug)]
struct Nemesis {
    kind: NemesisKind,
    every: MsRange,
    targets: Vec<NodeId>,
    duration: MsRange,
    /// clock_jump: the signed range of the step, in ms.
    by_ms: (i64, i64),
    from_ms: u64,
    until_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NemesisKind {
    Pause,
    Crash,
    Partition,
    ClockJump,
}

/// One fault a nemesis drew: what `shrink` turns into a concrete `[[faults]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawnFault {
    /// `pause`, `crash`, `partition` or `clock_jump`.
    pub kind: &'static str,
    pub at_ns: u64,
    /// The target (pause, crash, clock_jump) or the isolated minority (partition).
    pub nodes: Vec<NodeId>,
    /// pause, crash, partition: how long (cut at the nemesis's `until_ms`).
    pub duration_ns: u64,
    /// clock_jump: the step.
    pub by_ns: i64,
}

impl DrawnFault {
    /// The world's actions for this fault.
    fn actions(&self, all_nodes: usize, names: &[String]) -> Vec<(u64, Action)> {
        let (t, end) = (self.at_ns, self.at_ns + self.duration_ns);
        let node = self.nodes[0];
        match self.kind {
            "pause" => vec![(t, Action::Pause { node, duration_ns: self.duration_ns })],
            "crash" => vec![(t, Action::Crash { node }), (end, Action::Restart { node })],
            "clock_jump" => vec![(t, Action::ClockJump { node, by_ns: self.by_ns })],
            _ => {
                let minority = &self.nodes;
                let mut links = Vec::new();
                for &x in minority {
                    for y in (0..all_nodes).filter(|y| !minority.contains(y)) {
                        links.push((x, y));
                        links.push((y, x));
                    }
                }
                let isolated: Vec<&str> = minority.iter().map(|&m| names[m].as_str()).collect();
                let description = format!("nemesis: isolate {{{}}}", isolated.join(","));
                vec![
                    (t, Action::Partition { links: links.clone(), description: description.clone(), on: true }),
                    (end, Action::Partition { links, description, on: false }),
                ]
            }
        }
    }

    /// This fault as a `[[faults]]` table of a scenario file (node names resolved).
    pub fn to_toml(&self, names: &[String]) -> toml::Table {
        let mut t = toml::Table::new();
        let ms_of = |ns: u64| toml::Value::Integer((ns / 1_000_000) as i64);
        t.insert("kind".into(), toml::Value::String(self.kind.into()));
        t.insert("at_ms".into(), ms_of(self.at_ns));
        match self.kind {
            "partition" => {
                let minority: Vec<toml::Value> =
                    self.nodes.iter().map(|&n| toml::Value::String(names[n].clone())).collect();
                let rest: Vec<toml::Value> = (0..names.len())
                    .filter(|n| !self.nodes.contains(n))
                    .map(|n| toml::Value::String(names[n].clone()))
                    .collect();
                t.insert(
                    "groups".into(),
                    toml::Value::Array(vec![toml::Value::Array(minority), toml::Value::Array(rest)]),
                );
                t.insert("duration_ms".into(), ms_of(self.duration_ns));
            }
            "clock_jump" => {
                t.insert("node".into(), toml::Value::String(names[self.nodes[0]].clone()));
                t.insert("by_ms".into(), toml::Value::Integer(self.by_ns / 1_000_000));
            }
            _ => {
                t.insert("node".into(), toml::Value::String(names[self.nodes[0]].clone()));
                t.insert("duration_ms".into(), ms_of(self.duration_ns));
            }
        }
        t
    }
}

impl Nemesis {
    /// The faults this generator draws for one seed, from its own stream.
    fn draw(&self, seed: u64, index: usize) -> Vec<DrawnFault> {
        let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, stream::NEMESIS + index as u64));
        let until_ns = ms(self.until_ms);
        let mut out = Vec::new();
        let mut t_ns = ms(self.from_ms);
        loop {
            t_ns += ms(draw(&mut rng, self.every.min_ms, self.every.max_ms)).max(1);
            if t_ns >= until_ns {
                break;
            }
            let pick = self.targets[draw(&mut rng, 0, self.targets.len() as u64 - 1) as usize];
            let d_ns = ms(draw(&mut rng, self.duration.min_ms, self.duration.max_ms));
            // Every fault heals by `until`: the healing phase is fault-free.
            let duration_ns = (t_ns + d_ns).min(until_ns) - t_ns;
            let mut fault = DrawnFault { kind: "pause", at_ns: t_ns, nodes: vec![pick], duration_ns, by_ns: 0 };
            match self.kind {
                NemesisKind::Pause => {}
                NemesisKind::Crash => fault.kind = "crash",
                NemesisKind::ClockJump => {
                    let (lo, hi) = self.by_ms;
                    fault.kind = "clock_jump";
                    fault.duration_ns = 0;
                    fault.by_ns = (lo + draw(&mut rng, 0, (hi - lo) as u64) as i64) * 1_000_000;
                }
                NemesisKind::Partition => {
                    // A random minority of the targets (at least one), cut off from everyone else.
                    let n = self.targets.len();
                    let size = 1 + draw(&mut rng, 0, ((n.max(1) - 1) / 2).saturating_sub(1) as u64) as usize;
                    let mut pool = self.targets.clone();
                    let mut minority = Vec::new();
                    for _ in 0..size.min(pool.len()) {
                        let i = draw(&mut rng, 0, pool.len() as u64 - 1) as usize;
                        minority.push(pool.remove(i));
                    }
                    minority.sort_unstable();
                    fault.kind = "partition";
                    fault.nodes = minority;
                }
            }
            out.push(fault);
        }
        out
    }
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

    // Fault generators.
    let mut nemeses = Vec::new();
    for n in &scenario.nemesis {
        nemeses.push(compile_nemesis(&loc, n, &names, &servers, &clients_of(&names), scenario.scenario.duration_ms)?);
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
        nemeses,
        rules,
        clock_overrides,
        link_overrides,
    })
}

/// The client node ids, from the node names (`c1`, `c2`, …).
fn clients_of(names: &[String]) -> Vec<NodeId> {
    (0..names.len()).filter(|&i| names[i].starts_with('c')).collect()
}

fn compile_nemesis(
    loc: &Locator,
    n: &crate::scenario::NemesisSpec,
    names: &[String],
    servers: &[NodeId],
    clients: &[NodeId],
    duration_ms: u64,
) -> Result<Nemesis, InputError> {
    use crate::scenario::{SignedRange, TargetsSpec};
    let span = n.kind.span();
    let kind = match n.kind.get_ref().as_str() {
        "pause" => NemesisKind::Pause,
        "crash" => NemesisKind::Crash,
        "partition" => NemesisKind::Partition,
        "clock_jump" => NemesisKind::ClockJump,
        other => {
            return Err(loc.at(
                span,
                "kind",
                format!("unknown nemesis kind `{other}`; valid kinds: pause, crash, partition, clock_jump"),
            ))
        }
    };
    check_range(loc, "nemesis.every_ms", &n.every_ms)?;
    let every = n.every_ms.range();
    if every.max_ms == 0 {
        return Err(loc.at(span, "every_ms", "must be greater than 0"));
    }
    let targets: Vec<NodeId> = match &n.targets {
        None => servers.to_vec(),
        Some(TargetsSpec::Group(g)) => match g.as_str() {
            "servers" => servers.to_vec(),
            "clients" => clients.to_vec(),
            "all" => servers.iter().chain(clients).copied().collect(),
            other => {
                return Err(loc.in_entry(
                    span,
                    "targets",
                    format!("`{other}`: clients, servers, all or a list of nodes"),
                ))
            }
        },
        Some(TargetsSpec::Nodes(list)) => list
            .iter()
            .map(|x| {
                names.iter().position(|n| n == x).ok_or_else(|| {
                    loc.in_entry(
                        span.clone(),
                        "targets",
                        format!("unknown node `{x}`; this scenario's nodes are: {}", names.join(", ")),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if targets.is_empty() {
        return Err(loc.at(span, "targets", "no node to aim at"));
    }
    let needs_duration = kind != NemesisKind::ClockJump;
    if needs_duration != n.duration_ms.is_some() {
        return Err(loc.at(
            span,
            "duration_ms",
            if needs_duration {
                "this nemesis needs `duration_ms`"
            } else {
                "a clock_jump takes `by_ms`, not `duration_ms`"
            },
        ));
    }
    if (kind == NemesisKind::ClockJump) != n.by_ms.is_some() {
        return Err(loc.at(span, "by_ms", "`by_ms` is for (and needed by) a clock_jump nemesis"));
    }
    if let Some(d) = &n.duration_ms {
        check_range(loc, "nemesis.duration_ms", d)?;
    }
    let by_ms = match n.by_ms {
        None => (0, 0),
        Some(SignedRange::Fixed(v)) => (v, v),
        Some(SignedRange::Range { min, max }) if min <= max => (min, max),
        Some(SignedRange::Range { min, max }) => {
            return Err(loc.at(span, "by_ms", format!("min ({min}) is greater than max ({max})")))
        }
    };
    let until_ms = n.until_ms.unwrap_or(duration_ms);
    if until_ms > duration_ms || n.from_ms >= until_ms {
        return Err(loc.at(
            span,
            "until_ms",
            format!("from_ms ({}) < until_ms ({until_ms}) ≤ the run's duration ({duration_ms} ms)", n.from_ms),
        ));
    }
    Ok(Nemesis {
        kind,
        every,
        targets,
        duration: n.duration_ms.map_or(MsRange::fixed(0), |d| d.range()),
        by_ms,
        from_ms: n.from_ms,
        until_ms,
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
        let kinds = Msg::kinds();
        let Some(&kind_name) = kinds.iter().find(|k| **k == message.get_ref()) else {
            return Err(loc.at(
                message.span(),
                "message",
                format!("unknown message kind `{}`; valid kinds: {}", message.get_ref(), kinds.join(", ")),
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
    // The keys this kind takes (besides `name`, `kind` and `expect`): the registry's. A key some
    // other kind takes is named as such; an unknown one gets the parser's suggestion.
    let keys = protocol.params;
    let known_elsewhere = |key: &str| PROTOCOL_KINDS.iter().any(|k| k.params.contains(&key));
    if let Some(key) = p.params.keys().find(|k| !keys.contains(&k.as_str()) && known_elsewhere(k)) {
        return Err(at(key, format!("does not apply to a `{kind}` protocol (it takes: {})", keys.join(", "))));
    }
    let build = (protocol.compile)(&p.params, servers).map_err(|e| {
        let message = crate::scenario::explain(&e.message);
        match e.field {
            Some(field) if field == "kind" => loc.at(p.kind.span(), "kind", message),
            Some(field) => at(&field, message),
            None => loc.at(p.name.span(), "name", message),
        }
    })?;
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
        fencing: build.fencing(),
        check_validity_before_write: build.check_validity_before_write(),
        build: Arc::from(build),
        expect,
        max_acquire_ms_at_least: e.max_acquire_ms_at_least,
        max_acquire_ms_at_most: e.max_acquire_ms_at_most,
    })
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
    /// The faults the scenario's `[[nemesis]]` generators draw for `seed`, in generator order.
    pub fn drawn_faults(&self, seed: u64) -> Vec<DrawnFault> {
        self.nemeses.iter().enumerate().flat_map(|(i, n)| n.draw(seed, i)).collect()
    }

    /// Does the scenario have fault generators?
    pub fn has_nemesis(&self) -> bool {
        !self.nemeses.is_empty()
    }

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
            || !self.nemeses.is_empty()
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
                Node::Server(v.build.server(&self.servers, index))
            } else if self.resources.contains(&id) {
                Node::Resource(Resource::new(v.fencing))
            } else {
                let index = self.clients.iter().position(|&c| c == id).unwrap_or(0);
                let lock = v.build.library(&self.servers, index, lock_id);
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
        for fault in self.drawn_faults(seed) {
            scheduled.extend(fault.actions(n, &self.names));
        }
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
