//! The live host: the simulator's world, played on tokio with real sockets and real timers.
//!
//! Every locklab node of a scenario (lock server, client with its lock library, resource) runs as
//! one task that owns the node's state machine and feeds it exactly the inputs of the node
//! contract (`Start`, `Message`, `Timer`, `Command`), carrying out its effects:
//!
//! * `Send` goes through the host's send path, which applies the scenario's network (the same
//!   `[network]`, `[[network.links]]`, partitions and targeted drops/delays the simulator
//!   applies, drawn from the same seeded sub-stream) and then writes one UDP datagram
//!   ([`crate::wire`]) to the receiver's socket after the drawn latency;
//! * `SetTimer`/`CancelTimer` become deadlines in true time, through the node's own clock;
//! * `Persist`/`Sync` write the node's durable state to real files: `Persist` to `NAME.cache`,
//!   `Sync` copies it to `NAME.durable` and fsyncs. A crash deletes the cache (the page cache of a
//!   machine that lost power) and a restart reads `NAME.durable`;
//! * `Record` goes to the run's history, stamped with true time.
//!
//! Each node's clock is the simulator's [`Clock`] (offset, drift, steps) applied to the host's
//! true time: tokio has no per-host clock, so the host gives every node its own readings. A
//! pause stops feeding the node (its inputs queue, its timers come due and queue) and resumes in
//! arrival order, as in the simulator; turmoil has no process pause either, so the same code does
//! it under turmoil.
//!
//! The host runs on tokio ([`Net::Tokio`]: UDP on 127.0.0.1, real time scaled by `time_scale`)
//! or under turmoil ([`crate::turmoil_host`]: turmoil's simulated network and time, seeded).
//! When a [`Backend`] plays the server role, the server nodes are not locklab nodes: each
//! client's messages to them go to the backend's adapter ([`crate::backend`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::sync::mpsc;

use locklab_protocols::history::{Deadline, Entry, Event, Observation, WorldEvent};
use locklab_protocols::{Command, Ctx, Durable, Effect, Input, Msg, Node, NodeId, Timer};
use locklab_sim::clock::Clock;
use locklab_sim::world::{stream, sub_seed, trigger_event, Action, Link, MessageRule, NodeRng, Trigger, WorldSpec};

use crate::backend::{Backend, Decision, LinkPolicy, Recorder, Replier, Request, ServerFault, ServerIo, TimeMap};
use crate::wire;

/// A datagram socket the host can use: tokio's or turmoil's.
pub trait Socket: Send + Sync + 'static {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> crate::backend::BoxFut<'a, std::io::Result<()>>;
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> crate::backend::BoxFut<'a, std::io::Result<(usize, SocketAddr)>>;
}

impl Socket for tokio::net::UdpSocket {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> crate::backend::BoxFut<'a, std::io::Result<()>> {
        Box::pin(async move { tokio::net::UdpSocket::send_to(self, buf, to).await.map(|_| ()) })
    }
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> crate::backend::BoxFut<'a, std::io::Result<(usize, SocketAddr)>> {
        Box::pin(tokio::net::UdpSocket::recv_from(self, buf))
    }
}

/// Control inputs from the fault driver and the workload to a node's task.
#[derive(Debug)]
pub enum Ctrl {
    Pause { duration_ns: u64 },
    Resume,
    Crash,
    Restart,
    ClockJump { by_ns: i64 },
    Run,
}

/// Counters of one live run.
#[derive(Debug, Default)]
pub struct LiveStats {
    pub messages_sent: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub messages_dropped: AtomicU64,
    /// Datagrams refused by the wire decoder (another version, or garbage).
    pub datagrams_refused: AtomicU64,
    pub timers_fired: AtomicU64,
}

/// The network's state: the scenario's links and rules, the partitions in force, and the
/// network's own seeded random source (the simulator's `NETWORK` sub-stream).
struct NetState {
    n: usize,
    links: Vec<Link>,
    blocked: Vec<u16>,
    rules: Vec<MessageRule>,
    rng: ChaCha8Rng,
}

impl NetState {
    fn chance(&mut self, c: locklab_sim::world::Chance) -> bool {
        c.hit_with(&mut self.rng)
    }

    /// The verdict on one message, and what the history records about a targeted rule.
    fn decide(&mut self, from: NodeId, to: NodeId, kind: &'static str) -> (Decision, Option<WorldEvent>) {
        let link = self.links[from * self.n + to];
        let mut extra_ns = 0;
        let mut targeted_drop = false;
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
                    None => targeted_drop = true,
                    Some(d) => extra_ns += d,
                }
            }
        }
        if targeted_drop {
            return (Decision::Drop { why: "targeted drop" }, Some(WorldEvent::MessageDropped { kind, from, to }));
        }
        let event = (extra_ns > 0).then_some(WorldEvent::MessageDelayed { kind, from, to, extra_ns });
        if self.blocked[from * self.n + to] > 0 {
            return (Decision::Drop { why: "partitioned" }, event);
        }
        if self.chance(link.loss) {
            return (Decision::Drop { why: "lost" }, event);
        }
        let duplicate = self.chance(link.duplicate);
        let span = link.latency_max_ns - link.latency_min_ns;
        let mut delay_ns =
            if span == 0 { link.latency_min_ns } else { link.latency_min_ns + self.rng.next_u64() % (span + 1) };
        if self.chance(link.reorder) {
            delay_ns += self.rng.next_u64() % (link.reorder_max_ns + 1);
        }
        (Decision::Deliver { delay_ns: delay_ns + extra_ns, duplicate }, event)
    }
}

/// What a node's task receives.
#[derive(Debug)]
enum Inbound {
    Message { from: NodeId, msg: Msg },
}

/// Everything the tasks of one run share.
pub struct Shared {
    pub names: Vec<String>,
    pub end_ns: u64,
    now: Box<dyn Fn() -> u64 + Send + Sync>,
    /// Real nanoseconds per scenario nanosecond (1 under turmoil).
    pub scale: f64,
    net: Mutex<NetState>,
    history: Mutex<Vec<Entry>>,
    triggers: Mutex<Vec<Trigger>>,
    /// Each node's datagram address (set once every socket is bound).
    pub addrs: OnceLock<Vec<SocketAddr>>,
    ctrl: Vec<Option<mpsc::UnboundedSender<Ctrl>>>,
    /// In-process inboxes (replies from a backend's adapter skip the socket).
    inboxes: Vec<Option<mpsc::UnboundedSender<Inbound>>>,
    /// The backend's request queues, by server node (real-server runs only).
    server_inboxes: Mutex<Vec<Option<mpsc::UnboundedSender<Request>>>>,
    backend: Option<(Arc<dyn Backend>, Vec<NodeId>)>,
    pub stats: LiveStats,
    /// The clocks as built (the history's `until_ns` needs each client's clock; clock jumps of a
    /// node are mirrored here by its task).
    clocks: Mutex<Vec<Clock>>,
    /// Errors of the live machinery (a server would not restart …): the run cannot be judged.
    pub errors: Mutex<Vec<String>>,
}

impl Shared {
    /// True (scenario) time now, in ns since the run's start.
    pub fn now_ns(&self) -> u64 {
        (self.now)()
    }

    /// Sleep until true time `t_ns` (real time scaled).
    pub async fn sleep_until(&self, t_ns: u64) {
        loop {
            let now = self.now_ns();
            if now >= t_ns {
                return;
            }
            let real_ns = ((t_ns - now) as f64 * self.scale).ceil() as u64;
            tokio::time::sleep(std::time::Duration::from_nanos(real_ns.max(1))).await;
        }
    }

    fn push_history(&self, node: NodeId, event: Event) {
        let t_ns = self.now_ns();
        self.history.lock().unwrap().push(Entry { t_ns, node, event });
    }

    /// Record an observation of `node` (stamped now), converting a validity deadline to true
    /// time with the node's clock, and fire the triggers it matches.
    fn record(self: &Arc<Self>, node: NodeId, obs: Observation) {
        let until_ns = match &obs {
            Observation::AcquireOk { valid_until, .. } | Observation::ExtendOk { valid_until, .. } => {
                let clocks = self.clocks.lock().unwrap();
                match *valid_until {
                    Deadline::Never => None,
                    Deadline::Mono(d) => Some(clocks[node].true_at_mono(d)),
                    Deadline::Wall(d) => Some(clocks[node].true_at_wall(d)),
                }
            }
            _ => None,
        };
        if let Some(event) = trigger_event(&obs) {
            let mut due = Vec::new();
            for trigger in self.triggers.lock().unwrap().iter_mut() {
                if trigger.event == event && trigger.node == node {
                    trigger.seen += 1;
                    if trigger.seen == trigger.nth {
                        due.extend(trigger.actions.iter().cloned());
                    }
                }
            }
            let now = self.now_ns();
            for (delay_ns, action) in due {
                let sh = self.clone();
                tokio::spawn(async move {
                    sh.sleep_until(now + delay_ns).await;
                    sh.apply(action).await;
                });
            }
        }
        self.push_history(node, Event::Obs { obs, until_ns });
    }

    /// The send path: the network's verdict, then one datagram per copy after its latency.
    fn send(self: &Arc<Self>, socket: &Arc<dyn Socket>, from: NodeId, to: NodeId, msg: Msg) {
        self.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
        let kind = msg.kind();
        let (decision, event) = self.net.lock().unwrap().decide(from, to, kind);
        if let Some(e) = event {
            self.push_history(from, Event::World(e));
        }
        if let Some(tx) = self.server_inboxes.lock().unwrap().get(to).and_then(|t| t.as_ref()) {
            // A real server: its adapter enacts the verdict on the real connection.
            let _ = tx.send(Request { from, msg, decision });
            return;
        }
        let Decision::Deliver { delay_ns, duplicate } = decision else {
            self.stats.messages_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let bytes = wire::encode(from, to, &msg);
        let copies = if duplicate { 2 } else { 1 };
        let at = self.now_ns() + delay_ns;
        let sh = self.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            sh.sleep_until(at).await;
            let addr = sh.addrs.get().expect("addresses are set before the nodes start")[to];
            for _ in 0..copies {
                let _ = socket.send_to(&bytes, addr).await;
            }
        });
    }

    /// Carry out one fault action now.
    pub async fn apply(self: &Arc<Self>, action: Action) {
        if self.now_ns() > self.end_ns {
            return;
        }
        let node = match &action {
            Action::Pause { node, .. }
            | Action::Resume { node }
            | Action::Crash { node }
            | Action::Restart { node }
            | Action::ClockJump { node, .. } => Some(*node),
            Action::Partition { .. } => None,
        };
        if let (Some(node), Some((backend, servers))) = (node, &self.backend) {
            if let Some(index) = servers.iter().position(|&s| s == node) {
                return self.apply_to_backend(backend.clone(), index, node, action).await;
            }
        }
        match action {
            Action::Pause { node, duration_ns } => {
                self.control(node, Ctrl::Pause { duration_ns });
                let sh = self.clone();
                let at = self.now_ns() + duration_ns;
                tokio::spawn(async move {
                    sh.sleep_until(at).await;
                    sh.control(node, Ctrl::Resume);
                });
            }
            Action::Resume { node } => self.control(node, Ctrl::Resume),
            Action::Crash { node } => self.control(node, Ctrl::Crash),
            Action::Restart { node } => self.control(node, Ctrl::Restart),
            Action::ClockJump { node, by_ns } => self.control(node, Ctrl::ClockJump { by_ns }),
            Action::Partition { links, description, on } => {
                {
                    let mut net = self.net.lock().unwrap();
                    let n = net.n;
                    for (from, to) in links {
                        let b = &mut net.blocked[from * n + to];
                        *b = if on { *b + 1 } else { b.saturating_sub(1) };
                    }
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

    async fn apply_to_backend(self: &Arc<Self>, backend: Arc<dyn Backend>, index: usize, node: NodeId, action: Action) {
        let (fault, event) = match action {
            Action::Pause { duration_ns, .. } => {
                let sh = self.clone();
                let b = backend.clone();
                let at = self.now_ns() + duration_ns;
                tokio::spawn(async move {
                    sh.sleep_until(at).await;
                    sh.push_history(node, Event::World(WorldEvent::PauseEnd));
                    if let Err(e) = b.fault(index, ServerFault::Resume).await {
                        sh.errors.lock().unwrap().push(format!("SIGCONT on {}: {e}", sh.names[node]));
                    }
                });
                (ServerFault::Pause, WorldEvent::PauseStart { duration_ns })
            }
            Action::Resume { .. } => (ServerFault::Resume, WorldEvent::PauseEnd),
            Action::Crash { .. } => (ServerFault::Crash, WorldEvent::Crash),
            Action::Restart { .. } => (ServerFault::Restart, WorldEvent::Restart { incarnation: 1 }),
            Action::ClockJump { by_ns, .. } => (ServerFault::ClockJump { by_ns }, WorldEvent::ClockJump { by_ns }),
            Action::Partition { .. } => unreachable!("partitions act on the network"),
        };
        self.push_history(node, Event::World(event));
        // In its own task: a restart waits for the server to answer (and for a restart delay),
        // which must not hold back the faults scheduled after it.
        let sh = self.clone();
        tokio::spawn(async move {
            if let Err(e) = backend.fault(index, fault).await {
                sh.errors.lock().unwrap().push(format!("{} on {}: {e}", fault_name(fault), sh.names[node]));
            }
        });
    }

    fn control(&self, node: NodeId, ctrl: Ctrl) {
        if let Some(Some(tx)) = self.ctrl.get(node) {
            let _ = tx.send(ctrl);
        }
    }
}

fn fault_name(f: ServerFault) -> &'static str {
    match f {
        ServerFault::Pause => "SIGSTOP",
        ServerFault::Resume => "SIGCONT",
        ServerFault::Crash => "SIGKILL",
        ServerFault::Restart => "restart",
        ServerFault::ClockJump { .. } => "clock jump",
    }
}

struct Policy(Arc<Shared>);

impl LinkPolicy for Policy {
    fn decide(&self, from: NodeId, to: NodeId, kind: &'static str) -> Decision {
        let (decision, event) = self.0.net.lock().unwrap().decide(from, to, kind);
        if let Some(e) = event {
            self.0.push_history(from, Event::World(e));
        }
        decision
    }
}

/// A node's durable state in real files (see the module docs).
struct DiskStore {
    cache: PathBuf,
    durable: PathBuf,
}

impl DiskStore {
    fn persist(&self, d: &Durable) -> std::io::Result<()> {
        std::fs::write(&self.cache, serde_json::to_vec(d).map_err(std::io::Error::other)?)
    }
    fn sync(&self) -> std::io::Result<()> {
        use std::io::Write;
        let Ok(bytes) = std::fs::read(&self.cache) else { return Ok(()) };
        let tmp = self.durable.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.durable)
    }
    fn crash(&self) {
        let _ = std::fs::remove_file(&self.cache);
    }
    fn load(&self) -> Option<Durable> {
        let bytes = std::fs::read(&self.durable).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Up,
    Paused,
    Down,
}

/// One node's task state.
struct NodeTask {
    sh: Arc<Shared>,
    id: NodeId,
    node: Node,
    pristine: Node,
    clock: Clock,
    status: Status,
    incarnation: u32,
    /// Pending timers: (timer, true-time deadline).
    timers: Vec<(Timer, u64)>,
    rng: NodeRng,
    disk: DiskStore,
    deferred: VecDeque<Input>,
    socket: Arc<dyn Socket>,
    effects: Vec<Effect>,
}

impl NodeTask {
    fn dispatch(&mut self, input: Input) {
        let now = self.sh.now_ns();
        let mut effects = std::mem::take(&mut self.effects);
        {
            let mut ctx =
                Ctx::new(self.id, self.clock.mono_ns(now), self.clock.wall_ns(now), &mut self.rng, &mut effects);
            self.node.handle(&mut ctx, input);
        }
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => self.sh.send(&self.socket, self.id, to, msg),
                Effect::SetTimer { timer, after_ns } => {
                    let at = now + self.clock.true_duration(after_ns);
                    match self.timers.iter_mut().find(|(t, _)| *t == timer) {
                        Some(slot) => slot.1 = at,
                        None => self.timers.push((timer, at)),
                    }
                }
                Effect::CancelTimer { timer } => self.timers.retain(|(t, _)| *t != timer),
                Effect::Persist(d) => {
                    if let Err(e) = self.disk.persist(&d) {
                        self.sh.errors.lock().unwrap().push(format!("{}: persist: {e}", self.sh.names[self.id]));
                    }
                }
                Effect::Sync => {
                    if let Err(e) = self.disk.sync() {
                        self.sh.errors.lock().unwrap().push(format!("{}: fsync: {e}", self.sh.names[self.id]));
                    }
                }
                Effect::Record(obs) => self.sh.record(self.id, obs),
            }
        }
        self.effects = effects;
    }

    /// Feed an input now, or queue it while paused; drop it while down.
    fn input(&mut self, input: Input) {
        match self.status {
            Status::Up => self.dispatch(input),
            Status::Paused => self.deferred.push_back(input),
            Status::Down => {}
        }
    }

    fn control(&mut self, ctrl: Ctrl) {
        match ctrl {
            Ctrl::Pause { duration_ns } => {
                if self.status == Status::Up {
                    self.status = Status::Paused;
                    self.sh.push_history(self.id, Event::World(WorldEvent::PauseStart { duration_ns }));
                }
            }
            Ctrl::Resume => {
                if self.status == Status::Paused {
                    self.status = Status::Up;
                    self.sh.push_history(self.id, Event::World(WorldEvent::PauseEnd));
                    while let Some(input) = self.deferred.pop_front() {
                        if self.status != Status::Up {
                            break;
                        }
                        self.dispatch(input);
                    }
                }
            }
            Ctrl::Crash => {
                if self.status != Status::Down {
                    self.status = Status::Down;
                    self.timers.clear();
                    self.deferred.clear();
                    self.disk.crash();
                    self.sh.push_history(self.id, Event::World(WorldEvent::Crash));
                }
            }
            Ctrl::Restart => {
                if self.status == Status::Down {
                    self.status = Status::Up;
                    self.incarnation += 1;
                    self.node = self.pristine.clone();
                    let durable = self.disk.load();
                    self.sh.push_history(self.id, Event::World(WorldEvent::Restart { incarnation: self.incarnation }));
                    self.dispatch(Input::Start { incarnation: self.incarnation, durable });
                }
            }
            Ctrl::ClockJump { by_ns } => {
                self.clock.wall_steps_ns += by_ns;
                self.sh.clocks.lock().unwrap()[self.id].wall_steps_ns += by_ns;
                self.sh.push_history(self.id, Event::World(WorldEvent::ClockJump { by_ns }));
            }
            Ctrl::Run => self.input(Input::Command(Command::Run)),
        }
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Inbound>, mut ctrl: mpsc::UnboundedReceiver<Ctrl>) {
        self.dispatch(Input::Start { incarnation: 0, durable: None });
        loop {
            let now = self.sh.now_ns();
            if now >= self.sh.end_ns {
                return;
            }
            // Timers due now fire first, earliest first (ties in setting order).
            if let Some(i) = self.next_timer().filter(|&i| self.timers[i].1 <= now) {
                let (timer, _) = self.timers.remove(i);
                if self.status != Status::Down {
                    self.sh.stats.timers_fired.fetch_add(1, Ordering::Relaxed);
                }
                self.input(Input::Timer(timer));
                continue;
            }
            let wake = self.next_timer().map_or(self.sh.end_ns, |i| self.timers[i].1.min(self.sh.end_ns));
            let sh = self.sh.clone();
            tokio::select! {
                biased;
                c = ctrl.recv() => match c {
                    Some(c) => self.control(c),
                    None => return,
                },
                m = inbox.recv() => match m {
                    Some(Inbound::Message { from, msg }) => {
                        if self.status == Status::Down {
                            self.sh.stats.messages_dropped.fetch_add(1, Ordering::Relaxed);
                        } else {
                            self.sh.stats.messages_delivered.fetch_add(1, Ordering::Relaxed);
                            self.input(Input::Message { from, msg });
                        }
                    }
                    None => return,
                },
                _ = sh.sleep_until(wake) => {}
            }
        }
    }

    fn next_timer(&self) -> Option<usize> {
        (0..self.timers.len()).min_by_key(|&i| (self.timers[i].1, i))
    }
}

/// What a live run hands back: the history (sorted by time) and its counters.
pub struct LiveOutcome {
    pub history: Vec<Entry>,
    pub names: Vec<String>,
    pub end_ns: u64,
    pub messages_delivered: u64,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub datagrams_refused: u64,
    /// Failures of the live machinery: when non-empty, the run cannot be judged.
    pub errors: Vec<String>,
}

/// How the host binds sockets and reads time.
pub enum Net {
    /// Real UDP sockets on 127.0.0.1 and real time, `scale` real seconds per scenario second.
    Tokio { scale: f64 },
    /// Inside a turmoil simulation: turmoil's sockets and time (see `crate::turmoil_host`).
    Turmoil,
}

/// A node's task with its inbox and its control channel.
type TaskParts = (NodeTask, mpsc::UnboundedReceiver<Inbound>, mpsc::UnboundedReceiver<Ctrl>);

/// What a prepared run becomes: the shared state, one future per node (or real server's
/// adapter), and the fault driver.
pub type RunFutures =
    (Arc<Shared>, Vec<(NodeId, crate::backend::BoxFut<'static, ()>)>, crate::backend::BoxFut<'static, ()>);

/// How a run reads true time: `now` in scenario ns since the start, `scale` real ns per scenario
/// ns (1 under turmoil), and the map handed to backends.
pub struct TimeSource {
    pub now: Box<dyn Fn() -> u64 + Send + Sync>,
    pub scale: f64,
    pub map: TimeMap,
}

/// Prepared state of one run, before the tasks start.
pub struct Prepared {
    pub shared: Arc<Shared>,
    tasks: Vec<Option<TaskParts>>,
    inbound_tx: Vec<Option<mpsc::UnboundedSender<Inbound>>>,
    scheduled: Vec<(u64, Action)>,
    starts: Vec<(u64, NodeId)>,
    server_rx: Vec<(NodeId, usize, mpsc::UnboundedReceiver<Request>)>,
    time: TimeMap,
}

/// Build the shared state and the node tasks for `spec`. `now` reads true time in ns since the
/// start; `dir` holds the nodes' durable files. With a backend, the server nodes are its.
pub fn prepare(
    spec: WorldSpec,
    servers: &[NodeId],
    backend: Option<Arc<dyn Backend>>,
    clock: TimeSource,
    dir: &std::path::Path,
    socket_for: &mut dyn FnMut(NodeId) -> Arc<dyn Socket>,
) -> Prepared {
    let n = spec.nodes.len();
    let names: Vec<String> = spec.nodes.iter().map(|(name, _, _)| name.clone()).collect();
    let clocks: Vec<Clock> = spec.nodes.iter().map(|(_, _, c)| c.clone()).collect();
    let real_server = |id: NodeId| backend.is_some() && servers.contains(&id);
    let mut ctrl_tx = Vec::with_capacity(n);
    let mut ctrl_rx = Vec::with_capacity(n);
    let mut in_tx = Vec::with_capacity(n);
    let mut in_rx = Vec::with_capacity(n);
    for id in 0..n {
        if real_server(id) {
            ctrl_tx.push(None);
            ctrl_rx.push(None);
            in_tx.push(None);
            in_rx.push(None);
        } else {
            let (t, r) = mpsc::unbounded_channel();
            ctrl_tx.push(Some(t));
            ctrl_rx.push(Some(r));
            let (t, r) = mpsc::unbounded_channel();
            in_tx.push(Some(t));
            in_rx.push(Some(r));
        }
    }
    let mut server_tx = vec![None; n];
    let mut server_rx = Vec::new();
    if backend.is_some() {
        for (index, &s) in servers.iter().enumerate() {
            let (t, r) = mpsc::unbounded_channel();
            server_tx[s] = Some(t);
            server_rx.push((s, index, r));
        }
    }
    let shared = Arc::new(Shared {
        names: names.clone(),
        end_ns: spec.duration_ns,
        now: clock.now,
        scale: clock.scale,
        net: Mutex::new(NetState {
            n,
            links: spec.links,
            blocked: vec![0; n * n],
            rules: spec.rules,
            rng: ChaCha8Rng::seed_from_u64(sub_seed(spec.seed, stream::NETWORK)),
        }),
        history: Mutex::new(Vec::with_capacity(4096)),
        triggers: Mutex::new(spec.triggers),
        addrs: OnceLock::new(),
        ctrl: ctrl_tx,
        inboxes: in_tx.clone(),
        server_inboxes: Mutex::new(server_tx),
        backend: backend.map(|b| (b, servers.to_vec())),
        stats: LiveStats::default(),
        clocks: Mutex::new(clocks),
        errors: Mutex::new(Vec::new()),
    });
    let mut tasks = Vec::with_capacity(n);
    for (id, ((name, node, clock), (inbox, ctrl))) in
        spec.nodes.into_iter().zip(in_rx.into_iter().zip(ctrl_rx)).enumerate()
    {
        let (Some(inbox), Some(ctrl)) = (inbox, ctrl) else {
            tasks.push(None);
            continue;
        };
        let task = NodeTask {
            sh: shared.clone(),
            id,
            pristine: node.clone(),
            node,
            clock,
            status: Status::Up,
            incarnation: 0,
            timers: Vec::new(),
            rng: NodeRng(ChaCha8Rng::seed_from_u64(sub_seed(spec.seed, stream::NODE_BASE + id as u64))),
            disk: DiskStore { cache: dir.join(format!("{name}.cache")), durable: dir.join(format!("{name}.durable")) },
            deferred: VecDeque::new(),
            socket: socket_for(id),
            effects: Vec::with_capacity(16),
        };
        tasks.push(Some((task, inbox, ctrl)));
    }
    Prepared {
        shared,
        tasks,
        inbound_tx: in_tx,
        scheduled: spec.scheduled,
        starts: spec.starts,
        server_rx,
        time: clock.map,
    }
}

impl Prepared {
    /// Futures to run: one per locklab node (its task and its socket reader), one per real
    /// server's adapter, and the driver of scheduled faults and workload starts. Under tokio they
    /// are spawned on one runtime; under turmoil each node's pair becomes one turmoil host.
    pub fn into_futures(self) -> RunFutures {
        let sh = self.shared.clone();
        let mut futs: Vec<(NodeId, crate::backend::BoxFut<'static, ()>)> = Vec::new();
        for (id, task) in self.tasks.into_iter().enumerate() {
            let Some((task, inbox, ctrl)) = task else { continue };
            let reader_tx = self.inbound_tx[id].clone().expect("a locklab node has an inbox");
            let socket = task.socket.clone();
            let sh2 = sh.clone();
            futs.push((
                id,
                Box::pin(async move {
                    let reader = read_datagrams(sh2.clone(), socket, reader_tx);
                    tokio::select! {
                        _ = task.run(inbox, ctrl) => {}
                        _ = reader => {}
                    }
                }),
            ));
        }
        if let Some((backend, _)) = &sh.backend {
            for (node, index, inbox) in self.server_rx {
                let shr = sh.clone();
                let replier = Replier::new(move |from, to, msg| {
                    if let Some(Some(tx)) = shr.inboxes.get(to) {
                        let _ = tx.send(Inbound::Message { from, msg });
                    }
                });
                let shc = sh.clone();
                let recorder = Recorder::new(move |node, obs| shc.record(node, obs));
                let io = ServerIo {
                    node,
                    index,
                    inbox,
                    replier,
                    recorder,
                    policy: Arc::new(Policy(sh.clone())),
                    time: self.time,
                };
                let serve = backend.clone().serve(io);
                let end = sh.clone();
                futs.push((
                    node,
                    Box::pin(async move {
                        tokio::select! {
                            _ = serve => {}
                            _ = end.sleep_until(end.end_ns) => {}
                        }
                    }),
                ));
            }
        }
        let mut scheduled = self.scheduled;
        scheduled.sort_by_key(|(t, _)| *t);
        // Partitions from time 0 are in force before any node starts, as in the simulator (whose
        // queue holds them ahead of the nodes' first timers).
        let (at_start, scheduled): (Vec<_>, Vec<_>) =
            scheduled.into_iter().partition(|(t, a)| *t == 0 && matches!(a, Action::Partition { .. }));
        for (_, action) in at_start {
            if let Action::Partition { links, description, on } = action {
                let mut net = sh.net.lock().unwrap();
                let n = net.n;
                for (from, to) in links {
                    let b = &mut net.blocked[from * n + to];
                    *b = if on { *b + 1 } else { b.saturating_sub(1) };
                }
                drop(net);
                let event = if on {
                    WorldEvent::PartitionStart { description }
                } else {
                    WorldEvent::PartitionHeal { description }
                };
                sh.history.lock().unwrap().push(Entry { t_ns: 0, node: 0, event: Event::World(event) });
            }
        }
        let starts = self.starts;
        let shd = sh.clone();
        let driver: crate::backend::BoxFut<'static, ()> = Box::pin(async move {
            let mut events: Vec<(u64, Option<Action>, Option<NodeId>)> = scheduled
                .into_iter()
                .map(|(t, a)| (t, Some(a), None))
                .chain(starts.into_iter().map(|(t, n)| (t, None, Some(n))))
                .collect();
            events.sort_by_key(|e| e.0);
            for (t, action, start) in events {
                if t > shd.end_ns {
                    break;
                }
                shd.sleep_until(t).await;
                if let Some(a) = action {
                    shd.apply(a).await;
                }
                if let Some(n) = start {
                    shd.control(n, Ctrl::Run);
                }
            }
            shd.sleep_until(shd.end_ns).await;
        });
        (sh, futs, driver)
    }
}

/// Read datagrams from a node's socket into its inbox until the run ends.
async fn read_datagrams(sh: Arc<Shared>, socket: Arc<dyn Socket>, tx: mpsc::UnboundedSender<Inbound>) {
    let mut buf = vec![0u8; wire::MAX_DATAGRAM];
    loop {
        let Ok((len, _)) = socket.recv_from(&mut buf).await else {
            // A transient error (ICMP unreachable surfacing on Linux): keep reading.
            tokio::task::yield_now().await;
            continue;
        };
        match wire::decode(&buf[..len]) {
            Ok((from, _to, msg)) if from < sh.names.len() => {
                if tx.send(Inbound::Message { from, msg }).is_err() {
                    return;
                }
            }
            _ => {
                sh.stats.datagrams_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Shared {
    /// The run's results, once every task has stopped.
    pub fn outcome(&self) -> LiveOutcome {
        let mut history = std::mem::take(&mut *self.history.lock().unwrap());
        history.sort_by_key(|e| e.t_ns);
        LiveOutcome {
            history,
            names: self.names.clone(),
            end_ns: self.end_ns,
            messages_delivered: self.stats.messages_delivered.load(Ordering::Relaxed),
            messages_sent: self.stats.messages_sent.load(Ordering::Relaxed),
            messages_dropped: self.stats.messages_dropped.load(Ordering::Relaxed),
            datagrams_refused: self.stats.datagrams_refused.load(Ordering::Relaxed),
            errors: self.errors.lock().unwrap().clone(),
        }
    }
}

/// Run `spec` live on the current tokio runtime: real UDP sockets on 127.0.0.1, real time scaled
/// by `scale` (0.1: ten times faster than written), durable files under `dir`.
pub async fn run_tokio(
    spec: WorldSpec,
    servers: &[NodeId],
    backend: Option<Arc<dyn Backend>>,
    scale: f64,
    dir: &std::path::Path,
) -> std::io::Result<LiveOutcome> {
    let n = spec.nodes.len();
    let mut sockets: Vec<Arc<tokio::net::UdpSocket>> = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await?));
    }
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr()).collect::<Result<_, _>>()?;
    let time = TimeMap::new(scale);
    let now = Box::new(move || time.now_ns());
    let mut socket_for = |id: NodeId| -> Arc<dyn Socket> { sockets[id].clone() };
    let clock = TimeSource { now, scale, map: time };
    let prepared = prepare(spec, servers, backend, clock, dir, &mut socket_for);
    let _ = prepared.shared.addrs.set(addrs);
    let (sh, futs, driver) = prepared.into_futures();
    let mut handles = Vec::new();
    for (_, f) in futs {
        handles.push(tokio::spawn(f));
    }
    driver.await;
    for h in handles {
        let _ = h.await;
    }
    Ok(sh.outcome())
}
