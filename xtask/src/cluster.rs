//! What the running cluster looks like, and whether it has converged.
//!
//! A [`Snapshot`] asks every running peer container for its status (`GetStatus`, at its address
//! on the project's network, which the host reaches directly) and the rendezvous for its
//! directory, over mutual TLS with the operator certificate of `deploy/secrets/operator/`, or
//! in plaintext when the cluster runs without TLS. [`Snapshot::check`] lists every way it falls short of a converged overlay; an
//! empty list means converged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::{self, ClientTls, Expect};
use locus_topology::{SiteSpec, Topology};
use tonic::transport::Channel;

use crate::docker::{Container, Docker};

/// The peers' gRPC port inside their containers.
pub const PEER_PORT: u16 = 7000;
/// The rendezvous' gRPC port inside its container.
pub const RENDEZVOUS_PORT: u16 = 7100;
/// How a peer is named in every message and table: its address, `<hostname>:7000`, as it
/// advertises itself and as `locusctl` and the live map show it. The hostname is the
/// container's short id, which `docker ps` lists and `docker stop`, `docker logs` and
/// `docker exec` take.
pub fn peer_name(c: &Container) -> String {
    format!("{}:{PEER_PORT}", c.hostname)
}

/// Deadline of one status call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One peer container and what it said about itself.
#[derive(Debug, Clone)]
pub struct PeerView {
    /// The container.
    pub container: Container,
    /// Its status, or why it could not be had.
    pub status: std::result::Result<pb::GetStatusReply, String>,
}

impl PeerView {
    /// Its peer id, when it answered.
    pub fn peer_id(&self) -> Option<&str> {
        self.status
            .as_ref()
            .ok()
            .and_then(|s| s.peer.as_ref())
            .map(|p| p.peer_id.as_str())
    }

    /// Its group id, when it is in one.
    pub fn group_id(&self) -> Option<&str> {
        self.status
            .as_ref()
            .ok()
            .and_then(|s| s.group.as_ref())
            .map(|g| g.group_id.as_str())
    }

    /// Whether it leads its group.
    pub fn is_leader(&self) -> bool {
        self.status
            .as_ref()
            .is_ok_and(|s| s.role == pb::Role::Leader as i32)
    }
}

/// The cluster at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Every running peer container, in name order.
    pub peers: Vec<PeerView>,
    /// The rendezvous' directory: `None` when it is not running, `Err` when it did not answer.
    pub directory: Option<std::result::Result<Vec<pb::GroupEntry>, String>>,
    /// The region of every peer id, by the topology's stable hash (`site: auto`).
    regions: BTreeMap<String, String>,
}

/// One group as the peers see it.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// The leader's container, when exactly one peer leads.
    pub leader: Option<Container>,
    /// The leader's peer id and address, as the members report them.
    pub leader_addr: String,
    /// Epoch, as the leader reports it.
    pub epoch: u64,
    /// Members' containers, the leader included.
    pub members: Vec<Container>,
    /// Regions of the members.
    pub regions: BTreeSet<String>,
    /// Neighbour groups, from the leader's inter-group links.
    pub neighbours: BTreeSet<String>,
}

/// The emulated topology, for the regions peers fall in.
#[derive(Debug)]
pub struct Regions(Topology);

impl Regions {
    /// Loads `deploy/topology.yaml`.
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join("deploy/topology.yaml");
        Ok(Regions(Topology::load(&path).with_context(|| {
            format!("cannot load {}", path.display())
        })?))
    }

    /// The region a peer with this id picks with `site: auto`.
    fn of(&self, peer_id: &str) -> Option<String> {
        let id: uuid::Uuid = peer_id.parse().ok()?;
        let i = self.0.resolve_site(&SiteSpec::Auto, id.as_bytes()).ok()?;
        self.0.region_names().nth(i).map(str::to_string)
    }
}

impl Snapshot {
    /// Asks every running peer and the rendezvous, as `client`.
    pub async fn take(docker: &Docker, regions: &Regions, client: &ClientTls) -> Result<Self> {
        let containers = docker.containers(false)?;
        let mut tasks = Vec::new();
        for c in containers.iter().filter(|c| c.service == "peer") {
            let c = c.clone();
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let status = match c.ip {
                    Some(ip) => status(&client, &format!("{ip}:{PEER_PORT}")).await,
                    None => Err("no address on the network".into()),
                };
                PeerView {
                    container: c,
                    status,
                }
            }));
        }
        let directory = match containers.iter().find(|c| c.service == "rendezvous") {
            Some(rv) => Some(match rv.ip {
                Some(ip) => directory(client, &format!("{ip}:{RENDEZVOUS_PORT}")).await,
                None => Err("no address on the network".into()),
            }),
            None => None,
        };
        let mut peers = Vec::new();
        for t in tasks {
            peers.push(t.await?);
        }
        let regions = peers
            .iter()
            .filter_map(|p| p.peer_id())
            .filter_map(|id| Some((id.to_string(), regions.of(id)?)))
            .collect();
        Ok(Snapshot {
            peers,
            directory,
            regions,
        })
    }

    /// The region of a peer.
    pub fn region(&self, p: &PeerView) -> Option<&str> {
        p.peer_id()
            .and_then(|id| self.regions.get(id))
            .map(String::as_str)
    }

    /// The groups the peers report, by id.
    pub fn groups(&self) -> BTreeMap<String, Group> {
        let mut groups = BTreeMap::<String, Group>::new();
        for p in &self.peers {
            let Ok(s) = &p.status else { continue };
            let Some(g) = &s.group else { continue };
            let entry = groups.entry(g.group_id.clone()).or_insert_with(|| Group {
                id: g.group_id.clone(),
                leader: None,
                leader_addr: String::new(),
                epoch: 0,
                members: Vec::new(),
                regions: BTreeSet::new(),
                neighbours: BTreeSet::new(),
            });
            entry.members.push(p.container.clone());
            if let Some(r) = self.region(p) {
                entry.regions.insert(r.to_string());
            }
            if p.is_leader() {
                entry.leader = Some(p.container.clone());
                entry.leader_addr = g
                    .leader
                    .as_ref()
                    .map(|l| l.addr.clone())
                    .unwrap_or_default();
                entry.epoch = g.epoch;
                entry.neighbours = s.inter.iter().map(|n| n.group_id.clone()).collect();
            }
        }
        groups
    }

    /// Whether every peer (`expect_peers` of them, when given) answers as a member or leader
    /// of a group: all have joined, though the overlay may not have converged yet.
    pub fn all_in_groups(&self, expect_peers: Option<usize>) -> bool {
        expect_peers.is_none_or(|n| self.peers.len() == n)
            && self.peers.iter().all(|p| {
                p.status.as_ref().is_ok_and(|s| {
                    s.group.is_some()
                        && matches!(
                            pb::Role::try_from(s.role),
                            Ok(pb::Role::Member | pb::Role::Leader)
                        )
                })
            })
    }

    /// Every way this snapshot falls short of a converged overlay; empty when converged.
    ///
    /// Converged: every peer answers and is a member or leader of a group; every group has
    /// exactly one leader, and every member agrees on who and which epoch; a group's members
    /// all sit in one region and a region's peers all sit in one group; the leader counts
    /// exactly the members that run; every inter-group link names a live group at its current
    /// leader's address, and the group graph is connected; and, when the rendezvous runs, its
    /// directory lists exactly these groups with these leaders and member counts.
    pub fn check(&self, expect_peers: Option<usize>) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(n) = expect_peers
            && self.peers.len() != n
        {
            problems.push(format!("{} peers run, expected {n}", self.peers.len()));
        }
        // Each peer: answers, in a group, in a settled role.
        for p in &self.peers {
            let name = &peer_name(&p.container);
            match &p.status {
                Err(e) => problems.push(format!("{name}: no status: {e}")),
                Ok(s) => {
                    let role = pb::Role::try_from(s.role).unwrap_or(pb::Role::Unspecified);
                    if !matches!(role, pb::Role::Member | pb::Role::Leader) {
                        problems.push(format!("{name}: role {}", role.as_str_name()));
                    }
                    if s.group.is_none() {
                        problems.push(format!("{name}: in no group"));
                    }
                }
            }
        }
        let groups = self.groups();
        let addr_of_leader: BTreeMap<&str, &str> = groups
            .values()
            .map(|g| (g.id.as_str(), g.leader_addr.as_str()))
            .collect();
        // Each group: one leader that the members agree on.
        for g in groups.values() {
            let leaders = self
                .peers
                .iter()
                .filter(|p| p.group_id() == Some(&g.id) && p.is_leader())
                .count();
            if leaders != 1 {
                problems.push(format!("group {}: {leaders} leaders", short(&g.id)));
                continue;
            }
            for p in self.peers.iter().filter(|p| p.group_id() == Some(&g.id)) {
                let Ok(s) = &p.status else { continue };
                let view = s.group.as_ref().expect("in this group");
                let leader = view.leader.as_ref().map(|l| l.addr.as_str()).unwrap_or("");
                if leader != g.leader_addr || view.epoch != g.epoch {
                    problems.push(format!(
                        "{}: follows {leader} epoch {}, the leader is {} epoch {}",
                        peer_name(&p.container),
                        view.epoch,
                        g.leader_addr,
                        g.epoch
                    ));
                }
            }
            let leader_view = self
                .peers
                .iter()
                .find(|p| p.group_id() == Some(&g.id) && p.is_leader())
                .and_then(|p| p.status.as_ref().ok())
                .and_then(|s| s.group.as_ref());
            if let Some(v) = leader_view
                && v.member_count as usize != g.members.len()
            {
                problems.push(format!(
                    "group {}: the leader counts {} members, {} run",
                    short(&g.id),
                    v.member_count,
                    g.members.len()
                ));
            }
            if g.regions.len() > 1 {
                problems.push(format!(
                    "group {}: members from several regions: {:?}",
                    short(&g.id),
                    g.regions
                ));
            }
        }
        // Each region: one group.
        let mut groups_of_region = BTreeMap::<&str, BTreeSet<&str>>::new();
        for p in &self.peers {
            if let (Some(r), Some(g)) = (self.region(p), p.group_id()) {
                groups_of_region.entry(r).or_default().insert(g);
            }
        }
        for (r, gs) in &groups_of_region {
            if gs.len() > 1 {
                problems.push(format!("region {r}: split over {} groups", gs.len()));
            }
        }
        // Links: to live groups at their leaders' current addresses; the graph connected.
        for p in self.peers.iter().filter(|p| p.is_leader()) {
            let Ok(s) = &p.status else { continue };
            for n in &s.inter {
                let addr = n.leader.as_ref().map(|l| l.addr.as_str()).unwrap_or("");
                match addr_of_leader.get(n.group_id.as_str()) {
                    None => problems.push(format!(
                        "{}: links to group {}, which no running peer is in",
                        peer_name(&p.container),
                        short(&n.group_id)
                    )),
                    Some(&current) if current != addr => problems.push(format!(
                        "{}: links to group {} at {addr}, its leader is {current}",
                        peer_name(&p.container),
                        short(&n.group_id)
                    )),
                    Some(_) => {}
                }
            }
        }
        if groups.len() > 1 && !connected(&groups) {
            problems.push("the group graph is not connected".into());
        }
        // The directory.
        match &self.directory {
            None => {}
            Some(Err(e)) => problems.push(format!("rendezvous: {e}")),
            Some(Ok(entries)) => {
                let mut listed = BTreeSet::new();
                for e in entries {
                    let Some(v) = &e.group else { continue };
                    listed.insert(v.group_id.as_str());
                    let addr = v.leader.as_ref().map(|l| l.addr.as_str()).unwrap_or("");
                    match groups.get(&v.group_id) {
                        None => problems.push(format!(
                            "rendezvous: lists group {}, which no running peer is in",
                            short(&v.group_id)
                        )),
                        Some(g) if g.leader_addr != addr || g.members.len() != v.member_count as usize => {
                            problems.push(format!(
                                "rendezvous: group {} led by {addr} with {} members, the peers say {} with {}",
                                short(&v.group_id),
                                v.member_count,
                                g.leader_addr,
                                g.members.len()
                            ))
                        }
                        Some(_) => {}
                    }
                }
                for g in groups.keys().filter(|g| !listed.contains(g.as_str())) {
                    problems.push(format!("rendezvous: group {} is not listed", short(g)));
                }
            }
        }
        problems
    }

    /// The groups as a table: one line per group.
    pub fn render(&self) -> String {
        let groups = self.groups();
        let mut out = format!(
            "{:<10} {:<10} {:<22} {:>5} {:>7}  {:<10}\n",
            "GROUP", "REGION", "LEADER", "EPOCH", "MEMBERS", "NEIGHBOURS"
        );
        for g in groups.values() {
            let regions: Vec<&str> = g.regions.iter().map(String::as_str).collect();
            let neighbours: Vec<String> = g.neighbours.iter().map(|n| short(n)).collect();
            out.push_str(&format!(
                "{:<10} {:<10} {:<22} {:>5} {:>7}  {}\n",
                short(&g.id),
                regions.join(","),
                g.leader.as_ref().map_or("(none)".into(), peer_name),
                g.epoch,
                g.members.len(),
                neighbours.join(" ")
            ));
        }
        let directory = match &self.directory {
            None => "rendezvous stopped".to_string(),
            Some(Ok(d)) => format!("rendezvous lists {} groups", d.len()),
            Some(Err(e)) => format!("rendezvous: {e}"),
        };
        out.push_str(&format!(
            "{} peers in {} groups; {directory}\n",
            self.peers.len(),
            groups.len()
        ));
        out
    }
}

/// Whether the undirected graph of the groups' inter-group links is connected.
fn connected(groups: &BTreeMap<String, Group>) -> bool {
    let mut adjacent = BTreeMap::<&str, BTreeSet<&str>>::new();
    for g in groups.values() {
        for n in &g.neighbours {
            adjacent.entry(&g.id).or_default().insert(n);
            adjacent.entry(n).or_default().insert(&g.id);
        }
    }
    let Some(start) = groups.keys().next() else {
        return true;
    };
    let mut seen = BTreeSet::from([start.as_str()]);
    let mut todo = vec![start.as_str()];
    while let Some(g) = todo.pop() {
        for &n in adjacent.get(g).into_iter().flatten() {
            if seen.insert(n) {
                todo.push(n);
            }
        }
    }
    groups.keys().all(|g| seen.contains(g.as_str()))
}

/// The first 8 characters of an id.
pub fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// A channel to `addr`, expecting `expect` to answer there when `client` speaks TLS.
fn channel(client: &ClientTls, addr: &str, expect: Expect) -> std::result::Result<Channel, String> {
    tls::lazy_channel(client, addr, expect, CALL_TIMEOUT)
}

/// `call` within [`CALL_TIMEOUT`], its error as text.
async fn within<T>(
    call: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
) -> std::result::Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Err(_) => Err(format!("no answer within {} s", CALL_TIMEOUT.as_secs())),
        Ok(Err(s)) => Err(status_text(&s)),
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

/// A status with its code, and the cause (a refused handshake, say) when tonic has one.
pub fn status_text(s: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", s.code(), s.message());
    let mut source = std::error::Error::source(s);
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

async fn status(client: &ClientTls, addr: &str) -> std::result::Result<pb::GetStatusReply, String> {
    let mut peer = PeerServiceClient::new(channel(client, addr, Expect::AnyPeer)?);
    within(peer.get_status(pb::GetStatusRequest { caller: None })).await
}

/// The rendezvous' directory at `addr`, every page of it.
pub async fn directory(
    client: &ClientTls,
    addr: &str,
) -> std::result::Result<Vec<pb::GroupEntry>, String> {
    let mut rendezvous = RendezvousClient::new(channel(client, addr, Expect::Rendezvous)?);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = within(rendezvous.list_groups(pb::ListGroupsRequest {
            caller: None,
            page_size: 1024,
            page_token,
        }))
        .await?;
        out.extend(page.groups);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

/// The rendezvous' overlay snapshot at `addr`: the live groups and the links their leaders
/// announced, as the live map draws them.
pub async fn overlay(
    client: &ClientTls,
    addr: &str,
) -> std::result::Result<pb::GetOverlayReply, String> {
    let mut rendezvous = RendezvousClient::new(channel(client, addr, Expect::Rendezvous)?);
    // One page (2,000 groups) holds any cluster xtask starts.
    within(rendezvous.get_overlay(pb::GetOverlayRequest::default())).await
}
