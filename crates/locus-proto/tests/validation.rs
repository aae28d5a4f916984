//! Received messages that break the schema's rules are rejected with an error naming the field.

mod common;

use common::{pb_peer, pb_peers, view};
use locus_core::id::MAX_ADDR_LEN;
use locus_proto::{Outgoing, ProtoError, Unary, Violation, pb};

fn group_view() -> pb::GroupView {
    view(1).into()
}

fn neighbor() -> pb::NeighborGroup {
    common::neighbor(2).into()
}

/// A handed-over link to neighbour group `n`.
fn handed(n: u8) -> pb::HandedLink {
    pb::HandedLink {
        neighbor: Some(common::neighbor(n).into()),
        opened: true,
        random: false,
    }
}

fn alive() -> pb::AliveRequest {
    pb::AliveRequest {
        caller: Some(pb_peer(1)),
        group: Some(group_view()),
        seq: 1,
        leadership: pb_peers(3),
        neighbors: vec![neighbor()],
        roster: pb_peers(5),
        merge_into: None,
        partition_links: vec![],
        opened_links: vec![],
        lost: vec![],
    }
}

fn with_peer_id(id: &str) -> pb::PeerRef {
    pb::PeerRef {
        peer_id: id.into(),
        ..pb_peer(1)
    }
}

fn with_addr(addr: String) -> pb::PeerRef {
    pb::PeerRef { addr, ..pb_peer(1) }
}

/// One malformed request per rule, and the error it must produce.
fn bad_requests() -> Vec<(Outgoing, &'static str)> {
    let measure = |caller| {
        Outgoing::Measure(pb::MeasureRequest {
            caller: Some(caller),
        })
    };
    vec![
        // Identities.
        (
            measure(with_peer_id("not-a-uuid")),
            "caller.peer_id: invalid UUID",
        ),
        (measure(with_peer_id("")), "caller.peer_id: missing"),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: String::new(),
                joining: true,
                merging_group_id: String::new(),
                handover: vec![],
                ..Default::default()
            }),
            "group_id: missing",
        ),
        // A merge handover: only from a joining caller, naming its group, capped, each link
        // with its neighbour.
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                joining: true,
                merging_group_id: String::new(),
                handover: vec![handed(2)],
                ..Default::default()
            }),
            "merging_group_id: missing",
        ),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                joining: false,
                merging_group_id: view(2).group_id.to_string(),
                handover: vec![],
                ..Default::default()
            }),
            "merging_group_id: not allowed: only a joining caller merges its group",
        ),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                joining: true,
                merging_group_id: "x".into(),
                handover: vec![],
                ..Default::default()
            }),
            "merging_group_id: invalid UUID",
        ),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                joining: true,
                merging_group_id: view(2).group_id.to_string(),
                handover: (0..65).map(|_| handed(3)).collect(),
                ..Default::default()
            }),
            "handover: 65 entries, at most 64",
        ),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                candidates: 33,
                ..Default::default()
            }),
            "candidates: 33 entries, at most 32",
        ),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                joining: true,
                merging_group_id: view(2).group_id.to_string(),
                handover: vec![pb::HandedLink {
                    neighbor: None,
                    opened: true,
                    random: false,
                }],
                ..Default::default()
            }),
            "handover[0].neighbor: missing",
        ),
        (
            Outgoing::GetPeerGroupMembers(pb::GetPeerGroupMembersRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                joining: true,
                merging_group_id: view(2).group_id.to_string(),
                handover: vec![pb::HandedLink {
                    neighbor: Some(pb::NeighborGroup {
                        rtt_us: 60_000_001,
                        ..neighbor()
                    }),
                    opened: true,
                    random: false,
                }],
                ..Default::default()
            }),
            "handover[0].neighbor.rtt_us: rtt of 60000001 us, at most 60000000 us",
        ),
        (
            Outgoing::ConnectInterGroup(pb::ConnectInterGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(group_view()),
                rtt_us: 1,
                random: false,
                replaces_group_id: "not-a-group".into(),
            }),
            "replaces_group_id: invalid UUID",
        ),
        (
            Outgoing::GetNeighboringPeerGroups(pb::GetNeighboringPeerGroupsRequest {
                caller: None,
                group_id: "8181".into(),
            }),
            "group_id: invalid UUID",
        ),
        (
            Outgoing::ResolveGroup(pb::ResolveGroupRequest {
                caller: None,
                group_id: "zz".into(),
            }),
            "group_id: invalid UUID",
        ),
        // Addresses.
        (
            measure(with_addr(String::new())),
            "caller.addr: empty address",
        ),
        (
            measure(with_addr("a".repeat(MAX_ADDR_LEN + 1))),
            "caller.addr: address of 261 bytes, at most 260",
        ),
        (
            measure(with_addr("no-port".into())),
            "caller.addr: not host:port: no port",
        ),
        (
            measure(with_addr("bad host:7000".into())),
            "caller.addr: not host:port: the host is neither a DNS name nor an IP literal (IPv6 in brackets)",
        ),
        (
            measure(with_addr("169.254.169.254:80".into())),
            "caller.addr: link-local address refused",
        ),
        (
            measure(with_addr("0.0.0.0:7000".into())),
            "caller.addr: unspecified address refused",
        ),
        (
            measure(with_addr("[ff02::1]:7000".into())),
            "caller.addr: multicast address refused",
        ),
        // Required sub-messages.
        (
            Outgoing::ConnectInterGroup(pb::ConnectInterGroupRequest {
                caller: Some(pb_peer(1)),
                group: None,
                rtt_us: 1,
                random: false,
                replaces_group_id: String::new(),
            }),
            "group: missing",
        ),
        (
            Outgoing::ConnectInterGroup(pb::ConnectInterGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(pb::GroupView {
                    leader: None,
                    ..group_view()
                }),
                rtt_us: 1,
                random: false,
                replaces_group_id: String::new(),
            }),
            "group.leader: missing",
        ),
        (
            Outgoing::NewLeader(pb::NewLeaderRequest {
                caller: None,
                group_id: view(1).group_id.to_string(),
                epoch: 1,
                round: 0,
                candidate: None,
                sent_at_unix_us: 1,
            }),
            "candidate: missing",
        ),
        // RTTs.
        (
            Outgoing::ConnectInterGroup(pb::ConnectInterGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(group_view()),
                rtt_us: 60_000_001,
                random: false,
                replaces_group_id: String::new(),
            }),
            "rtt_us: rtt of 60000001 us, at most 60000000 us",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                neighbors: vec![
                    neighbor(),
                    pb::NeighborGroup {
                        rtt_us: u64::MAX,
                        ..neighbor()
                    },
                ],
                ..alive()
            })),
            "neighbors[1].rtt_us: rtt of 18446744073709551615 us, at most 60000000 us",
        ),
        // Enums.
        (
            Outgoing::Leave(pb::LeaveRequest {
                caller: Some(pb_peer(1)),
                group_id: view(1).group_id.to_string(),
                scope: pb::LinkScope::Unspecified.into(),
            }),
            "scope: unspecified",
        ),
        (
            Outgoing::Leave(pb::LeaveRequest {
                caller: Some(pb_peer(1)),
                group_id: view(1).group_id.to_string(),
                scope: 9,
            }),
            "scope: unknown value 9",
        ),
        // Lists over their caps.
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                leadership: pb_peers(40),
                ..alive()
            })),
            "leadership: 40 entries, at most 32",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                roster: pb_peers(257),
                ..alive()
            })),
            "roster: 257 entries, at most 256",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                neighbors: vec![neighbor(); 65],
                ..alive()
            })),
            "neighbors: 65 entries, at most 64",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                group: Some(pb::GroupView {
                    successors: pb_peers(5),
                    ..group_view()
                }),
                ..alive()
            })),
            "group.successors: 5 entries, at most 4",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                neighbors: vec![pb::NeighborGroup {
                    successors: pb_peers(5),
                    ..neighbor()
                }],
                ..alive()
            })),
            "neighbors[0].successors: 5 entries, at most 4",
        ),
        // Errors deep inside name the whole path.
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                roster: vec![pb_peer(1), pb_peer(2), with_peer_id("nope")],
                ..alive()
            })),
            "roster[2].peer_id: invalid UUID",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                merge_into: Some(pb::GroupView {
                    successors: vec![with_addr(String::new())],
                    ..group_view()
                }),
                ..alive()
            })),
            "merge_into.successors[0].addr: empty address",
        ),
        // Epochs are bounded: a view at 2^64-1 could never be superseded.
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                group: Some(pb::GroupView {
                    epoch: u64::MAX,
                    ..group_view()
                }),
                ..alive()
            })),
            "group.epoch: epoch 18446744073709551615 above the largest, 281474976710656",
        ),
        (
            Outgoing::AnnounceGroup(pb::AnnounceGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(pb::GroupView {
                    epoch: (1 << 48) + 1,
                    ..group_view()
                }),
                neighbors: vec![],
                ended: false,
                partition_group_ids: vec![],
                landmarks: vec![],
            }),
            "group.epoch: epoch 281474976710657 above the largest, 281474976710656",
        ),
        (
            Outgoing::AnnounceGroup(pb::AnnounceGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(group_view()),
                neighbors: vec![],
                ended: false,
                partition_group_ids: vec!["zz".into()],
                landmarks: vec![],
            }),
            "partition_group_ids[0]: invalid UUID",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                partition_links: vec!["nope".into()],
                ..alive()
            })),
            "partition_links[0]: invalid UUID",
        ),
        (
            Outgoing::Alive(Box::new(pb::AliveRequest {
                lost: pb_peers(33),
                ..alive()
            })),
            "lost: 33 entries, at most 32",
        ),
        (
            Outgoing::AnnounceGroup(pb::AnnounceGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(group_view()),
                neighbors: vec![neighbor(); 65],
                ended: false,
                partition_group_ids: vec![],
                landmarks: vec![],
            }),
            "neighbors: 65 entries, at most 64",
        ),
        (
            Outgoing::GetBootList(pb::GetBootListRequest {
                caller: Some(pb_peer(1)),
                max: 8,
                landmarks: false,
                near: vec![
                    pb::LandmarkRtt {
                        group_id: group_view().group_id,
                        rtt_us: 1_000,
                    };
                    17
                ],
                shortcut_for: String::new(),
            }),
            "near: 17 entries, at most 16",
        ),
        (
            Outgoing::GetBootList(pb::GetBootListRequest {
                caller: Some(pb_peer(1)),
                max: 8,
                landmarks: false,
                near: vec![pb::LandmarkRtt {
                    group_id: group_view().group_id,
                    rtt_us: 61_000_000,
                }],
                shortcut_for: String::new(),
            }),
            "near[0].rtt_us: rtt of 61000000 us, at most 60000000 us",
        ),
        (
            Outgoing::GetBootList(pb::GetBootListRequest {
                caller: Some(pb_peer(1)),
                max: 8,
                landmarks: false,
                near: vec![],
                shortcut_for: "not-a-group".into(),
            }),
            "shortcut_for: invalid UUID",
        ),
        (
            Outgoing::AnnounceGroup(pb::AnnounceGroupRequest {
                caller: Some(pb_peer(1)),
                group: Some(group_view()),
                neighbors: vec![],
                ended: false,
                partition_group_ids: vec![],
                landmarks: vec![pb::LandmarkRtt {
                    group_id: "not-a-group".into(),
                    rtt_us: 1_000,
                }],
            }),
            "landmarks[0].group_id: invalid UUID",
        ),
    ]
}

#[test]
fn malformed_requests_are_rejected_naming_the_field() {
    for (request, expected) in bad_requests() {
        let name = request.name();
        let err = request
            .into_core()
            .expect_err(&format!("{name}: expected {expected:?}"));
        assert_eq!(err.to_string(), expected, "{name}");
        // Rejections reach the caller as INVALID_ARGUMENT carrying the same text.
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), expected);
    }
}

#[test]
fn the_error_exposes_field_and_violation() {
    let err = Outgoing::Alive(Box::new(pb::AliveRequest {
        leadership: pb_peers(33),
        ..alive()
    }))
    .into_core()
    .unwrap_err();
    assert_eq!(err.field(), "leadership");
    assert_eq!(err.violation(), &Violation::TooMany { len: 33, max: 32 });
}

fn status_reply() -> pb::GetStatusReply {
    pb::GetStatusReply {
        peer: Some(pb_peer(1)),
        role: pb::Role::Member.into(),
        group: None,
        leadership: vec![],
        intra: vec![],
        inter: vec![],
        cross: vec![],
    }
}

/// Malformed replies: a caller validates what it receives just as a server does.
fn bad_replies() -> Vec<(Result<locus_core::Response, ProtoError>, &'static str)> {
    let link = pb::LinkInfo::from(common::link(1));
    vec![
        (
            pb::MeasureRequest::reply_into_core(pb::MeasureReply {
                responder: None,
                group: None,
            }),
            "responder: missing",
        ),
        (
            pb::GetStatusRequest::reply_into_core(pb::GetStatusReply {
                role: pb::Role::Unspecified.into(),
                ..status_reply()
            }),
            "role: unspecified",
        ),
        (
            pb::GetStatusRequest::reply_into_core(pb::GetStatusReply {
                intra: vec![link.clone(); 257],
                ..status_reply()
            }),
            "intra: 257 entries, at most 256",
        ),
        (
            pb::GetStatusRequest::reply_into_core(pb::GetStatusReply {
                inter: vec![neighbor(); 257],
                ..status_reply()
            }),
            "inter: 257 entries, at most 256",
        ),
        (
            pb::NearbyRequest::reply_into_core(pb::NearbyReply {
                peers: vec![link.clone(); 65],
            }),
            "peers: 65 entries, at most 64",
        ),
        (
            pb::NearbyRequest::reply_into_core(pb::NearbyReply {
                peers: vec![pb::LinkInfo {
                    rtt_us: 61_000_000,
                    ..link.clone()
                }],
            }),
            "peers[0].rtt_us: rtt of 61000000 us, at most 60000000 us",
        ),
        (
            pb::NearbyRequest::reply_into_core(pb::NearbyReply {
                peers: vec![pb::LinkInfo { peer: None, ..link }],
            }),
            "peers[0].peer: missing",
        ),
        (
            pb::GetBootListRequest::reply_into_core(pb::GetBootListReply {
                groups: vec![group_view(); 65],
            }),
            "groups: 65 entries, at most 64",
        ),
        (
            pb::GetPeerGroupMembersRequest::reply_into_core(pb::GetPeerGroupMembersReply {
                group: Some(group_view()),
                leadership: pb_peers(2),
                candidates: pb_peers(33),
                ..Default::default()
            }),
            "candidates: 33 entries, at most 32",
        ),
        (
            pb::GetPeerGroupMembersRequest::reply_into_core(pb::GetPeerGroupMembersReply {
                group: Some(group_view()),
                leadership: pb_peers(33),
                ..Default::default()
            }),
            "leadership: 33 entries, at most 32",
        ),
        (
            pb::GetPeerGroupMembersRequest::reply_into_core(pb::GetPeerGroupMembersReply {
                group: Some(group_view()),
                alive_seq: 3,
                roster: pb_peers(257),
                ..Default::default()
            }),
            "roster: 257 entries, at most 256",
        ),
        (
            pb::ConnectIntraGroupRequest::reply_into_core(pb::ConnectReply {
                accepted: false,
                referrals: pb_peers(33),
            }),
            "referrals: 33 entries, at most 32",
        ),
        (
            pb::GetNeighboringPeerGroupsRequest::reply_into_core(
                pb::GetNeighboringPeerGroupsReply {
                    group: Some(group_view()),
                    neighbors: vec![neighbor(); 65],
                },
            ),
            "neighbors: 65 entries, at most 64",
        ),
        (
            pb::NewLeaderRequest::reply_into_core(pb::NewLeaderReply {
                epoch: 1,
                leader: Some(with_peer_id("x")),
            }),
            "leader.peer_id: invalid UUID",
        ),
        (
            pb::AnnounceGroupRequest::reply_into_core(pb::AnnounceGroupReply {
                superseded_by: Some(pb::GroupView {
                    group_id: "g".into(),
                    ..group_view()
                }),
                bridge: Vec::new(),
            }),
            "superseded_by.group_id: invalid UUID",
        ),
        (
            pb::AnnounceGroupRequest::reply_into_core(pb::AnnounceGroupReply {
                superseded_by: None,
                bridge: vec![group_view(); 65],
            }),
            "bridge: 65 entries, at most 64",
        ),
        (
            pb::ResolveGroupRequest::reply_into_core(pb::ResolveGroupReply {
                group: Some(pb::GroupView {
                    leader: Some(with_addr("a".repeat(300))),
                    ..group_view()
                }),
            }),
            "group.leader.addr: address of 300 bytes, at most 260",
        ),
    ]
}

#[test]
fn malformed_replies_are_rejected_naming_the_field() {
    for (result, expected) in bad_replies() {
        let err = result.expect_err(expected);
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn a_malformed_reply_counts_as_unreachable() {
    let err = ProtoError::new("responder", Violation::Missing);
    assert_eq!(
        locus_proto::call_error_from_reply(&err),
        locus_core::CallError::Unreachable("malformed reply: responder: missing".into())
    );
}
