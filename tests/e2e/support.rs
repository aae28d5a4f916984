//! What every container test starts from: Docker found, the images built once, the secrets
//! made, no cluster left over; and the cluster torn down when the test ends, passed or failed.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use locus_service::tls::ClientTls;
use tokio::sync::{Mutex, MutexGuard};
use xtask::cluster::{Regions, Snapshot, peer_name, short};
use xtask::docker::Docker;
use xtask::secrets::Secrets;

/// Longest wait for any convergence.
pub(crate) const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
/// The protocol preset of the compose cluster's peers (`LOCUS_PRESET` in
/// `docker-compose.yml`), for the failover bound.
pub(crate) const PRESET: &str = "test";
/// Log lines printed per container on failure.
const LOG_LINES: usize = 60;

/// Prints a line on standard error past the harness' capture: the suite's progress and
/// timings show in a plain `cargo test` too.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

/// Prints the heading of a step.
pub(crate) fn step(what: &str) {
    say!("\n== e2e: {what}");
}

/// The failover bound of [`PRESET`] for a leader that vanishes without a word: members give it
/// up after `alive_timeout` (1.5 s), and the successor's first `Alive` reaches them within one
/// `alive_interval` (0.5 s): 2 s. A stopped leader hands its group over at once, so it should
/// do better.
pub(crate) fn failover_bound() -> Duration {
    let p = locus_core::Config::preset(PRESET).unwrap_or_else(locus_core::Config::test);
    p.alive_timeout + p.alive_interval
}

/// One cluster at a time: the tests share the engine, the project and the published ports.
static TURN: Mutex<()> = Mutex::const_new(());
/// The images, built by the first test that needs them; the error as text for the others.
static IMAGES: OnceLock<Result<(), String>> = OnceLock::new();

/// A test's cluster: how to reach it, and what to tear down and report at the end.
pub(crate) struct Cluster {
    pub(crate) docker: Docker,
    pub(crate) regions: Regions,
    /// The suite's client: the operator certificate, or plaintext.
    pub(crate) client: ClientTls,
    /// The cluster's secrets; `None` when it runs without TLS.
    pub(crate) secrets: Option<Secrets>,
    /// The timings so far, printed at the end.
    pub(crate) timings: Vec<(String, Duration)>,
    /// The containers a failure concerns, by name or hostname.
    pub(crate) involved: BTreeSet<String>,
    name: &'static str,
    started: Instant,
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Waits for its turn, checks that Docker is there (a failure says what to do), builds the
    /// images once, makes the secrets, and clears any earlier cluster of the project.
    pub(crate) async fn prepare(name: &'static str) -> Cluster {
        let turn = TURN.lock().await;
        let root = xtask::workspace_root();
        let docker = Docker::connect(&root).unwrap_or_else(|e| {
            panic!("the container suite (tests/e2e) needs Docker: {e:#}");
        });
        let plaintext = flag("LOCUS_E2E_PLAINTEXT");
        let (docker, client, secrets) =
            xtask::mode(&root, docker, plaintext).unwrap_or_else(|e| panic!("{e:#}"));
        let built = IMAGES.get_or_init(|| {
            if flag("LOCUS_E2E_NO_BUILD") {
                return Ok(());
            }
            xtask::images::build(&root).map_err(|e| format!("{e:#}"))
        });
        if let Err(e) = built {
            panic!("building the images failed: {e}");
        }
        let regions = Regions::load(&root).unwrap_or_else(|e| panic!("{e:#}"));
        say!(
            "\n==== e2e {name}: {}, project {}, {}",
            docker.compose_name(),
            docker.project(),
            if secrets.is_some() {
                "with mutual TLS"
            } else {
                "WITHOUT TLS (LOCUS_E2E_PLAINTEXT)"
            }
        );
        xtask::down(&docker).unwrap_or_else(|e| panic!("cannot clear an earlier cluster: {e:#}"));
        Cluster {
            docker,
            regions,
            client,
            secrets,
            timings: Vec::new(),
            involved: BTreeSet::new(),
            name,
            started: Instant::now(),
            _turn: turn,
        }
    }

    /// Starts the cluster with `peers` peers and waits until it has converged.
    pub(crate) async fn up(&mut self, peers: usize) -> anyhow::Result<Snapshot> {
        step(&format!("up with {peers} peers"));
        let t = Instant::now();
        xtask::up(&self.docker, peers)?;
        let snap = self
            .converge_timed(
                &format!("{peers} peers converged"),
                t,
                Some(peers),
                |_| Vec::new(),
                true,
            )
            .await?;
        say!("{}", snap.render().trim_end());
        Ok(snap)
    }

    /// Waits until the overlay has converged and `extra` finds nothing wrong; records and
    /// prints the time it took since `started` (just before the step acted).
    pub(crate) async fn converge(
        &mut self,
        what: &str,
        started: Instant,
        peers: Option<usize>,
        extra: impl Fn(&Snapshot) -> Vec<String>,
    ) -> anyhow::Result<Snapshot> {
        self.converge_timed(what, started, peers, extra, false)
            .await
    }

    /// [`Cluster::converge`], recording also when every peer was first in a group
    /// (`record_join`), for the steps that add peers.
    pub(crate) async fn converge_timed(
        &mut self,
        what: &str,
        started: Instant,
        peers: Option<usize>,
        extra: impl Fn(&Snapshot) -> Vec<String>,
        record_join: bool,
    ) -> anyhow::Result<Snapshot> {
        let mut joined = None;
        loop {
            let snap = Snapshot::take(&self.docker, &self.regions, &self.client).await?;
            if joined.is_none() && snap.all_in_groups(peers) {
                joined = Some(started.elapsed());
            }
            let mut problems = snap.check(peers);
            problems.extend(extra(&snap));
            if problems.is_empty() {
                let took = started.elapsed();
                let joined = joined.unwrap_or(took);
                let groups = snap.groups();
                say!(
                    "  ok: {what} in {:.1} s (bound {} s; every peer in a group at {:.1} s): {} \
                     peers, {} groups, one leader each, one group per region, links at current \
                     leaders, graph connected{}",
                    took.as_secs_f64(),
                    CONVERGE_TIMEOUT.as_secs(),
                    joined.as_secs_f64(),
                    snap.peers.len(),
                    groups.len(),
                    if snap.directory.is_some() {
                        ", directory matches"
                    } else {
                        ""
                    }
                );
                if record_join {
                    self.timings
                        .push((format!("{what}: every peer in a group"), joined));
                }
                self.timings.push((what.to_string(), took));
                return Ok(snap);
            }
            if started.elapsed() >= CONVERGE_TIMEOUT {
                say!("{}", snap.render().trim_end());
                self.involved.extend(
                    snap.peers
                        .iter()
                        .filter(|p| {
                            let name = peer_name(&p.container);
                            problems.iter().any(|l| l.contains(&name))
                        })
                        .map(|p| p.container.name.clone()),
                );
                anyhow::bail!(
                    "{what}: not converged after {} s:\n  {}",
                    CONVERGE_TIMEOUT.as_secs(),
                    problems.join("\n  ")
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Ends the test: on failure prints the logs of the containers involved and panics with
    /// the error; prints the timings either way (the cluster goes when `self` drops).
    pub(crate) fn finish(mut self, result: anyhow::Result<()>) {
        if let Err(e) = &result {
            say!("\ne2e {}: FAILED: {e:#}\n", self.name);
            self.print_logs(&format!("{e:#}"));
        }
        say!("\ne2e {}: timings", self.name);
        for (step, took) in &self.timings {
            say!("  {:>6.1} s  {step}", took.as_secs_f64());
        }
        say!(
            "e2e {}: {} in {:.0} s",
            self.name,
            if result.is_ok() { "passed" } else { "FAILED" },
            self.started.elapsed().as_secs_f64()
        );
        if let Err(e) = result {
            panic!("{e:#}");
        }
    }

    /// Prints the logs of the containers involved in the failure: those named in the error,
    /// those the failing step acted on, and the rendezvous.
    fn print_logs(&mut self, error: &str) {
        let Ok(all) = self.docker.containers(true) else {
            return;
        };
        for c in &all {
            if c.service == "rendezvous" || error.contains(&c.name) || error.contains(&c.hostname) {
                self.involved.insert(c.name.clone());
            }
        }
        for name in self.involved.iter().take(10) {
            say!("----- logs of {name} (last {LOG_LINES} lines)");
            say!("{}", self.docker.logs(name, LOG_LINES));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if flag("LOCUS_E2E_KEEP") {
            say!(
                "e2e {}: the cluster keeps running (LOCUS_E2E_KEEP); `cargo xtask down` removes it",
                self.name
            );
        } else if let Err(e) = xtask::down(&self.docker) {
            say!("e2e {}: tear-down failed: {e:#}", self.name);
        }
    }
}

/// Whether the environment variable is set to something other than empty, `0` or `false`.
pub(crate) fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The published address of the rendezvous' gRPC port and of its HTTP port (metrics, map).
pub(crate) fn published() -> (String, String) {
    (
        format!(
            "127.0.0.1:{}",
            xtask::port_env("LOCUS_RENDEZVOUS_PORT", 7100)
        ),
        format!(
            "127.0.0.1:{}",
            xtask::port_env("LOCUS_RENDEZVOUS_METRICS_PORT", 9101)
        ),
    )
}

/// The largest group (ties broken by id) and its leader's container.
pub(crate) fn largest(snap: &Snapshot) -> anyhow::Result<xtask::cluster::Group> {
    use anyhow::Context as _;
    let group = snap
        .groups()
        .into_values()
        .max_by_key(|g| (g.members.len(), g.id.clone()))
        .context("no groups")?;
    anyhow::ensure!(
        group.leader.is_some(),
        "group {} has no leader",
        short(&group.id)
    );
    Ok(group)
}
