//! Shared set-ups for the harness tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use locus_core::{Config, Time};
use locus_testkit::{Sim, SimOptions, check};
use locus_topology::Topology;

/// Three regions far apart: 2 ms inside a region, 90–180 ms between regions.
pub const THREE_REGIONS: &str = "
intra_region_rtt_ms: 2
regions:
  - name: eu
    coordinates: [0, 0]
  - name: us
    coordinates: [90, 0]
  - name: asia
    coordinates: [0, 150]
";

pub const PER_REGION: usize = 8;

/// A harness with 3 regions × 8 peers; node `i` sits in region `i % 3`, so joins in index
/// order interleave the regions.
pub fn three_regions(config: Config, seed: u64) -> Sim {
    let topo = Topology::parse(THREE_REGIONS).expect("topology parses");
    let assignments: Vec<usize> = (0..3 * PER_REGION).map(|i| i % 3).collect();
    let model = topo.model(assignments).expect("sites resolve");
    let mut sim = Sim::new(SimOptions::new(config, seed), Arc::new(model));
    for i in 0..3 * PER_REGION {
        sim.add_peer(i);
    }
    sim
}

pub fn region_of(i: usize) -> usize {
    i % 3
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub fn at(s: f64) -> Time {
    Time::ZERO + secs(s)
}

/// Panics with the invariant violations, if any.
pub fn assert_steady(sim: &Sim) {
    let v = check::steady_state_violations(sim);
    assert!(
        v.is_empty(),
        "steady-state violations at {:?}:\n{}",
        sim.now(),
        v.join("\n")
    );
}

/// Asserts that the groups are exactly the regions.
pub fn assert_groups_are_regions(sim: &Sim) {
    let groups = sim.groups();
    let summary: Vec<Vec<usize>> = groups.values().cloned().collect();
    assert_eq!(
        groups.len(),
        3,
        "expected one group per region, got {summary:?}"
    );
    for members in groups.values() {
        let r = region_of(members[0]);
        assert!(
            members.iter().all(|m| region_of(*m) == r),
            "a group mixes regions: {members:?}"
        );
        assert_eq!(
            members.len(),
            PER_REGION,
            "group {members:?} is not its whole region"
        );
    }
}

/// 3 regions × 8 peers formed without asking the rendezvous: node 0 founds, every later node
/// joins through the addresses of the nodes before it, one every 0.5 s. The rendezvous is up
/// or down (for the whole run, unless the test changes it) as `rendezvous_up` says. Runs to
/// 40 s and asserts one group per region in steady state.
pub fn formed_via_peers(config: Config, seed: u64, rendezvous_up: bool) -> Sim {
    let mut sim = three_regions(config, seed);
    sim.set_rendezvous_up(rendezvous_up);
    for i in 0..3 * PER_REGION {
        let earlier: Vec<usize> = (0..i).collect();
        sim.join_via_peers_at(i, at(0.5 * i as f64), &earlier);
    }
    sim.run_until(at(40.0));
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
    sim
}

/// The one running leader of group `g` that every running node of `members` follows (as the
/// leader of `g`), if there is exactly one such leader.
pub fn agreed_leader(sim: &Sim, g: locus_core::GroupId, members: &[usize]) -> Option<usize> {
    let leaders = sim.leaders().remove(&g).unwrap_or_default();
    let [leader] = leaders[..] else {
        return None;
    };
    let id = sim.nodes()[leader].peer.me().id;
    members
        .iter()
        .filter(|m| sim.nodes()[**m].up)
        .all(|m| {
            sim.nodes()[*m]
                .peer
                .group()
                .is_some_and(|v| v.group_id == g && v.leader.id == id)
        })
        .then_some(leader)
}

/// Runs in steps of `step` until `agreed_leader` holds for `g` and `members` or `limit` of
/// virtual time passed; returns the leader and how long it took.
pub fn run_until_agreed(
    sim: &mut Sim,
    g: locus_core::GroupId,
    members: &[usize],
    step: Duration,
    limit: Duration,
) -> Option<(usize, Duration)> {
    let start = sim.now();
    loop {
        if let Some(l) = agreed_leader(sim, g, members) {
            return Some((l, sim.now().saturating_since(start)));
        }
        if sim.now().saturating_since(start) >= limit {
            return None;
        }
        sim.run_for(step);
    }
}
