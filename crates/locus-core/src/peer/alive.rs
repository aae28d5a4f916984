//! `Alive` [0063]: the leader's heartbeat with the group's replica, and what a member does with
//! one it receives.
//!
//! The leader builds an `Alive` every `alive_interval`. Members get it in reply to their
//! periodic reports, which makes each report a heartbeat in both directions: the leader keeps
//! its roster, the member hears its leader and refreshes its replica. `Alive` is flooded
//! through the group's mesh only when the members must learn something without asking: a new
//! leader (for [`LEADERSHIP_FLOODS`](super::election::LEADERSHIP_FLOODS) rounds), a handover, a merge. Periodic floods would cost
//! every member one call per intra-group link and interval, about five times the reports.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::state::{CheckFor, GroupRole, Purpose, State};
use super::{Peer, Timer};
use crate::event::Event;
use crate::id::{PeerId, PeerRef};
use crate::message::{
    Alive, AliveAck, CallError, GroupView, MAX_NEIGHBORS, MAX_ROSTER, Request, RequestError,
    Response,
};
use crate::term::term;
use crate::time::Time;

impl Peer {
    pub(super) fn start_leading_timers(&mut self, now: Time) {
        for t in [
            Timer::AliveCheck,
            Timer::Refresh,
            Timer::ElectionBackoff,
            Timer::ElectionDecide,
        ] {
            self.cancel_timer(t);
        }
        self.set_timer(Timer::Alive, now + self.cfg.alive_interval);
        self.set_timer(Timer::Announce, now);
        self.set_timer(Timer::Remeasure, now + self.cfg.remeasure_interval);
    }

    pub(super) fn cancel_leading_timers(&mut self) {
        for t in [Timer::Alive, Timer::Announce, Timer::Remeasure] {
            self.cancel_timer(t);
        }
    }

    /// When a follower gives up on its leader: successor `i` of the leadership list waits
    /// `alive_timeout + (i-1) * alive_interval` so that earlier successors go first [0063];
    /// members off the list wait for every successor, then elect [0064].
    pub(super) fn schedule_alive_check(&mut self, _now: Time) {
        let Some(due) = self.succession_due() else {
            return;
        };
        // The checks before a takeover start early enough to end by the due time when the
        // leader is gone (`leadership::succession_lead`), so that checking costs failover
        // nothing.
        let lead = super::leadership::succession_lead(&self.cfg);
        self.set_timer(Timer::AliveCheck, due - lead);
    }

    /// When this follower may take over (or elect) if it hears nothing: `alive_timeout` after
    /// the last sign of the leader, plus an alive interval per successor before it [0063].
    pub(super) fn succession_due(&self) -> Option<Time> {
        let State::Member(g) = &self.state else {
            return None;
        };
        let stage = match g.leadership.iter().position(|p| p.id == self.me.id) {
            Some(i) if i >= 1 => i - 1,
            _ => g.leadership.len().saturating_sub(1),
        };
        Some(g.last_alive + self.cfg.alive_timeout + self.cfg.alive_interval * stage as u32)
    }

    pub(super) fn on_alive_timer(&mut self, now: Time) {
        let member_timeout = self.cfg.member_timeout;
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        let expired: Vec<PeerId> = l
            .members
            .iter()
            .filter(|(id, (_, seen))| **id != me && now.saturating_since(*seen) > member_timeout)
            .map(|(id, _)| *id)
            .collect();
        let mut lost = Vec::new();
        for id in expired {
            if let Some((p, _)) = l.members.remove(&id) {
                lost.push(p);
            }
            g.intra.remove(&id);
            self.events.push_back(Event::MemberLeft { group, peer: id });
        }
        l.merge
            .held
            .retain(|_, (_, at)| now.saturating_since(*at) <= member_timeout);
        self.remember_lost(now, lost);
        self.check_lost(now);
        self.repair_leadership();
        // Members hear this `Alive` in reply to their reports; it is flooded only for a few
        // rounds after a change of leadership, which the members must learn without asking.
        let flood = self.leading_mut().is_some_and(|l| {
            let f = l.heartbeat.floods_left > 0;
            l.heartbeat.floods_left = l.heartbeat.floods_left.saturating_sub(1);
            f
        });
        if flood {
            self.send_alive(None);
        } else {
            self.build_alive(None);
        }
        self.set_timer(Timer::Alive, now + self.cfg.alive_interval);
    }

    /// Keeps the leadership list to members the leader still has, topped up to the target in
    /// member order [0063].
    pub(super) fn repair_leadership(&mut self) {
        let target = self.cfg.leadership_list_target as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let GroupRole::Leading(l) = &g.role else {
            return;
        };
        g.leadership.retain(|p| l.members.contains_key(&p.id));
        for (id, (p, _)) in &l.members {
            if g.leadership.len() >= target {
                break;
            }
            if !g.leadership.iter().any(|q| q.id == *id) {
                g.leadership.push(p.clone());
            }
        }
    }

    /// Floods the next `Alive` from the leader: to its intra-group links and, directly, to the
    /// leadership list, which must never miss one.
    pub(super) fn send_alive(&mut self, merge_into: Option<GroupView>) {
        let me = self.me.id;
        let Some(alive) = self.build_alive(merge_into) else {
            return;
        };
        let State::Member(g) = &self.state else {
            return;
        };
        let mut targets: Vec<PeerRef> = g.intra.values().map(|l| l.peer.clone()).collect();
        targets.extend(g.leadership.iter().cloned());
        self.flood(alive, targets, &[me]);
    }

    /// The leader's next `Alive`, kept for the replies to member reports.
    pub(super) fn build_alive(&mut self, merge_into: Option<GroupView>) -> Option<Arc<Alive>> {
        let State::Member(g) = &mut self.state else {
            return None;
        };
        let GroupRole::Leading(l) = &g.role else {
            return None;
        };
        let mut roster: Vec<PeerRef> = l.members.values().map(|(p, _)| p.clone()).collect();
        if roster.len() > MAX_ROSTER {
            self.rng.shuffle(&mut roster);
            roster.truncate(MAX_ROSTER);
        }
        let mut neighbors = l.neighbor_groups();
        neighbors.truncate(MAX_NEIGHBORS);
        let group = g.view();
        let mut alive = Alive {
            group,
            seq: g.seq,
            leadership: g.leadership.clone(),
            neighbors,
            roster,
            merge_into,
            partition_links: l.partition_links(),
            opened_links: l.opened_links(),
            lost: l.lost.values().map(|x| x.peer.clone()).collect(),
        };
        // Nothing changed since the latest: it stays the latest, under its number, so that a
        // member whose replica is current gets a report reply without it (the roster, the
        // neighbours and the lost peers are most of a reply's bytes). A new number only for
        // news; members learn the leader is alive from the reply itself.
        if let Some(latest) = &l.heartbeat.latest
            && *latest.as_ref() == alive
        {
            return Some(Arc::clone(latest));
        }
        g.seq = g.seq.saturating_add(1);
        alive.seq = g.seq;
        let alive = Arc::new(alive);
        if let GroupRole::Leading(l) = &mut g.role {
            l.heartbeat.latest = Some(Arc::clone(&alive));
        }
        Some(alive)
    }

    pub(super) fn flood(&mut self, alive: Arc<Alive>, targets: Vec<PeerRef>, skip: &[PeerId]) {
        let mut sent = BTreeSet::new();
        for t in targets {
            if skip.contains(&t.id) || !sent.insert(t.id) {
                continue;
            }
            self.send_to(&t, Request::Alive(Arc::clone(&alive)), Purpose::Alive(t.id));
        }
    }

    pub(super) fn on_alive_reply(&mut self, peer: PeerId, result: Result<Response, CallError>) {
        match result {
            Ok(Response::AliveAck(AliveAck { current: Some(v) })) => {
                // The receiver follows another leadership of the group: check it if it is
                // higher, tell it of this one if lower.
                if let Some(via) = self.known_peer(peer) {
                    self.leadership_named(v, &via);
                }
            }
            Ok(_) => {}
            Err(_) => {
                // A link that cannot take an Alive is gone; the member's next report repairs it.
                if let State::Member(g) = &mut self.state {
                    g.intra.remove(&peer);
                }
            }
        }
    }

    /// The reference of a peer this one is linked to or lists, by id.
    pub(super) fn known_peer(&self, id: PeerId) -> Option<PeerRef> {
        let State::Member(g) = &self.state else {
            return None;
        };
        g.intra
            .get(&id)
            .map(|l| l.peer.clone())
            .or_else(|| g.leadership.iter().find(|p| p.id == id).cloned())
            .or_else(|| g.roster().iter().find(|p| p.id == id).cloned())
    }

    pub(super) fn on_alive(
        &mut self,
        now: Time,
        from: PeerRef,
        alive: Arc<Alive>,
    ) -> Result<Response, RequestError> {
        self.apply_alive(now, from, alive, true, false)
    }

    /// Takes in an `Alive` from the flood (`forward`: passed on through the group's mesh) or
    /// from a report's reply (`direct`: the leader's own answer to this peer).
    ///
    /// The safety rules (`peer::leadership`): an `Alive` of the leadership this peer follows
    /// refreshes its replica; a stale one is answered with this peer's view; a newer one is
    /// followed only once its leader answered a check, unless it is the leader's own answer;
    /// one that hands the group to this peer is taken once the old leader no longer leads.
    pub(super) fn apply_alive(
        &mut self,
        now: Time,
        from: PeerRef,
        alive: Arc<Alive>,
        forward: bool,
        direct: bool,
    ) -> Result<Response, RequestError> {
        let me = self.me.clone();
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if alive.group.group_id != g.id {
            return Err(RequestError::WrongGroup(alive.group.group_id));
        }
        let ack = |current| Ok(Response::AliveAck(AliveAck { current }));
        let same = alive.group.leader.id == g.leader.id && alive.group.epoch == g.epoch;
        let mut newer = false;
        if !same {
            if term(&alive.group) < term(&g.view()) {
                // Stale: say which leadership this peer follows, so the sender checks it.
                return ack(Some(g.view()));
            }
            if !(direct && alive.group.leader.id == from.id) {
                if alive.group.leader.id == me.id {
                    // A handover to this peer, at the next epoch only.
                    if alive.group.epoch == g.epoch.saturating_add(1) {
                        self.start_handover_check();
                    }
                } else {
                    // Kept to pass on if the check holds: the newest leadership heard wins.
                    if forward
                        && g.unchecked_flood
                            .as_ref()
                            .is_none_or(|(_, kept)| term(&kept.group) <= term(&alive.group))
                    {
                        g.unchecked_flood = Some((from.clone(), Arc::clone(&alive)));
                    }
                    self.check(alive.group.leader.clone(), CheckFor::Leadership);
                }
                return ack(None);
            }
            newer = true;
            g.epoch = alive.group.epoch;
            g.leader = alive.group.leader.clone();
            g.seq = 0;
        }
        if alive.seq <= g.seq {
            return ack(None);
        }
        if matches!(g.role, GroupRole::Leading(_)) {
            // This leader's own Alive, come back round the mesh.
            return ack(None);
        }
        g.seq = alive.seq;
        g.leadership = alive.leadership.clone();
        // A link to a peer the leader lost is no link: a member learns of a crash nowhere
        // else (intra-group links carry nothing between floods), and one counted as linked
        // keeps the member from asking for another. Cliques whose links out of them all led
        // to crashed peers stayed cut off from their group (docs/decisions.md).
        if self.cfg.drop_lost_links && !alive.lost.is_empty() {
            g.intra
                .retain(|id, _| alive.lost.iter().all(|p| p.id != *id) || *id == g.leader.id);
        }
        g.replica = Some(Arc::clone(&alive));
        g.last_alive = now;
        g.succession = None;
        let group = g.id;
        if !matches!(g.role, GroupRole::Follower) {
            g.role = GroupRole::Follower;
            for t in [Timer::ElectionBackoff, Timer::ElectionDecide] {
                self.cancel_timer(t);
            }
            self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        }
        if newer {
            self.events.push_back(Event::LeaderChanged {
                group,
                leader: alive.group.leader.clone(),
                epoch: alive.group.epoch,
            });
        }
        // Forward through the group's mesh [0063].
        let State::Member(g) = &self.state else {
            return ack(None);
        };
        if forward {
            let targets: Vec<PeerRef> = g.intra.values().map(|l| l.peer.clone()).collect();
            let leader = g.leader.id;
            self.flood(Arc::clone(&alive), targets, &[from.id, leader, me.id]);
        }
        self.schedule_alive_check(now);
        if let Some(into) = alive.merge_into.clone() {
            self.events.push_back(Event::Merging {
                from: group,
                into: into.group_id,
            });
            if self.cfg.merge_keeps_links {
                self.follow_merge(group, into.group_id, into.leader, 1);
            } else {
                self.leave_group(now);
                self.start_walk(now, vec![(into.group_id, into.leader)], Some(group));
            }
        }
        ack(None)
    }
}
