//! Raft, and an etcd-style lock service replicated by it.
//!
//! This module is written to be read next to the paper: D. Ongaro and J. Ousterhout, "In Search of
//! an Understandable Consensus Algorithm (Extended Version)", 2014 (cited as §n), and D. Ongaro,
//! "Consensus: Bridging Theory and Practice", PhD thesis, 2014 (cited as *thesis* §n) for PreVote,
//! CheckQuorum and ReadIndex. Section numbers are given where each rule is implemented.
//!
//! # Raft in one page
//!
//! A cluster of peers keeps a replicated **log** of commands. Time is divided into **terms**
//! (§5.1); each term begins with an election and has at most one leader (**Election Safety**).
//!
//! * **Leader election** (§5.2). A follower that hears nothing from a leader for an *election
//!   timeout* (drawn at random from `[election_timeout_min, max]` from the node's seeded source, so
//!   that split votes resolve) becomes a candidate: it increments its term, votes for itself and
//!   asks the others for their vote (`RequestVote`). A peer grants at most one vote per term, and
//!   only to a candidate whose log is at least as up to date as its own (§5.4.1: last term higher,
//!   or same last term and at least as long). A majority of votes makes a leader.
//! * **Log replication** (§5.3). The leader appends client commands to its log and sends them with
//!   `AppendEntries`, which carries the index and term of the entry preceding the new ones. A
//!   follower accepts only if its log has that entry (the consistency check), deleting any
//!   conflicting suffix. Together these give **Log Matching**: two logs with an entry of the same
//!   index and term are identical up to that index.
//! * **Commitment** (§5.3, §5.4.2). An entry is committed once stored on a majority — but the
//!   leader only commits entries *of its current term* by counting replicas; earlier entries are
//!   committed indirectly, with them (Figure 8 of the paper shows why counting old entries is
//!   unsafe). To commit promptly after an election a new leader appends a no-op (§8).
//!   `commit_rule = "count_any_term"` is that bug, as a switch: a leader commits any entry stored
//!   on a majority. In `raft-figure-8` the term-3 leader commits (and answers) a term-1 acquire
//!   that the returning term-2 leader then overwrites: two holders.
//!   Committed entries are applied in order to the **state machine** (the lock service below);
//!   **Leader Completeness** (every committed entry is in every later leader's log) and **State
//!   Machine Safety** (no two peers apply different commands at one index) follow.
//! * **Persistence** (§5.1, Figure 2). `currentTerm`, `votedFor` and the log must be on stable
//!   storage *before* a peer answers an RPC. Here a change is written with `Effect::Persist` and
//!   made durable with `Effect::Sync` (per the [`Persistence`] policy); the simulator keeps what
//!   was synced across a crash. `persist_vote = false` forgets the vote on a restart: the restarted
//!   peer may vote twice in one term, and two leaders of one term follow (`raft-voter-restart`).
//! * **Answers** come from the peer a client asked, when it applies the entry it proposed — also
//!   after it stepped down, as etcd's server waits on the request id it registered
//!   (`server/etcdserver/v3_server.go`, `processInternalRaftRequestOnce`), not on leadership. An
//!   entry overwritten by another leader's is never answered (the client times out and retries).
//!
//! Switches from the thesis:
//!
//! * **PreVote** (thesis §9.6): before incrementing its term, a would-be candidate asks whether it
//!   *could* win. Peers that heard from a leader recently, or whose log is more up to date, say no.
//!   A peer cut off by a partition then does not inflate its term and depose a healthy leader on
//!   return.
//! * **CheckQuorum** (thesis §6.2): a leader that has not heard from a majority for an election
//!   timeout steps down; and peers that heard from a leader within the minimum election timeout
//!   ignore vote requests ("leader stickiness", thesis §4.2.3).
//! * **ReadIndex** (thesis §6.4): a linearizable read without writing to the log. The leader notes
//!   its commit index (at least the start of its term), confirms it is still leader with a round of
//!   heartbeats acknowledged by a majority, waits until it has applied that index, then answers.
//! * **Leader-lease reads** (thesis §6.4.1): skip the heartbeat round while a lease is valid: after
//!   a majority acknowledged a heartbeat round that started at `t`, no other leader can be elected
//!   before `t + election_timeout_min` — *if clocks run at the same rate*. That assumption is why
//!   it is a switch (`read = "lease"`, scenario #18).
//!
//! # The lock service (the replicated state machine)
//!
//! In the style of etcd v3 (`clientv3/concurrency`):
//!
//! * A client first obtains a **lease** (`LeaseGrant`, with a TTL), kept alive by `LeaseKeepAlive`.
//!   Leases expire by the **leader's** clock: the leader tracks a deadline per lease (volatile) and
//!   proposes `LeaseRevoke` once it passes. A new leader cannot know how long the old one had left,
//!   so it grants every lease a full TTL on election (etcd's "lease promote"). Keep-alives go
//!   through the log here, so a deposed leader cannot renew a lease.
//! * **An expired lease is not renewed** (etcd `server/lease/lessor.go`, `Renew`: a lease past its
//!   expiry waits for its revoke and answers `ErrLeaseNotFound`). A keep-alive that reaches the
//!   leader after the lease's deadline, or while its revoke is proposed, is not proposed; nor is a
//!   keep-alive answered OK when its entry applies with the lease's revoke pending behind it (the
//!   lease check ran between its arrival and its application). Either way the answer,
//!   `LeaseNotFound`, waits for the revoke to apply (a leader deposed first answers nothing; the
//!   client retries, as on etcd's `ErrNotPrimary`). Before this, the keep-alive applied just ahead
//!   of the revoke was answered OK: the client believed it held for a further TTL while the revoke
//!   handed its lock on (`raft-keepalive-race`, `raft-keepalive-race-in-log`).
//! * **Acquire** creates a key for the lock owned by the lease, with the cluster's next
//!   **revision** as its creation revision. Keys of a lock are ordered by creation revision; the
//!   lowest is the holder. A client that is not first *waits*, watching only its predecessor
//!   (ZooKeeper's lock recipe, no herd: scenario #14); when the predecessor's key is deleted, the
//!   waiter reads the lock's state again. `watch = "all"` notifies every waiter instead (the herd).
//!   The holder's creation revision is its **fencing token** (etcd's revision, ZooKeeper's zxid).
//! * **Release** deletes the key; revoking a lease (expiry) deletes every key it owns.
//! * **Client request ids** (thesis §6.3): an acquire retried after a lost response carries the
//!   same request id; the state machine answers with the key it already created instead of
//!   creating a second one (scenario #9).
//! * **The etcd 3.4.3 bug** (`grant_expired_waiter = true`, Jepsen, etcd issues 11456/11457): when
//!   a waiter's predecessor goes away, the service checks only that no key with a lower revision
//!   remains, not that the waiter's own key still exists. A waiter whose lease expired while it
//!   waited is told it holds the lock (scenario #10).
//!
//! History: peers record [`Observation::RaftLeader`] on election, [`Observation::RaftCommitted`]
//! when the leader advances its commit index, and [`Observation::RaftApplied`] for every entry
//! applied; entries carry a chain hash (the hash of the previous entry's chain hash, the entry's
//! term and command) so the checkers can test Log Matching, Leader Completeness and State Machine
//! Safety from the history alone. **Every peer** records [`Observation::Grant`] when it applies an
//! entry that makes a key the holder (an acquire of a free lock, or the release or revoke of the
//! holder's key promoting the next one). The state machine is deterministic, so every peer's
//! promotion of (lock, revision, client) at log index i is the same grant; the token-order
//! checker takes the first record of each and skips the repeats (other peers, or a peer
//! re-applying its log after a restart). The first records are in log order, whichever peers
//! they come from, since every peer applies index i before index j > i. So the checkers see every
//! grant the service makes — including one that only a later leader commits (an entry of an
//! earlier term) — and a peer that applied a different promotion at an index (a broken
//! persistence policy, a broken commit rule) shows up as a second, conflicting grant. The one
//! grant not from the log is the etcd 3.4.3 bug's, on the read path (`serve_reads`): the leader
//! records the `Acquired` it answers for a key that no longer exists.
//!
//! Every client command is safe to repeat — the network duplicates and clients retry: a lease grant
//! and an acquire are deduplicated by client request id, keep-alives and revokes are idempotent,
//! and a release that already deleted its key answers `ok` again (without that, a duplicated
//! release whose first answer was lost told the client "not yours": `raft-chaos`, seed 6).
//!
//! | rule | where | paper |
//! |---|---|---|
//! | randomized election timeout, one vote per term, up-to-date check | [`RaftPeer::handle`], `on_request_vote` | §5.2, §5.4.1 |
//! | consistency check, conflict truncation | `on_append` | §5.3 |
//! | commit only current-term entries by counting (`commit_rule`) | `advance_commit` | §5.4.2, Figure 8 |
//! | no-op on election | `become_leader` | §8 |
//! | term, vote and log persisted before answering | `save` | §5.1, Figure 2 |
//! | PreVote | `on_election_timeout`, `on_request_vote` | thesis §9.6 |
//! | CheckQuorum, leader stickiness | `on_election_timeout`, `on_request_vote` | thesis §6.2, §4.2.3 |
//! | ReadIndex, lease reads | `on_read`, `confirm_reads` | thesis §6.4, §6.4.1 |
//! | an expired lease is not renewed | `on_client`, `leader_applied` | etcd `lessor.go` `Renew` |
//! | client request ids | [`LockService`] | thesis §6.3 |

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;

use crate::history::Observation;
use crate::lease::Persistence;
use crate::msg::{LockId, Msg};
use crate::node::{ms, Ctx, Input, NodeId, Timer};
use crate::worker::MsRange;
use crate::Durable;

/// A lease of the lock service (the log index of its grant: unique, deterministic).
pub type LeaseId = u64;

/// A command in the replicated log.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftCmd {
    /// Appended by a new leader so that it can commit (§8).
    Noop,
    LeaseGrant {
        client: NodeId,
        request_id: u64,
        ttl_ms: u64,
    },
    LeaseKeepAlive {
        lease: LeaseId,
    },
    LeaseRevoke {
        lease: LeaseId,
    },
    Acquire {
        client: NodeId,
        request_id: u64,
        lease: LeaseId,
        lock: LockId,
    },
    Release {
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    },
}

/// One log entry.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftEntry {
    pub term: u64,
    pub cmd: RaftCmd,
}

/// The body of [`Msg::AppendEntries`] (§5.3).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppendEntries {
    pub term: u64,
    pub prev_index: u64,
    pub prev_term: u64,
    pub entries: Vec<RaftEntry>,
    /// The leader's commit index.
    pub commit: u64,
    /// The leader's heartbeat round (ReadIndex, thesis §6.4).
    pub round: u64,
}

/// What a client asks of the lock service.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftOp {
    LeaseGrant {
        request_id: u64,
        ttl_ms: u64,
    },
    KeepAlive {
        lease: LeaseId,
    },
    Acquire {
        request_id: u64,
        lease: LeaseId,
        lock: LockId,
    },
    /// A linearizable read: does `revision` (owned by `lease`) hold `lock` now?
    Status {
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    },
    Release {
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    },
    Revoke {
        lease: LeaseId,
    },
}

/// The kind of an operation (replies name it, for traces and targeted drops).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftOpKind {
    LeaseGrant,
    KeepAlive,
    Acquire,
    Status,
    Release,
    Revoke,
}

impl RaftOp {
    pub fn kind(&self) -> RaftOpKind {
        match self {
            RaftOp::LeaseGrant { .. } => RaftOpKind::LeaseGrant,
            RaftOp::KeepAlive { .. } => RaftOpKind::KeepAlive,
            RaftOp::Acquire { .. } => RaftOpKind::Acquire,
            RaftOp::Status { .. } => RaftOpKind::Status,
            RaftOp::Release { .. } => RaftOpKind::Release,
            RaftOp::Revoke { .. } => RaftOpKind::Revoke,
        }
    }
}

impl RaftOpKind {
    /// Message kind of a request (as named in scenario files).
    pub fn request_kind(self) -> &'static str {
        match self {
            RaftOpKind::LeaseGrant => "lease_grant",
            RaftOpKind::KeepAlive => "extend",
            RaftOpKind::Acquire => "acquire",
            RaftOpKind::Status => "lock_status",
            RaftOpKind::Release => "release",
            RaftOpKind::Revoke => "revoke",
        }
    }
    /// Message kind of a reply.
    pub fn reply_kind(self) -> &'static str {
        match self {
            RaftOpKind::LeaseGrant => "lease_grant_reply",
            RaftOpKind::KeepAlive => "extend_reply",
            RaftOpKind::Acquire => "acquire_reply",
            RaftOpKind::Status => "lock_status_reply",
            RaftOpKind::Release => "release_reply",
            RaftOpKind::Revoke => "revoke_reply",
        }
    }
}

/// The service's answer.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaftAnswer {
    /// Ask the leader (`None`: unknown).
    NotLeader {
        leader: Option<NodeId>,
    },
    LeaseGranted {
        lease: LeaseId,
        ttl_ms: u64,
    },
    KeepAliveOk,
    /// The lease (or the key it owned) is gone.
    LeaseNotFound,
    /// The key with this revision holds the lock.
    Acquired {
        revision: u64,
    },
    /// The key with this revision waits behind a predecessor.
    Waiting {
        revision: u64,
    },
    Released {
        ok: bool,
    },
    Revoked,
}

/// How waiters learn that they may hold the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WatchMode {
    /// Each waiter watches only its predecessor (ZooKeeper's recipe, etcd's `waitDeletes`).
    #[default]
    Predecessor,
    /// Every waiter is notified of every deletion and reads again (the herd effect, #14).
    All,
}

/// How the leader serves linearizable reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// ReadIndex: confirm leadership with a heartbeat round first (thesis §6.4).
    #[default]
    ReadIndex,
    /// Leader lease: trust a recent heartbeat round for an election timeout (thesis §6.4.1).
    Lease,
}

/// Which entries a leader commits by counting replicas (§5.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CommitRule {
    /// Only an entry of the leader's current term; earlier ones commit with it (§5.4.2).
    #[default]
    CurrentTerm,
    /// The bug Figure 8 of the paper shows: any entry stored on a majority, whatever its term.
    /// A committed entry of an earlier term can then be overwritten by a later leader.
    CountAnyTerm,
}

/// Parameters of a Raft peer and of the lock service it replicates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftParams {
    /// Every peer of the cluster, this one included.
    pub peers: Vec<NodeId>,
    pub election_timeout: MsRange,
    pub heartbeat_ms: u64,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub persistence: Persistence,
    /// Persist `votedFor` (Figure 2). Off: a restart forgets the vote (breaks Election Safety).
    pub persist_vote: bool,
    /// §5.4.2: commit by counting only entries of the current term (`CountAnyTerm`: Figure 8's bug).
    pub commit_rule: CommitRule,
    pub read: ReadMode,
    pub watch: WatchMode,
    /// The etcd 3.4.3 bug: grant to a waiter without checking its key still exists (#10).
    pub grant_expired_waiter: bool,
    /// How often the leader looks for expired leases.
    pub lease_check_ms: u64,
    /// The first peer campaigns as soon as the cluster starts (as tests call `campaign()` on node
    /// 1 in raft-rs and etcd), so scenarios can say "s1 is the first leader"; later elections are
    /// randomized.
    pub campaign_at_start: bool,
    /// Most entries per `AppendEntries`.
    pub max_batch: usize,
}

/// What a peer keeps on stable storage (Figure 2: currentTerm, votedFor, log[]).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftDurable {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: DurableLog,
}

/// Entries per sealed chunk of a [`DurableLog`].
const LOG_CHUNK: usize = 256;

/// The log as written to disk: full chunks of [`LOG_CHUNK`] entries, shared between successive
/// writes (a write copies only the unsealed tail, not the whole log, so persisting stays cheap as
/// the log grows), then the tail. Semantically just the concatenation.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DurableLog {
    pub chunks: Vec<Arc<[RaftEntry]>>,
    pub tail: Vec<RaftEntry>,
}

impl DurableLog {
    /// Every entry, in order.
    pub fn entries(&self) -> Vec<RaftEntry> {
        let mut log = Vec::with_capacity(self.chunks.len() * LOG_CHUNK + self.tail.len());
        for chunk in &self.chunks {
            log.extend_from_slice(chunk);
        }
        log.extend_from_slice(&self.tail);
        log
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Follower,
    /// Asking for pre-votes (thesis §9.6), term not yet incremented.
    PreCandidate,
    Candidate,
    Leader,
}

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
struct Applied {
    answer: Option<RaftAnswer>,
    /// Keys deleted: (lock, revision, client).
    deleted: Vec<(LockId, u64, NodeId)>,
    /// Keys that became holders: (lock, revision, client).
    promoted: Vec<(LockId, u64, NodeId)>,
    /// A waiter created: (lock, its revision, predecessor revision, client).
    waiting: Option<(LockId, u64, u64, NodeId)>,
    granted_lease: Option<LeaseId>,
}

impl LockService {
    fn head(&self, lock: LockId) -> Option<u64> {
        self.locks.get(&lock).and_then(|keys| keys.keys().next().copied())
    }

    fn predecessor(&self, lock: LockId, revision: u64) -> Option<u64> {
        self.locks.get(&lock).and_then(|keys| keys.range(..revision).next_back().map(|(r, _)| *r))
    }

    /// Delete one key; a new holder may follow.
    fn delete(&mut self, lock: LockId, revision: u64, out: &mut Applied) {
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

    fn apply(&mut self, index: u64, cmd: &RaftCmd) -> Applied {
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
    fn status(&self, lease: LeaseId, lock: LockId, revision: u64, bug: bool) -> RaftAnswer {
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

/// A read waiting for leadership confirmation and for the state machine to catch up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PendingRead {
    /// The heartbeat round that must be acknowledged by a majority (0: a lease read, confirmed).
    pub round: u64,
    pub read_index: u64,
    pub client: NodeId,
    pub req: u64,
    pub lease: LeaseId,
    pub lock: LockId,
    pub revision: u64,
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

/// One Raft peer hosting the lock service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RaftPeer {
    pub params: RaftParams,
    // Persistent state (Figure 2).
    pub term: u64,
    pub voted_for: Option<NodeId>,
    /// Entry i (1-based) is `log[i - 1]`.
    pub log: Vec<RaftEntry>,
    /// Chain hash of each entry (volatile, recomputed from the log).
    pub chain: Vec<u64>,
    /// The log's full chunks as last written to disk (a prefix of `log`; see [`DurableLog`]).
    pub sealed: Vec<Arc<[RaftEntry]>>,
    // Volatile state.
    pub role: Role,
    pub leader: Option<NodeId>,
    pub commit: u64,
    pub applied: u64,
    pub votes: BTreeSet<NodeId>,
    /// Local monotonic time a leader was last heard from (for PreVote and stickiness).
    pub leader_contact_mono_ns: Option<u64>,
    // Leader state.
    pub next_index: BTreeMap<NodeId, u64>,
    pub match_index: BTreeMap<NodeId, u64>,
    /// Index of the leader's no-op: reads wait until it is committed (thesis §6.4).
    pub term_start: u64,
    /// Peers heard from since the last CheckQuorum.
    pub heard: BTreeSet<NodeId>,
    /// Heartbeat rounds: the latest started, each peer's latest acknowledged, and start times.
    pub round: u64,
    pub acked_round: BTreeMap<NodeId, u64>,
    pub round_start_mono_ns: BTreeMap<u64, u64>,
    pub lease_read_until_mono_ns: u64,
    pub reads: Vec<PendingRead>,
    /// Proposals waiting for their entry to apply: index → (term, client, req, op). Like etcd's
    /// wait registry (`processInternalRaftRequestOnce` registers the request id and waits for its
    /// apply, whoever leads by then), they outlive a step-down: the peer that proposed the entry
    /// answers when it applies it. An entry overwritten by another leader's (a different term at
    /// that index) is never answered; the client times out and retries.
    pub pending: BTreeMap<u64, (u64, NodeId, u64, RaftOpKind)>,
    pub watches: Vec<Watch>,
    /// Lease expiry deadlines on the leader's monotonic clock, and revokes already proposed.
    pub lease_deadline_mono_ns: BTreeMap<LeaseId, u64>,
    pub revoking: BTreeSet<LeaseId>,
    /// Keep-alives refused because their lease expired or is being revoked: answered
    /// `LeaseNotFound` once the revoke applies (etcd's `Renew` waits on `revokec`); dropped if
    /// this peer stops leading first (etcd answers `ErrNotPrimary`; the client retries elsewhere).
    pub revoke_waiters: BTreeMap<LeaseId, Vec<(NodeId, u64)>>,
    pub fsync_pending: bool,
    pub sm: LockService,
}

/// FNV-1a over a few words: a stable hash (no `Hash` impl whose output could change).
fn fnv(words: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The chain hash of an entry following `prev`.
pub fn chain_hash(prev: u64, entry: &RaftEntry) -> u64 {
    let cmd = match entry.cmd {
        RaftCmd::Noop => fnv(&[0]),
        RaftCmd::LeaseGrant { client, request_id, ttl_ms } => fnv(&[1, client as u64, request_id, ttl_ms]),
        RaftCmd::LeaseKeepAlive { lease } => fnv(&[2, lease]),
        RaftCmd::LeaseRevoke { lease } => fnv(&[3, lease]),
        RaftCmd::Acquire { client, request_id, lease, lock } => {
            fnv(&[4, client as u64, request_id, lease, lock as u64])
        }
        RaftCmd::Release { lease, lock, revision } => fnv(&[5, lease, lock as u64, revision]),
    };
    fnv(&[prev, entry.term, cmd])
}

impl RaftPeer {
    pub fn new(params: RaftParams) -> Self {
        assert!(!params.peers.is_empty(), "a Raft cluster needs a peer");
        RaftPeer {
            params,
            term: 0,
            voted_for: None,
            log: Vec::new(),
            chain: Vec::new(),
            sealed: Vec::new(),
            role: Role::Follower,
            leader: None,
            commit: 0,
            applied: 0,
            votes: BTreeSet::new(),
            leader_contact_mono_ns: None,
            next_index: BTreeMap::new(),
            match_index: BTreeMap::new(),
            term_start: 0,
            heard: BTreeSet::new(),
            round: 0,
            acked_round: BTreeMap::new(),
            round_start_mono_ns: BTreeMap::new(),
            lease_read_until_mono_ns: 0,
            reads: Vec::new(),
            pending: BTreeMap::new(),
            watches: Vec::new(),
            lease_deadline_mono_ns: BTreeMap::new(),
            revoking: BTreeSet::new(),
            revoke_waiters: BTreeMap::new(),
            fsync_pending: false,
            sm: LockService::default(),
        }
    }

    fn quorum(&self) -> usize {
        self.params.peers.len() / 2 + 1
    }

    fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        if index == 0 {
            0
        } else {
            self.log.get(index as usize - 1).map_or(0, |e| e.term)
        }
    }

    fn others(&self, me: NodeId) -> Vec<NodeId> {
        self.params.peers.iter().copied().filter(|&p| p != me).collect()
    }

    fn rebuild_chain(&mut self, from: usize) {
        self.chain.truncate(from);
        for i in from..self.log.len() {
            let prev = if i == 0 { 0 } else { self.chain[i - 1] };
            let h = chain_hash(prev, &self.log[i]);
            self.chain.push(h);
        }
    }

    fn chain_at(&self, index: u64) -> u64 {
        if index == 0 {
            0
        } else {
            self.chain[index as usize - 1]
        }
    }

    fn append(&mut self, entry: RaftEntry) {
        let prev = self.chain.last().copied().unwrap_or(0);
        self.chain.push(chain_hash(prev, &entry));
        self.log.push(entry);
    }

    /// Write term, vote and log to disk under the persistence policy (Figure 2: before answering).
    fn save(&mut self, ctx: &mut Ctx) {
        if self.params.persistence == Persistence::None {
            return;
        }
        let voted_for = if self.params.persist_vote { self.voted_for } else { None };
        while (self.sealed.len() + 1) * LOG_CHUNK <= self.log.len() {
            let start = self.sealed.len() * LOG_CHUNK;
            self.sealed.push(Arc::from(&self.log[start..start + LOG_CHUNK]));
        }
        let log = DurableLog { chunks: self.sealed.clone(), tail: self.log[self.sealed.len() * LOG_CHUNK..].to_vec() };
        ctx.persist(Durable::Raft(RaftDurable { term: self.term, voted_for, log }));
        match self.params.persistence {
            Persistence::Always => ctx.sync(),
            Persistence::Everysec if !self.fsync_pending => {
                self.fsync_pending = true;
                ctx.set_timer(Timer::Fsync, ms(1000));
            }
            _ => {}
        }
    }

    fn reset_election_timer(&mut self, ctx: &mut Ctx) {
        let after_ns = self.params.election_timeout.draw_ns(ctx);
        ctx.set_timer(Timer::ElectionTimeout, after_ns);
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, durable } => {
                if let Some(Durable::Raft(d)) = durable {
                    self.term = d.term;
                    self.voted_for = d.voted_for;
                    self.log = d.log.entries();
                    self.sealed = d.log.chunks;
                    self.rebuild_chain(0);
                }
                if incarnation == 0 && self.params.campaign_at_start && self.params.peers.first() == Some(&ctx.me) {
                    ctx.set_timer(Timer::ElectionTimeout, 0);
                } else {
                    self.reset_election_timer(ctx);
                }
            }
            Input::Timer(Timer::ElectionTimeout) => self.on_election_timeout(ctx),
            Input::Timer(Timer::RaftHeartbeat) if self.role == Role::Leader => {
                self.broadcast_append(ctx);
                ctx.set_timer(Timer::RaftHeartbeat, ms(self.params.heartbeat_ms));
            }
            Input::Timer(Timer::LeaseCheck) => self.check_leases(ctx),
            Input::Timer(Timer::Fsync) => {
                self.fsync_pending = false;
                ctx.sync();
            }
            Input::Message { from, msg } => self.on_message(ctx, from, msg),
            _ => {}
        }
    }

    // ---- Elections (§5.2, thesis §9.6, §6.2) ----

    fn on_election_timeout(&mut self, ctx: &mut Ctx) {
        if self.role == Role::Leader {
            // CheckQuorum (thesis §6.2): step down without a majority heard from.
            if self.params.check_quorum {
                if self.heard.len() + 1 < self.quorum() {
                    self.become_follower(ctx, self.term, None);
                    return;
                }
                self.heard.clear();
                ctx.set_timer(Timer::ElectionTimeout, ms(self.params.election_timeout.min_ms));
            }
            return;
        }
        if self.params.pre_vote {
            self.role = Role::PreCandidate;
            self.votes = BTreeSet::from([ctx.me]);
            self.request_votes(ctx, self.term + 1, true);
        } else {
            self.campaign(ctx);
        }
        self.reset_election_timer(ctx);
        self.maybe_won(ctx);
    }

    fn campaign(&mut self, ctx: &mut Ctx) {
        self.term += 1;
        self.role = Role::Candidate;
        self.leader = None;
        self.voted_for = Some(ctx.me);
        self.votes = BTreeSet::from([ctx.me]);
        self.save(ctx);
        self.request_votes(ctx, self.term, false);
    }

    fn request_votes(&mut self, ctx: &mut Ctx, term: u64, pre_vote: bool) {
        let (last_index, last_term) = (self.last_index(), self.term_at(self.last_index()));
        for p in self.others(ctx.me) {
            ctx.send(p, Msg::RequestVote { term, last_index, last_term, pre_vote });
        }
    }

    /// A single-peer cluster (or enough votes) wins at once.
    fn maybe_won(&mut self, ctx: &mut Ctx) {
        if self.votes.len() >= self.quorum() {
            match self.role {
                Role::PreCandidate => {
                    self.campaign(ctx);
                    self.maybe_won(ctx);
                }
                Role::Candidate => self.become_leader(ctx),
                _ => {}
            }
        }
    }

    /// Did this peer hear from a leader within the minimum election timeout?
    fn leader_recent(&self, ctx: &Ctx) -> bool {
        self.leader.is_some()
            && self.leader_contact_mono_ns.is_some_and(|t| ctx.mono_ns < t + ms(self.params.election_timeout.min_ms))
    }

    fn on_request_vote(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
        pre_vote: bool,
    ) {
        // §5.4.1: the candidate's log must be at least as up to date as ours.
        let my_last_term = self.term_at(self.last_index());
        let up_to_date = last_term > my_last_term || (last_term == my_last_term && last_index >= self.last_index());
        if pre_vote {
            // Thesis §9.6: grant if it could win, without touching our own term or vote.
            let granted = term > self.term && up_to_date && !self.leader_recent(ctx) && self.role != Role::Leader;
            ctx.send(from, Msg::RequestVoteReply { term: if granted { term } else { self.term }, granted, pre_vote });
            return;
        }
        // Leader stickiness (thesis §4.2.3), with CheckQuorum: ignore disruptive candidates.
        if self.params.check_quorum && term > self.term && (self.leader_recent(ctx) || self.role == Role::Leader) {
            ctx.send(from, Msg::RequestVoteReply { term: self.term, granted: false, pre_vote });
            return;
        }
        if term > self.term {
            self.become_follower(ctx, term, None);
        }
        let granted = term == self.term && self.voted_for.is_none_or(|v| v == from) && up_to_date;
        if granted {
            self.voted_for = Some(from);
            // Figure 2: persist the vote before answering.
            self.save(ctx);
            self.reset_election_timer(ctx);
        }
        ctx.send(from, Msg::RequestVoteReply { term: self.term, granted, pre_vote });
    }

    fn on_vote_reply(&mut self, ctx: &mut Ctx, from: NodeId, term: u64, granted: bool, pre_vote: bool) {
        if pre_vote {
            if self.role == Role::PreCandidate && granted && term == self.term + 1 {
                self.votes.insert(from);
                self.maybe_won(ctx);
            } else if !granted && term > self.term {
                self.become_follower(ctx, term, None);
            }
            return;
        }
        if term > self.term {
            self.become_follower(ctx, term, None);
            return;
        }
        if self.role == Role::Candidate && term == self.term && granted {
            self.votes.insert(from);
            self.maybe_won(ctx);
        }
    }

    fn become_follower(&mut self, ctx: &mut Ctx, term: u64, leader: Option<NodeId>) {
        let was_leader = self.role == Role::Leader;
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.save(ctx);
        }
        self.role = Role::Follower;
        self.leader = leader;
        if was_leader {
            // Volatile leader state goes; clients time out and find the new leader. Proposals
            // already in the log stay pending: they are answered if they apply (etcd's waits).
            ctx.cancel_timer(Timer::RaftHeartbeat);
            ctx.cancel_timer(Timer::LeaseCheck);
            self.reads.clear();
            self.watches.clear();
            self.lease_deadline_mono_ns.clear();
            self.revoking.clear();
            self.revoke_waiters.clear();
            self.lease_read_until_mono_ns = 0;
            self.reset_election_timer(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Ctx) {
        self.role = Role::Leader;
        self.leader = Some(ctx.me);
        let next = self.last_index() + 1;
        self.next_index = self.others(ctx.me).into_iter().map(|p| (p, next)).collect();
        self.match_index = self.others(ctx.me).into_iter().map(|p| (p, 0)).collect();
        self.heard.clear();
        self.acked_round.clear();
        self.round_start_mono_ns.clear();
        self.lease_read_until_mono_ns = 0;
        ctx.record(Observation::RaftLeader { term: self.term, log_chain: self.chain.clone() });
        // §8: a no-op of the new term, so that earlier entries commit and reads can be served.
        self.append(RaftEntry { term: self.term, cmd: RaftCmd::Noop });
        self.term_start = self.last_index();
        self.save(ctx);
        // etcd's lease promote: every lease gets a full TTL from now.
        let now = ctx.mono_ns;
        self.lease_deadline_mono_ns = self.sm.leases.iter().map(|(&id, l)| (id, now + ms(l.ttl_ms))).collect();
        self.revoking.clear();
        ctx.set_timer(Timer::LeaseCheck, ms(self.params.lease_check_ms));
        if self.params.check_quorum {
            ctx.set_timer(Timer::ElectionTimeout, ms(self.params.election_timeout.min_ms));
        } else {
            ctx.cancel_timer(Timer::ElectionTimeout);
        }
        self.broadcast_append(ctx);
        ctx.set_timer(Timer::RaftHeartbeat, ms(self.params.heartbeat_ms));
        self.advance_commit(ctx);
    }

    // ---- Log replication (§5.3) ----

    /// Send `AppendEntries` (new entries or a heartbeat) to every follower, as a new round.
    fn broadcast_append(&mut self, ctx: &mut Ctx) {
        self.round += 1;
        self.round_start_mono_ns.insert(self.round, ctx.mono_ns);
        for p in self.others(ctx.me) {
            self.send_append(ctx, p);
        }
    }

    fn send_append(&mut self, ctx: &mut Ctx, to: NodeId) {
        let next = self.next_index.get(&to).copied().unwrap_or(1).max(1);
        let prev_index = next - 1;
        let prev_term = self.term_at(prev_index);
        let end = (self.log.len()).min(prev_index as usize + self.params.max_batch);
        let entries = self.log[prev_index as usize..end].to_vec();
        let body =
            AppendEntries { term: self.term, prev_index, prev_term, entries, commit: self.commit, round: self.round };
        ctx.send(to, Msg::AppendEntries(Box::new(body)));
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<RaftEntry>,
        commit: u64,
        round: u64,
    ) {
        if term < self.term {
            ctx.send(from, Msg::AppendEntriesReply { term: self.term, success: false, match_index: 0, round });
            return;
        }
        if term > self.term || self.role != Role::Follower {
            self.become_follower(ctx, term, Some(from));
        }
        self.leader = Some(from);
        self.leader_contact_mono_ns = Some(ctx.mono_ns);
        self.reset_election_timer(ctx);
        // The consistency check.
        if prev_index > self.last_index() || self.term_at(prev_index) != prev_term {
            let hint = prev_index.saturating_sub(1).min(self.last_index());
            ctx.send(from, Msg::AppendEntriesReply { term: self.term, success: false, match_index: hint, round });
            return;
        }
        let mut changed_from: Option<usize> = None;
        for (k, entry) in entries.iter().enumerate() {
            let index = prev_index as usize + k + 1;
            if index <= self.log.len() {
                if self.log[index - 1].term == entry.term {
                    continue; // already there (a duplicate or reordered message)
                }
                // A conflict: delete it and everything after (§5.3). In a correct cluster this is
                // never a committed entry; with a broken persistence policy it can be, and the
                // checkers see the divergence (no assertion here: that is the experiment).
                self.log.truncate(index - 1);
                self.sealed.truncate((index - 1) / LOG_CHUNK);
                self.chain.truncate(index - 1);
                // Proposals of ours from there on are gone: never answered.
                self.pending.split_off(&(index as u64));
            }
            changed_from.get_or_insert(index - 1);
            self.append(entry.clone());
        }
        if changed_from.is_some() {
            self.save(ctx);
        }
        let match_index = prev_index + entries.len() as u64;
        if commit > self.commit {
            self.commit = commit.min(match_index);
            self.apply_committed(ctx);
        }
        ctx.send(from, Msg::AppendEntriesReply { term: self.term, success: true, match_index, round });
    }

    fn on_append_reply(&mut self, ctx: &mut Ctx, from: NodeId, term: u64, success: bool, match_index: u64, round: u64) {
        if term > self.term {
            self.become_follower(ctx, term, None);
            return;
        }
        if self.role != Role::Leader || term != self.term {
            return;
        }
        self.heard.insert(from);
        let acked = self.acked_round.entry(from).or_insert(0);
        *acked = (*acked).max(round);
        if success {
            let m = self.match_index.entry(from).or_insert(0);
            *m = (*m).max(match_index);
            let m = *m;
            self.next_index.insert(from, m + 1);
            self.advance_commit(ctx);
            if m < self.last_index() {
                self.send_append(ctx, from);
            }
        } else {
            let next = self.next_index.get(&from).copied().unwrap_or(1);
            let back = (match_index + 1).min(next.saturating_sub(1)).max(1);
            self.next_index.insert(from, back);
            self.send_append(ctx, from);
        }
        self.confirm_reads(ctx);
    }

    /// §5.3/§5.4.2: commit the highest index stored on a majority *if its entry is of this term*.
    fn advance_commit(&mut self, ctx: &mut Ctx) {
        let mut matches: Vec<u64> = self.match_index.values().copied().collect();
        matches.push(self.last_index());
        matches.sort_unstable_by(|a, b| b.cmp(a));
        let majority_index = matches[self.quorum() - 1];
        let countable = match self.params.commit_rule {
            CommitRule::CurrentTerm => self.term_at(majority_index) == self.term,
            CommitRule::CountAnyTerm => true,
        };
        if majority_index > self.commit && countable {
            self.commit = majority_index;
            ctx.record(Observation::RaftCommitted {
                term: self.term,
                index: self.commit,
                chain: self.chain_at(self.commit),
            });
            self.apply_committed(ctx);
        }
    }

    // ---- The state machine ----

    fn apply_committed(&mut self, ctx: &mut Ctx) {
        while self.applied < self.commit {
            self.applied += 1;
            let index = self.applied;
            let entry = self.log[index as usize - 1].clone();
            ctx.record(Observation::RaftApplied { index, entry_term: entry.term, chain: self.chain_at(index) });
            let out = self.sm.apply(index, &entry.cmd);
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
    fn leader_applied(&mut self, ctx: &mut Ctx, index: u64, entry: &RaftEntry, out: Applied) {
        let now = ctx.mono_ns;
        match entry.cmd {
            RaftCmd::LeaseGrant { ttl_ms, .. } => {
                if let Some(lease) = out.granted_lease {
                    self.lease_deadline_mono_ns.insert(lease, now + ms(ttl_ms));
                }
            }
            RaftCmd::LeaseKeepAlive { lease } if self.revoking.contains(&lease) => {
                // The lease expired while this keep-alive was in the log, and its revoke is in
                // the log right behind it: renewing now would answer OK for a lease about to be
                // deleted. Refuse it as etcd's `Renew` refuses an expired lease: the answer waits
                // for the revoke (LeaseNotFound).
                if let Some((client, req, _)) = self.take_pending(index, entry.term) {
                    self.revoke_waiters.entry(lease).or_default().push((client, req));
                }
            }
            RaftCmd::LeaseKeepAlive { lease } => {
                if let Some(l) = self.sm.leases.get(&lease) {
                    let deadline = now + ms(l.ttl_ms);
                    let d = self.lease_deadline_mono_ns.entry(lease).or_insert(deadline);
                    *d = (*d).max(deadline);
                }
            }
            RaftCmd::LeaseRevoke { lease } => {
                self.lease_deadline_mono_ns.remove(&lease);
                self.revoking.remove(&lease);
                for (client, req) in self.revoke_waiters.remove(&lease).unwrap_or_default() {
                    let answer = RaftAnswer::LeaseNotFound;
                    ctx.send(client, Msg::RaftReply { req, op: RaftOpKind::KeepAlive, answer });
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
    fn take_pending(&mut self, index: u64, term: u64) -> Option<(NodeId, u64, RaftOpKind)> {
        let (t, client, req, op) = self.pending.remove(&index)?;
        (t == term).then_some((client, req, op))
    }

    fn answer_pending(&mut self, ctx: &mut Ctx, index: u64, term: u64, answer: Option<RaftAnswer>) {
        if let Some((client, req, op)) = self.take_pending(index, term) {
            if let Some(answer) = answer {
                ctx.send(client, Msg::RaftReply { req, op, answer });
            }
        }
    }

    fn add_watch(&mut self, lock: LockId, revision: u64, pred: u64, client: NodeId) {
        let watched = match self.params.watch {
            WatchMode::Predecessor => Some(pred),
            WatchMode::All => None,
        };
        let w = Watch { lock, watched, revision, client };
        if !self.watches.contains(&w) {
            self.watches.push(w);
        }
    }

    /// A key was deleted: tell the waiters watching it (and a waiter whose own key it was).
    fn fire_watches(&mut self, ctx: &mut Ctx, lock: LockId, deleted: u64) {
        let mut fired = Vec::new();
        self.watches.retain(|w| {
            let hit = w.lock == lock && (w.watched.is_none_or(|p| p == deleted) || w.revision == deleted);
            if hit {
                fired.push((w.client, w.revision));
            }
            !hit
        });
        for (client, revision) in fired {
            ctx.send(client, Msg::RaftWatch { lock, revision });
        }
    }

    /// The leader proposes `cmd` for a client (answered when applied).
    fn propose(&mut self, ctx: &mut Ctx, cmd: RaftCmd, reply_to: Option<(NodeId, u64, RaftOpKind)>) {
        self.append(RaftEntry { term: self.term, cmd });
        let index = self.last_index();
        if let Some((client, req, op)) = reply_to {
            self.pending.insert(index, (self.term, client, req, op));
        }
        self.save(ctx);
        for p in self.others(ctx.me) {
            // Send at once to followers that are caught up; the others get it with the answer to
            // what is in flight to them, or with the next heartbeat.
            if self.next_index.get(&p) == Some(&index) {
                self.send_append(ctx, p);
            }
        }
        self.advance_commit(ctx);
    }

    /// Has this leader seen `lease` run out (its deadline passed, or its revoke proposed)?
    fn lease_expired(&self, ctx: &Ctx, lease: LeaseId) -> bool {
        self.revoking.contains(&lease) || self.lease_deadline_mono_ns.get(&lease).is_some_and(|&d| ctx.mono_ns >= d)
    }

    /// Leader: propose a revoke for every lease past its deadline.
    fn check_leases(&mut self, ctx: &mut Ctx) {
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
            self.revoking.insert(lease);
            self.propose(ctx, RaftCmd::LeaseRevoke { lease }, None);
        }
        ctx.set_timer(Timer::LeaseCheck, ms(self.params.lease_check_ms));
    }

    // ---- Reads (thesis §6.4) ----

    fn on_read(&mut self, ctx: &mut Ctx, client: NodeId, req: u64, lease: LeaseId, lock: LockId, revision: u64) {
        // Never below the start of this term: the no-op makes everything before it committed.
        let read_index = self.commit.max(self.term_start);
        let lease_valid = self.params.read == ReadMode::Lease && ctx.mono_ns < self.lease_read_until_mono_ns;
        let round = if lease_valid || self.params.peers.len() == 1 {
            0
        } else {
            // A fresh heartbeat round confirms leadership.
            self.broadcast_append(ctx);
            self.round
        };
        self.reads.push(PendingRead { round, read_index, client, req, lease, lock, revision });
        self.confirm_reads(ctx);
    }

    /// The latest round a majority acknowledged (the leader counts as acknowledging every round).
    fn quorum_round(&self) -> u64 {
        let mut rounds: Vec<u64> = self.others_rounds();
        rounds.push(self.round);
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds[self.quorum() - 1]
    }

    fn others_rounds(&self) -> Vec<u64> {
        self.params
            .peers
            .iter()
            .filter(|&&p| Some(p) != self.leader)
            .map(|p| self.acked_round.get(p).copied().unwrap_or(0))
            .collect()
    }

    fn confirm_reads(&mut self, ctx: &mut Ctx) {
        if self.role != Role::Leader {
            return;
        }
        let confirmed = self.quorum_round();
        if let Some(&start) = self.round_start_mono_ns.get(&confirmed) {
            // Thesis §6.4.1: nobody else can lead before start + election timeout (same-rate clocks).
            let until = start + ms(self.params.election_timeout.min_ms);
            self.lease_read_until_mono_ns = self.lease_read_until_mono_ns.max(until);
        }
        self.round_start_mono_ns = self.round_start_mono_ns.split_off(&confirmed);
        for r in &mut self.reads {
            if r.round <= confirmed {
                r.round = 0;
            }
        }
        self.serve_reads(ctx);
    }

    fn serve_reads(&mut self, ctx: &mut Ctx) {
        if self.role != Role::Leader || self.reads.is_empty() {
            return;
        }
        let applied = self.applied;
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut self.reads).into_iter().partition(|r| r.round == 0 && r.read_index <= applied);
        self.reads = waiting;
        for r in ready {
            let answer = self.sm.status(r.lease, r.lock, r.revision, self.params.grant_expired_waiter);
            match answer {
                RaftAnswer::Waiting { revision } => {
                    let pred = self.sm.predecessor(r.lock, revision).expect("waiting has a predecessor");
                    self.add_watch(r.lock, revision, pred, r.client);
                }
                RaftAnswer::Acquired { revision } => {
                    let exists = self.sm.locks.get(&r.lock).is_some_and(|k| k.contains_key(&revision));
                    if !exists {
                        // The bug: a grant to a key (and a lease) that no longer exists.
                        ctx.record(Observation::Grant {
                            lock: r.lock,
                            holder: r.client,
                            value: r.lease,
                            token: Some(revision),
                        });
                    }
                }
                _ => {}
            }
            ctx.send(r.client, Msg::RaftReply { req: r.req, op: RaftOpKind::Status, answer });
        }
    }

    // ---- Messages ----

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Msg) {
        match msg {
            Msg::RequestVote { term, last_index, last_term, pre_vote } => {
                self.on_request_vote(ctx, from, term, last_index, last_term, pre_vote)
            }
            Msg::RequestVoteReply { term, granted, pre_vote } => self.on_vote_reply(ctx, from, term, granted, pre_vote),
            Msg::AppendEntries(a) => {
                let AppendEntries { term, prev_index, prev_term, entries, commit, round } = *a;
                self.on_append(ctx, from, term, prev_index, prev_term, entries, commit, round)
            }
            Msg::AppendEntriesReply { term, success, match_index, round } => {
                self.on_append_reply(ctx, from, term, success, match_index, round)
            }
            Msg::RaftRequest { req, op } => self.on_client(ctx, from, req, op),
            _ => {}
        }
    }

    fn on_client(&mut self, ctx: &mut Ctx, client: NodeId, req: u64, op: RaftOp) {
        let kind = op.kind();
        if self.role != Role::Leader {
            ctx.send(client, Msg::RaftReply { req, op: kind, answer: RaftAnswer::NotLeader { leader: self.leader } });
            return;
        }
        let reply_to = Some((client, req, kind));
        match op {
            RaftOp::LeaseGrant { request_id, ttl_ms } => {
                self.propose(ctx, RaftCmd::LeaseGrant { client, request_id, ttl_ms }, reply_to)
            }
            RaftOp::KeepAlive { lease } if self.lease_expired(ctx, lease) => {
                // etcd's lessor (`Renew`): an expired lease is not renewed; the request waits until
                // the revoke is through and is answered "lease not found".
                self.revoke_waiters.entry(lease).or_default().push((client, req));
            }
            RaftOp::KeepAlive { lease } => self.propose(ctx, RaftCmd::LeaseKeepAlive { lease }, reply_to),
            RaftOp::Acquire { request_id, lease, lock } => {
                self.propose(ctx, RaftCmd::Acquire { client, request_id, lease, lock }, reply_to)
            }
            RaftOp::Release { lease, lock, revision } => {
                self.propose(ctx, RaftCmd::Release { lease, lock, revision }, reply_to)
            }
            RaftOp::Revoke { lease } => {
                self.revoking.insert(lease);
                self.propose(ctx, RaftCmd::LeaseRevoke { lease }, reply_to)
            }
            RaftOp::Status { lease, lock, revision } => self.on_read(ctx, client, req, lease, lock, revision),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Counter, Effect};

    fn params() -> RaftParams {
        RaftParams {
            peers: vec![0, 1, 2],
            election_timeout: MsRange { min_ms: 150, max_ms: 300 },
            heartbeat_ms: 50,
            pre_vote: false,
            check_quorum: false,
            persistence: Persistence::Always,
            persist_vote: true,
            commit_rule: CommitRule::CurrentTerm,
            read: ReadMode::ReadIndex,
            watch: WatchMode::Predecessor,
            grant_expired_waiter: false,
            lease_check_ms: 50,
            campaign_at_start: true,
            max_batch: 64,
        }
    }

    fn grant(sm: &mut LockService, index: u64, client: NodeId) -> LeaseId {
        match sm.apply(index, &RaftCmd::LeaseGrant { client, request_id: index, ttl_ms: 1000 }).answer {
            Some(RaftAnswer::LeaseGranted { lease, .. }) => lease,
            other => panic!("{other:?}"),
        }
    }

    fn acquire(sm: &mut LockService, index: u64, client: NodeId, request_id: u64, lease: LeaseId) -> RaftAnswer {
        sm.apply(index, &RaftCmd::Acquire { client, request_id, lease, lock: 0 }).answer.unwrap()
    }

    /// Keys queue by creation revision; the lowest holds; a release promotes the next one.
    #[test]
    fn lock_keys_queue_by_creation_revision() {
        let mut sm = LockService::default();
        let (a, b) = (grant(&mut sm, 1, 10), grant(&mut sm, 2, 11));
        assert_eq!(acquire(&mut sm, 3, 10, 1, a), RaftAnswer::Acquired { revision: 1 });
        assert_eq!(acquire(&mut sm, 4, 11, 1, b), RaftAnswer::Waiting { revision: 2 });
        let out = sm.apply(5, &RaftCmd::Release { lease: a, lock: 0, revision: 1 });
        assert_eq!(out.answer, Some(RaftAnswer::Released { ok: true }));
        assert_eq!(out.promoted, vec![(0, 2, 11)]);
        assert_eq!(sm.status(b, 0, 2, false), RaftAnswer::Acquired { revision: 2 });
    }

    /// Thesis §6.3: a retried acquire (same client request id) gets the key it already created.
    #[test]
    fn thesis_6_3_retried_acquire_is_answered_from_the_existing_key() {
        let mut sm = LockService::default();
        let a = grant(&mut sm, 1, 10);
        assert_eq!(acquire(&mut sm, 2, 10, 7, a), RaftAnswer::Acquired { revision: 1 });
        assert_eq!(acquire(&mut sm, 3, 10, 7, a), RaftAnswer::Acquired { revision: 1 });
        assert_eq!(sm.locks[&0].len(), 1, "one key, not two");
        assert_eq!(acquire(&mut sm, 4, 10, 8, a), RaftAnswer::Waiting { revision: 2 }, "a new request is new");
    }

    /// A duplicated release answers `ok` again; a release of a revoked key does not.
    #[test]
    fn a_repeated_release_is_answered_ok_but_a_revoked_key_is_not_released() {
        let mut sm = LockService::default();
        let (a, b) = (grant(&mut sm, 1, 10), grant(&mut sm, 2, 11));
        acquire(&mut sm, 3, 10, 1, a);
        let release = RaftCmd::Release { lease: a, lock: 0, revision: 1 };
        assert_eq!(sm.apply(4, &release).answer, Some(RaftAnswer::Released { ok: true }));
        assert_eq!(sm.apply(5, &release).answer, Some(RaftAnswer::Released { ok: true }));
        acquire(&mut sm, 6, 11, 1, b);
        sm.apply(7, &RaftCmd::LeaseRevoke { lease: b });
        let release = RaftCmd::Release { lease: b, lock: 0, revision: 2 };
        assert_eq!(sm.apply(8, &release).answer, Some(RaftAnswer::Released { ok: false }));
    }

    /// Scenario #10: with the etcd 3.4.3 check, a waiter whose key was revoked is told it holds.
    #[test]
    fn etcd_3_4_3_tells_a_revoked_waiter_it_holds_the_lock() {
        let mut sm = LockService::default();
        let (a, b) = (grant(&mut sm, 1, 10), grant(&mut sm, 2, 11));
        acquire(&mut sm, 3, 10, 1, a);
        acquire(&mut sm, 4, 11, 1, b);
        sm.apply(5, &RaftCmd::LeaseRevoke { lease: b });
        sm.apply(6, &RaftCmd::Release { lease: a, lock: 0, revision: 1 });
        assert_eq!(sm.status(b, 0, 2, true), RaftAnswer::Acquired { revision: 2 });
        assert_eq!(sm.status(b, 0, 2, false), RaftAnswer::LeaseNotFound);
    }

    /// §5.4.2 (Figure 8): a leader does not commit an entry of an earlier term by counting replicas,
    /// only together with one of its own term.
    #[test]
    fn section_5_4_2_old_term_entries_commit_only_with_a_current_term_entry() {
        let (mut entropy, mut effects) = (Counter(0), Vec::new());
        let mut ctx = Ctx::new(0, 0, 0, &mut entropy, &mut effects);
        let mut leader = RaftPeer::new(params());
        leader.term = 4;
        leader.role = Role::Leader;
        leader.leader = Some(0);
        leader.append(RaftEntry { term: 1, cmd: RaftCmd::Noop });
        leader.append(RaftEntry { term: 2, cmd: RaftCmd::Noop });
        leader.match_index = BTreeMap::from([(1, 2), (2, 0)]);
        leader.advance_commit(&mut ctx);
        assert_eq!(leader.commit, 0, "entry 2 (term 2) is on a majority but must not commit in term 4");
        leader.append(RaftEntry { term: 4, cmd: RaftCmd::Noop });
        leader.match_index.insert(1, 3);
        leader.advance_commit(&mut ctx);
        assert_eq!(leader.commit, 3, "a term-4 entry on a majority commits everything before it");

        // The Figure 8 bug as a switch: counting commits the term-2 entry at once.
        let mut counting = RaftPeer::new(RaftParams { commit_rule: CommitRule::CountAnyTerm, ..params() });
        counting.term = 4;
        counting.role = Role::Leader;
        counting.append(RaftEntry { term: 1, cmd: RaftCmd::Noop });
        counting.append(RaftEntry { term: 2, cmd: RaftCmd::Noop });
        counting.match_index = BTreeMap::from([(1, 2), (2, 0)]);
        counting.advance_commit(&mut ctx);
        assert_eq!(counting.commit, 2, "count_any_term commits an earlier term's entry by counting");
    }

    /// etcd's lessor (`Renew`): a keep-alive that reaches the leader after its lease's deadline is
    /// not renewed (not even proposed); it is answered "lease not found" once the revoke applies.
    #[test]
    fn a_keep_alive_after_the_deadline_waits_for_the_revoke_and_is_refused() {
        let mut entropy = Counter(0);
        let mut peer = RaftPeer::new(RaftParams { peers: vec![0], ..params() });
        let at = |ms_: u64, entropy: &mut Counter, peer: &mut RaftPeer, input: Input| {
            let mut effects = Vec::new();
            peer.handle(&mut Ctx::new(0, ms(ms_), 0, entropy, &mut effects), input);
            effects
        };
        let request = |req, op| Input::Message { from: 10, msg: Msg::RaftRequest { req, op } };
        at(0, &mut entropy, &mut peer, Input::Timer(Timer::ElectionTimeout));
        assert_eq!(peer.role, Role::Leader, "a one-peer cluster elects itself");
        at(0, &mut entropy, &mut peer, request(1, RaftOp::LeaseGrant { request_id: 1, ttl_ms: 1000 }));
        let lease = *peer.sm.leases.keys().next().expect("granted");
        let replies = |effects: &[Effect]| -> Vec<(u64, RaftAnswer)> {
            effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Send { msg: Msg::RaftReply { req, answer, .. }, .. } => Some((*req, answer.clone())),
                    _ => None,
                })
                .collect()
        };
        let effects = at(500, &mut entropy, &mut peer, request(2, RaftOp::KeepAlive { lease }));
        assert_eq!(replies(&effects), vec![(2, RaftAnswer::KeepAliveOk)], "in time: renewed");
        let log_len = peer.log.len();
        let effects = at(1600, &mut entropy, &mut peer, request(3, RaftOp::KeepAlive { lease }));
        assert_eq!(peer.log.len(), log_len, "an expired lease's keep-alive is not proposed");
        assert!(replies(&effects).is_empty(), "nor answered before the revoke: {effects:?}");
        let effects = at(1600, &mut entropy, &mut peer, Input::Timer(Timer::LeaseCheck));
        assert!(peer.sm.leases.is_empty(), "the lease check revoked it");
        assert_eq!(replies(&effects), vec![(3, RaftAnswer::LeaseNotFound)]);
    }

    /// The log written in shared chunks reads back as the same log, across a conflict truncation.
    #[test]
    fn the_chunked_durable_log_is_the_log() {
        let (mut entropy, mut effects) = (Counter(0), Vec::new());
        let mut ctx = Ctx::new(0, 0, 0, &mut entropy, &mut effects);
        let mut peer = RaftPeer::new(params());
        let written = |peer: &mut RaftPeer, ctx: &mut Ctx| {
            peer.save(ctx);
            RaftDurable {
                term: peer.term,
                voted_for: None,
                log: DurableLog {
                    chunks: peer.sealed.clone(),
                    tail: peer.log[peer.sealed.len() * LOG_CHUNK..].to_vec(),
                },
            }
        };
        for i in 0..(3 * LOG_CHUNK as u64 + 7) {
            peer.append(RaftEntry { term: 1, cmd: RaftCmd::LeaseKeepAlive { lease: i } });
        }
        let d = written(&mut peer, &mut ctx);
        assert_eq!(d.log.chunks.len(), 3);
        assert_eq!(d.log.entries(), peer.log);
        peer.log.truncate(LOG_CHUNK + 3);
        peer.chain.truncate(LOG_CHUNK + 3);
        peer.sealed.truncate((LOG_CHUNK + 3) / LOG_CHUNK);
        peer.append(RaftEntry { term: 2, cmd: RaftCmd::Noop });
        let d = written(&mut peer, &mut ctx);
        assert_eq!(d.log.entries(), peer.log);
        let mut restarted = RaftPeer::new(params());
        let mut ctx = Ctx::new(0, 0, 0, &mut entropy, &mut effects);
        restarted.handle(&mut ctx, Input::Start { incarnation: 1, durable: Some(Durable::Raft(d)) });
        assert_eq!(restarted.log, peer.log);
        assert!(restarted.chain == peer.chain, "the chain hashes are rebuilt from the same log");
    }

    /// Figure 2: the vote is persisted (and synced) before the reply that grants it is sent.
    #[test]
    fn figure_2_the_vote_reaches_the_disk_before_the_reply() {
        let (mut entropy, mut effects) = (Counter(0), Vec::new());
        let mut ctx = Ctx::new(1, 0, 0, &mut entropy, &mut effects);
        let mut peer = RaftPeer::new(params());
        peer.on_request_vote(&mut ctx, 2, 1, 0, 0, false);
        let persisted = effects
            .iter()
            .position(|e| matches!(e, Effect::Persist(Durable::Raft(RaftDurable { voted_for: Some(2), term: 1, .. }))));
        let persisted = persisted.expect("the vote is persisted");
        let synced = effects.iter().skip(persisted).position(|e| matches!(e, Effect::Sync)).map(|i| i + persisted);
        let replied = effects
            .iter()
            .position(|e| matches!(e, Effect::Send { msg: Msg::RequestVoteReply { granted: true, .. }, .. }));
        assert!(synced.is_some() && synced < replied, "{effects:?}");
    }

    /// §5.1: a reply carrying a newer term makes a candidate a follower of that term; a stale
    /// reply (an older term, e.g. a delayed answer to an earlier election) changes nothing —
    /// terms never go back (a cargo-mutants survivor: `>` turned into `<` went unnoticed).
    #[test]
    fn section_5_1_a_newer_term_deposes_a_candidate_and_a_stale_one_does_not() {
        let (mut entropy, mut effects) = (Counter(0), Vec::new());
        let mut ctx = Ctx::new(0, 0, 0, &mut entropy, &mut effects);
        let mut peer = RaftPeer::new(params());
        peer.campaign(&mut ctx);
        let term = peer.term;
        assert_eq!(peer.role, Role::Candidate);
        peer.on_vote_reply(&mut ctx, 1, term - 1, false, false);
        assert_eq!((peer.role, peer.term), (Role::Candidate, term), "a stale reply changes nothing");
        peer.on_vote_reply(&mut ctx, 1, term + 1, false, false);
        assert_eq!((peer.role, peer.term), (Role::Follower, term + 1), "a newer term deposes the candidate");
    }
}
