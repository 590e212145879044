//! The checkers on hand-built histories: each property is shown both holding and violated, so no
//! check here can pass by being unable to fail.

use locklab_checkers::{check, Outcome, RunInfo};
use locklab_protocols::history::{Deadline, Entry, Event, Observation, SessionId, WorldEvent};

const S1: usize = 0; // server
const R1: usize = 1; // resource of lock 0
const R2: usize = 2; // resource of lock 1
const C1: usize = 3;
const C2: usize = 4;

fn names() -> Vec<String> {
    ["s1", "r1", "r2", "c1", "c2"].iter().map(|s| s.to_string()).collect()
}

fn sid(client: usize, n: u32) -> SessionId {
    SessionId { client: client as u32, incarnation: 0, n }
}

fn ms(t: u64) -> u64 {
    t * 1_000_000
}

fn obs(t_ms: u64, node: usize, obs: Observation) -> Entry {
    let until_ns = match &obs {
        Observation::AcquireOk { valid_until: Deadline::Mono(d), .. } => Some(*d),
        _ => None,
    };
    Entry { t_ns: ms(t_ms), node, event: Event::Obs { obs, until_ns } }
}

fn acquire(t_ms: u64, client: usize, n: u32, lock: u32, token: Option<u64>, valid_for_ms: u64) -> Vec<Entry> {
    vec![
        obs(t_ms, client, Observation::AcquireInvoke { lock, session: sid(client, n) }),
        obs(
            t_ms,
            client,
            Observation::AcquireOk {
                lock,
                session: sid(client, n),
                token,
                value: 7,
                valid_until: Deadline::Mono(ms(t_ms + valid_for_ms)),
            },
        ),
    ]
}

fn write(t_ms: u64, client: usize, n: u32, lock: u32, resource: usize, value: u64, prev: u64) -> Vec<Entry> {
    vec![
        obs(t_ms, client, Observation::WriteSent { lock, session: sid(client, n), token: None, value }),
        obs(t_ms + 1, resource, Observation::WriteApplied { session: sid(client, n), token: None, value, prev }),
    ]
}

fn release(t_ms: u64, client: usize, n: u32, lock: u32) -> Entry {
    obs(t_ms, client, Observation::ReleaseInvoke { lock, session: sid(client, n) })
}

fn outcome(history: &[Entry], property: &str) -> Outcome {
    let names = names();
    let info = RunInfo {
        names: &names,
        clients: &[C1, C2],
        end_ns: ms(100_000),
        messages_delivered: 0,
        ttl_ms: Some(5_000),
        lazy_expiry: false,
        session_lease: false,
        mutex_comparison: true,
    };
    check(history, &info).get(property).unwrap().outcome
}

#[test]
fn a_late_write_from_an_older_session_is_stale() {
    let mut h = acquire(0, C1, 1, 0, Some(1), 5_000);
    h.extend(acquire(6_000, C2, 1, 0, Some(2), 5_000));
    h.extend(write(7_000, C2, 1, 0, R1, 1, 0));
    h.extend(write(8_000, C1, 1, 0, R1, 1, 1)); // c1 wakes and writes after c2
    assert_eq!(outcome(&h, "no_stale_write"), Outcome::Violated);
    // c1 wrote while c2 held the lock: two holders as well.
    assert_eq!(outcome(&h, "mutual_exclusion"), Outcome::Violated);
}

#[test]
fn writes_in_grant_order_are_not_stale() {
    let mut h = acquire(0, C1, 1, 0, Some(1), 5_000);
    h.extend(write(1_000, C1, 1, 0, R1, 1, 0));
    h.push(release(1_500, C1, 1, 0));
    h.extend(acquire(2_000, C2, 1, 0, Some(2), 5_000));
    h.extend(write(3_000, C2, 1, 0, R1, 2, 1));
    h.push(release(3_500, C2, 1, 0));
    assert_eq!(outcome(&h, "no_stale_write"), Outcome::Holds);
    assert_eq!(outcome(&h, "mutual_exclusion"), Outcome::Holds);
}

#[test]
fn holders_of_different_locks_do_not_conflict() {
    let mut h = acquire(0, C1, 1, 0, None, 5_000);
    h.extend(acquire(100, C2, 1, 1, None, 5_000));
    h.extend(write(1_000, C2, 1, 1, R2, 1, 0));
    h.extend(write(2_000, C1, 1, 0, R1, 1, 0));
    assert_eq!(outcome(&h, "mutual_exclusion"), Outcome::Holds);
    assert_eq!(outcome(&h, "no_stale_write"), Outcome::Holds);
    // The same two sessions on one lock overlap.
    let mut same = acquire(0, C1, 1, 0, None, 5_000);
    same.extend(acquire(100, C2, 1, 0, None, 5_000));
    assert_eq!(outcome(&same, "mutual_exclusion"), Outcome::Violated);
}

#[test]
fn a_lease_that_ran_out_is_not_a_belief() {
    // c1's lease ran out at 5 s by its own clock and it never wrote after: no overlap with c2.
    let mut h = acquire(0, C1, 1, 0, None, 5_000);
    h.extend(acquire(6_000, C2, 1, 0, None, 5_000));
    assert_eq!(outcome(&h, "mutual_exclusion"), Outcome::Holds);
}

#[test]
fn a_crash_ends_a_belief() {
    let mut h = acquire(0, C1, 1, 0, None, 50_000);
    h.push(Entry { t_ns: ms(100), node: C1, event: Event::World(WorldEvent::Crash) });
    h.extend(acquire(5_000, C2, 1, 0, None, 5_000));
    assert_eq!(outcome(&h, "mutual_exclusion"), Outcome::Holds);
}

#[test]
fn tokens_must_strictly_increase() {
    let grant = |t, holder, token| obs(t, S1, Observation::Grant { lock: 0, holder, value: 1, token: Some(token) });
    let mut h = acquire(0, C1, 1, 0, Some(1), 5_000);
    h.push(grant(0, C1, 1));
    h.push(grant(10, C2, 2));
    assert_eq!(outcome(&h, "token_order"), Outcome::Holds);
    h.push(grant(20, C1, 2));
    assert_eq!(outcome(&h, "token_order"), Outcome::Violated);
    let untokened = acquire(0, C1, 1, 0, None, 5_000);
    assert_eq!(outcome(&untokened, "token_order"), Outcome::NotApplicable);
}

/// The Raft lock service's peers each record the grant of every entry they apply: a repeat of an
/// identical grant (same lock, token and holder) is the same grant, wherever and whenever it is
/// recorded again; a different holder with a token not above the last is still a violation.
#[test]
fn a_repeated_identical_grant_is_the_same_grant() {
    let grant =
        |t, node, holder, token| obs(t, node, Observation::Grant { lock: 0, holder, value: 1, token: Some(token) });
    let mut h = acquire(0, C1, 1, 0, Some(1), 5_000);
    h.push(grant(0, S1, C1, 1));
    h.push(grant(10, S1, C2, 2));
    h.push(grant(12, R1, C1, 1));
    h.push(grant(15, R1, C2, 2));
    let checked = {
        let names = names();
        let info = RunInfo {
            names: &names,
            clients: &[C1, C2],
            end_ns: ms(100_000),
            messages_delivered: 0,
            ttl_ms: Some(5_000),
            lazy_expiry: false,
            session_lease: false,
            mutex_comparison: true,
        };
        check(&h, &info).get("token_order").unwrap().clone()
    };
    assert_eq!(checked.outcome, Outcome::Holds);
    assert_eq!(checked.summary, "2 tokens issued", "one grant, however many records");
    h.push(grant(20, R1, C2, 1));
    assert_eq!(outcome(&h, "token_order"), Outcome::Violated, "token 1 again, to another holder");
}

#[test]
fn a_client_that_never_gets_the_lock_after_the_faults_healed_is_starved() {
    let mut h = acquire(0, C1, 1, 0, None, 5_000);
    h.push(Entry { t_ns: ms(10), node: S1, event: Event::World(WorldEvent::PauseEnd) });
    h.push(obs(20, C2, Observation::AcquireInvoke { lock: 0, session: sid(C2, 1) }));
    assert_eq!(outcome(&h, "liveness"), Outcome::Violated);
    h.push(obs(
        6_000,
        C2,
        Observation::AcquireOk { lock: 0, session: sid(C2, 1), token: None, value: 3, valid_until: Deadline::Never },
    ));
    assert_eq!(outcome(&h, "liveness"), Outcome::Holds);
}

#[test]
fn nothing_granted_is_vacuous() {
    let h = vec![obs(0, C1, Observation::AcquireInvoke { lock: 0, session: sid(C1, 1) })];
    for p in ["no_stale_write", "mutual_exclusion", "linearizable", "token_order", "liveness"] {
        assert_eq!(outcome(&h, p), Outcome::Vacuous, "{p}");
    }
}

/// Property 3 on hand-built histories: a lease (TTL 5 s here) may be granted again only once it
/// has expired, whatever the holder believes.
#[test]
fn a_second_grant_before_expiry_is_not_linearizable_as_a_lease() {
    let mut h = acquire(0, C1, 1, 0, None, 5_000);
    h.extend(acquire(2_000, C2, 1, 0, None, 5_000)); // c1's lease has 3 s left
    assert_eq!(outcome(&h, "linearizable"), Outcome::Violated);
}

#[test]
fn a_second_grant_after_expiry_is_linearizable_as_a_lease() {
    let mut h = acquire(0, C1, 1, 0, None, 5_000);
    h.extend(acquire(6_000, C2, 1, 0, None, 5_000)); // c1's lease expired at 5 s
    assert_eq!(outcome(&h, "linearizable"), Outcome::Holds);
}

/// An acquire whose answer was lost may have taken effect: a timeout is not a refusal.
#[test]
fn an_acquire_that_timed_out_may_have_taken_effect() {
    let mut h = vec![
        obs(0, C1, Observation::AcquireInvoke { lock: 0, session: sid(C1, 1) }),
        obs(1_000, C1, Observation::AcquireFail { lock: 0, session: sid(C1, 1), definite: false }),
    ];
    // c2 is refused at 2 s: legal only if c1's lost acquire took effect (at 0..2 s).
    h.push(obs(2_000, C2, Observation::AcquireInvoke { lock: 0, session: sid(C2, 1) }));
    h.push(obs(2_001, C2, Observation::AcquireFail { lock: 0, session: sid(C2, 1), definite: true }));
    h.extend(acquire(8_000, C2, 2, 0, None, 5_000));
    assert_eq!(outcome(&h, "linearizable"), Outcome::Holds);
    // Had c1 been told no (definitely), nobody held the lock at 2 s: c2's refusal is illegal.
    if let Event::Obs { obs: Observation::AcquireFail { definite, .. }, .. } = &mut h[1].event {
        *definite = true;
    }
    assert_eq!(outcome(&h, "linearizable"), Outcome::Violated);
}
