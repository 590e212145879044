//! The event queue: `(time, sequence)` keys, a sorted vector while few, a 4-ary min-heap when many.
//!
//! Every event is a 16-byte key — its time, then its sequence number (high bits) and its slab
//! index (low bits, see `world.rs`) — while the event itself waits in the engine's slab, so the
//! queue moves small words only. Keys are unique (the sequence number is), so the pop order is
//! exactly ascending `(t_ns, key)`, the order the engine has always used, whichever
//! representation holds the keys (`tests::same_order_as_a_binary_heap`).
//!
//! Measured on the two benchmark scenarios (`compare --dir benches --seeds 20`, callgrind): std's
//! `BinaryHeap` cost 70M instructions, a radix heap (monotone keys: nothing is scheduled in the
//! past) 82M — its bucket redistribution does not pay for queues of a few dozen events — and the
//! 4-ary heap the figure in the commit that introduced it. On the `runs` bench workload (5 nodes,
//! a handful of pending events) the heap's pop still cost ~100 instructions; the sorted vector
//! below pops with a `Vec::pop` and took `profile_runs 20 sim` from 100.6M to 89.5M instructions.
//! Four children per heap node halve the depth of a binary heap: a pop walks half as many levels,
//! comparing four siblings that share a cache line.

/// A priority queue of `(t_ns, key)` pairs packed as `t_ns << 64 | key`, smallest first.
///
/// Two representations, switched by size (both give exactly the same pop order):
/// * small (the common case: a handful of nodes keeps 5–30 events pending): a vector sorted in
///   *descending* order, so the earliest event is the last element — a pop is a `Vec::pop` and a
///   peek a load. A push is one step of insertion sort from the end: a message due in a few
///   milliseconds passes over the one or two events due sooner, a timer due in seconds over more;
/// * large (more than [`SMALL_MAX`] pending): the 4-ary heap below, `O(log n)` either way. It
///   turns back into the sorted vector once it has drained to [`SMALL_AGAIN`] events.
#[derive(Default)]
pub struct EventQueue {
    /// Sorted descending while `!heap_mode`, a 4-ary min-heap while `heap_mode`.
    keys: Vec<u128>,
    heap_mode: bool,
}

const ARITY: usize = 4;

/// Above this many pending events, the heap.
pub const SMALL_MAX: usize = 32;
/// At or below this many, back to the sorted vector (well below `SMALL_MAX`, so a queue hovering
/// around the bound does not convert back and forth).
pub const SMALL_AGAIN: usize = 8;

fn pack(t_ns: u64, key: u64) -> u128 {
    ((t_ns as u128) << 64) | key as u128
}

fn unpack(k: u128) -> (u64, u64) {
    ((k >> 64) as u64, k as u64)
}

impl EventQueue {
    pub fn new() -> Self {
        EventQueue { keys: Vec::with_capacity(1024), heap_mode: false }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Schedule `(t_ns, key)`.
    #[inline]
    pub fn push(&mut self, t_ns: u64, key: u64) {
        let k = pack(t_ns, key);
        if !self.heap_mode {
            if self.keys.len() < SMALL_MAX {
                // Insertion from the end: shift the events due sooner up by one.
                self.keys.push(k);
                let keys = &mut self.keys[..];
                let mut pos = keys.len() - 1;
                while pos > 0 && keys[pos - 1] < k {
                    keys[pos] = keys[pos - 1];
                    pos -= 1;
                }
                keys[pos] = k;
                return;
            }
            // Too many for insertion: a descending vector is no heap, rebuild it as one.
            self.keys.reverse(); // ascending order is a valid min-heap
            self.heap_mode = true;
        }
        self.heap_push(k);
    }

    /// The earliest `(t_ns, key)` without removing it.
    #[inline]
    pub fn peek(&self) -> Option<(u64, u64)> {
        if self.heap_mode {
            self.keys.first().map(|&k| unpack(k))
        } else {
            self.keys.last().map(|&k| unpack(k))
        }
    }

    /// Remove and return the earliest `(t_ns, key)`.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64)> {
        if !self.heap_mode {
            return self.keys.pop().map(unpack);
        }
        let top = self.heap_pop();
        if self.keys.len() <= SMALL_AGAIN {
            self.keys.sort_unstable_by(|a, b| b.cmp(a));
            self.heap_mode = false;
        }
        top.map(unpack)
    }

    /// Heap push: sift up from the end (a hole moves up, the key is written once).
    fn heap_push(&mut self, k: u128) {
        let mut pos = self.keys.len();
        self.keys.push(k);
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            let p = self.keys[parent];
            if p <= k {
                break;
            }
            self.keys[pos] = p;
            pos = parent;
        }
        self.keys[pos] = k;
    }

    /// Heap pop: the last key fills the hole at the root and sinks below every smaller child.
    fn heap_pop(&mut self) -> Option<u128> {
        let last = self.keys.pop()?;
        let len = self.keys.len();
        if len == 0 {
            return Some(last);
        }
        let top = self.keys[0];
        let mut pos = 0;
        loop {
            let first = ARITY * pos + 1;
            if first >= len {
                break;
            }
            let end = (first + ARITY).min(len);
            let (mut min_at, mut min) = (first, self.keys[first]);
            for j in first + 1..end {
                let c = self.keys[j];
                if c < min {
                    min_at = j;
                    min = c;
                }
            }
            if min >= last {
                break;
            }
            self.keys[pos] = min;
            pos = min_at;
        }
        self.keys[pos] = last;
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// The engine's use: pushes at or after the current time with increasing sequence numbers,
    /// interleaved with peeks and pops. The pop order must be a binary heap's, key for key.
    #[test]
    fn same_order_as_a_binary_heap() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..50 {
            let mut radix = EventQueue::new(); // (named for the radix heap it was first compared with)
            let mut heap = BinaryHeap::new();
            let mut seq = 0u64;
            let mut push = |radix: &mut EventQueue, heap: &mut BinaryHeap<Reverse<(u64, u64)>>, t: u64, slab: u64| {
                seq += 1;
                let key = seq << 24 | (slab & 0xff_ffff);
                radix.push(t, key);
                heap.push(Reverse((t, key)));
            };
            // Events scheduled up front, as faults and client starts are (some at time 0).
            for _ in 0..20 {
                let t = if rand() % 4 == 0 { 0 } else { rand() % 1_000_000 };
                push(&mut radix, &mut heap, t, rand());
            }
            let (mut now, mut popped) = (0u64, 0);
            let (mut small_pops, mut heap_pops) = (0, 0);
            for step in 0..5_000 {
                assert_eq!(radix.peek(), heap.peek().map(|r| r.0), "round {round}");
                assert_eq!(radix.len(), heap.len());
                if radix.heap_mode {
                    heap_pops += 1;
                } else {
                    small_pops += 1;
                }
                let (t, key) = radix.pop().expect("never empty: refilled below");
                assert_eq!(Some(Reverse((t, key))), heap.pop());
                assert!(t >= now);
                now = t;
                popped += 1;
                // Phases of growth (past `SMALL_MAX`, into the heap) and of draining (back to
                // the sorted vector), so both representations and both conversions are compared.
                let pushes =
                    if (step / 200) % 2 == 0 { 1 + (rand() % 3 != 0) as u64 } else { (rand() % 8 == 0) as u64 };
                let pushes = if radix.is_empty() { pushes.max(1) } else { pushes };
                for _ in 0..pushes {
                    // The same instant (deferred events), short latencies, long timers.
                    let delay = match rand() % 4 {
                        0 => 0,
                        1 => rand() % 10,
                        2 => rand() % 5_000_000,
                        _ => rand() % (1 << 40),
                    };
                    push(&mut radix, &mut heap, now + delay, rand());
                }
            }
            assert_eq!(popped, 5_000, "round {round}: the comparison ran ({popped} pops)");
            assert!(small_pops > 500 && heap_pops > 500, "round {round}: both kinds ran ({small_pops}, {heap_pops})");
        }
    }
}
