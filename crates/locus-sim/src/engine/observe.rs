//! Reading the overlay out of the running peers: the snapshot and the invariants.

use std::collections::HashMap;

use locus_core::message::Role;
use locus_core::{Peer, PeerId};

use super::Engine;
use crate::overlay::{Link, LinkKind, Overlay, PeerEntry};

impl Engine<'_> {
    /// The overlay as it stands: running peers, their groups and roles, and every link between
    /// two running peers that either end reports (inter when either end calls it inter,
    /// random when either end keeps it against partitions).
    pub fn snapshot(&self, model_name: &str) -> Overlay {
        let regions = self.pool.all();
        let tables = self.pool.tables.read().expect("node tables");
        let peer = |i: u32| {
            regions[tables.region[i as usize] as usize].nodes[tables.local[i as usize] as usize]
                .peer
                .as_deref()
        };
        let by_id: HashMap<PeerId, u32> = self
            .live
            .iter()
            .filter_map(|&i| peer(i).map(|p| (p.me().id, i)))
            .collect();
        let mut links: HashMap<(usize, usize), LinkKind> = HashMap::new();
        let mut peers = Vec::with_capacity(self.live.len());
        let mut live = self.live.clone();
        live.sort_unstable_by_key(|&i| tables.sites[i as usize]);
        for &i in &live {
            let Some(peer) = peer(i) else {
                continue;
            };
            let status = peer.status();
            let protective = peer.partition_links();
            peers.push(PeerEntry {
                site: tables.sites[i as usize] as usize,
                group: status.group.as_ref().map(|g| g.group_id.to_string()),
                role: role_name(status.role).to_string(),
            });
            let ends = status
                .intra
                .iter()
                .map(|l| (l.peer.id, LinkKind::Intra))
                .chain(status.inter.iter().map(|n| {
                    let kind = if protective.contains(&n.group_id) {
                        LinkKind::Random
                    } else {
                        LinkKind::Inter
                    };
                    (n.leader.id, kind)
                }))
                .chain(status.cross.iter().map(|l| (l.peer.id, LinkKind::Cross)));
            for (id, kind) in ends {
                let Some(&j) = by_id.get(&id) else { continue };
                if j == i {
                    continue;
                }
                let (a, b) = (
                    tables.sites[i as usize] as usize,
                    tables.sites[j as usize] as usize,
                );
                let e = links.entry((a.min(b), a.max(b))).or_insert(kind);
                *e = (*e).max(kind);
            }
        }
        let mut links: Vec<Link> = links.into_iter().map(|((a, b), k)| Link(a, b, k)).collect();
        links.sort_unstable();
        Overlay {
            model: model_name.to_string(),
            seed: self.seed,
            time_us: self.now.as_micros(),
            peers,
            links,
            joins: self.joins.clone(),
        }
    }

    /// Every violation of the steady-state invariants among running peers (empty when all
    /// hold): each is in a group whose leader is running, leads that group and is unique.
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        let regions = self.pool.all();
        let tables = self.pool.tables.read().expect("node tables");
        let peer = |i: u32| {
            regions[tables.region[i as usize] as usize].nodes[tables.local[i as usize] as usize]
                .peer
                .as_deref()
        };
        let by_id: HashMap<PeerId, &Peer> = self
            .live
            .iter()
            .filter_map(|&i| peer(i).map(|p| (p.me().id, p)))
            .collect();
        let mut leaders: HashMap<locus_core::GroupId, u32> = HashMap::new();
        for &i in &self.live {
            let Some(p) = peer(i) else {
                continue;
            };
            let Some(view) = p.group() else {
                out.push(format!("peer {i} is in no group (role {:?})", p.role()));
                continue;
            };
            if p.role() == Role::Leader {
                *leaders.entry(view.group_id).or_default() += 1;
            }
            let leader = by_id.get(&view.leader.id);
            let ok = leader.is_some_and(|l| {
                l.role() == Role::Leader && l.group().is_some_and(|g| g.group_id == view.group_id)
            });
            if !ok {
                // What the followed peer is instead says which repair did not happen.
                let now = match leader {
                    None => "is not running".to_string(),
                    Some(l) => format!(
                        "is {} of group {:?}",
                        role_name(l.role()),
                        l.group().map(|g| g.group_id)
                    ),
                };
                out.push(format!(
                    "peer {i} ({}) follows {:?} in group {:?}, which does not lead it: it {now}",
                    role_name(p.role()),
                    view.leader,
                    view.group_id
                ));
            }
        }
        for (g, count) in leaders {
            if count > 1 {
                out.push(format!("group {g:?} has {count} leaders"));
            }
        }
        out.sort();
        out
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Idle => "idle",
        Role::Joining => "joining",
        Role::Member => "member",
        Role::Electing => "electing",
        Role::Leader => "leader",
    }
}
