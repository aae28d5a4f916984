//! The harness' other failure injections: partitions, message loss, restarts, graceful leave.

mod common;

use common::*;
use locus_core::Config;
use locus_testkit::{check, seed};

fn formed(seed: u64) -> locus_testkit::Sim {
    let mut sim = three_regions(Config::test(), seed);
    for i in 0..24 {
        sim.join_at(i, at(0.5 * i as f64));
    }
    sim.run_until(at(40.0));
    assert_groups_are_regions(&sim);
    sim
}

#[test]
fn a_partitioned_region_heals_into_one_connected_overlay() {
    let mut sim = formed(seed(21));
    let region0: Vec<usize> = (0..24).filter(|i| region_of(*i) == 0).collect();
    sim.partition(&region0);
    sim.run_until(at(70.0));
    // Cut off, the region keeps its own group and leader.
    let g0 = sim.nodes()[region0[0]]
        .peer
        .group()
        .expect("in a group")
        .group_id;
    assert!(
        region0
            .iter()
            .all(|i| sim.nodes()[*i].peer.group().map(|g| g.group_id) == Some(g0))
    );
    assert_eq!(sim.leaders()[&g0].len(), 1);
    sim.heal();
    sim.run_until(at(130.0));
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
    let (_, components, _) = check::group_graph(&sim);
    assert_eq!(
        components, 1,
        "the group graph reconnects after the partition heals"
    );
}

#[test]
fn ten_percent_message_loss_then_quiet_converges() {
    let mut sim = formed(seed(22));
    sim.set_drop_rate(0.10);
    sim.run_until(at(80.0));
    sim.set_drop_rate(0.0);
    sim.run_until(at(140.0));
    assert_steady(&sim);
    assert_eq!(sim.live().count(), 24);
    for members in sim.groups().values() {
        assert!(
            members
                .iter()
                .all(|m| region_of(*m) == region_of(members[0])),
            "{members:?}"
        );
    }
}

#[test]
fn a_restarted_peer_rejoins_its_region() {
    let mut sim = formed(seed(23));
    let peer = 7;
    sim.crash_at(peer, at(40.0));
    sim.restart_at(peer, at(50.0));
    sim.run_until(at(80.0));
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
}

#[test]
fn graceful_leaves_hand_over_and_the_last_member_ends_the_group() {
    let mut sim = formed(seed(24));
    let region2: Vec<usize> = (0..24).filter(|i| region_of(*i) == 2).collect();
    let g2 = sim.nodes()[region2[0]]
        .peer
        .group()
        .expect("in a group")
        .group_id;
    // The leader leaves first: its first successor takes over without an election.
    let leader = sim.leaders()[&g2][0];
    sim.leave_at(leader, at(40.0));
    sim.run_until(at(41.0));
    let new = sim.leaders().remove(&g2).unwrap_or_default();
    assert_eq!(new.len(), 1, "the group is handed over at once: {new:?}");
    assert!(
        !sim.events
            .iter()
            .any(|(_, _, e)| matches!(e, locus_core::Event::ElectionStarted { .. }))
    );
    // Then everyone else leaves, one by one; the last one ends the group.
    for (k, p) in region2.iter().filter(|p| **p != leader).enumerate() {
        sim.leave_at(*p, at(42.0 + k as f64));
    }
    sim.run_until(at(60.0));
    assert!(!sim.groups().contains_key(&g2), "the group ceased to exist");
    assert!(
        sim.events
            .iter()
            .any(|(_, _, e)| matches!(e, locus_core::Event::GroupEnded { group } if *group == g2))
    );
    assert!(
        sim.directory().resolve(g2).is_none(),
        "the rendezvous dropped it"
    );
    assert_steady(&sim);
}
