//! The breadth-first search `locklab check` runs (`--strategy bfs`, the default).
//!
//! It explores the same space as stateright 0.31's BFS — the same [`Model`] (`init_states`,
//! `actions`, `next_state`, `within_boundary`, `properties`), the same notion of a state (its
//! 64-bit fingerprint: the ahash digest of the state, itself a hash of its parts' digests), the
//! same figures (states generated within the boundary, unique states, the deepest level
//! reached, `target_max_depth` semantics) — but keeps less per state, which is most of the work
//! left once the model's own steps are cheap (issue 16, `models/README.md` "Speed"):
//!
//! * stateright keeps an action path (a `Vec<usize>` as long as the depth) with every queued
//!   state and clones it for every *generated* successor, duplicates included; here each newly
//!   seen state records only its parent's fingerprint and its action's index, and a path is
//!   rebuilt by replaying those indices from the initial state, once, for a violation.
//! * stateright looks up every property's name in a SipHash-keyed map at every state; here the
//!   verdicts so far are a flag per property.
//! * The visited set maps fingerprints (already hashes) through an identity hasher, in shards.
//!
//! The search is level-synchronous: the states of one depth are expanded (split among the
//! threads, in order), their new successors form the next level; on one thread that is the FIFO
//! order of stateright's BFS. A state at depth ≥ the target depth is not expanded nor checked
//! (stateright's `target_max_depth`). It stops early as stateright's does: at the end of the block
//! of 1500 states in which every property got a discovery (then nothing is left to learn), or at
//! once at a state where every property is discovered — so on one thread even an early stop
//! explores exactly the states stateright's BFS explored (the pinned counts of `tests/models.rs`
//! hold). Unlike stateright's, the path saved for a property is the *first* found — one of the
//! shortest.
//!
//! stateright remains the engine of `--strategy dfs` and `random`, of
//! [`crate::check::shortest_counterexample`] and of `locklab explore`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use stateright::{Expectation, Model};

use crate::model::{digest_of, Action, LockModel, State};

/// A hasher for keys that are already hashes (fingerprints): one multiplication. (Passing them
/// through would do, but a shard holds fingerprints of equal top bits, and the hash table reads
/// its tag from the top bits: the multiplication spreads the others there.)
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Fingerprint → (parent's fingerprint, 0 for an initial state; index of the action taken).
type Seen = HashMap<u64, (u64, u32), BuildHasherDefault<Identity>>;

const SHARDS: usize = 64;

/// Figures of a running search, read by the budget watchdog.
#[derive(Default)]
pub struct Progress {
    pub states: AtomicUsize,
    pub unique_states: AtomicUsize,
    pub done: AtomicBool,
}

/// A path: each state with the action taken from it (none from the last).
pub type Path = Vec<(State, Option<Action>)>;

/// What a finished search found.
pub struct Found {
    pub max_depth: usize,
    /// Per property (in `Model::properties` order): the path to the first state found that
    /// violates it (`Always`) or satisfies it (`Sometimes`).
    pub discoveries: Vec<Option<Path>>,
}

fn fingerprint(s: &State) -> u64 {
    digest_of(s).max(1)
}

/// States per block: stateright's BFS looks at its stop condition between blocks of this many
/// states; so does this search, so that an early stop explores what stateright's does.
const BLOCK: usize = 1500;

struct Search<'a> {
    model: &'a LockModel,
    properties: Vec<stateright::Property<LockModel>>,
    seen: Vec<Mutex<Seen>>,
    /// Per property: the fingerprint of its first discovery (0: none yet).
    found: Vec<AtomicU64>,
    /// How many properties have a discovery.
    found_count: AtomicUsize,
    /// The search stops (every property has a discovery: nothing is left to learn).
    stopped: AtomicBool,
    max_depth: AtomicUsize,
    progress: &'a Progress,
}

impl Search<'_> {
    /// Record `fp` as seen (first sight: with its parent and action). Is it new?
    fn insert(&self, fp: u64, parent: u64, action: u32) -> bool {
        let mut shard = self.seen[(fp >> 58) as usize % SHARDS].lock().expect("a seen shard");
        match shard.entry(fp) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((parent, action));
                true
            }
        }
    }

    fn all_found(&self) -> bool {
        self.found_count.load(Ordering::Relaxed) == self.properties.len()
    }

    /// Check the properties at `s` and record first discoveries. Is every property discovered
    /// *at this state* (every `Always` violated, every `Sometimes` met)? stateright stops there.
    fn check(&self, s: &State, fp: u64) -> bool {
        let mut all_here = true;
        for (i, p) in self.properties.iter().enumerate() {
            let holds = (p.condition)(self.model, s);
            let discovery = match p.expectation {
                Expectation::Always => !holds,
                Expectation::Sometimes => holds,
                Expectation::Eventually => unreachable!("the lock model declares no `eventually` property"),
            };
            all_here &= discovery;
            if discovery
                && self.found[i].load(Ordering::Relaxed) == 0
                && self.found[i].compare_exchange(0, fp, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            {
                self.found_count.fetch_add(1, Ordering::Relaxed);
            }
        }
        all_here
    }

    /// Take the states of `level` (one depth, in order) one by one as stateright's BFS pops them:
    /// check each and generate its successors; return the new ones, in order. `popped` counts the
    /// states taken so far (blocks of [`BLOCK`]).
    fn expand(
        &self,
        level: Vec<(State, u64)>,
        depth: usize,
        target_max_depth: Option<usize>,
        popped: &mut usize,
    ) -> Vec<(State, u64)> {
        let mut next = Vec::new();
        let mut actions = Vec::new();
        for (s, fp) in level {
            if self.stopped.load(Ordering::Relaxed) || (*popped > 0 && popped.is_multiple_of(BLOCK) && self.all_found())
            {
                self.stopped.store(true, Ordering::Relaxed);
                break;
            }
            *popped += 1;
            self.max_depth.fetch_max(depth, Ordering::Relaxed);
            if target_max_depth.is_some_and(|t| depth >= t) {
                continue;
            }
            if self.check(&s, fp) {
                self.stopped.store(true, Ordering::Relaxed);
                break;
            }
            self.model.actions(&s, &mut actions);
            for (idx, action) in actions.drain(..).enumerate() {
                let Some(n) = self.model.next_state(&s, action) else { continue };
                if !self.model.within_boundary(&n) {
                    continue;
                }
                self.progress.states.fetch_add(1, Ordering::Relaxed);
                let nfp = fingerprint(&n);
                if self.insert(nfp, fp, idx as u32) {
                    self.progress.unique_states.fetch_add(1, Ordering::Relaxed);
                    next.push((n, nfp));
                }
            }
        }
        next
    }

    /// The path from an initial state to the state `fp`, rebuilt by replaying action indices.
    fn path(&self, fp: u64) -> Path {
        let mut indices = Vec::new();
        let mut at = fp;
        let init_fp = loop {
            let (parent, action) = *self.seen[(at >> 58) as usize % SHARDS]
                .lock()
                .expect("a seen shard")
                .get(&at)
                .expect("every discovered state was seen");
            if parent == 0 {
                break at;
            }
            indices.push(action as usize);
            at = parent;
        };
        let mut state = self
            .model
            .init_states()
            .into_iter()
            .find(|s| fingerprint(s) == init_fp)
            .expect("the path starts at an initial state");
        let mut path = Vec::new();
        let mut actions = Vec::new();
        for idx in indices.into_iter().rev() {
            self.model.actions(&state, &mut actions);
            let action = actions.swap_remove(idx);
            actions.clear();
            let next = self.model.next_state(&state, action.clone()).expect("a recorded step replays");
            path.push((state, Some(action)));
            state = next;
        }
        debug_assert_eq!(fingerprint(&state), fp, "the replayed path reaches the recorded state");
        path.push((state, None));
        path
    }
}

/// Run the search on `threads` threads. `target_max_depth`: states at that depth or deeper are
/// neither checked nor expanded (the initial states have depth 1).
pub fn search(model: &LockModel, threads: usize, target_max_depth: Option<usize>, progress: &Progress) -> Found {
    let properties = model.properties();
    let search = Search {
        model,
        found: properties.iter().map(|_| AtomicU64::new(0)).collect(),
        found_count: AtomicUsize::new(0),
        properties,
        seen: (0..SHARDS).map(|_| Mutex::new(Seen::default())).collect(),
        stopped: AtomicBool::new(false),
        max_depth: AtomicUsize::new(0),
        progress,
    };
    let mut level: Vec<(State, u64)> = Vec::new();
    for s in model.init_states().into_iter().filter(|s| model.within_boundary(s)) {
        let fp = fingerprint(&s);
        progress.states.fetch_add(1, Ordering::Relaxed);
        if search.insert(fp, 0, 0) {
            progress.unique_states.fetch_add(1, Ordering::Relaxed);
            level.push((s, fp));
        }
    }
    let threads = threads.max(1);
    let mut popped = 0;
    let mut depth = 0;
    while !level.is_empty() && !search.stopped.load(Ordering::Relaxed) {
        depth += 1;
        level = if threads == 1 || level.len() < 2 * threads {
            search.expand(level, depth, target_max_depth, &mut popped)
        } else {
            // Split the level into one run of consecutive states per thread, keep the order.
            // (Each thread counts its own blocks: with several threads, as in stateright, where
            // an early stop falls depends on the schedule.)
            let per = level.len().div_ceil(threads);
            let mut parts = Vec::with_capacity(threads);
            let mut rest = level;
            while rest.len() > per {
                let tail = rest.split_off(per);
                parts.push(rest);
                rest = tail;
            }
            parts.push(rest);
            let search = &search;
            std::thread::scope(|scope| {
                let handles: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        scope.spawn(move || search.expand(part, depth, target_max_depth, &mut (popped % BLOCK)))
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("a search thread")).collect()
            })
        };
    }
    progress.done.store(true, Ordering::Relaxed);
    let discoveries = search
        .found
        .iter()
        .map(|f| {
            let fp = f.load(Ordering::Relaxed);
            (fp != 0).then(|| search.path(fp))
        })
        .collect();
    Found { max_depth: search.max_depth.load(Ordering::Relaxed), discoveries }
}
