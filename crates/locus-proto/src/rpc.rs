//! Each RPC that maps onto the core, as a pair of conversions on both sides of the wire.
//!
//! A server handler stays three lines long, the same for every RPC:
//!
//! ```text
//! let (caller, request) = request.into_inner().into_core()?; // INVALID_ARGUMENT
//! let response = node.call(caller, request).await.map_err(status::refused)?;
//! Ok(tonic::Response::new(pb::MeasureRequest::reply(response)?))
//! ```
//!
//! A client turns a core request into an [`Outgoing`], calls the RPC its variant names, and
//! validates the reply with [`Unary::reply_into_core`].

use locus_core::message::{
    self as core, MAX_BOOT_LIST, MAX_LANDMARKS, MAX_LEADERSHIP, MAX_LOST_PEERS, MAX_NEARBY,
    MAX_NEIGHBORS, MAX_ROSTER,
};
use locus_core::{PeerRef, Request, Response};

use crate::convert::{
    all, epoch, group_id, group_ids, ids, link_scope, list, optional, optional_group_id, required,
    rtt, rtt_us,
};
use crate::error::{MismatchedResponse, ProtoError, Violation};
use crate::pb;

/// A unary RPC of `PeerService` or `Rendezvous` that the core serves, implemented on its wire
/// request message.
pub trait Unary: Sized {
    /// The RPC's wire reply.
    type Reply;
    /// The RPC's name, as in the schema.
    const NAME: &'static str;

    /// Validates a received request: the caller it names (absent for operator tools) and the
    /// core request. Error paths are relative to the request message (`caller.peer_id`).
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError>;

    /// The wire reply for the core's response to this RPC's request.
    fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse>;

    /// Validates a received reply into the core response.
    fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError>;
}

/// The caller of a received request.
fn caller(caller: Option<pb::PeerRef>) -> Result<Option<PeerRef>, ProtoError> {
    optional(caller, "caller")
}

/// The name of a response's kind, for [`MismatchedResponse`].
fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Measure(_) => "Measure",
        Response::Neighbors(_) => "Neighbors",
        Response::GroupMembers(_) => "GroupMembers",
        Response::Connect(_) => "Connect",
        Response::Ack => "Ack",
        Response::AliveAck(_) => "AliveAck",
        Response::NewLeader(_) => "NewLeader",
        Response::Status(_) => "Status",
        Response::Nearby(_) => "Nearby",
        Response::BootList(_) => "BootList",
        Response::Announced(_) => "Announced",
        Response::Resolved(_) => "Resolved",
    }
}

/// `reply` and `reply_into_core` for an RPC whose reply converts to and from one response
/// variant's payload.
macro_rules! reply_via {
    ($variant:ident) => {
        fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
            match response {
                Response::$variant(r) => Ok(r.into()),
                other => Err(mismatch::<Self>(&other)),
            }
        }

        fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError> {
            Ok(Response::$variant(reply.try_into()?))
        }
    };
}

/// `reply` and `reply_into_core` for an RPC answered by a plain acknowledgement.
macro_rules! reply_ack {
    () => {
        fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
            match response {
                Response::Ack => Ok(Self::Reply {}),
                other => Err(mismatch::<Self>(&other)),
            }
        }

        fn reply_into_core(_: Self::Reply) -> Result<Response, ProtoError> {
            Ok(Response::Ack)
        }
    };
}

fn mismatch<R: Unary>(response: &Response) -> MismatchedResponse {
    MismatchedResponse {
        rpc: R::NAME,
        response: response_name(response),
    }
}

impl Unary for pb::MeasureRequest {
    type Reply = pb::MeasureReply;
    const NAME: &'static str = "Measure";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        Ok((
            caller(self.caller)?,
            Request::Measure(core::MeasureRequest {}),
        ))
    }
    reply_via!(Measure);
}

impl Unary for pb::GetNeighboringPeerGroupsRequest {
    type Reply = pb::GetNeighboringPeerGroupsReply;
    const NAME: &'static str = "GetNeighboringPeerGroups";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::GetNeighborsRequest {
            group_id: optional_group_id(&self.group_id, "group_id")?,
        };
        Ok((caller(self.caller)?, Request::GetNeighbors(request)))
    }
    reply_via!(Neighbors);
}

impl Unary for pb::GetPeerGroupMembersRequest {
    type Reply = pb::GetPeerGroupMembersReply;
    const NAME: &'static str = "GetPeerGroupMembers";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let merging = optional_group_id(&self.merging_group_id, "merging_group_id")?;
        let handover = match merging {
            Some(group_id) => {
                if !self.joining {
                    return Err(ProtoError::new(
                        "merging_group_id",
                        Violation::NotAllowed("only a joining caller merges its group"),
                    ));
                }
                Some(core::Handover {
                    group_id,
                    links: list(self.handover, MAX_NEIGHBORS, "handover")?,
                })
            }
            None if !self.handover.is_empty() => {
                return Err(ProtoError::new("merging_group_id", Violation::Missing));
            }
            None => None,
        };
        if self.candidates as usize > core::MAX_CANDIDATES {
            return Err(ProtoError::new(
                "candidates",
                Violation::TooMany {
                    len: self.candidates as usize,
                    max: core::MAX_CANDIDATES,
                },
            ));
        }
        let request = core::GetGroupMembersRequest {
            group_id: group_id(&self.group_id, "group_id")?,
            joining: self.joining,
            handover,
            candidates: self.candidates,
            known_alive: (self.known_alive_seq != 0)
                .then_some((self.known_alive_epoch, self.known_alive_seq)),
        };
        Ok((caller(self.caller)?, Request::GetGroupMembers(request)))
    }
    reply_via!(GroupMembers);
}

impl Unary for pb::ConnectIntraGroupRequest {
    type Reply = pb::ConnectReply;
    const NAME: &'static str = "ConnectIntraGroup";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::ConnectIntraRequest {
            group_id: group_id(&self.group_id, "group_id")?,
        };
        Ok((caller(self.caller)?, Request::ConnectIntra(request)))
    }
    reply_via!(Connect);
}

impl Unary for pb::ConnectCrossRequest {
    type Reply = pb::ConnectReply;
    const NAME: &'static str = "ConnectCross";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::ConnectCrossRequest {
            group_id: group_id(&self.group_id, "group_id")?,
        };
        Ok((caller(self.caller)?, Request::ConnectCross(request)))
    }
    reply_via!(Connect);
}

impl Unary for pb::ConnectInterGroupRequest {
    type Reply = pb::ConnectReply;
    const NAME: &'static str = "ConnectInterGroup";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::ConnectInterRequest {
            group: required(self.group, "group")?,
            rtt: rtt(self.rtt_us, "rtt_us")?,
            random: self.random,
            replaces: optional_group_id(&self.replaces_group_id, "replaces_group_id")?,
        };
        Ok((caller(self.caller)?, Request::ConnectInter(request)))
    }
    reply_via!(Connect);
}

impl Unary for pb::LeaveRequest {
    type Reply = pb::LeaveReply;
    const NAME: &'static str = "Leave";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::LeaveRequest {
            group_id: group_id(&self.group_id, "group_id")?,
            scope: link_scope(self.scope, "scope")?,
        };
        Ok((caller(self.caller)?, Request::Leave(request)))
    }
    reply_ack!();
}

impl Unary for pb::AliveRequest {
    type Reply = pb::AliveReply;
    const NAME: &'static str = "Alive";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let alive = core::Alive {
            group: required(self.group, "group")?,
            seq: self.seq,
            leadership: list(self.leadership, MAX_LEADERSHIP, "leadership")?,
            neighbors: list(self.neighbors, MAX_NEIGHBORS, "neighbors")?,
            roster: list(self.roster, MAX_ROSTER, "roster")?,
            merge_into: optional(self.merge_into, "merge_into")?,
            partition_links: group_ids(self.partition_links, MAX_NEIGHBORS, "partition_links")?,
            opened_links: group_ids(self.opened_links, MAX_NEIGHBORS, "opened_links")?,
            lost: list(self.lost, MAX_LOST_PEERS, "lost")?,
        };
        Ok((caller(self.caller)?, Request::Alive(alive.into())))
    }
    fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
        match response {
            Response::AliveAck(ack) => Ok(pb::AliveReply {
                current: ack.current.map(Into::into),
            }),
            other => Err(mismatch::<Self>(&other)),
        }
    }
    fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError> {
        Ok(Response::AliveAck(core::AliveAck {
            current: optional(reply.current, "current")?,
        }))
    }
}

impl Unary for pb::NewLeaderRequest {
    type Reply = pb::NewLeaderReply;
    const NAME: &'static str = "NewLeader";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let claim = core::NewLeader {
            group_id: group_id(&self.group_id, "group_id")?,
            epoch: epoch(self.epoch, "epoch")?,
            round: self.round,
            candidate: required(self.candidate, "candidate")?,
            sent_at: locus_core::Time::from_micros(self.sent_at_unix_us),
        };
        Ok((caller(self.caller)?, Request::NewLeader(claim)))
    }
    reply_via!(NewLeader);
}

impl Unary for pb::GetStatusRequest {
    type Reply = pb::GetStatusReply;
    const NAME: &'static str = "GetStatus";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        Ok((caller(self.caller)?, Request::GetStatus))
    }
    fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
        match response {
            Response::Status(status) => Ok((*status).into()),
            other => Err(mismatch::<Self>(&other)),
        }
    }
    fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError> {
        Ok(Response::Status(Box::new(reply.try_into()?)))
    }
}

impl Unary for pb::NearbyRequest {
    type Reply = pb::NearbyReply;
    const NAME: &'static str = "Nearby";
    /// A `limit` above [`MAX_NEARBY`] is lowered to it.
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::NearbyRequest {
            limit: self.limit.min(MAX_NEARBY as u32),
        };
        Ok((caller(self.caller)?, Request::Nearby(request)))
    }
    fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
        match response {
            Response::Nearby(peers) => Ok(pb::NearbyReply { peers: all(peers) }),
            other => Err(mismatch::<Self>(&other)),
        }
    }
    fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError> {
        Ok(Response::Nearby(list(reply.peers, MAX_NEARBY, "peers")?))
    }
}

impl Unary for pb::GetBootListRequest {
    type Reply = pb::GetBootListReply;
    const NAME: &'static str = "GetBootList";
    /// A `max` above [`MAX_BOOT_LIST`] is lowered to it.
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let request = core::GetBootListRequest {
            max: self.max.min(MAX_BOOT_LIST as u32),
            landmarks: self.landmarks,
            near: list(self.near, MAX_LANDMARKS, "near")?,
            shortcut_for: optional_group_id(&self.shortcut_for, "shortcut_for")?,
        };
        Ok((caller(self.caller)?, Request::GetBootList(request)))
    }
    fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
        match response {
            Response::BootList(groups) => Ok(pb::GetBootListReply {
                groups: all(groups),
            }),
            other => Err(mismatch::<Self>(&other)),
        }
    }
    fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError> {
        Ok(Response::BootList(list(
            reply.groups,
            MAX_BOOT_LIST,
            "groups",
        )?))
    }
}

impl Unary for pb::AnnounceGroupRequest {
    type Reply = pb::AnnounceGroupReply;
    const NAME: &'static str = "AnnounceGroup";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let announcement = core::Announcement {
            group: required(self.group, "group")?,
            neighbors: list(self.neighbors, MAX_NEIGHBORS, "neighbors")?,
            partition_links: group_ids(
                self.partition_group_ids,
                MAX_NEIGHBORS,
                "partition_group_ids",
            )?,
            ended: self.ended,
            landmarks: list(self.landmarks, MAX_LANDMARKS, "landmarks")?,
        };
        Ok((caller(self.caller)?, Request::AnnounceGroup(announcement)))
    }
    reply_via!(Announced);
}

impl Unary for pb::ResolveGroupRequest {
    type Reply = pb::ResolveGroupReply;
    const NAME: &'static str = "ResolveGroup";
    fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        let group = group_id(&self.group_id, "group_id")?;
        Ok((caller(self.caller)?, Request::ResolveGroup(group)))
    }
    fn reply(response: Response) -> Result<Self::Reply, MismatchedResponse> {
        match response {
            Response::Resolved(group) => Ok(pb::ResolveGroupReply {
                group: group.map(Into::into),
            }),
            other => Err(mismatch::<Self>(&other)),
        }
    }
    fn reply_into_core(reply: Self::Reply) -> Result<Response, ProtoError> {
        Ok(Response::Resolved(optional(reply.group, "group")?))
    }
}

/// A core request dressed for the wire: which RPC to call, with its request message. The
/// caller matches on it to call the generated client's method, then validates the reply with
/// the message's [`Unary::reply_into_core`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// `PeerService.Measure`.
    Measure(pb::MeasureRequest),
    /// `PeerService.GetNeighboringPeerGroups`.
    GetNeighboringPeerGroups(pb::GetNeighboringPeerGroupsRequest),
    /// `PeerService.GetPeerGroupMembers`.
    GetPeerGroupMembers(pb::GetPeerGroupMembersRequest),
    /// `PeerService.ConnectIntraGroup`.
    ConnectIntraGroup(pb::ConnectIntraGroupRequest),
    /// `PeerService.ConnectInterGroup`.
    ConnectInterGroup(pb::ConnectInterGroupRequest),
    /// `PeerService.ConnectCross`.
    ConnectCross(pb::ConnectCrossRequest),
    /// `PeerService.Leave`.
    Leave(pb::LeaveRequest),
    /// `PeerService.Alive`.
    /// Boxed: with its lists it is several times the size of the other requests.
    Alive(Box<pb::AliveRequest>),
    /// `PeerService.NewLeader`.
    NewLeader(pb::NewLeaderRequest),
    /// `PeerService.GetStatus`.
    GetStatus(pb::GetStatusRequest),
    /// `PeerService.Nearby`.
    Nearby(pb::NearbyRequest),
    /// `PeerService.GetBootList` or `Rendezvous.GetBootList`, by the call's target.
    GetBootList(pb::GetBootListRequest),
    /// `Rendezvous.AnnounceGroup`.
    AnnounceGroup(pb::AnnounceGroupRequest),
    /// `Rendezvous.ResolveGroup`.
    ResolveGroup(pb::ResolveGroupRequest),
}

impl Outgoing {
    /// The wire request for `request`, sent by `caller` (this node's own reference; `None` for
    /// operator tools).
    pub fn new(caller: Option<PeerRef>, request: Request) -> Self {
        let caller = caller.map(pb::PeerRef::from);
        match request {
            Request::Measure(core::MeasureRequest {}) => {
                Self::Measure(pb::MeasureRequest { caller })
            }
            Request::GetNeighbors(r) => {
                Self::GetNeighboringPeerGroups(pb::GetNeighboringPeerGroupsRequest {
                    caller,
                    group_id: r.group_id.map(|g| g.to_string()).unwrap_or_default(),
                })
            }
            Request::GetGroupMembers(r) => {
                Self::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                    caller,
                    group_id: r.group_id.to_string(),
                    joining: r.joining,
                    merging_group_id: r
                        .handover
                        .as_ref()
                        .map(|h| h.group_id.to_string())
                        .unwrap_or_default(),
                    handover: r.handover.map(|h| all(h.links)).unwrap_or_default(),
                    candidates: r.candidates,
                    known_alive_epoch: r.known_alive.map_or(0, |k| k.0),
                    known_alive_seq: r.known_alive.map_or(0, |k| k.1),
                })
            }
            Request::ConnectIntra(r) => Self::ConnectIntraGroup(pb::ConnectIntraGroupRequest {
                caller,
                group_id: r.group_id.to_string(),
            }),
            Request::ConnectInter(r) => Self::ConnectInterGroup(pb::ConnectInterGroupRequest {
                caller,
                group: Some(r.group.into()),
                rtt_us: rtt_us(r.rtt),
                random: r.random,
                replaces_group_id: r.replaces.map(|g| g.to_string()).unwrap_or_default(),
            }),
            Request::ConnectCross(r) => Self::ConnectCross(pb::ConnectCrossRequest {
                caller,
                group_id: r.group_id.to_string(),
            }),
            Request::Leave(r) => Self::Leave(pb::LeaveRequest {
                caller,
                group_id: r.group_id.to_string(),
                scope: pb::LinkScope::from(r.scope).into(),
            }),
            Request::Alive(a) => Self::Alive(Box::new({
                let a = std::sync::Arc::unwrap_or_clone(a);
                pb::AliveRequest {
                    caller,
                    group: Some(a.group.into()),
                    seq: a.seq,
                    leadership: all(a.leadership),
                    neighbors: all(a.neighbors),
                    roster: all(a.roster),
                    merge_into: a.merge_into.map(Into::into),
                    partition_links: ids(a.partition_links),
                    opened_links: ids(a.opened_links),
                    lost: all(a.lost),
                }
            })),
            Request::NewLeader(c) => Self::NewLeader(pb::NewLeaderRequest {
                caller,
                group_id: c.group_id.to_string(),
                epoch: c.epoch,
                round: c.round,
                candidate: Some(c.candidate.into()),
                sent_at_unix_us: c.sent_at.as_micros(),
            }),
            Request::GetStatus => Self::GetStatus(pb::GetStatusRequest { caller }),
            Request::Nearby(r) => Self::Nearby(pb::NearbyRequest {
                caller,
                limit: r.limit,
            }),
            Request::GetBootList(r) => Self::GetBootList(pb::GetBootListRequest {
                caller,
                max: r.max,
                landmarks: r.landmarks,
                near: all(r.near),
                shortcut_for: r.shortcut_for.map(|g| g.to_string()).unwrap_or_default(),
            }),
            Request::AnnounceGroup(a) => Self::AnnounceGroup(pb::AnnounceGroupRequest {
                caller,
                group: Some(a.group.into()),
                neighbors: all(a.neighbors),
                partition_group_ids: ids(a.partition_links),
                ended: a.ended,
                landmarks: all(a.landmarks),
            }),
            Request::ResolveGroup(g) => Self::ResolveGroup(pb::ResolveGroupRequest {
                caller,
                group_id: g.to_string(),
            }),
        }
    }

    /// The RPC's name, as in the schema.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Measure(_) => pb::MeasureRequest::NAME,
            Self::GetNeighboringPeerGroups(_) => pb::GetNeighboringPeerGroupsRequest::NAME,
            Self::GetPeerGroupMembers(_) => pb::GetPeerGroupMembersRequest::NAME,
            Self::ConnectIntraGroup(_) => pb::ConnectIntraGroupRequest::NAME,
            Self::ConnectInterGroup(_) => pb::ConnectInterGroupRequest::NAME,
            Self::ConnectCross(_) => pb::ConnectCrossRequest::NAME,
            Self::Leave(_) => pb::LeaveRequest::NAME,
            Self::Alive(_) => pb::AliveRequest::NAME,
            Self::NewLeader(_) => pb::NewLeaderRequest::NAME,
            Self::GetStatus(_) => pb::GetStatusRequest::NAME,
            Self::Nearby(_) => pb::NearbyRequest::NAME,
            Self::GetBootList(_) => pb::GetBootListRequest::NAME,
            Self::AnnounceGroup(_) => pb::AnnounceGroupRequest::NAME,
            Self::ResolveGroup(_) => pb::ResolveGroupRequest::NAME,
        }
    }

    /// Whether only the rendezvous serves this RPC.
    pub fn is_rendezvous_only(&self) -> bool {
        matches!(self, Self::AnnounceGroup(_) | Self::ResolveGroup(_))
    }

    /// Validates a received request of any RPC: what a server receives, whichever the RPC.
    pub fn into_core(self) -> Result<(Option<PeerRef>, Request), ProtoError> {
        match self {
            Self::Measure(r) => r.into_core(),
            Self::GetNeighboringPeerGroups(r) => r.into_core(),
            Self::GetPeerGroupMembers(r) => r.into_core(),
            Self::ConnectIntraGroup(r) => r.into_core(),
            Self::ConnectInterGroup(r) => r.into_core(),
            Self::ConnectCross(r) => r.into_core(),
            Self::Leave(r) => r.into_core(),
            Self::Alive(r) => r.into_core(),
            Self::NewLeader(r) => r.into_core(),
            Self::GetStatus(r) => r.into_core(),
            Self::Nearby(r) => r.into_core(),
            Self::GetBootList(r) => r.into_core(),
            Self::AnnounceGroup(r) => r.into_core(),
            Self::ResolveGroup(r) => r.into_core(),
        }
    }
}
