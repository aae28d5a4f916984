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
