//! Consul's messages: the HTTP API calls a client makes (`/v1/session/*`, `/v1/kv/<key>`), the
//! Serf probes of the node's health check, and the servers' own replication (an abstraction of
//! Raft, see the [module docs](super)).
//!
//! `req` is transport bookkeeping (which HTTP call a reply answers), not protocol state.

use std::fmt;

use super::state::{Behavior, LogEntry};
use crate::node::{LockId, NodeId};

/// A session id (Consul's are UUIDs; here the log index of the `SessionCreate` entry, so every
/// server derives the same id).
pub type ConsulSessionId = u64;

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsulMsg {
    /// `PUT /v1/session/create` `{TTL, LockDelay, Behavior, NodeChecks}` (the node is the caller's).
    SessionCreate {
        req: u64,
        ttl_ms: u64,
        lock_delay_ms: u64,
        behavior: Behavior,
        checks: bool,
    },
    /// `{"ID": …}`, or `None`: refused (`Check 'serfHealth' is in critical state`).
    SessionCreated {
        req: u64,
        session: Option<ConsulSessionId>,
    },
    /// `PUT /v1/session/renew/<id>` (answered by the leader, which resets its TTL timer).
    SessionRenew {
        req: u64,
        session: ConsulSessionId,
    },
    /// The session, or `found = false`: it is gone (the api then returns `ErrSessionExpired`).
    RenewReply {
        req: u64,
        found: bool,
    },
    /// `PUT /v1/session/destroy/<id>`.
    SessionDestroy {
        req: u64,
        session: ConsulSessionId,
    },
    DestroyReply {
        req: u64,
    },
    /// `GET /v1/kv/<key>?index=<wait_index>&wait=<wait_ms>` (a blocking query when `wait_index`
    /// is not 0; `?consistent`: only a leader in contact with a quorum answers).
    KvGet {
        req: u64,
        key: LockId,
        wait_index: u64,
        wait_ms: u64,
    },
    /// The key's `Session` holder (`None`: no holder or no key), `LockIndex`, and the
    /// `X-Consul-Index` the next blocking query waits on.
    KvGetReply {
        req: u64,
        session: Option<ConsulSessionId>,
        lock_index: u64,
        index: u64,
    },
    /// `PUT /v1/kv/<key>?acquire=<session>`.
    KvAcquire {
        req: u64,
        key: LockId,
        session: ConsulSessionId,
    },
    /// `true`/`false`, with the entry's `LockIndex` and `ModifyIndex` on success; `invalid` when
    /// the session does not exist (an HTTP 500 `invalid session`).
    KvAcquireReply {
        req: u64,
        ok: bool,
        invalid: bool,
        lock_index: u64,
        modify_index: u64,
    },
    /// `PUT /v1/kv/<key>?release=<session>`.
    KvRelease {
        req: u64,
        key: LockId,
        session: ConsulSessionId,
    },
    KvReleaseReply {
        req: u64,
        ok: bool,
    },
    /// A follower's answer to any client call: the leader it knows (the agent forwards there).
    NotLeader {
        req: u64,
        leader: NodeId,
    },
    /// No leader known, or the leader has lost contact with a quorum (`No cluster leader`).
    NoLeader {
        req: u64,
    },
    /// Serf: the leader probes a client node (memberlist's ping) …
    Probe {
        seq: u64,
    },
    /// … and the node's agent answers.
    ProbeAck {
        seq: u64,
    },
    /// Server → server: the log from position `from` (empty: a heartbeat), and the commit index.
    Append {
        term: u64,
        from: u64,
        entries: Vec<LogEntry>,
        commit: u64,
    },
    /// The follower's log length after the append (`ok = false`: a gap, resend from `len`).
    AppendAck {
        term: u64,
        len: u64,
        ok: bool,
    },
    /// A successor claims leadership of `term` (see the module docs on succession).
    Claim {
        term: u64,
    },
    /// A server accepts the claim and hands over its log.
    ClaimAck {
        term: u64,
        log: Vec<LogEntry>,
    },
}

impl ConsulMsg {
    /// Every kind, as scenario files name them.
    pub const KINDS: &'static [&'static str] = &[
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

    pub fn kind(&self) -> &'static str {
        match self {
            ConsulMsg::SessionCreate { .. } => "session_create",
            ConsulMsg::SessionCreated { .. } => "session_created",
            ConsulMsg::SessionRenew { .. } => "session_renew",
            ConsulMsg::RenewReply { .. } => "session_renew_reply",
            ConsulMsg::SessionDestroy { .. } => "session_destroy",
            ConsulMsg::DestroyReply { .. } => "session_destroy_reply",
            ConsulMsg::KvGet { .. } => "kv_get",
            ConsulMsg::KvGetReply { .. } => "kv_get_reply",
            ConsulMsg::KvAcquire { .. } => "kv_acquire",
            ConsulMsg::KvAcquireReply { .. } => "kv_acquire_reply",
            ConsulMsg::KvRelease { .. } => "kv_release",
            ConsulMsg::KvReleaseReply { .. } => "kv_release_reply",
            ConsulMsg::NotLeader { .. } => "not_leader",
            ConsulMsg::NoLeader { .. } => "no_leader",
            ConsulMsg::Probe { .. } => "serf_probe",
            ConsulMsg::ProbeAck { .. } => "serf_ack",
            ConsulMsg::Append { .. } => "consul_append",
            ConsulMsg::AppendAck { .. } => "consul_append_ack",
            ConsulMsg::Claim { .. } => "consul_claim",
            ConsulMsg::ClaimAck { .. } => "consul_claim_ack",
        }
    }
}

fn holder(session: &Option<ConsulSessionId>) -> String {
    session.map_or("-".to_string(), |s| format!("sess{s}"))
}

impl fmt::Display for ConsulMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConsulMsg::*;
        match self {
            SessionCreate { req, ttl_ms, lock_delay_ms, behavior, checks } => write!(
                f,
                "session_create req={req} ttl={ttl_ms}ms lock_delay={lock_delay_ms}ms behavior={behavior:?} checks={}",
                if *checks { "serfHealth" } else { "none" }
            ),
            SessionCreated { req, session } => write!(f, "session_created req={req} {}", holder(session)),
            SessionRenew { req, session } => write!(f, "session_renew req={req} sess{session}"),
            RenewReply { req, found } => {
                write!(f, "session_renew_reply req={req} {}", if *found { "renewed" } else { "SESSION-GONE" })
            }
            SessionDestroy { req, session } => write!(f, "session_destroy req={req} sess{session}"),
            DestroyReply { req } => write!(f, "session_destroy_reply req={req}"),
            KvGet { req, key, wait_index, wait_ms } => {
                write!(f, "kv_get req={req} key={key} index={wait_index} wait={wait_ms}ms")
            }
            KvGetReply { req, session, lock_index, index } => {
                write!(f, "kv_get_reply req={req} session={} lock_index={lock_index} index={index}", holder(session))
            }
            KvAcquire { req, key, session } => write!(f, "kv_acquire req={req} key={key} sess{session}"),
            KvAcquireReply { req, ok, invalid, lock_index, modify_index } => write!(
                f,
                "kv_acquire_reply req={req} {} lock_index={lock_index} modify_index={modify_index}",
                if *invalid {
                    "invalid-session"
                } else if *ok {
                    "ACQUIRED"
                } else {
                    "false"
                }
            ),
            KvRelease { req, key, session } => write!(f, "kv_release req={req} key={key} sess{session}"),
            KvReleaseReply { req, ok } => write!(f, "kv_release_reply req={req} {ok}"),
            NotLeader { req, leader } => write!(f, "not_leader req={req} leader={leader}"),
            NoLeader { req } => write!(f, "no_leader req={req}"),
            Probe { seq } => write!(f, "serf_probe seq={seq}"),
            ProbeAck { seq } => write!(f, "serf_ack seq={seq}"),
            Append { term, from, entries, commit } => {
                write!(f, "consul_append term={term} from={from} entries={} commit={commit}", entries.len())
            }
            AppendAck { term, len, ok } => write!(f, "consul_append_ack term={term} len={len} ok={ok}"),
            Claim { term } => write!(f, "consul_claim term={term}"),
            ClaimAck { term, log } => write!(f, "consul_claim_ack term={term} log={}", log.len()),
        }
    }
}
