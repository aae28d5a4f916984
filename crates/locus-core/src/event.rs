//! What a peer reports to its driver: changes worth logging, counting or showing.

use std::time::Duration;

use crate::id::{GroupId, PeerId, PeerRef};

/// The cost of one join walk, for the join-cost figures (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JoinStats {
    /// `Measure` probes sent, every sample counted.
    pub probes: u32,
    /// All calls sent during the walk, probes included.
    pub rpcs: u32,
    /// Groups whose locality test was run.
    pub tested_groups: u32,
    /// From the join command to entering or founding a group.
    pub duration: Duration,
}

/// Something that happened inside a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer entered a group, or founded one.
    Joined {
        /// The group.
        group: GroupId,
        /// `true` when the peer founded the group [0055].
        founded: bool,
        /// What the walk cost.
        stats: JoinStats,
    },
    /// The peer became its group's leader, by succession, election or handover.
    BecameLeader {
        /// The group.
        group: GroupId,
        /// The new epoch.
        epoch: u64,
    },
    /// The peer stopped leading because it saw a newer leadership.
    SteppedDown {
        /// The group.
        group: GroupId,
        /// The leader it follows now.
        leader: PeerRef,
    },
    /// The peer now follows another leader.
    LeaderChanged {
        /// The group.
        group: GroupId,
        /// The new leader.
        leader: PeerRef,
        /// Its epoch.
        epoch: u64,
    },
    /// The leader took a member into its roster.
    MemberJoined {
        /// The group.
        group: GroupId,
        /// The member.
        peer: PeerId,
    },
    /// The leader removed a member that left or went silent.
    MemberLeft {
        /// The group.
        group: GroupId,
        /// The member.
        peer: PeerId,
    },
    /// The leader linked its group to another.
    NeighborAdded {
        /// The other group.
        group: GroupId,
        /// RTT to its leader.
        rtt: Duration,
    },
    /// The leader dropped an inter-group link.
    NeighborRemoved {
        /// The other group.
        group: GroupId,
    },
    /// The group has no leadership list left; an election started [0064].
    ElectionStarted {
        /// The group.
        group: GroupId,
        /// The epoch being elected.
        epoch: u64,
    },
    /// The group is merging into a larger group in its locality (DESIGN §3).
    Merging {
        /// The group that ends.
        from: GroupId,
        /// The group it joins.
        into: GroupId,
    },
    /// A member far from its leader moved to a nearer group (`Config::relocate_far_members`).
    Relocated {
        /// The group it left.
        from: GroupId,
        /// The group it entered.
        to: GroupId,
    },
    /// The last member left: the group ceased to exist [0060].
    GroupEnded {
        /// The group.
        group: GroupId,
    },
    /// The peer left the overlay.
    Left,
}
