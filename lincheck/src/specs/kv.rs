//! One key of a key-value map with `get`, `put` and `append`.
//!
//! A map is checked key by key (P-compositionality: keys are independent objects), so
//! this spec describes a single key. State: the key's value, `Option<String>` (`None` =
//! absent), initially absent.
//!
//! * `get → Value(v)` is legal iff `v` equals the current value (`None` when absent).
//!   No effect.
//! * `put(s) → Ok` is always legal; the value becomes `Some(s)`.
//! * `append(s) → Ok` is always legal; the value becomes the old value followed by `s`
//!   (just `s` if the key was absent).
//! * `→ Fail` on any operation means the service refused before doing anything: always
//!   legal, no effect.
//! * Unknown outcome: a `put` or `append` may have taken effect; a `get` has no effect
//!   and is left out.
//! * Any other output (a get answered `Ok`, a put answered `Value`) is illegal.

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

/// Spec of one key of a map (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvSpec;

impl Spec for KvSpec {
    type Input = KvOp;
    type Output = KvRet;
    type State = Option<String>;

    fn init(&self) -> Option<String> {
        None
    }

    fn step(&self, state: &Option<String>, op: &Operation<KvOp, KvRet>, _range: PointRange) -> Option<Option<String>> {
        match (&op.input, &op.output) {
            (KvOp::Get, Some(KvRet::Value(v))) => (v == state).then(|| state.clone()),
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
}
