//! Chubby's scenario parameters: the `[[protocols]]` keys a `kind = "chubby"` variant takes, their
//! defaults (the paper's where it gives one) and their validation, resolved into the servers' and
//! the library's parameters. The simulator's compiler hands the keys over as they were written.

use super::client::ChubbyClientParams;
use super::server::{ChubbyParams, MAX_LOCK_DELAY_MS};
use crate::node::MsRange;

/// The `[[protocols]]` keys of `chubby` (besides `name`, `kind` and `expect`).
pub const CHUBBY_KEYS: &[&str] = &[
    "ttl_ms",
    "safety_margin_ms",
    "grace_period_ms",
    "lock_delay_ms",
    "heartbeat_timeout_ms",
    "acquire_timeout_ms",
    "master_heartbeat_ms",
    "election_timeout_ms",
    "check_validity_before_write",
    "fencing",
];

/// The paper's default lease extension (§2.8: "the default extension is 12s").
pub const DEFAULT_LEASE_MS: u64 = 12_000;
/// The paper's grace period (§2.8: "45s by default"; not confirmed from a source, see the module docs).
pub const DEFAULT_GRACE_PERIOD_MS: u64 = 45_000;
/// The paper's lock-delay (§2.4: "currently one minute").
pub const DEFAULT_LOCK_DELAY_MS: u64 = 60_000;
/// How close to the lease's end the master answers a held KeepAlive (not published; locklab's).
pub const KEEPALIVE_REPLY_BEFORE_MS: u64 = 1_000;

/// The keys as written (`None`: absent). `election_timeout_ms` is `(min, max)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChubbyKeys {
    pub ttl_ms: Option<u64>,
    pub safety_margin_ms: Option<u64>,
    pub grace_period_ms: Option<u64>,
    pub lock_delay_ms: Option<u64>,
    pub heartbeat_timeout_ms: Option<u64>,
    pub acquire_timeout_ms: Option<u64>,
    pub master_heartbeat_ms: Option<u64>,
    pub election_timeout_ms: Option<(u64, u64)>,
}

/// The servers' parameters (the server list is filled per world) and the library's, or the key
/// at fault and why.
pub fn resolve(k: &ChubbyKeys) -> Result<(ChubbyParams, ChubbyClientParams), (&'static str, String)> {
    let lease_ms = k.ttl_ms.unwrap_or(DEFAULT_LEASE_MS);
    if lease_ms <= KEEPALIVE_REPLY_BEFORE_MS {
        return Err((
            "ttl_ms",
            format!("the session lease must exceed the {KEEPALIVE_REPLY_BEFORE_MS} ms before its end at which the master answers a KeepAlive"),
        ));
    }
    let lock_delay_ms = k.lock_delay_ms.unwrap_or(DEFAULT_LOCK_DELAY_MS);
    if lock_delay_ms > MAX_LOCK_DELAY_MS {
        return Err((
            "lock_delay_ms",
            format!("Chubby bounds a client's lock-delay at {MAX_LOCK_DELAY_MS} ms (one minute)"),
        ));
    }
    let master_heartbeat_ms = k.master_heartbeat_ms.unwrap_or(1_000);
    let (min, max) = k.election_timeout_ms.unwrap_or((4_000, 6_000));
    if master_heartbeat_ms == 0 || min <= 2 * master_heartbeat_ms || max < min {
        return Err((
            "election_timeout_ms",
            "the election timeout must exceed twice the master's heartbeat (the master lease, their difference, \
             must outlast the heartbeats that renew it)"
                .into(),
        ));
    }
    let safety = k.safety_margin_ms.unwrap_or(100);
    if safety >= lease_ms {
        return Err(("safety_margin_ms", "the drift allowance must be below the session lease".into()));
    }
    let retry = k.heartbeat_timeout_ms.unwrap_or(1_000);
    let call = k.acquire_timeout_ms.unwrap_or(5_000);
    for (field, v) in [("heartbeat_timeout_ms", retry), ("acquire_timeout_ms", call)] {
        if v == 0 {
            return Err((field, "must be greater than 0".into()));
        }
    }
    let server = ChubbyParams {
        servers: Vec::new(),
        lease_ms,
        keepalive_reply_before_ms: KEEPALIVE_REPLY_BEFORE_MS,
        lock_delay_ms,
        master_heartbeat_ms,
        election_timeout: MsRange { min_ms: min, max_ms: max },
    };
    let client = ChubbyClientParams {
        drift_allowance_ms: safety,
        grace_period_ms: k.grace_period_ms.unwrap_or(DEFAULT_GRACE_PERIOD_MS),
        keepalive_retry_ms: retry,
        call_timeout_ms: call,
    };
    Ok((server, client))
}
