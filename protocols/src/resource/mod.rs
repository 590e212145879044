//! The protected resource: a storage node holding one counter.
//!
//! Clients run read → think → write(read + 1) under the lock; every lost update is an increment
//! that vanished because two clients' critical sections interleaved. With fencing on, the
//! resource remembers the highest token it has seen and rejects a write carrying a lower one
//! (Kleppmann 2016: "the storage server remembers that it has already processed a write with a
//! higher token number"). A write with no token is rejected too once fencing is on. Equal tokens
//! are accepted: one session may write several times.

use crate::history::Observation;
use crate::msg::Msg;
use crate::msg::ResourceMsg;
use crate::node::{Ctx, Input};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    /// Check fencing tokens on writes.
    pub fencing: bool,
    pub value: u64,
    pub max_token_seen: Option<u64>,
}

impl Resource {
    pub fn new(fencing: bool) -> Self {
        Resource { fencing, value: 0, max_token_seen: None }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, input: Input) {
        let Input::Message { from, msg } = input else { return };
        match msg {
            Msg::Resource(ResourceMsg::Read { req }) => {
                ctx.send(from, Msg::Resource(ResourceMsg::ReadReply { req, value: self.value }))
            }
            Msg::Resource(ResourceMsg::Write { req, session, token, value }) => {
                let applied = if self.fencing {
                    match (token, self.max_token_seen) {
                        (None, _) => false,
                        (Some(t), Some(max)) => t >= max,
                        (Some(_), None) => true,
                    }
                } else {
                    true
                };
                if applied {
                    let prev = self.value;
                    self.value = value;
                    if token > self.max_token_seen {
                        self.max_token_seen = token;
                    }
                    ctx.record(Observation::WriteApplied { session, token, value, prev });
                } else {
                    ctx.record(Observation::WriteRejected { session, token, max_token_seen: self.max_token_seen });
                }
                ctx.send(from, Msg::Resource(ResourceMsg::WriteReply { req, applied }));
            }
            _ => {}
        }
    }
}
