//! Sans-IO tests of the instance: construct it, feed inputs with a [`Ctx`], assert the effects.

use super::*;
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{Counter, Ctx, Effect, Input, Timer};

/// Instance `me` of three (nodes 0, 1, 2), client node 9.
fn instance(me: usize, fixed: bool) -> SkinnyInstance {
    let peers = (0..3).filter(|&p| p != me).collect();
    SkinnyInstance::new(SkinnyParams { peers, increment: me as u64 + 1, timeout_ms: 500, fixed })
}

fn feed(node: &mut SkinnyInstance, me: usize, input: Input) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(me, 0, 0, &mut entropy, &mut effects);
    node.handle(&mut ctx, input);
    effects
}

fn msg(from: usize, m: SkinnyMsg) -> Input {
    Input::Message { from, msg: Msg::Skinny(m) }
}

fn sent(effects: &[Effect]) -> Vec<(usize, SkinnyMsg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg: Msg::Skinny(m) } => Some((*to, m.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn promise_iff_greater_and_attach_register() {
    let mut a = instance(2, false);
    a.id = 4;
    a.holder = 7;
    a.promised = 5;
    assert_eq!(a.promise(5), (false, 4, 7), "an equal ID is refused");
    assert_eq!(a.promise(3), (false, 4, 7));
    assert_eq!(a.promised, 5);
    assert_eq!(a.promise(6), (true, 4, 7), "a greater ID is promised, the register attached");
    assert_eq!(a.promised, 6);
    // Through the message path: the reply carries the caller's round.
    let out = sent(&feed(&mut a, 2, msg(0, SkinnyMsg::Promise { round: 9, id: 8 })));
    assert_eq!(out, vec![(0, SkinnyMsg::PromiseReply { round: 9, promised: true, id: 4, holder: 7 })]);
}

#[test]
fn commit_iff_at_least_promised_and_committed_means_equal_id() {
    let mut a = instance(2, false);
    a.promised = 5;
    assert!(!a.commit(4, 10), "below the promise: refused");
    assert_eq!((a.id, a.holder), (0, 0));
    assert!(a.commit(5, 10), "equal to the promise: accepted");
    assert_eq!((a.id, a.holder), (5, 10));
    // A refused commit whose ID equals the register's still answers Committed = true.
    a.promised = 6;
    assert!(a.commit(5, 11));
    assert_eq!(a.holder, 10, "refused: the register keeps its holder");
}

#[test]
fn ballots_collide() {
    // Instance 0 (increment 1) proposes twice, instance 1 (increment 2) once: both propose ID 2.
    let mut s0 = instance(0, false);
    let mut s1 = instance(1, false);
    let first = sent(&feed(&mut s0, 0, msg(9, SkinnyMsg::Acquire { req: 1, lock: 0, holder: 10 })));
    assert_eq!(first[0].1, SkinnyMsg::Promise { round: 1, id: 1 });
    // Both peers refuse (a majority of nay): back off, then propose again.
    for from in [1, 2] {
        feed(&mut s0, 0, msg(from, SkinnyMsg::PromiseReply { round: 1, promised: false, id: 0, holder: 0 }));
    }
    let retry = sent(&feed(&mut s0, 0, Input::Timer(Timer::ProposerBackoff)));
    let other = sent(&feed(&mut s1, 1, msg(8, SkinnyMsg::Acquire { req: 1, lock: 0, holder: 11 })));
    assert!(matches!(retry[0].1, SkinnyMsg::Promise { id: 2, .. }));
    assert!(matches!(other[0].1, SkinnyMsg::Promise { id: 2, .. }));
    // An acceptor that promised one proposer's ID 2 accepts the other's commit with ID 2 (`>=`).
    let mut s2 = instance(2, false);
    assert_eq!(s2.promise(2), (true, 0, 0));
    assert!(s2.commit(2, 10));
    assert!(s2.commit(2, 11), "the same ballot, another holder: accepted too");
    assert_eq!(s2.holder, 11);
}

/// Instance 0 is promised by instance 2, then every peer refuses its commit.
fn acquire_with_failed_commit(fixed: bool) -> (SkinnyInstance, Vec<Effect>) {
    let mut s0 = instance(0, fixed);
    feed(&mut s0, 0, msg(9, SkinnyMsg::Acquire { req: 1, lock: 0, holder: 10 }));
    let commit =
        sent(&feed(&mut s0, 0, msg(2, SkinnyMsg::PromiseReply { round: 1, promised: true, id: 0, holder: 0 })));
    assert_eq!(commit.len(), 2, "a majority (itself + one) promised: commit to both peers");
    assert!(matches!(commit[0].1, SkinnyMsg::Commit { id: 1, holder: 10, .. }));
    feed(&mut s0, 0, msg(1, SkinnyMsg::CommitReply { round: 2, committed: false }));
    let effects = feed(&mut s0, 0, msg(2, SkinnyMsg::CommitReply { round: 2, committed: false }));
    (s0, effects)
}

#[test]
fn proposer_adopts_its_own_failed_commit() {
    let (s0, effects) = acquire_with_failed_commit(false);
    assert_eq!((s0.id, s0.holder), (1, 10), "adopted although no peer committed");
    assert_eq!(sent(&effects), vec![(9, SkinnyMsg::AcquireReply { req: 1, acquired: true, holder: 10 })]);
    assert!(effects.iter().any(|e| matches!(e, Effect::Record(Observation::Grant { holder: 9, .. }))));
}

#[test]
fn fixed_proposer_adopts_only_a_majority_commit() {
    let (s0, effects) = acquire_with_failed_commit(true);
    assert_eq!((s0.id, s0.holder), (0, 0));
    assert_eq!(sent(&effects), vec![(9, SkinnyMsg::AcquireReply { req: 1, acquired: false, holder: 0 })]);
}

#[test]
fn busy_instance_defers_peer_phases_and_majority_is_integer_division() {
    let mut s0 = instance(0, false);
    assert!(!s0.is_majority(1) && s0.is_majority(2), "3 instances: 2 > 3/2");
    feed(&mut s0, 0, msg(9, SkinnyMsg::Acquire { req: 1, lock: 0, holder: 10 }));
    // A peer's Promise waits for the mutex: no reply while Phase 1 is in flight.
    assert!(sent(&feed(&mut s0, 0, msg(1, SkinnyMsg::Promise { round: 1, id: 2 }))).is_empty());
    // The phase times out (nay), the instance sleeps before retrying: the waiting Promise is served.
    let out = sent(&feed(&mut s0, 0, Input::Timer(Timer::ProposerTimeout)));
    assert_eq!(out, vec![(1, SkinnyMsg::PromiseReply { round: 1, promised: true, id: 0, holder: 0 })]);
}
