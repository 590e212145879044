//! GoDistLock's messages, named as its text protocol names them (`protocol.md`): the client
//! protocol (`ON`, `OFF` and their answers `GIVE`, `ERR`) and the relay protocol between servers
//! (`PROP` → `STAT`, `SCHED` → `ACK`, `COMM` → `CONF`, and `OFF`, which the real relay defines
//! but never handles — only the fixed variant sends it).
//!
//! `req` is the client's nonce; `nonce` numbers one relay call of one coordinator (the real code
//! draws a nonce per relay connection and matches the reply to it). Lock names are numbers here.

use std::fmt;

use crate::node::{LockId, NodeId};

/// A relay reply's status: 0 is the only "ok" in every phase.
pub const STATUS_OK: u8 = 0;
/// `STAT` 1: the lock is held by a client of this server.
pub const STATUS_HELD_BY_CLIENT: u8 = 1;
/// `STAT` 2: the lock is held by another relay (another coordinator's provisional or firm lock).
pub const STATUS_HELD_BY_RELAY: u8 = 2;

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoDistLockMsg {
    /// Client → server: `ON <lock> <timeout> <nonce>`.
    On { req: u64, lock: LockId, timeout_ms: u64 },
    /// Server → client: `GIVE <nonce> <fence>`: the lock is yours, with this fence token.
    Give { req: u64, fence: u64 },
    /// Server → client: `ERR <nonce> <message>`: the acquire failed (see the module docs on the
    /// nil-pointer panic the real handler hits instead).
    Err { req: u64 },
    /// Client → server: `OFF <lock> <nonce>`. The server never answers it.
    Off { lock: LockId },
    /// Relay: `PROP <lock> <nonce>`: "I propose locking, please give me your lock status".
    /// `client` is the fixed variant's owner of the peer's lock (ignored by the real protocol,
    /// whose peers own the lock as `relay:<coordinator id>`).
    Prop { nonce: u64, lock: LockId, client: NodeId },
    /// `STAT <nonce> <status>`; `counter` is the fixed variant's fence counter (0 otherwise).
    Stat { nonce: u64, status: u8, counter: u64 },
    /// Relay: `SCHED <lock> <nonce>`: "we have quorum, nobody is locked, prep to lock".
    Sched { nonce: u64, lock: LockId, client: NodeId },
    /// `ACK <nonce> <status>`.
    Ack { nonce: u64, status: u8 },
    /// Relay: `COMM <lock> <timeout> <nonce>`: "commit lock with this timeout". `fence` is the
    /// fixed variant's agreed fence (0 otherwise).
    Comm { nonce: u64, lock: LockId, timeout_ms: u64, client: NodeId, fence: u64 },
    /// `CONF <nonce> <status>`.
    Conf { nonce: u64, status: u8 },
    /// Relay `OFF <lock> <nonce>`: "release lock if it was held by the source relay". Defined in
    /// `protocol.md`, not handled by the real relay; the fixed variant sends it on OFF and on a
    /// failed acquire (the abort).
    RelayOff { lock: LockId, client: NodeId },
}

impl GoDistLockMsg {
    /// Every kind, as scenario files name them.
    pub const KINDS: &'static [&'static str] =
        &["on", "give", "err", "off", "prop", "stat", "sched", "ack", "comm", "conf", "relay_off"];

    pub fn kind(&self) -> &'static str {
        match self {
            GoDistLockMsg::On { .. } => "on",
            GoDistLockMsg::Give { .. } => "give",
            GoDistLockMsg::Err { .. } => "err",
            GoDistLockMsg::Off { .. } => "off",
            GoDistLockMsg::Prop { .. } => "prop",
            GoDistLockMsg::Stat { .. } => "stat",
            GoDistLockMsg::Sched { .. } => "sched",
            GoDistLockMsg::Ack { .. } => "ack",
            GoDistLockMsg::Comm { .. } => "comm",
            GoDistLockMsg::Conf { .. } => "conf",
            GoDistLockMsg::RelayOff { .. } => "relay_off",
        }
    }
}

fn status(s: u8) -> &'static str {
    match s {
        STATUS_OK => "0(ok)",
        STATUS_HELD_BY_CLIENT => "1(held-by-client)",
        STATUS_HELD_BY_RELAY => "2(held-by-relay)",
        _ => "1(err)",
    }
}

impl fmt::Display for GoDistLockMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GoDistLockMsg::On { req, lock, timeout_ms } => write!(f, "on req={req} lock={lock} timeout={timeout_ms}ms"),
            GoDistLockMsg::Give { req, fence } => write!(f, "give req={req} fence={fence}"),
            GoDistLockMsg::Err { req } => write!(f, "err req={req}"),
            GoDistLockMsg::Off { lock } => write!(f, "off lock={lock}"),
            GoDistLockMsg::Prop { nonce, lock, .. } => write!(f, "prop nonce={nonce} lock={lock}"),
            GoDistLockMsg::Stat { nonce, status: s, counter } => {
                write!(f, "stat nonce={nonce} status={}", status(*s))?;
                if *counter > 0 {
                    write!(f, " counter={counter}")?;
                }
                Ok(())
            }
            GoDistLockMsg::Sched { nonce, lock, .. } => write!(f, "sched nonce={nonce} lock={lock}"),
            GoDistLockMsg::Ack { nonce, status: s } => write!(f, "ack nonce={nonce} status={}", status(*s)),
            GoDistLockMsg::Comm { nonce, lock, timeout_ms, fence, .. } => {
                write!(f, "comm nonce={nonce} lock={lock} timeout={timeout_ms}ms")?;
                if *fence > 0 {
                    write!(f, " fence={fence}")?;
                }
                Ok(())
            }
            GoDistLockMsg::Conf { nonce, status: s } => write!(f, "conf nonce={nonce} status={}", status(*s)),
            GoDistLockMsg::RelayOff { lock, client } => write!(f, "relay_off lock={lock} client={client}"),
        }
    }
}
