//! A cluster on 127.0.0.1: a rendezvous and peers, each on its own real socket, in-process,
//! in plaintext. The loopback cluster tests (`tests/cluster.rs`) and the peer crate's
//! integration tests build on it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use locus_core::PeerId;
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_topology::{SiteSpec, Topology};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// The example topology: eu, us and asia, 90 to 175 ms apart, 2 ms inside a region.
pub const THREE_REGIONS: &str =
    include_str!("../../crates/locus-topology/examples/three-regions.yaml");
/// The regions of [`THREE_REGIONS`].
pub const REGIONS: [&str; 3] = ["eu", "us", "asia"];

/// The `test` preset as it is. Scheduling noise on a loaded machine (24 peers in one process)
/// can make a peer found a second group in its region; group merge then folds it back, which
/// is why the tests wait for the outcome instead of expecting it at once.
pub fn protocol() -> locus_core::Config {
    locus_core::Config::test()
}

/// A running server and how to stop it.
#[derive(Debug)]
pub struct Server {
    /// Where it listens, `127.0.0.1:port`.
    pub addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Graceful stop: the shutdown signal, then wait for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }

    /// Abrupt stop, like a crash: nobody is told.
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Runs `run` on a fresh listener of 127.0.0.1 with a shutdown signal.
pub async fn spawn<F, Fut>(run: F) -> Server
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(listener, stopped));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

/// A rendezvous whose entries live `ttl`.
pub async fn rendezvous(ttl: Duration) -> Server {
    let config = locus_rendezvous::Config {
        entry_ttl: ttl,
        seed: 1,
        metrics_listen: None,
        ..Default::default()
    };
    spawn(|listener, stopped| async move {
        locus_rendezvous::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    })
    .await
}

/// A peer in `region` of the three-region topology.
pub async fn peer(id: PeerId, region: &str, rendezvous: &[String], bootstrap: &[String]) -> Server {
    peer_with(protocol(), id, region, rendezvous, bootstrap).await
}

/// Peers `ids`, started 100 ms apart (joins overlap, as in a real start-up), in the first
/// `regions` regions in turn, each configured with `rendezvous`; with their addresses and
/// regions.
pub async fn regional_peers(
    ids: std::ops::Range<u32>,
    regions: usize,
    rendezvous: &[String],
) -> (Vec<Server>, Vec<(String, &'static str)>) {
    let mut servers = Vec::new();
    let mut peers = Vec::new();
    for n in ids {
        let region = REGIONS[n as usize % regions];
        let s = peer(peer_id(n), region, rendezvous, &[]).await;
        peers.push((s.addr.clone(), region));
        servers.push(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (servers, peers)
}

/// The groups the rendezvous at `rv` lists (its overlay snapshot).
pub async fn listed_groups(rv: &str) -> Result<Vec<pb::GroupView>, String> {
    let o = overlay(rv).await.ok_or("the rendezvous does not answer")?;
    Ok(o.groups.into_iter().filter_map(|e| e.group).collect())
}

/// A peer with the given protocol settings in `region` of the three-region topology.
pub async fn peer_with(
    protocol: locus_core::Config,
    id: PeerId,
    region: &str,
    rendezvous: &[String],
    bootstrap: &[String],
) -> Server {
    let topology = Arc::new(Topology::parse(THREE_REGIONS).unwrap());
    let mut config = locus_peer::Config::new(protocol);
    config.peer_id = Some(id);
    config.seed = Some(id.0.as_u64_pair().1);
    config.rendezvous = rendezvous.to_vec();
    config.bootstrap = bootstrap.to_vec();
    config.emulation = Some((topology, SiteSpec::Named(region.into())));
    config.leave_grace = Duration::from_secs(1);
    spawn(|listener, stopped| async move {
        locus_peer::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    })
    .await
}

/// A peer with the `test` preset in `region`, its configuration changed by `change` first.
pub async fn peer_with_config(
    id: PeerId,
    region: &str,
    rendezvous: &[String],
    change: impl FnOnce(&mut locus_peer::Config),
) -> Server {
    let topology = Arc::new(Topology::parse(THREE_REGIONS).unwrap());
    let mut config = locus_peer::Config::new(protocol());
    config.peer_id = Some(id);
    config.seed = Some(id.0.as_u64_pair().1);
    config.rendezvous = rendezvous.to_vec();
    config.emulation = Some((topology, SiteSpec::Named(region.into())));
    config.leave_grace = Duration::from_secs(1);
    change(&mut config);
    spawn(|listener, stopped| async move {
        locus_peer::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    })
    .await
}

/// A peer id made from `n`, the same in every run.
pub fn peer_id(n: u32) -> PeerId {
    PeerId(uuid::Uuid::from_u128(
        0x1000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n),
    ))
}

/// A plaintext channel to `addr`, with deadlines.
pub async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect_lazy()
}

/// The peer's `GetStatus`, `None` when it does not answer.
pub async fn status(addr: &str) -> Option<pb::GetStatusReply> {
    let mut c = PeerServiceClient::new(channel(addr).await);
    c.get_status(pb::GetStatusRequest { caller: None })
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// The rendezvous' `GetOverlay`, `None` when it does not answer.
pub async fn overlay(addr: &str) -> Option<pb::GetOverlayReply> {
    let mut c = RendezvousClient::new(channel(addr).await);
    c.get_overlay(pb::GetOverlayRequest {
        caller: None,
        ..Default::default()
    })
    .await
    .ok()
    .map(|r| r.into_inner())
}

/// Polls `check` every 250 ms until it returns `Some`, or panics after `deadline` with the
/// last state `describe` gives.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(state) => state,
        };
        if tokio::time::Instant::now() > end {
            panic!("{what}: not reached within {deadline:?}; last state: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every peer's group by region, from GetStatus: `Ok` when each region's peers are all in one
/// group, the regions' groups are distinct, and every peer is a member or a leader.
pub async fn groups_by_region(
    peers: &[(String, &str)],
) -> Result<BTreeMap<String, String>, String> {
    let mut by_region: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut leaders: BTreeMap<String, usize> = BTreeMap::new();
    for (addr, region) in peers {
        let s = status(addr)
            .await
            .ok_or_else(|| format!("{addr} does not answer"))?;
        let group = s
            .group
            .as_ref()
            .map(|g| g.group_id.clone())
            .unwrap_or_else(|| "-".into());
        if s.role == pb::Role::Leader as i32 {
            *leaders.entry(group.clone()).or_default() += 1;
        }
        *by_region
            .entry(region.to_string())
            .or_default()
            .entry(group)
            .or_default() += 1;
    }
    let state = format!("groups by region {by_region:?}, leaders {leaders:?}");
    let mut out = BTreeMap::new();
    for (region, groups) in &by_region {
        if groups.len() != 1 || groups.contains_key("-") {
            return Err(state);
        }
        let group = groups.keys().next().unwrap().clone();
        if leaders.get(&group) != Some(&1) {
            return Err(state);
        }
        out.insert(region.clone(), group);
    }
    let distinct: std::collections::BTreeSet<_> = out.values().collect();
    if distinct.len() != out.len() {
        return Err(state);
    }
    Ok(out)
}
