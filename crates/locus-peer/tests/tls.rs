//! Mutual TLS against a live loopback cluster, with certificates made in the test
//! (docs/security.md): who may connect, whose word the directory takes, and a peer that keeps
//! its group while its certificate is renewed under it.

use locus_tests::loopback as common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Server, THREE_REGIONS, eventually};
use locus_core::PeerId;
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::pki::{self, Ca, Validity};
use locus_service::tls::{self, ClientTls, Credentials, Expect, Identity};
use locus_topology::{SiteSpec, Topology};
use tokio::net::TcpListener;
use tonic::Code;

const CONVERGE: Duration = Duration::from_secs(60);

/// A cluster's CA and join token, in files of a fresh directory.
struct Pki {
    dir: PathBuf,
    ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!("locus-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::create("test", pki::DEFAULT_CA_TTL).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.join("ca-key.pem"), ca.key_pem()).unwrap();
        let token = pki::new_token();
        std::fs::write(dir.join("tokens"), format!("{token}\n")).unwrap();
        std::fs::write(dir.join("token"), &token).unwrap();
        Pki { dir, ca }
    }

    /// Mutual TLS as `identity`, valid during `validity`.
    fn client_as(&self, identity: &Identity, validity: Validity) -> ClientTls {
        let issued = self.ca.issue(identity, &[], validity).unwrap();
        let creds =
            Credentials::new(self.ca.cert_pem(), &issued.cert_pem, &issued.key_pem).unwrap();
        ClientTls::Tls(creds.client_config().unwrap())
    }

    fn operator(&self) -> ClientTls {
        self.client_as(
            &Identity::Operator("test".into()),
            Validity::for_ttl(Duration::from_secs(3600)),
        )
    }

    fn peer(&self, id: PeerId) -> ClientTls {
        self.client_as(
            &Identity::Peer(id),
            Validity::for_ttl(Duration::from_secs(3600)),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn spawn<F, Fut>(run: F) -> Server
where
    F: FnOnce(TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    common::spawn(run).await
}

/// A TLS rendezvous issuing certificates valid `cert_ttl`.
async fn rendezvous(pki: &Pki, cert_ttl: Duration) -> Server {
    rendezvous_with(pki, cert_ttl, |_| {}).await
}

/// [`rendezvous`], its configuration changed by `change` first.
async fn rendezvous_with(
    pki: &Pki,
    cert_ttl: Duration,
    change: impl FnOnce(&mut locus_rendezvous::Config),
) -> Server {
    let mut config = locus_rendezvous::Config {
        entry_ttl: Duration::from_secs(3),
        seed: 1,
        metrics_listen: None,
        tls: Some(locus_rendezvous::config::Tls {
            ca: pki.dir.join("ca.pem"),
            ca_key: pki.dir.join("ca-key.pem"),
            tokens: Some(pki.dir.join("tokens")),
            name: "rv".into(),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            cert_ttl,
        }),
        ..Default::default()
    };
    change(&mut config);
    spawn(|listener, stopped| async move {
        locus_rendezvous::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    })
    .await
}

/// A peer in `region` that enrolls with the join token.
async fn peer(pki: &Pki, region: &str, rendezvous: &str) -> Server {
    let topology = Arc::new(Topology::parse(THREE_REGIONS).unwrap());
    let mut config = locus_peer::Config::new(common::protocol());
    config.rendezvous = vec![rendezvous.to_string()];
    config.emulation = Some((topology, SiteSpec::Named(region.into())));
    config.leave_grace = Duration::from_secs(1);
    config.tls = Some(locus_peer::config::Tls {
        ca: pki.dir.join("ca.pem"),
        identity: locus_peer::config::IdentitySource::Enroll {
            token_file: pki.dir.join("token"),
        },
    });
    spawn(|listener, stopped| async move {
        locus_peer::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    })
    .await
}

fn channel(tls: &ClientTls, addr: &str, expect: Expect) -> tonic::transport::Channel {
    tls::lazy_channel(tls, addr, expect, Duration::from_secs(2)).unwrap()
}

async fn status(
    tls: &ClientTls,
    addr: &str,
    caller: Option<pb::PeerRef>,
) -> Result<pb::GetStatusReply, tonic::Status> {
    let mut c = PeerServiceClient::new(channel(tls, addr, Expect::AnyPeer));
    c.get_status(pb::GetStatusRequest { caller })
        .await
        .map(|r| r.into_inner())
}

async fn overlay(tls: &ClientTls, addr: &str) -> Result<pb::GetOverlayReply, tonic::Status> {
    let mut c = RendezvousClient::new(channel(tls, addr, Expect::Rendezvous));
    c.get_overlay(pb::GetOverlayRequest {
        caller: None,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

/// The group and leader a peer reports, once it is in one.
async fn in_group(tls: &ClientTls, addr: &str) -> Result<(String, String), String> {
    let s = status(tls, addr, None).await.map_err(|e| e.to_string())?;
    let g = s.group.ok_or("in no group")?;
    Ok((g.group_id, g.leader.map(|l| l.peer_id).unwrap_or_default()))
}

fn pb_ref(id: PeerId, addr: &str) -> pb::PeerRef {
    pb::PeerRef {
        peer_id: id.0.to_string(),
        addr: addr.to_string(),
    }
}

#[tokio::test]
async fn a_handshake_needs_a_certificate_of_the_cluster_ca_that_has_not_expired() {
    let pki = Pki::new();
    let rv = rendezvous(&pki, pki::DEFAULT_CERT_TTL).await;
    let p = peer(&pki, "eu", &rv.addr).await;
    let operator = pki.operator();
    eventually("the peer is in a group", CONVERGE, || {
        in_group(&operator, &p.addr)
    })
    .await;

    // The operator's certificate reads both.
    assert!(overlay(&operator, &rv.addr).await.is_ok());

    // No certificate: the peer refuses the handshake; the rendezvous, which lets such clients
    // enroll, refuses every read.
    let anonymous = ClientTls::Tls(tls::anonymous_client_config(pki.ca.cert_pem()).unwrap());
    let e = status(&anonymous, &p.addr, None).await.unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert_ne!(
        e.code(),
        Code::Unauthenticated,
        "{e}: refused at the handshake, not by a handler"
    );
    let e = overlay(&anonymous, &rv.addr).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e}");

    // Plaintext: nothing answers.
    assert!(status(&ClientTls::Plaintext, &p.addr, None).await.is_err());
    assert!(overlay(&ClientTls::Plaintext, &rv.addr).await.is_err());

    // A certificate of another CA, even naming an operator: refused by both at the handshake.
    let other = Pki::new();
    let stranger = {
        let issued = other
            .ca
            .issue(
                &Identity::Operator("test".into()),
                &[],
                Validity::for_ttl(Duration::from_secs(3600)),
            )
            .unwrap();
        // It trusts our CA, so that only its own certificate is at fault.
        let creds = Credentials::new(pki.ca.cert_pem(), &issued.cert_pem, &issued.key_pem).unwrap();
        ClientTls::Tls(creds.client_config().unwrap())
    };
    assert!(status(&stranger, &p.addr, None).await.is_err());
    let e = overlay(&stranger, &rv.addr).await.unwrap_err();
    assert_ne!(
        e.code(),
        Code::Unauthenticated,
        "{e}: refused at the handshake"
    );

    // An expired certificate of the right CA: refused by both.
    let now = SystemTime::now();
    let expired = pki.client_as(
        &Identity::Operator("test".into()),
        Validity {
            not_before: now - Duration::from_secs(7200),
            not_after: now - Duration::from_secs(3600),
        },
    );
    assert!(status(&expired, &p.addr, None).await.is_err());
    assert!(overlay(&expired, &rv.addr).await.is_err());

    // The client checks the server too: the peer is not the peer another id names.
    let mut c = PeerServiceClient::new(channel(
        &operator,
        &p.addr,
        Expect::Peer(common::peer_id(9)),
    ));
    let e = c
        .get_status(pb::GetStatusRequest { caller: None })
        .await
        .unwrap_err();
    assert_ne!(e.code(), Code::Ok);

    p.stop().await;
    rv.stop().await;
}

#[tokio::test]
async fn identities_come_from_certificates_not_from_the_caller_field() {
    let pki = Pki::new();
    let rv = rendezvous(&pki, pki::DEFAULT_CERT_TTL).await;
    let p = peer(&pki, "eu", &rv.addr).await;
    let operator = pki.operator();
    eventually("the peer is in a group", CONVERGE, || {
        in_group(&operator, &p.addr)
    })
    .await;

    let me = common::peer_id(1);
    let someone = common::peer_id(2);
    let as_me = pki.peer(me);
    // Naming itself: served; naming another peer: PERMISSION_DENIED, at the peer and the
    // rendezvous.
    assert!(
        status(&as_me, &p.addr, Some(pb_ref(me, "127.0.0.1:1")))
            .await
            .is_ok()
    );
    let e = status(&as_me, &p.addr, Some(pb_ref(someone, "127.0.0.1:1")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let mut c = RendezvousClient::new(channel(&as_me, &rv.addr, Expect::Rendezvous));
    let e = c
        .get_boot_list(pb::GetBootListRequest {
            caller: Some(pb_ref(someone, "127.0.0.1:1")),
            max: 0,
            landmarks: false,
            near: vec![],
            shortcut_for: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");

    // An operator reads, but cannot speak as a peer: it names no caller, and Alive, NewLeader,
    // Leave and the connect RPCs need a peer's certificate.
    let e = status(&operator, &p.addr, Some(pb_ref(someone, "127.0.0.1:1")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let mut c = PeerServiceClient::new(channel(&operator, &p.addr, Expect::AnyPeer));
    let e = c
        .leave(pb::LeaveRequest {
            caller: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    // The peer is where it was.
    assert!(in_group(&operator, &p.addr).await.is_ok());

    p.stop().await;
    rv.stop().await;
}

fn view(
    group: &str,
    leader: PeerId,
    addr: &str,
    epoch: u64,
    successors: &[PeerId],
) -> pb::GroupView {
    pb::GroupView {
        group_id: group.to_string(),
        epoch,
        leader: Some(pb_ref(leader, addr)),
        successors: successors
            .iter()
            .map(|s| pb_ref(*s, "127.0.0.1:9"))
            .collect(),
        member_count: 1 + successors.len() as u32,
    }
}

async fn announce(
    tls: &ClientTls,
    rv: &str,
    caller: PeerId,
    group: pb::GroupView,
    ended: bool,
) -> Result<pb::AnnounceGroupReply, tonic::Status> {
    let mut c = RendezvousClient::new(channel(tls, rv, Expect::Rendezvous));
    c.announce_group(pb::AnnounceGroupRequest {
        caller: Some(pb_ref(caller, "127.0.0.1:9")),
        group: Some(group),
        neighbors: vec![],
        ended,
        partition_group_ids: vec![],
        landmarks: vec![],
    })
    .await
    .map(|r| r.into_inner())
}

async fn entry(operator: &ClientTls, rv: &str, group: &str) -> Option<(String, u64)> {
    let o = overlay(operator, rv).await.ok()?;
    o.groups
        .into_iter()
        .filter_map(|e| e.group)
        .find(|g| g.group_id == group)
        .map(|g| (g.leader.map(|l| l.peer_id).unwrap_or_default(), g.epoch))
}

#[tokio::test]
async fn only_a_groups_authenticated_leader_changes_its_entry() {
    let pki = Pki::new();
    let rv = rendezvous(&pki, pki::DEFAULT_CERT_TTL).await;
    let operator = pki.operator();
    let (a, b, c) = (common::peer_id(1), common::peer_id(2), common::peer_id(3));
    let (as_a, as_b, as_c) = (pki.peer(a), pki.peer(b), pki.peer(c));
    let g = uuid::Uuid::new_v4().to_string();
    // A leads g, with b as its successor; a's address answers nothing (it will have crashed).
    let gone = "127.0.0.1:9";

    // c announces a group it does not lead: refused, and nothing is listed.
    let e = announce(&as_c, &rv.addr, c, view(&g, a, gone, 1, &[b]), false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    assert_eq!(entry(&operator, &rv.addr, &g).await, None);

    announce(&as_a, &rv.addr, a, view(&g, a, gone, 1, &[b]), false)
        .await
        .unwrap();
    assert_eq!(
        entry(&operator, &rv.addr, &g).await,
        Some((a.0.to_string(), 1))
    );

    // One identity, one group.
    let g2 = uuid::Uuid::new_v4().to_string();
    let e = announce(&as_a, &rv.addr, a, view(&g2, a, gone, 1, &[]), false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    assert_eq!(entry(&operator, &rv.addr, &g2).await, None);

    // A non-leader cannot end it.
    let e = announce(&as_c, &rv.addr, c, view(&g, c, gone, 1, &[]), true)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    assert_eq!(
        entry(&operator, &rv.addr, &g).await,
        Some((a.0.to_string(), 1))
    );

    // After a's crash its listed successor takes over at epoch + 1.
    announce(&as_b, &rv.addr, b, view(&g, b, gone, 2, &[]), false)
        .await
        .unwrap();
    assert_eq!(
        entry(&operator, &rv.addr, &g).await,
        Some((b.0.to_string(), 2))
    );

    // A real leader that answers cannot be displaced by a peer it does not list.
    let p = peer(&pki, "eu", &rv.addr).await;
    let (pg, leader) = eventually("the peer leads its group", CONVERGE, || async {
        let (group, leader) = in_group(&operator, &p.addr).await?;
        entry(&operator, &rv.addr, &group)
            .await
            .filter(|(l, _)| *l == leader)
            .map(|_| (group, leader))
            .ok_or_else(|| "not listed yet".to_string())
    })
    .await;
    let (_, epoch) = entry(&operator, &rv.addr, &pg).await.unwrap();
    let e = announce(
        &as_c,
        &rv.addr,
        c,
        view(&pg, c, gone, epoch + 1, &[]),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    assert_eq!(entry(&operator, &rv.addr, &pg).await, Some((leader, epoch)));

    // Its current leader ends b's group; then b may found another.
    announce(&as_b, &rv.addr, b, view(&g, b, gone, 2, &[]), true)
        .await
        .unwrap();
    assert_eq!(entry(&operator, &rv.addr, &g).await, None);
    announce(&as_b, &rv.addr, b, view(&g2, b, gone, 1, &[]), false)
        .await
        .unwrap();
    assert_eq!(
        entry(&operator, &rv.addr, &g2).await,
        Some((b.0.to_string(), 1))
    );

    p.stop().await;
    rv.stop().await;
}

/// When the certificate a server presents to a new connection stops being valid.
async fn presented_not_after(client: &ClientTls, addr: &str) -> Result<SystemTime, String> {
    let ClientTls::Tls(config) = client else {
        return Err("plaintext".into());
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from(pki::SERVER_NAME).unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let cert = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(pki::identity_of(&cert).map_err(|e| e.to_string())?.1)
}

#[tokio::test]
async fn renewal_keeps_a_long_running_peer_in_its_group() {
    let pki = Pki::new();
    // Certificates of 4 s: each is renewed after about 2.7 s.
    let ttl = Duration::from_secs(4);
    let rv = rendezvous(&pki, ttl).await;
    let first = peer(&pki, "eu", &rv.addr).await;
    let second = peer(&pki, "eu", &rv.addr).await;
    let operator = pki.operator();
    let both = || async {
        let a = in_group(&operator, &first.addr).await?;
        let b = in_group(&operator, &second.addr).await?;
        if a.0 == b.0 {
            Ok(a)
        } else {
            Err(format!("two groups: {a:?} and {b:?}"))
        }
    };
    let before = eventually("both peers in one group", CONVERGE, both).await;
    let issued = presented_not_after(&operator, &first.addr).await.unwrap();

    // Three lifetimes: every certificate of the start has long expired.
    tokio::time::sleep(ttl * 3).await;

    // New connections succeed, so each server presents a certificate valid now, and a later
    // one than at the start; the group is the one they formed.
    let renewed = presented_not_after(&operator, &first.addr).await.unwrap();
    assert!(
        renewed > issued + ttl,
        "the certificate was not renewed: valid until {renewed:?}, first until {issued:?}"
    );
    assert!(presented_not_after(&operator, &second.addr).await.unwrap() > SystemTime::now());
    assert!(presented_not_after(&operator, &rv.addr).await.unwrap() > SystemTime::now());
    let after = both().await.unwrap();
    assert_eq!(
        after.0, before.0,
        "the peers' group changed across the renewals"
    );
    // And the directory still lists it, from announcements over renewed certificates.
    assert!(entry(&operator, &rv.addr, &after.0).await.is_some());

    first.stop().await;
    second.stop().await;
    rv.stop().await;
}

#[tokio::test]
async fn a_watcher_that_stops_reading_is_dropped_and_frees_its_place() {
    let pki = Pki::new();
    // One place for a watcher; one that leaves an event unread for 300 ms loses it.
    let rv = rendezvous_with(&pki, pki::DEFAULT_CERT_TTL, |c| {
        c.max_watchers = 1;
        c.watch_send_timeout = Duration::from_millis(300);
        c.watch_buffer = 100_000;
        // Its 300 announcements are not to be refused for their pace.
        c.write_rate = 1_000_000;
        c.write_burst = 1_000_000;
    })
    .await;
    let operator = pki.operator();
    let subscribe = || {
        let channel = channel(&operator, &rv.addr, Expect::Rendezvous);
        async move {
            RendezvousClient::new(channel)
                .watch_overlay(pb::WatchOverlayRequest {
                    caller: None,
                    include_existing: false,
                })
                .await
        }
    };
    // The stalled subscriber: it holds its stream and never reads from it, with an HTTP/2
    // window of 1 kB, so that the rendezvous soon has to wait for it.
    let ClientTls::Tls(config) = &operator else {
        unreachable!("the operator speaks TLS")
    };
    let stalled_channel = tonic::transport::Endpoint::from_shared(format!("http://{}", rv.addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect_with_connector_lazy(tls::Connector::new(
            Some(Arc::clone(config)),
            Expect::Rendezvous,
            tls::Policy {
                allow_private: true,
            },
        ));
    let _stalled = RendezvousClient::new(stalled_channel)
        .watch_overlay(pb::WatchOverlayRequest {
            caller: None,
            include_existing: false,
        })
        .await
        .unwrap()
        .into_inner();
    let e = subscribe().await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");

    // A leader whose member count changes 300 times: more events than the stalled stream's
    // queue (64) and HTTP/2 window hold.
    let leader = common::peer_id(1);
    let as_leader = pki.peer(leader);
    let g = uuid::Uuid::new_v4().to_string();
    let mut c = RendezvousClient::new(channel(&as_leader, &rv.addr, Expect::Rendezvous));
    for i in 0..300u32 {
        let mut v = view(&g, leader, "127.0.0.1:9", 1, &[]);
        v.member_count = 2 + i % 2;
        c.announce_group(pb::AnnounceGroupRequest {
            caller: Some(pb_ref(leader, "127.0.0.1:9")),
            group: Some(v),
            neighbors: vec![],
            ended: false,
            partition_group_ids: vec![],
            landmarks: vec![],
        })
        .await
        .unwrap();
    }
    // The stalled subscriber is dropped, and its place is free again.
    eventually("a new subscriber is let in", CONVERGE, || async {
        subscribe()
            .await
            .map(|_| ())
            .map_err(|e| format!("{:?}: {}", e.code(), e.message()))
    })
    .await;
    rv.stop().await;
}

#[tokio::test]
async fn a_full_directory_refuses_new_groups_and_keeps_its_own() {
    let pki = Pki::new();
    let rv = rendezvous_with(&pki, pki::DEFAULT_CERT_TTL, |c| c.max_groups = 1).await;
    let operator = pki.operator();
    let (a, b) = (common::peer_id(1), common::peer_id(2));
    let (g1, g2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let addr = "127.0.0.1:9";
    announce(&pki.peer(a), &rv.addr, a, view(&g1, a, addr, 1, &[]), false)
        .await
        .unwrap();
    let e = announce(&pki.peer(b), &rv.addr, b, view(&g2, b, addr, 1, &[]), false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    assert_eq!(entry(&operator, &rv.addr, &g2).await, None);
    // The group it holds is refreshed as before.
    let mut refreshed = view(&g1, a, addr, 1, &[]);
    refreshed.member_count = 5;
    announce(&pki.peer(a), &rv.addr, a, refreshed, false)
        .await
        .unwrap();
    assert_eq!(
        entry(&operator, &rv.addr, &g1).await,
        Some((a.0.to_string(), 1))
    );
    rv.stop().await;
}

#[tokio::test]
async fn a_caller_that_writes_too_fast_is_refused_and_others_are_not() {
    let pki = Pki::new();
    let rv = rendezvous_with(&pki, pki::DEFAULT_CERT_TTL, |c| {
        c.write_rate = 1;
        c.write_burst = 5;
    })
    .await;
    let (a, b) = (common::peer_id(1), common::peer_id(2));
    let addr = "127.0.0.1:9";
    let g = uuid::Uuid::new_v4().to_string();
    let as_a = pki.peer(a);
    let mut codes = Vec::new();
    for _ in 0..20 {
        let r = announce(&as_a, &rv.addr, a, view(&g, a, addr, 1, &[]), false).await;
        codes.push(r.map_or_else(|e| e.code(), |_| Code::Ok));
    }
    let ok = codes.iter().filter(|c| **c == Code::Ok).count();
    assert!((5..=6).contains(&ok), "{codes:?}");
    assert!(
        codes[6..].iter().all(|c| *c == Code::ResourceExhausted),
        "{codes:?}"
    );
    // Another peer has a budget of its own.
    let g2 = uuid::Uuid::new_v4().to_string();
    announce(&pki.peer(b), &rv.addr, b, view(&g2, b, addr, 1, &[]), false)
        .await
        .unwrap();
    rv.stop().await;
}
