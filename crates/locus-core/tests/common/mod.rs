//! What the core's integration tests share.
#![allow(dead_code, unreachable_pub)]

use locus_core::message::GroupView;
use locus_core::{CallError, Config, GroupId, Peer, PeerId, PeerRef, Time};
use uuid::Uuid;

/// Peer `n`: id `n + 1`, address `p{n}:1`.
pub fn peer(n: u8) -> PeerRef {
    PeerRef::new(
        PeerId(Uuid::from_u128(u128::from(n) + 1)),
        format!("p{n}:1"),
    )
}

/// Peer 0 on `Config::test()`, alone: its first calls failed, so it founded a group of its own.
pub fn founder() -> Peer {
    founder_with(Config::test())
}

/// [`founder`] on `cfg`.
pub fn founder_with(cfg: Config) -> Peer {
    let mut p = Peer::new(peer(0), cfg, 7);
    p.join(Time::ZERO, Vec::new());
    while let Some(t) = p.poll_transmit() {
        p.handle_response(Time::ZERO, t.id, Err(CallError::Timeout));
    }
    assert!(p.group().is_some(), "peer 0 founded no group");
    p
}

/// Group `n`.
pub fn gid(n: u8) -> GroupId {
    GroupId(Uuid::from_u128(0xabc0_0000 + u128::from(n)))
}

/// Group `n` at epoch 1, led by peer `n` with no successors, of `members` members.
pub fn view_of(n: u8, members: u32) -> GroupView {
    GroupView {
        group_id: gid(n),
        epoch: 1,
        leader: peer(n),
        successors: Vec::new(),
        member_count: members,
    }
}
