//! Lockable's HTTP API as messages: `GET /v1/{acquire,heartbeat,release}/<name>` (basic auth with
//! the account token, the same for every client of an account), each answered
//! `{"response": bool}`. Nothing in a request says *which* acquisition it belongs to: the lock is
//! named, never owned.

use std::fmt;

use crate::node::LockId;

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockableMsg {
    /// `GET /v1/acquire/<name>`.
    Acquire { req: u64, name: LockId },
    /// `GET /v1/heartbeat/<name>`.
    Heartbeat { req: u64, name: LockId },
    /// `GET /v1/release/<name>`.
    Release { req: u64, name: LockId },
    /// `{"response": ok}` to request `req`.
    Response { req: u64, ok: bool },
}

impl LockableMsg {
    /// Every kind, as scenario files name them (targeted drops and delays).
    pub const KINDS: &'static [&'static str] =
        &["lockable_acquire", "lockable_heartbeat", "lockable_release", "lockable_response"];

    pub fn kind(&self) -> &'static str {
        match self {
            LockableMsg::Acquire { .. } => "lockable_acquire",
            LockableMsg::Heartbeat { .. } => "lockable_heartbeat",
            LockableMsg::Release { .. } => "lockable_release",
            LockableMsg::Response { .. } => "lockable_response",
        }
    }
}

impl fmt::Display for LockableMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockableMsg::Acquire { req, name } => write!(f, "GET /v1/acquire/{name} req={req}"),
            LockableMsg::Heartbeat { req, name } => write!(f, "GET /v1/heartbeat/{name} req={req}"),
            LockableMsg::Release { req, name } => write!(f, "GET /v1/release/{name} req={req}"),
            LockableMsg::Response { req, ok } => write!(f, "response req={req} {ok}"),
        }
    }
}
