//! A Consul server: the replicated state store (an abstraction of Raft, see the
//! [module docs](super)), and — on the leader — the session TTL timers, the Serf health
//! reconciliation, the lock-delay check, and blocking queries.

use std::collections::BTreeMap;

use super::client::TokenSource;
use super::msg::{ConsulMsg, ConsulSessionId};
use super::state::{Applied, LogEntry, Op, StateStore};
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId, Timer};

/// The leader's timers of its own (`Timer::Named`): the earliest session TTL timer is due …
pub const SESSION_TTL: Timer = Timer::Named("consul_session_ttl", 0);
/// … probe the client nodes (Serf) and declare the silent ones failed …
pub const SERF_PROBE: Timer = Timer::Named("consul_serf_probe", 0);
/// … the earliest parked blocking query has waited its time.
pub const BLOCKING_QUERY: Timer = Timer::Named("consul_blocking_query", 0);

/// `structs.SessionTTLMultiplier`: the leader's timer runs for twice the session's TTL.
pub const SESSION_TTL_MULTIPLIER: u64 = 2;
/// `structs.JitterFraction`: a blocking query waits `wait + random(wait / 16)`.
pub const JITTER_FRACTION: u64 = 16;

/// Parameters of one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsulServerParams {
    /// Every server, in succession order (filled per world): `servers[0]` leads first.
    pub servers: Vec<NodeId>,
    /// The leader's heartbeat (an empty append) period.
    pub heartbeat_ms: u64,
    /// A follower that has not heard the leader this long suspects it (the next in line claims);
    /// a leader that has not heard a quorum this long steps down (hashicorp/raft's leader lease).
    pub election_timeout_ms: u64,
    /// Serf: how often the leader probes each node (memberlist's `ProbeInterval`, LAN default 1 s).
    pub serf_probe_ms: u64,
    /// Serf: how long a node may leave probes unanswered before it is declared failed and its
    /// `serfHealth` check goes critical (memberlist's probe timeout + suspicion, a few seconds).
    pub serf_detect_ms: u64,
    /// Which index the holders use as their fencing token (what a grant records as its token).
    pub token: TokenSource,
}

/// A blocking query parked on the leader.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Parked {
    pub client: NodeId,
    pub req: u64,
    pub key: LockId,
    pub wait_index: u64,
    pub deadline_ns: u64,
}

/// What only a leader keeps, all of it in memory (lost on step-down, rebuilt by the next leader).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LeaderState {
    /// Per server (index into `servers`): the next log position to send, the verified match.
    pub next: Vec<u64>,
    pub matched: Vec<u64>,
    /// When each server last answered an append (local monotonic), for the leader lease.
    pub last_ack_ns: Vec<Option<u64>>,
    pub since_ns: u64,
    /// Log index → the client call it answers.
    pub pending: BTreeMap<u64, (NodeId, u64)>,
    /// `session_ttl.go`'s timers: when each session is invalidated, on this leader's clock.
    pub session_deadline_ns: BTreeMap<ConsulSessionId, u64>,
    /// Serf: when each known client node last answered a probe.
    pub serf_last_ack_ns: BTreeMap<NodeId, u64>,
    /// Health updates proposed and not yet applied (node → critical), so each is proposed once.
    pub serf_proposed: BTreeMap<NodeId, bool>,
    pub probe_seq: u64,
    pub parked: Vec<Parked>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Follower,
    /// Claimed leadership of the current term; the logs of those who accepted, by server index.
    Candidate {
        acks: BTreeMap<usize, Vec<LogEntry>>,
    },
    Leader(Box<LeaderState>),
}

/// A Consul server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsulServer {
    pub params: ConsulServerParams,
    pub term: u64,
    /// The leader this server follows (index into `servers`), if known.
    pub leader: Option<usize>,
    /// The last leader known: succession starts after it.
    pub last_leader: usize,
    /// Election timeouts since the last leader was heard: the `suspect`-th successor claims.
    pub suspect: u64,
    pub role: Role,
    pub log: Vec<LogEntry>,
    /// Entries applied to `store` (followers apply on receipt, the leader on commit).
    pub applied: u64,
    pub commit: u64,
    pub store: StateStore,
}

impl ConsulServer {
    pub fn new(params: ConsulServerParams) -> Self {
        ConsulServer {
            params,
            term: 0,
            leader: None,
            last_leader: 0,
            suspect: 0,
            role: Role::Follower,
            log: Vec::new(),
            applied: 0,
            commit: 0,
            store: StateStore::default(),
        }
    }

    fn index_of(&self, node: NodeId) -> Option<usize> {
        self.params.servers.iter().position(|&s| s == node)
    }

    fn me(&self, ctx: &Ctx) -> usize {
        self.index_of(ctx.me).expect("a server is in its own server list")
    }

    fn majority(&self) -> usize {
        self.params.servers.len() / 2 + 1
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { incarnation, .. } => self.start(ctx, incarnation),
            Input::Command(_) => {}
            Input::Message { from, msg: Msg::Consul(m) } => self.on_message(ctx, from, m),
            Input::Message { .. } => {}
            Input::Timer(Timer::ElectionTimeout) => self.on_election_timeout(ctx),
            Input::Timer(Timer::RaftHeartbeat) => self.on_heartbeat(ctx),
            Input::Timer(SESSION_TTL) => self.on_session_timers(ctx),
            Input::Timer(SERF_PROBE) => self.on_serf_probe(ctx),
            Input::Timer(BLOCKING_QUERY) => self.on_blocking_deadline(ctx),
            Input::Timer(_) => {}
        }
    }

    /// First start: `servers[0]` leads term 1, the others follow it. A restart forgets everything
    /// (nothing is persisted here, unlike Consul's raft-boltdb: see the module docs).
    fn start(&mut self, ctx: &mut Ctx, incarnation: u32) {
        *self = ConsulServer::new(self.params.clone());
        if incarnation == 0 {
            self.term = 1;
            self.leader = Some(0);
            if self.me(ctx) == 0 {
                self.become_leader(ctx);
                return;
            }
        }
        ctx.set_timer(Timer::ElectionTimeout, ms(self.params.election_timeout_ms));
    }

    // ---------------------------------------------------------------- succession

    /// No leader heard for an election timeout: the next server in line after the last leader
    /// claims; if that is not this server, wait another timeout (and then the one after it).
    fn on_election_timeout(&mut self, ctx: &mut Ctx) {
        if self.is_leader() {
            return;
        }
        self.suspect += 1;
        self.role = Role::Follower;
        let n = self.params.servers.len() as u64;
        let candidate = ((self.last_leader as u64 + self.suspect) % n) as usize;
        ctx.set_timer(Timer::ElectionTimeout, ms(self.params.election_timeout_ms));
        if candidate == self.me(ctx) {
            self.term += 1;
            self.leader = None;
            self.role = Role::Candidate { acks: BTreeMap::new() };
            for &s in &self.params.servers {
                if s != ctx.me {
                    ctx.send(s, Msg::Consul(ConsulMsg::Claim { term: self.term }));
                }
            }
            self.check_claim(ctx);
        }
    }

    fn follow(&mut self, ctx: &mut Ctx, term: u64, leader: Option<usize>) {
        if self.is_leader() {
            for t in [Timer::RaftHeartbeat, SESSION_TTL, SERF_PROBE, BLOCKING_QUERY] {
                ctx.cancel_timer(t);
            }
        }
        self.term = term;
        self.role = Role::Follower;
        self.leader = leader;
        if let Some(l) = leader {
            self.last_leader = l;
            self.suspect = 0;
        }
        ctx.set_timer(Timer::ElectionTimeout, ms(self.params.election_timeout_ms));
    }

    fn check_claim(&mut self, ctx: &mut Ctx) {
        let Role::Candidate { acks } = &self.role else { return };
        if acks.len() + 1 >= self.majority() {
            self.become_leader(ctx);
        }
    }

    /// Take over: adopt the most up-to-date log of the quorum that accepted (by last term, then
    /// length), restart every session's TTL timer at twice its TTL (`initializeSessionTimers`),
    /// trust every known node alive for now, write a no-op, and lead.
    fn become_leader(&mut self, ctx: &mut Ctx) {
        if let Role::Candidate { acks } = std::mem::replace(&mut self.role, Role::Follower) {
            let key = |log: &Vec<LogEntry>| (log.last().map_or(0, |e| e.term), log.len());
            let best = acks.into_values().fold(self.log.clone(), |a, b| if key(&b) > key(&a) { b } else { a });
            self.install(ctx, 0, best);
        }
        ctx.cancel_timer(Timer::ElectionTimeout);
        let me = self.me(ctx);
        self.leader = Some(me);
        self.last_leader = me;
        self.suspect = 0;
        let n = self.params.servers.len();
        let mut state = LeaderState {
            next: vec![0; n],
            matched: vec![0; n],
            last_ack_ns: vec![None; n],
            since_ns: ctx.mono_ns,
            ..LeaderState::default()
        };
        for s in self.store.sessions.values() {
            if s.ttl_ms > 0 {
                state.session_deadline_ns.insert(s.id, ctx.mono_ns + ms(s.ttl_ms * SESSION_TTL_MULTIPLIER));
            }
            state.serf_last_ack_ns.insert(s.node, ctx.mono_ns);
        }
        self.role = Role::Leader(Box::new(state));
        self.applied = self.log.len() as u64;
        self.log.push(LogEntry { term: self.term, op: Op::Noop });
        self.broadcast(ctx);
        // A one-server cluster has nobody to send heartbeats to.
        if self.params.servers.len() > 1 {
            ctx.set_timer(Timer::RaftHeartbeat, ms(self.params.heartbeat_ms));
        }
        ctx.set_timer(SERF_PROBE, ms(self.params.serf_probe_ms));
        self.arm_session_timer(ctx);
        self.advance_commit(ctx);
    }

    // ---------------------------------------------------------------- replication

    /// The leader's in-memory state (panics on a non-leader: for tests and inspection).
    pub fn leader_state_ref(&self) -> &LeaderState {
        match &self.role {
            Role::Leader(l) => l,
            _ => panic!("not the leader"),
        }
    }

    fn leader_state(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    /// Send every follower the log from what it is known to have.
    fn broadcast(&mut self, ctx: &mut Ctx) {
        let Role::Leader(l) = &self.role else { return };
        for (i, &s) in self.params.servers.iter().enumerate() {
            if s == ctx.me {
                continue;
            }
            let from = l.next[i].min(self.log.len() as u64);
            let entries = self.log[from as usize..].to_vec();
            ctx.send(s, Msg::Consul(ConsulMsg::Append { term: self.term, from, entries, commit: self.commit }));
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx) {
        let timeout_ns = ms(self.params.election_timeout_ms);
        let Some(l) = self.leader_state() else { return };
        // hashicorp/raft's leader lease: without a quorum heard from lately, step down.
        if ctx.mono_ns.saturating_sub(l.since_ns) > timeout_ns && !self.quorum_contact(ctx) {
            let term = self.term;
            self.follow(ctx, term, None);
            return;
        }
        self.broadcast(ctx);
        ctx.set_timer(Timer::RaftHeartbeat, ms(self.params.heartbeat_ms));
    }

    /// Has a quorum (this leader included) answered within the last election timeout?
    fn quorum_contact(&self, ctx: &Ctx) -> bool {
        let Role::Leader(l) = &self.role else { return false };
        let timeout_ns = ms(self.params.election_timeout_ms);
        let heard =
            l.last_ack_ns.iter().filter(|t| t.is_some_and(|t| ctx.mono_ns.saturating_sub(t) <= timeout_ns)).count();
        heard + 1 >= self.majority()
    }

    fn on_append(&mut self, ctx: &mut Ctx, from: NodeId, term: u64, start: u64, entries: Vec<LogEntry>, commit: u64) {
        if term < self.term {
            let len = self.log.len() as u64;
            ctx.send(from, Msg::Consul(ConsulMsg::AppendAck { term: self.term, len, ok: false }));
            return;
        }
        let sender = self.index_of(from);
        self.follow(ctx, term, sender);
        if start > self.log.len() as u64 {
            let len = self.log.len() as u64;
            ctx.send(from, Msg::Consul(ConsulMsg::AppendAck { term, len, ok: false }));
            return;
        }
        let matched = start + entries.len() as u64;
        self.install(ctx, start, entries);
        self.commit = self.commit.max(commit.min(matched));
        ctx.send(from, Msg::Consul(ConsulMsg::AppendAck { term, len: matched, ok: true }));
    }

    /// Put `entries` at log position `start` (Raft's rule: truncate only at a conflict) and apply
    /// what is new. A conflict rebuilds the store by replaying the log — at *this* instant, so the
    /// lock-delays of replayed invalidations start now (an approximation, see the module docs).
    fn install(&mut self, ctx: &mut Ctx, start: u64, entries: Vec<LogEntry>) {
        let mut rebuild = false;
        for (i, e) in entries.into_iter().enumerate() {
            let pos = start as usize + i;
            if pos < self.log.len() {
                if self.log[pos] != e {
                    self.log.truncate(pos);
                    self.log.push(e);
                    rebuild = true;
                }
            } else {
                self.log.push(e);
            }
        }
        if rebuild {
            self.store = StateStore::default();
            self.applied = 0;
        }
        while self.applied < self.log.len() as u64 {
            self.applied += 1;
            let op = self.log[self.applied as usize - 1].op.clone();
            self.store.apply(self.applied, &op, ctx.mono_ns);
        }
        self.store.touched.clear();
    }

    fn on_append_ack(&mut self, ctx: &mut Ctx, from: NodeId, term: u64, len: u64, ok: bool) {
        if term > self.term {
            self.follow(ctx, term, None);
            return;
        }
        let Some(i) = self.index_of(from) else { return };
        let now = ctx.mono_ns;
        let Some(l) = self.leader_state() else { return };
        l.last_ack_ns[i] = Some(now);
        if ok {
            l.matched[i] = l.matched[i].max(len);
        }
        l.next[i] = len;
        self.advance_commit(ctx);
    }

    /// Commit the highest index a majority holds, if it is of this term (Raft's rule); apply.
    fn advance_commit(&mut self, ctx: &mut Ctx) {
        let Role::Leader(l) = &self.role else { return };
        let me = self.me(ctx);
        let majority = self.majority();
        let mut new_commit = self.commit;
        for n in (self.commit + 1..=self.log.len() as u64).rev() {
            let copies = 1 + l.matched.iter().enumerate().filter(|&(i, &m)| i != me && m >= n).count();
            if copies >= majority && self.log[n as usize - 1].term == self.term {
                new_commit = n;
                break;
            }
        }
        self.commit = new_commit;
        while self.applied < self.commit {
            self.applied += 1;
            self.apply_as_leader(ctx, self.applied);
        }
        self.wake_parked(ctx);
    }

    fn apply_as_leader(&mut self, ctx: &mut Ctx, index: u64) {
        let op = self.log[index as usize - 1].op.clone();
        let result = self.store.apply(index, &op, ctx.mono_ns);
        let now = ctx.mono_ns;
        let sessions: Vec<ConsulSessionId> = self.store.sessions.keys().copied().collect();
        let ttl = match &op {
            Op::SessionCreate { ttl_ms, .. } => *ttl_ms,
            _ => 0,
        };
        let Role::Leader(l) = &mut self.role else { return };
        let reply = l.pending.remove(&index);
        match (&op, result) {
            (Op::SessionCreate { node, .. }, Applied::Session(session)) => {
                if let Some(id) = session {
                    if ttl > 0 {
                        l.session_deadline_ns.insert(id, now + ms(ttl * SESSION_TTL_MULTIPLIER));
                    }
                    l.serf_last_ack_ns.entry(*node).or_insert(now);
                }
                if let Some((client, req)) = reply {
                    ctx.send(client, Msg::Consul(ConsulMsg::SessionCreated { req, session }));
                }
            }
            (Op::KvLock { key, session }, Applied::Lock { ok, invalid, granted, lock_index, modify_index }) => {
                if granted {
                    let holder = self.store.sessions.get(session).map_or(0, |s| s.node);
                    ctx.record(Observation::Grant {
                        lock: *key,
                        holder,
                        value: *session,
                        token: Some(match self.params.token {
                            TokenSource::LockIndex => lock_index,
                            TokenSource::ModifyIndex => modify_index,
                        }),
                    });
                }
                if let Some((client, req)) = reply {
                    let m = ConsulMsg::KvAcquireReply { req, ok, invalid, lock_index, modify_index };
                    ctx.send(client, Msg::Consul(m));
                }
            }
            (Op::KvUnlock { .. }, Applied::Done(ok)) => {
                if let Some((client, req)) = reply {
                    ctx.send(client, Msg::Consul(ConsulMsg::KvReleaseReply { req, ok }));
                }
            }
            (Op::SessionDestroy { .. }, _) => {
                if let Some((client, req)) = reply {
                    ctx.send(client, Msg::Consul(ConsulMsg::DestroyReply { req }));
                }
            }
            (Op::NodeHealth { node, .. }, _) => {
                l.serf_proposed.remove(node);
            }
            _ => {}
        }
        // Invalidated sessions take their timers with them.
        l.session_deadline_ns.retain(|s, _| sessions.binary_search(s).is_ok());
        self.arm_session_timer(ctx);
    }

    /// Append a write to the log and send it; `reply` is the client call it answers.
    fn propose(&mut self, ctx: &mut Ctx, op: Op, reply: Option<(NodeId, u64)>) {
        let term = self.term;
        self.log.push(LogEntry { term, op });
        let index = self.log.len() as u64;
        let Some(l) = self.leader_state() else { return };
        if let Some(r) = reply {
            l.pending.insert(index, r);
        }
        self.broadcast(ctx);
        self.advance_commit(ctx);
    }

    // ---------------------------------------------------------------- sessions and Serf (leader)

    fn arm_session_timer(&mut self, ctx: &mut Ctx) {
        let Role::Leader(l) = &self.role else { return };
        match l.session_deadline_ns.values().min() {
            Some(&at) => ctx.set_timer(SESSION_TTL, at.saturating_sub(ctx.mono_ns)),
            None => ctx.cancel_timer(SESSION_TTL),
        }
    }

    /// `invalidateSession`: a TTL timer ran out; destroy the session through the log.
    fn on_session_timers(&mut self, ctx: &mut Ctx) {
        let now = ctx.mono_ns;
        let Some(l) = self.leader_state() else { return };
        let expired: Vec<ConsulSessionId> =
            l.session_deadline_ns.iter().filter(|(_, &at)| at <= now).map(|(&s, _)| s).collect();
        for s in &expired {
            l.session_deadline_ns.remove(s);
        }
        for session in expired {
            self.propose(ctx, Op::SessionDestroy { session }, None);
        }
        self.arm_session_timer(ctx);
    }

    /// Probe every known node; one silent for `serf_detect_ms` has failed: its `serfHealth` goes
    /// critical (`reconcileMember` → `handleFailedMember`), whether it is dead or only cut off.
    fn on_serf_probe(&mut self, ctx: &mut Ctx) {
        let now = ctx.mono_ns;
        let detect_ns = ms(self.params.serf_detect_ms);
        let critical = self.store.critical.clone();
        let Some(l) = self.leader_state() else { return };
        l.probe_seq += 1;
        let seq = l.probe_seq;
        let mut failed = Vec::new();
        for (&node, &last) in &l.serf_last_ack_ns {
            ctx.send(node, Msg::Consul(ConsulMsg::Probe { seq }));
            if now.saturating_sub(last) > detect_ns
                && !critical.contains(&node)
                && l.serf_proposed.get(&node) != Some(&true)
            {
                failed.push(node);
            }
        }
        for &node in &failed {
            l.serf_proposed.insert(node, true);
        }
        for node in failed {
            self.propose(ctx, Op::NodeHealth { node, critical: true }, None);
        }
        ctx.set_timer(SERF_PROBE, ms(self.params.serf_probe_ms));
    }

    /// A node answered: alive. A node marked failed that answers again is passing again.
    fn on_probe_ack(&mut self, ctx: &mut Ctx, node: NodeId) {
        let now = ctx.mono_ns;
        let critical = self.store.critical.contains(&node);
        let Some(l) = self.leader_state() else { return };
        l.serf_last_ack_ns.insert(node, now);
        if critical && l.serf_proposed.get(&node) != Some(&false) {
            l.serf_proposed.insert(node, false);
            self.propose(ctx, Op::NodeHealth { node, critical: false }, None);
        }
    }

    // ---------------------------------------------------------------- blocking queries

    fn get_reply(&self, req: u64, key: LockId) -> ConsulMsg {
        let e = self.store.kv.get(&key);
        ConsulMsg::KvGetReply {
            req,
            session: e.and_then(|e| e.session),
            lock_index: e.map_or(0, |e| e.lock_index),
            index: self.store.index_of(key),
        }
    }

    fn wake_parked(&mut self, ctx: &mut Ctx) {
        let touched = std::mem::take(&mut self.store.touched);
        if touched.is_empty() {
            return;
        }
        let Role::Leader(l) = &mut self.role else { return };
        let parked = std::mem::take(&mut l.parked);
        let mut kept = Vec::new();
        for p in parked {
            if touched.contains(&p.key) && self.store.index_of(p.key) > p.wait_index {
                ctx.send(p.client, Msg::Consul(self.get_reply(p.req, p.key)));
            } else {
                kept.push(p);
            }
        }
        if let Role::Leader(l) = &mut self.role {
            l.parked = kept;
        }
        self.arm_blocking_timer(ctx);
    }

    fn arm_blocking_timer(&mut self, ctx: &mut Ctx) {
        let Role::Leader(l) = &self.role else { return };
        match l.parked.iter().map(|p| p.deadline_ns).min() {
            Some(at) => ctx.set_timer(BLOCKING_QUERY, at.saturating_sub(ctx.mono_ns)),
            None => ctx.cancel_timer(BLOCKING_QUERY),
        }
    }

    fn on_blocking_deadline(&mut self, ctx: &mut Ctx) {
        let now = ctx.mono_ns;
        let Role::Leader(l) = &mut self.role else { return };
        let (due, kept): (Vec<Parked>, Vec<Parked>) =
            std::mem::take(&mut l.parked).into_iter().partition(|p| p.deadline_ns <= now);
        l.parked = kept;
        for p in due {
            ctx.send(p.client, Msg::Consul(self.get_reply(p.req, p.key)));
        }
        self.arm_blocking_timer(ctx);
    }

    // ---------------------------------------------------------------- messages

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, m: ConsulMsg) {
        use ConsulMsg::*;
        match m {
            Append { term, from: start, entries, commit } => self.on_append(ctx, from, term, start, entries, commit),
            AppendAck { term, len, ok } => self.on_append_ack(ctx, from, term, len, ok),
            // One claim accepted per term: only a higher term than any seen.
            Claim { term } if term > self.term => {
                let claimer = self.index_of(from);
                self.follow(ctx, term, claimer);
                ctx.send(from, Msg::Consul(ClaimAck { term, log: self.log.clone() }));
            }
            ClaimAck { term, log } if term == self.term => {
                if let (Some(i), Role::Candidate { acks }) = (self.index_of(from), &mut self.role) {
                    acks.insert(i, log);
                    self.check_claim(ctx);
                }
            }
            ProbeAck { .. } => self.on_probe_ack(ctx, from),
            SessionCreate { req, .. }
            | SessionRenew { req, .. }
            | SessionDestroy { req, .. }
            | KvGet { req, .. }
            | KvAcquire { req, .. }
            | KvRelease { req, .. }
                if !self.is_leader() =>
            {
                // The agent forwards to the leader; here the client is told where it is.
                let reply = match self.leader {
                    Some(l) => NotLeader { req, leader: self.params.servers[l] },
                    None => NoLeader { req },
                };
                ctx.send(from, Msg::Consul(reply));
            }
            SessionCreate { req, ttl_ms, lock_delay_ms, behavior, checks } => {
                let op = Op::SessionCreate { node: from, ttl_ms, lock_delay_ms, behavior, checks };
                self.propose(ctx, op, Some((from, req)));
            }
            SessionRenew { req, session } => {
                // `Session.Renew`: read the session, reset its timer (no log write).
                let now = ctx.mono_ns;
                let ttl = self.store.sessions.get(&session).map(|s| s.ttl_ms);
                if let (Some(ttl), Some(l)) = (ttl, self.leader_state()) {
                    if ttl > 0 {
                        l.session_deadline_ns.insert(session, now + ms(ttl * SESSION_TTL_MULTIPLIER));
                    }
                }
                self.arm_session_timer(ctx);
                ctx.send(from, Msg::Consul(RenewReply { req, found: ttl.is_some() }));
            }
            SessionDestroy { req, session } => self.propose(ctx, Op::SessionDestroy { session }, Some((from, req))),
            KvGet { req, key, wait_index, wait_ms } => {
                // `?consistent`: the leader first verifies it still leads (a quorum heard lately).
                if !self.quorum_contact(ctx) {
                    ctx.send(from, Msg::Consul(NoLeader { req }));
                } else if wait_index == 0 || self.store.index_of(key) > wait_index {
                    ctx.send(from, Msg::Consul(self.get_reply(req, key)));
                } else {
                    let jitter_ns = ctx.random_between(0, ms(wait_ms) / JITTER_FRACTION);
                    let deadline_ns = ctx.mono_ns + ms(wait_ms) + jitter_ns;
                    if let Some(l) = self.leader_state() {
                        l.parked.push(Parked { client: from, req, key, wait_index, deadline_ns });
                    }
                    self.arm_blocking_timer(ctx);
                }
            }
            KvAcquire { req, key, session } => {
                // `kvsPreApply`: the lock-delay is checked on the leader, before the log, on the
                // leader's own clock; a key in lock-delay answers `false` at once.
                if self.store.lock_delayed(key, ctx.mono_ns) {
                    let e = self.store.kv.get(&key);
                    let m = KvAcquireReply {
                        req,
                        ok: false,
                        invalid: false,
                        lock_index: e.map_or(0, |e| e.lock_index),
                        modify_index: e.map_or(0, |e| e.modify_index),
                    };
                    ctx.send(from, Msg::Consul(m));
                } else {
                    self.propose(ctx, Op::KvLock { key, session }, Some((from, req)));
                }
            }
            KvRelease { req, key, session } => self.propose(ctx, Op::KvUnlock { key, session }, Some((from, req))),
            _ => {}
        }
    }
}
