//! A remote group — fewer than two links within `inter_group_radius`, its first links opened to
//! the closest groups it found however far — replaces its farthest link when it finds a closer
//! group beyond the radius, instead of keeping the far links for ever; and a new group first
//! re-measures its neighbourhood once the walks that started with its own have ended.

use std::collections::BTreeMap;
use std::time::Duration;

use locus_core::message::{
    ConnectReply, GroupView, LinkScope, MeasureReply, NeighborGroup, NeighborsReply,
};
use locus_core::{
    BootSource, CallError, Config, GroupId, Peer, PeerRef, Request, RequestId, Response, Target,
    Time,
};

mod common;
use common::{gid, peer, view_of};

fn view(n: u8) -> GroupView {
    view_of(n, 3)
}

/// Peer 1's distance to the leaders of groups 2 (200 ms), 3 (210 ms) and 4 (80 ms).
fn rtt_to(n: u8) -> Duration {
    Duration::from_millis(match n {
        2 => 200,
        3 => 210,
        _ => 80,
    })
}

fn index(p: &PeerRef) -> Option<u8> {
    (2..=4).find(|n| peer(*n).id == p.id)
}

/// When group 4, close to peer 1, is founded and links to group 2.
const GROUP_4_FOUNDED: Duration = Duration::from_secs(25);

/// The rendezvous knows groups 2 and 3; group 4 is known only as group 2's neighbour. Runs
/// peer 1 for `until` and returns every call it made, with when.
fn run(until: Duration) -> (Peer, Vec<(Time, Target, Request)>) {
    let mut p = Peer::new(peer(1), Config::wan(), 1);
    let mut now = Time::ZERO;
    p.join(now, vec![BootSource::Rendezvous]);
    let mut pending: BTreeMap<(Time, RequestId), Result<Response, CallError>> = BTreeMap::new();
    let mut calls = Vec::new();
    let end = Time::ZERO + until;
    loop {
        while let Some(t) = p.poll_transmit() {
            let callee = match &t.to {
                Target::Peer(q) => index(q),
                _ => None,
            };
            let delay = callee.map_or(Duration::from_millis(20), rtt_to);
            let reply = match (&t.request, callee) {
                (Request::GetBootList(_), None) => Ok(Response::BootList(vec![view(2), view(3)])),
                (Request::Measure(_), Some(n)) => Ok(Response::Measure(MeasureReply {
                    responder: peer(n),
                    group: Some(view(n)),
                })),
                (Request::GetNeighbors(_), Some(n)) => Ok(Response::Neighbors(NeighborsReply {
                    group: view(n),
                    neighbors: if n == 2 && now >= Time::ZERO + GROUP_4_FOUNDED {
                        vec![NeighborGroup {
                            group_id: gid(4),
                            leader: peer(4),
                            successors: Vec::new(),
                            rtt: Duration::from_millis(150),
                        }]
                    } else {
                        Vec::new()
                    },
                })),
                (Request::ConnectInter(_), Some(_)) => Ok(Response::Connect(ConnectReply {
                    accepted: true,
                    referrals: Vec::new(),
                })),
                (Request::Leave(_), Some(_)) => Ok(Response::Ack),
                _ => Err(CallError::Timeout),
            };
            calls.push((now, t.to.clone(), t.request.clone()));
            pending.insert((now + delay, t.id), reply);
        }
        let next_reply = pending.keys().next().map(|(at, _)| *at);
        let next_timer = p.poll_timeout();
        let at = match (next_reply, next_timer) {
            (Some(r), Some(t)) => r.min(t),
            (Some(r), None) => r,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if at > end {
            break;
        }
        now = now.max(at);
        if next_reply == Some(at) {
            let key = *pending.keys().next().expect("a reply is pending");
            let reply = pending.remove(&key).expect("the reply");
            p.handle_response(now, key.1, reply);
        } else {
            p.handle_timeout(now);
        }
    }
    (p, calls)
}

fn linked(p: &Peer) -> Vec<GroupId> {
    p.status().inter.iter().map(|n| n.group_id).collect()
}

#[test]
fn a_remote_group_replaces_its_farthest_link_with_a_closer_group() {
    let (early, _) = run(Duration::from_secs(20));
    assert_eq!(
        linked(&early),
        vec![gid(2), gid(3)],
        "its first links go to the closest groups found, however far"
    );
    let (p, calls) = run(Duration::from_secs(45));
    assert!(
        calls.iter().any(|(_, to, r)| matches!(
            (to, r),
            (Target::Peer(q), Request::Leave(l)) if q.id == peer(3).id && l.scope == LinkScope::Inter
        )),
        "the farthest link goes"
    );
    let mut now_linked = linked(&p);
    now_linked.sort();
    assert_eq!(now_linked, vec![gid(2), gid(4)]);
}

#[test]
fn a_new_group_first_remeasures_after_the_join_deadline_not_a_whole_interval() {
    let cfg = Config::wan();
    assert!(cfg.join_deadline < cfg.remeasure_interval);
    let (_, calls) = run(Duration::from_secs(20));
    let founded = calls
        .iter()
        .find(|(_, _, r)| matches!(r, Request::ConnectInter(_)))
        .map(|(at, _, _)| *at)
        .expect("it founds a group and links it");
    let remeasured = calls.iter().find_map(|(at, to, r)| match (to, r) {
        (Target::Peer(q), Request::Measure(_)) if *at > founded && q.id == peer(2).id => Some(*at),
        _ => None,
    });
    let remeasured = remeasured.expect("it re-measures its neighbour within 20 s");
    assert!(remeasured.saturating_since(founded) <= cfg.join_deadline);
}
