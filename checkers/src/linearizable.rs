//! Property 3: the lock service's client-visible history is linearizable.
//!
//! Every acquire, extend and release a client's lock library performed becomes one operation —
//! called when the library started it, returned when it learned the outcome (or never, after a
//! timeout or a crash) — keyed by lock, so `locklab-lincheck` checks each lock on its own
//! (P-compositionality). The specification is a **lease with expiry** of the variant's TTL: what
//! every service here promises (with fencing tokens, the fencing-token lock, whose tokens must also
//! increase). The same history is also checked against a **plain mutex**, for information: every
//! lease fails that as soon as a holder outlives its TTL (the Jepsen point), and the summary says so.
//!
//! The search is budgeted in explored states, not seconds, so that a verdict never depends on the
//! machine: when the budget runs out the outcome is `unknown`.

use std::collections::BTreeMap;

use locklab_lincheck::format::{to_json_named, History, Model};
use locklab_lincheck::specs::{FencingSpec, LazyFencingSpec, LazyLeaseSpec, LeaseSpec, LockOp, LockRet, MutexSpec};
use locklab_lincheck::{Guard, Limits, Operation, Prepared, Spec, Verdict};
use locklab_protocols::history::{Entry, Event, Observation, SessionId};

use crate::{fmt_ms, Namer, Outcome, PropertyResult, RunInfo, Violation};

/// States the search may explore per check before answering `unknown`.
pub const MAX_STATES: u64 = 200_000;

/// A call: (lock, session, operation).
type Invoke = (u32, SessionId, LockOp);
/// A return: (session, operation, outcome; `None` when unknown).
type Return = (SessionId, LockOp, Option<LockRet>);

/// The client-visible lock operations of a history, and for each the history index of its call.
pub fn lock_operations(history: &[Entry]) -> (Vec<Operation<LockOp, LockRet>>, Vec<usize>) {
    let (mut ops, calls, first_lock) = operations(history);
    if let Some(lock) = first_lock {
        name_first_lock(&mut ops, lock);
    }
    (ops, calls)
}

/// [`lock_operations`], except that the operations on the first lock called keep an empty key
/// when that is the only lock (the checker needs keys only to tell locks apart, and an empty
/// `String` costs no allocation per operation); that lock is returned, `None` when there are
/// several (then every key is its lock's name, `lock<id>`).
#[allow(clippy::type_complexity)]
fn operations(history: &[Entry]) -> (Vec<Operation<LockOp, LockRet>>, Vec<usize>, Option<u32>) {
    let mut ops: Vec<Operation<LockOp, LockRet>> = Vec::with_capacity(history.len() / 4);
    let mut calls = Vec::with_capacity(history.len() / 4);
    // The open operation of each (session, kind): a handful at a time, so a flat list.
    let mut open: Vec<((SessionId, u8), usize)> = Vec::new();
    // Each lock's key, formatted once (`format!` per operation was a third of this function).
    let mut keys: Vec<(u32, String)> = Vec::new();
    let kind = |op: LockOp| match op {
        LockOp::Acquire => 0u8,
        LockOp::Extend => 1,
        LockOp::Release => 2,
    };
    for (i, e) in history.iter().enumerate() {
        let Event::Obs { obs, .. } = &e.event else { continue };
        let (invoke, ret): (Option<Invoke>, Option<Return>) = match obs {
            Observation::AcquireInvoke { lock, session } => (Some((*lock, *session, LockOp::Acquire)), None),
            Observation::ExtendInvoke { lock, session } => (Some((*lock, *session, LockOp::Extend)), None),
            Observation::ReleaseInvoke { lock, session } => (Some((*lock, *session, LockOp::Release)), None),
            Observation::AcquireOk { session, token, .. } => {
                (None, Some((*session, LockOp::Acquire, Some(LockRet::Ok { token: *token }))))
            }
            Observation::AcquireFail { session, definite, .. } => {
                (None, Some((*session, LockOp::Acquire, definite.then_some(LockRet::Fail))))
            }
            Observation::ExtendOk { session, .. } => {
                (None, Some((*session, LockOp::Extend, Some(LockRet::Ok { token: None }))))
            }
            Observation::ExtendFail { session, definite, .. } => {
                (None, Some((*session, LockOp::Extend, definite.then_some(LockRet::Fail))))
            }
            Observation::ReleaseDone { session, ok, .. } => (
                None,
                Some((
                    *session,
                    LockOp::Release,
                    ok.map(|ok| if ok { LockRet::Ok { token: None } } else { LockRet::Fail }),
                )),
            ),
            _ => (None, None),
        };
        if let Some((lock, session, op)) = invoke {
            let slot = (session, kind(op));
            match open.iter_mut().find(|(s, _)| *s == slot) {
                Some(entry) => entry.1 = ops.len(),
                None => open.push((slot, ops.len())),
            }
            calls.push(i);
            // The first lock's key stays empty (named afterwards if another lock shows up).
            let key = match keys.iter().position(|(l, _)| *l == lock) {
                Some(0) => String::new(),
                Some(k) => keys[k].1.clone(),
                None => {
                    keys.push((lock, format!("lock{lock}")));
                    if keys.len() == 1 {
                        String::new()
                    } else {
                        keys[keys.len() - 1].1.clone()
                    }
                }
            };
            ops.push(Operation {
                process: session.client as u64,
                key,
                call_ns: e.t_ns,
                return_ns: None,
                input: op,
                output: None,
            });
        }
        if let Some((session, op, output)) = ret {
            let slot = (session, kind(op));
            if let Some(k) = open.iter().position(|(s, _)| *s == slot).map(|at| open.swap_remove(at).1) {
                ops[k].return_ns = Some(e.t_ns.max(ops[k].call_ns));
                // An unknown outcome (timeout) never returned as far as the spec is concerned.
                ops[k].output = output;
            }
        }
    }
    match keys.as_slice() {
        [(lock, _)] => (ops, calls, Some(*lock)),
        [(lock, _), ..] => {
            name_first_lock(&mut ops, *lock);
            (ops, calls, None)
        }
        [] => (ops, calls, None),
    }
}

/// Gives the operations with an empty key (see [`operations`]) the name of `lock`.
fn name_first_lock(ops: &mut [Operation<LockOp, LockRet>], lock: u32) {
    let name = format!("lock{lock}");
    for op in ops.iter_mut().filter(|o| o.key.is_empty()) {
        op.key.clone_from(&name);
    }
}

/// The history as locklab's JSON history format (`locklab lin` reads it), with the spec property 3
/// checks it against: a lease of `ttl_ms` (a fencing-token lease when grants carry tokens), or a
/// mutex without a TTL. `names` are the scenario's node names (indexed by node id): the file
/// carries the clients' names (`"processes"`), so `locklab lin --html` labels lanes c1, c2 as
/// `run` does.
pub fn history_json(
    history: &[Entry],
    ttl_ms: Option<u64>,
    lazy_expiry: bool,
    session: bool,
    names: &[String],
) -> String {
    let (ops, _) = lock_operations(history);
    let tokens = ops.iter().any(|o| matches!(o.output, Some(LockRet::Ok { token: Some(_) })));
    let ttl_ns = ttl_ms.map(|ms| ms * 1_000_000);
    let model = match ttl_ns {
        Some(ttl_ns) if tokens && lazy_expiry => Model::LazyFencing { ttl_ns, session },
        Some(ttl_ns) if lazy_expiry => Model::LazyLease { ttl_ns, session },
        Some(ttl_ns) if tokens => Model::Fencing { ttl_ns: Some(ttl_ns) },
        Some(ttl_ns) => Model::Lease { ttl_ns },
        None => Model::Mutex,
    };
    let processes: BTreeMap<u64, String> =
        ops.iter().filter_map(|o| Some((o.process, names.get(o.process as usize)?.clone()))).collect();
    to_json_named(&model, &History::Lock(ops), &processes)
}

/// The verdict of `spec` on the prepared history (`None`: the history was invalid). Both checks of
/// a run share one [`Prepared`]: the lease and the mutex specs make the same pruning decisions,
/// so the second reuses the first's search skeleton.
fn run<S: Spec<Input = LockOp, Output = LockRet>>(
    spec: &S,
    prepared: Option<&Prepared<LockOp, LockRet>>,
) -> Option<Verdict> {
    let limits = Limits { guard: Guard::new(None, None), max_states: Some(MAX_STATES), threads: None };
    prepared.map(|p| p.check(spec, &limits).verdict)
}

/// The name of a lazily revoked lease spec, as the verdict line shows it.
fn lazy_name(article: &str, ttl_ms: u64, session: bool) -> String {
    if session {
        format!("{article} session lease revoked lazily (ttl {ttl_ms} ms at least after a keep-alive; an acquire reuses it)")
    } else {
        format!("{article} lease revoked lazily (ttl {ttl_ms} ms at least)")
    }
}

/// Check property 3. `ttl_ms`: the variant's lease TTL (None: check as a mutex only).
pub fn linearizable(history: &[Entry], info: &RunInfo) -> PropertyResult {
    let names = Namer(info.names);
    let (ops, calls, only_lock) = operations(history);
    let tokens = ops.iter().any(|o| matches!(o.output, Some(LockRet::Ok { token: Some(_) })));
    let prepared = Prepared::new(&ops).ok();
    let prepared = prepared.as_ref();
    let spec_name;
    let verdict = match info.ttl_ms {
        Some(ttl_ms) if tokens && info.lazy_expiry => {
            spec_name = lazy_name("a fencing-token", ttl_ms, info.session_lease);
            run(&LazyFencingSpec { ttl_ns: ttl_ms * 1_000_000, session: info.session_lease }, prepared)
        }
        Some(ttl_ms) if info.lazy_expiry => {
            spec_name = lazy_name("a", ttl_ms, info.session_lease);
            run(&LazyLeaseSpec { ttl_ns: ttl_ms * 1_000_000, session: info.session_lease }, prepared)
        }
        Some(ttl_ms) if tokens => {
            spec_name = format!("a fencing-token lease (ttl {ttl_ms} ms)");
            run(&FencingSpec { ttl_ns: Some(ttl_ms * 1_000_000) }, prepared)
        }
        Some(ttl_ms) => {
            spec_name = format!("a lease (ttl {ttl_ms} ms)");
            run(&LeaseSpec { ttl_ns: ttl_ms * 1_000_000 }, prepared)
        }
        None => {
            spec_name = "a mutex".to_string();
            run(&MutexSpec, prepared)
        }
    };
    let word = |v: &Option<Verdict>| match v {
        Some(Verdict::Linearizable) => "linearizable",
        Some(Verdict::NotLinearizable(_)) => "not linearizable",
        _ => "unknown",
    };
    let as_mutex = match (info.ttl_ms, info.mutex_comparison) {
        // Without a TTL the history was checked as a mutex already: that is the comparison.
        (None, _) => word(&verdict),
        (Some(_), true) => word(&run(&MutexSpec, prepared)),
        (Some(_), false) => "not checked (a bulk run)",
    };
    let summary = format!("{} lock operations checked as {spec_name}; as a plain mutex: {as_mutex}", ops.len());
    let (outcome, violation) = match verdict {
        Some(Verdict::Linearizable) => (Outcome::Holds, None),
        Some(Verdict::Unknown) => (Outcome::Unknown, None),
        None => (Outcome::Unknown, None),
        Some(Verdict::NotLinearizable(v)) => {
            let unplaced: Vec<usize> = v.unplaced.iter().map(|&k| calls[k]).collect();
            let first = unplaced.first().copied().unwrap_or(0);
            let describe = |k: usize| {
                let o = &ops[k];
                format!(
                    "{}'s {:?} called at {} ms{}",
                    names.node(o.process as usize),
                    o.input,
                    fmt_ms(o.call_ns),
                    match (&o.output, o.return_ns) {
                        (Some(r), Some(t)) => format!(" returned {r:?} at {} ms", fmt_ms(t)),
                        _ => " never returned".to_string(),
                    }
                )
            };
            let prefix = v.longest_prefix.len();
            // The one lock's operations carry an empty key (see `operations`): name it here.
            let key = match only_lock {
                Some(lock) if v.key.is_empty() => format!("lock{lock}"),
                _ => v.key.clone(),
            };
            let message = format!(
                "not linearizable as {spec_name} on {key}: after a linearizable prefix of {prefix} operations, none of these \
                 can come next: {}",
                v.unplaced.iter().map(|&k| describe(k)).collect::<Vec<_>>().join("; ")
            );
            let mut lead_up: Vec<usize> = v.longest_prefix.iter().rev().take(6).map(|&k| calls[k]).collect();
            lead_up.extend(unplaced.iter().skip(1));
            lead_up.sort_unstable();
            lead_up.dedup();
            lead_up.retain(|&i| i != first);
            (Outcome::Violated, Some(Violation { event: first, lead_up, message }))
        }
    };
    PropertyResult { property: "linearizable", outcome, summary, violation }
}
