//! A member of a group that merges into another keeps its intra-group links while it moves
//! (`Config::merge_keeps_links`): at 20,000 simulated peers, members that left their group
//! first and walked were linkless for the length of a walk, and a merge wave at a
//! re-measurement showed as dozens of components in the snapshot (docs/decisions.md,
//! "Locality that holds at scale").

use std::sync::Arc;

use locus_core::message::{
    Alive, AliveAck, ConnectReply, GetGroupMembersRequest, GroupMembersReply, GroupView,
    MeasureReply, NeighborsReply, RequestError, Role,
};
use locus_core::{BootSource, CallError, Config, Peer, Request, Response, Target, Time};

mod common;
use common::{gid, peer, view_of};

/// Group 2, led by peer 2, of `members` members.
fn x(members: u32) -> GroupView {
    view_of(2, members)
}

/// Answers a peer's calls as group 2 (led by peer 2, with members 3 and 4 offered as
/// candidates) would, every connection accepted, until it sends nothing more.
fn answer_as_group_2(p: &mut Peer, now: Time) {
    for _ in 0..1000 {
        let Some(t) = p.poll_transmit() else {
            return;
        };
        let reply = match &t.request {
            Request::GetBootList(_) => Ok(Response::BootList(vec![x(3)])),
            Request::Measure(_) => Ok(Response::Measure(MeasureReply {
                responder: match &t.to {
                    Target::Peer(to) => to.clone(),
                    _ => peer(99),
                },
                group: Some(x(3)),
            })),
            Request::GetNeighbors(_) => Ok(Response::Neighbors(NeighborsReply {
                group: x(3),
                neighbors: Vec::new(),
            })),
            Request::GetGroupMembers(_) => Ok(Response::GroupMembers(GroupMembersReply {
                group: x(3),
                leadership: vec![peer(2)],
                candidates: vec![peer(3), peer(4)],
                alive: None,
            })),
            Request::ConnectIntra(_) => Ok(Response::Connect(ConnectReply {
                accepted: true,
                referrals: Vec::new(),
            })),
            _ => Err(CallError::Timeout),
        };
        p.handle_response(now, t.id, reply);
    }
    panic!("the peer keeps calling");
}

/// Peer 10, a member of group 2 linked to peers 2, 3 and 4.
fn member(cfg: Config) -> Peer {
    let mut p = Peer::new(peer(10), cfg, 10);
    p.join(Time::ZERO, vec![BootSource::Rendezvous]);
    answer_as_group_2(&mut p, Time::ZERO);
    assert_eq!(p.role(), Role::Member);
    assert_eq!(p.group().expect("joined").group_id, x(3).group_id);
    assert_eq!(linked(&p), vec![2, 3, 4]);
    p
}

/// The peers this one holds intra-group links to, by number.
fn linked(p: &Peer) -> Vec<u8> {
    let mut out: Vec<u8> = p
        .status()
        .intra
        .iter()
        .map(|l| {
            l.peer
                .addr
                .trim_start_matches('p')
                .trim_end_matches(":1")
                .parse()
                .expect("a test peer")
        })
        .collect();
    out.sort_unstable();
    out
}

/// Leader 2's Alive saying that group 2 merges into group 5 (led by peer 5).
fn merging_into_5() -> Arc<Alive> {
    Arc::new(Alive {
        group: x(3),
        seq: 7,
        leadership: vec![peer(2)],
        neighbors: Vec::new(),
        roster: vec![peer(2), peer(3), peer(4), peer(10)],
        merge_into: Some(view_of(5, 20)),
        partition_links: Vec::new(),
        opened_links: Vec::new(),
        lost: Vec::new(),
    })
}

#[test]
fn a_member_of_a_merging_group_keeps_its_links_and_follows_the_absorbing_leader() {
    let mut p = member(Config::test());
    let now = Time::ZERO + std::time::Duration::from_secs(1);
    p.handle_request(now, Some(peer(2)), Request::Alive(merging_into_5()))
        .expect("the leader's Alive is taken");
    // Still linked while it asks group 5's leader to take it in.
    assert_eq!(
        linked(&p),
        vec![2, 3, 4],
        "no link is dropped before the move"
    );
    let mut asked = None;
    while let Some(t) = p.poll_transmit() {
        match (&t.to, &t.request) {
            (
                Target::Peer(to),
                Request::GetGroupMembers(GetGroupMembersRequest { joining, .. }),
            ) if *to == peer(5) => {
                assert!(joining);
                asked = Some(t.id);
            }
            (_, Request::Leave(_)) => panic!("the member closes no link: {:?}", t.to),
            // The merge notice passed on through the mesh: the members hear it.
            (_, Request::Alive(_)) => p.handle_response(
                now,
                t.id,
                Ok(Response::AliveAck(AliveAck { current: None })),
            ),
            _ => p.handle_response(now, t.id, Err(CallError::Timeout)),
        }
    }
    let asked = asked.expect("the member asks the absorbing leader directly");
    p.handle_response(
        now,
        asked,
        Ok(Response::GroupMembers(GroupMembersReply {
            group: view_of(5, 21),
            leadership: vec![peer(5)],
            candidates: vec![peer(6)],
            alive: None,
        })),
    );
    assert_eq!(p.group().expect("follows").group_id, view_of(5, 0).group_id);
    assert_eq!(p.role(), Role::Member);
    assert_eq!(linked(&p), vec![2, 3, 4], "the merged group's mesh is kept");
    // One link to the new leader joins that mesh to the absorbing group's, even at the target.
    let mut connects = Vec::new();
    while let Some(t) = p.poll_transmit() {
        if let (Target::Peer(to), Request::ConnectIntra(_)) = (&t.to, &t.request) {
            connects.push(to.clone());
        }
    }
    assert!(connects.contains(&peer(5)), "{connects:?}");
}

#[test]
fn without_the_switch_a_member_of_a_merging_group_leaves_and_walks_linkless() {
    let cfg = Config {
        merge_keeps_links: false,
        ..Config::test()
    };
    let mut p = member(cfg);
    let now = Time::ZERO + std::time::Duration::from_secs(1);
    p.handle_request(now, Some(peer(2)), Request::Alive(merging_into_5()))
        .expect("the leader's Alive is taken");
    assert_eq!(p.role(), Role::Joining);
    assert!(linked(&p).is_empty());
}

#[test]
fn a_member_the_absorbing_leader_refuses_walks_from_it() {
    let mut p = member(Config::test());
    let now = Time::ZERO + std::time::Duration::from_secs(1);
    p.handle_request(now, Some(peer(2)), Request::Alive(merging_into_5()))
        .expect("the leader's Alive is taken");
    let mut measured_5 = false;
    while let Some(t) = p.poll_transmit() {
        if matches!(&t.to, Target::Peer(to) if *to == peer(5))
            && matches!(t.request, Request::Measure(_))
        {
            measured_5 = true;
        }
        p.handle_response(now, t.id, Err(CallError::Timeout));
    }
    assert!(measured_5, "the walk starts from the absorbing group");
}

#[test]
fn a_moved_member_whose_bridge_failed_tries_again_at_its_next_report() {
    let mut p = member(Config::test());
    let now = Time::ZERO + std::time::Duration::from_secs(1);
    p.handle_request(now, Some(peer(2)), Request::Alive(merging_into_5()))
        .expect("the leader's Alive is taken");
    let answer = |p: &mut Peer, now: Time, connect: bool| {
        let mut connects = Vec::new();
        while let Some(t) = p.poll_transmit() {
            let reply = match (&t.to, &t.request) {
                (_, Request::GetGroupMembers(_)) => Ok(Response::GroupMembers(GroupMembersReply {
                    group: view_of(5, 21),
                    leadership: vec![peer(5)],
                    candidates: Vec::new(),
                    alive: None,
                })),
                (_, Request::Alive(_)) => Ok(Response::AliveAck(AliveAck { current: None })),
                (Target::Peer(to), Request::ConnectIntra(_)) => {
                    connects.push(to.clone());
                    if connect {
                        Ok(Response::Connect(ConnectReply {
                            accepted: true,
                            referrals: Vec::new(),
                        }))
                    } else {
                        // Full, and naming no one: the bridge fails.
                        Ok(Response::Connect(ConnectReply {
                            accepted: false,
                            referrals: Vec::new(),
                        }))
                    }
                }
                _ => Err(CallError::Timeout),
            };
            p.handle_response(now, t.id, reply);
        }
        connects
    };
    assert_eq!(
        answer(&mut p, now, false),
        vec![peer(5)],
        "the first bridge"
    );
    assert_eq!(
        linked(&p),
        vec![2, 3, 4],
        "refused: still only the old mesh"
    );
    // The next report, one refresh interval on, tries again; this time it is taken.
    let later = now + Config::test().member_refresh_interval * 2;
    p.handle_timeout(later);
    assert_eq!(
        answer(&mut p, later, true),
        vec![peer(5)],
        "the bridge again"
    );
    assert_eq!(linked(&p), vec![2, 3, 4, 5]);
    // Bridged: no more calls for it.
    let after = later + Config::test().member_refresh_interval * 2;
    p.handle_timeout(after);
    assert!(answer(&mut p, after, true).is_empty());
}

/// Runs member `p`'s next report (one refresh interval after `now`) and answers the calls that
/// follow: the report to leader 2 with `refusal`, a call asking a group's leader `n` to take
/// the member in (`GetGroupMembers`, joining) from `answers` by `n`, measurements as answered,
/// everything else as a timeout. Returns the leaders asked to take it in, in order, and whether any link was
/// closed.
fn report_refused(
    p: &mut Peer,
    now: Time,
    refusal: RequestError,
    answers: &dyn Fn(u8) -> Result<Response, CallError>,
) -> (Vec<u8>, bool) {
    let later = now + Config::test().member_refresh_interval * 2;
    p.handle_timeout(later);
    let (mut asked, mut left) = (Vec::new(), false);
    let mut refusal = Some(refusal);
    for _ in 0..1000 {
        let Some(t) = p.poll_transmit() else {
            return (asked, left);
        };
        let reply = match (&t.to, &t.request) {
            (Target::Peer(to), Request::GetGroupMembers(r)) if *to == peer(2) && !r.joining => {
                match refusal.take() {
                    Some(e) => Err(CallError::Refused(e)),
                    None => Err(CallError::Timeout),
                }
            }
            (Target::Peer(to), Request::GetGroupMembers(r)) if r.joining => {
                let n = (1..=20u8).find(|n| *to == peer(*n)).expect("a test peer");
                asked.push(n);
                answers(n)
            }
            (_, Request::Leave(_)) => {
                left = true;
                Err(CallError::Timeout)
            }
            (_, Request::Alive(_)) => Ok(Response::AliveAck(AliveAck { current: None })),
            (Target::Peer(to), Request::Measure(_)) => Ok(Response::Measure(MeasureReply {
                responder: to.clone(),
                group: None,
            })),
            _ => Err(CallError::Timeout),
        };
        p.handle_response(later, t.id, reply);
    }
    panic!("the peer keeps calling");
}

/// Leader `n`'s answer taking the member into its group `n`.
fn taken_in(n: u8) -> Result<Response, CallError> {
    Ok(Response::GroupMembers(GroupMembersReply {
        group: view_of(n, 21),
        leadership: vec![peer(n)],
        candidates: Vec::new(),
        alive: None,
    }))
}

/// The refusal of a leader `from` now in group `into`, led by `into`.
fn moved(from: u8, into: u8) -> RequestError {
    RequestError::Moved {
        group: gid(from),
        into: gid(into),
        leader: peer(into),
    }
}

// At 20,000 simulated peers most members that walked again after the first arrivals had missed
// their leader's merge notice: their next report was refused (the leader was in another group)
// and they walked linkless from the boot sources; a snapshot caught two of them mid-walk as
// components of their own (docs/decisions.md, "Locality that holds at scale").
#[test]
fn a_member_that_missed_its_leaders_merge_follows_it_there_with_its_links() {
    let mut p = member(Config::test());
    let (asked, left) = report_refused(&mut p, Time::ZERO, moved(2, 5), &taken_in);
    assert_eq!(
        asked,
        vec![5],
        "asks the leader the refusal names, and only it"
    );
    assert!(!left, "closes no link to move");
    assert_eq!(p.role(), Role::Member);
    assert_eq!(p.group().expect("in a group").group_id, gid(5));
    assert_eq!(linked(&p), vec![2, 3, 4], "the old mesh is kept");
}

#[test]
fn a_member_follows_a_merge_that_chained_on_and_walks_after_a_cycle_of_hints() {
    // Group 5 had merged on into group 7 by the time the member asked it.
    let mut p = member(Config::test());
    let answers = |n: u8| match n {
        5 => Err(CallError::Refused(moved(5, 7))),
        _ => taken_in(n),
    };
    let (asked, _) = report_refused(&mut p, Time::ZERO, moved(2, 5), &answers);
    assert_eq!(asked, vec![5, 7]);
    assert_eq!(p.group().expect("in a group").group_id, gid(7));

    // Hints that lead round and round end in a walk from the boot sources.
    let mut p = member(Config::test());
    let answers = |n: u8| Err(CallError::Refused(moved(n, if n == 5 { 6 } else { 5 })));
    let (asked, _) = report_refused(&mut p, Time::ZERO, moved(2, 5), &answers);
    assert_eq!(asked, vec![5, 6, 5], "three groups followed, then no more");
    assert_eq!(p.role(), Role::Joining);
}

#[test]
fn a_refusal_about_another_group_is_not_followed() {
    // A stray hint: the leader says it is in group 5 now, but about a group this member is
    // not in. The member does not follow it; it walks as after any refusal.
    let mut p = member(Config::test());
    let (asked, _) = report_refused(&mut p, Time::ZERO, moved(9, 5), &taken_in);
    assert!(!asked.contains(&5), "{asked:?}");
    assert_eq!(p.role(), Role::Joining);
    assert!(linked(&p).is_empty());
}

#[test]
fn without_the_switch_a_member_that_missed_the_merge_walks_linkless() {
    let mut p = member(Config {
        merge_keeps_links: false,
        ..Config::test()
    });
    let (asked, _) = report_refused(&mut p, Time::ZERO, moved(2, 5), &taken_in);
    assert!(!asked.contains(&5), "{asked:?}");
    assert_eq!(p.role(), Role::Joining);
    assert!(linked(&p).is_empty());
}
