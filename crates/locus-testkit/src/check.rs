//! Invariants and overlay figures that tests assert on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use locus_core::message::Role;
use locus_core::{GroupId, Rng};

use crate::Sim;

/// Connected components of the graph on `vertices` with `edges`.
pub fn components(vertices: &[usize], edges: impl IntoIterator<Item = (usize, usize)>) -> usize {
    let index: BTreeMap<usize, usize> = vertices.iter().enumerate().map(|(k, v)| (*v, k)).collect();
    let mut parent: Vec<usize> = (0..vertices.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut count = vertices.len();
    for (a, b) in edges {
        let (Some(&a), Some(&b)) = (index.get(&a), index.get(&b)) else {
            continue;
        };
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra] = rb;
            count -= 1;
        }
    }
    count
}

/// Every violation of the steady-state invariants, as readable lines (empty when all hold):
/// every running peer is in a group; every group has exactly one running leader, which the
/// group's members follow; no peer is on two leaders' rosters.
pub fn steady_state_violations(sim: &Sim) -> Vec<String> {
    let mut out = Vec::new();
    let leaders = sim.leaders();
    for (g, ls) in &leaders {
        if ls.len() > 1 {
            out.push(format!("group {g:?} has {} leaders: {ls:?}", ls.len()));
        }
    }
    let mut rostered: BTreeMap<usize, GroupId> = BTreeMap::new();
    for i in sim.live() {
        let p = &sim.nodes()[i].peer;
        let Some(view) = p.group() else {
            out.push(format!("peer {i} is in no group (role {:?})", p.role()));
            continue;
        };
        match sim.index_of(view.leader.id) {
            Some(l)
                if sim.nodes()[l].up
                    && sim.nodes()[l].peer.role() == Role::Leader
                    && sim.nodes()[l].peer.group().map(|g| g.group_id) == Some(view.group_id) => {}
            _ => out.push(format!(
                "peer {i} follows {:?} in group {:?}, which does not lead it (role {:?})",
                view.leader,
                view.group_id,
                p.role()
            )),
        }
        if p.role() == Role::Leader {
            for m in p.members() {
                if let Some(j) = sim.index_of(m.id).filter(|j| sim.nodes()[*j].up)
                    && let Some(other) = rostered.insert(j, view.group_id)
                    && other != view.group_id
                {
                    out.push(format!(
                        "peer {j} is on the rosters of groups {other:?} and {:?}",
                        view.group_id
                    ));
                }
            }
        }
    }
    out
}

/// The group graph: groups as vertices, inter-group links between their leaders as edges.
/// Returns `(groups, components, inter-group degree of each group)`.
pub fn group_graph(sim: &Sim) -> (usize, usize, BTreeMap<GroupId, usize>) {
    let group_of: BTreeMap<usize, GroupId> = sim
        .live()
        .filter_map(|i| sim.nodes()[i].peer.group().map(|g| (i, g.group_id)))
        .collect();
    let groups: BTreeSet<GroupId> = group_of.values().copied().collect();
    let ids: Vec<GroupId> = groups.iter().copied().collect();
    let mut edges = BTreeSet::new();
    for (a, b, inter) in sim.links() {
        if let (true, Some(ga), Some(gb)) = (inter, group_of.get(&a), group_of.get(&b))
            && ga != gb
        {
            edges.insert(((*ga).min(*gb), (*ga).max(*gb)));
        }
    }
    let mut degree: BTreeMap<GroupId, usize> = ids.iter().map(|g| (*g, 0)).collect();
    for (a, b) in &edges {
        *degree.entry(*a).or_default() += 1;
        *degree.entry(*b).or_default() += 1;
    }
    let pos: BTreeMap<GroupId, usize> = ids.iter().enumerate().map(|(k, g)| (*g, k)).collect();
    let comps = components(
        &(0..ids.len()).collect::<Vec<_>>(),
        edges.iter().map(|(a, b)| (pos[a], pos[b])),
    );
    (ids.len(), comps, degree)
}

/// Mean modelled RTT over the overlay's links.
pub fn mean_link_rtt(sim: &Sim) -> Duration {
    let links: Vec<(usize, usize)> = sim
        .links()
        .into_iter()
        .map(|(a, b, _)| (a, b))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    mean_rtt(sim, &links)
}

fn mean_rtt(sim: &Sim, links: &[(usize, usize)]) -> Duration {
    if links.is_empty() {
        return Duration::ZERO;
    }
    let total: u128 = links.iter().map(|(a, b)| sim.rtt(*a, *b).as_micros()).sum();
    Duration::from_micros((total / links.len() as u128) as u64)
}

/// Mean RTT of random graphs with the overlay's degree sequence on the same peers (the
/// configuration model, averaged over `samples` graphs; self-loops and repeated pairs are
/// rewired away where possible).
pub fn random_graph_mean_rtt(sim: &Sim, rng: &mut Rng, samples: usize) -> Duration {
    let links: BTreeSet<(usize, usize)> = sim.links().into_iter().map(|(a, b, _)| (a, b)).collect();
    let mut stubs: Vec<usize> = links.iter().flat_map(|(a, b)| [*a, *b]).collect();
    let mut total = Duration::ZERO;
    for _ in 0..samples.max(1) {
        rng.shuffle(&mut stubs);
        let pairs: Vec<(usize, usize)> = stubs
            .chunks_exact(2)
            .filter(|c| c[0] != c[1])
            .map(|c| (c[0], c[1]))
            .collect();
        total += mean_rtt(sim, &pairs);
    }
    total / samples.max(1) as u32
}
