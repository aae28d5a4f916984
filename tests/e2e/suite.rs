//! The cluster's life, step by step, each waiting until the overlay has converged again
//! ([`Snapshot::check`]) and printing what it checked and how long that took:
//! 1. up with 12 peers (with TLS, each enrolls with the rendezvous by the join token);
//! 2. who the rendezvous lets in, from the host through its published port: the operator
//!    certificate lists the groups; a plaintext client, a TLS client without a certificate and
//!    one with a certificate from another CA are refused (with TLS only);
//! 3. scale to 30;
//! 4. `docker stop` the leader of the largest group: a successor leads (the failover time, from
//!    the stop, is printed beside the preset's bound `alive_timeout + alive_interval`), everyone
//!    follows it and the neighbour groups link to it;
//! 5. `docker stop` the rendezvous: groups keep their leaders and links; a new peer joins
//!    through a peer's address (with TLS, on a certificate the suite issues, since nobody can
//!    enroll); `docker start` it: the directory refills from the peers' announcements, on the
//!    certificates issued before the restart; three more peers enroll with it and join;
//! 6. `docker kill` half of one region's peers, its leader first: the group heals.
//!
//! A failure prints the logs of the containers involved.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use locus_service::tls::pki::{Ca, Identity, Validity};
use locus_service::tls::{self, ClientTls, Credentials};
use xtask::cluster::{PEER_PORT, Snapshot, directory, peer_name, short};
use xtask::docker::Container;

use crate::support::{CONVERGE_TIMEOUT, Cluster, PRESET, failover_bound, say, step};

/// Peers at the start.
const START_PEERS: usize = 12;
/// Peers after scaling.
const SCALED_PEERS: usize = 30;
/// Peers added after the rendezvous' restart: they enroll with it.
const LATE_PEERS: usize = 3;
/// How long the overlay runs without its rendezvous before it is checked: more than the
/// directory's entry TTL (3 s) and many Alive timeouts (1.5 s) of the `test` preset.
const RENDEZVOUS_OUTAGE: Duration = Duration::from_secs(5);
/// How long the leaders and inter-group links must stay the same before the rendezvous stops:
/// after a failover the new leader's group may still trade far links for nearer ones
/// (improvement rounds, every 2 s re-measurement of the `test` preset, need no rendezvous), and
/// the check without the rendezvous compares against this baseline.
const STEADY: Duration = Duration::from_secs(5);
/// Where the newcomer of step 5 finds the certificate the suite issues it, and its flags: in
/// place of the service's join token.
const JOINER_DIR: &str = "/etc/locus/joiner";
const JOINER_ARGS: [&str; 3] = [
    "--ca=/etc/locus/secrets/ca.pem",
    "--cert=/etc/locus/joiner/peer.pem",
    "--key=/etc/locus/joiner/peer-key.pem",
];
/// How often the failover step looks for the successor.
const FAILOVER_POLL: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_converges_scales_fails_over_outlives_its_rendezvous_and_heals() {
    let mut cluster = Cluster::prepare("suite").await;
    let result = cluster.steps().await;
    cluster.finish(result);
}

impl Cluster {
    /// Steps 1 to 6.
    async fn steps(&mut self) -> Result<()> {
        // 1. Up.
        let snap = self.up(START_PEERS).await?;

        // 2. Who the rendezvous lets in.
        self.access(&snap).await?;

        // 3. Scale.
        step("scale to 30 peers");
        let t = Instant::now();
        xtask::scale(&self.docker, SCALED_PEERS)?;
        let snap = self
            .converge_timed(
                "30 peers converged",
                t,
                Some(SCALED_PEERS),
                |_| Vec::new(),
                true,
            )
            .await?;
        say!("{}", snap.render().trim_end());

        // 4. The leader of the largest group stops.
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
            peer_name(&old_leader),
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
        say!(
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
        say!(
            "  checked: group {} is led by {} at epoch {}, every member follows it, every \
             neighbour group links to {}",
            short(&g.id),
            g.leader.as_ref().map_or("?".into(), peer_name),
            g.epoch,
            g.leader_addr
        );

        // 5. The rendezvous stops; the overlay goes on; a peer joins through a peer; the
        // rendezvous starts again and knows the certificates it issued before.
        let rendezvous = self
            .docker
            .containers(false)?
            .into_iter()
            .find(|c| c.service == "rendezvous")
            .context("the rendezvous does not run")?;
        self.involved.insert(rendezvous.name.clone());
        let seen: Mutex<Option<(LeadersAndLinks, Instant)>> = Mutex::new(None);
        let before = self
            .converge(
                "leaders and links steady",
                Instant::now(),
                Some(SCALED_PEERS - 1),
                |snap| {
                    let now = leaders_and_links(snap);
                    let mut seen = seen.lock().expect("not poisoned");
                    match &*seen {
                        Some((prev, since)) if *prev == now => {
                            if since.elapsed() >= STEADY {
                                Vec::new()
                            } else {
                                vec![format!(
                                    "unchanged for {:.1} s of {} s",
                                    since.elapsed().as_secs_f64(),
                                    STEADY.as_secs()
                                )]
                            }
                        }
                        _ => {
                            *seen = Some((now, Instant::now()));
                            vec!["leaders or inter-group links changed".into()]
                        }
                    }
                },
            )
            .await?;
        step("docker stop the rendezvous");
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
        say!(
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
        let mut args = vec!["run", "--detach", "--no-deps", "-e", &bootstrap];
        // Nobody can enroll while the rendezvous is down: with TLS the newcomer starts on a
        // certificate xtask issues (`--cert`/`--key` instead of the service's join token).
        let mount;
        if let Some(secrets) = &self.secrets {
            let (dir, id) = secrets.issue_peer()?;
            say!("  with a peer certificate issued by xtask for {id}");
            mount = format!("{}:{JOINER_DIR}:ro", dir.display());
            args.extend(["--volume", &mount, "peer"]);
            args.extend(JOINER_ARGS);
        } else {
            args.push("peer");
        }
        let t = Instant::now();
        self.docker.compose_output(&args)?;
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
        say!(
            "  checked: {} joined group {} in its region {}",
            peer_name(&newcomer.container),
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
        say!(
            "  checked: the directory lists every group with its leader and member count{}",
            if self.secrets.is_some() {
                ": the peers announce on certificates issued before the restart"
            } else {
                ""
            }
        );

        // New peers after the restart. The stopped leader goes first, or Compose would count
        // it among the replicas and start it again.
        self.docker.docker(&["rm", &old_leader.id])?;
        let replicas = SCALED_PEERS - 1 + LATE_PEERS;
        let peers = snap.peers.len() + LATE_PEERS;
        step(&format!(
            "scale up by {LATE_PEERS} after the restart{}",
            if self.secrets.is_some() {
                ": they enroll with the restarted rendezvous"
            } else {
                ""
            }
        ));
        let t = Instant::now();
        xtask::scale(&self.docker, replicas)?;
        let snap = self
            .converge_timed(
                "late peers converged after the restart",
                t,
                Some(peers),
                |_| Vec::new(),
                true,
            )
            .await?;
        say!("  checked: {peers} peers in groups, the directory matches");

        // 6. Half of one region crashes.
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
        let names: Vec<String> = victims.iter().map(peer_name).collect();
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
        let remaining = snap.peers.len() - kill_count;
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
        say!(
            "  checked: group {} has {} members led by {} at epoch {}; the directory agrees",
            short(&g.id),
            g.members.len(),
            g.leader.as_ref().map_or("?".into(), peer_name),
            g.epoch
        );
        say!("{}", snap.render().trim_end());
        Ok(())
    }

    /// Step 2, from the host to the rendezvous' published port: the operator certificate
    /// lists the groups of `snap`; a plaintext client, a TLS client without a certificate and
    /// a certificate from another CA are refused. Without TLS only the listing is checked.
    async fn access(&mut self, snap: &Snapshot) -> Result<()> {
        let addr = format!(
            "127.0.0.1:{}",
            xtask::port_env("LOCUS_RENDEZVOUS_PORT", 7100)
        );
        step(&format!("who the rendezvous at {addr} lets in"));
        let t = Instant::now();
        let groups = directory(&self.client, &addr)
            .await
            .map_err(|e| anyhow::anyhow!("the operator's client cannot list the groups: {e}"))?;
        ensure!(
            groups.len() == snap.groups().len(),
            "the operator's client lists {} groups, the peers are in {}",
            groups.len(),
            snap.groups().len()
        );
        say!(
            "  ok: {} lists the {} groups",
            if self.secrets.is_some() {
                "the operator certificate"
            } else {
                "a plaintext client"
            },
            groups.len()
        );
        let Some(secrets) = &self.secrets else {
            say!("  (no TLS: nobody is refused, the refusals are not checked)");
            return Ok(());
        };
        let ca_pem = tls::read_file(&secrets.ca)?;
        let other = Ca::create("e2e intruder", Duration::from_secs(3600))?;
        let intruder = other.issue(
            &Identity::Operator("intruder".into()),
            &[],
            Validity::for_ttl(Duration::from_secs(3600)),
        )?;
        // It trusts the cluster's CA, so it is the rendezvous that has to refuse it.
        let intruder = Credentials::new(&ca_pem, &intruder.cert_pem, &intruder.key_pem)?;
        let refused: [(&str, ClientTls, &[&str]); 3] = [
            ("a plaintext client", ClientTls::Plaintext, &[]),
            (
                "a TLS client without a certificate",
                ClientTls::Tls(tls::anonymous_client_config(&ca_pem)?),
                &["Unauthenticated"],
            ),
            (
                "a certificate from another CA",
                ClientTls::Tls(intruder.client_config()?),
                &[],
            ),
        ];
        for (who, client, codes) in refused {
            match directory(&client, &addr).await {
                Ok(groups) => bail!("{who} listed {} groups: it should be refused", groups.len()),
                Err(e) if !codes.is_empty() && !codes.iter().any(|c| e.starts_with(c)) => {
                    bail!("{who} was refused, but not as expected ({codes:?}): {e}")
                }
                Err(e) => say!("  ok: {who} is refused: {e}"),
            }
        }
        self.locusctl_lists(&addr, snap.groups().len())?;
        self.timings
            .push(("access checks from the host".into(), t.elapsed()));
        Ok(())
    }

    /// The operator's path with the project's own commands: `locusctl cert operator` makes a
    /// certificate from the cluster CA, and `locusctl groups` with it lists the `expect`
    /// groups at `addr`; the same `locusctl` without the certificate is refused.
    fn locusctl_lists(&self, addr: &str, expect: usize) -> Result<()> {
        let root = self.docker.root();
        let locusctl = xtask::images::locusctl(root)?;
        let dir = std::env::temp_dir().join(format!("locus-e2e-operator-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca_dir = root.join("deploy/secrets/rendezvous");
        let run = |args: &[&str]| {
            std::process::Command::new(&locusctl)
                .args(args)
                .env_remove("LOCUS_CA")
                .env_remove("LOCUS_CERT")
                .env_remove("LOCUS_KEY")
                .output()
                .with_context(|| format!("cannot run {}", locusctl.display()))
        };
        let made = run(&[
            "cert",
            "operator",
            "--ca-dir",
            &ca_dir.to_string_lossy(),
            "--name",
            "e2e",
            "--out-dir",
            &dir.to_string_lossy(),
        ])?;
        ensure!(
            made.status.success(),
            "locusctl cert operator failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let (ca, cert, key) = (
            ca_dir.join("ca.pem"),
            dir.join("e2e.pem"),
            dir.join("e2e-key.pem"),
        );
        let listed = run(&[
            "--ca",
            &ca.to_string_lossy(),
            "--cert",
            &cert.to_string_lossy(),
            "--key",
            &key.to_string_lossy(),
            "-r",
            addr,
            "-o",
            "json",
            "groups",
        ])?;
        let _ = std::fs::remove_dir_all(&dir);
        ensure!(
            listed.status.success(),
            "locusctl groups with a certificate from `locusctl cert operator` failed: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&listed.stdout)
            .context("locusctl groups -o json printed no JSON")?;
        let n = json.as_array().map_or(0, Vec::len);
        ensure!(
            n == expect,
            "locusctl groups listed {n} groups, the peers are in {expect}"
        );
        say!("  ok: locusctl with a certificate from `locusctl cert operator` lists {n} groups");
        let anonymous = run(&["--ca", &ca.to_string_lossy(), "-r", addr, "groups"])?;
        ensure!(
            !anonymous.status.success(),
            "locusctl without a client certificate listed the groups"
        );
        say!(
            "  ok: locusctl without a client certificate is refused: {}",
            String::from_utf8_lossy(&anonymous.stderr).trim()
        );
        Ok(())
    }

    /// How long after `started` (just before the stop) the peers first report a leader of
    /// `group` other than `old`, at a later epoch; polled every [`FAILOVER_POLL`].
    async fn successor_leads(
        &mut self,
        group: &xtask::cluster::Group,
        old: &Container,
        started: Instant,
    ) -> Result<Duration> {
        loop {
            let snap = Snapshot::take(&self.docker, &self.regions, &self.client).await?;
            if let Some(g) = snap.groups().get(&group.id)
                && g.epoch > group.epoch
                && g.leader.as_ref().is_some_and(|l| l.id != old.id)
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= CONVERGE_TIMEOUT {
                say!("{}", snap.render().trim_end());
                bail!(
                    "no successor leads group {} {} s after the stop",
                    short(&group.id),
                    CONVERGE_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(FAILOVER_POLL).await;
        }
    }
}

/// A snapshot's `group -> leader` pairs and undirected `group -- group` links, as text.
type LeadersAndLinks = (BTreeSet<String>, BTreeSet<String>);

/// The [`LeadersAndLinks`] of `snap`.
fn leaders_and_links(snap: &Snapshot) -> LeadersAndLinks {
    let groups = snap.groups();
    let leaders = groups
        .values()
        .map(|g| {
            format!(
                "group {} led by {}",
                short(&g.id),
                g.leader.as_ref().map_or("-".into(), peer_name)
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
