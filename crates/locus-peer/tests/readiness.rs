//! Readiness: a peer's `locus.v1.PeerService` health is NOT_SERVING until the peer is in a
//! group, then SERVING; the server as a whole (`""`) serves from the start.

use locus_tests::loopback as common;

use std::time::Duration;

use common::{channel, eventually, peer, peer_id};
use tokio::net::TcpListener;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn health(addr: &str, service: &str) -> Result<ServingStatus, String> {
    let reply = HealthClient::new(channel(addr).await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map_err(|s| s.to_string())?
        .into_inner();
    Ok(ServingStatus::try_from(reply.status).unwrap_or(ServingStatus::Unknown))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_is_ready_only_once_it_is_in_a_group() {
    // A rendezvous that accepts connections and never answers: the peer's boot list calls
    // run into their deadline (1 s with the `test` preset), it backs off once and walks again,
    // so it is in no group for at least two seconds, then founds one of its own.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let p = peer(peer_id(900), "eu", &[silent_addr], &[]).await;

    assert_eq!(
        health(&p.addr, "locus.v1.PeerService").await,
        Ok(ServingStatus::NotServing),
        "a peer still walking has no group to answer for"
    );
    assert_eq!(
        health(&p.addr, "").await,
        Ok(ServingStatus::Serving),
        "the server itself is up"
    );
    eventually(
        "the peer founds a group and becomes ready",
        Duration::from_secs(30),
        || async {
            match health(&p.addr, "locus.v1.PeerService").await? {
                ServingStatus::Serving => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    p.stop().await;
    drop(silent);
}

/// A new peer whose rendezvous is down (here: it accepts connections and never answers, the
/// slowest kind of down) joins through its bootstrap peer within about one request deadline
/// (1 s with the `test` preset): it asks every boot source at once, so the dead one costs it
/// the deadline, not a wait before the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_peer_joins_through_its_bootstrap_peer_while_the_rendezvous_is_down() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let first = peer(peer_id(910), "eu", &[], &[]).await;
    let group = eventually(
        "the first peer founds a group",
        Duration::from_secs(10),
        || async {
            common::status(&first.addr)
                .await
                .and_then(|s| s.group)
                .map(|g| g.group_id)
                .ok_or_else(|| "no group yet".to_string())
        },
    )
    .await;
    let started = tokio::time::Instant::now();
    let newcomer = peer(
        peer_id(911),
        "eu",
        &[silent_addr],
        std::slice::from_ref(&first.addr),
    )
    .await;
    let joined = eventually(
        "the newcomer joins the first peer's group",
        Duration::from_secs(10),
        || async {
            let g = common::status(&newcomer.addr)
                .await
                .and_then(|s| s.group)
                .map(|g| g.group_id);
            if g.as_ref() == Some(&group) {
                Ok(started.elapsed())
            } else {
                Err(format!("{g:?}"))
            }
        },
    )
    .await;
    println!("joined through the bootstrap peer in {joined:?} with the rendezvous down");
    // One request deadline (1 s) for the dead rendezvous, then the walk; well under the
    // several back-offs (1 s each) a peer that waited on the rendezvous alone would spend.
    assert!(joined < Duration::from_secs(4), "joined after {joined:?}");
    newcomer.stop().await;
    first.stop().await;
    drop(silent);
}
