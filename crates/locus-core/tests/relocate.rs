//! A member far from its leader walks again and moves to a nearer group
//! (`Config::relocate_far_members`, `peer::relocate`; docs/decisions.md "Members far from
//! their leader walk again"). After churn the 2k synthetic runs kept a group over two metros
//! for good: 82 members 15–20 ms from their leader, beside a group of their own metro that
//! nothing ever sent them to.
//!
//! The move rests on this peer's own samples and on the new leader's answer: a member whose
//! leader is local stays put, a group not clearly nearer does not take it, and a group that
//! does not answer its entry costs it nothing (it leaves the old group only once in the new).

use std::time::Duration;

use locus_core::message::{
    ConnectReply, GroupMembersReply, GroupView, MeasureReply, NeighborsReply,
};
use locus_core::{BootSource, CallError, Config, Peer, Request, RequestId, Response, Target, Time};

mod common;
use common::{peer, view_of};

/// Peer 10's world: group 1 (led by peer 1, `leader_ms` away), the one group in the directory
/// when it joins; from 2 s on, group 3 as well (led by peer 3, `near_ms` away), whose leader
/// answers an entry as `entry` says.
struct World {
    leader_ms: f64,
    near_ms: f64,
    entry: Entry,
}

/// How peer 3 answers a request to enter group 3.
#[derive(Clone, Copy, PartialEq)]
enum Entry {
    /// With group 3's members: it takes the peer in.
    Takes,
    /// Not at all (the call times out).
    Silent,
    /// With the members of another group, 4 (a peer that is not what it was measured as).
    OtherGroup,
}

/// What peer 10 did by the end.
#[derive(Debug)]
struct Outcome {
    /// The leader it follows.
    leader: u8,
    /// Walks it started after entering group 1 (their first boot-list calls).
    walks: usize,
    /// It asked group 3's leader to take it in.
    asked_to_enter: bool,
    /// It told peer 1 it left.
    left_group_1: bool,
}

fn group(n: u8) -> GroupView {
    view_of(n, 5)
}

impl World {
    fn rtt(&self, n: u8) -> Duration {
        let ms = if n == 3 { self.near_ms } else { self.leader_ms };
        Duration::from_secs_f64(ms / 1e3)
    }

    /// The answer of peer `n` to `request` at `now`, and the RTT it comes back after.
    fn answer(&self, n: Option<u8>, request: &Request, now: Time) -> Result<Response, CallError> {
        let grown = now >= Time::ZERO + Duration::from_secs(2);
        match (request, n) {
            (Request::GetBootList(_), _) => Ok(Response::BootList(if grown {
                vec![group(1), group(3)]
            } else {
                vec![group(1)]
            })),
            (Request::Measure(_), Some(n @ (1 | 3))) => Ok(Response::Measure(MeasureReply {
                responder: peer(n),
                group: Some(group(n)),
            })),
            (Request::GetNeighbors(_), Some(n @ (1 | 3))) => {
                Ok(Response::Neighbors(NeighborsReply {
                    group: group(n),
                    neighbors: Vec::new(),
                }))
            }
            (Request::GetGroupMembers(_), Some(n @ (1 | 3))) => {
                let named = match (n, self.entry) {
                    (1, _) | (_, Entry::Takes) => n,
                    (_, Entry::OtherGroup) => 4,
                    (_, Entry::Silent) => return Err(CallError::Timeout),
                };
                Ok(Response::GroupMembers(GroupMembersReply {
                    group: group(named),
                    leadership: vec![peer(n)],
                    candidates: Vec::new(),
                    alive: None,
                }))
            }
            (Request::ConnectIntra(_), Some(_)) => Ok(Response::Connect(ConnectReply {
                accepted: true,
                referrals: Vec::new(),
            })),
            _ => Err(CallError::Timeout),
        }
    }

    /// Peer 10 joins from the rendezvous at 0 and runs until `until`: each call is answered
    /// one RTT to its callee after it was sent, in the order the answers arrive, between the
    /// peer's timers.
    fn run(&self, cfg: Config, until: Duration) -> Outcome {
        let mut p = Peer::new(peer(10), cfg, 5);
        p.join(Time::ZERO, vec![BootSource::Rendezvous]);
        let mut now = Time::ZERO;
        let mut joined = false;
        let mut out = Outcome {
            leader: 0,
            walks: 0,
            asked_to_enter: false,
            left_group_1: false,
        };
        // Answers in flight: (arrival, call id, answer).
        let mut flight: Vec<(Time, RequestId, Result<Response, CallError>)> = Vec::new();
        for _ in 0..100_000 {
            while let Some(t) = p.poll_transmit() {
                let n = match &t.to {
                    Target::Peer(q) => (0..=u8::MAX).find(|n| *q == peer(*n)),
                    _ => None,
                };
                match (&t.request, n) {
                    // A walk's first call; its second (`near`) sends the landmarks' RTTs.
                    (Request::GetBootList(r), _) if joined && r.near.is_empty() => out.walks += 1,
                    (Request::GetGroupMembers(r), Some(3)) if r.joining => {
                        out.asked_to_enter = true;
                    }
                    (Request::Leave(r), Some(1)) if r.group_id == group(1).group_id => {
                        out.left_group_1 = true;
                    }
                    _ => {}
                }
                let reply = self.answer(n, &t.request, now);
                let rtt = n.map_or(Duration::from_millis(1), |n| self.rtt(n));
                flight.push((now + rtt, t.id, reply));
            }
            if !joined && p.group().is_some() {
                joined = true;
                assert_eq!(
                    p.group().map(|g| g.leader),
                    Some(peer(1)),
                    "entered group 1"
                );
            }
            let next_answer = (0..flight.len()).min_by_key(|&i| flight[i].0);
            let timer = p.poll_timeout();
            match (next_answer, timer) {
                (Some(i), t) if t.is_none_or(|t| flight[i].0 <= t) => {
                    let (at, id, reply) = flight.swap_remove(i);
                    now = now.max(at);
                    p.handle_response(now, id, reply);
                }
                (_, Some(t)) if t <= Time::ZERO + until => {
                    now = now.max(t);
                    p.handle_timeout(now);
                }
                _ => break,
            }
        }
        assert!(joined, "peer 10 never entered group 1");
        let leader = p.group().expect("in a group").leader;
        out.leader = (0..=u8::MAX)
            .find(|n| leader == peer(*n))
            .expect("a known leader");
        out
    }
}

/// `Config::test()`: locality threshold 10 ms, direct pass 5 ms, leader guard 20 ms; the first
/// relocation walk comes 4 s after entering (twice the 2 s re-measurement interval), the
/// others 8, 16 and 32 s after the one before.
fn cfg() -> Config {
    Config::test()
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_member_beyond_the_locality_threshold_moves_to_a_group_clearly_nearer() {
    let world = World {
        leader_ms: 15.0,
        near_ms: 2.0,
        entry: Entry::Takes,
    };
    let out = world.run(cfg(), MINUTE);
    assert_eq!(out.walks, 1, "{out:?}");
    assert!(out.asked_to_enter && out.left_group_1, "{out:?}");
    assert_eq!(out.leader, 3, "{out:?}");

    // Without the rule it stays, as before it.
    let off = Config {
        relocate_far_members: false,
        ..cfg()
    };
    let out = world.run(off, MINUTE);
    assert_eq!((out.leader, out.walks), (1, 0), "{out:?}");
}

#[test]
fn a_member_whose_leader_is_local_does_not_walk() {
    let world = World {
        leader_ms: 8.0,
        near_ms: 2.0,
        entry: Entry::Takes,
    };
    let out = world.run(cfg(), MINUTE * 5);
    assert_eq!((out.leader, out.walks), (1, 0), "{out:?}");
    assert!(!out.asked_to_enter && !out.left_group_1, "{out:?}");
}

#[test]
fn a_group_not_half_as_far_as_the_leader_does_not_take_the_member() {
    // 9 ms passes the locality test (no neighbours: the 20 ms guard) but is not under half
    // of 15 ms: the member walks, and walks no more than four times in five minutes.
    let world = World {
        leader_ms: 15.0,
        near_ms: 9.0,
        entry: Entry::Takes,
    };
    let out = world.run(cfg(), MINUTE * 5);
    assert_eq!(out.leader, 1, "{out:?}");
    assert!(!out.asked_to_enter && !out.left_group_1, "{out:?}");
    assert_eq!(out.walks, 4, "{out:?}");
}

/// A member 15 ms from its leader asks group 3's leader, 2 ms away, to take it in, and peer 3
/// answers as `entry` says: the member is still in group 1, which it never left.
fn asks_and_stays(entry: Entry) {
    let world = World {
        leader_ms: 15.0,
        near_ms: 2.0,
        entry,
    };
    let out = world.run(cfg(), MINUTE);
    assert!(out.asked_to_enter, "{out:?}");
    assert_eq!(out.leader, 1, "still in group 1: {out:?}");
    assert!(!out.left_group_1, "{out:?}");
}

#[test]
fn a_group_that_does_not_answer_the_entry_costs_the_member_nothing() {
    asks_and_stays(Entry::Silent);
}

#[test]
fn an_entry_answered_for_another_group_moves_nothing() {
    // Peer 3 was measured as group 3's leader; its answer names group 4. The member does not
    // follow an answer for a group it did not ask to enter, and stays where it was.
    asks_and_stays(Entry::OtherGroup);
}
