//! `RedisTransport` and the guard against a real `redis-server`: started by the test on a free
//! loopback port with its own scratch directory (the live tier's `procs` helpers), stopped by PID
//! when the test ends. Skipped when `redis-server` is not on the PATH — unless
//! `LOCKLAB_LIVE_REQUIRED=1` (`.ci/run` sets it and installs the package), where that fails.
#![cfg(not(loom))]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use locklab_client::redis::Reply;
use locklab_client::*;
use locklab_live::procs::{find_binary, free_port, ProcessSpec, Scratch, ServerProcess};

/// A redis-server of this test, and a transport to it. Dropped in the order written: the process
/// is killed (by its PID), then the scratch directory removed.
struct Redis {
    transport: Arc<RedisTransport>,
    _process: ServerProcess,
    _scratch: Scratch,
}

fn start_redis() -> Option<Redis> {
    let bin = match find_binary("redis-server", None) {
        Ok(bin) => bin,
        Err(e) => {
            assert!(
                std::env::var("LOCKLAB_LIVE_REQUIRED").as_deref() != Ok("1"),
                "redis-server is not installed but LOCKLAB_LIVE_REQUIRED=1: {e:?}"
            );
            eprintln!("SKIPPED: redis-server is not on the PATH");
            return None;
        }
    };
    let scratch = Scratch::new().expect("scratch dir");
    let dir = scratch.subdir("redis").expect("redis dir");
    let port = free_port().expect("free port");
    let args = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"]
        .map(String::from)
        .into_iter()
        .chain([dir.display().to_string()])
        .collect();
    let mut process =
        ServerProcess::spawn(ProcessSpec { bin, args, env: vec![], dir: dir.clone(), log: dir.join("redis.log") })
            .expect("redis-server starts");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let transport = Arc::new(RedisTransport::new(addr, Duration::from_millis(500)));
    let start = Instant::now();
    while transport.command(&[b"PING"]) != Ok(Reply::Status("PONG".into())) {
        assert!(!process.exited(), "redis-server exited:\n{}", process.log_tail());
        assert!(start.elapsed() < Duration::from_secs(10), "redis-server did not answer:\n{}", process.log_tail());
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Redis { transport, _process: process, _scratch: scratch })
}

#[test]
fn redis_transport_speaks_the_lease_commands() {
    let Some(redis) = start_redis() else { return };
    let t = &redis.transport;
    let g1 = t.acquire("L", 10_000).unwrap().expect("free");
    assert_eq!(g1.token, 1);
    assert_eq!(t.acquire("L", 10_000).unwrap(), None, "held");
    assert_eq!(t.renew("L", g1, 10_000), Ok(true));
    assert_eq!(t.release("L", g1), Ok(true));
    assert_eq!(t.release("L", g1), Ok(false), "already released");
    let g2 = t.acquire("L", 10_000).unwrap().expect("free again");
    assert_eq!(g2.token, 2, "the token counter survives the release");
    assert_eq!(t.renew("L", g1, 10_000), Ok(false), "an old grant cannot renew the new one");
    assert_eq!(t.release("L", g1), Ok(false), "nor release it");
    // Redis's own expiry.
    let g3 = t.acquire("M", 50).unwrap().expect("free");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(t.renew("M", g3, 50), Ok(false), "expired at the server");
    assert_eq!(t.acquire("M", 50).unwrap().map(|g| g.token), Some(2));
}

#[test]
fn guard_over_redis_holds_past_the_ttl_signals_loss_and_releases() {
    let Some(redis) = start_redis() else { return };
    let clock = Arc::new(SystemClock::new());
    let config = GuardConfig { ttl_ms: 300, heartbeat_interval_ms: 60, drift_margin_ms: 30, max_beats: None };
    // Held for 3 TTLs by the heartbeat, writes allowed throughout.
    let guard = LeaseGuard::acquire(redis.transport.clone(), clock.clone(), "G", config, Box::new(|_| {}))
        .unwrap()
        .expect("free");
    let h = guard.handle();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(900) {
        assert!(h.write(|token| token).is_ok(), "lease valid at {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(redis.transport.acquire("G", 300).unwrap(), None, "still held at the server");
    assert_eq!(guard.shutdown(), Ok(true), "released at the server");
    assert_eq!(h.write(|t| t), Err(LeaseLost(LossReason::Released)));
    let next = redis.transport.acquire("G", 300).unwrap().expect("free after shutdown");
    assert_eq!(next.token, 2);

    // Loss: the key deleted behind the holder's back; the heartbeat's renewal is refused.
    redis.transport.release("G", next).unwrap();
    let signalled = Arc::new(AtomicBool::new(false));
    let s = signalled.clone();
    let guard = LeaseGuard::acquire(
        redis.transport.clone(),
        clock,
        "G",
        config,
        Box::new(move |r| {
            assert_eq!(r, LossReason::Refused);
            s.store(true, Ordering::SeqCst);
        }),
    )
    .unwrap()
    .expect("free");
    let h = guard.handle();
    assert_eq!(redis.transport.command(&[b"DEL", b"locklab-client:G"]), Ok(Reply::Int(1)));
    let start = Instant::now();
    while !signalled.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(5), "no loss signalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(h.write(|t| t), Err(LeaseLost(LossReason::Refused)));
    assert_eq!(guard.shutdown(), Ok(false));
}
