//! The containers of a [`RaftPeer`](super::RaftPeer)'s state, chosen for copying.
//!
//! The simulator owns each peer alone and changes it in place; the model checker (`locklab
//! check`) copies a peer for every step it explores, hashes the copy to look it up among the
//! states seen, and drops it again when it was seen already (most steps). So the peer's parts are
//! kept in containers that make that cheap, without changing anything the peer does:
//!
//! * [`Cached`]: a part that changes rarely (the log, the lock service, the parameters, the
//!   proposals and lease maps) is an `Arc` shared by every copy of the peer until a step changes
//!   it (copy on write), with its digest memoised: a copy of the peer that does not change the
//!   log neither copies nor re-hashes it. The simulator never hashes a peer and, owning it alone,
//!   never copies on write.
//! * [`PeerMap`] and [`PeerSet`]: the leader's per-peer state (`next_index`, `match_index`,
//!   acknowledged rounds, peers heard from, votes), which changes on most replies, as a fixed
//!   array indexed by the peer's position in the cluster: copied with the peer, no allocation
//!   (a cluster of more than [`INLINE_PEERS`] peers keeps the rest in a spill vector).
//! * [`RoundStarts`]: the start times of the heartbeat rounds not yet confirmed (a handful),
//!   inline for up to four.
//!
//! Each is a faithful map or set: present and absent entries are told apart as before, so two
//! peers are equal (and states distinct) exactly when they were with `BTreeMap`s and
//! `BTreeSet`s.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A part of the peer shared by its copies until one changes it, with a memoised digest.
///
/// `Hash` writes the digest of the value (std's `DefaultHasher`, whose keys are fixed: the same
/// value has the same digest in every run), computed the first time the value is hashed after a
/// change and kept by every copy until the next [`Cached::make_mut`]. Equality and order compare
/// the values.
pub struct Cached<T> {
    value: Arc<T>,
    /// The digest of `value`, or 0 while not computed (a computed 0 is stored as 1).
    digest: AtomicU64,
}

impl<T> Cached<T> {
    pub fn new(value: T) -> Self {
        Cached { value: Arc::new(value), digest: AtomicU64::new(0) }
    }
}

impl<T: Clone> Cached<T> {
    /// The value, for a change: copied first if another copy of the peer shares it.
    pub fn make_mut(&mut self) -> &mut T {
        *self.digest.get_mut() = 0;
        Arc::make_mut(&mut self.value)
    }
}

impl<T> std::ops::Deref for Cached<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached { value: Arc::clone(&self.value), digest: AtomicU64::new(self.digest.load(Ordering::Relaxed)) }
    }
}

impl<T: Default> Default for Cached<T> {
    fn default() -> Self {
        Cached::new(T::default())
    }
}

impl<T: PartialEq> PartialEq for Cached<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.value, &other.value) || self.value == other.value
    }
}

impl<T: Eq> Eq for Cached<T> {}

impl<T: Ord> PartialOrd for Cached<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Cached<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: Hash> Hash for Cached<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut digest = self.digest.load(Ordering::Relaxed);
        if digest == 0 {
            let mut h = DefaultHasher::new();
            self.value.hash(&mut h);
            digest = h.finish().max(1);
            self.digest.store(digest, Ordering::Relaxed);
        }
        state.write_u64(digest);
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Cached<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// Peers kept inline by [`PeerMap`] and [`PeerSet`]; a larger cluster spills the rest.
pub const INLINE_PEERS: usize = 7;

/// A `u64` per peer, by the peer's position in the cluster (`RaftParams::peers`): a map from
/// peers, absent entries included, in a fixed array.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerMap {
    inline: [Option<u64>; INLINE_PEERS],
    /// Positions from `INLINE_PEERS` on (empty, unallocated, for clusters up to that size). Only
    /// [`PeerMap::insert`] grows it and only [`PeerMap::clear`] shrinks it, so equal maps have
    /// equal spills.
    spill: Vec<Option<u64>>,
}

impl PeerMap {
    pub fn get(&self, pos: usize) -> Option<u64> {
        match self.inline.get(pos) {
            Some(v) => *v,
            None => self.spill.get(pos - INLINE_PEERS).copied().flatten(),
        }
    }

    pub fn insert(&mut self, pos: usize, value: u64) {
        if pos < INLINE_PEERS {
            self.inline[pos] = Some(value);
        } else {
            let i = pos - INLINE_PEERS;
            if self.spill.len() <= i {
                self.spill.resize(i + 1, None);
            }
            self.spill[i] = Some(value);
        }
    }

    pub fn clear(&mut self) {
        self.inline = [None; INLINE_PEERS];
        self.spill.clear();
    }

    /// The values present, by position.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.inline.iter().chain(&self.spill).filter_map(|v| *v)
    }
}

/// A set of peers, by position in the cluster: a bit mask, spilling past 64 peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerSet {
    bits: u64,
    spill: std::collections::BTreeSet<usize>,
}

impl PeerSet {
    /// The set of the one peer at `pos`.
    pub fn of(pos: usize) -> Self {
        let mut s = PeerSet::default();
        s.insert(pos);
        s
    }

    pub fn insert(&mut self, pos: usize) {
        if pos < 64 {
            self.bits |= 1 << pos;
        } else {
            self.spill.insert(pos);
        }
    }

    pub fn len(&self) -> usize {
        self.bits.count_ones() as usize + self.spill.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.bits = 0;
        self.spill.clear();
    }
}

/// Heartbeat rounds not yet confirmed → their start on the leader's monotonic clock: a map from
/// round to time, in increasing rounds (rounds only grow), the first four inline.
#[derive(Clone, Default)]
pub struct RoundStarts {
    len: usize,
    inline: [(u64, u64); 4],
    /// Entries past the fourth (empty, unallocated, while there are at most four).
    spill: Vec<(u64, u64)>,
}

impl RoundStarts {
    fn iter(&self) -> impl Iterator<Item = &(u64, u64)> + '_ {
        self.inline[..self.len.min(4)].iter().chain(&self.spill)
    }

    /// Record the start of `round`, later than every round recorded.
    pub fn insert(&mut self, round: u64, start_ns: u64) {
        debug_assert!(self.iter().all(|&(r, _)| r < round), "rounds are recorded in order");
        if self.len < 4 {
            self.inline[self.len] = (round, start_ns);
        } else {
            self.spill.push((round, start_ns));
        }
        self.len += 1;
    }

    pub fn get(&self, round: u64) -> Option<u64> {
        self.iter().find(|&&(r, _)| r == round).map(|&(_, t)| t)
    }

    /// Keep the rounds from `first` on.
    pub fn retain_from(&mut self, first: u64) {
        let drop = self.iter().take_while(|&&(r, _)| r < first).count();
        if drop == 0 {
            return;
        }
        let kept: Vec<(u64, u64)> = self.iter().skip(drop).copied().collect();
        self.clear();
        for (r, t) in kept {
            self.insert(r, t);
        }
    }

    pub fn clear(&mut self) {
        *self = RoundStarts::default();
    }
}

impl PartialEq for RoundStarts {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for RoundStarts {}

impl PartialOrd for RoundStarts {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RoundStarts {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl Hash for RoundStarts {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        for &(r, t) in self.iter() {
            state.write_u64(r);
            state.write_u64(t);
        }
    }
}

impl std::fmt::Debug for RoundStarts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(r, t)| (r, t))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest<T: Hash>(v: &T) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn a_peer_map_tells_absent_from_zero_and_spills_past_the_inline_peers() {
        let (mut a, mut b) = (PeerMap::default(), PeerMap::default());
        a.insert(1, 0);
        assert_ne!(a, b, "an entry of 0 is not an absent entry (as in the BTreeMap it replaces)");
        b.insert(1, 0);
        assert_eq!(a, b);
        a.insert(INLINE_PEERS + 2, 9);
        assert_eq!(a.get(INLINE_PEERS + 2), Some(9));
        assert_eq!(a.get(INLINE_PEERS), None);
        assert_eq!(a.values().collect::<Vec<_>>(), vec![0, 9]);
        a.clear();
        assert_eq!(a, PeerMap::default(), "cleared, equal to a fresh map (spill included)");
    }

    #[test]
    fn round_starts_keep_one_form_whatever_the_history() {
        let mut a = RoundStarts::default();
        for r in 1..=7 {
            a.insert(r, r * 10);
        }
        assert_eq!(a.get(6), Some(60), "a spilled round");
        a.retain_from(4);
        let mut b = RoundStarts::default();
        for r in 4..=7 {
            b.insert(r, r * 10);
        }
        assert_eq!(a, b);
        assert_eq!(digest(&a), digest(&b), "equal values hash equally");
        assert_eq!(a.get(3), None);
        a.retain_from(8);
        assert_eq!(a, RoundStarts::default());
    }

    #[test]
    fn a_cached_value_is_rehashed_after_a_change_only() {
        let mut a = Cached::new(vec![1u64, 2]);
        let before = digest(&a);
        let copy = a.clone();
        a.make_mut().push(3);
        assert_ne!(digest(&a), before, "make_mut forgets the memoised digest");
        assert_eq!(digest(&copy), before, "the copy keeps the old value and its digest");
        assert_eq!(digest(&a), digest(&Cached::new(vec![1u64, 2, 3])), "the digest is the value's");
    }
}
