//! locusctl against a rendezvous and a peer running in-process on real sockets.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::net::TcpListener;

/// Runs locusctl with `args` (off the runtime's threads: it blocks).
async fn locusctl(args: &[&str]) -> Output {
    locusctl_env(args, &[]).await
}

/// Runs locusctl with `args` and the environment variables `env`, and none of the TLS ones
/// the test's own environment may hold.
async fn locusctl_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_locusctl"));
    command
        .args(args)
        .env_remove("LOCUS_CA")
        .env_remove("LOCUS_CERT")
        .env_remove("LOCUS_KEY");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
    // `group -o json` is one element of `groups -o json`: the same keys, the same entry (the
    // announcement times move with every announce).
    let one = locusctl(&["-r", &rv, "-o", "json", "group", &group]).await;
    assert!(one.status.success(), "{one:?}");
    let mut one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    let mut listed = groups_json(&rv).await[0].clone();
    for v in [&mut one, &mut listed] {
        let o = v.as_object_mut().unwrap();
        for time in ["announced_at_unix_ms", "expires_at_unix_ms"] {
            assert!(o.remove(time).unwrap().as_u64().unwrap() > 0, "{time}");
        }
    }
    assert_eq!(one, listed);
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
    // Graphviz: the lone group is one node, "1 member" in the singular; no links, no edges.
    let dot = locusctl(&["-r", &rv, "overlay", "-o", "dot"]).await;
    assert!(dot.status.success(), "{dot:?}");
    assert_eq!(
        stdout(&dot),
        format!(
            "graph overlay {{\n  node [shape=box];\n  \"{group}\" [label=\"{}\\nleader {peer}\\n1 member\"];\n}}\n",
            &group[..8]
        )
    );
    let dot_groups = locusctl(&["-r", &rv, "groups", "-o", "dot"]).await;
    assert_eq!(dot_groups.status.code(), Some(2), "{dot_groups:?}");
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

    // `watch` starts with the existing group, one JSON object per line.
    let first = first_line(&["-r", &rv, "-o", "json", "watch", "--include-existing"]).await;
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["group_id"], group.as_str());
    assert!(
        first["change"].as_str().unwrap().starts_with("created"),
        "{first}"
    );
    // As text: an RFC 3339 UTC stamp with milliseconds, then the change in words.
    let line = first_line(&["-r", &rv, "watch", "--include-existing"]).await;
    let (stamp, rest) = line.split_once("  ").unwrap();
    assert_eq!(stamp.len(), "2024-05-04T13:25:18.123Z".len(), "{line}");
    assert!(
        stamp.starts_with("20") && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'),
        "{line}"
    );
    assert_eq!(
        rest.trim_end(),
        format!("{group}  epoch 1  created: leader {peer}, 1 member")
    );

    // `bench` in plaintext, against the peer (by the RPC) and the rendezvous.
    for (rpc, addr, name) in [
        ("get-status", peer.as_str(), "GetStatus"),
        ("measure", peer.as_str(), "Measure"),
        ("resolve-group", rv.as_str(), "ResolveGroup"),
    ] {
        let report = ok(&[
            "-o",
            "json",
            "bench",
            "--rpc",
            rpc,
            "--requests",
            "40",
            "--concurrency",
            "4",
            addr,
        ])
        .await;
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["rpc"], name, "{report}");
        assert_eq!(report["ok"], 40, "{report}");
        assert_eq!(report["tls"], "plaintext", "{report}");
    }
    let table = ok(&[
        "-r",
        &rv,
        "bench",
        "--rpc",
        "get-overlay",
        "--requests",
        "20",
    ])
    .await;
    assert!(
        table.contains("20 calls completed") && table.contains("P99.9"),
        "{table}"
    );
    let wrong = locusctl(&["bench", "--rpc", "list-groups", "--target", "peer", &peer]).await;
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");

    let health = locusctl(&["health", &peer]).await;
    assert!(
        health.status.success() && stdout(&health) == "SERVING\n",
        "{health:?}"
    );
    let health = locusctl(&["health", &rv, "--service", "locus.v1.Rendezvous"]).await;
    assert!(health.status.success(), "{health:?}");

    // Nobody listens on port 1: with a duration, and with the deprecated milliseconds that
    // the images' health checks pass.
    for timeout in [["--timeout", "500ms"], ["--timeout-ms", "500"]] {
        let down = locusctl(&["-r", "127.0.0.1:1", timeout[0], timeout[1], "groups"]).await;
        assert_eq!(down.status.code(), Some(3), "{down:?}");
        assert!(String::from_utf8_lossy(&down.stderr).contains("is it running"));
    }
    // A duration without its unit is a usage error, not a guess.
    let bare = locusctl(&["-r", "127.0.0.1:1", "--timeout", "5", "groups"]).await;
    assert_eq!(bare.status.code(), Some(2), "{bare:?}");
    assert!(String::from_utf8_lossy(&bare.stderr).contains("has no unit"));
}

/// The first line `locusctl ARGS` prints (it runs until killed, as `watch` does).
async fn first_line(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_locusctl"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        line
    })
    .await
    .unwrap()
}

/// `locusctl -o json groups`, parsed.
async fn groups_json(rv: &str) -> serde_json::Value {
    let out = locusctl(&["-r", rv, "-o", "json", "groups"]).await;
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `locusctl groups` until `check` accepts the groups, for at most 60 s.
async fn groups_until(
    rv: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let groups = groups_json(rv).await;
        if check(&groups) {
            return groups;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: last seen {groups}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_shows_the_new_leader_after_the_leader_crashes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rv = listener.local_addr().unwrap().to_string();
    let config = locus_rendezvous::Config {
        metrics_listen: None,
        entry_ttl: Duration::from_secs(3),
        ..Default::default()
    };
    tokio::spawn(locus_rendezvous::run(
        listener,
        config,
        std::future::pending(),
    ));

    // Three peers on one machine without emulation: one locality, one group.
    let mut peers = Vec::new();
    for _ in 0..3 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut config = locus_peer::Config::new(locus_core::Config::test());
        config.rendezvous = vec![rv.clone()];
        let task = tokio::spawn(locus_peer::run(listener, config, std::future::pending()));
        peers.push((addr, task));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = groups_until(&rv, "one group of three", |g| {
        g.as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["member_count"] == 3)
    })
    .await;
    let group = before[0]["group_id"].clone();
    let leader = before[0]["leader_addr"].as_str().unwrap().to_string();

    // `peers`: the leader and both others, each of them with the RTT its leader measured to it
    // (the successors are members too, and used to show "-").
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = locusctl(&["-r", &rv, "-o", "json", "peers"]).await;
        assert!(out.status.success(), "{out:?}");
        let peers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let peers = peers.as_array().unwrap();
        let complete = peers.len() == 3
            && peers.iter().all(|p| {
                (p["role"] == "leader") == (p["addr"] == leader.as_str())
                    && (p["role"] == "leader") == p["rtt_to_leader_us"].is_null()
            });
        if complete {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no RTTs to the leader: {peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let table = stdout(&locusctl(&["-r", &rv, "peers"]).await);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows.iter()
            .all(|r| r.ends_with(" ms") || r.ends_with("(leader)")),
        "{table}"
    );

    // A member does not know the member count and says so instead of "0 members".
    let (member, _) = peers.iter().find(|(addr, _)| *addr != leader).unwrap();
    let status = stdout(&locusctl(&["peer", member]).await);
    assert!(
        status.contains(", members known to the leader)") && !status.contains("0 members"),
        "{status}"
    );
    let status = stdout(&locusctl(&["peer", &leader]).await);
    assert!(status.contains(", 3 members)"), "{status}");

    // Crash the leader: its task stops without a goodbye.
    let (_, task) = peers.iter().find(|(addr, _)| *addr == leader).unwrap();
    task.abort();

    groups_until(&rv, "a new leader for the same group", |g| {
        g.as_array().is_some_and(|a| {
            a.len() == 1 && a[0]["group_id"] == group && a[0]["leader_addr"] != leader.as_str()
        })
    })
    .await;
    for (_, task) in peers {
        task.abort();
    }
}

/// A file's permission bits.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `locusctl ARGS`, which must succeed; its standard output.
async fn ok(args: &[&str]) -> String {
    let out = locusctl(args).await;
    assert!(out.status.success(), "{args:?}: {out:?}");
    stdout(&out)
}

/// A CA made by `ca init` in `dir/ca`, and an operator certificate for `alice` from it in
/// `dir/op`: the paths of the CA certificate, the operator's certificate and its key.
async fn cluster_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = dir.join("ca");
    let op = dir.join("op");
    let (ca_s, op_s) = (ca.to_str().unwrap(), op.to_str().unwrap());
    ok(&["ca", "init", "--dir", ca_s, "--name", "test"]).await;
    let printed = ok(&[
        "cert",
        "operator",
        "--ca-dir",
        ca_s,
        "--name",
        "alice",
        "--out-dir",
        op_s,
    ])
    .await;
    assert!(printed.contains("LOCUS_CERT="), "{printed}");
    (
        ca.join("ca.pem"),
        op.join("alice.pem"),
        op.join("alice-key.pem"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_commands_write_keys_private_and_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = cluster_pki(dir.path()).await;
    let ca_key = ca.with_file_name("ca-key.pem");
    assert_eq!(mode(&ca), 0o644);
    assert_eq!(mode(&ca_key), 0o600);
    assert_eq!(mode(&cert), 0o644);
    assert_eq!(mode(&key), 0o600);

    // A second `ca init` would orphan every certificate: refused, the files untouched.
    let before = std::fs::read(&ca_key).unwrap();
    let again = locusctl(&[
        "ca",
        "init",
        "--dir",
        ca.parent().unwrap().to_str().unwrap(),
    ])
    .await;
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(stderr(&again).contains("--force"), "{again:?}");
    assert_eq!(std::fs::read(&ca_key).unwrap(), before);
    let forced = locusctl(&[
        "ca",
        "init",
        "--force",
        "--dir",
        ca.parent().unwrap().to_str().unwrap(),
    ])
    .await;
    assert!(forced.status.success(), "{forced:?}");
    assert_ne!(std::fs::read(&ca_key).unwrap(), before);
    assert_eq!(mode(&ca_key), 0o600);

    // What the operator's certificate says.
    let shown = ok(&["-o", "json", "cert", "show", cert.to_str().unwrap()]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["identity"], "operator alice");
    assert_eq!(shown["issuer"], "test CA");
    assert_eq!(shown["expired"], false);
    let not_after = shown["not_after"].as_str().unwrap();
    assert!(
        not_after.ends_with('Z') && not_after.as_bytes()[10] == b'T',
        "{shown}"
    );
    let shown = ok(&["cert", "show", ca.to_str().unwrap()]).await;
    assert!(
        shown.starts_with("identity   CA\n") && shown.contains("issuer     locus CA\n"),
        "{shown}"
    );

    // Tokens: each one new, appended on its own line, the file private.
    let tokens = dir.path().join("tokens");
    let t = tokens.to_str().unwrap();
    let first = ok(&["token", "create", "--tokens", t]).await;
    let second = ok(&["token", "create", "--tokens", t]).await;
    assert_ne!(first, second);
    assert_eq!(first.trim().len(), 64, "{first}");
    assert_eq!(
        std::fs::read_to_string(&tokens).unwrap(),
        format!("{first}{second}")
    );
    assert_eq!(mode(&tokens), 0o600);
}

/// A rendezvous serving TLS with the CA whose certificate is `ca` (its key beside it).
async fn tls_rendezvous(ca: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rv = listener.local_addr().unwrap().to_string();
    let config = locus_rendezvous::Config {
        metrics_listen: None,
        tls: Some(locus_rendezvous::config::Tls {
            ca: ca.to_path_buf(),
            ca_key: ca.with_file_name("ca-key.pem"),
            tokens: None,
            name: "rv".into(),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            cert_ttl: Duration::from_secs(3600),
        }),
        ..Default::default()
    };
    tokio::spawn(locus_rendezvous::run(
        listener,
        config,
        std::future::pending(),
    ));
    rv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_rendezvous_answers_operators_and_tells_the_others_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = cluster_pki(dir.path()).await;
    let rv = tls_rendezvous(&ca).await;
    let (ca_s, cert_s, key_s) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );

    // With the operator's certificate, by flag and by environment.
    let groups = ok(&[
        "-r", &rv, "--ca", ca_s, "--cert", cert_s, "--key", key_s, "-o", "json", "groups",
    ])
    .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&groups).unwrap(),
        serde_json::json!([])
    );
    let env = [
        ("LOCUS_CA", ca.as_path()),
        ("LOCUS_CERT", cert.as_path()),
        ("LOCUS_KEY", key.as_path()),
    ];
    let by_env = locusctl_env(&["-r", &rv, "overlay"], &env).await;
    assert!(by_env.status.success(), "{by_env:?}");

    // The CA alone is enough for health, not for the directory.
    let health = ok(&["--ca", ca_s, "health", &rv]).await;
    assert_eq!(health, "SERVING\n");
    let anonymous = locusctl(&["-r", &rv, "--ca", ca_s, "groups"]).await;
    assert_eq!(anonymous.status.code(), Some(1), "{anonymous:?}");
    let message = stderr(&anonymous);
    assert!(
        message.contains("UNAUTHENTICATED") && message.contains("pass --ca/--cert/--key"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    // Plaintext against TLS, and TLS with another cluster's CA: named, with the fix.
    let plaintext = locusctl(&["-r", &rv, "groups"]).await;
    assert!(!plaintext.status.success(), "{plaintext:?}");
    assert!(
        stderr(&plaintext).contains("pass --ca/--cert/--key"),
        "{plaintext:?}"
    );
    let other = dir.path().join("other");
    ok(&["ca", "init", "--dir", other.to_str().unwrap()]).await;
    let other_ca = other.join("ca.pem");
    let wrong = locusctl(&[
        "-r",
        &rv,
        "--ca",
        other_ca.to_str().unwrap(),
        "--cert",
        cert_s,
        "--key",
        key_s,
        "groups",
    ])
    .await;
    assert!(!wrong.status.success(), "{wrong:?}");
    let message = stderr(&wrong);
    assert!(
        message.contains("not from the CA given by --ca"),
        "{message}"
    );

    // Half a credential is a usage error, before any call.
    let half = locusctl(&["-r", &rv, "--ca", ca_s, "--cert", cert_s, "groups"]).await;
    assert_eq!(half.status.code(), Some(2), "{half:?}");

    // A bounded benchmark: exactly the calls asked for, all OK, percentiles in order.
    let report = ok(&[
        "-r",
        &rv,
        "--ca",
        ca_s,
        "--cert",
        cert_s,
        "--key",
        key_s,
        "-o",
        "json",
        "bench",
        "--rpc",
        "get-boot-list",
        "--concurrency",
        "8",
        "--connections",
        "2",
        "--requests",
        "500",
    ])
    .await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["ok"], 500, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(
        report["codes"],
        serde_json::json!({ "OK": 500 }),
        "{report}"
    );
    assert_eq!(report["stopped_by"], "requests", "{report}");
    assert_eq!(report["rpc"], "GetBootList", "{report}");
    assert!(
        report["tls"].as_str().unwrap().contains("operator alice"),
        "{report}"
    );
    let l = &report["latency_us"];
    let (p50, p90, p99, p999, max) = (
        l["p50"].as_u64().unwrap(),
        l["p90"].as_u64().unwrap(),
        l["p99"].as_u64().unwrap(),
        l["p99_9"].as_u64().unwrap(),
        l["max"].as_u64().unwrap(),
    );
    assert!(
        0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "{report}"
    );
    assert!(report["requests_per_s"].as_f64().unwrap() > 0.0, "{report}");

    // Without a certificate the benchmark stops at its first call, with the reason.
    let refused = locusctl(&[
        "-r",
        &rv,
        "--ca",
        ca_s,
        "bench",
        "--rpc",
        "list-groups",
        "--requests",
        "10",
    ])
    .await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stderr(&refused).contains("UNAUTHENTICATED"), "{refused:?}");
}
