use super::msg::RaftMsg;
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
        forward_to_leader: false,
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
    leader.match_index.insert(1, 2);
    leader.match_index.insert(2, 0);
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
    counting.match_index.insert(1, 2);
    counting.match_index.insert(2, 0);
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
    let request = |req, op| Input::Message { from: 10, msg: Msg::Raft(RaftMsg::RaftRequest { req, op }) };
    at(0, &mut entropy, &mut peer, Input::Timer(Timer::ElectionTimeout));
    assert_eq!(peer.role, Role::Leader, "a one-peer cluster elects itself");
    at(0, &mut entropy, &mut peer, request(1, RaftOp::LeaseGrant { request_id: 1, ttl_ms: 1000 }));
    let lease = *peer.sm.leases.keys().next().expect("granted");
    let replies = |effects: &[Effect]| -> Vec<(u64, RaftAnswer)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { msg: Msg::Raft(RaftMsg::RaftReply { req, answer, .. }), .. } => {
                    Some((*req, answer.clone()))
                }
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
            log: DurableLog { chunks: peer.sealed.clone(), tail: peer.log[peer.sealed.len() * LOG_CHUNK..].to_vec() },
        }
    };
    for i in 0..(3 * LOG_CHUNK as u64 + 7) {
        peer.append(RaftEntry { term: 1, cmd: RaftCmd::LeaseKeepAlive { lease: i } });
    }
    let d = written(&mut peer, &mut ctx);
    assert_eq!(d.log.chunks.len(), 3);
    assert_eq!(d.log.entries(), *peer.log);
    Arc::make_mut(&mut peer.log).truncate(LOG_CHUNK + 3);
    Arc::make_mut(&mut peer.chain).truncate(LOG_CHUNK + 3);
    peer.sealed.truncate((LOG_CHUNK + 3) / LOG_CHUNK);
    peer.append(RaftEntry { term: 2, cmd: RaftCmd::Noop });
    let d = written(&mut peer, &mut ctx);
    assert_eq!(d.log.entries(), *peer.log);
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
    let replied = effects.iter().position(|e| {
        matches!(e, Effect::Send { msg: Msg::Raft(RaftMsg::RequestVoteReply { granted: true, .. }), .. })
    });
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

/// `home_peer`: a follower forwards its client's request to the leader it knows, and the leader
/// sends the answer back through that follower, which relays it; without the switch the follower
/// answers `NotLeader` and the leader answers the client directly.
#[test]
fn a_follower_forwards_to_the_leader_and_relays_the_answer() {
    let mut entropy = Counter(0);
    let client = 10;
    let request = Msg::Raft(RaftMsg::RaftRequest { req: 7, op: RaftOp::LeaseGrant { request_id: 1, ttl_ms: 1000 } });
    let step = |peer: &mut RaftPeer, me: NodeId, entropy: &mut Counter, input: Input| {
        let mut effects = Vec::new();
        peer.handle(&mut Ctx::new(me, 0, 0, entropy, &mut effects), input);
        effects
    };
    for forward in [false, true] {
        let mut follower = RaftPeer::new(RaftParams { forward_to_leader: forward, ..params() });
        follower.leader = Some(0);
        let effects = step(&mut follower, 1, &mut entropy, Input::Message { from: client, msg: request.clone() });
        match &effects[..] {
            [Effect::Send { to: 0, msg: Msg::Raft(RaftMsg::Forward { client: 10, req: 7, .. }) }] if forward => {}
            [Effect::Send {
                to: 10,
                msg: Msg::Raft(RaftMsg::RaftReply { answer: RaftAnswer::NotLeader { leader: Some(0) }, .. }),
            }] if !forward => {}
            other => panic!("forward_to_leader = {forward}: {other:?}"),
        }
        // The leader (a one-peer cluster, so it commits at once) answers through the follower.
        let mut leader = RaftPeer::new(RaftParams { peers: vec![0], forward_to_leader: forward, ..params() });
        step(&mut leader, 0, &mut entropy, Input::Timer(Timer::ElectionTimeout));
        assert_eq!(leader.role, Role::Leader);
        let (from, msg) = if forward {
            (1, Msg::Raft(RaftMsg::Forward { client, req: 7, op: RaftOp::LeaseGrant { request_id: 1, ttl_ms: 1000 } }))
        } else {
            (client, request.clone())
        };
        let effects = step(&mut leader, 0, &mut entropy, Input::Message { from, msg });
        let answer = effects.iter().find_map(|e| match e {
            Effect::Send { to, msg: Msg::Raft(m @ (RaftMsg::Relay { .. } | RaftMsg::RaftReply { .. })) } => {
                Some((*to, m.clone()))
            }
            _ => None,
        });
        match answer {
            Some((1, RaftMsg::Relay { client: 10, msg })) if forward => {
                assert!(matches!(*msg, RaftMsg::RaftReply { req: 7, answer: RaftAnswer::LeaseGranted { .. }, .. }));
                let relayed = step(
                    &mut follower,
                    1,
                    &mut entropy,
                    Input::Message { from: 0, msg: Msg::Raft(RaftMsg::Relay { client, msg }) },
                );
                assert!(
                    matches!(
                        &relayed[..],
                        [Effect::Send { to: 10, msg: Msg::Raft(RaftMsg::RaftReply { req: 7, .. }) }]
                    ),
                    "{relayed:?}"
                );
            }
            Some((10, RaftMsg::RaftReply { req: 7, .. })) if !forward => {}
            other => panic!("forward_to_leader = {forward}: {other:?}"),
        }
    }
}

/// The client's keep-alive after a `NotLeader` answer: re-sent at once only to a newly named
/// leader; with no leader known it waits `retry_backoff` first, as etcd's clientv3 waits
/// `retryConnWait` (500 ms) after a keep-alive error. Re-sent at once, it circled a restarted
/// peer (no leader known) and a follower still naming it with no time passing — a zero-time
/// loop that made the model checker's one-crash Raft space unbounded.
#[test]
fn keepalive_after_not_leader_waits_unless_redirected() {
    use crate::library::{RetryMode, ValidityBasis};
    use crate::node::{ms, Ctx};
    use crate::raft::client::{ClientLease, RaftClientParams, RaftLock};
    use crate::raft::msg::{RaftAnswer, RaftOp, RaftOpKind};

    let params = RaftClientParams {
        ttl_ms: 1000,
        renew_ms: 300,
        request_timeout_ms: 200,
        acquire_retries: 4,
        retry_backoff: MsRange { min_ms: 100, max_ms: 150 },
        retry: RetryMode::Idempotent,
        safety_margin_ms: 0,
        validity: ValidityBasis::LocalDuration,
        wait_recheck_ms: 1000,
        home_peer: false,
    };
    // Sends a keep-alive (the heartbeat timer fires), answers it from the peer asked with
    // `NotLeader { leader }`, and returns the heartbeat timer the client then sets.
    let answer_not_leader = |client: &mut RaftLock, leader: Option<NodeId>| -> u64 {
        let mut entropy = Counter(0);
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(10, ms(1000), ms(1000) as i64, &mut entropy, &mut effects);
        client.on_timer(&mut ctx, Timer::Heartbeat);
        let (to, req) = match effects.as_slice() {
            [Effect::Send { to, msg: Msg::Raft(RaftMsg::RaftRequest { req, op: RaftOp::KeepAlive { .. } }) }, ..] => {
                (*to, *req)
            }
            other => panic!("a keep-alive is sent: {other:?}"),
        };
        effects.clear();
        let mut ctx = Ctx::new(10, ms(1001), ms(1001) as i64, &mut entropy, &mut effects);
        let reply = RaftMsg::RaftReply { req, op: RaftOpKind::KeepAlive, answer: RaftAnswer::NotLeader { leader } };
        client.on_message(&mut ctx, to, Msg::Raft(reply));
        effects
            .iter()
            .find_map(|e| match e {
                Effect::SetTimer { timer: Timer::Heartbeat, after_ns } => Some(*after_ns),
                _ => None,
            })
            .expect("the keep-alive is scheduled again")
    };
    let mut client = RaftLock::new(vec![0, 1, 2], 0, params);
    client.lease = Some(ClientLease { id: 1, deadline_mono_ns: ms(2000), keepalive: None });

    // Asking peer 0; no leader known: wait a backoff before asking the next peer.
    let after_ns = answer_not_leader(&mut client, None);
    assert!((ms(100)..=ms(150)).contains(&after_ns), "waits retry_backoff, got {after_ns} ns");
    assert_eq!(client.leader, 1, "moves on to the next peer");
    // Asking peer 1, which names peer 2: ask peer 2 at once.
    assert_eq!(answer_not_leader(&mut client, Some(2)), 0);
    assert_eq!(client.leader, 2);
    // Asking peer 2, which names itself (it is no leader any more): wait.
    assert!(answer_not_leader(&mut client, Some(2)) >= ms(100));
}
