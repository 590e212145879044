//! Raft's own safety properties (Ongaro & Ousterhout 2014, Figure 3), judged from what the peers
//! recorded — never from their state:
//!
//! * **Election Safety**: at most one leader per term (`RaftLeader` records).
//! * **Log Matching**: two entries with the same index and term have the same chain hash (the hash
//!   of the whole log prefix up to them), so the logs are identical up to there (`RaftApplied`).
//! * **Leader Completeness**: a leader of term T has, in its log at election, every entry committed
//!   by a leader of an earlier term (`RaftCommitted` against the leader's recorded chain). The
//!   check is independent of true time: an entry committed in term t < T is in every leader of T.
//! * **State Machine Safety**: no two peers apply (or commit) different entries at one index.
//!
//! The four are reported as one property, `raft_safety`; `n/a` for runs without Raft peers.

use std::collections::BTreeMap;

use locklab_protocols::history::{Entry, Event, Observation};
use locklab_protocols::NodeId;

use crate::{fmt_ms, Namer, Outcome, PropertyResult, RunInfo, Violation};

/// The `raft_safety` property.
pub fn raft_safety(history: &[Entry], info: &RunInfo) -> PropertyResult {
    let names = Namer(info.names);
    let mut first: Option<Violation> = None;
    let mut report = |v: Violation| {
        if first.as_ref().is_none_or(|f| v.event < f.event) {
            first = Some(v);
        }
    };
    // term → (leader, history index)
    let mut leaders: BTreeMap<u64, (NodeId, usize)> = BTreeMap::new();
    let mut elections: Vec<(usize, NodeId, u64, &[u64])> = Vec::new();
    // (index, entry term) → (chain, history index, node)
    let mut by_index_term = ByIndexTerm::default();
    // index → (chain, history index, node)
    let mut by_index: ByIndex<(u64, usize, NodeId)> = ByIndex::default();
    // (commit term, index, chain, history index)
    let mut commits: Vec<(u64, u64, u64, usize)> = Vec::new();
    let (mut applies, mut seen) = (0u64, false);

    for (i, e) in history.iter().enumerate() {
        let Event::Obs { obs, .. } = &e.event else { continue };
        match obs {
            Observation::RaftLeader { term, log_chain } => {
                seen = true;
                elections.push((i, e.node, *term, log_chain));
                match leaders.get(term) {
                    Some(&(other, other_idx)) if other != e.node => report(Violation {
                        event: i,
                        lead_up: vec![other_idx],
                        message: format!(
                            "election safety: {} and {} were both leaders of term {term} (at {} ms)",
                            names.node(other),
                            names.node(e.node),
                            fmt_ms(e.t_ns)
                        ),
                    }),
                    _ => {
                        leaders.insert(*term, (e.node, i));
                    }
                }
            }
            Observation::RaftCommitted { term, index, chain } => {
                seen = true;
                commits.push((*term, *index, *chain, i));
                same_entry(&mut by_index, *index, *chain, i, e.node, &names, e.t_ns, "committed", &mut report);
            }
            Observation::RaftApplied { index, entry_term, chain } => {
                seen = true;
                applies += 1;
                match by_index_term.get(*index, *entry_term) {
                    Some(&(c, j, other)) if c != *chain => report(Violation {
                        event: i,
                        lead_up: vec![j],
                        message: format!(
                            "log matching: entry {index} of term {entry_term} has different log prefixes on {} and {}",
                            names.node(other),
                            names.node(e.node)
                        ),
                    }),
                    Some(_) => {}
                    None => {
                        by_index_term.insert(*index, *entry_term, (*chain, i, e.node));
                    }
                }
                same_entry(&mut by_index, *index, *chain, i, e.node, &names, e.t_ns, "applied", &mut report);
            }
            _ => {}
        }
    }

    if !seen {
        return not_applicable();
    }

    // Leader completeness: the highest entry committed in an earlier term is in the leader's log.
    commits.sort_unstable();
    for &(i, node, term, log_chain) in &elections {
        let Some(&(commit_term, index, chain, j)) =
            commits.iter().filter(|c| c.0 < term).max_by_key(|c| (c.1, std::cmp::Reverse(c.3)))
        else {
            continue;
        };
        let has = log_chain.get(index as usize - 1) == Some(&chain);
        if !has {
            report(Violation {
                event: i,
                lead_up: vec![j],
                message: format!(
                    "leader completeness: {} became leader of term {term} without entry {index}, committed in term {commit_term} (its log has {} entries)",
                    names.node(node),
                    log_chain.len()
                ),
            });
        }
    }

    PropertyResult {
        property: "raft_safety",
        outcome: if first.is_some() { Outcome::Violated } else { Outcome::Holds },
        summary: format!(
            "{} elections in {} terms, {} commits, {applies} entries applied",
            elections.len(),
            leaders.len(),
            commits.len()
        ),
        violation: first,
    }
}

/// The verdict of [`raft_safety`] on a history without Raft observations.
pub fn not_applicable() -> PropertyResult {
    PropertyResult {
        property: "raft_safety",
        outcome: Outcome::NotApplicable,
        summary: "no Raft peers in this run".to_string(),
        violation: None,
    }
}

/// State machine safety: one entry per index, whoever applies or commits it.
#[allow(clippy::too_many_arguments)]
fn same_entry(
    by_index: &mut ByIndex<(u64, usize, NodeId)>,
    index: u64,
    chain: u64,
    i: usize,
    node: NodeId,
    names: &Namer,
    t_ns: u64,
    what: &str,
    report: &mut impl FnMut(Violation),
) {
    match by_index.get(index) {
        Some(&(c, j, other)) if c != chain => report(Violation {
            event: i,
            lead_up: vec![j],
            message: format!(
                "state machine safety: {} {what} a different entry at index {index} than {} (at {} ms)",
                names.node(node),
                names.node(other),
                fmt_ms(t_ns)
            ),
        }),
        Some(_) => {}
        None => {
            by_index.insert(index, (chain, i, node));
        }
    }
}

/// A map from log index to what was first seen there. Raft's indices count up from 1, so the
/// indices a run reaches are a dense vector (no tree node per applied entry, which cost more than
/// the rest of the check); an absurd index (beyond 2^22) falls back to a tree.
struct ByIndex<V> {
    dense: Vec<Option<V>>,
    sparse: BTreeMap<u64, V>,
}

impl<V> Default for ByIndex<V> {
    fn default() -> Self {
        ByIndex { dense: Vec::new(), sparse: BTreeMap::new() }
    }
}

const DENSE_INDICES: u64 = 1 << 22;

impl<V> ByIndex<V> {
    fn get(&self, index: u64) -> Option<&V> {
        if index < DENSE_INDICES {
            self.dense.get(index as usize).and_then(Option::as_ref)
        } else {
            self.sparse.get(&index)
        }
    }

    /// Record `v` at `index` (replacing what was there).
    fn insert(&mut self, index: u64, v: V) {
        if index < DENSE_INDICES {
            let i = index as usize;
            if self.dense.len() <= i {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i] = Some(v);
        } else {
            self.sparse.insert(index, v);
        }
    }
}

/// A map from (log index, entry term) to what was first seen there: the first term seen at an
/// index in a [`ByIndex`], any other term (an entry overwritten after a leader change) in a tree.
#[derive(Default)]
struct ByIndexTerm {
    first: ByIndex<(u64, (u64, usize, NodeId))>,
    others: BTreeMap<(u64, u64), (u64, usize, NodeId)>,
}

impl ByIndexTerm {
    fn get(&self, index: u64, term: u64) -> Option<&(u64, usize, NodeId)> {
        match self.first.get(index) {
            Some((t, v)) if *t == term => Some(v),
            Some(_) => self.others.get(&(index, term)),
            None => None,
        }
    }

    /// Record `v` at (`index`, `term`), which [`ByIndexTerm::get`] found empty.
    fn insert(&mut self, index: u64, term: u64, v: (u64, usize, NodeId)) {
        if self.first.get(index).is_none() {
            self.first.insert(index, (term, v));
        } else {
            self.others.insert((index, term), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dense maps behave as the trees they replace, for indices below and above the dense
    /// bound and for a second term at one index.
    #[test]
    fn by_index_maps_behave_as_trees() {
        let mut m = ByIndexTerm::default();
        let mut tree = BTreeMap::new();
        let keys = [(1, 1), (2, 1), (2, 3), (5, 2), (DENSE_INDICES + 9, 4), (2, 4), (1, 2)];
        for (n, &(index, term)) in keys.iter().enumerate() {
            assert_eq!(m.get(index, term), tree.get(&(index, term)));
            m.insert(index, term, (n as u64, n, n));
            tree.insert((index, term), (n as u64, n, n));
            for &(i, t) in &keys {
                assert_eq!(m.get(i, t), tree.get(&(i, t)), "after inserting {index}/{term}: {i}/{t}");
            }
        }
        let mut b: ByIndex<u64> = ByIndex::default();
        assert_eq!(b.get(3), None);
        b.insert(3, 30);
        b.insert(DENSE_INDICES + 1, 40);
        assert_eq!((b.get(3), b.get(2), b.get(DENSE_INDICES + 1)), (Some(&30), None, Some(&40)));
    }
}
