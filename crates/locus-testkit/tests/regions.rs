//! Three well-separated regions: groups form per region, link to each other, and survive
//! leader loss.

mod common;

use common::*;
use locus_core::Config;
use locus_core::message::Role;
use locus_testkit::{check, seed};

#[test]
fn sequential_joins_form_one_group_per_region() {
    let mut sim = three_regions(Config::test(), seed(1));
    for i in 0..24 {
        sim.join_at(i, at(1.0 * i as f64));
    }
    sim.run_until(at(60.0));
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
    let (groups, components, degree) = check::group_graph(&sim);
    assert_eq!(groups, 3);
    assert_eq!(components, 1, "the group graph is connected");
    assert!(
        degree.values().all(|d| *d >= 2),
        "every group links to the 2 others: {degree:?}"
    );
}

#[test]
fn simultaneous_start_merges_into_one_group_per_region() {
    let mut sim = three_regions(Config::test(), seed(2));
    for i in 0..24 {
        sim.join_at(i, at(0.0));
    }
    sim.run_until(at(90.0));
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
    let (_, components, _) = check::group_graph(&sim);
    assert_eq!(components, 1);
}

#[test]
fn simultaneous_start_without_merge_leaves_duplicate_groups() {
    let cfg = Config {
        group_merge: false,
        ..Config::test()
    };
    let mut sim = three_regions(cfg, seed(2));
    for i in 0..24 {
        sim.join_at(i, at(0.0));
    }
    sim.run_until(at(90.0));
    assert_steady(&sim);
    let groups = sim.groups();
    println!(
        "without merge: {} groups: {:?}",
        groups.len(),
        groups.values().collect::<Vec<_>>()
    );
    assert!(
        groups.len() > 3,
        "without merging, concurrent founders leave more than 3 groups"
    );
    for members in groups.values() {
        assert!(
            members
                .iter()
                .all(|m| region_of(*m) == region_of(members[0])),
            "{members:?}"
        );
    }
}

#[test]
fn leader_crash_survivors_follow_one_new_leader_in_time() {
    let cfg = Config::test();
    let mut sim = three_regions(cfg.clone(), seed(3));
    for i in 0..24 {
        sim.join_at(i, at(1.0 * i as f64));
    }
    sim.run_until(at(60.0));
    assert_groups_are_regions(&sim);
    let (group, leaders) = sim.leaders().into_iter().next().expect("a group");
    let old = leaders[0];
    let members = sim.groups()[&group].clone();
    sim.crash_at(old, at(60.0));
    let bound = cfg.alive_timeout + cfg.alive_interval;
    let survivors: Vec<usize> = members.iter().copied().filter(|m| *m != old).collect();
    // Step in 10 ms until every survivor follows one live leader, and print when (virtual
    // time; docs/benchmarks.md quotes it).
    let follows_one = |sim: &locus_testkit::Sim| {
        let leaders = sim.leaders().remove(&group).unwrap_or_default();
        leaders.len() == 1
            && survivors.iter().all(|m| {
                sim.nodes()[*m].peer.group().map(|v| v.leader.id)
                    == Some(sim.nodes()[leaders[0]].peer.me().id)
            })
    };
    sim.run_until(at(60.001));
    while !follows_one(&sim) && sim.now() < at(60.0) + bound {
        sim.run_for(secs(0.01));
    }
    println!(
        "failover: every survivor follows the new leader {:?} after the crash (bound {bound:?})",
        sim.now().saturating_since(at(60.0))
    );
    sim.run_until(at(60.0) + bound);

    let new_leaders = sim.leaders().remove(&group).unwrap_or_default();
    assert_eq!(
        new_leaders.len(),
        1,
        "exactly one new leader: {new_leaders:?}"
    );
    let new = new_leaders[0];
    let new_id = sim.nodes()[new].peer.me().id;
    for m in &survivors {
        let view = sim.nodes()[*m].peer.group().expect("still in the group");
        assert_eq!(view.group_id, group);
        assert_eq!(
            view.leader.id, new_id,
            "peer {m} follows the new leader within {bound:?}"
        );
    }
    // Neighbour groups point at the new leader once they have re-measured.
    sim.run_for(cfg.remeasure_interval * 2);
    for (g, ls) in sim.leaders() {
        if g == group {
            continue;
        }
        let inter = sim.nodes()[ls[0]].peer.status().inter;
        if let Some(n) = inter.iter().find(|n| n.group_id == group) {
            assert_eq!(
                n.leader.id, new_id,
                "neighbour group {g:?} points at the new leader"
            );
        }
    }
    let (_, components, _) = check::group_graph(&sim);
    assert_eq!(components, 1);
    assert_steady(&sim);
}

#[test]
fn crash_of_the_whole_leadership_list_elects_exactly_one_leader() {
    let cfg = Config {
        leadership_list_target: 3,
        ..Config::test()
    };
    let mut sim = three_regions(cfg.clone(), seed(4));
    for i in 0..24 {
        sim.join_at(i, at(1.0 * i as f64));
    }
    sim.run_until(at(60.0));
    assert_groups_are_regions(&sim);
    let (group, leaders) = sim.leaders().into_iter().next().expect("a group");
    let list = sim.nodes()[leaders[0]].peer.status().leadership;
    assert_eq!(list.len(), 3);
    let doomed: Vec<usize> = list.iter().map(|p| sim.index_of(p.id).unwrap()).collect();
    for d in &doomed {
        sim.crash_at(*d, at(60.0));
    }
    sim.run_until(at(90.0));
    let elected = sim
        .events
        .iter()
        .filter(|(t, _, e)| {
            *t > at(60.0)
                && matches!(e, locus_core::Event::ElectionStarted { group: g, .. } if *g == group)
        })
        .count();
    assert!(elected > 0, "the survivors had to elect");
    let leaders = sim.leaders().remove(&group).unwrap_or_default();
    assert_eq!(
        leaders.len(),
        1,
        "exactly one leader after the election: {leaders:?}"
    );
    let members = sim.groups()[&group].clone();
    assert_eq!(members.len(), PER_REGION - 3);
    for m in members {
        assert!(matches!(
            sim.nodes()[m].peer.role(),
            Role::Member | Role::Leader
        ));
    }
    assert_steady(&sim);
}
