//! What the map shows, as JSON: the overlay with positions (`/api/overlay`) and one directory
//! change (an SSE `change` event, and the recent events in the overlay).
//!
//! Plain serde types built from the directory's entries; the browser and scripts read the same
//! shapes.

use std::collections::{BTreeMap, HashMap};

use locus_core::rendezvous::Entry;
use locus_core::{GroupId, PeerRef};
use locus_proto::pb;
use serde::Serialize;

use super::embed::{self, Graph};

/// Most links a snapshot carries (the shortest ones): a browser draws that many lines without
/// freezing, and the directory may hold several per group at 100,000 groups.
pub(crate) const MAX_LINKS: usize = 10_000;

/// The overlay with the map's positions, as `/api/overlay` serves it (without `events`, which
/// are added when served).
#[derive(Debug, Serialize)]
pub(crate) struct Overlay {
    /// Grows by one with every change of what this carries.
    pub(crate) version: u64,
    /// When the directory was read, in milliseconds since the Unix epoch.
    pub(crate) taken_at_unix_ms: u64,
    /// Every live group, in group-id order.
    pub(crate) groups: Vec<Group>,
    /// Inter-group links between live groups, one per pair, shortest first, at most
    /// [`MAX_LINKS`].
    pub(crate) links: Vec<Link>,
    /// Links between live groups in the directory, of which `links` holds the shortest.
    pub(crate) links_total: usize,
    /// How the positions were computed.
    pub(crate) embedding: Embedding,
}

/// A live group and where the map draws it.
#[derive(Debug, Serialize)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) epoch: u64,
    pub(crate) leader: Peer,
    pub(crate) successors: Vec<Peer>,
    pub(crate) members: u32,
    /// Position in milliseconds of RTT (see `embed`).
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) announced_at_unix_ms: u64,
}

/// A peer: its id and address.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Peer {
    pub(crate) id: String,
    pub(crate) addr: String,
}

/// An inter-group link. The directory does not know whether a leader keeps a link for
/// closeness or against partitions (announcements do not say), so neither does this.
#[derive(Debug, Serialize)]
pub(crate) struct Link {
    /// The two groups, the lower id first.
    pub(crate) a: String,
    pub(crate) b: String,
    /// The RTT between their leaders, the lower of the two ends' measurements when both
    /// announced the link.
    pub(crate) rtt_ms: f64,
    /// How many of the two leaders announced it: 1 or 2.
    pub(crate) announced_by: u8,
}

/// How the positions were computed.
#[derive(Debug, Serialize)]
pub(crate) struct Embedding {
    /// `classical MDS` (every group a landmark) or `landmark MDS`.
    pub(crate) method: &'static str,
    pub(crate) landmarks: usize,
    /// Time the embedding took, in milliseconds.
    pub(crate) compute_ms: f64,
}

/// One change of the directory.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Event {
    /// Numbers the changes the map has seen, from 1: the page drops the ones it has.
    pub(crate) seq: u64,
    pub(crate) at_unix_ms: u64,
    /// `created`, `leader_changed`, `members_changed` or `ended`.
    pub(crate) kind: &'static str,
    pub(crate) group: String,
    pub(crate) epoch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) leader: Option<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) previous_leader: Option<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) members: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) previous_members: Option<u32>,
    /// For `ended`: `ended` (announced by its leader) or `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'static str>,
}

impl From<&PeerRef> for Peer {
    fn from(p: &PeerRef) -> Self {
        Peer {
            id: p.id.to_string(),
            addr: p.addr.to_string(),
        }
    }
}

impl From<&pb::PeerRef> for Peer {
    fn from(p: &pb::PeerRef) -> Self {
        Peer {
            id: p.peer_id.clone(),
            addr: p.addr.clone(),
        }
    }
}

impl Event {
    /// The map's form of a `WatchOverlay` event, numbered `seq`.
    pub(crate) fn from_pb(seq: u64, e: &pb::OverlayEvent) -> Option<Event> {
        use pb::overlay_event::Kind;
        let mut event = Event {
            seq,
            at_unix_ms: e.at_unix_ms,
            kind: "",
            group: e.group_id.clone(),
            epoch: e.epoch,
            leader: None,
            previous_leader: None,
            members: None,
            previous_members: None,
            reason: None,
        };
        match e.kind.as_ref()? {
            Kind::Created(c) => {
                let g = c.group.as_ref()?;
                event.kind = "created";
                event.leader = g.leader.as_ref().map(Peer::from);
                event.members = Some(g.member_count);
            }
            Kind::LeaderChanged(l) => {
                event.kind = "leader_changed";
                event.leader = l.leader.as_ref().map(Peer::from);
                event.previous_leader = l.previous_leader.as_ref().map(Peer::from);
            }
            Kind::MemberCountChanged(m) => {
                event.kind = "members_changed";
                event.members = Some(m.member_count);
                event.previous_members = Some(m.previous_count);
            }
            Kind::Ended(end) => {
                event.kind = "ended";
                event.reason = Some(match pb::GroupEndReason::try_from(end.reason) {
                    Ok(pb::GroupEndReason::Expired) => "expired",
                    _ => "ended",
                });
            }
        }
        Some(event)
    }
}

/// The directory as the map needs it, copied out under the registry's lock so that the
/// embedding runs without it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Directory {
    /// Live groups in group-id order.
    groups: Vec<GroupCopy>,
}

#[derive(Debug, Clone)]
struct GroupCopy {
    id: GroupId,
    epoch: u64,
    leader: PeerRef,
    successors: Vec<PeerRef>,
    members: u32,
    /// Neighbour groups and the RTT to each, in whole microseconds.
    neighbors: Vec<(GroupId, u64)>,
    /// Not drawn: left out of the fingerprint.
    announced_at_unix_ms: u64,
}

impl Directory {
    /// Copies the entries (in group-id order).
    pub(crate) fn copy(entries: &mut dyn Iterator<Item = &Entry>) -> Self {
        Directory {
            groups: entries
                .map(|e| GroupCopy {
                    id: e.view.group_id,
                    epoch: e.view.epoch,
                    leader: e.view.leader.clone(),
                    successors: e.view.successors.clone(),
                    members: e.view.member_count,
                    neighbors: e
                        .neighbors
                        .iter()
                        .map(|n| (n.group_id, n.rtt.as_micros() as u64))
                        .collect(),
                    announced_at_unix_ms: locus_proto::directory::unix_ms(e.refreshed),
                })
                .collect(),
        }
    }

    /// A fingerprint of what the map draws: groups, leaders, epochs, member counts, links and
    /// their RTTs to the millisecond. Refreshes that change none of it leave it alone.
    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for g in &self.groups {
            (g.id, g.epoch, &g.leader, &g.successors, g.members).hash(&mut h);
            for (n, rtt_us) in &g.neighbors {
                (n, rtt_us / 1000).hash(&mut h);
            }
        }
        h.finish()
    }

    /// Live groups.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The overlay with positions, turned onto `previous` (see `embed`); returns it and the
    /// new positions by group.
    pub(crate) fn layout(
        &self,
        version: u64,
        taken_at_unix_ms: u64,
        previous: &HashMap<GroupId, [f64; 2]>,
    ) -> (Overlay, HashMap<GroupId, [f64; 2]>) {
        let started = std::time::Instant::now();
        let index: HashMap<GroupId, usize> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id, i))
            .collect();
        // One link per pair of live groups: the lower RTT, and by how many ends.
        let mut pairs: BTreeMap<(usize, usize), (u64, u8)> = BTreeMap::new();
        for (i, g) in self.groups.iter().enumerate() {
            for (n, rtt_us) in &g.neighbors {
                let Some(&j) = index.get(n) else { continue };
                if i == j {
                    continue;
                }
                let key = (i.min(j), i.max(j));
                pairs
                    .entry(key)
                    .and_modify(|(rtt, ends)| {
                        *rtt = (*rtt).min(*rtt_us);
                        *ends = 2;
                    })
                    .or_insert((*rtt_us, 1));
            }
        }
        let mut graph = Graph::new(self.groups.len());
        for (&(a, b), &(rtt_us, _)) in &pairs {
            graph.link(a, b, rtt_us as f64 / 1000.0);
        }
        let keys: Vec<GroupId> = self.groups.iter().map(|g| g.id).collect();
        let e = embed::embed(&graph, &keys, previous);
        let links_total = pairs.len();
        let mut links: Vec<((usize, usize), (u64, u8))> = pairs.into_iter().collect();
        links.sort_by_key(|&(pair, (rtt, _))| (rtt, pair));
        links.truncate(MAX_LINKS);
        let overlay = Overlay {
            version,
            taken_at_unix_ms,
            groups: self
                .groups
                .iter()
                .zip(&e.positions)
                .map(|(g, p)| Group {
                    id: g.id.to_string(),
                    epoch: g.epoch,
                    leader: Peer::from(&g.leader),
                    successors: g.successors.iter().map(Peer::from).collect(),
                    members: g.members,
                    x: round(p[0]),
                    y: round(p[1]),
                    announced_at_unix_ms: g.announced_at_unix_ms,
                })
                .collect(),
            links: links
                .into_iter()
                .map(|((a, b), (rtt_us, ends))| {
                    let (a, b) = (&self.groups[a].id, &self.groups[b].id);
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    Link {
                        a: a.to_string(),
                        b: b.to_string(),
                        rtt_ms: round(rtt_us as f64 / 1000.0),
                        announced_by: ends,
                    }
                })
                .collect(),
            links_total,
            embedding: Embedding {
                method: if e.landmarks == self.groups.len() {
                    "classical MDS"
                } else {
                    "landmark MDS"
                },
                landmarks: e.landmarks,
                compute_ms: round(started.elapsed().as_secs_f64() * 1000.0),
            },
        };
        (overlay, keys.into_iter().zip(e.positions).collect())
    }
}

/// To the microsecond: the JSON stays short.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
