//! Forged messages from a stray sender never change a formed group: whatever a stranger
//! sends a member, the leader or the rendezvous, every member keeps the same leader and
//! epoch, the leader keeps leading and the directory's entry stays as it was. A peer follows
//! a new leadership only once that leader answered it directly, and a leader never steps down
//! on a claim, an `Alive` or the directory's word alone (issue 11).
//!
//! The forger is cut off by no partition and is authenticated as itself: `from` is its own
//! identity, as mutual TLS would make it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use locus_core::message::{Alive, Announcement, GroupView, NewLeader};
use locus_core::{CallError, Config, GroupId, PeerId, PeerRef, Request, RequestError, Time};
use locus_testkit::{Recipient, Sim, seed};

/// How long the group is watched after the forgery: several `alive_interval`s (0.5 s), more
/// than `alive_timeout` (1.5 s) and `announce_interval` (1 s), so that whatever the forgery
/// set off (probes, floods, announcements, timeouts) has played out.
const AFTERWARDS: Duration = Duration::from_secs(5);

/// A formed group under attack: region 1's group, its leader and epoch, one of its members.
struct Target {
    g: GroupId,
    leader: usize,
    epoch: u64,
    member: usize,
    members: Vec<usize>,
    /// A peer of another group, running and reachable, that does not lead `g`.
    outsider: usize,
    /// The directory's view of `g` before the forgery.
    entry: Option<GroupView>,
}

fn formed(seed: u64) -> (Sim, Target) {
    let mut sim = three_regions(Config::test(), seed);
    for i in 0..3 * PER_REGION {
        sim.join_at(i, at(0.5 * i as f64));
    }
    sim.run_until(at(40.0));
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
    let (g, members) = sim
        .groups()
        .into_iter()
        .find(|(_, ms)| region_of(ms[0]) == 1)
        .expect("a group in region 1");
    let leader = sim.leaders()[&g][0];
    let epoch = sim.nodes()[leader].peer.group().expect("leads").epoch;
    let member = *members.iter().find(|m| **m != leader).expect("a member");
    let outsider = (0..3 * PER_REGION)
        .find(|i| {
            region_of(*i) == 0 && sim.nodes()[*i].peer.role() != locus_core::message::Role::Leader
        })
        .expect("a member of region 0");
    let entry = sim.directory().resolve(g).map(|e| e.view.clone());
    assert!(entry.is_some(), "the rendezvous knows the group");
    let t = Target {
        g,
        leader,
        epoch,
        member,
        members,
        outsider,
        entry,
    };
    (sim, t)
}

/// The stranger: id 1, lower than any random id, so that it would win any tie of terms; an
/// address no node answers on.
fn forger() -> PeerRef {
    PeerRef::new(id("00000000-0000-0000-0000-000000000001"), "forger:666")
}

fn id(s: &str) -> PeerId {
    s.parse().expect("a uuid")
}

fn me(sim: &Sim, i: usize) -> PeerRef {
    sim.nodes()[i].peer.me().clone()
}

fn view(t: &Target, epoch: u64, leader: PeerRef) -> GroupView {
    GroupView {
        group_id: t.g,
        epoch,
        leader,
        successors: Vec::new(),
        member_count: t.members.len() as u32,
    }
}

fn alive(sim: &Sim, t: &Target, v: GroupView) -> Request {
    let roster = t
        .members
        .iter()
        .map(|m| me(sim, *m))
        .chain([v.leader.clone()])
        .collect();
    Request::Alive(Arc::new(Alive {
        leadership: vec![v.leader.clone()],
        group: v,
        seq: 1 << 40,
        neighbors: Vec::new(),
        roster,
        merge_into: None,
        partition_links: Vec::new(),
        opened_links: Vec::new(),
        lost: Vec::new(),
    }))
}

/// Sends `request` from the forger to the member and, if `to_leader`, to the leader too.
fn forge(sim: &mut Sim, t: &Target, request: Request, to_leader: bool) {
    let mut to = vec![Recipient::Node(t.member)];
    if to_leader {
        to.push(Recipient::Node(t.leader));
    }
    for r in to {
        let result = sim.inject(r, Some(forger()), request.clone());
        println!("forged {} to {r:?}: {result:?}", kind(&request));
    }
}

fn kind(r: &Request) -> &'static str {
    match r {
        Request::Alive(_) => "alive",
        Request::NewLeader(_) => "new_leader",
        Request::AnnounceGroup(_) => "announce_group",
        _ => "other",
    }
}

/// Runs `AFTERWARDS` and asserts that nothing changed.
fn assert_unmoved(sim: &mut Sim, t: &Target, seed: u64) {
    sim.run_for(AFTERWARDS);
    let leader_id = sim.nodes()[t.leader].peer.me().id;
    assert_eq!(
        sim.leaders().get(&t.g).cloned().unwrap_or_default(),
        vec![t.leader],
        "seed {seed}: the leader still leads and no one else does"
    );
    for m in &t.members {
        let v = sim.nodes()[*m].peer.group();
        assert!(
            v.as_ref().is_some_and(|v| v.group_id == t.g
                && v.leader.id == leader_id
                && v.epoch == t.epoch),
            "seed {seed}: peer {m} keeps leader {} at epoch {}, not {v:?}",
            t.leader,
            t.epoch
        );
        assert!(
            sim.nodes()[*m]
                .peer
                .members()
                .iter()
                .all(|p| p.id != forger().id),
            "seed {seed}: the forger is on no roster"
        );
    }
    let entry = sim.directory().resolve(t.g).map(|e| e.view.clone());
    assert_eq!(
        entry.as_ref().map(|v| (v.leader.id, v.epoch)),
        t.entry.as_ref().map(|v| (v.leader.id, v.epoch)),
        "seed {seed}: the directory's entry is unchanged"
    );
    assert_steady(sim);
}

#[test]
fn alive_with_a_higher_epoch() {
    // Names a real, reachable peer of another group as the leader at epoch + 1: probed, it
    // answers as a member of its own group.
    let seed = seed(1201);
    let (mut sim, t) = formed(seed);
    let v = view(&t, t.epoch + 1, me(&sim, t.outsider));
    let req = alive(&sim, &t, v);
    forge(&mut sim, &t, req, true);
    assert_unmoved(&mut sim, &t, seed);
}

#[test]
fn alive_at_u64_max() {
    // Once naming the stranger, once naming the true leader: neither may wedge the epoch.
    let seed = seed(1202);
    let (mut sim, t) = formed(seed);
    let req = alive(&sim, &t, view(&t, u64::MAX, forger()));
    forge(&mut sim, &t, req, true);
    let req = alive(&sim, &t, view(&t, u64::MAX, me(&sim, t.leader)));
    forge(&mut sim, &t, req, true);
    assert_unmoved(&mut sim, &t, seed);
}

#[test]
fn alive_naming_an_unreachable_leader() {
    let seed = seed(1203);
    let (mut sim, t) = formed(seed);
    let ghost = PeerRef::new(id("00000000-0000-0000-0000-000000000002"), "nowhere:1");
    let req = alive(&sim, &t, view(&t, t.epoch + 1, ghost));
    forge(&mut sim, &t, req, true);
    assert_unmoved(&mut sim, &t, seed);
}

#[test]
fn alive_naming_the_receiver() {
    // The member is told it leads at epoch + 1; so is the leader.
    let seed = seed(1204);
    let (mut sim, t) = formed(seed);
    let req = alive(&sim, &t, view(&t, t.epoch + 1, me(&sim, t.member)));
    let r = sim.inject(Recipient::Node(t.member), Some(forger()), req);
    println!("forged alive to the member naming itself: {r:?}");
    let req = alive(&sim, &t, view(&t, t.epoch + 1, me(&sim, t.leader)));
    let r = sim.inject(Recipient::Node(t.leader), Some(forger()), req);
    println!("forged alive to the leader naming itself: {r:?}");
    assert_unmoved(&mut sim, &t, seed);
}

#[test]
fn new_leader_at_epoch_plus_one_from_a_non_member() {
    // The earliest possible timestamp and the lowest id: it would win any election.
    let seed = seed(1205);
    let (mut sim, t) = formed(seed);
    let claim = Request::NewLeader(NewLeader {
        group_id: t.g,
        epoch: t.epoch + 1,
        round: 0,
        candidate: forger(),
        sent_at: Time::ZERO,
    });
    forge(&mut sim, &t, claim, true);
    assert_unmoved(&mut sim, &t, seed);
}

#[test]
fn announce_group_with_a_superseding_term() {
    // Three announcements whose term beats the entry's: the stranger at epoch + 1, the
    // stranger at the same epoch with a lower id, the true leader at epoch + 1 (which it does
    // not bear out). Then one that ends the live group. The directory refuses them all.
    let seed = seed(1206);
    let (mut sim, t) = formed(seed);
    let leader = me(&sim, t.leader);
    let forged = [
        (view(&t, t.epoch + 1, forger()), false),
        (view(&t, t.epoch, forger()), false),
        (view(&t, t.epoch + 1, leader.clone()), false),
        (view(&t, t.epoch, leader), true),
    ];
    for (v, ended) in forged {
        let a = Request::AnnounceGroup(Announcement {
            group: v,
            neighbors: Vec::new(),
            partition_links: vec![],
            landmarks: vec![],
            ended,
        });
        let r = sim.inject(Recipient::Rendezvous, Some(forger()), a);
        println!("forged announcement: {r:?}");
        assert!(
            matches!(r, Err(CallError::Refused(RequestError::Invalid(_)))),
            "seed {seed}: the rendezvous refuses it: {r:?}"
        );
        assert_eq!(
            sim.directory()
                .resolve(t.g)
                .map(|e| (e.view.leader.id, e.view.epoch)),
            t.entry.as_ref().map(|v| (v.leader.id, v.epoch)),
            "seed {seed}: the directory is unchanged at once"
        );
    }
    assert_unmoved(&mut sim, &t, seed);
}
