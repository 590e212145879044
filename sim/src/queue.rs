//! The event queue: a 4-ary min-heap of `(time, sequence)` keys.
//!
//! Every event is a 16-byte key in the heap — its time, then its sequence number (high bits) and
//! its slab index (low bits, see `world.rs`) — while the event itself waits in the engine's slab,
//! so sifting moves small words only. Four children per node halve the depth of a binary heap:
//! a pop (the engine's commonest operation, once per event) walks half as many levels, comparing
//! four siblings that share a cache line. Keys are unique (the sequence number is), so the pop
//! order is exactly ascending `(t_ns, key)`, the order the engine has always used
//! (`tests::same_order_as_a_binary_heap`).
//!
//! Measured on the two benchmark scenarios (`compare --dir benches --seeds 20`, callgrind): std's
//! `BinaryHeap` cost 70M instructions, a radix heap (monotone keys: nothing is scheduled in the
//! past) 82M — its bucket redistribution does not pay for queues of a few dozen events — and this
//! heap the figure in the commit that introduced it.

/// A min-heap of `(t_ns, key)` pairs packed as `t_ns << 64 | key`, smallest first.
#[derive(Default)]
pub struct EventQueue {
    heap: Vec<u128>,
}

const ARITY: usize = 4;

fn pack(t_ns: u64, key: u64) -> u128 {
    ((t_ns as u128) << 64) | key as u128
}

fn unpack(k: u128) -> (u64, u64) {
    ((k >> 64) as u64, k as u64)
}

impl EventQueue {
    pub fn new() -> Self {
        EventQueue { heap: Vec::with_capacity(1024) }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedule `(t_ns, key)`: sift up from the end (a hole moves up, the key is written once).
    #[inline]
    pub fn push(&mut self, t_ns: u64, key: u64) {
        let k = pack(t_ns, key);
        let mut pos = self.heap.len();
        self.heap.push(k);
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            let p = self.heap[parent];
            if p <= k {
                break;
            }
            self.heap[pos] = p;
            pos = parent;
        }
        self.heap[pos] = k;
    }

    /// The earliest `(t_ns, key)` without removing it.
    #[inline]
    pub fn peek(&self) -> Option<(u64, u64)> {
        self.heap.first().map(|&k| unpack(k))
    }

    /// Remove and return the earliest `(t_ns, key)`: the last key fills the hole at the root and
    /// sinks below every smaller child.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64)> {
        let last = self.heap.pop()?;
        let len = self.heap.len();
        if len == 0 {
            return Some(unpack(last));
        }
        let top = self.heap[0];
        let mut pos = 0;
        loop {
            let first = ARITY * pos + 1;
            if first >= len {
                break;
            }
            let end = (first + ARITY).min(len);
            let (mut min_at, mut min) = (first, self.heap[first]);
            for j in first + 1..end {
                let c = self.heap[j];
                if c < min {
                    min_at = j;
                    min = c;
                }
            }
            if min >= last {
                break;
            }
            self.heap[pos] = min;
            pos = min_at;
        }
        self.heap[pos] = last;
        Some(unpack(top))
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
            let mut radix = EventQueue::new();
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
            for _ in 0..5_000 {
                assert_eq!(radix.peek(), heap.peek().map(|r| r.0), "round {round}");
                assert_eq!(radix.len(), heap.len());
                let Some((t, key)) = radix.pop() else { break };
                assert_eq!(Some(Reverse((t, key))), heap.pop());
                assert!(t >= now);
                now = t;
                popped += 1;
                for _ in 0..(1 + (rand() % 3 == 0) as u64) {
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
        }
    }
}
