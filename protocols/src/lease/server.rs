//! The lease server: the Redis key (`SET NX PX`, compare-and-delete, `PEXPIRE`, `GET`+`PTTL`), or
//! Redisson's reentrant scripts, with persistence, fencing tokens, replication and delayed restart.
//! See the [module docs](super).

use super::msg::LeaseMsg;
use crate::msg::KvMsg;
use std::collections::btree_map::Entry as MapEntry;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::durable::{LockEntry, ServerDurable};
use super::msg::ReplicatedEntry;
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId, Persistence, Timer};
use crate::Durable;

/// Which lock implementation the server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServerKind {
    /// Plain Redis: `SET key value NX PX ttl`, refused whenever the key exists.
    #[default]
    Redis,
    /// Redisson's `RLock` scripts: reentrant acquire with a hold count, unlock that decrements it.
    Redisson,
}

/// Which server clock judges expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryClock {
    /// The wall clock, as Redis does: a step of the clock moves every expiry.
    #[default]
    Wall,
    /// The monotonic clock: immune to steps, still subject to drift.
    Monotonic,
}

/// Whether the fencing-token counter survives a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenCounter {
    /// Synced to disk on every grant: tokens strictly increase across restarts.
    #[default]
    Durable,
    /// Kept with the lock table under its persistence policy: a restart may reuse tokens.
    Volatile,
}

/// Parameters of a lease server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseServerParams {
    /// Redis `SET NX PX`, or Redisson's reentrant scripts.
    pub kind: ServerKind,
    pub expiry_clock: ExpiryClock,
    pub persistence: Persistence,
    /// Hand out fencing tokens with every grant (whether the resource checks them is its business).
    pub tokens: bool,
    pub token_counter: TokenCounter,
    /// After a restart, stay silent this long before serving (0: serve at once), measured on the
    /// expiry clock: with wall-clock expiry a forward step of the clock cuts the delay short.
    pub restart_delay_ms: u64,
    /// The token counter's value before the first grant (Kleppmann's figure starts at 33).
    pub initial_token: u64,
    /// Replicas this server forwards its changes to (asynchronously).
    pub replicate_to: Vec<NodeId>,
    /// How long a change waits before it is forwarded.
    pub replication_delay_ms: u64,
    /// Lock-delay (Chubby, Consul sessions): after a lease *expires* — the server's failure
    /// detector declaring the holder dead — the key stays locked this much longer, so that a holder
    /// wrongly declared dead has time to notice and its in-flight requests time to land. A release
    /// frees the key at once. 0: off.
    pub lock_delay_ms: u64,
}

/// The lease server's state machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseServer {
    pub params: LeaseServerParams,
    pub locks: BTreeMap<LockId, LockEntry>,
    pub last_token: u64,
    /// False while a delayed restart is in progress.
    pub serving: bool,
    /// With a delayed restart: serve again once the expiry clock reads this.
    pub serve_after_ns: i64,
    /// An `everysec` fsync is scheduled.
    pub fsync_pending: bool,
    /// Locks changed since the last replication, not yet forwarded.
    pub unreplicated: Vec<LockId>,
}

impl LeaseServer {
    pub fn new(params: LeaseServerParams) -> Self {
        LeaseServer {
            locks: BTreeMap::new(),
            last_token: params.initial_token,
            serving: true,
            serve_after_ns: 0,
            fsync_pending: false,
            unreplicated: Vec::new(),
            params,
        }
    }

    /// "Now" on the clock that judges expiry.
    fn now_ns(&self, ctx: &Ctx) -> i64 {
        match self.params.expiry_clock {
            ExpiryClock::Wall => ctx.wall_ns,
            ExpiryClock::Monotonic => ctx.mono_ns as i64,
        }
    }

    /// The expiry expressed on the server's wall clock, as a server timestamp sent to clients.
    fn expiry_on_wall(&self, ctx: &Ctx, expires_at_ns: i64) -> i64 {
        match self.params.expiry_clock {
            ExpiryClock::Wall => expires_at_ns,
            ExpiryClock::Monotonic => ctx.wall_ns + (expires_at_ns - ctx.mono_ns as i64),
        }
    }

    /// The live (unexpired) entry for `lock`. Expired keys are dropped lazily, as Redis does on
    /// access — once their lock-delay, if any, is over too.
    fn live(&mut self, lock: LockId, now_ns: i64) -> Option<&mut LockEntry> {
        let delay_ns = ms(self.params.lock_delay_ms) as i64;
        // One lookup: the entry is dropped or handed out in place.
        match self.locks.entry(lock) {
            MapEntry::Occupied(e) if now_ns >= e.get().expires_at_ns + delay_ns => {
                e.remove();
                None
            }
            MapEntry::Occupied(e) => Some(e.into_mut()).filter(|e| now_ns < e.expires_at_ns),
            MapEntry::Vacant(_) => None,
        }
    }

    /// While an expired lease's lock-delay runs: when the key frees (on the expiry clock).
    fn lock_delay_until(&self, lock: LockId, now_ns: i64) -> Option<i64> {
        let delay_ns = ms(self.params.lock_delay_ms) as i64;
        self.locks.get(&lock).map(|e| e.expires_at_ns + delay_ns).filter(|&until| now_ns < until)
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, durable } => {
                if let Some(Durable::LeaseServer(d)) = durable {
                    self.locks = d.locks;
                    self.last_token = d.last_token;
                }
                if incarnation > 0 && self.params.restart_delay_ms > 0 {
                    self.serving = false;
                    self.serve_after_ns = self.now_ns(ctx) + ms(self.params.restart_delay_ms) as i64;
                    ctx.set_timer(Timer::RestartDelay, ms(self.params.restart_delay_ms));
                }
            }
            Input::Timer(Timer::RestartDelay) => self.serving = true,
            Input::Timer(Timer::Fsync) => {
                self.fsync_pending = false;
                ctx.sync();
            }
            Input::Timer(Timer::Replicate) => self.replicate(ctx),
            Input::Message { msg: Msg::Lease(LeaseMsg::Replicate { lock, entry, last_token }), .. } => {
                // A replica applies what its primary sends, converting the expiry to its own clock.
                match entry.map(|e| *e) {
                    Some(ReplicatedEntry { value, holder, expires_at_wall_ns, token }) => {
                        let expires_at_ns = match self.params.expiry_clock {
                            ExpiryClock::Wall => expires_at_wall_ns,
                            ExpiryClock::Monotonic => ctx.mono_ns as i64 + (expires_at_wall_ns - ctx.wall_ns),
                        };
                        let hold_count = self.locks.get(&lock).filter(|e| e.value == value).map_or(1, |e| e.hold_count);
                        self.locks.insert(lock, LockEntry { value, holder, expires_at_ns, token, hold_count });
                    }
                    None => {
                        self.locks.remove(&lock);
                    }
                }
                self.last_token = self.last_token.max(last_token);
            }
            Input::Message { from, msg } => {
                // The delay is judged on the expiry clock, like the TTL it waits out.
                if !self.serving && self.now_ns(ctx) >= self.serve_after_ns {
                    self.serving = true;
                }
                if self.serving {
                    self.on_message(ctx, from, msg);
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) {
        let now_ns = self.now_ns(ctx);
        match msg {
            Msg::Kv(KvMsg::Acquire { req, lock, value, ttl_ms }) => {
                let expires_at_ns = now_ns + ms(ttl_ms) as i64;
                // Without a lock-delay an expired key frees at once: nothing to look up.
                let delayed_until =
                    if self.params.lock_delay_ms == 0 { None } else { self.lock_delay_until(lock, now_ns) };
                let reentrant = self.params.kind == ServerKind::Redisson;
                let (granted, token, expires) = match self.live(lock, now_ns) {
                    // Redisson: `hexists` → `hincrby 1`, `pexpire`: the same holder again (a
                    // reentrant acquire, or a resent one) is granted and counted.
                    Some(e) if reentrant && e.value == value => {
                        e.hold_count += 1;
                        e.expires_at_ns = expires_at_ns;
                        let token = e.token;
                        self.write_durable(ctx, lock, false);
                        (true, token, expires_at_ns)
                    }
                    // Redis: `NX` — the key exists, so nil, whatever its value.
                    Some(e) => (false, None, e.expires_at_ns),
                    // Expired, but its lock-delay still runs: refused until then.
                    None if delayed_until.is_some() => (false, None, delayed_until.unwrap_or(now_ns)),
                    None => {
                        let token = if self.params.tokens {
                            self.last_token += 1;
                            Some(self.last_token)
                        } else {
                            None
                        };
                        self.locks.insert(lock, LockEntry { value, holder: from, expires_at_ns, token, hold_count: 1 });
                        ctx.record(Observation::Grant { lock, holder: from, value, token });
                        self.write_durable(ctx, lock, true);
                        (true, token, expires_at_ns)
                    }
                };
                let expires_at_wall_ns = self.expiry_on_wall(ctx, expires);
                ctx.send(from, Msg::Kv(KvMsg::AcquireReply { req, lock, value, granted, token, expires_at_wall_ns }));
            }
            Msg::Kv(KvMsg::Get { req, lock }) => {
                // `GET` and `PTTL` in one atomic read. PTTL is whole milliseconds, rounded down
                // (Redis computes `expire − now` in ms); −2 for a missing key.
                let reply = match self.live(lock, now_ns) {
                    Some(e) => {
                        let pttl_ms = (e.expires_at_ns - now_ns) / 1_000_000;
                        (Some(e.value), pttl_ms, e.token, e.expires_at_ns)
                    }
                    None => (None, -2, None, now_ns),
                };
                let (value, pttl_ms, token, expires) = reply;
                let expires_at_wall_ns = self.expiry_on_wall(ctx, expires);
                ctx.send(from, Msg::Kv(KvMsg::GetReply { req, lock, value, pttl_ms, token, expires_at_wall_ns }));
            }
            Msg::Kv(KvMsg::Extend { req, lock, value, ttl_ms }) => {
                let expires_at_ns = now_ns + ms(ttl_ms) as i64;
                let ok = match self.live(lock, now_ns) {
                    Some(e) if e.value == value => {
                        e.expires_at_ns = expires_at_ns;
                        true
                    }
                    _ => false,
                };
                if ok {
                    self.write_durable(ctx, lock, false);
                }
                let expires_at_wall_ns = self.expiry_on_wall(ctx, expires_at_ns);
                ctx.send(from, Msg::Kv(KvMsg::ExtendReply { req, lock, ok, expires_at_wall_ns }));
            }
            Msg::Kv(KvMsg::Release { req, lock, value, plain_del, ttl_ms }) => {
                let reentrant = self.params.kind == ServerKind::Redisson;
                // What the release does to the key: delete it, or (Redisson, hold count still
                // above zero after the decrement) re-arm its expiry and keep it.
                let (ok, delete) = match self.live(lock, now_ns) {
                    Some(e) if e.value == value && reentrant && e.hold_count > 1 => {
                        e.hold_count -= 1;
                        e.expires_at_ns = now_ns + ms(ttl_ms) as i64;
                        (true, false)
                    }
                    Some(e) if e.value == value => (true, true),
                    Some(e) if plain_del => {
                        ctx.record(Observation::ForeignDelete { lock, deleted_value: e.value, by: from });
                        (true, true)
                    }
                    _ => (false, false),
                };
                if delete {
                    self.locks.remove(&lock);
                }
                if ok {
                    self.write_durable(ctx, lock, false);
                }
                ctx.send(from, Msg::Kv(KvMsg::ReleaseReply { req, lock, ok }));
            }
            _ => {}
        }
    }

    /// Forward the changed locks to every replica.
    fn replicate(&mut self, ctx: &mut Ctx) {
        for lock in std::mem::take(&mut self.unreplicated) {
            let entry = self.locks.get(&lock).map(|e| {
                let wall = self.expiry_on_wall(ctx, e.expires_at_ns);
                Box::new(ReplicatedEntry { value: e.value, holder: e.holder, expires_at_wall_ns: wall, token: e.token })
            });
            for &replica in &self.params.replicate_to {
                ctx.send(
                    replica,
                    Msg::Lease(LeaseMsg::Replicate { lock, entry: entry.clone(), last_token: self.last_token }),
                );
            }
        }
    }

    /// Apply the persistence policy (and schedule replication) after a change to `lock`.
    fn write_durable(&mut self, ctx: &mut Ctx, lock: LockId, granted: bool) {
        if !self.params.replicate_to.is_empty() {
            if self.unreplicated.is_empty() {
                ctx.set_timer(Timer::Replicate, ms(self.params.replication_delay_ms));
            }
            if !self.unreplicated.contains(&lock) {
                self.unreplicated.push(lock);
            }
        }
        let token_must_sync = granted && self.params.tokens && self.params.token_counter == TokenCounter::Durable;
        let locks = match self.params.persistence {
            Persistence::None => BTreeMap::new(),
            Persistence::Always | Persistence::Everysec => self.locks.clone(),
        };
        if self.params.persistence == Persistence::None && !token_must_sync {
            return;
        }
        ctx.persist(Durable::LeaseServer(ServerDurable { locks, last_token: self.last_token }));
        match self.params.persistence {
            Persistence::Always => ctx.sync(),
            _ if token_must_sync => ctx.sync(),
            Persistence::Everysec if !self.fsync_pending => {
                self.fsync_pending = true;
                ctx.set_timer(Timer::Fsync, ms(1000));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Counter, Effect};

    fn params(kind: ServerKind) -> LeaseServerParams {
        LeaseServerParams {
            kind,
            expiry_clock: ExpiryClock::Wall,
            persistence: Persistence::None,
            tokens: false,
            token_counter: TokenCounter::Durable,
            restart_delay_ms: 0,
            initial_token: 0,
            replicate_to: Vec::new(),
            replication_delay_ms: 10,
            lock_delay_ms: 0,
        }
    }

    const C1: NodeId = 1;
    const C2: NodeId = 2;

    /// Deliver `msg` from `from` at local time `now_ms`; return the server's replies.
    fn deliver(server: &mut LeaseServer, now_ms: u64, from: NodeId, msg: Msg) -> Vec<Msg> {
        let mut entropy = Counter(0);
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(0, ms(now_ms), ms(now_ms) as i64, &mut entropy, &mut effects);
        server.handle(&mut ctx, Input::Message { from, msg });
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { msg, .. } => Some(msg),
                _ => None,
            })
            .collect()
    }

    fn set_nx(server: &mut LeaseServer, now_ms: u64, from: NodeId, value: u64) -> bool {
        match deliver(server, now_ms, from, Msg::Kv(KvMsg::Acquire { req: 1, lock: 0, value, ttl_ms: 5000 }))[..] {
            [Msg::Kv(KvMsg::AcquireReply { granted, .. })] => granted,
            ref other => panic!("expected one acquire_reply, got {other:?}"),
        }
    }

    fn release(server: &mut LeaseServer, now_ms: u64, from: NodeId, value: u64) -> bool {
        let msg = Msg::Kv(KvMsg::Release { req: 2, lock: 0, value, plain_del: false, ttl_ms: 5000 });
        match deliver(server, now_ms, from, msg)[..] {
            [Msg::Kv(KvMsg::ReleaseReply { ok, .. })] => ok,
            ref other => panic!("expected one release_reply, got {other:?}"),
        }
    }

    /// `SET key value NX PX ttl` on an existing key is nil whatever the value — the holder's own
    /// value included — and does not touch the key's TTL. Only a missing (or expired) key is set.
    #[test]
    fn redis_set_nx_refuses_an_existing_key_whatever_the_value() {
        let mut s = LeaseServer::new(params(ServerKind::Redis));
        assert!(set_nx(&mut s, 0, C1, 7), "a missing key is set");
        assert!(!set_nx(&mut s, 100, C2, 8), "another value: refused");
        assert!(!set_nx(&mut s, 200, C1, 7), "the holder's own value: refused too (NX)");
        // The refused same-value SET did not refresh the TTL: the key still expires at 5,000 ms.
        assert_eq!(s.locks[&0].expires_at_ns, ms(5000) as i64);
        assert_eq!(s.locks[&0].hold_count, 1);
        assert!(!set_nx(&mut s, 4999, C2, 8));
        assert!(set_nx(&mut s, 5000, C2, 8), "an expired key does not exist");
    }

    /// `GET` + `PTTL`: the value and the whole milliseconds left; nil and −2 for a missing key.
    #[test]
    fn get_reads_the_value_and_the_remaining_ttl() {
        let mut s = LeaseServer::new(params(ServerKind::Redis));
        match deliver(&mut s, 0, C1, Msg::Kv(KvMsg::Get { req: 1, lock: 0 }))[..] {
            [Msg::Kv(KvMsg::GetReply { value: None, pttl_ms: -2, .. })] => {}
            ref other => panic!("{other:?}"),
        }
        assert!(set_nx(&mut s, 10, C1, 7));
        match deliver(&mut s, 1210, C1, Msg::Kv(KvMsg::Get { req: 2, lock: 0 }))[..] {
            [Msg::Kv(KvMsg::GetReply { value: Some(7), pttl_ms: 3800, .. })] => {}
            ref other => panic!("{other:?}"),
        }
    }

    /// Redisson's RLock: the same field again is a reentrant grant (hold count 2, TTL re-armed);
    /// one unlock decrements and keeps the key (TTL re-armed again); the second deletes it.
    #[test]
    fn redisson_acquire_is_reentrant_and_unlock_counts_down() {
        let mut s = LeaseServer::new(params(ServerKind::Redisson));
        assert!(set_nx(&mut s, 0, C1, 7));
        assert!(!set_nx(&mut s, 50, C2, 8), "another field: refused (returns the PTTL)");
        assert!(set_nx(&mut s, 200, C1, 7), "the same field: hincrby, granted");
        assert_eq!(s.locks[&0].hold_count, 2);
        assert_eq!(s.locks[&0].expires_at_ns, ms(5200) as i64);
        assert!(release(&mut s, 300, C1, 7), "unlock returns normally (0: still locked)");
        assert_eq!(s.locks[&0].hold_count, 1, "the lock is still held after the release");
        assert_eq!(s.locks[&0].expires_at_ns, ms(5300) as i64, "and its TTL re-armed");
        assert!(!set_nx(&mut s, 400, C2, 8));
        assert!(set_nx(&mut s, 5300, C2, 8), "free only when the TTL runs out");
        assert!(!release(&mut s, 5400, C1, 7), "not the holder: nil");
        assert!(release(&mut s, 5500, C2, 8));
        assert!(!s.locks.contains_key(&0), "count 1 → 0: deleted");
    }

    /// A server that judges expiry on its monotonic clock still tells clients the expiry on its
    /// wall clock (what a client with `validity = "server_timestamp"` and a replica compare with
    /// their wall clocks). A cargo-mutants survivor: `-` turned into `+` in `expiry_on_wall`.
    #[test]
    fn a_monotonic_expiry_is_reported_on_the_wall_clock() {
        let mut p = params(ServerKind::Redis);
        p.expiry_clock = ExpiryClock::Monotonic;
        let mut s = LeaseServer::new(p);
        match deliver(&mut s, 1000, C1, Msg::Kv(KvMsg::Acquire { req: 1, lock: 0, value: 7, ttl_ms: 5000 }))[..] {
            [Msg::Kv(KvMsg::AcquireReply { granted: true, expires_at_wall_ns, .. })] => {
                assert_eq!(expires_at_wall_ns, ms(6000) as i64)
            }
            ref other => panic!("{other:?}"),
        }
    }
}
