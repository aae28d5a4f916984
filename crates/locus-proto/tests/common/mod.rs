//! Fixtures shared by the integration tests: core messages filled in every field.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use locus_core::message::{GroupView, LinkInfo, NeighborGroup};
use locus_core::{GroupId, PeerId, PeerRef};
use locus_proto::pb;
use uuid::Uuid;

/// Peer `n`, with a distinct id and address.
pub fn peer(n: u8) -> PeerRef {
    PeerRef::new(
        PeerId(Uuid::from_bytes([n; 16])),
        format!("peer-{n}.locus.test:7000"),
    )
}

/// Group `n`.
pub fn group_id(n: u8) -> GroupId {
    GroupId(Uuid::from_bytes([0x80 | n; 16]))
}

/// Group `n` led by peer `n`, with two successors.
pub fn view(n: u8) -> GroupView {
    GroupView {
        group_id: group_id(n),
        epoch: 7 + u64::from(n),
        leader: peer(n),
        successors: vec![peer(n + 100), peer(n + 101)],
        member_count: 12,
    }
}

/// Neighbour group `n` at `n` ms and some microseconds.
pub fn neighbor(n: u8) -> NeighborGroup {
    NeighborGroup {
        group_id: group_id(n),
        leader: peer(n),
        successors: vec![peer(n + 100)],
        rtt: Duration::from_micros(1_000 * u64::from(n) + 37),
    }
}

/// A link to peer `n`.
pub fn link(n: u8) -> LinkInfo {
    LinkInfo {
        peer: peer(n),
        rtt: Duration::from_micros(500 * u64::from(n) + 3),
    }
}

/// The wire form of peer `n`.
pub fn pb_peer(n: u8) -> pb::PeerRef {
    peer(n).into()
}

/// `n` wire peers.
pub fn pb_peers(n: usize) -> Vec<pb::PeerRef> {
    (0..n).map(|i| pb_peer(i as u8)).collect()
}

/// Encodes and decodes a message, as the wire does.
pub fn wire<M: prost::Message + Default>(m: &M) -> M {
    M::decode(m.encode_to_vec().as_slice()).expect("decodes what it encoded")
}
