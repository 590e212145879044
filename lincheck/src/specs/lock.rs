//! Lock specifications: a mutex, a lease with expiry, and a fencing-token lock.
//!
//! All three share one vocabulary, per lock key, for operations by a client process:
//!
//! | input            | outputs                                                    |
//! |------------------|------------------------------------------------------------|
//! | [`LockOp::Acquire`] | `Ok { token }` (granted, optionally with a fencing token), `Fail` (the service said no), or unknown (never returned) |
//! | [`LockOp::Release`] | `Ok { .. }`, `Fail`, or unknown                          |
//! | [`LockOp::Extend`]  | `Ok { .. }` (lease renewed), `Fail`, or unknown          |
//!
//! `Fail` means the service *answered* no. A client-side timeout is not a `Fail`: the
//! request may still have taken effect, so record it as unknown (`output: None`, Jepsen
//! `:info`). Recording a timeout as `Fail` makes a correct service look broken.
//!
//! # Mutex ([`MutexSpec`])
//!
//! State: the holder (a process) or free. The lock is not re-entrant.
//!
//! * `acquire → Ok` is legal iff the lock is free; the caller becomes the holder.
//! * `acquire → Fail` is legal iff the lock is held (by anyone, the caller included).
//!   A `Fail` on a free lock is **not** legal: a service that refuses a free lock is
//!   indistinguishable from one that lost a grant, so it is reported. (Spurious failures
//!   caused by timeouts must be recorded as unknown, see above.)
//! * `release → Ok` is legal iff the caller is the holder; the lock becomes free.
//! * `release → Fail` is legal iff the caller is not the holder.
//! * `extend → Ok` is legal iff the caller is the holder (a no-op for a mutex);
//!   `extend → Fail` iff it is not.
//! * Unknown outcome: the operation either took effect as a success (legal only when
//!   success would be) or never happened.
//!
//! Every lease violates this spec as soon as a holder outlives its TTL and the lease is
//! granted to someone else: that is the point of checking a lease service against it.
//!
//! # Lease ([`LeaseSpec`], parameter `ttl_ns`)
//!
//! State: the holder, and its expiry time. An operation that linearizes at time `p`
//! (with `call_ns <= p <= return_ns`, and `p` never decreasing along the
//! linearization) sees the lock *held* iff there is a holder and `p < expiry`.
//!
//! * `acquire → Ok` at `p` is legal iff the lock is not held at `p` (free, or the
//!   holder's `expiry <= p`); the caller becomes the holder with `expiry = p + ttl_ns`.
//! * `acquire → Fail` at `p` is legal iff the lock is held at `p` (by anyone).
//! * `release → Ok` at `p` is legal iff the caller holds the lock at `p`
//!   (`p < expiry`); the lock becomes free. Releasing an expired lease fails.
//! * `release → Fail` at `p` is legal iff the caller does not hold the lock at `p`.
//! * `extend → Ok` at `p` is legal iff the caller holds the lock at `p`; then
//!   `expiry = p + ttl_ns`. `extend → Fail` iff the caller does not hold it at `p`.
//! * Unknown outcome: as for the mutex.
//!
//! ## How the search handles continuous time (and why it is exact)
//!
//! Picking one linearization point per operation (always the earliest, or always the
//! latest) is *not* sound here: an `acquire → Ok` wants a late point (the previous lease
//! must have expired), an `acquire → Fail` wants an early one, and the point also sets
//! the next expiry. Instead the state keeps the points symbolic: a *zone* (a difference
//! bound matrix, as in timed-automata model checkers) over two unknowns, `H` = the
//! linearization point that last set the expiry (so `expiry = H + ttl_ns`) and `N` = the
//! point of the latest linearized operation. Every rule above is a difference
//! constraint: `call_ns <= P`, `P <= return_ns`, `N <= P`, `P - H >= ttl_ns`
//! (expired) or `P - H <= ttl_ns - 1` (held; times are integer nanoseconds). Linearizing
//! adds the new point `P` with its constraints, closes the matrix (incrementally: the
//! old matrix is already closed, so only paths through `P` can be shorter — O(n²), the
//! same result as Floyd–Warshall on 4 variables), rejects the step if a negative cycle shows the constraints are
//! unsatisfiable, and then renames `P` to `N` (and to `H` when the operation sets the
//! expiry), forgetting the old variables, and finally drops the upper bounds of `N`:
//! the future only ever requires `P >= N`, so a smaller `N` allows everything a larger
//! one does, and keeping only the lower bounds loses no feasible future while making
//! different orders of the same operations produce equal states (without this the
//! memoisation barely works and histories with crashed acquires blow up). For difference constraints, closure followed by
//! dropping a variable is exact existential elimination, and the canonical (closed)
//! matrix is unique, so: a linearization order is accepted iff there exist points
//! satisfying every rule, and two search nodes with equal zones have equal futures (the
//! memoisation stays sound). When the lock becomes free, `H` is forgotten too, which lets
//! more search nodes meet in the cache.
//!
//! # Fencing-token lock ([`FencingSpec`], optional `ttl_ns`)
//!
//! The mutex rules (or, with `ttl_ns`, the lease rules) plus: the tokens returned by
//! successful acquires strictly increase in linearization order. An `acquire → Ok`
//! without a token, or an acquire with unknown outcome that took effect, was issued
//! *some* token greater than the last one; the spec assumes the smallest possible one
//! (last + 1), which constrains later tokens least, so no linearizable history is
//! rejected by that choice.

use crate::{Operation, PointRange, Spec};

/// A lock operation's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockOp {
    /// Ask for the lock.
    Acquire,
    /// Give the lock back.
    Release,
    /// Renew the lease (a no-op on a mutex, but only the holder may do it).
    Extend,
}

/// A lock operation's output (absent when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockRet {
    /// The service said yes; successful acquires may carry a fencing token.
    Ok {
        /// Fencing token, if the service issues them.
        token: Option<u64>,
    },
    /// The service said no.
    Fail,
}

/// A mutex (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct MutexSpec;

/// A lease lock with expiry `ttl_ns` after the linearization point of the acquire or
/// extend (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct LeaseSpec {
    /// Lease duration in nanoseconds.
    pub ttl_ns: u64,
}

/// A lock whose grants carry strictly increasing fencing tokens; a mutex when `ttl_ns`
/// is `None`, a lease otherwise (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct FencingSpec {
    /// Lease duration in nanoseconds, or `None` for mutex semantics.
    pub ttl_ns: Option<u64>,
}

/// A lease whose expiry is *lazy*: it lasts at least `ttl_ns` after the acquire or extend
/// that set it, and ends at some later point when the service revokes it (etcd's lessor
/// revokes expired leases from a periodic loop; Consul: "the TTL is a lower bound"). So a
/// release or extend by the holder after the TTL may still succeed, and an acquire by
/// another may still be refused — until someone else is granted the lock, which proves the
/// lease ended. Everything else is as for [`LeaseSpec`].
///
/// With `session`, the lease is a *session* that outlives one acquire (an etcd `Session`'s
/// lease, reused by every `Mutex.Lock` of that session; a Consul session): an acquire does not
/// renew it, so it sets no lower bound on the holder's expiry — the lease runs from its last
/// keep-alive, which the history of lock operations need not show. Only the holder's extends
/// (keep-alives while holding) set one. Without `session`, the acquire starts the lease.
#[derive(Clone, Copy, Debug)]
pub struct LazyLeaseSpec {
    /// The least lease duration in nanoseconds.
    pub ttl_ns: u64,
    /// The lease is a session an acquire does not renew (see above).
    pub session: bool,
}

/// [`FencingSpec`] with lazy expiry (see [`LazyLeaseSpec`]).
#[derive(Clone, Copy, Debug)]
pub struct LazyFencingSpec {
    /// The least lease duration in nanoseconds.
    pub ttl_ns: u64,
    /// The lease is a session an acquire does not renew (see [`LazyLeaseSpec`]).
    pub session: bool,
}

/// The process id given to a crashed acquire whose process never acts again (see
/// [`Spec::anonymous_process`]): a holder that will never extend or release. All such
/// acquires become interchangeable, so the search tries one of them, not each.
pub const GHOST: u64 = u64::MAX;

/// The state of every lock spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockState {
    /// The process holding the lock (for a lease: the last grantee, whose lease may have
    /// expired), or `None` when free.
    pub holder: Option<u64>,
    /// Greatest fencing token issued so far (fencing spec only).
    pub last_token: Option<u64>,
    /// Constraints on linearization points (lease semantics only).
    pub zone: Option<Zone>,
}

const INF: i64 = i64::MAX;
const ZERO: usize = 0;
const H: usize = 1;
const N: usize = 2;
const P: usize = 3;
/// Magnitude below which [`Zone::linearize`] works in `i64` (2^60 ns, about 36 years).
const NARROW: i64 = 1 << 60;

/// The integer types the zone step computes in: `i64` for narrow inputs (no sum it forms can
/// reach `INF` or overflow), `i128` for anything up to [`crate::checker::MAX_TIME_NS`] (sums may
/// pass `INF` and are clamped to it).
trait ZoneInt: Copy + Ord + From<i64> + std::ops::Add<Output = Self> + std::ops::Neg<Output = Self> {
    /// Whether a sum of bounds can reach the `INF` sentinel (then it is clamped to it).
    const CAN_REACH_INF: bool;
    /// Back to a zone's `i64` bound: `INF` for anything at or beyond it.
    fn to_bound(self) -> i64;
}

impl ZoneInt for i64 {
    const CAN_REACH_INF: bool = false;
    #[inline]
    fn to_bound(self) -> i64 {
        self
    }
}

impl ZoneInt for i128 {
    const CAN_REACH_INF: bool = true;
    #[inline]
    fn to_bound(self) -> i64 {
        if self >= INF as i128 {
            INF
        } else {
            self as i64
        }
    }
}

/// A closed difference bound matrix over `{0, H, N}`: `bound[i][j]` is the tightest
/// known upper bound on `x_i - x_j` (`i64::MAX` = unbounded). `H` is the linearization
/// point that set the current expiry, `N` the latest linearization point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Zone {
    /// `bound[i][j]` bounds `x_i - x_j`; index 0 is the constant 0, 1 is `H`, 2 is `N`.
    pub bound: [[i64; 3]; 3],
}

/// Extra constraint on the new point `P` relative to `H`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    None,
    /// `P < H + ttl`.
    Live,
    /// `P >= H + ttl`.
    Expired,
}

impl Zone {
    fn initial() -> Self {
        let mut bound = [[INF; 3]; 3];
        for (i, row) in bound.iter_mut().enumerate() {
            row[i] = 0;
        }
        bound[ZERO][N] = 0; // N >= 0
        Zone { bound }
    }

    /// Adds a linearization point for an op in `[call_ns, return_ns]` after `N`, with
    /// `guard`; returns the zone with `N := P` (and `H := P` if `sets_expiry`), or `None`
    /// if the constraints are unsatisfiable.
    ///
    /// Incremental closure: `self` is closed (every zone the spec makes is), so the only
    /// paths the new point `P` can shorten go through `P` once. The shortest path out of `P`
    /// to `j` is one direct edge `P → k` followed by the closed `k → j`; into `P` likewise;
    /// a negative cycle must pass through `P`; and an old bound `i → j` can only improve to
    /// `i → P → j`. That is O(n²) on 3 variables instead of Floyd–Warshall's O(n³) on 4, and
    /// gives the same canonical matrix (shortest paths are unique; `tests::incremental_closure_
    /// matches_floyd_warshall` checks it against [`Zone::linearize_floyd_warshall`]).
    ///
    /// Real histories keep every time and bound far below 2^60 ns (36 years), where sums of
    /// three bounds cannot overflow an `i64`: the step is computed there in `i64`
    /// ([`Zone::linearize_in`]`::<i64>`). Anything larger takes the same computation in `i128`
    /// (the two agree exactly where both apply: `tests::narrow_and_wide_agree`).
    #[inline]
    fn linearize(
        &self,
        call_ns: u64,
        return_ns: Option<u64>,
        guard: Guard,
        ttl_ns: u64,
        sets_expiry: bool,
    ) -> Option<Zone> {
        if self.narrow(call_ns, return_ns, ttl_ns) {
            self.linearize_in::<i64>(call_ns, return_ns, guard, ttl_ns, sets_expiry)
        } else {
            self.linearize_in::<i128>(call_ns, return_ns, guard, ttl_ns, sets_expiry)
        }
    }

    /// True if the inputs of a step and every finite bound are below [`NARROW`] in magnitude:
    /// then every sum the `i64` step forms (at most three such terms) fits an `i64`
    /// with room to spare, and stays below the `INF` sentinel.
    #[inline]
    fn narrow(&self, call_ns: u64, return_ns: Option<u64>, ttl_ns: u64) -> bool {
        let small = |v: u64| v < NARROW as u64;
        small(call_ns)
            && return_ns.is_none_or(small)
            && small(ttl_ns)
            && self.bound.iter().flatten().all(|&b| b == INF || (-NARROW < b && b < NARROW))
    }

    /// The step, computed in the integer type `T` (see [`ZoneInt`]); `INF` is the sentinel of
    /// "no bound" in both.
    #[inline]
    fn linearize_in<T: ZoneInt>(
        &self,
        call_ns: u64,
        return_ns: Option<u64>,
        guard: Guard,
        ttl_ns: u64,
        sets_expiry: bool,
    ) -> Option<Zone> {
        let unbounded = T::from(INF);
        let d = |i: usize, j: usize| -> T { T::from(self.bound[i][j]) };
        let time = |ns: u64| T::from(ns as i64); // every input is at most MAX_TIME_NS < 2^63
                                                 // Direct edges of P: `out_edge[k]` bounds P - x_k, `in_edge[k]` bounds x_k - P.
        let mut out_edge = [unbounded; 3];
        let mut in_edge = [unbounded; 3];
        in_edge[N] = T::from(0); // N - P <= 0
        in_edge[ZERO] = -time(call_ns); // P >= call
        if let Some(r) = return_ns {
            out_edge[ZERO] = time(r); // P <= return
        }
        match guard {
            Guard::None => {}
            Guard::Live => out_edge[H] = time(ttl_ns) + T::from(-1),
            Guard::Expired => in_edge[H] = -time(ttl_ns),
        }
        // Shortest P -> j and i -> P, through the closed old matrix.
        let mut from_p = [unbounded; 3];
        let mut to_p = [unbounded; 3];
        for k in 0..3 {
            for j in 0..3 {
                if out_edge[k] != unbounded && d(k, j) != unbounded {
                    from_p[j] = from_p[j].min(out_edge[k] + d(k, j));
                }
                if in_edge[k] != unbounded && d(j, k) != unbounded {
                    to_p[j] = to_p[j].min(d(j, k) + in_edge[k]);
                }
            }
        }
        if T::CAN_REACH_INF {
            // Path lengths at or beyond the sentinel count as unbounded, as in Floyd–Warshall.
            for v in from_p.iter_mut().chain(to_p.iter_mut()) {
                *v = (*v).min(unbounded);
            }
        }
        // A negative cycle goes through P: P -> j -> P.
        if (0..3).any(|j| from_p[j] != unbounded && in_edge[j] != unbounded && from_p[j] + in_edge[j] < T::from(0)) {
            return None;
        }
        // The closed 4-variable matrix, entry by entry (index P = 3).
        let closed = |i: usize, j: usize| -> T {
            match (i, j) {
                (P, P) => T::from(0),
                (P, j) => from_p[j],
                (i, P) => to_p[i],
                (i, j) if to_p[i] != unbounded && from_p[j] != unbounded => d(i, j).min(to_p[i] + from_p[j]),
                (i, j) => d(i, j),
            }
        };
        let from = [ZERO, if sets_expiry { P } else { H }, P];
        let mut bound = [[INF; 3]; 3];
        for (a, row) in bound.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate() {
                *cell = closed(from[a], from[b]).to_bound();
            }
        }
        // Upward closure in N: the future constrains N only through `P >= N`, so a
        // later N never allows more than an earlier one; forgetting N's upper bounds
        // (which merely record which operation happened to be last) keeps exactly the
        // same set of feasible futures, and lets different orders of the same
        // operations meet in the memo cache.
        bound[N][ZERO] = INF;
        bound[N][H] = INF;
        Some(Zone { bound })
    }

    /// The reference for [`Zone::linearize`]: the same step by Floyd–Warshall on the
    /// 4-variable matrix.
    #[cfg(test)]
    fn linearize_floyd_warshall(
        &self,
        call_ns: u64,
        return_ns: Option<u64>,
        guard: Guard,
        ttl_ns: u64,
        sets_expiry: bool,
    ) -> Option<Zone> {
        let mut m = [[INF as i128; 4]; 4];
        for (row, bounds) in m.iter_mut().zip(&self.bound) {
            for (cell, bound) in row.iter_mut().zip(bounds) {
                *cell = *bound as i128;
            }
        }
        m[P][P] = 0;
        m[N][P] = 0; // N - P <= 0
        m[ZERO][P] = -(call_ns as i128); // P >= call
        if let Some(r) = return_ns {
            m[P][ZERO] = r as i128; // P <= return
        }
        match guard {
            Guard::None => {}
            Guard::Live => m[P][H] = ttl_ns as i128 - 1,
            Guard::Expired => m[H][P] = -(ttl_ns as i128),
        }
        let inf = INF as i128;
        for k in 0..4 {
            for i in 0..4 {
                if m[i][k] == inf {
                    continue;
                }
                for j in 0..4 {
                    if m[k][j] == inf {
                        continue;
                    }
                    let through = m[i][k] + m[k][j];
                    if through < m[i][j] {
                        m[i][j] = through;
                    }
                }
            }
        }
        if (0..4).any(|i| m[i][i] < 0) {
            return None;
        }
        let from = [ZERO, if sets_expiry { P } else { H }, P];
        let mut bound = [[INF; 3]; 3];
        for (a, row) in bound.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate() {
                let v = m[from[a]][from[b]];
                *cell = if v >= inf { INF } else { v as i64 };
            }
        }
        // Upward closure in N: the future constrains N only through `P >= N`, so a
        // later N never allows more than an earlier one; forgetting N's upper bounds
        // (which merely record which operation happened to be last) keeps exactly the
        // same set of feasible futures, and lets different orders of the same
        // operations meet in the memo cache.
        bound[N][ZERO] = INF;
        bound[N][H] = INF;
        Some(Zone { bound })
    }

    /// Forgets everything about `H` (the lock is free).
    fn forget_expiry(mut self) -> Zone {
        for i in 0..3 {
            if i != H {
                self.bound[i][H] = INF;
                self.bound[H][i] = INF;
            }
        }
        self
    }
}

/// The shared lock model; the public specs configure it.
#[derive(Clone, Copy, Debug)]
struct LockModel {
    ttl_ns: Option<u64>,
    fencing: bool,
    /// Lazy expiry ([`LazyLeaseSpec`]): the holder's successes and others' refusals need no
    /// live lease.
    lazy: bool,
    /// A successful acquire starts the lease (sets the holder's earliest expiry); false for a
    /// session lease that the acquire reuses ([`LazyLeaseSpec::session`]).
    acquire_sets_expiry: bool,
}

/// What a legal step does.
struct Effect {
    guard: Guard,
    new_holder: Option<u64>,
    sets_expiry: bool,
}

impl LockModel {
    fn init(&self) -> LockState {
        LockState { holder: None, last_token: None, zone: self.ttl_ns.map(|_| Zone::initial()) }
    }

    /// When the holder's lease expires: the window the zone allows for the point that set it,
    /// plus the TTL; `None` when free or unbounded.
    fn expiry_window_ns(&self, state: &LockState) -> Option<(u64, u64)> {
        let (ttl, zone) = (self.ttl_ns?, state.zone?);
        state.holder?;
        let (lo, hi) = (zone.bound[ZERO][H], zone.bound[H][ZERO]);
        if lo == INF || hi == INF {
            return None;
        }
        let ttl = ttl as i64;
        Some(((ttl - lo).max(0) as u64, (hi + ttl).max(0) as u64))
    }

    /// The state in words: who holds it, when that lease expires (the window the zone
    /// allows for the point that set it, plus the TTL), the last fencing token.
    fn describe(&self, state: &LockState, name: &dyn Fn(u64) -> String) -> String {
        let ms = |ns: i64| format!("{:.3}", ns as f64 / 1e6);
        let who = |p: u64| if p == GHOST { "a crashed client".to_string() } else { name(p) };
        let mut text = match state.holder {
            None => "free".to_string(),
            Some(p) => match (self.ttl_ns, state.zone) {
                (Some(ttl), Some(zone)) => {
                    let ttl = ttl as i64;
                    let lo = zone.bound[ZERO][H];
                    let hi = zone.bound[H][ZERO];
                    let verb = if self.lazy { "expires no earlier than" } else { "expires" };
                    match (lo, hi) {
                        (INF, _) | (_, INF) => format!("held by {}", who(p)),
                        (lo, hi) if -lo == hi => format!("held by {}, lease {verb} t={} ms", who(p), ms(hi + ttl)),
                        (lo, hi) => {
                            format!("held by {}, lease {verb} t∈[{}, {}] ms", who(p), ms(ttl - lo), ms(hi + ttl))
                        }
                    }
                }
                _ => format!("held by {}", who(p)),
            },
        };
        if let Some(t) = state.last_token {
            text.push_str(&format!("; last token {t}"));
        }
        text
    }

    fn step(&self, state: &LockState, op: &Operation<LockOp, LockRet>, range: PointRange) -> Option<LockState> {
        let me = op.process;
        let holder = state.holder;
        let mine = holder == Some(me);
        // `Live`/`Expired` guards only matter with a TTL; for a mutex a holder is
        // always live, so an `Expired` requirement is impossible.
        let timed = self.ttl_ns.is_some();
        // What "the lease may still be live" requires: a live lease, or — with lazy expiry —
        // nothing (an expired lease may not have been revoked yet).
        let live = if self.lazy { Guard::None } else { Guard::Live };
        let success = match op.output {
            None | Some(LockRet::Ok { .. }) => true,
            Some(LockRet::Fail) => false,
        };
        let effect = match (op.input, success) {
            (LockOp::Acquire, true) => match holder {
                None => Effect { guard: Guard::None, new_holder: Some(me), sets_expiry: self.acquire_sets_expiry },
                Some(_) if timed => {
                    Effect { guard: Guard::Expired, new_holder: Some(me), sets_expiry: self.acquire_sets_expiry }
                }
                Some(_) => return None,
            },
            (LockOp::Acquire, false) => match holder {
                None => return None,
                Some(h) => Effect { guard: live, new_holder: Some(h), sets_expiry: false },
            },
            (LockOp::Release, true) if mine => Effect { guard: live, new_holder: None, sets_expiry: false },
            (LockOp::Extend, true) if mine => Effect { guard: live, new_holder: holder, sets_expiry: true },
            (LockOp::Release | LockOp::Extend, true) => return None,
            (LockOp::Release | LockOp::Extend, false) if mine => {
                if !timed {
                    return None;
                }
                Effect { guard: Guard::Expired, new_holder: holder, sets_expiry: false }
            }
            (LockOp::Release | LockOp::Extend, false) => {
                Effect { guard: Guard::None, new_holder: holder, sets_expiry: false }
            }
        };
        // An extend with unknown outcome on a mutex changes nothing: prune it.
        if op.output.is_none() && !timed && op.input == LockOp::Extend {
            return None;
        }

        let mut last_token = state.last_token;
        if self.fencing && op.input == LockOp::Acquire && success {
            let token = match op.output {
                Some(LockRet::Ok { token: Some(t) }) => t,
                _ => last_token.map_or(0, |t| t.saturating_add(1)),
            };
            if last_token.is_some_and(|last| token <= last) {
                return None;
            }
            last_token = Some(token);
        }

        let zone = match (state.zone, self.ttl_ns) {
            (Some(zone), Some(ttl_ns)) => {
                let return_ns = (range.latest_ns != u64::MAX).then_some(range.latest_ns);
                let guard = if holder.is_none() { Guard::None } else { effect.guard };
                let z = zone.linearize(range.earliest_ns, return_ns, guard, ttl_ns, effect.sets_expiry)?;
                // Free, or held under a session lease of unknown age: nothing bounds its expiry.
                let unknown_age = op.input == LockOp::Acquire && success && !self.acquire_sets_expiry;
                Some(if effect.new_holder.is_none() || unknown_age { z.forget_expiry() } else { z })
            }
            _ => None,
        };
        Some(LockState { holder: effect.new_holder, last_token, zone })
    }
}

impl Zone {
    /// True if every point of `other` is in `self` (both closed).
    pub fn includes(&self, other: &Zone) -> bool {
        (0..3).all(|i| (0..3).all(|j| other.bound[i][j] <= self.bound[i][j]))
    }
}

/// Subsumption shared by the lock specs: same holder, a last token no greater (later
/// tokens need only exceed it), and a zone that includes the candidate's (looser time
/// constraints admit every future the tighter ones admit).
fn lock_covers(explored: &LockState, candidate: &LockState) -> bool {
    explored.holder == candidate.holder
        && explored.last_token <= candidate.last_token
        && match (&explored.zone, &candidate.zone) {
            (Some(a), Some(b)) => a.includes(b),
            (None, None) => true,
            _ => false,
        }
}

fn lock_cover_hash<Hs: std::hash::Hasher>(state: &LockState, hasher: &mut Hs) {
    use std::hash::Hash;
    state.holder.hash(hasher);
}

/// The three lock specs differ only in how they configure [`LockModel`].
macro_rules! lock_spec {
    ($spec:ty) => {
        impl Spec for $spec {
            type Input = LockOp;
            type Output = LockRet;
            type State = LockState;
            fn anonymous_process(&self, op: &Operation<LockOp, LockRet>) -> Option<u64> {
                (op.input == LockOp::Acquire).then_some(GHOST)
            }
            fn interchangeable(&self, a: &Operation<LockOp, LockRet>, b: &Operation<LockOp, LockRet>) -> bool {
                a.process == b.process && a.input == b.input
            }
            fn init(&self) -> LockState {
                self.model().init()
            }
            fn step(&self, state: &LockState, op: &Operation<LockOp, LockRet>, range: PointRange) -> Option<LockState> {
                self.model().step(state, op, range)
            }
            fn covers(&self, explored: &LockState, candidate: &LockState) -> bool {
                lock_covers(explored, candidate)
            }
            fn cover_hash<Hs: std::hash::Hasher>(&self, state: &LockState, hasher: &mut Hs) {
                lock_cover_hash(state, hasher)
            }
            fn describe_state(&self, state: &LockState, name: &dyn Fn(u64) -> String) -> String {
                self.model().describe(state, name)
            }
            fn expiry_window_ns(&self, state: &LockState) -> Option<(u64, u64)> {
                self.model().expiry_window_ns(state)
            }
        }
    };
}

lock_spec!(MutexSpec);
lock_spec!(LeaseSpec);
lock_spec!(FencingSpec);
lock_spec!(LazyLeaseSpec);
lock_spec!(LazyFencingSpec);

impl MutexSpec {
    fn model(&self) -> LockModel {
        LockModel { ttl_ns: None, fencing: false, lazy: false, acquire_sets_expiry: true }
    }
}

impl LeaseSpec {
    fn model(&self) -> LockModel {
        LockModel {
            ttl_ns: Some(self.ttl_ns.min(crate::checker::MAX_TIME_NS)),
            fencing: false,
            lazy: false,
            acquire_sets_expiry: true,
        }
    }
}

impl LazyLeaseSpec {
    fn model(&self) -> LockModel {
        LockModel {
            ttl_ns: Some(self.ttl_ns.min(crate::checker::MAX_TIME_NS)),
            fencing: false,
            lazy: true,
            acquire_sets_expiry: !self.session,
        }
    }
}

impl LazyFencingSpec {
    fn model(&self) -> LockModel {
        LockModel {
            ttl_ns: Some(self.ttl_ns.min(crate::checker::MAX_TIME_NS)),
            fencing: true,
            lazy: true,
            acquire_sets_expiry: !self.session,
        }
    }
}

impl FencingSpec {
    fn model(&self) -> LockModel {
        LockModel {
            ttl_ns: self.ttl_ns.map(|t| t.min(crate::checker::MAX_TIME_NS)),
            fencing: true,
            lazy: false,
            acquire_sets_expiry: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// The incremental closure gives exactly Floyd–Warshall's zone (or rejection) on random
    /// chains of steps from the initial zone: small times and TTLs so that both feasible and
    /// infeasible steps, live and expired guards, and forgotten expiries all occur.
    #[test]
    fn incremental_closure_matches_floyd_warshall() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut rejected) = (0u32, 0u32);
        for _chain in 0..2_000 {
            let ttl_ns = 1 + rng.below(20);
            let mut zone = Zone::initial();
            let mut now = 0u64;
            for _step in 0..12 {
                now += rng.below(8);
                let call_ns = now.saturating_sub(rng.below(10));
                let return_ns = (rng.below(4) != 0).then(|| call_ns + rng.below(15));
                let guard = [Guard::None, Guard::Live, Guard::Expired][rng.below(3) as usize];
                let sets_expiry = rng.below(2) == 0;
                let fast = zone.linearize(call_ns, return_ns, guard, ttl_ns, sets_expiry);
                let reference = zone.linearize_floyd_warshall(call_ns, return_ns, guard, ttl_ns, sets_expiry);
                assert_eq!(fast, reference, "zone {zone:?}, call {call_ns}, return {return_ns:?}, ttl {ttl_ns}");
                match fast {
                    Some(next) => {
                        accepted += 1;
                        zone = if rng.below(5) == 0 { next.forget_expiry() } else { next };
                    }
                    None => rejected += 1,
                }
            }
        }
        // Both outcomes were exercised many times.
        assert!(accepted > 1_000 && rejected > 1_000, "accepted {accepted}, rejected {rejected}");
    }

    /// The `i64` step agrees with the `i128` one wherever it is used, and histories with times
    /// near 2^62 (the checker's limit) take the `i128` step and still match Floyd–Warshall.
    #[test]
    fn narrow_and_wide_agree() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut narrow, mut wide) = (0u32, 0u32);
        for chain in 0..2_000 {
            // Every other chain starts near the top of the time range.
            let base = if chain % 2 == 0 { 0 } else { crate::checker::MAX_TIME_NS - 1_000 };
            let ttl_ns = if chain % 4 == 3 { crate::checker::MAX_TIME_NS } else { 1 + rng.below(20) };
            let mut zone = Zone::initial();
            let mut now = base;
            for _step in 0..12 {
                now = (now + rng.below(8)).min(crate::checker::MAX_TIME_NS);
                let call_ns = now.saturating_sub(rng.below(10));
                let return_ns = (rng.below(4) != 0).then(|| (call_ns + rng.below(15)).min(crate::checker::MAX_TIME_NS));
                let guard = [Guard::None, Guard::Live, Guard::Expired][rng.below(3) as usize];
                let sets_expiry = rng.below(2) == 0;
                let reference = zone.linearize_floyd_warshall(call_ns, return_ns, guard, ttl_ns, sets_expiry);
                let wide_step = zone.linearize_in::<i128>(call_ns, return_ns, guard, ttl_ns, sets_expiry);
                if ttl_ns < 1 << 61 {
                    assert_eq!(wide_step, reference);
                }
                if zone.narrow(call_ns, return_ns, ttl_ns) {
                    narrow += 1;
                    assert_eq!(zone.linearize_in::<i64>(call_ns, return_ns, guard, ttl_ns, sets_expiry), reference);
                } else {
                    wide += 1;
                }
                assert_eq!(zone.linearize(call_ns, return_ns, guard, ttl_ns, sets_expiry), wide_step);
                if let Some(next) = wide_step {
                    zone = if rng.below(5) == 0 { next.forget_expiry() } else { next };
                }
            }
        }
        assert!(narrow > 5_000 && wide > 5_000, "narrow {narrow}, wide {wide}");
    }
}
