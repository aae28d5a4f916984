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
