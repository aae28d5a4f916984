//! The `locus-rendezvous` binary as operators run it: its metrics endpoint names and explains
//! what it counts (`# HELP`), and calls are counted there.

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
