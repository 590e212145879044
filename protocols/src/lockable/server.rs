//! The Lockable service: named locks with a lease, renewed by any heartbeat naming them and
//! deleted by any release naming them. See the [module docs](super).

use std::collections::BTreeMap;

use super::msg::LockableMsg;
use crate::history::Observation;
use crate::msg::Msg;
use crate::node::{ms, Ctx, Input, LockId, NodeId};

/// The service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockableServer {
    /// The lease a lock gets on acquire and on each heartbeat (60 s on the Hobbyist plan).
    pub lease_ms: u64,
    /// Held locks: name → expiry on the service's monotonic clock.
    pub locks: BTreeMap<LockId, u64>,
}

impl LockableServer {
    pub fn new(lease_ms: u64) -> Self {
        LockableServer { lease_ms, locks: BTreeMap::new() }
    }

    fn held(&self, name: LockId, now_ns: u64) -> bool {
        self.locks.get(&name).is_some_and(|&until| now_ns < until)
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        let Input::Message { from, msg: Msg::Lockable(m) } = input else { return };
        let now = ctx.mono_ns;
        let lease_ns = ms(self.lease_ms);
        let (req, ok) = match m {
            LockableMsg::Acquire { req, name } => {
                let ok = !self.held(name, now);
                if ok {
                    self.locks.insert(name, now + lease_ns);
                    ctx.record(Observation::Grant { lock: name, holder: from, value: from as u64 + 1, token: None });
                }
                (req, ok)
            }
            // By name: whoever sends it renews whoever holds it.
            LockableMsg::Heartbeat { req, name } => {
                let ok = self.held(name, now);
                if ok {
                    self.locks.insert(name, now + lease_ns);
                }
                (req, ok)
            }
            // By name: whoever sends it deletes whoever holds it.
            LockableMsg::Release { req, name } => {
                let ok = self.held(name, now);
                self.locks.remove(&name);
                (req, ok)
            }
            LockableMsg::Response { .. } => return,
        };
        reply(ctx, from, req, ok);
    }
}

fn reply(ctx: &mut Ctx, to: NodeId, req: u64, ok: bool) {
    ctx.send(to, Msg::Lockable(LockableMsg::Response { req, ok }));
}
