//! The data a peer keeps: its group, its role in it, and its calls in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::cross::CrossLinks;
use super::near_intra::NearIntra;
use super::relocate::Relocation;
use crate::election::Election;
use crate::event::JoinStats;
use crate::id::{GroupId, PeerId, PeerRef};
use crate::join::Walk;
use crate::link::{Neighbor, Search};
use crate::message::{
    Alive, GroupView, HandedLink, Handover, LinkInfo, MAX_NEIGHBORS, MAX_SUCCESSORS, MeasureReply,
    NeighborGroup,
};
use crate::time::Time;

/// Where the peer stands in the overlay.
#[derive(Debug)]
pub(super) enum State {
    /// Not in the overlay.
    Idle,
    /// Walking to find its group.
    Joining(Box<Joining>),
    /// In a group.
    Member(Box<Group>),
}

/// A join walk in progress.
#[derive(Debug)]
pub(super) struct Joining {
    pub(super) walk: Walk,
    /// Distinguishes this walk's replies from those of earlier walks.
    pub(super) id: u64,
    pub(super) started: Time,
    pub(super) stats: JoinStats,
    /// The group this walk must not enter (the one the peer is leaving).
    pub(super) exclude: Option<GroupId>,
    /// The walk already waited once for an empty directory to fill (see
    /// `DEFAULT_COLD_START_BACKOFF`): next time it founds.
    pub(super) backed_off: bool,
}

/// The peer's group, as every member holds it [0063][0064].
#[derive(Debug)]
pub(super) struct Group {
    pub(super) id: GroupId,
    pub(super) epoch: u64,
    pub(super) leader: PeerRef,
    /// The leadership list, leader first [0061].
    pub(super) leadership: Vec<PeerRef>,
    /// Members learnt on entering the group, until the first `Alive` replaces them.
    pub(super) known: Vec<PeerRef>,
    /// The last `Alive` heard: the replica of the roster and the neighbour groups' leaders
    /// [0063][0064], shared rather than copied since every member holds one.
    pub(super) replica: Option<Arc<Alive>>,
    /// Intra-group connections.
    pub(super) intra: BTreeMap<PeerId, LinkInfo>,
    /// Intra-group connections asked for and not yet answered.
    pub(super) connecting: BTreeSet<PeerId>,
    /// Peers that refused (or failed) an intra-group connection since the last report to the
    /// leader: not asked again until then, so full peers referring to each other cannot keep
    /// a member cycling through them.
    pub(super) refused: BTreeSet<PeerId>,
    /// This member moved in with a merged group's links (`Config::merge_keeps_links`) and no
    /// link beyond them has been accepted yet: each report tries one to the leader (or a member
    /// it names), so that the merged mesh does not stay apart from the group's.
    pub(super) unbridged: bool,
    pub(super) last_alive: Time,
    /// Highest `Alive` sequence seen (or sent) in this epoch.
    pub(super) seq: u64,
    /// Leadership checks in flight (see `peer::leadership`), at most `MAX_CHECKS`.
    pub(super) checking: BTreeSet<(PeerId, CheckFor)>,
    /// The flood `Alive` of a newer leadership whose leader is being checked, and who passed
    /// it on: once the check holds it goes on through the mesh (`Peer::pass_on_flood`), or
    /// the flood would stop one hop further from the new leader each round.
    pub(super) unchecked_flood: Option<(PeerRef, Arc<Alive>)>,
    /// A successor (or a member about to elect) asking the peers before it whether any still
    /// leads, before it takes over.
    pub(super) succession: Option<Succession>,
    /// An `Alive` handed the group to this peer: the old leader being asked whether it still
    /// leads, and how many times it was asked.
    pub(super) handover: Option<(PeerId, u8)>,
    /// Cross links to peers of other groups (`peer::cross`).
    pub(super) cross: CrossLinks,
    /// Intra-group links moved to the nearest members (`peer::near_intra`).
    pub(super) near_intra: NearIntra,
    /// A member far from its leader looking for a nearer group (`peer::relocate`).
    pub(super) relocation: Relocation,
    pub(super) role: GroupRole,
}

impl Group {
    /// A member's view of a group it just entered.
    pub(super) fn new(view: &GroupView, leadership: Vec<PeerRef>, now: Time) -> Self {
        Group {
            id: view.group_id,
            epoch: view.epoch,
            leader: view.leader.clone(),
            known: leadership.clone(),
            leadership,
            replica: None,
            intra: BTreeMap::new(),
            connecting: BTreeSet::new(),
            refused: BTreeSet::new(),
            unbridged: false,
            last_alive: now,
            seq: 0,
            checking: BTreeSet::new(),
            unchecked_flood: None,
            succession: None,
            handover: None,
            cross: CrossLinks::default(),
            near_intra: NearIntra::default(),
            relocation: Relocation::default(),
            role: GroupRole::Follower,
        }
    }

    /// Members as of the last `Alive` (a sample in large groups).
    pub(super) fn roster(&self) -> &[PeerRef] {
        self.replica.as_ref().map_or(&self.known, |a| &a.roster)
    }

    /// The neighbour groups' leaders as of the last `Alive`.
    pub(super) fn neighbors(&self) -> &[NeighborGroup] {
        self.replica.as_ref().map_or(&[], |a| &a.neighbors)
    }

    /// The group as this member sees it.
    pub(super) fn view(&self) -> GroupView {
        GroupView {
            group_id: self.id,
            epoch: self.epoch,
            leader: self.leader.clone(),
            successors: self
                .leadership
                .iter()
                .filter(|p| p.id != self.leader.id)
                .take(MAX_SUCCESSORS)
                .cloned()
                .collect(),
            member_count: match &self.role {
                GroupRole::Leading(l) => l.members.len() as u32,
                _ => 0,
            },
        }
    }
}

/// A member's role within its group.
#[derive(Debug)]
pub(super) enum GroupRole {
    /// Follows `Group::leader`.
    Follower,
    /// No leader: electing one.
    Electing(Election),
    /// Leads the group.
    Leading(Box<Leading>),
}

/// What only a leader keeps, in parts by concern.
#[derive(Debug, Default)]
pub(super) struct Leading {
    /// The member roster with the last report of each (the leader included).
    pub(super) members: BTreeMap<PeerId, (PeerRef, Time)>,
    /// The inter-group cache [0048].
    pub(super) inter: BTreeMap<GroupId, Neighbor>,
    /// Neighbours whose leader is being replaced, with the candidates tried.
    pub(super) replacing: BTreeMap<GroupId, Replacing>,
    /// Looking for links: Figure 11, the random link, bridges.
    pub(super) search: Searching,
    /// Merge checks, re-walks and handovers.
    pub(super) merge: Merging,
    /// The heartbeat this leader builds and floods.
    pub(super) heartbeat: Heartbeat,
    /// Peers this leader lost (members gone silent, the leaders it succeeded), re-checked now
    /// and then: when a partition heals, this is how two leaderships of one group meet without
    /// the rendezvous (see `peer::leadership`).
    pub(super) lost: BTreeMap<PeerId, Lost>,
}

/// A leader's search for inter-group links.
#[derive(Debug, Default)]
pub(super) struct Searching {
    /// Figure 11 in progress.
    pub(super) current: Option<Search>,
    /// Improvement rounds run since the last re-measurement (see `MAX_IMPROVE_ROUNDS`).
    pub(super) improve_rounds: u32,
    /// A random link in progress (the group asked for).
    pub(super) random_pending: bool,
    /// The random groups measured for it (`Config::random_link_sample`).
    pub(super) random_sample: Option<RandomSample>,
    /// A bridge the rendezvous asked for in progress: measurements outstanding and the
    /// closest group of the main component measured so far.
    pub(super) bridge: Option<Bridge>,
}

/// A leader's merges, both ways, and its re-walks.
#[derive(Debug, Default)]
pub(super) struct Merging {
    /// A merge check (or re-walk) in progress: a walk restricted to one neighbour group.
    pub(super) walk: Option<(u64, Walk)>,
    /// The group of the merge check in progress (or of the last one).
    pub(super) target: Option<GroupId>,
    /// Neighbours checked for a merge since the last re-measurement: a check that ends without
    /// a merge moves on to the next candidate instead of waiting a whole interval.
    pub(super) tried: BTreeSet<GroupId>,
    /// The merge walk in progress is a re-walk (see `MAX_REWALKS`), not a merge check.
    pub(super) rewalking: bool,
    /// Re-walks this leader has run (at most `MAX_REWALKS`).
    pub(super) rewalks: u32,
    /// Re-measurements since this leader took over: re-walks run at the 1st, 2nd, 4th, 8th, …
    pub(super) remeasures: u32,
    /// The neighbour groups this leader handed to the group it asked to merge into: they
    /// re-link to that group, so the merge closes none of their links.
    pub(super) handed: BTreeSet<GroupId>,
    /// Handovers of merging groups, taken over only once the merging leader confirms it
    /// followed (its first call as a member of this group), by merging leader.
    pub(super) held: BTreeMap<PeerId, (Handover, Time)>,
    /// Links a merged group handed to this leader, being measured before they are taken over:
    /// the merged group and the link, by neighbour group (at most `max_inter_group_links`).
    pub(super) taking_over: BTreeMap<GroupId, (GroupId, HandedLink)>,
}

/// A leader's `Alive`.
#[derive(Debug, Default)]
pub(super) struct Heartbeat {
    /// The latest `Alive`, built every `alive_interval`; member reports get it in reply.
    pub(super) latest: Option<Arc<Alive>>,
    /// `Alive` rounds still to flood after a change of leadership: members who missed the
    /// first flood hear a later one.
    pub(super) floods_left: u8,
}

/// A peer a leader lost and re-checks with a doubling gap.
#[derive(Debug, Clone)]
pub(super) struct Lost {
    pub(super) peer: PeerRef,
    /// When it was lost: forgotten `LOST_MEMORY` alive intervals later.
    pub(super) since: Time,
    /// When it is next checked.
    pub(super) next: Time,
    /// The gap to the check after, in alive intervals.
    pub(super) gap: u32,
}

/// A successor's check of the peers before it on the leadership list.
#[derive(Debug, Clone)]
pub(super) struct Succession {
    /// Peers asked and not answered yet, with the attempts made.
    pub(super) pending: BTreeMap<PeerId, (PeerRef, u8)>,
    /// Not on the leadership list (or first without a leader): elect instead of succeeding.
    pub(super) elect: bool,
    /// `Group::last_alive` when the check started: anything heard since calls it off.
    pub(super) heard: Time,
    /// The best live leadership of a lower term than the one followed that answered: followed
    /// at the end instead of taking over.
    pub(super) live: Option<GroupView>,
    /// Every check is in and nobody leads: the takeover waits for its due time.
    pub(super) gone: bool,
}

/// Why a peer's leadership is being checked with a direct `Measure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum CheckFor {
    /// A view of this group names another leadership: follow it if its leader bears it out.
    Leadership,
    /// Succession: does a peer before this one on the leadership list still lead?
    Succession,
    /// A handover named this peer: does the old leader still lead?
    Handover,
    /// A lost peer: back, and in which leadership of this group?
    Lost,
}

impl Leading {
    /// The inter-group cache as the wire carries it.
    pub(super) fn neighbor_groups(&self) -> Vec<NeighborGroup> {
        self.inter
            .iter()
            .map(|(g, n)| NeighborGroup {
                group_id: *g,
                leader: n.leader.clone(),
                successors: n.successors.clone(),
                rtt: n.rtt,
            })
            .collect()
    }

    /// The neighbour groups linked against partitions, for `Alive`.
    pub(super) fn partition_links(&self) -> Vec<GroupId> {
        self.inter
            .iter()
            .filter(|(_, n)| n.random)
            .map(|(g, _)| *g)
            .take(MAX_NEIGHBORS)
            .collect()
    }

    /// The neighbour groups whose link this group opened, for `Alive`.
    pub(super) fn opened_links(&self) -> Vec<GroupId> {
        self.inter
            .iter()
            .filter(|(_, n)| n.opened)
            .map(|(g, _)| *g)
            .take(MAX_NEIGHBORS)
            .collect()
    }

    /// The RTTs of the links kept for closeness (not partition links), shortest first.
    pub(super) fn near_rtts(&self) -> Vec<Duration> {
        let mut rtts: Vec<Duration> = self
            .inter
            .values()
            .filter(|n| !n.random)
            .map(|n| n.rtt)
            .collect();
        rtts.sort();
        rtts
    }

    /// Inter-group links opened for closeness (not the random ones).
    pub(super) fn near_links(&self) -> usize {
        self.inter.values().filter(|n| !n.random).count()
    }
}

/// A partition link being chosen among the groups the rendezvous named.
#[derive(Debug, Default)]
pub(super) struct Bridge {
    /// Measurements outstanding.
    pub(super) pending: usize,
    /// The named groups measured so far that answered as their group's leader, closest last
    /// once every measurement is in; at most `MAX_BOOT_LIST`, one per named group.
    pub(super) ranked: Vec<(Duration, GroupId, PeerRef)>,
    /// The group a connection was opened to and not yet answered.
    pub(super) trying: Option<GroupId>,
}

/// The random groups measured for one random link: the closest that answered as its group's
/// leader is linked once every measurement is in.
#[derive(Debug, Default)]
pub(super) struct RandomSample {
    /// Measurements outstanding.
    pub(super) pending: usize,
    /// The closest so far.
    pub(super) best: Option<(Duration, GroupId, PeerRef)>,
}

/// Replacement of a neighbour group's lost leader.
#[derive(Debug, Default)]
pub(super) struct Replacing {
    pub(super) queue: Vec<PeerRef>,
    pub(super) tried: BTreeSet<PeerId>,
    pub(super) resolved: bool,
}

/// A call in flight.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) sent_at: Time,
    pub(super) purpose: Purpose,
}

/// What a call in flight is for, so that its result reaches the right procedure.
#[derive(Debug)]
pub(super) enum Purpose {
    Probe(PeerId),
    Boot {
        walk: u64,
        /// Asked of the rendezvous: its first list starts with the landmark groups.
        rendezvous: bool,
    },
    WalkQuery {
        walk: u64,
        group: GroupId,
    },
    WalkEnter {
        walk: u64,
        group: GroupId,
    },
    Report,
    /// A member of a merging group asks the group it merges into to take it in, keeping its
    /// links meanwhile (`Config::merge_keeps_links`).
    MergeFollow {
        from: GroupId,
        into: GroupId,
        leader: PeerRef,
        /// Groups followed so far, this one included ([`super::merge::MAX_FOLLOW_HOPS`]).
        hops: u8,
    },
    ConnectIntra(PeerRef),
    /// An intra-group link chosen by RTT (`peer::near_intra`), replacing `replaces` once
    /// accepted.
    ConnectNearIntra {
        peer: PeerRef,
        replaces: Option<PeerRef>,
    },
    /// An intra-group link opened beyond the target (`Peer::bridge_to`).
    BridgeIntra(PeerRef),
    ConnectInter(InterConnect),
    ConnectCross(PeerRef),
    SearchQuery(GroupId),
    SearchBoot,
    RandomBoot,
    Alive(PeerId),
    /// A leadership check (`peer::leadership`): one `Measure`, with its own short deadline.
    Check(PeerRef, CheckFor),
    Claim,
    Announce,
    Resolve(GroupId),
    Ignore,
}

/// An inter-group connection being opened.
#[derive(Debug)]
pub(super) struct InterConnect {
    pub(super) group: GroupId,
    pub(super) leader: PeerRef,
    pub(super) rtt: Duration,
    pub(super) random: bool,
    /// Opened by the running search, which wants the outcome.
    pub(super) search: bool,
    /// Taking over a merged group's link: the callee's link to that group becomes this one.
    pub(super) replaces: Option<GroupId>,
    /// Whether this leader counts the link as one it opened (see `Neighbor::opened`); false
    /// only for a taken-over link that the other group had opened.
    pub(super) opened: bool,
}

/// A measurement in progress: sequential samples, the minimum kept.
#[derive(Debug)]
pub(super) struct Probe {
    pub(super) target: PeerRef,
    pub(super) remaining: u32,
    pub(super) best: Option<Duration>,
    pub(super) reply: Option<MeasureReply>,
    pub(super) why: Vec<ProbeFor>,
}

/// Why a measurement was taken.
#[derive(Debug, Clone, Copy)]
pub(super) enum ProbeFor {
    /// A join or merge walk ranking a candidate: one sample with `rank_on_one_sample`.
    Walk(u64),
    /// A walk confirming the one sample a decision rests on: the rest of the samples.
    WalkConfirm(u64),
    Search,
    Remeasure(GroupId),
    Replace(GroupId),
    Random(GroupId),
    Bridge(GroupId),
    Handover(GroupId),
    Intra,
    Cross,
    CrossCandidate,
    /// A group-mate the leader named, for `peer::near_intra`.
    IntraCandidate,
}
