//! The server limits (docs/operations.md, "Server limits"): a handler that outlives the
//! server's request deadline ends, whoever the caller is, and calls within it are served.

use locus_tests::loopback as common;

use std::time::Duration;

use common::peer_id;
use locus_peer::emulation::SITE_METADATA_KEY;
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use tonic::Code;

#[tokio::test]
async fn a_call_past_the_servers_request_deadline_ends() {
    // A peer in eu whose handlers may take 100 ms; a Measure from asia waits out the emulated
    // 175 ms of distance inside the server, one from eu 2 ms.
    let p = common::peer_with_config(peer_id(1), "eu", &[], |c| {
        c.limits.request_timeout = Duration::from_millis(100);
    })
    .await;
    let channel = common::channel(&p.addr).await;
    let measure = |site: &'static str| {
        let mut client = PeerServiceClient::new(channel.clone());
        async move {
            let mut request = tonic::Request::new(pb::MeasureRequest { caller: None });
            request
                .metadata_mut()
                .insert(SITE_METADATA_KEY, site.parse().unwrap());
            client.measure(request).await
        }
    };
    let e = measure("asia").await.unwrap_err();
    assert_eq!(e.code(), Code::Cancelled, "{e:?}");
    assert!(measure("eu").await.is_ok());
    p.stop().await;
}

/// Liveness traffic is not starved by a flood on the same peer: while one caller saturates a
/// leader's `Measure` past its process-wide limit (16 calls here), its member's `Alive` calls
/// and refreshes have places of their own, so the member keeps its leader and the group its
/// epoch — with `Alive` shed, the member would find its leader silent within 1.5 s
/// (`alive_timeout`) and start an election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_measure_is_flooded_keeps_its_group() {
    let rv = common::rendezvous(Duration::from_secs(3)).await;
    let rendezvous = [rv.addr.clone()];
    let leader = common::peer_with_config(peer_id(1), "eu", &rendezvous, |c| {
        c.limits.max_calls_in_flight = 16;
    })
    .await;
    let member = common::peer_with_config(peer_id(2), "eu", &rendezvous, |c| {
        c.bootstrap = vec![leader.addr.clone()];
    })
    .await;
    let group = |s: &pb::GetStatusReply| s.group.as_ref().map(|g| (g.group_id.clone(), g.epoch));
    let before = common::eventually(
        "the member joins the leader's group",
        Duration::from_secs(20),
        || async {
            let (l, m) = (
                common::status(&leader.addr).await,
                common::status(&member.addr).await,
            );
            match (l, m) {
                (Some(l), Some(m))
                    if l.role == pb::Role::Leader as i32
                        && m.role == pb::Role::Member as i32
                        && group(&l).is_some()
                        && group(&l) == group(&m) =>
                {
                    Ok(group(&l).unwrap())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    // 64 callers on 4 connections, each calling Measure again as soon as a call ends (20 ms
    // after a refusal, so that the flood holds every place without also taking every core
    // of the process the peers share) for 5 s: more than three
    // alive timeouts.
    let stop_at = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut flood = tokio::task::JoinSet::new();
    for c in 0..4 {
        let channel = common::channel(&leader.addr).await;
        for _ in 0..16 {
            let mut client = PeerServiceClient::new(channel.clone());
            let _ = c;
            flood.spawn(async move {
                let (mut ok, mut shed) = (0u64, 0u64);
                while tokio::time::Instant::now() < stop_at {
                    // From asia: each call waits out the emulated 175 ms inside the leader,
                    // holding its place, so the places stay taken.
                    let mut request = tonic::Request::new(pb::MeasureRequest { caller: None });
                    request
                        .metadata_mut()
                        .insert(SITE_METADATA_KEY, "asia".parse().unwrap());
                    match client.measure(request).await {
                        Ok(_) => ok += 1,
                        Err(e) if e.code() == Code::ResourceExhausted => {
                            shed += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(_) => {}
                    }
                }
                (ok, shed)
            });
        }
    }
    let (mut ok, mut shed) = (0, 0);
    for (o, s) in flood.join_all().await {
        ok += o;
        shed += s;
    }
    println!("flood: {ok} Measure calls served, {shed} shed");
    assert!(
        shed > 0,
        "the flood went past the limit ({ok} served, none shed)"
    );

    let (l, m) = (
        common::status(&leader.addr)
            .await
            .expect("the leader answers"),
        common::status(&member.addr)
            .await
            .expect("the member answers"),
    );
    assert_eq!(l.role, pb::Role::Leader as i32, "{l:?}");
    assert_eq!(m.role, pb::Role::Member as i32, "{m:?}");
    assert_eq!(
        group(&l),
        Some(before.clone()),
        "the group kept its leader and epoch"
    );
    assert_eq!(group(&m), Some(before), "the member kept its group");
    member.stop().await;
    leader.stop().await;
    rv.stop().await;
}
