//! The order of leaderships within one group, and the bound on epochs.
//!
//! Every change of leader raises a group's epoch by one. Two leaderships of one group (after a
//! partition healed, say) are ordered by their [`Term`]: the higher epoch wins, then the lower
//! peer id, so every peer that compares the same two views picks the same winner.

use std::cmp::Reverse;

use crate::id::PeerId;
use crate::message::GroupView;

/// The largest epoch any message may carry (2^48). A group that changed leader every second
/// would reach it in about nine million years; a message with a larger one is malformed.
/// The bound is a sanity check on the wire, not the protection: a peer follows a new
/// leadership only after its leader answered directly (`docs/protocol.md`, safety rules).
pub const MAX_EPOCH: u64 = 1 << 48;

/// A leadership's rank among the leaderships of one group: epoch first, then the lower id.
pub type Term = (u64, Reverse<PeerId>);

/// The term of a group view.
pub fn term(view: &GroupView) -> Term {
    (view.epoch, Reverse(view.leader.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{GroupId, PeerRef};
    use uuid::Uuid;

    fn view(leader: u128, epoch: u64) -> GroupView {
        GroupView {
            group_id: GroupId(Uuid::from_u128(1)),
            epoch,
            leader: PeerRef::new(PeerId(Uuid::from_u128(leader)), format!("p{leader}")),
            successors: Vec::new(),
            member_count: 0,
        }
    }

    #[test]
    fn higher_epoch_wins_then_lower_id() {
        assert!(term(&view(9, 3)) > term(&view(1, 2)));
        assert!(term(&view(1, 3)) > term(&view(2, 3)));
        assert_eq!(term(&view(4, 3)), term(&view(4, 3)));
    }
}
