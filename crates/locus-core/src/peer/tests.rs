//! The leadership safety rules (`peer::leadership`), driven through the engine's public API:
//! a real leader founds a group, real followers join it through a walk, then each test feeds
//! one peer the message under test and answers its calls by hand, stepping virtual time.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{BootSource, Peer};
use crate::config::Config;
use crate::event::Event;
use crate::id::{PeerId, PeerRef};
use crate::message::{
    Alive, AliveAck, CallError, GroupView, MeasureReply, NewLeader, NewLeaderReply, Request,
    RequestError, Response, Role, Target, Transmit,
};
use crate::time::Time;

/// Peer `n`: id `n + 1`, address `p{n}:1`.
pub(super) fn peer(n: u8) -> PeerRef {
    PeerRef::new(
        PeerId(Uuid::from_u128(u128::from(n) + 1)),
        format!("p{n}:1"),
    )
}

pub(super) fn at(ms: u64) -> Time {
    Time::ZERO + Duration::from_millis(ms)
}

/// What the test answers to one call: `None` lets it time out.
type Answer = Option<Result<Response, CallError>>;

/// Answers each of `p`'s calls with `answer` (a timeout where it gives none) until `p` sends
/// nothing more; returns the calls.
fn answer_all(
    p: &mut Peer,
    now: Time,
    mut answer: impl FnMut(&Transmit) -> Answer,
) -> Vec<Transmit> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let Some(t) = p.poll_transmit() else {
            return seen;
        };
        let result = answer(&t).unwrap_or(Err(CallError::Timeout));
        p.handle_response(now, t.id, result);
        seen.push(t);
    }
    panic!("the peer keeps calling");
}

/// Fires `p`'s timers up to `until`, answering its calls with `answer` at each step; returns
/// the calls with the instant each was answered at.
fn run(
    p: &mut Peer,
    from: Time,
    until: Time,
    mut answer: impl FnMut(&Transmit) -> Answer,
) -> Vec<(Time, Transmit)> {
    let mut seen: Vec<(Time, Transmit)> = answer_all(p, from, &mut answer)
        .into_iter()
        .map(|t| (from, t))
        .collect();
    while let Some(next) = p.poll_timeout().filter(|t| *t <= until) {
        p.handle_timeout(next);
        seen.extend(
            answer_all(p, next, &mut answer)
                .into_iter()
                .map(|t| (next, t)),
        );
    }
    seen
}

/// `p`'s pending calls and events are dropped (timed out, read).
fn settle(p: &mut Peer, now: Time) {
    answer_all(p, now, |_| None);
    events(p);
}

fn events(p: &mut Peer) -> Vec<Event> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

/// Whether `t` is a `Measure` (a leadership check) to peer `n`.
fn is_check_of(t: &Transmit, n: u8) -> bool {
    matches!((&t.to, &t.request), (Target::Peer(p), Request::Measure(_)) if p.id == peer(n).id)
}

/// Peer `responder`'s answer to a `Measure`: it is in `group` as it sees it.
fn measured(responder: u8, group: GroupView) -> Answer {
    Some(Ok(Response::Measure(MeasureReply {
        responder: peer(responder),
        group: Some(group),
    })))
}

/// `view` led by peer `leader` at `epoch`.
fn led_by(view: &GroupView, leader: u8, epoch: u64) -> GroupView {
    GroupView {
        epoch,
        leader: peer(leader),
        successors: Vec::new(),
        member_count: 0,
        ..view.clone()
    }
}

/// An `Alive` of `view`'s group led by peer `leader` at `epoch`.
fn alive(view: &GroupView, leader: u8, epoch: u64, seq: u64, list: &[u8]) -> Request {
    let leadership: Vec<PeerRef> = list.iter().map(|n| peer(*n)).collect();
    Request::Alive(Arc::new(Alive {
        group: led_by(view, leader, epoch),
        seq,
        roster: leadership.clone(),
        leadership,
        neighbors: Vec::new(),
        merge_into: None,
        partition_links: Vec::new(),
        opened_links: Vec::new(),
        lost: Vec::new(),
    }))
}

fn claim(view: &GroupView, candidate: u8, epoch: u64) -> Request {
    Request::NewLeader(NewLeader {
        group_id: view.group_id,
        epoch,
        round: 0,
        candidate: peer(candidate),
        sent_at: Time::ZERO,
    })
}

/// The answer to a claim: the receiver's epoch and the leader it follows.
fn claim_reply(epoch: u64, leader: Option<u8>) -> Result<Response, RequestError> {
    Ok(Response::NewLeader(NewLeaderReply {
        epoch,
        leader: leader.map(peer),
    }))
}

fn ack(current: Option<GroupView>) -> Result<Response, RequestError> {
    Ok(Response::AliveAck(AliveAck { current }))
}

/// Answers the checks of peer `n` as the leader of `view`; lets every other call time out.
fn leads(n: u8, view: GroupView) -> impl Fn(&Transmit) -> Answer + Clone {
    move |t| {
        is_check_of(t, n)
            .then(|| measured(n, view.clone()))
            .flatten()
    }
}

fn ids(ns: &[u8]) -> Vec<PeerId> {
    ns.iter().map(|n| peer(*n).id).collect()
}

fn leadership(p: &Peer) -> Vec<PeerId> {
    p.status().leadership.iter().map(|q| q.id).collect()
}

/// The leader `p` follows (or is) and its epoch.
fn led(p: &Peer) -> (PeerId, u64) {
    let v = p.group().expect("in a group");
    (v.leader.id, v.epoch)
}

/// Whether `p` reported an event `f` picks, since its events were last read.
fn saw(p: &mut Peer, f: impl Fn(&Event) -> bool) -> bool {
    events(p).iter().any(f)
}

/// Peer 0 on `Config::test()`, alone: its first calls failed, so it founded a group at epoch 1.
pub(super) fn founder() -> Peer {
    let mut p = Peer::new(peer(0), Config::test(), 7);
    p.join(Time::ZERO, Vec::new());
    settle(&mut p, Time::ZERO);
    assert_eq!(p.role(), Role::Leader);
    p
}

/// Peer `n` joins `leader`'s group through a walk booted from the leader's address; every
/// call to the leader is answered by the leader itself, every other call times out.
pub(super) fn join(leader: &mut Peer, n: u8, now: Time) -> Peer {
    let me = peer(n);
    let mut p = Peer::new(me.clone(), Config::test(), u64::from(n));
    let addr = leader.me().addr.to_string();
    p.join(now, vec![BootSource::Peer(addr.clone())]);
    answer_all(&mut p, now, |t| {
        let to_leader = match &t.to {
            Target::Peer(q) => q.id == leader.me().id,
            Target::Address(a) => *a == addr,
            Target::Rendezvous => false,
        };
        to_leader.then(|| {
            leader
                .handle_request(now, Some(me.clone()), t.request.clone())
                .map_err(CallError::Refused)
        })
    });
    settle(leader, now);
    events(&mut p);
    assert_eq!(p.role(), Role::Member, "peer {n} did not join");
    p
}

/// Peer 0 leads a group at epoch 1 and peers `1..=n` follow it, joined in that order, so the
/// leadership list is `[p0, p1, …, pn]`. At 500 ms the leader built its `Alive` and every
/// follower reported and took it in (the leader heard last at 500 ms).
fn group(n: u8) -> (Peer, Vec<Peer>) {
    let mut leader = founder();
    let mut followers: Vec<Peer> = (1..=n).map(|k| join(&mut leader, k, Time::ZERO)).collect();
    leader.handle_timeout(at(500));
    settle(&mut leader, at(500));
    for f in &mut followers {
        let me = f.me().clone();
        f.handle_timeout(at(500));
        answer_all(f, at(500), |t| {
            matches!(t.request, Request::GetGroupMembers(_)).then(|| {
                leader
                    .handle_request(at(500), Some(me.clone()), t.request.clone())
                    .map_err(CallError::Refused)
            })
        });
        settle(f, at(500));
        let all: Vec<u8> = (0..=n).collect();
        assert_eq!(leadership(f), ids(&all), "the follower took the list");
    }
    settle(&mut leader, at(500));
    (leader, followers)
}

/// Peer 1, following peer 0 in a group of three (`[p0, p1, p2]`), heard last at 500 ms.
fn successor() -> (Peer, GroupView) {
    let (_, mut followers) = group(2);
    let p1 = followers.remove(0);
    let view = p1.group().expect("in a group");
    assert_eq!((view.leader.id, view.epoch), (peer(0).id, 1));
    (p1, view)
}

// ---- apply_alive ----

#[test]
fn an_alive_of_the_followed_leadership_with_a_higher_seq_refreshes_the_replica() {
    let (mut p, view) = successor();
    let reply = p.handle_request(at(600), Some(peer(0)), alive(&view, 0, 1, 100, &[0, 1, 7]));
    assert_eq!(reply, ack(None));
    let taken = ids(&[0, 1, 7]);
    assert_eq!(leadership(&p), taken, "the leadership list is taken");
    // An older sequence number of the same leadership changes nothing.
    p.handle_request(at(700), Some(peer(0)), alive(&view, 0, 1, 50, &[0, 9]))
        .expect("acknowledged");
    assert_eq!(leadership(&p), taken);
    assert_eq!(led(&p), (peer(0).id, 1));
}

#[test]
fn a_stale_alive_is_answered_with_the_receivers_view() {
    let (mut p, view) = successor();
    let reply = p.handle_request(at(600), Some(peer(5)), alive(&view, 5, 0, 9, &[5]));
    assert_eq!(reply, ack(Some(view.clone())));
    assert_eq!(p.group(), Some(view));
    assert!(p.poll_transmit().is_none(), "nothing to check");
}

/// A newer `Alive` forwarded by peer 2, naming peer 5 leader at epoch 2; returns the checks
/// the follower sent, answered with `answer`.
fn newer_alive_from_a_third_party(
    p: &mut Peer,
    view: &GroupView,
    answer: impl FnMut(&Transmit) -> Answer,
) -> Vec<Transmit> {
    let reply = p.handle_request(at(600), Some(peer(2)), alive(view, 5, 2, 1, &[5, 1]));
    assert_eq!(reply, ack(None));
    assert_eq!(p.group().as_ref(), Some(view), "moved before the check");
    assert_eq!(leadership(p), ids(&[0, 1, 2]));
    answer_all(p, at(610), answer)
}

#[test]
fn a_newer_alive_from_a_third_party_only_makes_the_peer_check_the_named_leader() {
    let (mut p, view) = successor();
    let calls = newer_alive_from_a_third_party(&mut p, &view, |_| None);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(is_check_of(&calls[0], 5), "a Measure to peer 5: {calls:?}");
    assert_eq!(p.group(), Some(view), "a timed-out check moves nothing");
    assert_eq!(p.role(), Role::Member);
    assert!(!saw(&mut p, |e| matches!(e, Event::LeaderChanged { .. })));
}

#[test]
fn a_newer_leadership_is_followed_once_its_leader_answers_the_check() {
    let (mut p, view) = successor();
    let calls = newer_alive_from_a_third_party(&mut p, &view, leads(5, led_by(&view, 5, 2)));
    assert!(calls.iter().any(|t| is_check_of(t, 5)));
    assert_eq!(led(&p), (peer(5).id, 2));
    assert_eq!(p.role(), Role::Member);
    let changed = saw(
        &mut p,
        |e| matches!(e, Event::LeaderChanged { leader, epoch: 2, .. } if leader.id == peer(5).id),
    );
    assert!(changed, "Event::LeaderChanged to peer 5 at epoch 2");
}

#[test]
fn a_check_answered_by_a_non_leader_or_an_impostor_moves_nothing() {
    // Peer 5 answers, but follows peer 6; then peer 6 answers in peer 5's stead, naming 5.
    for (responder, leader) in [(5, 6), (6, 5)] {
        let (mut p, view) = successor();
        newer_alive_from_a_third_party(&mut p, &view, |t| {
            is_check_of(t, 5)
                .then(|| measured(responder, led_by(&view, leader, 2)))
                .flatten()
        });
        assert_eq!(p.group(), Some(view), "answered by {responder}");
        assert_eq!(p.role(), Role::Member);
    }
}

/// The `Alive`s of peer 5's leadership at `epoch` among `calls`, by the peer each went to.
fn floods_of_5(calls: &[Transmit], epoch: u64) -> Vec<PeerId> {
    calls
        .iter()
        .filter_map(|t| match (&t.to, &t.request) {
            (Target::Peer(to), Request::Alive(a))
                if a.group.leader.id == peer(5).id && a.group.epoch == epoch =>
            {
                Some(to.id)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_newer_leadership_s_flood_goes_on_through_the_mesh_once_its_leader_answers_the_check() {
    let (mut p, view) = successor();
    let calls = newer_alive_from_a_third_party(&mut p, &view, leads(5, led_by(&view, 5, 2)));
    let check = calls.iter().position(|t| is_check_of(t, 5));
    let first_flood = calls
        .iter()
        .position(|t| matches!(&t.request, Request::Alive(a) if a.group.leader.id == peer(5).id));
    assert!(
        check.is_some() && first_flood.is_some() && check < first_flood,
        "checked, then passed on: {calls:?}"
    );
    let to = floods_of_5(&calls, 2);
    assert!(
        to.iter().all(|id| *id != peer(2).id && *id != peer(5).id),
        "not back to its sender or the leader: {to:?}"
    );
    assert_eq!(led(&p), (peer(5).id, 2));
    assert_eq!(leadership(&p), ids(&[5, 1]), "the flood's list is taken");
}

#[test]
fn a_flood_whose_leadership_fails_its_check_goes_no_further() {
    // Unanswered; answered by peer 5 following peer 6; by peer 6 in peer 5's stead.
    let answers: [(Option<u8>, u8); 3] = [(None, 5), (Some(5), 6), (Some(6), 5)];
    for (responder, leader) in answers {
        let (mut p, view) = successor();
        let calls = newer_alive_from_a_third_party(&mut p, &view, |t| {
            let r = responder?;
            is_check_of(t, 5)
                .then(|| measured(r, led_by(&view, leader, 2)))
                .flatten()
        });
        assert_eq!(
            floods_of_5(&calls, 2),
            Vec::<PeerId>::new(),
            "{responder:?}"
        );
        assert_eq!(leadership(&p), ids(&[0, 1, 2]), "{responder:?}");
        // A later timer passes on nothing either.
        let later = run(&mut p, at(700), at(900), |_| None);
        assert!(
            later.iter().all(
                |(_, t)| !matches!(&t.request, Request::Alive(a) if a.group.leader.id == peer(5).id)
            ),
            "{later:?}"
        );
    }
}

#[test]
fn a_check_that_finds_another_epoch_does_not_pass_on_the_flood_that_named_the_old_one() {
    let (mut p, view) = successor();
    // The flood says peer 5 at epoch 2; peer 5 answers that it leads at epoch 3.
    let calls = newer_alive_from_a_third_party(&mut p, &view, leads(5, led_by(&view, 5, 3)));
    assert_eq!(
        led(&p),
        (peer(5).id, 3),
        "the checked leadership is followed"
    );
    assert_eq!(floods_of_5(&calls, 2), Vec::<PeerId>::new());
    assert_eq!(
        leadership(&p),
        ids(&[0, 1, 2]),
        "nothing of the unchecked flood is taken"
    );
}

#[test]
fn an_alive_at_the_largest_epoch_naming_an_unreachable_leader_leaves_the_epoch() {
    let (mut p, view) = successor();
    p.handle_request(at(600), Some(peer(2)), alive(&view, 5, u64::MAX, 1, &[5]))
        .expect("acknowledged");
    let calls = run(&mut p, at(600), at(1400), |_| None);
    assert!(calls.iter().any(|(_, t)| is_check_of(t, 5)), "{calls:?}");
    assert_eq!(p.group(), Some(view));
}

#[test]
fn a_leader_does_not_step_down_on_a_newer_alive_it_has_not_checked() {
    let (mut leader, _) = group(2);
    let view = leader.group().expect("leads");
    leader
        .handle_request(at(600), Some(peer(2)), alive(&view, 5, 9, 1, &[5]))
        .expect("acknowledged");
    let calls = answer_all(&mut leader, at(600), |_| None);
    assert!(calls.iter().any(|t| is_check_of(t, 5)), "{calls:?}");
    assert_eq!(leader.role(), Role::Leader);
    assert_eq!(leader.group(), Some(view));
}

// ---- on_new_leader ----

#[test]
fn a_leader_answers_a_claim_with_its_own_view_and_stays_leader() {
    let (mut leader, _) = group(2);
    let view = leader.group().expect("leads");
    let reply = leader.handle_request(at(5000), Some(peer(2)), claim(&view, 2, 2));
    assert_eq!(reply, claim_reply(1, Some(0)));
    assert_eq!(leader.role(), Role::Leader);
    assert_eq!(leader.group(), Some(view));
}

#[test]
fn a_follower_that_hears_its_leader_answers_a_claim_with_its_view() {
    let (mut p, view) = successor();
    let reply = p.handle_request(at(600), Some(peer(2)), claim(&view, 2, 2));
    assert_eq!(reply, claim_reply(1, Some(0)));
    assert_eq!(p.role(), Role::Member);
}

#[test]
fn a_follower_whose_leader_is_silent_joins_an_election_for_the_next_epoch_only() {
    let (mut p, view) = successor();
    // Heard last at 500 ms: silent past `alive_timeout` from 2000 ms.
    let silent = at(500) + Config::test().alive_timeout + Duration::from_millis(1);
    let far = p.handle_request(silent, Some(peer(2)), claim(&view, 2, 5));
    assert_eq!(
        far,
        claim_reply(1, Some(0)),
        "epoch 5 is no election of ours"
    );
    assert_eq!(p.role(), Role::Member);
    let next = p.handle_request(silent, Some(peer(2)), claim(&view, 2, 2));
    assert_eq!(next, claim_reply(2, None));
    assert_eq!(p.role(), Role::Electing);
    assert!(saw(&mut p, |e| matches!(
        e,
        Event::ElectionStarted { epoch: 2, .. }
    )));
    // Electing for epoch 2, it counts no claim of another election.
    let stray = p.handle_request(silent, Some(peer(3)), claim(&view, 3, 7));
    assert_eq!(stray, claim_reply(2, None), "epoch 7 moved the election");
}

#[test]
fn a_claim_that_does_not_name_its_sender_as_candidate_is_refused() {
    let (mut p, view) = successor();
    let silent = at(2100);
    let reply = p.handle_request(silent, Some(peer(2)), claim(&view, 3, 2));
    assert!(matches!(reply, Err(RequestError::Invalid(_))), "{reply:?}");
    assert_eq!(p.role(), Role::Member, "a refused claim starts no election");
    let (mut leader, _) = group(1);
    let own = leader.group().expect("leads");
    let reply = leader.handle_request(silent, Some(peer(1)), claim(&own, 4, 2));
    assert!(matches!(reply, Err(RequestError::Invalid(_))), "{reply:?}");
}

// ---- succession ----

/// The instant peer 1, heard last at 500 ms, may take over: `alive_timeout` later.
fn due() -> Time {
    at(500) + Config::test().alive_timeout
}

/// The instant it first checks the leader: early enough for both attempts to time out by
/// `due()`, so that checking costs failover nothing.
fn first_check() -> Time {
    let cfg = Config::test();
    due() - cfg.request_timeout.min(cfg.alive_interval) / 2 * 2
}

#[test]
fn a_successor_whose_silent_leader_answers_the_check_does_not_take_over() {
    let (mut p, view) = successor();
    // The leader's Alives and report replies are lost, but it answers the checks.
    let calls = run(&mut p, at(500), at(6000), leads(0, view.clone()));
    let checks: Vec<Time> = calls
        .iter()
        .filter(|(_, t)| is_check_of(t, 0))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(checks.first(), Some(&first_check()), "{checks:?}");
    assert_eq!(p.role(), Role::Member);
    assert_eq!(p.group(), Some(view));
    assert!(!saw(&mut p, |e| matches!(e, Event::BecameLeader { .. })));
}

#[test]
fn a_successor_takes_over_at_the_next_epoch_when_its_leader_fails_two_checks() {
    let (mut p, _) = successor();
    let calls = run(&mut p, at(500), due() - Duration::from_micros(1), |_| None);
    let checks = calls.iter().filter(|(_, t)| is_check_of(t, 0)).count();
    assert_eq!(checks, 2, "two attempts before the takeover: {calls:?}");
    assert_eq!(
        p.role(),
        Role::Member,
        "no takeover before the due time, however fast the checks failed"
    );
    run(&mut p, due() - Duration::from_micros(1), due(), |_| None);
    assert_eq!(p.role(), Role::Leader);
    assert!(saw(&mut p, |e| matches!(
        e,
        Event::BecameLeader { epoch: 2, .. }
    )));
    assert_eq!(led(&p), (peer(1).id, 2));
    assert_eq!(leadership(&p), ids(&[1, 2]), "p0 is off the list");
}

#[test]
fn a_successor_that_hears_its_leader_during_the_check_does_not_take_over() {
    let (mut p, view) = successor();
    let (heard, check) = (at(500), first_check());
    run(&mut p, heard, check - Duration::from_micros(1), |_| None);
    p.handle_timeout(check);
    let checks: Vec<Transmit> = std::iter::from_fn(|| p.poll_transmit()).collect();
    assert!(checks.iter().any(|t| is_check_of(t, 0)), "{checks:?}");
    // The leader's Alive arrives before the checks time out.
    let reply = p.handle_request(check, Some(peer(0)), alive(&view, 0, 1, 100, &[0, 1, 2]));
    assert_eq!(reply, ack(None));
    for t in checks {
        p.handle_response(check, t.id, Err(CallError::Timeout));
    }
    settle(&mut p, check);
    assert_eq!(p.role(), Role::Member);
    assert_eq!(led(&p), (peer(0).id, 1));
}

/// Peer 1 followed peer 5 at epoch 2 after a check, before any report refreshed its list
/// (still `[p0, p1, p2]`). When peer 5's reports go unanswered, the succession must check
/// the leader peer 1 actually follows, not only the peers before it on its stale list.
#[test]
fn a_successor_checks_the_leader_it_follows_even_off_its_leadership_list() {
    let (mut p, view) = successor();
    let five = leads(5, led_by(&view, 5, 2));
    newer_alive_from_a_third_party(&mut p, &view, five.clone());
    assert_eq!(led(&p), (peer(5).id, 2));
    // Peer 5 still leads and answers every check; peer 0 is gone.
    run(&mut p, at(610), at(5000), five);
    assert_eq!(p.role(), Role::Member, "took over from a live leader");
    assert_eq!(led(&p), (peer(5).id, 2));
}

#[test]
fn a_new_leader_re_checks_the_leader_it_succeeded_and_tells_it_of_the_newer_term() {
    let (mut p, view) = successor();
    run(&mut p, at(500), due(), |_| None);
    assert_eq!(p.role(), Role::Leader);
    // One alive interval later peer 0 is back, still leading epoch 1 as far as it knows.
    let back = due() + Config::test().alive_interval;
    let calls = run(&mut p, due(), back, leads(0, view));
    assert!(calls.iter().any(|(_, t)| is_check_of(t, 0)), "{calls:?}");
    let told = calls.iter().any(|(_, t)| {
        matches!((&t.to, &t.request), (Target::Peer(q), Request::Alive(a))
            if q.id == peer(0).id && a.group.epoch == 2 && a.group.leader.id == peer(1).id)
    });
    assert!(told, "the old leader gets the newer Alive: {calls:?}");
    assert_eq!(p.role(), Role::Leader, "a lower term makes no one yield");
}

#[test]
fn a_second_successor_follows_the_first_when_it_answers_as_leader() {
    let (_, mut followers) = group(2);
    let mut p2 = followers.remove(1);
    let view = p2.group().expect("in a group");
    // Peer 0 is gone; peer 1 took over at epoch 2 and its Alives to peer 2 were lost.
    run(&mut p2, at(500), at(3500), leads(1, led_by(&view, 1, 2)));
    assert_eq!(p2.role(), Role::Member);
    assert_eq!(led(&p2), (peer(1).id, 2));
}

/// Fires `p`'s timers due at `now`; every call times out at once but the checks of peer 0,
/// which are never answered. Returns those checks.
fn step_unanswered(p: &mut Peer, now: Time) -> usize {
    p.handle_timeout(now);
    let mut checks = 0;
    while let Some(t) = p.poll_transmit() {
        if is_check_of(&t, 0) {
            checks += 1;
        } else {
            p.handle_response(now, t.id, Err(CallError::Timeout));
        }
    }
    checks
}

#[test]
fn a_checks_deadline_is_enforced_inside_the_core() {
    let (mut p, _) = successor();
    let cfg = Config::test();
    let timeout = cfg.request_timeout.min(cfg.alive_interval) / 2;
    let tick = Duration::from_micros(1);
    let first = loop {
        let now = p.poll_timeout().expect("a timer");
        assert!(now < at(10_000), "the successor never checked its leader");
        if step_unanswered(&mut p, now) > 0 {
            break now;
        }
    };
    assert_eq!(first, first_check());
    assert_eq!(step_unanswered(&mut p, first + timeout - tick), 0);
    assert_eq!(step_unanswered(&mut p, first + timeout), 1, "a 2nd attempt");
    assert_eq!(step_unanswered(&mut p, first + timeout * 2 - tick), 0);
    assert_eq!(p.role(), Role::Member, "taken over before the 2nd deadline");
    step_unanswered(&mut p, first + timeout * 2);
    assert_eq!(p.role(), Role::Leader, "no takeover without responses");
    assert!(saw(&mut p, |e| matches!(
        e,
        Event::BecameLeader { epoch: 2, .. }
    )));
}

// ---- handover ----

/// Peer 2 forwards an `Alive` that names peer 1 leader at epoch 2; returns peer 1's calls,
/// answered with `answer`.
fn handover(
    p: &mut Peer,
    view: &GroupView,
    answer: impl FnMut(&Transmit) -> Answer,
) -> Vec<Transmit> {
    let reply = p.handle_request(at(600), Some(peer(2)), alive(view, 1, 2, 1, &[1, 2]));
    assert_eq!(reply, ack(None));
    assert_eq!(p.role(), Role::Member, "nothing is taken before the check");
    answer_all(p, at(600), answer)
}

#[test]
fn a_handover_is_not_taken_while_the_old_leader_answers_as_leader() {
    let (mut p, view) = successor();
    let calls = handover(&mut p, &view, leads(0, view.clone()));
    assert_eq!(calls.iter().filter(|t| is_check_of(t, 0)).count(), 1);
    assert_eq!(p.role(), Role::Member);
    assert_eq!(p.group(), Some(view));
}

#[test]
fn a_handover_is_taken_once_the_old_leader_is_gone_and_removes_it_not_the_forwarder() {
    let (mut p, view) = successor();
    let calls = handover(&mut p, &view, |_| None);
    assert_eq!(calls.iter().filter(|t| is_check_of(t, 0)).count(), 2);
    assert_eq!(p.role(), Role::Leader);
    assert_eq!(led(&p), (peer(1).id, 2));
    assert_eq!(leadership(&p), ids(&[1, 2]), "p0 goes, the forwarder stays");
    let members: Vec<PeerId> = p.members().iter().map(|m| m.id).collect();
    assert!(members.contains(&peer(2).id), "{members:?}");
    assert!(!members.contains(&peer(0).id), "{members:?}");
}

#[test]
fn a_handover_beyond_the_next_epoch_is_not_checked() {
    let (mut p, view) = successor();
    p.handle_request(at(600), Some(peer(2)), alive(&view, 1, 5, 1, &[1, 2]))
        .expect("acknowledged");
    assert!(p.poll_transmit().is_none());
    assert_eq!(p.role(), Role::Member);
}
