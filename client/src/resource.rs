//! The protected resource of the tests: it records every write with the writer, the token it
//! carried, its lease epoch (ground truth) and whether that lease was live at the server at the
//! instant of the write, so a test can tell a write after expiry.

use crate::clock::Clock;
use crate::sync::{lock, Arc, Mutex};
use crate::transport::MemoryServer;

/// Whether the resource checks fencing tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// Accept every write (Lockable hands out no token, so its users' resources cannot check one).
    None,
    /// Reject a write without a token or with a token lower than the highest one accepted so far
    /// (the storage-side check of Kleppmann's "How to do distributed locking").
    HighestToken,
}

/// One write as the resource saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    /// Who wrote (a test-chosen id).
    pub writer: u32,
    /// The fencing token the write carried, if any.
    pub token: Option<u64>,
    /// The server's grant number of the writer's lease (ground truth supplied by the test harness,
    /// whether or not the client library exposes it).
    pub epoch: u64,
    /// Whether the resource applied the write.
    pub accepted: bool,
    /// Ground truth: was the writer's lease live at the server at the instant of the write?
    pub lease_live: bool,
    /// Had the client library already signalled the loss of this writer's lease (its loss
    /// callback ran) before this write?
    pub after_loss_signal: bool,
}

/// What went wrong in a history of writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    /// Accepted writes whose lease was not live at the server at that instant.
    pub writes_after_expiry: usize,
    /// Accepted writes from an older lease epoch after a write of a newer one was accepted:
    /// locklab's `no_stale_write` ("once the resource has applied a write from lock session s, it
    /// never applies one from a session granted before s").
    pub stale_writes: usize,
    /// Write attempts (accepted or not) made after the library had signalled that writer's loss.
    pub writes_after_loss_signal: usize,
}

#[derive(Debug, Default)]
struct Log {
    highest_token: u64,
    writes: Vec<WriteRecord>,
    /// Writers whose loss the library has signalled, in order.
    loss_signalled: Vec<u32>,
}

/// A resource guarded by the lock `name` of `server`, recording every write.
#[derive(Debug)]
pub struct Resource<C: Clock> {
    server: Arc<MemoryServer<C>>,
    name: String,
    fence: Fence,
    log: Mutex<Log>,
}

impl<C: Clock> Resource<C> {
    /// A resource protected by lock `name` on `server` (consulted only for the ground-truth
    /// `lease_live` column, never to decide), checking tokens as `fence` says.
    pub fn new(server: Arc<MemoryServer<C>>, name: &str, fence: Fence) -> Self {
        Resource { server, name: name.to_string(), fence, log: Mutex::new(Log::default()) }
    }

    /// A write by `writer` whose lease is grant `epoch`, carrying `token`; returns whether the
    /// resource applied it.
    pub fn write(&self, writer: u32, epoch: u64, token: Option<u64>) -> bool {
        let mut log = lock(&self.log);
        // The write's instant is this critical section: the ground truth is read inside it.
        let lease_live = self.server.is_live(&self.name, epoch);
        let accepted = match self.fence {
            Fence::None => true,
            Fence::HighestToken => token.is_some_and(|t| t >= log.highest_token),
        };
        if accepted {
            if let Some(t) = token {
                log.highest_token = log.highest_token.max(t);
            }
        }
        let after_loss_signal = log.loss_signalled.contains(&writer);
        log.writes.push(WriteRecord { writer, token, epoch, accepted, lease_live, after_loss_signal });
        accepted
    }

    /// Records that the client library signalled the loss of `writer`'s lease (tests call this
    /// from the loss callback).
    pub fn note_loss_signalled(&self, writer: u32) {
        lock(&self.log).loss_signalled.push(writer);
    }

    /// Every write so far, in the order the resource saw them.
    pub fn writes(&self) -> Vec<WriteRecord> {
        lock(&self.log).writes.clone()
    }

    /// The violations in the history so far.
    pub fn violations(&self) -> Violations {
        let log = lock(&self.log);
        let mut v = Violations::default();
        let mut newest_epoch = 0;
        for w in &log.writes {
            if w.after_loss_signal {
                v.writes_after_loss_signal += 1;
            }
            if !w.accepted {
                continue;
            }
            if !w.lease_live {
                v.writes_after_expiry += 1;
            }
            if w.epoch < newest_epoch {
                v.stale_writes += 1;
            }
            newest_epoch = newest_epoch.max(w.epoch);
        }
        v
    }
}
