//! Linearizable reads: ReadIndex and leader-lease reads (thesis §6.4, §6.4.1).

use super::msg::RaftMsg;
use super::*;

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

impl RaftPeer {
    // ---- Reads (thesis §6.4) ----

    pub(super) fn on_read(
        &mut self,
        ctx: &mut Ctx,
        client: NodeId,
        req: u64,
        lease: LeaseId,
        lock: LockId,
        revision: u64,
    ) {
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
    pub(super) fn quorum_round(&self) -> u64 {
        self.quorum_value(self.others_rounds().chain(std::iter::once(self.round)))
    }

    pub(super) fn others_rounds(&self) -> impl Iterator<Item = u64> + '_ {
        self.params
            .peers
            .iter()
            .enumerate()
            .filter(|&(_, &p)| Some(p) != self.leader)
            .map(|(pos, _)| self.acked_round.get(pos).unwrap_or(0))
    }

    pub(super) fn confirm_reads(&mut self, ctx: &mut Ctx) {
        if self.role != Role::Leader {
            return;
        }
        let confirmed = self.quorum_round();
        if let Some(start) = self.round_start_mono_ns.get(confirmed) {
            // Thesis §6.4.1: nobody else can lead before start + election timeout (same-rate clocks).
            let until = start + ms(self.params.election_timeout.min_ms);
            self.lease_read_until_mono_ns = self.lease_read_until_mono_ns.max(until);
        }
        // Forget the rounds before the confirmed one.
        self.round_start_mono_ns.retain_from(confirmed);
        for r in &mut self.reads {
            if r.round <= confirmed {
                r.round = 0;
            }
        }
        self.serve_reads(ctx);
    }

    pub(super) fn serve_reads(&mut self, ctx: &mut Ctx) {
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
            self.send_client(ctx, r.client, RaftMsg::RaftReply { req: r.req, op: RaftOpKind::Status, answer });
        }
    }
}
