//! The rendezvous on a real socket: announcements, the directory RPCs, the change stream,
//! expiry, malformed requests and reflection.

use std::time::Duration;

use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

struct Running {
    client: RendezvousClient<Channel>,
    channel: Channel,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(config: locus_rendezvous::Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        locus_rendezvous::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    Running {
        client: RendezvousClient::new(channel.clone()),
        channel,
        stop,
        task,
    }
}

fn config(ttl: Duration) -> locus_rendezvous::Config {
    locus_rendezvous::Config {
        entry_ttl: ttl,
        seed: 3,
        ..Default::default()
    }
}

fn id(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

fn peer(n: u128) -> pb::PeerRef {
    pb::PeerRef {
        peer_id: id(n),
        addr: format!("127.0.0.1:{}", 2000 + n),
    }
}

fn announce(group: u128, leader: u128, epoch: u64, members: u32) -> pb::AnnounceGroupRequest {
    pb::AnnounceGroupRequest {
        caller: Some(peer(leader)),
        group: Some(pb::GroupView {
            group_id: id(group),
            epoch,
            leader: Some(peer(leader)),
            successors: vec![],
            member_count: members,
        }),
        neighbors: vec![pb::NeighborGroup {
            group_id: id(group + 1),
            leader: Some(peer(leader + 1)),
            successors: vec![],
            rtt_us: 90_000,
        }],
        ended: false,
    }
}

#[tokio::test]
async fn directory_rpcs_page_snapshot_and_stream_changes() {
    let mut rv = start(config(Duration::from_secs(60))).await;
    let c = &mut rv.client;
    let mut events = c
        .watch_overlay(pb::WatchOverlayRequest {
            caller: None,
            include_existing: true,
        })
        .await
        .unwrap()
        .into_inner();

    for g in 0..5u128 {
        let reply = c
            .announce_group(announce(100 + g * 10, 1000 + g, 1, 3))
            .await
            .unwrap()
            .into_inner();
        assert!(reply.superseded_by.is_none());
    }
    // A successor with a higher epoch takes over group 100; the old leader is then stale.
    c.announce_group(announce(100, 2000, 2, 3)).await.unwrap();
    let stale = c
        .announce_group(announce(100, 1000, 1, 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stale.superseded_by.unwrap().leader.unwrap().peer_id,
        id(2000)
    );
    // A member count change, then an end.
    c.announce_group(announce(110, 1001, 1, 4)).await.unwrap();
    c.announce_group(pb::AnnounceGroupRequest {
        ended: true,
        ..announce(120, 1002, 1, 0)
    })
    .await
    .unwrap();

    use pb::overlay_event::Kind;
    let mut kinds = Vec::new();
    for _ in 0..8 {
        let e = tokio::time::timeout(Duration::from_secs(5), events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        kinds.push(match e.kind.unwrap() {
            Kind::Created(_) => "created".to_string(),
            Kind::LeaderChanged(l) => format!(
                "leader {}->{}",
                l.previous_leader.unwrap().peer_id,
                l.leader.unwrap().peer_id
            ),
            Kind::MemberCountChanged(m) => {
                format!("members {}->{}", m.previous_count, m.member_count)
            }
            Kind::Ended(e) => format!(
                "ended {:?}",
                pb::GroupEndReason::try_from(e.reason).unwrap()
            ),
        });
    }
    assert_eq!(&kinds[..5], ["created"; 5]);
    assert_eq!(kinds[5], format!("leader {}->{}", id(1000), id(2000)));
    assert_eq!(kinds[6], "members 3->4");
    assert_eq!(kinds[7], "ended Ended");

    // Four groups left, listed two by two in group-id order.
    let first = c
        .list_groups(pb::ListGroupsRequest {
            caller: None,
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.groups.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = c
        .list_groups(pb::ListGroupsRequest {
            caller: None,
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.groups.len(), 2);
    assert!(second.next_page_token.is_empty(), "the last page says so");
    let ids: Vec<String> = first
        .groups
        .iter()
        .chain(&second.groups)
        .map(|e| e.group.clone().unwrap().group_id)
        .collect();
    assert_eq!(ids, vec![id(100), id(110), id(130), id(140)]);
    let e = &first.groups[0];
    assert_eq!(
        e.expires_at_unix_ms - e.announced_at_unix_ms,
        60_000,
        "entries live the TTL"
    );

    let overlay = c
        .get_overlay(pb::GetOverlayRequest { caller: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overlay.groups.len(), 4);
    assert_eq!(overlay.links.len(), 4);
    assert!(!overlay.truncated);

    let resolved = c
        .resolve_group(pb::ResolveGroupRequest {
            caller: None,
            group_id: id(100),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.group.unwrap().leader.unwrap().peer_id, id(2000));
    let gone = c
        .resolve_group(pb::ResolveGroupRequest {
            caller: None,
            group_id: id(120),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(gone.group.is_none());
    let boot = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(boot.groups.len(), 3);

    // Stopping ends the stream instead of hanging the shutdown.
    rv.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), rv.task)
        .await
        .unwrap()
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), events.message())
        .await
        .unwrap();
    assert!(!matches!(end, Ok(Some(_))), "the stream ends: {end:?}");
}

#[tokio::test]
async fn silent_groups_expire() {
    let mut rv = start(config(Duration::from_millis(300))).await;
    let c = &mut rv.client;
    let mut events = c
        .watch_overlay(pb::WatchOverlayRequest::default())
        .await
        .unwrap()
        .into_inner();
    c.announce_group(announce(1, 10, 1, 2)).await.unwrap();
    let created = events.message().await.unwrap().unwrap();
    assert!(matches!(
        created.kind,
        Some(pb::overlay_event::Kind::Created(_))
    ));
    let ended = tokio::time::timeout(Duration::from_secs(10), events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(pb::overlay_event::Kind::Ended(e)) = ended.kind else {
        panic!("{ended:?}")
    };
    assert_eq!(e.reason, pb::GroupEndReason::Expired as i32);
    let list = c
        .list_groups(pb::ListGroupsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.groups.is_empty());
}

#[tokio::test]
async fn watchers_are_capped() {
    let rv = start(locus_rendezvous::Config {
        max_watchers: 1,
        ..config(Duration::from_secs(60))
    })
    .await;
    let mut c = rv.client.clone();
    let _first = c
        .watch_overlay(pb::WatchOverlayRequest::default())
        .await
        .unwrap();
    let second = c
        .watch_overlay(pb::WatchOverlayRequest::default())
        .await
        .unwrap_err();
    assert_eq!(second.code(), Code::ResourceExhausted);
}

/// Sends one malformed request and returns the status.
macro_rules! call {
    ($client:expr, $method:ident, $message:expr) => {
        $client.$method($message).await.map(|_| ()).unwrap_err()
    };
}

#[tokio::test]
async fn every_rpc_refuses_malformed_requests_and_keeps_serving() {
    let rv = start(config(Duration::from_secs(60))).await;
    let mut c = rv.client.clone();
    let bad_caller = Some(pb::PeerRef {
        peer_id: "nope".into(),
        addr: "a:1".into(),
    });
    let many_neighbors: Vec<pb::NeighborGroup> = (0..65)
        .map(|i| announce(i, i, 1, 1).neighbors.remove(0))
        .collect();
    let cases: Vec<(&str, tonic::Status, &str)> = vec![
        (
            "GetBootList: bad caller",
            call!(
                c,
                get_boot_list,
                pb::GetBootListRequest {
                    caller: bad_caller.clone(),
                    max: 1
                }
            ),
            "caller.peer_id: invalid UUID",
        ),
        (
            "AnnounceGroup: no group",
            call!(
                c,
                announce_group,
                pb::AnnounceGroupRequest {
                    group: None,
                    ..announce(1, 1, 1, 1)
                }
            ),
            "group: missing",
        ),
        (
            "AnnounceGroup: no caller",
            call!(
                c,
                announce_group,
                pb::AnnounceGroupRequest {
                    caller: None,
                    ..announce(1, 1, 1, 1)
                }
            ),
            "must name its caller",
        ),
        (
            "AnnounceGroup: caller is not the leader",
            call!(
                c,
                announce_group,
                pb::AnnounceGroupRequest {
                    caller: Some(peer(99)),
                    ..announce(1, 1, 1, 1)
                }
            ),
            "caller is not the leader",
        ),
        (
            "AnnounceGroup: 65 neighbours",
            call!(
                c,
                announce_group,
                pb::AnnounceGroupRequest {
                    neighbors: many_neighbors,
                    ..announce(1, 1, 1, 1)
                }
            ),
            "neighbors: 65 entries, at most 64",
        ),
        (
            "AnnounceGroup: absurd rtt",
            call!(c, announce_group, {
                let mut a = announce(1, 1, 1, 1);
                a.neighbors[0].rtt_us = u64::MAX;
                a
            }),
            "neighbors[0].rtt_us",
        ),
        (
            "AnnounceGroup: bad group id",
            call!(c, announce_group, {
                let mut a = announce(1, 1, 1, 1);
                a.group.as_mut().unwrap().group_id = "g".into();
                a
            }),
            "group.group_id: invalid UUID",
        ),
        (
            "ResolveGroup: bad group id",
            call!(
                c,
                resolve_group,
                pb::ResolveGroupRequest {
                    caller: None,
                    group_id: "g".into()
                }
            ),
            "group_id: invalid UUID",
        ),
        (
            "ResolveGroup: no group id",
            call!(
                c,
                resolve_group,
                pb::ResolveGroupRequest {
                    caller: None,
                    group_id: String::new()
                }
            ),
            "group_id: missing",
        ),
        (
            "ListGroups: bad page token",
            call!(
                c,
                list_groups,
                pb::ListGroupsRequest {
                    caller: None,
                    page_size: 1,
                    page_token: "zzz".into()
                }
            ),
            "page_token: invalid UUID",
        ),
        (
            "ListGroups: bad caller",
            call!(
                c,
                list_groups,
                pb::ListGroupsRequest {
                    caller: bad_caller.clone(),
                    ..Default::default()
                }
            ),
            "caller.peer_id",
        ),
        (
            "GetOverlay: bad caller",
            call!(
                c,
                get_overlay,
                pb::GetOverlayRequest {
                    caller: bad_caller.clone()
                }
            ),
            "caller.peer_id",
        ),
        (
            "WatchOverlay: bad caller",
            call!(
                c,
                watch_overlay,
                pb::WatchOverlayRequest {
                    caller: bad_caller.clone(),
                    include_existing: true
                }
            ),
            "caller.peer_id",
        ),
    ];
    for (case, status, expected) in cases {
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        assert!(
            status.message().contains(expected),
            "{case}: {:?} should say {expected:?}",
            status.message()
        );
        c.get_overlay(pb::GetOverlayRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{case}: stopped serving: {e}"));
    }
    // Absurd sizes are capped, not refused.
    let page = c
        .list_groups(pb::ListGroupsRequest {
            caller: None,
            page_size: u32::MAX,
            page_token: String::new(),
        })
        .await
        .unwrap();
    assert!(page.into_inner().groups.is_empty());
    let boot = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: u32::MAX,
        })
        .await
        .unwrap();
    assert!(boot.into_inner().groups.is_empty());
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_services() {
    use tonic_reflection::pb::{v1, v1alpha};
    let rv = start(config(Duration::from_secs(60))).await;

    let mut c = v1::server_reflection_client::ServerReflectionClient::new(rv.channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let reply = c
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("{reply:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["locus.v1.Rendezvous", "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let mut c = v1alpha::server_reflection_client::ServerReflectionClient::new(rv.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "locus.v1.Rendezvous".into(),
            ),
        ),
    };
    let reply = c
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            reply.message_response,
            Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
        ),
        "{reply:?}"
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(rv.channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "locus.v1.Rendezvous".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_dropped() {
    let rv = start(locus_rendezvous::Config {
        watch_buffer: 4,
        ..config(Duration::from_secs(60))
    })
    .await;
    let mut c = rv.client.clone();
    let mut events = c
        .watch_overlay(pb::WatchOverlayRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Far more changes than the buffers hold (broadcast, per-subscriber queue, and the HTTP/2
    // windows, about 2 MB), while the subscriber reads nothing: 8000 events of ~400 bytes.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8u128 {
        let mut c = c.clone();
        writers.spawn(async move {
            for g in (w * 1000)..(w + 1) * 1000 {
                let mut a = announce(10 * g + 5, g + 1, 1, 1);
                a.group.as_mut().unwrap().successors = (0..4).map(|s| peer(100_000 + s)).collect();
                c.announce_group(a).await.unwrap();
            }
        });
    }
    writers.join_all().await;
    let mut received = 0;
    let status = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), events.message()).await;
        let next = next.unwrap_or_else(|_| panic!("stalled after {received} events"));
        match next {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ended without a status after {received} events"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(received < 8000);
    // The service goes on.
    c.get_overlay(pb::GetOverlayRequest::default())
        .await
        .unwrap();
}
