//! The container cluster of `docker-compose.yml`, as `cargo xtask` drives it and as the
//! whole-system tests (`tests/`, package `locus-tests`) use it.
//!
//! - [`images`]: static release binaries built on the host, `FROM scratch` images around them;
//! - [`docker`]: the Docker engine and Compose, through their command-line clients;
//! - [`cluster`]: what the running cluster looks like and whether the overlay has converged;
//! - [`secrets`]: the cluster's CA, join token and certificates under `deploy/secrets/`;
//! - [`up`], [`scale`], [`down`], [`wait_converged`]: the cluster commands.
//!
//! The cluster speaks mutual TLS unless started with `--plaintext`
//! (`docker-compose.plaintext.yml`); [`mode`] picks Compose's files and xtask's client.
//! A peer is named by its address, `<hostname>:7000`, everywhere: the hostname is the
//! container's short id, which `docker ps` lists and `docker stop` takes, and which
//! `locusctl` and the live map show (docs/operations.md, "Containers").

pub mod cluster;
pub mod docker;
pub mod images;
pub mod secrets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use locus_service::tls::ClientTls;

use cluster::{Regions, Snapshot};
use docker::Docker;
use secrets::Secrets;

/// Compose and xtask's client for a cluster with TLS (the secrets made where missing) or
/// without.
pub fn mode(
    root: &Path,
    docker: Docker,
    plaintext: bool,
) -> Result<(Docker, ClientTls, Option<Secrets>)> {
    if plaintext {
        return Ok((docker.plaintext(true), ClientTls::Plaintext, None));
    }
    let secrets = Secrets::ensure(root)?;
    Ok((docker, secrets.client()?, Some(secrets)))
}

/// Whether the cluster that runs does so without TLS.
pub fn running_plaintext(docker: &Docker) -> Result<bool> {
    Ok(docker.containers(false)?.iter().any(|c| c.plaintext))
}

/// Neighbour (ARP) entries to count per container: the members of its group and the leaders
/// it hears from, the leaders it links to, the rendezvous. A rough figure, for the warning of
/// [`warn_neighbour_table`].
const NEIGHBOURS_PER_CONTAINER: usize = 12;
/// Where the kernel's limit on neighbour entries is, shared by every network namespace.
const GC_THRESH3: &str = "/proc/sys/net/ipv4/neigh/default/gc_thresh3";

/// Warns when `peers` containers may overflow the kernel's neighbour table. Its limit
/// (`net.ipv4.neigh.default.gc_thresh3`, 1024 by default) counts the entries of every
/// container together; past it the kernel logs `neighbor table overflow!` and containers stop
/// reaching each other (`No route to host`, calls that time out). At 100 peers on the default
/// limit no cluster converged (docs/benchmarks.md, "Containers").
pub fn warn_neighbour_table(peers: usize) {
    let Some(limit) = std::fs::read_to_string(GC_THRESH3)
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
    else {
        return;
    };
    if peers * NEIGHBOURS_PER_CONTAINER > limit {
        eprintln!(
            "xtask: WARNING: {peers} containers may overflow the kernel's neighbour (ARP) table, \
             net.ipv4.neigh.default.gc_thresh3 = {limit} for all containers together, and then \
             cannot reach each other: sudo sysctl -w net.ipv4.neigh.default.gc_thresh1=1024 \
             net.ipv4.neigh.default.gc_thresh2=4096 net.ipv4.neigh.default.gc_thresh3=8192"
        );
    }
}

/// Starts the cluster with `peers` peers (the rendezvous first, once healthy).
pub fn up(docker: &Docker, peers: usize) -> Result<()> {
    warn_neighbour_table(peers);
    for (tag, _) in images::IMAGES {
        if docker.docker(&["image", "inspect", tag]).is_err() {
            bail!("the image {tag} does not exist: `cargo xtask images` builds it");
        }
    }
    let scale = format!("peer={peers}");
    docker.compose(&["up", "--detach", "--scale", &scale])
}

/// Scales the peer service to `peers` containers, leaving the others as they are.
pub fn scale(docker: &Docker, peers: usize) -> Result<()> {
    warn_neighbour_table(peers);
    let scale = format!("peer={peers}");
    docker.compose(&["up", "--detach", "--no-recreate", "--scale", &scale])
}

/// Stops and removes the cluster, one-off containers included.
pub fn down(docker: &Docker) -> Result<()> {
    let args = ["down", "--remove-orphans", "--volumes", "--timeout", "5"];
    let Err(e) = docker.compose(&args) else {
        return Ok(());
    };
    // Docker 20.10 can keep counting an endpoint of a removed container on the network
    // ("has active endpoints"), for a moment or until dockerd restarts. Once more; then, when
    // no container is left, the network alone stays, and Compose reuses it.
    eprintln!("xtask: {e:#}; once more in 2 s");
    std::thread::sleep(Duration::from_secs(2));
    match docker.compose(&args) {
        Err(e) if docker.containers(true)?.is_empty() => {
            eprintln!(
                "xtask: WARNING: {e:#}: every container is gone, but the engine keeps the \
                 network (a stale endpoint; restarting dockerd clears it); Compose reuses it"
            );
            Ok(())
        }
        other => other,
    }
}

/// Polls the cluster until it has converged; the error lists what is still wrong. Prints, in
/// seconds since `started` (just before Compose was called), when every peer was first in a
/// group (joined) and when the overlay had converged.
pub async fn wait_converged(
    docker: &Docker,
    regions: &Regions,
    client: &ClientTls,
    peers: Option<usize>,
    timeout_s: u64,
    started: Instant,
) -> Result<Snapshot> {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let mut joined = None;
    loop {
        let snap = Snapshot::take(docker, regions, client).await?;
        if joined.is_none() && snap.all_in_groups(peers) {
            joined = Some(started.elapsed());
        }
        let problems = snap.check(peers);
        if problems.is_empty() {
            let converged = started.elapsed();
            println!(
                "xtask: {} peers joined (each in a group) in {:.1} s, converged in {:.1} s",
                snap.peers.len(),
                joined.unwrap_or(converged).as_secs_f64(),
                converged.as_secs_f64()
            );
            return Ok(snap);
        }
        if Instant::now() >= deadline {
            print!("{}", snap.render());
            let mut list = problems.join("\n  ");
            list.insert_str(0, "\n  ");
            bail!("not converged after {timeout_s} s:{list}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn port_env(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The workspace root: the parent of this crate's directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}
