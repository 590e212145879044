//! Per-node clocks as functions of true time.
//!
//! Each node has a monotonic clock that only drifts and a wall clock that drifts the same way and
//! may also be stepped (NTP slew gone wrong, an operator, a VM migration). Both are pure functions
//! of true time plus the steps applied so far, so reading a clock costs two multiplications and a
//! paused node's clock keeps running like everybody else's.

/// Parts per million in one.
const PPM: i128 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Rate error: the clock advances `1 + drift_ppm / 10^6` local ns per true ns.
    pub drift_ppm: i32,
    /// Wall clock reading at true time 0, in ns (an offset from true time).
    pub wall_offset_ns: i64,
    /// Sum of the wall clock steps applied so far.
    pub wall_steps_ns: i64,
}

impl Clock {
    pub fn new(drift_ppm: i32, wall_offset_ns: i64) -> Self {
        assert!(drift_ppm.abs() < 1_000_000, "drift must be below 10^6 ppm");
        Clock { drift_ppm, wall_offset_ns, wall_steps_ns: 0 }
    }

    fn local_elapsed(&self, true_ns: u64) -> i64 {
        // i64 suffices up to ~25 simulated hours at 100000 ppm; i128 beyond.
        if true_ns < (1 << 46) {
            let t = true_ns as i64;
            t + t * self.drift_ppm as i64 / PPM as i64
        } else {
            let t = true_ns as i128;
            (t + t * self.drift_ppm as i128 / PPM) as i64
        }
    }

    /// Monotonic reading at true time `true_ns`.
    pub fn mono_ns(&self, true_ns: u64) -> u64 {
        self.local_elapsed(true_ns) as u64
    }

    /// Wall reading at true time `true_ns`.
    pub fn wall_ns(&self, true_ns: u64) -> i64 {
        self.wall_offset_ns + self.local_elapsed(true_ns) + self.wall_steps_ns
    }

    /// `(mono_ns(true_ns), wall_ns(true_ns))`, computing the drifted elapsed time once.
    #[inline]
    pub fn readings(&self, true_ns: u64) -> (u64, i64) {
        let elapsed = self.local_elapsed(true_ns);
        (elapsed as u64, self.wall_offset_ns + elapsed + self.wall_steps_ns)
    }

    /// True duration that `local_ns` of this clock takes (rounded up, so a timer never fires early
    /// by its own clock).
    pub fn true_duration(&self, local_ns: u64) -> u64 {
        if self.drift_ppm == 0 {
            return local_ns;
        }
        if local_ns < (1 << 40) {
            let num = local_ns as i64 * PPM as i64;
            let den = PPM as i64 + self.drift_ppm as i64;
            return ((num + den - 1) / den) as u64;
        }
        let num = local_ns as i128 * PPM;
        let den = PPM + self.drift_ppm as i128;
        ((num + den - 1) / den) as u64
    }

    /// The first true time at which the monotonic clock reads `mono_ns` or more.
    pub fn true_at_mono(&self, mono_ns: u64) -> u64 {
        self.true_duration(mono_ns)
    }

    /// The first true time at which the wall clock reads `wall_ns` or more, assuming no further
    /// steps (future steps are unknown to the node too).
    pub fn true_at_wall(&self, wall_ns: i64) -> u64 {
        let local = wall_ns - self.wall_offset_ns - self.wall_steps_ns;
        if local <= 0 {
            return 0;
        }
        self.true_duration(local as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_fires_timers_early_in_true_time() {
        let fast = Clock::new(100_000, 0); // 10% fast
        assert_eq!(fast.mono_ns(1_000_000_000), 1_100_000_000);
        assert_eq!(fast.true_duration(1_100_000_000), 1_000_000_000);
        let slow = Clock::new(-100_000, 0);
        assert_eq!(slow.mono_ns(1_000_000_000), 900_000_000);
        assert_eq!(slow.true_at_mono(900_000_000), 1_000_000_000);
    }

    #[test]
    fn wall_steps_move_the_wall_clock_only() {
        let mut c = Clock::new(0, 5_000);
        c.wall_steps_ns += 2_000_000_000;
        assert_eq!(c.wall_ns(10), 2_000_005_010);
        assert_eq!(c.mono_ns(10), 10);
        assert_eq!(c.true_at_wall(2_000_005_010), 10);
    }
}
