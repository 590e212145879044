//! The transport a lease client speaks, and an in-memory lock server implementing it for tests.

use std::collections::BTreeMap;
use std::fmt;

use crate::clock::Clock;
use crate::sync::{lock, Arc, Mutex};

/// What a successful acquire returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The fencing token: the lock's grant number, strictly increasing per lock name across every
    /// grant the server makes (the server's *lease epoch*). Renew and release name it, so a client
    /// whose lease expired and was granted to someone else cannot renew or release that one.
    pub token: u64,
    /// The lease length the server granted, in milliseconds.
    pub ttl_ms: u64,
}

/// The transport failed (connection refused, timeout, …): the client does not know whether the
/// server applied the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError(pub String);

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport error: {}", self.0)
    }
}

impl std::error::Error for TransportError {}

/// A lock service seen from a client: acquire with a TTL, renew, release.
pub trait Transport: Send + Sync + 'static {
    /// Tries once to acquire lock `name` for `ttl_ms`; `Ok(None)` when someone else holds it.
    fn acquire(&self, name: &str, ttl_ms: u64) -> Result<Option<Grant>, TransportError>;
    /// Extends the lease of `grant` to `ttl_ms` from now; `Ok(false)` when that lease is no
    /// longer held (it expired, or was released, or the lock was granted again).
    fn renew(&self, name: &str, grant: Grant, ttl_ms: u64) -> Result<bool, TransportError>;
    /// Releases the lease of `grant`; `Ok(false)` when it was no longer held.
    fn release(&self, name: &str, grant: Grant) -> Result<bool, TransportError>;
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    token: u64,
    expires_at_ms: u64,
}

#[derive(Debug, Default)]
struct LockState {
    /// The last grant, expired or not (`None` once released).
    lease: Option<Lease>,
    /// The last token granted (tokens start at 1).
    last_token: u64,
}

/// An in-memory lock server: one lease per lock name, expiring on the server's own clock.
///
/// Expiry is lazy, like Redis's: a lease whose `expires_at_ms` the clock has reached counts as
/// absent for every request (a new acquire is granted, a renew or release of it is refused).
/// The clock is injected: tests and loom drive it with a [`crate::ManualClock`] shared with the
/// client, so the TTL elapsing is an explicit `advance`.
#[derive(Debug)]
pub struct MemoryServer<C: Clock> {
    clock: Arc<C>,
    locks: Mutex<BTreeMap<String, LockState>>,
}

impl<C: Clock> MemoryServer<C> {
    /// A server with no locks, reading `clock`.
    pub fn new(clock: Arc<C>) -> Self {
        MemoryServer { clock, locks: Mutex::new(BTreeMap::new()) }
    }

    /// Ground truth for tests: is the lease with `token` on `name` live at this instant?
    pub fn is_live(&self, name: &str, token: u64) -> bool {
        let now_ms = self.clock.now_ms();
        let locks = lock(&self.locks);
        locks.get(name).and_then(|s| s.lease).is_some_and(|l| l.token == token && now_ms < l.expires_at_ms)
    }

    /// Ground truth for tests: the token of the live lease on `name`, if any.
    pub fn live_token(&self, name: &str) -> Option<u64> {
        let now_ms = self.clock.now_ms();
        let locks = lock(&self.locks);
        locks.get(name).and_then(|s| s.lease).filter(|l| now_ms < l.expires_at_ms).map(|l| l.token)
    }
}

impl<C: Clock> Transport for MemoryServer<C> {
    fn acquire(&self, name: &str, ttl_ms: u64) -> Result<Option<Grant>, TransportError> {
        let now_ms = self.clock.now_ms();
        let mut locks = lock(&self.locks);
        let state = locks.entry(name.to_string()).or_default();
        if state.lease.is_some_and(|l| now_ms < l.expires_at_ms) {
            return Ok(None);
        }
        state.last_token += 1;
        let token = state.last_token;
        state.lease = Some(Lease { token, expires_at_ms: now_ms + ttl_ms });
        Ok(Some(Grant { token, ttl_ms }))
    }

    fn renew(&self, name: &str, grant: Grant, ttl_ms: u64) -> Result<bool, TransportError> {
        let now_ms = self.clock.now_ms();
        let mut locks = lock(&self.locks);
        match locks.get_mut(name).and_then(|s| s.lease.as_mut()) {
            Some(l) if l.token == grant.token && now_ms < l.expires_at_ms => {
                l.expires_at_ms = now_ms + ttl_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn release(&self, name: &str, grant: Grant) -> Result<bool, TransportError> {
        let now_ms = self.clock.now_ms();
        let mut locks = lock(&self.locks);
        match locks.get_mut(name) {
            Some(s) if s.lease.is_some_and(|l| l.token == grant.token && now_ms < l.expires_at_ms) => {
                s.lease = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl<T: Transport> Transport for Arc<T> {
    fn acquire(&self, name: &str, ttl_ms: u64) -> Result<Option<Grant>, TransportError> {
        (**self).acquire(name, ttl_ms)
    }
    fn renew(&self, name: &str, grant: Grant, ttl_ms: u64) -> Result<bool, TransportError> {
        (**self).renew(name, grant, ttl_ms)
    }
    fn release(&self, name: &str, grant: Grant) -> Result<bool, TransportError> {
        (**self).release(name, grant)
    }
}
