//! The wire encoding of locklab's messages between live nodes: one UDP datagram per message, a
//! JSON object `{"v":2,"from":F,"to":T,"msg":{…}}`. `v` is the encoding's version: a receiver
//! drops (and counts) a datagram of another version or one that does not parse, as a network
//! would drop a corrupt packet — it never panics on what arrives from a socket. `msg` is the
//! serde rendering of [`Msg`] (externally tagged enum); a change to `Msg` that changes this
//! rendering must bump [`WIRE_VERSION`] (a test pins the rendering of sample messages).
//! JSON is chosen over a binary encoding for being readable in a packet capture
//! (`tshark -i lo -Y udp`); messages are small and loopback is fast.

use locklab_protocols::{Msg, NodeId};
use serde::{Deserialize, Serialize};

/// The wire encoding's version.
pub const WIRE_VERSION: u32 = 2;

/// The largest datagram a node accepts.
pub const MAX_DATAGRAM: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    from: NodeId,
    to: NodeId,
    msg: Msg,
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    v: u32,
    from: NodeId,
    to: NodeId,
    msg: &'a Msg,
}

/// Encode one message.
pub fn encode(from: NodeId, to: NodeId, msg: &Msg) -> Vec<u8> {
    serde_json::to_vec(&EnvelopeRef { v: WIRE_VERSION, from, to, msg }).expect("a Msg always serialises")
}

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Version(u32),
    Malformed(String),
}

/// Decode one datagram: `(from, to, msg)`.
pub fn decode(bytes: &[u8]) -> Result<(NodeId, NodeId, Msg), WireError> {
    #[derive(Deserialize)]
    struct Head {
        v: u32,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    if head.v != WIRE_VERSION {
        return Err(WireError::Version(head.v));
    }
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    Ok((env.from, env.to, env.msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use locklab_protocols::msg::KvMsg;
    use locklab_protocols::raft::RaftMsg;
    use locklab_protocols::raft::{RaftAnswer, RaftOp, RaftOpKind};

    #[test]
    fn the_encoding_of_sample_messages_is_pinned() {
        let acquire = Msg::Kv(KvMsg::Acquire { req: 7, lock: 0, value: 0xabcd, ttl_ms: 5000 });
        expect_test::expect![[
            r#"{"v":2,"from":2,"to":0,"msg":{"Kv":{"Acquire":{"req":7,"lock":0,"value":43981,"ttl_ms":5000}}}}"#
        ]]
        .assert_eq(std::str::from_utf8(&encode(2, 0, &acquire)).unwrap());
        let reply = Msg::Raft(RaftMsg::RaftReply {
            req: 3,
            op: RaftOpKind::Acquire,
            answer: RaftAnswer::Acquired { revision: 12 },
        });
        expect_test::expect![[r#"{"v":2,"from":0,"to":4,"msg":{"Raft":{"RaftReply":{"req":3,"op":"Acquire","answer":{"Acquired":{"revision":12}}}}}}"#]]
            .assert_eq(std::str::from_utf8(&encode(0, 4, &reply)).unwrap());
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = vec![
            Msg::Kv(KvMsg::Acquire { req: 1, lock: 0, value: u64::MAX, ttl_ms: 1 }),
            Msg::Kv(KvMsg::AcquireReply {
                req: 1,
                lock: 0,
                value: 5,
                granted: true,
                token: Some(34),
                expires_at_wall_ns: -5,
            }),
            Msg::Kv(KvMsg::Release { req: 2, lock: 1, value: 5, plain_del: true, ttl_ms: 10 }),
            Msg::Kv(KvMsg::GetReply { req: 3, lock: 0, value: None, pttl_ms: -2, token: None, expires_at_wall_ns: 0 }),
            Msg::Raft(RaftMsg::RaftRequest { req: 9, op: RaftOp::KeepAlive { lease: 4 } }),
            Msg::Raft(RaftMsg::RaftWatch { lock: 0, revision: 8 }),
        ];
        for m in msgs {
            assert_eq!(decode(&encode(3, 1, &m)), Ok((3, 1, m.clone())), "{m}");
        }
    }

    #[test]
    fn another_version_or_garbage_is_refused_not_a_panic() {
        // Version 1 carried the lease, resource and Raft messages unwrapped.
        let other = br#"{"v":1,"from":0,"to":1,"msg":{"Read":{"req":1}}}"#;
        assert_eq!(decode(other), Err(WireError::Version(1)));
        assert!(matches!(decode(b"\x00\xff not json"), Err(WireError::Malformed(_))));
        assert!(matches!(decode(br#"{"v":2,"from":0}"#), Err(WireError::Malformed(_))));
    }
}
