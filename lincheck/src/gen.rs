//! Deterministic generators of linearizable histories, for benchmarks and tests.
//!
//! Each generator simulates clients against a *correct* sequential object: every
//! operation gets a call time, a linearization point drawn inside its interval and a
//! return time; operations are applied to the object in linearization-point order, so
//! the recorded outputs are linearizable by construction. A fraction of operations
//! "crash" (`info_prob`): their output is dropped (`output: None`), they take effect or
//! not at random, and — as in Jepsen — the client process is replaced by a fresh one
//! (process id + number of clients), because a crashed client's fate is unknown.
//!
//! Everything is driven by one seed through SplitMix64; the same configuration always
//! yields the same history, on every platform.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::specs::{KvOp, KvRet, LockOp, LockRet, RegisterOp, RegisterRet};
use crate::Operation;

/// SplitMix64: tiny, fast, and good enough for workload generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// Timing shared by the generators.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Upper bound of the delay from call to linearization point, and from there to
    /// return, in nanoseconds (each drawn uniformly).
    pub latency_max_ns: u64,
    /// Upper bound of a client's pause between a return and its next call.
    pub think_max_ns: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { latency_max_ns: 2_000_000, think_max_ns: 1_000_000 }
    }
}

/// Configuration of [`lock_history`].
#[derive(Clone, Debug)]
pub struct LockGen {
    /// Seed of the random source.
    pub seed: u64,
    /// Number of operations to generate.
    pub ops: usize,
    /// Concurrent client processes.
    pub clients: usize,
    /// Number of independent locks (keys `lock0`, `lock1`, ...); each client picks one
    /// at random per acquire.
    pub keys: usize,
    /// Lease duration, or `None` for a mutex (crashed acquires then never take effect,
    /// so that the lock is not held forever by a dead process).
    pub ttl_ns: Option<u64>,
    /// Issue increasing fencing tokens with every grant.
    pub fencing: bool,
    /// Probability that an operation crashes (unknown outcome).
    pub info_prob: f64,
    /// Timing.
    pub timing: Timing,
}

impl Default for LockGen {
    fn default() -> Self {
        LockGen {
            seed: 1,
            ops: 1000,
            clients: 4,
            keys: 1,
            ttl_ns: None,
            fencing: false,
            info_prob: 0.0,
            timing: Timing::default(),
        }
    }
}

#[derive(Clone, Copy, Default)]
struct LockTruth {
    holder: Option<u64>,
    expiry_ns: u64,
}

struct Client {
    process: u64,
    /// Lock the client believes it holds, with when it believes the lease ends.
    holds: Option<(usize, u64)>,
}

/// Events are popped in linearization-point order.
type Pending = BinaryHeap<Reverse<(u64, usize, u64, u64)>>; // (lin, client, call, seq)

fn schedule(heap: &mut Pending, rng: &mut Rng, timing: &Timing, client: usize, after_ns: u64) {
    let call = after_ns + rng.below(timing.think_max_ns + 1);
    let lin = call + rng.below(timing.latency_max_ns + 1);
    heap.push(Reverse((lin, client, call, 0)));
}

/// A linearizable lock history (mutex, lease, optionally fencing) per `config`.
pub fn lock_history(config: &LockGen) -> Vec<Operation<LockOp, LockRet>> {
    let mut rng = Rng::new(config.seed);
    let timing = config.timing;
    let keys = config.keys.max(1);
    let mut truth = vec![LockTruth::default(); keys];
    let mut next_token = vec![1u64; keys];
    let mut clients: Vec<Client> =
        (0..config.clients.max(1)).map(|c| Client { process: c as u64, holds: None }).collect();
    let n_clients = clients.len() as u64;
    let mut heap = Pending::new();
    for c in 0..clients.len() {
        schedule(&mut heap, &mut rng, &timing, c, 0);
    }
    let mut history = Vec::with_capacity(config.ops);
    while history.len() < config.ops {
        let Reverse((lin, c, call, _)) = heap.pop().expect("clients never stop");
        let ret = lin + rng.below(timing.latency_max_ns + 1);
        let client = &mut clients[c];
        let (key, input) = match client.holds {
            Some((key, believed_expiry)) => {
                let op = if config.ttl_ns.is_some() && call < believed_expiry && rng.chance(0.5) {
                    LockOp::Extend
                } else {
                    LockOp::Release
                };
                (key, op)
            }
            None => (rng.below(keys as u64) as usize, LockOp::Acquire),
        };
        let crashed = rng.chance(config.info_prob);
        let takes_effect = !crashed || (rng.chance(0.5) && (config.ttl_ns.is_some() || input != LockOp::Acquire));
        let t = &mut truth[key];
        let live = t.holder.is_some() && config.ttl_ns.is_none_or(|_| lin < t.expiry_ns);
        let me = client.process;
        let success = match input {
            LockOp::Acquire => !live,
            LockOp::Release | LockOp::Extend => live && t.holder == Some(me),
        };
        let mut token = None;
        if success && takes_effect {
            match input {
                LockOp::Acquire => {
                    t.holder = Some(me);
                    t.expiry_ns = lin + config.ttl_ns.unwrap_or(0);
                    if config.fencing {
                        token = Some(next_token[key]);
                        next_token[key] += 1;
                    }
                }
                LockOp::Extend => t.expiry_ns = lin + config.ttl_ns.unwrap_or(0),
                LockOp::Release => t.holder = None,
            }
        }
        let output = if crashed {
            None
        } else if success {
            Some(LockRet::Ok { token })
        } else {
            Some(LockRet::Fail)
        };
        history.push(Operation {
            process: me,
            key: format!("lock{key}"),
            call_ns: call,
            return_ns: if crashed { None } else { Some(ret) },
            input,
            output,
        });
        if crashed {
            client.process += n_clients;
            client.holds = None;
        } else {
            client.holds = match (input, success) {
                (LockOp::Acquire | LockOp::Extend, true) => Some((key, call + config.ttl_ns.unwrap_or(u64::MAX / 4))),
                (LockOp::Release, _) => None,
                (_, false) => None,
            };
        }
        schedule(&mut heap, &mut rng, &timing, c, ret);
    }
    history
}

/// Configuration of [`register_history`].
#[derive(Clone, Debug)]
pub struct RegisterGen {
    /// Seed of the random source.
    pub seed: u64,
    /// Number of operations.
    pub ops: usize,
    /// Concurrent client processes.
    pub clients: usize,
    /// Number of independent registers (keys `r0`, `r1`, ...).
    pub keys: usize,
    /// Values are drawn from `0..values`; few values make cas and reads ambiguous,
    /// which is what makes register histories hard.
    pub values: i64,
    /// Probability that an operation crashes (unknown outcome).
    pub info_prob: f64,
    /// Timing.
    pub timing: Timing,
}

impl Default for RegisterGen {
    fn default() -> Self {
        RegisterGen { seed: 1, ops: 1000, clients: 5, keys: 1, values: 5, info_prob: 0.1, timing: Timing::default() }
    }
}

/// A linearizable compare-and-set register history per `config` (reads, writes and
/// cas in proportions 2:1:1, as in Jepsen's etcd test).
pub fn register_history(config: &RegisterGen) -> Vec<Operation<RegisterOp, RegisterRet>> {
    let mut rng = Rng::new(config.seed);
    let timing = config.timing;
    let keys = config.keys.max(1);
    let values = config.values.max(1) as u64;
    let mut truth: Vec<Option<i64>> = vec![None; keys];
    let mut processes: Vec<u64> = (0..config.clients.max(1) as u64).collect();
    let n_clients = processes.len() as u64;
    let mut heap = Pending::new();
    for c in 0..processes.len() {
        schedule(&mut heap, &mut rng, &timing, c, 0);
    }
    let mut history = Vec::with_capacity(config.ops);
    while history.len() < config.ops {
        let Reverse((lin, c, call, _)) = heap.pop().expect("clients never stop");
        let ret = lin + rng.below(timing.latency_max_ns + 1);
        let key = rng.below(keys as u64) as usize;
        let input = match rng.below(4) {
            0 | 1 => RegisterOp::Read,
            2 => RegisterOp::Write(rng.below(values) as i64),
            _ => RegisterOp::Cas { from: rng.below(values) as i64, to: rng.below(values) as i64 },
        };
        let crashed = rng.chance(config.info_prob);
        let takes_effect = !crashed || rng.chance(0.5);
        let value = &mut truth[key];
        let output = match input {
            RegisterOp::Read => RegisterRet::Value(*value),
            RegisterOp::Write(v) => {
                if takes_effect {
                    *value = Some(v);
                }
                RegisterRet::Ok
            }
            RegisterOp::Cas { from, to } => {
                if *value == Some(from) {
                    if takes_effect {
                        *value = Some(to);
                    }
                    RegisterRet::Ok
                } else {
                    RegisterRet::Fail
                }
            }
        };
        history.push(Operation {
            process: processes[c],
            key: format!("r{key}"),
            call_ns: call,
            return_ns: if crashed { None } else { Some(ret) },
            input,
            output: if crashed { None } else { Some(output) },
        });
        if crashed {
            processes[c] += n_clients;
        }
        schedule(&mut heap, &mut rng, &timing, c, ret);
    }
    history
}

/// Configuration of [`kv_history`].
#[derive(Clone, Debug)]
pub struct KvGen {
    /// Seed of the random source.
    pub seed: u64,
    /// Number of operations.
    pub ops: usize,
    /// Concurrent client processes.
    pub clients: usize,
    /// Number of keys (`k0`, `k1`, ...); each operation picks one at random.
    pub keys: usize,
    /// Probability that an operation is a get (the rest are appends).
    pub get_prob: f64,
    /// Probability that an operation crashes (unknown outcome).
    pub info_prob: f64,
    /// Make the history non-linearizable: the first get at or after this fraction of
    /// the history (0.0..=1.0) that can be made stale returns the value its key had
    /// before an append that had *returned before the get was called* (a stale read,
    /// which no linearization explains: appends only grow a value, and every append
    /// writes a token no other one writes). `None`: linearizable.
    pub stale_read_at: Option<f64>,
    /// Timing.
    pub timing: Timing,
}

impl Default for KvGen {
    fn default() -> Self {
        KvGen {
            seed: 1,
            ops: 2000,
            clients: 50,
            keys: 10,
            get_prob: 0.5,
            info_prob: 0.0,
            stale_read_at: None,
            timing: Timing::default(),
        }
    }
}

/// An append/get history over several keys, in the shape of Jepsen's and Porcupine's
/// kv tests: each append writes a token unique in the history (`"<client>.<n> "`), each
/// get returns the whole value (`None` while the key is absent). Linearizable by
/// construction unless [`KvGen::stale_read_at`] is set.
pub fn kv_history(config: &KvGen) -> Vec<Operation<KvOp, KvRet>> {
    let mut rng = Rng::new(config.seed);
    let timing = config.timing;
    let keys = config.keys.max(1);
    let mut truth: Vec<Option<String>> = vec![None; keys];
    // Per key: (return time of an append that took effect, value just before it).
    let mut appended: Vec<Vec<(u64, Option<String>)>> = vec![Vec::new(); keys];
    let mut processes: Vec<u64> = (0..config.clients.max(1) as u64).collect();
    let n_clients = processes.len() as u64;
    let mut heap = Pending::new();
    for c in 0..processes.len() {
        schedule(&mut heap, &mut rng, &timing, c, 0);
    }
    let stale_from = config.stale_read_at.map(|f| (f.clamp(0.0, 1.0) * config.ops as f64) as usize);
    let mut stale_done = false;
    let mut history = Vec::with_capacity(config.ops);
    let mut seq = 0u64;
    while history.len() < config.ops {
        let Reverse((lin, c, call, _)) = heap.pop().expect("clients never stop");
        let ret = lin + rng.below(timing.latency_max_ns + 1);
        let key = rng.below(keys as u64) as usize;
        let crashed = rng.chance(config.info_prob);
        let takes_effect = !crashed || rng.chance(0.5);
        let (input, output) = if rng.chance(config.get_prob) {
            let mut value = truth[key].clone();
            if !crashed && !stale_done && stale_from.is_some_and(|from| history.len() >= from) {
                if let Some((_, before)) = appended[key].iter().rev().find(|(returned, _)| *returned < call) {
                    value = before.clone();
                    stale_done = true;
                }
            }
            (KvOp::Get, KvRet::Value(value))
        } else {
            seq += 1;
            let token = format!("{}.{seq} ", processes[c]);
            if takes_effect {
                let before = truth[key].clone();
                truth[key].get_or_insert_with(String::new).push_str(&token);
                if !crashed {
                    appended[key].push((ret, before));
                }
            }
            (KvOp::Append(token), KvRet::Ok)
        };
        history.push(Operation {
            process: processes[c],
            key: format!("k{key}"),
            call_ns: call,
            return_ns: if crashed { None } else { Some(ret) },
            input,
            output: if crashed { None } else { Some(output) },
        });
        if crashed {
            processes[c] += n_clients;
        }
        schedule(&mut heap, &mut rng, &timing, c, ret);
    }
    history
}
