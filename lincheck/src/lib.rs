//! # locklab-lincheck: is this recorded history linearizable?
//!
//! A history is a list of [`Operation`]s: each was *called* by a client process at
//! `call_ns` and *returned* at `return_ns` with an output, or never returned (it crashed
//! or timed out; Jepsen calls this `:info`). The history is **linearizable** with respect
//! to a sequential specification ([`Spec`]) if every operation can be given a
//! *linearization point* between its call and its return such that executing the
//! operations one at a time, in the order of those points, against the specification
//! produces exactly the outputs that were observed (Herlihy & Wing, 1990). An operation
//! that never returned may take effect at any point after its call, or never.
//!
//! ## How the checker searches
//!
//! [`check`] implements the Wing & Gong (1993) depth-first search with Lowe's (2017)
//! memoisation, in the form described by Horn & Kroening, *Faster linearizability
//! checking via P-compositionality* (FORTE 2015) and used by Porcupine:
//!
//! 1. **P-compositionality.** Linearizability is local (Herlihy & Wing): a history over
//!    several independent objects is linearizable iff the sub-history of each object is.
//!    [`check`] therefore splits the history by [`Operation::key`] and checks every part on
//!    its own; one bad part makes the whole history non-linearizable. The search is
//!    exponential in the number of concurrent operations, so splitting is the biggest
//!    win on multi-key histories.
//! 2. **Wing–Gong search.** The call and return events of one part are kept in a
//!    doubly linked list in time order. Any operation whose call comes before the first
//!    return in the list is concurrent with everything not yet linearized, so it may be
//!    linearized next: the search tries it against the spec, and on success removes
//!    ("lifts") its call and return from the list and pushes an undo record. Reaching a
//!    return event means that operation should already have taken effect: a dead end, so
//!    the search pops the last choice and tries the next candidate. Nothing is cloned per
//!    step except the (small) spec state.
//! 3. **Lowe's memoisation.** Two search nodes with the same *set* of linearized
//!    operations and the same spec state have the same future, so the checker keeps a
//!    cache of `(linearized set, state)` pairs and never expands one twice. The set is a
//!    bitset of `u64` words; a cache key stores only the words that can differ between
//!    nodes (see [`checker`]), and the hash is a fixed, non-random Fx-style hash, so runs
//!    are reproducible.
//!
//! Operations that never returned get return time +∞ and are optional: the search
//! succeeds as soon as every operation that *did* return is linearized.
//!
//! The search takes a time budget. When it runs out the verdict is [`Verdict::Unknown`]:
//! the checker never guesses.
//!
//! ## Specifications shipped
//!
//! See [`specs`]: a mutex, a lease lock with expiry, a fencing-token lock, a
//! compare-and-set register and a key-value map with get/put/append. Implement [`Spec`]
//! for your own objects.
//!
//! ## Example
//!
//! ```
//! use locklab_lincheck::{check, Operation, Verdict};
//! use locklab_lincheck::specs::{LockOp, LockRet, MutexSpec};
//!
//! let op = |process, call_ns, return_ns, input, output| Operation {
//!     process, key: "lock".to_string(), call_ns, return_ns: Some(return_ns), input,
//!     output: Some(output),
//! };
//! // Two clients both believe their acquire succeeded, and neither released: not a mutex.
//! let history = vec![
//!     op(1, 0, 10, LockOp::Acquire, LockRet::Ok { token: None }),
//!     op(2, 20, 30, LockOp::Acquire, LockRet::Ok { token: None }),
//! ];
//! let result = check(&MutexSpec, &history, None).unwrap();
//! assert!(matches!(result.verdict, Verdict::NotLinearizable(_)));
//! ```

pub mod budget;
pub mod checker;
pub mod cli;
pub mod error;
pub mod format;
pub mod gen;
pub mod html;
pub mod specs;

pub use budget::{Guard, Limit};
pub use checker::{
    check, check_with_options, check_within, replay, CheckOptions, CheckResult, InvalidHistory, Limits,
    PartitionOutcome, PartitionReport, Prepared, Stats, Verdict, Violation,
};

use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// One client-visible operation of a recorded history.
///
/// `I` is what the client asked for (the input), `O` what it was told (the output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client process that issued the operation. Only used for display and by specs
    /// whose semantics depend on the caller (a lock's holder).
    pub process: u64,
    /// The object the operation is on. Operations on different keys are checked
    /// independently (P-compositionality).
    pub key: String,
    /// When the client issued the call, in nanoseconds on one common clock.
    pub call_ns: u64,
    /// When the client received the response, in nanoseconds; `None` if it never did.
    /// Ignored by the checker when `output` is `None` (the operation is then treated as
    /// returning at +∞), but kept for display.
    pub return_ns: Option<u64>,
    /// What the client asked for.
    pub input: I,
    /// What the client was told; `None` when the outcome is unknown (crash, timeout,
    /// Jepsen `:info`). Such an operation may take effect at any point after its call,
    /// or never.
    pub output: Option<O>,
}

impl<I, O> Operation<I, O> {
    /// True when the client received an answer (Jepsen `:ok` or `:fail`).
    pub fn returned(&self) -> bool {
        self.output.is_some()
    }
}

/// Where the linearization point of the operation being placed may lie, in nanoseconds
/// (both ends inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointRange {
    /// The operation's call time.
    pub earliest_ns: u64,
    /// The earliest return among the operation (if it returned) and all returned
    /// operations not yet linearized; `u64::MAX` when unbounded.
    pub latest_ns: u64,
}

/// A sequential specification of one object: its initial state and what one operation
/// does to it.
///
/// The checker calls [`Spec::step`] at a candidate linearization point. `step` must be a
/// pure function of its arguments (the checker memoises on the returned state).
///
/// # Operations that never returned
///
/// When `op.output` is `None`, `step` must return the state after the operation *took
/// effect*, or `None` if taking effect is impossible or would be indistinguishable from
/// never happening (a read, a failed compare-and-set): the checker always also considers
/// the alternative that the operation never took effect, so returning `None` there loses
/// nothing and prunes the search. If taking effect has several possible outcomes, return
/// the one that constrains the future least and document why it dominates the others.
///
/// # Time
///
/// Most specs ignore time. A spec whose behaviour depends on *when* the operation
/// linearizes (a lease) may keep the constraints on the linearization points in its
/// state; the point of `op` must lie in `[op.call_ns, op.return_ns]` (or
/// `[op.call_ns, +∞)` when it never returned) and the points must not decrease along the
/// linearization. See [`specs::LeaseSpec`] for a sound way to do this.
pub trait Spec: Sync {
    /// What a client asks for.
    type Input: Clone + Debug + Sync;
    /// What a client is told.
    type Output: Clone + Debug + Sync;
    /// The object's state. Small and cheap to clone: the search keeps one per undo level
    /// and one per memoised node.
    type State: Clone + Eq + Hash + Debug + Send;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Apply `op` to `state` at a candidate linearization point: the successor state if
    /// the observed output is legal there, `None` if it is not.
    ///
    /// `range` bounds the linearization point: at least `op.call_ns`, and at most the
    /// earliest return among `op` and every returned operation not yet linearized (they
    /// all come later in this linearization, so their points are later). Time-agnostic
    /// specs ignore it.
    fn step(
        &self,
        state: &Self::State,
        op: &Operation<Self::Input, Self::Output>,
        range: PointRange,
    ) -> Option<Self::State>;

    /// Subsumption (optional): true if every sequence of operations that is legal from
    /// `candidate` is also legal from `explored`, ending in a state that again covers.
    /// The checker then skips `candidate` when `explored` was already searched in full
    /// without success. The default, equality, is always correct; a coarser relation
    /// (a lease's looser time constraints, a smaller last fencing token) prunes more.
    fn covers(&self, explored: &Self::State, candidate: &Self::State) -> bool {
        explored == candidate
    }

    /// Search-order hint (never changes a verdict): try operations that never
    /// returned *before* the returned candidates at each search node, as Porcupine's
    /// call-order scan effectively does. Default `false` (returned operations first),
    /// which is much faster when crashed operations rarely matter (locks: a crashed
    /// acquire can take effect at many points but is seldom needed); registers, where a
    /// crashed write is often what a later read saw, are faster with `true`.
    fn crashed_first(&self) -> bool {
        false
    }

    /// Interchangeable operations that never returned (optional, a pruning): true if
    /// `a` and `b` (both never returned, on the same key) take effect identically at any
    /// point where both may — same input, and for specs that care about the caller, the
    /// same process. The checker then places such operations only in call order: of a
    /// class of interchangeable pending operations, only the earliest-called one not yet
    /// placed is a candidate. This loses no linearization: if one places a later-called
    /// `b` at point `p` while an earlier-called `a` is pending, swapping their roles
    /// (`a` at `p`, `b` wherever `a` went, or nowhere) is legal too, since `a`'s window
    /// `[call_a, +∞)` contains `b`'s. It turns `k` pending retries of the same request
    /// (a client extending a lease through a partition) from `2^k` subsets into `k + 1`
    /// prefixes. Default `false`: no pruning.
    fn interchangeable(
        &self,
        a: &Operation<Self::Input, Self::Output>,
        b: &Operation<Self::Input, Self::Output>,
    ) -> bool {
        let _ = (a, b);
        false
    }

    /// Anonymous processes (optional, a pruning): the checker calls this for an operation
    /// that never returned, is the last operation of its process on its key, and whose
    /// process has no other never-returned operation there — a process that, once this
    /// operation takes effect, never acts on the object again (Jepsen gives a crashed
    /// client a new process id). Return `Some(id)` if the spec's behaviour from then on
    /// depends on that process only through equality with later operations' processes;
    /// the checker then renames the operation's process to `id`, a value no operation
    /// uses. For a lock, a crashed acquire of such a process makes a holder that will
    /// never release or extend: whose it is does not matter, so all of them become one
    /// "ghost" holder, and with [`Spec::interchangeable`] the search tries one crashed
    /// acquire instead of each. Default `None`: no renaming.
    fn anonymous_process(&self, op: &Operation<Self::Input, Self::Output>) -> Option<u64> {
        let _ = op;
        None
    }

    /// Monotone operations (optional, a pruning, with [`Spec::unreachable`]): true if
    /// every step of `op` leads from a state to one that is *above* it in a partial order
    /// the spec has in mind (for a key-value map with appends: the prefix order on
    /// values). When every operation of a partition is monotone, every state the search
    /// can reach from a node is above the node's state. Default `false`.
    fn monotone(&self, op: &Operation<Self::Input, Self::Output>) -> bool {
        let _ = op;
        false
    }

    /// Dead ends (optional, a pruning): true if the returned operation `op` is illegal
    /// in `state` and in every state above it (see [`Spec::monotone`]). In a partition of
    /// monotone operations, the checker then abandons a search node as soon as an
    /// operation that must still be linearized there is unreachable from its state,
    /// instead of trying every order of the operations in between before finding out.
    /// (A get that read `"a b"` can never be linearized once the value is `"a c"`:
    /// appends only extend it.) Default `false`: no pruning.
    fn unreachable(&self, state: &Self::State, op: &Operation<Self::Input, Self::Output>) -> bool {
        let _ = (state, op);
        false
    }

    /// The state in words, for the HTML timeline's "state after this operation" (never
    /// called by the search). `name` gives a process's display name (`c1`, or `process 3`
    /// when the history names none). Default: the `Debug` form.
    fn describe_state(&self, state: &Self::State, name: &dyn Fn(u64) -> String) -> String {
        let _ = name;
        format!("{state:?}")
    }

    /// For the HTML timeline: when the lease the state records expires, as the earliest and
    /// latest moment the constraints allow (ns), or `None` (no lease, or no such bound). Never
    /// called by the search. Default `None`.
    fn expiry_window_ns(&self, state: &Self::State) -> Option<(u64, u64)> {
        let _ = state;
        None
    }

    /// Hash of the part of the state that [`Spec::covers`] requires to be equal.
    /// Must give equal hashes whenever `covers` can return true. Default: the whole state.
    fn cover_hash<H: Hasher>(&self, state: &Self::State, hasher: &mut H) {
        state.hash(hasher)
    }
}
