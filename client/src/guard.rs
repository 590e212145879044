//! [`LeaseGuard`]: the lease a user embeds. A heartbeat thread renews it; worker threads write
//! only through a [`Permit`], which checks validity and hands out the fencing token under the
//! same lock the heartbeat must take to record a loss.

use std::fmt;

use crate::clock::Clock;
use crate::sync::{pause_ms, thread, Arc, AtomicBool, Ordering, RwLock, RwLockReadGuard};
use crate::transport::{Grant, Transport, TransportError};

/// How the guard holds its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// The lease length asked for, in milliseconds.
    pub ttl_ms: u64,
    /// Time between renewals, in milliseconds (a third of the TTL leaves two retries).
    pub heartbeat_interval_ms: u64,
    /// Subtracted from every local deadline, for clock drift between client and server.
    pub drift_margin_ms: u64,
    /// Stop the heartbeat after this many renewals (`None`: until shutdown or loss). Loom tests
    /// set it, because a model must terminate; a real user leaves it `None`.
    pub max_beats: Option<u32>,
}

impl Default for GuardConfig {
    /// 20 s lease renewed every 5 s: amazon-dynamodb-lock-client's defaults
    /// (`leaseDuration` 20 s, `heartbeatPeriod` 5 s), with a 1 % drift margin.
    fn default() -> Self {
        GuardConfig { ttl_ms: 20_000, heartbeat_interval_ms: 5_000, drift_margin_ms: 200, max_beats: None }
    }
}

/// Why the guard no longer holds its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// The server refused a renewal: the lease had expired there (and may be someone else's).
    Refused,
    /// The local deadline passed without a successful renewal (the server unreachable, or the
    /// heartbeat thread starved): the lease must be presumed expired.
    Expired,
    /// The guard was shut down (the lease released).
    Released,
}

/// A write was refused because the lease is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseLost(pub LossReason);

impl fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lease lost ({:?})", self.0)
    }
}

impl std::error::Error for LeaseLost {}

/// The loss callback: runs on the thread that detected the loss (the heartbeat), after the loss
/// is recorded — by then no permit can be taken any more.
pub type OnLoss = Box<dyn Fn(LossReason) + Send + Sync>;

#[derive(Debug)]
struct State {
    grant: Grant,
    /// Local clock time after which the lease must be presumed expired: the time the request
    /// that last acquired or renewed it was *sent*, plus the TTL, minus the drift margin.
    deadline_ms: u64,
    lost: Option<LossReason>,
}

struct Shared<T, C: Clock> {
    name: String,
    transport: T,
    clock: Arc<C>,
    config: GuardConfig,
    state: RwLock<State>,
    stop: AtomicBool,
    on_loss: OnLoss,
}

impl<T: Transport, C: Clock> Shared<T, C> {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the loss (waiting for in-flight permits: the write lock excludes every reader) and
    /// then signals it. Returns whether this call was the one that recorded it.
    fn mark_lost(&self, reason: LossReason) -> bool {
        {
            let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
            if s.lost.is_some() {
                return false;
            }
            s.lost = Some(reason);
        }
        (self.on_loss)(reason);
        true
    }

    fn heartbeat(&self) {
        let mut beats = 0u32;
        loop {
            pause_ms(self.config.heartbeat_interval_ms, &self.stop);
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let (grant, deadline_ms) = {
                let s = self.read();
                if s.lost.is_some() {
                    return;
                }
                (s.grant, s.deadline_ms)
            };
            let sent_ms = self.clock.now_ms();
            if sent_ms >= deadline_ms {
                self.mark_lost(LossReason::Expired);
                return;
            }
            match self.transport.renew(&self.name, grant, self.config.ttl_ms) {
                Ok(true) => {
                    let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
                    if s.lost.is_none() {
                        s.deadline_ms = deadline(sent_ms, &self.config);
                    }
                }
                Ok(false) => {
                    self.mark_lost(LossReason::Refused);
                    return;
                }
                // Unknown outcome: keep the old deadline and try again next beat; workers stop
                // at the deadline on their own (the permit checks it).
                Err(_) => {}
            }
            beats += 1;
            if self.config.max_beats.is_some_and(|m| beats >= m) {
                return;
            }
        }
    }
}

fn deadline(sent_ms: u64, config: &GuardConfig) -> u64 {
    (sent_ms + config.ttl_ms).saturating_sub(config.drift_margin_ms)
}

/// A held lease with its heartbeat thread. Hand [`LeaseHandle`]s to the worker threads; call
/// [`LeaseGuard::shutdown`] (or drop it) to stop the heartbeat, wait for it and release the lease.
pub struct LeaseGuard<T: Transport, C: Clock> {
    shared: Arc<Shared<T, C>>,
    heartbeat: Option<thread::JoinHandle<()>>,
}

/// What worker threads hold: take a [`Permit`] (or call [`LeaseHandle::write`]) before each write.
pub struct LeaseHandle<T: Transport, C: Clock> {
    shared: Arc<Shared<T, C>>,
}

impl<T: Transport, C: Clock> Clone for LeaseHandle<T, C> {
    fn clone(&self) -> Self {
        LeaseHandle { shared: self.shared.clone() }
    }
}

/// Permission to write under the lease: while a permit lives the lease cannot be recorded as lost
/// (the heartbeat's loss and `shutdown` wait for it), and it carries the fencing token the write
/// must send. Keep it for exactly one write, never across a blocking wait for something else.
pub struct Permit<'a> {
    state: RwLockReadGuard<'a, State>,
}

impl Permit<'_> {
    /// The fencing token to attach to the write.
    pub fn token(&self) -> u64 {
        self.state.grant.token
    }
}

impl<T: Transport, C: Clock> LeaseGuard<T, C> {
    /// Tries once to acquire lock `name`; on success starts the heartbeat thread. `on_loss` is
    /// called once, on the heartbeat thread, when the lease is lost (not on shutdown).
    pub fn acquire(
        transport: T,
        clock: Arc<C>,
        name: &str,
        config: GuardConfig,
        on_loss: OnLoss,
    ) -> Result<Option<Self>, TransportError> {
        let sent_ms = clock.now_ms();
        let Some(grant) = transport.acquire(name, config.ttl_ms)? else {
            return Ok(None);
        };
        let shared = Arc::new(Shared {
            name: name.to_string(),
            transport,
            clock,
            config,
            state: RwLock::new(State { grant, deadline_ms: deadline(sent_ms, &config), lost: None }),
            stop: AtomicBool::new(false),
            on_loss,
        });
        let hb = shared.clone();
        let heartbeat = thread::spawn(move || hb.heartbeat());
        Ok(Some(LeaseGuard { shared, heartbeat: Some(heartbeat) }))
    }

    /// A handle for a worker thread.
    pub fn handle(&self) -> LeaseHandle<T, C> {
        LeaseHandle { shared: self.shared.clone() }
    }

    /// The grant this guard holds (its token is the fencing token).
    pub fn grant(&self) -> Grant {
        self.shared.read().grant
    }

    /// Stops and joins the heartbeat, records the lease as released (waiting for in-flight
    /// permits, refusing new ones), then releases it at the server if it was still held. Returns
    /// the server's answer (`Ok(false)`: it was no longer held; `Ok(true)` also when the loss had
    /// already been signalled and nothing was sent).
    pub fn shutdown(mut self) -> Result<bool, TransportError> {
        self.stop_and_release()
    }

    fn stop_and_release(&mut self) -> Result<bool, TransportError> {
        let Some(heartbeat) = self.heartbeat.take() else {
            return Ok(true);
        };
        self.shared.stop.store(true, Ordering::Release);
        // No write may start after this point, and none is in flight once it returns: the lease
        // is released at the server only after every write under it has finished.
        let (was_lost, grant) = {
            let mut s = self.shared.state.write().unwrap_or_else(|e| e.into_inner());
            let was_lost = s.lost.is_some();
            s.lost.get_or_insert(LossReason::Released);
            (was_lost, s.grant)
        };
        let _ = heartbeat.join();
        if was_lost {
            return Ok(false);
        }
        self.shared.transport.release(&self.shared.name, grant)
    }
}

impl<T: Transport, C: Clock> Drop for LeaseGuard<T, C> {
    fn drop(&mut self) {
        let _ = self.stop_and_release();
    }
}

impl<T: Transport, C: Clock> LeaseHandle<T, C> {
    /// A permit to write, or why not: the lease was lost (recorded by the heartbeat or shutdown),
    /// or its local deadline has passed.
    pub fn permit(&self) -> Result<Permit<'_>, LeaseLost> {
        let state = self.shared.read();
        if let Some(reason) = state.lost {
            return Err(LeaseLost(reason));
        }
        if self.shared.clock.now_ms() >= state.deadline_ms {
            return Err(LeaseLost(LossReason::Expired));
        }
        Ok(Permit { state })
    }

    /// Runs `write` with the fencing token under a permit: the validity check and the write are
    /// one critical section with respect to the loss being recorded.
    pub fn write<R>(&self, write: impl FnOnce(u64) -> R) -> Result<R, LeaseLost> {
        let permit = self.permit()?;
        Ok(write(permit.token()))
    }

    /// Whether a permit would be granted now (advisory: use [`LeaseHandle::write`] to act on it).
    pub fn is_valid(&self) -> bool {
        self.permit().is_ok()
    }

    /// The recorded loss, if any.
    pub fn lost(&self) -> Option<LossReason> {
        self.shared.read().lost
    }
}
