//! Consul's state store, as far as sessions and KV locks go: what every server's FSM applies from
//! the replicated log (`agent/consul/state/session.go`, `state/kvs.go`), plus the per-server
//! in-memory lock-delay table (`state/delay.go`). See the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::msg::ConsulSessionId;
use crate::node::{ms, LockId, NodeId};

/// What happens to a session's locks when it is invalidated (`Behavior` of `/v1/session/create`).
#[derive(serde::Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// The default: the keys' `Session` is cleared (`ModifyIndex` bumped), the keys stay.
    #[default]
    Release,
    /// The keys are deleted — and with them their `LockIndex`: the next acquire starts at 1 again.
    Delete,
}

/// A session as the state store keeps it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Session {
    pub id: ConsulSessionId,
    /// The node the session belongs to (the client's agent).
    pub node: NodeId,
    /// 0: no TTL.
    pub ttl_ms: u64,
    pub lock_delay_ms: u64,
    pub behavior: Behavior,
    /// Tied to the node's `serfHealth` check (Consul's default) or to no check at all.
    pub checks: bool,
}

/// A KV entry (`structs.DirEntry`), reduced to its lock fields.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KvEntry {
    /// The lock holder (`Session` field), `None` when free.
    pub session: Option<ConsulSessionId>,
    /// How many times the key was acquired (`LockIndex`).
    pub lock_index: u64,
    pub modify_index: u64,
}

/// One write of the replicated log (a Raft `MessageType` with its request).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Written by a new leader before it serves (Raft's barrier / no-op).
    Noop,
    SessionCreate {
        node: NodeId,
        ttl_ms: u64,
        lock_delay_ms: u64,
        behavior: Behavior,
        checks: bool,
    },
    /// `SessionRequest{Op: destroy}`: explicit destroy, or the leader's TTL timer (`invalidateSession`).
    SessionDestroy {
        session: ConsulSessionId,
    },
    /// `KVSRequest{Op: lock}` (the lock-delay was checked by the leader before proposing).
    KvLock {
        key: LockId,
        session: ConsulSessionId,
    },
    /// `KVSRequest{Op: unlock}`.
    KvUnlock {
        key: LockId,
        session: ConsulSessionId,
    },
    /// The leader's reconcile of a Serf member: `serfHealth` critical (failed) or passing (alive).
    NodeHealth {
        node: NodeId,
        critical: bool,
    },
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogEntry {
    pub term: u64,
    pub op: Op,
}

/// What applying an op answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Nothing,
    /// `SessionCreate`: the new session, or `None` (the node's check is critical).
    Session(Option<ConsulSessionId>),
    /// `KvLock`: acquired (`granted` when this acquire incremented `LockIndex`: a new holder).
    Lock {
        ok: bool,
        invalid: bool,
        granted: bool,
        lock_index: u64,
        modify_index: u64,
    },
    /// `KvUnlock`, `SessionDestroy`.
    Done(bool),
}

/// One server's state store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StateStore {
    pub sessions: BTreeMap<ConsulSessionId, Session>,
    pub kv: BTreeMap<LockId, KvEntry>,
    /// The last index that changed each key (also a deletion): what blocking queries wait on.
    pub key_index: BTreeMap<LockId, u64>,
    /// Nodes whose `serfHealth` is critical.
    pub critical: BTreeSet<NodeId>,
    /// Lock-delay expiry per key, on *this server's* monotonic clock: `state/delay.go` keeps it in
    /// memory, set with `time.Now()` when the invalidation is applied, never replicated.
    pub lock_delay_until_ns: BTreeMap<LockId, u64>,
    /// Keys whose index changed since the server last looked (to wake blocking queries).
    pub touched: BTreeSet<LockId>,
}

impl StateStore {
    /// Apply log entry number `index` (1-based: Raft's index) at local monotonic time `now_ns`.
    pub fn apply(&mut self, index: u64, op: &Op, now_ns: u64) -> Applied {
        match *op {
            Op::Noop => Applied::Nothing,
            Op::SessionCreate { node, ttl_ms, lock_delay_ms, behavior, checks } => {
                // `sessionCreateTxn`: a session on a node whose check is critical is refused.
                if checks && self.critical.contains(&node) {
                    return Applied::Session(None);
                }
                self.sessions.insert(index, Session { id: index, node, ttl_ms, lock_delay_ms, behavior, checks });
                Applied::Session(Some(index))
            }
            Op::SessionDestroy { session } => Applied::Done(self.invalidate(index, session, now_ns)),
            Op::KvLock { key, session } => self.lock(index, key, session),
            Op::KvUnlock { key, session } => {
                // `kvsUnlockTxn`: only the holder's session releases.
                let ok = match self.kv.get_mut(&key) {
                    Some(e) if e.session == Some(session) => {
                        e.session = None;
                        e.modify_index = index;
                        true
                    }
                    _ => false,
                };
                if ok {
                    self.touch(key, index);
                }
                Applied::Done(ok)
            }
            Op::NodeHealth { node, critical } => {
                if critical {
                    self.critical.insert(node);
                    // `checkSessionsTxn`/`deleteSessionTxn`: every session tied to the node's
                    // now-critical check is invalidated.
                    let doomed: Vec<ConsulSessionId> =
                        self.sessions.values().filter(|s| s.node == node && s.checks).map(|s| s.id).collect();
                    for s in doomed {
                        self.invalidate(index, s, now_ns);
                    }
                } else {
                    self.critical.remove(&node);
                }
                Applied::Nothing
            }
        }
    }

    /// `kvsLockTxn`: acquire iff the session exists and the key has no other holder.
    fn lock(&mut self, index: u64, key: LockId, session: ConsulSessionId) -> Applied {
        if !self.sessions.contains_key(&session) {
            return Applied::Lock { ok: false, invalid: true, granted: false, lock_index: 0, modify_index: 0 };
        }
        let (lock_index, granted) = match self.kv.get(&key) {
            // "We already hold this lock, good to go."
            Some(e) if e.session == Some(session) => (e.lock_index, false),
            // "Bail out, someone else holds this lock."
            Some(e) if e.session.is_some() => {
                return Applied::Lock {
                    ok: false,
                    invalid: false,
                    granted: false,
                    lock_index: e.lock_index,
                    modify_index: e.modify_index,
                }
            }
            // "Set up a new lock with this session."
            Some(e) => (e.lock_index + 1, true),
            None => (1, true),
        };
        self.kv.insert(key, KvEntry { session: Some(session), lock_index, modify_index: index });
        self.touch(key, index);
        Applied::Lock { ok: true, invalid: false, granted, lock_index, modify_index: index }
    }

    /// `deleteSessionTxn`: the session goes; its keys are released (or deleted) and each gets a
    /// lock-delay on this server's clock. Returns whether the session existed.
    pub fn invalidate(&mut self, index: u64, session: ConsulSessionId, now_ns: u64) -> bool {
        let Some(s) = self.sessions.remove(&session) else { return false };
        let held: Vec<LockId> = self.kv.iter().filter(|(_, e)| e.session == Some(session)).map(|(&k, _)| k).collect();
        for key in held {
            match s.behavior {
                Behavior::Release => {
                    let e = self.kv.get_mut(&key).expect("held key");
                    e.session = None;
                    e.modify_index = index;
                }
                Behavior::Delete => {
                    self.kv.remove(&key);
                }
            }
            self.touch(key, index);
            if s.lock_delay_ms > 0 {
                let until = now_ns + ms(s.lock_delay_ms);
                let slot = self.lock_delay_until_ns.entry(key).or_insert(0);
                *slot = (*slot).max(until);
            }
        }
        true
    }

    /// `KVSLockDelay`: is a lock-delay in force on `key` at local time `now_ns`?
    pub fn lock_delayed(&self, key: LockId, now_ns: u64) -> bool {
        self.lock_delay_until_ns.get(&key).is_some_and(|&until| until > now_ns)
    }

    fn touch(&mut self, key: LockId, index: u64) {
        self.key_index.insert(key, index);
        self.touched.insert(key);
    }

    /// The blocking-query index of `key` (`X-Consul-Index`; at least 1, as Consul never returns 0).
    pub fn index_of(&self, key: LockId) -> u64 {
        self.key_index.get(&key).copied().unwrap_or(0).max(1)
    }
}
