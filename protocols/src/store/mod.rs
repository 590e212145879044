//! Provisional stand-in for the conditional-write store (wt-dynamo's `store`, which replaces it
//! on merge): a linearizable key → item map with preconditions, no TTL.

use std::collections::BTreeMap;

use crate::msg::{LockId, Msg, StoreCond, StoreItem, StoreMsg, StoreOutcome};
use crate::node::{Ctx, Input};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StoreServer {
    pub items: BTreeMap<LockId, StoreItem>,
    pub next_generation: u64,
}

impl StoreServer {
    pub fn new() -> Self {
        StoreServer::default()
    }

    fn holds(cond: StoreCond, item: Option<&StoreItem>) -> bool {
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

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        let Input::Message { from, msg: Msg::Store(m) } = input else { return };
        let (req, key, outcome) = match m {
            StoreMsg::Get { req, key, .. } => {
                let o = match self.items.get(&key) {
                    Some(i) => StoreOutcome::Ok { item: Some(*i) },
                    None => StoreOutcome::NotFound,
                };
                (req, key, o)
            }
            StoreMsg::Put { req, key, cond, item, .. } => {
                let o = if Self::holds(cond, self.items.get(&key)) {
                    self.next_generation += 1;
                    let new = StoreItem { generation: self.next_generation, metageneration: 1, ..item };
                    self.items.insert(key, new);
                    StoreOutcome::Ok { item: Some(new) }
                } else {
                    StoreOutcome::PreconditionFailed
                };
                (req, key, o)
            }
            StoreMsg::Update { req, key, cond, item, .. } => {
                let o = match self.items.get_mut(&key) {
                    None => StoreOutcome::NotFound,
                    Some(cur) if Self::holds(cond, Some(cur)) => {
                        // A metadata patch: the expiry and lease fields; owner and nonce are the object's own.
                        *cur = StoreItem {
                            owner: cur.owner,
                            nonce: cur.nonce,
                            generation: cur.generation,
                            metageneration: cur.metageneration + 1,
                            ..item
                        };
                        StoreOutcome::Ok { item: Some(*cur) }
                    }
                    Some(_) => StoreOutcome::PreconditionFailed,
                };
                (req, key, o)
            }
            StoreMsg::Delete { req, key, cond, .. } => {
                let o = match self.items.get(&key) {
                    None => StoreOutcome::NotFound,
                    Some(cur) if Self::holds(cond, Some(cur)) => {
                        self.items.remove(&key);
                        StoreOutcome::Ok { item: None }
                    }
                    Some(_) => StoreOutcome::PreconditionFailed,
                };
                (req, key, o)
            }
            StoreMsg::Reply { .. } => return,
        };
        ctx.send(from, Msg::Store(StoreMsg::Reply { req, key, outcome }));
    }
}
