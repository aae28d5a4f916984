//! A member's periodic report (`GetPeerGroupMembers` with `joining` false) is its heartbeat
//! and its replica refresh: the leader answers with the candidates the member asks for and
//! with its `Alive` only when the member's replica is another one.

use locus_core::message::GetGroupMembersRequest;
use locus_core::{CallError, Peer, Request, Response, Time};

mod common;
use common::{founder, peer};

/// A leader of a group of `members` besides itself, its first calls failed.
fn leader_with(members: u8) -> Peer {
    let mut p = founder();
    let group = p.group().expect("founded").group_id;
    for n in 1..=members {
        let reply = p.handle_request(
            Time::ZERO,
            Some(peer(n)),
            Request::GetGroupMembers(GetGroupMembersRequest {
                group_id: group,
                joining: true,
                handover: None,
                candidates: 12,
                known_alive: None,
            }),
        );
        assert!(reply.is_ok(), "{reply:?}");
    }
    p
}

fn report(
    p: &mut Peer,
    n: u8,
    candidates: u32,
    known: Option<(u64, u64)>,
) -> (usize, Option<(u64, u64)>) {
    let group = p.group().expect("leads").group_id;
    let reply = p.handle_request(
        Time::ZERO,
        Some(peer(n)),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: group,
            joining: false,
            handover: None,
            candidates,
            known_alive: known,
        }),
    );
    let Ok(Response::GroupMembers(r)) = reply else {
        panic!("no members reply: {reply:?}");
    };
    assert!(
        r.candidates.iter().all(|c| c.id != peer(n).id),
        "offered the caller itself"
    );
    (r.candidates.len(), r.alive.map(|a| (a.group.epoch, a.seq)))
}

#[test]
fn a_member_gets_as_many_candidates_as_it_asks_for() {
    let mut p = leader_with(9);
    assert_eq!(report(&mut p, 3, 0, None).0, 0);
    assert_eq!(report(&mut p, 3, 4, None).0, 4);
    // Never more than the other members.
    assert_eq!(report(&mut p, 3, 32, None).0, 9);
}

#[test]
fn the_alive_rides_along_only_when_the_members_replica_is_another() {
    let mut p = leader_with(4);
    // A leader with members has an Alive to give (it floods one when members arrive, or on
    // its first tick); make sure of it.
    let now = Time::ZERO + std::time::Duration::from_secs(60);
    p.handle_timeout(now);
    while let Some(t) = p.poll_transmit() {
        p.handle_response(now, t.id, Err(CallError::Timeout));
    }
    let (_, current) = report(&mut p, 2, 0, None);
    let current = current.expect("a member without a replica gets the Alive");
    assert_eq!(
        report(&mut p, 2, 0, Some(current)).1,
        None,
        "the replica is current"
    );
    let stale = (current.0, current.1 - 1);
    assert_eq!(report(&mut p, 2, 0, Some(stale)).1, Some(current));
    let other_epoch = (current.0 + 1, current.1);
    assert_eq!(report(&mut p, 2, 0, Some(other_epoch)).1, Some(current));
}

/// The leader's Alive keeps its number while nothing in it changes: members whose replica is
/// current are answered without it interval after interval; a member joining makes a new one.
#[test]
fn an_alive_is_renumbered_only_when_it_changed() {
    let mut p = leader_with(4);
    let group = p.group().expect("leads").group_id;
    let interval = p.config().alive_interval;
    let mut now = Time::ZERO;
    let report_at = |p: &mut Peer, now: Time, n: u8, known: Option<(u64, u64)>| {
        let reply = p.handle_request(
            now,
            Some(peer(n)),
            Request::GetGroupMembers(GetGroupMembersRequest {
                group_id: group,
                joining: false,
                handover: None,
                candidates: 0,
                known_alive: known,
            }),
        );
        let Ok(Response::GroupMembers(r)) = reply else {
            panic!("no members reply: {reply:?}");
        };
        r.alive.map(|a| (a.group.epoch, a.seq))
    };
    // Ticks of the alive timer with every member reporting, so that none is lost.
    let tick = |p: &mut Peer, now: &mut Time, known: Option<(u64, u64)>| {
        *now = *now + interval;
        for n in 1..=4 {
            report_at(p, *now, n, known);
        }
        p.handle_timeout(*now);
        while let Some(t) = p.poll_transmit() {
            p.handle_response(*now, t.id, Err(CallError::Timeout));
        }
    };
    tick(&mut p, &mut now, None);
    let first = report_at(&mut p, now, 1, None).expect("a member without a replica gets it");
    for _ in 0..5 {
        tick(&mut p, &mut now, Some(first));
        assert_eq!(
            report_at(&mut p, now, 1, Some(first)),
            None,
            "nothing changed, yet the Alive was renumbered"
        );
    }
    // A fifth member: the roster changed, and so does the number.
    let joined = p.handle_request(
        now,
        Some(peer(5)),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: group,
            joining: true,
            handover: None,
            candidates: 6,
            known_alive: None,
        }),
    );
    assert!(joined.is_ok(), "{joined:?}");
    tick(&mut p, &mut now, Some(first));
    let next = report_at(&mut p, now, 1, Some(first)).expect("the roster changed");
    assert!(next.1 > first.1, "{next:?} after {first:?}");
}
