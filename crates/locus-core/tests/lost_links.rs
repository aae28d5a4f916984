//! A member closes its intra-group links to the peers its leader's `Alive` lists as lost
//! (`Config::drop_lost_links`, issue #14), and asks for others at its next report. Without it
//! a link to a crashed peer counted for ever: at 100,000 simulated peers with churn, cliques of
//! five to seven members whose links out of the clique all led to crashed peers sat at their
//! link target, asked for nothing, and were cut off from the overlay.
//!
//! The lost list is believed only from the member's own leader: the same list in an `Alive`
//! from anyone else, or in a stale one, closes nothing.

use std::sync::Arc;
use std::time::Duration;

use locus_core::message::{
    Alive, AliveAck, ConnectReply, GetGroupMembersRequest, GroupMembersReply, GroupView,
    MeasureReply, NeighborsReply, Request, Response,
};
use locus_core::{BootSource, CallError, Config, Peer, PeerId, Target, Time};

mod common;
use common::{peer, view_of};

/// The member's intra-group link target (the wan preset's).
const TARGET: u8 = 6;

/// The wan preset without `nearest_intra_links`, whose reports also ask for members to
/// measure: here a report asks only for the links it misses.
fn wan() -> Config {
    Config {
        nearest_intra_links: false,
        ..Config::wan()
    }
}

/// Peer 10 joins group 1 (led by peer 1) and links to the leader and members 2..=6, every
/// call answered at once. Returns the member and the time reached.
fn member(cfg: Config) -> (Peer, Time) {
    assert_eq!(cfg.intra_group_target, u32::from(TARGET));
    let mut p = Peer::new(peer(10), cfg, 3);
    let mut now = Time::ZERO;
    p.join(now, vec![BootSource::Rendezvous]);
    for _ in 0..200 {
        let Some(t) = p.poll_transmit() else { break };
        now = now + Duration::from_millis(1);
        let reply = answer(&t.to, &t.request, (2..=TARGET).map(peer).collect());
        p.handle_response(now, t.id, reply);
    }
    assert_eq!(p.group().map(|g| g.leader), Some(peer(1)), "joined group 1");
    assert_eq!(linked(&p).len(), usize::from(TARGET), "{:?}", linked(&p));
    (p, now)
}

/// What every peer answers: group 1 with no neighbours, `candidates` as its members.
fn answer(
    to: &Target,
    request: &Request,
    candidates: Vec<locus_core::PeerRef>,
) -> Result<Response, CallError> {
    let n = match to {
        Target::Peer(to) => (0..=u8::MAX).find(|n| *to == peer(*n)),
        _ => None,
    };
    match (request, n) {
        (Request::GetBootList(_), _) => Ok(Response::BootList(vec![view_of(1, 7)])),
        (Request::Measure(_), Some(n)) => Ok(Response::Measure(MeasureReply {
            responder: peer(n),
            group: (n == 1).then(|| view_of(1, 7)),
        })),
        (Request::GetNeighbors(_), Some(1)) => Ok(Response::Neighbors(NeighborsReply {
            group: view_of(1, 7),
            neighbors: Vec::new(),
        })),
        (Request::GetGroupMembers(_), Some(1)) => Ok(Response::GroupMembers(GroupMembersReply {
            group: view_of(1, 7),
            leadership: vec![peer(1)],
            candidates,
            alive: None,
        })),
        (Request::Alive(_), Some(_)) => Ok(Response::AliveAck(AliveAck { current: None })),
        (Request::ConnectIntra(_), Some(_)) => Ok(Response::Connect(ConnectReply {
            accepted: true,
            referrals: Vec::new(),
        })),
        _ => Err(CallError::Timeout),
    }
}

fn linked(p: &Peer) -> Vec<PeerId> {
    p.status().intra.iter().map(|l| l.peer.id).collect()
}

/// The leader's `Alive` number `seq` for group 1, listing `lost`, sent by `leader`.
fn alive(leader: u8, seq: u64, lost: &[u8]) -> Request {
    let group = GroupView {
        leader: peer(leader),
        ..view_of(1, 7)
    };
    Request::Alive(Arc::new(Alive {
        group,
        seq,
        leadership: vec![peer(1)],
        neighbors: Vec::new(),
        roster: (1..=TARGET).map(peer).collect(),
        merge_into: None,
        partition_links: Vec::new(),
        opened_links: Vec::new(),
        lost: lost.iter().copied().map(peer).collect(),
    }))
}

/// The member's next report: how many candidates it asks for.
fn next_report(p: &mut Peer, mut now: Time) -> u32 {
    for _ in 0..100 {
        now = now + Duration::from_secs(1);
        p.handle_timeout(now);
        while let Some(t) = p.poll_transmit() {
            if let Request::GetGroupMembers(GetGroupMembersRequest {
                joining: false,
                candidates,
                ..
            }) = t.request
            {
                return candidates;
            }
            let reply = answer(&t.to, &t.request, Vec::new());
            p.handle_response(now, t.id, reply);
        }
    }
    panic!("no report within 100 s");
}

#[test]
fn links_to_peers_the_leader_lost_close_and_the_member_asks_for_more() {
    let (mut q, now) = member(wan());
    assert_eq!(
        next_report(&mut q, now),
        0,
        "at its target, it asks for none"
    );
    let (mut p, now) = member(wan());
    let reply = p.handle_request(now, Some(peer(1)), alive(1, 5, &[3, 4, 9]));
    assert!(reply.is_ok(), "{reply:?}");
    let left = linked(&p);
    assert_eq!(left.len(), usize::from(TARGET) - 2, "{left:?}");
    assert!(!left.contains(&peer(3).id) && !left.contains(&peer(4).id));
    assert!(left.contains(&peer(1).id), "the leader stays linked");
    // Two links short: it asks for twice as many candidates (some may be linked already).
    assert_eq!(next_report(&mut p, now), 4);
}

#[test]
fn without_the_rule_links_to_lost_peers_stay() {
    let cfg = Config {
        drop_lost_links: false,
        ..wan()
    };
    let (mut p, now) = member(cfg);
    assert!(
        p.handle_request(now, Some(peer(1)), alive(1, 5, &[3, 4]))
            .is_ok()
    );
    assert_eq!(linked(&p).len(), usize::from(TARGET));
    assert_eq!(next_report(&mut p, now), 0);
}

#[test]
fn a_lost_list_from_anyone_but_the_leader_closes_nothing() {
    let (mut p, now) = member(wan());
    // Member 2 claims to lead the group and to have lost 3 and 4: the claim is only checked
    // (a call to peer 2), the list is not applied.
    let _ = p.handle_request(now, Some(peer(2)), alive(2, 9, &[3, 4]));
    assert_eq!(linked(&p).len(), usize::from(TARGET));
    // The leader's own Alive, forwarded by a member, is applied (it is the leader's).
    let _ = p.handle_request(now, Some(peer(2)), alive(1, 6, &[5]));
    assert!(!linked(&p).contains(&peer(5).id));
    // Replayed: an older Alive of the leader (seq 6 again, then 5) closes nothing more.
    let _ = p.handle_request(now, Some(peer(1)), alive(1, 6, &[3]));
    let _ = p.handle_request(now, Some(peer(1)), alive(1, 5, &[4]));
    let left = linked(&p);
    assert_eq!(left.len(), usize::from(TARGET) - 1, "{left:?}");
    // Naming the leader itself as lost never unlinks the leader.
    let _ = p.handle_request(now, Some(peer(1)), alive(1, 7, &[1]));
    assert!(linked(&p).contains(&peer(1).id));
}
