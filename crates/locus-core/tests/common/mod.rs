//! What the core's integration tests share.
#![allow(dead_code, unreachable_pub)]

use locus_core::{PeerId, PeerRef};
use uuid::Uuid;

/// Peer `n`: id `n + 1`, address `p{n}:1`.
pub fn peer(n: u8) -> PeerRef {
    PeerRef::new(
        PeerId(Uuid::from_u128(u128::from(n) + 1)),
        format!("p{n}:1"),
    )
}
