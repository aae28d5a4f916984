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

/// What the map draws of a pair of linked groups: the lower RTT (µs), how many ends announced
/// the link, and whether either keeps it against partitions.
type Drawn = (u64, u8, bool);

/// An inter-group link.
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
    /// Whether a leader keeps it against partitions (a random link or a bridge) rather than
    /// for closeness.
    pub(crate) partition: bool,
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
    /// Neighbour groups, the RTT to each in whole microseconds, and whether the leader keeps
    /// the link against partitions.
    neighbors: Vec<(GroupId, u64, bool)>,
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
                        .map(|n| {
                            (
                                n.group_id,
                                n.rtt.as_micros() as u64,
                                e.partition_links.contains(&n.group_id),
                            )
                        })
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
            for (n, rtt_us, partition) in &g.neighbors {
                (n, rtt_us / 1000, partition).hash(&mut h);
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
        // One link per pair of live groups: the lower RTT, by how many ends, and whether either
        // end keeps it against partitions.
        let mut pairs: BTreeMap<(usize, usize), Drawn> = BTreeMap::new();
        for (i, g) in self.groups.iter().enumerate() {
            for (n, rtt_us, partition) in &g.neighbors {
                let Some(&j) = index.get(n) else { continue };
                if i == j {
                    continue;
                }
                let key = (i.min(j), i.max(j));
                pairs
                    .entry(key)
                    .and_modify(|(rtt, ends, p)| {
                        *rtt = (*rtt).min(*rtt_us);
                        *ends = 2;
                        *p |= *partition;
                    })
                    .or_insert((*rtt_us, 1, *partition));
            }
        }
        let mut graph = Graph::new(self.groups.len());
        for (&(a, b), &(rtt_us, _, _)) in &pairs {
            graph.link(a, b, rtt_us as f64 / 1000.0);
        }
        let keys: Vec<GroupId> = self.groups.iter().map(|g| g.id).collect();
        let e = embed::embed(&graph, &keys, previous);
        let links_total = pairs.len();
        let mut links: Vec<((usize, usize), Drawn)> = pairs.into_iter().collect();
        links.sort_by_key(|&(pair, (rtt, _, _))| (rtt, pair));
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
                .map(|((a, b), (rtt_us, ends, partition))| {
                    let (a, b) = (&self.groups[a].id, &self.groups[b].id);
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    Link {
                        a: a.to_string(),
                        b: b.to_string(),
                        rtt_ms: round(rtt_us as f64 / 1000.0),
                        announced_by: ends,
                        partition,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use locus_core::message::{GroupView, NeighborGroup};
    use locus_core::{PeerId, Time};
    use uuid::Uuid;

    use super::*;

    fn gid(n: u128) -> GroupId {
        GroupId(Uuid::from_u128(n))
    }

    fn leader(n: u128) -> PeerRef {
        PeerRef::new(
            PeerId(Uuid::from_u128(1000 + n)),
            format!("10.0.0.{n}:7000"),
        )
    }

    /// Group `n` with `members` members, linked to `(group, rtt in µs)`.
    fn entry(n: u128, members: u32, links: &[(u128, u64)]) -> Entry {
        Entry {
            partition_links: vec![],
            landmarks: vec![],
            view: GroupView {
                group_id: gid(n),
                epoch: 1,
                leader: leader(n),
                successors: vec![],
                member_count: members,
            },
            neighbors: links
                .iter()
                .map(|&(g, rtt_us)| NeighborGroup {
                    group_id: gid(g),
                    leader: leader(g),
                    successors: vec![],
                    rtt: Duration::from_micros(rtt_us),
                })
                .collect(),
            refreshed: Time::from_micros(5_000_000),
            created: Time::from_micros(1_000_000),
        }
    }

    fn directory(entries: &[Entry]) -> Directory {
        Directory::copy(&mut entries.iter())
    }

    #[test]
    fn one_link_per_pair_of_live_groups_shortest_first() {
        let entries = [
            // 1–2 announced by both ends (the lower RTT wins), 1–3 by one, 1–9 to a group that
            // is not in the directory.
            entry(1, 3, &[(2, 12_400), (3, 90_000), (9, 5_000)]),
            entry(2, 2, &[(1, 11_900)]),
            entry(3, 1, &[]),
        ];
        let (o, positions) = directory(&entries).layout(7, 42, &HashMap::new());
        assert_eq!((o.version, o.taken_at_unix_ms), (7, 42));
        assert_eq!(o.groups.len(), 3);
        assert_eq!(positions.len(), 3);
        assert_eq!(o.links_total, 2);
        let links: Vec<(&str, &str, f64, u8)> = o
            .links
            .iter()
            .map(|l| (l.a.as_str(), l.b.as_str(), l.rtt_ms, l.announced_by))
            .collect();
        let (g1, g2, g3) = (gid(1).to_string(), gid(2).to_string(), gid(3).to_string());
        assert_eq!(
            links,
            [
                (g1.as_str(), g2.as_str(), 11.9, 2),
                (g1.as_str(), g3.as_str(), 90.0, 1)
            ]
        );
        let g = &o.groups[0];
        assert_eq!((g.members, g.leader.addr.as_str()), (3, "10.0.0.1:7000"));
        assert_eq!(g.announced_at_unix_ms, 5_000);
        assert_eq!(o.embedding.method, "classical MDS");
    }

    #[test]
    fn links_are_capped_to_the_shortest() {
        // 200 groups, each linked to the next 64: 12,800 links.
        let entries: Vec<Entry> = (0..200u128)
            .map(|i| {
                let links: Vec<(u128, u64)> = (1..=64u128)
                    .map(|d| ((i + d) % 200, 1_000 * (d as u64) + i as u64))
                    .collect();
                entry(i, 1, &links)
            })
            .collect();
        let (o, _) = directory(&entries).layout(1, 0, &HashMap::new());
        assert_eq!(o.links_total, 12_800);
        assert_eq!(o.links.len(), MAX_LINKS);
        assert!(o.links.windows(2).all(|w| w[0].rtt_ms <= w[1].rtt_ms));
        assert_eq!(o.embedding.method, "landmark MDS");
    }

    #[test]
    fn the_fingerprint_follows_what_is_drawn_only() {
        let base = [entry(1, 3, &[(2, 12_400)]), entry(2, 2, &[(1, 11_900)])];
        let fp = directory(&base).fingerprint();
        // A refresh that changes nothing drawn, or an RTT by less than a millisecond: same.
        let mut refreshed = base.clone();
        refreshed[0].refreshed = Time::from_micros(9_000_000);
        refreshed[0].neighbors[0].rtt = Duration::from_micros(12_700);
        assert_eq!(directory(&refreshed).fingerprint(), fp);
        let mut members = base.clone();
        members[1].view.member_count = 3;
        assert_ne!(directory(&members).fingerprint(), fp);
        let mut rtt = base.clone();
        rtt[0].neighbors[0].rtt = Duration::from_micros(14_000);
        assert_ne!(directory(&rtt).fingerprint(), fp);
        let mut leader_changed = base.clone();
        leader_changed[0].view.leader = leader(7);
        assert_ne!(directory(&leader_changed).fingerprint(), fp);
    }

    #[test]
    fn every_kind_of_change_reads_as_an_event() {
        use pb::overlay_event::Kind;
        let peer = |n: u128| Some(pb::PeerRef::from(leader(n)));
        let event = |kind| pb::OverlayEvent {
            at_unix_ms: 1_000,
            group_id: gid(1).to_string(),
            epoch: 2,
            kind: Some(kind),
        };
        let created = Event::from_pb(
            1,
            &event(Kind::Created(pb::GroupCreated {
                group: Some(pb::GroupView {
                    leader: peer(1),
                    member_count: 3,
                    ..Default::default()
                }),
            })),
        )
        .unwrap();
        assert_eq!((created.kind, created.members), ("created", Some(3)));
        assert_eq!(created.leader.unwrap().addr, "10.0.0.1:7000");
        let changed = Event::from_pb(
            2,
            &event(Kind::LeaderChanged(pb::LeaderChanged {
                previous_leader: peer(1),
                leader: peer(2),
            })),
        )
        .unwrap();
        assert_eq!(changed.kind, "leader_changed");
        assert_eq!(changed.previous_leader.unwrap().addr, "10.0.0.1:7000");
        assert_eq!(changed.leader.unwrap().addr, "10.0.0.2:7000");
        let expired = Event::from_pb(
            3,
            &event(Kind::Ended(pb::GroupEnded {
                reason: pb::GroupEndReason::Expired.into(),
            })),
        )
        .unwrap();
        assert_eq!((expired.kind, expired.reason), ("ended", Some("expired")));
        let json = serde_json::to_string(&expired).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"seq":3,"at_unix_ms":1000,"kind":"ended","group":"{}","epoch":2,"reason":"expired"}}"#,
                gid(1)
            )
        );
        assert!(Event::from_pb(4, &pb::OverlayEvent::default()).is_none());
    }
}
