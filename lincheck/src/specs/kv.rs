//! One key of a key-value map with `get`, `put` and `append`.
//!
//! A map is checked key by key (P-compositionality: keys are independent objects), so
//! this spec describes a single key. State: the key's value, `Option<String>` (`None` =
//! absent), initially absent.
//!
//! * `get → Value(v)` is legal iff `v` equals the current value (`None` when absent) —
//!   except on a key that was never written, where [`KvInitial`] decides what a read may
//!   return. No effect.
//! * `put(s) → Ok` is always legal; the value becomes `Some(s)`.
//! * `append(s) → Ok` is always legal; the value becomes the old value followed by `s`
//!   (just `s` if the key was absent).
//! * `→ Fail` on any operation means the service refused before doing anything: always
//!   legal, no effect.
//! * Unknown outcome: a `put` or `append` may have taken effect; a `get` has no effect
//!   and is left out.
//! * Any other output (a get answered `Ok`, a put answered `Value`) is illegal.
//!
//! # Pruning (why append/get histories are fast)
//!
//! A key's value under appends is a string that only grows, and every concurrent
//! order of appends gives a *different* string, so Lowe's memo cannot merge the orders:
//! a window of `k` concurrent appends is `k!` states, and every crashed append can be
//! slotted into each of them (or left out). Plain Wing–Gong only notices a wrong order
//! when it tries the get that observes it, after exploring everything in between — on a
//! 2 000-operation, 50-client history with a stale read that was millions of states,
//! no verdict in 10 s. So the spec declares gets, appends and refused operations
//! [`monotone`](crate::Spec::monotone) in the prefix order, and a get
//! [`unreachable`](crate::Spec::unreachable) once the value is not a prefix of what it
//! read; in a partition without puts the checker then drops a node as soon as a get it
//! must still place is unreachable. (A partition with a put that may have taken effect is
//! searched without this pruning.)
//!
//! # What a never-written key reads as
//!
//! Services and recorders disagree: Jepsen's clients record a missing key as `nil`
//! (`None` here), while Porcupine's kv model (its `porcupine_test.go`, `kvModel`: `Init`
//! returns `""` and a get of a missing key returns `""`) and stores such as etcd's v2 API
//! wrappers report it as the empty string. [`KvInitial`] says which readings are legal
//! before the first write: `Absent` (only `None`), `Empty` (the key starts at `""`, as in
//! Porcupine), or `Either` (the default: `None` or `""`).
//!
//! `Either` is the default because it rejects no history that either convention
//! records and loses no violation involving a write: once anything is put or appended the
//! key holds `Some(..)` and reads must match it exactly (a `put("")` makes the key
//! present and empty, after which a read of `None` is illegal). The only thing it
//! accepts that a strict reading would not is a service answering both `nil` and `""`
//! for the same never-written key — inconsistent presentation, not a reordering. Use
//! `Absent` or `Empty` to hold a service to one convention.

use crate::{Operation, PointRange, Spec};

/// A map operation's input (the key is [`Operation::key`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Read the key.
    Get,
    /// Overwrite the key.
    Put(String),
    /// Append to the key's value.
    Append(String),
}

/// A map operation's output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvRet {
    /// A get's result (`None`: absent).
    Value(Option<String>),
    /// A put or append took effect.
    Ok,
    /// The service refused; nothing happened.
    Fail,
}

/// What a get of a never-written key may return (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvInitial {
    /// Absent (`nil`/`null`) only: the key starts absent.
    Absent,
    /// `""` only: the key starts at the empty string (Porcupine's kv model).
    Empty,
    /// Absent or `""` (the default).
    #[default]
    Either,
}

/// Names accepted by [`KvInitial::from_name`].
pub const KV_INITIAL_NAMES: &[&str] = &["either", "absent", "empty"];

impl KvInitial {
    /// `either`, `absent` or `empty`.
    pub fn from_name(name: &str) -> Result<KvInitial, String> {
        match name {
            "either" => Ok(KvInitial::Either),
            "absent" | "nil" | "null" => Ok(KvInitial::Absent),
            "empty" | "\"\"" => Ok(KvInitial::Empty),
            _ => Err(format!("unknown kv initial value '{name}' (expected one of: {})", KV_INITIAL_NAMES.join(", "))),
        }
    }
}

/// Spec of one key of a map (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvSpec {
    /// What a never-written key reads as.
    pub initial: KvInitial,
}

impl KvSpec {
    /// The spec with `initial` as the reading of a never-written key.
    pub fn new(initial: KvInitial) -> Self {
        KvSpec { initial }
    }
}

impl Spec for KvSpec {
    type Input = KvOp;
    type Output = KvRet;
    type State = Option<String>;

    fn init(&self) -> Option<String> {
        match self.initial {
            KvInitial::Empty => Some(String::new()),
            KvInitial::Absent | KvInitial::Either => None,
        }
    }

    fn describe_state(&self, state: &Option<String>, _name: &dyn Fn(u64) -> String) -> String {
        state.as_ref().map_or("value nil".to_string(), |v| format!("value {v:?}"))
    }

    fn step(&self, state: &Option<String>, op: &Operation<KvOp, KvRet>, _range: PointRange) -> Option<Option<String>> {
        match (&op.input, &op.output) {
            (KvOp::Get, Some(KvRet::Value(v))) => {
                let legal =
                    v == state || (self.initial == KvInitial::Either && state.is_none() && v.as_deref() == Some(""));
                legal.then(|| state.clone())
            }
            (KvOp::Get, None) => None,
            (_, Some(KvRet::Fail)) => Some(state.clone()),
            (KvOp::Put(s), Some(KvRet::Ok) | None) => Some(Some(s.clone())),
            (KvOp::Append(s), Some(KvRet::Ok) | None) => {
                let mut value = state.clone().unwrap_or_default();
                value.push_str(s);
                Some(Some(value))
            }
            (KvOp::Get, Some(KvRet::Ok)) | (KvOp::Put(_) | KvOp::Append(_), Some(KvRet::Value(_))) => None,
        }
    }

    /// Gets, appends and refused operations only extend the value (prefix order, absent
    /// below everything); a put that may have taken effect can replace it.
    fn monotone(&self, op: &Operation<KvOp, KvRet>) -> bool {
        !matches!((&op.input, &op.output), (KvOp::Put(_), Some(KvRet::Ok) | None))
    }

    /// A get is unreachable once the value is not a prefix of what it read: appends
    /// only extend the value, so it can never equal that again.
    fn unreachable(&self, state: &Option<String>, op: &Operation<KvOp, KvRet>) -> bool {
        match (state, &op.input, &op.output) {
            (Some(value), KvOp::Get, Some(KvRet::Value(read))) => {
                !read.as_deref().is_some_and(|read| read.starts_with(value.as_str()))
            }
            _ => false,
        }
    }
}
