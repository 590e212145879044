//! A sequential specification of a lease *with expiry*, for stateright's
//! [`LinearizabilityTester`].
//!
//! A plain mutex is the wrong yardstick for a lease: every lease "violates" it once a holder
//! outlives its TTL, by design (the Jepsen point). The lease spec says what a lease does promise:
//! a grant makes its session the holder for `ttl` of server time; a keep-alive (extend) by the
//! holder, while its lease is live, makes it the holder for `ttl` from then; nobody else is
//! granted the lock until the holder releases it or its lease has run out. These are the rules of
//! `locklab-lincheck`'s lease spec (`lincheck/src/specs/lock.rs`), against which the simulator's
//! checker (`checkers/src/linearizable.rs`) judges the same operations: acquire, extend, release.
//!
//! Operations take effect at an unknown instant between their invocation and their return (that
//! is what linearizability means), so the spec judges time with bounds. When an acquire or extend
//! invoked at `inv` and returning at `ret` is linearized as a success, the lease runs out no
//! earlier than `inv + ttl` (`expires_lb_ns`) and no later than `ret + ttl` (`expires_ub_ns`): an
//! extend gives the holder new validity. A later grant to another session is allowed if it
//! returned at or after `expires_lb_ns` (it may have taken effect once the lease was gone); a
//! refusal is allowed only if the holder's lease may still have been live when the refused call
//! began (`inv < expires_ub_ns`); so is a successful release or extend by the holder. A refused
//! release or extend by the holder is allowed only if its lease may have run out by the time the
//! call returned. Times are true time, which is the server's clock as long as nobody steps it: a
//! step that expires keys early is precisely the kind of bug this spec catches. The bounds are
//! necessary conditions of lincheck's exact rules (which keep the points symbolic in a zone), so
//! this spec never rejects a history lincheck accepts; a history it accepts that lincheck rejects
//! would still be caught when the counterexample replays.
//!
//! Expiry is exact for the single-server leases and Redlock (a Redis key is gone at its TTL) and
//! *lazy* for the etcd-style Raft service ([`Expiry::Lazy`]: the leader revokes expired leases
//! from a periodic check, so the TTL is a lower bound), as in lincheck's `LazyLeaseSpec`, which the
//! simulator's checker uses for Raft variants. A lazily revoked lease is a *session* that an
//! acquire reuses (etcd's `Session`: it runs from its last keep-alive, not from the acquire), so
//! there only the holder's extends bound its expiry ([`Expiry::LazySession`], lincheck's
//! `session` specs).
//!
//! Without extends in the history, a release that a keep-alive kept valid would be judged against
//! the acquire's expiry alone, and flagged although the server was right to accept it.
//!
//! Each operation is its own "thread" of the tester ([`OpId`]: session, kind, and how many of
//! that kind the session invoked before): a lock library may release while a keep-alive is
//! still outstanding, and a timed-out call never returns (it stays in flight, and the tester may
//! linearize it or not) while the library goes on with the next.

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use locklab_protocols::SessionId;

/// An operation on the lock service, with the true time its call began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockOp {
    Acquire {
        invoke_ns: u64,
    },
    /// A keep-alive: renew the holder's lease for another TTL.
    Extend {
        invoke_ns: u64,
    },
    Release {
        invoke_ns: u64,
    },
}

impl LockOp {
    fn kind(self) -> OpKind {
        match self {
            LockOp::Acquire { .. } => OpKind::Acquire,
            LockOp::Extend { .. } => OpKind::Extend,
            LockOp::Release { .. } => OpKind::Release,
        }
    }
}

/// What an operation returned, with the true time it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockRet {
    Acquire {
        granted: bool,
        return_ns: u64,
    },
    /// `ok`: the lease was renewed (the holder has a new validity, a TTL from the renewal).
    Extend {
        ok: bool,
        return_ns: u64,
    },
    Release {
        ok: bool,
        return_ns: u64,
    },
}

impl LockRet {
    fn kind(self) -> OpKind {
        match self {
            LockRet::Acquire { .. } => OpKind::Acquire,
            LockRet::Extend { .. } => OpKind::Extend,
            LockRet::Release { .. } => OpKind::Release,
        }
    }
}

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Acquire,
    Extend,
    Release,
}

/// One operation's identity, the tester's thread id: the session's `n`-th operation of `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId {
    pub session: SessionId,
    pub kind: OpKind,
    pub n: u32,
}

/// The session holding the lock and the bounds on when its lease runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    pub session: SessionId,
    pub expires_lb_ns: u64,
    pub expires_ub_ns: u64,
}

/// When a lease that was not renewed ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Expiry {
    /// At its TTL: afterwards the holder's release or keep-alive must be refused (Redis: a key
    /// with a TTL is gone at its TTL, `PEXPIRE`/compare-and-delete then find nothing).
    #[default]
    Exact,
    /// At its TTL *or later*, when the service gets round to revoking it: the TTL is a lower
    /// bound (etcd's lessor revokes expired leases from a periodic loop on the leader, and its
    /// `Unlock` deletes the key whatever the lease's age; Consul: "the TTL is a lower bound").
    /// A release or keep-alive by the holder after the TTL may still succeed — until someone
    /// else has been granted the lock, which proves the lease ended.
    Lazy,
    /// [`Expiry::Lazy`] for a lease that is a session an acquire reuses (etcd's `Session`, kept
    /// alive in the background): it runs from its last keep-alive, which may predate the
    /// acquire, so an acquire sets no lower bound on the holder's expiry; only extends do.
    LazySession,
}

/// The lease spec. `invoke` answers for calls that never returned (in flight): it assumes the
/// call took effect and returned at the end of time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseSpec {
    pub ttl_ns: u64,
    pub expiry: Expiry,
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
        LeaseSpec { ttl_ns, expiry: Expiry::Exact, holder: None }
    }

    /// The spec with leases that end at their TTL or later ([`Expiry::Lazy`]); `session`: the
    /// lease is a session an acquire reuses, which bounds no expiry (only extends do).
    pub fn lazy(ttl_ns: u64, session: bool) -> Self {
        LeaseSpec { ttl_ns, expiry: if session { Expiry::LazySession } else { Expiry::Lazy }, holder: None }
    }

    /// A mutex: a lease that never runs out (a TTL of `u64::MAX` ns, every bound saturating), for
    /// a service without leases (skinny): nobody else is granted the lock until its holder
    /// releases it, and a release by the holder is never refused. The simulator's checker uses
    /// lincheck's `MutexSpec` for the same variants.
    pub fn mutex() -> Self {
        LeaseSpec::new(u64::MAX)
    }

    /// May the holder's lease still be live at `invoke_ns` (a call by the holder invoked then)?
    fn may_be_live(&self, h: Holder, invoke_ns: u64) -> bool {
        self.expiry != Expiry::Exact || invoke_ns < h.expires_ub_ns
    }

    fn holds(&self, session: SessionId) -> Option<Holder> {
        self.holder.filter(|h| h.session == session)
    }
}

impl SequentialSpec for LeaseSpec {
    type Op = SessionOp;
    type Ret = LockRet;

    fn invoke(&mut self, op: &SessionOp) -> LockRet {
        let never = u64::MAX;
        match op.op {
            LockOp::Acquire { invoke_ns } => {
                let expires_lb_ns = match self.expiry {
                    Expiry::LazySession => 0,
                    Expiry::Lazy | Expiry::Exact => invoke_ns.saturating_add(self.ttl_ns),
                };
                self.holder = Some(Holder { session: op.session, expires_lb_ns, expires_ub_ns: never });
                LockRet::Acquire { granted: true, return_ns: never }
            }
            LockOp::Extend { invoke_ns } => {
                let ok = self.holds(op.session).is_some();
                if ok {
                    self.holder = Some(Holder {
                        session: op.session,
                        expires_lb_ns: invoke_ns.saturating_add(self.ttl_ns),
                        expires_ub_ns: never,
                    });
                }
                LockRet::Extend { ok, return_ns: never }
            }
            LockOp::Release { .. } => {
                let ok = self.holds(op.session).is_some();
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
                    // A lazily revoked lease is a session the acquire reuses (etcd's `Session`,
                    // a Consul session): it runs from its last keep-alive, which may predate
                    // this call, so the acquire bounds nothing (lincheck's `session` specs).
                    let expires_lb_ns = match self.expiry {
                        Expiry::LazySession => 0,
                        Expiry::Lazy | Expiry::Exact => invoke_ns.saturating_add(self.ttl_ns),
                    };
                    self.holder = Some(Holder {
                        session: me,
                        expires_lb_ns,
                        expires_ub_ns: return_ns.saturating_add(self.ttl_ns),
                    });
                }
                free
            }
            (LockOp::Acquire { invoke_ns }, LockRet::Acquire { granted: false, .. }) => {
                self.holder.is_some_and(|h| h.session != me && self.may_be_live(h, invoke_ns))
            }
            (LockOp::Extend { invoke_ns }, LockRet::Extend { ok: true, return_ns }) => {
                // Renewed while the lease may still have been live: valid for a TTL from then.
                let live = self.holds(me).is_some_and(|h| self.may_be_live(h, invoke_ns));
                if live {
                    self.holder = Some(Holder {
                        session: me,
                        expires_lb_ns: invoke_ns.saturating_add(self.ttl_ns),
                        expires_ub_ns: return_ns.saturating_add(self.ttl_ns),
                    });
                }
                live
            }
            (LockOp::Release { invoke_ns }, LockRet::Release { ok: true, .. }) => {
                let valid = self.holds(me).is_some_and(|h| self.may_be_live(h, invoke_ns));
                if valid {
                    self.holder = None;
                }
                valid
            }
            (LockOp::Release { .. }, LockRet::Release { ok: false, return_ns })
            | (LockOp::Extend { .. }, LockRet::Extend { ok: false, return_ns }) => match self.holds(me) {
                Some(h) => {
                    // Refused to its own holder: only if the lease may have run out already.
                    let valid = return_ns >= h.expires_lb_ns;
                    if valid {
                        self.holder = None;
                    }
                    valid
                }
                None => true,
            },
            _ => false,
        }
    }
}

/// One entry of a lock service's client-visible history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinEvent {
    Invoke(OpId, LockOp),
    Return(OpId, LockRet),
}

/// Is the history linearizable against the lease spec? `Err` carries the tester's complaint
/// about a malformed history (which counts as not linearizable).
pub fn check_history(ttl_ns: u64, history: &[LinEvent]) -> Result<bool, String> {
    check_history_with(LeaseSpec::new(ttl_ns), history)
}

/// [`check_history`] against a given spec (e.g. [`LeaseSpec::lazy`]).
pub fn check_history_with(spec: LeaseSpec, history: &[LinEvent]) -> Result<bool, String> {
    let mut tester = LinearizabilityTester::new(spec);
    for event in history {
        match *event {
            LinEvent::Invoke(id, op) => tester.on_invoke(id, SessionOp { session: id.session, op })?,
            LinEvent::Return(id, ret) => tester.on_return(id, ret)?,
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
            record(&mut out, obs, e.t_ns);
        }
    }
    out
}

/// Append to `history` the event an observation at true time `t_ns` stands for, if any; returns
/// whether it appended one. A return is matched with its session's latest call of the same kind
/// still open; a return with no open call (a keep-alive answered after its time-out, say) and an
/// outcome the library does not know (a time-out) append nothing: the call stays in flight.
pub fn record(history: &mut Vec<LinEvent>, obs: &locklab_protocols::Observation, t_ns: u64) -> bool {
    use locklab_protocols::Observation as O;
    let (session, invoke, ret) = match *obs {
        O::AcquireInvoke { session, .. } => (session, Some(LockOp::Acquire { invoke_ns: t_ns }), None),
        O::ExtendInvoke { session, .. } => (session, Some(LockOp::Extend { invoke_ns: t_ns }), None),
        O::ReleaseInvoke { session, .. } => (session, Some(LockOp::Release { invoke_ns: t_ns }), None),
        O::AcquireOk { session, .. } => (session, None, Some(LockRet::Acquire { granted: true, return_ns: t_ns })),
        O::AcquireFail { session, definite: true, .. } => {
            (session, None, Some(LockRet::Acquire { granted: false, return_ns: t_ns }))
        }
        O::ExtendOk { session, .. } => (session, None, Some(LockRet::Extend { ok: true, return_ns: t_ns })),
        O::ExtendFail { session, definite: true, .. } => {
            (session, None, Some(LockRet::Extend { ok: false, return_ns: t_ns }))
        }
        O::ReleaseDone { session, ok: Some(ok), .. } => (session, None, Some(LockRet::Release { ok, return_ns: t_ns })),
        _ => return false,
    };
    let same = |id: &OpId, kind: OpKind| id.session == session && id.kind == kind;
    if let Some(op) = invoke {
        let kind = op.kind();
        let n = history.iter().filter(|e| matches!(e, LinEvent::Invoke(id, _) if same(id, kind))).count() as u32;
        history.push(LinEvent::Invoke(OpId { session, kind, n }, op));
        return true;
    }
    let Some(ret) = ret else { return false };
    let kind = ret.kind();
    // The latest call of this kind, if it has not returned yet.
    let latest = history.iter().rev().find_map(|e| match e {
        LinEvent::Invoke(id, _) if same(id, kind) => Some(*id),
        _ => None,
    });
    match latest {
        Some(id) if !history.iter().any(|e| matches!(e, LinEvent::Return(r, _) if *r == id)) => {
            history.push(LinEvent::Return(id, ret));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: u64 = 3_000;

    fn s(client: u32) -> SessionId {
        SessionId { client, incarnation: 0, n: 1 }
    }

    fn id(client: u32, kind: OpKind, n: u32) -> OpId {
        OpId { session: s(client), kind, n }
    }

    fn acq(c: u32, inv: u64, ret: u64, granted: bool) -> [LinEvent; 2] {
        let id = id(c, OpKind::Acquire, 0);
        [
            LinEvent::Invoke(id, LockOp::Acquire { invoke_ns: inv }),
            LinEvent::Return(id, LockRet::Acquire { granted, return_ns: ret }),
        ]
    }

    fn ext(c: u32, n: u32, inv: u64, ret: u64, ok: bool) -> [LinEvent; 2] {
        let id = id(c, OpKind::Extend, n);
        [
            LinEvent::Invoke(id, LockOp::Extend { invoke_ns: inv }),
            LinEvent::Return(id, LockRet::Extend { ok, return_ns: ret }),
        ]
    }

    fn rel(c: u32, inv: u64, ret: u64, ok: bool) -> [LinEvent; 2] {
        let id = id(c, OpKind::Release, 0);
        [
            LinEvent::Invoke(id, LockOp::Release { invoke_ns: inv }),
            LinEvent::Return(id, LockRet::Release { ok, return_ns: ret }),
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
        let mut h = vec![LinEvent::Invoke(id(1, OpKind::Acquire, 0), LockOp::Acquire { invoke_ns: 0 })];
        h.extend(acq(2, 1_000, 1_000, false));
        assert_eq!(check_history(TTL, &h), Ok(true), "refused: c1's lost acquire took effect");
        let mut h = vec![LinEvent::Invoke(id(1, OpKind::Acquire, 0), LockOp::Acquire { invoke_ns: 0 })];
        h.extend(acq(2, 1_000, 1_000, true));
        assert_eq!(check_history(TTL, &h), Ok(true), "granted: c1's lost acquire did not");
    }

    #[test]
    fn release_then_grant() {
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(rel(1, 1_000, 1_000, true));
        h.extend(acq(2, 1_000, 1_000, true));
        assert_eq!(check_history(TTL, &h), Ok(true));
    }

    #[test]
    fn a_keep_alive_keeps_a_late_release_valid() {
        // c1 acquires at 0 (TTL 3 s), renews at 2 s, releases at 4 s: valid, thanks to the renewal.
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(ext(1, 0, 2_000, 2_000, true));
        h.extend(rel(1, 4_000, 4_000, true));
        assert_eq!(check_history(TTL, &h), Ok(true));
        // Without the renewal in the history the same release is flagged.
        let without: Vec<_> = h
            .iter()
            .copied()
            .filter(|e| !matches!(e, LinEvent::Invoke(i, _) | LinEvent::Return(i, _) if i.kind == OpKind::Extend))
            .collect();
        assert_eq!(check_history(TTL, &without), Ok(false));
        // A renewal keeps others out: a grant to c2 at 4 s is not linearizable, at 5 s it is.
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(ext(1, 0, 2_000, 2_000, true));
        h.extend(acq(2, 4_000, 4_000, true));
        assert_eq!(check_history(TTL, &h), Ok(false));
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(ext(1, 0, 2_000, 2_000, true));
        h.extend(acq(2, 5_000, 5_000, true));
        assert_eq!(check_history(TTL, &h), Ok(true));
    }

    #[test]
    fn a_renewal_of_a_lease_that_ran_out_is_not_linearizable() {
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(ext(1, 0, 3_000, 3_000, true));
        assert_eq!(check_history(TTL, &h), Ok(false));
        // Refused: fine once the lease may have run out, not before.
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(ext(1, 0, 3_000, 3_000, false));
        assert_eq!(check_history(TTL, &h), Ok(true));
        let mut h: Vec<_> = acq(1, 0, 0, true).into();
        h.extend(ext(1, 0, 1_000, 1_000, false));
        assert_eq!(check_history(TTL, &h), Ok(false));
    }

    #[test]
    fn a_release_while_a_keep_alive_is_outstanding_is_well_formed() {
        // The library releases while its keep-alive is in flight, and a timed-out keep-alive is
        // followed by the next: each call is its own thread of the tester.
        use locklab_protocols::Observation as O;
        let (lock, session) = (0, s(1));
        let mut h = Vec::new();
        for (obs, t) in [
            (O::AcquireInvoke { lock, session }, 0),
            (
                O::AcquireOk {
                    lock,
                    session,
                    token: None,
                    value: 1,
                    valid_until: locklab_protocols::history::Deadline::Never,
                },
                0,
            ),
            (O::ExtendInvoke { lock, session }, 1_000),
            (O::ExtendFail { lock, session, definite: false }, 2_000),
            (O::ExtendInvoke { lock, session }, 2_000),
            (O::ReleaseInvoke { lock, session }, 2_500),
            (O::ReleaseDone { lock, session, ok: Some(true) }, 2_500),
        ] {
            record(&mut h, &obs, t);
        }
        assert_eq!(h.len(), 6, "the timed-out keep-alive never returns: {h:?}");
        assert_eq!(check_history(TTL, &h), Ok(true));
    }
}

#[cfg(test)]
mod lazy_tests {
    use super::*;
    use locklab_protocols::SessionId;

    fn op(session: u32, kind: OpKind, n: u32) -> OpId {
        OpId { session: SessionId { client: session, incarnation: 0, n: 1 }, kind, n }
    }

    /// A release answered OK at the very instant the TTL bound ran out (the walk the model
    /// checker found on the etcd-style service): not linearizable for an exact lease, fine when
    /// the service revokes leases lazily.
    #[test]
    fn a_release_at_the_ttl_bound_is_legal_only_with_lazy_expiry() {
        const TTL: u64 = 3_000;
        let (a, r) = (op(1, OpKind::Acquire, 0), op(1, OpKind::Release, 0));
        let h = [
            LinEvent::Invoke(a, LockOp::Acquire { invoke_ns: 0 }),
            LinEvent::Return(a, LockRet::Acquire { granted: true, return_ns: 1_000 }),
            LinEvent::Invoke(r, LockOp::Release { invoke_ns: 4_000 }),
            LinEvent::Return(r, LockRet::Release { ok: true, return_ns: 4_000 }),
        ];
        assert_eq!(check_history(TTL, &h), Ok(false));
        assert_eq!(check_history_with(LeaseSpec::lazy(TTL, false), &h), Ok(true));
    }

    /// A session lease (etcd's `Session`) takes no expiry from the acquire: another client
    /// granted the lock soon after is legal; after the holder's keep-alive it is not.
    #[test]
    fn a_session_lease_takes_no_expiry_from_the_acquire() {
        const TTL: u64 = 3_000;
        let (a1, e1, a2) = (op(1, OpKind::Acquire, 0), op(1, OpKind::Extend, 0), op(2, OpKind::Acquire, 0));
        let early = [
            LinEvent::Invoke(a1, LockOp::Acquire { invoke_ns: 0 }),
            LinEvent::Return(a1, LockRet::Acquire { granted: true, return_ns: 100 }),
            LinEvent::Invoke(a2, LockOp::Acquire { invoke_ns: 500 }),
            LinEvent::Return(a2, LockRet::Acquire { granted: true, return_ns: 600 }),
        ];
        assert_eq!(check_history_with(LeaseSpec::lazy(TTL, false), &early), Ok(false));
        assert_eq!(check_history_with(LeaseSpec::lazy(TTL, true), &early), Ok(true));
        let extended = [
            LinEvent::Invoke(a1, LockOp::Acquire { invoke_ns: 0 }),
            LinEvent::Return(a1, LockRet::Acquire { granted: true, return_ns: 100 }),
            LinEvent::Invoke(e1, LockOp::Extend { invoke_ns: 200 }),
            LinEvent::Return(e1, LockRet::Extend { ok: true, return_ns: 300 }),
            LinEvent::Invoke(a2, LockOp::Acquire { invoke_ns: 500 }),
            LinEvent::Return(a2, LockRet::Acquire { granted: true, return_ns: 600 }),
        ];
        assert_eq!(check_history_with(LeaseSpec::lazy(TTL, true), &extended), Ok(false));
    }
}
