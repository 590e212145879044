//! Log replication (§5.3) and commitment (§5.4.2): the log, `AppendEntries`, the consistency
//! check and the commit rule.

use super::msg::RaftMsg;
use super::*;

/// Push onto a vector that copies of the peer may share. A shared one is copied once, with room
/// for the new element (`Arc::make_mut` would copy it at its length, and the push then grow it
/// again); one this peer owns alone (always, in the simulator) is pushed onto in place.
fn push_shared<T: Clone>(v: &mut Arc<Vec<T>>, x: T) {
    if let Some(own) = Arc::get_mut(v) {
        own.push(x);
        return;
    }
    let mut copy = Vec::with_capacity(v.len() + 1);
    copy.extend_from_slice(v);
    copy.push(x);
    *v = Arc::new(copy);
}

impl RaftPeer {
    // ---- The log ----

    pub(super) fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    pub(super) fn term_at(&self, index: u64) -> u64 {
        if index == 0 {
            0
        } else {
            self.log.get(index as usize - 1).map_or(0, |e| e.term)
        }
    }

    pub(super) fn rebuild_chain(&mut self, from: usize) {
        let log = &self.log;
        let chain = Arc::make_mut(&mut self.chain);
        chain.truncate(from);
        for i in from..log.len() {
            let prev = if i == 0 { 0 } else { chain[i - 1] };
            let h = chain_hash(prev, &log[i]);
            chain.push(h);
        }
    }

    pub(super) fn chain_at(&self, index: u64) -> u64 {
        if index == 0 {
            0
        } else {
            self.chain[index as usize - 1]
        }
    }

    pub(super) fn append(&mut self, entry: RaftEntry) {
        let prev = self.chain.last().copied().unwrap_or(0);
        push_shared(&mut self.chain, chain_hash(prev, &entry));
        push_shared(&mut self.log, entry);
    }

    // ---- Log replication (§5.3) ----

    /// Send `AppendEntries` (new entries or a heartbeat) to every follower, as a new round.
    pub(super) fn broadcast_append(&mut self, ctx: &mut Ctx) {
        self.round += 1;
        self.round_start_mono_ns.insert(self.round, ctx.mono_ns);
        for p in self.others(ctx.me) {
            self.send_append(ctx, p);
        }
    }

    pub(super) fn send_append(&mut self, ctx: &mut Ctx, to: NodeId) {
        let next = self.peer_pos(to).and_then(|pos| self.next_index.get(pos)).unwrap_or(1).max(1);
        let prev_index = next - 1;
        let prev_term = self.term_at(prev_index);
        let end = (self.log.len()).min(prev_index as usize + self.params.max_batch);
        let entries = self.log[prev_index as usize..end].to_vec();
        let body =
            AppendEntries { term: self.term, prev_index, prev_term, entries, commit: self.commit, round: self.round };
        ctx.send(to, Msg::Raft(RaftMsg::AppendEntries(Box::new(body))));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_append(
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
            ctx.send(
                from,
                Msg::Raft(RaftMsg::AppendEntriesReply { term: self.term, success: false, match_index: 0, round }),
            );
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
            ctx.send(
                from,
                Msg::Raft(RaftMsg::AppendEntriesReply { term: self.term, success: false, match_index: hint, round }),
            );
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
                Arc::make_mut(&mut self.log).truncate(index - 1);
                self.sealed.truncate((index - 1) / LOG_CHUNK);
                Arc::make_mut(&mut self.chain).truncate(index - 1);
                // Proposals of ours from there on are gone: never answered.
                Arc::make_mut(&mut self.pending).split_off(&(index as u64));
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
        ctx.send(from, Msg::Raft(RaftMsg::AppendEntriesReply { term: self.term, success: true, match_index, round }));
    }

    pub(super) fn on_append_reply(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        term: u64,
        success: bool,
        match_index: u64,
        round: u64,
    ) {
        if term > self.term {
            self.become_follower(ctx, term, None);
            return;
        }
        if self.role != Role::Leader || term != self.term {
            return;
        }
        // Only peers answer `AppendEntries`: a reply from another node is not one.
        let Some(pos) = self.peer_pos(from) else { return };
        self.heard.insert(pos);
        let acked = self.acked_round.get(pos).unwrap_or(0).max(round);
        self.acked_round.insert(pos, acked);
        if success {
            let m = self.match_index.get(pos).unwrap_or(0).max(match_index);
            self.match_index.insert(pos, m);
            self.next_index.insert(pos, m + 1);
            self.advance_commit(ctx);
            if m < self.last_index() {
                self.send_append(ctx, from);
            }
        } else {
            let next = self.next_index.get(pos).unwrap_or(1);
            let back = (match_index + 1).min(next.saturating_sub(1)).max(1);
            self.next_index.insert(pos, back);
            self.send_append(ctx, from);
        }
        self.confirm_reads(ctx);
    }

    /// §5.3/§5.4.2: commit the highest index stored on a majority *if its entry is of this term*.
    pub(super) fn advance_commit(&mut self, ctx: &mut Ctx) {
        let majority_index = self.quorum_value(self.match_index.values().chain(std::iter::once(self.last_index())));
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
}
