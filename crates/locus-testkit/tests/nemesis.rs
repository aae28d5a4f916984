//! Leadership heals itself (issue 11): a group cut in two gets a leader on each side, and once
//! the cut heals the two leaders find each other without the rendezvous and converge on the
//! higher term `(epoch, lower peer id)`; a crashed leader is replaced in time with the
//! rendezvous down.

mod common;

use std::time::Duration;

use common::*;
use locus_core::term::term;
use locus_core::{Config, GroupId};
use locus_testkit::{Sim, seed};

/// How long the cut lasts: far longer than `alive_timeout` (1.5 s in `Config::test()`), so
/// that the side without the leader must take over. Several lengths, so that the heal falls
/// at different points of the leaders' re-check schedule.
const PARTITIONS: [Duration; 4] = [
    Duration::from_secs(20),
    Duration::from_millis(22_500),
    Duration::from_secs(25),
    Duration::from_secs(31),
];

/// The longest gap between two re-checks of a lost peer, in `alive_interval`s: the core's
/// `MAX_LOST_GAP` (private to `peer::leadership`).
const LOST_GAP_INTERVALS: u32 = 16;

/// The bound on healing, from the moment the cut heals until one leader of the group is
/// followed by every member, as `docs/protocol.md` (safety rule 5) states it: the two sides
/// meet when a leader next re-checks a peer it lost, within `MAX_LOST_GAP · alive_interval`
/// (8 s at `test`), or with the rendezvous up at the losing leader's next announcement
/// (`announce_interval`), whose `superseded_by` it checks; the check of the winner and the
/// members' next reports take the rest, within `alive_timeout`. Measured (virtual time,
/// printed): 1.75–5.25 s with the rendezvous down, 0.75–1.25 s with it up.
fn heal_bound(cfg: &Config, rendezvous_up: bool) -> Duration {
    let meet = if rendezvous_up {
        cfg.announce_interval
    } else {
        cfg.alive_interval * LOST_GAP_INTERVALS
    };
    meet + cfg.alive_timeout
}

/// The bound on failover after a leader crash: the members notice within `alive_timeout`,
/// and the first successor's leadership flood reaches them within one `alive_interval`.
fn failover_bound(cfg: &Config) -> Duration {
    cfg.alive_timeout + cfg.alive_interval
}

/// The group of region 1 (the middle one of the joins), its leader and its members.
fn region1_group(sim: &Sim) -> (GroupId, usize, Vec<usize>) {
    let (g, members) = sim
        .groups()
        .into_iter()
        .find(|(_, ms)| region_of(ms[0]) == 1)
        .expect("a group in region 1");
    let leader = sim.leaders()[&g][0];
    (g, leader, members)
}

/// The leader of `g` among `side` that every node of `side` follows, or a panic that says
/// what each node believes.
fn side_leader(sim: &Sim, g: GroupId, side: &[usize], name: &str) -> usize {
    let leaders: Vec<usize> = sim
        .leaders()
        .remove(&g)
        .unwrap_or_default()
        .into_iter()
        .filter(|l| side.contains(l))
        .collect();
    let views: Vec<String> = side
        .iter()
        .map(|m| {
            let p = &sim.nodes()[*m].peer;
            format!(
                "{m}: {:?} {:?}",
                p.role(),
                p.group().map(|v| (v.epoch, v.leader))
            )
        })
        .collect();
    assert_eq!(
        leaders.len(),
        1,
        "{name} {side:?} has one leader of its own at {:?}: {leaders:?}\n{}",
        sim.now(),
        views.join("\n")
    );
    let id = sim.nodes()[leaders[0]].peer.me().id;
    assert!(
        side.iter().all(|m| sim.nodes()[*m]
            .peer
            .group()
            .is_some_and(|v| v.group_id == g && v.leader.id == id)),
        "every node of {name} {side:?} follows {} at {:?}:\n{}",
        leaders[0],
        sim.now(),
        views.join("\n")
    );
    leaders[0]
}

fn split_group_heals(seed: u64, rendezvous_up: bool) {
    for partition in PARTITIONS {
        split_group_heals_after(seed, rendezvous_up, partition);
    }
}

fn split_group_heals_after(seed: u64, rendezvous_up: bool, partition: Duration) {
    let cfg = Config::test();
    let mut sim = formed_via_peers(cfg.clone(), seed, rendezvous_up);
    let (g, leader, members) = region1_group(&sim);
    // The leader and three others on one side; the other four with the rest of the overlay.
    let others: Vec<usize> = members.iter().copied().filter(|m| *m != leader).collect();
    let mut half_a = vec![leader];
    half_a.extend(&others[..3]);
    let half_b: Vec<usize> = others[3..].to_vec();
    println!("group {g:?}: leader {leader}, halves {half_a:?} | {half_b:?}");

    let cut = sim.now();
    sim.partition_sides(std::slice::from_ref(&half_a));
    sim.run_until(cut + partition);
    let leader_a = side_leader(&sim, g, &half_a, "half A");
    let leader_b = side_leader(&sim, g, &half_b, "half B");
    let term_a = term(&sim.nodes()[leader_a].peer.group().expect("leads"));
    let term_b = term(&sim.nodes()[leader_b].peer.group().expect("leads"));
    println!("before the heal: A led by {leader_a} at {term_a:?}, B by {leader_b} at {term_b:?}");
    let (winner, winning_term) = if term_a > term_b {
        (leader_a, term_a)
    } else {
        (leader_b, term_b)
    };

    sim.heal();
    let bound = heal_bound(&cfg, rendezvous_up);
    let healed = run_until_agreed(&mut sim, g, &members, Duration::from_millis(50), bound * 4);
    let Some((leader, took)) = healed else {
        panic!(
            "seed {seed}: no single leader of {g:?} followed by all of {members:?} within {:?} of the heal; leaders {:?}",
            bound * 4,
            sim.leaders().get(&g)
        );
    };
    println!(
        "healed (rendezvous {}, cut for {partition:?}): one leader ({leader}) followed by all {} members {took:?} after the heal (bound {bound:?})",
        if rendezvous_up { "up" } else { "down" },
        members.len()
    );
    assert!(
        took <= bound,
        "seed {seed}: after a {partition:?} cut, healing took {took:?}, over {bound:?}"
    );
    assert_eq!(
        leader, winner,
        "seed {seed}: the higher term wins ({term_a:?} of {leader_a} against {term_b:?} of {leader_b})"
    );
    let epoch = sim.nodes()[leader].peer.group().expect("leads").epoch;
    assert_eq!(
        epoch, winning_term.0,
        "seed {seed}: the two leaderships converge on the winner's term; no epoch is spent on it"
    );
    // And it stays healed, the whole overlay in steady state.
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        agreed_leader(&sim, g, &members),
        Some(leader),
        "seed {seed}: it stays healed"
    );
    assert_steady(&sim);
    assert_groups_are_regions(&sim);
}

#[test]
fn a_group_split_in_two_heals_into_one_leader_with_the_rendezvous_down() {
    split_group_heals(seed(1101), false);
}

#[test]
fn a_group_split_in_two_heals_into_one_leader_with_the_rendezvous_up() {
    split_group_heals(seed(1102), true);
}

#[test]
fn a_crashed_leader_is_replaced_everywhere_in_time_with_the_rendezvous_down() {
    let seed = seed(1103);
    let cfg = Config::test();
    let mut sim = formed_via_peers(cfg.clone(), seed, false);
    let (g, leader, members) = region1_group(&sim);
    let survivors: Vec<usize> = members.iter().copied().filter(|m| *m != leader).collect();
    let epoch = sim.nodes()[leader].peer.group().expect("leads").epoch;
    let crash = sim.now();
    sim.crash_at(leader, crash);
    sim.run_until(crash + Duration::from_millis(1));
    let bound = failover_bound(&cfg);
    let Some((new, took)) = run_until_agreed(
        &mut sim,
        g,
        &survivors,
        Duration::from_millis(50),
        bound * 4,
    ) else {
        panic!(
            "seed {seed}: no single leader of {g:?} followed by all of {survivors:?} within {:?}; leaders {:?}",
            bound * 4,
            sim.leaders().get(&g)
        );
    };
    let took = took + Duration::from_millis(1);
    println!(
        "failover: {new} leads, followed by all survivors {took:?} after the crash (bound {bound:?})"
    );
    assert!(
        took <= bound,
        "seed {seed}: failover took {took:?}, over {bound:?}"
    );
    let view = sim.nodes()[new].peer.group().expect("leads");
    assert_eq!(
        view.epoch,
        epoch + 1,
        "seed {seed}: a change of leader raises the epoch by one"
    );
    sim.run_for(Duration::from_secs(5));
    assert_steady(&sim);
}
