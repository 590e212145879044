//! The etcd backend: real `etcd` processes play the Raft lock service, behind an adapter that
//! speaks etcd's own lock recipe.
//!
//! # What runs
//!
//! [`EtcdBackend::start`] starts an etcd cluster of `n` members on loopback, one member per server
//! node of the scenario (`s1` … → member 0 …): each with a free client port and a free peer port,
//! its own `--data-dir` under one [`Scratch`], `--initial-cluster` listing every member,
//! `--initial-cluster-state new` and a token unique to this run. It returns once every member's
//! `/health` says `true` (a leader is elected). [`EtcdOptions::single_member`] starts one member
//! that serves every server node instead.
//!
//! Faults are signals on a member's process: `Pause` = `SIGSTOP`, `Resume` = `SIGCONT`, `Crash` =
//! `SIGKILL`, `Restart` = the same command line and data directory again. etcd is durable: it
//! fsyncs its WAL before a proposal is acknowledged (`wal.Save` → `sync` in etcd's `wal/wal.go`),
//! and a restarted member with a data directory ignores the `--initial-cluster*` flags and rejoins
//! as the member it was. `ClockJump` is refused, see [Clocks](#clocks).
//!
//! # Use
//!
//! ```no_run
//! # async fn run() -> Result<(), locklab_live::backend::LiveError> {
//! use std::sync::Arc;
//! use locklab_live::backend::Backend;
//! use locklab_live::etcd::{EtcdBackend, EtcdOptions};
//!
//! // Three server nodes → three members. A 500 ms election timeout lowers etcd's minimum lease
//! // TTL to 1 s (see `LeaseGrant` below), which time-scaled runs need.
//! let options = EtcdOptions { heartbeat_ms: 50, election_ms: 500, ..EtcdOptions::default() };
//! let etcd = EtcdBackend::start(3, options).await?;
//! println!("{}", etcd.describe()); // "etcd 3.4.23"
//! let backend: Arc<dyn Backend> = etcd.clone();
//! // The host: tokio::spawn(backend.clone().serve(io)) for each server node (io.index = 0, 1, 2),
//! // backend.clone().fault(index, ServerFault::Pause) … from the scenario's [[faults]], and at the
//! // end:
//! backend.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Time: the run's TTLs become whole seconds of real time (etcd's lease granularity), at least
//! etcd's minimum TTL; the answer carries the TTL etcd granted, converted back to scenario time.
//! Pick the time scale so that the scenario's TTLs are whole real seconds when exactness matters.
//!
//! # Why the JSON gateway, not gRPC
//!
//! etcd v3 speaks gRPC; every etcd server also serves the same API as JSON over HTTP/1.1 through
//! its built-in gRPC gateway (<https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/>): `POST` a
//! JSON body to `/v3/kv/put`, `/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant` …; keys and values
//! are base64, 64-bit integers are JSON strings (the proto3 JSON mapping). The gateway calls the
//! very same gRPC handlers in-process, so the semantics are etcd's. Talking to it needs no
//! protobuf compiler, no code generation and no HTTP/2 stack: a small HTTP/1.1 client on a tokio
//! `TcpStream` is enough on loopback (`Worker` below for the clients' requests, through the fault
//! proxy; `Http` for the adapter's own reads), and HTTP/1.1 is simple to frame in the proxy. What the gateway sends, as measured against
//! etcd 3.4.23: unary calls answer `200` with `Content-Length`; errors answer a 4xx/5xx with a
//! *chunked* body `{"error", "message", "code"}` (the gRPC status code: 5 = NotFound) followed by
//! an HTTP trailer; `/v3/lease/keepalive`, a *streaming* RPC in gRPC, answers a chunked body with
//! one line `{"result": {"ID", "TTL"}}` per request message in the body — we send one.
//!
//! # The lock recipe (etcd's `clientv3/concurrency` `Mutex`)
//!
//! The Raft lock client ([`locklab_protocols::raft::client`]) sends [`RaftOp`]s; the adapter runs
//! each as etcd's own `Mutex` does (`clientv3/concurrency/mutex.go`, `Lock`/`Unlock`):
//!
//! * The lock `L` is the key prefix `locklab/lock/L/`; a client's key is the prefix followed by
//!   its lease ID in hex (`fmt.Sprintf("%s%x", m.pfx, s.Lease())`).
//! * `Acquire` is one transaction: `If(CreateRevision(key) == 0) Then(Put(key, lease),
//!   Get(prefix, FirstCreate)) Else(Get(key), Get(prefix, FirstCreate))`. Our revision is the
//!   transaction's header revision (a new key) or the key's create revision (it existed); the
//!   owner is the key with the lowest create revision under the prefix. Owner = us → `Acquired`,
//!   otherwise `Waiting`. The fencing token is that create revision.
//! * **Idempotent retries.** The key is a function of the lease alone, so a retried `Acquire`
//!   (same request id, same lease — or any acquire by the same lease) finds the key it created in
//!   the `Else` branch and answers from it: no second key, whatever the request id. (The locklab
//!   service deduplicates by client request id instead; for one lease per client the answers
//!   agree.) A put with a lease that no longer exists fails with `etcdserver: requested lease not
//!   found` → `LeaseNotFound`.
//! * `Status` is a read-only transaction `Get(key), Get(prefix, FirstCreate)`: linearizable, since
//!   etcd serves a read-only, non-serializable txn through `linearizableReadNotify`
//!   (`etcdserver/v3_server.go`, `Txn`). Ours and first → `Acquired`; ours behind a lower create
//!   revision → `Waiting`; our key gone (or not ours) → `LeaseNotFound` — the locklab service's
//!   correct check, not etcd 3.4.3's bug.
//! * `Release` deletes the key, guarded: `If(CreateRevision(key) == rev) Then(Delete(key))`, so a
//!   late release never deletes a newer key of the same lease. etcd's `Unlock` is a plain `Delete`
//!   whose answer says nothing about ownership; to answer as the locklab service does (a repeated
//!   release of a key it already deleted answers `ok` again; a release of a key that expired
//!   answers `ok = false`), the backend remembers which (lease, lock, revision) it deleted.
//! * `LeaseGrant { ttl_ms }` → `/v3/lease/grant` with the TTL in whole seconds of **real** time:
//!   `time.real_ms(ttl_ms)` rounded up, at least 1 s. etcd raises a TTL below its minimum,
//!   `ceil(1.5 × election timeout)` in seconds (`minTTL := (3*ElectionTicks)/2 * heartbeat` in
//!   `etcdserver/server.go`; 2 s with the default 1 s election timeout), and answers the TTL it
//!   granted: that TTL, in scenario ms, is the `ttl_ms` of the answer, so the client's validity is
//!   computed from what etcd really granted. A grant is not idempotent in etcd: a retried grant
//!   creates a second lease, which nobody keeps alive and which expires.
//! * `KeepAlive` → `/v3/lease/keepalive`; a result without TTL (TTL 0: the lease is gone — etcd's
//!   keep-alive stream answers TTL 0 rather than an error, measured) or a NotFound error →
//!   `LeaseNotFound`. etcd's `Renew` (`lease/lessor.go`) refuses a lease past its expiry: it waits
//!   for the lease's revoke and answers not-found — the rule the locklab service copies.
//! * Expiry: etcd's leader looks for expired leases every 500 ms (`lessor.runLoop`) and revokes
//!   them through Raft, so a lease ends between its TTL and TTL + 0.5 s (+ a commit) after its last
//!   renewal — measured: a 1 s lease handed its lock on after 1.4 s. A restarted or newly elected
//!   leader gives every lease a full TTL again, plus an election timeout (`Promote`), as the locklab
//!   service gives a full TTL.
//! * `Revoke` → `/v3/lease/revoke` → `Revoked` (also when etcd says the lease was already gone,
//!   as the locklab service answers).
//! * **Lease IDs.** etcd's lease IDs are `int64`, but always positive and never 0 (`LeaseGrant` in
//!   `etcdserver/v3_server.go` masks its generated ID with `(1<<63)-1`; 0 is `NoLease`), so the
//!   `u64` [`LeaseId`] carries one unchanged: no translation table.
//! * Requests that etcd could not complete (no leader, `leader changed`, timeouts, an unreachable
//!   member) get no answer: the client times out and retries, as it would on a lost message. Set
//!   `LOCKLAB_LIVE_DEBUG=1` to see each such error on stderr.
//!
//! Ground truth: the adapter records [`Observation::Grant`] `{ lock, holder, value: lease, token:
//! Some(create_revision) }` when an `Acquire` or `Status` answer says the client holds the lock
//! (read from etcd's response as the proxy reports it, so also when the client never sees it),
//! and when, after a release or revoke it carried out (or a watch poll), it reads a new first key
//! of a lease it granted. Each (lock, revision, holder) is recorded once. The locklab service
//! records a grant at the instant it applies the promoting entry; etcd does not tell us that
//! instant, so a waiter promoted by an *expiry* is recorded when the adapter next reads the lock
//! (its watch poll or the waiter's `Status`): up to one poll period late.
//!
//! **Watches** (`RaftWatch`, the hint that the predecessor went away): after answering `Waiting`,
//! the adapter polls the waiter's predecessor — the key with the highest create revision below its
//! own, as `Mutex`'s `waitDeletes` watches it — every [`EtcdOptions::watch_poll_ms`] of real time,
//! and sends the waiter a `RaftWatch` once that key is gone (or its own key is), through the
//! network's verdict for a `watch` message. A lost hint is covered by the client's periodic
//! `Status` (`wait_recheck_ms`). `watch_poll_ms = 0` turns polling off.
//!
//! # The network: a fault proxy on every link
//!
//! Each client's requests to a server node travel over one keep-alive HTTP/1.1 connection through
//! that (client, server) link's fault proxy ([`crate::proxy::ProxyLink`], started on first use,
//! relaying to the member that serves the node), which cuts both directions into whole HTTP
//! messages ([`crate::proxy::http::Http1`]: a request = request line, headers and a
//! `Content-Length` body; a response = status line, headers and a `Content-Length` or chunked body
//! with its trailers). One client message is one request, and its answer is the response that
//! comes back in the same place on the connection (HTTP/1.1 answers in request order, RFC 9112
//! §9.3.2). The adapter pipelines — sends each request as it comes, without waiting for the
//! previous answer (Go's HTTP server, and so etcd's gateway, reads and answers pipelined requests
//! one after the other: test `the_http_framer_frames_what_etcd_really_sends`) — so a reply held
//! back by the network does not hold back the client's next request. The network's verdicts act
//! in the proxy, as for Redis ([`crate::redis`]):
//!
//! * on the request (`Request::decision`): `Drop` — the proxy swallows the request, etcd never
//!   sees it; `Deliver { delay_ns }` — the proxy holds it back the real equivalent of the delay
//!   (and the requests behind it on the connection: one TCP stream keeps its order);
//!   `duplicate` — the proxy forwards it twice, etcd executes it twice and answers twice;
//! * on each reply, decided when the response passes the proxy (`io.policy.decide(server,
//!   client, reply kind)`, so a partition that began while etcd was working still catches it):
//!   `Drop` — swallowed: etcd executed the request, the client never hears of it; a delay — held
//!   back in the proxy; `duplicate` — forwarded twice.
//!
//! The proxy reports every response's bytes to the adapter before it acts on it
//! ([`crate::proxy::Passed`]): the adapter translates the answer and records ground truth (a
//! grant) from that report, so a swallowed answer still counts as what etcd did, and hands the
//! translated reply to the client only when (and as often as) the response arrives through the
//! proxy. A swallowed response leaves the connection in step (the next response answers the next
//! request), so nothing waits for it. A member that does not answer within
//! [`EtcdOptions::http_timeout_ms`] (paused, or without a quorum) costs the connection: the
//! requests waiting on it get no answer, and the next request opens a new one. A crashed member
//! refuses the proxy's connection; the proxy then closes the adapter's, whose waiting requests are
//! lost, and the next request reconnects.
//!
//! The adapter's own reads — the lock's head after a release or revoke, the watch polls, leader
//! and health checks — go straight to the member, not through the proxy: they observe etcd, they
//! are not messages of the scenario. Two verdicts therefore still act in the adapter: on the
//! `RaftWatch` hint (there is no watch stream to cut; the hint is the result of a poll) and on
//! the answer to a request with lease 0, which the adapter refuses without asking etcd.
//!
//! # Clocks
//!
//! etcd's lessor measures lease expiry on the **monotonic** clock of the leader (`lease/lessor.go`:
//! `refresh` sets `expiry = time.Now().Add(…)`, `Remaining` is `time.Until(expiry)`, and Go
//! compares two `time.Time`s that carry monotonic readings by those readings). A wall-clock step
//! therefore does not move a lease's expiry. libfaketime could not even show etcd a step: the Go
//! runtime reads its clocks through the vDSO, not through libc's `clock_gettime`, so the preload
//! has nothing to intercept — measured (test `libfaketime_does_not_reach_etcd`): under the
//! preload that moves `date` ten years ahead, etcd 3.4.23 still sends the real date in its HTTP
//! `Date` header (and logs it). `ServerFault::ClockJump` is therefore refused with an error
//! rather than pretended.

use locklab_protocols::raft::RaftMsg;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use locklab_protocols::history::Observation;
use locklab_protocols::raft::{LeaseId, RaftAnswer, RaftOp};
use locklab_protocols::{LockId, Msg, NodeId};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::backend::{Backend, BoxFut, Decision, LiveError, Request, ServerFault, ServerIo};
use crate::procs::{find_binary, free_port, wait_ready, ProcessSpec, Scratch, ServerProcess};
use crate::proxy::{http, ConnControls, Passed, ProxyLink, Verdict};

/// How to run the etcd cluster.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// The `etcd` binary (`None`: found on the PATH).
    pub bin: Option<PathBuf>,
    /// `--heartbeat-interval` in real ms (etcd's default: 100).
    pub heartbeat_ms: u64,
    /// `--election-timeout` in real ms (etcd's default: 1000; at least 5 heartbeats). It also sets
    /// etcd's minimum lease TTL: `ceil(1.5 × election_ms / 1000)` s.
    pub election_ms: u64,
    /// One member serving every server node, however many the scenario has.
    pub single_member: bool,
    /// How long to wait for the cluster to be healthy (real ms).
    pub start_timeout_ms: u64,
    /// How long the adapter waits for etcd's answer to one request before giving it up (real ms;
    /// the client gets no answer), counted from when the proxy forwards it. A paused member holds
    /// requests until then; then the connection is given up with every request waiting on it, and
    /// the next request opens a new one.
    pub http_timeout_ms: u64,
    /// Poll a waiter's predecessor this often (real ms) to send it `RaftWatch`; 0: never.
    pub watch_poll_ms: u64,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            bin: None,
            heartbeat_ms: 100,
            election_ms: 1000,
            single_member: false,
            start_timeout_ms: 30_000,
            http_timeout_ms: 10_000,
            watch_poll_ms: 50,
        }
    }
}

/// One etcd member.
struct Member {
    client: SocketAddr,
    process: Mutex<Option<ServerProcess>>,
}

/// What the adapters of all server nodes share (they talk to one cluster).
#[derive(Default)]
struct Shared {
    /// Which client each lease was granted to (for grants read after a release, revoke or poll).
    lease_clients: HashMap<LeaseId, NodeId>,
    /// The locks each lease created a key on.
    lease_locks: HashMap<LeaseId, BTreeSet<LockId>>,
    /// (lease, lock, revision) of every key a `Release` deleted.
    released: HashSet<(LeaseId, LockId, u64)>,
    /// Grants recorded: (lock, revision, holder).
    granted: HashSet<(LockId, u64, NodeId)>,
}

/// Real etcd as the Raft lock service.
pub struct EtcdBackend {
    version: String,
    members: Vec<Member>,
    scratch: Mutex<Option<Scratch>>,
    scratch_path: PathBuf,
    options: EtcdOptions,
    shared: Mutex<Shared>,
    start_elapsed: Duration,
    /// The fault proxy of each (server node index, client) link, started on first use.
    links: Mutex<HashMap<(usize, NodeId), Arc<ProxyLink>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `etcd --version` → "etcd 3.4.23".
fn etcd_version(bin: &std::path::Path) -> Result<String, LiveError> {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| LiveError(format!("{} --version: {e}", bin.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("etcd Version:"))
        .map(|v| format!("etcd {}", v.trim()))
        .ok_or_else(|| LiveError(format!("{} --version printed no version: {text}", bin.display())))
}

impl EtcdBackend {
    /// Start a cluster for `n` server nodes (one member each, or one member for all with
    /// `options.single_member`), and wait until every member reports `/health` true.
    pub async fn start(n: usize, options: EtcdOptions) -> Result<Arc<EtcdBackend>, LiveError> {
        if n == 0 {
            return Err(LiveError("an etcd backend needs at least one server node".into()));
        }
        if options.election_ms < 5 * options.heartbeat_ms {
            return Err(LiveError(format!(
                "etcd requires --election-timeout ≥ 5 × --heartbeat-interval (got {} and {} ms)",
                options.election_ms, options.heartbeat_ms
            )));
        }
        let bin = find_binary("etcd", options.bin.as_deref())?;
        let version = etcd_version(&bin)?;
        let count = if options.single_member { 1 } else { n };
        let scratch = Scratch::new()?;
        let ports: Vec<(u16, u16)> =
            (0..count).map(|_| Ok((free_port()?, free_port()?))).collect::<Result<_, LiveError>>()?;
        let cluster: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}")).collect();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let token = format!("locklab-{}-{nanos}", std::process::id());
        let started = Instant::now();
        let mut procs = Vec::new();
        for (i, &(client, peer)) in ports.iter().enumerate() {
            let dir = scratch.subdir(&format!("m{i}"))?;
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let args = vec![
                format!("--name=m{i}"),
                format!("--data-dir={}", dir.join("data").display()),
                format!("--listen-client-urls={client_url}"),
                format!("--advertise-client-urls={client_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster={}", cluster.join(",")),
                "--initial-cluster-state=new".to_string(),
                format!("--initial-cluster-token={token}"),
                format!("--heartbeat-interval={}", options.heartbeat_ms),
                format!("--election-timeout={}", options.election_ms),
                "--logger=zap".to_string(),
                "--log-outputs=stderr".to_string(),
            ];
            let spec = ProcessSpec { bin: bin.clone(), args, env: Vec::new(), log: dir.join("etcd.log"), dir };
            procs.push((SocketAddr::from(([127, 0, 0, 1], client)), ServerProcess::spawn(spec)?));
        }
        let timeout = Duration::from_millis(options.start_timeout_ms);
        for (addr, p) in &mut procs {
            let addr = *addr;
            wait_ready(p, timeout, move || health(addr)).await?;
        }
        let start_elapsed = started.elapsed();
        let members = procs.into_iter().map(|(client, p)| Member { client, process: Mutex::new(Some(p)) }).collect();
        let scratch_path = scratch.path().to_path_buf();
        Ok(Arc::new(EtcdBackend {
            version,
            members,
            scratch: Mutex::new(Some(scratch)),
            scratch_path,
            options,
            shared: Mutex::new(Shared::default()),
            start_elapsed,
            links: Mutex::new(HashMap::new()),
        }))
    }

    /// How long the cluster took from the first spawn to every member healthy.
    pub fn start_elapsed(&self) -> Duration {
        self.start_elapsed
    }

    /// The number of etcd members.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The client URL's address of the member serving server `index`.
    pub fn client_addr(&self, index: usize) -> SocketAddr {
        self.members[index % self.members.len()].client
    }

    /// PIDs of the running members.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(|m| lock(&m.process).as_ref().and_then(|p| p.pid())).collect()
    }

    /// The run's temporary directory (gone after [`Backend::shutdown`]).
    pub fn scratch_path(&self) -> &std::path::Path {
        &self.scratch_path
    }

    /// The index of the member that currently leads, as the members themselves report it
    /// (`/v3/maintenance/status`: `leader` against `header.member_id`); `None` when no member
    /// answering within 1 s names a leader that is itself (paused members do not answer).
    pub async fn leader_index(&self) -> Option<usize> {
        for (i, m) in self.members.iter().enumerate() {
            let mut http = Http::new(m.client, Duration::from_millis(1000));
            if let Ok(status) = http.post("/v3/maintenance/status", &json!({})).await {
                let leader = int(&status["leader"]);
                if leader != 0 && leader == int(&status["header"]["member_id"]) {
                    return Some(i);
                }
            }
        }
        None
    }

    fn member(&self, index: usize) -> &Member {
        &self.members[index % self.members.len()]
    }

    fn http_timeout(&self) -> Duration {
        Duration::from_millis(self.options.http_timeout_ms)
    }

    async fn fault_impl(&self, index: usize, fault: ServerFault) -> Result<(), LiveError> {
        let member = self.member(index);
        match fault {
            ServerFault::Pause | ServerFault::Resume => {
                let guard = lock(&member.process);
                let p = guard.as_ref().ok_or_else(|| LiveError("etcd: the backend is shut down".into()))?;
                if fault == ServerFault::Pause {
                    p.pause()
                } else {
                    p.resume()
                }
            }
            ServerFault::Crash => {
                if let Some(p) = lock(&member.process).as_mut() {
                    p.kill();
                }
                Ok(())
            }
            ServerFault::Restart => {
                {
                    let mut guard = lock(&member.process);
                    let p = guard.as_mut().ok_or_else(|| LiveError("etcd: the backend is shut down".into()))?;
                    p.restart()?;
                }
                // Serving again once its client port answers (`/version` needs no quorum): whether
                // the cluster has a leader is the scenario's business.
                let deadline = Instant::now() + Duration::from_millis(self.options.start_timeout_ms);
                loop {
                    let mut http = Http::new(member.client, Duration::from_millis(500));
                    if http.request("GET", "/version", None).await.is_ok() {
                        return Ok(());
                    }
                    {
                        let mut guard = lock(&member.process);
                        if let Some(p) = guard.as_mut() {
                            if p.exited() {
                                return Err(LiveError(format!("etcd exited after a restart:\n{}", p.log_tail())));
                            }
                        }
                    }
                    if Instant::now() > deadline {
                        return Err(LiveError("etcd did not serve again within the start timeout".into()));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            ServerFault::ClockJump { .. } => Err(LiveError(
                "etcd: a clock jump cannot be enacted — libfaketime does not reach the Go runtime's clock \
                 (read through the vDSO), and etcd's lessor measures leases on the monotonic clock"
                    .into(),
            )),
        }
    }

    /// The fault proxy of the link from `client` to server node `index` (started on first use),
    /// relaying to the member that serves `index`.
    async fn link(&self, index: usize, client: NodeId) -> Result<Arc<ProxyLink>, LiveError> {
        if let Some(l) = lock(&self.links).get(&(index, client)) {
            return Ok(l.clone());
        }
        let (requests, replies) = (http::Http1(http::Kind::Request), http::Http1(http::Kind::Response));
        let link = Arc::new(ProxyLink::start(self.member(index).client, Arc::new(requests), Arc::new(replies)).await?);
        Ok(lock(&self.links).entry((index, client)).or_insert(link).clone())
    }

    fn shutdown_impl(&self) {
        // Close the proxies first (their relays end; the adapters see their connections end).
        let links: Vec<_> = lock(&self.links).drain().map(|(_, l)| l).collect();
        for l in &links {
            l.sever_all();
        }
        drop(links);
        for m in &self.members {
            let p = lock(&m.process).take();
            drop(p); // ServerProcess kills (SIGCONT, SIGKILL) and reaps on drop.
        }
        let s = lock(&self.scratch).take();
        drop(s);
    }

    /// Record a grant once per (lock, revision, holder).
    fn record_grant(&self, io: &NodeCtx, lock_id: LockId, revision: u64, holder: NodeId, lease: LeaseId) {
        if lock(&self.shared).granted.insert((lock_id, revision, holder)) {
            io.recorder
                .record(io.node, Observation::Grant { lock: lock_id, holder, value: lease, token: Some(revision) });
        }
    }

    /// Read the lock's first key and record it as a grant if its lease is one we granted.
    async fn record_head(&self, io: &NodeCtx, http: &mut Http, lock_id: LockId) {
        let body = json!({ "compare": [], "success": [first_create(lock_id)] });
        let Ok(resp) = http.post("/v3/kv/txn", &body).await else { return };
        if let Some(kv) = txn_kvs(&resp, 0).first() {
            let (revision, lease) = (int(&kv["create_revision"]), int(&kv["lease"]));
            let holder = lock(&self.shared).lease_clients.get(&lease).copied();
            if let Some(holder) = holder {
                self.record_grant(io, lock_id, revision, holder, lease);
            }
        }
    }
}

impl Drop for EtcdBackend {
    fn drop(&mut self) {
        self.shutdown_impl();
    }
}

impl Backend for EtcdBackend {
    fn describe(&self) -> String {
        self.version.clone()
    }

    fn serve(self: Arc<Self>, io: ServerIo) -> BoxFut<'static, ()> {
        Box::pin(serve(self, io))
    }

    fn fault(self: Arc<Self>, index: usize, fault: ServerFault) -> BoxFut<'static, Result<(), LiveError>> {
        Box::pin(async move { self.fault_impl(index, fault).await })
    }

    fn shutdown(self: Arc<Self>) -> BoxFut<'static, ()> {
        Box::pin(async move { self.shutdown_impl() })
    }
}

// ---- The adapter ----

/// One server node's adapter context, shared by its per-client tasks.
struct NodeCtx {
    backend: Arc<EtcdBackend>,
    node: NodeId,
    /// The server node's index (its links are keyed by it).
    index: usize,
    addr: SocketAddr,
    replier: crate::backend::Replier,
    recorder: crate::backend::Recorder,
    policy: Arc<dyn crate::backend::LinkPolicy>,
    time: crate::backend::TimeMap,
    /// Delayed watch hints (and lease-0 answers) and watch polls: aborted when the node's inbox closes.
    background: Mutex<JoinSet<()>>,
    /// Active watch polls: (client, lock, revision).
    polls: Mutex<HashSet<(NodeId, LockId, u64)>>,
}

impl NodeCtx {
    fn real(&self, scenario_ns: u64) -> Duration {
        Duration::from_nanos((scenario_ns as f64 * self.time.scale) as u64)
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut set = lock(&self.background);
        while set.try_join_next().is_some() {}
        set.spawn(fut);
    }

    /// Hand `msg` to `client`, enacting the network's verdict on the reply.
    fn send(self: &Arc<Self>, client: NodeId, msg: Msg) {
        match self.policy.decide(self.node, client, msg.kind()) {
            Decision::Drop { .. } => {}
            Decision::Deliver { delay_ns, duplicate } => {
                let copies = if duplicate { 2 } else { 1 };
                if delay_ns == 0 {
                    for _ in 0..copies {
                        self.replier.reply(self.node, client, msg.clone());
                    }
                } else {
                    let (me, delay) = (self.clone(), self.real(delay_ns));
                    self.spawn(async move {
                        tokio::time::sleep(delay).await;
                        for _ in 0..copies {
                            me.replier.reply(me.node, client, msg.clone());
                        }
                    });
                }
            }
        }
    }
}

async fn serve(backend: Arc<EtcdBackend>, mut io: ServerIo) {
    let ctx = Arc::new(NodeCtx {
        addr: backend.member(io.index).client,
        backend,
        node: io.node,
        index: io.index,
        replier: io.replier.clone(),
        recorder: io.recorder.clone(),
        policy: io.policy.clone(),
        time: io.time,
        background: Mutex::new(JoinSet::new()),
        polls: Mutex::new(HashSet::new()),
    });
    // One queue, one task and one connection per client: a client's requests are served in order,
    // different clients' concurrently.
    let mut clients: JoinSet<()> = JoinSet::new();
    let mut queues: HashMap<NodeId, mpsc::UnboundedSender<Request>> = HashMap::new();
    while let Some(request) = io.inbox.recv().await {
        let from = request.from;
        let queue = queues.entry(from).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            clients.spawn(Worker::run(ctx.clone(), from, rx));
            tx
        });
        let _ = queue.send(request);
    }
    clients.abort_all();
    lock(&ctx.background).abort_all();
}

/// One expected reply frame on a client's proxied connection.
struct Pending {
    req: u64,
    op: RaftOp,
    /// The proxy's report on the reply frame (None once received).
    passed: Option<oneshot::Receiver<Passed>>,
    /// Give the answer up (and the connection) if the report has not come by then.
    deadline: tokio::time::Instant,
    /// The translated answer, once known (None: etcd's answer gives the client none).
    reply: Option<Msg>,
    /// Copies of the reply frame still to come through the proxy.
    remaining: u32,
}

struct Conn {
    r: tokio::net::tcp::OwnedReadHalf,
    w: tokio::net::tcp::OwnedWriteHalf,
    controls: Arc<ConnControls>,
}

/// One client's keep-alive HTTP/1.1 connection to its member, through the link's fault proxy:
/// requests in order (pipelined: sent as they come), responses matched in order.
struct Worker {
    ctx: Arc<NodeCtx>,
    client: NodeId,
    link: Option<Arc<ProxyLink>>,
    conn: Option<Conn>,
    pending: VecDeque<Pending>,
    buf: Vec<u8>,
    /// Straight to the member, for the adapter's own reads (ground truth), never through the proxy.
    direct: Http,
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

fn debug(what: std::fmt::Arguments<'_>) {
    if std::env::var_os("LOCKLAB_LIVE_DEBUG").is_some() {
        eprintln!("locklab etcd adapter: {what}");
    }
}

impl Worker {
    async fn run(ctx: Arc<NodeCtx>, client: NodeId, mut rx: mpsc::UnboundedReceiver<Request>) {
        let direct = Http::new(ctx.addr, ctx.backend.http_timeout());
        let mut w = Worker { ctx, client, link: None, conn: None, pending: VecDeque::new(), buf: Vec::new(), direct };
        loop {
            let front = w.pending.front().filter(|p| p.passed.is_some()).map(|p| p.deadline);
            let deadline = front.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                passed = front_passed(&mut w.pending), if front.is_some() => {
                    w.on_passed(passed).await;
                    w.drain_frames().await;
                }
                n = read_some(&mut w.conn, &mut w.buf), if w.conn.is_some() => match n {
                    Ok(n) if n > 0 => w.drain_frames().await,
                    _ => w.lose_connection(),
                },
                _ = tokio::time::sleep_until(deadline), if front.is_some() => {
                    // etcd did not answer in time (a paused member, a lost quorum): the requests
                    // on this connection get no answer; the next one opens a new connection.
                    debug(format_args!("{} to {}: no answer within {} ms; reconnecting", w.client, w.ctx.node,
                        w.ctx.backend.options.http_timeout_ms));
                    w.lose_connection();
                }
                req = rx.recv() => match req {
                    Some(req) => w.send(req).await,
                    None => break,
                },
            }
        }
    }

    /// The connection ended (or was given up): every request still waiting for its answer is lost.
    fn lose_connection(&mut self) {
        self.conn = None;
        self.pending.clear();
        self.buf.clear();
    }

    /// The proxy reported the front reply frame's fate (and etcd's answer in it).
    async fn on_passed(&mut self, passed: Result<Passed, oneshot::error::RecvError>) {
        let Some(front) = self.pending.front_mut() else { return };
        front.passed = None;
        let Ok(Passed { verdict, frame }) = passed else {
            // The connection ended before the reply came: lost.
            self.pending.pop_front();
            return;
        };
        let (req, op) = (front.req, front.op.clone());
        let result = decode_frame(&frame);
        if let Err(e) = &result {
            debug(format_args!("{} {op:?}: {e}", self.ctx.node));
        }
        // Ground truth first: etcd executed the call whether or not the client hears of it.
        let answer = answer(&self.ctx, &mut self.direct, self.client, &op, result).await;
        if let (
            Some(RaftAnswer::Waiting { revision }),
            RaftOp::Acquire { lease, lock, .. } | RaftOp::Status { lease, lock, .. },
        ) = (&answer, &op)
        {
            start_poll(&self.ctx, self.client, *lease, *lock, *revision);
        }
        let Some(front) = self.pending.front_mut() else { return };
        match verdict {
            Verdict::Swallow => {
                self.pending.pop_front();
            }
            Verdict::Forward { copies, .. } => {
                front.reply = answer.map(|answer| Msg::Raft(RaftMsg::RaftReply { req, op: op.kind(), answer }));
                front.remaining = copies;
                if copies == 0 {
                    self.pending.pop_front();
                }
            }
        }
    }

    /// Hand on every complete response frame that has come through the proxy.
    async fn drain_frames(&mut self) {
        loop {
            if self.buf.is_empty() {
                return;
            }
            let Some(front) = self.pending.front_mut() else {
                // Nothing was expected (cannot happen with whole-frame verdicts): drop the bytes.
                eprintln!("locklab etcd adapter: {} unexpected bytes from etcd", self.buf.len());
                self.buf.clear();
                return;
            };
            if let Some(rx) = front.passed.as_mut() {
                // The proxy reports a frame before forwarding it, so the report is there.
                match rx.try_recv() {
                    Ok(p) => {
                        self.on_passed(Ok(p)).await;
                        continue;
                    }
                    Err(oneshot::error::TryRecvError::Empty) => return,
                    Err(oneshot::error::TryRecvError::Closed) => {
                        self.pending.pop_front();
                        continue;
                    }
                }
            }
            match http::parse(http::Kind::Response, &self.buf) {
                Ok(Some((m, n))) => {
                    self.buf.drain(..n);
                    front.remaining = front.remaining.saturating_sub(1);
                    if let Some(msg) = front.reply.clone() {
                        self.ctx.replier.reply(self.ctx.node, self.client, msg);
                    }
                    if front.remaining == 0 {
                        self.pending.pop_front();
                    }
                    if m.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
                        self.lose_connection();
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    eprintln!("locklab etcd adapter: unreadable response ({e}); reconnecting");
                    self.lose_connection();
                    return;
                }
            }
        }
    }

    /// A connection through the link's proxy: the current one, else a new one (None if the
    /// proxy cannot be reached).
    async fn connection(&mut self) -> Option<&mut Conn> {
        if self.conn.is_none() {
            if self.link.is_none() {
                match self.ctx.backend.link(self.ctx.index, self.client).await {
                    Ok(l) => self.link = Some(l),
                    Err(e) => {
                        eprintln!("locklab etcd adapter: {e}");
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
            self.conn = Some(Conn { r, w, controls });
        }
        self.conn.as_mut()
    }

    /// Send one request, enacting the network's verdict on it with the proxy's controls and
    /// arranging for the verdict on its reply to be taken when the reply passes the proxy.
    async fn send(&mut self, request: Request) {
        let Msg::Raft(RaftMsg::RaftRequest { req, op }) = request.msg else { return };
        let (path, body) = match call_for(&self.ctx, &op) {
            Ok(call) => call,
            Err(answer) => {
                // Refused without asking etcd (lease 0): the adapter answers, under the verdicts.
                if !matches!(request.decision, Decision::Drop { .. }) {
                    self.ctx.send(self.client, Msg::Raft(RaftMsg::RaftReply { req, op: op.kind(), answer }));
                }
                return;
            }
        };
        let frame = request_frame("POST", path, self.ctx.addr, body.to_string().as_bytes());
        let (node, client, policy, scale) = (self.ctx.node, self.client, self.ctx.policy.clone(), self.ctx.time.scale);
        let timeout = self.ctx.backend.http_timeout();
        // Requests behind this one on the connection wait for it: their time starts after its.
        let after = self.pending.back().map(|p| p.deadline - timeout).unwrap_or_else(tokio::time::Instant::now);
        let Some(conn) = self.connection().await else {
            return; // The proxy is gone: the request is lost.
        };
        let (copies, hold) = match request.decision {
            Decision::Drop { .. } => {
                // The proxy swallows it: etcd never sees it. Nobody waits on the report.
                drop(conn.controls.swallow_next_request());
                (0, Duration::ZERO)
            }
            Decision::Deliver { delay_ns, duplicate } => {
                let copies = 1 + duplicate as u32;
                let hold = real_duration(scale, delay_ns);
                drop(conn.controls.on_next_request(Box::new(move || Verdict::Forward { hold, copies })));
                (copies, hold)
            }
        };
        let kind = op.kind().reply_kind();
        let deadline = after.max(tokio::time::Instant::now() + hold) + timeout;
        let mut expected = Vec::new();
        for _ in 0..copies {
            let policy = policy.clone();
            let judge = Box::new(move || match policy.decide(node, client, kind) {
                Decision::Drop { .. } => Verdict::Swallow,
                Decision::Deliver { delay_ns, duplicate } => {
                    Verdict::Forward { hold: real_duration(scale, delay_ns), copies: 1 + duplicate as u32 }
                }
            });
            let passed = Some(conn.controls.on_next_reply(judge));
            expected.push(Pending { req, op: op.clone(), passed, deadline, reply: None, remaining: 0 });
        }
        if conn.w.write_all(&frame).await.is_err() {
            self.lose_connection();
            return;
        }
        self.pending.extend(expected);
    }
}

/// `ns` of scenario time as real time.
fn real_duration(scale: f64, ns: u64) -> Duration {
    Duration::from_nanos((ns as f64 * scale).round() as u64)
}

fn prefix(lock_id: LockId) -> String {
    format!("locklab/lock/{lock_id}/")
}

/// The client's key for `lock_id`: the prefix and the lease in hex, as `Mutex` names it.
fn key(lock_id: LockId, lease: LeaseId) -> String {
    format!("{}{lease:x}", prefix(lock_id))
}

/// The end of the prefix's key range (its last byte plus one, as `clientv3.GetPrefixRangeEnd`).
fn prefix_end(lock_id: LockId) -> String {
    let mut p = prefix(lock_id).into_bytes();
    *p.last_mut().expect("non-empty prefix") += 1;
    String::from_utf8(p).expect("ASCII")
}

/// `Get(prefix, WithFirstCreate())`: the key with the lowest create revision.
fn first_create(lock_id: LockId) -> Value {
    json!({ "request_range": {
        "key": b64(&prefix(lock_id)), "range_end": b64(&prefix_end(lock_id)),
        "sort_order": "ASCEND", "sort_target": "CREATE", "limit": "1",
    }})
}

fn get(k: &str) -> Value {
    json!({ "request_range": { "key": b64(k) } })
}

/// A JSON integer of the gateway (a string, or a number; absent = 0).
fn int(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// The key-values of the `i`-th response of a txn (a range response), empty if none.
fn txn_kvs(resp: &Value, i: usize) -> Vec<Value> {
    resp["responses"][i]["response_range"]["kvs"].as_array().cloned().unwrap_or_default()
}

const GRPC_NOT_FOUND: i64 = 5;

/// The HTTP call (path, JSON body) that carries `op` to etcd; `Err`: the answer, when etcd need
/// not be asked.
fn call_for(ctx: &NodeCtx, op: &RaftOp) -> Result<(&'static str, Value), RaftAnswer> {
    Ok(match *op {
        // Lease 0 is etcd's `NoLease`: a put with it would create a key that never expires.
        RaftOp::Acquire { lease: 0, .. } | RaftOp::KeepAlive { lease: 0 } => return Err(RaftAnswer::LeaseNotFound),
        RaftOp::LeaseGrant { ttl_ms, .. } => {
            let real_ms = ctx.time.real_ms(ttl_ms);
            let ttl_s = real_ms.div_ceil(1000).max(1);
            ("/v3/lease/grant", json!({ "TTL": ttl_s.to_string() }))
        }
        RaftOp::KeepAlive { lease } => ("/v3/lease/keepalive", json!({ "ID": lease.to_string() })),
        RaftOp::Revoke { lease } => ("/v3/lease/revoke", json!({ "ID": lease.to_string() })),
        RaftOp::Acquire { lease, lock: lock_id, .. } => {
            let k = key(lock_id, lease);
            let body = json!({
                "compare": [{ "target": "CREATE", "result": "EQUAL", "key": b64(&k), "create_revision": "0" }],
                "success": [{ "request_put": { "key": b64(&k), "value": "", "lease": lease.to_string() } }, first_create(lock_id)],
                "failure": [get(&k), first_create(lock_id)],
            });
            ("/v3/kv/txn", body)
        }
        RaftOp::Status { lease, lock: lock_id, .. } => {
            ("/v3/kv/txn", json!({ "compare": [], "success": [get(&key(lock_id, lease)), first_create(lock_id)] }))
        }
        RaftOp::Release { lease, lock: lock_id, revision } => {
            let k = key(lock_id, lease);
            let body = json!({
                "compare": [{ "target": "CREATE", "result": "EQUAL", "key": b64(&k), "create_revision": revision.to_string() }],
                "success": [{ "request_delete_range": { "key": b64(&k) } }],
                "failure": [],
            });
            ("/v3/kv/txn", body)
        }
    })
}

/// etcd's answer to `op`'s call (`result`) as the client's answer, recording ground truth. `None`:
/// no answer (etcd failed, or the outcome is unknown). `direct`: a connection straight to the
/// member (not through the proxy), for the adapter's own follow-up reads.
async fn answer(
    ctx: &Arc<NodeCtx>,
    direct: &mut Http,
    client: NodeId,
    op: &RaftOp,
    result: Result<Value, CallError>,
) -> Option<RaftAnswer> {
    let backend = &ctx.backend;
    match *op {
        RaftOp::Acquire { lease: 0, .. } | RaftOp::KeepAlive { lease: 0 } => Some(RaftAnswer::LeaseNotFound),
        RaftOp::LeaseGrant { .. } => {
            let resp = result.ok()?;
            let lease = int(&resp["ID"]);
            let granted_s = int(&resp["TTL"]);
            if lease == 0 || granted_s == 0 {
                return None;
            }
            lock(&backend.shared).lease_clients.insert(lease, client);
            let ttl_ms = ctx.time.scenario_ms((granted_s * 1000) as f64).round() as u64;
            Some(RaftAnswer::LeaseGranted { lease, ttl_ms })
        }
        RaftOp::KeepAlive { .. } => match result {
            Ok(resp) if int(&resp["TTL"]) > 0 => Some(RaftAnswer::KeepAliveOk),
            Ok(_) => Some(RaftAnswer::LeaseNotFound),
            Err(CallError::Etcd { code: GRPC_NOT_FOUND, .. }) => Some(RaftAnswer::LeaseNotFound),
            Err(_) => None,
        },
        RaftOp::Revoke { lease } => {
            match result {
                Ok(_) | Err(CallError::Etcd { code: GRPC_NOT_FOUND, .. }) => {}
                Err(_) => return None,
            }
            let locks = lock(&backend.shared).lease_locks.remove(&lease).unwrap_or_default();
            for l in locks {
                backend.record_head(ctx, direct, l).await;
            }
            Some(RaftAnswer::Revoked)
        }
        RaftOp::Acquire { lease, lock: lock_id, .. } => {
            let resp = match result {
                Ok(r) => r,
                Err(CallError::Etcd { code: GRPC_NOT_FOUND, .. }) => return Some(RaftAnswer::LeaseNotFound),
                Err(_) => return None,
            };
            lock(&backend.shared).lease_locks.entry(lease).or_default().insert(lock_id);
            let mine = if resp["succeeded"].as_bool() == Some(true) {
                int(&resp["header"]["revision"])
            } else {
                txn_kvs(&resp, 0).first().map(|kv| int(&kv["create_revision"]))?
            };
            let owner = txn_kvs(&resp, 1).first().map(|kv| int(&kv["create_revision"]))?;
            if owner == mine {
                backend.record_grant(ctx, lock_id, mine, client, lease);
                Some(RaftAnswer::Acquired { revision: mine })
            } else {
                Some(RaftAnswer::Waiting { revision: mine })
            }
        }
        RaftOp::Status { lease, lock: lock_id, revision } => {
            let resp = result.ok()?;
            let mine = txn_kvs(&resp, 0)
                .first()
                .is_some_and(|kv| int(&kv["create_revision"]) == revision && int(&kv["lease"]) == lease);
            let first = txn_kvs(&resp, 1).first().map(|kv| int(&kv["create_revision"]));
            Some(match (mine, first) {
                (true, Some(r)) if r == revision => {
                    backend.record_grant(ctx, lock_id, revision, client, lease);
                    RaftAnswer::Acquired { revision }
                }
                (true, _) => RaftAnswer::Waiting { revision },
                (false, _) => RaftAnswer::LeaseNotFound,
            })
        }
        RaftOp::Release { lease, lock: lock_id, revision } => {
            let resp = result.ok()?;
            let deleted = resp["succeeded"].as_bool() == Some(true);
            let ok = {
                let mut shared = lock(&backend.shared);
                if deleted {
                    shared.released.insert((lease, lock_id, revision));
                }
                shared.released.contains(&(lease, lock_id, revision))
            };
            if deleted {
                backend.record_head(ctx, direct, lock_id).await;
            }
            Some(RaftAnswer::Released { ok })
        }
    }
}

/// After a `Waiting` answer: poll the waiter's predecessor and send `RaftWatch` once it is gone.
fn start_poll(ctx: &Arc<NodeCtx>, client: NodeId, lease: LeaseId, lock_id: LockId, revision: u64) {
    let period = ctx.backend.options.watch_poll_ms;
    if period == 0 || !lock(&ctx.polls).insert((client, lock_id, revision)) {
        return;
    }
    let me = ctx.clone();
    ctx.spawn(async move {
        let mut http = Http::new(me.addr, me.backend.http_timeout());
        // Mutex.waitDeletes: the last key created before ours.
        let pred = json!({ "request_range": {
            "key": b64(&prefix(lock_id)), "range_end": b64(&prefix_end(lock_id)),
            "sort_order": "DESCEND", "sort_target": "CREATE", "limit": "1",
            "max_create_revision": revision.saturating_sub(1).to_string(),
        }});
        let body = json!({ "compare": [], "success": [get(&key(lock_id, lease)), pred] });
        let mut watched: Option<u64> = None;
        loop {
            tokio::time::sleep(Duration::from_millis(period)).await;
            let Ok(resp) = http.post("/v3/kv/txn", &body).await else { continue };
            let mine = txn_kvs(&resp, 0).first().is_some_and(|kv| int(&kv["create_revision"]) == revision);
            let now = txn_kvs(&resp, 1).first().map(|kv| int(&kv["create_revision"]));
            let gone = match (watched, now) {
                (_, None) => true,
                (Some(w), Some(n)) => w != n,
                (None, Some(n)) => {
                    watched = Some(n);
                    false
                }
            };
            if !mine || gone {
                break;
            }
        }
        me.backend.record_head(&me, &mut http, lock_id).await;
        lock(&me.polls).remove(&(client, lock_id, revision));
        me.send(client, Msg::Raft(RaftMsg::RaftWatch { lock: lock_id, revision }));
    });
}

/// Standard base64 with padding (keys and values in the gateway's JSON).
fn b64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---- A minimal HTTP/1.1 client ----

/// The request the adapter sends for one call: a JSON body with its `Content-Length`.
fn request_frame(method: &str, path: &str, host: SocketAddr, body: &[u8]) -> Vec<u8> {
    http::encode_request(method, path, &host.to_string(), "application/json", body)
}

/// Why a call to etcd brought no answer.
#[derive(Debug)]
enum CallError {
    /// No connection: the request was not sent (a crashed member refuses connections).
    Unreachable(String),
    /// Sent, but no (complete) answer: the outcome is unknown.
    Unknown(String),
    /// etcd answered with an error (`code`: the gRPC status code).
    Etcd { code: i64, message: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "unreachable: {e}"),
            CallError::Unknown(e) => write!(f, "no answer: {e}"),
            CallError::Etcd { code, message } => write!(f, "etcd error {code}: {message}"),
        }
    }
}

/// One keep-alive HTTP/1.1 connection straight to an etcd member's client port, one call at a
/// time, for the adapter's own reads (not the clients' requests, which go through the fault
/// proxy). It handles exactly what the gateway sends: `Content-Length` bodies, and `chunked`
/// bodies with trailers.
struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Http {
    fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Http { addr, conn: None, timeout }
    }

    /// POST `body` as JSON; the answer's JSON (the `result` of a streamed answer).
    async fn post(&mut self, path: &str, body: &Value) -> Result<Value, CallError> {
        let result = self.post_inner(path, body).await;
        if let Err(e) = &result {
            if std::env::var_os("LOCKLAB_LIVE_DEBUG").is_some() {
                eprintln!("etcd {} {path}: {e}", self.addr);
            }
        }
        result
    }

    async fn post_inner(&mut self, path: &str, body: &Value) -> Result<Value, CallError> {
        let (status, text) = self.request("POST", path, Some(body.to_string())).await?;
        decode(status, &text)
    }

    /// One request on the kept connection (opened, or reopened, as needed): status and body.
    async fn request(&mut self, method: &str, path: &str, body: Option<String>) -> Result<(u16, Vec<u8>), CallError> {
        // A kept connection the server closed (it crashed, or was restarted) reads EOF: reopen.
        if let Some(conn) = &self.conn {
            let mut probe = [0u8; 1];
            let alive = conn.buffer().is_empty()
                && matches!(conn.get_ref().try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            if !alive {
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            let stream = tokio::time::timeout(self.timeout, TcpStream::connect(self.addr))
                .await
                .map_err(|_| CallError::Unreachable("connect timed out".into()))?
                .map_err(|e| CallError::Unreachable(e.to_string()))?;
            let _ = stream.set_nodelay(true);
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().expect("connected");
        let frame = request_frame(method, path, self.addr, body.unwrap_or_default().as_bytes());
        let exchange = async {
            conn.get_mut().write_all(&frame).await?;
            read_response(conn).await
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((status, close, body))) => {
                if close {
                    self.conn = None;
                }
                Ok((status, body))
            }
            Ok(Err(e)) => {
                self.conn = None;
                Err(CallError::Unknown(e.to_string()))
            }
            Err(_) => {
                self.conn = None;
                Err(CallError::Unknown(format!("no answer within {} ms", self.timeout.as_millis())))
            }
        }
    }
}

/// The gateway's answer (HTTP status and body) as the call's result: the JSON (the `result` of a
/// streamed answer) or etcd's error.
fn decode(status: u16, body: &[u8]) -> Result<Value, CallError> {
    // A streamed answer (keep-alive) is one JSON object per line; we sent one request message.
    let value: Value = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
        .ok_or_else(|| CallError::Unknown(format!("empty body (HTTP {status})")))?
        .map_err(|e| CallError::Unknown(format!("bad JSON (HTTP {status}): {e}")))?;
    let error = |v: &Value| {
        let code = v["code"].as_i64().or_else(|| v["grpc_code"].as_i64()).unwrap_or(-1);
        let message = v["message"].as_str().or_else(|| v["error"].as_str()).unwrap_or("").to_string();
        CallError::Etcd { code, message }
    };
    if status != 200 {
        return Err(error(&value));
    }
    if let Some(e) = value.get("error") {
        return Err(if e.is_object() { error(e) } else { error(&value) });
    }
    match value.get("result") {
        Some(r) => Ok(r.clone()),
        None => Ok(value),
    }
}

/// A whole response frame, as the fault proxy reports it, as the call's result.
fn decode_frame(frame: &[u8]) -> Result<Value, CallError> {
    match http::parse(http::Kind::Response, frame) {
        Ok(Some((m, _))) => decode(m.status().unwrap_or(0), &m.body),
        Ok(None) => Err(CallError::Unknown("incomplete response frame".into())),
        Err(e) => Err(CallError::Unknown(format!("unreadable response frame: {e}"))),
    }
}

fn bad(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

async fn read_line(conn: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Status, "close the connection after this", body.
async fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool, Vec<u8>)> {
    let status_line = read_line(conn).await?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        let line = read_line(conn).await?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|e| bad(format!("Content-Length: {e}")))?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(conn).await?;
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|e| bad(format!("chunk size {size_line:?}: {e}")))?;
            if size == 0 {
                // Trailers (the gateway sends `Grpc-Trailer-…`), up to an empty line.
                while !read_line(conn).await?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..]).await?;
            read_line(conn).await?; // the CRLF after the chunk
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        conn.read_exact(&mut body).await?;
    } else {
        conn.read_to_end(&mut body).await?;
        close = true;
    }
    Ok((status, close, body))
}

/// Does the member at `addr` report `/health` true (it has a leader)?
async fn health(addr: SocketAddr) -> bool {
    let mut http = Http::new(addr, Duration::from_millis(1000));
    match http.request("GET", "/health", None).await {
        Ok((200, body)) => serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["health"] == "true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{LinkPolicy, Recorder, Replier, TimeMap};
    use crate::procs::registered_pids;
    use crate::proxy::Framer;

    const LOCK: LockId = 7;
    const C1: NodeId = 1;
    const C2: NodeId = 2;
    const C3: NodeId = 3;

    fn deliver() -> Decision {
        Decision::Deliver { delay_ns: 0, duplicate: false }
    }

    /// Delivers everything, except replies whose kind is in `drop`, which it drops.
    #[derive(Default)]
    struct Policy {
        drop: Mutex<HashSet<&'static str>>,
        delay_ns: Mutex<u64>,
    }

    impl LinkPolicy for Policy {
        fn decide(&self, _from: NodeId, _to: NodeId, kind: &'static str) -> Decision {
            if lock(&self.drop).contains(kind) {
                Decision::Drop { why: "test" }
            } else {
                Decision::Deliver { delay_ns: *lock(&self.delay_ns), duplicate: false }
            }
        }
    }

    /// Server nodes are 100 + index.
    struct Harness {
        backend: Arc<EtcdBackend>,
        inboxes: Vec<mpsc::UnboundedSender<Request>>,
        replies: mpsc::UnboundedReceiver<(NodeId, NodeId, Msg)>,
        grants: Arc<Mutex<Vec<(NodeId, Observation)>>>,
        policy: Arc<Policy>,
        serves: Vec<tokio::task::JoinHandle<()>>,
        next_req: u64,
        watches: Vec<(NodeId, LockId, u64)>,
    }

    fn etcd_absent() -> bool {
        if find_binary("etcd", None).is_err() {
            eprintln!("SKIPPED: `etcd` is not on the PATH (apt-get install etcd-server)");
            return true;
        }
        false
    }

    impl Harness {
        async fn start(servers: usize, options: EtcdOptions) -> Harness {
            Harness::start_scaled(servers, options, 1.0).await
        }

        async fn start_scaled(servers: usize, options: EtcdOptions, scale: f64) -> Harness {
            let backend = EtcdBackend::start(servers, options).await.expect("etcd starts");
            eprintln!(
                "{}: {} member(s) healthy after {} ms",
                backend.describe(),
                backend.member_count(),
                backend.start_elapsed().as_millis()
            );
            let (reply_tx, replies) = mpsc::unbounded_channel();
            let grants = Arc::new(Mutex::new(Vec::new()));
            let policy = Arc::new(Policy::default());
            let (mut inboxes, mut serves) = (Vec::new(), Vec::new());
            for index in 0..servers {
                let (tx, inbox) = mpsc::unbounded_channel();
                let reply_tx = reply_tx.clone();
                let g = grants.clone();
                let io = ServerIo {
                    node: 100 + index,
                    index,
                    inbox,
                    replier: Replier::new(move |from, to, msg| {
                        let _ = reply_tx.send((from, to, msg));
                    }),
                    recorder: Recorder::new(move |node, obs| lock(&g).push((node, obs))),
                    policy: policy.clone(),
                    time: TimeMap::new(scale),
                };
                serves.push(tokio::spawn(backend.clone().serve(io)));
                inboxes.push(tx);
            }
            Harness { backend, inboxes, replies, grants, policy, serves, next_req: 0, watches: Vec::new() }
        }

        fn send(&mut self, server: usize, client: NodeId, op: RaftOp, decision: Decision) -> u64 {
            self.next_req += 1;
            let req = self.next_req;
            let msg = Msg::Raft(RaftMsg::RaftRequest { req, op });
            self.inboxes[server].send(Request { from: client, msg, decision }).expect("serving");
            req
        }

        /// The answer to request `req` of `client`, if it comes within `within`.
        async fn answer(&mut self, client: NodeId, req: u64, within: Duration) -> Option<RaftAnswer> {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                let (_, to, msg) = tokio::time::timeout_at(deadline, self.replies.recv()).await.ok()??;
                match msg {
                    Msg::Raft(RaftMsg::RaftReply { req: r, answer, .. }) if to == client && r == req => {
                        return Some(answer)
                    }
                    Msg::Raft(RaftMsg::RaftWatch { lock, revision }) => self.watches.push((to, lock, revision)),
                    _ => {}
                }
            }
        }

        async fn call(&mut self, server: usize, client: NodeId, op: RaftOp) -> RaftAnswer {
            let req = self.send(server, client, op.clone(), deliver());
            match self.answer(client, req, Duration::from_secs(10)).await {
                Some(a) => a,
                None => panic!("no answer to {op:?} from client {client}"),
            }
        }

        async fn grant(&mut self, server: usize, client: NodeId, ttl_ms: u64) -> (LeaseId, u64) {
            match self.call(server, client, RaftOp::LeaseGrant { request_id: 1, ttl_ms }).await {
                RaftAnswer::LeaseGranted { lease, ttl_ms } => (lease, ttl_ms),
                other => panic!("lease grant: {other:?}"),
            }
        }

        /// Wait (bounded) for a watch event to `client` for `revision`.
        async fn watch(&mut self, client: NodeId, revision: u64, within: Duration) -> bool {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                if self.watches.contains(&(client, LOCK, revision)) {
                    return true;
                }
                let Ok(Some((_, to, msg))) = tokio::time::timeout_at(deadline, self.replies.recv()).await else {
                    return false;
                };
                if let Msg::Raft(RaftMsg::RaftWatch { lock, revision }) = msg {
                    self.watches.push((to, lock, revision));
                }
            }
        }

        fn grants(&self) -> Vec<(LockId, NodeId, u64, Option<u64>)> {
            lock(&self.grants)
                .iter()
                .filter_map(|(_, o)| match *o {
                    Observation::Grant { lock, holder, value, token } => Some((lock, holder, value, token)),
                    _ => None,
                })
                .collect()
        }

        /// Shut down and check that nothing is left: no member process, no temporary directory.
        async fn shutdown_and_check_leaks(self) {
            let pids = self.backend.pids();
            let dir = self.backend.scratch_path().to_path_buf();
            assert!(!pids.is_empty() && dir.is_dir());
            drop(self.inboxes);
            for s in self.serves {
                tokio::time::timeout(Duration::from_secs(5), s)
                    .await
                    .expect("serve ends when its inbox closes")
                    .unwrap();
            }
            self.backend.clone().shutdown().await;
            self.backend.shutdown().await; // idempotent
            for pid in pids {
                // SAFETY: signal 0 only checks whether the process exists.
                let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
                assert!(!alive, "etcd pid {pid} still exists after shutdown");
                assert!(!registered_pids().contains(&pid));
            }
            assert!(!dir.exists(), "{} left behind", dir.display());
        }
    }

    fn acquire(lease: LeaseId) -> RaftOp {
        RaftOp::Acquire { request_id: 1, lease, lock: LOCK }
    }

    fn status(lease: LeaseId, revision: u64) -> RaftOp {
        RaftOp::Status { lease, lock: LOCK, revision }
    }

    fn release(lease: LeaseId, revision: u64) -> RaftOp {
        RaftOp::Release { lease, lock: LOCK, revision }
    }

    /// The recipe end to end: the first acquire holds with its create revision as token; the second
    /// waits; revoking the holder's lease deletes its key, the waiter gets a watch event and its
    /// status says it holds, with a higher revision; keep-alive of the revoked lease is refused;
    /// retries and releases are idempotent; etcd's minimum TTL shows in the granted TTL.
    #[tokio::test]
    async fn recipe_acquire_wait_revoke_hands_the_lock_on() {
        if etcd_absent() {
            return;
        }
        let t0 = Instant::now();
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, ttl1) = h.grant(0, C1, 30_000).await;
        assert_eq!(ttl1, 30_000);
        let (l2, _) = h.grant(0, C2, 30_000).await;
        assert_ne!(l1, l2);
        // Below etcd's minimum TTL: ceil(1.5 × 1000 ms election timeout) = 2 s granted.
        let (_, ttl3) = h.grant(0, C3, 300).await;
        assert_eq!(ttl3, 2_000, "etcd raises a TTL below its minimum");

        let RaftAnswer::Acquired { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };
        assert_eq!(h.call(0, C1, acquire(l1)).await, RaftAnswer::Acquired { revision: r1 }, "a retry finds its key");
        let RaftAnswer::Waiting { revision: r2 } = h.call(0, C2, acquire(l2)).await else { panic!("c2 waits") };
        assert!(r2 > r1);
        assert_eq!(h.call(0, C2, status(l2, r2)).await, RaftAnswer::Waiting { revision: r2 });
        assert_eq!(h.call(0, C1, status(l1, r1)).await, RaftAnswer::Acquired { revision: r1 });

        assert_eq!(h.call(0, C1, RaftOp::Revoke { lease: l1 }).await, RaftAnswer::Revoked);
        assert!(h.watch(C2, r2, Duration::from_secs(5)).await, "the waiter is told its predecessor went");
        assert_eq!(h.call(0, C2, status(l2, r2)).await, RaftAnswer::Acquired { revision: r2 });
        assert_eq!(h.call(0, C1, RaftOp::KeepAlive { lease: l1 }).await, RaftAnswer::LeaseNotFound);
        assert_eq!(h.call(0, C2, RaftOp::KeepAlive { lease: l2 }).await, RaftAnswer::KeepAliveOk);
        assert_eq!(h.call(0, C1, status(l1, r1)).await, RaftAnswer::LeaseNotFound);
        assert_eq!(h.call(0, C1, acquire(l1)).await, RaftAnswer::LeaseNotFound, "a put with a revoked lease fails");
        assert_eq!(h.call(0, C1, RaftOp::Revoke { lease: l1 }).await, RaftAnswer::Revoked, "revoke is idempotent");

        assert_eq!(h.call(0, C2, release(l2, r1)).await, RaftAnswer::Released { ok: false }, "not that key");
        assert_eq!(h.call(0, C2, release(l2, r2)).await, RaftAnswer::Released { ok: true });
        assert_eq!(h.call(0, C2, release(l2, r2)).await, RaftAnswer::Released { ok: true }, "a repeat answers ok");
        assert_eq!(h.call(0, C2, status(l2, r2)).await, RaftAnswer::LeaseNotFound);

        assert_eq!(h.grants(), vec![(LOCK, C1, l1, Some(r1)), (LOCK, C2, l2, Some(r2))]);
        h.shutdown_and_check_leaks().await;
        eprintln!("recipe test: {} ms", t0.elapsed().as_millis());
    }

    /// At time scale 0.1 a scenario TTL of 10 s is 1 s of real time; etcd grants whole seconds, so
    /// 12 s (1.2 s real) becomes 2 s real = 20 s of scenario time, and the answer says so. A
    /// request delay of 1 s of scenario time is 100 ms real.
    #[tokio::test]
    async fn time_scale_converts_ttls_and_delays() {
        if etcd_absent() {
            return;
        }
        let options = EtcdOptions { heartbeat_ms: 50, election_ms: 500, ..EtcdOptions::default() };
        let mut h = Harness::start_scaled(1, options, 0.1).await;
        assert_eq!(h.grant(0, C1, 10_000).await.1, 10_000);
        let (l2, ttl2) = h.grant(0, C2, 12_000).await;
        assert_eq!(ttl2, 20_000, "rounded up to whole real seconds");
        let sent = Instant::now();
        let req = h.send(
            0,
            C2,
            RaftOp::KeepAlive { lease: l2 },
            Decision::Deliver { delay_ns: 1_000_000_000, duplicate: false },
        );
        assert_eq!(h.answer(C2, req, Duration::from_secs(5)).await, Some(RaftAnswer::KeepAliveOk));
        let took = sent.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_millis(900), "{took:?}");
        h.shutdown_and_check_leaks().await;
    }

    /// Jepsen's etcd 3.4.3 finding (scenario #10): a waiter whose lease is gone must not be told it
    /// holds when its predecessor goes. Here the waiter's key goes with its lease, and its status
    /// says so; no grant is recorded for it.
    #[tokio::test]
    async fn a_waiter_without_its_lease_is_not_granted() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, _) = h.grant(0, C1, 30_000).await;
        let (l2, _) = h.grant(0, C2, 30_000).await;
        let RaftAnswer::Acquired { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };
        let RaftAnswer::Waiting { revision: r2 } = h.call(0, C2, acquire(l2)).await else { panic!("c2 waits") };
        assert_eq!(h.call(0, C2, RaftOp::Revoke { lease: l2 }).await, RaftAnswer::Revoked);
        assert!(h.watch(C2, r2, Duration::from_secs(5)).await, "a waiter whose own key went is told");
        assert_eq!(h.call(0, C1, release(l1, r1)).await, RaftAnswer::Released { ok: true });
        assert_eq!(h.call(0, C2, status(l2, r2)).await, RaftAnswer::LeaseNotFound);
        assert_eq!(h.grants(), vec![(LOCK, C1, l1, Some(r1))]);
        h.shutdown_and_check_leaks().await;
    }

    /// Without keep-alives the holder's lease expires (etcd's leader revokes it) and the waiter is
    /// promoted. A 1 s TTL needs a short election timeout (minimum TTL = ceil(1.5 × 500 ms) = 1 s).
    #[tokio::test]
    async fn lease_expiry_hands_the_lock_on() {
        if etcd_absent() {
            return;
        }
        let options = EtcdOptions { heartbeat_ms: 50, election_ms: 500, ..EtcdOptions::default() };
        let mut h = Harness::start(1, options).await;
        let (l1, ttl1) = h.grant(0, C1, 1_000).await;
        assert_eq!(ttl1, 1_000);
        let (l2, _) = h.grant(0, C2, 30_000).await;
        let granted = Instant::now();
        let RaftAnswer::Acquired { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };
        let RaftAnswer::Waiting { revision: r2 } = h.call(0, C2, acquire(l2)).await else { panic!("c2 waits") };
        assert!(h.watch(C2, r2, Duration::from_secs(10)).await, "the holder's lease expires");
        let waited = granted.elapsed();
        eprintln!("lease of 1 s expired and the waiter was told after {} ms", waited.as_millis());
        assert!(waited >= Duration::from_millis(900), "not before the TTL: {waited:?}");
        assert_eq!(h.call(0, C2, status(l2, r2)).await, RaftAnswer::Acquired { revision: r2 });
        assert_eq!(h.call(0, C1, RaftOp::KeepAlive { lease: l1 }).await, RaftAnswer::LeaseNotFound);
        assert_eq!(h.call(0, C1, status(l1, r1)).await, RaftAnswer::LeaseNotFound);
        assert_eq!(h.grants(), vec![(LOCK, C1, l1, Some(r1)), (LOCK, C2, l2, Some(r2))]);
        h.shutdown_and_check_leaks().await;
    }

    /// A dropped request never reaches etcd; a dropped reply is executed and swallowed; a delayed
    /// reply arrives no sooner than its delay.
    #[tokio::test]
    async fn network_verdicts_are_enacted() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, _) = h.grant(0, C1, 30_000).await;
        let (l2, _) = h.grant(0, C2, 30_000).await;
        let (l3, _) = h.grant(0, C3, 30_000).await;

        // Dropped request: c1's key is never created, so c2 gets the lock.
        let req = h.send(0, C1, acquire(l1), Decision::Drop { why: "test" });
        assert_eq!(h.answer(C1, req, Duration::from_millis(500)).await, None);
        let RaftAnswer::Acquired { revision: r2 } = h.call(0, C2, acquire(l2)).await else { panic!("c2 holds") };

        // Dropped reply: c1's key is created (executed), the answer swallowed.
        lock(&h.policy.drop).insert("acquire_reply");
        let req = h.send(0, C1, acquire(l1), deliver());
        assert_eq!(h.answer(C1, req, Duration::from_millis(1000)).await, None);
        lock(&h.policy.drop).clear();
        let RaftAnswer::Waiting { revision: r3 } = h.call(0, C3, acquire(l3)).await else { panic!("c3 waits") };
        // c1's retry finds the key of the swallowed execution: created before c3's.
        let RaftAnswer::Waiting { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 waits") };
        assert!(r2 < r1 && r1 < r3, "r2={r2} r1={r1} r3={r3}");

        // Delayed reply (300 ms of scenario time at scale 1).
        *lock(&h.policy.delay_ns) = 300_000_000;
        let sent = Instant::now();
        assert_eq!(h.call(0, C2, status(l2, r2)).await, RaftAnswer::Acquired { revision: r2 });
        assert!(sent.elapsed() >= Duration::from_millis(300));
        *lock(&h.policy.delay_ns) = 0;

        // Delayed request, duplicated: executed twice, answered twice.
        let req = h.send(0, C1, status(l1, r1), Decision::Deliver { delay_ns: 200_000_000, duplicate: true });
        let sent = Instant::now();
        assert_eq!(h.answer(C1, req, Duration::from_secs(5)).await, Some(RaftAnswer::Waiting { revision: r1 }));
        assert!(sent.elapsed() >= Duration::from_millis(200));
        assert_eq!(h.answer(C1, req, Duration::from_secs(5)).await, Some(RaftAnswer::Waiting { revision: r1 }));
        h.shutdown_and_check_leaks().await;
    }

    /// Straight to member 0, not through any proxy: etcd's current revision, and the create
    /// revision of `k` if it exists.
    async fn read_key(h: &Harness, k: &str) -> (u64, Option<u64>) {
        let mut direct = Http::new(h.backend.client_addr(0), Duration::from_secs(2));
        let resp = direct.post("/v3/kv/range", &json!({ "key": b64(k) })).await.expect("a direct read");
        let kv = resp["kvs"].as_array().and_then(|kvs| kvs.first()).map(|kv| int(&kv["create_revision"]));
        (int(&resp["header"]["revision"]), kv)
    }

    /// The adapter's connections go through the link's fault proxy: there is one per (server,
    /// client) link that has sent something.
    fn proxied(h: &Harness, server: usize, client: NodeId) -> bool {
        lock(&h.backend.links).get(&(server, client)).is_some_and(|l| l.upstream() == h.backend.client_addr(server))
    }

    /// The proxy's HTTP framer on what etcd 3.4's gateway really sends, three requests pipelined
    /// on one connection (as the adapter sends them): a unary answer with `Content-Length`, the
    /// keep-alive stream's chunked answer, and an error — chunked, with a trailer.
    #[tokio::test]
    async fn the_http_framer_frames_what_etcd_really_sends() {
        if etcd_absent() {
            return;
        }
        let backend = EtcdBackend::start(1, EtcdOptions::default()).await.expect("etcd starts");
        let addr = backend.client_addr(0);
        let no_lease = 0x7fff_0000_1234_u64;
        let calls = [
            ("/v3/lease/grant", json!({ "TTL": "30" })),
            ("/v3/lease/keepalive", json!({ "ID": no_lease.to_string() })),
            ("/v3/kv/put", json!({ "key": b64("k"), "value": "", "lease": no_lease.to_string() })),
        ];
        let mut bytes = Vec::new();
        for (path, body) in &calls {
            bytes.extend(request_frame("POST", path, addr, body.to_string().as_bytes()));
        }
        let requests = http::Http1(http::Kind::Request);
        let mut at = 0;
        for _ in &calls {
            let n = requests.frame_len(&bytes[at..]).unwrap().expect("our own request frames");
            at += n;
        }
        assert_eq!(at, bytes.len());
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let responses = http::Http1(http::Kind::Response);
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while frames.len() < calls.len() {
            if let Some(n) = responses.frame_len(&buf).expect("etcd speaks HTTP/1.1") {
                frames.push(buf.drain(..n).collect::<Vec<u8>>());
                continue;
            }
            let read = tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await.expect("answers within 5 s");
            assert!(read.unwrap() > 0, "etcd closed the connection after {} answers", frames.len());
        }
        assert!(buf.is_empty(), "nothing after the third answer");
        let messages: Vec<http::Message> =
            frames.iter().map(|f| http::parse(http::Kind::Response, f).unwrap().unwrap().0).collect();
        for f in &frames {
            eprintln!("--- {} bytes:\n{}", f.len(), String::from_utf8_lossy(f));
        }
        assert_eq!(messages[0].status(), Some(200));
        assert!(messages[0].header("content-length").is_some(), "a unary answer has a length");
        assert!(int(&decode_frame(&frames[0]).unwrap()["ID"]) > 0);
        assert_eq!(messages[1].status(), Some(200));
        assert_eq!(messages[1].header("transfer-encoding"), Some("chunked"), "the keep-alive stream");
        assert!(matches!(decode_frame(&frames[1]), Ok(r) if int(&r["TTL"]) == 0), "TTL 0: no such lease");
        assert_ne!(messages[2].status(), Some(200));
        assert_eq!(messages[2].header("transfer-encoding"), Some("chunked"), "an error");
        assert!(!messages[2].trailers.is_empty(), "with trailers");
        assert!(matches!(decode_frame(&frames[2]), Err(CallError::Etcd { code: GRPC_NOT_FOUND, .. })));
        backend.shutdown().await;
    }

    /// A reply dropped by the proxy: etcd executed the acquire (the key exists, the grant is
    /// recorded from the swallowed frame), the client got no answer, and the connection stays in
    /// step — the next request on it gets its own answer.
    #[tokio::test]
    async fn proxy_dropped_reply_the_key_exists_and_the_client_hears_nothing() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, _) = h.grant(0, C1, 30_000).await;
        assert!(proxied(&h, 0, C1));
        assert_eq!(read_key(&h, &key(LOCK, l1)).await.1, None);
        lock(&h.policy.drop).insert("acquire_reply");
        let req = h.send(0, C1, acquire(l1), deliver());
        assert_eq!(h.answer(C1, req, Duration::from_millis(1000)).await, None, "the reply was swallowed");
        lock(&h.policy.drop).clear();
        let (_, created) = read_key(&h, &key(LOCK, l1)).await;
        let r1 = created.expect("etcd executed the acquire: the lock key exists");
        assert_eq!(h.grants(), vec![(LOCK, C1, l1, Some(r1))], "ground truth from the swallowed reply");
        // The same connection, in step: the status gets the status answer.
        assert_eq!(h.call(0, C1, status(l1, r1)).await, RaftAnswer::Acquired { revision: r1 });
        assert_eq!(h.call(0, C1, RaftOp::KeepAlive { lease: l1 }).await, RaftAnswer::KeepAliveOk);
        h.shutdown_and_check_leaks().await;
    }

    /// A request dropped by the proxy never reaches etcd: its revision does not move, the key is
    /// not created, no answer comes; the next request on the connection is served.
    #[tokio::test]
    async fn proxy_dropped_request_never_reaches_etcd() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, _) = h.grant(0, C1, 30_000).await;
        let (before, _) = read_key(&h, &key(LOCK, l1)).await;
        let req = h.send(0, C1, acquire(l1), Decision::Drop { why: "test" });
        assert_eq!(h.answer(C1, req, Duration::from_millis(700)).await, None);
        let (after, created) = read_key(&h, &key(LOCK, l1)).await;
        assert_eq!((after, created), (before, None), "etcd never saw the put");
        assert!(proxied(&h, 0, C1));
        let RaftAnswer::Acquired { revision } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };
        assert_eq!(revision, before + 1, "the next request is the next write etcd sees");
        h.shutdown_and_check_leaks().await;
    }

    /// A request held by the proxy reaches etcd no earlier than its delay: a direct read during
    /// the hold misses the key; the answer comes after the hold, and the key is there.
    #[tokio::test]
    async fn proxy_delayed_request_reaches_etcd_after_its_delay() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, _) = h.grant(0, C1, 30_000).await;
        let sent = Instant::now();
        let req = h.send(0, C1, acquire(l1), Decision::Deliver { delay_ns: 600_000_000, duplicate: false });
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(read_key(&h, &key(LOCK, l1)).await.1, None, "held in the proxy: not executed yet");
        let answer = h.answer(C1, req, Duration::from_secs(5)).await;
        let took = sent.elapsed();
        let Some(RaftAnswer::Acquired { revision }) = answer else { panic!("{answer:?}") };
        assert!(took >= Duration::from_millis(600), "answered after {took:?}");
        assert_eq!(read_key(&h, &key(LOCK, l1)).await.1, Some(revision));
        h.shutdown_and_check_leaks().await;
    }

    /// The adapter does not hang on a connection that ends or stops answering: a request held in a
    /// severed proxy is lost (no answer, never executed) and the next one reconnects; a request to
    /// a paused member is given up after `http_timeout_ms`, and after SIGCONT a new connection is
    /// served.
    #[tokio::test]
    async fn proxy_lost_connections_are_reopened() {
        if etcd_absent() {
            return;
        }
        let options = EtcdOptions { http_timeout_ms: 700, ..EtcdOptions::default() };
        let mut h = Harness::start(1, options).await;
        let (l1, _) = h.grant(0, C1, 30_000).await;
        let req = h.send(0, C1, acquire(l1), Decision::Deliver { delay_ns: 500_000_000, duplicate: false });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let link = lock(&h.backend.links).get(&(0, C1)).cloned().expect("a proxy link");
        link.sever_all();
        drop(link);
        assert_eq!(h.answer(C1, req, Duration::from_millis(1000)).await, None, "lost with its connection");
        assert_eq!(read_key(&h, &key(LOCK, l1)).await.1, None, "never executed");
        let RaftAnswer::Acquired { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };

        let pid = h.backend.pids()[0];
        h.backend.clone().fault(0, ServerFault::Pause).await.unwrap();
        // SIGSTOP takes effect asynchronously: send only once the member is stopped (under load,
        // a request sent at once was answered first).
        assert_eq!(await_state(pid, 'T', true).await, 'T', "SIGSTOP stops the process");
        let req = h.send(0, C1, status(l1, r1), deliver());
        assert_eq!(h.answer(C1, req, Duration::from_millis(1500)).await, None, "a paused member answers nothing");
        h.backend.clone().fault(0, ServerFault::Resume).await.unwrap();
        assert_ne!(await_state(pid, 'T', false).await, 'T', "SIGCONT continues it");
        // The held request was given up with its connection (its late answer is not delivered);
        // the next request opens a new connection and is answered.
        assert_eq!(h.call(0, C1, status(l1, r1)).await, RaftAnswer::Acquired { revision: r1 });
        assert_eq!(h.answer(C1, req, Duration::from_millis(300)).await, None);
        h.shutdown_and_check_leaks().await;
    }

    /// Wait (at most 2 s) until the process's state is `want` or not: a signal to a multi-threaded
    /// process takes effect asynchronously.
    async fn await_state(pid: u32, want: char, equal: bool) -> char {
        let mut state = process_state(pid);
        for _ in 0..100 {
            if (state == want) == equal {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            state = process_state(pid);
        }
        state
    }

    fn process_state(pid: u32) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "pid (comm) S …": the state follows the last ')'.
        stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).unwrap_or('?')
    }

    /// SIGSTOP holds requests (answered after SIGCONT); SIGKILL loses them (no answer); a restart
    /// on the same data directory still has the lease and the key (etcd fsyncs its WAL).
    #[tokio::test]
    async fn pause_resume_crash_restart() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let (l1, _) = h.grant(0, C1, 60_000).await;
        let RaftAnswer::Acquired { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };

        let pid = h.backend.pids()[0];
        h.backend.clone().fault(0, ServerFault::Pause).await.unwrap();
        assert_eq!(await_state(pid, 'T', true).await, 'T', "SIGSTOP stops the process");
        let req = h.send(0, C1, status(l1, r1), deliver());
        assert_eq!(h.answer(C1, req, Duration::from_millis(700)).await, None, "a paused etcd answers nothing");
        h.backend.clone().fault(0, ServerFault::Resume).await.unwrap();
        assert_ne!(await_state(pid, 'T', false).await, 'T', "SIGCONT continues it");
        assert_eq!(
            h.answer(C1, req, Duration::from_secs(5)).await,
            Some(RaftAnswer::Acquired { revision: r1 }),
            "the held request is answered after SIGCONT"
        );

        h.backend.clone().fault(0, ServerFault::Crash).await.unwrap();
        assert!(h.backend.pids().is_empty());
        let req = h.send(0, C1, status(l1, r1), deliver());
        assert_eq!(h.answer(C1, req, Duration::from_millis(500)).await, None, "a crashed etcd answers nothing");
        let restarted = Instant::now();
        h.backend.clone().fault(0, ServerFault::Restart).await.unwrap();
        eprintln!("etcd serving again {} ms after the restart", restarted.elapsed().as_millis());
        // The first request after the restart may meet a member still electing itself: bounded retries.
        let mut answer = None;
        for _ in 0..20 {
            let req = h.send(0, C1, status(l1, r1), deliver());
            answer = h.answer(C1, req, Duration::from_millis(500)).await;
            if answer.is_some() {
                break;
            }
        }
        assert_eq!(answer, Some(RaftAnswer::Acquired { revision: r1 }), "key and lease survive a crash");
        assert_eq!(h.call(0, C1, RaftOp::KeepAlive { lease: l1 }).await, RaftAnswer::KeepAliveOk);

        let jump = h.backend.clone().fault(0, ServerFault::ClockJump { by_ns: 1_000_000_000 }).await;
        assert!(jump.is_err(), "a clock jump on etcd is refused, not pretended");
        h.shutdown_and_check_leaks().await;
    }

    /// Three members, one per server node: a lock taken through one member is seen through the
    /// others; a crashed leader's member rejoins after its restart.
    #[tokio::test]
    async fn three_member_cluster() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(3, EtcdOptions::default()).await;
        assert_eq!(h.backend.member_count(), 3);
        assert_eq!(h.backend.pids().len(), 3);
        let (l1, _) = h.grant(0, C1, 30_000).await;
        let (l2, _) = h.grant(1, C2, 30_000).await;
        let RaftAnswer::Acquired { revision: r1 } = h.call(0, C1, acquire(l1)).await else { panic!("c1 holds") };
        let RaftAnswer::Waiting { revision: r2 } = h.call(1, C2, acquire(l2)).await else { panic!("c2 waits") };
        assert_eq!(h.call(2, C1, release(l1, r1)).await, RaftAnswer::Released { ok: true });
        assert!(h.watch(C2, r2, Duration::from_secs(5)).await);
        assert_eq!(h.call(2, C2, status(l2, r2)).await, RaftAnswer::Acquired { revision: r2 });
        assert_eq!(h.grants(), vec![(LOCK, C1, l1, Some(r1)), (LOCK, C2, l2, Some(r2))]);

        // SIGKILL the leader; the others serve after an election; the restarted member rejoins
        // from its data directory and serves the same state.
        let leader = h.backend.leader_index().await.expect("a leader");
        h.backend.clone().fault(leader, ServerFault::Crash).await.unwrap();
        assert_eq!(h.backend.pids().len(), 2);
        let other = (leader + 1) % 3;
        let mut answer = None;
        for _ in 0..20 {
            let req = h.send(other, C2, status(l2, r2), deliver());
            answer = h.answer(C2, req, Duration::from_millis(1000)).await;
            if answer.is_some() {
                break;
            }
        }
        assert_eq!(answer, Some(RaftAnswer::Acquired { revision: r2 }), "two of three serve");
        h.backend.clone().fault(leader, ServerFault::Restart).await.unwrap();
        let mut answer = None;
        for _ in 0..20 {
            let req = h.send(leader, C2, status(l2, r2), deliver());
            answer = h.answer(C2, req, Duration::from_millis(1000)).await;
            if answer.is_some() {
                break;
            }
        }
        assert_eq!(answer, Some(RaftAnswer::Acquired { revision: r2 }), "the restarted member rejoins");
        h.shutdown_and_check_leaks().await;
    }

    /// SIGSTOP of the leader of three: requests through it hang, the two others elect a new
    /// leader and serve; after SIGCONT the held request is answered.
    #[tokio::test]
    async fn three_members_survive_a_paused_leader() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(3, EtcdOptions::default()).await;
        let leader = h.backend.leader_index().await.expect("a leader");
        let (other, third) = ((leader + 1) % 3, (leader + 2) % 3);
        let (l1, _) = h.grant(other, C1, 60_000).await;
        let RaftAnswer::Acquired { revision: r1 } = h.call(other, C1, acquire(l1)).await else { panic!("c1 holds") };

        h.backend.clone().fault(leader, ServerFault::Pause).await.unwrap();
        let paused = Instant::now();
        let held = h.send(leader, C2, RaftOp::LeaseGrant { request_id: 1, ttl_ms: 60_000 }, deliver());
        // Through a follower: answered once the two live members have elected a new leader.
        let mut answer = None;
        for _ in 0..20 {
            let req = h.send(third, C1, status(l1, r1), deliver());
            answer = h.answer(C1, req, Duration::from_millis(1000)).await;
            if answer.is_some() {
                break;
            }
        }
        assert_eq!(answer, Some(RaftAnswer::Acquired { revision: r1 }));
        eprintln!("leader m{leader} paused: served through m{third} after {} ms", paused.elapsed().as_millis());
        let new_leader = h.backend.leader_index().await;
        assert!(new_leader.is_some_and(|l| l != leader), "a new leader: {new_leader:?}");
        assert_eq!(h.answer(C2, held, Duration::from_millis(300)).await, None, "the paused member holds its request");

        h.backend.clone().fault(leader, ServerFault::Resume).await.unwrap();
        // The held request reaches the deposed leader after SIGCONT. Its proposal from the old
        // term may be lost when it steps down: etcd then answers "leader changed" (gRPC 14), and
        // the client gets no answer, as for a lost message. Either way, nothing else.
        let late = h.answer(C2, held, Duration::from_secs(11)).await;
        eprintln!("the request held by the paused leader, after SIGCONT: {late:?}");
        assert!(matches!(late, None | Some(RaftAnswer::LeaseGranted { .. })), "{late:?}");
        // The resumed member serves again, as a follower.
        let mut answer = None;
        for _ in 0..20 {
            let req = h.send(leader, C1, status(l1, r1), deliver());
            answer = h.answer(C1, req, Duration::from_millis(1000)).await;
            if answer.is_some() {
                break;
            }
        }
        assert_eq!(answer, Some(RaftAnswer::Acquired { revision: r1 }), "the resumed member serves");
        h.shutdown_and_check_leaks().await;
    }

    /// Why `ClockJump` is refused: libfaketime shifts a C program's clock but not etcd's (the Go
    /// runtime reads the clock through the vDSO). Measured on the HTTP `Date` header etcd sends.
    #[tokio::test]
    async fn libfaketime_does_not_reach_etcd() {
        if etcd_absent() {
            return;
        }
        let scratch = Scratch::new().unwrap();
        const TEN_YEARS_S: f64 = 10.0 * 365.25 * 86400.0;
        let clock = match crate::procs::FakeClock::new(scratch.path(), TEN_YEARS_S) {
            Ok(c) if c.env().is_ok() => c,
            _ => {
                eprintln!("SKIPPED: libfaketime is not installed");
                return;
            }
        };
        let env = clock.env().unwrap();
        let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let year_now = 1970.0 + now_s / (365.2425 * 86400.0);
        // The control: libfaketime does move `date`.
        let out = std::process::Command::new("date").arg("-u").arg("+%Y").envs(env.iter().cloned()).output().unwrap();
        let faked: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!((faked - (year_now + 10.0)).abs() < 1.5, "date under libfaketime: {faked}, now {year_now:.1}");
        // etcd under the same preload.
        let (client, peer) = (free_port().unwrap(), free_port().unwrap());
        let dir = scratch.subdir("m0").unwrap();
        let args = vec![
            format!("--data-dir={}", dir.join("data").display()),
            format!("--listen-client-urls=http://127.0.0.1:{client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
        ];
        let bin = find_binary("etcd", None).unwrap();
        let spec = ProcessSpec { bin, args, env, log: dir.join("etcd.log"), dir };
        let mut p = ServerProcess::spawn(spec).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], client));
        wait_ready(&mut p, Duration::from_secs(20), move || health(addr)).await.unwrap();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut text)).await.unwrap().unwrap();
        // "Date: Mon, 30 Nov 2026 07:39:48 GMT": the year is the fourth word.
        let date = text.lines().find_map(|l| l.strip_prefix("Date: ")).expect("a Date header");
        let year: f64 = date.split_whitespace().nth(3).and_then(|y| y.parse().ok()).expect("a year");
        assert!((year - year_now).abs() < 1.5, "etcd under libfaketime (+10 years) says {date}: the real date");
        drop(p);
    }

    // ---- The unchanged Raft lock client library against the adapter ----

    use locklab_protocols::history::SessionId;
    use locklab_protocols::library::{LockEvent, RetryMode, ValidityBasis};
    use locklab_protocols::node::MsRange;
    use locklab_protocols::raft::{RaftClientParams, RaftLock, RaftLockState};
    use locklab_protocols::{Ctx, Effect, Entropy, Timer};

    struct Draws(u64);

    impl Entropy for Draws {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0
        }
    }

    /// One client node with its lock library, driven in real time (a minimal stand-in for the
    /// live host: sends go to the adapter, timers are real deadlines).
    struct LiveClient {
        id: NodeId,
        lib: RaftLock,
        timers: HashMap<Timer, tokio::time::Instant>,
        entropy: Draws,
        start: Instant,
        events: Vec<LockEvent>,
        observations: Vec<Observation>,
    }

    impl LiveClient {
        fn new(id: NodeId, params: RaftClientParams) -> Self {
            LiveClient {
                id,
                lib: RaftLock::new(vec![100], LOCK, params),
                timers: HashMap::new(),
                entropy: Draws(id as u64),
                start: Instant::now(),
                events: Vec::new(),
                observations: Vec::new(),
            }
        }

        /// Run one input of the library and carry out its effects.
        fn step(&mut self, h: &Harness, f: impl FnOnce(&mut RaftLock, &mut Ctx) -> Option<LockEvent>) {
            let mut effects = Vec::new();
            let now_ns = self.start.elapsed().as_nanos() as u64;
            let event = {
                let mut ctx = Ctx::new(self.id, now_ns, now_ns as i64, &mut self.entropy, &mut effects);
                f(&mut self.lib, &mut ctx)
            };
            self.events.extend(event);
            for e in effects {
                match e {
                    Effect::Send { to, msg } => {
                        h.inboxes[to - 100].send(Request { from: self.id, msg, decision: deliver() }).unwrap()
                    }
                    Effect::SetTimer { timer, after_ns } => {
                        self.timers.insert(timer, tokio::time::Instant::now() + Duration::from_nanos(after_ns));
                    }
                    Effect::CancelTimer { timer } => {
                        self.timers.remove(&timer);
                    }
                    Effect::Record(o) => self.observations.push(o),
                    Effect::Persist(_) | Effect::Sync => {}
                }
            }
        }

        fn token(&self) -> Option<u64> {
            self.observations.iter().rev().find_map(|o| match o {
                Observation::AcquireOk { token, .. } => *token,
                _ => None,
            })
        }
    }

    /// Deliver replies and fire timers until `done` holds or `within` passes; `done`'s value.
    async fn drive(
        h: &mut Harness,
        clients: &mut [LiveClient],
        within: Duration,
        done: impl Fn(&[LiveClient]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if done(clients) {
                return true;
            }
            let next_timer = clients
                .iter()
                .enumerate()
                .flat_map(|(i, c)| c.timers.iter().map(move |(t, at)| (*at, i, *t)))
                .min_by_key(|(at, _, _)| *at);
            let wake = next_timer.map_or(deadline, |(at, _, _)| at.min(deadline));
            tokio::select! {
                reply = h.replies.recv() => {
                    let (from, to, msg) = reply.expect("replier alive");
                    if let Some(c) = clients.iter_mut().find(|c| c.id == to) {
                        c.step(h, |lib, ctx| lib.on_message(ctx, from, msg));
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if let Some((at, i, timer)) = next_timer {
                        if at <= tokio::time::Instant::now() {
                            clients[i].timers.remove(&timer);
                            clients[i].step(h, |lib, ctx| lib.on_timer(ctx, timer));
                            continue;
                        }
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return done(clients);
                    }
                }
            }
        }
    }

    /// The `protocols/` Raft lock client, unchanged, against etcd through the adapter: the first
    /// client acquires and keeps its lease alive past its TTL; the second waits, is woken by the
    /// watch when the first releases, and holds with a higher fencing token.
    #[tokio::test]
    async fn the_raft_lock_client_library_runs_against_etcd() {
        if etcd_absent() {
            return;
        }
        let mut h = Harness::start(1, EtcdOptions::default()).await;
        let params = RaftClientParams {
            ttl_ms: 2_000,
            renew_ms: 500,
            request_timeout_ms: 2_000,
            acquire_retries: 3,
            retry_backoff: MsRange { min_ms: 50, max_ms: 100 },
            retry: RetryMode::Idempotent,
            safety_margin_ms: 200,
            validity: ValidityBasis::LocalDuration,
            // Long, so that the second client's wake-up can only come from the watch.
            wait_recheck_ms: 30_000,
            home_peer: false,
        };
        let mut clients = [LiveClient::new(C1, params.clone()), LiveClient::new(C2, params)];
        let session = |c: u32| SessionId { client: c, incarnation: 0, n: 1 };
        clients[0].step(&h, |lib, ctx| {
            lib.acquire(ctx, session(1), LOCK);
            None
        });
        assert!(
            drive(&mut h, &mut clients, Duration::from_secs(10), |c| c[0].events.contains(&LockEvent::Acquired)).await
        );
        clients[1].step(&h, |lib, ctx| {
            lib.acquire(ctx, session(2), LOCK);
            None
        });
        let waiting = |c: &[LiveClient]| matches!(c[1].lib.state, RaftLockState::Waiting { .. });
        assert!(drive(&mut h, &mut clients, Duration::from_secs(10), waiting).await, "the second client waits");
        // Past the TTL (2 s): the keep-alives hold the first client's lease.
        drive(&mut h, &mut clients, Duration::from_millis(3_000), |_| false).await;
        let now_ns = clients[0].start.elapsed().as_nanos() as u64;
        let mut e = Vec::new();
        let valid = clients[0].lib.is_valid(&Ctx::new(C1, now_ns, now_ns as i64, &mut Draws(0), &mut e));
        assert!(valid, "kept alive: {:?}", clients[0].lib.lease);
        assert!(waiting(&clients), "still waiting while the first holds");

        let released = Instant::now();
        clients[0].step(&h, |lib, ctx| lib.release(ctx));
        let both =
            |c: &[LiveClient]| c[0].events.contains(&LockEvent::Released) && c[1].events.contains(&LockEvent::Acquired);
        assert!(drive(&mut h, &mut clients, Duration::from_secs(10), both).await, "released and handed on");
        eprintln!("handed on {} ms after the release call", released.elapsed().as_millis());
        assert!(released.elapsed() < Duration::from_secs(5), "woken by the watch, not the 30 s re-check");
        let (t1, t2) = (clients[0].token().unwrap(), clients[1].token().unwrap());
        assert!(t1 < t2, "fencing tokens increase: {t1} then {t2}");
        let grants: Vec<_> = h.grants().into_iter().map(|(_, holder, _, token)| (holder, token)).collect();
        assert_eq!(grants, vec![(C1, Some(t1)), (C2, Some(t2))]);
        h.shutdown_and_check_leaks().await;
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(b64(""), "");
        assert_eq!(b64("f"), "Zg==");
        assert_eq!(b64("fo"), "Zm8=");
        assert_eq!(b64("foo"), "Zm9v");
        assert_eq!(b64("lk/0/abc"), "bGsvMC9hYmM=");
        assert_eq!(prefix_end(3), "locklab/lock/30");
    }
}
