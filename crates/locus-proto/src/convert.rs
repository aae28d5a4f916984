//! Conversions between the wire messages in [`crate::pb`] and the core's types.
//!
//! Going out, `From<core::X> for pb::X` never fails: the core keeps its own caps. Coming in,
//! `TryFrom<pb::X> for core::X` checks everything the core relies on — required fields present,
//! identities parse as UUIDs, lists within their `MAX_*` caps, addresses `host:port` of at
//! most [`MAX_ADDR_LEN`] bytes and of no IP class that no peer is at
//! (`locus_core::addr::parse`), RTTs at most [`MAX_RTT`], enums set — and names the offending field
//! in the [`ProtoError`]. Requests, which carry the caller beside the core message, convert
//! through [`rpc::Unary`](crate::rpc::Unary).

use std::sync::Arc;
use std::time::Duration;

use locus_core::id::MAX_ADDR_LEN;
use locus_core::message::{
    self as core, MAX_CANDIDATES, MAX_LEADERSHIP, MAX_LOST_PEERS, MAX_NEIGHBORS, MAX_ROSTER,
    MAX_RTT, MAX_STATUS_LINKS, MAX_SUCCESSORS,
};
use locus_core::term::MAX_EPOCH;
use locus_core::{GroupId, PeerId, PeerRef};
use uuid::Uuid;

use crate::error::{At, ProtoError, Violation};
use crate::pb;

// ---- Field helpers, shared with `rpc` and `status`. ----

fn uuid(s: &str, field: &str) -> Result<Uuid, ProtoError> {
    if s.is_empty() {
        return Err(ProtoError::new(field, Violation::Missing));
    }
    Uuid::parse_str(s).map_err(|_| ProtoError::new(field, Violation::InvalidUuid))
}

/// A peer id from its UUID string.
pub(crate) fn peer_id(s: &str, field: &str) -> Result<PeerId, ProtoError> {
    uuid(s, field).map(PeerId)
}

/// A group id from its UUID string.
pub(crate) fn group_id(s: &str, field: &str) -> Result<GroupId, ProtoError> {
    uuid(s, field).map(GroupId)
}

/// An optional group id: the empty string means none.
pub(crate) fn optional_group_id(s: &str, field: &str) -> Result<Option<GroupId>, ProtoError> {
    if s.is_empty() {
        Ok(None)
    } else {
        group_id(s, field).map(Some)
    }
}

/// A required sub-message.
pub(crate) fn required<P, C>(value: Option<P>, field: &str) -> Result<C, ProtoError>
where
    C: TryFrom<P, Error = ProtoError>,
{
    let value = value.ok_or_else(|| ProtoError::new(field, Violation::Missing))?;
    C::try_from(value).at(field)
}

/// An optional sub-message.
pub(crate) fn optional<P, C>(value: Option<P>, field: &str) -> Result<Option<C>, ProtoError>
where
    C: TryFrom<P, Error = ProtoError>,
{
    value.map(|v| C::try_from(v).at(field)).transpose()
}

/// A list of at most `max` entries, each converted and named by its index on error.
pub(crate) fn list<P, C>(items: Vec<P>, max: usize, field: &str) -> Result<Vec<C>, ProtoError>
where
    C: TryFrom<P, Error = ProtoError>,
{
    if items.len() > max {
        let len = items.len();
        return Err(ProtoError::new(field, Violation::TooMany { len, max }));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| C::try_from(item).at(&format!("{field}[{i}]")))
        .collect()
}

/// A round-trip time from microseconds, at most [`MAX_RTT`].
pub(crate) fn rtt(us: u64, field: &str) -> Result<Duration, ProtoError> {
    let rtt = Duration::from_micros(us);
    if rtt > MAX_RTT {
        let max_us = rtt_us(MAX_RTT);
        return Err(ProtoError::new(
            field,
            Violation::RttTooLarge { rtt_us: us, max_us },
        ));
    }
    Ok(rtt)
}

/// A round-trip time in whole microseconds (saturating; the core never exceeds [`MAX_RTT`]).
pub(crate) fn rtt_us(rtt: Duration) -> u64 {
    u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX)
}

/// A leadership epoch, at most [`MAX_EPOCH`].
pub(crate) fn epoch(epoch: u64, field: &str) -> Result<u64, ProtoError> {
    if epoch > MAX_EPOCH {
        return Err(ProtoError::new(
            field,
            Violation::EpochTooLarge {
                epoch,
                max: MAX_EPOCH,
            },
        ));
    }
    Ok(epoch)
}

/// A list of group ids, at most `max`.
pub(crate) fn group_ids(
    ids: Vec<String>,
    max: usize,
    field: &str,
) -> Result<Vec<GroupId>, ProtoError> {
    if ids.len() > max {
        let len = ids.len();
        return Err(ProtoError::new(field, Violation::TooMany { len, max }));
    }
    ids.iter()
        .enumerate()
        .map(|(i, s)| group_id(s, &format!("{field}[{i}]")))
        .collect()
}

/// Group ids as the wire writes them.
pub(crate) fn ids(ids: Vec<GroupId>) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

/// Converts every element.
pub(crate) fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}

// ---- Enums. ----

/// A role from its wire value; `ROLE_UNSPECIFIED` is rejected.
pub(crate) fn role(value: i32, field: &str) -> Result<core::Role, ProtoError> {
    use pb::Role as P;
    match P::try_from(value) {
        Ok(P::Unspecified) => Err(ProtoError::new(field, Violation::Unspecified)),
        Ok(P::Idle) => Ok(core::Role::Idle),
        Ok(P::Joining) => Ok(core::Role::Joining),
        Ok(P::Member) => Ok(core::Role::Member),
        Ok(P::Electing) => Ok(core::Role::Electing),
        Ok(P::Leader) => Ok(core::Role::Leader),
        Err(_) => Err(ProtoError::new(field, Violation::UnknownEnum(value))),
    }
}

impl From<core::Role> for pb::Role {
    fn from(role: core::Role) -> Self {
        match role {
            core::Role::Idle => Self::Idle,
            core::Role::Joining => Self::Joining,
            core::Role::Member => Self::Member,
            core::Role::Electing => Self::Electing,
            core::Role::Leader => Self::Leader,
        }
    }
}

/// A link scope from its wire value; `LINK_SCOPE_UNSPECIFIED` is rejected.
pub(crate) fn link_scope(value: i32, field: &str) -> Result<core::LinkScope, ProtoError> {
    use pb::LinkScope as P;
    match P::try_from(value) {
        Ok(P::Unspecified) => Err(ProtoError::new(field, Violation::Unspecified)),
        Ok(P::Intra) => Ok(core::LinkScope::Intra),
        Ok(P::Inter) => Ok(core::LinkScope::Inter),
        Ok(P::Cross) => Ok(core::LinkScope::Cross),
        Err(_) => Err(ProtoError::new(field, Violation::UnknownEnum(value))),
    }
}

impl From<core::LinkScope> for pb::LinkScope {
    fn from(scope: core::LinkScope) -> Self {
        match scope {
            core::LinkScope::Intra => Self::Intra,
            core::LinkScope::Inter => Self::Inter,
            core::LinkScope::Cross => Self::Cross,
        }
    }
}

// ---- Common types. ----

impl TryFrom<pb::PeerRef> for PeerRef {
    type Error = ProtoError;
    fn try_from(p: pb::PeerRef) -> Result<Self, ProtoError> {
        let id = peer_id(&p.peer_id, "peer_id")?;
        if p.addr.is_empty() {
            return Err(ProtoError::new("addr", Violation::EmptyAddress));
        }
        if p.addr.len() > MAX_ADDR_LEN {
            let len = p.addr.len();
            let max = MAX_ADDR_LEN;
            return Err(ProtoError::new(
                "addr",
                Violation::AddressTooLong { len, max },
            ));
        }
        locus_core::addr::parse(&p.addr)
            .map_err(|e| ProtoError::new("addr", Violation::Address(e)))?;
        Ok(PeerRef {
            id,
            addr: p.addr.into(),
        })
    }
}

impl From<PeerRef> for pb::PeerRef {
    fn from(p: PeerRef) -> Self {
        Self {
            peer_id: p.id.to_string(),
            addr: p.addr.to_string(),
        }
    }
}

impl TryFrom<pb::GroupView> for core::GroupView {
    type Error = ProtoError;
    fn try_from(g: pb::GroupView) -> Result<Self, ProtoError> {
        Ok(Self {
            group_id: group_id(&g.group_id, "group_id")?,
            epoch: epoch(g.epoch, "epoch")?,
            leader: required(g.leader, "leader")?,
            successors: list(g.successors, MAX_SUCCESSORS, "successors")?,
            member_count: g.member_count,
        })
    }
}

impl From<core::GroupView> for pb::GroupView {
    fn from(g: core::GroupView) -> Self {
        Self {
            group_id: g.group_id.to_string(),
            epoch: g.epoch,
            leader: Some(g.leader.into()),
            successors: all(g.successors),
            member_count: g.member_count,
        }
    }
}

impl TryFrom<pb::NeighborGroup> for core::NeighborGroup {
    type Error = ProtoError;
    fn try_from(n: pb::NeighborGroup) -> Result<Self, ProtoError> {
        Ok(Self {
            group_id: group_id(&n.group_id, "group_id")?,
            leader: required(n.leader, "leader")?,
            successors: list(n.successors, MAX_SUCCESSORS, "successors")?,
            rtt: rtt(n.rtt_us, "rtt_us")?,
        })
    }
}

impl From<core::NeighborGroup> for pb::NeighborGroup {
    fn from(n: core::NeighborGroup) -> Self {
        Self {
            group_id: n.group_id.to_string(),
            leader: Some(n.leader.into()),
            successors: all(n.successors),
            rtt_us: rtt_us(n.rtt),
        }
    }
}

impl TryFrom<pb::LandmarkRtt> for core::LandmarkRtt {
    type Error = ProtoError;
    fn try_from(l: pb::LandmarkRtt) -> Result<Self, ProtoError> {
        Ok(Self {
            group: group_id(&l.group_id, "group_id")?,
            rtt: rtt(l.rtt_us, "rtt_us")?,
        })
    }
}

impl From<core::LandmarkRtt> for pb::LandmarkRtt {
    fn from(l: core::LandmarkRtt) -> Self {
        Self {
            group_id: l.group.to_string(),
            rtt_us: rtt_us(l.rtt),
        }
    }
}

impl TryFrom<pb::HandedLink> for core::HandedLink {
    type Error = ProtoError;
    fn try_from(h: pb::HandedLink) -> Result<Self, ProtoError> {
        Ok(Self {
            neighbor: required(h.neighbor, "neighbor")?,
            opened: h.opened,
            random: h.random,
        })
    }
}

impl From<core::HandedLink> for pb::HandedLink {
    fn from(h: core::HandedLink) -> Self {
        Self {
            neighbor: Some(h.neighbor.into()),
            opened: h.opened,
            random: h.random,
        }
    }
}

impl TryFrom<pb::LinkInfo> for core::LinkInfo {
    type Error = ProtoError;
    fn try_from(l: pb::LinkInfo) -> Result<Self, ProtoError> {
        Ok(Self {
            peer: required(l.peer, "peer")?,
            rtt: rtt(l.rtt_us, "rtt_us")?,
        })
    }
}

impl From<core::LinkInfo> for pb::LinkInfo {
    fn from(l: core::LinkInfo) -> Self {
        Self {
            peer: Some(l.peer.into()),
            rtt_us: rtt_us(l.rtt),
        }
    }
}

// ---- Replies. ----

impl TryFrom<pb::MeasureReply> for core::MeasureReply {
    type Error = ProtoError;
    fn try_from(r: pb::MeasureReply) -> Result<Self, ProtoError> {
        Ok(Self {
            responder: required(r.responder, "responder")?,
            group: optional(r.group, "group")?,
        })
    }
}

impl From<core::MeasureReply> for pb::MeasureReply {
    fn from(r: core::MeasureReply) -> Self {
        Self {
            responder: Some(r.responder.into()),
            group: r.group.map(Into::into),
        }
    }
}

impl TryFrom<pb::GetNeighboringPeerGroupsReply> for core::NeighborsReply {
    type Error = ProtoError;
    fn try_from(r: pb::GetNeighboringPeerGroupsReply) -> Result<Self, ProtoError> {
        Ok(Self {
            group: required(r.group, "group")?,
            neighbors: list(r.neighbors, MAX_NEIGHBORS, "neighbors")?,
        })
    }
}

impl From<core::NeighborsReply> for pb::GetNeighboringPeerGroupsReply {
    fn from(r: core::NeighborsReply) -> Self {
        Self {
            group: Some(r.group.into()),
            neighbors: all(r.neighbors),
        }
    }
}

impl TryFrom<pb::GetPeerGroupMembersReply> for core::GroupMembersReply {
    type Error = ProtoError;
    fn try_from(r: pb::GetPeerGroupMembersReply) -> Result<Self, ProtoError> {
        let group: core::GroupView = required(r.group, "group")?;
        let leadership = list(r.leadership, MAX_LEADERSHIP, "leadership")?;
        let neighbors = list(r.neighbors, MAX_NEIGHBORS, "neighbors")?;
        let roster = list(r.roster, MAX_ROSTER, "roster")?;
        // Without a sequence number there is no Alive: the lists (capped above) are ignored.
        let alive = match r.alive_seq {
            0 => None,
            seq => Some(Arc::new(core::Alive {
                group: group.clone(),
                seq,
                leadership: leadership.clone(),
                neighbors,
                roster,
                merge_into: None,
                partition_links: group_ids(r.partition_links, MAX_NEIGHBORS, "partition_links")?,
                opened_links: group_ids(r.opened_links, MAX_NEIGHBORS, "opened_links")?,
                lost: list(r.lost, MAX_LOST_PEERS, "lost")?,
            })),
        };
        Ok(Self {
            group,
            leadership,
            candidates: list(r.candidates, MAX_CANDIDATES, "candidates")?,
            alive,
        })
    }
}

impl From<core::GroupMembersReply> for pb::GetPeerGroupMembersReply {
    fn from(r: core::GroupMembersReply) -> Self {
        let (alive_seq, neighbors, roster, partition_links, opened_links, lost) = match r.alive {
            Some(a) => {
                let a = Arc::unwrap_or_clone(a);
                (
                    a.seq,
                    all(a.neighbors),
                    all(a.roster),
                    ids(a.partition_links),
                    ids(a.opened_links),
                    all(a.lost),
                )
            }
            None => (
                0,
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
        };
        Self {
            group: Some(r.group.into()),
            leadership: all(r.leadership),
            candidates: all(r.candidates),
            alive_seq,
            neighbors,
            roster,
            partition_links,
            opened_links,
            lost,
        }
    }
}

impl TryFrom<pb::ConnectReply> for core::ConnectReply {
    type Error = ProtoError;
    fn try_from(r: pb::ConnectReply) -> Result<Self, ProtoError> {
        Ok(Self {
            accepted: r.accepted,
            referrals: list(r.referrals, MAX_CANDIDATES, "referrals")?,
        })
    }
}

impl From<core::ConnectReply> for pb::ConnectReply {
    fn from(r: core::ConnectReply) -> Self {
        Self {
            accepted: r.accepted,
            referrals: all(r.referrals),
        }
    }
}

impl TryFrom<pb::NewLeaderReply> for core::NewLeaderReply {
    type Error = ProtoError;
    fn try_from(r: pb::NewLeaderReply) -> Result<Self, ProtoError> {
        Ok(Self {
            epoch: epoch(r.epoch, "epoch")?,
            leader: optional(r.leader, "leader")?,
        })
    }
}

impl From<core::NewLeaderReply> for pb::NewLeaderReply {
    fn from(r: core::NewLeaderReply) -> Self {
        Self {
            epoch: r.epoch,
            leader: r.leader.map(Into::into),
        }
    }
}

impl TryFrom<pb::GetStatusReply> for core::Status {
    type Error = ProtoError;
    fn try_from(r: pb::GetStatusReply) -> Result<Self, ProtoError> {
        Ok(Self {
            peer: required(r.peer, "peer")?,
            role: role(r.role, "role")?,
            group: optional(r.group, "group")?,
            leadership: list(r.leadership, MAX_LEADERSHIP, "leadership")?,
            intra: list(r.intra, MAX_STATUS_LINKS, "intra")?,
            inter: list(r.inter, MAX_STATUS_LINKS, "inter")?,
            cross: list(r.cross, MAX_STATUS_LINKS, "cross")?,
        })
    }
}

impl From<core::Status> for pb::GetStatusReply {
    fn from(s: core::Status) -> Self {
        Self {
            peer: Some(s.peer.into()),
            role: pb::Role::from(s.role).into(),
            group: s.group.map(Into::into),
            leadership: all(s.leadership),
            intra: all(s.intra),
            inter: all(s.inter),
            cross: all(s.cross),
        }
    }
}

impl TryFrom<pb::AnnounceGroupReply> for core::AnnounceReply {
    type Error = ProtoError;
    fn try_from(r: pb::AnnounceGroupReply) -> Result<Self, ProtoError> {
        Ok(Self {
            superseded_by: optional(r.superseded_by, "superseded_by")?,
            bridge: list(r.bridge, core::MAX_BOOT_LIST, "bridge")?,
        })
    }
}

impl From<core::AnnounceReply> for pb::AnnounceGroupReply {
    fn from(r: core::AnnounceReply) -> Self {
        Self {
            superseded_by: r.superseded_by.map(Into::into),
            bridge: all(r.bridge),
        }
    }
}
