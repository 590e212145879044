//! The text trace: one line per event, fixed columns, so two runs diff cleanly and a room can
//! read it off a projector.
//!
//! ```text
//!    true_ms node event    detail
//!     12.345 c1   send     -> s1 acquire req=1 lock=0 value=1f2e ttl_ms=10000 (arrives 14.101)
//! ```
//!
//! * `true_ms`: true time in milliseconds with microsecond decimals;
//! * `node`: where the event happens (`net` for partitions);
//! * `event`: `send`, `recv`, `drop`, `timer`, a history observation (`acquired`, `grant`,
//!   `write`, `applied`, `REJECTED`, …) or a fault (`PAUSE`, `resume`, `CRASH`, `restart`,
//!   `CLOCK`, `PARTITION`, `heal`);
//! * `detail`: the message, or the observation's fields.
//!
//! Columns are documented in scenarios/README.md as well.

use std::fmt::Write as _;

use locklab_protocols::history::{Deadline, Entry, Event, LostReason, Observation, SessionId, WorldEvent};
use locklab_protocols::{Msg, NodeId, Timer};

/// A trace record, rendered only when asked for (recording costs a push, not a format).
#[derive(Clone, Debug)]
pub enum TraceRec {
    Send {
        t_ns: u64,
        from: NodeId,
        to: NodeId,
        msg: Msg,
        arrive_ns: u64,
        duplicate: bool,
    },
    Deliver {
        t_ns: u64,
        from: NodeId,
        to: NodeId,
        msg: Msg,
    },
    Drop {
        t_ns: u64,
        from: NodeId,
        to: NodeId,
        msg: Msg,
        why: &'static str,
    },
    Timer {
        t_ns: u64,
        node: NodeId,
        timer: Timer,
    },
    /// An entry of the history, by index.
    History {
        index: usize,
    },
}

/// Milliseconds with three decimals, from nanoseconds.
pub fn fmt_ms(t_ns: u64) -> String {
    format!("{}.{:03}", t_ns / 1_000_000, (t_ns / 1_000) % 1_000)
}

fn signed_ms(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "+" };
    format!("{sign}{}", fmt_ms(ns.unsigned_abs()))
}

/// Names nodes and sessions.
pub struct Names<'a>(pub &'a [String]);

impl Names<'_> {
    pub fn node(&self, id: NodeId) -> &str {
        self.0.get(id).map_or("?", String::as_str)
    }
    pub fn session(&self, s: SessionId) -> String {
        let client = self.node(s.client as NodeId);
        if s.incarnation == 0 {
            format!("{client}#{}", s.n)
        } else {
            format!("{client}.{}#{}", s.incarnation, s.n)
        }
    }
}

fn token(t: Option<u64>) -> String {
    t.map_or("-".to_string(), |t| t.to_string())
}

/// The event column and detail of a history entry.
pub fn describe(entry: &Entry, names: &Names) -> (&'static str, String) {
    let until = |u: &Option<u64>, d: &Deadline| match (u, d) {
        (_, Deadline::Never) => "valid_until=never".to_string(),
        (Some(t), Deadline::Mono(_)) => format!("valid_until={} (local monotonic)", fmt_ms(*t)),
        (Some(t), Deadline::Wall(_)) => format!("valid_until={} (local wall clock)", fmt_ms(*t)),
        (None, _) => String::new(),
    };
    match &entry.event {
        Event::Obs { obs, until_ns } => match obs {
            Observation::AcquireInvoke { lock, session } => {
                ("acquire", format!("lock={lock} session={}", names.session(*session)))
            }
            Observation::AcquireOk { lock, session, token: t, value, valid_until } => (
                "acquired",
                format!(
                    "lock={lock} session={} token={} value={:04x} {}",
                    names.session(*session),
                    token(*t),
                    value & 0xffff,
                    until(until_ns, valid_until)
                ),
            ),
            Observation::AcquireFail { lock, session, definite } => (
                "acq-fail",
                format!(
                    "lock={lock} session={} {}",
                    names.session(*session),
                    if *definite { "refused" } else { "timed out" }
                ),
            ),
            Observation::ExtendInvoke { lock, session } => {
                ("extend", format!("lock={lock} session={}", names.session(*session)))
            }
            Observation::ExtendOk { lock, session, valid_until } => (
                "extended",
                format!("lock={lock} session={} {}", names.session(*session), until(until_ns, valid_until)),
            ),
            Observation::ExtendFail { lock, session, definite } => (
                "ext-fail",
                format!(
                    "lock={lock} session={} {}",
                    names.session(*session),
                    if *definite { "refused" } else { "timed out" }
                ),
            ),
            Observation::LockLost { lock, session, reason } => (
                "lost",
                format!(
                    "lock={lock} session={} {}",
                    names.session(*session),
                    match reason {
                        LostReason::ExtendRefused => "extension refused",
                        LostReason::DeadlineExpired => "local deadline passed",
                    }
                ),
            ),
            Observation::ReleaseInvoke { lock, session } => {
                ("release", format!("lock={lock} session={}", names.session(*session)))
            }
            Observation::ReleaseDone { lock, session, ok } => (
                "released",
                format!(
                    "lock={lock} session={} {}",
                    names.session(*session),
                    match ok {
                        Some(true) => "ok",
                        Some(false) => "not-owner",
                        None => "timed out",
                    }
                ),
            ),
            Observation::WriteSent { session, token: t, value, .. } => {
                ("write", format!("session={} token={} value={value}", names.session(*session), token(*t)))
            }
            Observation::CsAbort { session, .. } => {
                ("cs-abort", format!("session={} lease no longer valid", names.session(*session)))
            }
            Observation::CsDone { session, .. } => ("cs-done", format!("session={}", names.session(*session))),
            Observation::Grant { lock, holder, value, token: t } => (
                "grant",
                format!("lock={lock} to={} value={:04x} token={}", names.node(*holder), value & 0xffff, token(*t)),
            ),
            Observation::ForeignDelete { lock, deleted_value, by } => (
                "DEL!",
                format!("lock={lock} plain DEL by {} removed value={:04x}", names.node(*by), deleted_value & 0xffff),
            ),
            Observation::WriteApplied { session, token: t, value, prev } => (
                "applied",
                format!("session={} token={} value={value} (was {prev})", names.session(*session), token(*t)),
            ),
            Observation::WriteRejected { session, token: t, max_token_seen } => (
                "REJECTED",
                format!(
                    "session={} token={} < max_token_seen={}",
                    names.session(*session),
                    token(*t),
                    token(*max_token_seen)
                ),
            ),
            Observation::RaftLeader { term, log_chain } => {
                ("LEADER", format!("term={term} log_len={}", log_chain.len()))
            }
            Observation::RaftCommitted { term, index, chain } => {
                ("commit", format!("term={term} index={index} chain={:04x}", chain & 0xffff))
            }
            Observation::RaftApplied { index, entry_term, chain } => {
                ("apply", format!("index={index} entry_term={entry_term} chain={:04x}", chain & 0xffff))
            }
        },
        Event::World(w) => match w {
            WorldEvent::Crash => ("CRASH", "volatile state and timers lost".to_string()),
            WorldEvent::Restart { incarnation } => ("restart", format!("incarnation={incarnation}")),
            WorldEvent::PauseStart { duration_ns } => {
                ("PAUSE", format!("stop-the-world for {} ms", fmt_ms(*duration_ns)))
            }
            WorldEvent::PauseEnd => ("resume", "queued events run now".to_string()),
            WorldEvent::ClockJump { by_ns } => ("CLOCK", format!("wall clock steps {} ms", signed_ms(*by_ns))),
            WorldEvent::PartitionStart { description } => ("PARTITION", description.clone()),
            WorldEvent::PartitionHeal { description } => ("heal", description.clone()),
            WorldEvent::MessageDropped { kind, from, to } => {
                ("DROP!", format!("targeted drop of {kind} {} -> {}", names.node(*from), names.node(*to)))
            }
            WorldEvent::MessageDelayed { kind, from, to, extra_ns } => (
                "DELAY!",
                format!("{kind} {} -> {} delayed by {} ms", names.node(*from), names.node(*to), fmt_ms(*extra_ns)),
            ),
        },
    }
}

fn line(out: &mut String, t_ns: u64, node: &str, event: &str, detail: &str) {
    let _ = writeln!(out, "{:>11} {:<4} {:<9} {}", fmt_ms(t_ns), node, event, detail);
}

/// Render the whole trace.
pub fn render(records: &[TraceRec], history: &[Entry], names: &[String]) -> String {
    let mut out = String::with_capacity(records.len() * 80 + 40);
    out.push_str(&header());
    render_records(&mut out, records, history, names);
    out
}

/// The trace's column header line.
pub fn header() -> String {
    format!("{:>11} {:<4} {:<9} detail\n", "true_ms", "node", "event")
}

/// Render `records` (a stretch of the trace) after `out`: a streaming caller renders what a step
/// recorded, writes it, and clears the records.
pub fn render_records(out: &mut String, records: &[TraceRec], history: &[Entry], names: &[String]) {
    let names = Names(names);
    for rec in records {
        match rec {
            TraceRec::Send { t_ns, from, to, msg, arrive_ns, duplicate } => {
                let dup = if *duplicate { " DUPLICATE" } else { "" };
                let detail = format!("-> {} {msg} (arrives {}){dup}", names.node(*to), fmt_ms(*arrive_ns));
                line(out, *t_ns, names.node(*from), "send", &detail);
            }
            TraceRec::Deliver { t_ns, from, to, msg } => {
                line(out, *t_ns, names.node(*to), "recv", &format!("<- {} {msg}", names.node(*from)));
            }
            TraceRec::Drop { t_ns, from, to, msg, why } => {
                line(out, *t_ns, names.node(*from), "drop", &format!("-> {} {msg} ({why})", names.node(*to)));
            }
            TraceRec::Timer { t_ns, node, timer } => {
                line(out, *t_ns, names.node(*node), "timer", &format!("{timer:?}"))
            }
            TraceRec::History { index } => {
                let entry = &history[*index];
                let (event, detail) = describe(entry, &names);
                let node = match &entry.event {
                    Event::World(WorldEvent::PartitionStart { .. } | WorldEvent::PartitionHeal { .. }) => "net",
                    _ => names.node(entry.node),
                };
                line(out, entry.t_ns, node, event, &detail);
            }
        }
    }
}
