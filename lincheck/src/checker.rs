//! The search: Wing–Gong with Lowe's memoisation, over P-compositional partitions.
//!
//! # Data layout (why it is fast)
//!
//! For one partition (one key), operations are numbered `0..n` in call order. The
//! call and return events live in a doubly linked list stored as `u32` index arrays
//! (`next`, `prev`), with a sentinel head. Linearizing an operation unlinks its call and
//! return ("lift"); undoing relinks them in reverse order ("unlift", Knuth's dancing
//! links), so backtracking costs O(1) and never copies the history.
//!
//! The set of linearized operations is a bitset of `u64` words. A memo key does not need
//! the whole bitset: let `k` be the first operation (in call order) that *returned* and
//! is not yet linearized. Every operation before `k` that returned is linearized, and
//! no operation whose call comes after `k`'s return can be linearized yet (its call is
//! behind `k`'s return in the list). So the key is `k`, the words of the bitset from
//! `k` up to the last operation called before `k` returned (precomputed, `window_end`),
//! and the bitset of linearized never-returned operations up to that same point. For a
//! history with `c` concurrent clients that is a handful of words instead of `n / 64`,
//! which keeps a 100k-operation history's cache in memory.
//!
//! The cache is an open-addressing table of `(hash, key words, state)` with a fixed
//! Fx-style hash (no random seed: identical runs explore identical states).
//!
//! # Operations that never returned
//!
//! They have a call event and no return event, so nothing forces them to be linearized;
//! they stay in the list as candidates until the end. The search succeeds as soon as
//! every returned operation is linearized; the remaining ones "never took effect".

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::budget::{Guard, Limit};
use crate::{Operation, PointRange, Spec};

/// Largest accepted timestamp: 2^62 ns (about 146 years). Specs that do arithmetic on
/// times (the lease) stay far from overflow below it.
pub const MAX_TIME_NS: u64 = 1 << 62;

/// How many calls past the first return event [`Search::dead_end`] looks at.
const DEAD_END_LOOKAHEAD: usize = 16;

/// How many entries of a memo bucket are tried for subsumption (see `Cache::lookup_or_insert`).
const SUBSUMPTION_SCAN: usize = 32;

/// Options for [`check_with_options`].
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Wall-clock budget for the whole check. When it runs out the verdict is
    /// [`Verdict::Unknown`]. `None`: no limit.
    pub budget: Option<Duration>,
    /// Deterministic budget: the most memoised states the search of one partition (key)
    /// may create before giving up with [`Verdict::Unknown`] (per partition, so that the
    /// outcome does not depend on how partitions are scheduled over threads). `None`: no limit. Use this
    /// (not `budget`) where a result must not depend on machine speed.
    pub max_states: Option<u64>,
}

/// Everything that bounds a check, for [`check_within`].
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Time and memory budget, shared by all partitions (and, in `locklab lin`, by the
    /// parser: the clock starts before the file is read).
    pub guard: Guard,
    /// Deterministic budget: the most memoised states the search of **one partition**
    /// may create. Per partition, so that the outcome does not depend on how partitions
    /// are scheduled over threads. `None`: no limit.
    pub max_states: Option<u64>,
    /// Worker threads for the partitions: `None` uses every core (rayon's global pool),
    /// `Some(1)` checks them one after the other on the calling thread.
    pub threads: Option<usize>,
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists for every partition.
    Linearizable,
    /// Some partition has no linearization. The details are for the first such partition
    /// in key order.
    NotLinearizable(Violation),
    /// The budget ran out before the search finished, and no partition was found
    /// non-linearizable. Not a guess: nothing is known.
    Unknown,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The key (object) whose sub-history is not linearizable.
    pub key: String,
    /// The longest linearizable prefix the search found, as indices into the checked
    /// history, in linearization order.
    pub longest_prefix: Vec<usize>,
    /// The returned operations that were candidates to come next after that prefix
    /// (their calls precede the earliest outstanding return) but none of which could be
    /// placed, as indices into the checked history.
    pub unplaced: Vec<usize>,
}

/// How one partition (key) fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionOutcome {
    /// Linearizable; `linearization` is a complete linearization.
    Linearizable,
    /// Not linearizable; `linearization` is the longest linearizable prefix found.
    NotLinearizable,
    /// Budget ran out, or the partition comes after (in key order) one that was refuted
    /// and was not searched to the end; `linearization` is empty.
    Unknown,
}

/// The result for one partition, for reports and the HTML timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReport {
    /// The partition's key.
    pub key: String,
    /// Indices into the checked history of the operations on this key, in history order.
    pub ops: Vec<usize>,
    /// The outcome.
    pub outcome: PartitionOutcome,
    /// Indices into the checked history in linearization order (see [`PartitionOutcome`]).
    /// Operations that never returned and are absent "never took effect".
    pub linearization: Vec<usize>,
}

/// Search statistics (the `--stats` figures).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations checked.
    pub ops: usize,
    /// Partitions (keys).
    pub partitions: usize,
    /// Calls of [`Spec::step`].
    pub steps: u64,
    /// Distinct `(linearized set, state)` nodes created: the states explored.
    pub states: u64,
    /// Candidate nodes skipped because they were already in the cache.
    pub cache_hits: u64,
    /// Wall time of the check.
    pub elapsed: Duration,
    /// The budget that ran out, when the verdict is [`Verdict::Unknown`].
    pub limit: Option<Limit>,
}

/// Verdict, per-partition details and statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// The verdict.
    pub verdict: Verdict,
    /// One report per key, in key order.
    pub partitions: Vec<PartitionReport>,
    /// Statistics.
    pub stats: Stats,
}

/// A history the checker cannot interpret (a programming or recording error, not a
/// linearizability violation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHistory {
    /// Index of the offending operation in the history.
    pub index: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation {}: {}", self.index, self.reason)
    }
}

impl std::error::Error for InvalidHistory {}

/// Check `history` against `spec` within an optional wall-clock `budget`.
///
/// Returns `Err` only for histories that make no sense (a return before its call, an
/// output without a return time, a timestamp above [`MAX_TIME_NS`]).
pub fn check<S: Spec>(
    spec: &S,
    history: &[Operation<S::Input, S::Output>],
    budget: Option<Duration>,
) -> Result<CheckResult, InvalidHistory> {
    check_with_options(spec, history, &CheckOptions { budget, max_states: None })
}

/// [`check`] with a wall-clock budget and a deterministic state budget (per partition,
/// see [`Limits::max_states`]); partitions are checked on every core.
pub fn check_with_options<S: Spec>(
    spec: &S,
    history: &[Operation<S::Input, S::Output>],
    options: &CheckOptions,
) -> Result<CheckResult, InvalidHistory> {
    let limits = Limits { guard: Guard::new(options.budget, None), max_states: options.max_states, threads: None };
    check_within(spec, history, &limits)
}

/// How one partition's search ended.
struct PartitionRun {
    outcome: Outcome,
    steps: u64,
    states: u64,
    cache_hits: u64,
}

/// [`check`] within [`Limits`]: time, memory, states and threads.
///
/// Partitions (keys) are searched concurrently. When one is refuted, the partitions
/// after it in key order are cancelled (reported [`PartitionOutcome::Unknown`]); those
/// before it run on, so the violation reported is always the first refuted partition in
/// key order, whatever the scheduling, and every partition after it is reported
/// [`PartitionOutcome::Unknown`]. Under `max_states` alone, the verdict and the partition
/// reports are the same on every machine and for every thread count (the statistics,
/// which count work done by cancelled searches, are not).
pub fn check_within<S: Spec>(
    spec: &S,
    history: &[Operation<S::Input, S::Output>],
    limits: &Limits,
) -> Result<CheckResult, InvalidHistory> {
    let started = Instant::now();
    let prepared = Prepared::new(history)?;
    let mut result = prepared.check(spec, limits);
    result.stats.elapsed = started.elapsed();
    Ok(result)
}

/// A history validated and split into partitions (keys) once, to be checked against several
/// specs: `locklab run` checks each lock history as a lease and, for its summary, as a plain
/// mutex. Each partition's search skeleton — its lists of call and return events, which depend
/// on the operations' times and on which never-returned operations the spec finds
/// interchangeable, and on nothing else — is built by the first check and reused by every later
/// one whose spec makes the same pruning decisions there (checked each time: a spec that
/// decides otherwise gets a skeleton of its own). Results are exactly those of
/// [`check_within`] on the same history.
pub struct Prepared<'h, I, O> {
    history: &'h [Operation<I, O>],
    /// One per key, in key order.
    parts: Vec<Part<'h>>,
    /// Each partition's skeleton, once built.
    skeletons: Vec<OnceLock<Skeleton>>,
}

/// The operations of one key.
struct Part<'h> {
    key: &'h str,
    /// Indices into the history, in history order (as [`PartitionReport::ops`]).
    ops: Vec<usize>,
    /// The same, in call order (ties by index): the search's numbering.
    by_call: Vec<usize>,
}

impl<'h, I, O> Prepared<'h, I, O> {
    /// Validates `history` and splits it by key. Fails as [`check`] does on a history that
    /// makes no sense.
    pub fn new(history: &'h [Operation<I, O>]) -> Result<Self, InvalidHistory> {
        validate(history)?;
        // P-compositionality: one partition per key.
        let parts: Vec<Part<'h>> = partition(history)
            .into_iter()
            .map(|(key, ops)| {
                let mut by_call = ops.clone();
                // Recorded histories are usually in call order already.
                if !by_call.is_sorted_by_key(|&i| (history[i].call_ns, i)) {
                    by_call.sort_by_key(|&i| (history[i].call_ns, i));
                }
                Part { key, ops, by_call }
            })
            .collect();
        let skeletons = parts.iter().map(|_| OnceLock::new()).collect();
        Ok(Prepared { history, parts, skeletons })
    }

    /// [`check_within`] against `spec` (the time budget starts with this call).
    pub fn check<S: Spec<Input = I, Output = O>>(&self, spec: &S, limits: &Limits) -> CheckResult
    where
        I: Clone + Sync,
        O: Clone + Sync,
    {
        let started = Instant::now();
        let history = self.history;
        // Crashed operations renamed as the spec allows: copies of those few, by history index.
        let renamed = renamed_ops(spec, history, self.parts.iter().map(|p| p.ops.as_slice()));

        // Index of the first refuted partition found so far; partitions after it stop.
        let refuted = AtomicUsize::new(usize::MAX);
        let run_one = |index: usize, part: &Part| -> Option<PartitionRun> {
            if refuted.load(Ordering::Relaxed) < index {
                return None;
            }
            // Holds this search's own skeleton when the shared one embodies other decisions.
            let spare = OnceLock::new();
            let mut search = Search::new(spec, history, &renamed, &part.by_call, &self.skeletons[index], &spare);
            let cancelled = || refuted.load(Ordering::Relaxed) < index;
            let outcome = search.run(&limits.guard, limits.max_states, &cancelled);
            if matches!(outcome, Outcome::NotLinearizable(_)) {
                refuted.fetch_min(index, Ordering::Relaxed);
            }
            if matches!(outcome, Outcome::Cancelled) {
                return None;
            }
            Some(PartitionRun { outcome, steps: search.steps, states: search.states, cache_hits: search.cache_hits })
        };
        let parts = &self.parts;
        let runs: Vec<Option<PartitionRun>> = match limits.threads {
            _ if parts.len() <= 1 => parts.iter().enumerate().map(|(i, part)| run_one(i, part)).collect(),
            Some(1) => parts.iter().enumerate().map(|(i, part)| run_one(i, part)).collect(),
            None => parts.par_iter().enumerate().map(|(i, part)| run_one(i, part)).collect(),
            Some(threads) => {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
                match pool {
                    Ok(pool) => {
                        pool.install(|| parts.par_iter().enumerate().map(|(i, part)| run_one(i, part)).collect())
                    }
                    Err(_) => parts.iter().enumerate().map(|(i, part)| run_one(i, part)).collect(),
                }
            }
        };

        let mut stats = Stats { ops: history.len(), partitions: parts.len(), ..Stats::default() };
        let mut verdict = Verdict::Linearizable;
        let mut partitions = Vec::with_capacity(parts.len());
        for (Part { key, ops, .. }, run) in parts.iter().zip(runs) {
            let ops = ops.clone();
            let unknown = |ops| PartitionReport {
                key: key.to_string(),
                ops,
                outcome: PartitionOutcome::Unknown,
                linearization: Vec::new(),
            };
            let Some(run) = run else {
                partitions.push(unknown(ops));
                continue;
            };
            stats.steps += run.steps;
            stats.states += run.states;
            stats.cache_hits += run.cache_hits;
            let already_refuted = matches!(verdict, Verdict::NotLinearizable(_));
            if already_refuted {
                // Whether this key was cancelled or finished first depends on scheduling:
                // report it as not searched either way, so the result does not.
                partitions.push(unknown(ops));
                continue;
            }
            let report = match run.outcome {
                Outcome::Linearizable(order) => PartitionReport {
                    key: key.to_string(),
                    ops,
                    outcome: PartitionOutcome::Linearizable,
                    linearization: order,
                },
                Outcome::NotLinearizable(prefix) => {
                    if !already_refuted {
                        let unplaced = frontier(history, &ops, &prefix);
                        verdict = Verdict::NotLinearizable(Violation {
                            key: key.to_string(),
                            longest_prefix: prefix.clone(),
                            unplaced,
                        });
                    }
                    PartitionReport {
                        key: key.to_string(),
                        ops,
                        outcome: PartitionOutcome::NotLinearizable,
                        linearization: prefix,
                    }
                }
                Outcome::Unknown(limit) => {
                    if !already_refuted {
                        verdict = Verdict::Unknown;
                        stats.limit = stats.limit.or(Some(limit));
                    }
                    unknown(ops)
                }
                Outcome::Cancelled => unknown(ops),
            };
            partitions.push(report);
        }
        if matches!(verdict, Verdict::NotLinearizable(_)) {
            stats.limit = None;
            // A refutation wins over a budget that ran out elsewhere.
        }
        stats.elapsed = started.elapsed();
        CheckResult { verdict, partitions, stats }
    }
}

/// The spec's state after each operation of `order` (a partition's linearization, or the
/// longest linearizable prefix), replayed from the spec's initial state exactly as the search
/// placed them: the same renaming of crashed processes, and at each step the same bound on
/// the linearization point (the earliest return among the returned operations of `ops` not yet
/// placed). Returns `None` if some step is illegal, which means `order` is not one the
/// search produced. Costs O(n log n) spec steps; the search itself is untouched, so the HTML
/// timeline that wants these states pays for them only when it is asked for.
pub fn replay<S: Spec>(
    spec: &S,
    history: &[Operation<S::Input, S::Output>],
    ops: &[usize],
    order: &[usize],
) -> Option<Vec<S::State>> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    if let Some(&first) = ops.first() {
        by_key.insert(history[first].key.as_str(), ops.to_vec());
    }
    let renamed = renamed_ops(spec, history, by_key.values().map(Vec::as_slice));
    let anonymized = (!renamed.is_empty()).then(|| {
        let mut copy = history.to_vec();
        for (i, op) in &renamed {
            copy[*i] = op.clone();
        }
        copy
    });
    let history = anonymized.as_deref().unwrap_or(history);
    // Returned operations not yet placed, by return time.
    let mut open: std::collections::BTreeSet<(u64, usize)> = ops
        .iter()
        .filter(|&&i| history[i].returned())
        .map(|&i| (history[i].return_ns.unwrap_or(u64::MAX), i))
        .collect();
    let mut state = spec.init();
    let mut states = Vec::with_capacity(order.len());
    for &i in order {
        let op = history.get(i)?;
        let latest_ns = open.first().map_or(u64::MAX, |&(r, _)| r);
        let range = PointRange { earliest_ns: op.call_ns, latest_ns };
        state = spec.step(&state, op, range)?;
        if op.returned() {
            open.remove(&(op.return_ns.unwrap_or(u64::MAX), i));
        }
        states.push(state.clone());
    }
    Some(states)
}

/// The history's operations by key, each list in history order. A run of consecutive operations
/// on one key (a single-lock history is one run) costs one map lookup, not one per operation.
fn partition<I, O>(history: &[Operation<I, O>]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut start = 0;
    for end in 1..=history.len() {
        if end == history.len() || history[end].key != history[start].key {
            by_key.entry(history[start].key.as_str()).or_default().extend(start..end);
            start = end;
        }
    }
    by_key
}

/// An operation of a spec's history.
type SpecOp<S> = Operation<<S as Spec>::Input, <S as Spec>::Output>;
/// Renamed copies of operations, by history index (see [`renamed_ops`]).
type Renamed<S> = Vec<(usize, SpecOp<S>)>;

/// The crashed operations whose process the spec renames ([`Spec::anonymous_process`]), as
/// copies with the new process, sorted by history index (empty if nothing is renamed). The
/// search reads these in place of the originals: the history itself is never copied.
fn renamed_ops<'a, S: Spec>(
    spec: &S,
    history: &[Operation<S::Input, S::Output>],
    parts: impl Iterator<Item = &'a [usize]>,
) -> Renamed<S> {
    let mut renames: Vec<(usize, u64)> = Vec::new();
    for ops in parts {
        // Per process: its last operation by call time, and how many never returned.
        let mut per_process: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
        for &i in ops {
            let entry = per_process.entry(history[i].process).or_insert((i, 0));
            if (history[i].call_ns, i) >= (history[entry.0].call_ns, entry.0) {
                entry.0 = i;
            }
            if !history[i].returned() {
                entry.1 += 1;
            }
        }
        for (last, crashed) in per_process.into_values() {
            if crashed == 1 && !history[last].returned() {
                if let Some(id) = spec.anonymous_process(&history[last]) {
                    renames.push((last, id));
                }
            }
        }
    }
    renames.sort_unstable_by_key(|&(i, _)| i);
    renames
        .into_iter()
        .map(|(i, id)| {
            let mut op = history[i].clone();
            op.process = id;
            (i, op)
        })
        .collect()
}

fn validate<I, O>(history: &[Operation<I, O>]) -> Result<(), InvalidHistory> {
    for (index, op) in history.iter().enumerate() {
        let bad = |reason: String| Err(InvalidHistory { index, reason });
        if op.call_ns > MAX_TIME_NS {
            return bad(format!("call_ns {} exceeds 2^62", op.call_ns));
        }
        match (op.return_ns, op.output.is_some()) {
            (None, true) => return bad("has an output but no return_ns".into()),
            (Some(r), true) if r < op.call_ns => return bad(format!("return_ns {r} is before call_ns {}", op.call_ns)),
            (Some(r), _) if r > MAX_TIME_NS => return bad(format!("return_ns {r} exceeds 2^62")),
            _ => {}
        }
    }
    Ok(())
}

/// The returned operations not in `prefix` whose calls precede the earliest return
/// among the returned operations not in `prefix`.
fn frontier<I, O>(history: &[Operation<I, O>], ops: &[usize], prefix: &[usize]) -> Vec<usize> {
    let mut placed = vec![false; history.len()];
    for &i in prefix {
        placed[i] = true;
    }
    let remaining: Vec<usize> = ops.iter().copied().filter(|&i| !placed[i] && history[i].returned()).collect();
    let Some(first_return_ns) = remaining.iter().filter_map(|i| history[*i].return_ns).min() else {
        return Vec::new();
    };
    remaining.into_iter().filter(|i| history[*i].call_ns <= first_return_ns).collect()
}

/// Sorts `v`, in time linear in its length plus its inversions while those stay few: a
/// history's returns in call order are out of order only among overlapping operations, so
/// insertion sort beats a general sort there. Past a budget of moves it hands over to
/// `sort_unstable` (O(n log n) whatever the input).
fn sort_nearly_sorted(v: &mut [u128]) {
    let mut budget = 8 * v.len() + 64;
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
            budget -= 1;
            if budget == 0 {
                v[j] = x;
                v.sort_unstable();
                return;
            }
        }
        v[j] = x;
    }
}

enum Outcome {
    Linearizable(Vec<usize>),
    NotLinearizable(Vec<usize>),
    Unknown(Limit),
    /// Another partition earlier in key order was refuted.
    Cancelled,
}

const NIL: u32 = u32::MAX;
/// Sentinel of the list of returned ops' call and return events.
const HEAD: u32 = 0;
/// Sentinel of the list of never-returned ops' call events.
const INFO_HEAD: u32 = 1;
/// Tail sentinel of that list.
const INFO_TAIL: u32 = 2;

/// Fx-style hasher (the rustc hash) with a final avalanche, fixed and seedless.
#[derive(Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

struct CacheEntry<S> {
    hash: u64,
    /// `first_open` and the window of the returned-ops bitset.
    words_start: usize,
    words_len: u32,
    /// The never-returned ops linearized so far.
    info_start: usize,
    info_len: u32,
    /// Next entry with the same words and cover hash (a bucket), or NIL.
    next: u32,
    /// On the current search path (not yet known to fail).
    in_progress: bool,
    state: S,
}

/// The memo: buckets of explored nodes with the same returned-ops set and cover hash.
///
/// A candidate node `(returned set R, never-returned set I, state s)` is skipped when a
/// node `(R, I', s')` with `I' ⊆ I` and `s'` covering `s` ([`Spec::covers`]) has been
/// searched in full: every continuation from the candidate is one from that node too
/// (the extra never-returned ops are optional there). Nodes still on the search path
/// are never used to skip, so "searched in full" always means "has no successful
/// continuation" and the pruning stays complete.
struct Cache<S> {
    table: Vec<u32>,
    entries: Vec<CacheEntry<S>>,
    words: Vec<u64>,
}

enum Lookup {
    Covered,
    Inserted(u32),
}

impl<S> Cache<S> {
    /// A cache sized for `ops` operations: a search that succeeds creates at least one
    /// entry per operation, and recorded lock histories about 1.2–1.6 (a key and its
    /// never-returned set take three or four words), so reserving that much up front saves the
    /// copies of growing. (Reserved pages that are never written are not resident.)
    fn new(ops: usize) -> Self {
        Cache {
            table: vec![0; 1024],
            entries: Vec::with_capacity(ops + ops / 2 + 16),
            words: Vec::with_capacity(4 * ops + 64),
        }
    }

    fn lookup_or_insert<Sp: Spec<State = S>>(&mut self, spec: &Sp, key: &[u64], info: &[u64], state: &S) -> Lookup
    where
        S: Clone,
    {
        let mut hasher = FxHasher::default();
        for w in key {
            hasher.add(*w);
        }
        spec.cover_hash(state, &mut hasher);
        let hash = hasher.finish();
        let mask = self.table.len() - 1;
        let mut slot = (hash as usize) & mask;
        let mut head = NIL;
        loop {
            let e = self.table[slot];
            if e == 0 {
                break;
            }
            let entry = &self.entries[(e - 1) as usize];
            if entry.hash == hash
                && entry.words_len as usize == key.len()
                && self.words[entry.words_start..entry.words_start + key.len()] == *key
            {
                head = e - 1;
                break;
            }
            slot = (slot + 1) & mask;
        }
        // Only the newest SUBSUMPTION_SCAN entries of a bucket are tried for subsumption: a
        // bucket can hold thousands of nodes that differ in their never-returned ops, and a
        // full scan made each step quadratic. Skipping a check only costs re-exploration.
        let mut cursor = head;
        let mut scanned = 0;
        while cursor != NIL && scanned < SUBSUMPTION_SCAN {
            scanned += 1;
            let entry = &self.entries[cursor as usize];
            if !entry.in_progress && entry.info_len as usize == info.len() {
                let theirs = &self.words[entry.info_start..entry.info_start + info.len()];
                if theirs.iter().zip(info).all(|(t, m)| t & !m == 0) && spec.covers(&entry.state, state) {
                    return Lookup::Covered;
                }
            }
            cursor = entry.next;
        }
        let index = self.entries.len();
        assert!(index < (u32::MAX - 1) as usize, "memo cache exceeds 2^32 entries");
        let words_start = self.words.len();
        self.words.extend_from_slice(key);
        let info_start = self.words.len();
        self.words.extend_from_slice(info);
        self.entries.push(CacheEntry {
            hash,
            words_start,
            words_len: key.len() as u32,
            info_start,
            info_len: info.len() as u32,
            next: head,
            in_progress: true,
            state: state.clone(),
        });
        self.table[slot] = index as u32 + 1;
        if head == NIL && self.entries.len() * 2 > self.table.len() {
            self.grow();
        }
        Lookup::Inserted(index as u32)
    }

    /// The state of `entry`'s node.
    fn state(&self, entry: u32) -> &S {
        &self.entries[entry as usize].state
    }

    fn finished(&mut self, entry: u32) {
        self.entries[entry as usize].in_progress = false;
    }

    /// Rehash bucket heads (entries that no later entry points to).
    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let mask = size - 1;
        let mut is_head = vec![true; self.entries.len()];
        for entry in &self.entries {
            if entry.next != NIL {
                is_head[entry.next as usize] = false;
            }
        }
        let mut table = vec![0u32; size];
        for (i, entry) in self.entries.iter().enumerate() {
            if !is_head[i] {
                continue;
            }
            let mut slot = (entry.hash as usize) & mask;
            while table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = i as u32 + 1;
        }
        self.table = table;
    }
}

/// One linearized op on the search path. The state before it is not stored: it is the state the
/// frame below entered, kept in that frame's cache entry (the spec's initial state for the first
/// frame), so a step copies one state (into the memo) rather than two.
struct Frame {
    node: u32,
    first_open: u32,
    /// The cache entry of the node this frame entered (NIL for the final one).
    entry: u32,
}

/// The skeleton of one partition's search (see [`Prepared`]): everything but the spec and the
/// state of the search. Node numbering: node 0 heads the main list, nodes 1 and 2 head and end
/// the list of never-returned ops' calls, the events follow in time order.
#[derive(Clone)]
struct Skeleton {
    /// Linked lists over nodes as built (a search works on copies).
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Node -> partition op.
    node_op: Vec<u32>,
    /// Call node -> its return node (NIL if it never returned); return node -> NIL.
    node_return: Vec<u32>,
    node_is_call: Vec<bool>,
    /// Node -> position in event order.
    node_pos: Vec<u32>,
    /// Bit per op as a search starts: never-returned ops set.
    done: Vec<u64>,
    /// Number of never-returned ops.
    infos: u32,
    /// Op -> its index among never-returned ops.
    info_rank: Vec<u32>,
    /// Call node of a never-returned op -> call node of the next op of its chain, or NIL.
    info_succ: Vec<u32>,
    /// Returned op k -> last op whose call is not after k's return.
    window_end: Vec<u32>,
    /// Returned op k -> number of `info_done` words in a key with first_open = k.
    info_words: Vec<u32>,
    n: u32,
    /// The spec's decisions the skeleton embodies: each never-returned op's predecessor in its
    /// chain of interchangeable ops (NIL: none, or the op returned), and whether every op is
    /// monotone.
    info_pred: Vec<u32>,
    monotone: bool,
}

/// The search over one partition.
struct Search<'h, S: Spec> {
    spec: &'h S,
    /// The partition's shared skeleton, or this search's own (see [`Search::new`]); a plain
    /// reference, not a `Cow`: the search reads it on every step.
    skel: &'h Skeleton,
    /// Partition op (call order) -> the operation (renamed, for a crashed one the spec renames).
    ops: Vec<&'h Operation<S::Input, S::Output>>,
    /// Partition op (call order) -> index in the checked history.
    op_index: &'h [usize],
    /// The linked lists: node 0 is the head; call and return events follow.
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Bit per op: returned ops set when linearized; never-returned ops always set.
    done: Vec<u64>,
    /// Bit per never-returned op (numbered separately): set when linearized.
    info_done: Vec<u64>,
    steps: u64,
    states: u64,
    cache_hits: u64,
}

/// Each never-returned op's predecessor in its chain of interchangeable ops (NIL: none, or the
/// op returned), in call order: one representative (the latest op so far) per class.
fn chains<S: Spec>(spec: &S, ops: &[&Operation<S::Input, S::Output>]) -> Vec<u32> {
    let mut info_pred = vec![NIL; ops.len()];
    let mut classes: Vec<u32> = Vec::new();
    for (u, pred) in info_pred.iter_mut().enumerate() {
        if ops[u].returned() {
            continue;
        }
        match classes.iter_mut().find(|v| spec.interchangeable(ops[**v as usize], ops[u])) {
            Some(v) => {
                *pred = *v;
                *v = u as u32;
            }
            None => classes.push(u as u32),
        }
    }
    info_pred
}

impl Skeleton {
    /// The skeleton for `ops` (in call order) with the spec's decisions `info_pred` (see
    /// [`chains`]) and `monotone`.
    fn new<I, O>(ops: &[&Operation<I, O>], info_pred: Vec<u32>, monotone: bool) -> Self {
        let n = ops.len();
        assert!(n < (u32::MAX / 2 - 2) as usize, "partition too large");
        // Events sorted by time; calls before returns at equal times (concurrent).
        // Calls are already in that order (ops are numbered by call); only the returns need
        // sorting, then the two runs merge (the same total order as sorting everything).
        // A return is packed as `return_ns << 32 | op`, so sorting the words sorts by (time, op).
        let mut returns: Vec<u128> = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.returned())
            .map(|(u, o)| ((o.return_ns.expect("validated") as u128) << 32) | u as u128)
            .collect();
        sort_nearly_sorted(&mut returns);
        let ret_ns = |r: u128| (r >> 32) as u64;
        let ret_op = |r: u128| r as u32;

        // Node 0 heads the main list (returned ops' calls and returns), in event order.
        // Node 1 heads the list of never-returned ops' calls: only the first op of each
        // chain of interchangeable ones is in it at first; placing an op puts its chain
        // successor in its place ([`Search::lift`]), so a scan visits one op per class.
        let nodes = n + returns.len() + 3;
        let mut next = vec![NIL; nodes];
        let mut prev = vec![NIL; nodes];
        let mut node_op = vec![NIL; nodes];
        let mut node_return = vec![NIL; nodes];
        let mut node_is_call = vec![false; nodes];
        let mut node_pos = vec![0u32; nodes];
        let mut call_node = vec![NIL; n];
        let (mut main_tail, mut info_tail) = (HEAD, INFO_HEAD);
        let mut pending = returns.iter().copied().peekable();
        let mut i = 0usize;
        for u in 0..=n {
            // The returns before call `u` (all the remaining ones after the last call).
            while let Some(ret) = pending.next_if(|&r| u == n || ret_ns(r) < ops[u].call_ns) {
                let node = i as u32 + 3;
                let v = ret_op(ret);
                prev[node as usize] = main_tail;
                next[main_tail as usize] = node;
                main_tail = node;
                node_op[node as usize] = v;
                node_pos[node as usize] = i as u32;
                node_return[call_node[v as usize] as usize] = node;
                i += 1;
            }
            if u == n {
                break;
            }
            let node = i as u32 + 3;
            let info = !ops[u].returned();
            if !info || info_pred[u] == NIL {
                let tail = if info { &mut info_tail } else { &mut main_tail };
                prev[node as usize] = *tail;
                next[*tail as usize] = node;
                *tail = node;
            }
            node_op[node as usize] = u as u32;
            node_pos[node as usize] = i as u32;
            node_is_call[node as usize] = true;
            call_node[u] = node;
            i += 1;
        }

        next[info_tail as usize] = INFO_TAIL;
        prev[INFO_TAIL as usize] = info_tail;
        node_pos[INFO_TAIL as usize] = u32::MAX;
        // Never-returned op's call node -> the call node of its chain successor.
        let mut info_succ = vec![NIL; nodes];
        for (u, &pred) in info_pred.iter().enumerate() {
            if pred != NIL {
                info_succ[call_node[pred as usize] as usize] = call_node[u];
            }
        }

        let words = n.div_ceil(64).max(1);
        let mut done = vec![0u64; words];
        let mut info_rank = vec![NIL; n];
        let mut infos = 0u32;
        for (u, rank) in info_rank.iter_mut().enumerate() {
            if !ops[u].returned() {
                done[u / 64] |= 1 << (u % 64);
                *rank = infos;
                infos += 1;
            }
        }
        // For each returned op, in return order: the last op called by its return, and how
        // many never-returned ops are among those (one sweep, as both only grow).
        let mut window_end = vec![0u32; n];
        let mut info_words = vec![0u32; n];
        let (mut called, mut infos_called) = (0usize, 0u32);
        for &ret in &returns {
            while called < n && ops[called].call_ns <= ret_ns(ret) {
                if !ops[called].returned() {
                    infos_called += 1;
                }
                called += 1;
            }
            // At least the op itself was called by its return (validated: return >= call).
            window_end[ret_op(ret) as usize] = called as u32 - 1;
            info_words[ret_op(ret) as usize] = infos_called.div_ceil(64);
        }
        Skeleton {
            next,
            prev,
            node_op,
            node_return,
            node_is_call,
            node_pos,
            done,
            infos,
            info_rank,
            info_succ,
            window_end,
            info_words,
            n: n as u32,
            info_pred,
            monotone,
        }
    }
}

impl<'h, S: Spec> Search<'h, S> {
    /// The search over the operations `by_call` (indices into `history`, in call order) of one
    /// key; `renamed` replaces some of them (see [`renamed_ops`]). Uses the partition's skeleton
    /// in `built` if it was built for the same decisions this spec makes, and stores the one it
    /// builds there if there is none yet; a skeleton of its own (another spec's is there) goes in
    /// `spare`.
    fn new(
        spec: &'h S,
        history: &'h [Operation<S::Input, S::Output>],
        renamed: &'h [(usize, SpecOp<S>)],
        by_call: &'h [usize],
        built: &'h OnceLock<Skeleton>,
        spare: &'h OnceLock<Skeleton>,
    ) -> Self {
        let ops: Vec<&Operation<S::Input, S::Output>> = by_call
            .iter()
            .map(|&i| match renamed.binary_search_by_key(&i, |(j, _)| *j) {
                Ok(k) => &renamed[k].1,
                Err(_) => &history[i],
            })
            .collect();
        let info_pred = chains(spec, &ops);
        let monotone = ops.iter().all(|o| spec.monotone(o));
        let fits = |skel: &Skeleton| skel.info_pred == info_pred && skel.monotone == monotone;
        let skel = match built.get() {
            Some(skel) if fits(skel) => skel,
            Some(_) => spare.get_or_init(|| Skeleton::new(&ops, info_pred, monotone)),
            None => {
                let skel = built.get_or_init(|| Skeleton::new(&ops, info_pred.clone(), monotone));
                if fits(skel) {
                    skel
                } else {
                    // Another thread's spec got there first (not a case `check` produces).
                    spare.get_or_init(|| Skeleton::new(&ops, info_pred, monotone))
                }
            }
        };
        Search {
            spec,
            next: skel.next.clone(),
            prev: skel.prev.clone(),
            done: skel.done.clone(),
            info_done: vec![0u64; (skel.infos as usize).div_ceil(64).max(1)],
            skel,
            ops,
            op_index: by_call,
            steps: 0,
            states: 0,
            cache_hits: 0,
        }
    }

    #[inline]
    fn unlink(&mut self, node: u32) {
        let (p, nx) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = nx;
        if nx != NIL {
            self.prev[nx as usize] = p;
        }
    }

    #[inline]
    fn relink(&mut self, node: u32) {
        let (p, nx) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = node;
        if nx != NIL {
            self.prev[nx as usize] = node;
        }
    }

    /// Puts `new` where `old` is in its list (`old` keeps its links, for [`Self::unlift`]).
    fn replace(&mut self, old: u32, new: u32) {
        let (p, nx) = (self.prev[old as usize], self.next[old as usize]);
        self.prev[new as usize] = p;
        self.next[new as usize] = nx;
        self.next[p as usize] = new;
        if nx != NIL {
            self.prev[nx as usize] = new;
        }
    }

    fn lift(&mut self, call: u32) {
        let succ = self.skel.info_succ[call as usize];
        if succ != NIL {
            // A never-returned op: the next of its chain takes its place.
            self.replace(call, succ);
            return;
        }
        self.unlink(call);
        let ret = self.skel.node_return[call as usize];
        if ret != NIL {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: u32) {
        let succ = self.skel.info_succ[call as usize];
        if succ != NIL {
            self.replace(succ, call);
            return;
        }
        let ret = self.skel.node_return[call as usize];
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    /// With monotone ops only: true if a returned op that must still be linearized
    /// can never become legal from `state` ([`Spec::unreachable`]). Every later state is
    /// above `state`, so no continuation of this node can linearize that op. Checked:
    /// the ops of the main list (every one of them returned and is not yet linearized)
    /// up to the first return event and [`DEAD_END_LOOKAHEAD`] calls beyond it — far
    /// enough to meet the next get, which is what kills a crashed append placed where it
    /// never took effect.
    fn dead_end(&self, state: &S::State) -> bool {
        let mut node = self.next[HEAD as usize];
        let mut beyond: Option<usize> = None;
        while node != NIL {
            if self.skel.node_is_call[node as usize] {
                let u = self.skel.node_op[node as usize];
                let op = self.ops[u as usize];
                if self.spec.unreachable(state, op) {
                    return true;
                }
                if let Some(count) = beyond.as_mut() {
                    *count += 1;
                    if *count >= DEAD_END_LOOKAHEAD {
                        return false;
                    }
                }
            } else if beyond.is_none() {
                beyond = Some(0);
            }
            node = self.next[node as usize];
        }
        false
    }

    #[inline]
    fn is_done(&self, u: u32) -> bool {
        self.done[(u / 64) as usize] & (1 << (u % 64)) != 0
    }

    /// First op at or after `from` whose done bit is clear (`n` if none).
    fn first_open_from(&self, from: u32) -> u32 {
        let mut word = (from / 64) as usize;
        if word >= self.done.len() {
            return self.skel.n;
        }
        let mut bits = !self.done[word] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                let u = word as u32 * 64 + bits.trailing_zeros();
                return u.min(self.skel.n);
            }
            word += 1;
            if word >= self.done.len() {
                return self.skel.n;
            }
            bits = !self.done[word];
        }
    }

    /// The memo key of the returned-ops set (see the module docs).
    fn key(&self, first_open: u32, buf: &mut Vec<u64>) {
        buf.clear();
        buf.push(first_open as u64);
        let lo = (first_open / 64) as usize;
        let hi = (self.skel.window_end[first_open as usize] / 64) as usize;
        buf.extend_from_slice(&self.done[lo..=hi]);
    }

    /// The words of the never-returned-ops set that can be non-zero.
    fn info_key(&self, first_open: u32) -> &[u64] {
        &self.info_done[..self.skel.info_words[first_open as usize] as usize]
    }

    fn ops_of(&self, frames: &[Frame]) -> Vec<usize> {
        frames.iter().map(|f| self.op_index[self.skel.node_op[f.node as usize] as usize]).collect()
    }

    /// Event position and time of the first return event in the main list
    /// (`u32::MAX - 1` and `u64::MAX` if none).
    fn first_return(&self) -> (u32, u64) {
        let mut node = self.next[HEAD as usize];
        while node != NIL && self.skel.node_is_call[node as usize] {
            node = self.next[node as usize];
        }
        if node == NIL {
            (u32::MAX - 1, u64::MAX)
        } else {
            let op = self.ops[self.skel.node_op[node as usize] as usize];
            (self.skel.node_pos[node as usize], op.return_ns.unwrap_or(u64::MAX))
        }
    }

    /// The depth-first search. Candidates are tried in two phases: first the calls of
    /// returned ops ahead of the first return event (the Wing–Gong candidates), then
    /// the never-returned ops called before that return, in call order (trying the most
    /// recent first was measured to be much slower on register histories). Trying the optional ops last
    /// means a history in which crashed ops need not take effect is linearized without
    /// ever placing them; when a dead end needs one, backtracking tries the ones nearest
    /// the dead end first. The order affects speed only, never the verdict.
    fn run(&mut self, guard: &Guard, max_states: Option<u64>, cancelled: &dyn Fn() -> bool) -> Outcome {
        let mut first_open = self.first_open_from(0);
        if first_open >= self.skel.n {
            return Outcome::Linearizable(Vec::new());
        }
        // A successful search goes n frames deep: reserve that (growing copied every frame).
        let mut cache: Cache<S::State> = Cache::new(self.skel.n as usize);
        let mut stack: Vec<Frame> = Vec::with_capacity(self.skel.n as usize + 1);
        let mut state = self.spec.init();
        let mut key = Vec::new();
        // Longest prefix seen, kept incrementally: `best` agrees with `stack` on its
        // first `agree` frames, so recording a new best copies only the new tail.
        let mut best: Vec<u32> = Vec::with_capacity(self.skel.n as usize);
        let mut agree = 0usize;
        let mut node = self.next[HEAD as usize];
        // u32::MAX while scanning the main list; otherwise scanning never-returned ops
        // whose calls come before this event position.
        const MAIN: u32 = u32::MAX;
        let crashed_first = self.spec.crashed_first();
        let mut info_limit = MAIN;
        if crashed_first {
            info_limit = self.first_return().0;
            node = self.next[INFO_HEAD as usize];
        }
        // Upper bound of any linearization point at this search node.
        let mut latest_ns = self.first_return().1;
        let mut iterations: u64 = 0;
        // Set on entering a node that `dead_end` proves hopeless: backtrack at once.
        let mut hopeless = false;
        loop {
            if iterations.is_multiple_of(1024) {
                if let Err(limit) = guard.check() {
                    return Outcome::Unknown(limit);
                }
                if max_states.is_some_and(|max| self.states >= max) {
                    return Outcome::Unknown(Limit::States);
                }
                if cancelled() {
                    return Outcome::Cancelled;
                }
            }
            iterations += 1;

            let candidate = if hopeless {
                hopeless = false;
                false
            } else if info_limit == MAIN {
                if node != NIL && self.skel.node_is_call[node as usize] {
                    true
                } else if crashed_first {
                    false
                } else {
                    // Reached the first return: switch to the never-returned ops.
                    info_limit = if node == NIL { u32::MAX - 1 } else { self.skel.node_pos[node as usize] };
                    node = self.next[INFO_HEAD as usize];
                    continue;
                }
            } else if node != INFO_TAIL && self.skel.node_pos[node as usize] >= info_limit {
                // Called after the first return: not a candidate yet. (Chain successors
                // take their predecessor's place, so the list is not in call order.)
                node = self.next[node as usize];
                continue;
            } else if node != INFO_TAIL {
                true
            } else if crashed_first {
                info_limit = MAIN;
                node = self.next[HEAD as usize];
                continue;
            } else {
                false
            };

            if candidate {
                let u = self.skel.node_op[node as usize];
                let op = self.ops[u as usize];
                self.steps += 1;
                let range = PointRange { earliest_ns: op.call_ns, latest_ns };
                let Some(new_state) = self.spec.step(&state, op, range) else {
                    node = self.next[node as usize];
                    continue;
                };
                let new_first_open = if op.returned() {
                    self.done[(u / 64) as usize] |= 1 << (u % 64);
                    if u == first_open {
                        self.first_open_from(u + 1)
                    } else {
                        first_open
                    }
                } else {
                    let r = self.skel.info_rank[u as usize];
                    self.info_done[(r / 64) as usize] |= 1 << (r % 64);
                    first_open
                };
                if new_first_open >= self.skel.n {
                    stack.push(Frame { node, first_open, entry: NIL });
                    return Outcome::Linearizable(self.ops_of(&stack));
                }
                self.key(new_first_open, &mut key);
                let info = self.info_key(new_first_open);
                if let Lookup::Inserted(entry) = cache.lookup_or_insert(self.spec, &key, info, &new_state) {
                    self.states += 1;
                    stack.push(Frame { node, first_open, entry });
                    state = new_state;
                    first_open = new_first_open;
                    self.lift(node);
                    if stack.len() > best.len() {
                        best.truncate(agree);
                        best.extend(stack[agree..].iter().map(|f| f.node));
                        agree = stack.len();
                    }
                    let (first_return_pos, first_return_ns) = self.first_return();
                    latest_ns = first_return_ns;
                    if crashed_first {
                        info_limit = first_return_pos;
                        node = self.next[INFO_HEAD as usize];
                    } else {
                        info_limit = MAIN;
                        node = self.next[HEAD as usize];
                    }
                    hopeless = self.skel.monotone && self.dead_end(&state);
                } else {
                    self.cache_hits += 1;
                    self.clear_bit(u);
                    node = self.next[node as usize];
                }
            } else {
                // No candidate left: the op returning at the first return event should
                // already have been linearized. Backtrack.
                let Some(frame) = stack.pop() else {
                    let prefix =
                        best.iter().map(|&nd| self.op_index[self.skel.node_op[nd as usize] as usize]).collect();
                    return Outcome::NotLinearizable(prefix);
                };
                if stack.len() < agree {
                    agree = stack.len();
                }
                cache.finished(frame.entry);
                let u = self.skel.node_op[frame.node as usize];
                self.clear_bit(u);
                self.unlift(frame.node);
                state = match stack.last() {
                    Some(below) => cache.state(below.entry).clone(),
                    None => self.spec.init(),
                };
                first_open = frame.first_open;
                let (first_return_pos, first_return_ns) = self.first_return();
                latest_ns = first_return_ns;
                info_limit = if self.skel.info_rank[u as usize] == NIL { MAIN } else { first_return_pos };
                node = self.next[frame.node as usize];
            }
        }
    }

    #[inline]
    fn clear_bit(&mut self, u: u32) {
        let r = self.skel.info_rank[u as usize];
        if r == NIL {
            self.done[(u / 64) as usize] &= !(1 << (u % 64));
        } else {
            self.info_done[(r / 64) as usize] &= !(1 << (r % 64));
        }
        debug_assert!(r != NIL || !self.is_done(u));
    }
}

#[cfg(test)]
mod tests {
    use super::sort_nearly_sorted;

    /// Both paths sort: nearly sorted input (insertion only) and reversed input (over budget:
    /// the hand-over to `sort_unstable`).
    #[test]
    fn sort_nearly_sorted_sorts() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in [0usize, 1, 2, 7, 100, 1000] {
            let nearly: Vec<u128> = (0..len).map(|i| (i as u128) * 10 + (next() % 25) as u128).collect();
            let reversed: Vec<u128> = (0..len).rev().map(|i| i as u128).collect();
            for input in [nearly, reversed] {
                let mut got = input.clone();
                sort_nearly_sorted(&mut got);
                let mut want = input;
                want.sort();
                assert_eq!(got, want);
            }
        }
    }
}
