//! Real `redis-server` processes as the lease and Redlock server role.
//!
//! # What runs
//!
//! [`RedisBackend::start`] starts one `redis-server` per server node of the scenario, each on a
//! free loopback port with its own data directory under one scratch directory:
//!
//! ```text
//! redis-server --port P --bind 127.0.0.1 --dir <scratch>/redis-<i> --save "" \
//!              --appendonly yes|no [--appendfsync always|everysec]
//! ```
//!
//! `--save ""` turns RDB snapshots off, so what survives a `SIGKILL` is exactly what the variant's
//! `persistence` says ([`Persistence`]): nothing (`none`: `--appendonly no`), every write
//! (`always`: the AOF is fsynced before the reply leaves — "fsync every time new commands are
//! appended to the AOF", redis.io/docs/management/persistence), or up to the last second
//! (`everysec`). A restart starts the same command line in the same directory, so Redis itself
//! reloads its AOF. Note that a `Crash` is a *process* crash (`SIGKILL`): the kernel's page cache
//! survives it, and Redis `write(2)`s the AOF before it replies even under `everysec` (only the
//! fsync is deferred), so live `everysec` keeps every acknowledged grant across a crash where the
//! simulated `everysec` (a machine crash) loses the unsynced suffix — see
//! `tests::everysec_keeps_an_acknowledged_grant_across_sigkill`. Each process runs under libfaketime ([`FakeClock`]) unless
//! [`RedisOptions::faketime`] is off, so a `ClockJump` can step its wall clock mid-run.
//!
//! # The adapter
//!
//! The clients keep their lock libraries ([`locklab_protocols::lease::client`], [`locklab_protocols::redlock`]);
//! [`Backend::serve`] translates what they send into Redis commands, one TCP connection per
//! (client, server) pair through that link's fault proxy ([`crate::proxy`]), and their answers
//! back. Every command is one Lua script (`EVAL`) so that one message is one RESP frame each way,
//! which is what lets the proxy act on messages:
//!
//! * `Acquire` → [`ACQUIRE`]: `SET key value NX PX ttl` — the very command of "Distributed Locks
//!   with Redis" — and, when the variant issues fencing tokens, `INCR` of a counter key in the same
//!   script (the counter starts at `initial_token`, so the first grant gets `initial_token + 1`,
//!   as the simulated server's). The script also reads `PEXPIRETIME` (Redis 7) for the
//!   expiry on the server's wall clock, which clients that trust server timestamps use (#12).
//! * `Release` → [`RELEASE`], the compare-and-delete script of the Redis distlock page, or
//!   [`PLAIN_DEL`]: `DEL`, reading the old value first only so the adapter can record a
//!   `ForeignDelete` (scenario #8).
//! * `Extend` → [`EXTEND`]: `PEXPIRE` guarded by the same comparison (redis-py's `Lock.extend`
//!   with `replace_ttl`).
//! * `Get` → [`GET`]: `GET`, `PTTL`, the holder's token and `PEXPIRETIME` in one atomic read.
//!
//! Values are the library's `u64` values as decimal strings; lock `L` is the key `locklab:L`.
//! The token counter is just a key (`locklab:token-counter`): it is exactly as durable as the
//! server's persistence makes it — the simulated server's `token_counter = "durable"` (synced
//! even without persistence) has no Redis counterpart; with `persistence = "none"` real Redis
//! behaves like `token_counter = "volatile"`.
//!
//! Times: every `ttl_ms` is scenario time, sent as `io.time.real_ms(ttl_ms)`; `PTTL` comes back
//! as `io.time.scenario_ms(pttl)` and server timestamps as `io.time.scenario_wall_ns(unix_ms)`.
//!
//! Ground truth: when a reply frame passes the proxy (swallowed or not) the adapter parses it and
//! records `Observation::Grant` for a granted acquire — the server did grant, whether or not the
//! client hears of it (scenario #9) — and `ForeignDelete` for a plain `DEL` of another value.
//!
//! # Faults
//!
//! `Pause`/`Resume` are `SIGSTOP`/`SIGCONT` (requests wait in the socket buffers and are answered
//! on `SIGCONT`); `Crash` is `SIGKILL`; `Restart` starts the same command line again (after the
//! variant's `restart_delay_ms`, antirez's "delayed restart": the server stays down, refusing
//! connections, that long) and waits until it answers (see `ready`). Requests sent while it is down are
//! lost: the proxy accepts the connection, cannot reach the server, and closes it; the adapter
//! reconnects on the next request. `ClockJump { by_ns }` steps the process's libfaketime clock by
//! `by_ns × time_scale` (the jump in real seconds), then checks with `TIME` that the server sees it.
//!
//! # Which simulated variant real Redis 7.0 matches: wall-clock expiry
//!
//! Redis 7.0 judges key expiry on the wall clock, so a forward step of the server's clock expires
//! keys early (the simulated `redlock` variant, `expiry_clock = "wall"`, not
//! `redlock-monotonic`). Observed: `tests::a_wall_clock_jump_expires_a_key_at_once` sets a key
//! with `PX 5000` on five servers, steps one server's clock 10 s forward with libfaketime, and
//! that server's key is gone at the next read (the other four keep theirs);
//! `tests::redlock_over_five_servers_two_holders_after_one_clock_jump` runs Kleppmann's scenario
//! with the unchanged Redlock library and gets two holders. The source (redis/redis, tag 7.0.15):
//!
//! * `src/t_string.c`, `getExpireMillisecondsOrReply`: a relative `PX` becomes an absolute time,
//!   `*milliseconds += mstime();` — and `setExpire` stores that absolute Unix time in ms;
//! * `src/server.c`, `ustime()`/`mstime()`: `gettimeofday(&tv, NULL)` — the wall clock;
//! * `src/db.c`, `keyIsExpired`: `now = mstime()` (or `server.mstime`, the same clock cached
//!   per command, or the script's start time `scriptTimeSnapshot()`, itself `mstime()` in
//!   `src/script.c`), and `return now > when;`.
//!
//! Redis 7.0 has a monotonic clock (`src/monotonic.c`, `getMonotonicUs`), but `server.c` uses it
//! only to time command execution (slowlog/latency), never for expiry.
//!
//! # Not done
//!
//! The `redisson` server kind (Redisson's hash-and-hold-count scripts), replicated leases
//! (`replicate_to`, which would need Redis replication) and lock-delay (not a Redis feature) are
//! refused by [`RedisBackend::start`].

use locklab_protocols::msg::KvMsg;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use locklab_protocols::history::Observation;
use locklab_protocols::lease::{LeaseServerParams, ServerKind};
use locklab_protocols::node::Persistence;
use locklab_protocols::{LockId, Msg, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::backend::{
    Backend, BoxFut, Decision, LinkPolicy, LiveError, Recorder, Replier, Request, ServerFault, ServerIo, TimeMap,
};
use crate::procs::{find_binary, free_port, wait_ready, FakeClock, ProcessSpec, Scratch, ServerProcess};
use crate::proxy::resp::{self, Value};
use crate::proxy::{ConnControls, Passed, ProxyLink, Verdict};

/// `SET key value NX PX ttl`; with tokens, `INCR` of the counter (created at `initial_token`) and
/// the token kept beside the key. Returns `{granted, PEXPIRETIME, token}`.
/// KEYS: lock, lock's token, counter. ARGV: value, ttl (real ms), tokens ("1"/"0"), initial token.
pub const ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local token = false
  if ARGV[3] == '1' then
    redis.call('SET', KEYS[3], ARGV[4], 'NX')
    token = redis.call('INCR', KEYS[3])
    redis.call('SET', KEYS[2], token)
  end
  return {1, redis.call('PEXPIRETIME', KEYS[1]), token}
end
return {0, redis.call('PEXPIRETIME', KEYS[1]), false}
"#;

/// Compare-and-delete, as on the Redis distlock page. KEYS: lock. ARGV: value. Returns 1 or 0.
pub const RELEASE: &str = r#"
if redis.call("get",KEYS[1]) == ARGV[1] then
    return redis.call("del",KEYS[1])
else
    return 0
end
"#;

/// A plain `DEL`, whoever holds the key (the old value is read only for the record).
/// KEYS: lock. Returns `{deleted, old value}`.
pub const PLAIN_DEL: &str = r#"
local v = redis.call('GET', KEYS[1])
return {redis.call('DEL', KEYS[1]), v}
"#;

/// `PEXPIRE` guarded by the value. KEYS: lock. ARGV: value, ttl (real ms). Returns `{ok, expiry
/// (Unix ms: the new PEXPIRETIME, or now + ttl when refused)}`.
pub const EXTEND: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, redis.call('PEXPIRETIME', KEYS[1])}
end
local t = redis.call('TIME')
return {0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])}
"#;

/// `GET` + `PTTL` (+ the holder's token, + `PEXPIRETIME`) in one atomic read. KEYS: lock, lock's
/// token. ARGV: tokens. Returns `{value, pttl, token, expiry (Unix ms; now when no key)}`.
pub const GET: &str = r#"
local v = redis.call('GET', KEYS[1])
local pttl = redis.call('PTTL', KEYS[1])
local token = false
local exp
if v then
  if ARGV[1] == '1' then token = redis.call('GET', KEYS[2]) end
  exp = redis.call('PEXPIRETIME', KEYS[1])
else
  local t = redis.call('TIME')
  exp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
return {v, pttl, token, exp}
"#;

/// The key of lock `lock`.
pub fn lock_key(lock: LockId) -> String {
    format!("locklab:{lock}")
}

fn token_key(lock: LockId) -> String {
    format!("locklab:{lock}:token")
}

/// The fencing-token counter (one per server, like the simulated server's `last_token`).
pub const COUNTER_KEY: &str = "locklab:token-counter";

/// How to start the servers.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// How many `redis-server` processes (one per server node; 5 for Redlock over five).
    pub servers: usize,
    /// The variant's server parameters: `persistence`, `tokens`, `initial_token`,
    /// `restart_delay_ms` are honoured; `kind = redisson`, `replicate_to` and `lock_delay_ms`
    /// are refused; `expiry_clock` is whatever Redis does (the wall clock, see the module docs).
    pub server: LeaseServerParams,
    /// The run's time scale (`TimeMap::scale`): clock jumps and offsets are scaled by it.
    pub time_scale: f64,
    /// The binary (default: `redis-server` on the PATH).
    pub binary: Option<PathBuf>,
    /// Run every process under libfaketime (needed for `ClockJump` and clock offsets). Cheap:
    /// `redis-benchmark -t set -c 1` measured 58–77k requests/s without it and 36–41k with it
    /// (about 12 µs more per command, from reading the clock file at every clock reading) —
    /// negligible beside a scenario's milliseconds, so [`RedisOptions::new`] turns it on.
    pub faketime: bool,
    /// Initial wall-clock offset per server in scenario ns (missing entries: 0).
    pub clock_offsets_ns: Vec<i64>,
}

impl RedisOptions {
    /// `servers` processes for a variant's `server` parameters, libfaketime on, no offsets.
    pub fn new(servers: usize, server: LeaseServerParams, time_scale: f64) -> Self {
        RedisOptions { servers, server, time_scale, binary: None, faketime: true, clock_offsets_ns: Vec::new() }
    }
}

/// One server process and what belongs to it.
struct Slot {
    proc_: Option<ServerProcess>,
    port: u16,
    clock: Option<FakeClock>,
    paused: bool,
}

/// Real `redis-server` processes behind fault proxies (see the module docs).
pub struct RedisBackend {
    version: String,
    params: LeaseServerParams,
    scale: f64,
    slots: Vec<tokio::sync::Mutex<Slot>>,
    ports: Vec<u16>,
    /// Bumped on every crash and restart of a server: connections opened before are stale.
    generations: Vec<AtomicU64>,
    links: Mutex<HashMap<(usize, NodeId), Arc<ProxyLink>>>,
    scratch: Mutex<Option<Scratch>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The version `redis-server --version` reports ("7.0.15").
pub fn redis_version(bin: &std::path::Path) -> Result<String, LiveError> {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| LiveError(format!("{} --version: {e}", bin.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .map(str::to_string)
        .ok_or_else(|| LiveError(format!("{} --version: unexpected output {text:?}", bin.display())))
}

/// One command straight to a server (not through a proxy), bounded by `within`.
pub async fn command(port: u16, args: &[&[u8]], within: Duration) -> Result<Value, LiveError> {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(&resp::encode(args)).await?;
        let mut buf = Vec::new();
        loop {
            match resp::parse(&buf) {
                Ok(Some((v, _))) => return Ok(v),
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::other(e.0)),
            }
            if s.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
        }
    };
    match tokio::time::timeout(within, io).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(LiveError(format!("redis-server on port {port}: {e}"))),
        Err(_) => Err(LiveError(format!("redis-server on port {port}: no answer within {within:?}"))),
    }
}

/// Is the server on `port` process `pid`, done loading its data? `INFO server persistence`
/// names its `process_id` (a free port handed out to us can be taken by another program before
/// our server binds it, and another redis-server would answer `PING` too) and says `loading:0`
/// once the AOF is loaded (before that, commands are answered `-LOADING`; `INFO` is not).
pub(crate) async fn ready(port: u16, pid: Option<u32>) -> bool {
    let Some(pid) = pid else { return false };
    match command(port, &[b"INFO", b"server", b"persistence"], Duration::from_millis(500)).await {
        Ok(v) => v.text().is_some_and(|t| {
            let has = |line: &str| t.lines().any(|l| l.trim() == line);
            has(&format!("process_id:{pid}")) && has("loading:0")
        }),
        Err(_) => false,
    }
}

/// The server's wall clock (`TIME`) in Unix ms.
async fn server_time_ms(port: u16) -> Result<i64, LiveError> {
    match command(port, &[b"TIME"], Duration::from_millis(500)).await? {
        Value::Array(Some(items)) if items.len() == 2 => {
            let n = |v: &Value| v.text().and_then(|t| t.parse::<i64>().ok());
            match (n(&items[0]), n(&items[1])) {
                (Some(s), Some(us)) => Ok(s * 1000 + us / 1000),
                _ => Err(LiveError("TIME: unexpected answer".into())),
            }
        }
        other => Err(LiveError(format!("TIME: unexpected answer {other:?}"))),
    }
}

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `ns` of scenario time as a real duration.
fn real_duration(scale: f64, ns: u64) -> Duration {
    Duration::from_nanos((ns as f64 * scale).round() as u64)
}

impl RedisBackend {
    /// Start `opts.servers` processes and wait until each answers, with its data loaded.
    pub async fn start(opts: RedisOptions) -> Result<Arc<Self>, LiveError> {
        let p = &opts.server;
        if p.kind == ServerKind::Redisson {
            return Err(LiveError("the `redisson` server kind is not implemented on real Redis".into()));
        }
        if !p.replicate_to.is_empty() {
            return Err(LiveError("replicated leases (`replicate_to`) are not implemented on real Redis".into()));
        }
        if p.lock_delay_ms > 0 {
            return Err(LiveError("`lock_delay_ms` is not a Redis feature".into()));
        }
        if opts.servers == 0 {
            return Err(LiveError("no servers".into()));
        }
        let bin = find_binary("redis-server", opts.binary.as_deref())?;
        let version = redis_version(&bin)?;
        let scratch = Scratch::new()?;
        let mut slots = Vec::new();
        let mut ports = Vec::new();
        for i in 0..opts.servers {
            let dir = scratch.subdir(&format!("redis-{i}"))?;
            let port = free_port()?;
            let offset_ns = opts.clock_offsets_ns.get(i).copied().unwrap_or(0);
            let clock = if opts.faketime || offset_ns != 0 {
                Some(FakeClock::new(&dir, offset_ns as f64 * opts.time_scale / 1e9)?)
            } else {
                None
            };
            let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--dir"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.push(dir.display().to_string());
            match p.persistence {
                Persistence::None => args.extend(["--appendonly", "no"].map(String::from)),
                Persistence::Always => {
                    args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from))
                }
                Persistence::Everysec => {
                    args.extend(["--appendonly", "yes", "--appendfsync", "everysec"].map(String::from))
                }
            }
            let env = match &clock {
                Some(c) => c.env()?,
                None => Vec::new(),
            };
            let spec = ProcessSpec { bin: bin.clone(), args, env, dir: dir.clone(), log: dir.join("redis.log") };
            let proc_ = ServerProcess::spawn(spec)?;
            slots.push(Slot { proc_: Some(proc_), port, clock, paused: false });
            ports.push(port);
        }
        for s in slots.iter_mut() {
            let port = s.port;
            if let Some(p) = s.proc_.as_mut() {
                let pid = p.pid();
                wait_ready(p, Duration::from_secs(10), || ready(port, pid)).await?;
            }
        }
        Ok(Arc::new(RedisBackend {
            version,
            params: opts.server.clone(),
            scale: opts.time_scale,
            generations: slots.iter().map(|_| AtomicU64::new(0)).collect(),
            slots: slots.into_iter().map(tokio::sync::Mutex::new).collect(),
            ports,
            links: Mutex::new(HashMap::new()),
            scratch: Mutex::new(Some(scratch)),
        }))
    }

    /// The loopback port of server `index` (for tests and diagnostics).
    pub fn port(&self, index: usize) -> Option<u16> {
        self.ports.get(index).copied()
    }

    /// The PIDs of the running server processes.
    pub async fn pids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for s in &self.slots {
            if let Some(pid) = s.lock().await.proc_.as_ref().and_then(|p| p.pid()) {
                out.push(pid);
            }
        }
        out
    }

    /// The scratch directory holding every server's data directory (None after shutdown).
    pub fn scratch_dir(&self) -> Option<PathBuf> {
        lock(&self.scratch).as_ref().map(|s| s.path().to_path_buf())
    }

    /// The fault proxy of the link from `client` to server `index` (started on first use).
    async fn link(&self, index: usize, client: NodeId) -> Result<Arc<ProxyLink>, LiveError> {
        if let Some(l) = lock(&self.links).get(&(index, client)) {
            return Ok(l.clone());
        }
        let port = self.port(index).ok_or_else(|| LiveError(format!("no server {index}")))?;
        let upstream: SocketAddr = ([127, 0, 0, 1], port).into();
        let link = Arc::new(ProxyLink::start(upstream, Arc::new(resp::Resp), Arc::new(resp::Resp)).await?);
        Ok(lock(&self.links).entry((index, client)).or_insert(link).clone())
    }

    async fn do_fault(&self, index: usize, fault: ServerFault) -> Result<(), LiveError> {
        let slot =
            self.slots.get(index).ok_or_else(|| LiveError(format!("fault on server {index}: no such server")))?;
        let mut s = slot.lock().await;
        let port = s.port;
        match fault {
            ServerFault::Pause => {
                s.proc_.as_ref().ok_or_else(|| LiveError("pause: server stopped".into()))?.pause()?;
                s.paused = true;
            }
            ServerFault::Resume => {
                s.proc_.as_ref().ok_or_else(|| LiveError("resume: server stopped".into()))?.resume()?;
                s.paused = false;
            }
            ServerFault::Crash => {
                if let Some(p) = s.proc_.as_mut() {
                    p.kill();
                }
                s.paused = false;
                self.generations[index].fetch_add(1, Ordering::SeqCst);
            }
            ServerFault::Restart => {
                if self.params.restart_delay_ms > 0 {
                    tokio::time::sleep(real_duration(self.scale, self.params.restart_delay_ms * 1_000_000)).await;
                }
                let p = s.proc_.as_mut().ok_or_else(|| LiveError("restart: backend shut down".into()))?;
                p.restart()?;
                s.paused = false;
                self.generations[index].fetch_add(1, Ordering::SeqCst);
                let p = s.proc_.as_mut().ok_or_else(|| LiveError("restart: backend shut down".into()))?;
                let pid = p.pid();
                wait_ready(p, Duration::from_secs(10), || ready(port, pid)).await?;
            }
            ServerFault::ClockJump { by_ns } => {
                let paused = s.paused;
                let running = s.proc_.as_mut().is_some_and(|p| !p.exited());
                let clock = s
                    .clock
                    .as_mut()
                    .ok_or_else(|| LiveError("clock jump: the server runs without libfaketime".into()))?;
                clock.step(by_ns as f64 * self.scale / 1e9)?;
                let expected_ms = (clock.offset_s() * 1000.0).round() as i64;
                if running && !paused {
                    // libfaketime rereads the file at every clock reading (FAKETIME_NO_CACHE);
                    // confirm the server's TIME shows the new offset before going on.
                    let deadline = Instant::now() + Duration::from_secs(2);
                    loop {
                        let before = unix_ms_now();
                        let seen = server_time_ms(port).await?;
                        let after = unix_ms_now();
                        let offset = seen - (before + after) / 2;
                        if (offset - expected_ms).abs() <= 100 + (after - before) {
                            break;
                        }
                        if Instant::now() > deadline {
                            return Err(LiveError(format!(
                                "clock jump: redis-server's clock is {offset} ms off, expected {expected_ms} ms"
                            )));
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn do_shutdown(&self) {
        let links: Vec<_> = lock(&self.links).drain().map(|(_, l)| l).collect();
        drop(links);
        for s in &self.slots {
            let mut s = s.lock().await;
            if let Some(mut p) = s.proc_.take() {
                p.kill();
            }
        }
        drop(lock(&self.scratch).take());
    }
}

impl Backend for RedisBackend {
    fn describe(&self) -> String {
        format!("redis-server {}", self.version)
    }

    fn serve(self: Arc<Self>, io: ServerIo) -> BoxFut<'static, ()> {
        Box::pin(async move {
            let ServerIo { node, index, mut inbox, replier, recorder, policy, time } = io;
            let ctx = Arc::new(NodeCtx { backend: self, node, index, replier, recorder, policy, time });
            let mut workers: HashMap<NodeId, mpsc::UnboundedSender<Request>> = HashMap::new();
            let mut tasks = tokio::task::JoinSet::new();
            while let Some(req) = inbox.recv().await {
                let tx = workers.entry(req.from).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tasks.spawn(Worker::run(ctx.clone(), req.from, rx));
                    tx
                });
                let _ = tx.send(req);
            }
            // The run is over: stop serving (the JoinSet aborts the workers when dropped).
            drop(workers);
            tasks.abort_all();
        })
    }

    fn fault(self: Arc<Self>, index: usize, fault: ServerFault) -> BoxFut<'static, Result<(), LiveError>> {
        Box::pin(async move { self.do_fault(index, fault).await })
    }

    fn shutdown(self: Arc<Self>) -> BoxFut<'static, ()> {
        Box::pin(async move { self.do_shutdown().await })
    }
}

/// What every connection worker of one server node shares.
struct NodeCtx {
    backend: Arc<RedisBackend>,
    node: NodeId,
    index: usize,
    replier: Replier,
    recorder: Recorder,
    policy: Arc<dyn LinkPolicy>,
    time: TimeMap,
}

/// A request on its way, as far as its answer needs.
#[derive(Clone, Copy, Debug)]
enum Op {
    Acquire { req: u64, lock: LockId, value: u64 },
    Extend { req: u64, lock: LockId },
    Release { req: u64, lock: LockId, value: u64, plain_del: bool },
    Get { req: u64, lock: LockId },
}

impl Op {
    fn reply_kind(&self) -> &'static str {
        match self {
            Op::Acquire { .. } => "acquire_reply",
            Op::Extend { .. } => "extend_reply",
            Op::Release { .. } => "release_reply",
            Op::Get { .. } => "get_reply",
        }
    }
}

/// One expected reply frame.
struct Pending {
    op: Op,
    /// The proxy's report on the reply frame (None once received).
    passed: Option<oneshot::Receiver<Passed>>,
    /// The translated answer, once known.
    reply: Option<Msg>,
    /// Copies of the reply frame still to come through the proxy.
    remaining: u32,
}

struct Conn {
    r: tokio::net::tcp::OwnedReadHalf,
    w: tokio::net::tcp::OwnedWriteHalf,
    controls: Arc<ConnControls>,
    generation: u64,
}

/// One client's connection to one server: requests in order, replies matched in order.
struct Worker {
    ctx: Arc<NodeCtx>,
    client: NodeId,
    link: Option<Arc<ProxyLink>>,
    conn: Option<Conn>,
    pending: VecDeque<Pending>,
    buf: Vec<u8>,
}

async fn read_some(conn: &mut Option<Conn>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    match conn.as_mut() {
        Some(c) => c.r.read_buf(buf).await,
        None => std::future::pending().await,
    }
}

async fn front_passed(pending: &mut VecDeque<Pending>) -> Result<Passed, oneshot::error::RecvError> {
    match pending.front_mut().and_then(|p| p.passed.as_mut()) {
        Some(rx) => rx.await,
        None => std::future::pending().await,
    }
}

impl Worker {
    async fn run(ctx: Arc<NodeCtx>, client: NodeId, mut rx: mpsc::UnboundedReceiver<Request>) {
        let mut w = Worker { ctx, client, link: None, conn: None, pending: VecDeque::new(), buf: Vec::new() };
        loop {
            let waiting = w.pending.front().is_some_and(|p| p.passed.is_some());
            tokio::select! {
                biased;
                passed = front_passed(&mut w.pending), if waiting => {
                    w.on_passed(passed);
                    w.drain_frames();
                }
                n = read_some(&mut w.conn, &mut w.buf), if w.conn.is_some() => match n {
                    Ok(n) if n > 0 => w.drain_frames(),
                    _ => w.lose_connection(),
                },
                req = rx.recv() => match req {
                    Some(req) => w.send(req).await,
                    None => break,
                },
            }
        }
    }

    /// The connection ended: every request still waiting for its answer is lost.
    fn lose_connection(&mut self) {
        self.conn = None;
        self.pending.clear();
        self.buf.clear();
    }

    /// The proxy reported the front reply frame's fate.
    fn on_passed(&mut self, passed: Result<Passed, oneshot::error::RecvError>) {
        let Some(front) = self.pending.front_mut() else { return };
        front.passed = None;
        let Ok(Passed { verdict, frame }) = passed else {
            // The connection ended before the reply came: lost.
            self.pending.pop_front();
            return;
        };
        let op = front.op;
        let reply = match resp::parse(&frame) {
            Ok(Some((v, _))) => self.translate(op, &v),
            _ => None,
        };
        let Some(front) = self.pending.front_mut() else { return };
        match verdict {
            Verdict::Swallow => {
                self.pending.pop_front();
            }
            Verdict::Forward { copies, .. } => {
                front.reply = reply;
                front.remaining = copies;
                if copies == 0 {
                    self.pending.pop_front();
                }
            }
        }
    }

    /// Hand on every complete reply frame that has arrived.
    fn drain_frames(&mut self) {
        loop {
            if self.buf.is_empty() {
                return;
            }
            let Some(front) = self.pending.front_mut() else {
                // Nothing was expected (cannot happen with whole-frame verdicts): drop the bytes.
                eprintln!("locklab redis adapter: {} unexpected bytes from the server", self.buf.len());
                self.buf.clear();
                return;
            };
            if let Some(rx) = front.passed.as_mut() {
                // The proxy reports a frame before forwarding it, so the report is there.
                match rx.try_recv() {
                    Ok(p) => {
                        self.on_passed(Ok(p));
                        continue;
                    }
                    Err(oneshot::error::TryRecvError::Empty) => return,
                    Err(oneshot::error::TryRecvError::Closed) => {
                        self.pending.pop_front();
                        continue;
                    }
                }
            }
            match resp::parse(&self.buf) {
                Ok(Some((_, n))) => {
                    self.buf.drain(..n);
                    front.remaining = front.remaining.saturating_sub(1);
                    if let Some(msg) = front.reply.clone() {
                        self.ctx.replier.reply(self.ctx.node, self.client, msg);
                    }
                    if front.remaining == 0 {
                        self.pending.pop_front();
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    eprintln!("locklab redis adapter: unreadable reply ({e}); reconnecting");
                    self.lose_connection();
                    return;
                }
            }
        }
    }

    /// The server's answer to `op` as the lock library's reply, recording ground truth.
    fn translate(&self, op: Op, v: &Value) -> Option<Msg> {
        let ctx = &self.ctx;
        let int = |v: Option<&Value>| match v {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        let num = |v: Option<&Value>| v.and_then(|v| v.text()).and_then(|t| t.parse::<u64>().ok());
        let wall = |unix_ms: i64| ctx.time.scenario_wall_ns(unix_ms);
        let items = match v {
            Value::Array(Some(items)) => items.as_slice(),
            Value::Int(_) => std::slice::from_ref(v),
            Value::Error(e) => {
                eprintln!("locklab redis adapter: server {} answered {op:?} with an error: {e}", ctx.index);
                return None;
            }
            other => {
                eprintln!("locklab redis adapter: unexpected answer to {op:?}: {other:?}");
                return None;
            }
        };
        match op {
            Op::Acquire { req, lock, value } => {
                let granted = int(items.first())? == 1;
                let expires_at_wall_ns = wall(int(items.get(1))?);
                let token = if granted { int(items.get(2)).map(|t| t as u64) } else { None };
                if granted {
                    ctx.recorder.record(ctx.node, Observation::Grant { lock, holder: self.client, value, token });
                }
                Some(Msg::Kv(KvMsg::AcquireReply { req, lock, value, granted, token, expires_at_wall_ns }))
            }
            Op::Extend { req, lock } => {
                let ok = int(items.first())? == 1;
                Some(Msg::Kv(KvMsg::ExtendReply { req, lock, ok, expires_at_wall_ns: wall(int(items.get(1))?) }))
            }
            Op::Release { req, lock, value, plain_del } => {
                let ok = int(items.first())? == 1;
                if plain_del && ok {
                    if let Some(old) = num(items.get(1)).filter(|&old| old != value) {
                        ctx.recorder
                            .record(ctx.node, Observation::ForeignDelete { lock, deleted_value: old, by: self.client });
                    }
                }
                Some(Msg::Kv(KvMsg::ReleaseReply { req, lock, ok }))
            }
            Op::Get { req, lock } => {
                let value = num(items.first());
                let pttl_real = int(items.get(1))?;
                let pttl_ms =
                    if pttl_real >= 0 { ctx.time.scenario_ms(pttl_real as f64).floor() as i64 } else { pttl_real };
                let token = num(items.get(2));
                let expires_at_wall_ns = wall(int(items.get(3))?);
                Some(Msg::Kv(KvMsg::GetReply { req, lock, value, pttl_ms, token, expires_at_wall_ns }))
            }
        }
    }

    /// The command for `msg`, and what its answer needs.
    fn command(&self, msg: &Msg) -> Option<(Op, Vec<u8>)> {
        let time = &self.ctx.time;
        let params = &self.ctx.backend.params;
        let tokens = if params.tokens { "1" } else { "0" };
        let eval = |script: &str, keys: &[String], argv: &[String]| {
            let nkeys = keys.len().to_string();
            let mut args: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), nkeys.as_bytes()];
            args.extend(keys.iter().map(|k| k.as_bytes()));
            args.extend(argv.iter().map(|a| a.as_bytes()));
            resp::encode(&args)
        };
        Some(match *msg {
            Msg::Kv(KvMsg::Acquire { req, lock, value, ttl_ms }) => (
                Op::Acquire { req, lock, value },
                eval(
                    ACQUIRE,
                    &[lock_key(lock), token_key(lock), COUNTER_KEY.to_string()],
                    &[
                        value.to_string(),
                        time.real_ms(ttl_ms).to_string(),
                        tokens.to_string(),
                        params.initial_token.to_string(),
                    ],
                ),
            ),
            Msg::Kv(KvMsg::Extend { req, lock, value, ttl_ms }) => (
                Op::Extend { req, lock },
                eval(EXTEND, &[lock_key(lock)], &[value.to_string(), time.real_ms(ttl_ms).to_string()]),
            ),
            Msg::Kv(KvMsg::Release { req, lock, value, plain_del, .. }) => (
                Op::Release { req, lock, value, plain_del },
                if plain_del {
                    eval(PLAIN_DEL, &[lock_key(lock)], &[])
                } else {
                    eval(RELEASE, &[lock_key(lock)], &[value.to_string()])
                },
            ),
            Msg::Kv(KvMsg::Get { req, lock }) => {
                (Op::Get { req, lock }, eval(GET, &[lock_key(lock), token_key(lock)], &[tokens.to_string()]))
            }
            _ => return None,
        })
    }

    /// A usable connection: the current one unless its server crashed or restarted since it was
    /// opened, else a new one (None if the proxy cannot be reached).
    async fn connection(&mut self) -> Option<&mut Conn> {
        let generation = self.ctx.backend.generations[self.ctx.index].load(Ordering::SeqCst);
        if self.conn.as_ref().is_some_and(|c| c.generation != generation) {
            self.lose_connection();
        }
        if self.conn.is_none() {
            if self.link.is_none() {
                match self.ctx.backend.link(self.ctx.index, self.client).await {
                    Ok(l) => self.link = Some(l),
                    Err(e) => {
                        eprintln!("locklab redis adapter: {e}");
                        return None;
                    }
                }
            }
            let link = self.link.clone()?;
            let stream =
                tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(link.addr())).await.ok()?.ok()?;
            let _ = stream.set_nodelay(true);
            let controls = link.controls(stream.local_addr().ok()?);
            let (r, w) = stream.into_split();
            self.conn = Some(Conn { r, w, controls, generation });
        }
        self.conn.as_mut()
    }

    /// Send one request, enacting the network's verdict on it and arranging for the verdict on
    /// its reply to be taken when the reply passes the proxy.
    async fn send(&mut self, req: Request) {
        let Some((op, frame)) = self.command(&req.msg) else { return };
        let scale = self.ctx.time.scale;
        let (node, client, policy) = (self.ctx.node, self.client, self.ctx.policy.clone());
        let Some(conn) = self.connection().await else {
            return; // The proxy is gone: the request is lost.
        };
        let copies = match req.decision {
            Decision::Drop { .. } => {
                // Nobody waits on the request's report (its fate is known).
                drop(conn.controls.swallow_next_request());
                0
            }
            Decision::Deliver { delay_ns, duplicate } => {
                let copies = 1 + duplicate as u32;
                let hold = real_duration(scale, delay_ns);
                drop(conn.controls.on_next_request(Box::new(move || Verdict::Forward { hold, copies })));
                copies
            }
        };
        let kind = op.reply_kind();
        let mut expected = Vec::new();
        for _ in 0..copies {
            let policy = policy.clone();
            let judge = Box::new(move || match policy.decide(node, client, kind) {
                Decision::Drop { .. } => Verdict::Swallow,
                Decision::Deliver { delay_ns, duplicate } => {
                    Verdict::Forward { hold: real_duration(scale, delay_ns), copies: 1 + duplicate as u32 }
                }
            });
            expected.push(Pending { op, passed: Some(conn.controls.on_next_reply(judge)), reply: None, remaining: 0 });
        }
        if conn.w.write_all(&frame).await.is_err() {
            self.lose_connection();
            return;
        }
        self.pending.extend(expected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Request;
    use locklab_protocols::lease::{ExpiryClock, TokenCounter};
    use std::sync::atomic::AtomicUsize;

    fn params(persistence: Persistence, tokens: bool) -> LeaseServerParams {
        LeaseServerParams {
            kind: ServerKind::Redis,
            expiry_clock: ExpiryClock::Wall,
            persistence,
            tokens,
            token_counter: TokenCounter::Durable,
            restart_delay_ms: 0,
            initial_token: 0,
            replicate_to: Vec::new(),
            replication_delay_ms: 10,
            lock_delay_ms: 0,
        }
    }

    /// Delivers everything, except the `nth` (1-based) reply of kind `drop_kind`.
    #[derive(Default)]
    struct TestPolicy {
        drop_kind: Mutex<Option<(&'static str, usize)>>,
        seen: AtomicUsize,
    }

    impl LinkPolicy for TestPolicy {
        fn decide(&self, _from: NodeId, _to: NodeId, kind: &'static str) -> Decision {
            if let Some((k, nth)) = *lock(&self.drop_kind) {
                if k == kind && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                    return Decision::Drop { why: "targeted drop" };
                }
            }
            Decision::Deliver { delay_ns: 0, duplicate: false }
        }
    }

    const C1: NodeId = 1;
    const C2: NodeId = 2;

    fn server_node(index: usize) -> NodeId {
        10 + index
    }

    struct Harness {
        backend: Arc<RedisBackend>,
        inboxes: Vec<mpsc::UnboundedSender<Request>>,
        replies: mpsc::UnboundedReceiver<(NodeId, NodeId, Msg)>,
        observations: Arc<Mutex<Vec<(NodeId, Observation)>>>,
        policy: Arc<TestPolicy>,
        next_req: u64,
    }

    async fn harness(opts: RedisOptions) -> Option<Harness> {
        if find_binary("redis-server", None).is_err() {
            eprintln!("SKIPPED: redis-server is not on the PATH (apt-get install redis-server)");
            return None;
        }
        let backend = RedisBackend::start(opts.clone()).await.expect("redis-server starts");
        let (reply_tx, replies) = mpsc::unbounded_channel();
        let observations = Arc::new(Mutex::new(Vec::new()));
        let policy = Arc::new(TestPolicy::default());
        let time = TimeMap::new(opts.time_scale);
        let mut inboxes = Vec::new();
        for index in 0..opts.servers {
            let (tx, inbox) = mpsc::unbounded_channel();
            let reply_tx = reply_tx.clone();
            let obs = observations.clone();
            let io = ServerIo {
                node: server_node(index),
                index,
                inbox,
                replier: Replier::new(move |from, to, msg| {
                    let _ = reply_tx.send((from, to, msg));
                }),
                recorder: Recorder::new(move |node, o| lock(&obs).push((node, o))),
                policy: policy.clone(),
                time,
            };
            tokio::spawn(backend.clone().serve(io));
            inboxes.push(tx);
        }
        Some(Harness { backend, inboxes, replies, observations, policy, next_req: 0 })
    }

    impl Harness {
        fn req(&mut self) -> u64 {
            self.next_req += 1;
            self.next_req
        }
        fn send(&self, server: usize, from: NodeId, msg: Msg) {
            let decision = Decision::Deliver { delay_ns: 0, duplicate: false };
            self.inboxes[server].send(Request { from, msg, decision }).unwrap();
        }
        /// The next reply, within `within`.
        async fn reply(&mut self, within: Duration) -> Option<(NodeId, NodeId, Msg)> {
            tokio::time::timeout(within, self.replies.recv()).await.ok().flatten()
        }
        async fn ask(&mut self, server: usize, from: NodeId, msg: Msg) -> Msg {
            self.send(server, from, msg);
            let (s, to, m) = self.reply(Duration::from_secs(3)).await.expect("an answer within 3 s");
            assert_eq!((s, to), (server_node(server), from));
            m
        }
        async fn acquire(&mut self, server: usize, from: NodeId, value: u64, ttl_ms: u64) -> (bool, Option<u64>) {
            let req = self.req();
            match self.ask(server, from, Msg::Kv(KvMsg::Acquire { req, lock: 0, value, ttl_ms })).await {
                Msg::Kv(KvMsg::AcquireReply { req: r, granted, token, value: v, .. }) => {
                    assert_eq!((r, v), (req, value));
                    (granted, token)
                }
                other => panic!("expected acquire_reply, got {other}"),
            }
        }
        async fn release(&mut self, from: NodeId, value: u64, plain_del: bool) -> bool {
            let req = self.req();
            match self.ask(0, from, Msg::Kv(KvMsg::Release { req, lock: 0, value, plain_del, ttl_ms: 0 })).await {
                Msg::Kv(KvMsg::ReleaseReply { ok, .. }) => ok,
                other => panic!("expected release_reply, got {other}"),
            }
        }
        async fn extend(&mut self, from: NodeId, value: u64, ttl_ms: u64) -> bool {
            let req = self.req();
            match self.ask(0, from, Msg::Kv(KvMsg::Extend { req, lock: 0, value, ttl_ms })).await {
                Msg::Kv(KvMsg::ExtendReply { ok, .. }) => ok,
                other => panic!("expected extend_reply, got {other}"),
            }
        }
        async fn get(&mut self, server: usize, from: NodeId) -> (Option<u64>, i64, Option<u64>) {
            let req = self.req();
            match self.ask(server, from, Msg::Kv(KvMsg::Get { req, lock: 0 })).await {
                Msg::Kv(KvMsg::GetReply { value, pttl_ms, token, .. }) => (value, pttl_ms, token),
                other => panic!("expected get_reply, got {other}"),
            }
        }
        fn grants(&self) -> Vec<(NodeId, u64, Option<u64>)> {
            lock(&self.observations)
                .iter()
                .filter_map(|(_, o)| match o {
                    Observation::Grant { holder, value, token, .. } => Some((*holder, *value, *token)),
                    _ => None,
                })
                .collect()
        }
        async fn fault(&self, index: usize, f: ServerFault) {
            self.backend.clone().fault(index, f).await.unwrap_or_else(|e| panic!("{f:?}: {e}"));
        }
        async fn stop(self) {
            self.backend.clone().shutdown().await;
        }
    }

    /// Run `body` with a 30 s bound.
    async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
        tokio::time::timeout(Duration::from_secs(30), body).await.expect("test bounded by 30 s");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn set_nx_px_grants_refuses_while_held_and_grants_after_expiry() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            let t0 = Instant::now();
            assert_eq!(h.acquire(0, C1, 7, 1000).await, (true, None));
            assert_eq!(h.acquire(0, C2, 8, 1000).await, (false, None), "another value: refused");
            assert_eq!(h.acquire(0, C1, 7, 1000).await, (false, None), "the holder's own value: refused too (NX)");
            let (value, pttl, _) = h.get(0, C2).await;
            assert_eq!(value, Some(7));
            assert!((1..=1000).contains(&pttl), "pttl {pttl}");
            assert!(t0.elapsed() < Duration::from_millis(1000), "still within the TTL when checked");
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert_eq!(h.get(0, C2).await, (None, -2, None), "expired: no such key");
            assert_eq!(h.acquire(0, C2, 8, 1000).await, (true, None), "an expired key does not exist");
            assert_eq!(h.grants(), vec![(C1, 7, None), (C2, 8, None)]);
        })
        .await;
        h.stop().await;
    }

    /// The time scale reaches the server: a scenario TTL of 40,000 ms at scale 0.1 is `PX 4000`,
    /// and `PTTL` comes back in scenario ms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ttls_are_scaled_both_ways() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 0.1)).await else { return };
        bounded(async {
            assert!(h.acquire(0, C1, 7, 40_000).await.0);
            let port = h.backend.port(0).unwrap();
            let real = command(port, &[b"PTTL", lock_key(0).as_bytes()], Duration::from_secs(1)).await.unwrap();
            assert!(matches!(real, Value::Int(ms) if (3000..=4000).contains(&ms)), "real PTTL {real:?}");
            let (_, pttl, _) = h.get(0, C1).await;
            assert!((30_000..=40_000).contains(&pttl), "scenario pttl {pttl}");
        })
        .await;
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compare_and_delete_refuses_a_foreign_value_and_plain_del_does_not() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            assert!(h.acquire(0, C1, 7, 60_000).await.0);
            assert!(!h.release(C2, 8, false).await, "compare-and-delete: not the holder");
            assert_eq!(h.get(0, C1).await.0, Some(7), "the key is untouched");
            assert!(h.release(C1, 7, false).await);
            assert_eq!(h.get(0, C1).await.0, None);
            assert!(!h.release(C1, 7, false).await, "nothing left to delete");
            // A plain DEL deletes whoever holds the key, and the adapter records it.
            assert!(h.acquire(0, C1, 9, 60_000).await.0);
            assert!(h.release(C2, 8, true).await);
            assert_eq!(h.get(0, C1).await.0, None);
            let foreign: Vec<_> = lock(&h.observations)
                .iter()
                .filter(|(_, o)| matches!(o, Observation::ForeignDelete { .. }))
                .cloned()
                .collect();
            assert_eq!(
                foreign,
                vec![(server_node(0), Observation::ForeignDelete { lock: 0, deleted_value: 9, by: C2 })]
            );
        })
        .await;
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn extend_is_guarded_by_the_value() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            assert!(h.acquire(0, C1, 7, 2000).await.0);
            assert!(!h.extend(C2, 8, 10_000).await, "another value may not extend");
            assert!(h.get(0, C1).await.1 <= 2000, "and the TTL is unchanged");
            assert!(h.extend(C1, 7, 10_000).await);
            let (_, pttl, _) = h.get(0, C1).await;
            assert!((8000..=10_000).contains(&pttl), "extended: pttl {pttl}");
            assert!(h.release(C1, 7, false).await);
            assert!(!h.extend(C1, 7, 5000).await, "no key: nothing to extend");
        })
        .await;
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_increase_and_survive_a_crash_with_appendfsync_always() {
        let mut p = params(Persistence::Always, true);
        p.initial_token = 33;
        let Some(mut h) = harness(RedisOptions::new(1, p, 1.0)).await else { return };
        bounded(async {
            assert_eq!(h.acquire(0, C1, 7, 60_000).await, (true, Some(34)), "Kleppmann's figure: 33 → 34");
            assert_eq!(h.get(0, C2).await.2, Some(34), "GET reads the holder's token");
            assert!(h.release(C1, 7, false).await);
            assert_eq!(h.acquire(0, C2, 8, 60_000).await, (true, Some(35)));
            h.fault(0, ServerFault::Crash).await;
            h.fault(0, ServerFault::Restart).await;
            // The AOF, fsynced before each reply, brought back both the key and the counter.
            let (value, pttl, token) = h.get(0, C1).await;
            assert_eq!((value, token), (Some(8), Some(35)));
            assert!(pttl > 50_000, "the TTL survived too: pttl {pttl}");
            assert_eq!(h.acquire(0, C1, 9, 60_000).await, (false, None), "the key survived: refused");
            assert!(h.release(C2, 8, false).await);
            assert_eq!(h.acquire(0, C1, 9, 60_000).await, (true, Some(36)), "the counter survived");
            let tokens: Vec<_> = h.grants().iter().map(|g| g.2).collect();
            assert_eq!(tokens, vec![Some(34), Some(35), Some(36)]);
        })
        .await;
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_persistence_a_restart_forgets_the_key_and_the_counter() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, true), 1.0)).await else { return };
        bounded(async {
            assert_eq!(h.acquire(0, C1, 7, 60_000).await, (true, Some(1)));
            h.fault(0, ServerFault::Crash).await;
            // While it is down, a request is lost (no answer), not an error.
            let req = h.req();
            h.send(0, C2, Msg::Kv(KvMsg::Acquire { req, lock: 0, value: 8, ttl_ms: 60_000 }));
            assert!(h.reply(Duration::from_millis(300)).await.is_none(), "a crashed server does not answer");
            h.fault(0, ServerFault::Restart).await;
            assert_eq!(h.get(0, C2).await.0, None, "the key is gone");
            assert_eq!(h.acquire(0, C2, 8, 60_000).await, (true, Some(1)), "a second holder, and token 1 again");
            assert_eq!(h.grants(), vec![(C1, 7, Some(1)), (C2, 8, Some(1))], "two grants of an unexpired lease");
        })
        .await;
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigstop_makes_requests_wait_and_sigcont_answers_them() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            assert!(h.acquire(0, C1, 7, 60_000).await.0, "warm the connection up");
            h.fault(0, ServerFault::Pause).await;
            let req = h.req();
            h.send(0, C2, Msg::Kv(KvMsg::Acquire { req, lock: 1, value: 8, ttl_ms: 60_000 }));
            assert!(h.reply(Duration::from_millis(400)).await.is_none(), "a paused server does not answer");
            assert_eq!(h.grants().len(), 1);
            h.fault(0, ServerFault::Resume).await;
            match h.reply(Duration::from_secs(3)).await {
                Some((_, C2, Msg::Kv(KvMsg::AcquireReply { req: r, granted: true, .. }))) if r == req => {}
                other => panic!("expected the grant after SIGCONT, got {other:?}"),
            }
            assert_eq!(h.grants().len(), 2);
        })
        .await;
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_swallowed_reply_means_the_set_was_executed() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            *lock(&h.policy.drop_kind) = Some(("acquire_reply", 1));
            let req = h.req();
            h.send(0, C1, Msg::Kv(KvMsg::Acquire { req, lock: 0, value: 7, ttl_ms: 60_000 }));
            assert!(h.reply(Duration::from_millis(400)).await.is_none(), "the reply was swallowed");
            assert_eq!(h.grants(), vec![(C1, 7, None)], "ground truth: the server granted");
            // The connection is still in step: the next answers are the right ones.
            assert_eq!(h.acquire(0, C1, 7, 60_000).await, (false, None), "the retry is refused by its own key");
            assert_eq!(h.get(0, C1).await.0, Some(7), "GET shows the lost grant's value");
        })
        .await;
        h.stop().await;
    }

    /// A request the network drops never reaches the server; a delayed one arrives late.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_verdicts_drop_and_delay() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            let req = h.req();
            let msg = Msg::Kv(KvMsg::Acquire { req, lock: 0, value: 7, ttl_ms: 60_000 });
            h.inboxes[0].send(Request { from: C1, msg, decision: Decision::Drop { why: "lost" } }).unwrap();
            assert!(h.reply(Duration::from_millis(300)).await.is_none());
            assert_eq!(h.get(0, C1).await.0, None, "never executed");
            let req = h.req();
            let msg = Msg::Kv(KvMsg::Acquire { req, lock: 0, value: 8, ttl_ms: 60_000 });
            let t0 = Instant::now();
            let decision = Decision::Deliver { delay_ns: 300_000_000, duplicate: true };
            h.inboxes[0].send(Request { from: C1, msg, decision }).unwrap();
            let first = h.reply(Duration::from_secs(2)).await.expect("answered");
            assert!(t0.elapsed() >= Duration::from_millis(300), "held back {:?}", t0.elapsed());
            let second = h.reply(Duration::from_secs(2)).await.expect("the duplicate answered too");
            assert!(matches!(first.2, Msg::Kv(KvMsg::AcquireReply { granted: true, .. })), "{}", first.2);
            assert!(matches!(second.2, Msg::Kv(KvMsg::AcquireReply { granted: false, .. })), "{}", second.2);
        })
        .await;
        h.stop().await;
    }

    /// The acceptance question of scenario #4: does real Redis 7.0 expire keys on the wall clock
    /// (`redlock`) or on a monotonic one (`redlock-monotonic`)? Redlock's shape: the same
    /// `SET NX PX 5000` on five servers; then server 0's wall clock is stepped 10 s forward. Its
    /// key is gone at once, the other four keep theirs: wall clock (see the module docs for the
    /// source).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wall_clock_jump_expires_a_key_at_once() {
        let Some(mut h) = harness(RedisOptions::new(5, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            for s in 0..5 {
                assert!(h.acquire(s, C1, 7, 5000).await.0, "server {s} grants");
            }
            h.fault(0, ServerFault::ClockJump { by_ns: 10_000_000_000 }).await;
            let (value, pttl, _) = h.get(0, C2).await;
            assert_eq!((value, pttl), (None, -2), "server 0's key expired with its clock step");
            for s in 1..5 {
                let (value, pttl, _) = h.get(s, C2).await;
                assert_eq!(value, Some(7), "server {s} (no step) still holds it");
                assert!(pttl > 2000, "server {s}: pttl {pttl}");
            }
            assert!(h.acquire(0, C2, 8, 5000).await.0, "another client is granted on the stepped server");
            let grants = lock(&h.observations).iter().filter(|(_, o)| matches!(o, Observation::Grant { .. })).count();
            assert_eq!(grants, 6);
        })
        .await;
        h.stop().await;
    }

    /// `appendfsync everysec` against a *process* crash: Redis write(2)s the AOF buffer before it
    /// sends the replies of that event-loop iteration (`beforeSleep` in `src/server.c`:
    /// `flushAppendOnlyFile(0)` then `handleClientsWithPendingWritesUsingThreads()`); only the
    /// fsync is deferred to a background thread. A `SIGKILL` leaves the kernel's page cache, so
    /// the grant survives — unlike the simulated `everysec`, which loses the unsynced suffix (a
    /// machine crash). (`flushAppendOnlyFile` in `src/aof.c` may postpone the write by up to 2 s
    /// while a slow background fsync runs; on an idle loopback test it does not.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn everysec_keeps_an_acknowledged_grant_across_sigkill() {
        let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::Everysec, true), 1.0)).await else { return };
        bounded(async {
            assert_eq!(h.acquire(0, C1, 7, 60_000).await, (true, Some(1)));
            h.fault(0, ServerFault::Crash).await;
            h.fault(0, ServerFault::Restart).await;
            assert_eq!(h.get(0, C2).await.0, Some(7), "the acknowledged grant survived the SIGKILL");
            assert_eq!(h.acquire(0, C2, 8, 60_000).await, (false, None));
        })
        .await;
        h.stop().await;
    }

    /// A predictable entropy for the client library (a 64-bit LCG).
    struct Lcg(u64);

    impl locklab_protocols::Entropy for Lcg {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 1
        }
    }

    fn lease_client(retry: locklab_protocols::library::RetryMode) -> locklab_protocols::lease::LeaseClientParams {
        use locklab_protocols::lease::{LeaseClientParams, ReleaseMode};
        use locklab_protocols::library::ValidityBasis;
        LeaseClientParams {
            ttl_ms: 3000,
            safety_margin_ms: 32,
            renew_ms: None,
            heartbeat_timeout_ms: None,
            acquire_timeout_ms: 200,
            acquire_retries: 6,
            retry_backoff: locklab_protocols::node::MsRange { min_ms: 20, max_ms: 40 },
            retry,
            release: ReleaseMode::CompareAndDelete,
            validity: ValidityBasis::LocalDuration,
            failover_after_timeouts: 2,
            value_per_client: false,
        }
    }

    /// A lock library from protocols/, unchanged.
    enum Lib {
        Lease(locklab_protocols::LeaseLock),
        Redlock(locklab_protocols::Redlock),
    }

    /// Drive `lib` as client `client` against the servers through the adapter, with real timers,
    /// until its acquire call returns (or 5 s pass). Requests to the servers in `drop_to` are
    /// dropped by the network. Returns the outcome and the messages it sent.
    async fn drive_acquire(
        h: &mut Harness,
        client: NodeId,
        lib: &mut Lib,
        drop_to: &[usize],
    ) -> (Option<locklab_protocols::library::LockEvent>, Vec<Msg>) {
        use locklab_protocols::{Ctx, Effect, SessionId, Timer};
        let start = Instant::now();
        let mut entropy = Lcg(42 + client as u64);
        let mut timers: HashMap<Timer, Instant> = HashMap::new();
        let mut sent = Vec::new();
        let mut effects = Vec::new();
        let now = |start: Instant| (start.elapsed().as_nanos() as u64, start.elapsed().as_nanos() as i64);
        {
            let (mono, wall) = now(start);
            let mut ctx = Ctx::new(client, mono, wall, &mut entropy, &mut effects);
            let session = SessionId { client: client as u32, incarnation: 0, n: 1 };
            match lib {
                Lib::Lease(l) => l.acquire(&mut ctx, session, 0),
                Lib::Redlock(l) => l.acquire(&mut ctx, session, 0),
            }
        }
        let mut event = None;
        loop {
            // Carry out the library's effects (also those of the input that ended the call, such
            // as a failed Redlock round's unlocks).
            for e in effects.drain(..) {
                match e {
                    Effect::Send { to, msg } => {
                        sent.push(msg.clone());
                        let index = to - server_node(0);
                        let decision = if drop_to.contains(&index) {
                            Decision::Drop { why: "partitioned" }
                        } else {
                            Decision::Deliver { delay_ns: 0, duplicate: false }
                        };
                        h.inboxes[index].send(Request { from: client, msg, decision }).unwrap();
                    }
                    Effect::SetTimer { timer, after_ns } => {
                        timers.insert(timer, Instant::now() + Duration::from_nanos(after_ns));
                    }
                    Effect::CancelTimer { timer } => {
                        timers.remove(&timer);
                    }
                    _ => {}
                }
            }
            if event.is_some() || start.elapsed() > Duration::from_secs(5) {
                return (event, sent);
            }
            let next = timers.iter().min_by_key(|(_, at)| **at).map(|(t, at)| (*t, *at));
            let wake = next.map_or(Instant::now() + Duration::from_millis(100), |(_, at)| at);
            event = tokio::select! {
                r = h.replies.recv() => {
                    let Some((from, to, msg)) = r else { return (None, sent) };
                    if to != client {
                        continue;
                    }
                    let (mono, wall) = now(start);
                    let mut ctx = Ctx::new(client, mono, wall, &mut entropy, &mut effects);
                    match lib {
                        Lib::Lease(l) => l.on_message(&mut ctx, msg),
                        Lib::Redlock(l) => l.on_message(&mut ctx, from, msg),
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => match next {
                    Some((timer, _)) => {
                        timers.remove(&timer);
                        let (mono, wall) = now(start);
                        let mut ctx = Ctx::new(client, mono, wall, &mut entropy, &mut effects);
                        match lib {
                            Lib::Lease(l) => l.on_timer(&mut ctx, timer),
                            Lib::Redlock(l) => l.on_timer(&mut ctx, timer),
                        }
                    }
                    None => None,
                },
            };
        }
    }

    /// Scenario #4 (Kleppmann 2016, "How to do distributed locking") with the unchanged Redlock
    /// library over five real redis-servers: client 1 reaches A, B, C (D and E are cut off) and
    /// holds the lock; C's wall clock steps forward past the TTL, so C's key expires; client 2
    /// reaches C, D, E (A and B cut off) and holds the lock too, while client 1's validity still
    /// runs. Two holders — what the simulated `redlock` variant (wall-clock expiry) predicts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redlock_over_five_servers_two_holders_after_one_clock_jump() {
        use locklab_protocols::library::LockEvent;
        use locklab_protocols::node::MsRange;
        use locklab_protocols::redlock::RedlockParams;
        use locklab_protocols::Redlock;
        let Some(mut h) = harness(RedisOptions::new(5, params(Persistence::None, false), 1.0)).await else { return };
        bounded(async {
            let servers: Vec<NodeId> = (0..5).map(server_node).collect();
            let rl = RedlockParams {
                ttl_ms: 10_000,
                server_timeout_ms: 200,
                drift_factor_ppm: 10_000,
                drift_extra_ms: 2,
                validity_check: true,
                retry_delay: MsRange { min_ms: 20, max_ms: 40 },
                acquire_retries: 0,
                renew_ms: None,
            };
            let mut c1 = Lib::Redlock(Redlock::new(servers.clone(), 0, rl.clone()));
            let t1 = Instant::now();
            assert_eq!(drive_acquire(&mut h, C1, &mut c1, &[3, 4]).await.0, Some(LockEvent::Acquired));
            let grants_to = |h: &Harness, c: NodeId| h.grants().iter().filter(|g| g.0 == c).count();
            assert_eq!(grants_to(&h, C1), 3, "A, B, C");
            // Control: without the clock step, client 2 reaches only D and E (C is held): refused.
            // (Its failed round unlocks D and E again, on the same connections, before the next.)
            let mut c2 = Lib::Redlock(Redlock::new(servers.clone(), 0, rl.clone()));
            assert_eq!(drive_acquire(&mut h, C2, &mut c2, &[0, 1]).await.0, Some(LockEvent::AcquireFailed));
            assert_eq!(grants_to(&h, C2), 2, "D and E only");
            h.fault(2, ServerFault::ClockJump { by_ns: 20_000_000_000 }).await;
            let mut c2 = Lib::Redlock(Redlock::new(servers, 0, rl));
            assert_eq!(drive_acquire(&mut h, C2, &mut c2, &[0, 1]).await.0, Some(LockEvent::Acquired));
            assert!(t1.elapsed() < Duration::from_millis(9_000), "client 1's validity had not run out");
            assert_eq!(grants_to(&h, C2), 5, "now C, D and E as well");
        })
        .await;
        h.stop().await;
    }

    /// Scenario #9's shape with the real client library: the first acquire's reply is swallowed
    /// by the proxy (the server did set the key). The GET-and-compare retry (`idempotent`) is
    /// refused, reads the key, finds its own value and holds the lock; the `naive` retry draws new
    /// values, is refused by its own orphaned key every time, and gives up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_grant_with_the_real_client_library_naive_vs_get_and_compare() {
        use locklab_protocols::library::{LockEvent, RetryMode};
        use locklab_protocols::LeaseLock;
        for (retry, expected) in
            [(RetryMode::Idempotent, LockEvent::Acquired), (RetryMode::Naive, LockEvent::AcquireFailed)]
        {
            let Some(mut h) = harness(RedisOptions::new(1, params(Persistence::None, false), 1.0)).await else {
                return;
            };
            bounded(async {
                *lock(&h.policy.drop_kind) = Some(("acquire_reply", 1));
                let mut lease = Lib::Lease(LeaseLock::new(vec![server_node(0)], 0, lease_client(retry)));
                let (event, sent) = drive_acquire(&mut h, C1, &mut lease, &[]).await;
                assert_eq!(
                    event,
                    Some(expected),
                    "{retry:?}: sent {:?}",
                    sent.iter().map(|m| m.to_string()).collect::<Vec<_>>()
                );
                let gets = sent.iter().filter(|m| matches!(m, Msg::Kv(KvMsg::Get { .. }))).count();
                let values: std::collections::BTreeSet<u64> = sent
                    .iter()
                    .filter_map(|m| if let Msg::Kv(KvMsg::Acquire { value, .. }) = m { Some(*value) } else { None })
                    .collect();
                match retry {
                    RetryMode::Idempotent => assert!(gets >= 1 && values.len() == 1, "{gets} GETs, values {values:?}"),
                    RetryMode::Naive => assert!(gets == 0 && values.len() > 1, "{gets} GETs, values {values:?}"),
                }
                assert_eq!(h.grants().len(), 1, "{retry:?}: one grant only, the lost one");
            })
            .await;
            h.stop().await;
        }
    }

    /// Nothing leaks: after shutdown no server process of this backend runs and its scratch
    /// directory is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_leaves_no_process_and_no_directory() {
        let Some(mut h) = harness(RedisOptions::new(3, params(Persistence::Always, true), 1.0)).await else { return };
        let pids = h.backend.pids().await;
        let dir = h.backend.scratch_dir().expect("a scratch directory");
        bounded(async {
            assert_eq!(pids.len(), 3);
            assert!(
                dir.exists() && dir.file_name().unwrap().to_string_lossy().starts_with(crate::procs::SCRATCH_PREFIX)
            );
            assert!(h.acquire(0, C1, 7, 60_000).await.0);
            h.fault(1, ServerFault::Crash).await;
            h.fault(1, ServerFault::Restart).await;
            h.fault(2, ServerFault::Pause).await;
        })
        .await;
        let mut pids = pids;
        pids.extend(h.backend.pids().await);
        pids.sort();
        pids.dedup();
        assert_eq!(pids.len(), 4, "three started, one restarted: {pids:?}");
        let backend = h.backend.clone();
        h.stop().await;
        backend.clone().shutdown().await; // idempotent
        let now_pids = backend.pids().await;
        assert!(now_pids.is_empty(), "{now_pids:?}");
        let registered = crate::procs::registered_pids();
        for pid in &pids {
            assert!(!registered.contains(pid), "pid {pid} still registered");
            assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} still exists");
        }
        assert!(!dir.exists(), "{} remains", dir.display());
    }
}
