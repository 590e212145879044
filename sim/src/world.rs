//! The discrete-event engine.
//!
//! One true time in integer nanoseconds; an event queue ordered by (time, sequence number), so
//! events at the same instant run in the order they were scheduled and a run is a pure function
//! of the scenario and the seed. Time jumps from event to event — there are no ticks.
//!
//! The engine owns everything a node must not touch: clocks, the network, faults, durable storage
//! and the history. Nodes are the `locklab_protocols::Node` state machines; the engine feeds them
//! inputs with a [`Ctx`] holding their local clock readings and their own seeded random source,
//! then carries out the effects they return.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use locklab_protocols::history::{Deadline, Entry, Event, Observation, WorldEvent};
use locklab_protocols::{Command, Ctx, Durable, Effect, Entropy, Input, Msg, Node, NodeId, Timer};

use crate::clock::Clock;
use crate::queue::EventQueue;
use crate::trace::TraceRec;

/// splitmix64: derives independent seeds for subsystems from one root seed.
pub fn sub_seed(root: u64, stream: u64) -> u64 {
    let mut z = root ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed streams, one per subsystem, so adding draws in one never shifts another's.
pub mod stream {
    pub const NETWORK: u64 = 1;
    pub const CLOCKS: u64 = 2;
    pub const WORKLOAD: u64 = 3;
    /// Nemesis `i` draws from `NEMESIS + i`.
    pub const NEMESIS: u64 = 100;
    pub const NODE_BASE: u64 = 1000;
}

/// A seeded ChaCha source handed to one node.
#[derive(Clone, Debug)]
pub struct NodeRng(pub ChaCha8Rng);

impl Entropy for NodeRng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// A probability as a threshold on a uniform u64 draw (exact, no floats in the hot loop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chance(u64);

impl Chance {
    pub fn new(p: f64) -> Self {
        if p <= 0.0 {
            Chance(0)
        } else if p >= 1.0 {
            Chance(u64::MAX)
        } else {
            Chance((p * u64::MAX as f64) as u64)
        }
    }
    fn hit(self, rng: &mut ChaCha8Rng) -> bool {
        self.hit_with(rng)
    }

    /// One draw from `rng`: does the event happen? (No draw at probability 0.)
    pub fn hit_with(self, rng: &mut impl RngCore) -> bool {
        self.0 != 0 && rng.next_u64() <= self.0
    }
}

/// Behaviour of one directed link.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    pub latency_min_ns: u64,
    pub latency_max_ns: u64,
    pub loss: Chance,
    pub duplicate: Chance,
    pub reorder: Chance,
    pub reorder_max_ns: u64,
}

/// A fault action, carried out at one instant.
#[derive(Clone, Debug)]
pub enum Action {
    Pause {
        node: NodeId,
        duration_ns: u64,
    },
    Resume {
        node: NodeId,
    },
    Crash {
        node: NodeId,
    },
    Restart {
        node: NodeId,
    },
    ClockJump {
        node: NodeId,
        by_ns: i64,
    },
    /// Block (`on`) or unblock the directed links.
    Partition {
        links: Vec<(NodeId, NodeId)>,
        description: String,
        on: bool,
    },
}

/// A fault that fires when an observation occurs for the `nth` time at `node`.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub event: &'static str,
    pub node: NodeId,
    pub nth: u32,
    pub seen: u32,
    /// Actions and their delays from the triggering instant.
    pub actions: Vec<(u64, Action)>,
}

/// Drop or delay the `nth`..`nth+count-1` messages matching kind and endpoints.
#[derive(Clone, Debug)]
pub struct MessageRule {
    pub kind: &'static str,
    pub from: Vec<NodeId>,
    pub to: Vec<NodeId>,
    pub nth: u32,
    pub count: u32,
    pub seen: u32,
    /// None: drop. Some(ns): extra latency.
    pub delay_ns: Option<u64>,
}

/// The name of a trigger event an observation stands for.
pub fn trigger_event(obs: &Observation) -> Option<&'static str> {
    Some(match obs {
        Observation::AcquireOk { .. } => "acquired",
        Observation::Grant { .. } => "granted",
        Observation::WriteSent { .. } => "write_sent",
        Observation::WriteApplied { .. } => "write_applied",
        Observation::ReleaseInvoke { .. } => "released",
        _ => return None,
    })
}

/// The trigger events scenario files may name.
pub const TRIGGER_EVENTS: &[&str] = &["acquired", "granted", "write_sent", "write_applied", "released"];

/// One pending timer of a node.
///
/// Timers are re-armed far more often than they fire (a timeout per request, cancelled by the
/// reply). Rather than pushing a queue entry per `SetTimer`, a slot keeps at most one entry in
/// the queue, at `scheduled_ns`: re-arming to a later deadline only updates `deadline_ns`, and
/// when the entry comes due early it is re-queued for the deadline. Cancelling clears the
/// deadline. `generation` tells the slot's live queue entry from stale ones.
#[derive(Clone, Copy, Debug)]
struct TimerSlot {
    timer: Timer,
    deadline_ns: Option<u64>,
    scheduled_ns: Option<u64>,
    generation: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Up,
    Paused,
    Down,
}

/// Everything the engine keeps about one node.
pub struct Slot {
    pub name: String,
    pub node: Node,
    /// The node as built, to start a fresh process on restart.
    pub pristine: Node,
    pub clock: Clock,
    pub status: Status,
    pub incarnation: u32,
    /// Pending timers (see [`TimerSlot`]).
    timers: Vec<TimerSlot>,
    rng: NodeRng,
    /// Durable state synced to disk (survives a crash).
    pub disk: Option<Durable>,
    /// Durable state written but not synced (lost on a crash).
    cache: Option<Durable>,
    /// Events that arrived while the node was paused, in arrival order.
    deferred: Vec<Ev>,
}

/// A pending event, waiting in the slab until its time comes.
///
/// A message delivery or a workload command is stored as the very [`Input`] its node will be
/// handed, so the event moves once out of the slab and straight into the node: no re-packing of
/// a wide message on every event.
#[derive(Clone, Debug)]
pub enum Ev {
    /// `Input::Message` (a delivery) or `Input::Command` for `node`.
    Input {
        node: NodeId,
        input: Input,
    },
    /// The queue entry of the node's timer slot `index` (see [`TimerSlot`]); stale unless the
    /// slot still has this `generation` (generations are unique, and a crash empties the slots).
    Timer {
        node: NodeId,
        index: u32,
        generation: u64,
    },
    Fault(Action),
}

/// The queue holds `(t_ns, key)` pairs; the event itself waits in a slab. `key` packs the
/// sequence number (high 40 bits) and the slab index (low 24 bits), so ties in time break by
/// scheduling order.
const SLAB_BITS: u32 = 24;

/// Counters for `--stats` and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_dropped: u64,
    pub timers_fired: u64,
    pub end_ns: u64,
    /// The run stopped at its event budget ([`World::set_max_events`]) before the scenario's end:
    /// nothing after `end_ns` was simulated, so no verdict about the whole run can be given.
    pub truncated: bool,
}

/// Events one run may process unless told otherwise: a bundled scenario needs 10⁴–10⁵; a run
/// past this bound costs seconds to minutes and is almost always a scenario that loops (e.g. a
/// retry every millisecond for days of simulated time). `--max-events` raises it.
pub const DEFAULT_MAX_EVENTS: u64 = 20_000_000;

/// Events that may wait in the queue at once (the slab's index space).
pub const MAX_PENDING_EVENTS: usize = 1 << SLAB_BITS;

/// A world ready to run: nodes, network, faults, workload start times.
pub struct World {
    pub slots: Vec<Slot>,
    links: Vec<Link>,
    /// Number of active partitions blocking each directed link (`from * n + to`).
    blocked: Vec<u16>,
    net_rng: ChaCha8Rng,
    rules: Vec<MessageRule>,
    triggers: Vec<Trigger>,
    queue: EventQueue,
    /// Events waiting in the queue, by slab index; `free` lists the empty slots.
    slab: Vec<Option<Ev>>,
    free: Vec<u32>,
    seq: u64,
    now_ns: u64,
    end_ns: u64,
    generation: u64,
    effects: Vec<Effect>,
    pub history: Vec<Entry>,
    pub trace: Option<Vec<TraceRec>>,
    pub stats: Stats,
    max_events: u64,
}

/// What a world is built from (see `build.rs` for how a scenario becomes one).
pub struct WorldSpec {
    pub seed: u64,
    pub duration_ns: u64,
    /// (name, node, clock) for every node, in `NodeId` order.
    pub nodes: Vec<(String, Node, Clock)>,
    /// Directed links, `from * n + to`.
    pub links: Vec<Link>,
    pub scheduled: Vec<(u64, Action)>,
    pub triggers: Vec<Trigger>,
    pub rules: Vec<MessageRule>,
    /// When each client receives `Command::Run`.
    pub starts: Vec<(u64, NodeId)>,
    pub trace: bool,
}

impl World {
    pub fn new(spec: WorldSpec) -> World {
        let n = spec.nodes.len();
        assert_eq!(spec.links.len(), n * n, "one link per ordered pair of nodes");
        let slots = spec
            .nodes
            .into_iter()
            .enumerate()
            .map(|(i, (name, node, clock))| Slot {
                name,
                pristine: node.clone(),
                node,
                clock,
                status: Status::Up,
                incarnation: 0,
                timers: Vec::new(),
                rng: NodeRng(ChaCha8Rng::seed_from_u64(sub_seed(spec.seed, stream::NODE_BASE + i as u64))),
                disk: None,
                cache: None,
                deferred: Vec::new(),
            })
            .collect();
        let mut world = World {
            slots,
            links: spec.links,
            blocked: vec![0; n * n],
            net_rng: ChaCha8Rng::seed_from_u64(sub_seed(spec.seed, stream::NETWORK)),
            rules: spec.rules,
            triggers: spec.triggers,
            queue: EventQueue::new(),
            slab: Vec::with_capacity(1024),
            free: Vec::with_capacity(1024),
            seq: 0,
            now_ns: 0,
            end_ns: spec.duration_ns,
            generation: 0,
            effects: Vec::with_capacity(16),
            history: Vec::with_capacity(4096),
            trace: spec.trace.then(Vec::new),
            stats: Stats::default(),
            max_events: DEFAULT_MAX_EVENTS,
        };
        for (t_ns, action) in spec.scheduled {
            world.push(t_ns, Ev::Fault(action));
        }
        for (t_ns, node) in spec.starts {
            world.push(t_ns, Ev::Input { node, input: Input::Command(Command::Run) });
        }
        world
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    #[inline(always)]
    fn push(&mut self, t_ns: u64, ev: Ev) {
        if self.free.is_empty() && self.slab.len() >= MAX_PENDING_EVENTS {
            // The queue is full: the run cannot go on faithfully. Drop the event and stop at the
            // next step, as truncated (every verdict becomes `unknown`).
            self.stats.truncated = true;
            return;
        }
        self.seq += 1;
        let index = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(ev);
                i
            }
            None => {
                self.slab.push(Some(ev));
                (self.slab.len() - 1) as u32
            }
        };
        debug_assert!(index < 1 << SLAB_BITS, "checked above");
        self.queue.push(t_ns, (self.seq << SLAB_BITS) | index as u64);
    }

    /// Stop the run (as `truncated`) after this many events.
    pub fn set_max_events(&mut self, max_events: u64) {
        self.max_events = max_events;
    }

    /// Run from start to the end of the scenario's duration (or the event budget).
    pub fn run(&mut self) {
        self.start();
        while !self.step(u64::MAX) {}
    }

    /// Give every node its `Start` input: the first part of [`World::run`].
    pub fn start(&mut self) {
        for node in 0..self.slots.len() {
            self.dispatch(node, Input::Start { incarnation: 0, durable: None });
        }
    }

    /// Process at most `events` further events (after [`World::start`]); true once the run is
    /// over: the scenario's end is reached, nothing is left to happen, or the event budget (or
    /// the pending-event bound) is spent — then `stats.truncated` is set and `stats.end_ns` is
    /// where the run stopped. A caller streaming the trace drains `trace` between steps.
    pub fn step(&mut self, events: u64) -> bool {
        for _ in 0..events {
            match self.queue.peek() {
                Some((t_ns, _)) if t_ns <= self.end_ns => {}
                _ => {
                    self.now_ns = self.end_ns;
                    self.stats.end_ns = self.end_ns;
                    return true;
                }
            }
            if self.stats.events >= self.max_events || self.stats.truncated {
                self.stats.truncated = true;
                self.stats.end_ns = self.now_ns;
                return true;
            }
            let (t_ns, key) = self.queue.pop().expect("peeked");
            let index = (key & ((1 << SLAB_BITS) - 1)) as u32;
            self.free.push(index);
            self.now_ns = t_ns;
            self.stats.events += 1;
            // Matched in the slab, by reference: only the variant's own fields are moved out (a
            // timer's three words; an input straight into the node), not the whole event first.
            let slot = &mut self.slab[index as usize];
            match slot {
                Some(Ev::Timer { node, index, generation }) => {
                    let (node, index, generation) = (*node, *index, *generation);
                    *slot = None;
                    self.timer(node, index, generation)
                }
                Some(Ev::Input { .. }) => {
                    let Some(Ev::Input { node, input }) = slot.take() else { unreachable!("matched above") };
                    self.input(node, input)
                }
                Some(Ev::Fault(_)) => {
                    let Some(Ev::Fault(action)) = slot.take() else { unreachable!("matched above") };
                    self.fault(action)
                }
                None => panic!("a queued event is in the slab"),
            }
        }
        false
    }

    /// An input comes due: a message is read or a command given, unless the node is paused (the
    /// event waits) or down (a message is lost).
    #[inline(always)]
    fn input(&mut self, node: NodeId, input: Input) {
        match self.slots[node].status {
            Status::Paused => {
                self.slots[node].deferred.push(Ev::Input { node, input });
                return;
            }
            Status::Down => {
                if let Input::Message { from, msg } = input {
                    self.stats.messages_dropped += 1;
                    if let Some(trace) = &mut self.trace {
                        trace.push(TraceRec::Drop { t_ns: self.now_ns, from, to: node, msg, why: "receiver down" });
                    }
                }
                return;
            }
            Status::Up => {}
        }
        if let Input::Message { from, msg } = &input {
            self.stats.messages_delivered += 1;
            if let Some(trace) = &mut self.trace {
                trace.push(TraceRec::Deliver { t_ns: self.now_ns, from: *from, to: node, msg: msg.clone() });
            }
        }
        self.dispatch(node, input);
    }

    /// A timer's queue entry comes due (see [`TimerSlot`]): it fires, is re-queued for a later
    /// deadline, or is stale.
    fn timer(&mut self, node: NodeId, index: u32, generation: u64) {
        match self.slots[node].status {
            Status::Paused => {
                self.slots[node].deferred.push(Ev::Timer { node, index, generation });
                return;
            }
            Status::Down => return,
            Status::Up => {}
        }
        let now_ns = self.now_ns;
        let timers = &mut self.slots[node].timers;
        let Some(slot) = timers.get_mut(index as usize).filter(|s| s.generation == generation) else {
            return; // a stale entry (the node crashed, or the slot was re-queued earlier)
        };
        let timer = slot.timer;
        slot.scheduled_ns = None;
        match slot.deadline_ns {
            None => return, // cancelled
            Some(deadline) if deadline > now_ns => {
                // Re-armed to a later deadline since this entry was queued.
                slot.scheduled_ns = Some(deadline);
                self.push(deadline, Ev::Timer { node, index, generation });
                return;
            }
            Some(_) => slot.deadline_ns = None,
        }
        self.stats.timers_fired += 1;
        if let Some(trace) = &mut self.trace {
            trace.push(TraceRec::Timer { t_ns: self.now_ns, node, timer });
        }
        self.dispatch(node, Input::Timer(timer));
    }

    /// Feed one input to a node and carry out its effects.
    #[inline(always)]
    fn dispatch(&mut self, node: NodeId, input: Input) {
        let mut effects = std::mem::take(&mut self.effects);
        {
            let slot = &mut self.slots[node];
            let (mono_ns, wall_ns) = slot.clock.readings(self.now_ns);
            let mut ctx = Ctx::new(node, mono_ns, wall_ns, &mut slot.rng, &mut effects);
            slot.node.handle(&mut ctx, input);
        }
        for effect in effects.iter_mut() {
            // Timer effects are read in place, a message is moved out only once it is known to go
            // on the wire; the others are moved out (a `Sync` is left behind).
            match *effect {
                Effect::SetTimer { timer, after_ns } => self.set_timer(node, timer, after_ns),
                Effect::CancelTimer { timer } => self.cancel_timer(node, timer),
                Effect::Send { to, ref msg } => {
                    if let Some(at) = self.send(node, to, msg) {
                        let Effect::Send { msg, .. } = std::mem::replace(effect, Effect::Sync) else {
                            unreachable!("matched above")
                        };
                        self.push(at, Ev::Input { node: to, input: Input::Message { from: node, msg } });
                    }
                }
                _ => {
                    let effect = std::mem::replace(effect, Effect::Sync);
                    self.apply(node, effect);
                }
            }
        }
        effects.clear();
        std::mem::swap(&mut self.effects, &mut effects);
    }

    #[inline]
    fn cancel_timer(&mut self, node: NodeId, timer: Timer) {
        if let Some(slot) = self.slots[node].timers.iter_mut().find(|s| s.timer == timer) {
            slot.deadline_ns = None;
        }
    }

    #[inline]
    fn set_timer(&mut self, node: NodeId, timer: Timer, after_ns: u64) {
        let node_slot = &mut self.slots[node];
        let at = self.now_ns + node_slot.clock.true_duration(after_ns);
        let index = match node_slot.timers.iter().position(|s| s.timer == timer) {
            Some(i) => i,
            None => {
                node_slot.timers.push(TimerSlot { timer, deadline_ns: None, scheduled_ns: None, generation: 0 });
                node_slot.timers.len() - 1
            }
        };
        let slot = &mut node_slot.timers[index];
        slot.deadline_ns = Some(at);
        if slot.scheduled_ns.is_none_or(|s| s > at) {
            // No entry queued, or it would come too late: queue one (older ones go stale).
            self.generation += 1;
            slot.generation = self.generation;
            slot.scheduled_ns = Some(at);
            let generation = self.generation;
            self.push(at, Ev::Timer { node, index: index as u32, generation });
        }
    }

    fn apply(&mut self, node: NodeId, effect: Effect) {
        match effect {
            Effect::Send { to, msg } => {
                if let Some(at) = self.send(node, to, &msg) {
                    self.push(at, Ev::Input { node: to, input: Input::Message { from: node, msg } });
                }
            }
            Effect::SetTimer { timer, after_ns } => self.set_timer(node, timer, after_ns),
            Effect::CancelTimer { timer } => self.cancel_timer(node, timer),
            Effect::Persist(durable) => self.slots[node].cache = Some(durable),
            Effect::Sync => {
                // What was written reaches the disk. Moved, not copied: until the next `Persist`
                // the disk holds exactly what the cache did, so a second `Sync` has nothing to do.
                let slot = &mut self.slots[node];
                if let Some(written) = slot.cache.take() {
                    slot.disk = Some(written);
                }
            }
            Effect::Record(obs) => self.record(node, obs),
        }
    }

    fn record(&mut self, node: NodeId, obs: Observation) {
        let until_ns = match &obs {
            Observation::AcquireOk { valid_until, .. } | Observation::ExtendOk { valid_until, .. } => {
                let clock = &self.slots[node].clock;
                match *valid_until {
                    Deadline::Never => None,
                    Deadline::Mono(d) => Some(clock.true_at_mono(d)),
                    Deadline::Wall(d) => Some(clock.true_at_wall(d)),
                }
            }
            _ => None,
        };
        if !self.triggers.is_empty() {
            if let Some(event) = trigger_event(&obs) {
                self.fire_triggers(event, node);
            }
        }
        self.push_history(node, Event::Obs { obs, until_ns });
    }

    fn push_history(&mut self, node: NodeId, event: Event) {
        if let Some(trace) = &mut self.trace {
            trace.push(TraceRec::History { index: self.history.len() });
        }
        self.history.push(Entry { t_ns: self.now_ns, node, event });
    }

    /// Triggered faults whose trigger never fired (the event happened fewer than `nth` times):
    /// `run` reports them rather than skipping them silently.
    pub fn unfired_triggers(&self) -> Vec<&Trigger> {
        self.triggers.iter().filter(|t| t.seen < t.nth).collect()
    }

    /// Targeted drops and delays that matched fewer messages than they were written for.
    pub fn unmatched_rules(&self) -> Vec<&MessageRule> {
        self.rules.iter().filter(|r| r.seen < r.nth.saturating_add(r.count).saturating_sub(1)).collect()
    }

    fn fire_triggers(&mut self, event: &'static str, node: NodeId) {
        let mut due = Vec::new();
        for trigger in &mut self.triggers {
            if trigger.event == event && trigger.node == node {
                trigger.seen += 1;
                if trigger.seen == trigger.nth {
                    due.extend(trigger.actions.iter().cloned());
                }
            }
        }
        for (delay_ns, action) in due {
            let at = self.now_ns + delay_ns;
            self.push(at, Ev::Fault(action));
        }
    }

    /// A message leaves `from` for `to`: targeted rules, partitions, loss and duplication decide
    /// its fate. Returns when it arrives, or `None` if it is lost; a duplicate is queued here. The
    /// message is only borrowed: the caller moves it from the effect buffer straight into the
    /// queue, so a delivered message is copied once on its way.
    #[inline(always)]
    fn send(&mut self, from: NodeId, to: NodeId, msg: &Msg) -> Option<u64> {
        self.stats.messages_sent += 1;
        let n = self.slots.len();
        let link = self.links[from * n + to];
        let mut extra_ns = 0;
        if !self.rules.is_empty() {
            match self.apply_rules(from, to, msg) {
                None => {
                    self.stats.messages_dropped += 1;
                    if let Some(trace) = &mut self.trace {
                        let msg = msg.clone();
                        trace.push(TraceRec::Drop { t_ns: self.now_ns, from, to, msg, why: "targeted drop" });
                    }
                    return None;
                }
                Some(e) => extra_ns = e,
            }
        }
        if self.blocked[from * n + to] > 0 || link.loss.hit(&mut self.net_rng) {
            self.stats.messages_dropped += 1;
            if let Some(trace) = &mut self.trace {
                let why = if self.blocked[from * n + to] > 0 { "partitioned" } else { "lost" };
                trace.push(TraceRec::Drop { t_ns: self.now_ns, from, to, msg: msg.clone(), why });
            }
            return None;
        }
        if link.duplicate.hit(&mut self.net_rng) {
            let at = self.transmit(from, to, msg, &link, extra_ns, true);
            self.push(at, Ev::Input { node: to, input: Input::Message { from, msg: msg.clone() } });
        }
        Some(self.transmit(from, to, msg, &link, extra_ns, false))
    }

    /// Put one copy of a message on the wire: draw its latency (and reordering delay), record
    /// the send; returns its arrival time (the caller queues it).
    #[inline(always)]
    fn transmit(&mut self, from: NodeId, to: NodeId, msg: &Msg, link: &Link, extra_ns: u64, duplicate: bool) -> u64 {
        let mut latency_ns = self.latency(link) + extra_ns;
        if link.reorder.hit(&mut self.net_rng) {
            latency_ns += self.net_rng.next_u64() % (link.reorder_max_ns + 1);
        }
        let at = self.now_ns + latency_ns;
        if let Some(trace) = &mut self.trace {
            trace.push(TraceRec::Send { t_ns: self.now_ns, from, to, msg: msg.clone(), arrive_ns: at, duplicate });
        }
        at
    }

    fn latency(&mut self, link: &Link) -> u64 {
        let span = link.latency_max_ns - link.latency_min_ns;
        if span == 0 {
            link.latency_min_ns
        } else {
            link.latency_min_ns + self.net_rng.next_u64() % (span + 1)
        }
    }

    /// Targeted rules: `None` drops the message, `Some(extra_ns)` delays it.
    fn apply_rules(&mut self, from: NodeId, to: NodeId, msg: &Msg) -> Option<u64> {
        let kind = msg.kind();
        let mut extra_ns = 0;
        let mut drop = false;
        for rule in &mut self.rules {
            let matches = rule.kind == kind
                && (rule.from.is_empty() || rule.from.contains(&from))
                && (rule.to.is_empty() || rule.to.contains(&to));
            if !matches {
                continue;
            }
            rule.seen += 1;
            if rule.seen >= rule.nth && rule.seen < rule.nth + rule.count {
                match rule.delay_ns {
                    None => drop = true,
                    Some(d) => extra_ns += d,
                }
            }
        }
        if drop {
            self.push_history(from, Event::World(WorldEvent::MessageDropped { kind, from, to }));
            None
        } else {
            if extra_ns > 0 {
                self.push_history(from, Event::World(WorldEvent::MessageDelayed { kind, from, to, extra_ns }));
            }
            Some(extra_ns)
        }
    }

    fn fault(&mut self, action: Action) {
        match action {
            Action::Pause { node, duration_ns } => {
                if self.slots[node].status == Status::Up {
                    self.slots[node].status = Status::Paused;
                    self.push_history(node, Event::World(WorldEvent::PauseStart { duration_ns }));
                    self.push(self.now_ns + duration_ns, Ev::Fault(Action::Resume { node }));
                }
            }
            Action::Resume { node } => {
                if self.slots[node].status == Status::Paused {
                    self.slots[node].status = Status::Up;
                    self.push_history(node, Event::World(WorldEvent::PauseEnd));
                    // Everything that queued up during the pause happens now, in arrival order:
                    // timers fire late, messages are read late.
                    let deferred = std::mem::take(&mut self.slots[node].deferred);
                    for ev in deferred {
                        self.push(self.now_ns, ev);
                    }
                }
            }
            Action::Crash { node } => {
                let slot = &mut self.slots[node];
                if slot.status != Status::Down {
                    slot.status = Status::Down;
                    slot.timers.clear();
                    slot.deferred.clear();
                    slot.cache = None;
                    self.push_history(node, Event::World(WorldEvent::Crash));
                }
            }
            Action::Restart { node } => {
                let slot = &mut self.slots[node];
                if slot.status == Status::Down {
                    slot.status = Status::Up;
                    slot.incarnation += 1;
                    slot.node = slot.pristine.clone();
                    let incarnation = slot.incarnation;
                    let durable = slot.disk.clone();
                    self.push_history(node, Event::World(WorldEvent::Restart { incarnation }));
                    self.dispatch(node, Input::Start { incarnation, durable });
                }
            }
            Action::ClockJump { node, by_ns } => {
                self.slots[node].clock.wall_steps_ns += by_ns;
                self.push_history(node, Event::World(WorldEvent::ClockJump { by_ns }));
            }
            Action::Partition { links, description, on } => {
                let n = self.slots.len();
                for (from, to) in links {
                    let b = &mut self.blocked[from * n + to];
                    *b = if on { *b + 1 } else { b.saturating_sub(1) };
                }
                let event = if on {
                    WorldEvent::PartitionStart { description }
                } else {
                    WorldEvent::PartitionHeal { description }
                };
                self.push_history(0, Event::World(event));
            }
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.name.clone()).collect()
    }
}
