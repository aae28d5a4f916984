//! `cargo xtask`: the container images and the compose test cluster (the library, `xtask`).
//!
//! - `images`: static release binaries built on the host, `FROM scratch` images around them;
//! - `up`, `scale`, `status`, `down`: the cluster of `docker-compose.yml`, waiting until the
//!   overlay has converged;
//! - `secrets`: the cluster's CA, join token and certificates under `deploy/secrets/`, which
//!   `up` makes too when missing;
//! - `e2e`: an alias for the container suite, `cargo test -p locus-tests --test e2e`.
//!
//! The cluster speaks mutual TLS unless `up` is given `--plaintext`; `scale` and `status` find
//! out from the running containers.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use xtask::cluster::{Regions, Snapshot};
use xtask::docker::Docker;
use xtask::secrets::{self, Secrets};
use xtask::{down, images, mode, port_env, running_plaintext, scale, up, wait_converged};

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
    /// The container suite, `cargo test -p locus-tests --test e2e -- --test-threads 1
    /// --nocapture`: up, scale, leader loss, rendezvous restart, crashes, who the rendezvous
    /// lets in, the live map in a browser, plain Compose on a fresh copy; tears down.
    E2e {
        /// Leave the last cluster running at the end (for a look at what failed):
        /// `LOCUS_E2E_KEEP=1`.
        #[arg(long)]
        keep: bool,
        /// Run the cluster without TLS (docker-compose.plaintext.yml), to compare:
        /// `LOCUS_E2E_PLAINTEXT=1`.
        #[arg(long)]
        plaintext: bool,
        /// Only the tests whose names contain this.
        filter: Option<String>,
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
    let root = xtask::workspace_root();
    if let Task::E2e {
        keep,
        plaintext,
        filter,
    } = task
    {
        return e2e(keep, plaintext, filter);
    }
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
        Task::E2e { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask e2e`: the container suite is an ordinary test target of `locus-tests`.
fn e2e(keep: bool, plaintext: bool, filter: Option<String>) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(xtask::workspace_root())
        .args(["test", "--package", "locus-tests", "--test", "e2e", "--"])
        .args(["--test-threads", "1", "--nocapture"]);
    cmd.args(filter);
    if keep {
        cmd.env("LOCUS_E2E_KEEP", "1");
    }
    if plaintext {
        cmd.env("LOCUS_E2E_PLAINTEXT", "1");
    }
    let status = cmd.status().context("cannot run cargo test")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
