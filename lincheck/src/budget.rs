//! Budgets: how long and how much memory a check (reading the file included) may take.
//!
//! A [`Guard`] is shared by the parser and by every partition's search (across threads).
//! Callers poll [`Guard::check`] every few thousand steps. Time is checked on every poll
//! (an `Instant::now()`, tens of nanoseconds); memory at most every
//! [`MEMORY_POLL_INTERVAL`], by reading the process's resident set size from
//! `/proc/self/status` (Linux; elsewhere the memory budget is not enforced and only time and
//! states bound a check).
//!
//! The memory budget is on the whole process, not on one data structure: it is what the
//! user's machine feels, and it covers the parsed history as well as every search's memo
//! table. When a budget runs out the verdict is `unknown`, never a guess.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often (at most) the resident set size is read.
pub const MEMORY_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Which budget ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The wall-clock budget.
    Time,
    /// The memory budget (resident set size of the process).
    Memory,
    /// The deterministic state budget (`max_states`).
    States,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Time => "time",
            Limit::Memory => "memory",
            Limit::States => "state",
        })
    }
}

/// A time and memory budget, shared by everything a check does (cheap to clone: clones
/// share one budget).
#[derive(Clone, Debug)]
pub struct Guard(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    started: Instant,
    deadline: Option<Instant>,
    max_memory_bytes: Option<u64>,
    /// Nanoseconds since `started` of the next memory poll.
    next_memory_poll_ns: AtomicU64,
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new(None, None)
    }
}

impl Guard {
    /// A guard starting now: `budget` of wall-clock time, at most `max_memory_bytes` of
    /// resident memory (`None`: unlimited).
    pub fn new(budget: Option<Duration>, max_memory_bytes: Option<u64>) -> Self {
        let started = Instant::now();
        Guard(Arc::new(Inner {
            started,
            deadline: budget.and_then(|b| started.checked_add(b)),
            max_memory_bytes,
            next_memory_poll_ns: AtomicU64::new(0),
        }))
    }

    /// When the guard started.
    pub fn started(&self) -> Instant {
        self.0.started
    }

    /// The memory budget, if any.
    pub fn max_memory_bytes(&self) -> Option<u64> {
        self.0.max_memory_bytes
    }

    /// `Err` with the budget that ran out, if one did.
    pub fn check(&self) -> Result<(), Limit> {
        let g = &*self.0;
        if g.deadline.is_none() && g.max_memory_bytes.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        if let Some(deadline) = g.deadline {
            if now >= deadline {
                return Err(Limit::Time);
            }
        }
        if let Some(max) = g.max_memory_bytes {
            let since_ns = now.duration_since(g.started).as_nanos() as u64;
            let next = g.next_memory_poll_ns.load(Ordering::Relaxed);
            if since_ns >= next
                && g.next_memory_poll_ns
                    .compare_exchange(
                        next,
                        since_ns + MEMORY_POLL_INTERVAL.as_nanos() as u64,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                if let Some(rss) = resident_bytes() {
                    if rss > max {
                        // Stay out of budget for every later poll too.
                        g.next_memory_poll_ns.store(0, Ordering::Relaxed);
                        return Err(Limit::Memory);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Resident set size of this process in bytes (Linux: `VmRSS` of `/proc/self/status`),
/// `None` where unknown.
pub fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = text.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_budget_runs_out() {
        let guard = Guard::new(Some(Duration::ZERO), None);
        assert_eq!(guard.check(), Err(Limit::Time));
        assert_eq!(Guard::default().check(), Ok(()));
    }

    #[test]
    fn memory_budget_runs_out_where_rss_is_known() {
        if resident_bytes().is_none() {
            return;
        }
        let guard = Guard::new(None, Some(1));
        assert_eq!(guard.check(), Err(Limit::Memory));
        let guard = Guard::new(None, Some(u64::MAX));
        assert_eq!(guard.check(), Ok(()));
    }
}
