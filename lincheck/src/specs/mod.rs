//! The sequential specifications shipped with locklab.
//!
//! Every spec describes **one** object; a history over many objects is split by
//! [`Operation::key`](crate::Operation::key) and each part is checked against its own
//! fresh copy of the spec (P-compositionality). So [`KvSpec`] is the spec of one key of a
//! map, [`CasRegisterSpec`] of one register, and the lock specs of one lock.
//!
//! * [`lock`]: [`MutexSpec`], [`LeaseSpec`], [`FencingSpec`] over [`LockOp`]/[`LockRet`].
//! * [`register`]: [`CasRegisterSpec`] over [`RegisterOp`]/[`RegisterRet`].
//! * [`kv`]: [`KvSpec`] over [`KvOp`]/[`KvRet`].

pub mod kv;
pub mod lock;
pub mod register;

pub use kv::{KvInitial, KvOp, KvRet, KvSpec};
pub use lock::{FencingSpec, LazyFencingSpec, LazyLeaseSpec, LeaseSpec, LockOp, LockRet, LockState, MutexSpec, Zone};
pub use register::{CasRegisterSpec, RegisterOp, RegisterRet};
