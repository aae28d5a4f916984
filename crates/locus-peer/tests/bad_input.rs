//! Malformed requests to every PeerService RPC are refused with INVALID_ARGUMENT naming the
//! problem, and the peer goes on serving. Reflection lists the services.

use locus_tests::loopback as common;

use std::time::Duration;

use common::{channel, peer, peer_id, status};
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use tonic::Code;

fn peer_ref(id: &str, addr: &str) -> Option<pb::PeerRef> {
    Some(pb::PeerRef {
        peer_id: id.into(),
        addr: addr.into(),
    })
}

const GOOD_ID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

fn good_caller() -> Option<pb::PeerRef> {
    peer_ref(GOOD_ID, "127.0.0.1:1")
}

fn view(group_id: &str) -> Option<pb::GroupView> {
    Some(pb::GroupView {
        group_id: group_id.into(),
        epoch: 1,
        leader: good_caller(),
        successors: vec![],
        member_count: 1,
    })
}

fn many_peers(n: usize) -> Vec<pb::PeerRef> {
    (0..n)
        .map(|i| pb::PeerRef {
            peer_id: uuid::Uuid::from_u128(i as u128 + 1).to_string(),
            addr: format!("127.0.0.1:{}", 1000 + i),
        })
        .collect()
}

/// Sends one malformed request and returns the status.
macro_rules! call {
    ($client:expr, $method:ident, $message:expr) => {
        $client.$method($message).await.map(|_| ()).unwrap_err()
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_malformed_requests_and_keeps_serving() {
    let server = peer(peer_id(7), "eu", &[], &[]).await;
    common::eventually(
        "the peer founds its group",
        Duration::from_secs(30),
        || async {
            match status(&server.addr).await {
                Some(s) if s.group.is_some() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let mut c = PeerServiceClient::new(channel(&server.addr).await);
    let group = status(&server.addr).await.unwrap().group.unwrap().group_id;

    let cases: Vec<(&str, tonic::Status, &str)> = vec![
        (
            "Measure: caller id not a UUID",
            call!(
                c,
                measure,
                pb::MeasureRequest {
                    caller: peer_ref("nope", "a:1")
                }
            ),
            "caller.peer_id: invalid UUID",
        ),
        (
            "Measure: caller without address",
            call!(
                c,
                measure,
                pb::MeasureRequest {
                    caller: peer_ref(GOOD_ID, "")
                }
            ),
            "caller.addr: empty address",
        ),
        (
            "GetStatus: caller address of 10 kB",
            call!(
                c,
                get_status,
                pb::GetStatusRequest {
                    caller: peer_ref(GOOD_ID, &"x".repeat(10_000))
                }
            ),
            "caller.addr: address of 10000 bytes",
        ),
        (
            "GetNeighboringPeerGroups: bad group id",
            call!(
                c,
                get_neighboring_peer_groups,
                pb::GetNeighboringPeerGroupsRequest {
                    caller: good_caller(),
                    group_id: "g".into()
                }
            ),
            "group_id: invalid UUID",
        ),
        (
            "GetPeerGroupMembers: no group id",
            call!(
                c,
                get_peer_group_members,
                pb::GetPeerGroupMembersRequest {
                    caller: good_caller(),
                    group_id: String::new(),
                    joining: true,
                    merging_group_id: String::new(),
                    handover: vec![],
                    ..Default::default()
                }
            ),
            "group_id: missing",
        ),
        (
            "GetPeerGroupMembers: no caller",
            call!(
                c,
                get_peer_group_members,
                pb::GetPeerGroupMembersRequest {
                    caller: None,
                    group_id: group.clone(),
                    joining: true,
                    merging_group_id: String::new(),
                    handover: vec![],
                    ..Default::default()
                }
            ),
            "must name its caller",
        ),
        (
            "GetPeerGroupMembers: too many candidates asked",
            call!(
                c,
                get_peer_group_members,
                pb::GetPeerGroupMembersRequest {
                    caller: good_caller(),
                    group_id: group.clone(),
                    candidates: 33,
                    ..Default::default()
                }
            ),
            "candidates: 33 entries, at most 32",
        ),
        (
            "ConnectIntraGroup: bad group id",
            call!(
                c,
                connect_intra_group,
                pb::ConnectIntraGroupRequest {
                    caller: good_caller(),
                    group_id: "1234".into()
                }
            ),
            "group_id: invalid UUID",
        ),
        (
            "ConnectCross: bad group id",
            call!(
                c,
                connect_cross,
                pb::ConnectCrossRequest {
                    caller: good_caller(),
                    group_id: "not-a-uuid".into()
                }
            ),
            "group_id: invalid UUID",
        ),
        (
            "ConnectCross: no caller",
            call!(
                c,
                connect_cross,
                pb::ConnectCrossRequest {
                    caller: None,
                    group_id: group.clone()
                }
            ),
            "caller",
        ),
        (
            "ConnectInterGroup: no group",
            call!(
                c,
                connect_inter_group,
                pb::ConnectInterGroupRequest {
                    caller: good_caller(),
                    group: None,
                    rtt_us: 1,
                    random: false,
                    replaces_group_id: String::new()
                }
            ),
            "group: missing",
        ),
        (
            "ConnectInterGroup: absurd rtt",
            call!(
                c,
                connect_inter_group,
                pb::ConnectInterGroupRequest {
                    caller: good_caller(),
                    group: view(GOOD_ID),
                    rtt_us: u64::MAX,
                    random: false,
                    replaces_group_id: String::new()
                }
            ),
            "rtt_us: rtt of",
        ),
        (
            "ConnectInterGroup: five successors",
            call!(
                c,
                connect_inter_group,
                pb::ConnectInterGroupRequest {
                    caller: good_caller(),
                    group: Some(pb::GroupView {
                        successors: many_peers(5),
                        ..view(GOOD_ID).unwrap()
                    }),
                    rtt_us: 1,
                    random: false,
                    replaces_group_id: String::new()
                }
            ),
            "group.successors: 5 entries, at most 4",
        ),
        (
            "Leave: scope unspecified",
            call!(
                c,
                leave,
                pb::LeaveRequest {
                    caller: good_caller(),
                    group_id: group.clone(),
                    scope: 0
                }
            ),
            "scope: unspecified",
        ),
        (
            "Leave: unknown scope",
            call!(
                c,
                leave,
                pb::LeaveRequest {
                    caller: good_caller(),
                    group_id: group.clone(),
                    scope: 99
                }
            ),
            "scope: unknown value 99",
        ),
        (
            "Alive: 33 in the leadership list",
            call!(
                c,
                alive,
                pb::AliveRequest {
                    caller: good_caller(),
                    group: view(&group),
                    seq: 1,
                    leadership: many_peers(33),
                    neighbors: vec![],
                    roster: vec![],
                    merge_into: None,
                    ..Default::default()
                }
            ),
            "leadership: 33 entries, at most 32",
        ),
        (
            "Alive: 257 in the roster",
            call!(
                c,
                alive,
                pb::AliveRequest {
                    caller: good_caller(),
                    group: view(&group),
                    seq: 1,
                    leadership: vec![],
                    neighbors: vec![],
                    roster: many_peers(257),
                    merge_into: None,
                    ..Default::default()
                }
            ),
            "roster: 257 entries, at most 256",
        ),
        (
            "Alive: no group",
            call!(
                c,
                alive,
                pb::AliveRequest {
                    caller: good_caller(),
                    group: None,
                    seq: 1,
                    leadership: vec![],
                    neighbors: vec![],
                    roster: vec![],
                    merge_into: None,
                    ..Default::default()
                }
            ),
            "group: missing",
        ),
        (
            "Alive: an epoch above 2^48",
            call!(
                c,
                alive,
                pb::AliveRequest {
                    caller: good_caller(),
                    group: view(&group).map(|mut v| {
                        v.epoch = u64::MAX;
                        v
                    }),
                    seq: 1,
                    ..Default::default()
                }
            ),
            "group.epoch: epoch 18446744073709551615 above the largest, 281474976710656",
        ),
        (
            "NewLeader: no candidate",
            call!(
                c,
                new_leader,
                pb::NewLeaderRequest {
                    caller: good_caller(),
                    group_id: group.clone(),
                    epoch: 1,
                    round: 0,
                    candidate: None,
                    sent_at_unix_us: 1
                }
            ),
            "candidate: missing",
        ),
        (
            "Nearby: caller id not a UUID",
            call!(
                c,
                nearby,
                pb::NearbyRequest {
                    caller: peer_ref("x", "a:1"),
                    limit: 3
                }
            ),
            "caller.peer_id: invalid UUID",
        ),
        (
            "GetBootList: caller without address",
            call!(
                c,
                get_boot_list,
                pb::GetBootListRequest {
                    caller: peer_ref(GOOD_ID, ""),
                    max: 3,
                    landmarks: false,
                    near: vec![],
                    shortcut_for: Default::default(),
                }
            ),
            "caller.addr: empty address",
        ),
    ];
    for (case, status, expected) in cases {
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        assert!(
            status.message().contains(expected),
            "{case}: {:?} should say {expected:?}",
            status.message()
        );
        assert!(
            common::status(&server.addr).await.is_some(),
            "{case}: the peer stopped serving"
        );
    }

    // Absurd but harmless values are capped rather than refused.
    let nearby = c
        .nearby(pb::NearbyRequest {
            caller: None,
            limit: u32::MAX,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(nearby.peers.len() <= locus_core::message::MAX_NEARBY);
    let boot = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: u32::MAX,
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        boot.groups.len(),
        1,
        "a lone peer boots others into its own group"
    );

    // A message beyond the decoding limit is refused before it reaches the peer.
    let huge = call!(
        c,
        get_status,
        pb::GetStatusRequest {
            caller: peer_ref(GOOD_ID, &"x".repeat(5 << 20))
        }
    );
    assert_ne!(huge.code(), Code::Ok);
    assert!(
        status(&server.addr).await.is_some(),
        "the peer serves after a huge message"
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = peer(peer_id(8), "us", &[], &[]).await;
    let mut c = ServerReflectionClient::new(channel(&server.addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = c
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply {reply:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    // Exactly what it serves: the schema's Rendezvous service is the rendezvous', not a peer's.
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "locus.v1.PeerService",
        ]
    );
    server.stop().await;
}
