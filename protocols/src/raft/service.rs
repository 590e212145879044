//! The lock service: the replicated state machine (leases, lock keys ordered by revision, client
//! request ids) and how a peer applies committed entries to it, answers, watches and revokes.
//! See the [module docs](super) for the etcd semantics it follows.

use super::msg::RaftMsg;
use super::*;

/// A lease as the state machine knows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseRecord {
    pub client: NodeId,
    pub ttl_ms: u64,
}

/// A lock key: created by `lease` (of `client`) at its revision.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockKey {
    pub lease: LeaseId,
    pub client: NodeId,
}

/// The replicated state machine: leases and lock queues. A pure function of the applied log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LockService {
    pub revision: u64,
    pub leases: BTreeMap<LeaseId, LeaseRecord>,
    /// Per lock, its keys by creation revision: the first is the holder, the others wait.
    pub locks: BTreeMap<LockId, BTreeMap<u64, LockKey>>,
    /// Per client, its last lease-grant request id and the lease it created (thesis §6.3).
    pub grant_requests: BTreeMap<NodeId, (u64, LeaseId)>,
    /// Per client, its last acquire request id and the revision of the key it created.
    pub acquire_requests: BTreeMap<NodeId, (u64, u64)>,
    /// Per lease and lock, the revision its last `Release` deleted: a duplicated or retried
    /// release of that key answers `ok` again instead of "not yours" (thesis §6.3). Without it a
    /// release whose first answer is lost, and whose copy is applied second, reports a failure
    /// although it released the lock (found by `raft-chaos`, seed 6: not linearizable).
    pub released: BTreeMap<(LeaseId, LockId), u64>,
}

/// What applying one command did (the leader answers and records from it).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(super) struct Applied {
    pub(super) answer: Option<RaftAnswer>,
    /// Keys deleted: (lock, revision, client).
    pub(super) deleted: Vec<(LockId, u64, NodeId)>,
    /// Keys that became holders: (lock, revision, client).
    pub(super) promoted: Vec<(LockId, u64, NodeId)>,
    /// A waiter created: (lock, its revision, predecessor revision, client).
    pub(super) waiting: Option<(LockId, u64, u64, NodeId)>,
    pub(super) granted_lease: Option<LeaseId>,
}

impl LockService {
    pub(super) fn head(&self, lock: LockId) -> Option<u64> {
        self.locks.get(&lock).and_then(|keys| keys.keys().next().copied())
    }

    pub(super) fn predecessor(&self, lock: LockId, revision: u64) -> Option<u64> {
        self.locks.get(&lock).and_then(|keys| keys.range(..revision).next_back().map(|(r, _)| *r))
    }

    /// Delete one key; a new holder may follow.
    pub(super) fn delete(&mut self, lock: LockId, revision: u64, out: &mut Applied) {
        let was_head = self.head(lock) == Some(revision);
        let Some(keys) = self.locks.get_mut(&lock) else { return };
        let Some(key) = keys.remove(&revision) else { return };
        out.deleted.push((lock, revision, key.client));
        if was_head {
            if let Some((&next, k)) = keys.iter().next() {
                out.promoted.push((lock, next, k.client));
            }
        }
        if keys.is_empty() {
            self.locks.remove(&lock);
        }
    }

    pub(super) fn apply(&mut self, index: u64, cmd: &RaftCmd) -> Applied {
        let mut out = Applied::default();
        match *cmd {
            RaftCmd::Noop => {}
            RaftCmd::LeaseGrant { client, request_id, ttl_ms } => {
                // A retried grant (same request id) gets the lease the first one created.
                let lease = match self.grant_requests.get(&client) {
                    Some(&(rid, lease)) if rid == request_id && self.leases.contains_key(&lease) => lease,
                    _ => {
                        self.leases.insert(index, LeaseRecord { client, ttl_ms });
                        self.grant_requests.insert(client, (request_id, index));
                        out.granted_lease = Some(index);
                        index
                    }
                };
                out.answer = Some(RaftAnswer::LeaseGranted { lease, ttl_ms });
            }
            RaftCmd::LeaseKeepAlive { lease } => {
                out.answer = Some(if self.leases.contains_key(&lease) {
                    RaftAnswer::KeepAliveOk
                } else {
                    RaftAnswer::LeaseNotFound
                });
            }
            RaftCmd::LeaseRevoke { lease } => {
                if self.leases.remove(&lease).is_some() {
                    let owned: Vec<(LockId, u64)> = self
                        .locks
                        .iter()
                        .flat_map(|(&lock, keys)| {
                            keys.iter().filter(|(_, k)| k.lease == lease).map(move |(&r, _)| (lock, r))
                        })
                        .collect();
                    for (lock, revision) in owned {
                        self.delete(lock, revision, &mut out);
                    }
                }
                out.answer = Some(RaftAnswer::Revoked);
            }
            RaftCmd::Acquire { client, request_id, lease, lock } => {
                if !self.leases.contains_key(&lease) {
                    out.answer = Some(RaftAnswer::LeaseNotFound);
                    return out;
                }
                // A retry of the same request: the key it created, not a second one.
                let existing = match self.acquire_requests.get(&client) {
                    Some(&(rid, revision)) if rid == request_id => Some(revision),
                    _ => None,
                };
                let revision = match existing {
                    Some(revision) => revision,
                    None => {
                        self.revision += 1;
                        let revision = self.revision;
                        self.locks.entry(lock).or_default().insert(revision, LockKey { lease, client });
                        self.acquire_requests.insert(client, (request_id, revision));
                        revision
                    }
                };
                let exists = self.locks.get(&lock).is_some_and(|keys| keys.contains_key(&revision));
                out.answer = Some(if !exists {
                    RaftAnswer::LeaseNotFound
                } else if self.head(lock) == Some(revision) {
                    if existing.is_none() {
                        out.promoted.push((lock, revision, client));
                    }
                    RaftAnswer::Acquired { revision }
                } else {
                    let pred = self.predecessor(lock, revision).expect("a waiter has a predecessor");
                    out.waiting = Some((lock, revision, pred, client));
                    RaftAnswer::Waiting { revision }
                });
            }
            RaftCmd::Release { lease, lock, revision } => {
                let owned =
                    self.locks.get(&lock).and_then(|keys| keys.get(&revision)).is_some_and(|k| k.lease == lease);
                let ok = if owned {
                    self.delete(lock, revision, &mut out);
                    self.released.insert((lease, lock), revision);
                    true
                } else {
                    self.released.get(&(lease, lock)) == Some(&revision)
                };
                out.answer = Some(RaftAnswer::Released { ok });
            }
        }
        out
    }

    /// The read behind [`RaftOp::Status`]. `bug`: the etcd 3.4.3 check (no lower revision left),
    /// which forgets to check that the key itself still exists.
    pub(super) fn status(&self, lease: LeaseId, lock: LockId, revision: u64, bug: bool) -> RaftAnswer {
        let mine = self.locks.get(&lock).and_then(|keys| keys.get(&revision)).is_some_and(|k| k.lease == lease);
        let has_predecessor = self.predecessor(lock, revision).is_some();
        match (mine, has_predecessor) {
            (true, false) => RaftAnswer::Acquired { revision },
            (true, true) => RaftAnswer::Waiting { revision },
            (false, false) if bug => RaftAnswer::Acquired { revision },
            (false, _) => RaftAnswer::LeaseNotFound,
        }
    }
}

/// A waiter's watch, kept by the leader (volatile, like an etcd watch on the leader's stream).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Watch {
    pub lock: LockId,
    /// The predecessor's revision (`None` with `watch = "all"`: any deletion).
    pub watched: Option<u64>,
    pub revision: u64,
    pub client: NodeId,
}

impl RaftPeer {
    // ---- The state machine ----

    pub(super) fn apply_committed(&mut self, ctx: &mut Ctx) {
        while self.applied < self.commit {
            self.applied += 1;
            let index = self.applied;
            let entry = self.log[index as usize - 1].clone();
            ctx.record(Observation::RaftApplied { index, entry_term: entry.term, chain: self.chain_at(index) });
            let out = Arc::make_mut(&mut self.sm).apply(index, &entry.cmd);
            // Every peer records the grants of the entry it applies: the state machine is
            // deterministic, so each peer's promotion of (lock, revision, client) at index i is
            // the same grant, and the checkers take the first record of each. The first records
            // are in log order (a peer applies i before j), whichever peers they come from.
            for &(lock, revision, holder) in &out.promoted {
                let value = self.sm.locks.get(&lock).and_then(|k| k.get(&revision)).map_or(0, |k| k.lease);
                ctx.record(Observation::Grant { lock, holder, value, token: Some(revision) });
            }
            if self.role == Role::Leader {
                self.leader_applied(ctx, index, &entry, out);
            } else {
                // A proposal of this peer from when it led, applied after it stepped down.
                self.answer_pending(ctx, index, entry.term, out.answer);
            }
        }
        self.serve_reads(ctx);
    }

    /// The leader's side effects of an applied entry: lease deadlines, answers, grants, watches.
    pub(super) fn leader_applied(&mut self, ctx: &mut Ctx, index: u64, entry: &RaftEntry, out: Applied) {
        let now = ctx.mono_ns;
        match entry.cmd {
            RaftCmd::LeaseGrant { ttl_ms, .. } => {
                if let Some(lease) = out.granted_lease {
                    Arc::make_mut(&mut self.lease_deadline_mono_ns).insert(lease, now + ms(ttl_ms));
                }
            }
            RaftCmd::LeaseKeepAlive { lease } if self.revoking.contains(&lease) => {
                // The lease expired while this keep-alive was in the log, and its revoke is in
                // the log right behind it: renewing now would answer OK for a lease about to be
                // deleted. Refuse it as etcd's `Renew` refuses an expired lease: the answer waits
                // for the revoke (LeaseNotFound).
                if let Some((client, req, _)) = self.take_pending(index, entry.term) {
                    Arc::make_mut(&mut self.revoke_waiters).entry(lease).or_default().push((client, req));
                }
            }
            RaftCmd::LeaseKeepAlive { lease } => {
                if let Some(l) = self.sm.leases.get(&lease) {
                    let deadline = now + ms(l.ttl_ms);
                    let d = Arc::make_mut(&mut self.lease_deadline_mono_ns).entry(lease).or_insert(deadline);
                    *d = (*d).max(deadline);
                }
            }
            RaftCmd::LeaseRevoke { lease } => {
                Arc::make_mut(&mut self.lease_deadline_mono_ns).remove(&lease);
                Arc::make_mut(&mut self.revoking).remove(&lease);
                for (client, req) in Arc::make_mut(&mut self.revoke_waiters).remove(&lease).unwrap_or_default() {
                    let answer = RaftAnswer::LeaseNotFound;
                    self.send_client(ctx, client, RaftMsg::RaftReply { req, op: RaftOpKind::KeepAlive, answer });
                }
            }
            _ => {}
        }
        if let Some((lock, revision, pred, client)) = out.waiting {
            self.add_watch(lock, revision, pred, client);
        }
        for &(lock, revision, _) in &out.deleted {
            self.fire_watches(ctx, lock, revision);
        }
        self.answer_pending(ctx, index, entry.term, out.answer);
    }

    /// The proposal waiting for the entry at `index`, if it is that entry (same term).
    pub(super) fn take_pending(&mut self, index: u64, term: u64) -> Option<(NodeId, u64, RaftOpKind)> {
        let (t, client, req, op) = Arc::make_mut(&mut self.pending).remove(&index)?;
        (t == term).then_some((client, req, op))
    }

    pub(super) fn answer_pending(&mut self, ctx: &mut Ctx, index: u64, term: u64, answer: Option<RaftAnswer>) {
        if let Some((client, req, op)) = self.take_pending(index, term) {
            if let Some(answer) = answer {
                self.send_client(ctx, client, RaftMsg::RaftReply { req, op, answer });
            }
        }
    }

    pub(super) fn add_watch(&mut self, lock: LockId, revision: u64, pred: u64, client: NodeId) {
        let watched = match self.params.watch {
            WatchMode::Predecessor => Some(pred),
            WatchMode::All => None,
        };
        let w = Watch { lock, watched, revision, client };
        if !self.watches.contains(&w) {
            Arc::make_mut(&mut self.watches).push(w);
        }
    }

    /// A key was deleted: tell the waiters watching it (and a waiter whose own key it was).
    pub(super) fn fire_watches(&mut self, ctx: &mut Ctx, lock: LockId, deleted: u64) {
        let mut fired = Vec::new();
        Arc::make_mut(&mut self.watches).retain(|w| {
            let hit = w.lock == lock && (w.watched.is_none_or(|p| p == deleted) || w.revision == deleted);
            if hit {
                fired.push((w.client, w.revision));
            }
            !hit
        });
        for (client, revision) in fired {
            self.send_client(ctx, client, RaftMsg::RaftWatch { lock, revision });
        }
    }

    /// The leader proposes `cmd` for a client (answered when applied).
    pub(super) fn propose(&mut self, ctx: &mut Ctx, cmd: RaftCmd, reply_to: Option<(NodeId, u64, RaftOpKind)>) {
        self.append(RaftEntry { term: self.term, cmd });
        let index = self.last_index();
        if let Some((client, req, op)) = reply_to {
            Arc::make_mut(&mut self.pending).insert(index, (self.term, client, req, op));
        }
        self.save(ctx);
        for p in self.others(ctx.me) {
            // Send at once to followers that are caught up; the others get it with the answer to
            // what is in flight to them, or with the next heartbeat.
            if self.peer_pos(p).and_then(|pos| self.next_index.get(pos)) == Some(index) {
                self.send_append(ctx, p);
            }
        }
        self.advance_commit(ctx);
    }

    /// Has this leader seen `lease` run out (its deadline passed, or its revoke proposed)?
    pub(super) fn lease_expired(&self, ctx: &Ctx, lease: LeaseId) -> bool {
        self.revoking.contains(&lease) || self.lease_deadline_mono_ns.get(&lease).is_some_and(|&d| ctx.mono_ns >= d)
    }

    /// Leader: propose a revoke for every lease past its deadline.
    pub(super) fn check_leases(&mut self, ctx: &mut Ctx) {
        if self.role != Role::Leader {
            return;
        }
        let now = ctx.mono_ns;
        let expired: Vec<LeaseId> = self
            .lease_deadline_mono_ns
            .iter()
            .filter(|(id, &d)| now >= d && !self.revoking.contains(id))
            .map(|(&id, _)| id)
            .collect();
        for lease in expired {
            Arc::make_mut(&mut self.revoking).insert(lease);
            self.propose(ctx, RaftCmd::LeaseRevoke { lease }, None);
        }
        ctx.set_timer(Timer::LeaseCheck, ms(self.params.lease_check_ms));
    }
}
