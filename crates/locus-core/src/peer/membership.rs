//! Membership [0060]–[0062]: the leader's roster, members' periodic reports (a heartbeat in both
//! directions), and intra-group connections.

use super::state::{CheckFor, GroupRole, ProbeFor, Purpose, State};
use super::{Peer, Timer};
use crate::event::Event;
use crate::id::{GroupId, PeerRef};
use crate::message::{
    CallError, ConnectIntraRequest, ConnectReply, GetGroupMembersRequest, GroupMembersReply,
    LinkInfo, MAX_CANDIDATES, MAX_GROUP_MEMBERS, MAX_NEIGHBORS, Request, RequestError, Response,
};
use crate::time::Time;

impl Peer {
    /// Opens intra-group connections to `candidates` until the target is met.
    pub(super) fn connect_intra(&mut self, candidates: Vec<PeerRef>) {
        let target = self.cfg.intra_group_target as usize;
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group_id = g.id;
        let mut chosen = Vec::new();
        for c in candidates {
            if g.intra.len() + g.connecting.len() >= target {
                break;
            }
            if c.id == me
                || g.intra.contains_key(&c.id)
                || g.connecting.contains(&c.id)
                || g.refused.contains(&c.id)
            {
                continue;
            }
            g.connecting.insert(c.id);
            chosen.push(c);
        }
        for c in chosen {
            self.send_to(
                &c,
                Request::ConnectIntra(ConnectIntraRequest { group_id }),
                Purpose::ConnectIntra(c.clone()),
            );
        }
    }

    /// The answer to a `ConnectIntra` this peer sent; `bridge` when it was a link beyond the
    /// target ([`Peer::bridge_to`]), which a refusal passes on to one member named instead.
    pub(super) fn on_connect_intra_reply(
        &mut self,
        peer: PeerRef,
        rtt: std::time::Duration,
        result: Result<Response, CallError>,
        bridge: bool,
    ) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.connecting.remove(&peer.id);
        match result {
            Ok(Response::Connect(ConnectReply { accepted: true, .. })) => {
                if bridge {
                    g.unbridged = false;
                } else {
                    g.near_intra.opened.insert(peer.id, false);
                }
                g.intra.insert(peer.id, LinkInfo { peer, rtt });
            }
            Ok(Response::Connect(ConnectReply {
                accepted: false,
                referrals,
            })) => {
                g.refused.insert(peer.id);
                if bridge {
                    for r in referrals {
                        if self.bridge_to(r) {
                            break;
                        }
                    }
                } else {
                    self.connect_intra(referrals);
                }
            }
            _ => {
                g.refused.insert(peer.id);
            }
        }
    }

    pub(super) fn on_connect_intra(
        &mut self,
        now: Time,
        from: PeerRef,
        group_id: GroupId,
    ) -> Result<Response, RequestError> {
        let max = self.cfg.max_intra_group_links as usize;
        let known = self.known.rtt(from.id);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if g.id != group_id {
            return Err(RequestError::WrongGroup(group_id));
        }
        // A merging leader's first call as a member: its handover may be taken now.
        self.confirm_handover(&from);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if !g.intra.contains_key(&from.id) && g.intra.len() >= max {
            let referrals = g
                .intra
                .values()
                .filter(|l| l.peer.id != from.id)
                .take(MAX_CANDIDATES)
                .map(|l| l.peer.clone())
                .collect();
            return Ok(Response::Connect(ConnectReply {
                accepted: false,
                referrals,
            }));
        }
        g.intra.insert(
            from.id,
            LinkInfo {
                peer: from.clone(),
                rtt: known.unwrap_or_default(),
            },
        );
        let group = g.id;
        if let GroupRole::Leading(l) = &mut g.role
            && l.members.len() < MAX_GROUP_MEMBERS
            && l.members.insert(from.id, (from.clone(), now)).is_none()
        {
            self.events.push_back(Event::MemberJoined {
                group,
                peer: from.id,
            });
        }
        if known.is_none() {
            self.probe(from, ProbeFor::Intra);
        }
        Ok(Response::Connect(ConnectReply {
            accepted: true,
            referrals: Vec::new(),
        }))
    }

    pub(super) fn on_intra_measured(
        &mut self,
        target: &PeerRef,
        result: Option<(std::time::Duration, &crate::message::MeasureReply)>,
    ) {
        if let (State::Member(g), Some((rtt, _))) = (&mut self.state, result)
            && let Some(link) = g.intra.get_mut(&target.id)
        {
            link.rtt = rtt;
        }
    }

    /// Opens one intra-group link to `peer`, or when it is full to one of the members it names,
    /// even at the link target. After a partition heals, the members that elected a leader of
    /// their own have intra-group links only among themselves (their links across the cut
    /// failed), and a member at its target never looks for another: the group works through
    /// reports to its leader, but the overlay graph stays split (docs/decisions.md).
    /// Returns whether it asked (not when `peer` is this one, linked, being linked or refused).
    pub(super) fn bridge_to(&mut self, peer: PeerRef) -> bool {
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return false;
        };
        if peer.id == me
            || g.intra.contains_key(&peer.id)
            || g.connecting.contains(&peer.id)
            || g.refused.contains(&peer.id)
        {
            return false;
        }
        let group_id = g.id;
        g.connecting.insert(peer.id);
        self.send_to(
            &peer,
            Request::ConnectIntra(ConnectIntraRequest { group_id }),
            Purpose::BridgeIntra(peer.clone()),
        );
        true
    }

    /// The leader's side of `GetPeerGroupMembers`: the joining peer's way in [0062] and every
    /// member's periodic report.
    pub(super) fn on_get_group_members(
        &mut self,
        now: Time,
        from: PeerRef,
        req: GetGroupMembersRequest,
    ) -> Result<Response, RequestError> {
        let list_target = self.cfg.leadership_list_target as usize;
        let want = (req.candidates as usize).min(MAX_CANDIDATES);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if g.id != req.group_id {
            // Say where this peer is now: a member that missed its leader's merge follows it
            // there, links kept, rather than walking linkless from the boot sources.
            return Err(RequestError::Moved {
                group: req.group_id,
                into: g.id,
                leader: g.leader.clone(),
            });
        }
        if let Some(h) = &req.handover {
            if !req.joining || h.group_id == g.id {
                return Err(RequestError::Invalid(
                    "only a leader merging another group into this one hands links over".into(),
                ));
            }
            if h.links.len() > MAX_NEIGHBORS {
                return Err(RequestError::Invalid("too many handed-over links".into()));
            }
        }
        let GroupRole::Leading(l) = &mut g.role else {
            let leader = matches!(g.role, GroupRole::Follower).then(|| g.leader.clone());
            return Err(RequestError::NotLeader { leader });
        };
        // A leader that is itself merging does not take in the leader of the group it merges
        // into: two groups merging into each other would leave both leaderless. Any other
        // group may merge into it meanwhile (its members follow on if this group merges on):
        // refusing every neighbour, as at first, made co-located groups whose merge checks ran
        // at the same instant (they founded together, so they re-measure together) refuse each
        // other at every re-measurement, for ever (PlanetLab all-at-once).
        if req.joining
            && l.merge.walk.is_some()
            && l.merge
                .target
                .and_then(|t| l.inter.get(&t))
                .is_none_or(|n| n.leader.id == from.id)
        {
            return Err(RequestError::NotLeader { leader: None });
        }
        if !l.members.contains_key(&from.id) && l.members.len() >= MAX_GROUP_MEMBERS {
            return Err(RequestError::Full);
        }
        l.lost.remove(&from.id);
        if l.members.insert(from.id, (from.clone(), now)).is_none() {
            self.events.push_back(Event::MemberJoined {
                group: g.id,
                peer: from.id,
            });
        }
        if req.joining
            && g.leadership.len() < list_target
            && !g.leadership.iter().any(|p| p.id == from.id)
        {
            g.leadership.push(from.clone());
        }
        // `want` members at random. Every member reports each interval, so even walking the
        // roster per report would cost the leader O(n²) per interval: a large group draws from
        // the roster of its latest Alive, a vector; a small one samples its members.
        let mut candidates: Vec<PeerRef> = Vec::with_capacity(want);
        match l
            .heartbeat
            .latest
            .as_ref()
            .filter(|a| a.roster.len() > want * 2)
        {
            _ if want == 0 => {}
            Some(a) => {
                let n = a.roster.len() as u64;
                for _ in 0..want * 4 {
                    if candidates.len() >= want {
                        break;
                    }
                    let p = &a.roster[self.rng.below(n) as usize];
                    if p.id != from.id && !candidates.iter().any(|q| q.id == p.id) {
                        candidates.push(p.clone());
                    }
                }
            }
            None => {
                // Reservoir sampling over the members.
                let others = l.members.values().filter(|(p, _)| p.id != from.id);
                for (k, (p, _)) in others.enumerate() {
                    if k < want {
                        candidates.push(p.clone());
                    } else {
                        let j = self.rng.below(k as u64 + 1) as usize;
                        if j < want {
                            candidates[j] = p.clone();
                        }
                    }
                }
                self.rng.shuffle(&mut candidates);
            }
        }
        // The caller's replica is current: the roster stays home.
        let alive = l
            .heartbeat
            .latest
            .clone()
            .filter(|a| req.known_alive != Some((a.group.epoch, a.seq)));
        let group = g.view();
        let reply = GroupMembersReply {
            group,
            leadership: g.leadership.clone(),
            candidates,
            alive,
        };
        match req.handover {
            // Taken over once the merging leader confirms it followed (`confirm_handover`):
            // if this reply is lost, the merge does not happen and its links stay its own.
            Some(h) => self.hold_handover(now, &from, h),
            None if !req.joining => self.confirm_handover(&from),
            None => {}
        }
        Ok(Response::GroupMembers(reply))
    }

    pub(super) fn on_refresh_timer(&mut self, now: Time) {
        let extra = self.near_intra_extra_candidates();
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.refused.clear();
        if matches!(g.role, GroupRole::Leading(_)) {
            return;
        }
        let follower = matches!(g.role, GroupRole::Follower);
        let (leader, group_id) = (g.leader.clone(), g.id);
        let linked = (g.intra.len() + g.connecting.len()) as u32;
        // Twice the links missing: some candidates are linked or refuse already. And a few to
        // measure, for links to the nearest members (`peer::near_intra`).
        let candidates = self.cfg.intra_group_target.saturating_sub(linked) * 2 + extra;
        let known_alive = g.replica.as_ref().map(|a| (a.group.epoch, a.seq));
        self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        if follower {
            self.relocate_if_far(now);
            self.send_to(
                &leader,
                Request::GetGroupMembers(GetGroupMembersRequest {
                    group_id,
                    joining: false,
                    handover: None,
                    candidates,
                    known_alive,
                }),
                Purpose::Report,
            );
        }
    }

    pub(super) fn on_report_reply(&mut self, now: Time, result: Result<Response, CallError>) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        if !matches!(g.role, GroupRole::Follower) {
            return;
        }
        match result {
            Ok(Response::GroupMembers(reply)) if reply.group.group_id == g.id => {
                let leader = g.leader.clone();
                if g.intra.contains_key(&leader.id) {
                    g.unbridged = false;
                }
                let unbridged = g.unbridged && g.connecting.is_empty();
                if reply.group.leader.id == leader.id && reply.group.epoch == g.epoch {
                    // The leader answered: as good as an `Alive` [0063].
                    g.leadership = reply.leadership;
                    g.last_alive = now;
                    g.succession = None;
                    self.schedule_alive_check(now);
                }
                if let Some(alive) = reply.alive {
                    // The leader's own answer: its Alive needs no further check.
                    let _ = self.apply_alive(now, leader.clone(), alive, false, true);
                }
                if unbridged {
                    // The first bridge into the group failed: try again, beyond the target.
                    self.bridge_to(leader);
                }
                let candidates = reply.candidates;
                self.connect_intra(candidates.clone());
                self.consider_intra_candidates(&candidates);
            }
            Err(CallError::Timeout | CallError::Unreachable(_)) => {
                // A link that does not answer is no link; the leader is linked again once it
                // answers. One lost report must not cost the member its leader: ask again soon.
                let leader = g.leader.id;
                g.intra.remove(&leader);
                let retry = now + self.cfg.member_refresh_interval / 4;
                if self.timers.get(&Timer::Refresh).is_some_and(|&t| t > retry) {
                    self.set_timer(Timer::Refresh, retry);
                }
            }
            Err(CallError::Refused(RequestError::NotLeader {
                leader: Some(other),
            })) => {
                // The peer followed no longer leads: the one it names is checked, not followed.
                self.check(other, CheckFor::Leadership);
            }
            Err(CallError::Refused(RequestError::Moved {
                group,
                into,
                leader,
            })) if group == g.id && into != g.id && self.cfg.merge_keeps_links => {
                // The leader merged away and this member missed the notice: follow it.
                self.follow_merge(group, into, leader, 1);
            }
            Err(CallError::Refused(
                RequestError::WrongGroup(_) | RequestError::Moved { .. } | RequestError::NotJoined,
            )) => {
                // The leader is no longer in this group (it left, or merged away unheard):
                // close this peer's links, then walk again from the boot sources.
                let old = g.id;
                self.leave_group(now);
                self.start_walk(now, Vec::new(), Some(old));
            }
            _ => {}
        }
    }
}
