//! A leader alone in its group with no neighbour in its locality walks Figure 10 again once
//! the overlay has grown (`MAX_REWALKS` in `peer::remeasure`): a join walk that hit its deadline far
//! from home must not leave two peers of one site in two groups linked only far away.

use std::time::Duration;

use locus_core::message::{
    ConnectInterRequest, ConnectReply, GroupView, MeasureReply, NeighborsReply,
};
use locus_core::{Config, Peer, Request, Response, Target, Time};

mod common;
use common::{peer, view_of};

fn view(n: u8) -> GroupView {
    view_of(n, 1)
}

/// Peer 1 founds a group from an empty directory; group 2 (far away) links to it. Later the
/// rendezvous knows group 3, whose leader is right beside peer 1 and which has no neighbours.
/// Returns whether peer 1 asked to enter group 3 within `until`.
fn asks_to_enter_the_near_group(until: Duration) -> bool {
    let mut p = Peer::new(peer(1), Config::test(), 1);
    p.join(Time::ZERO, Vec::new());
    let far = Duration::from_millis(200);
    let mut directory: Vec<GroupView> = Vec::new();
    let mut now = Time::ZERO;
    for _ in 0..10_000 {
        if now >= Time::ZERO + Duration::from_millis(100) && directory.is_empty() {
            let reply = p.handle_request(
                now,
                Some(peer(2)),
                Request::ConnectInter(ConnectInterRequest {
                    group: view(2),
                    rtt: far,
                    random: false,
                    replaces: None,
                }),
            );
            assert!(matches!(
                reply,
                Ok(Response::Connect(ConnectReply { accepted: true, .. }))
            ));
            directory = vec![view(2), view(3)];
        }
        while let Some(t) = p.poll_transmit() {
            let to = match &t.to {
                Target::Peer(q) => Some(q.id),
                _ => None,
            };
            let (reply, rtt) = match &t.request {
                Request::GetGroupMembers(r) if to == Some(peer(3).id) => {
                    assert!(r.joining, "it enters group 3 as a merging leader");
                    return true;
                }
                Request::GetBootList(_) => (Some(Response::BootList(directory.clone())), 0),
                Request::Measure(_) => match to {
                    Some(q) if q == peer(2).id => (
                        Some(Response::Measure(MeasureReply {
                            responder: peer(2),
                            group: Some(view(2)),
                        })),
                        200,
                    ),
                    Some(q) if q == peer(3).id => (
                        Some(Response::Measure(MeasureReply {
                            responder: peer(3),
                            group: Some(view(3)),
                        })),
                        1,
                    ),
                    _ => (None, 0),
                },
                Request::GetNeighbors(_) if to == Some(peer(3).id) => (
                    Some(Response::Neighbors(NeighborsReply {
                        group: view(3),
                        neighbors: Vec::new(),
                    })),
                    1,
                ),
                _ => (None, 0),
            };
            let at = now + Duration::from_millis(rtt);
            p.handle_response(at, t.id, reply.ok_or(locus_core::CallError::Timeout));
        }
        match p.poll_timeout() {
            Some(t) if t <= Time::ZERO + until => {
                now = now.max(t);
                p.handle_timeout(now);
            }
            _ => return false,
        }
    }
    false
}

#[test]
fn a_lone_leader_with_only_far_links_walks_again_and_finds_its_locality() {
    assert!(asks_to_enter_the_near_group(Duration::from_secs(30)));
}
