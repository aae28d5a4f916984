//! The rendezvous on a real socket: announcements checked with their leaders (real locus peers
//! on loopback), the directory RPCs, the change stream, expiry, malformed requests and
//! reflection.

use std::time::Duration;

use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

struct Running {
    addr: String,
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
        addr: addr.to_string(),
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

/// An announcement of `group` by `leader` (both made up: nobody answers at the leader's
/// address), for requests refused before any check.
fn announce(group: u128, leader: u128, epoch: u64, members: u32) -> pb::AnnounceGroupRequest {
    announce_view(
        &pb::GroupView {
            group_id: id(group),
            epoch,
            leader: Some(peer(leader)),
            successors: vec![],
            member_count: members,
        },
        members,
    )
}

/// An announcement of `view` by its leader, with `members` members and one neighbour.
fn announce_view(view: &pb::GroupView, members: u32) -> pb::AnnounceGroupRequest {
    pb::AnnounceGroupRequest {
        caller: view.leader.clone(),
        group: Some(pb::GroupView {
            member_count: members,
            ..view.clone()
        }),
        neighbors: vec![pb::NeighborGroup {
            group_id: id(7_000_000 + members as u128),
            leader: Some(peer(7_000)),
            successors: vec![],
            rtt_us: 90_000,
        }],
        ended: false,
        partition_group_ids: vec![],
        landmarks: vec![],
    }
}

/// A real locus peer on loopback. With no rendezvous and no bootstrap address it founds a group
/// of its own and leads it, telling nobody: the tests announce for it.
struct Peer {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn start(n: u128, bootstrap: &[String]) -> Peer {
        Peer::start_with(n, bootstrap, &[]).await
    }

    /// A peer that announces itself to `rendezvous`.
    async fn start_with(n: u128, bootstrap: &[String], rendezvous: &[String]) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut config = locus_peer::Config::new(locus_core::Config::test());
        config.peer_id = Some(locus_core::PeerId(uuid::Uuid::from_u128(n)));
        config.seed = Some(n as u64);
        config.bootstrap = bootstrap.to_vec();
        config.rendezvous = rendezvous.to_vec();
        config.leave_grace = Duration::from_secs(1);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            locus_peer::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Peer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Graceful stop: a leader hands its group over; afterwards nothing answers at `addr`.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the peer stops")
            .unwrap();
    }

    /// The group this peer leads, once it leads one that `accept` accepts: its own answer to
    /// a `Measure`, the same thing the rendezvous asks.
    async fn leading(&self, accept: impl Fn(&pb::GroupView) -> bool) -> pb::GroupView {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .timeout(Duration::from_secs(2))
            .connect_lazy();
        let mut c = PeerServiceClient::new(channel);
        let end = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut last = None;
        while tokio::time::Instant::now() < end {
            if let Ok(r) = c.measure(pb::MeasureRequest { caller: None }).await {
                let r = r.into_inner();
                let me = r.responder.as_ref().map(|p| p.peer_id.clone());
                if let Some(g) = r.group.clone()
                    && g.leader.as_ref().map(|l| l.peer_id.clone()) == me
                    && accept(&g)
                {
                    return g;
                }
                last = Some(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} leads no such group; last answer {last:?}", self.addr);
    }
}

async fn group_entry(c: &mut RendezvousClient<Channel>, group: &str) -> Option<pb::GroupView> {
    c.resolve_group(pb::ResolveGroupRequest {
        caller: None,
        group_id: group.to_string(),
    })
    .await
    .unwrap()
    .into_inner()
    .group
}

fn leader_id(v: &pb::GroupView) -> String {
    v.leader.as_ref().unwrap().peer_id.clone()
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

    // Five real leaders of five groups; a sixth peer joins the first group.
    let mut leaders = Vec::new();
    for n in 1..=5u128 {
        leaders.push(Some(Peer::start(n, &[]).await));
    }
    let mut views = Vec::new();
    for l in &leaders {
        views.push(l.as_ref().unwrap().leading(|_| true).await);
    }
    let successor = Peer::start(6, &[leaders[0].as_ref().unwrap().addr.clone()]).await;
    for v in &views {
        let reply = c
            .announce_group(announce_view(v, 3))
            .await
            .unwrap()
            .into_inner();
        assert!(reply.superseded_by.is_none());
    }
    // The first leader leaves; its successor takes the group over at a higher epoch, and
    // announces it (checked with the successor, who answers as its leader).
    let first = views[0].clone();
    leaders[0].take().unwrap().stop().await;
    let taken = successor
        .leading(|g| g.group_id == first.group_id && g.epoch > first.epoch)
        .await;
    c.announce_group(announce_view(&taken, 3)).await.unwrap();
    // The old leader's announcement can no longer take the group back: it does not answer.
    let stale = c
        .announce_group(announce_view(&first, 3))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    assert_eq!(
        leader_id(&group_entry(c, &first.group_id).await.unwrap()),
        id(6)
    );
    // A member count change is a refresh: no check.
    c.announce_group(announce_view(&views[1], 4)).await.unwrap();
    // An end while its leader still leads the group is refused; once the leader is gone, it
    // is taken.
    let end = |v: &pb::GroupView| pb::AnnounceGroupRequest {
        ended: true,
        ..announce_view(v, 0)
    };
    let refused = c.announce_group(end(&views[2])).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    leaders[2].take().unwrap().stop().await;
    c.announce_group(end(&views[2])).await.unwrap();

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
    assert_eq!(kinds[5], format!("leader {}->{}", id(1), id(6)));
    assert_eq!(kinds[6], "members 3->4");
    assert_eq!(kinds[7], "ended Ended");

    // Four groups left, listed two by two in group-id order.
    let first_page = c
        .list_groups(pb::ListGroupsRequest {
            caller: None,
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first_page.groups.len(), 2);
    assert!(!first_page.next_page_token.is_empty());
    let second = c
        .list_groups(pb::ListGroupsRequest {
            caller: None,
            page_size: 2,
            page_token: first_page.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.groups.len(), 2);
    assert!(second.next_page_token.is_empty(), "the last page says so");
    let ids: Vec<String> = first_page
        .groups
        .iter()
        .chain(&second.groups)
        .map(|e| e.group.clone().unwrap().group_id)
        .collect();
    let mut expected: Vec<String> = [0, 1, 3, 4]
        .iter()
        .map(|&i| views[i].group_id.clone())
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
    let e = &first_page.groups[0];
    assert_eq!(
        e.expires_at_unix_ms - e.announced_at_unix_ms,
        60_000,
        "entries live the TTL"
    );

    let overlay = c
        .get_overlay(pb::GetOverlayRequest {
            caller: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overlay.groups.len(), 4);
    assert_eq!(overlay.links.len(), 4);
    assert!(!overlay.truncated);

    assert!(group_entry(c, &views[2].group_id).await.is_none());
    let boot = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 3,
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
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
async fn an_announced_leader_that_does_not_answer_is_refused_and_changes_nothing() {
    let mut rv = start(config(Duration::from_secs(60))).await;
    let c = &mut rv.client;
    // Nobody listens at 127.0.0.1:2001.
    let status = c.announce_group(announce(1, 1, 1, 3)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains(
            "the announced leader did not answer as the leader of that group at that epoch"
        ),
        "{status:?}"
    );
    assert!(group_entry(c, &id(1)).await.is_none());
    let overlay = c
        .get_overlay(pb::GetOverlayRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(overlay.groups.is_empty(), "{overlay:?}");
}

#[tokio::test]
async fn a_forged_takeover_of_a_group_is_refused_and_the_entry_keeps_its_leader() {
    let mut rv = start(config(Duration::from_secs(60))).await;
    let c = &mut rv.client;
    let leader = Peer::start(11, &[]).await;
    let view = leader.leading(|_| true).await;
    // The real leader's announcement is taken.
    let reply = c
        .announce_group(announce_view(&view, 1))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.superseded_by.is_none());
    let before = group_entry(c, &view.group_id).await.unwrap();
    assert_eq!(leader_id(&before), id(11));

    // A made-up leader at a dead address, and a real peer that leads another group, each
    // claiming the group one epoch on; and the real leader's id at the forger's address.
    let other = Peer::start(12, &[]).await;
    let other_view = other.leading(|_| true).await;
    let forged = |leader: pb::PeerRef| {
        announce_view(
            &pb::GroupView {
                epoch: view.epoch + 1,
                leader: Some(leader),
                ..view.clone()
            },
            1,
        )
    };
    let cases = [
        ("fake leader", forged(peer(99))),
        (
            "another group's leader",
            forged(other_view.leader.clone().unwrap()),
        ),
        (
            "the real leader's id elsewhere",
            forged(pb::PeerRef {
                peer_id: id(11),
                addr: "127.0.0.1:1".into(),
            }),
        ),
        (
            "the real leader at an epoch it never reached",
            forged(view.leader.clone().unwrap()),
        ),
        (
            "a forged end",
            pb::AnnounceGroupRequest {
                ended: true,
                ..announce_view(
                    &pb::GroupView {
                        leader: Some(pb::PeerRef {
                            peer_id: id(11),
                            addr: "127.0.0.1:1".into(),
                        }),
                        ..view.clone()
                    },
                    0,
                )
            },
        ),
    ];
    for (case, request) in cases {
        let status = c.announce_group(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{case}: {status:?}"
        );
        let after = group_entry(c, &view.group_id).await.unwrap();
        assert_eq!(after, before, "{case}: the entry is unchanged");
    }
    // The real leader's refresh is still taken (no check needed).
    c.announce_group(announce_view(&view, 2)).await.unwrap();
    assert_eq!(
        group_entry(c, &view.group_id).await.unwrap().member_count,
        2
    );
}

#[tokio::test]
async fn a_peer_announces_its_group_and_its_end_and_both_pass_the_check() {
    async fn next(events: &mut tonic::Streaming<pb::OverlayEvent>) -> pb::OverlayEvent {
        tokio::time::timeout(Duration::from_secs(10), events.message())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .unwrap()
    }
    let mut rv = start(config(Duration::from_secs(60))).await;
    let c = &mut rv.client;
    let mut events = c
        .watch_overlay(pb::WatchOverlayRequest::default())
        .await
        .unwrap()
        .into_inner();
    let lone = Peer::start_with(31, &[], &[rv.addr.clone()]).await;
    let view = lone.leading(|_| true).await;
    let created = next(&mut events).await;
    assert_eq!(created.group_id, view.group_id);
    assert!(
        matches!(created.kind, Some(pb::overlay_event::Kind::Created(_))),
        "{created:?}"
    );
    // Leaving, the last member ends its group; the end passes the check (its leader no longer
    // answers as the leader), long before the 60 s TTL could explain it.
    lone.stop().await;
    let ended = next(&mut events).await;
    assert_eq!(ended.group_id, view.group_id);
    let Some(pb::overlay_event::Kind::Ended(e)) = ended.kind else {
        panic!("{ended:?}")
    };
    assert_eq!(e.reason, pb::GroupEndReason::Ended as i32);
    assert!(group_entry(c, &view.group_id).await.is_none());
}

#[tokio::test]
async fn checks_run_outside_the_lock_under_a_deadline_and_a_cap() {
    let rv = start(locus_rendezvous::Config {
        check_timeout: Duration::from_millis(1500),
        max_checks_in_flight: 1,
        ..config(Duration::from_secs(60))
    })
    .await;
    // A listener that never accepts: the connection opens (the kernel's backlog) and the
    // HTTP/2 handshake never completes, so the check hangs until its deadline.
    let hole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap().to_string();
    let mut hung = announce(21, 21, 1, 1);
    hung.caller.as_mut().unwrap().addr = hole_addr.clone();
    hung.group.as_mut().unwrap().leader.as_mut().unwrap().addr = hole_addr;
    let mut c = rv.client.clone();
    let started = tokio::time::Instant::now();
    let first = tokio::spawn(async move { c.announce_group(hung).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut c = rv.client.clone();
    // The directory answers meanwhile.
    tokio::time::timeout(
        Duration::from_millis(500),
        c.get_overlay(pb::GetOverlayRequest::default()),
    )
    .await
    .expect("the directory answers while a check is under way")
    .unwrap();
    // A second check is one too many.
    let status = c.announce_group(announce(22, 22, 1, 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    let status = first.await.unwrap().unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "the check ends at its deadline: {took:?}"
    );
    // The slot is free again.
    let status = c.announce_group(announce(23, 23, 1, 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    drop(hole);
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
    let leader = Peer::start(1, &[]).await;
    let view = leader.leading(|_| true).await;
    c.announce_group(announce_view(&view, 2)).await.unwrap();
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
                    max: 1,
                    landmarks: false,
                    near: vec![],
                    shortcut_for: Default::default(),
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
                    caller: bad_caller.clone(),
                    ..Default::default()
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
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
        })
        .await
        .unwrap();
    assert!(boot.into_inner().groups.is_empty());
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_only_the_served_services() {
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
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    // Exactly what it serves: the schema's PeerService is a peer's, not the rendezvous'.
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "locus.v1.Rendezvous",
        ],
    );

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
        // 16,000 announcements from one leader, not to be refused for their pace.
        write_rate: 1_000_000,
        write_burst: 1_000_000,
        ..config(Duration::from_secs(60))
    })
    .await;
    let mut c = rv.client.clone();
    // A subscriber with small HTTP/2 windows, so that it holds little of what it does not read.
    let small = Channel::from_shared(format!("http://{}", rv.addr))
        .unwrap()
        .initial_stream_window_size(Some(65_535))
        .initial_connection_window_size(Some(65_535))
        .connect_lazy();
    let mut events = RendezvousClient::new(small)
        .watch_overlay(pb::WatchOverlayRequest::default())
        .await
        .unwrap()
        .into_inner();
    // One real group whose member count changes with every announcement: a refresh, no check
    // each time. Far more changes than the buffers hold (broadcast, per-subscriber queue, the
    // HTTP/2 windows and send buffer), while the subscriber reads nothing.
    let leader = Peer::start(1, &[]).await;
    let view = leader.leading(|_| true).await;
    c.announce_group(announce_view(&view, 1)).await.unwrap();
    const CHANGES: u32 = 16_000;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8u32 {
        let mut c = c.clone();
        let view = view.clone();
        writers.spawn(async move {
            for g in (w * CHANGES / 8)..(w + 1) * CHANGES / 8 {
                c.announce_group(announce_view(&view, 2 + g % 4000))
                    .await
                    .unwrap();
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
    assert!(received < CHANGES);
    // The service goes on.
    c.get_overlay(pb::GetOverlayRequest::default())
        .await
        .unwrap();
}

/// `limits.max_calls_in_flight` bounds the handlers under way across all connections: past it
/// a call is refused at once with RESOURCE_EXHAUSTED instead of queueing, and served again as
/// soon as a place frees. Announcements have places of their own, apart from the reads: a
/// stuck announcement sheds the next announcement, not a boot list.
#[tokio::test]
async fn calls_past_the_process_limit_are_shed_at_once_and_served_when_a_place_frees() {
    let mut config = config(Duration::from_secs(30));
    config.limits.max_calls_in_flight = 1;
    config.check_timeout = Duration::from_secs(2);
    let rv = start(config).await;
    // A "leader" that accepts connections and never answers: the announcement's check holds
    // its handler until the check's deadline.
    let blackhole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole = blackhole.local_addr().unwrap().to_string();
    let (accepted_tx, accepted) = oneshot::channel();
    tokio::spawn(async move {
        let (socket, _) = blackhole.accept().await.unwrap();
        let _ = accepted_tx.send(());
        let _keep = socket;
        std::future::pending::<()>().await;
    });
    let mut stuck = rv.client.clone();
    let held = tokio::spawn(async move {
        let mut request = announce(1, 2, 1, 1);
        let leader = pb::PeerRef {
            peer_id: id(2),
            addr: hole,
        };
        request.caller = Some(leader.clone());
        request.group.as_mut().unwrap().leader = Some(leader);
        stuck.announce_group(request).await
    });
    accepted.await.unwrap();
    // The announcements' one place is taken (the announcement waits on its check): the next
    // announcement, on another connection, is shed at once; a read is not.
    let other = Channel::from_shared(format!("http://{}", rv.addr))
        .unwrap()
        .connect_lazy();
    let mut other = RendezvousClient::new(other);
    let shed = other
        .announce_group(announce(3, 4, 1, 1))
        .await
        .unwrap_err();
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(shed.message().contains("max_calls_in_flight"), "{shed:?}");
    other
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 0,
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
        })
        .await
        .expect("reads have places of their own");
    let refused = held.await.unwrap().unwrap_err();
    assert_ne!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Its place is free again: the next announcement is judged (its leader does not answer),
    // not shed.
    let judged = other
        .announce_group(announce(3, 4, 1, 1))
        .await
        .unwrap_err();
    assert_ne!(judged.code(), Code::ResourceExhausted, "{judged:?}");
}

/// The RTTs `rtts` (landmark group, ms) as the wire carries them.
fn landmark_rtts(rtts: &[(&str, u64)]) -> Vec<pb::LandmarkRtt> {
    rtts.iter()
        .map(|(g, ms)| pb::LandmarkRtt {
            group_id: g.to_string(),
            rtt_us: ms * 1_000,
        })
        .collect()
}

#[tokio::test]
async fn boot_lists_start_with_the_landmarks_and_rank_groups_by_landmark_rtts() {
    let mut rv = start(config(Duration::from_secs(60))).await;
    let c = &mut rv.client;
    // Five real leaders of five groups, announced with the RTTs their walks would have
    // measured to groups 1–3.
    let mut leaders = Vec::new();
    let mut views = Vec::new();
    for n in 1..=5u128 {
        let p = Peer::start(n, &[]).await;
        views.push(p.leading(|_| true).await);
        leaders.push(p);
    }
    let g: Vec<String> = views.iter().map(|v| v.group_id.clone()).collect();
    let positions: [&[u64]; 5] = [
        &[0, 40, 80],
        &[40, 0, 60],
        &[80, 60, 0],
        &[12, 45, 85],
        &[70, 30, 20],
    ];
    for (v, rtts) in views.iter().zip(positions) {
        let mut a = announce_view(v, 3);
        a.landmarks = landmark_rtts(&[(&g[0], rtts[0]), (&g[1], rtts[1]), (&g[2], rtts[2])]);
        c.announce_group(a).await.unwrap();
    }
    let list = |reply: pb::GetBootListReply| -> Vec<String> {
        reply.groups.into_iter().map(|v| v.group_id).collect()
    };
    // Every group is a landmark while the directory holds fewer than eight.
    let first = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 5,
            landmarks: true,
            near: vec![],
            shortcut_for: Default::default(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut first = list(first);
    first.sort();
    let mut all = g.clone();
    all.sort();
    assert_eq!(first, all);
    // A peer 10 ms from group 1's leader, 48 from group 2's, 88 from group 3's: group 4 (bound
    // 3 ms) before group 5 (68 ms); the landmarks it measured are left out.
    let near = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 8,
            landmarks: false,
            near: landmark_rtts(&[(&g[0], 10), (&g[1], 48), (&g[2], 88)]),
            shortcut_for: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list(near), vec![g[3].clone(), g[4].clone()]);
    // More RTTs than a request may carry: refused, naming the field.
    let err = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 8,
            landmarks: false,
            near: landmark_rtts(&vec![(g[0].as_str(), 10); 17]),
            shortcut_for: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("near"), "{err:?}");
    // A shortcut asked for a group id that is none: refused, naming the field.
    let err = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 8,
            landmarks: false,
            near: vec![],
            shortcut_for: "not-a-group".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("shortcut_for"), "{err:?}");
    // For a group it holds, the groups the overlay reaches the long way round: no group
    // announced a link, so every other group (each with a position) is one.
    let shortcut = c
        .get_boot_list(pb::GetBootListRequest {
            caller: None,
            max: 8,
            landmarks: false,
            near: vec![],
            shortcut_for: g[3].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut shortcut = list(shortcut);
    shortcut.sort();
    let mut others: Vec<String> = g.iter().filter(|x| **x != g[3]).cloned().collect();
    others.sort();
    assert_eq!(shortcut, others);
    for p in leaders {
        p.stop().await;
    }
}
