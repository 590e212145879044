//! Which protocol a model checks, and the one place its parameters are written down.
//!
//! A model does not build nodes by hand. It writes the *scenario file* that describes the
//! configuration (topology, workload, protocol parameters; no faults) and compiles it with
//! `locklab-sim`'s own compiler, then takes the nodes and clocks the simulator would run. So the
//! state machines the model checker explores are, parameter for parameter, the ones `locklab run`
//! replays a counterexample with: the exported scenario is this base text plus `[[faults]]`.
//!
//! The variants and their standard configurations are the registry's
//! (`locklab_protocols::registry::ModelVariant`, one list per kind in the kind's folder): adding
//! a protocol's model touches no file here; see `models/README.md`, "Adding a protocol".

use std::fmt::Write as _;

use locklab_protocols::node::Persistence;
use locklab_protocols::registry::{ModelTiming, ModelVariant, ProtocolKind, PROTOCOL_KINDS};
use locklab_protocols::{Node, NodeId};
use locklab_sim::clock::Clock;

/// The protocol names `check` and `explore` accept: every registry kind's model variants.
pub fn protocol_names() -> Vec<&'static str> {
    Protocol::all().into_iter().map(Protocol::name).collect()
}

/// A protocol variant the models cover: one of a registry kind's [`ModelVariant`]s. A name means
/// the same variant here as in the scenario catalogue (`scenarios/*.toml`): the switches that
/// tell variants apart ([`Switches`]) are those of the catalogue's variant of the same name
/// (`tests/models.rs` compares them); timing is the model's own (whole ticks, see [`Timing`]).
#[derive(Clone, Copy, Debug)]
pub struct Protocol {
    kind: &'static ProtocolKind,
    variant: &'static ModelVariant,
}

impl PartialEq for Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for Protocol {}
impl std::hash::Hash for Protocol {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
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
    /// Every variant, in registry order.
    pub fn all() -> Vec<Protocol> {
        PROTOCOL_KINDS
            .iter()
            .flat_map(|kind| kind.models.iter().map(move |variant| Protocol { kind, variant }))
            .collect()
    }

    /// Parse a protocol name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Protocol, String> {
        Protocol::all()
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown protocol `{name}`; valid protocols: {}", protocol_names().join(", ")))
    }

    pub fn name(self) -> &'static str {
        self.variant.name
    }

    /// The scenario file's `kind` of this variant.
    pub fn kind(self) -> &'static str {
        self.kind.name
    }

    /// The registry's model variant.
    pub fn variant(self) -> &'static ModelVariant {
        self.variant
    }

    /// What tells this variant apart from the others of its kind.
    pub fn switches(self) -> Switches {
        let v = self.variant;
        Switches { tokens: v.tokens, fencing: v.fencing, check_validity_before_write: v.check_validity_before_write }
    }

    /// The persistence policy a configuration uses unless told otherwise.
    pub fn default_persistence(self) -> Persistence {
        self.variant.default_persistence
    }

    /// Are the servers Raft peers (and Raft's own invariants checked)? The registry says.
    pub fn is_raft(self) -> bool {
        self.kind.replicated_log
    }

    /// Is the TTL a lower bound (the service revokes lazily)? The registry says.
    pub fn lazy_expiry(self) -> bool {
        self.kind.lazy_expiry
    }

    /// Server count when none is given.
    pub fn default_servers(self) -> u32 {
        self.variant.default_servers
    }

    /// The variant's `[[protocols]]` keys and values after `name`, every parameter explicit, in
    /// the scenario file's words (values as TOML writes them). `check` prints them in its banner.
    pub fn params(self, timing: &Timing, persistence: Persistence) -> Vec<(&'static str, String)> {
        let quoted = |s: &str| format!("\"{s}\"");
        let mut p: Vec<(&'static str, String)> = vec![("kind", quoted(self.kind()))];
        p.extend((self.variant.params)(self.variant, timing, persistence));
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

/// Model time (the registry's: each model variant gives its own).
pub type Timing = ModelTiming;

/// The timing of a protocol's standard configuration.
pub fn timing_for(protocol: Protocol) -> Timing {
    protocol.variant.timing
}

/// The TTL that makes the lease spec a mutex: longer than any horizon (and far from overflow).
pub const MUTEX_TTL_NS: u64 = 1 << 60;

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
    /// The lease TTL the service promises, in ns (the compiled variant's `ttl_ms`); `None`: no
    /// lease (skinny), a holder holds until it releases and the linearizability spec is a mutex.
    pub ttl_ns: Option<u64>,
    /// The lease is a session reused across acquires (the compiled variant's `session_lease`).
    pub session_lease: bool,
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
            ttl_ns: compiled.variants[0].ttl_ms().map(|ms| ms * 1_000_000),
            session_lease: compiled.variants[0].session_lease(),
        })
    }

    /// The tick at which client `index` (0-based) receives its `Run` command.
    pub fn start_tick(&self, client_index: usize) -> u32 {
        first_start_tick(self.protocol) + client_index as u32 * self.timing.client_stagger_ticks
    }
}

/// The tick at which the first client starts.
fn first_start_tick(protocol: Protocol) -> u32 {
    protocol.variant.timing.first_start_tick
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every model variant is a registry kind, and names only parameters the registry gives it.
    #[test]
    fn every_variant_speaks_the_registrys_parameters() {
        for protocol in Protocol::all() {
            let kind = locklab_protocols::registry::protocol_kind(protocol.kind())
                .unwrap_or_else(|| panic!("{}: not a registry kind", protocol.name()));
            for (key, _) in protocol.params(&timing_for(protocol), protocol.default_persistence()) {
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
