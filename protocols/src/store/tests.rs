//! Unit tests of the store: every condition, generations and metagenerations, durability, the
//! Azure lease state machine and its enforcement on writes.

use super::*;
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input};
use crate::Durable;

const K: u32 = 7;

fn fields(owner: u64, nonce: u64) -> StoreFields {
    StoreFields { owner, nonce, lease_ms: 20_000, expires_at_wall_ms: None, released: false }
}

fn store() -> StoreServer {
    StoreServer::new(StoreParams::default())
}

fn ok_item(o: StoreOutcome) -> StoreItem {
    match o {
        StoreOutcome::Ok { item: Some(i), .. } => i,
        other => panic!("expected Ok with an item, got {other:?}"),
    }
}

fn lease_of(o: StoreOutcome) -> LeaseState {
    match o {
        StoreOutcome::Ok { lease, .. } => lease,
        other => panic!("expected Ok, got {other:?}"),
    }
}

#[test]
fn generations_come_from_one_store_wide_counter_and_survive_delete_and_recreate() {
    let mut s = store();
    let a = ok_item(s.put(K, fields(1, 10), StoreCond::IfAbsent, None, 0));
    let b = ok_item(s.put(K + 1, fields(2, 20), StoreCond::IfAbsent, None, 0));
    assert_eq!((a.generation, a.metageneration), (1, 1));
    assert_eq!(b.generation, 2, "the counter is store-wide, not per key");
    assert!(matches!(s.delete(K, StoreCond::None, None, 0), StoreOutcome::Ok { item: None, generation: 1, .. }));
    let c = ok_item(s.put(K, fields(3, 30), StoreCond::IfAbsent, None, 0));
    assert_eq!(c.generation, 3, "re-created: a fresh generation above every earlier one");
}

#[test]
fn update_keeps_the_generation_and_bumps_the_metageneration() {
    let mut s = store();
    let a = ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    let u = ok_item(s.update(K, fields(1, 11), StoreCond::None, None, 0));
    assert_eq!((u.generation, u.metageneration, u.nonce), (a.generation, 2, 11));
    let u = ok_item(s.update(K, fields(1, 12), StoreCond::None, None, 0));
    assert_eq!(u.metageneration, 3);
    let p = ok_item(s.put(K, fields(1, 13), StoreCond::None, None, 0));
    assert_eq!(
        (p.generation, p.metageneration),
        (a.generation + 1, 1),
        "a full write: new generation, metageneration 1"
    );
}

#[test]
fn if_absent_creates_only() {
    let mut s = store();
    ok_item(s.put(K, fields(1, 10), StoreCond::IfAbsent, None, 0));
    assert_eq!(s.put(K, fields(2, 20), StoreCond::IfAbsent, None, 0), StoreOutcome::PreconditionFailed);
    assert_eq!(ok_item(s.get(K, 0)).owner, 1, "a failed condition changes nothing");
    assert_eq!(s.update(K, fields(2, 20), StoreCond::IfAbsent, None, 0), StoreOutcome::PreconditionFailed);
    assert_eq!(s.delete(K, StoreCond::IfAbsent, None, 0), StoreOutcome::PreconditionFailed);
}

#[test]
fn if_generation_matches_the_etag() {
    let mut s = store();
    let a = ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    assert_eq!(
        s.put(K, fields(2, 20), StoreCond::IfGeneration(a.generation + 1), None, 0),
        StoreOutcome::PreconditionFailed
    );
    let b = ok_item(s.put(K, fields(2, 20), StoreCond::IfGeneration(a.generation), None, 0));
    // The old ETag no longer matches: the second of two racing If-Match writers fails.
    assert_eq!(
        s.put(K, fields(3, 30), StoreCond::IfGeneration(a.generation), None, 0),
        StoreOutcome::PreconditionFailed
    );
    assert!(matches!(s.delete(K, StoreCond::IfGeneration(b.generation), None, 0), StoreOutcome::Ok { .. }));
    assert_eq!(
        s.put(K, fields(3, 30), StoreCond::IfGeneration(b.generation), None, 0),
        StoreOutcome::PreconditionFailed,
        "absent"
    );
}

#[test]
fn if_metageneration_guards_metadata_updates_and_deletes() {
    let mut s = store();
    ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    let u = ok_item(s.update(K, fields(1, 11), StoreCond::IfMetageneration(1), None, 0));
    assert_eq!(u.metageneration, 2);
    assert_eq!(s.update(K, fields(1, 12), StoreCond::IfMetageneration(1), None, 0), StoreOutcome::PreconditionFailed);
    assert_eq!(s.delete(K, StoreCond::IfMetageneration(1), None, 0), StoreOutcome::PreconditionFailed);
    assert!(matches!(s.delete(K, StoreCond::IfMetageneration(2), None, 0), StoreOutcome::Ok { .. }));
    assert_eq!(s.get(K, 0), StoreOutcome::NotFound);
}

#[test]
fn if_nonce_needs_owner_and_nonce() {
    let mut s = store();
    ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    assert_eq!(
        s.update(K, fields(1, 11), StoreCond::IfNonce { owner: 2, nonce: 10 }, None, 0),
        StoreOutcome::PreconditionFailed
    );
    assert_eq!(
        s.update(K, fields(1, 11), StoreCond::IfNonce { owner: 1, nonce: 9 }, None, 0),
        StoreOutcome::PreconditionFailed
    );
    ok_item(s.update(K, fields(1, 11), StoreCond::IfNonce { owner: 1, nonce: 10 }, None, 0));
    // The heartbeat changed the nonce: a waiter's takeover on the nonce it saw fails.
    assert_eq!(
        s.put(K, fields(2, 20), StoreCond::IfNonce { owner: 1, nonce: 10 }, None, 0),
        StoreOutcome::PreconditionFailed
    );
    assert_eq!(ok_item(s.put(K, fields(2, 20), StoreCond::IfNonce { owner: 1, nonce: 11 }, None, 0)).owner, 2);
}

#[test]
fn if_released_needs_a_released_item() {
    let mut s = store();
    assert_eq!(s.put(K, fields(1, 10), StoreCond::IfReleased, None, 0), StoreOutcome::PreconditionFailed, "absent");
    ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    assert_eq!(s.put(K, fields(2, 20), StoreCond::IfReleased, None, 0), StoreOutcome::PreconditionFailed);
    let mut released = fields(1, 11);
    released.released = true;
    ok_item(s.update(K, released, StoreCond::IfNonce { owner: 1, nonce: 10 }, None, 0));
    assert!(!ok_item(s.put(K, fields(2, 20), StoreCond::IfReleased, None, 0)).released);
}

#[test]
fn absent_keys_answer_not_found_unconditionally_and_precondition_failed_conditionally() {
    let mut s = store();
    assert_eq!(s.get(K, 0), StoreOutcome::NotFound);
    assert_eq!(s.update(K, fields(1, 1), StoreCond::None, None, 0), StoreOutcome::NotFound);
    assert_eq!(s.delete(K, StoreCond::None, None, 0), StoreOutcome::NotFound);
    assert_eq!(s.delete(K, StoreCond::IfNonce { owner: 1, nonce: 1 }, None, 0), StoreOutcome::PreconditionFailed);
    assert_eq!(s.update(K, fields(1, 1), StoreCond::IfMetageneration(1), None, 0), StoreOutcome::PreconditionFailed);
    assert_eq!(s.lease(K, LeaseOp::Break { break_period_ms: 0 }, 0), StoreOutcome::NotFound);
}

fn feed(s: &mut StoreServer, from: usize, now_ms: u64, m: StoreMsg) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(0, ms(now_ms), ms(now_ms) as i64, &mut entropy, &mut effects);
    s.handle(&mut ctx, Input::Message { from, msg: Msg::Store(Box::new(m)) });
    effects
}

#[test]
fn writes_are_synced_before_the_reply_and_a_restart_keeps_everything() {
    let mut s = store();
    let effects = feed(
        &mut s,
        3,
        0,
        StoreMsg::Put { req: 1, key: K, fields: fields(3, 30), cond: StoreCond::IfAbsent, lease_id: None },
    );
    let persist = effects.iter().position(|e| matches!(e, Effect::Persist(_))).expect("persisted");
    let sync = effects.iter().position(|e| matches!(e, Effect::Sync)).expect("synced");
    let send = effects.iter().position(|e| matches!(e, Effect::Send { to: 3, .. })).expect("answered");
    assert!(persist < sync && sync < send, "durable before acknowledged: {effects:?}");
    let Some(Effect::Persist(d)) = effects.into_iter().find(|e| matches!(e, Effect::Persist(_))) else {
        unreachable!()
    };
    // A read persists nothing.
    assert!(!feed(&mut s, 3, 0, StoreMsg::Get { req: 2, key: K }).iter().any(|e| matches!(e, Effect::Persist(_))));
    let mut restarted = store();
    let mut effects = Vec::new();
    let mut entropy = Counter(0);
    let mut ctx = Ctx::new(0, 0, 0, &mut entropy, &mut effects);
    restarted.handle(&mut ctx, Input::Start { incarnation: 1, durable: Some(d) });
    assert_eq!(ok_item(restarted.get(K, 0)).owner, 3);
    assert_eq!(
        ok_item(restarted.put(K + 1, fields(4, 40), StoreCond::None, None, 0)).generation,
        2,
        "the counter continues"
    );
    let _ = Durable::Store; // the variant the store persists under
}

#[test]
fn grants_are_recorded_only_when_asked_and_only_for_unreleased_full_writes() {
    let put = |released| StoreMsg::Put {
        req: 1,
        key: K,
        fields: StoreFields { released, ..fields(3, 30) },
        cond: StoreCond::None,
        lease_id: None,
    };
    let grants = |e: &[Effect]| {
        e.iter()
            .filter_map(|e| match e {
                Effect::Record(Observation::Grant { token, holder, .. }) => Some((*holder, *token)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(grants(&feed(&mut store(), 3, 0, put(false))).is_empty());
    let mut s = StoreServer::new(StoreParams { record_grants: true });
    assert_eq!(grants(&feed(&mut s, 3, 0, put(false))), vec![(3, Some(1))]);
    assert!(grants(&feed(&mut s, 3, 0, put(true))).is_empty());
    let update = StoreMsg::Update { req: 2, key: K, fields: fields(3, 31), cond: StoreCond::None, lease_id: None };
    assert!(grants(&feed(&mut s, 3, 0, update)).is_empty(), "a metadata update is no new grant");
}

// ---- Azure Blob lease ----

const A: u64 = 0xa;
const B: u64 = 0xb;

fn leased_store(duration_ms: Option<u64>) -> StoreServer {
    let mut s = store();
    ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: A, duration_ms }, 0)),
        LeaseState::Leased { remaining_ms: duration_ms }
    );
    s
}

#[test]
fn lease_durations_are_15_to_60_s_or_infinite() {
    let mut s = store();
    ok_item(s.put(K, fields(1, 10), StoreCond::None, None, 0));
    for bad in [0, 14_999, 60_001] {
        assert_eq!(s.lease(K, LeaseOp::Acquire { lease_id: A, duration_ms: Some(bad) }, 0), StoreOutcome::BadRequest);
    }
    assert_eq!(s.lease(K, LeaseOp::Break { break_period_ms: 60_001 }, 0), StoreOutcome::BadRequest);
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: A, duration_ms: None }, 0)),
        LeaseState::Leased { remaining_ms: None }
    );
    assert_eq!(lease_of(s.get(K, ms(1_000_000))), LeaseState::Leased { remaining_ms: None }, "infinite");
}

#[test]
fn a_lease_excludes_other_acquirers_until_it_expires_on_the_stores_clock() {
    let mut s = leased_store(Some(15_000));
    assert_eq!(
        s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: Some(15_000) }, ms(14_999)),
        StoreOutcome::LeaseConflict
    );
    assert_eq!(lease_of(s.get(K, ms(15_000))), LeaseState::Expired);
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: Some(20_000) }, ms(15_000))),
        LeaseState::Leased { remaining_ms: Some(20_000) }
    );
    // A's lease is gone for good: it can neither renew nor write.
    assert_eq!(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(15_001)), StoreOutcome::LeaseConflict);
    assert_eq!(s.put(K, fields(1, 11), StoreCond::None, Some(A), ms(15_001)), StoreOutcome::LeaseConflict);
}

#[test]
fn renew_restarts_the_duration_and_works_after_expiry_until_someone_else_intervenes() {
    let mut s = leased_store(Some(15_000));
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(10_000))),
        LeaseState::Leased { remaining_ms: Some(15_000) }
    );
    assert_eq!(s.lease(K, LeaseOp::Renew { lease_id: B }, ms(10_000)), StoreOutcome::LeaseConflict);
    assert_eq!(lease_of(s.get(K, ms(25_000))), LeaseState::Expired);
    assert!(matches!(lease_of(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(30_000))), LeaseState::Leased { .. }));
    // After expiry, a write without the lease id ends the lease: no renewal any more.
    assert_eq!(lease_of(s.get(K, ms(50_000))), LeaseState::Expired);
    ok_item(s.put(K, fields(2, 20), StoreCond::None, None, ms(50_000)));
    assert_eq!(lease_of(s.get(K, ms(50_000))), LeaseState::Available);
    assert_eq!(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(50_001)), StoreOutcome::LeaseConflict);
}

#[test]
fn acquiring_with_the_own_id_restarts_the_lease_and_release_frees_it_at_once() {
    let mut s = leased_store(Some(15_000));
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: A, duration_ms: Some(60_000) }, ms(5_000))),
        LeaseState::Leased { remaining_ms: Some(60_000) }
    );
    assert_eq!(s.lease(K, LeaseOp::Release { lease_id: B }, ms(6_000)), StoreOutcome::LeaseConflict);
    assert_eq!(lease_of(s.lease(K, LeaseOp::Release { lease_id: A }, ms(6_000))), LeaseState::Available);
    assert_eq!(
        s.lease(K, LeaseOp::Release { lease_id: A }, ms(6_000)),
        StoreOutcome::LeaseConflict,
        "nothing to release"
    );
    assert_eq!(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(6_000)), StoreOutcome::LeaseConflict);
    assert_eq!(
        s.lease(K, LeaseOp::Break { break_period_ms: 0 }, ms(6_000)),
        StoreOutcome::LeaseConflict,
        "no lease to break"
    );
    assert!(matches!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: None }, ms(6_000))),
        LeaseState::Leased { .. }
    ));
}

#[test]
fn break_uses_the_period_only_if_shorter_than_the_remaining_lease() {
    // 40 s remain, period 10 s: breaking for 10 s.
    let mut s = leased_store(Some(60_000));
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 10_000 }, ms(20_000))),
        LeaseState::Breaking { remaining_ms: 10_000 }
    );
    // 5 s remain, period 30 s: breaking for the remaining 5 s.
    let mut s = leased_store(Some(15_000));
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 30_000 }, ms(10_000))),
        LeaseState::Breaking { remaining_ms: 5_000 }
    );
    assert_eq!(lease_of(s.get(K, ms(15_000))), LeaseState::Broken);
    // Infinite lease: the period; 0 breaks at once.
    let mut s = leased_store(None);
    assert_eq!(lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 0 }, ms(1))), LeaseState::Broken);
    // An expired lease breaks at once.
    let mut s = leased_store(Some(15_000));
    assert_eq!(lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 30_000 }, ms(16_000))), LeaseState::Broken);
}

#[test]
fn a_breaking_lease_cannot_be_renewed_or_acquired_and_a_second_break_only_shortens_it() {
    let mut s = leased_store(None);
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 20_000 }, 0)),
        LeaseState::Breaking { remaining_ms: 20_000 }
    );
    assert_eq!(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(1_000)), StoreOutcome::LeaseConflict);
    assert_eq!(s.lease(K, LeaseOp::Acquire { lease_id: A, duration_ms: None }, ms(1_000)), StoreOutcome::LeaseConflict);
    assert_eq!(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: None }, ms(1_000)), StoreOutcome::LeaseConflict);
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 60_000 }, ms(1_000))),
        LeaseState::Breaking { remaining_ms: 19_000 }
    );
    assert_eq!(
        lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 5_000 }, ms(1_000))),
        LeaseState::Breaking { remaining_ms: 5_000 }
    );
    // The new lease is not available before the break period ends.
    assert_eq!(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: None }, ms(5_999)), StoreOutcome::LeaseConflict);
    assert_eq!(lease_of(s.get(K, ms(6_000))), LeaseState::Broken);
    assert_eq!(
        s.lease(K, LeaseOp::Renew { lease_id: A }, ms(6_000)),
        StoreOutcome::LeaseConflict,
        "no renew after a break"
    );
    assert!(matches!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: None }, ms(6_000))),
        LeaseState::Leased { .. }
    ));
}

#[test]
fn a_broken_or_breaking_lease_can_be_released_and_then_acquired_at_once() {
    let mut s = leased_store(None);
    lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 30_000 }, 0));
    assert_eq!(lease_of(s.lease(K, LeaseOp::Release { lease_id: A }, ms(1_000))), LeaseState::Available);
    assert!(matches!(
        lease_of(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: None }, ms(1_000))),
        LeaseState::Leased { .. }
    ));
    let mut s = leased_store(None);
    lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 0 }, 0));
    assert_eq!(s.lease(K, LeaseOp::Release { lease_id: B }, ms(1)), StoreOutcome::LeaseConflict);
    assert_eq!(lease_of(s.lease(K, LeaseOp::Release { lease_id: A }, ms(1))), LeaseState::Available);
}

#[test]
fn the_store_refuses_writes_to_a_leased_blob_without_its_lease_id() {
    let mut s = leased_store(Some(30_000));
    for id in [None, Some(B)] {
        assert_eq!(s.put(K, fields(2, 20), StoreCond::None, id, ms(1_000)), StoreOutcome::LeaseConflict);
        assert_eq!(s.update(K, fields(2, 20), StoreCond::None, id, ms(1_000)), StoreOutcome::LeaseConflict);
        assert_eq!(s.delete(K, StoreCond::None, id, ms(1_000)), StoreOutcome::LeaseConflict);
    }
    // The holder writes; a full write keeps the lease.
    let p = s.put(K, fields(1, 11), StoreCond::None, Some(A), ms(1_000));
    assert!(matches!(lease_of(p), LeaseState::Leased { .. }));
    ok_item(s.update(K, fields(1, 12), StoreCond::None, Some(A), ms(1_000)));
    // The lease check comes before the condition.
    assert_eq!(s.put(K, fields(2, 20), StoreCond::IfGeneration(999), None, ms(1_000)), StoreOutcome::LeaseConflict);
    assert_eq!(
        s.put(K, fields(1, 13), StoreCond::IfGeneration(999), Some(A), ms(1_000)),
        StoreOutcome::PreconditionFailed
    );
    // Breaking: still in force.
    lease_of(s.lease(K, LeaseOp::Break { break_period_ms: 10_000 }, ms(2_000)));
    assert_eq!(s.put(K, fields(2, 20), StoreCond::None, None, ms(3_000)), StoreOutcome::LeaseConflict);
    ok_item(s.put(K, fields(1, 14), StoreCond::None, Some(A), ms(3_000)));
    // Broken: no lease in force — writes without an id pass, with one they are refused.
    assert_eq!(s.put(K, fields(1, 15), StoreCond::None, Some(A), ms(12_000)), StoreOutcome::LeaseConflict);
    ok_item(s.put(K, fields(2, 20), StoreCond::None, None, ms(12_000)));
    // A delete removes the lease with the blob.
    lease_of(s.lease(K, LeaseOp::Acquire { lease_id: B, duration_ms: None }, ms(12_000)));
    assert!(matches!(s.delete(K, StoreCond::None, Some(B), ms(12_000)), StoreOutcome::Ok { item: None, .. }));
    ok_item(s.put(K, fields(3, 30), StoreCond::IfAbsent, None, ms(12_000)));
    assert_eq!(lease_of(s.get(K, ms(12_000))), LeaseState::Available);
}

#[test]
fn a_lease_id_on_an_unleased_or_absent_blob_is_refused_and_an_expired_lease_admits_its_holder() {
    let mut s = store();
    assert_eq!(s.put(K, fields(1, 10), StoreCond::IfAbsent, Some(A), 0), StoreOutcome::LeaseConflict);
    ok_item(s.put(K, fields(1, 10), StoreCond::IfAbsent, None, 0));
    assert_eq!(s.update(K, fields(1, 11), StoreCond::None, Some(A), 0), StoreOutcome::LeaseConflict);
    let mut s = leased_store(Some(15_000));
    // Expired: the holder's id still writes and the lease stays (renewable); another id does not.
    assert_eq!(s.put(K, fields(2, 20), StoreCond::None, Some(B), ms(16_000)), StoreOutcome::LeaseConflict);
    assert_eq!(lease_of(s.put(K, fields(1, 11), StoreCond::None, Some(A), ms(16_000))), LeaseState::Expired);
    assert!(matches!(lease_of(s.lease(K, LeaseOp::Renew { lease_id: A }, ms(16_000))), LeaseState::Leased { .. }));
}

#[test]
fn replies_name_their_request_and_key_and_kinds_are_listed() {
    let mut s = store();
    let requests = [
        StoreMsg::Get { req: 1, key: K },
        StoreMsg::Put { req: 2, key: K, fields: fields(1, 1), cond: StoreCond::None, lease_id: None },
        StoreMsg::Update { req: 3, key: K, fields: fields(1, 2), cond: StoreCond::None, lease_id: None },
        StoreMsg::Lease { req: 4, key: K, op: LeaseOp::Acquire { lease_id: A, duration_ms: None } },
        StoreMsg::Delete { req: 5, key: K, cond: StoreCond::None, lease_id: Some(A) },
    ];
    for m in requests {
        let kind = m.kind();
        assert!(StoreMsg::KINDS.contains(&kind));
        let effects = feed(&mut s, 2, 0, m.clone());
        let reply = effects
            .iter()
            .find_map(|e| match e {
                Effect::Send { to: 2, msg: Msg::Store(r) } => Some((**r).clone()),
                _ => None,
            })
            .expect("a reply");
        assert_eq!(reply.kind(), format!("{kind}_reply"));
        assert!(StoreMsg::KINDS.contains(&reply.kind()));
        let line = reply.to_string();
        assert!(line.starts_with(&format!("{kind}_reply req=")), "{line}");
        assert!(line.contains(&format!("key={K}")), "{line}");
        assert!(!line.contains("NOT") && !line.contains("CONFLICT"), "{m}: {line}");
    }
}
