//! The seam between the live host and a server role played by real processes (`redis-server`,
//! etcd): what the host hands a backend, and what a backend must do.
//!
//! The clients keep their lock libraries (the very `protocols/` nodes); the host delivers each
//! message a client addresses to a server node to that server's [`Backend`] as a [`Request`],
//! together with the network's verdict on it ([`Decision`], drawn from the scenario's network
//! rules exactly as for messages between locklab nodes). The backend's adapter translates the
//! request into the server's own commands, enacts the verdict on the real connection through its
//! fault proxy (a dropped request never reaches the server; a dropped reply is swallowed after the
//! server executed the command), and hands the translated reply back with [`Replier::reply`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use locklab_protocols::history::Observation;
use locklab_protocols::{Msg, NodeId};
use tokio::sync::mpsc;

/// A boxed future (object-safe async methods).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the scenario's network does to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Deliver it after `delay_ns` of scenario time (latency plus targeted delays); `duplicate`:
    /// deliver a second copy too.
    Deliver { delay_ns: u64, duplicate: bool },
    /// Drop it (`why`: "partitioned", "lost", "targeted drop").
    Drop { why: &'static str },
}

/// The network's rules, as the host applies them (shared with backends for the reply direction).
pub trait LinkPolicy: Send + Sync {
    /// The verdict for a message of `kind` (as [`Msg::kind`]) from `from` to `to`, now.
    fn decide(&self, from: NodeId, to: NodeId, kind: &'static str) -> Decision;
}

/// One message a client sent to a server node, with the network's verdict on it.
#[derive(Clone, Debug)]
pub struct Request {
    pub from: NodeId,
    pub msg: Msg,
    pub decision: Decision,
}

/// Scenario time ↔ real time for one run. Every duration in a scenario (and in a message, such
/// as `ttl_ms`) is scenario time; the live run plays it `scale` times as fast as written
/// (`scale` = 1: real time; 0.1: ten times faster).
#[derive(Clone, Copy, Debug)]
pub struct TimeMap {
    pub scale: f64,
    /// The real wall clock (Unix ms) at scenario time 0.
    pub start_unix_ms: i64,
    /// The real monotonic instant at scenario time 0.
    pub start: std::time::Instant,
}

impl TimeMap {
    pub fn new(scale: f64) -> Self {
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        TimeMap { scale, start_unix_ms: unix.as_millis() as i64, start: std::time::Instant::now() }
    }
    /// Scenario milliseconds as real milliseconds (at least 1 when `ms` > 0).
    pub fn real_ms(&self, scenario_ms: u64) -> u64 {
        if scenario_ms == 0 {
            return 0;
        }
        ((scenario_ms as f64 * self.scale).round() as u64).max(1)
    }
    /// Real milliseconds as scenario milliseconds.
    pub fn scenario_ms(&self, real_ms: f64) -> f64 {
        real_ms / self.scale
    }
    /// A real Unix time (ms) as scenario wall-clock ns (true time since the run's start).
    pub fn scenario_wall_ns(&self, unix_ms: i64) -> i64 {
        (((unix_ms - self.start_unix_ms) as f64 / self.scale) * 1e6) as i64
    }
    /// Scenario true time now, in ns since the run's start (real elapsed / scale).
    pub fn now_ns(&self) -> u64 {
        (self.start.elapsed().as_nanos() as f64 / self.scale) as u64
    }
}

/// Sends a reply from a server node back to a client, straight into the client's inbox (the
/// network's verdict on it was enacted on the real connection already).
#[derive(Clone)]
pub struct Replier(pub(crate) Arc<dyn Fn(NodeId, NodeId, Msg) + Send + Sync>);

impl Replier {
    pub fn new(f: impl Fn(NodeId, NodeId, Msg) + Send + Sync + 'static) -> Self {
        Replier(Arc::new(f))
    }
    /// Deliver `msg` from server `from` to client `to` now.
    pub fn reply(&self, from: NodeId, to: NodeId, msg: Msg) {
        (self.0)(from, to, msg)
    }
}

/// Records observations in the run's history (ground truth such as `Grant`, recorded by the
/// adapter when the server's answer says so), stamped with the current scenario time.
#[derive(Clone)]
pub struct Recorder(pub(crate) Arc<dyn Fn(NodeId, Observation) + Send + Sync>);

impl Recorder {
    pub fn new(f: impl Fn(NodeId, Observation) + Send + Sync + 'static) -> Self {
        Recorder(Arc::new(f))
    }
    pub fn record(&self, node: NodeId, obs: Observation) {
        (self.0)(node, obs)
    }
}

/// Everything one server node's adapter gets from the host.
pub struct ServerIo {
    /// The server's node id in the scenario (`s1` …).
    pub node: NodeId,
    /// Its index among the scenario's servers (0-based): which real process serves it.
    pub index: usize,
    pub inbox: mpsc::UnboundedReceiver<Request>,
    pub replier: Replier,
    pub recorder: Recorder,
    /// For the reply direction: `policy.decide(server, client, reply_kind)`.
    pub policy: Arc<dyn LinkPolicy>,
    pub time: TimeMap,
}

/// A fault on a real server process, from the scenario's `[[faults]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerFault {
    /// `SIGSTOP`.
    Pause,
    /// `SIGCONT`.
    Resume,
    /// `SIGKILL`.
    Crash,
    /// Start the process again with its own persistence settings and data directory.
    Restart,
    /// Step the process's wall clock by `by_ns` of scenario time (libfaketime).
    ClockJump { by_ns: i64 },
}

/// A failure of the live machinery itself (a server would not start, a port would not bind …):
/// the run cannot be judged.
#[derive(Debug, Clone)]
pub struct LiveError(pub String);

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LiveError {}

impl From<std::io::Error> for LiveError {
    fn from(e: std::io::Error) -> Self {
        LiveError(e.to_string())
    }
}

/// A server role played by real processes, one per server node of the scenario.
pub trait Backend: Send + Sync + 'static {
    /// The server and its version, as reports print it ("redis-server 7.0.15").
    fn describe(&self) -> String;
    /// Serve server node `io.node` until its inbox closes (the run's end).
    fn serve(self: Arc<Self>, io: ServerIo) -> BoxFut<'static, ()>;
    /// Carry out a fault on the process serving server `index`.
    fn fault(self: Arc<Self>, index: usize, fault: ServerFault) -> BoxFut<'static, Result<(), LiveError>>;
    /// Stop every process (by PID) and remove every temporary directory. Idempotent.
    fn shutdown(self: Arc<Self>) -> BoxFut<'static, ()>;
}
