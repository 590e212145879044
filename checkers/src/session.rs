//! Lock sessions reconstructed from a history.

use locklab_protocols::history::{Entry, Event, Observation, SessionId, WorldEvent};
use locklab_protocols::{LockId, NodeId};
use smallvec::SmallVec;

use crate::fx::FxMap;

/// A session's writes, kept inline up to this many: most scenarios write one to three times per
/// session, and a heap allocation per session for two small lists was a sixth of the checks'
/// cost after a run (`sessions` runs once per run on every session of the history).
pub const WRITES_INLINE: usize = 3;

/// A session's list of write indices or times (inline up to [`WRITES_INLINE`], then on the heap).
pub type Writes<T> = SmallVec<[T; WRITES_INLINE]>;

/// One successful acquire and what followed it, in true time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub client: NodeId,
    pub lock: LockId,
    pub token: Option<u64>,
    pub acquired_ns: u64,
    /// History index of the `AcquireOk`.
    pub acquired_idx: usize,
    /// The latest validity deadline, translated to true time (None: no deadline tracked).
    pub valid_until_ns: Option<u64>,
    /// When the client stopped acting as holder: release, learned loss, or crash.
    pub ended_ns: Option<u64>,
    /// History indices and times of the writes sent as holder.
    pub writes: Writes<usize>,
    pub write_times: Writes<u64>,
    /// The end of the run (beliefs still open then end there).
    pub run_end_ns: u64,
}

impl Session {
    /// End of the main belief interval: the first of release/loss/crash and the validity deadline.
    pub fn main_end_ns(&self) -> u64 {
        let ended = self.ended_ns.unwrap_or(self.run_end_ns);
        match self.valid_until_ns {
            Some(u) => ended.min(u).max(self.acquired_ns),
            None => ended,
        }
    }

    /// The last instant the client acted as holder (its main interval or any later write).
    pub fn belief_end_ns(&self) -> u64 {
        let last_write = self.write_times.last().copied().unwrap_or(0);
        self.main_end_ns().max(last_write + 1)
    }
}

/// Every session of the history, in the order the clients learned of their grants.
pub fn sessions(history: &[Entry], run_end_ns: u64) -> Vec<Session> {
    sessions_indexed(history, run_end_ns).sessions
}

/// What the check after a run learns from the history in the sessions' pass over it.
pub(crate) struct Indexed {
    /// [`sessions`].
    pub sessions: Vec<Session>,
    /// Each session id's index in `sessions` (the later grant, should an id be granted twice):
    /// [`crate::no_stale_write`] ranks sessions by exactly that, so the check builds it once.
    pub rank: FxMap<SessionId, usize>,
    /// Whether the history holds any Raft observation: without one, [`crate::raft::raft_safety`]
    /// has nothing to judge, and the check skips its pass.
    pub raft_seen: bool,
}

/// [`sessions`], with the rest of [`Indexed`].
pub(crate) fn sessions_indexed(history: &[Entry], run_end_ns: u64) -> Indexed {
    // A session takes several entries (acquire, writes, release, their replies): sized so
    // that the list rarely grows by copying.
    let mut out: Vec<Session> = Vec::with_capacity(history.len() / 8);
    // Session id -> its index in `out` (the latest, should an id be granted twice).
    let mut index: FxMap<SessionId, usize> = FxMap::with_capacity_and_hasher(history.len() / 8, Default::default());
    let find = |index: &FxMap<SessionId, usize>, id: SessionId| index.get(&id).copied();
    let mut raft_seen = false;
    for (i, e) in history.iter().enumerate() {
        match &e.event {
            Event::Obs { obs, until_ns } => match obs {
                Observation::AcquireOk { lock, session, token, .. } => {
                    index.insert(*session, out.len());
                    out.push(Session {
                        id: *session,
                        client: e.node,
                        lock: *lock,
                        token: *token,
                        acquired_ns: e.t_ns,
                        acquired_idx: i,
                        valid_until_ns: *until_ns,
                        ended_ns: None,
                        writes: Writes::new(),
                        write_times: Writes::new(),
                        run_end_ns,
                    })
                }
                Observation::ExtendOk { session, .. } => {
                    if let Some(k) = find(&index, *session) {
                        out[k].valid_until_ns = *until_ns;
                    }
                }
                Observation::ReleaseInvoke { session, .. } | Observation::LockLost { session, .. } => {
                    if let Some(k) = find(&index, *session) {
                        let s = &mut out[k];
                        s.ended_ns = Some(s.ended_ns.map_or(e.t_ns, |x| x.min(e.t_ns)));
                    }
                }
                Observation::WriteSent { session, .. } => {
                    if let Some(k) = find(&index, *session) {
                        out[k].writes.push(i);
                        out[k].write_times.push(e.t_ns);
                    }
                }
                Observation::RaftLeader { .. }
                | Observation::RaftCommitted { .. }
                | Observation::RaftApplied { .. } => raft_seen = true,
                _ => {}
            },
            Event::World(WorldEvent::Crash) => {
                for s in out.iter_mut().filter(|s| s.client == e.node && s.ended_ns.is_none()) {
                    s.ended_ns = Some(e.t_ns);
                }
            }
            Event::World(_) => {}
        }
    }
    Indexed { sessions: out, rank: index, raft_seen }
}
