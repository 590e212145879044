//! Leader election (§5.2, §5.4.1), PreVote (thesis §9.6), CheckQuorum and leader stickiness
//! (thesis §6.2, §4.2.3).

use super::msg::RaftMsg;
use super::*;

impl RaftPeer {
    // ---- Elections (§5.2, thesis §9.6, §6.2) ----

    pub(super) fn on_election_timeout(&mut self, ctx: &mut Ctx) {
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
            self.votes = self.peer_pos(ctx.me).map_or_else(PeerSet::default, PeerSet::of);
            self.request_votes(ctx, self.term + 1, true);
        } else {
            self.campaign(ctx);
        }
        self.reset_election_timer(ctx);
        self.maybe_won(ctx);
    }

    pub(super) fn campaign(&mut self, ctx: &mut Ctx) {
        self.term += 1;
        self.role = Role::Candidate;
        self.leader = None;
        self.voted_for = Some(ctx.me);
        self.votes = self.peer_pos(ctx.me).map_or_else(PeerSet::default, PeerSet::of);
        self.save(ctx);
        self.request_votes(ctx, self.term, false);
    }

    pub(super) fn request_votes(&mut self, ctx: &mut Ctx, term: u64, pre_vote: bool) {
        let (last_index, last_term) = (self.last_index(), self.term_at(self.last_index()));
        for p in self.others(ctx.me) {
            ctx.send(p, Msg::Raft(RaftMsg::RequestVote { term, last_index, last_term, pre_vote }));
        }
    }

    /// A single-peer cluster (or enough votes) wins at once.
    pub(super) fn maybe_won(&mut self, ctx: &mut Ctx) {
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
    pub(super) fn leader_recent(&self, ctx: &Ctx) -> bool {
        self.leader.is_some()
            && self.leader_contact_mono_ns.is_some_and(|t| ctx.mono_ns < t + ms(self.params.election_timeout.min_ms))
    }

    pub(super) fn on_request_vote(
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
            ctx.send(
                from,
                Msg::Raft(RaftMsg::RequestVoteReply {
                    term: if granted { term } else { self.term },
                    granted,
                    pre_vote,
                }),
            );
            return;
        }
        // Leader stickiness (thesis §4.2.3), with CheckQuorum: ignore disruptive candidates.
        if self.params.check_quorum && term > self.term && (self.leader_recent(ctx) || self.role == Role::Leader) {
            ctx.send(from, Msg::Raft(RaftMsg::RequestVoteReply { term: self.term, granted: false, pre_vote }));
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
        ctx.send(from, Msg::Raft(RaftMsg::RequestVoteReply { term: self.term, granted, pre_vote }));
    }

    pub(super) fn on_vote_reply(&mut self, ctx: &mut Ctx, from: NodeId, term: u64, granted: bool, pre_vote: bool) {
        if pre_vote {
            if self.role == Role::PreCandidate && granted && term == self.term + 1 {
                if let Some(pos) = self.peer_pos(from) {
                    self.votes.insert(pos);
                }
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
            if let Some(pos) = self.peer_pos(from) {
                self.votes.insert(pos);
            }
            self.maybe_won(ctx);
        }
    }

    pub(super) fn become_follower(&mut self, ctx: &mut Ctx, term: u64, leader: Option<NodeId>) {
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
            if !self.watches.is_empty() {
                Arc::make_mut(&mut self.watches).clear();
            }
            if !self.lease_deadline_mono_ns.is_empty() {
                Arc::make_mut(&mut self.lease_deadline_mono_ns).clear();
            }
            if !self.revoking.is_empty() {
                Arc::make_mut(&mut self.revoking).clear();
            }
            if !self.revoke_waiters.is_empty() {
                Arc::make_mut(&mut self.revoke_waiters).clear();
            }
            self.lease_read_until_mono_ns = 0;
            self.reset_election_timer(ctx);
        }
    }

    pub(super) fn become_leader(&mut self, ctx: &mut Ctx) {
        self.role = Role::Leader;
        self.leader = Some(ctx.me);
        let next = self.last_index() + 1;
        self.next_index.clear();
        self.match_index.clear();
        for (pos, &p) in self.params.peers.iter().enumerate() {
            if p != ctx.me {
                self.next_index.insert(pos, next);
                self.match_index.insert(pos, 0);
            }
        }
        self.heard.clear();
        self.acked_round.clear();
        self.round_start_mono_ns.clear();
        self.lease_read_until_mono_ns = 0;
        ctx.record(Observation::RaftLeader { term: self.term, log_chain: self.chain.to_vec() });
        // §8: a no-op of the new term, so that earlier entries commit and reads can be served.
        self.append(RaftEntry { term: self.term, cmd: RaftCmd::Noop });
        self.term_start = self.last_index();
        self.save(ctx);
        // etcd's lease promote: every lease gets a full TTL from now.
        let now = ctx.mono_ns;
        self.lease_deadline_mono_ns =
            Arc::new(self.sm.leases.iter().map(|(&id, l)| (id, now + ms(l.ttl_ms))).collect());
        if !self.revoking.is_empty() {
            Arc::make_mut(&mut self.revoking).clear();
        }
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
}
