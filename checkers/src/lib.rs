//! # locklab-checkers: judging a run from its history
//!
//! The checkers read only the history (what nodes recorded, stamped with true time by the driver)
//! and never the protocol's internal state: they live outside the code they check. Each property
//! of design.md gets a verdict:
//!
//! 1. [`no_stale_write`] — once the resource has applied a write from lock session *s*, it never
//!    applies one from a session granted before *s*. Reported with the lost updates it caused.
//! 2. [`mutual_exclusion`] — no two clients *believe* they hold the lock at the same true instant.
//!    A client believes from the moment its acquire returns until the earlier of its release, the
//!    moment its library learns the lease is lost, its crash, and the true instant its own clock
//!    reaches its validity deadline; and it also believes at every instant it sends a write as
//!    holder (acting as holder *is* believing, deadline or not).
//! 4. [`token_order`] — fencing tokens strictly increase in the order the service granted them.
//! 5. [`liveness`] — after the last fault heals, every live client that still wants the lock gets it.
//!
//! 3. [`linearizable::linearizable`] — the client-visible history of acquire, extend and release
//!    is linearizable against a lease with expiry (checked by `locklab-lincheck`).
//!
//! A run in which nothing was granted is *vacuous*: every property says so rather than "holds".

use std::collections::BTreeMap;

use serde::Serialize;

use locklab_protocols::history::{Entry, Event, Observation, SessionId, WorldEvent};
use locklab_protocols::{LockId, NodeId};

use fx::{FxMap, FxSet};

mod fx;
pub mod linearizable;
mod metrics;
pub mod raft;
mod session;

pub use metrics::{percentile, Metrics};
pub use session::{sessions, Session, Writes, WRITES_INLINE};

/// The verdict of one property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Holds,
    Violated,
    /// Nothing was granted: the property was never exercised.
    Vacuous,
    /// The property does not apply (e.g. token order without tokens).
    #[serde(rename = "n/a")]
    NotApplicable,
    /// The check ran out of budget: nothing is known (never a guess).
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Holds => "holds",
            Outcome::Violated => "violated",
            Outcome::Vacuous => "vacuous",
            Outcome::NotApplicable => "n/a",
            Outcome::Unknown => "unknown",
        }
    }
}

/// A property violation: the first violating event and the events that led to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Index into the history of the first violating event.
    pub event: usize,
    /// Indices of the events that led to it, in history order.
    pub lead_up: Vec<usize>,
    /// What went wrong, in one or two sentences, with session names and tokens.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyResult {
    pub property: &'static str,
    pub outcome: Outcome,
    /// One line: counts, or why the property holds trivially.
    pub summary: String,
    pub violation: Option<Violation>,
}

/// What the checkers need besides the history.
pub struct RunInfo<'a> {
    pub names: &'a [String],
    pub clients: &'a [NodeId],
    pub end_ns: u64,
    pub messages_delivered: u64,
    /// The lease TTL the service promises (for the linearizability spec); None: a mutex.
    pub ttl_ms: Option<u64>,
    /// The service revokes an expired lease lazily (its TTL is a lower bound, as etcd's): property 3
    /// then uses lincheck's lazy-expiry lease specs.
    pub lazy_expiry: bool,
    /// The lease is a session reused across acquires (etcd's `Session`): with lazy expiry,
    /// property 3 uses lincheck's `session` specs (an acquire bounds no expiry).
    pub session_lease: bool,
    /// Also check the history as a plain mutex, for property 3's summary ("as a plain mutex:
    /// not linearizable"), which a single run's report prints. No verdict depends on it, and it
    /// is a second linearizability search, so bulk runs whose reports show no summary
    /// (`compare`, `sweep`) leave it off: the summary then says it was not checked.
    pub mutex_comparison: bool,
}

/// All verdicts and metrics of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub properties: Vec<PropertyResult>,
    pub metrics: Metrics,
    pub vacuous: bool,
}

impl Report {
    pub fn violated(&self) -> bool {
        self.properties.iter().any(|p| p.outcome == Outcome::Violated)
    }
    pub fn get(&self, property: &str) -> Option<&PropertyResult> {
        self.properties.iter().find(|p| p.property == property)
    }
}

/// Names for messages.
pub(crate) struct Namer<'a>(pub &'a [String]);

impl Namer<'_> {
    pub fn node(&self, id: NodeId) -> &str {
        self.0.get(id).map_or("?", String::as_str)
    }
    pub fn session(&self, s: SessionId) -> String {
        let c = self.node(s.client as NodeId);
        if s.incarnation == 0 {
            format!("{c}#{}", s.n)
        } else {
            format!("{c}.{}#{}", s.incarnation, s.n)
        }
    }
}

pub(crate) fn fmt_ms(t_ns: u64) -> String {
    format!("{}.{:03}", t_ns / 1_000_000, (t_ns / 1_000) % 1_000)
}

fn token(t: Option<u64>) -> String {
    t.map_or("none".to_string(), |t| t.to_string())
}

/// Check every property and compute the metrics.
pub fn check(history: &[Entry], info: &RunInfo) -> Report {
    let session::Indexed { sessions, rank, raft_seen } = session::sessions_indexed(history, info.end_ns);
    let vacuous = sessions.is_empty();
    let properties = if vacuous {
        ["no_stale_write", "mutual_exclusion", "linearizable", "token_order", "liveness"]
            .into_iter()
            .map(|property| PropertyResult {
                property,
                outcome: Outcome::Vacuous,
                summary: "nothing was granted in this run".to_string(),
                violation: None,
            })
            .collect()
    } else {
        vec![
            no_stale_write_ranked(history, &sessions, &rank, info),
            mutual_exclusion(history, &sessions, info),
            linearizable::linearizable(history, info),
            token_order(history, info),
            liveness(history, &sessions, info),
        ]
    };
    // Raft's own invariants are judged whether or not a lock was granted (never vacuous).
    let raft = if raft_seen { raft::raft_safety(history, info) } else { raft::not_applicable() };
    let properties = properties.into_iter().chain([raft]).collect();
    let metrics = metrics::compute(history, &sessions, info);
    Report { properties, metrics, vacuous }
}

/// Property 1: no stale write at the protected resource.
pub fn no_stale_write(history: &[Entry], sessions: &[Session], info: &RunInfo) -> PropertyResult {
    // Grant order: the order in which clients learned they hold the lock.
    // (An id granted twice ranks as its later grant.)
    let rank: FxMap<SessionId, usize> = sessions.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    no_stale_write_ranked(history, sessions, &rank, info)
}

/// [`no_stale_write`] with each session id's rank in `sessions` given (as
/// `session::sessions_indexed` returns it with the sessions).
fn no_stale_write_ranked(
    history: &[Entry],
    sessions: &[Session],
    rank: &FxMap<SessionId, usize>,
    info: &RunInfo,
) -> PropertyResult {
    let names = Namer(info.names);
    // Per resource: (rank, history index) of the newest session whose write it applied.
    let mut newest_at: ByNode<(usize, usize)> = ByNode::default();
    let mut first: Option<Violation> = None;
    let (mut stale, mut applied, mut rejected, mut lost_updates) = (0u64, 0u64, 0u64, 0u64);
    // A lost update: an applied increment that did not raise the counter (it was computed from a
    // value read before someone else's write). A duplicated message re-applying the previous write
    // of the same session is not one.
    let mut previous_at: ByNode<(SessionId, u64)> = ByNode::default();
    for (i, e) in history.iter().enumerate() {
        let Event::Obs { obs, .. } = &e.event else { continue };
        match obs {
            Observation::WriteRejected { .. } => rejected += 1,
            Observation::WriteApplied { session, token: t, value, prev } => {
                applied += 1;
                if value <= prev && previous_at.get(e.node) != Some(&(*session, *value)) {
                    lost_updates += 1;
                }
                previous_at.insert(e.node, (*session, *value));
                let Some(&r) = rank.get(session) else { continue };
                let newest = newest_at.get(e.node).copied();
                match newest {
                    Some((newer, newer_write)) if r < newer => {
                        stale += 1;
                        if first.is_none() {
                            let old = &sessions[r];
                            let new = &sessions[newer];
                            let mut lead_up = vec![old.acquired_idx, new.acquired_idx, newer_write];
                            lead_up.extend(faults_on(history, old.client, old.acquired_idx, i));
                            if let Some(w) = old.writes.iter().rev().find(|&&w| w < i) {
                                lead_up.push(*w);
                            }
                            lead_up.sort_unstable();
                            lead_up.dedup();
                            first = Some(Violation {
                                event: i,
                                lead_up,
                                message: format!(
                                    "stale write: the resource applied a write from session {} (token {}) at {} ms, \
                                     after it had applied one from session {} (token {}), granted later",
                                    names.session(*session),
                                    token(*t),
                                    fmt_ms(e.t_ns),
                                    names.session(new.id),
                                    token(new.token),
                                ),
                            });
                        }
                    }
                    Some((newer, _)) if r == newer => {}
                    _ => {
                        newest_at.insert(e.node, (r, i));
                    }
                }
            }
            _ => {}
        }
    }
    let summary =
        format!("{applied} writes applied, {rejected} rejected by fencing, {stale} stale, {lost_updates} lost updates");
    PropertyResult {
        property: "no_stale_write",
        outcome: if first.is_some() { Outcome::Violated } else { Outcome::Holds },
        summary,
        violation: first,
    }
}

/// A value per node, in a vector indexed by node id (nodes are numbered densely from 0).
struct ByNode<V>(Vec<Option<V>>);

impl<V> Default for ByNode<V> {
    fn default() -> Self {
        ByNode(Vec::new())
    }
}

impl<V> ByNode<V> {
    fn get(&self, node: NodeId) -> Option<&V> {
        self.0.get(node)?.as_ref()
    }
    fn insert(&mut self, node: NodeId, v: V) {
        if node >= self.0.len() {
            self.0.resize_with(node + 1, || None);
        }
        self.0[node] = Some(v);
    }
}

/// Fault events on `node` between two history indices (inclusive), for lead-ups.
fn faults_on(history: &[Entry], node: NodeId, from: usize, to: usize) -> Vec<usize> {
    (from..=to.min(history.len().saturating_sub(1)))
        .filter(|&i| {
            let e = &history[i];
            matches!(e.event, Event::World(_))
                && (e.node == node || matches!(e.event, Event::World(WorldEvent::PartitionStart { .. })))
        })
        .collect()
}

/// Property 2: no two clients believe they hold the same lock at the same true instant.
pub fn mutual_exclusion(history: &[Entry], sessions: &[Session], info: &RunInfo) -> PropertyResult {
    let names = Namer(info.names);
    let mut by_lock: BTreeMap<LockId, Vec<&Session>> = BTreeMap::new();
    for s in sessions {
        by_lock.entry(s.lock).or_default().push(s);
    }
    // The earliest overlap: (true instant, history index of the event that starts it, a, b).
    let mut earliest: Option<(u64, usize, &Session, &Session)> = None;
    let mut overlaps = 0u64;
    for list in by_lock.values() {
        // `sessions` is in acquire order already.
        for (i, a) in list.iter().enumerate() {
            let a_end = a.belief_end_ns();
            for b in &list[i + 1..] {
                if b.acquired_ns >= a_end {
                    break;
                }
                if b.client == a.client {
                    continue;
                }
                if let Some((t, idx)) = overlap(a, b) {
                    overlaps += 1;
                    if earliest.is_none_or(|(et, ei, ..)| (t, idx) < (et, ei)) {
                        earliest = Some((t, idx, a, b));
                    }
                }
            }
        }
    }
    let violation = earliest.map(|(t, idx, a, b)| {
        let mut lead_up = vec![a.acquired_idx, b.acquired_idx];
        lead_up.extend(faults_on(history, a.client, a.acquired_idx, idx));
        lead_up.retain(|&i| i <= idx);
        lead_up.sort_unstable();
        lead_up.dedup();
        let a_valid = match a.valid_until_ns {
            Some(u) => format!("valid by its own clock until {} ms", fmt_ms(u)),
            None => "with no validity deadline".to_string(),
        };
        Violation {
            event: idx,
            lead_up,
            message: format!(
                "two holders at {} ms: {} (token {}, acquired {} ms, {a_valid}) and {} (token {}, acquired {} ms) both act as holder",
                fmt_ms(t),
                names.session(a.id),
                token(a.token),
                fmt_ms(a.acquired_ns),
                names.session(b.id),
                token(b.token),
                fmt_ms(b.acquired_ns),
            ),
        }
    });
    PropertyResult {
        property: "mutual_exclusion",
        outcome: if violation.is_some() { Outcome::Violated } else { Outcome::Holds },
        summary: format!("{} sessions, {overlaps} overlapping pairs", sessions.len()),
        violation,
    }
}

/// The first instant two sessions' beliefs overlap, and the history index of the event there.
/// `a` was acquired no later than `b`.
fn overlap(a: &Session, b: &Session) -> Option<(u64, usize)> {
    let a_main_end = a.main_end_ns();
    let b_main_end = b.main_end_ns();
    let mut best: Option<(u64, usize)> = None;
    let mut consider = |t: u64, idx: usize| {
        if best.is_none_or(|bt| (t, idx) < bt) {
            best = Some((t, idx));
        }
    };
    // Both main intervals: b's acquire falls inside a's.
    if b.acquired_ns < a_main_end {
        consider(b.acquired_ns, b.acquired_idx);
    }
    // a's writes while b holds.
    for (&t, &idx) in a.write_times.iter().zip(&a.writes) {
        if t >= b.acquired_ns && t < b_main_end.max(b.belief_end_ns()) && t >= a_main_end {
            consider(t, idx);
        }
    }
    // b's writes while a still believes (within a's main interval).
    for (&t, &idx) in b.write_times.iter().zip(&b.writes) {
        if t < a_main_end {
            consider(t, idx);
        }
    }
    best
}

/// Property 4: fencing tokens strictly increase in grant order (per lock).
///
/// A repeat of an identical grant (same lock, token and holder) is the same grant, not a new one:
/// the Raft lock service's peers each record the grant of every entry they apply (each peer
/// applies the same log), so one grant appears once per peer, and again when a restarted peer
/// re-applies its log. The grant's place in the order is its first record.
pub fn token_order(history: &[Entry], info: &RunInfo) -> PropertyResult {
    let names = Namer(info.names);
    // Per lock: the greatest token so far and where. A handful of locks: a flat list.
    let mut last: Vec<(LockId, (u64, usize))> = Vec::new();
    let mut seen: FxSet<(LockId, u64, NodeId)> = FxSet::with_capacity_and_hasher(history.len() / 8, Default::default());
    let mut grants = 0u64;
    let mut violation = None;
    for (i, e) in history.iter().enumerate() {
        let Event::Obs { obs: Observation::Grant { lock, token: Some(t), holder, .. }, .. } = &e.event else {
            continue;
        };
        if !seen.insert((*lock, *t, *holder)) {
            continue;
        }
        grants += 1;
        let at = match last.iter().position(|(l, _)| l == lock) {
            Some(at) => at,
            None => {
                last.push((*lock, (*t, i)));
                continue;
            }
        };
        let (prev, prev_idx) = last[at].1;
        if *t <= prev && violation.is_none() {
            let mut lead_up = vec![prev_idx];
            lead_up.extend(faults_on(history, e.node, prev_idx, i));
            violation = Some(Violation {
                event: i,
                lead_up,
                message: format!(
                    "token order: {} granted lock {lock} to {} with token {t} at {} ms, not above the earlier token {prev}",
                    names.node(e.node),
                    names.node(*holder),
                    fmt_ms(e.t_ns)
                ),
            });
        }
        let entry = &mut last[at].1;
        if *t > entry.0 {
            *entry = (*t, i);
        }
    }
    let outcome = match (grants, &violation) {
        (0, _) => Outcome::NotApplicable,
        (_, Some(_)) => Outcome::Violated,
        _ => Outcome::Holds,
    };
    let summary = if grants == 0 { "no fencing tokens issued".to_string() } else { format!("{grants} tokens issued") };
    PropertyResult { property: "token_order", outcome, summary, violation }
}

/// The true time of the last fault event (a heal, a resume, a restart, a delayed message's
/// arrival; 0 when there were no faults), and the clients that are down at the end of the run.
/// A partition that never heals does not move this time: see [`partitions_in_force`].
pub fn heal_time(history: &[Entry]) -> (u64, Vec<NodeId>) {
    let mut faults = Faults::default();
    for e in history {
        if let Event::World(w) = &e.event {
            faults.see(e, w);
        }
    }
    faults.heal_time()
}

/// How many partitions are still in force at the end of the run (started, never healed).
pub fn partitions_in_force(history: &[Entry]) -> usize {
    let mut faults = Faults::default();
    for e in history {
        if let Event::World(w) = &e.event {
            faults.see(e, w);
        }
    }
    faults.partitions_in_force()
}

/// What [`heal_time`] and [`partitions_in_force`] gather from the fault events, fed one event at
/// a time, so that [`liveness`] gathers both in its own pass over the history.
#[derive(Default)]
struct Faults {
    heal_ns: u64,
    down: BTreeMap<NodeId, bool>,
    open_partitions: i64,
}

impl Faults {
    fn see(&mut self, e: &Entry, w: &WorldEvent) {
        let t = match w {
            WorldEvent::MessageDelayed { extra_ns, .. } => e.t_ns + extra_ns,
            _ => e.t_ns,
        };
        self.heal_ns = self.heal_ns.max(t);
        match w {
            WorldEvent::Crash => {
                self.down.insert(e.node, true);
            }
            WorldEvent::Restart { .. } => {
                self.down.insert(e.node, false);
            }
            WorldEvent::PartitionStart { .. } => self.open_partitions += 1,
            WorldEvent::PartitionHeal { .. } => self.open_partitions -= 1,
            _ => {}
        }
    }

    fn heal_time(&self) -> (u64, Vec<NodeId>) {
        (self.heal_ns, self.down.iter().filter(|&(_, &d)| d).map(|(&n, _)| n).collect())
    }

    fn partitions_in_force(&self) -> usize {
        self.open_partitions.max(0) as usize
    }
}

/// Property 5: after the last fault heals, every live client that wants the lock gets it.
pub fn liveness(history: &[Entry], sessions: &[Session], info: &RunInfo) -> PropertyResult {
    let names = Namer(info.names);
    // Per client (one pass over the history for all of them, the one that also finds the heal
    // time): did it want the lock after the heal (an acquire outstanding at or invoked after it),
    // and did it get it? Indexed by node. The heal time is known only at the end of the pass, so
    // the pass keeps the latest return of an outstanding acquire (and of a successful one): some
    // return is at or after the heal iff the latest is.
    #[derive(Clone, Copy, Default)]
    struct Want {
        client: bool,
        pending: bool,
        /// The latest true time an outstanding acquire returned (ok or failed).
        last_return_ns: Option<u64>,
        /// The latest true time an outstanding acquire returned ok.
        last_ok_ns: Option<u64>,
    }
    let nodes = info.clients.iter().map(|&c| c + 1).max().unwrap_or(0);
    let mut want = vec![Want::default(); nodes];
    for &c in info.clients {
        want[c].client = true;
    }
    let mut faults = Faults::default();
    for e in history {
        let obs = match &e.event {
            Event::Obs { obs, .. } => obs,
            Event::World(w) => {
                faults.see(e, w);
                continue;
            }
        };
        let Some(w) = want.get_mut(e.node).filter(|w| w.client) else { continue };
        match obs {
            Observation::AcquireInvoke { .. } => w.pending = true,
            Observation::AcquireOk { .. } | Observation::AcquireFail { .. } => {
                if w.pending {
                    w.last_return_ns = w.last_return_ns.max(Some(e.t_ns));
                    if matches!(obs, Observation::AcquireOk { .. }) {
                        w.last_ok_ns = w.last_ok_ns.max(Some(e.t_ns));
                    }
                }
                w.pending = false;
            }
            _ => {}
        }
    }
    let (heal_ns, down) = faults.heal_time();
    let after_heal = |t: Option<u64>| t.is_some_and(|t| t >= heal_ns);
    let starved: Vec<NodeId> = info
        .clients
        .iter()
        .copied()
        .filter(|c| !down.contains(c))
        .filter(|&c| (after_heal(want[c].last_return_ns) || want[c].pending) && !after_heal(want[c].last_ok_ns))
        .collect();
    let violation = starved.first().map(|&c| {
        let idx = history.iter().rposition(|e| e.node == c).unwrap_or(0);
        Violation {
            event: idx,
            lead_up: Vec::new(),
            message: format!(
                "liveness: {} wanted the lock after the last fault event at {} ms and never got it before the run ended at {} ms",
                names.node(c),
                fmt_ms(heal_ns),
                fmt_ms(info.end_ns)
            ),
        }
    });
    let _ = sessions;
    PropertyResult {
        property: "liveness",
        outcome: if violation.is_some() { Outcome::Violated } else { Outcome::Holds },
        summary: match faults.partitions_in_force() {
            0 => format!("faults healed at {} ms; {} client(s) starved", fmt_ms(heal_ns), starved.len()),
            // A partition that never heals: liveness is judged after the last fault event, with the
            // partition still cutting the network (say so rather than call it healed).
            open => format!(
                "last fault event at {} ms, {open} partition(s) never healed; {} client(s) starved",
                fmt_ms(heal_ns),
                starved.len()
            ),
        },
        violation,
    }
}
