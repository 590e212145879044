//! Sans-IO tests of the Chubby cell and library: a tiny world (instant delivery, one clock) drives
//! the very server and library code, so each test follows one mechanism through real messages.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::*;
use crate::history::{Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input, MsRange, NodeId, Timer};

const C1: NodeId = 10;
const C2: NodeId = 11;

fn params(servers: Vec<NodeId>, lock_delay_ms: u64) -> ChubbyParams {
    ChubbyParams {
        servers,
        lease_ms: 12_000,
        keepalive_reply_before_ms: 1_000,
        lock_delay_ms,
        master_heartbeat_ms: 1_000,
        election_timeout: MsRange::fixed(4_000),
    }
}

fn client_params() -> ChubbyClientParams {
    ChubbyClientParams {
        drift_allowance_ms: 100,
        grace_period_ms: 45_000,
        keepalive_retry_ms: 1_000,
        call_timeout_ms: 5_000,
    }
}

/// A cell of `n` servers (nodes 0..n) and two clients; messages arrive instantly, one true time.
struct World {
    servers: BTreeMap<NodeId, ChubbyServer>,
    clients: BTreeMap<NodeId, ChubbyLock>,
    now: u64,
    timers: BTreeMap<(NodeId, Timer), u64>,
    inbox: VecDeque<(NodeId, NodeId, Msg)>,
    /// Crashed servers and paused clients: nothing is delivered to them, their timers wait.
    down: BTreeSet<NodeId>,
    records: Vec<(u64, NodeId, Observation)>,
    events: Vec<(u64, NodeId, LockEvent)>,
    sent: Vec<(u64, NodeId, NodeId, Msg)>,
    entropy: Counter,
}

impl World {
    fn new(n: usize, lock_delay_ms: u64) -> World {
        let servers: Vec<NodeId> = (0..n).collect();
        let mut w = World {
            servers: servers.iter().map(|&s| (s, ChubbyServer::new(params(servers.clone(), lock_delay_ms)))).collect(),
            clients: [C1, C2].into_iter().map(|c| (c, ChubbyLock::new(servers.clone(), 0, client_params()))).collect(),
            now: 0,
            timers: BTreeMap::new(),
            inbox: VecDeque::new(),
            down: BTreeSet::new(),
            records: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
            entropy: Counter(0),
        };
        for s in servers {
            w.server(s, |n, ctx| n.handle(ctx, Input::Start { incarnation: 0, durable: None }));
        }
        w
    }

    fn apply(&mut self, me: NodeId, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send { to, msg } => {
                    self.sent.push((self.now, me, to, msg.clone()));
                    self.inbox.push_back((me, to, msg));
                }
                Effect::SetTimer { timer, after_ns } => {
                    self.timers.insert((me, timer), self.now + after_ns);
                }
                Effect::CancelTimer { timer } => {
                    self.timers.remove(&(me, timer));
                }
                Effect::Record(o) => self.records.push((self.now, me, o)),
                _ => {}
            }
        }
    }

    fn server(&mut self, me: NodeId, f: impl FnOnce(&mut ChubbyServer, &mut Ctx)) {
        let mut effects = Vec::new();
        let mut node = self.servers.remove(&me).expect("a server");
        {
            let mut ctx = Ctx::new(me, self.now, self.now as i64, &mut self.entropy, &mut effects);
            f(&mut node, &mut ctx);
        }
        self.servers.insert(me, node);
        self.apply(me, effects);
    }

    fn client(&mut self, me: NodeId, f: impl FnOnce(&mut ChubbyLock, &mut Ctx) -> Option<LockEvent>) {
        let mut effects = Vec::new();
        let mut lib = self.clients.remove(&me).expect("a client");
        let event;
        {
            let mut ctx = Ctx::new(me, self.now, self.now as i64, &mut self.entropy, &mut effects);
            event = f(&mut lib, &mut ctx);
        }
        self.clients.insert(me, lib);
        if let Some(e) = event {
            self.events.push((self.now, me, e));
        }
        self.apply(me, effects);
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        if self.down.contains(&to) {
            return;
        }
        if self.servers.contains_key(&to) {
            self.server(to, |n, ctx| n.handle(ctx, Input::Message { from, msg }));
        } else {
            self.client(to, |l, ctx| l.on_message(ctx, from, msg));
        }
    }

    fn fire(&mut self, me: NodeId, timer: Timer) {
        if self.servers.contains_key(&me) {
            self.server(me, |n, ctx| n.handle(ctx, Input::Timer(timer)));
        } else {
            self.client(me, |l, ctx| l.on_timer(ctx, timer));
        }
    }

    /// Run every message and timer due up to `until_ms` (true time), in order.
    fn run_until(&mut self, until_ms: u64) {
        let until = ms(until_ms);
        for _ in 0..1_000_000 {
            if let Some((from, to, msg)) = self.inbox.pop_front() {
                self.deliver(from, to, msg);
                continue;
            }
            let next = self
                .timers
                .iter()
                .filter(|((n, _), _)| !self.down.contains(n))
                .min_by_key(|(k, &at)| (at, *k))
                .map(|(&k, &at)| (k, at));
            match next {
                Some(((node, timer), at)) if at <= until => {
                    self.timers.remove(&(node, timer));
                    self.now = self.now.max(at);
                    self.fire(node, timer);
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    fn acquire(&mut self, c: NodeId, n: u32) {
        let session = SessionId { client: c as u32, incarnation: 0, n };
        self.client(c, |l, ctx| {
            l.acquire(ctx, session, 0);
            None
        });
    }

    fn acquired_at(&self, c: NodeId) -> Option<u64> {
        self.events.iter().find(|(_, n, e)| *n == c && *e == LockEvent::Acquired).map(|(t, _, _)| *t)
    }

    fn grants(&self) -> Vec<(NodeId, Option<u64>)> {
        self.records
            .iter()
            .filter_map(|(_, _, o)| match o {
                Observation::Grant { holder, token, .. } => Some((*holder, *token)),
                _ => None,
            })
            .collect()
    }

    fn keepalive_replies(&self, to: NodeId) -> Vec<(u64, ChubbyMsg)> {
        self.sent
            .iter()
            .filter_map(|(t, _, dest, m)| match m {
                Msg::Chubby(c @ ChubbyMsg::KeepAliveReply { .. }) if *dest == to => Some((*t, c.clone())),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn the_master_holds_a_keepalive_until_the_lease_is_nearly_over() {
    let mut w = World::new(1, 60_000);
    w.acquire(C1, 1);
    w.run_until(100);
    assert!(w.acquired_at(C1).is_some(), "a free lock is granted at once");
    assert!(w.keepalive_replies(C1).is_empty(), "the first KeepAlive is held");
    w.run_until(30_000);
    let replies = w.keepalive_replies(C1);
    // Session created at 0 with a 12 s lease: answered at 11 s (lease to 23 s); the next one,
    // sent at once, is answered at 22 s (lease to 34 s).
    let times: Vec<u64> = replies.iter().map(|(t, _)| t / 1_000_000).collect();
    assert_eq!(times, vec![11_000, 22_000]);
    match &replies[0].1 {
        ChubbyMsg::KeepAliveReply { held_ns, lease_ns, failover, .. } => {
            assert_eq!((*held_ns, *lease_ns, *failover), (ms(11_000), ms(12_000), false));
        }
        _ => unreachable!(),
    }
    // The client's local lease timeout: sent at 11 s, held 11 s, lease 12 s, minus 100 ms of drift.
    let lib = &w.clients[&C1];
    assert!(matches!(lib.session_state, SessionState::Open { local_end_ns, .. } if local_end_ns == ms(34_000 - 100)));
    assert!(!w.records.iter().any(|(_, _, o)| matches!(o, Observation::LockLost { .. })));
}

#[test]
fn a_normal_release_frees_the_lock_at_once_and_generations_increase() {
    let mut w = World::new(1, 60_000);
    w.acquire(C1, 1);
    w.run_until(10);
    w.acquire(C2, 1);
    w.run_until(1_000);
    assert_eq!(w.acquired_at(C2), None, "c2 blocks while c1 holds");
    w.client(C1, |l, ctx| l.release(ctx));
    w.run_until(1_010);
    assert_eq!(w.acquired_at(C2), Some(ms(1_000)), "granted as soon as c1 released");
    assert_eq!(w.grants(), vec![(C1, Some(1)), (C2, Some(2))], "the generation is the sequencer's token");
    assert_eq!(w.clients[&C2].token(), Some(2));
}

/// c1 holds and is paused from 1 s. Its KeepAlive held at the master is still answered at 11 s
/// (lease to 23 s; the reply never reaches c1), and no other comes: the session ends at 23 s.
fn holder_vanishes(lock_delay_ms: u64) -> World {
    let mut w = World::new(1, lock_delay_ms);
    w.acquire(C1, 1);
    w.run_until(10);
    w.acquire(C2, 1);
    w.run_until(1_000);
    w.down.insert(C1);
    w.run_until(90_000);
    w
}

#[test]
fn lock_delay_keeps_an_expired_holders_lock_unclaimable() {
    let w = holder_vanishes(60_000);
    // c1's lease ran out at 23 s; the lock stays free but unclaimable for a minute.
    assert_eq!(w.acquired_at(C2), Some(ms(83_000)));
}

#[test]
fn without_lock_delay_an_expired_holders_lock_is_granted_at_once() {
    let w = holder_vanishes(0);
    assert_eq!(w.acquired_at(C2), Some(ms(23_000)));
}

#[test]
fn a_paused_client_goes_through_jeopardy_and_loses_its_session_after_the_grace_period() {
    let mut w = holder_vanishes(60_000);
    // c1 resumes at 90 s: its local lease (ended near 12 s) and grace period (near 57 s) are over.
    w.down.remove(&C1);
    w.run_until(90_001);
    let lib = &w.clients[&C1];
    assert_eq!(lib.session_state, SessionState::None, "the session is over");
    assert!(!lib.is_valid(&Ctx::new(C1, w.now, 0, &mut Counter(0), &mut Vec::new())));
    assert!(w.records.iter().any(|(_, n, o)| *n == C1 && matches!(o, Observation::LockLost { .. })));
}

#[test]
fn jeopardy_ends_when_the_master_answers_within_the_grace_period() {
    let mut w = World::new(1, 60_000);
    w.acquire(C1, 1);
    w.run_until(10);
    // c1 hears nothing from 10 ms to 12.5 s (the 11 s KeepAlive reply is lost): jeopardy.
    w.down.insert(C1);
    w.run_until(12_500);
    w.down.remove(&C1);
    w.run_until(12_600);
    assert!(matches!(w.clients[&C1].session_state, SessionState::Jeopardy { .. }));
    assert!(w.clients[&C1].is_valid(&Ctx::new(C1, w.now, 0, &mut Counter(0), &mut Vec::new())), "still believed");
    w.run_until(40_000);
    assert!(matches!(w.clients[&C1].session_state, SessionState::Open { .. }), "the master answered: safe again");
}

#[test]
fn a_new_master_keeps_sessions_and_locks_with_a_new_epoch() {
    let mut w = World::new(3, 60_000);
    w.acquire(C1, 1);
    w.run_until(10);
    w.acquire(C2, 1);
    w.run_until(5_000);
    assert!(w.acquired_at(C1).is_some());
    // The master crashes. s1 (node 1) succeeds it after the election timeout.
    w.down.insert(0);
    w.run_until(30_000);
    let s1 = &w.servers[&1];
    assert_eq!((s1.epoch, matches!(s1.role, Role::Master)), (2, true), "the successor serves with epoch 2");
    assert_eq!(s1.db.locks[&0].holder, w.clients[&C1].chubby_session(), "the lock survived");
    // c1 got the fail-over event and never lost its session or its lock.
    assert!(w.keepalive_replies(C1).iter().any(|(_, m)| matches!(m, ChubbyMsg::KeepAliveReply { failover: true, .. })));
    assert!(!w.records.iter().any(|(_, _, o)| matches!(o, Observation::LockLost { .. })));
    assert!(w.clients[&C1].is_valid(&Ctx::new(C1, w.now, 0, &mut Counter(0), &mut Vec::new())));
    assert_eq!(w.acquired_at(C2), None, "c2 still waits");
    // An old-epoch call is refused.
    let refused = |w: &World| {
        w.sent.iter().any(|(_, from, to, m)| {
            *from == 1 && *to == C2 && matches!(m, Msg::Chubby(ChubbyMsg::NotMaster { epoch: 2, .. }))
        })
    };
    assert!(refused(&w), "c2's epoch-1 calls were answered with the new epoch");
    // c1 releases: c2 gets the lock with the next generation.
    w.client(C1, |l, ctx| l.release(ctx));
    w.run_until(30_100);
    assert!(w.acquired_at(C2).is_some());
    assert_eq!(w.grants().last(), Some(&(C2, Some(2))));
}

#[test]
fn a_new_master_extends_every_lease_to_a_full_lease() {
    let mut w = World::new(3, 60_000);
    w.acquire(C1, 1);
    w.run_until(5_000);
    w.down.insert(0);
    // The new master (elected near 9 s) gives c1's session a lease to ~21 s, though the old
    // master's last grant (at creation, 0 s) ran only to 12 s; c1 is paused from 6 s to 20 s.
    w.run_until(6_000);
    w.down.insert(C1);
    w.run_until(20_000);
    w.down.remove(&C1);
    w.run_until(20_500);
    assert!(w.servers[&1].db.sessions.contains_key(&1), "the session outlived the old master's lease");
}

#[test]
fn a_replica_that_heard_the_master_within_a_master_lease_promises_no_successor() {
    let mut w = World::new(3, 60_000);
    w.run_until(2_500);
    let recover = |w: &mut World| {
        w.server(2, |n, ctx| {
            n.handle(ctx, Input::Message { from: 1, msg: Msg::Chubby(ChubbyMsg::Recover { epoch: 2 }) })
        });
        w.sent.iter().any(|(_, from, _, m)| *from == 2 && matches!(m, Msg::Chubby(ChubbyMsg::RecoverReply { .. })))
    };
    assert!(!recover(&mut w), "the master's heartbeat came at 2 s: no promise");
    assert_eq!(w.servers[&2].epoch, 1);
    // The master goes silent; a master lease (4 s - 1 s) after its last heartbeat, s2 promises.
    w.down.insert(0);
    w.run_until(5_100);
    assert!(recover(&mut w));
    assert_eq!(w.servers[&2].epoch, 2);
}

#[test]
fn a_master_cut_off_from_its_quorum_stops_serving() {
    let mut w = World::new(3, 60_000);
    w.run_until(1_500);
    assert!(matches!(w.servers[&0].role, Role::Master));
    // Its replicas crash: no acknowledgment renews the master lease (3 s).
    w.down.insert(1);
    w.down.insert(2);
    w.run_until(5_000);
    assert!(matches!(w.servers[&0].role, Role::Replica), "the master lease lapsed: stepped down");
    w.acquire(C1, 1);
    w.run_until(5_100);
    assert!(w
        .sent
        .iter()
        .any(|(_, from, to, m)| *from == 0 && *to == C1 && matches!(m, Msg::Chubby(ChubbyMsg::NotMaster { .. }))));
    assert_eq!(w.acquired_at(C1), None);
}

#[test]
fn a_repeated_release_is_answered_as_the_first_after_its_write() {
    let mut w = World::new(1, 60_000);
    w.acquire(C1, 1);
    w.run_until(100);
    let session = w.clients[&C1].chubby_session().expect("a session");
    let release = ChubbyMsg::Release { req: 7, epoch: 1, session, lock: 0, generation: 1 };
    for _ in 0..2 {
        let m = release.clone();
        w.server(0, |n, ctx| n.handle(ctx, Input::Message { from: C1, msg: Msg::Chubby(m) }));
    }
    let answers: Vec<bool> = w
        .sent
        .iter()
        .filter_map(|(_, from, _, m)| match m {
            Msg::Chubby(ChubbyMsg::ReleaseReply { req: 7, ok }) if *from == 0 => Some(*ok),
            _ => None,
        })
        .collect();
    assert_eq!(answers, vec![true, true], "the duplicate does not say NOT-held");
}
