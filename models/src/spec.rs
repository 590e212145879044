//! A sequential specification of a lease *with expiry*, for stateright's
//! [`LinearizabilityTester`].
//!
//! A plain mutex is the wrong yardstick for a lease: every lease "violates" it once a holder
//! outlives its TTL, by design (the Jepsen point). The lease spec says what a lease does promise:
//! a grant makes its session the holder for `ttl` of server time; nobody else is granted the lock
//! until the holder releases it or the TTL has run out.
//!
//! Operations take effect at an unknown instant between their invocation and their return (that
//! is what linearizability means), so the spec judges time with bounds. When an acquire invoked at
//! `inv` and returning at `ret` is linearized as a grant, the lease runs out no earlier than
//! `inv + ttl` (`expires_lb_ns`) and no later than `ret + ttl` (`expires_ub_ns`). A later grant
//! to another session is allowed if it returned at or after `expires_lb_ns` (it may have taken
//! effect once the lease was gone); a refusal is allowed only if the holder's lease may still have
//! been live when the refused call began (`inv < expires_ub_ns`). Times are true time, which is
//! the server's clock as long as nobody steps it: a step that expires keys early is precisely the
//! kind of bug this spec catches.
//!
//! Each lock session is one "thread" of the tester: an acquire, then a release. A call that
//! timed out never returns: it stays in flight, and the tester may linearize it or not.

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use locklab_protocols::SessionId;

/// An operation on the lock service, with the true time its call began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockOp {
    Acquire { invoke_ns: u64 },
    Release { invoke_ns: u64 },
}

/// What an operation returned, with the true time it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockRet {
    Acquire { granted: bool, return_ns: u64 },
    Release { ok: bool, return_ns: u64 },
}

/// The session holding the lock and the bounds on when its lease runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    pub session: SessionId,
    pub expires_lb_ns: u64,
    pub expires_ub_ns: u64,
}

/// The lease spec. `invoke` answers for calls that never returned (in flight): it assumes the
/// call took effect and returned at the end of time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseSpec {
    pub ttl_ns: u64,
    /// The current holder, if any.
    pub holder: Option<Holder>,
}

/// An operation paired with its session: the spec needs to know whose operation it judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionOp {
    pub session: SessionId,
    pub op: LockOp,
}

impl LeaseSpec {
    pub fn new(ttl_ns: u64) -> Self {
        LeaseSpec { ttl_ns, holder: None }
    }
}

impl SequentialSpec for LeaseSpec {
    type Op = SessionOp;
    type Ret = LockRet;

    fn invoke(&mut self, op: &SessionOp) -> LockRet {
        let never = u64::MAX;
        match op.op {
            LockOp::Acquire { invoke_ns } => {
                self.holder = Some(Holder {
                    session: op.session,
                    expires_lb_ns: invoke_ns.saturating_add(self.ttl_ns),
                    expires_ub_ns: never,
                });
                LockRet::Acquire { granted: true, return_ns: never }
            }
            LockOp::Release { .. } => {
                let ok = self.holder.is_some_and(|h| h.session == op.session);
                if ok {
                    self.holder = None;
                }
                LockRet::Release { ok, return_ns: never }
            }
        }
    }

    fn is_valid_step(&mut self, op: &SessionOp, ret: &LockRet) -> bool {
        let me = op.session;
        match (op.op, *ret) {
            (LockOp::Acquire { invoke_ns }, LockRet::Acquire { granted: true, return_ns }) => {
                let free = match self.holder {
                    None => true,
                    Some(h) => h.session == me || return_ns >= h.expires_lb_ns,
                };
                if free {
                    self.holder = Some(Holder {
                        session: me,
                        expires_lb_ns: invoke_ns + self.ttl_ns,
                        expires_ub_ns: return_ns.saturating_add(self.ttl_ns),
                    });
                }
                free
            }
            (LockOp::Acquire { invoke_ns }, LockRet::Acquire { granted: false, .. }) => {
                self.holder.is_some_and(|h| h.session != me && invoke_ns < h.expires_ub_ns)
            }
            (LockOp::Release { invoke_ns }, LockRet::Release { ok: true, .. }) => {
                let valid = self.holder.is_some_and(|h| h.session == me && invoke_ns < h.expires_ub_ns);
                if valid {
                    self.holder = None;
                }
                valid
            }
            (LockOp::Release { .. }, LockRet::Release { ok: false, return_ns }) => match self.holder {
                Some(h) if h.session == me => {
                    // Refused to its own holder: only if the lease may have run out already.
                    let valid = return_ns >= h.expires_lb_ns;
                    if valid {
                        self.holder = None;
                    }
                    valid
                }
                _ => true,
            },
            _ => false,
        }
    }
}

/// One entry of a lock service's client-visible history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinEvent {
    Invoke(SessionId, LockOp),
    Return(SessionId, LockRet),
}

/// Is the history linearizable against the lease spec? `Err` carries the tester's complaint
/// about a malformed history (which counts as not linearizable).
pub fn check_history(ttl_ns: u64, history: &[LinEvent]) -> Result<bool, String> {
    let mut tester = LinearizabilityTester::new(LeaseSpec::new(ttl_ns));
    for event in history {
        match *event {
            LinEvent::Invoke(session, op) => tester.on_invoke(session, SessionOp { session, op })?,
            LinEvent::Return(session, ret) => tester.on_return(session, ret)?,
        };
    }
    Ok(tester.is_consistent())
}

/// The lease-spec history of a simulator run (the same extraction the model does step by step),
/// so that a replayed counterexample is judged by the same spec.
pub fn history_of_run(entries: &[locklab_protocols::Entry]) -> Vec<LinEvent> {
    let mut out = Vec::new();
    for e in entries {
        if let locklab_protocols::Event::Obs { obs, .. } = &e.event {
            if let Some(ev) = lin_event(obs, e.t_ns) {
                out.push(ev);
            }
        }
    }
    out
}

/// The history event an observation stands for, if any.
pub fn lin_event(obs: &locklab_protocols::Observation, t_ns: u64) -> Option<LinEvent> {
    use locklab_protocols::Observation as O;
    Some(match *obs {
        O::AcquireInvoke { session, .. } => LinEvent::Invoke(session, LockOp::Acquire { invoke_ns: t_ns }),
        O::AcquireOk { session, .. } => LinEvent::Return(session, LockRet::Acquire { granted: true, return_ns: t_ns }),
        O::AcquireFail { session, definite: true, .. } => {
            LinEvent::Return(session, LockRet::Acquire { granted: false, return_ns: t_ns })
        }
        O::ReleaseInvoke { session, .. } => LinEvent::Invoke(session, LockOp::Release { invoke_ns: t_ns }),
        O::ReleaseDone { session, ok: Some(ok), .. } => {
            LinEvent::Return(session, LockRet::Release { ok, return_ns: t_ns })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: u64 = 3_000;

    fn s(client: u32) -> SessionId {
        SessionId { client, incarnation: 0, n: 1 }
    }

    fn acq(c: u32, inv: u64, ret: u64, granted: bool) -> [LinEvent; 2] {
        [
            LinEvent::Invoke(s(c), LockOp::Acquire { invoke_ns: inv }),
            LinEvent::Return(s(c), LockRet::Acquire { granted, return_ns: ret }),
        ]
    }

    #[test]
    fn a_second_grant_before_expiry_is_not_linearizable() {
        let h: Vec<_> = acq(1, 0, 0, true).into_iter().chain(acq(2, 1_000, 1_000, true)).collect();
        assert_eq!(check_history(TTL, &h), Ok(false));
    }

    #[test]
    fn a_second_grant_after_expiry_is_linearizable() {
        let h: Vec<_> = acq(1, 0, 0, true).into_iter().chain(acq(2, 3_000, 3_000, true)).collect();
        assert_eq!(check_history(TTL, &h), Ok(true));
    }

    #[test]
    fn a_refusal_after_certain_expiry_is_not_linearizable() {
        let h: Vec<_> = acq(1, 0, 0, true).into_iter().chain(acq(2, 3_000, 3_000, false)).collect();
        assert_eq!(check_history(TTL, &h), Ok(false));
        let h: Vec<_> = acq(1, 0, 0, true).into_iter().chain(acq(2, 2_000, 2_000, false)).collect();
        assert_eq!(check_history(TTL, &h), Ok(true));
    }

    #[test]
    fn a_timed_out_acquire_may_or_may_not_have_taken_effect() {
        let mut h = vec![LinEvent::Invoke(s(1), LockOp::Acquire { invoke_ns: 0 })];
        h.extend(acq(2, 1_000, 1_000, false));
        assert_eq!(check_history(TTL, &h), Ok(true), "refused: c1's lost acquire took effect");
        let mut h = vec![LinEvent::Invoke(s(1), LockOp::Acquire { invoke_ns: 0 })];
        h.extend(acq(2, 1_000, 1_000, true));
        assert_eq!(check_history(TTL, &h), Ok(true), "granted: c1's lost acquire did not");
    }

    #[test]
    fn release_then_grant() {
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.push(LinEvent::Invoke(s(1), LockOp::Release { invoke_ns: 1_000 }));
        h.push(LinEvent::Return(s(1), LockRet::Release { ok: true, return_ns: 1_000 }));
        h.extend(acq(2, 1_000, 1_000, true));
        assert_eq!(check_history(TTL, &h), Ok(true));
    }
}
