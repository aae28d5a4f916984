//! The `locus-rendezvous` binary as operators run it: its metrics endpoint names and explains
//! what it counts (`# HELP`), and calls are counted there; and the abuse suite, which floods
//! it over mutual TLS and measures what the process holds (`VmHWM`, its peak resident set):
//! a flood of distinct announcements past the directory's cap, subscribers that never read,
//! and connections that say nothing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A free port on loopback (bound and released: another process could take it in between,
/// which would fail the test loudly, not pass it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn scrape(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.ok()?;
    Some(raw)
}

#[tokio::test]
async fn metrics_carry_help_text_and_count_calls() {
    let (grpc, http) = (free_port(), free_port());
    let _rv = Killed(
        Command::new(env!("CARGO_BIN_EXE_locus-rendezvous"))
            .args([
                "--insecure-plaintext",
                "--listen",
                &format!("127.0.0.1:{grpc}"),
                "--metrics-listen",
                &format!("127.0.0.1:{http}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let grpc = format!("http://127.0.0.1:{grpc}");
    let http = format!("127.0.0.1:{http}");
    let mut served = None;
    for _ in 0..100 {
        if let Ok(mut c) = RendezvousClient::connect(grpc.clone()).await
            && c.get_boot_list(pb::GetBootListRequest {
                caller: None,
                max: 0,
                landmarks: false,
                near: vec![],
                shortcut_for: Default::default(),
            })
            .await
            .is_ok()
        {
            served = Some(());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served.expect("the rendezvous answers GetBootList within 10 s");
    let text = scrape(&http).await.expect("the metrics endpoint answers");
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(
        text.contains(
            "# HELP locus_rendezvous_requests_total Calls served, by rpc and gRPC status code."
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"locus_rendezvous_requests_total{rpc="GetBootList",code="Ok"} 1"#),
        "{text}"
    );
    // Latency histograms in seconds, per RPC, with buckets from 100 µs.
    assert!(
        text.contains("# TYPE locus_rendezvous_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"locus_rendezvous_request_duration_seconds_bucket{rpc="GetBootList",le="0.0001"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"locus_rendezvous_request_duration_seconds_count{rpc="GetBootList"} 1"#),
        "{text}"
    );
}

/// A rendezvous process with mutual TLS and a CA of the test's own.
struct Tls {
    process: Killed,
    grpc: String,
    http: String,
    ca: std::sync::Arc<locus_service::tls::pki::Ca>,
    _dir: tempfile::TempDir,
}

impl Tls {
    async fn start(extra: &[&str]) -> Tls {
        use locus_service::tls::pki;
        let dir = tempfile::tempdir().unwrap();
        let ca = pki::Ca::create("abuse", Duration::from_secs(3600)).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("ca-key.pem"), ca.key_pem()).unwrap();
        let (grpc, http) = (free_port(), free_port());
        let mut args: Vec<String> = vec![
            "--listen".into(),
            format!("127.0.0.1:{grpc}"),
            "--metrics-listen".into(),
            format!("127.0.0.1:{http}"),
            "--ca".into(),
            dir.path().join("ca.pem").display().to_string(),
            "--ca-key".into(),
            dir.path().join("ca-key.pem").display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let process = Killed(
            Command::new(env!("CARGO_BIN_EXE_locus-rendezvous"))
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let rv = Tls {
            process,
            grpc: format!("127.0.0.1:{grpc}"),
            http: format!("127.0.0.1:{http}"),
            ca: std::sync::Arc::new(ca),
            _dir: dir,
        };
        for _ in 0..100 {
            if scrape(&rv.http).await.is_some() {
                return rv;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the rendezvous did not serve its metrics within 10 s");
    }

    /// A client of the rendezvous as `identity`, on a connection of its own.
    fn client(
        &self,
        identity: &locus_service::tls::Identity,
    ) -> RendezvousClient<tonic::transport::Channel> {
        use locus_service::tls::{self, ClientTls, Credentials, Expect, pki};
        let issued = self
            .ca
            .issue(
                identity,
                &[],
                pki::Validity::for_ttl(Duration::from_secs(3600)),
            )
            .unwrap();
        let config = Credentials::new(self.ca.cert_pem(), &issued.cert_pem, &issued.key_pem)
            .unwrap()
            .client_config()
            .unwrap();
        let channel = tls::lazy_channel(
            &ClientTls::Tls(config),
            &self.grpc,
            Expect::Rendezvous,
            Duration::from_secs(5),
        )
        .unwrap();
        RendezvousClient::new(channel)
    }

    fn operator(&self) -> RendezvousClient<tonic::transport::Channel> {
        self.client(&locus_service::tls::Identity::Operator("abuse".into()))
    }

    /// The process' peak resident set, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.0.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// A metric's value as the endpoint shows it (the line that starts with `series`).
    async fn metric(&self, series: &str) -> Option<f64> {
        let text = scrape(&self.http).await?;
        text.lines()
            .find_map(|l| l.strip_prefix(series).filter(|v| v.starts_with(' ')))
            .and_then(|v| v.trim().parse().ok())
    }
}

fn uuid(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

/// An announcement of group `group` led by peer `leader`, at an address in the benchmarking
/// range (nobody is dialled: with TLS the certificate names the leader).
fn announcement(group: u128, leader: u128, members: u32) -> pb::AnnounceGroupRequest {
    let me = pb::PeerRef {
        peer_id: uuid(leader),
        addr: format!("198.18.{}.{}:7000", (leader >> 8) & 0xff, leader & 0xff),
    };
    pb::AnnounceGroupRequest {
        caller: Some(me.clone()),
        group: Some(pb::GroupView {
            group_id: uuid(group),
            epoch: 1,
            leader: Some(me),
            successors: vec![],
            member_count: members,
        }),
        neighbors: vec![],
        ended: false,
        partition_group_ids: vec![],
        landmarks: vec![],
    }
}

fn peer_identity(n: u128) -> locus_service::tls::Identity {
    locus_service::tls::Identity::Peer(locus_core::PeerId(uuid::Uuid::from_u128(n)))
}

/// Fills the directory with `n` groups, each announced by a leader of its own over a
/// connection of its own; returns the leaders' clients.
async fn fill(rv: &Tls, n: u128) -> Vec<(u128, RendezvousClient<tonic::transport::Channel>)> {
    let mut leaders = Vec::new();
    let mut calls = tokio::task::JoinSet::new();
    for g in 1..=n {
        let mut c = rv.client(&peer_identity(1_000_000 + g));
        leaders.push((g, c.clone()));
        calls.spawn(async move { c.announce_group(announcement(g, 1_000_000 + g, 1)).await });
        if calls.len() >= 16 {
            calls.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    for r in calls.join_all().await {
        r.unwrap();
    }
    leaders
}

/// Bound of the abuse tests' peak RSS: the process at rest with a 500-group directory, 256
/// subscribers and the flood's rate buckets (docs/operations.md, "Memory").
const PEAK_RSS_BOUND_KIB: u64 = 96 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_announcements_is_refused_past_the_cap_within_the_memory_bound() {
    let rv = Tls::start(&[
        "--max-groups",
        "500",
        "--entry-ttl-ms",
        "3600000",
        "--write-rate",
        "1000000",
        "--write-burst",
        "1000000",
    ])
    .await;
    let leaders = fill(&rv, 500).await;
    let at_rest = rv.peak_rss_kib();
    // 200,000 announcements of groups nobody has seen, from 8 authenticated peers that lead
    // nothing yet: each would add a group, and the directory is full.
    const FLOOD: u128 = 200_000;
    let mut floods = tokio::task::JoinSet::new();
    for f in 0..8u128 {
        for lane in 0..8u128 {
            let mut c = rv.client(&peer_identity(9_000_000 + f));
            floods.spawn(async move {
                let mut codes = std::collections::BTreeMap::new();
                let mut g = 10_000_000 + f * 8 + lane;
                while g < 10_000_000 + FLOOD {
                    let code = match c.announce_group(announcement(g, 9_000_000 + f, 3)).await {
                        Ok(_) => tonic::Code::Ok,
                        Err(s) => {
                            assert!(
                                s.code() != tonic::Code::ResourceExhausted
                                    || s.message().contains("directory is full"),
                                "{s:?}"
                            );
                            s.code()
                        }
                    };
                    *codes.entry(format!("{code:?}")).or_insert(0u64) += 1;
                    g += 64;
                }
                codes
            });
        }
    }
    let mut codes = std::collections::BTreeMap::new();
    for part in floods.join_all().await {
        for (code, n) in part {
            *codes.entry(code).or_insert(0) += n;
        }
    }
    assert_eq!(
        codes,
        std::collections::BTreeMap::from([("ResourceExhausted".to_string(), FLOOD as u64)]),
        "every announcement past the cap is refused as RESOURCE_EXHAUSTED"
    );
    assert_eq!(rv.metric("locus_rendezvous_groups").await, Some(500.0));
    assert_eq!(
        rv.metric("locus_rendezvous_directory_full_total").await,
        Some(FLOOD as f64)
    );
    // The groups it holds are still theirs to refresh.
    let (g, mut c) = leaders[17].clone();
    c.announce_group(announcement(g, 1_000_000 + g, 4))
        .await
        .unwrap();
    let peak = rv.peak_rss_kib();
    println!(
        "peak RSS: {at_rest} KiB with 500 groups, {peak} KiB after {FLOOD} refused announcements"
    );
    assert!(peak < PEAK_RSS_BOUND_KIB, "peak RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_never_read_are_dropped_and_hold_no_memory() {
    let rv = Tls::start(&[
        "--watch-send-timeout-ms",
        "1000",
        "--write-rate",
        "1000000",
        "--write-burst",
        "1000000",
    ])
    .await;
    let leaders = fill(&rv, 500).await;
    // 300 subscribers with the existing groups, 30 per connection, none of which reads.
    let mut streams = Vec::new();
    let mut refused = 0;
    for _ in 0..10 {
        let c = rv.operator();
        for _ in 0..30 {
            match c
                .clone()
                .watch_overlay(pb::WatchOverlayRequest {
                    caller: None,
                    include_existing: true,
                })
                .await
            {
                Ok(s) => streams.push(s.into_inner()),
                Err(s) => {
                    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(
        (streams.len(), refused),
        (256, 44),
        "max_watchers (256) subscribers, the rest refused"
    );
    // Changes keep coming while nobody reads: each subscriber is dropped once an event has
    // waited past the send timeout for it.
    let mut watching = None;
    for round in 0..60u32 {
        let mut calls = tokio::task::JoinSet::new();
        for (g, c) in &leaders {
            let (g, mut c) = (*g, c.clone());
            calls.spawn(async move {
                c.announce_group(announcement(g, 1_000_000 + g, 2 + round % 50))
                    .await
            });
        }
        for r in calls.join_all().await {
            r.unwrap();
        }
        watching = rv.metric("locus_rendezvous_watchers").await;
        if watching == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(watching, Some(0.0), "every stalled subscriber was dropped");
    assert!(rv.metric("locus_rendezvous_watchers_dropped_total").await >= Some(256.0));
    // Their places are free again.
    let mut fresh = rv
        .operator()
        .watch_overlay(pb::WatchOverlayRequest {
            caller: None,
            include_existing: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(fresh.message().await.unwrap().is_some());
    let peak = rv.peak_rss_kib();
    println!("peak RSS with 256 stalled subscribers of 500 groups: {peak} KiB");
    assert!(peak < PEAK_RSS_BOUND_KIB, "peak RSS {peak} KiB");
    drop(streams);
}

#[tokio::test]
async fn connections_that_say_nothing_are_closed() {
    // With TLS: the handshake must finish within 5 s (tls::HANDSHAKE_TIMEOUT).
    let rv = Tls::start(&[]).await;
    let mut silent = TcpStream::connect(&rv.grpc).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(30)).await,
        "a connection that starts no handshake is closed"
    );

    // Plaintext, after the HTTP/2 preface: a client that answers no ping is closed by the
    // keepalive (interval plus timeout).
    let grpc = free_port();
    let _plain = Killed(
        Command::new(env!("CARGO_BIN_EXE_locus-rendezvous"))
            .args([
                "--insecure-plaintext",
                "--listen",
                &format!("127.0.0.1:{grpc}"),
                "--keepalive-interval-ms",
                "500",
                "--keepalive-timeout-ms",
                "500",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut mute = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(format!("127.0.0.1:{grpc}")).await {
            mute = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut mute = mute.expect("the plaintext rendezvous listens");
    mute.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    assert!(
        closed_within(&mut mute, Duration::from_secs(30)).await,
        "a connection that answers no ping is closed"
    );

    // Plaintext, before any byte: closed too.
    let mut silent = TcpStream::connect(format!("127.0.0.1:{grpc}"))
        .await
        .unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(30)).await,
        "a connection that sends nothing is closed"
    );
}

/// Whether the server closes `stream` within `bound`, whatever it sends before.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 256];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
