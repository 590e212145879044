//! A GoDistLock server (`godistlockd`): the lock manager, the coordinator of its clients'
//! acquires (`Server.DoLock`) and a relay peer of the other servers' acquires (`Relay.OnPropose`,
//! `OnSchedule`, `OnCommit`). See the [module docs](super) for the algorithm and its defects.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::msg::{GoDistLockMsg, STATUS_HELD_BY_CLIENT, STATUS_HELD_BY_RELAY, STATUS_OK};
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId, Timer};

/// `TEMP_TIMEOUT` (`server/server.go`): the coordinator's local provisional lock, and the peers'
/// provisional lock on `PROP`/`SCHED` (`time.Second` in `relay.go`).
pub const TEMP_TIMEOUT_MS: u64 = 1000;
/// `WAIT_TIMEOUT` (`server/relaymanager.go`): how long a phase waits for each peer's reply.
pub const WAIT_TIMEOUT_MS: u64 = 1000;

/// The server's one timer: the next of its phases' `WAIT_TIMEOUT`s and its queued lock requests'
/// re-checks.
pub const RELAY_WAIT: Timer = Timer::Named("relay_wait", 0);

/// `calculateQuorum(servers)` = `ceil(servers / 100 × 50.01)`, in integers: the number of *other*
/// servers' `status == 0` replies a phase needs (the coordinator's own vote is not counted).
pub fn quorum_need(servers: u32) -> u32 {
    (servers * 5001).div_ceil(10_000)
}

/// Parameters of one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoDistLockParams {
    /// The other servers (the relay connections; filled per world).
    pub peers: Vec<NodeId>,
    /// How many servers the cluster has (`relayAddresses`, which lists this server too).
    pub servers: u32,
    /// This machine's monotonic clock reading when the run starts (`monotime.Now()` counts from
    /// boot): the fence is `uptime + local monotonic time`. See the module docs.
    pub uptime_ms: u64,
    /// `WAIT_TIMEOUT`.
    pub wait_timeout_ms: u64,
    /// `TEMP_TIMEOUT` and the peers' provisional lock.
    pub temp_timeout_ms: u64,
    /// The fixed variant: a quorum-agreed fence counter, a majority quorum counting the
    /// coordinator, an abort to the peers on failure, `OFF` relayed, no hung connections.
    pub fixed: bool,
    /// `HandleOn` dereferences the nil lock of a failed acquire: the process panics and dies.
    pub nil_panic: bool,
}

impl GoDistLockParams {
    /// The real defaults for a cluster of `servers` (peers filled per world).
    pub fn new(servers: u32) -> Self {
        GoDistLockParams {
            peers: Vec::new(),
            servers,
            uptime_ms: 0,
            wait_timeout_ms: WAIT_TIMEOUT_MS,
            temp_timeout_ms: TEMP_TIMEOUT_MS,
            fixed: false,
            nil_panic: false,
        }
    }
}

/// Who holds an entry of the lock table (`Lock.ClientId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A client connected to this server.
    Client(NodeId),
    /// Another server, as relay (`"relay:" + server id`): every lock a peer takes on behalf of
    /// coordinator X belongs to X, whichever client X was acquiring for.
    Relay(NodeId),
    /// Fixed variant: one client's acquire through one coordinator (its local lock and the
    /// peers'), so that neither another client of the same coordinator nor the same client
    /// through another coordinator "re-establishes" it.
    Call { coordinator: NodeId, client: NodeId },
}

/// One entry of the lock table (`type Lock struct { Fence, Expires, ClientId }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeldLock {
    pub fence: u64,
    /// On this server's monotonic clock; held while `expires > now` (`isLocked`).
    pub expires_mono_ns: u64,
    pub owner: Owner,
}

/// The phases of `DoLock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Prop,
    Sched,
    Comm,
}

/// One `DoLock` in progress (a client's `ON`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Call {
    pub client: NodeId,
    pub req: u64,
    pub lock: LockId,
    pub timeout_ms: u64,
    /// The local lock's fence (`lock.Fence`, drawn when the local provisional lock was given);
    /// the fixed variant replaces it with the agreed counter after `PROP`.
    pub fence: u64,
    /// The fence of the local lock entry this call created (to recognise it in the table).
    pub local_fence: u64,
    pub phase: Phase,
    /// Peers' `status == 0` replies so far.
    pub ok: u32,
    /// Peers that have not answered yet.
    pub pending: BTreeSet<NodeId>,
    /// `WAIT_TIMEOUT` of this phase, on the local monotonic clock.
    pub deadline_mono_ns: u64,
    /// Fixed variant: the highest fence counter heard in `PROP` replies.
    pub counter_max: u64,
}

/// A GoDistLock server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoDistLockServer {
    pub params: GoDistLockParams,
    /// The lock table (in memory only: nothing is persisted).
    pub locks: BTreeMap<LockId, HeldLock>,
    /// `DoLock`s in progress, by the nonce of their current phase.
    pub calls: BTreeMap<u64, Call>,
    pub next_nonce: u64,
    /// Per coordinator: its relay requests queued behind a `COMM` that waits in `GetLock` (the
    /// head). A relay connection handles one message at a time.
    pub relay_queue: BTreeMap<NodeId, VecDeque<GoDistLockMsg>>,
    /// Per client: messages waiting while its connection's goroutine runs a `DoLock`.
    pub client_queue: BTreeMap<NodeId, VecDeque<GoDistLockMsg>>,
    /// Clients whose connection goroutine blocks forever in `LockManager.Release` (a release of a
    /// lock nobody holds never gets its answer): nothing they send is handled again.
    pub hung_clients: BTreeSet<NodeId>,
    /// Fixed variant: the fence counter.
    pub counter: u64,
    /// The process died of the nil-pointer panic (`godistlock_nil_panic`).
    pub halted: bool,
}

impl GoDistLockServer {
    pub fn new(params: GoDistLockParams) -> Self {
        GoDistLockServer {
            params,
            locks: BTreeMap::new(),
            calls: BTreeMap::new(),
            next_nonce: 0,
            relay_queue: BTreeMap::new(),
            client_queue: BTreeMap::new(),
            hung_clients: BTreeSet::new(),
            counter: 0,
            halted: false,
        }
    }

    /// `NewFence()` = `strconv.FormatUint(monotime.Now(), 10)`: this machine's monotonic clock.
    pub fn fence_now(&self, ctx: &Ctx) -> u64 {
        ms(self.params.uptime_ms) + ctx.mono_ns
    }

    /// Does a phase with `ok` peers' votes (and the coordinator's own, `self_vote`) have its
    /// quorum? The real code counts the peers only; the fixed variant a majority of the cluster,
    /// the coordinator's own vote included when it still holds its local lock.
    pub fn has_quorum(&self, ok: u32, self_vote: bool) -> bool {
        if self.params.fixed {
            2 * (ok + self_vote as u32) > self.params.servers
        } else {
            ok >= quorum_need(self.params.servers)
        }
    }

    /// How long a provisional lock lasts: `TEMP_TIMEOUT` (1 s, as long as one phase's wait, so a
    /// phase that waits out a silent peer outlives it). The fixed variant keeps provisional locks
    /// for a whole `DoLock` (three waits) and a wait's margin: four `WAIT_TIMEOUT`s.
    pub fn provisional_ns(&self) -> u64 {
        if self.params.fixed {
            4 * ms(self.params.wait_timeout_ms)
        } else {
            ms(self.params.temp_timeout_ms)
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        if self.halted {
            return;
        }
        match input {
            // Nothing is persisted: a restarted server starts with an empty lock table.
            Input::Start { .. } | Input::Command(_) => {}
            Input::Message { from, msg: Msg::GoDistLock(m) } => self.on_message(ctx, from, m),
            Input::Message { .. } => {}
            // `RELAY_WAIT` (and anything else): `wake` below looks at what is due.
            Input::Timer(_) => {}
        }
        if self.halted {
            return;
        }
        self.wake(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, m: GoDistLockMsg) {
        match m {
            GoDistLockMsg::On { .. } | GoDistLockMsg::Off { .. } => self.on_client_message(ctx, from, m),
            GoDistLockMsg::Prop { .. }
            | GoDistLockMsg::Sched { .. }
            | GoDistLockMsg::Comm { .. }
            | GoDistLockMsg::RelayOff { .. } => match self.relay_queue.get_mut(&from) {
                Some(q) if !q.is_empty() => q.push_back(m),
                _ => {
                    self.serve_relay(ctx, from, m);
                }
            },
            GoDistLockMsg::Stat { nonce, status, counter } => self.on_reply(ctx, from, nonce, status, counter),
            GoDistLockMsg::Ack { nonce, status } | GoDistLockMsg::Conf { nonce, status } => {
                self.on_reply(ctx, from, nonce, status, 0)
            }
            GoDistLockMsg::Give { .. } | GoDistLockMsg::Err { .. } => {}
        }
    }

    // ---- the lock manager (`server/lockmanager.go`) ----

    /// `TryGet` (and `GetLock` when the lock is free or already the requester's): give a free or
    /// expired lock with a new fence, or renew the requester's own (`MakeValidFor`, "re-establish");
    /// `Err(holder)` when someone else holds it.
    pub fn try_get(&mut self, ctx: &Ctx, owner: Owner, lock: LockId, timeout_ns: u64) -> Result<HeldLock, Owner> {
        let now = ctx.mono_ns;
        let fence = self.fence_now(ctx);
        match self.locks.get_mut(&lock) {
            Some(l) if l.expires_mono_ns > now && l.owner != owner => Err(l.owner),
            Some(l) if l.expires_mono_ns > now => {
                l.expires_mono_ns = now + timeout_ns;
                Ok(*l)
            }
            _ => {
                let l = HeldLock { fence, expires_mono_ns: now + timeout_ns, owner };
                self.locks.insert(lock, l);
                Ok(l)
            }
        }
    }

    /// Is `lock` held (unexpired) by anyone?
    fn held(&self, ctx: &Ctx, lock: LockId) -> Option<HeldLock> {
        self.locks.get(&lock).copied().filter(|l| l.expires_mono_ns > ctx.mono_ns)
    }

    /// `LockManager.Release(clientId, name)`: removes the entry if `owner` holds it. Returns false
    /// when the lock is held by nobody: the real `Release` then never answers (its `Done` channel
    /// is only written when the lock is held), so the caller blocks forever.
    fn release(&mut self, ctx: &Ctx, owner: Owner, lock: LockId) -> bool {
        match self.held(ctx, lock) {
            None => false,
            Some(l) => {
                if l.owner == owner {
                    self.locks.remove(&lock);
                }
                true
            }
        }
    }

    // ---- the client connection (`server/client.go`) ----

    fn on_client_message(&mut self, ctx: &mut Ctx, client: NodeId, m: GoDistLockMsg) {
        if self.hung_clients.contains(&client) {
            return;
        }
        // One goroutine per connection: while a `DoLock` of this client runs, the rest waits.
        if self.calls.values().any(|c| c.client == client) {
            self.client_queue.entry(client).or_default().push_back(m);
            return;
        }
        match m {
            GoDistLockMsg::On { req, lock, timeout_ms } => self.do_lock(ctx, client, req, lock, timeout_ms),
            GoDistLockMsg::Off { lock } => {
                // `HandleOff`: release locally; the relays are not told (the relay `OFF` is never
                // sent). The fixed variant relays it.
                let owner = self.local_owner(ctx, client);
                let answered = self.release(ctx, owner, lock);
                if self.params.fixed {
                    self.relay_off(ctx, lock, client);
                } else if !answered {
                    self.hung_clients.insert(client);
                }
            }
            _ => {}
        }
    }

    /// Serve what waited for a client's connection, until another `DoLock` starts.
    fn drain_client(&mut self, ctx: &mut Ctx, client: NodeId) {
        while !self.calls.values().any(|c| c.client == client) {
            let Some(m) = self.client_queue.get_mut(&client).and_then(VecDeque::pop_front) else { break };
            self.on_client_message(ctx, client, m);
        }
    }

    /// `Server.DoLock`: a local provisional lock, then `PROP`, `SCHED`, `COMM` to the peers.
    fn do_lock(&mut self, ctx: &mut Ctx, client: NodeId, req: u64, lock: LockId, timeout_ms: u64) {
        let owner = self.local_owner(ctx, client);
        let Ok(local) = self.try_get(ctx, owner, lock, self.provisional_ns()) else {
            // `TryGet` returned nil: `DoLock` returns nil without releasing anything.
            self.answer_failure(ctx, client, req);
            return;
        };
        let mut counter_max = 0;
        if self.params.fixed {
            self.counter += 1;
            counter_max = self.counter;
        }
        let call = Call {
            client,
            req,
            lock,
            timeout_ms,
            fence: local.fence,
            local_fence: local.fence,
            phase: Phase::Prop,
            ok: 0,
            pending: BTreeSet::new(),
            deadline_mono_ns: 0,
            counter_max,
        };
        self.start_phase(ctx, call, Phase::Prop);
    }

    /// Broadcast a phase to every peer; wait for all replies or `WAIT_TIMEOUT`.
    fn start_phase(&mut self, ctx: &mut Ctx, mut call: Call, phase: Phase) {
        self.next_nonce += 1;
        let nonce = self.next_nonce;
        let (lock, client) = (call.lock, call.client);
        for &p in &self.params.peers {
            let m = match phase {
                Phase::Prop => GoDistLockMsg::Prop { nonce, lock, client },
                Phase::Sched => GoDistLockMsg::Sched { nonce, lock, client },
                Phase::Comm => GoDistLockMsg::Comm {
                    nonce,
                    lock,
                    timeout_ms: call.timeout_ms,
                    client,
                    fence: if self.params.fixed { call.fence } else { 0 },
                },
            };
            ctx.send(p, Msg::GoDistLock(m));
        }
        call.phase = phase;
        call.ok = 0;
        call.pending = self.params.peers.iter().copied().collect();
        call.deadline_mono_ns = ctx.mono_ns + ms(self.params.wait_timeout_ms);
        if call.pending.is_empty() {
            self.end_phase(ctx, call);
        } else {
            self.calls.insert(nonce, call);
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx, from: NodeId, nonce: u64, status: u8, counter: u64) {
        let Some(call) = self.calls.get_mut(&nonce) else { return }; // a phase already over
        if !call.pending.remove(&from) {
            return;
        }
        if status == STATUS_OK {
            call.ok += 1;
            call.counter_max = call.counter_max.max(counter);
        }
        if call.pending.is_empty() {
            let call = self.calls.remove(&nonce).expect("the call");
            self.end_phase(ctx, call);
        }
    }

    /// Count the phase: on to the next, grant, or fail.
    fn end_phase(&mut self, ctx: &mut Ctx, mut call: Call) {
        // Fixed variant: the coordinator votes for itself only if its local lock is (still, or
        // again) this client's.
        let owner = self.local_owner(ctx, call.client);
        let self_vote = self.params.fixed && self.try_get(ctx, owner, call.lock, self.provisional_ns()).is_ok();
        if !self.has_quorum(call.ok, self_vote) {
            self.fail(ctx, call);
            return;
        }
        // `lock.MakeValidFor(timeout)` on the lock object `TryGet` returned: it renews the table
        // entry if that entry is still this call's (even an expired one), and nothing otherwise.
        if let Some(l) = self.locks.get_mut(&call.lock) {
            if l.owner == owner && l.fence == call.local_fence {
                l.expires_mono_ns = ctx.mono_ns + ms(call.timeout_ms);
            }
        }
        match call.phase {
            Phase::Prop => {
                if self.params.fixed {
                    call.fence = call.counter_max;
                    self.counter = self.counter.max(call.fence);
                }
                self.start_phase(ctx, call, Phase::Sched)
            }
            Phase::Sched => self.start_phase(ctx, call, Phase::Comm),
            Phase::Comm => {
                let (client, lock, fence) = (call.client, call.lock, call.fence);
                ctx.record(Observation::Grant { lock, holder: client, value: client as u64 + 1, token: Some(fence) });
                ctx.send(client, Msg::GoDistLock(GoDistLockMsg::Give { req: call.req, fence }));
                self.drain_client(ctx, client);
            }
        }
    }

    /// A phase without quorum: release the local lock only (the real code tells no peer: their
    /// provisional or firm locks stay until they expire), and answer.
    fn fail(&mut self, ctx: &mut Ctx, call: Call) {
        let owner = self.local_owner(ctx, call.client);
        let answered = self.release(ctx, owner, call.lock);
        if self.params.fixed {
            self.relay_off(ctx, call.lock, call.client);
        } else if !answered {
            // `Release` of a lock that expired meanwhile never returns: `DoLock` never returns.
            self.hung_clients.insert(call.client);
            return;
        }
        self.answer_failure(ctx, call.client, call.req);
        self.drain_client(ctx, call.client);
    }

    /// `DoLock` returned nil. `HandleOn` then reads `lock.Fence` of the nil lock: a nil-pointer
    /// panic that kills the process (`godistlock_nil_panic`). Otherwise answer `ERR`, as the
    /// client protocol's error reply would.
    fn answer_failure(&mut self, ctx: &mut Ctx, client: NodeId, req: u64) {
        if self.params.nil_panic && !self.params.fixed {
            self.halted = true;
            self.locks.clear();
            self.calls.clear();
            self.relay_queue.clear();
            self.client_queue.clear();
            return;
        }
        ctx.send(client, Msg::GoDistLock(GoDistLockMsg::Err { req }));
    }

    /// Fixed variant: tell every peer to drop the lock it holds for this acquire.
    fn relay_off(&mut self, ctx: &mut Ctx, lock: LockId, client: NodeId) {
        for &p in &self.params.peers {
            ctx.send(p, Msg::GoDistLock(GoDistLockMsg::RelayOff { lock, client }));
        }
    }

    // ---- the relay peer (`server/relay.go`) ----

    /// The owner of a peer's lock: the coordinator as relay; the acquire in the fixed variant.
    fn peer_owner(&self, coordinator: NodeId, client: NodeId) -> Owner {
        if self.params.fixed {
            Owner::Call { coordinator, client }
        } else {
            Owner::Relay(coordinator)
        }
    }

    /// The owner of the coordinator's local lock: the client; the acquire in the fixed variant.
    fn local_owner(&self, ctx: &Ctx, client: NodeId) -> Owner {
        if self.params.fixed {
            Owner::Call { coordinator: ctx.me, client }
        } else {
            Owner::Client(client)
        }
    }

    /// Handle one relay request. Returns false when a `COMM` has to wait in `GetLock` (it is then
    /// at the head of the coordinator's queue).
    fn serve_relay(&mut self, ctx: &mut Ctx, from: NodeId, m: GoDistLockMsg) -> bool {
        let temp_ns = self.provisional_ns();
        match m {
            GoDistLockMsg::Prop { nonce, lock, client } => {
                // `OnPropose`: a provisional lock for one second.
                let owner = self.peer_owner(from, client);
                let status = match self.try_get(ctx, owner, lock, temp_ns) {
                    Ok(_) => STATUS_OK,
                    Err(Owner::Relay(_)) => STATUS_HELD_BY_RELAY,
                    Err(Owner::Call { coordinator, .. }) if coordinator != ctx.me => STATUS_HELD_BY_RELAY,
                    Err(Owner::Client(_) | Owner::Call { .. }) => STATUS_HELD_BY_CLIENT,
                };
                let mut counter = 0;
                if self.params.fixed && status == STATUS_OK {
                    self.counter += 1;
                    counter = self.counter;
                }
                ctx.send(from, Msg::GoDistLock(GoDistLockMsg::Stat { nonce, status, counter }));
            }
            GoDistLockMsg::Sched { nonce, lock, client } => {
                // `OnSchedule`: "refresh" the provisional lock (a `TryGet` again).
                let owner = self.peer_owner(from, client);
                let status = if self.try_get(ctx, owner, lock, temp_ns).is_ok() { STATUS_OK } else { 1 };
                ctx.send(from, Msg::GoDistLock(GoDistLockMsg::Ack { nonce, status }));
            }
            GoDistLockMsg::Comm { nonce, lock, timeout_ms, client, fence } => {
                // `OnCommit`: `GetLock` with the client's timeout. It waits while someone else
                // holds the lock, and never fails: the answer is always 0, maybe late.
                self.counter = self.counter.max(fence);
                let owner = self.peer_owner(from, client);
                if self.try_get(ctx, owner, lock, ms(timeout_ms)).is_err() {
                    self.relay_queue.entry(from).or_default().push_front(m);
                    return false;
                }
                ctx.send(from, Msg::GoDistLock(GoDistLockMsg::Conf { nonce, status: STATUS_OK }));
            }
            GoDistLockMsg::RelayOff { lock, client } => {
                let owner = self.peer_owner(from, client);
                self.release(ctx, owner, lock);
            }
            _ => {}
        }
        true
    }

    // ---- time ----

    /// Whatever is due: phases past their `WAIT_TIMEOUT`, queued `COMM`s whose lock is free (the
    /// real lock manager polls its queue every 10 ms; here the check runs at the instant the
    /// blocking lock expires, and after every input). Then set the timer to the next deadline.
    fn wake(&mut self, ctx: &mut Ctx) {
        loop {
            let now = ctx.mono_ns;
            let due: Vec<u64> = self.calls.iter().filter(|(_, c)| c.deadline_mono_ns <= now).map(|(&n, _)| n).collect();
            let mut progressed = false;
            for nonce in due {
                if let Some(call) = self.calls.remove(&nonce) {
                    progressed = true;
                    self.end_phase(ctx, call); // replies still pending count as failures
                    if self.halted {
                        return;
                    }
                }
            }
            let coordinators: Vec<NodeId> = self.relay_queue.keys().copied().collect();
            for from in coordinators {
                while let Some(m) = self.relay_queue.get_mut(&from).and_then(VecDeque::pop_front) {
                    if !self.serve_relay(ctx, from, m) {
                        break;
                    }
                    progressed = true;
                }
            }
            self.relay_queue.retain(|_, q| !q.is_empty());
            if !progressed {
                break;
            }
        }
        // The next deadline: a phase's wait, or the expiry of a lock a queued `COMM` waits for.
        let now = ctx.mono_ns;
        let mut next = self.calls.values().map(|c| c.deadline_mono_ns).min();
        for q in self.relay_queue.values() {
            if let Some(GoDistLockMsg::Comm { lock, .. }) = q.front() {
                if let Some(l) = self.locks.get(lock) {
                    next = Some(next.map_or(l.expires_mono_ns, |n| n.min(l.expires_mono_ns)));
                }
            }
        }
        match next {
            Some(at) => ctx.set_timer(RELAY_WAIT, at.saturating_sub(now)),
            None => ctx.cancel_timer(RELAY_WAIT),
        }
    }
}
