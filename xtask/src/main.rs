//! `cargo xtask`: the container images, the compose test cluster and its end-to-end suite.
//!
//! - `images`: static release binaries built on the host, `FROM scratch` images around them
//!   (module `images`);
//! - `up`, `scale`, `status`, `down`: the cluster of `docker-compose.yml`, through the Docker
//!   and Compose clients (module `docker`), waiting until the overlay has converged
//!   (module `cluster`);
//! - `e2e`: the end-to-end suite against real containers (module `e2e`);
//! - `secrets`: the cluster's CA, join token and certificates under `deploy/secrets/`, which
//!   `up` and `e2e` make too when missing (module `secrets`).
//!
//! The cluster speaks mutual TLS unless `up` or `e2e` is given `--plaintext`; `scale` and
//! `status` find out from the running containers.

mod cluster;
mod docker;
mod e2e;
mod images;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use locus_service::tls::ClientTls;

use cluster::{Regions, Snapshot};
use docker::Docker;
use secrets::Secrets;

/// Development tasks of the locus workspace: container images, a local test cluster, and the
/// end-to-end suite.
#[derive(Debug, Parser)]
#[command(bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the static binaries and the `locus-rendezvous` and `locus-peer` images.
    Images,
    /// Make the cluster's CA, join token and certificates under deploy/secrets/, where
    /// missing; keep what is there.
    Secrets,
    /// Build what changed, start the cluster, wait until it has converged, print the groups.
    Up {
        /// Peer containers to run.
        #[arg(long, default_value_t = 12)]
        peers: usize,
        /// Do not build: use the images as they are.
        #[arg(long)]
        no_build: bool,
        /// Longest wait for convergence, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout_s: u64,
        /// Run without TLS (docker-compose.plaintext.yml), to compare.
        #[arg(long)]
        plaintext: bool,
    },
    /// Scale the peer service to N containers and wait until the overlay has converged.
    Scale {
        /// Peer containers to run.
        peers: usize,
        /// Longest wait for convergence, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout_s: u64,
    },
    /// The groups and whether the overlay has converged (exit 1 when not).
    Status,
    /// Stop and remove the cluster's containers and network.
    Down,
    /// The end-to-end suite: up, scale, leader loss, rendezvous restart, crashes, who the
    /// rendezvous lets in; tears down.
    E2e {
        /// Do not build: use the images as they are.
        #[arg(long)]
        no_build: bool,
        /// Leave the cluster running at the end (for a look at what failed).
        #[arg(long)]
        keep: bool,
        /// Run the cluster without TLS (docker-compose.plaintext.yml), to compare.
        #[arg(long)]
        plaintext: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(task: Task) -> Result<ExitCode> {
    let root = workspace_root();
    if let Task::Secrets = task {
        let secrets = Secrets::ensure(&root)?;
        println!(
            "xtask: the cluster's secrets are in {}; locusctl on this host:\n{}",
            root.join(secrets::DIR).display(),
            secrets.exports()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let docker = Docker::connect(&root)?;
    let regions = Regions::load(&root)?;
    match task {
        Task::Secrets => unreachable!("handled above"),
        Task::Images => images::build(&root)?,
        Task::Up {
            peers,
            no_build,
            timeout_s,
            plaintext,
        } => {
            let (docker, client, secrets) = mode(&root, docker, plaintext)?;
            if !no_build {
                images::build(&root)?;
            }
            let started = Instant::now();
            up(&docker, peers)?;
            println!(
                "xtask: containers started in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let snap =
                wait_converged(&docker, &regions, &client, Some(peers), timeout_s, started).await?;
            print!("{}", snap.render());
            let port = port_env("LOCUS_RENDEZVOUS_PORT", 7100);
            let http = port_env("LOCUS_RENDEZVOUS_METRICS_PORT", 9101);
            println!(
                "\nThe rendezvous is on 127.0.0.1:{port} (gRPC, reflection), its metrics on \
                 127.0.0.1:{http}/metrics, and the live map of the overlay on \
                 http://127.0.0.1:{http}/"
            );
            match &secrets {
                Some(s) => println!(
                    "It speaks mutual TLS. For locusctl on this host:\n  {}\nand grpcurl:\n  \
                     grpcurl -cacert {} -cert {} -key {} 127.0.0.1:{port} list",
                    s.exports(),
                    s.ca.display(),
                    s.cert.display(),
                    s.key.display()
                ),
                None => println!(
                    "It runs WITHOUT TLS (--plaintext): locusctl needs no certificate, and \
                     grpcurl -plaintext 127.0.0.1:{port} list"
                ),
            }
            println!("Try `locusctl groups`, `cargo xtask scale 30`, `cargo xtask down`.");
        }
        Task::Scale { peers, timeout_s } => {
            let (docker, client, _) = mode(&root, docker.clone(), running_plaintext(&docker)?)?;
            let started = Instant::now();
            scale(&docker, peers)?;
            let snap =
                wait_converged(&docker, &regions, &client, Some(peers), timeout_s, started).await?;
            print!("{}", snap.render());
        }
        Task::Status => {
            let (docker, client, _) = mode(&root, docker.clone(), running_plaintext(&docker)?)?;
            let snap = Snapshot::take(&docker, &regions, &client).await?;
            if snap.peers.is_empty() && snap.directory.is_none() {
                println!("no cluster runs: `cargo xtask up` starts one");
                return Ok(ExitCode::FAILURE);
            }
            print!("{}", snap.render());
            let problems = snap.check(None);
            if problems.is_empty() {
                println!("converged");
            } else {
                println!("not converged:");
                for p in &problems {
                    println!("  {p}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
        Task::Down => down(&docker)?,
        Task::E2e {
            no_build,
            keep,
            plaintext,
        } => {
            let (docker, client, secrets) = mode(&root, docker, plaintext)?;
            if !no_build {
                images::build(&root)?;
            }
            return e2e::run(&docker, &regions, &client, secrets.as_ref(), keep).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Compose and xtask's client for a cluster with TLS (the secrets made where missing) or
/// without.
fn mode(
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
fn running_plaintext(docker: &Docker) -> Result<bool> {
    Ok(docker.containers(false)?.iter().any(|c| c.plaintext))
}

/// Starts the cluster with `peers` peers (the rendezvous first, once healthy).
pub(crate) fn up(docker: &Docker, peers: usize) -> Result<()> {
    for (tag, _) in images::IMAGES {
        if docker.docker(&["image", "inspect", tag]).is_err() {
            bail!("the image {tag} does not exist: `cargo xtask images` builds it");
        }
    }
    let scale = format!("peer={peers}");
    docker.compose(&["up", "--detach", "--scale", &scale])
}

/// Scales the peer service to `peers` containers, leaving the others as they are.
pub(crate) fn scale(docker: &Docker, peers: usize) -> Result<()> {
    let scale = format!("peer={peers}");
    docker.compose(&["up", "--detach", "--no-recreate", "--scale", &scale])
}

/// Stops and removes the cluster, one-off containers included.
pub(crate) fn down(docker: &Docker) -> Result<()> {
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
pub(crate) async fn wait_converged(
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

pub(crate) fn port_env(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}
