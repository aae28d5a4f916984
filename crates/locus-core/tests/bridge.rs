//! A peer that learns its group has a newer leadership than the one it was in links to the
//! new leader even at its intra-group link target: its links may all lead to members of the
//! side that lost (docs/decisions.md, "bridge after a split").

use std::time::Duration;

use locus_core::message::{
    AnnounceReply, ConnectIntraRequest, ConnectReply, GroupView, MeasureReply, Role, Target,
};
use locus_core::{CallError, Config, Peer, Request, RequestId, Response, Time};

mod common;
use common::{founder, peer};

/// A founder whose first calls failed, with intra-group links from `members` peers.
fn leader_with_links(members: u8) -> Peer {
    let mut p = founder();
    let group = p.group().expect("founded").group_id;
    for n in 1..=members {
        let reply = p.handle_request(
            Time::ZERO,
            Some(peer(n)),
            Request::ConnectIntra(ConnectIntraRequest { group_id: group }),
        );
        assert!(
            matches!(
                reply,
                Ok(Response::Connect(ConnectReply { accepted: true, .. }))
            ),
            "{reply:?}"
        );
    }
    p
}

/// Runs timers until the peer announces its group, and answers that a newer leadership of it
/// exists, led by peer 20; the peer checks peer 20, which answers as that leader when
/// `answers`. Returns the intra-group connections the peer then asks for.
fn superseded(p: &mut Peer) -> Vec<(u8, RequestId)> {
    superseded_by_20(p, true)
}

fn superseded_by_20(p: &mut Peer, answers: bool) -> Vec<(u8, RequestId)> {
    let view = p.group().expect("in a group");
    let newer = GroupView {
        epoch: view.epoch + 1,
        leader: peer(20),
        successors: vec![peer(21)],
        member_count: 30,
        ..view
    };
    let mut now = Time::ZERO;
    for _ in 0..100 {
        now = now + Duration::from_millis(500);
        p.handle_timeout(now);
        let mut announced = None;
        while let Some(t) = p.poll_transmit() {
            if matches!(t.request, Request::AnnounceGroup(_)) {
                announced = Some(t.id);
            } else {
                p.handle_response(now, t.id, Err(CallError::Timeout));
            }
        }
        if let Some(id) = announced {
            p.handle_response(
                now,
                id,
                Ok(Response::Announced(AnnounceReply {
                    superseded_by: Some(newer.clone()),
                    bridge: Vec::new(),
                })),
            );
            // The directory's word is only a hint: the peer asks peer 20 itself.
            let mut checked = false;
            while let Some(t) = p.poll_transmit() {
                if matches!(&t.to, Target::Peer(to) if *to == peer(20))
                    && matches!(t.request, Request::Measure(_))
                {
                    checked = true;
                    let result = if answers {
                        Ok(Response::Measure(MeasureReply {
                            responder: peer(20),
                            group: Some(newer.clone()),
                        }))
                    } else {
                        Err(CallError::Timeout)
                    };
                    p.handle_response(now, t.id, result);
                    break;
                }
            }
            assert!(checked, "the peer checks the leader the directory names");
            return connections(p);
        }
    }
    panic!("the leader never announced its group");
}

/// The intra-group connections the peer asks for now: (peer number, call).
fn connections(p: &mut Peer) -> Vec<(u8, RequestId)> {
    let mut asked = Vec::new();
    while let Some(t) = p.poll_transmit() {
        if let (Request::ConnectIntra(_), Target::Peer(to)) = (&t.request, &t.to) {
            let n = to.addr.trim_start_matches('p').trim_end_matches(":1");
            asked.push((n.parse().expect("a test peer"), t.id));
        }
    }
    asked
}

fn peers(asked: &[(u8, RequestId)]) -> Vec<u8> {
    asked.iter().map(|a| a.0).collect()
}

#[test]
fn a_superseded_leader_at_its_link_target_still_links_to_the_new_leader() {
    let target = Config::test().intra_group_target as u8;
    let mut p = leader_with_links(target + 2);
    assert_eq!(peers(&superseded(&mut p)), vec![20]);
    assert_eq!(p.group().expect("follows").leader, peer(20));
}

#[test]
fn a_refused_bridge_takes_one_of_the_members_named_instead() {
    let target = Config::test().intra_group_target as u8;
    let mut p = leader_with_links(target);
    let asked = superseded(&mut p);
    assert_eq!(peers(&asked), vec![20]);
    // Peer 20 is full and names members: one this peer links to already, then two others.
    let now = Time::ZERO + Duration::from_secs(60);
    p.handle_response(
        now,
        asked[0].1,
        Ok(Response::Connect(ConnectReply {
            accepted: false,
            referrals: vec![peer(1), peer(30), peer(31)],
        })),
    );
    assert_eq!(
        peers(&connections(&mut p)),
        vec![30],
        "one bridge, not the linked member"
    );
}

#[test]
fn a_leader_does_not_step_down_for_a_superseding_entry_whose_leader_does_not_answer() {
    let mut p = leader_with_links(2);
    let before = p.group().expect("leads");
    assert!(superseded_by_20(&mut p, false).is_empty());
    assert_eq!(p.role(), Role::Leader);
    let after = p.group().expect("leads");
    assert_eq!((after.leader, after.epoch), (before.leader, before.epoch));
}
