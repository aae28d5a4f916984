//! A group that merges into a larger one hands its inter-group links over (DESIGN §3, merge):
//! the absorbing leader measures each neighbour it does not link yet and asks it to swap its
//! link to the merged group for one to the absorbing group, so that a group which reached the
//! overlay only through the merged group is never cut off.

use std::time::Duration;

use locus_core::message::{
    ConnectInterRequest, ConnectIntraRequest, ConnectReply, GetGroupMembersRequest, GroupView,
    HandedLink, Handover, MeasureReply, NeighborGroup,
};
use locus_core::{CallError, Config, GroupId, Peer, Request, Response, Target, Time};

mod common;
use common::{gid, peer, view_of};

/// Group `n` led by peer `n`, of one member but for the absorbing group 1, which has more.
fn view(n: u8) -> GroupView {
    view_of(n, if n == 1 { 5 } else { 0 })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A peer that founded a group of its own (no boot sources), with its first calls failed.
fn founded(n: u8) -> Peer {
    let mut p = Peer::new(peer(n), Config::test(), u64::from(n));
    p.join(Time::ZERO, Vec::new());
    answer_all(&mut p, Time::ZERO, |_| None);
    p
}

/// Answers every pending call with `reply`, or a timeout where it gives none, until the peer
/// sends nothing more; returns the calls seen.
fn answer_all(
    p: &mut Peer,
    now: Time,
    mut reply: impl FnMut(&Request) -> Option<Response>,
) -> Vec<(Target, Request)> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let Some(t) = p.poll_transmit() else {
            return seen;
        };
        let result = reply(&t.request).ok_or(CallError::Timeout);
        seen.push((t.to.clone(), t.request.clone()));
        p.handle_response(now, t.id, result);
    }
    panic!("the peer keeps calling");
}

/// Opens a link from group `n` to `p`'s group.
fn link_from(p: &mut Peer, now: Time, n: u8, rtt: Duration) {
    let reply = p.handle_request(
        now,
        Some(peer(n)),
        Request::ConnectInter(ConnectInterRequest {
            group: view(n),
            rtt,
            random: false,
            replaces: None,
        }),
    );
    assert!(matches!(
        reply,
        Ok(Response::Connect(ConnectReply { accepted: true, .. }))
    ));
}

fn linked(p: &Peer) -> Vec<GroupId> {
    p.status().inter.iter().map(|n| n.group_id).collect()
}

fn handover_of_x() -> Handover {
    Handover {
        group_id: gid(2),
        links: vec![HandedLink {
            neighbor: NeighborGroup {
                group_id: gid(3),
                leader: peer(3),
                successors: Vec::new(),
                rtt: ms(35),
            },
            opened: true,
            random: false,
        }],
    }
}

/// Peer 1 leads the absorbing group, peer 2 the merging one, peer 3 a group that only the
/// merging group links.
#[test]
fn the_absorbing_leader_takes_over_the_merged_groups_links() {
    let now = Time::ZERO + ms(100);
    let mut a = founded(1);
    let own = a.group().expect("founded").group_id;
    link_from(&mut a, now, 2, ms(2));
    // The new neighbour is in this group's locality: the leader measures it (a merge check)
    // and finds it the smaller group, so it stays and waits for that group to merge in.
    answer_all(&mut a, now + ms(2), |r| match r {
        Request::Measure(_) => Some(Response::Measure(MeasureReply {
            responder: peer(2),
            group: Some(view(2)),
        })),
        _ => None,
    });
    assert!(linked(&a).contains(&gid(2)));

    let reply = a.handle_request(
        now,
        Some(peer(2)),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: own,
            joining: true,
            handover: Some(handover_of_x()),
            candidates: 12,
            known_alive: None,
        }),
    );
    assert!(matches!(reply, Ok(Response::GroupMembers(_))));
    // Nothing is taken over before the merging leader confirms that it followed: if the
    // reply were lost, its group would stay, with its links.
    assert!(
        linked(&a).contains(&gid(2)),
        "the merging group stays a neighbour until it confirms"
    );
    let early = answer_all(&mut a, now + ms(3), |_| None);
    assert!(
        !early
            .iter()
            .any(|(to, _)| matches!(to, Target::Peer(p) if p.id == peer(3).id)),
        "no handed-over link is touched before the confirmation: {early:?}"
    );
    // Peer 2, now a member, links to its new leader: the confirmation.
    let reply = a.handle_request(
        now + ms(4),
        Some(peer(2)),
        Request::ConnectIntra(ConnectIntraRequest { group_id: own }),
    );
    assert!(matches!(reply, Ok(Response::Connect(_))), "{reply:?}");
    assert!(
        !linked(&a).contains(&gid(2)),
        "the merged group is part of this one now"
    );

    // Peer 3 answers probes as its group's leader and accepts the swap.
    let calls = answer_all(&mut a, now + ms(35), |r| match r {
        Request::Measure(_) => Some(Response::Measure(MeasureReply {
            responder: peer(3),
            group: Some(view(3)),
        })),
        Request::ConnectInter(_) => Some(Response::Connect(ConnectReply {
            accepted: true,
            referrals: Vec::new(),
        })),
        _ => None,
    });
    let swap = calls.iter().find_map(|(to, r)| match (to, r) {
        (Target::Peer(p), Request::ConnectInter(c)) if p.id == peer(3).id => Some(c.clone()),
        _ => None,
    });
    let swap = swap.expect("the absorbing leader links the handed-over group");
    assert_eq!(swap.replaces, Some(gid(2)), "and asks it to swap its link");
    assert_eq!(swap.group.group_id, own);
    assert!(
        calls
            .iter()
            .any(|(to, r)| matches!((to, r), (Target::Peer(p), Request::Measure(_)) if p.id == peer(3).id)),
        "it measures the group before linking it"
    );
    assert!(linked(&a).contains(&gid(3)));
}

#[test]
fn a_handover_from_a_group_that_is_not_a_neighbour_is_ignored() {
    let now = Time::ZERO + ms(100);
    let mut a = founded(1);
    let own = a.group().expect("founded").group_id;
    let reply = a.handle_request(
        now,
        Some(peer(2)),
        Request::GetGroupMembers(GetGroupMembersRequest {
            group_id: own,
            joining: true,
            handover: Some(handover_of_x()),
            candidates: 12,
            known_alive: None,
        }),
    );
    assert!(matches!(reply, Ok(Response::GroupMembers(_))));
    let calls = answer_all(&mut a, now, |_| None);
    assert!(
        calls
            .iter()
            .all(|(to, _)| !matches!(to, Target::Peer(p) if p.id == peer(3).id)),
        "no peer can make a leader link where it pleases: {calls:?}"
    );
}

#[test]
fn a_handover_outside_a_join_or_into_the_own_group_is_refused() {
    let mut a = founded(1);
    let own = a.group().expect("founded").group_id;
    for (joining, merging) in [(false, gid(2)), (true, own)] {
        let reply = a.handle_request(
            Time::ZERO,
            Some(peer(2)),
            Request::GetGroupMembers(GetGroupMembersRequest {
                group_id: own,
                joining,
                handover: Some(Handover {
                    group_id: merging,
                    links: Vec::new(),
                }),
                candidates: 0,
                known_alive: None,
            }),
        );
        assert!(reply.is_err(), "{reply:?}");
    }
}

/// Peer 3's side: its link to the merged group becomes the link to the absorbing group, even
/// at its maximum, and a swap of a link it does not hold is an ordinary connection request.
#[test]
fn the_neighbour_swaps_its_link_to_the_merged_group() {
    let now = Time::ZERO + ms(100);
    let mut x = founded(3);
    link_from(&mut x, now, 2, ms(35));
    let max = Config::test().max_inter_group_links as u8;
    for n in 0..max - 1 {
        link_from(&mut x, now, 100 + n, ms(40));
    }
    answer_all(&mut x, now, |_| None);
    assert_eq!(linked(&x).len(), usize::from(max));

    let swap = |replaces| {
        Request::ConnectInter(ConnectInterRequest {
            group: view(1),
            rtt: ms(34),
            random: false,
            replaces: Some(replaces),
        })
    };
    // A swap of a group this leader does not link adds a link, which the maximum refuses.
    let refused = x.handle_request(now, Some(peer(1)), swap(gid(9)));
    assert!(matches!(
        refused,
        Ok(Response::Connect(ConnectReply {
            accepted: false,
            ..
        }))
    ));
    let accepted = x.handle_request(now, Some(peer(1)), swap(gid(2)));
    assert!(matches!(
        accepted,
        Ok(Response::Connect(ConnectReply { accepted: true, .. }))
    ));
    let now_linked = linked(&x);
    assert!(now_linked.contains(&gid(1)), "{now_linked:?}");
    assert!(!now_linked.contains(&gid(2)), "{now_linked:?}");
    assert_eq!(now_linked.len(), usize::from(max), "a swap adds no link");
}
