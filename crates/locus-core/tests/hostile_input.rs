//! Whatever arrives, a peer neither panics nor grows without bound: random requests with
//! extreme epochs, sequence numbers and foreign ids, and random call results.

use std::time::Duration;

use locus_core::message::{
    Alive, ConnectInterRequest, ConnectIntraRequest, GetGroupMembersRequest, GroupView,
    LeaveRequest, LinkScope, NewLeader, Role,
};
use locus_core::{CallError, Config, GroupId, Peer, PeerId, PeerRef, Request, Response, Time};
use proptest::prelude::*;
use uuid::Uuid;

mod common;
use common::peer;

#[derive(Debug, Clone)]
enum Input {
    Alive {
        from: u8,
        leader: u8,
        epoch: u64,
        seq: u64,
        own_group: bool,
    },
    Claim {
        from: u8,
        epoch: u64,
        round: u32,
        at: u64,
        own_group: bool,
    },
    Join {
        from: u8,
        own_group: bool,
    },
    Intra {
        from: u8,
        own_group: bool,
    },
    Inter {
        from: u8,
        rtt_ms: u64,
        random: bool,
    },
    Leave {
        from: u8,
        inter: bool,
        own_group: bool,
    },
    Tick {
        ms: u64,
    },
    /// Answer the oldest outstanding call: 0 = timeout, 1 = unreachable, 2 = a stray reply.
    Answer(u8),
}

fn input() -> impl Strategy<Value = Input> {
    let epoch = prop_oneof![Just(0u64), Just(1), Just(2), Just(u64::MAX), any::<u64>()];
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            epoch.clone(),
            prop_oneof![Just(u64::MAX), any::<u64>()],
            any::<bool>()
        )
            .prop_map(|(from, leader, epoch, seq, own_group)| Input::Alive {
                from,
                leader,
                epoch,
                seq,
                own_group
            }),
        (
            any::<u8>(),
            epoch,
            any::<u32>(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(from, epoch, round, at, own_group)| Input::Claim {
                from,
                epoch,
                round,
                at,
                own_group
            }),
        (any::<u8>(), any::<bool>()).prop_map(|(from, own_group)| Input::Join { from, own_group }),
        (any::<u8>(), any::<bool>()).prop_map(|(from, own_group)| Input::Intra { from, own_group }),
        (any::<u8>(), 0u64..60_000, any::<bool>()).prop_map(|(from, rtt_ms, random)| {
            Input::Inter {
                from,
                rtt_ms,
                random,
            }
        }),
        (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(from, inter, own_group)| {
            Input::Leave {
                from,
                inter,
                own_group,
            }
        }),
        (0u64..20_000).prop_map(|ms| Input::Tick { ms }),
        (0u8..3).prop_map(Input::Answer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_input_never_panics(inputs in proptest::collection::vec(input(), 1..200)) {
        let me = PeerRef::new(PeerId(Uuid::from_u128(u128::MAX)), "me:1");
        let mut p = Peer::new(me, Config::test(), 1);
        let mut now = Time::ZERO;
        p.join(now, Vec::new()); // founds a group at once
        let own = p.group().expect("founded").group_id;
        let other = GroupId(Uuid::from_u128(7));
        let gid = |own_group: bool| if own_group { own } else { other };
        let mut outstanding = std::collections::VecDeque::new();
        for i in inputs {
            let result = match i {
                Input::Alive { from, leader, epoch, seq, own_group } => {
                    let view = GroupView { group_id: gid(own_group), epoch, leader: peer(leader), successors: vec![peer(from)], member_count: 3 };
                    let alive = Alive { group: view, seq, leadership: vec![peer(leader), peer(from)], neighbors: vec![], roster: vec![peer(leader), peer(from)], merge_into: None, partition_links: vec![], opened_links: vec![] };
                    p.handle_request(now, Some(peer(from)), Request::Alive(std::sync::Arc::new(alive))).map(|_| ())
                }
                Input::Claim { from, epoch, round, at, own_group } => {
                    let claim = NewLeader { group_id: gid(own_group), epoch, round, candidate: peer(from), sent_at: Time::from_micros(at) };
                    p.handle_request(now, Some(peer(from)), Request::NewLeader(claim)).map(|_| ())
                }
                Input::Join { from, own_group } => p
                    .handle_request(now, Some(peer(from)), Request::GetGroupMembers(GetGroupMembersRequest { group_id: gid(own_group), joining: true, handover: None, candidates: 12, known_alive: None }))
                    .map(|_| ()),
                Input::Intra { from, own_group } => p
                    .handle_request(now, Some(peer(from)), Request::ConnectIntra(ConnectIntraRequest { group_id: gid(own_group) }))
                    .map(|_| ()),
                Input::Inter { from, rtt_ms, random } => {
                    let view = GroupView { group_id: GroupId(Uuid::from_u128(1000 + u128::from(from))), epoch: 1, leader: peer(from), successors: vec![], member_count: 1 };
                    p.handle_request(now, Some(peer(from)), Request::ConnectInter(ConnectInterRequest { group: view, rtt: Duration::from_millis(rtt_ms), random, replaces: None })).map(|_| ())
                }
                Input::Leave { from, inter, own_group } => {
                    let scope = if inter { LinkScope::Inter } else { LinkScope::Intra };
                    p.handle_request(now, Some(peer(from)), Request::Leave(LeaveRequest { group_id: gid(own_group), scope })).map(|_| ())
                }
                Input::Tick { ms } => {
                    now = now + Duration::from_millis(ms);
                    if p.poll_timeout().is_some_and(|t| t <= now) {
                        p.handle_timeout(now);
                    }
                    Ok(())
                }
                Input::Answer(kind) => {
                    if let Some(id) = outstanding.pop_front() {
                        let result = match kind {
                            0 => Err(CallError::Timeout),
                            1 => Err(CallError::Unreachable("reset".into())),
                            _ => Ok(Response::Ack),
                        };
                        p.handle_response(now, id, result);
                    }
                    Ok(())
                }
            };
            let _ = result; // refusals are fine; panics are not
            while let Some(t) = p.poll_transmit() {
                outstanding.push_back(t.id);
            }
            while p.poll_event().is_some() {}
            // Bounded: calls in flight stay within what a group of 256 peers could cause.
            prop_assert!(outstanding.len() < 10_000, "{} calls outstanding", outstanding.len());
            prop_assert!(p.members().len() <= 257);
        }
        prop_assert_ne!(p.role(), Role::Idle, "a peer that joined never falls out of the overlay by itself");
    }
}
