//! The end-to-end suite: the real images in real containers, on the compose cluster.
//!
//! Steps, each waiting until the overlay has converged again ([`Snapshot::check`]) and printing
//! what it checked and how long that took:
//! 1. up with 12 peers;
//! 2. scale to 30;
//! 3. `docker stop` the leader of the largest group: a successor leads (the failover time, from
//!    the stop, is printed beside the preset's bound `alive_timeout + alive_interval`), everyone
//!    follows it and the neighbour groups link to it;
//! 4. `docker stop` the rendezvous: groups keep their leaders and links; a new peer joins
//!    through a peer's address; the restarted rendezvous' directory refills from announcements;
//! 5. `docker kill` half of one region's peers, its leader first: the group heals.
//!
//! A failure prints the logs of the containers involved. The cluster is always torn down.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::cluster::{PEER_PORT, Regions, Snapshot, short};
use crate::docker::{Container, Docker};

/// Peers at the start.
const START_PEERS: usize = 12;
/// Peers after scaling.
const SCALED_PEERS: usize = 30;
/// Longest wait for any convergence.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the overlay runs without its rendezvous before it is checked: more than the
/// directory's entry TTL (3 s) and many Alive timeouts (1.5 s) of the `test` preset.
const RENDEZVOUS_OUTAGE: Duration = Duration::from_secs(5);
/// Log lines printed per container on failure.
const LOG_LINES: usize = 60;
/// The protocol preset of the compose cluster's peers (`LOCUS_PRESET` in
/// `docker-compose.yml`), for the failover bound printed beside the measured failover.
const PRESET: &str = "test";
/// How often the failover step looks for the successor.
const FAILOVER_POLL: Duration = Duration::from_millis(250);

/// The failover bound of [`PRESET`] for a leader that vanishes without a word: members give it
/// up after `alive_timeout`, and the successor's first `Alive` reaches them within one
/// `alive_interval`. A stopped leader hands its group over at once, so it should do better.
fn failover_bound() -> Duration {
    let p = locus_core::Config::preset(PRESET).unwrap_or_else(locus_core::Config::test);
    p.alive_timeout + p.alive_interval
}

/// The suite's state: the timings so far and the containers a failure concerns.
struct Suite<'a> {
    docker: &'a Docker,
    regions: &'a Regions,
    timings: Vec<(String, Duration)>,
    involved: BTreeSet<String>,
}

/// Runs the suite; tears the cluster down afterwards unless `keep`.
pub(crate) async fn run(docker: &Docker, regions: &Regions, keep: bool) -> Result<ExitCode> {
    let started = Instant::now();
    println!("e2e: using {}", docker.compose_name());
    crate::down(docker).context("cannot clear an earlier cluster")?;
    let mut suite = Suite {
        docker,
        regions,
        timings: Vec::new(),
        involved: BTreeSet::new(),
    };
    let result = suite.steps().await;
    if let Err(e) = &result {
        eprintln!("\ne2e: FAILED: {e:#}\n");
        suite.print_logs(&format!("{e:#}"));
    }
    if keep {
        println!("e2e: the cluster keeps running (--keep); `cargo xtask down` removes it");
    } else if let Err(e) = crate::down(docker) {
        eprintln!("e2e: tear-down failed: {e:#}");
    }
    println!("\ne2e: timings");
    for (step, took) in &suite.timings {
        println!("  {:>6.1} s  {step}", took.as_secs_f64());
    }
    println!(
        "e2e: {} in {:.0} s",
        if result.is_ok() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

impl Suite<'_> {
    async fn steps(&mut self) -> Result<()> {
        // 1. Up.
        step("up with 12 peers");
        let t = Instant::now();
        crate::up(self.docker, START_PEERS)?;
        let snap = self
            .converge("12 peers converged", t, Some(START_PEERS), |_| Vec::new())
            .await?;
        print!("{}", snap.render());

        // 2. Scale.
        step("scale to 30 peers");
        let t = Instant::now();
        crate::scale(self.docker, SCALED_PEERS)?;
        let snap = self
            .converge("30 peers converged", t, Some(SCALED_PEERS), |_| Vec::new())
            .await?;
        print!("{}", snap.render());

        // 3. The leader of the largest group stops.
        let groups = snap.groups();
        let largest = groups
            .values()
            .max_by_key(|g| (g.members.len(), g.id.clone()))
            .context("no groups")?
            .clone();
        let old_leader = largest
            .leader
            .clone()
            .context("the largest group has no leader")?;
        step(&format!(
            "docker stop {} (leader of group {}, {} members, epoch {})",
            old_leader.name,
            short(&largest.id),
            largest.members.len(),
            largest.epoch
        ));
        self.involved.insert(old_leader.name.clone());
        let t = Instant::now();
        self.docker.docker(&["stop", &old_leader.id])?;
        // The failover proper, from the stop: a successor leads the group at a later epoch.
        let failover = self.successor_leads(&largest, &old_leader, t).await?;
        let bound = failover_bound();
        println!(
            "  failover: a successor leads group {} {:.1} s after the stop (bound \
             alive_timeout + alive_interval of the `{PRESET}` preset: {:.1} s)",
            short(&largest.id),
            failover.as_secs_f64(),
            bound.as_secs_f64()
        );
        self.timings.push((
            format!(
                "failover after docker stop (bound {:.1} s)",
                bound.as_secs_f64()
            ),
            failover,
        ));
        let snap = self
            .converge(
                "new leader after docker stop",
                t,
                Some(SCALED_PEERS - 1),
                |snap| {
                    let groups = snap.groups();
                    match groups.get(&largest.id) {
                        None => vec![format!("group {} is gone", short(&largest.id))],
                        Some(g) if g.epoch <= largest.epoch => {
                            vec![format!("group {} still at epoch {}", short(&g.id), g.epoch)]
                        }
                        Some(_) => Vec::new(),
                    }
                },
            )
            .await?;
        let g = &snap.groups()[&largest.id];
        println!(
            "  checked: group {} is led by {} at epoch {}, every member follows it, every \
             neighbour group links to {}",
            short(&g.id),
            g.leader.as_ref().map(|c| c.name.as_str()).unwrap_or("?"),
            g.epoch,
            g.leader_addr
        );

        // 4. The rendezvous stops; the overlay goes on; a peer joins through a peer.
        let rendezvous = self
            .docker
            .containers(false)?
            .into_iter()
            .find(|c| c.service == "rendezvous")
            .context("the rendezvous does not run")?;
        self.involved.insert(rendezvous.name.clone());
        step("docker stop the rendezvous");
        let before = snap;
        self.docker.docker(&["stop", &rendezvous.id])?;
        tokio::time::sleep(RENDEZVOUS_OUTAGE).await;
        self.timings
            .push(("rendezvous outage (fixed wait)".into(), RENDEZVOUS_OUTAGE));
        // Converged as before, with the same leaders and links: a lost leader does not come
        // back, so a failure here shows as a timeout that lists what was lost.
        let (leaders_before, links_before) = leaders_and_links(&before);
        let after = self
            .converge(
                "steady without the rendezvous (after the wait)",
                Instant::now(),
                Some(SCALED_PEERS - 1),
                |snap| {
                    let mut problems = Vec::new();
                    if snap.directory.is_some() {
                        problems.push("the rendezvous still runs".into());
                    }
                    let (leaders, links) = leaders_and_links(snap);
                    for l in leaders_before.difference(&leaders) {
                        problems.push(format!("leader lost without the rendezvous: {l}"));
                    }
                    for l in links_before.difference(&links) {
                        problems.push(format!("link lost without the rendezvous: {l}"));
                    }
                    problems
                },
            )
            .await?;
        println!(
            "  checked after {} s without it: the same {} leaders and {} inter-group links",
            RENDEZVOUS_OUTAGE.as_secs(),
            leaders_before.len(),
            links_before.len()
        );

        let through = after
            .peers
            .iter()
            .find(|p| !p.is_leader())
            .or_else(|| after.peers.first())
            .context("no peers")?;
        let through = format!("{}:{PEER_PORT}", through.container.hostname);
        step(&format!("a new peer joins through {through}"));
        let bootstrap = format!("LOCUS_BOOTSTRAP={through}");
        self.docker
            .compose_output(&["run", "--detach", "--no-deps", "-e", &bootstrap, "peer"])?;
        let snap = self
            .converge(
                "new peer joined without the rendezvous",
                t,
                Some(SCALED_PEERS),
                |_| Vec::new(),
            )
            .await?;
        let newcomer = snap
            .peers
            .iter()
            .find(|p| {
                !before
                    .peers
                    .iter()
                    .any(|b| b.container.id == p.container.id)
            })
            .context("the new peer does not run")?;
        println!(
            "  checked: {} joined group {} in its region {}",
            newcomer.container.name,
            short(newcomer.group_id().unwrap_or("-")),
            snap.region(newcomer).unwrap_or("?")
        );

        step("docker start the rendezvous");
        let t = Instant::now();
        self.docker.docker(&["start", &rendezvous.id])?;
        let snap = self
            .converge(
                "directory refilled",
                t,
                Some(SCALED_PEERS),
                |snap| match &snap.directory {
                    Some(Ok(_)) => Vec::new(),
                    _ => vec!["the rendezvous does not answer yet".into()],
                },
            )
            .await?;
        println!("  checked: the directory lists every group with its leader and member count");

        // 5. Half of one region crashes.
        let groups = snap.groups();
        let target = groups
            .values()
            .max_by_key(|g| (g.members.len(), g.id.clone()))
            .context("no groups")?
            .clone();
        let leader = target.leader.clone().context("no leader")?;
        let kill_count = (target.members.len() / 2).max(1);
        let mut victims: Vec<Container> = vec![leader.clone()];
        victims.extend(
            target
                .members
                .iter()
                .filter(|c| c.id != leader.id)
                .take(kill_count - 1)
                .cloned(),
        );
        let names: Vec<&str> = victims.iter().map(|c| c.name.as_str()).collect();
        step(&format!(
            "docker kill {kill_count} of the {} peers of region {} (group {}, its leader first): {}",
            target.members.len(),
            target
                .regions
                .iter()
                .next()
                .map(String::as_str)
                .unwrap_or("?"),
            short(&target.id),
            names.join(" ")
        ));
        let t = Instant::now();
        let mut args = vec!["kill"];
        args.extend(victims.iter().map(|c| c.id.as_str()));
        self.docker.docker(&args)?;
        self.involved.extend(victims.iter().map(|c| c.name.clone()));
        let remaining = SCALED_PEERS - kill_count;
        let victim_ids: BTreeSet<String> = victims.iter().map(|c| c.id.clone()).collect();
        let snap = self
            .converge(
                "group healed after docker kill",
                t,
                Some(remaining),
                |snap| match snap.groups().get(&target.id) {
                    None => vec![format!("group {} is gone", short(&target.id))],
                    Some(g) if g.members.len() != target.members.len() - kill_count => {
                        vec![format!(
                            "group {} has {} members",
                            short(&g.id),
                            g.members.len()
                        )]
                    }
                    Some(g)
                        if g.leader
                            .as_ref()
                            .is_some_and(|l| victim_ids.contains(&l.id)) =>
                    {
                        vec!["a killed peer still leads".into()]
                    }
                    Some(_) => Vec::new(),
                },
            )
            .await?;
        let g = &snap.groups()[&target.id];
        println!(
            "  checked: group {} has {} members led by {} at epoch {}; the directory agrees",
            short(&g.id),
            g.members.len(),
            g.leader.as_ref().map(|c| c.name.as_str()).unwrap_or("?"),
            g.epoch
        );
        print!("{}", snap.render());
        Ok(())
    }

    /// How long after `started` (just before the stop) the peers first report a leader of
    /// `group` other than `old`, at a later epoch; polled every [`FAILOVER_POLL`].
    async fn successor_leads(
        &mut self,
        group: &crate::cluster::Group,
        old: &Container,
        started: Instant,
    ) -> Result<Duration> {
        loop {
            let snap = Snapshot::take(self.docker, self.regions).await?;
            if let Some(g) = snap.groups().get(&group.id)
                && g.epoch > group.epoch
                && g.leader.as_ref().is_some_and(|l| l.id != old.id)
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= CONVERGE_TIMEOUT {
                print!("{}", snap.render());
                bail!(
                    "no successor leads group {} {} s after the stop",
                    short(&group.id),
                    CONVERGE_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(FAILOVER_POLL).await;
        }
    }

    /// Waits until the overlay has converged and `extra` finds nothing wrong; records and
    /// prints the time it took since `started` (just before the step acted).
    async fn converge(
        &mut self,
        what: &str,
        started: Instant,
        peers: Option<usize>,
        extra: impl Fn(&Snapshot) -> Vec<String>,
    ) -> Result<Snapshot> {
        loop {
            let snap = Snapshot::take(self.docker, self.regions).await?;
            let mut problems = snap.check(peers);
            problems.extend(extra(&snap));
            if problems.is_empty() {
                let took = started.elapsed();
                let groups = snap.groups();
                println!(
                    "  ok: {what} in {:.1} s (bound {} s): {} peers, {} groups, one leader \
                     each, one group per region, links at current leaders, graph connected{}",
                    took.as_secs_f64(),
                    CONVERGE_TIMEOUT.as_secs(),
                    snap.peers.len(),
                    groups.len(),
                    if snap.directory.is_some() {
                        ", directory matches"
                    } else {
                        ""
                    }
                );
                self.timings.push((what.to_string(), took));
                return Ok(snap);
            }
            if started.elapsed() >= CONVERGE_TIMEOUT {
                print!("{}", snap.render());
                self.involved.extend(
                    snap.peers
                        .iter()
                        .filter(|p| problems.iter().any(|l| l.contains(&p.container.name)))
                        .map(|p| p.container.name.clone()),
                );
                bail!(
                    "{what}: not converged after {} s:\n  {}",
                    CONVERGE_TIMEOUT.as_secs(),
                    problems.join("\n  ")
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
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
            eprintln!("----- logs of {name} (last {LOG_LINES} lines)");
            eprintln!("{}", self.docker.logs(name, LOG_LINES));
        }
    }
}

/// Prints the heading of a step.
fn step(what: &str) {
    println!("\n== e2e: {what}");
}

/// `group -> leader` pairs and undirected `group -- group` links, as text.
fn leaders_and_links(snap: &Snapshot) -> (BTreeSet<String>, BTreeSet<String>) {
    let groups = snap.groups();
    let leaders = groups
        .values()
        .map(|g| {
            format!(
                "group {} led by {}",
                short(&g.id),
                g.leader.as_ref().map(|c| c.name.as_str()).unwrap_or("-")
            )
        })
        .collect();
    let links = groups
        .values()
        .flat_map(|g| {
            g.neighbours.iter().map(|n| {
                let (a, b) = if g.id < *n { (&g.id, n) } else { (n, &g.id) };
                format!("{} -- {}", short(a), short(b))
            })
        })
        .collect();
    (leaders, links)
}
