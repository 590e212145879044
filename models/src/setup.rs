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

use locklab_protocols::lease::Persistence;
use locklab_protocols::{Node, NodeId};
use locklab_sim::clock::Clock;

/// The protocol names `check` and `explore` accept.
pub const PROTOCOLS: &[&str] = &["lease", "lease-fenced", "redlock", "raft", "raft-fenced"];

/// A protocol variant the models cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Single-server lease; the server issues tokens but the resource does not check them, and
    /// the worker writes without re-checking its lease (scenario #1's `lease`).
    Lease,
    /// Single-server lease with fencing: the resource rejects writes with an older token, and
    /// the worker checks its lease's validity before each write, so that it does not even *act*
    /// as holder once its lease has run out (without that check a paused client still writes as
    /// holder: fencing protects the resource, not the belief).
    LeaseFenced,
    /// Redlock over `servers` independent lease servers (no fencing).
    Redlock,
    /// The etcd-style lock service replicated by Raft over `servers` peers (`protocols/src/raft.rs`):
    /// sessions with a TTL and keep-alive, the lock key's creation revision as token, but the
    /// resource does not check it (Jepsen's etcd lesson: consensus does not make a lease a lock).
    Raft,
    /// The same with fencing by revision: the resource rejects writes with an older revision.
    RaftFenced,
}

impl Protocol {
    /// Parse a protocol name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Protocol, String> {
        match name {
            "lease" => Ok(Protocol::Lease),
            "lease-fenced" => Ok(Protocol::LeaseFenced),
            "redlock" => Ok(Protocol::Redlock),
            "raft" => Ok(Protocol::Raft),
            "raft-fenced" => Ok(Protocol::RaftFenced),
            other => Err(format!("unknown protocol `{other}`; valid protocols: {}", PROTOCOLS.join(", "))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Lease => "lease",
            Protocol::LeaseFenced => "lease-fenced",
            Protocol::Redlock => "redlock",
            Protocol::Raft => "raft",
            Protocol::RaftFenced => "raft-fenced",
        }
    }

    /// The persistence policy a configuration uses unless told otherwise: the lease variants
    /// fsync every write (so that the standard configuration's crash tests the client side, not
    /// a server that forgets), Redlock keeps nothing (the configuration the Redis document warns
    /// about).
    pub fn default_persistence(self) -> Persistence {
        match self {
            Protocol::Lease | Protocol::LeaseFenced | Protocol::Raft | Protocol::RaftFenced => Persistence::Always,
            Protocol::Redlock => Persistence::None,
        }
    }

    /// Are the servers Raft peers (and Raft's own invariants checked)?
    pub fn is_raft(self) -> bool {
        matches!(self, Protocol::Raft | Protocol::RaftFenced)
    }

    /// Server count when none is given.
    pub fn default_servers(self) -> u32 {
        match self {
            Protocol::Lease | Protocol::LeaseFenced => 1,
            Protocol::Redlock | Protocol::Raft | Protocol::RaftFenced => 3,
        }
    }

    /// The `[[protocols]]` table of the scenario file, every parameter explicit.
    fn protocol_toml(self, timing: &Timing, persistence: Persistence) -> String {
        let t = timing.tick_ms;
        let persistence = match persistence {
            Persistence::None => "none",
            Persistence::Always => "always",
            Persistence::Everysec => "everysec",
        };
        let mut s = String::from("[[protocols]]\n");
        let _ = writeln!(s, "name = \"{}\"", self.name());
        match self {
            Protocol::Lease | Protocol::LeaseFenced => {
                let fenced = self == Protocol::LeaseFenced;
                let _ = write!(
                    s,
                    "kind = \"lease\"\n\
                     ttl_ms = {ttl}\n\
                     safety_margin_ms = 0\n\
                     acquire_timeout_ms = {t}\n\
                     acquire_retries = {retries}\n\
                     retry_backoff_ms = {t}\n\
                     retry = \"idempotent\"\n\
                     release = \"compare_and_delete\"\n\
                     validity = \"local_duration\"\n\
                     check_validity_before_write = {fenced}\n\
                     tokens = true\n\
                     fencing = {fenced}\n\
                     token_counter = \"durable\"\n\
                     expiry_clock = \"wall\"\n\
                     persistence = \"{persistence}\"\n\
                     restart_delay_ms = 0\n",
                    ttl = timing.ttl_ticks as u64 * t,
                    retries = timing.acquire_retries,
                );
            }
            Protocol::Redlock => {
                let _ = write!(
                    s,
                    "kind = \"redlock\"\n\
                     ttl_ms = {ttl}\n\
                     server_timeout_ms = {t}\n\
                     drift_factor = 0.01\n\
                     drift_extra_ms = 2\n\
                     validity_check = true\n\
                     retry_delay_ms = {t}\n\
                     acquire_retries = {retries}\n\
                     check_validity_before_write = false\n\
                     expiry_clock = \"wall\"\n\
                     persistence = \"{persistence}\"\n\
                     restart_delay_ms = 0\n",
                    ttl = timing.ttl_ticks as u64 * t,
                    retries = timing.acquire_retries,
                );
            }
            Protocol::Raft | Protocol::RaftFenced => {
                // Every Raft duration is a whole number of ticks, and the election timeout is
                // fixed (min = max): a randomized timeout would put deadlines between ticks, where
                // the model has no instant. The heartbeat (one tick) is below it, so without
                // faults no follower ever times out: elections happen only after a fault.
                let fenced = self == Protocol::RaftFenced;
                let _ = write!(
                    s,
                    "kind = \"raft\"\n\
                     ttl_ms = {ttl}\n\
                     renew_ms = {renew}\n\
                     safety_margin_ms = 0\n\
                     acquire_timeout_ms = {t}\n\
                     acquire_retries = {retries}\n\
                     retry_backoff_ms = {t}\n\
                     retry = \"idempotent\"\n\
                     validity = \"local_duration\"\n\
                     check_validity_before_write = {fenced}\n\
                     fencing = {fenced}\n\
                     election_timeout_ms = {{ min = {election}, max = {election} }}\n\
                     raft_heartbeat_ms = {heartbeat}\n\
                     lease_check_ms = {lease_check}\n\
                     wait_recheck_ms = {ttl}\n\
                     campaign_at_start = true\n\
                     persistence = \"{persistence}\"\n",
                    ttl = timing.ttl_ticks as u64 * t,
                    retries = timing.acquire_retries,
                    election = timing.election_ticks as u64 * t,
                    heartbeat = timing.heartbeat_ticks as u64 * t,
                    renew = timing.renew_ticks as u64 * t,
                    lease_check = timing.lease_check_ticks as u64 * t,
                );
            }
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
    /// Raft only: the election timeout (fixed: min = max), the leader's heartbeat period, the
    /// client's keep-alive period and the leader's lease-expiry check period, in ticks.
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub renew_ticks: u32,
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
            Protocol::Lease | Protocol::LeaseFenced => Timing::default(),
            Protocol::Raft | Protocol::RaftFenced => {
                Timing { client_stagger_ticks: 2, lease_check_ticks: 1, horizon_ticks: 6, ..Timing::default() }
            }
            Protocol::Redlock => {
                Timing { ttl_ticks: 5, think_ticks: 3, clock_jump_ms: 5000, horizon_ticks: 9, ..Timing::default() }
            }
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
