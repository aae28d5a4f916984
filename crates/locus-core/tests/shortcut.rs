//! The random link as a shortcut (`Config::random_link_sample`, issue #14): a leader measures
//! a sample of random groups beyond its neighbours and links to the closest that answers as
//! its group's leader; with a sample of 1 it is the seed's uniformly random link.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use locus_core::message::{
    AnnounceReply, ConnectReply, MeasureReply, NeighborsReply, Request, Response, Target,
};
use locus_core::{CallError, Config, Peer, RequestId, Time};

mod common;
use common::{founder_with, gid, peer, view_of};

/// The groups of the `n`-th boot list the founder gets: 8 new groups each time, so that the
/// random link's sample is drawn from groups the neighbour search has not linked.
fn boot_list(n: u8) -> Vec<u8> {
    (0..8).map(|i| 10 + 8 * n + i).collect()
}

/// RTT to leader `g`: groups of later boot lists are closer, and within one list the RTT
/// falls with the number, so that the closest of any sample is its highest number.
fn rtt(g: u8) -> Duration {
    Duration::from_millis(300 - u64::from(g))
}

struct Run {
    /// Leaders measured, by group number, in order.
    measured: Vec<u8>,
    /// Inter-group connections asked for: (group number, random).
    connects: Vec<(u8, bool)>,
    /// The group named by each boot-list request as the one a shortcut is for.
    shortcut_for: Vec<Option<locus_core::GroupId>>,
}

/// Runs founder `p` for `secs` seconds of its timers, answering as the overlay above would:
/// boot lists of fresh groups, measurements after [`rtt`] (as its group's leader, unless
/// `impostor` picks groups whose measured peer says another peer leads them), neighbour lists
/// empty, connections accepted, announcements taken.
fn run(p: &mut Peer, secs: u64, impostor: &dyn Fn(u8) -> bool) -> Run {
    let mut out = Run {
        measured: Vec::new(),
        connects: Vec::new(),
        shortcut_for: Vec::new(),
    };
    let mut lists = 0u8;
    let mut now = Time::ZERO;
    let end = Time::ZERO + Duration::from_secs(secs);
    // Replies in flight: (when, sequence) -> (call, reply).
    let mut queue: BinaryHeap<Reverse<(Time, u64, RequestId)>> = BinaryHeap::new();
    let mut replies = std::collections::BTreeMap::new();
    let mut seq = 0u64;
    loop {
        while let Some(t) = p.poll_transmit() {
            let number = |to: &Target| match to {
                Target::Peer(to) => (0..=u8::MAX).find(|n| *to == peer(*n)),
                _ => None,
            };
            let (reply, delay) = match &t.request {
                Request::GetBootList(req) => {
                    out.shortcut_for.push(req.shortcut_for);
                    let list = boot_list(lists)
                        .into_iter()
                        .map(|g| view_of(g, 5))
                        .collect();
                    lists += 1;
                    (Ok(Response::BootList(list)), Duration::from_millis(20))
                }
                Request::Measure(_) => match number(&t.to) {
                    Some(g) if g >= 10 => {
                        out.measured.push(g);
                        let group = if impostor(g) {
                            // Says it is a member of its group, led by someone else.
                            Some(view_of(g + 100, 5))
                        } else {
                            Some(view_of(g, 5))
                        };
                        let reply = MeasureReply {
                            responder: peer(g),
                            group,
                        };
                        (Ok(Response::Measure(reply)), rtt(g))
                    }
                    _ => (Err(CallError::Timeout), Duration::from_secs(2)),
                },
                Request::GetNeighbors(_) => match number(&t.to) {
                    Some(g) => (
                        Ok(Response::Neighbors(NeighborsReply {
                            group: view_of(g, 5),
                            neighbors: Vec::new(),
                        })),
                        rtt(g),
                    ),
                    None => (Err(CallError::Timeout), Duration::from_secs(2)),
                },
                Request::ConnectInter(req) => {
                    let g = number(&t.to).expect("a test peer");
                    out.connects.push((g, req.random));
                    let reply = ConnectReply {
                        accepted: true,
                        referrals: Vec::new(),
                    };
                    (Ok(Response::Connect(reply)), rtt(g))
                }
                Request::AnnounceGroup(_) => (
                    Ok(Response::Announced(AnnounceReply {
                        superseded_by: None,
                        bridge: Vec::new(),
                    })),
                    Duration::from_millis(20),
                ),
                _ => (Err(CallError::Timeout), Duration::from_secs(2)),
            };
            seq += 1;
            queue.push(Reverse((now + delay, seq, t.id)));
            replies.insert(seq, reply);
        }
        let reply_at = queue.peek().map(|r| r.0.0);
        let timer_at = p.poll_timeout();
        let next = match (reply_at, timer_at) {
            (Some(r), Some(t)) => r.min(t),
            (Some(r), None) => r,
            (None, Some(t)) => t,
            (None, None) => return out,
        };
        if next > end {
            return out;
        }
        now = next.max(now);
        if reply_at == Some(next) {
            let Reverse((_, s, id)) = queue.pop().expect("peeked");
            let reply = replies.remove(&s).expect("queued");
            p.handle_response(now, id, reply);
        } else {
            p.handle_timeout(now);
        }
    }
}

fn config(sample: u32) -> Config {
    Config {
        random_inter_group_links: 1,
        random_link_sample: sample,
        random_link_min_members: 1,
        measure_samples: 1,
        ..Config::test()
    }
}

/// The random links asked for.
fn random_links(r: &Run) -> Vec<u8> {
    r.connects.iter().filter(|c| c.1).map(|c| c.0).collect()
}

/// The groups measured of the boot list that group `g` came in.
fn sampled_with(r: &Run, g: u8) -> std::collections::BTreeSet<u8> {
    let list = (0..8)
        .map(boot_list)
        .find(|l| l.contains(&g))
        .expect("from a boot list");
    r.measured
        .iter()
        .copied()
        .filter(|m| list.contains(m))
        .collect()
}

#[test]
fn a_leader_links_to_the_closest_of_its_sample_of_random_groups() {
    let mut p = founder_with(config(4));
    let r = run(&mut p, 60, &|_| false);
    let random = random_links(&r);
    assert_eq!(random.len(), 1, "one random link: {:?}", r.connects);
    let g = random[0];
    // The sample came from one boot list; the link went to its closest member measured.
    let sampled = sampled_with(&r, g);
    assert_eq!(sampled.len(), 4, "the sample was measured: {sampled:?}");
    assert_eq!(Some(&g), sampled.last(), "the closest of the sample");
    assert!(p.status().inter.iter().any(|l| l.group_id == gid(g)));
}

#[test]
fn a_sample_of_one_is_the_uniform_random_link() {
    let mut p = founder_with(config(1));
    let r = run(&mut p, 60, &|_| false);
    let random = random_links(&r);
    assert_eq!(random.len(), 1, "{:?}", r.connects);
    // The search measured the first list; of the random link's list one group was measured
    // (and re-measured once linked).
    let sampled = sampled_with(&r, random[0]);
    assert_eq!(sampled.len(), 1, "{:?}", r.measured);
}

#[test]
fn a_sampled_group_whose_leader_is_someone_else_is_never_the_shortcut() {
    // The closest group of every boot list is its last; each of those is a peer that says
    // another peer leads its group. The whole list is sampled, and the link goes to the
    // closest group whose leader answered as such.
    let impostor = |g: u8| (g - 10) % 8 == 7;
    let mut p = founder_with(config(8));
    let r = run(&mut p, 60, &impostor);
    let random = random_links(&r);
    assert_eq!(random.len(), 1, "{:?}", r.connects);
    assert!(!impostor(random[0]), "{random:?}");
    assert_eq!((random[0] - 10) % 8, 6, "the closest that leads its group");
}

#[test]
fn a_group_below_the_member_threshold_opens_no_shortcut() {
    // The founder leads a group of one: at a threshold of 2 it opens no random link, at 1 it
    // does; its neighbour search links either way.
    let random = |min: u32| {
        let mut p = founder_with(Config {
            random_link_min_members: min,
            ..config(8)
        });
        let r = run(&mut p, 60, &|_| false);
        assert!(
            r.connects.iter().any(|c| !c.1),
            "the neighbour search links: {:?}",
            r.connects
        );
        random_links(&r)
    };
    assert_eq!(random(2), Vec::<u8>::new());
    assert_eq!(random(1).len(), 1);
}

/// Founder `p` takes in peers 100.. as members until its roster holds `members` (itself
/// included), then leaders of groups 50.. ask it for random links one after another; returns
/// whether each was accepted.
fn random_links_accepted(members_per_shortcut: u32, members: u8, asks: u8) -> Vec<bool> {
    use locus_core::message::{ConnectInterRequest, GetGroupMembersRequest};
    let mut p = founder_with(Config {
        members_per_shortcut,
        ..config(8)
    });
    let own = p.group().expect("founded").group_id;
    for n in 100..100 + members - 1 {
        let reply = p.handle_request(
            Time::ZERO,
            Some(peer(n)),
            Request::GetGroupMembers(GetGroupMembersRequest {
                group_id: own,
                joining: true,
                handover: None,
                candidates: 0,
                known_alive: None,
            }),
        );
        assert!(reply.is_ok(), "member {n} taken in: {reply:?}");
    }
    (50..50 + asks)
        .map(|g| {
            let reply = p.handle_request(
                Time::ZERO,
                Some(peer(g)),
                Request::ConnectInter(ConnectInterRequest {
                    group: view_of(g, 1),
                    rtt: Duration::from_millis(40),
                    random: true,
                    replaces: None,
                }),
            );
            matches!(
                reply,
                Ok(Response::Connect(ConnectReply { accepted: true, .. }))
            )
        })
        .collect()
}

#[test]
fn a_large_group_keeps_a_shortcut_per_members_per_shortcut_members() {
    // Four members at two per shortcut: two random links, the third refused.
    assert_eq!(random_links_accepted(2, 4, 3), vec![true, true, false]);
    // Three members at two per shortcut: one (a part of two members earns none).
    assert_eq!(random_links_accepted(2, 3, 2), vec![true, false]);
    // Off (0): one per group, whatever its size.
    assert_eq!(random_links_accepted(0, 4, 2), vec![true, false]);
    // At most `MAX_SHORTCUTS` however large.
    let max = locus_core::config::MAX_SHORTCUTS as usize;
    let accepted = random_links_accepted(1, 12, 8);
    assert_eq!(accepted.iter().filter(|a| **a).count(), max, "{accepted:?}");
}

#[test]
fn a_leader_asks_for_shortcut_candidates_for_its_own_group_only_with_the_switch() {
    for on in [true, false] {
        let mut p = founder_with(Config {
            detour_shortcuts: on,
            ..config(4)
        });
        let r = run(&mut p, 60, &|_| false);
        let own = p.group().map(|g| g.group_id);
        assert!(own.is_some());
        let asked: Vec<_> = r.shortcut_for.iter().flatten().copied().collect();
        if on {
            // The neighbour search's list names none; the shortcut's names the group.
            assert_eq!(asked, vec![own.unwrap()], "{:?}", r.shortcut_for);
        } else {
            assert!(asked.is_empty(), "{:?}", r.shortcut_for);
        }
        assert_eq!(random_links(&r).len(), 1, "a shortcut either way");
    }
}
