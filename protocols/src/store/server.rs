//! The store server: conditional writes, generations, and Azure Blob leases enforced on writes
//! (see the [module docs](super)).

use std::collections::BTreeMap;

use crate::history::Observation;
use crate::msg::{LeaseOp, LeaseState, Msg, StoreCond, StoreFields, StoreItem, StoreMsg, StoreOutcome};
use crate::node::{ms, Ctx, Input, LockId, NodeId};
use crate::Durable;

/// The store's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StoreParams {
    /// Record a history `Grant` (token: the new generation) on each full write of an unreleased
    /// item: for lock clients that use the generation as fencing token.
    pub record_grants: bool,
}

/// An item's Azure lease, with its expiry on the store's monotonic clock.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreLease {
    /// No lease (Azure's `available`).
    None,
    /// Acquired by `lease_id` for `duration_ms` (`None`: infinite); in force until
    /// `expires_at_mono_ns`, after which it is `expired` (renewable by its holder until someone
    /// writes the blob without it or leases it).
    Active { lease_id: u64, duration_ms: Option<u64>, expires_at_mono_ns: Option<u64> },
    /// Being broken: in force until `ends_at_mono_ns`, then broken.
    Breaking { lease_id: u64, ends_at_mono_ns: u64 },
    /// Broken: no lease in force; `lease_id` may still release it.
    Broken { lease_id: u64 },
}

impl StoreLease {
    /// Azure's `x-ms-lease-state` at `now_ns` (with the remaining time where it applies).
    pub fn state(&self, now_ns: u64) -> LeaseState {
        let remaining = |until: u64| until.saturating_sub(now_ns) / 1_000_000;
        match *self {
            StoreLease::None => LeaseState::Available,
            StoreLease::Active { expires_at_mono_ns: None, .. } => LeaseState::Leased { remaining_ms: None },
            StoreLease::Active { expires_at_mono_ns: Some(at), .. } if now_ns < at => {
                LeaseState::Leased { remaining_ms: Some(remaining(at)) }
            }
            StoreLease::Active { .. } => LeaseState::Expired,
            StoreLease::Breaking { ends_at_mono_ns, .. } if now_ns < ends_at_mono_ns => {
                LeaseState::Breaking { remaining_ms: remaining(ends_at_mono_ns) }
            }
            StoreLease::Breaking { .. } | StoreLease::Broken { .. } => LeaseState::Broken,
        }
    }

    /// The lease id while a lease is in force (leased or breaking) at `now_ns`.
    fn in_force(&self, now_ns: u64) -> Option<u64> {
        match (*self, self.state(now_ns)) {
            (StoreLease::Active { lease_id, .. }, LeaseState::Leased { .. }) => Some(lease_id),
            (StoreLease::Breaking { lease_id, .. }, LeaseState::Breaking { .. }) => Some(lease_id),
            _ => None,
        }
    }
}

/// One key's entry: the item and its lease.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreEntry {
    pub item: StoreItem,
    pub lease: StoreLease,
}

/// What the store keeps on disk: everything (it syncs before answering each write).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreDurable {
    pub entries: BTreeMap<LockId, StoreEntry>,
    /// The store-wide generation counter: the last generation handed out.
    pub last_generation: u64,
}

/// The conditional-write store (one node; see the [module docs](super)).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreServer {
    pub params: StoreParams,
    pub entries: BTreeMap<LockId, StoreEntry>,
    /// The last generation handed out (0: none yet; generations start at 1).
    pub last_generation: u64,
}

/// Shorthand for a write's outcome.
type Outcome = StoreOutcome;

impl StoreServer {
    pub fn new(params: StoreParams) -> Self {
        StoreServer { params, entries: BTreeMap::new(), last_generation: 0 }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        match input {
            Input::Start { durable: Some(Durable::Store(d)), .. } => {
                self.entries = d.entries;
                self.last_generation = d.last_generation;
            }
            Input::Message { from, msg: Msg::Store(m) } => self.on_request(ctx, from, *m),
            _ => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx, from: NodeId, m: StoreMsg) {
        let now = ctx.mono_ns;
        let reply = match m {
            StoreMsg::Get { req, key } => StoreMsg::GetReply { req, key, outcome: self.get(key, now) },
            StoreMsg::Put { req, key, fields, cond, lease_id } => {
                let outcome = self.put(key, fields, cond, lease_id, now);
                if let Outcome::Ok { item: Some(item), .. } = outcome {
                    if self.params.record_grants && !item.released {
                        ctx.record(Observation::Grant {
                            lock: key,
                            holder: from,
                            value: item.nonce,
                            token: Some(item.generation),
                        });
                    }
                }
                StoreMsg::PutReply { req, key, outcome }
            }
            StoreMsg::Update { req, key, fields, cond, lease_id } => {
                StoreMsg::UpdateReply { req, key, outcome: self.update(key, fields, cond, lease_id, now) }
            }
            StoreMsg::Delete { req, key, cond, lease_id } => {
                StoreMsg::DeleteReply { req, key, outcome: self.delete(key, cond, lease_id, now) }
            }
            StoreMsg::Lease { req, key, op } => StoreMsg::LeaseReply { req, key, outcome: self.lease(key, op, now) },
            // Replies are the store's own; a stray one is ignored.
            _ => return,
        };
        let wrote = matches!(
            reply,
            StoreMsg::PutReply { outcome: Outcome::Ok { .. }, .. }
                | StoreMsg::UpdateReply { outcome: Outcome::Ok { .. }, .. }
                | StoreMsg::DeleteReply { outcome: Outcome::Ok { .. }, .. }
                | StoreMsg::LeaseReply { outcome: Outcome::Ok { .. }, .. }
        );
        if wrote {
            // Durable before acknowledged, as the real services.
            ctx.persist(Durable::Store(StoreDurable {
                entries: self.entries.clone(),
                last_generation: self.last_generation,
            }));
            ctx.sync();
        }
        ctx.send(from, Msg::Store(Box::new(reply)));
    }

    fn ok(entry: &StoreEntry, now: u64) -> Outcome {
        Outcome::Ok {
            item: Some(entry.item),
            generation: entry.item.generation,
            metageneration: entry.item.metageneration,
            lease: entry.lease.state(now),
        }
    }

    /// `GetItem` / object GET.
    pub fn get(&self, key: LockId, now: u64) -> Outcome {
        match self.entries.get(&key) {
            Some(e) => Self::ok(e, now),
            None => Outcome::NotFound,
        }
    }

    /// Does `cond` hold on `item` (`None`: the key is absent)?
    pub fn holds(cond: StoreCond, item: Option<&StoreItem>) -> bool {
        match (cond, item) {
            (StoreCond::None, _) => true,
            (StoreCond::IfAbsent, i) => i.is_none(),
            (_, None) => false,
            (StoreCond::IfGeneration(g), Some(i)) => i.generation == g,
            (StoreCond::IfMetageneration(m), Some(i)) => i.metageneration == m,
            (StoreCond::IfNonce { owner, nonce }, Some(i)) => i.owner == owner && i.nonce == nonce,
            (StoreCond::IfReleased, Some(i)) => i.released,
        }
    }

    /// The Azure lease's verdict on a write or delete carrying `lease_id`: `Err` refuses it.
    /// `Ok(true)`: the write ends an expired lease (written without it).
    fn lease_admits(entry: Option<&StoreEntry>, lease_id: Option<u64>, now: u64) -> Result<bool, Outcome> {
        let Some(entry) = entry else {
            // No blob, no lease: a lease id is refused (`LeaseNotPresentWithBlobOperation`).
            return if lease_id.is_some() { Err(Outcome::LeaseConflict) } else { Ok(false) };
        };
        match (entry.lease.state(now), entry.lease, lease_id) {
            // In force: only its own id writes.
            (LeaseState::Leased { .. } | LeaseState::Breaking { .. }, _, id) => {
                if id.is_some() && id == entry.lease.in_force(now) {
                    Ok(false)
                } else {
                    Err(Outcome::LeaseConflict)
                }
            }
            // Expired: its own id still writes (the lease stays, renewable); no id ends it.
            (LeaseState::Expired, StoreLease::Active { lease_id: held, .. }, Some(id)) => {
                if id == held {
                    Ok(false)
                } else {
                    Err(Outcome::LeaseConflict)
                }
            }
            (LeaseState::Expired, _, None) => Ok(true),
            // Available or broken: no lease in force, so a lease id is refused.
            (_, _, Some(_)) => Err(Outcome::LeaseConflict),
            (_, _, None) => Ok(false),
        }
    }

    /// Check the lease, then the condition; `Ok(ends_expired_lease)` admits the write.
    fn admit(&self, key: LockId, cond: StoreCond, lease_id: Option<u64>, now: u64) -> Result<bool, Outcome> {
        let entry = self.entries.get(&key);
        let ends_lease = Self::lease_admits(entry, lease_id, now)?;
        if !Self::holds(cond, entry.map(|e| &e.item)) {
            return Err(Outcome::PreconditionFailed);
        }
        Ok(ends_lease)
    }

    /// A full write: a new generation from the store-wide counter, metageneration 1; the lease
    /// (if any) stays with the blob.
    pub fn put(&mut self, key: LockId, f: StoreFields, cond: StoreCond, lease_id: Option<u64>, now: u64) -> Outcome {
        let ends_lease = match self.admit(key, cond, lease_id, now) {
            Ok(e) => e,
            Err(o) => return o,
        };
        self.last_generation += 1;
        let lease = match self.entries.get(&key) {
            Some(e) if !ends_lease => e.lease,
            _ => StoreLease::None,
        };
        let entry = StoreEntry { item: item_of(f, self.last_generation, 1), lease };
        self.entries.insert(key, entry);
        Self::ok(&entry, now)
    }

    /// A metadata update: every field replaced, generation kept, metageneration + 1.
    pub fn update(&mut self, key: LockId, f: StoreFields, cond: StoreCond, lease_id: Option<u64>, now: u64) -> Outcome {
        if cond == StoreCond::None && !self.entries.contains_key(&key) {
            return Outcome::NotFound;
        }
        let ends_lease = match self.admit(key, cond, lease_id, now) {
            Ok(e) => e,
            Err(o) => return o,
        };
        let Some(entry) = self.entries.get_mut(&key) else {
            // `IfAbsent` held on an absent key: nothing to update.
            return Outcome::NotFound;
        };
        entry.item = item_of(f, entry.item.generation, entry.item.metageneration + 1);
        if ends_lease {
            entry.lease = StoreLease::None;
        }
        let entry = *entry;
        Self::ok(&entry, now)
    }

    /// Delete the item and its lease.
    pub fn delete(&mut self, key: LockId, cond: StoreCond, lease_id: Option<u64>, now: u64) -> Outcome {
        if cond == StoreCond::None && !self.entries.contains_key(&key) {
            return Outcome::NotFound;
        }
        if let Err(o) = self.admit(key, cond, lease_id, now) {
            return o;
        }
        match self.entries.remove(&key) {
            Some(e) => Outcome::Ok {
                item: None,
                generation: e.item.generation,
                metageneration: e.item.metageneration,
                lease: LeaseState::Available,
            },
            None => Outcome::NotFound,
        }
    }

    /// An Azure Lease Blob operation.
    pub fn lease(&mut self, key: LockId, op: LeaseOp, now: u64) -> Outcome {
        let Some(entry) = self.entries.get_mut(&key) else {
            return Outcome::NotFound;
        };
        let state = entry.lease.state(now);
        let active = |lease_id: u64, duration_ms: Option<u64>| StoreLease::Active {
            lease_id,
            duration_ms,
            expires_at_mono_ns: duration_ms.map(|d| now + ms(d)),
        };
        let held_id = match entry.lease {
            StoreLease::None => None,
            StoreLease::Active { lease_id, .. }
            | StoreLease::Breaking { lease_id, .. }
            | StoreLease::Broken { lease_id } => Some(lease_id),
        };
        let next = match op {
            LeaseOp::Acquire { lease_id, duration_ms } => {
                if matches!(duration_ms, Some(d) if !(15_000..=60_000).contains(&d)) {
                    return Outcome::BadRequest;
                }
                match state {
                    LeaseState::Available | LeaseState::Expired | LeaseState::Broken => active(lease_id, duration_ms),
                    // Acquiring again with the lease's own id restarts it with the new duration.
                    LeaseState::Leased { .. } if held_id == Some(lease_id) => active(lease_id, duration_ms),
                    LeaseState::Leased { .. } | LeaseState::Breaking { .. } => return Outcome::LeaseConflict,
                }
            }
            LeaseOp::Renew { lease_id } => match (state, entry.lease) {
                (LeaseState::Leased { .. } | LeaseState::Expired, StoreLease::Active { duration_ms, .. })
                    if held_id == Some(lease_id) =>
                {
                    active(lease_id, duration_ms)
                }
                // Available, breaking, broken, or another id.
                _ => return Outcome::LeaseConflict,
            },
            LeaseOp::Release { lease_id } => {
                if held_id == Some(lease_id) {
                    StoreLease::None
                } else {
                    return Outcome::LeaseConflict;
                }
            }
            LeaseOp::Break { break_period_ms } => {
                if break_period_ms > 60_000 {
                    return Outcome::BadRequest;
                }
                let Some(lease_id) = held_id else {
                    return Outcome::LeaseConflict;
                };
                let period_end = now + ms(break_period_ms);
                let ends = match (state, entry.lease) {
                    // The break period is used only if shorter than what remains of the lease.
                    (LeaseState::Leased { .. }, StoreLease::Active { expires_at_mono_ns, .. }) => {
                        expires_at_mono_ns.map_or(period_end, |at| at.min(period_end))
                    }
                    // A second break may only shorten the period.
                    (LeaseState::Breaking { .. }, StoreLease::Breaking { ends_at_mono_ns, .. }) => {
                        ends_at_mono_ns.min(period_end)
                    }
                    // Expired or broken: broken at once.
                    _ => now,
                };
                if ends <= now {
                    StoreLease::Broken { lease_id }
                } else {
                    StoreLease::Breaking { lease_id, ends_at_mono_ns: ends }
                }
            }
        };
        entry.lease = next;
        let entry = *entry;
        Self::ok(&entry, now)
    }
}

fn item_of(f: StoreFields, generation: u64, metageneration: u64) -> StoreItem {
    StoreItem {
        owner: f.owner,
        nonce: f.nonce,
        lease_ms: f.lease_ms,
        expires_at_wall_ms: f.expires_at_wall_ms,
        released: f.released,
        generation,
        metageneration,
    }
}
