//! Whatever strangers send, a founding peer keeps its group, never panics and never grows
//! without bound: random requests with extreme epochs, sequence numbers and foreign ids, and
//! random call results.
//!
//! The founder leads its own group at epoch 1. The strangers never answer its probes (every
//! call times out, is unreachable or gets a stray `Ack`), so by the safety rules
//! (`docs/protocol.md`; DESIGN §7 "Trust") no input may make it follow another leadership or
//! raise its epoch: a peer follows a new leadership only after that leader answered it
//! directly, and a leader never steps down on a claim or an `Alive` alone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use locus_core::message::{
    Alive, ConnectCrossRequest, ConnectInterRequest, ConnectIntraRequest, GetGroupMembersRequest,
    GroupView, LeaveRequest, LinkScope, NewLeader, Role,
};
use locus_core::peer::{MAX_ACCEPTED_CROSS_LINKS, MAX_CROSS_GROUP_LINKS};
use locus_core::{
    CallError, Config, GroupId, Peer, PeerId, PeerRef, Request, RequestId, Response, Target, Time,
};
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
    /// An `Alive` that names the founder itself as the leader (a forged handover to it).
    AliveNamingMe {
        from: u8,
        epoch: u64,
        seq: u64,
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
    /// A cross link asked for (or renewed), naming the founder's group or another.
    Cross {
        from: u8,
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
        (any::<u8>(), epoch.clone(), any::<u64>())
            .prop_map(|(from, epoch, seq)| Input::AliveNamingMe { from, epoch, seq }),
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
        (any::<u8>(), any::<bool>()).prop_map(|(from, own_group)| Input::Cross { from, own_group }),
        (0u64..20_000).prop_map(|ms| Input::Tick { ms }),
        (0u8..3).prop_map(Input::Answer),
    ]
}

/// Calls to one destination that may be in flight at once. A driver gives every call
/// `request_timeout` (1 s in `Config::test()`) before it reports a timeout; within that window
/// a peer owes one destination at most: the `Alive`s of `ceil(request_timeout /
/// alive_interval) + 1` = 3 rounds (0.5 s interval), one probe of `measure_samples` = 3
/// samples, and 2 other calls (a connect or leave, a member report or neighbour fetch).
/// However many strangers name the same peer, it is probed once at a time: forged messages
/// must not turn a peer into an amplifier.
const MAX_IN_FLIGHT_PER_DESTINATION: usize = 3 + 3 + 2;

/// Calls to the rendezvous that may be in flight at once: one `ResolveGroup` per inter-group
/// link (`max_inter_group_links`, 16), two announcements (one per `announce_interval` of 1 s
/// within the 1 s deadline, plus the one a change sends at once) and one boot list.
fn max_in_flight_to_rendezvous(cfg: &Config) -> usize {
    cfg.max_inter_group_links as usize + 2 + 1
}

/// The founder's identity: the highest id there is, so that every stranger would win a tie
/// of terms at an equal epoch.
fn founder_ref() -> PeerRef {
    PeerRef::new(PeerId(Uuid::from_u128(u128::MAX)), "me:1")
}

fn destination(to: &Target) -> String {
    match to {
        Target::Peer(p) => p.addr.to_string(),
        Target::Address(a) => a.clone(),
        Target::Rendezvous => "rendezvous".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn strangers_never_unseat_a_founder(inputs in proptest::collection::vec(input(), 1..200)) {
        let me = founder_ref();
        let cfg = Config::test();
        let mut p = Peer::new(me.clone(), cfg.clone(), 1);
        let mut now = Time::ZERO;
        p.join(now, Vec::new());
        // What the driver does: each call is answered once, a timeout at its deadline at the
        // latest. Calls in flight, oldest first: (id, deadline, destination).
        let mut outstanding: VecDeque<(RequestId, Time, String)> = VecDeque::new();
        while let Some(t) = p.poll_transmit() {
            p.handle_response(now, t.id, Err(CallError::Timeout));
        }
        while p.poll_event().is_some() {}
        let founded = p.group().expect("an empty boot list founds a group at once");
        prop_assert_eq!(p.role(), Role::Leader);
        prop_assert_eq!(founded.epoch, 1);
        prop_assert_eq!(founded.leader.id, me.id);
        let own = founded.group_id;
        let other = GroupId(Uuid::from_u128(7));
        let gid = |own_group: bool| if own_group { own } else { other };
        // Strangers that asked to be in the founder's group: the only peers its roster may hold.
        let mut joiners: BTreeSet<PeerId> = BTreeSet::from([me.id]);
        for (step, i) in inputs.iter().enumerate() {
            let result = match i.clone() {
                Input::Alive { from, leader, epoch, seq, own_group } => {
                    let view = GroupView { group_id: gid(own_group), epoch, leader: peer(leader), successors: vec![peer(from)], member_count: 3 };
                    let alive = Alive { group: view, seq, leadership: vec![peer(leader), peer(from)], neighbors: vec![], roster: vec![peer(leader), peer(from)], merge_into: None, partition_links: vec![], opened_links: vec![], lost: vec![] };
                    p.handle_request(now, Some(peer(from)), Request::Alive(std::sync::Arc::new(alive))).map(|_| ())
                }
                Input::AliveNamingMe { from, epoch, seq } => {
                    let view = GroupView { group_id: own, epoch, leader: me.clone(), successors: vec![peer(from)], member_count: 2 };
                    let alive = Alive { group: view, seq, leadership: vec![me.clone(), peer(from)], neighbors: vec![], roster: vec![me.clone(), peer(from)], merge_into: None, partition_links: vec![], opened_links: vec![], lost: vec![] };
                    p.handle_request(now, Some(peer(from)), Request::Alive(std::sync::Arc::new(alive))).map(|_| ())
                }
                Input::Claim { from, epoch, round, at, own_group } => {
                    let claim = NewLeader { group_id: gid(own_group), epoch, round, candidate: peer(from), sent_at: Time::from_micros(at) };
                    p.handle_request(now, Some(peer(from)), Request::NewLeader(claim)).map(|_| ())
                }
                Input::Join { from, own_group } => {
                    if own_group {
                        joiners.insert(peer(from).id);
                    }
                    p.handle_request(now, Some(peer(from)), Request::GetGroupMembers(GetGroupMembersRequest { group_id: gid(own_group), joining: true, handover: None, candidates: 12, known_alive: None }))
                        .map(|_| ())
                }
                Input::Intra { from, own_group } => {
                    if own_group {
                        joiners.insert(peer(from).id);
                    }
                    p.handle_request(now, Some(peer(from)), Request::ConnectIntra(ConnectIntraRequest { group_id: gid(own_group) }))
                        .map(|_| ())
                }
                Input::Inter { from, rtt_ms, random } => {
                    let view = GroupView { group_id: GroupId(Uuid::from_u128(1000 + u128::from(from))), epoch: 1, leader: peer(from), successors: vec![], member_count: 1 };
                    p.handle_request(now, Some(peer(from)), Request::ConnectInter(ConnectInterRequest { group: view, rtt: Duration::from_millis(rtt_ms), random, replaces: None })).map(|_| ())
                }
                Input::Leave { from, inter, own_group } => {
                    let scope = if inter { LinkScope::Inter } else { LinkScope::Intra };
                    p.handle_request(now, Some(peer(from)), Request::Leave(LeaveRequest { group_id: gid(own_group), scope })).map(|_| ())
                }
                Input::Cross { from, own_group } => {
                    p.handle_request(now, Some(peer(from)), Request::ConnectCross(ConnectCrossRequest { group_id: gid(own_group) }))
                        .map(|_| ())
                }
                Input::Tick { ms } => {
                    now = now + Duration::from_millis(ms);
                    while outstanding.front().is_some_and(|(_, deadline, _)| *deadline <= now) {
                        let (id, _, _) = outstanding.pop_front().expect("front");
                        p.handle_response(now, id, Err(CallError::Timeout));
                    }
                    if p.poll_timeout().is_some_and(|t| t <= now) {
                        p.handle_timeout(now);
                    }
                    Ok(())
                }
                Input::Answer(kind) => {
                    if let Some((id, _, _)) = outstanding.pop_front() {
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
            // A refusal is a fine answer to a stranger; what matters is what the peer became.
            drop(result);
            while let Some(t) = p.poll_transmit() {
                outstanding.push_back((t.id, now + cfg.request_timeout, destination(&t.to)));
            }
            while p.poll_event().is_some() {}

            prop_assert_eq!(p.role(), Role::Leader, "step {}: {:?} unseated the founder", step, i);
            let view = p.group().expect("the founder stays in its group");
            prop_assert!(
                view.group_id == own && view.leader.id == me.id && view.epoch == 1,
                "step {}: after {:?} the founder's view is {:?}", step, i, view
            );
            let mut per_destination: BTreeMap<&str, usize> = BTreeMap::new();
            for (_, _, d) in &outstanding {
                *per_destination.entry(d).or_default() += 1;
            }
            let to_rendezvous = per_destination.remove("rendezvous").unwrap_or(0);
            prop_assert!(
                to_rendezvous <= max_in_flight_to_rendezvous(&cfg),
                "step {}: after {:?}, {} calls in flight to the rendezvous", step, i, to_rendezvous
            );
            if let Some((d, n)) = per_destination.iter().max_by_key(|(_, n)| **n) {
                prop_assert!(
                    *n <= MAX_IN_FLIGHT_PER_DESTINATION,
                    "step {}: after {:?}, {} calls in flight to {} (at most {})", step, i, n, d, MAX_IN_FLIGHT_PER_DESTINATION
                );
            }
            for m in p.members() {
                prop_assert!(joiners.contains(&m.id), "step {}: {:?} is on the roster but never asked to join", step, m);
            }
            let cross = p.status().cross.len();
            prop_assert!(
                cross <= MAX_ACCEPTED_CROSS_LINKS + MAX_CROSS_GROUP_LINKS,
                "step {}: after {:?}, {} cross links", step, i, cross
            );
        }
    }
}
