//! The harness' own tools: partitions with any sides, forged requests, the rendezvous' check
//! of announcements, and the count of leadership changes.

mod common;

use common::*;
use locus_core::message::{Announcement, GroupView};
use locus_core::{CallError, Config, Event, PeerRef, Request, RequestError, Response};
use locus_testkit::{Recipient, seed};

#[test]
fn partition_sides_cut_between_sides_and_nowhere_else() {
    let mut sim = three_regions(Config::test(), seed(1301));
    sim.partition_sides(&[vec![0, 1], vec![2, 3]]);
    assert!(sim.connected(0, 1) && sim.connected(2, 3) && sim.connected(4, 5));
    assert!(!sim.connected(0, 2) && !sim.connected(1, 4) && !sim.connected(3, 5));
    sim.partition(&[7]);
    assert!(sim.connected(0, 2), "a new partition replaces the old one");
    assert!(!sim.connected(7, 0));
    sim.heal();
    assert!(sim.connected(7, 0));
}

#[test]
fn a_cut_group_loses_its_members_and_the_count_of_leaderships_follows() {
    let mut sim = three_regions(Config::test(), seed(1302));
    for i in 0..24 {
        sim.join_at(i, at(0.5 * i as f64));
    }
    sim.run_until(at(40.0));
    assert_groups_are_regions(&sim);
    let (g, leaders) = sim.leaders().into_iter().next().expect("a group");
    let before = sim.leadership_changes(g);
    let members = sim.groups()[&g].clone();
    let rest: Vec<usize> = members
        .iter()
        .copied()
        .filter(|m| *m != leaders[0])
        .collect();
    // The leader alone on one side, its members and every other peer on the other: the
    // members must take over (the rendezvous stays reachable from both sides).
    sim.partition_sides(&[vec![leaders[0]], rest.clone()]);
    sim.run_for(secs(10.0));
    let after = sim.leadership_changes(g);
    let reported = sim
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::BecameLeader { group, .. } if *group == g))
        .count() as u64;
    assert_eq!(
        after, reported,
        "the count is the BecameLeader events of the group"
    );
    assert!(
        after > before,
        "cut off from their leader, the members took over"
    );
}

#[test]
fn inject_delivers_forgeries_and_the_rendezvous_checks_announcements() {
    let mut sim = three_regions(Config::test(), seed(1303));
    for i in 0..24 {
        sim.join_at(i, at(0.5 * i as f64));
    }
    sim.run_until(at(40.0));
    let (g, leaders) = sim.leaders().into_iter().next().expect("a group");
    let leader = sim.nodes()[leaders[0]].peer.me().clone();
    let view = sim.nodes()[leaders[0]].peer.group().expect("leads");
    let forger = PeerRef::new(
        "00000000-0000-0000-0000-000000000001"
            .parse()
            .expect("uuid"),
        "forger:1",
    );
    // A node answers a stray status request.
    let r = sim.inject(
        Recipient::Node(leaders[0]),
        Some(forger.clone()),
        Request::GetStatus,
    );
    assert!(matches!(r, Ok(Response::Status(_))), "{r:?}");
    // The leader's own announcement is borne out; a forger's claim on the group is not.
    let own = Announcement {
        group: view.clone(),
        neighbors: Vec::new(),
        partition_links: vec![],
        landmarks: vec![],
        ended: false,
    };
    let r = sim.inject(
        Recipient::Rendezvous,
        Some(leader),
        Request::AnnounceGroup(own),
    );
    assert!(matches!(r, Ok(Response::Announced(_))), "{r:?}");
    let claim = Announcement {
        group: GroupView {
            epoch: view.epoch + 1,
            leader: forger.clone(),
            ..view.clone()
        },
        neighbors: Vec::new(),
        partition_links: vec![],
        landmarks: vec![],
        ended: false,
    };
    let refused = sim.unconfirmed_announcements;
    let r = sim.inject(
        Recipient::Rendezvous,
        Some(forger.clone()),
        Request::AnnounceGroup(claim),
    );
    assert!(
        matches!(r, Err(CallError::Refused(RequestError::Invalid(_)))),
        "{r:?}"
    );
    assert_eq!(sim.unconfirmed_announcements, refused + 1);
    assert_eq!(
        sim.directory().resolve(g).map(|e| e.view.leader.id),
        Some(view.leader.id)
    );
    // A crashed node and a stopped rendezvous answer nothing.
    sim.crash_at(leaders[0], sim.now());
    sim.run_for(secs(0.001));
    let r = sim.inject(
        Recipient::Node(leaders[0]),
        Some(forger.clone()),
        Request::GetStatus,
    );
    assert!(matches!(r, Err(CallError::Unreachable(_))), "{r:?}");
    sim.set_rendezvous_up(false);
    let r = sim.inject(
        Recipient::Rendezvous,
        Some(forger),
        Request::ResolveGroup(g),
    );
    assert!(matches!(r, Err(CallError::Unreachable(_))), "{r:?}");
    assert_eq!(sim.injections.len(), 5, "every delivery is recorded");
}
