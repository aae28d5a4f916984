//! Inter-group maintenance [0048]: re-measuring neighbours, pruning far links, replacing a
//! neighbour's lost leader, and re-walks of groups alone far from home.

use std::time::Duration;

use super::state::{GroupRole, ProbeFor, Purpose, Replacing, State};
use super::{Peer, Timer};
use crate::event::Event;
use crate::id::{GroupId, PeerRef};
use crate::link::MIN_LINKS;
use crate::message::{CallError, LeaveRequest, LinkScope, MeasureReply, Request, Response, Target};
use crate::time::Time;

/// Re-walks a leader runs (at its 1st, 2nd, 4th and 8th re-measurement) while its group is
/// itself alone with no neighbour in its locality. A join walk that hit `join_deadline` or
/// `max_tested_groups` far from home founds a group whose links all lead far away; a peer of
/// the same site that walked before or after it may have done the same, and neither
/// Figure 11 nor the merge check ever brings the two together (PlanetLab: sites 242 and 341,
/// 0.2 ms apart, linked only to groups 97–340 ms away). Walking again once the overlay has
/// grown, from a fresh random boot list, finds them. Doubling intervals catch late arrivals
/// and keep the cost of a truly remote peer at four walks.
pub(super) const MAX_REWALKS: u32 = 4;

impl Peer {
    pub(super) fn on_remeasure_timer(&mut self, now: Time) {
        self.set_timer(Timer::Remeasure, now + self.cfg.remeasure_interval);
        let Some(l) = self.leading_mut() else { return };
        l.search.improve_rounds = 0;
        l.merge.tried.clear();
        let targets: Vec<(GroupId, PeerRef)> = l
            .inter
            .iter()
            .filter(|(g, _)| !l.replacing.contains_key(g))
            .map(|(g, n)| (*g, n.leader.clone()))
            .collect();
        for (group, leader) in targets {
            self.probe(leader, ProbeFor::Remeasure(group));
        }
        self.prune_far_link();
        self.ensure_search(now);
        self.ask_random_link();
        self.rewalk_if_alone(now);
    }

    /// Starts a re-walk (see [`MAX_REWALKS`]) when one is due and the group is this leader
    /// alone with no neighbour in its locality.
    pub(super) fn rewalk_if_alone(&mut self, now: Time) {
        let threshold = self.cfg.locality_threshold;
        if !self.cfg.group_merge {
            return;
        }
        let Some(l) = self.leading_mut() else { return };
        l.merge.remeasures = l.merge.remeasures.saturating_add(1);
        let due = l.merge.remeasures.is_power_of_two() && l.merge.rewalks < MAX_REWALKS;
        let alone =
            l.members.len() <= 1 && !l.inter.values().any(|n| !n.random && n.rtt < threshold);
        if due && alone && l.merge.walk.is_none() {
            self.start_rewalk(now);
        }
    }

    /// Drops one link this leader opened itself when it has more near links than its target
    /// and that link is farther than the target-th nearest: links opened while the overlay was
    /// small or far away give way to closer groups that linked in since [0034]. Links other
    /// groups opened are theirs to keep, so a remote group never loses its only way in.
    pub(super) fn prune_far_link(&mut self) {
        let target = self.cfg.inter_group_target as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        if l.near_links() <= target {
            return;
        }
        let rtts = l.near_rtts();
        let keep_within = rtts[target - 1];
        self.drop_farthest_opened(own, keep_within);
    }

    /// After a remote group's improvement round: drops its farthest self-opened link beyond
    /// `inter_group_radius` once `MIN_LINKS` other links are closer, so that the group keeps
    /// its closest ways in instead of adding a link to each it had (PlanetLab: a pair of
    /// co-located peers 80 ms from anyone, merged, still linked 157 and 241 ms away).
    pub(super) fn prune_remote_link(&mut self) {
        let radius = self.cfg.inter_group_radius;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        let rtts = l.near_rtts();
        if rtts.len() <= MIN_LINKS {
            return;
        }
        let keep_within = rtts[MIN_LINKS - 1].max(radius);
        self.drop_farthest_opened(own, keep_within);
    }

    /// Closes the farthest link this leader opened itself (never a partition link) whose RTT
    /// is above `keep_within`, and tells that neighbour and the rendezvous.
    pub(super) fn drop_farthest_opened(&mut self, own: GroupId, keep_within: Duration) {
        let Some(l) = self.leading_mut() else { return };
        let farthest = l
            .inter
            .iter()
            .filter(|(_, n)| n.opened && !n.random && n.rtt > keep_within)
            .max_by_key(|(_, n)| n.rtt)
            .map(|(g, n)| (*g, n.leader.clone()));
        let Some((group, leader)) = farthest else {
            return;
        };
        l.inter.remove(&group);
        self.events.push_back(Event::NeighborRemoved { group });
        self.announce_soon();
        self.send_to(
            &leader,
            Request::Leave(LeaveRequest {
                group_id: own,
                scope: LinkScope::Inter,
            }),
            Purpose::Ignore,
        );
    }

    pub(super) fn on_remeasured(
        &mut self,
        now: Time,
        group: GroupId,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let threshold = self.cfg.locality_threshold;
        let merge = self.cfg.group_merge;
        let guard = self.cfg.max_leader_rtt.unwrap_or(threshold);
        let State::Member(g) = &mut self.state else {
            return;
        };
        let (own, own_count) = (g.id, g.view().member_count);
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        let Some(n) = l.inter.get_mut(&group) else {
            return;
        };
        if n.leader.id != target.id {
            return;
        }
        let view = result.and_then(|(rtt, r)| {
            r.group
                .clone()
                .filter(|v| v.group_id == group)
                .map(|v| (rtt, r, v))
        });
        match view {
            Some((rtt, r, v)) if v.leader.id == r.responder.id => {
                n.rtt = rtt;
                n.successors = v.successors;
                n.member_count = v.member_count;
                // Merge into a larger group in this locality (DESIGN §3): smaller into larger,
                // ties by group id, so two groups never pick each other.
                let larger = (v.member_count, group) > (own_count, own);
                // Never across a partition link: a bridge joins two parts, and the merging
                // leader closes all its links, so a group that merged into the group that
                // bridged to it (they are often in one locality, the bridge goes to the
                // closest group) cut the part off again (PlanetLab all-at-once seed 1).
                if merge
                    && rtt < threshold.min(guard)
                    && larger
                    && l.merge.walk.is_none()
                    && !n.random
                    && !l.merge.tried.contains(&group)
                {
                    let leader = n.leader.clone();
                    self.start_merge_walk(now, group, leader);
                }
            }
            Some((_, _, v)) => {
                // The responder follows another leader of that group now: measure it first.
                l.replacing.insert(
                    group,
                    Replacing {
                        queue: vec![v.leader],
                        ..Replacing::default()
                    },
                );
                self.replace(now, group);
            }
            None => {
                let queue = n.successors.clone();
                l.replacing.insert(
                    group,
                    Replacing {
                        queue,
                        ..Replacing::default()
                    },
                );
                self.replace(now, group);
            }
        }
    }

    /// Tries the next candidate for a neighbour's lost leader: its successors, then the
    /// rendezvous; when all fail the neighbour is dropped and Figure 11 re-entered.
    pub(super) fn replace(&mut self, now: Time, group: GroupId) {
        let Some(l) = self.leading_mut() else { return };
        let r = l.replacing.entry(group).or_default();
        while let Some(next) = r.queue.first().cloned() {
            r.queue.remove(0);
            if r.tried.insert(next.id) {
                self.probe(next, ProbeFor::Replace(group));
                return;
            }
        }
        if !r.resolved {
            r.resolved = true;
            self.send(
                Target::Rendezvous,
                Request::ResolveGroup(group),
                Purpose::Resolve(group),
            );
            return;
        }
        l.replacing.remove(&group);
        if l.inter.remove(&group).is_some() {
            self.events.push_back(Event::NeighborRemoved { group });
            self.announce_soon();
        }
        self.ensure_search(now);
    }

    pub(super) fn on_replace_measured(
        &mut self,
        now: Time,
        group: GroupId,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let Some(l) = self.leading_mut() else { return };
        let Some(r) = l.replacing.get_mut(&group) else {
            return;
        };
        match result.and_then(|(rtt, reply)| {
            reply
                .group
                .clone()
                .filter(|v| v.group_id == group)
                .map(|v| (rtt, reply, v))
        }) {
            Some((rtt, reply, v)) if v.leader.id == reply.responder.id => {
                l.replacing.remove(&group);
                if let Some(n) = l.inter.get_mut(&group) {
                    n.leader = target.clone();
                    n.rtt = rtt;
                    n.successors = v.successors;
                }
            }
            Some((_, _, v)) => {
                r.queue.insert(0, v.leader);
                self.replace(now, group);
            }
            None => self.replace(now, group),
        }
    }

    pub(super) fn on_resolve_reply(
        &mut self,
        now: Time,
        group: GroupId,
        result: Result<Response, CallError>,
    ) {
        let Some(l) = self.leading_mut() else { return };
        let Some(r) = l.replacing.get_mut(&group) else {
            return;
        };
        if let Ok(Response::Resolved(Some(v))) = result
            && v.group_id == group
        {
            r.queue.push(v.leader);
        }
        self.replace(now, group);
    }
}
