//! Every core message goes out to the wire, through protobuf bytes, and back unchanged.

mod common;

use std::time::Duration;

use common::{group_id, link, neighbor, peer, view, wire};
use locus_core::message::{
    Alive, AliveAck, AnnounceReply, Announcement, ConnectCrossRequest, ConnectInterRequest,
    ConnectIntraRequest, ConnectReply, GetBootListRequest, GetGroupMembersRequest,
    GetNeighborsRequest, GroupMembersReply, HandedLink, Handover, LeaveRequest, LinkScope,
    MeasureReply, MeasureRequest, NearbyRequest, NeighborsReply, NewLeader, NewLeaderReply, Role,
    Status,
};
use locus_core::{PeerRef, Request, Response, Time};
use locus_proto::{Outgoing, Unary, pb};

/// Every request the core sends, each kind with its optional parts set and unset.
fn requests() -> Vec<Request> {
    vec![
        Request::Measure(MeasureRequest {}),
        Request::GetNeighbors(GetNeighborsRequest { group_id: None }),
        Request::GetNeighbors(GetNeighborsRequest {
            group_id: Some(group_id(3)),
        }),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: group_id(1),
            joining: true,
            handover: None,
            candidates: 12,
            known_alive: None,
        }),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: group_id(1),
            joining: true,
            handover: Some(Handover {
                group_id: group_id(8),
                links: vec![
                    HandedLink {
                        neighbor: neighbor(2),
                        opened: true,
                        random: false,
                    },
                    HandedLink {
                        neighbor: neighbor(3),
                        opened: false,
                        random: true,
                    },
                ],
            }),
            candidates: 0,
            known_alive: None,
        }),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: group_id(1),
            joining: true,
            handover: Some(Handover {
                group_id: group_id(8),
                links: vec![],
            }),
            candidates: 32,
            known_alive: None,
        }),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: group_id(1),
            joining: false,
            handover: None,
            candidates: 0,
            known_alive: Some((4, 17)),
        }),
        Request::ConnectIntra(ConnectIntraRequest {
            group_id: group_id(2),
        }),
        Request::ConnectInter(ConnectInterRequest {
            group: view(4),
            rtt: Duration::from_micros(12_345),
            random: true,
            replaces: None,
        }),
        Request::ConnectInter(ConnectInterRequest {
            group: view(4),
            rtt: Duration::from_micros(12_345),
            random: false,
            replaces: Some(group_id(9)),
        }),
        Request::ConnectCross(ConnectCrossRequest {
            group_id: group_id(4),
        }),
        Request::Leave(LeaveRequest {
            group_id: group_id(5),
            scope: LinkScope::Intra,
        }),
        Request::Leave(LeaveRequest {
            group_id: group_id(5),
            scope: LinkScope::Cross,
        }),
        Request::Leave(LeaveRequest {
            group_id: group_id(5),
            scope: LinkScope::Inter,
        }),
        Request::Alive(
            Alive {
                group: view(1),
                seq: 99,
                leadership: vec![peer(1), peer(101), peer(102)],
                neighbors: vec![neighbor(2), neighbor(3)],
                roster: (1..20).map(peer).collect(),
                merge_into: Some(view(9)),
                partition_links: vec![group_id(2)],
                opened_links: vec![group_id(2), group_id(3)],
                lost: Vec::new(),
            }
            .into(),
        ),
        Request::Alive(
            Alive {
                group: view(1),
                seq: 0,
                leadership: vec![],
                neighbors: vec![],
                roster: vec![],
                merge_into: None,
                partition_links: vec![],
                opened_links: vec![],
                lost: Vec::new(),
            }
            .into(),
        ),
        Request::NewLeader(NewLeader {
            group_id: group_id(6),
            epoch: 12,
            round: 3,
            candidate: peer(60),
            sent_at: Time::from_micros(1_764_000_000_123_456),
        }),
        Request::GetStatus,
        Request::Nearby(NearbyRequest { limit: 10 }),
        Request::GetBootList(GetBootListRequest {
            max: 16,
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
        }),
        Request::AnnounceGroup(Announcement {
            group: view(7),
            neighbors: vec![neighbor(8)],
            partition_links: vec![],
            landmarks: vec![],
            ended: false,
        }),
        Request::AnnounceGroup(Announcement {
            group: view(7),
            neighbors: vec![],
            partition_links: vec![],
            landmarks: vec![],
            ended: true,
        }),
        Request::ResolveGroup(group_id(8)),
    ]
}

/// Sends an outgoing request through protobuf bytes.
fn through_wire(o: Outgoing) -> Outgoing {
    match o {
        Outgoing::Measure(r) => Outgoing::Measure(wire(&r)),
        Outgoing::GetNeighboringPeerGroups(r) => Outgoing::GetNeighboringPeerGroups(wire(&r)),
        Outgoing::GetPeerGroupMembers(r) => Outgoing::GetPeerGroupMembers(wire(&r)),
        Outgoing::ConnectIntraGroup(r) => Outgoing::ConnectIntraGroup(wire(&r)),
        Outgoing::ConnectInterGroup(r) => Outgoing::ConnectInterGroup(wire(&r)),
        Outgoing::ConnectCross(r) => Outgoing::ConnectCross(wire(&r)),
        Outgoing::Leave(r) => Outgoing::Leave(wire(&r)),
        Outgoing::Alive(r) => Outgoing::Alive(Box::new(wire(&*r))),
        Outgoing::NewLeader(r) => Outgoing::NewLeader(wire(&r)),
        Outgoing::GetStatus(r) => Outgoing::GetStatus(wire(&r)),
        Outgoing::Nearby(r) => Outgoing::Nearby(wire(&r)),
        Outgoing::GetBootList(r) => Outgoing::GetBootList(wire(&r)),
        Outgoing::AnnounceGroup(r) => Outgoing::AnnounceGroup(wire(&r)),
        Outgoing::ResolveGroup(r) => Outgoing::ResolveGroup(wire(&r)),
    }
}

#[test]
fn every_request_round_trips_with_and_without_caller() {
    for caller in [Some(peer(42)), None] {
        for request in requests() {
            let sent = Outgoing::new(caller.clone(), request.clone());
            let received = through_wire(sent).into_core();
            assert_eq!(received, Ok((caller.clone(), request)));
        }
    }
}

#[test]
fn every_request_kind_is_covered_and_named() {
    let mut names: Vec<_> = requests()
        .into_iter()
        .map(|r| Outgoing::new(None, r).name())
        .collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "Measure",
            "GetNeighboringPeerGroups",
            "GetPeerGroupMembers",
            "ConnectIntraGroup",
            "ConnectInterGroup",
            "ConnectCross",
            "Leave",
            "Alive",
            "NewLeader",
            "GetStatus",
            "Nearby",
            "GetBootList",
            "AnnounceGroup",
            "ResolveGroup",
        ]
    );
}

#[test]
fn ids_travel_as_canonical_uuid_strings() {
    let Outgoing::ResolveGroup(r) =
        Outgoing::new(Some(peer(1)), Request::ResolveGroup(group_id(1)))
    else {
        panic!("ResolveGroup goes out as ResolveGroup");
    };
    assert_eq!(r.group_id, "81818181-8181-8181-8181-818181818181");
    assert_eq!(
        r.caller.unwrap().peer_id,
        "01010101-0101-0101-0101-010101010101"
    );
}

/// Answers through `R`'s reply, through protobuf bytes, and back.
fn reply_round_trip<R>(response: Response) -> Response
where
    R: Unary,
    R::Reply: prost::Message + Default,
{
    let reply = R::reply(response).expect("the response answers this RPC");
    R::reply_into_core(wire(&reply)).expect("a reply we built validates")
}

#[test]
fn every_response_round_trips_through_its_rpc() {
    let status = Status {
        peer: peer(1),
        role: Role::Leader,
        group: Some(view(1)),
        leadership: vec![peer(1), peer(101)],
        intra: vec![link(2), link(3)],
        inter: vec![neighbor(4)],
        cross: vec![link(5)],
    };
    type Check = fn(Response) -> Response;
    let cases: Vec<(Check, Response)> = vec![
        (
            reply_round_trip::<pb::MeasureRequest>,
            Response::Measure(MeasureReply {
                responder: peer(1),
                group: Some(view(1)),
            }),
        ),
        (
            reply_round_trip::<pb::MeasureRequest>,
            Response::Measure(MeasureReply {
                responder: peer(1),
                group: None,
            }),
        ),
        (
            reply_round_trip::<pb::GetNeighboringPeerGroupsRequest>,
            Response::Neighbors(NeighborsReply {
                group: view(1),
                neighbors: (2..10).map(neighbor).collect(),
            }),
        ),
        (
            reply_round_trip::<pb::GetPeerGroupMembersRequest>,
            Response::GroupMembers(GroupMembersReply {
                group: view(1),
                leadership: vec![peer(1), peer(2)],
                candidates: vec![peer(3)],
                alive: None,
            }),
        ),
        (
            reply_round_trip::<pb::GetPeerGroupMembersRequest>,
            Response::GroupMembers(GroupMembersReply {
                group: view(1),
                leadership: vec![peer(1), peer(2)],
                candidates: vec![peer(3)],
                alive: Some(
                    Alive {
                        group: view(1),
                        seq: 7,
                        leadership: vec![peer(1), peer(2)],
                        neighbors: (2..5).map(neighbor).collect(),
                        roster: vec![peer(1), peer(2), peer(3)],
                        merge_into: None,
                        partition_links: vec![group_id(4)],
                        opened_links: vec![group_id(2)],
                        lost: Vec::new(),
                    }
                    .into(),
                ),
            }),
        ),
        (
            reply_round_trip::<pb::ConnectIntraGroupRequest>,
            Response::Connect(ConnectReply {
                accepted: true,
                referrals: vec![],
            }),
        ),
        (
            reply_round_trip::<pb::ConnectCrossRequest>,
            Response::Connect(ConnectReply {
                accepted: true,
                referrals: vec![peer(7)],
            }),
        ),
        (
            reply_round_trip::<pb::ConnectInterGroupRequest>,
            Response::Connect(ConnectReply {
                accepted: false,
                referrals: vec![peer(5), peer(6)],
            }),
        ),
        (reply_round_trip::<pb::LeaveRequest>, Response::Ack),
        (
            reply_round_trip::<pb::AliveRequest>,
            Response::AliveAck(AliveAck { current: None }),
        ),
        (
            reply_round_trip::<pb::AliveRequest>,
            Response::AliveAck(AliveAck {
                current: Some(view(1)),
            }),
        ),
        (
            reply_round_trip::<pb::NewLeaderRequest>,
            Response::NewLeader(NewLeaderReply {
                epoch: 4,
                leader: Some(peer(7)),
            }),
        ),
        (
            reply_round_trip::<pb::NewLeaderRequest>,
            Response::NewLeader(NewLeaderReply {
                epoch: 4,
                leader: None,
            }),
        ),
        (
            reply_round_trip::<pb::GetStatusRequest>,
            Response::Status(Box::new(status)),
        ),
        (
            reply_round_trip::<pb::NearbyRequest>,
            Response::Nearby(vec![link(1), link(2), link(3)]),
        ),
        (
            reply_round_trip::<pb::GetBootListRequest>,
            Response::BootList(vec![view(1), view(2)]),
        ),
        (
            reply_round_trip::<pb::AnnounceGroupRequest>,
            Response::Announced(AnnounceReply {
                superseded_by: Some(view(3)),
                bridge: Vec::new(),
            }),
        ),
        (
            reply_round_trip::<pb::AnnounceGroupRequest>,
            Response::Announced(AnnounceReply {
                superseded_by: None,
                bridge: vec![view(4), view(5)],
            }),
        ),
        (
            reply_round_trip::<pb::ResolveGroupRequest>,
            Response::Resolved(Some(view(4))),
        ),
        (
            reply_round_trip::<pb::ResolveGroupRequest>,
            Response::Resolved(None),
        ),
    ];
    for (check, response) in cases {
        assert_eq!(check(response.clone()), response);
    }
}

#[test]
fn every_role_round_trips() {
    for role in [
        Role::Idle,
        Role::Joining,
        Role::Member,
        Role::Electing,
        Role::Leader,
    ] {
        let status = Status {
            peer: peer(1),
            role,
            group: None,
            leadership: vec![],
            intra: vec![],
            inter: vec![],
            cross: vec![],
        };
        let reply = wire(&pb::GetStatusReply::from(status.clone()));
        assert_eq!(Status::try_from(reply), Ok(status));
    }
}

#[test]
fn common_types_round_trip_alone() {
    assert_eq!(
        PeerRef::try_from(wire(&pb::PeerRef::from(peer(3)))),
        Ok(peer(3))
    );
    assert_eq!(
        locus_core::message::GroupView::try_from(wire(&pb::GroupView::from(view(3)))),
        Ok(view(3))
    );
    assert_eq!(
        locus_core::message::NeighborGroup::try_from(wire(&pb::NeighborGroup::from(neighbor(3)))),
        Ok(neighbor(3))
    );
    assert_eq!(
        locus_core::message::LinkInfo::try_from(wire(&pb::LinkInfo::from(link(3)))),
        Ok(link(3))
    );
}

#[test]
fn a_response_of_the_wrong_kind_is_an_internal_error() {
    let err = pb::MeasureRequest::reply(Response::Ack).unwrap_err();
    assert_eq!(err.to_string(), "the node answered Measure with Ack");
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::Internal);
}

#[test]
fn oversized_limits_are_lowered_to_the_caps() {
    let (_, nearby) = pb::NearbyRequest {
        caller: None,
        limit: 1_000,
    }
    .into_core()
    .unwrap();
    assert_eq!(nearby, Request::Nearby(NearbyRequest { limit: 64 }));
    let (_, boot) = pb::GetBootListRequest {
        caller: None,
        max: u32::MAX,
        landmarks: false,
        near: vec![],
        shortcut_for: Default::default(),
    }
    .into_core()
    .unwrap();
    assert_eq!(
        boot,
        Request::GetBootList(GetBootListRequest {
            max: 64,
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
        })
    );
}
