//! locusctl against a rendezvous and a peer running in-process on real sockets.

use std::process::Output;
use std::time::Duration;

use tokio::net::TcpListener;

/// Runs locusctl with `args` (off the runtime's threads: it blocks).
async fn locusctl(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_locusctl"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_show_the_directory_and_the_peers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rv = listener.local_addr().unwrap().to_string();
    tokio::spawn(locus_rendezvous::run(
        listener,
        locus_rendezvous::Config {
            metrics_listen: None,
            ..Default::default()
        },
        std::future::pending(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = listener.local_addr().unwrap().to_string();
    let mut config = locus_peer::Config::new(locus_core::Config::test());
    config.rendezvous = vec![rv.clone()];
    tokio::spawn(locus_peer::run(listener, config, std::future::pending()));

    // The lone peer founds a group and announces it within an announce interval.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let groups = loop {
        let out = locusctl(&["-r", &rv, "--output", "json", "groups"]).await;
        assert!(out.status.success(), "{out:?}");
        let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if groups.as_array().is_some_and(|a| a.len() == 1) {
            break groups;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no group announced: {groups}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let group = groups[0]["group_id"].as_str().unwrap().to_string();
    assert_eq!(groups[0]["leader_addr"], peer.as_str());

    let table = locusctl(&["-r", &rv, "groups"]).await;
    let text = stdout(&table);
    assert!(text.starts_with("GROUP"), "{text}");
    assert!(text.contains(&group) && text.contains(&peer), "{text}");

    let one = locusctl(&["-r", &rv, "group", &group]).await;
    assert!(
        one.status.success() && stdout(&one).contains(&peer),
        "{one:?}"
    );
    let missing = locusctl(&["-r", &rv, "group", "67e55044-10b1-426f-9247-bb680e5fe0c8"]).await;
    assert_eq!(missing.status.code(), Some(4), "{missing:?}");
    let bad = locusctl(&["-r", &rv, "group", "not-a-uuid"]).await;
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");

    let status = locusctl(&["peer", &peer, "-o", "json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["role"], "leader");
    assert_eq!(status["group"]["group_id"], group.as_str());

    let overlay = locusctl(&["-r", &rv, "overlay"]).await;
    assert!(
        overlay.status.success() && stdout(&overlay).contains(&group),
        "{overlay:?}"
    );
    let peers = locusctl(&["-r", &rv, "peers"]).await;
    assert!(
        peers.status.success() && stdout(&peers).contains("leader"),
        "{peers:?}"
    );
    let nearby = locusctl(&["nearby", &peer]).await;
    assert!(
        nearby.status.success() && stdout(&nearby).starts_with("PEER"),
        "{nearby:?}"
    );

    // Nobody listens on port 1.
    let down = locusctl(&["-r", "127.0.0.1:1", "--timeout-ms", "500", "groups"]).await;
    assert_eq!(down.status.code(), Some(3), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("is it running"));
}
