//! Taking and handing over leadership: becoming leader (by succession, election or handover),
//! following a leader, and the leaderless election of [0064] with its claims.
//!
//! Who may be followed, and when a successor may take over, is [`super::leadership`]'s.

use std::collections::BTreeSet;

use super::state::{CheckFor, GroupRole, Leading, Purpose, State};
use super::{Peer, Timer};
use crate::election::{Decision, Election};
use crate::event::Event;
use crate::id::{PeerId, PeerRef};
use crate::link::Neighbor;
use crate::message::{CallError, NewLeader, NewLeaderReply, Request, RequestError, Response};
use crate::time::Time;

/// `Alive` rounds a new leader floods (its first and the next ones) before members rely on
/// report replies alone: a member the first flood missed hears a later one.
pub(super) const LEADERSHIP_FLOODS: u8 = 3;

impl Peer {
    /// Takes over the group at `epoch`: by succession, election or handover. `dead` are the
    /// peers presumed gone.
    pub(super) fn become_leader(&mut self, now: Time, epoch: u64, dead: &[PeerId]) {
        let target = self.cfg.leadership_list_target as usize;
        let me = self.me.clone();
        let State::Member(g) = &mut self.state else {
            return;
        };
        // The peers presumed gone, the leader this one followed among them, and those the
        // old leader was still re-checking, to re-check.
        let mut lost: Vec<PeerRef> = g
            .leadership
            .iter()
            .chain(std::iter::once(&g.leader))
            .filter(|p| dead.contains(&p.id))
            .cloned()
            .collect();
        if let Some(a) = &g.replica {
            lost.extend(a.lost.iter().filter(|p| p.id != me.id).cloned());
        }
        g.epoch = epoch;
        g.leader = me.clone();
        g.seq = 0;
        let mut leading = Leading::default();
        for p in g.roster().iter().chain(g.leadership.iter()) {
            if !dead.contains(&p.id) {
                leading.members.insert(p.id, (p.clone(), now));
            }
        }
        leading.members.insert(me.id, (me.clone(), now));
        let mut list = vec![me.clone()];
        for p in g.leadership.iter().chain(g.roster().iter()) {
            if list.len() >= target {
                break;
            }
            if !dead.contains(&p.id) && !list.iter().any(|q| q.id == p.id) {
                list.push(p.clone());
            }
        }
        g.leadership = list;
        // The links keep their standing: a partition link stays one, and only links this
        // group opened may be pruned for closer ones.
        let (partition, opened) = g.replica.as_ref().map_or((&[][..], &[][..]), |a| {
            (&a.partition_links[..], &a.opened_links[..])
        });
        for n in g.neighbors() {
            leading.inter.insert(
                n.group_id,
                Neighbor {
                    leader: n.leader.clone(),
                    successors: n.successors.clone(),
                    rtt: n.rtt,
                    random: partition.contains(&n.group_id),
                    member_count: 0,
                    opened: opened.contains(&n.group_id),
                },
            );
        }
        for id in dead {
            g.intra.remove(id);
        }
        g.succession = None;
        g.handover = None;
        // This round's flood and the next ones tell the members the new leader.
        leading.heartbeat.floods_left = LEADERSHIP_FLOODS;
        g.role = GroupRole::Leading(Box::new(leading));
        let group = g.id;
        self.events.push_back(Event::BecameLeader { group, epoch });
        self.remember_lost(now, lost);
        self.start_leading_timers(now);
        self.relink_neighbors();
        self.send_alive(None);
    }

    /// Follows `leader` at `epoch`, and links to it so that its `Alive` arrives directly.
    /// With `bridge`, the link is opened even at the link target (see [`Peer::bridge_to`]):
    /// this peer learnt of a leadership other than the one it was in, so the members it links
    /// to may all be on the side that lost it.
    pub(super) fn follow(&mut self, now: Time, leader: PeerRef, epoch: u64, bridge: bool) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let was_leading = matches!(g.role, GroupRole::Leading(_));
        if g.epoch != epoch || g.leader.id != leader.id {
            g.seq = 0;
        }
        g.epoch = epoch;
        g.leader = leader.clone();
        g.last_alive = now;
        g.role = GroupRole::Follower;
        let group = g.id;
        for t in [Timer::ElectionBackoff, Timer::ElectionDecide] {
            self.cancel_timer(t);
        }
        self.cancel_leading_timers();
        self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        self.schedule_alive_check(now);
        self.events.push_back(if was_leading {
            Event::SteppedDown {
                group,
                leader: leader.clone(),
            }
        } else {
            Event::LeaderChanged {
                group,
                leader: leader.clone(),
                epoch,
            }
        });
        if bridge {
            self.bridge_to(leader);
        } else {
            self.connect_intra(vec![leader]);
        }
    }

    pub(super) fn start_election(&mut self, now: Time) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let epoch = g.epoch.saturating_add(1);
        g.role = GroupRole::Electing(Election::new(epoch));
        let group = g.id;
        self.events
            .push_back(Event::ElectionStarted { group, epoch });
        self.cancel_timer(Timer::AliveCheck);
        let wait = self.random_delay(self.cfg.leaderless_backoff);
        self.set_timer(Timer::ElectionBackoff, now + wait);
    }

    pub(super) fn election_mut(&mut self) -> Option<&mut Election> {
        match &mut self.state {
            State::Member(g) => match &mut g.role {
                GroupRole::Electing(e) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn on_election_backoff(&mut self, now: Time) {
        let me = self.me.clone();
        let decide_in = self.cfg.collision_window * 2;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group_id = g.id;
        let mut targets: Vec<PeerRef> = g.roster().to_vec();
        targets.extend(g.intra.values().map(|l| l.peer.clone()));
        let GroupRole::Electing(e) = &mut g.role else {
            return;
        };
        if e.claimed || e.decide_at.is_some() {
            return;
        }
        // No claim heard during the wait: claim [0064].
        let claim = NewLeader {
            group_id,
            epoch: e.epoch,
            round: e.round,
            candidate: me.clone(),
            sent_at: now,
        };
        e.on_claim(&claim);
        e.claimed = true;
        e.decide_at = Some(now + decide_in);
        self.set_timer(Timer::ElectionDecide, now + decide_in);
        let mut sent = BTreeSet::new();
        for t in targets {
            if t.id != me.id && sent.insert(t.id) {
                self.send_to(&t, Request::NewLeader(claim.clone()), Purpose::Claim);
            }
        }
    }

    pub(super) fn on_election_decide(&mut self, now: Time) {
        let (window, rounds) = (self.cfg.collision_window, self.cfg.max_election_rounds);
        let me = self.me.id;
        let Some(e) = self.election_mut() else { return };
        let epoch = e.epoch;
        match e.decide(window, rounds) {
            Decision::Winner(w) if w.id == me => {
                let State::Member(g) = &self.state else {
                    return;
                };
                let dead: Vec<PeerId> = g
                    .leadership
                    .iter()
                    .map(|p| p.id)
                    .filter(|id| *id != me)
                    .collect();
                self.become_leader(now, epoch, &dead);
            }
            Decision::Winner(w) if e.awaiting.is_none() => {
                // Follow the winner once it answers as leader: its first Alive brings the
                // check about, and so does this one if it has taken over already. If neither
                // has happened within the alive timeout, the round is run again.
                e.awaiting = Some(w.id);
                let wait = self.cfg.alive_timeout;
                self.set_timer(Timer::ElectionDecide, now + wait);
                self.check(w, CheckFor::Leadership);
            }
            Decision::Winner(_) | Decision::Collision | Decision::Empty => {
                e.next_round();
                let wait = self.random_delay(self.cfg.leaderless_backoff);
                self.set_timer(Timer::ElectionBackoff, now + wait);
            }
        }
    }

    /// A leadership claim [0064]. A leader answers with its own view and never steps down on
    /// a claim; so does a member that hears its leader, or that is asked about an epoch other
    /// than the next one. Only a member whose leader has been silent for `alive_timeout` joins
    /// an election for the next epoch; an electing member counts claims of its own election
    /// only (this epoch, this round or the next), so a stray claim cannot move it elsewhere.
    pub(super) fn on_new_leader(
        &mut self,
        now: Time,
        claim: NewLeader,
    ) -> Result<Response, RequestError> {
        let alive_timeout = self.cfg.alive_timeout;
        let decide_in = self.cfg.collision_window * 2;
        let me = self.me.clone();
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if claim.group_id != g.id {
            return Err(RequestError::WrongGroup(claim.group_id));
        }
        let answer = |epoch, leader| {
            Ok(Response::NewLeader(NewLeaderReply {
                epoch,
                leader: Some(leader),
            }))
        };
        match &mut g.role {
            GroupRole::Leading(_) => return answer(g.epoch, me),
            GroupRole::Follower
                if now.saturating_since(g.last_alive) < alive_timeout
                    || claim.epoch != g.epoch.saturating_add(1) =>
            {
                return answer(g.epoch, g.leader.clone());
            }
            GroupRole::Electing(e) => {
                if claim.epoch == e.epoch
                    && claim.round <= e.round.saturating_add(1)
                    && e.on_claim(&claim)
                    && e.decide_at.is_none()
                {
                    e.decide_at = Some(now + decide_in);
                    self.timers.insert(Timer::ElectionDecide, now + decide_in);
                    if !e.claimed {
                        self.timers.remove(&Timer::ElectionBackoff);
                    }
                }
                return Ok(Response::NewLeader(NewLeaderReply {
                    epoch: e.epoch,
                    leader: None,
                }));
            }
            GroupRole::Follower => {}
        }
        // The leader has been silent too long and the claim is for the next epoch: join the
        // election.
        let mut e = Election::new(claim.epoch);
        e.on_claim(&claim);
        e.decide_at = Some(now + decide_in);
        g.role = GroupRole::Electing(e);
        g.succession = None;
        let group = g.id;
        for t in [Timer::AliveCheck, Timer::ElectionBackoff] {
            self.cancel_timer(t);
        }
        self.set_timer(Timer::ElectionDecide, now + decide_in);
        self.events.push_back(Event::ElectionStarted {
            group,
            epoch: claim.epoch,
        });
        Ok(Response::NewLeader(NewLeaderReply {
            epoch: claim.epoch,
            leader: None,
        }))
    }

    pub(super) fn on_claim_reply(&mut self, result: Result<Response, CallError>) {
        let Ok(Response::NewLeader(reply)) = result else {
            return;
        };
        let Some(leader) = reply.leader else { return };
        let me = self.me.id;
        let Some(e) = self.election_mut() else { return };
        // Someone still hears a leader at least as new as the one this peer lost: check it,
        // and follow it if it answers as leader (`leader_answered`).
        if leader.id != me && reply.epoch.saturating_add(1) >= e.epoch {
            self.check(leader, CheckFor::Leadership);
        }
    }
}
