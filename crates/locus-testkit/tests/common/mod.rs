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
