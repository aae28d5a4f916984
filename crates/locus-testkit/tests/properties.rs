//! Property test: random sizes, seeds and crash schedules never break the group invariants.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use locus_core::{Config, Event};
use locus_testkit::{Sim, SimOptions, check};
use locus_topology::Topology;
use proptest::prelude::*;

fn scenario(
    seed: u64,
    peers: usize,
    regions: usize,
    crashes: &[(usize, u32)],
) -> Result<(), TestCaseError> {
    let topo = Topology::parse(THREE_REGIONS).expect("topology parses");
    let model = topo
        .model((0..peers).map(|i| i % regions).collect())
        .expect("sites");
    let mut sim = Sim::new(SimOptions::new(Config::test(), seed), Arc::new(model));
    for i in 0..peers {
        sim.add_peer(i);
        sim.join_at(i, at(0.4 * i as f64));
    }
    // Crash at most half of the peers, between 20 s and 35 s.
    let mut crashed = BTreeSet::new();
    for (node, ms) in crashes {
        let node = node % peers;
        if crashed.len() < peers / 2 && crashed.insert(node) {
            sim.crash_at(node, at(20.0) + secs(f64::from(*ms) / 1000.0));
        }
    }
    sim.run_until(at(100.0));

    // Safety over the whole run: no two peers ever took the same group at the same epoch.
    let mut taken: BTreeMap<_, BTreeSet<usize>> = BTreeMap::new();
    for (_, node, e) in &sim.events {
        if let Event::BecameLeader { group, epoch } = e {
            taken.entry((*group, *epoch)).or_default().insert(*node);
        }
    }
    for ((group, epoch), nodes) in &taken {
        prop_assert!(
            nodes.len() == 1,
            "group {group:?} epoch {epoch} had leaders {nodes:?}"
        );
    }
    // Once quiet: every live peer in exactly one group, one leader per group, no peer on two
    // rosters.
    let violations = check::steady_state_violations(&sim);
    prop_assert!(
        violations.is_empty(),
        "seed {seed}: {}",
        violations.join("\n")
    );
    let live = sim.live().count();
    let grouped: usize = sim.groups().values().map(Vec::len).sum();
    prop_assert_eq!(live, grouped);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_crashes(
        seed in any::<u64>(),
        peers in 4usize..24,
        regions in 1usize..=3,
        crashes in proptest::collection::vec((0usize..24, 0u32..15_000), 0..10),
    ) {
        scenario(seed, peers, regions, &crashes)?;
    }
}
