//! Availability and cost (design.md, property 5's figures).

use serde::Serialize;

use locklab_protocols::history::{Entry, Event, Observation};
use locklab_protocols::NodeId;

use crate::{RunInfo, Session};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub acquires_invoked: u64,
    pub acquires_ok: u64,
    pub acquires_failed: u64,
    /// Acquire latency (invoke to successful return) in ms.
    pub acquire_ms_p50: f64,
    pub acquire_ms_p99: f64,
    pub acquire_ms_max: f64,
    /// Fraction of the run in which the lock was usable: not (a client waits and nobody holds it).
    pub usable_fraction: f64,
    pub critical_sections_completed: u64,
    pub messages_delivered: u64,
    /// Messages delivered per completed critical section (None when none completed).
    pub messages_per_cs: Option<f64>,
    pub writes_applied: u64,
    pub writes_rejected: u64,
    /// Every successful acquire's latency, in ns, sorted (for pooling across runs).
    #[serde(skip)]
    pub acquire_latencies_ns: Vec<u64>,
    /// Time the lock was unusable, in ns.
    #[serde(skip)]
    pub unusable_ns: u64,
}

/// Nearest-rank percentile of sorted ns values, in ms.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

/// Merge intervals into a sorted disjoint list.
fn union(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.retain(|(a, b)| b > a);
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Measure of `a \ b` for disjoint sorted interval lists.
fn minus_measure(a: &[(u64, u64)], b: &[(u64, u64)]) -> u64 {
    let mut total = 0;
    let mut j = 0;
    for &(s, e) in a {
        let mut cur = s;
        while j < b.len() && b[j].1 <= cur {
            j += 1;
        }
        let mut k = j;
        while cur < e {
            if k < b.len() && b[k].0 < e {
                let (bs, be) = b[k];
                if bs > cur {
                    total += bs - cur;
                }
                cur = cur.max(be);
                k += 1;
            } else {
                total += e - cur;
                cur = e;
            }
        }
    }
    total
}

pub fn compute(history: &[Entry], sessions: &[Session], info: &RunInfo) -> Metrics {
    let mut m = Metrics { messages_delivered: info.messages_delivered, ..Metrics::default() };
    let mut pending: Vec<(NodeId, u64)> = Vec::new();
    // About one acquire per session: sized so that neither list grows by copying.
    let mut latencies = Vec::with_capacity(sessions.len() + 8);
    let mut waiting = Vec::with_capacity(sessions.len() + 8);
    for e in history {
        let Event::Obs { obs, .. } = &e.event else { continue };
        match obs {
            Observation::AcquireInvoke { .. } => {
                m.acquires_invoked += 1;
                pending.push((e.node, e.t_ns));
            }
            Observation::AcquireOk { .. } | Observation::AcquireFail { .. } => {
                if let Some(k) = pending.iter().position(|&(n, _)| n == e.node) {
                    let (_, start) = pending.swap_remove(k);
                    waiting.push((start, e.t_ns));
                    if matches!(obs, Observation::AcquireOk { .. }) {
                        m.acquires_ok += 1;
                        latencies.push(e.t_ns - start);
                    } else {
                        m.acquires_failed += 1;
                    }
                }
            }
            Observation::CsDone { .. } => m.critical_sections_completed += 1,
            Observation::WriteApplied { .. } => m.writes_applied += 1,
            Observation::WriteRejected { .. } => m.writes_rejected += 1,
            _ => {}
        }
    }
    waiting.extend(pending.iter().map(|&(_, s)| (s, info.end_ns)));
    latencies.sort_unstable();
    m.acquire_ms_p50 = percentile(&latencies, 0.50);
    m.acquire_ms_p99 = percentile(&latencies, 0.99);
    m.acquire_ms_max = latencies.last().map_or(0.0, |&l| l as f64 / 1e6);
    let held = union(sessions.iter().map(|s| (s.acquired_ns, s.main_end_ns())).collect());
    let waiting = union(waiting);
    let unusable = minus_measure(&waiting, &held);
    m.usable_fraction = if info.end_ns == 0 { 1.0 } else { 1.0 - unusable as f64 / info.end_ns as f64 };
    m.unusable_ns = unusable;
    m.acquire_latencies_ns = latencies;
    m.messages_per_cs = (m.critical_sections_completed > 0)
        .then(|| info.messages_delivered as f64 / m.critical_sections_completed as f64);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_difference() {
        let a = union(vec![(0, 10), (20, 30)]);
        let b = union(vec![(5, 22), (25, 26)]);
        // a \ b = [0,5) + [22,25) + [26,30) = 5 + 3 + 4
        assert_eq!(minus_measure(&a, &b), 12);
        assert_eq!(minus_measure(&a, &[]), 20);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [1_000_000, 2_000_000, 3_000_000, 4_000_000];
        assert_eq!(percentile(&v, 0.5), 2.0);
        assert_eq!(percentile(&v, 0.99), 4.0);
    }
}
