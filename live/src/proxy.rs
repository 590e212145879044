//! The fault proxy: a TCP relay that locklab runs in front of every real server, one listener
//! per (client, server) link, so that the scenario's network rules act on the real connection.
//!
//! # Why frames
//!
//! A byte-level relay can delay or cut a connection, but the scenario's rules speak of
//! *messages*: "drop the acquire's reply", "delay every request from n1 by 200 ms". The proxy
//! therefore cuts each direction of the stream into whole protocol messages with a [`Framer`]
//! (how many bytes make the next complete frame) and applies one [`Verdict`] per frame:
//! forward it (after holding it back, possibly twice) or swallow it. A swallowed *request* never
//! reaches the server; a swallowed *reply* was produced by a server that executed the command —
//! the client just never sees the answer. Because whole frames vanish, the stream stays in step:
//! the next reply on the connection still answers the next request, so the client can go on
//! using the connection (a real client would time out and reconnect; the adapter is told at
//! once through [`Passed`], and need not).
//!
//! # Controls
//!
//! Verdicts are queued per connection and per direction ([`ConnControls`]), one per expected
//! frame, in frame order; a frame with no queued control is forwarded as is. A control is either
//! fixed ([`ConnControls::hold_next_request`], [`ConnControls::swallow_next_reply`] …) or decided
//! when the frame arrives ([`ConnControls::on_next_reply`]: the adapter asks the scenario's
//! [`crate::backend::LinkPolicy`] at the moment the reply passes, so a partition that began while
//! the server was paused still catches the reply). Every control reports the frame's fate, and
//! its bytes, on a oneshot channel ([`Passed`]) *before* the frame is forwarded: the adapter
//! learns the server's answer (ground truth, e.g. a grant) even when the client never sees it.
//!
//! The adapter finds its connection's controls by the connection's local address
//! ([`ProxyLink::controls`]), which is also the peer address the proxy sees on `accept`, so a
//! control can never apply to a stale connection.
//!
//! # Order
//!
//! One link is one TCP connection per client: frames keep their order, and a held frame holds
//! back the frames behind it in the same direction (the simulator's network may reorder two
//! messages with different delays; a TCP connection cannot). The two directions are independent.
//!
//! # RESP ([`resp`])
//!
//! Redis speaks RESP (redis.io/docs/reference/protocol-spec): requests are arrays of bulk strings
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline commands; replies are simple strings (`+OK`),
//! errors (`-ERR …`), integers (`:1`), bulk strings (`$3\r\nfoo\r\n`, `$-1` = nil), arrays
//! (`*N`, nested, `*-1` = nil) and, in RESP3, a few more types — all framed by [`resp::Resp`].
//!
//! # HTTP/1.1 ([`http`])
//!
//! etcd is reached through its JSON gateway, HTTP/1.1 on the client port (see [`crate::etcd`]):
//! [`http::Http1`] frames one whole request (request line, headers, a body by `Content-Length` or
//! chunked) or one whole response (status line, headers, a body by `Content-Length` or chunked,
//! with its trailers). One request is one client message, and — on a keep-alive connection, where
//! responses come in request order (RFC 9112 §9.3.2) — one response is its answer, so the same
//! controls as for Redis act on etcd's traffic.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backend::LiveError;

/// How a byte stream divides into protocol messages.
pub trait Framer: Send + Sync + 'static {
    /// The length of the complete frame at the start of `buf`; `Ok(None)` if `buf` holds only
    /// part of one; `Err` if the bytes are not this protocol.
    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, FrameError>;
}

/// Bytes that are not a frame of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happens to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it after holding it back for `hold`, `copies` times (2: a duplicate).
    Forward { hold: Duration, copies: u32 },
    /// Never forward it.
    Swallow,
}

impl Verdict {
    /// Forward at once, once.
    pub const PASS: Verdict = Verdict::Forward { hold: Duration::ZERO, copies: 1 };

    /// Hold back for `hold`, then forward once.
    pub fn hold(hold: Duration) -> Verdict {
        Verdict::Forward { hold, copies: 1 }
    }
}

/// A frame's fate, reported when the proxy decided it (before any hold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    pub verdict: Verdict,
    /// The frame's bytes (a swallowed reply still says what the server answered).
    pub frame: Vec<u8>,
}

/// Decides a frame's verdict when it arrives at the proxy.
pub type Judge = Box<dyn FnOnce() -> Verdict + Send>;

struct Control {
    judge: Judge,
    notify: Option<oneshot::Sender<Passed>>,
}

/// Which way a frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client → server.
    Request,
    /// Server → client.
    Reply,
}

/// The queued controls of one connection (see the module docs).
#[derive(Default)]
pub struct ConnControls {
    requests: Mutex<VecDeque<Control>>,
    replies: Mutex<VecDeque<Control>>,
}

impl ConnControls {
    fn queue(&self, dir: Direction) -> std::sync::MutexGuard<'_, VecDeque<Control>> {
        let q = match dir {
            Direction::Request => &self.requests,
            Direction::Reply => &self.replies,
        };
        q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a control for the next frame in `dir` that has none yet; the receiver learns its
    /// fate (it errs if the connection ends first).
    pub fn on_next(&self, dir: Direction, judge: Judge) -> oneshot::Receiver<Passed> {
        let (tx, rx) = oneshot::channel();
        self.queue(dir).push_back(Control { judge, notify: Some(tx) });
        rx
    }

    /// The next request frame: decided by `judge` when it arrives.
    pub fn on_next_request(&self, judge: Judge) -> oneshot::Receiver<Passed> {
        self.on_next(Direction::Request, judge)
    }

    /// The next reply frame: decided by `judge` when it arrives.
    pub fn on_next_reply(&self, judge: Judge) -> oneshot::Receiver<Passed> {
        self.on_next(Direction::Reply, judge)
    }

    /// Forward the next request frame unchanged (keeps the queue aligned with the frames).
    pub fn pass_next_request(&self) -> oneshot::Receiver<Passed> {
        self.on_next_request(Box::new(|| Verdict::PASS))
    }

    /// Hold the next request frame back for `hold`.
    pub fn hold_next_request(&self, hold: Duration) -> oneshot::Receiver<Passed> {
        self.on_next_request(Box::new(move || Verdict::hold(hold)))
    }

    /// Swallow the next request frame: it never reaches the server.
    pub fn swallow_next_request(&self) -> oneshot::Receiver<Passed> {
        self.on_next_request(Box::new(|| Verdict::Swallow))
    }

    /// Hold the next reply frame back for `hold`.
    pub fn hold_next_reply(&self, hold: Duration) -> oneshot::Receiver<Passed> {
        self.on_next_reply(Box::new(move || Verdict::hold(hold)))
    }

    /// Swallow the next reply frame: the server executed the command, the client never sees
    /// the answer. The receiver fires when the swallowed reply has gone by.
    pub fn swallow_next_reply(&self) -> oneshot::Receiver<Passed> {
        self.on_next_reply(Box::new(|| Verdict::Swallow))
    }

    fn next(&self, dir: Direction) -> Option<Control> {
        self.queue(dir).pop_front()
    }

    /// Forget every queued control (their receivers err).
    fn clear(&self) {
        self.queue(Direction::Request).clear();
        self.queue(Direction::Reply).clear();
    }
}

struct LinkState {
    /// Controls by the client-side address of the connection.
    conns: HashMap<SocketAddr, Arc<ConnControls>>,
    /// The tasks relaying open connections (aborted when the link is dropped).
    tasks: Vec<JoinHandle<()>>,
}

/// One listener relaying to one server, for one client.
pub struct ProxyLink {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<Mutex<LinkState>>,
    accept_task: JoinHandle<()>,
}

impl ProxyLink {
    /// Listen on a free loopback port and relay every connection to `upstream`, framing
    /// requests with `request_framer` and replies with `reply_framer`.
    pub async fn start(
        upstream: SocketAddr,
        request_framer: Arc<dyn Framer>,
        reply_framer: Arc<dyn Framer>,
    ) -> Result<Self, LiveError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LiveError(format!("fault proxy: cannot bind a loopback port: {e}")))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(LinkState { conns: HashMap::new(), tasks: Vec::new() }));
        let st = state.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((client, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let controls = lock(&st).conns.entry(peer).or_default().clone();
                let (req_f, rep_f, st2) = (request_framer.clone(), reply_framer.clone(), st.clone());
                let task = tokio::spawn(async move {
                    relay(client, upstream, &controls, req_f, rep_f).await;
                    controls.clear();
                    lock(&st2).conns.remove(&peer);
                });
                let mut s = lock(&st);
                s.tasks.retain(|t| !t.is_finished());
                s.tasks.push(task);
            }
        });
        Ok(ProxyLink { addr, upstream, state, accept_task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy connects.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The controls of the connection whose client side is `local` (the client's
    /// `TcpStream::local_addr`). Call it after connecting, before sending.
    pub fn controls(&self, local: SocketAddr) -> Arc<ConnControls> {
        lock(&self.state).conns.entry(local).or_default().clone()
    }

    /// Close every open connection now (both sides see the connection end).
    pub fn sever_all(&self) {
        let mut s = lock(&self.state);
        for t in s.tasks.drain(..) {
            t.abort();
        }
        for c in s.conns.values() {
            c.clear();
        }
        s.conns.clear();
    }
}

impl Drop for ProxyLink {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.sever_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Relay one connection until either side ends it. A server that refuses the connection (crashed,
/// not yet restarted) closes the client's at once.
async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    controls: &ConnControls,
    request_framer: Arc<dyn Framer>,
    reply_framer: Arc<dyn Framer>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let up = pump(client_r, server_w, controls, Direction::Request, request_framer);
    let down = pump(server_r, client_w, controls, Direction::Reply, reply_framer);
    tokio::pin!(up, down);
    tokio::select! {
        // The server closed (or crashed): nothing more can come back; close the client's side.
        _ = &mut down => {}
        // The client closed (or a write to the server failed): let the replies already on their
        // way finish, briefly.
        _ = &mut up => {
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut down).await;
        }
    }
}

/// Copy `from` to `to` frame by frame, applying the queued controls of `dir`. Ends (shutting
/// `to` down) when `from` ends or a write fails.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    controls: &ConnControls,
    dir: Direction,
    framer: Arc<dyn Framer>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // After bytes that are not the protocol, relay raw (no more verdicts).
    let mut raw = false;
    loop {
        while !raw && !buf.is_empty() {
            match framer.frame_len(&buf) {
                Ok(Some(n)) => {
                    let frame: Vec<u8> = buf.drain(..n).collect();
                    if !apply(&mut to, controls, dir, frame).await {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("locklab fault proxy: {dir:?} stream is not the protocol ({e}); relaying raw");
                    raw = true;
                }
            }
        }
        if raw && !buf.is_empty() {
            if to.write_all(&buf).await.is_err() {
                return;
            }
            buf.clear();
        }
        match from.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(_) => {}
        }
    }
}

/// Decide one frame and carry the verdict out. False when the write side failed.
async fn apply(
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    controls: &ConnControls,
    dir: Direction,
    frame: Vec<u8>,
) -> bool {
    let (verdict, notify) = match controls.next(dir) {
        Some(Control { judge, notify }) => (judge(), notify),
        None => (Verdict::PASS, None),
    };
    if let Some(n) = notify {
        let _ = n.send(Passed { verdict, frame: frame.clone() });
    }
    match verdict {
        Verdict::Swallow => true,
        Verdict::Forward { hold, copies } => {
            if !hold.is_zero() {
                tokio::time::sleep(hold).await;
            }
            for _ in 0..copies {
                if to.write_all(&frame).await.is_err() {
                    return false;
                }
            }
            true
        }
    }
}

/// RESP, the Redis serialization protocol: a value parser, a command encoder and the framer.
pub mod resp {
    use super::{FrameError, Framer};

    /// One RESP value (RESP2, plus RESP3's null, double, boolean, big number, map, set, push,
    /// blob error and verbatim string, kept in the closest RESP2 shape).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Value {
        Simple(String),
        Error(String),
        Int(i64),
        /// A bulk string; `None` is the nil bulk string (`$-1`) and RESP3's null (`_`).
        Bulk(Option<Vec<u8>>),
        /// An array; `None` is the nil array (`*-1`). RESP3 maps are flattened key, value, …
        Array(Option<Vec<Value>>),
    }

    impl Value {
        /// The value as UTF-8 text, for bulk and simple strings.
        pub fn text(&self) -> Option<String> {
            match self {
                Value::Simple(s) => Some(s.clone()),
                Value::Bulk(Some(b)) => String::from_utf8(b.clone()).ok(),
                _ => None,
            }
        }
        pub fn is_nil(&self) -> bool {
            matches!(self, Value::Bulk(None) | Value::Array(None))
        }
    }

    /// `args` as a RESP array of bulk strings (how clients send commands).
    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// The line starting at `at` (without CRLF) and the index after its CRLF.
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let rest = buf.get(at..)?;
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        Some((&rest[..end], at + end + 2))
    }

    fn number(bytes: &[u8]) -> Result<i64, FrameError> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| FrameError(format!("bad length or integer {:?}", String::from_utf8_lossy(bytes))))
    }

    /// Parse the value at `at`: `Ok(None)` if incomplete, else the value and the index after it.
    /// `build`: construct the value (false: only measure it, without allocating).
    fn parse_at(buf: &[u8], at: usize, build: bool) -> Result<Option<(Value, usize)>, FrameError> {
        let Some(&tag) = buf.get(at) else { return Ok(None) };
        let Some((body, next)) = line(buf, at + 1) else { return Ok(None) };
        let text = |b: &[u8]| if build { String::from_utf8_lossy(b).into_owned() } else { String::new() };
        match tag {
            b'+' => Ok(Some((Value::Simple(text(body)), next))),
            b'-' => Ok(Some((Value::Error(text(body)), next))),
            b':' => Ok(Some((Value::Int(number(body)?), next))),
            // RESP3 double, boolean, big number: kept as text.
            b',' | b'#' | b'(' => Ok(Some((Value::Simple(text(body)), next))),
            b'_' => Ok(Some((Value::Bulk(None), next))),
            // Bulk string, RESP3 blob error and verbatim string.
            b'$' | b'!' | b'=' => {
                let n = number(body)?;
                if n < 0 {
                    return Ok(Some((Value::Bulk(None), next)));
                }
                let end = next + n as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(FrameError("bulk string not terminated by CRLF".into()));
                }
                let bytes = if build { buf[next..end].to_vec() } else { Vec::new() };
                let v = if tag == b'!' { Value::Error(text(&bytes)) } else { Value::Bulk(Some(bytes)) };
                Ok(Some((v, end + 2)))
            }
            // Array, RESP3 set and push; a map has two values per entry.
            b'*' | b'~' | b'>' | b'%' => {
                let n = number(body)?;
                if n < 0 {
                    return Ok(Some((Value::Array(None), next)));
                }
                let count = if tag == b'%' { 2 * n as usize } else { n as usize };
                let mut items = Vec::with_capacity(if build { count.min(1024) } else { 0 });
                let mut pos = next;
                for _ in 0..count {
                    match parse_at(buf, pos, build)? {
                        Some((v, p)) => {
                            if build {
                                items.push(v);
                            }
                            pos = p;
                        }
                        None => return Ok(None),
                    }
                }
                Ok(Some((Value::Array(Some(items)), pos)))
            }
            other => Err(FrameError(format!("unknown RESP type byte {:?}", other as char))),
        }
    }

    /// Parse one complete value from the start of `buf` (`Ok(None)`: need more bytes).
    pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, FrameError> {
        parse_at(buf, 0, true)
    }

    /// The RESP framer: one frame = one complete value. A request that does not start with a
    /// RESP type byte is an inline command: one line.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Resp;

    impl Framer for Resp {
        fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
            match buf.first() {
                None => Ok(None),
                Some(
                    b'+' | b'-' | b':' | b'$' | b'*' | b',' | b'#' | b'(' | b'_' | b'!' | b'=' | b'~' | b'>' | b'%',
                ) => Ok(parse_at(buf, 0, false)?.map(|(_, n)| n)),
                // Inline command (`PING\r\n`): up to and including the newline.
                Some(_) => Ok(buf.iter().position(|&b| b == b'\n').map(|i| i + 1)),
            }
        }
    }
}

/// HTTP/1.1 (RFC 9112): a message parser and the request and response framers.
///
/// A message is a start line, header lines and an empty line (CRLF; a bare LF is accepted, as
/// RFC 9112 §2.2 allows a recipient to), then a body whose length the headers give (§6.3):
///
/// * `Transfer-Encoding: chunked` — chunks `<hex size>[;ext] CRLF <data> CRLF`, a last chunk of
///   size 0, then trailer fields up to an empty line (§7.1; the etcd gateway sends
///   `Grpc-Trailer-…` trailers after its chunked error bodies);
/// * else `Content-Length: n` — n bytes;
/// * else a request has no body; a response's body runs to the end of the connection, which no
///   frame boundary can express: the framer calls that an error, and the proxy relays the rest
///   raw (etcd's gateway never does it: it sends `Content-Length` or chunked).
///
/// Responses with status 1xx, 204 or 304 have no body whatever their headers say (§6.3 rule 1);
/// responses to `HEAD` are not framed correctly (nobody here sends `HEAD`).
pub mod http {
    use super::{FrameError, Framer};

    /// Which side of the exchange a stream carries.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        Request,
        Response,
    }

    /// One parsed HTTP/1.1 message.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Message {
        /// The request line (`POST /v3/kv/txn HTTP/1.1`) or status line (`HTTP/1.1 200 OK`).
        pub start: String,
        pub headers: Fields,
        /// The body, de-chunked.
        pub body: Vec<u8>,
        /// Trailer fields of a chunked body.
        pub trailers: Fields,
    }

    impl Message {
        /// The status code of a response.
        pub fn status(&self) -> Option<u16> {
            self.start.split_whitespace().nth(1).and_then(|s| s.parse().ok())
        }

        /// The first header named `name` (case-insensitive).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    /// A header section larger than this is not taken for HTTP.
    const MAX_HEAD_BYTES: usize = 64 * 1024;

    /// The line at `at` (without its line end) and the index after it.
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let rest = buf.get(at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let text = &rest[..end];
        Some((text.strip_suffix(b"\r").unwrap_or(text), at + end + 1))
    }

    /// Header or trailer fields: (name, value) in order.
    pub type Fields = Vec<(String, String)>;

    /// Header (or trailer) lines from `at` up to the empty line; the fields and the index after.
    fn fields(buf: &[u8], mut at: usize) -> Result<Option<(Fields, usize)>, FrameError> {
        let mut out = Vec::new();
        loop {
            let Some((text, next)) = line(buf, at) else {
                if buf.len() - at > MAX_HEAD_BYTES {
                    return Err(FrameError("header section too long".into()));
                }
                return Ok(None);
            };
            if text.is_empty() {
                return Ok(Some((out, next)));
            }
            let text = String::from_utf8_lossy(text);
            let (name, value) =
                text.split_once(':').ok_or_else(|| FrameError(format!("header line without a colon: {text:?}")))?;
            out.push((name.trim().to_string(), value.trim().to_string()));
            at = next;
        }
    }

    /// Parse one complete message from the start of `buf`: `Ok(None)` if `buf` holds only part
    /// of one; else the message and its length in bytes.
    pub fn parse(kind: Kind, buf: &[u8]) -> Result<Option<(Message, usize)>, FrameError> {
        let Some((start, after_start)) = line(buf, 0) else {
            if buf.len() > MAX_HEAD_BYTES {
                return Err(FrameError("start line too long".into()));
            }
            return Ok(None);
        };
        let start = String::from_utf8_lossy(start).into_owned();
        let mut words = start.split_whitespace();
        let first = words.next().unwrap_or("");
        let status = match kind {
            Kind::Request => {
                let target = words.next();
                let version = words.next().unwrap_or("");
                if target.is_none() || !version.starts_with("HTTP/") {
                    return Err(FrameError(format!("not an HTTP request line: {start:?}")));
                }
                None
            }
            Kind::Response => {
                let code = words.next().and_then(|c| c.parse::<u16>().ok());
                match code {
                    Some(c) if first.starts_with("HTTP/") => Some(c),
                    _ => return Err(FrameError(format!("not an HTTP status line: {start:?}"))),
                }
            }
        };
        let Some((headers, mut at)) = fields(buf, after_start)? else { return Ok(None) };
        let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let no_body = status.is_some_and(|c| (100..200).contains(&c) || c == 204 || c == 304);
        let chunked = header("transfer-encoding")
            .is_some_and(|te| te.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked")));
        let mut body = Vec::new();
        let mut trailers = Vec::new();
        if no_body {
        } else if chunked {
            loop {
                let Some((size_line, next)) = line(buf, at) else { return Ok(None) };
                let size_text = String::from_utf8_lossy(size_line);
                let hex = size_text.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(hex, 16)
                    .map_err(|_| FrameError(format!("bad chunk size line {size_text:?}")))?;
                if size == 0 {
                    let Some((t, next)) = fields(buf, next)? else { return Ok(None) };
                    trailers = t;
                    at = next;
                    break;
                }
                let end = next.checked_add(size).ok_or_else(|| FrameError("chunk size overflows".into()))?;
                let Some(data) = buf.get(next..end) else { return Ok(None) };
                body.extend_from_slice(data);
                // The chunk's data is followed by CRLF (or a bare LF).
                at = match (buf.get(end), buf.get(end + 1)) {
                    (None, _) | (Some(b'\r'), None) => return Ok(None),
                    (Some(b'\n'), _) => end + 1,
                    (Some(b'\r'), Some(b'\n')) => end + 2,
                    _ => return Err(FrameError("chunk data not followed by CRLF".into())),
                };
            }
        } else if let Some(len) = header("content-length") {
            let n: usize = len.parse().map_err(|_| FrameError(format!("bad Content-Length {len:?}")))?;
            let end = at.checked_add(n).ok_or_else(|| FrameError("Content-Length overflows".into()))?;
            let Some(data) = buf.get(at..end) else { return Ok(None) };
            body.extend_from_slice(data);
            at = end;
        } else if kind == Kind::Response {
            return Err(FrameError("response body delimited by the end of the connection".into()));
        }
        Ok(Some((Message { start, headers, body, trailers }, at)))
    }

    /// The HTTP/1.1 framer for one direction: one frame = one whole message.
    #[derive(Clone, Copy, Debug)]
    pub struct Http1(pub Kind);

    impl Framer for Http1 {
        fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
            if buf.is_empty() {
                return Ok(None);
            }
            Ok(parse(self.0, buf)?.map(|(_, n)| n))
        }
    }

    /// A request with a `Content-Length` body (what locklab's adapters send).
    pub fn encode_request(method: &str, path: &str, host: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::resp::{encode, parse, Resp, Value};
    use super::*;
    use crate::procs::{find_binary, free_port, ProcessSpec, Scratch, ServerProcess};
    use std::time::Instant;

    #[test]
    fn resp_frames_every_reply_type_and_waits_for_partial_ones() {
        let f = Resp;
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR wrong\r\n",
            b":-42\r\n",
            b"$3\r\nfoo\r\n",
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*3\r\n:1\r\n$-1\r\n*2\r\n$2\r\nab\r\n-ERR x\r\n",
            b"%1\r\n+k\r\n:1\r\n",
            b"_\r\n",
            b"PING\r\n",
        ];
        for &frame in cases {
            let mut buf = frame.to_vec();
            buf.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(f.frame_len(&buf), Ok(Some(frame.len())), "{:?}", String::from_utf8_lossy(frame));
            for cut in 1..frame.len() {
                assert_eq!(
                    f.frame_len(&frame[..cut]),
                    Ok(None),
                    "prefix {cut} of {:?}",
                    String::from_utf8_lossy(frame)
                );
            }
        }
        // A bulk string's CRLF inside its payload does not end it.
        assert_eq!(f.frame_len(b"$4\r\na\r\nb\r\n"), Ok(Some(10)));
        assert!(f.frame_len(b"$2\r\nabXY").is_err());
        assert!(f.frame_len(b"*x\r\n").is_err());
    }

    #[test]
    fn resp_parses_nested_values() {
        let (v, n) = parse(b"*3\r\n:7\r\n$-1\r\n*2\r\n$2\r\nab\r\n-ERR no\r\n").unwrap().unwrap();
        assert_eq!(n, 34);
        assert_eq!(
            v,
            Value::Array(Some(vec![
                Value::Int(7),
                Value::Bulk(None),
                Value::Array(Some(vec![Value::Bulk(Some(b"ab".to_vec())), Value::Error("ERR no".into())])),
            ]))
        );
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec());
    }

    /// Frames as etcd's JSON gateway sends and receives them (the shapes `etcd.rs` measured).
    const HTTP_REQUESTS: &[&[u8]] = &[
        b"POST /v3/kv/txn HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"compare\": []}",
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v3/lease/keepalive HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"ID\":1\r\n3;ext=1\r\n}\r\n\r\n0\r\n\r\n",
    ];
    const HTTP_RESPONSES: &[&[u8]] = &[
        // A unary call's answer.
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nGrpc-Metadata-Content-Type: application/grpc\r\nDate: Mon, 30 Nov 2026 08:00:00 GMT\r\nContent-Length: 27\r\n\r\n{\"header\":{\"revision\":\"5\"}}",
        // The keep-alive stream: a chunked body, one JSON line per message, no trailers.
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n27\r\n{\"result\":{\"ID\":\"7587869\",\"TTL\":\"30\"}}\n\r\n0\r\n\r\n",
        // An error: a chunked body, then a trailer.
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nTrailer: Grpc-Trailer-Content-Type\r\nTransfer-Encoding: chunked\r\n\r\n48\r\n{\"error\":\"etcdserver: requested lease not found\",\"code\":5,\"message\":\"x\"}\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ];

    #[test]
    fn http_frames_whole_messages_and_waits_for_partial_ones() {
        use super::http::{Http1, Kind};
        for (kind, cases) in [(Kind::Request, HTTP_REQUESTS), (Kind::Response, HTTP_RESPONSES)] {
            let f = Http1(kind);
            assert_eq!(f.frame_len(b""), Ok(None));
            for &frame in cases {
                let text = String::from_utf8_lossy(frame);
                assert_eq!(f.frame_len(frame), Ok(Some(frame.len())), "{text:?}");
                // A second message right behind does not lengthen the first (pipelining).
                let mut two = frame.to_vec();
                two.extend_from_slice(cases[0]);
                assert_eq!(f.frame_len(&two), Ok(Some(frame.len())), "{text:?} followed by another");
                assert_eq!(f.frame_len(&two[frame.len()..]), Ok(Some(cases[0].len())));
                for cut in 1..frame.len() {
                    assert_eq!(f.frame_len(&frame[..cut]), Ok(None), "prefix {cut} of {text:?}");
                }
            }
        }
    }

    #[test]
    fn http_parses_bodies_and_trailers_and_rejects_what_is_not_http() {
        use super::http::{encode_request, parse, Http1, Kind};
        let (m, n) = parse(Kind::Response, HTTP_RESPONSES[1]).unwrap().unwrap();
        assert_eq!(n, HTTP_RESPONSES[1].len());
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.body, b"{\"result\":{\"ID\":\"7587869\",\"TTL\":\"30\"}}\n".to_vec(), "de-chunked");
        let (m, _) = parse(Kind::Response, HTTP_RESPONSES[2]).unwrap().unwrap();
        assert_eq!(m.status(), Some(404));
        assert_eq!(m.header("transfer-encoding"), Some("chunked"));
        assert!(m.body.starts_with(b"{\"error\"") && m.body.ends_with(b"}"));
        assert_eq!(m.trailers, vec![("Grpc-Trailer-Content-Type".to_string(), "application/grpc".to_string())]);
        let (m, _) = parse(Kind::Request, HTTP_REQUESTS[2]).unwrap().unwrap();
        assert_eq!(m.body, b"{\"ID\":1}\r\n".to_vec(), "chunk extensions ignored, CRLF inside a chunk kept");
        let (m, _) = parse(Kind::Response, HTTP_RESPONSES[3]).unwrap().unwrap();
        assert!(m.body.is_empty(), "204 has no body whatever Content-Length says");
        // What our adapter sends parses back to itself.
        let req = encode_request("POST", "/v3/kv/range", "h:1", "application/json", b"{}");
        let (m, n) = parse(Kind::Request, &req).unwrap().unwrap();
        assert_eq!((m.start.as_str(), m.body.as_slice(), n), ("POST /v3/kv/range HTTP/1.1", &b"{}"[..], req.len()));
        // Not HTTP, or not frameable.
        let resp = Http1(Kind::Response);
        assert!(resp.frame_len(b"+OK\r\n").is_err());
        assert!(resp.frame_len(b"HTTP/1.1 200 OK\r\n\r\nrest until close").is_err(), "close-delimited");
        assert!(resp.frame_len(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(resp.frame_len(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(resp.frame_len(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY").is_err());
        assert!(Http1(Kind::Request).frame_len(b"*1\r\n$4\r\nPING\r\n").is_err());
    }

    /// A redis-server on a free port, killed on drop (with its scratch directory).
    pub(crate) struct TestRedis {
        pub proc_: ServerProcess,
        pub port: u16,
        _scratch: Scratch,
    }

    pub(crate) async fn test_redis() -> Option<TestRedis> {
        let Ok(bin) = find_binary("redis-server", None) else {
            eprintln!("SKIPPED: redis-server is not on the PATH (apt-get install redis-server)");
            return None;
        };
        let scratch = Scratch::new().unwrap();
        let dir = scratch.subdir("redis").unwrap();
        let port = free_port().unwrap();
        let args = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let spec = ProcessSpec { bin, args, env: Vec::new(), dir: dir.clone(), log: dir.join("log") };
        let mut proc_ = ServerProcess::spawn(spec).unwrap();
        let pid = proc_.pid();
        crate::procs::wait_ready(&mut proc_, Duration::from_secs(10), || crate::redis::ready(port, pid)).await.unwrap();
        Some(TestRedis { proc_, port, _scratch: scratch })
    }

    /// One command straight to the server (no proxy), with a 1 s bound.
    async fn roundtrip_direct(port: u16, args: &[&[u8]]) -> Option<Value> {
        let mut s =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(("127.0.0.1", port))).await.ok()?.ok()?;
        s.write_all(&encode(args)).await.ok()?;
        read_value(&mut s, &mut Vec::new(), Duration::from_secs(1)).await
    }

    async fn read_value(s: &mut TcpStream, buf: &mut Vec<u8>, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some((v, n))) = parse(buf) {
                buf.drain(..n);
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, s.read_buf(buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    async fn link_to(port: u16) -> (ProxyLink, TcpStream, Arc<ConnControls>) {
        let upstream: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let link = ProxyLink::start(upstream, Arc::new(Resp), Arc::new(Resp)).await.unwrap();
        let s = TcpStream::connect(link.addr()).await.unwrap();
        let controls = link.controls(s.local_addr().unwrap());
        (link, s, controls)
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[tokio::test]
    async fn proxy_relays_swallows_and_holds_whole_resp_frames() {
        let Some(redis) = test_redis().await else { return };
        tokio::time::timeout(Duration::from_secs(20), async {
            let (_link, mut s, c) = link_to(redis.port).await;
            let mut buf = Vec::new();
            let second = Duration::from_secs(2);
            // Plain relay.
            s.write_all(&encode(&[b"SET", b"a", b"1"])).await.unwrap();
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(Value::Simple("OK".into())));

            // A swallowed request never reaches the server; the connection stays in step.
            let gone = c.swallow_next_request();
            s.write_all(&encode(&[b"SET", b"b", b"2"])).await.unwrap();
            let passed = gone.await.unwrap();
            assert_eq!(passed.verdict, Verdict::Swallow);
            assert_eq!(passed.frame, encode(&[b"SET", b"b", b"2"]));
            s.write_all(&encode(&[b"GET", b"b"])).await.unwrap();
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(Value::Bulk(None)), "never executed");

            // A swallowed reply: the server executed the SET; the client sees only the next reply.
            let gone = c.swallow_next_reply();
            s.write_all(&encode(&[b"SET", b"c", b"3", b"NX", b"PX", b"60000"])).await.unwrap();
            let passed = tokio::time::timeout(second, gone).await.unwrap().unwrap();
            assert_eq!(passed.frame, b"+OK\r\n".to_vec(), "the notification carries the swallowed answer");
            s.write_all(&encode(&[b"GET", b"c"])).await.unwrap();
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(bulk("3")), "executed, and in step");
            assert_eq!(roundtrip_direct(redis.port, &[b"GET", b"c"]).await, Some(bulk("3")));

            // A held reply arrives no earlier than the hold.
            drop(c.hold_next_reply(Duration::from_millis(300)));
            let t0 = Instant::now();
            s.write_all(&encode(&[b"GET", b"a"])).await.unwrap();
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(bulk("1")));
            assert!(t0.elapsed() >= Duration::from_millis(300), "held {:?}", t0.elapsed());

            // A held request reaches the server no earlier than the hold: a GET sent straight
            // to the server meanwhile still misses the key.
            drop(c.hold_next_request(Duration::from_millis(400)));
            s.write_all(&encode(&[b"SET", b"d", b"4"])).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert_eq!(roundtrip_direct(redis.port, &[b"GET", b"d"]).await, Some(Value::Bulk(None)));
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(Value::Simple("OK".into())));
            assert_eq!(roundtrip_direct(redis.port, &[b"GET", b"d"]).await, Some(bulk("4")));

            // A duplicated request is executed twice: two replies.
            drop(c.on_next_request(Box::new(|| Verdict::Forward { hold: Duration::ZERO, copies: 2 })));
            s.write_all(&encode(&[b"INCR", b"n"])).await.unwrap();
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(Value::Int(1)));
            assert_eq!(read_value(&mut s, &mut buf, second).await, Some(Value::Int(2)));
        })
        .await
        .expect("bounded");
    }

    #[tokio::test]
    async fn proxy_closes_the_client_side_when_the_server_dies_or_refuses() {
        let Some(mut redis) = test_redis().await else { return };
        tokio::time::timeout(Duration::from_secs(20), async {
            let (link, mut s, _c) = link_to(redis.port).await;
            let mut buf = Vec::new();
            s.write_all(&encode(&[b"PING"])).await.unwrap();
            assert_eq!(read_value(&mut s, &mut buf, Duration::from_secs(2)).await, Some(Value::Simple("PONG".into())));
            redis.proc_.kill();
            // The server's end closes the proxy's, which closes ours: EOF, not a hang.
            let n = tokio::time::timeout(Duration::from_secs(2), s.read_buf(&mut buf)).await.expect("EOF promptly");
            assert!(matches!(n, Ok(0) | Err(_)));
            // A new connection while the server is down is accepted, then closed.
            let mut s2 = TcpStream::connect(link.addr()).await.unwrap();
            let n = tokio::time::timeout(Duration::from_secs(2), s2.read_buf(&mut buf)).await.expect("closed promptly");
            assert!(matches!(n, Ok(0) | Err(_)));
        })
        .await
        .expect("bounded");
    }
}
