//! What a run's timeline picture shows, computed once from the history and drawn twice: as a
//! static SVG (`svg.rs`, `reports/timelines/`) and as JSON that the HTML report draws in the
//! browser with hover, zoom and pan (`html.rs`).
//!
//! The picture has one lane per node that did something (servers, the resource, clients) and a
//! `net` lane when the network was partitioned. On it: each client's lock sessions as bars in the
//! client's own colour (solid while the lease is valid by the client's own clock, a thin red tail
//! where it still acts as holder after that), writes at the resource (applied, stale, rejected by
//! fencing), grants at the servers with their tokens, and the faults where they act: pauses and
//! crashes on their node's lane, partitions on the `net` lane, clock jumps and targeted message
//! drops/delays as marks on the node's lane. Above all lanes, the key moment: every interval in
//! which two or more clients believe they hold the same lock ([`two_holders`], the same belief
//! that property 2, mutual exclusion, judges) is shaded across the lanes and labelled.
//!
//! Every item carries its trace line (`locklab run … --trace` prints the same text) for hover.
//! Busy runs are capped ([`MAX_BARS`], [`MAX_MARKS`]): beyond the cap, ordinary items are thinned
//! evenly (stale and rejected writes and the faults are always kept) and the picture says how many
//! it left out.

use std::collections::BTreeMap;

use serde::Serialize;

use locklab_checkers::{sessions, Session};
use locklab_protocols::history::{Entry, Event, Observation, SessionId, WorldEvent};
use locklab_protocols::{LockId, NodeId};
use locklab_sim::trace::{describe, fmt_ms, Names};

use crate::runner::RunResult;

/// The most session bars one picture holds.
pub const MAX_BARS: usize = 400;
/// The most marks (writes, grants, clock jumps, drops) one picture holds.
pub const MAX_MARKS: usize = 600;

/// One colour per client (ten before they repeat: the herd scenarios have eight clients). None of them is the green of "write applied", the red of
/// "stale write" / "acts as holder after its lease", or the grey of "rejected".
pub const CLIENT_COLORS: &[&str] =
    &["#3b73b9", "#e08a1e", "#8e5bb5", "#17a2b8", "#8c6d31", "#d35fb7", "#1f2f86", "#c9a100", "#7aaee0", "#5e2a5e"];
/// Status colours (never a client's).
pub const APPLIED: &str = "#2a8a3e";
pub const STALE: &str = "#d62728";
pub const REJECTED: &str = "#777777";

/// A lane of the picture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Lane {
    pub name: String,
    /// The client's colour index into [`CLIENT_COLORS`] (clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<usize>,
}

/// A lock session: a client's belief that it holds the lock.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Bar {
    pub lane: usize,
    pub color: usize,
    pub start_ns: u64,
    /// End of the lease as the client's own clock sees it (or release/loss/crash).
    pub main_end_ns: u64,
    /// The last instant it acted as holder (> `main_end_ns`: it wrote after its lease).
    pub belief_end_ns: u64,
    pub label: String,
    pub hover: String,
}

/// What a mark is.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    Applied,
    Stale,
    Rejected,
    Grant,
    ClockJump,
    Dropped,
    Delayed,
}

/// An instant on a lane.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mark {
    pub lane: usize,
    pub t_ns: u64,
    pub kind: MarkKind,
    /// The short label drawn when there is room (a token, a session, "clock +2.0 s").
    pub label: String,
    pub hover: String,
}

/// What a band is.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BandKind {
    Paused,
    Down,
    Partition,
}

/// An interval on a lane (a fault acting).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Band {
    pub lane: usize,
    pub kind: BandKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub label: String,
    pub hover: String,
}

/// An interval in which two or more clients believe they hold the same lock.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Overlap {
    pub lock: LockId,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The sessions believing in it, by name (`c1#2`).
    pub holders: Vec<String>,
}

/// Everything one picture shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Timeline {
    pub title: String,
    pub verdicts: String,
    /// The time axis runs from 0 to `span_ns`.
    pub span_ns: u64,
    pub lanes: Vec<Lane>,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
    pub bands: Vec<Band>,
    pub overlaps: Vec<Overlap>,
    /// Items left out by the caps (0: the picture shows everything).
    pub thinned: usize,
}

/// Intervals in which ≥ 2 distinct clients believe they hold the same lock, by the belief
/// property 2 judges: a session believes over its main interval (acquire → the first of release,
/// learned loss, crash and its own clock's deadline) and at each instant it sends a write as
/// holder after that. Sorted by start; touching intervals with the same holders are merged.
pub fn two_holders(ss: &[Session], names: &[String]) -> Vec<Overlap> {
    let names = Names(names);
    let mut by_lock: BTreeMap<LockId, Vec<&Session>> = BTreeMap::new();
    for s in ss {
        by_lock.entry(s.lock).or_default().push(s);
    }
    let mut out = Vec::new();
    for (lock, list) in by_lock {
        // Belief pieces: (start, end, session index in `list`).
        let mut edges: Vec<(u64, i32, usize)> = Vec::new();
        for (k, s) in list.iter().enumerate() {
            let main_end = s.main_end_ns();
            if main_end > s.acquired_ns {
                edges.push((s.acquired_ns, 1, k));
                edges.push((main_end, -1, k));
            }
            for &t in &s.write_times {
                if t >= main_end {
                    edges.push((t, 1, k));
                    edges.push((t + 1, -1, k));
                }
            }
        }
        // Ends before starts at the same instant: [a, b) and [b, c) do not overlap.
        edges.sort_by_key(|&(t, d, k)| (t, d, k));
        let mut active: BTreeMap<usize, u32> = BTreeMap::new();
        let mut i = 0;
        let mut open: Option<(u64, Vec<usize>)> = None;
        while i < edges.len() {
            let t = edges[i].0;
            while i < edges.len() && edges[i].0 == t {
                let (_, d, k) = edges[i];
                if d > 0 {
                    *active.entry(k).or_default() += 1;
                } else if let Some(n) = active.get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        active.remove(&k);
                    }
                }
                i += 1;
            }
            let holders: Vec<usize> = active.keys().copied().collect();
            let mut clients: Vec<NodeId> = holders.iter().map(|&k| list[k].client).collect();
            clients.sort_unstable();
            clients.dedup();
            let now = (clients.len() >= 2).then_some(holders);
            if open.as_ref().map(|(_, h)| h) != now.as_ref() {
                if let Some((from, h)) = open.take() {
                    push_overlap(&mut out, lock, from, t, &h, &list, &names);
                }
                open = now.map(|h| (t, h));
            }
        }
        if let Some((from, h)) = open {
            let end = list.iter().map(|s| s.belief_end_ns()).max().unwrap_or(from + 1);
            push_overlap(&mut out, lock, from, end.max(from + 1), &h, &list, &names);
        }
    }
    out.sort_by_key(|o| (o.start_ns, o.lock));
    out
}

fn push_overlap(
    out: &mut Vec<Overlap>,
    lock: LockId,
    from: u64,
    to: u64,
    holders: &[usize],
    list: &[&Session],
    names: &Names,
) {
    let holders: Vec<String> = holders.iter().map(|&k| names.session(list[k].id)).collect();
    if let Some(last) = out.last_mut() {
        if last.lock == lock && last.end_ns == from && last.holders == holders {
            last.end_ns = to;
            return;
        }
    }
    out.push(Overlap { lock, start_ns: from, end_ns: to, holders });
}

/// The trace line of a history entry, as `locklab run --trace` prints it.
pub fn trace_line(e: &Entry, names: &[String]) -> String {
    let n = Names(names);
    let (event, detail) = describe(e, &n);
    let node = match &e.event {
        Event::World(WorldEvent::PartitionStart { .. } | WorldEvent::PartitionHeal { .. }) => "net",
        _ => n.node(e.node),
    };
    format!("{} ms  {node}  {event}  {detail}", fmt_ms(e.t_ns))
}

/// Build the picture of one run.
pub fn build(r: &RunResult) -> Timeline {
    let end_ns = r.stats.end_ns;
    let names = &r.names;
    let ss = sessions(&r.history, end_ns);
    let overlaps = two_holders(&ss, names);

    // Show up to the last interesting event, plus a margin.
    let mut last_ns = 0u64;
    for s in &ss {
        last_ns = last_ns.max(s.belief_end_ns().min(end_ns));
    }
    for e in &r.history {
        if matches!(e.event, Event::World(_))
            || matches!(
                &e.event,
                Event::Obs { obs: Observation::WriteApplied { .. } | Observation::WriteRejected { .. }, .. }
            )
        {
            last_ns = last_ns.max(e.t_ns);
        }
    }
    let span_ns = (((last_ns as f64) * 1.05) as u64).max(1_000_000).min(end_ns.max(1));

    // Lanes: nodes that recorded something, every client, and `net` if partitioned.
    let mut lanes: Vec<Lane> = Vec::new();
    let mut lane_of: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut clients = 0;
    for (id, name) in names.iter().enumerate() {
        let used = r.history.iter().any(|e| e.node == id);
        let client = name.starts_with('c');
        if used || client {
            lane_of.insert(id, lanes.len());
            let color = client.then(|| {
                clients += 1;
                (clients - 1) % CLIENT_COLORS.len()
            });
            lanes.push(Lane { name: name.clone(), color });
        }
    }
    let has_net = r.history.iter().any(|e| matches!(e.event, Event::World(WorldEvent::PartitionStart { .. })));
    let net_lane = has_net.then(|| {
        lanes.push(Lane { name: "net".to_string(), color: None });
        lanes.len() - 1
    });
    let line = |i: usize| trace_line(&r.history[i], names);
    let session_name = |id: SessionId| Names(names).session(id);

    // Sessions.
    let mut bars: Vec<Bar> = Vec::new();
    for s in &ss {
        let Some(&lane) = lane_of.get(&s.client) else { continue };
        let token = s.token.map_or(String::new(), |t| format!(" token {t}"));
        let mut hover = line(s.acquired_idx);
        let main_end = s.main_end_ns();
        let why = match (s.ended_ns, s.valid_until_ns) {
            (Some(e), Some(u)) if u < e => "its own clock's validity deadline",
            (Some(_), _) => "release, learned loss or crash",
            (None, Some(u)) if u < end_ns => "its own clock's validity deadline",
            _ => "the end of the run",
        };
        hover.push_str(&format!("\nbelieves it holds until {} ms ({why})", fmt_ms(main_end)));
        if s.belief_end_ns() > main_end + 1 {
            hover.push_str(&format!(
                "\nstill acts as holder until {} ms (a write after its lease)",
                fmt_ms(s.belief_end_ns())
            ));
        }
        bars.push(Bar {
            lane,
            color: lanes[lane].color.unwrap_or(0),
            start_ns: s.acquired_ns,
            main_end_ns: main_end,
            belief_end_ns: s.belief_end_ns(),
            label: format!("{}{token}", session_name(s.id)),
            hover,
        });
    }

    // Marks and bands.
    let stale = stale_write_indices(&r.history, &ss);
    let mut marks: Vec<Mark> = Vec::new();
    let mut bands: Vec<Band> = Vec::new();
    let mut open_pause: Vec<(NodeId, u64, usize)> = Vec::new();
    let mut open_crash: Vec<(NodeId, u64, usize)> = Vec::new();
    let mut open_partition: Vec<(String, u64, usize)> = Vec::new();
    for (i, e) in r.history.iter().enumerate() {
        match &e.event {
            Event::Obs { obs, .. } => {
                let Some(&lane) = lane_of.get(&e.node) else { continue };
                let (kind, label) = match obs {
                    Observation::WriteApplied { session, .. } => {
                        let kind = if stale.contains(&i) { MarkKind::Stale } else { MarkKind::Applied };
                        (kind, session_name(*session))
                    }
                    Observation::WriteRejected { session, .. } => (MarkKind::Rejected, session_name(*session)),
                    Observation::Grant { token, .. } => {
                        (MarkKind::Grant, token.map_or(String::new(), |t| t.to_string()))
                    }
                    _ => continue,
                };
                marks.push(Mark { lane, t_ns: e.t_ns, kind, label, hover: line(i) });
            }
            Event::World(w) => match w {
                WorldEvent::PauseStart { .. } => open_pause.push((e.node, e.t_ns, i)),
                WorldEvent::PauseEnd => {
                    if let Some(k) = open_pause.iter().position(|(n, ..)| *n == e.node) {
                        let (_, from, start_idx) = open_pause.swap_remove(k);
                        if let Some(&lane) = lane_of.get(&e.node) {
                            let hover = format!("{}\n{}", line(start_idx), line(i));
                            bands.push(Band {
                                lane,
                                kind: BandKind::Paused,
                                start_ns: from,
                                end_ns: e.t_ns,
                                label: "paused".into(),
                                hover,
                            });
                        }
                    }
                }
                WorldEvent::Crash => open_crash.push((e.node, e.t_ns, i)),
                WorldEvent::Restart { .. } => {
                    if let Some(k) = open_crash.iter().position(|(n, ..)| *n == e.node) {
                        let (_, from, start_idx) = open_crash.swap_remove(k);
                        if let Some(&lane) = lane_of.get(&e.node) {
                            let hover = format!("{}\n{}", line(start_idx), line(i));
                            bands.push(Band {
                                lane,
                                kind: BandKind::Down,
                                start_ns: from,
                                end_ns: e.t_ns,
                                label: "down".into(),
                                hover,
                            });
                        }
                    }
                }
                WorldEvent::PartitionStart { description } => open_partition.push((description.clone(), e.t_ns, i)),
                WorldEvent::PartitionHeal { description } => {
                    if let Some(k) = open_partition.iter().position(|(d, ..)| d == description) {
                        let (_, from, start_idx) = open_partition.remove(k);
                        if let Some(lane) = net_lane {
                            let hover = format!("{}\n{}", line(start_idx), line(i));
                            let label = format!("partition {description}");
                            bands.push(Band {
                                lane,
                                kind: BandKind::Partition,
                                start_ns: from,
                                end_ns: e.t_ns,
                                label,
                                hover,
                            });
                        }
                    }
                }
                WorldEvent::ClockJump { by_ns } => {
                    if let Some(&lane) = lane_of.get(&e.node) {
                        let sign = if *by_ns >= 0 { "+" } else { "−" };
                        let label = format!("clock {sign}{:.1} s", by_ns.unsigned_abs() as f64 / 1e9);
                        marks.push(Mark { lane, t_ns: e.t_ns, kind: MarkKind::ClockJump, label, hover: line(i) });
                    }
                }
                WorldEvent::MessageDropped { kind, from, .. } | WorldEvent::MessageDelayed { kind, from, .. } => {
                    if let Some(&lane) = lane_of.get(from) {
                        let (mk, what) = if matches!(w, WorldEvent::MessageDropped { .. }) {
                            (MarkKind::Dropped, "dropped")
                        } else {
                            (MarkKind::Delayed, "delayed")
                        };
                        marks.push(Mark {
                            lane,
                            t_ns: e.t_ns,
                            kind: mk,
                            label: format!("{kind} {what}"),
                            hover: line(i),
                        });
                    }
                }
            },
        }
    }
    for (node, from, start_idx) in open_pause {
        if let Some(&lane) = lane_of.get(&node) {
            bands.push(Band {
                lane,
                kind: BandKind::Paused,
                start_ns: from,
                end_ns,
                label: "paused".into(),
                hover: line(start_idx),
            });
        }
    }
    for (node, from, start_idx) in open_crash {
        if let Some(&lane) = lane_of.get(&node) {
            bands.push(Band {
                lane,
                kind: BandKind::Down,
                start_ns: from,
                end_ns,
                label: "down".into(),
                hover: line(start_idx),
            });
        }
    }
    for (description, from, start_idx) in open_partition {
        if let Some(lane) = net_lane {
            let label = format!("partition {description}");
            bands.push(Band { lane, kind: BandKind::Partition, start_ns: from, end_ns, label, hover: line(start_idx) });
        }
    }
    bands.sort_by_key(|b| (b.start_ns, b.lane));

    // Caps: thin evenly, keeping what a reader must see.
    let mut thinned = 0;
    if bars.len() > MAX_BARS {
        thinned += bars.len() - MAX_BARS;
        bars = thin(bars, MAX_BARS, |b| overlaps.iter().any(|o| b.start_ns < o.end_ns && o.start_ns < b.belief_end_ns));
    }
    if marks.len() > MAX_MARKS {
        thinned += marks.len() - MAX_MARKS;
        marks = thin(marks, MAX_MARKS, |m| !matches!(m.kind, MarkKind::Applied | MarkKind::Grant));
    }

    let verdicts: Vec<String> =
        r.report.properties.iter().map(|p| format!("{} {}", p.property, p.outcome.as_str())).collect();
    Timeline {
        title: format!("{} — {} — seed {}", r.scenario, r.variant, r.seed),
        verdicts: verdicts.join(" · "),
        span_ns,
        lanes,
        bars,
        marks,
        bands,
        overlaps,
        thinned,
    }
}

/// Keep at most `cap` items (order kept): every item `keep` says must stay (up to the cap), then
/// an even spread of the others.
fn thin<T>(items: Vec<T>, cap: usize, keep: impl Fn(&T) -> bool) -> Vec<T> {
    let must: Vec<bool> = items.iter().map(&keep).collect();
    let n_must = must.iter().filter(|&&m| m).count().min(cap);
    let others = items.len() - must.iter().filter(|&&m| m).count();
    let room = cap - n_must;
    let mut taken_must = 0;
    let mut seen_other = 0usize;
    let mut taken_other = 0usize;
    let mut out = Vec::with_capacity(cap);
    for (item, m) in items.into_iter().zip(must) {
        if m {
            if taken_must < n_must {
                taken_must += 1;
                out.push(item);
            }
        } else {
            // Take the k-th other when ⌊k·room/others⌋ advances: an even, deterministic spread.
            let want = ((seen_other + 1) * room) / others.max(1);
            seen_other += 1;
            if want > taken_other {
                taken_other += 1;
                out.push(item);
            }
        }
    }
    out
}

/// History indices of applied writes that are stale (by the same rule as property 1: the
/// resource applied a write of a session granted before one it already applied).
fn stale_write_indices(history: &[Entry], ss: &[Session]) -> Vec<usize> {
    let rank: BTreeMap<SessionId, usize> = ss.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut newest: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, e) in history.iter().enumerate() {
        if let Event::Obs { obs: Observation::WriteApplied { session, .. }, .. } = &e.event {
            let Some(&k) = rank.get(session) else { continue };
            match newest.get(&e.node) {
                Some(&n) if k < n => out.push(i),
                Some(&n) if k == n => {}
                _ => {
                    newest.insert(e.node, k);
                }
            }
        }
    }
    out
}

/// Place labels on one line without collisions: `items` are (left x, width) in drawing order,
/// sorted by x; a label is kept when it starts at least `gap` after the previous kept label ends,
/// and shifted left to end by `right` (never cut at the right edge). Returns each kept label's x.
pub fn place_labels(items: &[(f64, f64)], gap: f64, right: f64) -> Vec<Option<f64>> {
    let mut end = f64::NEG_INFINITY;
    items
        .iter()
        .map(|&(x, w)| {
            let x = x.min(right - w);
            if x >= end + gap {
                end = x + w;
                Some(x)
            } else {
                None
            }
        })
        .collect()
}

/// A text's width in px at `font_px`, estimated generously (Helvetica/Arial average ≤ 0.6 em;
/// the browser test checks real boxes never overlap).
pub fn text_width(text: &str, font_px: f64) -> f64 {
    text.chars().map(|c| if c.is_ascii_uppercase() || "mw✕✉".contains(c) { 0.85 } else { 0.62 }).sum::<f64>() * font_px
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(client: NodeId, n: u32, acquired_ns: u64, end_ns: u64, writes: &[u64]) -> Session {
        Session {
            id: SessionId { client: client as u32, incarnation: 0, n },
            client,
            lock: 0,
            token: Some(n as u64),
            acquired_ns,
            acquired_idx: 0,
            valid_until_ns: Some(end_ns),
            ended_ns: None,
            writes: writes.iter().map(|_| 0).collect(),
            write_times: writes.iter().copied().collect(),
            run_end_ns: 1_000,
        }
    }

    fn names() -> Vec<String> {
        vec!["s1".into(), "c1".into(), "c2".into(), "c3".into()]
    }

    #[test]
    fn two_holders_are_the_instants_two_clients_believe() {
        // c1 believes [10, 50), c2 [40, 90): they overlap over [40, 50).
        let ss = vec![session(1, 1, 10, 50, &[]), session(2, 1, 40, 90, &[])];
        let o = two_holders(&ss, &names());
        assert_eq!(o, vec![Overlap { lock: 0, start_ns: 40, end_ns: 50, holders: vec!["c1#1".into(), "c2#1".into()] }]);
    }

    #[test]
    fn back_to_back_sessions_and_one_clients_own_sessions_are_not_two_holders() {
        let ss = vec![session(1, 1, 10, 50, &[]), session(2, 1, 50, 90, &[]), session(2, 2, 60, 95, &[])];
        assert!(two_holders(&ss, &names()).is_empty());
    }

    #[test]
    fn a_write_after_the_lease_is_a_moment_of_two_holders() {
        // c1's lease ends at 50 but it writes at 70, inside c2's [60, 90).
        let ss = vec![session(1, 1, 10, 50, &[30, 70]), session(2, 1, 60, 90, &[])];
        let o = two_holders(&ss, &names());
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].start_ns, o[0].end_ns), (70, 71));
    }

    #[test]
    fn three_holders_then_two_are_split_by_who_holds() {
        let ss = vec![session(1, 1, 0, 100, &[]), session(2, 1, 20, 60, &[]), session(3, 1, 40, 80, &[])];
        let o = two_holders(&ss, &names());
        let spans: Vec<(u64, u64, usize)> = o.iter().map(|o| (o.start_ns, o.end_ns, o.holders.len())).collect();
        assert_eq!(spans, vec![(20, 40, 2), (40, 60, 3), (60, 80, 2)]);
    }

    #[test]
    fn labels_never_overlap_and_never_pass_the_right_edge() {
        // Token labels 2 px apart (today's "35781012"): only every other one fits.
        let items: Vec<(f64, f64)> = (0..8).map(|i| (100.0 + 6.0 * i as f64, 10.0)).collect();
        let placed = place_labels(&items, 2.0, 1000.0);
        let kept: Vec<f64> = placed.iter().flatten().copied().collect();
        assert!(kept.len() >= 3 && kept.len() < 8, "{placed:?}");
        for w in kept.windows(2) {
            assert!(w[1] >= w[0] + 10.0 + 2.0, "{kept:?}");
        }
        // A label at the right edge is shifted left, not cut.
        let placed = place_labels(&[(995.0, 40.0)], 2.0, 1000.0);
        assert_eq!(placed, vec![Some(960.0)]);
    }

    #[test]
    fn thinning_keeps_the_must_haves_and_the_cap() {
        let items: Vec<u32> = (0..1000).collect();
        let kept = thin(items, 100, |&i| i % 250 == 7);
        assert_eq!(kept.len(), 100);
        for must in [7, 257, 507, 757] {
            assert!(kept.contains(&must));
        }
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        assert!(*kept.last().unwrap() > 900, "spread to the end");
    }
}
