//! Addresses that messages name are dialled only where the policy allows (docs/security.md,
//! "Addresses"): a peer configured for a public network does not dial a loopback address
//! that a boot list or a flood hands it, while the addresses its operator configured still
//! work.

use locus_tests::loopback as common;

use std::time::Duration;

use common::{eventually, peer_id, rendezvous};
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_service::tls::{self, ClientTls, Expect, Policy};

#[tokio::test]
async fn the_dialler_refuses_loopback_unless_private_addresses_are_allowed() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let a = common::peer(peer_id(1), "eu", std::slice::from_ref(&rv.addr), &[]).await;
    let call = |policy| {
        let addr = a.addr.clone();
        async move {
            let channel = tls::lazy_channel_with(
                &ClientTls::Plaintext,
                &addr,
                Expect::AnyPeer,
                Duration::from_secs(2),
                policy,
            )
            .unwrap();
            PeerServiceClient::new(channel)
                .get_status(pb::GetStatusRequest { caller: None })
                .await
        }
    };
    let e = call(Policy::default()).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("loopback address"),
        "refused for another reason: {e:?}"
    );
    assert!(
        call(Policy {
            allow_private: true
        })
        .await
        .is_ok()
    );
    a.stop().await;
    rv.stop().await;
}

#[tokio::test]
async fn a_peer_does_not_dial_the_loopback_peers_a_boot_list_names() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let rvs = std::slice::from_ref(&rv.addr);
    let a = common::peer(peer_id(1), "eu", rvs, &[]).await;
    let group_of = |addr: String| async move {
        common::status(&addr)
            .await
            .and_then(|s| s.group)
            .map(|g| g.group_id)
            .ok_or_else(|| format!("{addr} is in no group"))
    };
    let ga = eventually("a founds its group", Duration::from_secs(30), || {
        group_of(a.addr.clone())
    })
    .await;
    eventually(
        "the rendezvous lists it",
        Duration::from_secs(30),
        || async {
            common::listed_groups(&rv.addr)
                .await?
                .iter()
                .any(|g| g.group_id == ga)
                .then_some(())
                .ok_or_else(|| "not listed".to_string())
        },
    )
    .await;

    // b, in the same region, reaches the rendezvous (its own setting) but may not dial the
    // loopback leader the boot list names: it founds a group of its own.
    let b = common::peer_with_config(peer_id(2), "eu", rvs, |c| {
        c.allow_private_addresses = false;
    })
    .await;
    let gb = eventually("b is in a group", Duration::from_secs(30), || {
        group_of(b.addr.clone())
    })
    .await;
    assert_ne!(
        gb, ga,
        "b joined a group whose leader it was not allowed to dial"
    );
    // c, allowed, joins a's group as usual (a's group may by then have merged with b's,
    // since a may dial b).
    let c = common::peer(peer_id(3), "eu", rvs, &[]).await;
    eventually("c is in a's group", Duration::from_secs(30), || async {
        let gc = group_of(c.addr.clone()).await?;
        let ga = group_of(a.addr.clone()).await?;
        (gc == ga)
            .then_some(())
            .ok_or_else(|| format!("c is in {gc}, a in {ga}"))
    })
    .await;
    for s in [a, b, c] {
        s.stop().await;
    }
    rv.stop().await;
}
