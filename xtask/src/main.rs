//! `cargo xtask`: the container images, the compose test cluster and its end-to-end suite.
//!
//! - `images`: static release binaries built on the host, `FROM scratch` images around them
//!   (module `images`);
//! - `up`, `scale`, `status`, `down`: the cluster of `docker-compose.yml`, through the Docker
//!   and Compose clients (module `docker`), waiting until the overlay has converged
//!   (module `cluster`);
//! - `e2e`: the end-to-end suite against real containers (module `e2e`).

mod cluster;
mod docker;
mod e2e;
mod images;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use cluster::{Regions, Snapshot};
use docker::Docker;

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
    /// The end-to-end suite: up, scale, leader loss, rendezvous loss, crashes; tears down.
    E2e {
        /// Do not build: use the images as they are.
        #[arg(long)]
        no_build: bool,
        /// Leave the cluster running at the end (for a look at what failed).
        #[arg(long)]
        keep: bool,
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
    let docker = Docker::connect(&root)?;
    let regions = Regions::load(&root)?;
    match task {
        Task::Images => images::build(&root)?,
        Task::Up {
            peers,
            no_build,
            timeout_s,
        } => {
            if !no_build {
                images::build(&root)?;
            }
            up(&docker, peers)?;
            let snap = wait_converged(&docker, &regions, Some(peers), timeout_s).await?;
            print!("{}", snap.render());
            println!(
                "\nThe rendezvous is on 127.0.0.1:{} (gRPC, reflection) and its metrics on \
                 127.0.0.1:{}/metrics.\nTry `locusctl groups`, `cargo xtask scale 30`, \
                 `cargo xtask down`.",
                port_env("LOCUS_RENDEZVOUS_PORT", 7100),
                port_env("LOCUS_RENDEZVOUS_METRICS_PORT", 9101)
            );
        }
        Task::Scale { peers, timeout_s } => {
            scale(&docker, peers)?;
            let snap = wait_converged(&docker, &regions, Some(peers), timeout_s).await?;
            print!("{}", snap.render());
        }
        Task::Status => {
            let snap = Snapshot::take(&docker, &regions).await?;
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
        Task::E2e { no_build, keep } => {
            if !no_build {
                images::build(&root)?;
            }
            return e2e::run(&docker, &regions, keep).await;
        }
    }
    Ok(ExitCode::SUCCESS)
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
    docker.compose(&["down", "--remove-orphans", "--volumes", "--timeout", "5"])
}

/// Polls the cluster until it has converged; the error lists what is still wrong.
pub(crate) async fn wait_converged(
    docker: &Docker,
    regions: &Regions,
    peers: Option<usize>,
    timeout_s: u64,
) -> Result<Snapshot> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(timeout_s);
    loop {
        let snap = Snapshot::take(docker, regions).await?;
        let problems = snap.check(peers);
        if problems.is_empty() {
            println!(
                "xtask: converged in {:.1} s",
                started.elapsed().as_secs_f64()
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

fn port_env(var: &str, default: u16) -> u16 {
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
