//! [`RedisTransport`]: the [`Transport`] over a real `redis-server`, blocking, std `TcpStream`
//! (loopback in the tests). Not compiled under loom.
//!
//! The commands are those of the live tier's lease adapter (`live/src/redis.rs`), as Lua scripts
//! so that each request is atomic at the server:
//!
//! * acquire — if the key is absent, `INCR` the lock's token counter and `SET key token PX ttl`:
//!   the `SET NX PX` lock of "Distributed Locks with Redis" with a fencing token from the counter;
//! * renew — `PEXPIRE` if the key still holds my token (redis-py's `Lock.extend(replace_ttl)`);
//! * release — compare-and-delete, the Redis distlock page's script.
//!
//! Lock `L` is the key `locklab-client:L`, its counter `locklab-client:L:token`. Expiry is Redis's
//! own (its clock); the client's deadline is on the client's clock, from the send time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use crate::transport::{Grant, Transport, TransportError};

const ACQUIRE: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then return false end \
    local t = redis.call('INCR', KEYS[2]) \
    redis.call('SET', KEYS[1], t, 'PX', ARGV[1]) \
    return t";
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) else return 0 end";

/// A RESP reply (the subset these scripts produce).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `:n`
    Int(i64),
    /// `$n` bulk string
    Bulk(Vec<u8>),
    /// `$-1` / `*-1` (Lua `false`)
    Nil,
    /// `*n`
    Array(Vec<Reply>),
}

/// A blocking connection to one Redis server; reconnects after an error.
pub struct RedisTransport {
    addr: SocketAddr,
    timeout: Duration,
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

impl RedisTransport {
    /// A transport to `addr`, with `timeout` for connecting, reading and writing.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        RedisTransport { addr, timeout, conn: Mutex::new(None) }
    }

    /// Sends one command and reads its reply. A transport error drops the connection (the next
    /// command reconnects); a Redis error reply is an error too.
    pub fn command(&self, args: &[&[u8]]) -> Result<Reply, TransportError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout).map_err(err)?;
            stream.set_read_timeout(Some(self.timeout)).map_err(err)?;
            stream.set_write_timeout(Some(self.timeout)).map_err(err)?;
            stream.set_nodelay(true).map_err(err)?;
            *conn = Some(BufReader::new(stream));
        }
        let reader = conn.as_mut().expect("connected above");
        let result = send(reader.get_mut(), args).and_then(|()| read_reply(reader));
        if result.is_err() {
            *conn = None;
        }
        match result? {
            Ok(reply) => Ok(reply),
            Err(message) => Err(TransportError(format!("redis error: {message}"))),
        }
    }

    fn eval(&self, script: &str, keys: &[&str], args: &[&str]) -> Result<Reply, TransportError> {
        let numkeys = keys.len().to_string();
        let mut cmd: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), numkeys.as_bytes()];
        cmd.extend(keys.iter().map(|k| k.as_bytes()));
        cmd.extend(args.iter().map(|a| a.as_bytes()));
        self.command(&cmd)
    }
}

fn key(name: &str) -> String {
    format!("locklab-client:{name}")
}

fn err(e: std::io::Error) -> TransportError {
    TransportError(e.to_string())
}

fn send(stream: &mut TcpStream, args: &[&[u8]]) -> Result<(), TransportError> {
    let mut buf = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
    stream.write_all(&buf).map_err(err)
}

/// Reads one reply: `Ok(Err(message))` for a Redis error reply.
fn read_reply(r: &mut BufReader<TcpStream>) -> Result<Result<Reply, String>, TransportError> {
    let mut line = String::new();
    if r.read_line(&mut line).map_err(err)? == 0 {
        return Err(TransportError("connection closed".into()));
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1.min(line.len()));
    let int = |s: &str| s.parse::<i64>().map_err(|_| TransportError(format!("bad RESP line {line:?}")));
    Ok(Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => return Ok(Err(rest.to_string())),
        ":" => Reply::Int(int(rest)?),
        "$" => {
            let n = int(rest)?;
            if n < 0 {
                Reply::Nil
            } else {
                let mut data = vec![0; n as usize + 2];
                r.read_exact(&mut data).map_err(err)?;
                data.truncate(n as usize);
                Reply::Bulk(data)
            }
        }
        "*" => {
            let n = int(rest)?;
            if n < 0 {
                Reply::Nil
            } else {
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    match read_reply(r)? {
                        Ok(item) => items.push(item),
                        Err(message) => return Ok(Err(message)),
                    }
                }
                Reply::Array(items)
            }
        }
        _ => return Err(TransportError(format!("bad RESP line {line:?}"))),
    }))
}

impl Transport for RedisTransport {
    fn acquire(&self, name: &str, ttl_ms: u64) -> Result<Option<Grant>, TransportError> {
        let (k, counter) = (key(name), format!("{}:token", key(name)));
        match self.eval(ACQUIRE, &[&k, &counter], &[&ttl_ms.to_string()])? {
            Reply::Int(t) => Ok(Some(Grant { token: t as u64, ttl_ms })),
            Reply::Nil => Ok(None),
            other => Err(TransportError(format!("unexpected acquire reply {other:?}"))),
        }
    }

    fn renew(&self, name: &str, grant: Grant, ttl_ms: u64) -> Result<bool, TransportError> {
        let args = [grant.token.to_string(), ttl_ms.to_string()];
        match self.eval(RENEW, &[&key(name)], &[&args[0], &args[1]])? {
            Reply::Int(n) => Ok(n == 1),
            other => Err(TransportError(format!("unexpected renew reply {other:?}"))),
        }
    }

    fn release(&self, name: &str, grant: Grant) -> Result<bool, TransportError> {
        match self.eval(RELEASE, &[&key(name)], &[&grant.token.to_string()])? {
            Reply::Int(n) => Ok(n == 1),
            other => Err(TransportError(format!("unexpected release reply {other:?}"))),
        }
    }
}
