//! The protocol's messages as the core sees them, with the caps every list obeys.
//!
//! `locus-proto` converts between these and the wire schema in `proto/locus/v1/`, validating on
//! receipt; drivers never build them by hand. Names follow the seed where it names a message.
//! Durations are round-trip times measured by the sender.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::id::{GroupId, PeerId, PeerRef};
use crate::time::Time;

/// Longest leadership list carried in any message.
pub const MAX_LEADERSHIP: usize = 32;
/// Successors carried per group view: enough to replace a lost leader without asking.
pub const MAX_SUCCESSORS: usize = 4;
/// Neighbour groups in one reply or `Alive`.
pub const MAX_NEIGHBORS: usize = 64;
/// Members listed in one `Alive` (a sample beyond this size).
pub const MAX_ROSTER: usize = 256;
/// Candidates or referrals in one reply.
pub const MAX_CANDIDATES: usize = 32;
/// Groups in one boot list [0044].
pub const MAX_BOOT_LIST: usize = 64;
/// Landmark distances in one announcement or boot-list request (docs/decisions.md, "Joins
/// that start near").
pub const MAX_LANDMARKS: usize = 16;
/// Peers in one `Nearby` reply.
pub const MAX_NEARBY: usize = 64;
/// Lost peers carried in one `Alive` (see `Alive::lost`).
pub const MAX_LOST_PEERS: usize = 32;
/// Links of each kind in one status reply.
pub const MAX_STATUS_LINKS: usize = 256;
/// Members one leader keeps on its roster; joins beyond it are refused, so that no stream of
/// join requests can make a leader allocate without bound.
pub const MAX_GROUP_MEMBERS: usize = 4096;
/// Largest RTT any message may carry; longer is treated as a measurement error.
pub const MAX_RTT: Duration = Duration::from_secs(60);

/// Identifies one outgoing call, so that its result finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A group as seen from outside: enough to reach it and to follow its leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The group.
    pub group_id: GroupId,
    /// Leadership epoch; it grows with every change of leader.
    pub epoch: u64,
    /// The current leader.
    pub leader: PeerRef,
    /// The next peers of the leadership list, in order of succession (at most [`MAX_SUCCESSORS`]).
    pub successors: Vec<PeerRef>,
    /// Members the leader knows of, itself included (0 when the sender does not know).
    pub member_count: u32,
}

/// One entry of a leader's inter-group cache [0048]: a neighbour group and its distance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborGroup {
    /// The neighbour group.
    pub group_id: GroupId,
    /// Its leader, as last seen.
    pub leader: PeerRef,
    /// Its leader's successors, to fall back on when the leader is lost.
    pub successors: Vec<PeerRef>,
    /// RTT from the describing leader to the neighbour's leader.
    pub rtt: Duration,
}

/// An overlay link and its measured RTT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The peer at the other end.
    pub peer: PeerRef,
    /// Its RTT as last measured.
    pub rtt: Duration,
}

/// Which kind of overlay connection a `Leave` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkScope {
    /// An intra-group connection: the sender is leaving the group.
    Intra,
    /// An inter-group connection between two leaders.
    Inter,
    /// A cross link between two peers of different groups.
    Cross,
}

/// What a peer is doing, as reported by `GetStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not in the overlay.
    Idle,
    /// Walking the group graph to find its locality.
    Joining,
    /// A member following a leader.
    Member,
    /// A member without a leader, electing one [0064].
    Electing,
    /// The leader of its group.
    Leader,
}

/// Probe for RTT [0045]. Carries nothing: its round trip is the measurement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeasureRequest {}

/// The reply to a probe: who answered and the group it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureReply {
    /// The peer that answered (it may differ from the one the caller thought it reached).
    pub responder: PeerRef,
    /// The responder's group as it sees it, if it is in one.
    pub group: Option<GroupView>,
}

/// Asks a leader for its inter-group cache: neighbours and their distances [0046]–[0048].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetNeighborsRequest {
    /// The group the caller believes this peer leads; `None` for whichever it leads.
    pub group_id: Option<GroupId>,
}

/// The leader's inter-group cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborsReply {
    /// The answering leader's group.
    pub group: GroupView,
    /// Its neighbour groups with the distances it measured (at most [`MAX_NEIGHBORS`]).
    pub neighbors: Vec<NeighborGroup>,
}

/// Asks a leader for intra-group connection candidates; also a member's periodic report, and
/// the way in for a joining peer, which may be appended to the leadership list [0062].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetGroupMembersRequest {
    /// The group the caller joins or belongs to.
    pub group_id: GroupId,
    /// `true` when the caller is joining now, `false` for a member's report.
    pub joining: bool,
    /// Set when the caller is a leader merging its group into this one (only with `joining`):
    /// the links the merging group had, for this leader to take over so that the merge does
    /// not cut off the groups that reached the overlay through the merging group.
    pub handover: Option<Handover>,
    /// How many intra-group candidates the caller wants (at most [`MAX_CANDIDATES`]): a member
    /// whose links are in place asks for none.
    pub candidates: u32,
    /// The `(epoch, seq)` of the caller's replica of the group's `Alive`: the reply carries
    /// the leader's `Alive` only when it is another, so a report costs a few bytes rather than
    /// the roster.
    pub known_alive: Option<(u64, u64)>,
}

/// A merging group's inter-group links, passed to the leader it merges into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The merging group, which ends: the neighbours' links to it become links to the
    /// absorbing group (`ConnectInterRequest::replaces`).
    pub group_id: GroupId,
    /// Its links (at most [`MAX_NEIGHBORS`]).
    pub links: Vec<HandedLink>,
}

/// One link of a merging group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedLink {
    /// The neighbour group, its leader and the merging leader's RTT to it.
    pub neighbor: NeighborGroup,
    /// The merging group opened the link (so its new owner may prune it for a closer one).
    pub opened: bool,
    /// A partition link (random or bridge) rather than one kept for closeness.
    pub random: bool,
}

/// The leader's answer: the leadership list and candidates to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembersReply {
    /// The group, with the leader's epoch.
    pub group: GroupView,
    /// The full leadership list, leader first (at most [`MAX_LEADERSHIP`]).
    pub leadership: Vec<PeerRef>,
    /// Members to open intra-group connections to (at most [`MAX_CANDIDATES`]).
    pub candidates: Vec<PeerRef>,
    /// The leader's latest `Alive`: a member's periodic report doubles as its heartbeat and
    /// its replica refresh [0063], so `Alive` is flooded only when leadership changes.
    pub alive: Option<Arc<Alive>>,
}

/// Opens an intra-group connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectIntraRequest {
    /// The group both peers are in.
    pub group_id: GroupId,
}

/// Opens a cross link (or renews one): a link between two peers of different groups, near
/// each other, whatever their roles (see `peer::cross`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectCrossRequest {
    /// The caller's group (the callee refuses a link within its own).
    pub group_id: GroupId,
}

/// Opens an inter-group connection between two leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectInterRequest {
    /// The caller's group; its leader is the caller.
    pub group: GroupView,
    /// The RTT the caller measured to the callee.
    pub rtt: Duration,
    /// A link to a random group against partitions [0039], not for closeness: both ends
    /// count it as their random link.
    pub random: bool,
    /// The caller's group absorbed this group in a merge: the callee's link to it becomes this
    /// link (with the same standing), even at the callee's maximum, since it adds no link.
    pub replaces: Option<GroupId>,
}

/// The answer to a connection request. A peer at its connection maximum refuses and names
/// other candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectReply {
    /// Whether the connection is now open.
    pub accepted: bool,
    /// Other peers to try when refused (at most [`MAX_CANDIDATES`]).
    pub referrals: Vec<PeerRef>,
}

/// Closes an overlay connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveRequest {
    /// The caller's group.
    pub group_id: GroupId,
    /// Which kind of connection closes.
    pub scope: LinkScope,
}

/// Built by the leader every `alive_interval` [0063], numbered anew only when it changed, and
/// handed to members in reply to their reports (flooded through the group after a change of
/// leadership): proof of life and the replica of everything the group needs if the leader
/// goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alive {
    /// The leader's group view (epoch, leader, successors, member count).
    pub group: GroupView,
    /// Sequence number within the epoch; floods are deduplicated by `(epoch, seq)`.
    pub seq: u64,
    /// The whole leadership list, leader first.
    pub leadership: Vec<PeerRef>,
    /// The neighbour groups' leaders, so that a successor can re-link [0064].
    pub neighbors: Vec<NeighborGroup>,
    /// Members of the group (a sample of at most [`MAX_ROSTER`] for larger groups), so that a
    /// leaderless group can still reach itself.
    pub roster: Vec<PeerRef>,
    /// Set when the group is merging into another: members follow that group.
    pub merge_into: Option<GroupView>,
    /// The neighbour groups linked against partitions (random links and bridges), so that a
    /// successor keeps their standing (at most [`MAX_NEIGHBORS`]).
    pub partition_links: Vec<GroupId>,
    /// The neighbour groups whose link this group opened (it may prune them for closer ones;
    /// the others are the neighbours' to keep), at most [`MAX_NEIGHBORS`].
    pub opened_links: Vec<GroupId>,
    /// Peers the leader lost and still re-checks (at most [`MAX_LOST_PEERS`]): a successor
    /// takes them over, so that a leadership on the far side of a healed partition is met
    /// even when the leader that lost them is gone too.
    pub lost: Vec<PeerRef>,
}

/// The answer to an `Alive`: received, and when the receiver follows a leadership of the group
/// of a higher term than the one the `Alive` names (a stale `Alive`, or a second leader after a
/// partition), that leadership, so the sender can check it and yield to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AliveAck {
    /// The receiver's view of the group, when its term is higher than the `Alive`'s.
    pub current: Option<GroupView>,
}

/// A leadership claim in a leaderless group [0064]: the earliest timestamp wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeader {
    /// The group.
    pub group_id: GroupId,
    /// The epoch the claimant would lead.
    pub epoch: u64,
    /// Election round; rounds repeat while claims collide.
    pub round: u32,
    /// The claimant.
    pub candidate: PeerRef,
    /// When the claim was made, by the claimant's clock.
    pub sent_at: Time,
}

/// The answer to a claim: the receiver's current view of its group's leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeaderReply {
    /// The receiver's epoch.
    pub epoch: u64,
    /// The leader the receiver follows, if it has one.
    pub leader: Option<PeerRef>,
}

/// Asks a peer for the peers closest to it that it knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearbyRequest {
    /// Most peers to return (capped at [`MAX_NEARBY`]).
    pub limit: u32,
}

/// Asks for a boot list [0044]; served by the rendezvous and by every peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetBootListRequest {
    /// Most groups to return (capped at [`MAX_BOOT_LIST`]).
    pub max: u32,
    /// Start the list with the rendezvous' landmark groups: a join walk's first request,
    /// whose RTTs to them it then sends as `near`. Peers serving boot lists ignore it.
    pub landmarks: bool,
    /// The caller's RTTs to the groups of an earlier boot list (at most [`MAX_LANDMARKS`]):
    /// when set, the rendezvous answers with the groups whose leaders measured the most
    /// similar RTTs to the same landmark groups, the ones likely nearest the caller, instead
    /// of a sample. Empty: a boot list as before. Peers serving boot lists ignore it.
    pub near: Vec<LandmarkRtt>,
    /// The caller's group when its leader asks for a shortcut: the rendezvous lists groups the
    /// overlay reaches from it only the long way round (docs/decisions.md, "Shortcuts where
    /// the overlay goes the long way round"). `None`: a boot list as before. It only chooses
    /// which groups the caller measures. Peers serving boot lists ignore it.
    pub shortcut_for: Option<GroupId>,
}

/// An RTT measured to a landmark group's leader: the rendezvous' boot lists start with its
/// landmark groups, and positions compare by these (docs/decisions.md, "Joins that start
/// near").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LandmarkRtt {
    /// The landmark group.
    pub group: GroupId,
    /// The RTT measured to its leader.
    pub rtt: Duration,
}

/// A leader's refresh of its rendezvous entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The group as the leader sees it.
    pub group: GroupView,
    /// The leader's inter-group links and their RTTs.
    pub neighbors: Vec<NeighborGroup>,
    /// The neighbour groups linked against partitions (random links and bridges), not for
    /// closeness (at most [`MAX_NEIGHBORS`]).
    pub partition_links: Vec<GroupId>,
    /// `true` when the group has ended: the last member left.
    pub ended: bool,
    /// The leader's RTTs to the groups of its first boot list (at most [`MAX_LANDMARKS`]):
    /// where it is, for boot lists that start near ([`GetBootListRequest::near`]).
    pub landmarks: Vec<LandmarkRtt>,
}

/// The rendezvous' answer to an announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Set when the directory holds a newer leadership for this group than the announcer's:
    /// the announcer is stale and should step down and follow it.
    pub superseded_by: Option<GroupView>,
    /// Set when the directory sees the announcer's group cut off from the largest connected
    /// part of the overlay and picked this leader to link the two: groups of that part, at
    /// most [`MAX_BOOT_LIST`], to measure and link to the closest of (a partition link).
    pub bridge: Vec<GroupView>,
}

/// A peer's state, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The peer itself.
    pub peer: PeerRef,
    /// What it is doing.
    pub role: Role,
    /// Its group, if it is in one.
    pub group: Option<GroupView>,
    /// Its copy of the leadership list.
    pub leadership: Vec<PeerRef>,
    /// Its intra-group connections.
    pub intra: Vec<LinkInfo>,
    /// Its inter-group connections (leaders only).
    pub inter: Vec<NeighborGroup>,
    /// Its cross links to peers of other groups.
    pub cross: Vec<LinkInfo>,
}

/// Every request a peer or the rendezvous can receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// RTT probe.
    Measure(MeasureRequest),
    /// A leader's inter-group cache.
    GetNeighbors(GetNeighborsRequest),
    /// Intra-group candidates, join and member report.
    GetGroupMembers(GetGroupMembersRequest),
    /// Open an intra-group connection.
    ConnectIntra(ConnectIntraRequest),
    /// Open an inter-group connection.
    ConnectInter(ConnectInterRequest),
    /// Open or renew a cross link.
    ConnectCross(ConnectCrossRequest),
    /// Close a connection.
    Leave(LeaveRequest),
    /// The leader's heartbeat, flooded after a change of leadership. Shared: a flood hands the
    /// same heartbeat to every
    /// link, so forwarding it costs no copy of its lists.
    Alive(Arc<Alive>),
    /// A leadership claim.
    NewLeader(NewLeader),
    /// Operator status.
    GetStatus,
    /// Closest known peers.
    Nearby(NearbyRequest),
    /// A boot list (rendezvous or any peer).
    GetBootList(GetBootListRequest),
    /// Rendezvous only: a leader's entry refresh.
    AnnounceGroup(Announcement),
    /// Rendezvous only: the current leader of a group.
    ResolveGroup(GroupId),
}

/// Every successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// To `Measure`.
    Measure(MeasureReply),
    /// To `GetNeighbors`.
    Neighbors(NeighborsReply),
    /// To `GetGroupMembers`.
    GroupMembers(GroupMembersReply),
    /// To `ConnectIntra`, `ConnectInter` and `ConnectCross`.
    Connect(ConnectReply),
    /// To `Leave`: received.
    Ack,
    /// To `Alive`: received, with the receiver's leadership when it is another.
    AliveAck(AliveAck),
    /// To `NewLeader`.
    NewLeader(NewLeaderReply),
    /// To `GetStatus`.
    Status(Box<Status>),
    /// To `Nearby`: peers closest first.
    Nearby(Vec<LinkInfo>),
    /// To `GetBootList`.
    BootList(Vec<GroupView>),
    /// To `AnnounceGroup`.
    Announced(AnnounceReply),
    /// To `ResolveGroup`: the group's entry, if the directory has one.
    Resolved(Option<GroupView>),
}

/// Why a node declined a well-formed request. The gRPC layer maps each to one status code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The request needs a group's leader and this peer is not it; `leader` names the one it
    /// follows, if any.
    #[error("not the leader{}", .leader.as_ref().map(|l| format!(" (the leader is {l:?})")).unwrap_or_default())]
    NotLeader {
        /// The leader this peer follows.
        leader: Option<PeerRef>,
    },
    /// The request names a group this peer is not in.
    #[error("not a member of group {0}")]
    WrongGroup(GroupId),
    /// The request names a group this peer is not in, and this peer is in `into` now, led by
    /// `leader` as far as it knows: a leader that merged away answers its old members so, and
    /// they follow it there instead of walking from nothing. A hint, not a fact: the member
    /// asks `leader` to take it in and follows only that leader's own answer.
    #[error("not a member of group {group}: now in group {into}")]
    Moved {
        /// The group the request named.
        group: GroupId,
        /// The group this peer is in now.
        into: GroupId,
        /// That group's leader, as this peer knows it.
        leader: PeerRef,
    },
    /// This peer is not in any group yet.
    #[error("not joined")]
    NotJoined,
    /// The request needs to know its caller and came without one.
    #[error("the request must name its caller")]
    MissingCaller,
    /// This kind of node does not serve the request.
    #[error("unsupported request")]
    Unsupported,
    /// The group is at [`MAX_GROUP_MEMBERS`] and takes no new members.
    #[error("the group is full")]
    Full,
    /// The request contradicts itself or the protocol.
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// How an outgoing call failed, as reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    /// No reply before the deadline (`request_timeout`).
    #[error("deadline exceeded")]
    Timeout,
    /// The peer could not be reached (connection refused, name not resolved, reset).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The peer answered and declined.
    #[error("refused: {0}")]
    Refused(RequestError),
}

/// Where an outgoing call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A peer, by its address.
    Peer(PeerRef),
    /// A peer known only by address (a bootstrap address given by the operator).
    Address(String),
    /// Any of the rendezvous services the driver knows.
    Rendezvous,
}

/// An outgoing call. The driver sends it with a deadline and reports its result exactly once
/// through `handle_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Matches the result to the call.
    pub id: RequestId,
    /// The destination.
    pub to: Target,
    /// What to send; the driver adds this peer's own reference as the caller.
    pub request: Request,
}

impl Transmit {
    /// The destination peer's id, if the call goes to a peer.
    pub fn peer_id(&self) -> Option<PeerId> {
        match &self.to {
            Target::Peer(p) => Some(p.id),
            Target::Address(_) | Target::Rendezvous => None,
        }
    }
}
