//! Messages exchanged between nodes. One enum for every protocol, so a world of mixed roles is
//! one type and the simulator's hot loop stays free of dynamic dispatch.

use std::fmt;

use crate::consul::ConsulMsg;
use crate::history::SessionId;
use crate::lease::ReplicatedEntry;
pub use crate::node::LockId;
use crate::raft::{AppendEntries, RaftAnswer, RaftOp, RaftOpKind};
use crate::skinny::SkinnyMsg;

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    /// `SET lock value NX PX ttl_ms`: take the lock if the key does not exist (it is absent or
    /// expired). Refused whenever the key exists, whatever its value (the default `redis` server);
    /// the `redisson` server runs Redisson's reentrant acquire script instead.
    Acquire {
        req: u64,
        lock: LockId,
        value: u64,
        ttl_ms: u64,
    },
    /// Answer to [`Msg::Acquire`]. `token` is the fencing token when the server issues them;
    /// `expires_at_wall_ns` is the expiry on the *server's* wall clock (trusted only by clients
    /// that compute validity from server timestamps, scenario #12).
    AcquireReply {
        req: u64,
        lock: LockId,
        value: u64,
        granted: bool,
        token: Option<u64>,
        expires_at_wall_ns: i64,
    },
    /// Extend the lease (heartbeat): `PEXPIRE` guarded by a value comparison.
    Extend {
        req: u64,
        lock: LockId,
        value: u64,
        ttl_ms: u64,
    },
    ExtendReply {
        req: u64,
        lock: LockId,
        ok: bool,
        expires_at_wall_ns: i64,
    },
    /// Release: compare-and-delete on `value`, or a plain `DEL` when `plain_del` (scenario #8).
    /// `ttl_ms` is the lease time, which only Redisson's unlock script uses (`ARGV[2]`: a
    /// decremented hold count above zero re-arms the key's expiry).
    Release {
        req: u64,
        lock: LockId,
        value: u64,
        plain_del: bool,
        ttl_ms: u64,
    },
    ReleaseReply {
        req: u64,
        lock: LockId,
        ok: bool,
    },
    /// `GET lock` and `PTTL lock` read together (one `MULTI`/`EXEC`, or a two-line Lua script):
    /// what the lease client sends after a refused `SET NX` when an earlier request with the same
    /// value went unanswered — the key may be its own (scenario #9).
    Get {
        req: u64,
        lock: LockId,
    },
    /// Answer to [`Msg::Get`]: the key's value (`None`: no such key) and `PTTL` in whole
    /// milliseconds (−2: no such key, as Redis answers). `token` and `expires_at_wall_ns` (Redis 7's
    /// `PEXPIRETIME`) serve clients that use tokens or trust server timestamps (#12).
    GetReply {
        req: u64,
        lock: LockId,
        value: Option<u64>,
        pttl_ms: i64,
        token: Option<u64>,
        expires_at_wall_ns: i64,
    },
    /// Read the protected resource's counter.
    Read {
        req: u64,
    },
    ReadReply {
        req: u64,
        value: u64,
    },
    /// Write the protected resource's counter. `session` is instrumentation only (the
    /// resource's logic never looks at it): it lets the checker attribute writes to lock sessions.
    Write {
        req: u64,
        session: SessionId,
        token: Option<u64>,
        value: u64,
    },
    WriteReply {
        req: u64,
        applied: bool,
    },
    /// Primary → replica: the current state of one lock (`None`: deleted) as
    /// `(value, holder, expires_at_wall_ns, token)`, and the token counter.
    Replicate {
        lock: LockId,
        /// Boxed: rare, and it would otherwise make every message larger.
        entry: Option<Box<ReplicatedEntry>>,
        last_token: u64,
    },
    /// Raft (§5.2; thesis §9.6 when `pre_vote`): a vote request for `term`.
    RequestVote {
        term: u64,
        last_index: u64,
        last_term: u64,
        pre_vote: bool,
    },
    RequestVoteReply {
        term: u64,
        granted: bool,
        pre_vote: bool,
    },
    /// Raft (§5.3): entries after `prev_index`, or a heartbeat. Boxed: it would otherwise make
    /// every message larger.
    AppendEntries(Box<AppendEntries>),
    AppendEntriesReply {
        term: u64,
        success: bool,
        match_index: u64,
        round: u64,
    },
    /// Client → Raft lock service.
    RaftRequest {
        req: u64,
        op: RaftOp,
    },
    RaftReply {
        req: u64,
        op: RaftOpKind,
        answer: RaftAnswer,
    },
    /// Raft leader → waiter: the key this waiter watched was deleted; read the lock's state again.
    RaftWatch {
        lock: LockId,
        revision: u64,
    },
    /// skinny (Paxos lock): its lock API and its two phases.
    Skinny(SkinnyMsg),
    /// Consul: sessions, KV locks, Serf probes and the servers' replication.
    Consul(ConsulMsg),
}

impl Msg {
    /// The message kind, as named in scenario files (targeted drops and delays).
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Acquire { .. } => "acquire",
            Msg::AcquireReply { .. } => "acquire_reply",
            Msg::Extend { .. } => "extend",
            Msg::ExtendReply { .. } => "extend_reply",
            Msg::Release { .. } => "release",
            Msg::ReleaseReply { .. } => "release_reply",
            Msg::Get { .. } => "get",
            Msg::GetReply { .. } => "get_reply",
            Msg::Read { .. } => "read",
            Msg::ReadReply { .. } => "read_reply",
            Msg::Write { .. } => "write",
            Msg::WriteReply { .. } => "write_reply",
            Msg::Replicate { .. } => "replicate",
            Msg::RequestVote { .. } => "request_vote",
            Msg::RequestVoteReply { .. } => "request_vote_reply",
            Msg::AppendEntries { .. } => "append_entries",
            Msg::AppendEntriesReply { .. } => "append_entries_reply",
            Msg::RaftRequest { op, .. } => op.kind().request_kind(),
            Msg::RaftReply { op, .. } => op.reply_kind(),
            Msg::RaftWatch { .. } => "watch",
            Msg::Skinny(m) => m.kind(),
            Msg::Consul(m) => m.kind(),
        }
    }

    /// Every message kind, for validating scenario files.
    pub const KINDS: &'static [&'static str] = &[
        "acquire",
        "acquire_reply",
        "extend",
        "extend_reply",
        "release",
        "release_reply",
        "get",
        "get_reply",
        "read",
        "read_reply",
        "write",
        "write_reply",
        "replicate",
        "request_vote",
        "request_vote_reply",
        "append_entries",
        "append_entries_reply",
        "lease_grant",
        "lease_grant_reply",
        "lock_status",
        "lock_status_reply",
        "revoke",
        "revoke_reply",
        "watch",
        // skinny: SkinnyMsg::KINDS.
        "skinny_acquire",
        "skinny_acquire_reply",
        "skinny_release",
        "skinny_release_reply",
        "promise",
        "promise_reply",
        "commit",
        "commit_reply",
        // consul: ConsulMsg::KINDS.
        "session_create",
        "session_created",
        "session_renew",
        "session_renew_reply",
        "session_destroy",
        "session_destroy_reply",
        "kv_get",
        "kv_get_reply",
        "kv_acquire",
        "kv_acquire_reply",
        "kv_release",
        "kv_release_reply",
        "not_leader",
        "no_leader",
        "serf_probe",
        "serf_ack",
        "consul_append",
        "consul_append_ack",
        "consul_claim",
        "consul_claim_ack",
    ];
}

fn opt(token: &Option<u64>) -> String {
    match token {
        Some(t) => t.to_string(),
        None => "-".to_string(),
    }
}

/// One-line rendering for traces; values shortened to 4 hex digits (enough to tell them apart).
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Acquire { req, lock, value, ttl_ms } => {
                write!(f, "acquire req={req} lock={lock} value={:04x} ttl_ms={ttl_ms}", value & 0xffff)
            }
            Msg::AcquireReply { req, lock, value, granted, token, .. } => write!(
                f,
                "acquire_reply req={req} lock={lock} value={:04x} {} token={}",
                value & 0xffff,
                if *granted { "GRANTED" } else { "denied" },
                opt(token)
            ),
            Msg::Extend { req, lock, value, ttl_ms } => {
                write!(f, "extend req={req} lock={lock} value={:04x} ttl_ms={ttl_ms}", value & 0xffff)
            }
            Msg::ExtendReply { req, lock, ok, .. } => {
                write!(f, "extend_reply req={req} lock={lock} {}", if *ok { "ok" } else { "FAILED" })
            }
            Msg::Release { req, lock, value, plain_del, .. } => write!(
                f,
                "release req={req} lock={lock} value={:04x} {}",
                value & 0xffff,
                if *plain_del { "plain-DEL" } else { "compare-and-delete" }
            ),
            Msg::ReleaseReply { req, lock, ok } => {
                write!(f, "release_reply req={req} lock={lock} {}", if *ok { "ok" } else { "not-owner" })
            }
            Msg::Get { req, lock } => write!(f, "get req={req} lock={lock} (GET + PTTL)"),
            Msg::GetReply { req, lock, value, pttl_ms, .. } => match value {
                Some(v) => write!(f, "get_reply req={req} lock={lock} value={:04x} pttl_ms={pttl_ms}", v & 0xffff),
                None => write!(f, "get_reply req={req} lock={lock} nil pttl_ms={pttl_ms}"),
            },
            Msg::Read { req } => write!(f, "read req={req}"),
            Msg::ReadReply { req, value } => write!(f, "read_reply req={req} value={value}"),
            Msg::Write { req, token, value, .. } => write!(f, "write req={req} token={} value={value}", opt(token)),
            Msg::Replicate { lock, entry, last_token } => match entry.as_deref() {
                Some(ReplicatedEntry { value, token, .. }) => {
                    write!(
                        f,
                        "replicate lock={lock} value={:04x} token={} last_token={last_token}",
                        value & 0xffff,
                        opt(token)
                    )
                }
                None => write!(f, "replicate lock={lock} deleted"),
            },
            Msg::WriteReply { req, applied } => {
                write!(f, "write_reply req={req} {}", if *applied { "applied" } else { "REJECTED" })
            }
            Msg::RequestVote { term, last_index, last_term, pre_vote } => write!(
                f,
                "{} term={term} last_index={last_index} last_term={last_term}",
                if *pre_vote { "pre_vote" } else { "request_vote" }
            ),
            Msg::RequestVoteReply { term, granted, pre_vote } => write!(
                f,
                "{}_reply term={term} {}",
                if *pre_vote { "pre_vote" } else { "request_vote" },
                if *granted { "GRANTED" } else { "denied" }
            ),
            Msg::AppendEntries(a) => write!(
                f,
                "append_entries term={} prev={}/{} entries={} commit={} round={}",
                a.term,
                a.prev_index,
                a.prev_term,
                a.entries.len(),
                a.commit,
                a.round
            ),
            Msg::AppendEntriesReply { term, success, match_index, round } => write!(
                f,
                "append_entries_reply term={term} {} match={match_index} round={round}",
                if *success { "ok" } else { "REJECT" }
            ),
            Msg::RaftRequest { req, op } => write!(f, "{} req={req} {op:?}", op.kind().request_kind()),
            Msg::RaftReply { req, op, answer } => write!(f, "{} req={req} {answer:?}", op.reply_kind()),
            Msg::RaftWatch { lock, revision } => write!(f, "watch lock={lock} revision={revision} predecessor gone"),
            Msg::Skinny(m) => write!(f, "{m}"),
            Msg::Consul(m) => write!(f, "{m}"),
        }
    }
}
