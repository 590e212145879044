//! Sans-IO tests: the data tree, Zab's quorum commit, the leader's session tracker, and the recipe
//! driven over a tiny in-test network (messages delivered in order, timers fired by hand).

use std::collections::VecDeque;

use super::*;
use crate::history::{Observation, SessionId};
use crate::library::LockEvent;
use crate::msg::Msg;
use crate::node::{ms, Counter, Ctx, Effect, Input, MsRange, NodeId, Timer};

fn client_params(naming: NodeNaming) -> ZkClientParams {
    ZkClientParams {
        session_timeout_ms: 6000,
        naming,
        watch: WatchMode::Predecessor,
        local_expiry: false,
        reconnect_backoff: MsRange::fixed(0),
    }
}

fn server(servers: Vec<NodeId>) -> ZkServer {
    ZkServer::new(ZkServerParams { servers, tick_ms: 2000 })
}

/// A world of servers (ids 0..n) and clients (ids 10, 11, …) with an in-order network.
struct World {
    servers: Vec<ZkServer>,
    clients: Vec<ZkLock>,
    mono_ns: u64,
    queue: VecDeque<(NodeId, NodeId, Msg)>,
    /// Drop the next message of this kind to this node.
    drop_next: Option<(&'static str, NodeId)>,
    /// Partitioned from everyone: every message to or from it is lost.
    isolated: Option<NodeId>,
    records: Vec<(NodeId, Observation)>,
    events: Vec<(NodeId, LockEvent)>,
    timers: Vec<(NodeId, Timer)>,
    entropy: Counter,
    /// Every message sent, by kind.
    sent: Vec<&'static str>,
}

const C0: NodeId = 10;

impl World {
    fn new(n_servers: usize, n_clients: usize, naming: NodeNaming) -> World {
        let ids: Vec<NodeId> = (0..n_servers).collect();
        let servers = ids.iter().map(|_| server(ids.clone())).collect();
        let clients = (0..n_clients).map(|i| ZkLock::new(ids.clone(), i, 0, client_params(naming))).collect();
        World {
            servers,
            clients,
            mono_ns: 0,
            queue: VecDeque::new(),
            drop_next: None,
            isolated: None,
            records: Vec::new(),
            events: Vec::new(),
            timers: Vec::new(),
            entropy: Counter(0),
            sent: Vec::new(),
        }
    }

    fn absorb(&mut self, me: NodeId, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send { to, msg } => {
                    self.sent.push(msg.kind());
                    if self.drop_next.is_some_and(|(k, t)| k == msg.kind() && t == to) {
                        self.drop_next = None;
                    } else if !self.isolated.is_some_and(|n| n == to || n == me) {
                        self.queue.push_back((me, to, msg));
                    }
                }
                Effect::Record(o) => self.records.push((me, o)),
                Effect::SetTimer { timer, .. } => self.timers.push((me, timer)),
                _ => {}
            }
        }
    }

    fn server_input(&mut self, s: NodeId, input: Input) {
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(s, self.mono_ns, 0, &mut self.entropy, &mut effects);
        self.servers[s].handle(&mut ctx, input);
        self.absorb(s, effects);
    }

    fn client_do(&mut self, c: usize, f: impl FnOnce(&mut ZkLock, &mut Ctx) -> Option<LockEvent>) {
        let me = C0 + c;
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(me, self.mono_ns, 0, &mut self.entropy, &mut effects);
        let event = f(&mut self.clients[c], &mut ctx);
        self.absorb(me, effects);
        if let Some(ev) = event {
            self.events.push((me, ev));
        }
    }

    /// Deliver every queued message (and what they cause).
    fn settle(&mut self) {
        let mut budget = 10_000;
        while let Some((from, to, msg)) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "the network does not settle");
            if to >= C0 {
                self.client_do(to - C0, |l, ctx| l.on_message(ctx, msg));
            } else {
                self.server_input(to, Input::Message { from, msg });
            }
        }
    }

    fn start(&mut self) {
        for s in 0..self.servers.len() {
            self.server_input(s, Input::Start { incarnation: 0, durable: None });
        }
    }

    fn acquire(&mut self, c: usize) {
        let session = SessionId { client: (C0 + c) as u32, incarnation: 0, n: 1 };
        self.client_do(c, |l, ctx| {
            l.acquire(ctx, session, 0);
            None
        });
        self.settle();
    }

    fn held(&self, c: usize) -> bool {
        self.clients[c].step == Step::Held { lost: false }
    }

    fn count(&self, kind: &str) -> usize {
        self.sent.iter().filter(|k| **k == kind).count()
    }
}

#[test]
fn sequence_numbers_come_from_the_parents_cversion_and_close_session_deletes_ephemerals() {
    let mut tree = ZkTree::default();
    let open =
        |t: &mut ZkTree, zxid| t.apply(zxid, &Txn { kind: TxnKind::CreateSession { timeout_ms: 6000 }, origin: None });
    open(&mut tree, 1);
    open(&mut tree, 2);
    let create = |t: &mut ZkTree, zxid, session| {
        let name = NodeName { guid: zxid, session: NO_SESSION };
        t.apply(zxid, &Txn { kind: TxnKind::Create { session, lock: 0, name }, origin: None }).answer
    };
    assert_eq!(create(&mut tree, 3, 1), Some(ZkResult::Created { seq: 0, czxid: 3 }));
    assert_eq!(create(&mut tree, 4, 2), Some(ZkResult::Created { seq: 1, czxid: 4 }));
    let del = tree.apply(5, &Txn { kind: TxnKind::Delete { session: 2, lock: 0, seq: 1 }, origin: None });
    assert_eq!(del.answer, Some(ZkResult::Deleted));
    // The delete bumped cversion: the next sequence number skips 2.
    assert_eq!(create(&mut tree, 6, 2), Some(ZkResult::Created { seq: 3, czxid: 6 }));
    let closed = tree.apply(7, &Txn { kind: TxnKind::CloseSession { session: 1 }, origin: None });
    assert_eq!(closed.deleted, vec![(0, 0)], "session 1's ephemeral node is deleted");
    assert_eq!(tree.lowest(0).map(|c| c.seq), Some(3));
    assert_eq!(create(&mut tree, 8, 1), Some(ZkResult::SessionExpired), "a closed session creates nothing");
}

#[test]
fn the_leader_commits_only_on_a_quorum_of_acks() {
    let mut w = World::new(3, 1, NodeNaming::Guid);
    w.start();
    w.client_do(0, |l, ctx| {
        l.acquire(ctx, SessionId::default(), 0);
        None
    });
    // Deliver the connect and the leader's proposals, but lose every ACK.
    while let Some((from, to, msg)) = w.queue.pop_front() {
        if msg.kind() == "zk_ack" {
            continue;
        }
        w.server_input(to, Input::Message { from, msg });
    }
    assert_eq!(w.servers[0].tree.sessions.len(), 0, "no quorum: createSession is not committed");
    assert_eq!(w.servers[1].log.len(), 1, "the follower logged the proposal");
    // One follower's ACK makes two of three.
    w.server_input(0, Input::Message { from: 1, msg: Msg::Zk(Box::new(ZkMsg::Ack { zxid: 1 })) });
    assert_eq!(w.servers[0].tree.sessions.len(), 1, "committed on the leader");
    w.settle();
    assert!(w.servers.iter().all(|s| s.tree.sessions.len() == 1), "COMMIT applied everywhere");
    assert_eq!(w.clients[0].link, Link::Connected);
}

#[test]
fn the_lowest_node_holds_and_a_waiter_watches_only_its_predecessor() {
    let mut w = World::new(3, 3, NodeNaming::Guid);
    w.start();
    w.acquire(0);
    assert!(w.held(0));
    w.acquire(1);
    w.acquire(2);
    assert!(!w.held(1) && !w.held(2));
    assert_eq!(w.clients[1].step, Step::Watch { pred: 0, armed: true });
    assert_eq!(w.clients[2].step, Step::Watch { pred: 1, armed: true }, "c2 watches c1's node, not the holder's");
    // c0 unlocks: only c1's watch fires, and c1 holds.
    w.client_do(0, |l, ctx| l.release(ctx));
    w.settle();
    assert!(w.held(1));
    assert_eq!(w.clients[2].step, Step::Watch { pred: 1, armed: true }, "c2 was not woken (no herd)");
    let grants = w.records.iter().filter(|(_, o)| matches!(o, Observation::Grant { .. })).count();
    assert_eq!(grants, 2, "the leader recorded two grants");
    assert_eq!(w.clients[1].token(), Some(w.clients[1].own.unwrap().czxid));
    assert!(w.clients[1].token() > w.clients[0].own.map(|c| c.czxid), "czxid grows with each grant");
}

/// Five clients queue; the holder releases: how many `getChildren` does the hand-over cost?
fn hand_over_listings(watch: WatchMode) -> usize {
    let mut w = World::new(3, 5, NodeNaming::Guid);
    for c in &mut w.clients {
        c.params.watch = watch;
    }
    w.start();
    for c in 0..5 {
        w.acquire(c);
    }
    assert!(w.held(0));
    let before = w.count("zk_get_children");
    w.client_do(0, |l, ctx| l.release(ctx));
    w.settle();
    assert!(w.held(1) && (2..5).all(|c| !w.held(c)));
    w.count("zk_get_children") - before
}

#[test]
fn watching_the_children_wakes_the_herd() {
    assert_eq!(hand_over_listings(WatchMode::Predecessor), 1, "one waiter woken, one listing");
    assert_eq!(hand_over_listings(WatchMode::Children), 4, "every waiter lists again");
}

/// c0's create executes but its reply is dropped: the stream stalls there (the ping reply behind
/// the gap is held back), the read timeout drops the connection, c0 reconnects to the next server
/// and retries.
fn lost_create_reply(naming: NodeNaming) -> World {
    let mut w = World::new(3, 2, naming);
    w.start();
    w.drop_next = Some(("zk_create_reply", C0));
    w.acquire(0);
    assert_eq!(w.clients[0].step, Step::Create { recheck: false });
    assert_eq!(w.servers[0].tree.lowest(0).map(|c| c.owner), Some(w.clients[0].zk_session), "the create happened");
    w.client_do(0, |l, ctx| l.on_timer(ctx, Timer::Heartbeat));
    w.settle();
    assert_eq!(w.clients[0].early.len(), 1, "the ping reply waits behind the gap");
    assert_eq!(w.clients[0].link, Link::Connected);
    w.client_do(0, |l, ctx| l.on_timer(ctx, Timer::HeartbeatTimeout));
    assert_eq!(w.clients[0].link, Link::Down, "the stalled stream timed out");
    assert_eq!(w.clients[0].step, Step::Create { recheck: true });
    w.client_do(0, |l, ctx| l.on_timer(ctx, Timer::AcquireRetry));
    w.settle();
    assert_eq!(w.clients[0].current, 1, "reconnected to the next server");
    w
}

#[test]
fn messages_are_delivered_in_stream_order() {
    let mut w = World::new(1, 1, NodeNaming::Guid);
    w.start();
    w.acquire(0);
    assert!(w.held(0));
    let conn = w.clients[0].conn;
    let next = w.clients[0].heard_cseq + 1;
    // A watch for another node overtakes a ping reply: held back, then both delivered in order.
    w.client_do(0, |l, ctx| l.on_message(ctx, Msg::Zk(Box::new(ZkMsg::PingReply { conn, cseq: next + 1 }))));
    assert_eq!(w.clients[0].heard_cseq, next - 1);
    w.client_do(0, |l, ctx| l.on_message(ctx, Msg::Zk(Box::new(ZkMsg::PingReply { conn, cseq: next }))));
    assert_eq!(w.clients[0].heard_cseq, next + 1);
    assert!(w.clients[0].early.is_empty());
    assert_eq!(w.clients[0].link, Link::Connected, "reordering is not a broken connection");
}

#[test]
fn with_a_guid_a_client_finds_the_node_whose_create_reply_it_lost() {
    let w = lost_create_reply(NodeNaming::Guid);
    assert!(w.held(0));
    assert_eq!(w.servers[0].tree.locks[&0].children.len(), 1, "no second node");
}

#[test]
fn with_the_session_id_in_the_name_too() {
    let w = lost_create_reply(NodeNaming::SessionId);
    assert!(w.held(0));
    assert_eq!(w.servers[0].tree.locks[&0].children.len(), 1);
}

#[test]
fn without_a_guid_the_retry_orphans_the_first_node_and_blocks_everyone() {
    let mut w = lost_create_reply(NodeNaming::Plain);
    assert!(!w.held(0), "c0 waits on its own orphan");
    assert_eq!(w.servers[0].tree.locks[&0].children.len(), 2, "a second node");
    assert_eq!(w.clients[0].step, Step::Watch { pred: 0, armed: true });
    w.acquire(1);
    assert!(!w.held(1), "c1 queues behind the orphan too");
}

#[test]
fn the_leader_expires_a_silent_session_and_the_next_waiter_takes_the_lock() {
    let mut w = World::new(3, 2, NodeNaming::Guid);
    w.start();
    w.acquire(0);
    w.acquire(1);
    assert!(w.held(0) && !w.held(1));
    // c0 is partitioned from every server. c1 keeps pinging through its server (s2).
    w.isolated = Some(C0);
    let mut t = 0;
    while t < 12_000 {
        t += 1000;
        w.mono_ns = ms(t);
        w.client_do(1, |l, ctx| l.on_timer(ctx, Timer::Heartbeat));
        w.settle();
        for s in 0..3 {
            w.server_input(s, Input::Timer(SESSION_TICK));
        }
        w.settle();
        if w.held(1) {
            break;
        }
    }
    assert!(w.held(1), "c0's session expired, its node was deleted, c1's watch fired");
    assert!((6000..=10_000).contains(&t), "expired a timeout (rounded up to a tick) after the last touch: {t} ms");
    assert!(w.held(0), "the silent holder heard nothing and still believes it holds");
    // The partition heals; c0 drops its silent connection, reconnects, and learns of the expiry.
    w.isolated = None;
    w.client_do(0, |l, ctx| l.on_timer(ctx, Timer::HeartbeatTimeout));
    w.client_do(0, |l, ctx| l.on_timer(ctx, Timer::AcquireRetry));
    w.settle();
    assert_eq!(w.clients[0].step, Step::Held { lost: true });
    assert!(w.records.iter().any(|(n, o)| *n == C0 && matches!(o, Observation::LockLost { .. })));
}

#[test]
fn a_touch_postpones_expiry() {
    let mut s = server(vec![0]);
    let mut entropy = Counter(0);
    let mut effects = Vec::new();
    s.tree.sessions.insert(7, SessionInfo { timeout_ms: 6000, client: 10 });
    let mut ctx = Ctx::new(0, ms(1000), 0, &mut entropy, &mut effects);
    s.handle(
        &mut ctx,
        Input::Message { from: 10, msg: Msg::Zk(Box::new(ZkMsg::Connect { conn: 1, session: 7, timeout_ms: 6000 })) },
    );
    assert_eq!(s.expiry_ns[&7], ms(8000), "1 s + 6 s, rounded to the next 2 s tick");
    let mut ctx = Ctx::new(0, ms(7900), 0, &mut entropy, &mut effects);
    s.handle(&mut ctx, Input::Message { from: 10, msg: Msg::Zk(Box::new(ZkMsg::Ping { conn: 1, session: 7 })) });
    let mut ctx = Ctx::new(0, ms(8000), 0, &mut entropy, &mut effects);
    s.handle(&mut ctx, Input::Timer(SESSION_TICK));
    assert!(s.closing.is_empty(), "touched at 7.9 s: not expired at 8 s");
    let mut ctx = Ctx::new(0, ms(14_000), 0, &mut entropy, &mut effects);
    s.handle(&mut ctx, Input::Timer(SESSION_TICK));
    assert!(!s.tree.sessions.contains_key(&7), "expired at 14 s: closed (one server: committed at once)");
}

/// The folder's own key resolution (what the simulator calls for `kind = "zookeeper"`).
fn compiled(keys: &str) -> Result<ZkVariant, crate::params::ParamError> {
    let table: crate::params::Table = toml::from_str(keys).expect("TOML");
    compile(&table, 3).map(|b| b.as_any().downcast_ref::<ZkVariant>().expect("a ZkVariant").clone())
}

#[test]
fn compile_checks_zookeepers_ranges() {
    let v = compiled("").unwrap();
    assert_eq!((v.client.session_timeout_ms, v.server.tick_ms), (10_000, 2000));
    assert_eq!(v.client.naming, NodeNaming::Guid);
    let e = compiled("session_timeout_ms = 1000").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("session_timeout_ms"));
    let e = compiled("zk_session_in_name = true").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("zk_session_in_name"));
    assert_eq!(compiled("zk_guid = false").unwrap().client.naming, NodeNaming::Plain);
    let v = compiled("zk_guid = false\nzk_session_in_name = true\nzk_watch = \"children\"").unwrap();
    assert_eq!((v.client.naming, v.client.watch), (NodeNaming::SessionId, WatchMode::Children));
    assert!(compiled("zk_watch = \"all\"").is_err());
    assert!(compiled("ttl_ms = 3000").is_err(), "a lease key does not apply");
}

/// A partitioned holder: the plain client goes on believing; Curator's LOST ends the belief a
/// session timeout after the connection was lost, and the client opens a new session.
fn partitioned_holder(local_expiry: bool) -> World {
    let mut w = World::new(3, 1, NodeNaming::Guid);
    w.clients[0].params.local_expiry = local_expiry;
    w.start();
    w.acquire(0);
    assert!(w.held(0));
    w.isolated = Some(C0);
    w.timers.clear();
    w.client_do(0, |l, ctx| l.on_timer(ctx, Timer::HeartbeatTimeout));
    assert!(!w.clients[0].is_valid_now(), "disconnected: not valid for a checking worker");
    w.client_do(0, |l, ctx| l.on_timer(ctx, SESSION_LOST));
    w
}

#[test]
fn curators_lost_ends_the_belief_the_plain_client_keeps_it() {
    let plain = partitioned_holder(false);
    assert!(!plain.timers.contains(&(C0, SESSION_LOST)), "the plain client sets no such timer");
    assert_eq!(plain.clients[0].step, Step::Held { lost: false }, "the plain client still believes");
    let curator = partitioned_holder(true);
    assert!(curator.timers.contains(&(C0, SESSION_LOST)));
    assert_eq!(curator.clients[0].step, Step::Held { lost: true });
    assert_eq!(curator.clients[0].zk_session, NO_SESSION, "a new session will be opened");
    assert!(curator.records.iter().any(|(_, o)| matches!(o, Observation::LockLost { .. })));
}

#[test]
fn a_follower_applies_in_zxid_order_whatever_order_the_network_delivers() {
    let mut f = server(vec![0, 1, 2]);
    let mut entropy = Counter(0);
    let mut effects = Vec::new();
    let mut feed = |f: &mut ZkServer, m: ZkMsg| {
        let mut ctx = Ctx::new(1, 0, 0, &mut entropy, &mut effects);
        f.handle(&mut ctx, Input::Message { from: 0, msg: Msg::Zk(Box::new(m)) });
    };
    let session = Txn { kind: TxnKind::CreateSession { timeout_ms: 6000 }, origin: None };
    let name = NodeName { guid: 7, session: NO_SESSION };
    let create = Txn { kind: TxnKind::Create { session: 1, lock: 0, name }, origin: None };
    // Proposal 2 and its commit overtake proposal 1.
    feed(&mut f, ZkMsg::Proposal { zxid: 2, txn: create });
    feed(&mut f, ZkMsg::Commit { zxid: 2 });
    assert_eq!(f.tree.last_zxid, 0, "nothing applied with zxid 1 missing");
    feed(&mut f, ZkMsg::Proposal { zxid: 1, txn: session });
    assert_eq!(f.tree.last_zxid, 2, "1 then 2 applied once 1 arrived");
    assert_eq!(f.tree.lowest(0).map(|c| c.owner), Some(1), "the create found its session");
}
