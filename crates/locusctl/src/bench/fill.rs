//! Synthetic load beside `bench`'s measured call: a directory filled with groups through the
//! authenticated path, announcements paced in the background (refreshes that change nothing,
//! as leaders mostly send; or, with `changes`, each one a change of its group's member count
//! that every subscriber receives), and `WatchOverlay` subscribers that read every change from
//! the moment they subscribe.
//!
//! The rendezvous takes a group only from its authenticated leader, and one identity leads one
//! group, so each synthetic group needs a peer identity of its own: `--fill` mints one
//! certificate per group from the cluster CA (`--ca-dir`, as `locusctl ca init` wrote it) and
//! announces each group over a TLS connection of its own. Synthetic leaders sit in
//! 198.18.0.0/15, the range set aside for benchmarks (RFC 2544): public by the rendezvous'
//! address rules, and nobody a peer could reach. Each group links to up to three earlier ones,
//! so the directory's component and cut computations see one connected overlay. Nothing ends
//! the groups: they expire one TTL after the last announcement.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use locus_core::{GroupId, PeerId, Rng};
use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::{self, ClientTls, Credentials, Identity, pki};
use tokio::task::JoinSet;

use crate::Failure;
use crate::client::{Client, Svc, describe};

/// Announcements of the fill in flight at once, each on a connection of its own.
const FILL_CONCURRENCY: usize = 32;
/// Most groups `--fill` makes: the room 198.18.0.0/15 gives at one address per group.
pub(crate) const MAX_FILL: u32 = 131_072;
/// Lifetime of the synthetic leaders' certificates: the benchmark's, with room.
const CERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// A synthetic group's leader: its connection, made with its own certificate, and the
/// announcement that refreshes its group.
#[derive(Debug, Clone)]
pub(crate) struct Leader {
    pub(crate) client: RendezvousClient<Svc>,
    pub(crate) refresh: Arc<pb::AnnounceGroupRequest>,
}

impl Leader {
    /// Announces the group as it stands.
    pub(crate) async fn announce(&mut self) -> Result<(), tonic::Status> {
        self.announce_members(0).await
    }

    /// Announces the group with `more` members than it was filled with: a change that every
    /// `WatchOverlay` subscriber receives, where a plain refresh changes nothing.
    pub(crate) async fn announce_members(&mut self, more: u32) -> Result<(), tonic::Status> {
        let mut request = pb::AnnounceGroupRequest::clone(&self.refresh);
        if let Some(g) = request.group.as_mut() {
            g.member_count += more;
        }
        let reply = self.client.announce_group(request).await?.into_inner();
        match reply.superseded_by {
            None => Ok(()),
            Some(v) => Err(tonic::Status::aborted(format!(
                "group {} was superseded by leader {:?}",
                v.group_id,
                v.leader.map(|l| l.peer_id)
            ))),
        }
    }
}

/// What `--fill` did.
#[derive(Debug, serde::Serialize)]
pub(crate) struct FillReport {
    pub(crate) groups: u32,
    pub(crate) mint_s: f64,
    pub(crate) announce_s: f64,
    pub(crate) announces_per_s: f64,
}

/// Fills the directory at `addr` with `n` groups; keeps the connections of the first `keep`
/// leaders open and returns them.
pub(crate) async fn fill(
    client: &Client,
    ca_dir: &Path,
    addr: &str,
    n: u32,
    keep: usize,
) -> Result<(Vec<Leader>, FillReport), Failure> {
    let read = |name: &str| {
        let path = ca_dir.join(name);
        tls::read_file(&path).map_err(|e| Failure::new(1, format!("--ca-dir: {e}")))
    };
    let (ca_pem, ca_key) = (read("ca.pem")?, read("ca-key.pem")?);
    let ca = pki::Ca::load(&ca_pem, &ca_key)
        .map_err(|e| Failure::new(1, format!("--ca-dir {}: {e}", ca_dir.display())))?;
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(seed);

    let minted = Instant::now();
    let validity = pki::Validity::for_ttl(CERT_TTL);
    let mut leaders = Vec::with_capacity(n as usize);
    let mut views: Vec<pb::GroupView> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let id = PeerId::random(&mut rng);
        let issued = ca
            .issue(&Identity::Peer(id), &[], validity)
            .map_err(|e| Failure::new(1, format!("minting a synthetic leader: {e}")))?;
        let credentials = Credentials::new(&ca_pem, &issued.cert_pem, &issued.key_pem)
            .and_then(|c| c.client_config())
            .map_err(|e| Failure::new(1, format!("a synthetic leader's TLS: {e}")))?;
        let leader = pb::PeerRef {
            peer_id: id.to_string(),
            addr: format!(
                "198.{}.{}.{}:7000",
                18 + (i >> 16),
                (i >> 8) & 0xff,
                i & 0xff
            ),
        };
        let view = pb::GroupView {
            group_id: GroupId::random(&mut rng).to_string(),
            epoch: 1,
            leader: Some(leader.clone()),
            successors: vec![],
            member_count: 1 + rng.below(16) as u32,
        };
        // Links to the previous group and up to two earlier ones picked at random.
        let mut linked: Vec<usize> = Vec::new();
        if i > 0 {
            linked.push(i as usize - 1);
            for _ in 0..2 {
                let j = rng.below(u64::from(i)) as usize;
                if !linked.contains(&j) {
                    linked.push(j);
                }
            }
        }
        let neighbors = linked
            .iter()
            .map(|&j| pb::NeighborGroup {
                group_id: views[j].group_id.clone(),
                leader: views[j].leader.clone(),
                successors: vec![],
                rtt_us: 1_000 + rng.below(99_000),
            })
            .collect();
        views.push(view.clone());
        leaders.push((
            ClientTls::Tls(credentials),
            Arc::new(pb::AnnounceGroupRequest {
                caller: Some(leader),
                group: Some(view),
                neighbors,
                ended: false,
                partition_group_ids: vec![],
                landmarks: vec![],
            }),
        ));
    }
    let mint_s = minted.elapsed().as_secs_f64();

    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let leaders = Arc::new(leaders);
    let mut tasks = JoinSet::new();
    for _ in 0..FILL_CONCURRENCY.min(n as usize) {
        let (next, leaders) = (Arc::clone(&next), Arc::clone(&leaders));
        let (client, addr) = (client.clone(), addr.to_string());
        tasks.spawn(async move {
            let mut kept = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((tls, refresh)) = leaders.get(i) else {
                    return Ok::<_, String>(kept);
                };
                let mut leader = Leader {
                    client: client.rendezvous_as(tls, &addr).map_err(|f| f.message)?,
                    refresh: Arc::clone(refresh),
                };
                leader
                    .announce()
                    .await
                    .map_err(|s| format!("announcing synthetic group {i}: {}", describe(&s)))?;
                if i < keep {
                    kept.push((i, leader));
                }
            }
        });
    }
    let mut kept = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let part = done
            .map_err(|e| Failure::new(1, format!("a fill task failed: {e}")))?
            .map_err(|e| Failure::new(1, format!("--fill: {e}")))?;
        kept.extend(part);
    }
    kept.sort_by_key(|(i, _)| *i);
    let announce_s = started.elapsed().as_secs_f64();
    let report = FillReport {
        groups: n,
        mint_s,
        announce_s,
        announces_per_s: f64::from(n) / announce_s.max(1e-9),
    };
    Ok((kept.into_iter().map(|(_, l)| l).collect(), report))
}

/// What the background load did during the measured run.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct BackgroundReport {
    /// Refresh announcements made, and how many failed.
    pub(crate) announces: u64,
    pub(crate) announce_errors: u64,
    /// The first failure's message.
    pub(crate) first_announce_error: Option<String>,
    pub(crate) announces_per_s: f64,
    /// Subscribers, and the events they read.
    pub(crate) watchers: u32,
    pub(crate) watch_events: u64,
    /// Subscribers whose stream ended or failed before the run did.
    pub(crate) watchers_lost: u64,
}

/// Load that runs beside the measured call until [`Background::stop`].
#[derive(Debug)]
pub(crate) struct Background {
    tasks: JoinSet<BackgroundReport>,
    stop: tokio::sync::watch::Sender<bool>,
    started: Instant,
}

impl Background {
    /// Starts `rate` refresh announcements a second spread over `leaders`, and `watchers`
    /// subscribers of the rendezvous at `addr`.
    pub(crate) async fn start(
        client: &Client,
        addr: &str,
        leaders: Vec<Leader>,
        rate: u32,
        changes: bool,
        watchers: u32,
    ) -> Result<Background, Failure> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = JoinSet::new();
        for _ in 0..watchers {
            let mut c = client.rendezvous(addr)?;
            let mut stopped = stopped.clone();
            let mut stream = c
                .watch_overlay(pb::WatchOverlayRequest {
                    caller: None,
                    include_existing: false,
                })
                .await
                .map_err(|s| client.fail("rendezvous", addr, s))?
                .into_inner();
            tasks.spawn(async move {
                let mut report = BackgroundReport {
                    watchers: 1,
                    ..BackgroundReport::default()
                };
                loop {
                    tokio::select! {
                        event = stream.message() => match event {
                            Ok(Some(_)) => report.watch_events += 1,
                            Ok(None) | Err(_) => {
                                report.watchers_lost += 1;
                                break;
                            }
                        },
                        _ = stopped.wait_for(|s| *s) => break,
                    }
                }
                report
            });
        }
        // The rate counts from here: the subscribers are in (their snapshots may take a while
        // with a large directory), and the announcements start.
        let started = Instant::now();
        if rate > 0 && !leaders.is_empty() {
            let mut stopped = stopped.clone();
            tasks.spawn(async move {
                let mut report = BackgroundReport::default();
                let mut tick =
                    tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut calls = JoinSet::new();
                let mut turn = 0;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.wait_for(|s| *s) => break,
                    }
                    // At most one call in flight per leader: a slow one is skipped, not queued.
                    while calls.len() >= leaders.len() {
                        if let Some(Ok(outcome)) = calls.join_next().await {
                            tally(&mut report, outcome);
                        }
                    }
                    let mut leader: Leader = leaders[turn % leaders.len()].clone();
                    // With `changes`, every other round one member more: each announcement is a
                    // change.
                    let more = u32::from(changes) * ((turn / leaders.len()) % 2) as u32;
                    turn += 1;
                    calls.spawn(async move { leader.announce_members(more).await });
                    while let Some(Ok(outcome)) = calls.try_join_next() {
                        tally(&mut report, outcome);
                    }
                }
                while let Some(Ok(outcome)) = calls.join_next().await {
                    tally(&mut report, outcome);
                }
                report
            });
        }
        Ok(Background {
            tasks,
            stop,
            started,
        })
    }

    /// Stops the load and sums up what it did.
    pub(crate) async fn stop(mut self) -> BackgroundReport {
        let _ = self.stop.send(true);
        let mut total = BackgroundReport::default();
        while let Some(Ok(r)) = self.tasks.join_next().await {
            total.announces += r.announces;
            total.announce_errors += r.announce_errors;
            total.first_announce_error = total.first_announce_error.or(r.first_announce_error);
            total.watchers += r.watchers;
            total.watch_events += r.watch_events;
            total.watchers_lost += r.watchers_lost;
        }
        total.announces_per_s =
            total.announces as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        total
    }
}

fn tally(report: &mut BackgroundReport, outcome: Result<(), tonic::Status>) {
    report.announces += 1;
    if let Err(s) = outcome {
        report.announce_errors += 1;
        if report.first_announce_error.is_none() {
            report.first_announce_error = Some(describe(&s));
        }
    }
}
