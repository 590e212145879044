//! Which protocol a model checks, and the one place its parameters are written down.
//!
//! A model does not build nodes by hand. It writes the *scenario file* that describes the
//! configuration (topology, workload, protocol parameters; no faults) and compiles it with
//! `locklab-sim`'s own compiler, then takes the nodes and clocks the simulator would run. So the
//! state machines the model checker explores are, parameter for parameter, the ones `locklab run`
//! replays a counterexample with: the exported scenario is this base text plus `[[faults]]`.
//!
//! Adding a protocol is one arm in `Protocol::protocol_toml` (and a name in [`PROTOCOLS`]); see
//! `models/README.md`, "Adding a protocol".

use std::fmt::Write as _;

use locklab_protocols::node::Persistence;
use locklab_protocols::registry::protocol_kind;
use locklab_protocols::{Node, NodeId};
use locklab_sim::clock::Clock;

/// The protocol names `check` and `explore` accept.
pub const PROTOCOLS: &[&str] = &[
    "lease",
    "lease-checked",
    "lease-fenced",
    "redlock",
    "raft",
    "raft-checked",
    "raft-fenced",
    "consul",
    "consul-fenced",
];

/// A protocol variant the models cover. A name means the same variant here as in the scenario
/// catalogue (`scenarios/*.toml`): the switches that tell variants apart ([`Switches`]) are those
/// of the catalogue's variant of the same name (`tests/models.rs` compares them); timing is the
/// model's own (whole ticks, see [`Timing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Single-server lease with heartbeats; no tokens, no fencing, and the worker writes without
    /// re-checking its lease (the catalogue's `lease`, e.g. `scenarios/11-hung-heartbeat.toml`).
    Lease,
    /// The same, but the worker checks its lease's validity before each write
    /// (`check_validity_before_write = true`), so that it does not even *act* as holder once its
    /// lease ran out by its own clock; no fencing (the catalogue's `lease-checked`, #11).
    LeaseChecked,
    /// Single-server lease with fencing alone: the server issues tokens, the resource rejects a
    /// write with an older token, and the worker does **not** check its lease before writing, so a
    /// paused client does write after its lease ran out and only the fence stops it. Fencing
    /// protects the resource, not the belief (the catalogue's `lease-fenced`, #1).
    LeaseFenced,
    /// Redlock over `servers` independent lease servers (no fencing).
    Redlock,
    /// The etcd-style lock service replicated by Raft over `servers` peers (`protocols/src/raft/`):
    /// sessions with a TTL and keep-alive, the lock key's creation revision as token, but the
    /// resource does not check it (Jepsen's etcd lesson: consensus does not make a lease a lock).
    Raft,
    /// The same, with the worker checking its session's validity before each write; no fencing.
    RaftChecked,
    /// The same with fencing by revision alone: the resource rejects writes with an older
    /// revision; no pre-write check.
    RaftFenced,
    /// Consul sessions and KV locks (`protocols/src/consul/`): a session tied to the node's
    /// `serfHealth` check with a TTL and a lock-delay; `LockIndex` as token, not checked by the
    /// resource (the catalogue's `consul`, e.g. `scenarios/consul-false-positive-detector.toml`).
    Consul,
    /// The same with the resource checking `LockIndex` (the catalogue's `consul-fenced`).
    ConsulFenced,
}

/// The switches that tell the variants of one protocol kind apart, as the scenario file's
/// `[[protocols]]` keys of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Switches {
    /// The servers hand out fencing tokens (always, for Raft: the key's creation revision).
    pub tokens: bool,
    /// The resource rejects a write whose token is below the highest it has seen.
    pub fencing: bool,
    /// The worker checks its lease by its own clock before each write.
    pub check_validity_before_write: bool,
}

impl Protocol {
    /// Every variant, in [`PROTOCOLS`] order.
    pub const ALL: [Protocol; 9] = [
        Protocol::Lease,
        Protocol::LeaseChecked,
        Protocol::LeaseFenced,
        Protocol::Redlock,
        Protocol::Raft,
        Protocol::RaftChecked,
        Protocol::RaftFenced,
        Protocol::Consul,
        Protocol::ConsulFenced,
    ];

    /// Parse a protocol name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Protocol, String> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown protocol `{name}`; valid protocols: {}", PROTOCOLS.join(", ")))
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Lease => "lease",
            Protocol::LeaseChecked => "lease-checked",
            Protocol::LeaseFenced => "lease-fenced",
            Protocol::Redlock => "redlock",
            Protocol::Raft => "raft",
            Protocol::RaftChecked => "raft-checked",
            Protocol::RaftFenced => "raft-fenced",
            Protocol::Consul => "consul",
            Protocol::ConsulFenced => "consul-fenced",
        }
    }

    /// The scenario file's `kind` of this variant.
    pub fn kind(self) -> &'static str {
        match self {
            Protocol::Lease | Protocol::LeaseChecked | Protocol::LeaseFenced => "lease",
            Protocol::Redlock => "redlock",
            Protocol::Raft | Protocol::RaftChecked | Protocol::RaftFenced => "raft",
            Protocol::Consul | Protocol::ConsulFenced => "consul",
        }
    }

    /// What tells this variant apart from the others of its kind.
    pub fn switches(self) -> Switches {
        let (tokens, fencing, check_validity_before_write) = match self {
            Protocol::Lease => (false, false, false),
            Protocol::LeaseChecked => (false, false, true),
            Protocol::LeaseFenced => (true, true, false),
            Protocol::Redlock => (false, false, false),
            Protocol::Raft => (true, false, false),
            Protocol::RaftChecked => (true, false, true),
            Protocol::RaftFenced => (true, true, false),
            Protocol::Consul => (true, false, false),
            Protocol::ConsulFenced => (true, true, false),
        };
        Switches { tokens, fencing, check_validity_before_write }
    }

    /// The persistence policy a configuration uses unless told otherwise: the lease variants
    /// fsync every write (so that the standard configuration's crash tests the client side, not
    /// a server that forgets), Redlock keeps nothing (the configuration the Redis document warns
    /// about).
    pub fn default_persistence(self) -> Persistence {
        match self {
            Protocol::Redlock => Persistence::None,
            _ => Persistence::Always,
        }
    }

    /// Are the servers Raft peers (and Raft's own invariants checked)? The registry says.
    pub fn is_raft(self) -> bool {
        protocol_kind(self.kind()).is_some_and(|k| k.replicated_log)
    }

    /// Is the TTL a lower bound (the service revokes lazily)? Raft's leases, and Consul's
    /// sessions (reaped at up to twice their TTL).
    pub fn lazy_expiry(self) -> bool {
        self.is_raft() || self.kind() == "consul"
    }

    /// Server count when none is given.
    pub fn default_servers(self) -> u32 {
        // Consul: one server (a valid `bootstrap_expect = 1` cluster) keeps the leader's work —
        // TTL timers, Serf probes, lock-delay — and drops the replication the model would
        // interleave with everything else.
        if self.kind() == "lease" || self.kind() == "consul" {
            1
        } else {
            3
        }
    }

    /// The variant's `[[protocols]]` keys and values after `name`, every parameter explicit, in
    /// the scenario file's words (values as TOML writes them). `check` prints them in its banner.
    pub fn params(self, timing: &Timing, persistence: Persistence) -> Vec<(&'static str, String)> {
        let t = timing.tick_ms;
        let ms = |ticks: u32| (ticks as u64 * t).to_string();
        let quoted = |s: &str| format!("\"{s}\"");
        let persistence = quoted(match persistence {
            Persistence::None => "none",
            Persistence::Always => "always",
            Persistence::Everysec => "everysec",
        });
        let sw = self.switches();
        let mut p: Vec<(&'static str, String)> = vec![("kind", quoted(self.kind())), ("ttl_ms", ms(timing.ttl_ticks))];
        match self.kind() {
            // Heartbeats every tick, a third of the TTL (as the catalogue's lease family in #11
            // and #15: `ttl_ms = 3000`, `renew_ms = 1000`), each waiting one tick for its reply.
            "lease" => p.extend([
                ("renew_ms", ms(timing.renew_ticks)),
                ("heartbeat_timeout_ms", ms(1)),
                ("safety_margin_ms", "0".into()),
                ("acquire_timeout_ms", ms(1)),
                ("acquire_retries", timing.acquire_retries.to_string()),
                ("retry_backoff_ms", ms(1)),
                ("retry", quoted("idempotent")),
                ("release", quoted("compare_and_delete")),
                ("validity", quoted("local_duration")),
                ("check_validity_before_write", sw.check_validity_before_write.to_string()),
                ("tokens", sw.tokens.to_string()),
                ("fencing", sw.fencing.to_string()),
                ("token_counter", quoted("durable")),
                ("expiry_clock", quoted("wall")),
                ("persistence", persistence),
                ("restart_delay_ms", "0".into()),
            ]),
            "redlock" => p.extend([
                ("server_timeout_ms", ms(1)),
                ("drift_factor", "0.01".into()),
                ("drift_extra_ms", "2".into()),
                ("validity_check", "true".into()),
                ("retry_delay_ms", ms(1)),
                ("acquire_retries", timing.acquire_retries.to_string()),
                ("check_validity_before_write", sw.check_validity_before_write.to_string()),
                ("expiry_clock", quoted("wall")),
                ("persistence", persistence),
                ("restart_delay_ms", "0".into()),
            ]),
            // Consul's bounds: a TTL of 10 s at least (2 ticks of 5 s: reaped at 4), renewed every
            // tick; the lock-delay, Serf's probe and its detection time one tick each.
            "consul" => p.extend([
                ("renew_ms", ms(timing.renew_ticks)),
                ("lock_delay_ms", ms(1)),
                ("session_behavior", quoted("release")),
                ("session_checks", "true".into()),
                ("serf_probe_ms", ms(1)),
                ("serf_detect_ms", ms(1)),
                ("consul_token", quoted("lock_index")),
                ("raft_heartbeat_ms", ms(timing.heartbeat_ticks)),
                ("election_timeout_ms", ms(timing.election_ticks)),
                ("acquire_timeout_ms", ms(1)),
                ("acquire_retries", timing.acquire_retries.to_string()),
                ("retry_backoff_ms", ms(1)),
                ("fencing", sw.fencing.to_string()),
                ("check_validity_before_write", sw.check_validity_before_write.to_string()),
            ]),
            // Every Raft duration is a whole number of ticks, and the election timeout is fixed
            // (min = max): a randomized timeout would put deadlines between ticks, where the model
            // has no instant. The leader's heartbeat is below it, so without faults no follower
            // ever times out: elections happen only after a fault.
            _ => p.extend([
                ("renew_ms", ms(timing.renew_ticks)),
                ("safety_margin_ms", "0".into()),
                ("acquire_timeout_ms", ms(1)),
                ("acquire_retries", timing.acquire_retries.to_string()),
                ("retry_backoff_ms", ms(1)),
                ("retry", quoted("idempotent")),
                ("validity", quoted("local_duration")),
                ("check_validity_before_write", sw.check_validity_before_write.to_string()),
                ("fencing", sw.fencing.to_string()),
                ("election_timeout_ms", format!("{{ min = {0}, max = {0} }}", ms(timing.election_ticks))),
                ("raft_heartbeat_ms", ms(timing.heartbeat_ticks)),
                ("lease_check_ms", ms(timing.lease_check_ticks)),
                ("wait_recheck_ms", ms(timing.ttl_ticks)),
                ("campaign_at_start", "true".into()),
                ("persistence", persistence),
            ]),
        }
        p
    }

    /// The `[[protocols]]` table of the scenario file, every parameter explicit.
    fn protocol_toml(self, timing: &Timing, persistence: Persistence) -> String {
        let mut s = String::from("[[protocols]]\n");
        let _ = writeln!(s, "name = \"{}\"", self.name());
        for (key, value) in self.params(timing, persistence) {
            let _ = writeln!(s, "{key} = {value}");
        }
        s
    }
}

/// Model time. Every duration the protocols use is a whole number of ticks, so that a timer set
/// on a tick boundary falls due exactly on a later boundary, in the model and in the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timing {
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
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
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
        }
    }
}

impl Timing {
    /// The timing of a protocol's standard configuration. Redlock gets a TTL of 5 ticks and a
    /// critical section of 3: a restarted server is back two ticks after its crash at the
    /// earliest, and a client that failed a round waits a timeout and a back-off, so with the
    /// lease's timing every holder would have released (or its lease run out) before a second
    /// client could gather a majority, and the model would prove safe a configuration that is not.
    pub fn for_protocol(protocol: Protocol) -> Timing {
        match protocol {
            Protocol::Lease | Protocol::LeaseChecked | Protocol::LeaseFenced => Timing::default(),
            Protocol::Raft | Protocol::RaftChecked | Protocol::RaftFenced => Timing {
                client_stagger_ticks: 2,
                lease_check_ticks: 1,
                renew_ticks: 2,
                horizon_ticks: 6,
                ..Timing::default()
            },
            Protocol::Redlock => {
                Timing { ttl_ticks: 5, think_ticks: 3, clock_jump_ms: 5000, horizon_ticks: 9, ..Timing::default() }
            }
            // Consul rejects a TTL below 10 s: a tick of 5 s makes it 2 ticks.
            Protocol::Consul | Protocol::ConsulFenced => Timing {
                tick_ms: 5000,
                ttl_ticks: 2,
                renew_ticks: 1,
                heartbeat_ticks: 1,
                election_ticks: 2,
                clock_jump_ms: 10_000,
                horizon_ticks: 8,
                ..Timing::default()
            },
        }
    }
}

/// The nodes, clocks and names of one configuration, and the scenario text they came from.
#[derive(Clone, Debug)]
pub struct Setup {
    pub protocol: Protocol,
    pub timing: Timing,
    pub persistence: Persistence,
    /// Node names in `NodeId` order (`s1.., r1, c1..`), as in the simulator.
    pub names: Vec<String>,
    /// Every node as freshly built: the initial state, and what a restarted process starts from.
    pub pristine: Vec<Node>,
    pub clocks: Vec<Clock>,
    pub servers: Vec<NodeId>,
    pub resource: NodeId,
    pub clients: Vec<NodeId>,
    /// The scenario file without faults (`[scenario]` to `[[protocols]]`).
    pub base_toml: String,
    pub ttl_ns: u64,
}

impl Setup {
    /// Build the configuration: write its scenario text and compile it with the simulator's
    /// compiler. Errors are the compiler's (e.g. too many servers for a `lease`).
    pub fn new(
        protocol: Protocol,
        clients: u32,
        servers: u32,
        persistence: Persistence,
        timing: Timing,
    ) -> Result<Setup, String> {
        if clients == 0 || clients > 4 {
            return Err(format!("{clients} clients: a model checks 1 to 4"));
        }
        if servers == 0 || servers > 5 {
            return Err(format!("{servers} servers: a model checks 1 to 5"));
        }
        let t = timing.tick_ms;
        // Raft's clients start once the first election (s1 campaigns at start) is over: a client
        // racing the election only adds time-outs and retries to the state space.
        let first_start = first_start_tick(protocol);
        let starts: Vec<String> =
            (0..clients).map(|i| ((first_start + i * timing.client_stagger_ticks) as u64 * t).to_string()).collect();
        let mut base = String::new();
        let _ = write!(
            base,
            "# Written by `locklab check` (locklab-models): the configuration the model checker explored.\n\
             [scenario]\n\
             name = \"model-{name}\"\n\
             title = \"Model-checking configuration of {name}\"\n\
             source = \"locklab-models\"\n\
             duration_ms = {duration}\n\
             seed = 1\n\n\
             [topology]\n\
             servers = {servers}\n\
             clients = {clients}\n\n\
             # Zero latency: everything due at a tick happens at that very instant, so local clocks\n\
             # and timers stay on tick boundaries exactly as in the model.\n\
             [network]\n\
             latency_ms = 0\n\n\
             # Client i starts at tick {first_start} + {stagger} × (i - 1).\n\
             [workload]\n\
             sessions = 1\n\
             ops_per_session = 1\n\
             think_ms = {think}\n\
             idle_ms = {t}\n\
             client_start_ms = [{starts}]\n\
             resource_timeout_ms = {resource_timeout}\n\n",
            name = protocol.name(),
            duration = (timing.horizon_ticks as u64 + 1) * t,
            starts = starts.join(", "),
            resource_timeout = 2 * t,
            think = timing.think_ticks as u64 * t,
            stagger = timing.client_stagger_ticks,
        );
        base.push_str(&protocol.protocol_toml(&timing, persistence));
        let file = format!("<model {}>", protocol.name());
        let scenario = locklab_sim::parse(&file, &base).map_err(|e| e.to_string())?;
        let compiled = locklab_sim::compile(&file, &base, scenario).map_err(|e| e.to_string())?;
        let spec = compiled.world_spec(0, 1, false);
        let (mut names, mut pristine, mut clocks) = (Vec::new(), Vec::new(), Vec::new());
        for (name, node, clock) in spec.nodes {
            names.push(name);
            pristine.push(node);
            clocks.push(clock);
        }
        Ok(Setup {
            protocol,
            timing,
            persistence,
            names,
            pristine,
            clocks,
            servers: compiled.servers.clone(),
            resource: compiled.resource,
            clients: compiled.clients.clone(),
            base_toml: base,
            ttl_ns: timing.ttl_ticks as u64 * t * 1_000_000,
        })
    }

    /// The tick at which client `index` (0-based) receives its `Run` command.
    pub fn start_tick(&self, client_index: usize) -> u32 {
        first_start_tick(self.protocol) + client_index as u32 * self.timing.client_stagger_ticks
    }
}

/// The tick at which the first client starts.
fn first_start_tick(protocol: Protocol) -> u32 {
    if protocol.is_raft() {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every model variant is a registry kind, and names only parameters the registry gives it.
    #[test]
    fn every_variant_speaks_the_registrys_parameters() {
        for protocol in Protocol::ALL {
            let kind =
                protocol_kind(protocol.kind()).unwrap_or_else(|| panic!("{}: not a registry kind", protocol.name()));
            for (key, _) in protocol.params(&Timing::for_protocol(protocol), protocol.default_persistence()) {
                assert!(
                    key == "kind" || kind.params.contains(&key),
                    "{}: `{key}` is not a `{}` parameter",
                    protocol.name(),
                    kind.name
                );
            }
        }
    }
}
