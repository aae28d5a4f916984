//! Group merge (DESIGN §3): leaders that pass each other's locality test merge, the smaller
//! group into the larger, and the merging group's links are handed over once it confirms.

use std::time::Duration;

use super::Peer;
use super::inter::rtt_if_leads;
use super::state::{GroupRole, InterConnect, ProbeFor, Purpose, State};
use crate::event::Event;
use crate::id::{GroupId, PeerRef};
use crate::message::{
    Announcement, CallError, GetGroupMembersRequest, GroupMembersReply, HandedLink, Handover,
    LeaveRequest, LinkScope, MAX_NEIGHBORS, MeasureReply, NeighborGroup, Request, RequestError,
    Response, Target,
};
use crate::time::Time;

/// Handovers a leader holds for merging leaders that have not confirmed yet: merges into one
/// group happen one or two at a time.
pub(super) const MAX_HELD_HANDOVERS: usize = 8;

/// Groups a member of a merged group follows, one merge after another, before it walks: a
/// merge rarely chains more than once, and a cycle of hints must end.
pub(super) const MAX_FOLLOW_HOPS: u8 = 3;

impl Peer {
    /// A new neighbour in this group's locality may be a group to merge into (DESIGN §3):
    /// re-measure it now rather than at the next round, so that groups founded side by side
    /// (peers that started together) merge within seconds.
    pub(super) fn check_merge_soon(&mut self, group: GroupId, leader: &PeerRef, rtt: Duration) {
        let threshold = self.cfg.locality_threshold;
        let guard = self.cfg.max_leader_rtt.unwrap_or(threshold);
        if self.cfg.group_merge && rtt < threshold.min(guard) {
            self.probe(leader.clone(), ProbeFor::Remeasure(group));
        }
    }

    /// A merge check ended without a merge: check the closest neighbour not checked since the
    /// last re-measurement that is in this group's locality and larger (by the member count
    /// its last measurement reported), so that one failed check (a neighbour 5–10 ms away that
    /// fails the full locality test, or one that refused because it was merging itself) does
    /// not hide a co-located group until the next interval.
    pub(super) fn check_next_merge(&mut self, now: Time) {
        let threshold = self.cfg.locality_threshold;
        let guard = self.cfg.max_leader_rtt.unwrap_or(threshold);
        if !self.cfg.group_merge {
            return;
        }
        let State::Member(g) = &mut self.state else {
            return;
        };
        let (own, own_count) = (g.id, g.view().member_count);
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        if l.merge.walk.is_some() {
            return;
        }
        let next = l
            .inter
            .iter()
            .filter(|(id, n)| {
                !n.random
                    && n.rtt < threshold.min(guard)
                    && !l.merge.tried.contains(id)
                    && !l.replacing.contains_key(id)
                    && (n.member_count, **id) > (own_count, own)
            })
            .min_by_key(|(_, n)| n.rtt)
            .map(|(id, n)| (*id, n.leader.clone()));
        if let Some((group, leader)) = next {
            self.start_merge_walk(now, group, leader);
        }
    }

    /// The links this leader hands to the group it asks to merge into (DESIGN §3, merge):
    /// every one, so that no group that reached the overlay through this one is cut off.
    pub(super) fn handover(&mut self) -> Option<Handover> {
        let State::Member(g) = &mut self.state else {
            return None;
        };
        let group_id = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return None;
        };
        let links: Vec<HandedLink> = l
            .inter
            .iter()
            .take(MAX_NEIGHBORS)
            .map(|(id, n)| HandedLink {
                neighbor: NeighborGroup {
                    group_id: *id,
                    leader: n.leader.clone(),
                    successors: n.successors.clone(),
                    rtt: n.rtt,
                },
                opened: n.opened,
                random: n.random,
            })
            .collect();
        l.merge.handed = links.iter().map(|h| h.neighbor.group_id).collect();
        Some(Handover { group_id, links })
    }

    /// Holds a merging leader's handover until it confirms that it followed: taking the links
    /// over at once, as at first, moved the neighbours' links away from a group whose merge
    /// then failed on a lost reply. At most `MAX_HELD_HANDOVERS` are held (the oldest go).
    pub(super) fn hold_handover(&mut self, now: Time, from: &PeerRef, h: Handover) {
        let Some(l) = self.leading_mut() else { return };
        l.merge.held.insert(from.id, (h, now));
        while l.merge.held.len() > MAX_HELD_HANDOVERS {
            let oldest = l
                .merge
                .held
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                l.merge.held.remove(&id);
            }
        }
    }

    /// `from` called as a member of this group: if it merged its group into this one, take
    /// its links over now.
    pub(super) fn confirm_handover(&mut self, from: &PeerRef) {
        let Some(l) = self.leading_mut() else { return };
        if let Some((h, _)) = l.merge.held.remove(&from.id) {
            self.take_over(from, h);
        }
    }

    /// A neighbour group merged into this one and handed over its links: take over those this
    /// group does not have yet, nearest first while below `max_inter_group_links`, each after
    /// measuring that its leader still leads it; for those it already has, only tell the
    /// neighbour to drop its link to the merged group. A handover is taken only from the
    /// leader of a neighbour group (the merge check runs between neighbours), so no peer can
    /// make this leader link where it pleases.
    pub(super) fn take_over(&mut self, from: &PeerRef, h: Handover) {
        let max = self.cfg.max_inter_group_links as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        if l.inter
            .get(&h.group_id)
            .is_none_or(|n| n.leader.id != from.id)
        {
            return;
        }
        // The merged group is part of this one now.
        l.inter.remove(&h.group_id);
        l.replacing.remove(&h.group_id);
        self.events
            .push_back(Event::NeighborRemoved { group: h.group_id });
        let mut links = h.links;
        links.retain(|x| x.neighbor.group_id != own && x.neighbor.group_id != h.group_id);
        links.sort_by_key(|x| x.neighbor.rtt);
        let mut relinks = Vec::new();
        let mut probes = Vec::new();
        for x in links {
            let group = x.neighbor.group_id;
            if let Some(n) = l.inter.get(&group) {
                relinks.push(InterConnect {
                    group,
                    leader: n.leader.clone(),
                    rtt: n.rtt,
                    random: n.random,
                    search: false,
                    replaces: Some(h.group_id),
                    opened: n.opened,
                });
            } else if l.inter.len() + l.merge.taking_over.len() < max
                && !l.merge.taking_over.contains_key(&group)
            {
                probes.push((x.neighbor.leader.clone(), group));
                l.merge.taking_over.insert(group, (h.group_id, x));
            }
        }
        for c in relinks {
            self.connect_inter(c);
        }
        for (leader, group) in probes {
            self.probe(leader, ProbeFor::Handover(group));
        }
    }

    pub(super) fn on_handover_measured(
        &mut self,
        group: GroupId,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let max = self.cfg.max_inter_group_links as usize;
        let Some(l) = self.leading_mut() else { return };
        let Some((merged, x)) = l.merge.taking_over.remove(&group) else {
            return;
        };
        let Some(rtt) = rtt_if_leads(result, group) else {
            return;
        };
        if l.inter.contains_key(&group) || l.inter.len() >= max {
            return;
        }
        self.connect_inter(InterConnect {
            group,
            leader: target.clone(),
            rtt,
            random: x.random,
            search: false,
            replaces: Some(merged),
            opened: x.opened,
        });
    }

    /// The merge check passed and the larger group took this leader in: tell the members to
    /// follow, close the inter-group links the larger group does not take over, end the old
    /// entry and become a plain member.
    pub(super) fn complete_merge(&mut self, now: Time, reply: GroupMembersReply) {
        let State::Member(g) = &self.state else {
            return;
        };
        let from = g.id;
        let GroupRole::Leading(l) = &g.role else {
            return;
        };
        // Links handed over are re-linked by the absorbing leader, which swaps them at the
        // other end: closing them here would cut those groups off until then.
        let neighbors: Vec<NeighborGroup> = l
            .neighbor_groups()
            .into_iter()
            .filter(|n| !l.merge.handed.contains(&n.group_id))
            .collect();
        let mut ended = g.view();
        ended.member_count = 0;
        self.send_alive(Some(reply.group.clone()));
        for n in neighbors {
            self.send_to(
                &n.leader,
                Request::Leave(LeaveRequest {
                    group_id: from,
                    scope: LinkScope::Inter,
                }),
                Purpose::Ignore,
            );
        }
        self.send(
            Target::Rendezvous,
            Request::AnnounceGroup(Announcement {
                group: ended,
                neighbors: Vec::new(),
                partition_links: vec![],
                ended: true,
                landmarks: Vec::new(),
            }),
            Purpose::Ignore,
        );
        self.events.push_back(Event::Merging {
            from,
            into: reply.group.group_id,
        });
        self.events.push_back(Event::GroupEnded { group: from });
        let kept = match &mut self.state {
            State::Member(g) if self.cfg.merge_keeps_links => std::mem::take(&mut g.intra),
            _ => Default::default(),
        };
        self.become_follower_keeping(now, reply, kept);
    }

    /// A member heard that its group merges into `into` (`Config::merge_keeps_links`): it asks
    /// `into`'s leader to take it in straight away and keeps its links meanwhile, since every
    /// member of its group moves into the same group. Leaving first and walking, as without the
    /// switch, left each member without a link for the length of a walk; a merge wave at a
    /// re-measurement then showed as dozens of components in a snapshot (docs/decisions.md).
    ///
    /// `hops` counts the groups followed: a group that merged on into a third one answers
    /// [`RequestError::Moved`], and the member follows that too, up to [`MAX_FOLLOW_HOPS`].
    pub(super) fn follow_merge(&mut self, from: GroupId, into: GroupId, leader: PeerRef, hops: u8) {
        let candidates = self.cfg.intra_group_target * 2;
        self.send_to(
            &leader,
            Request::GetGroupMembers(GetGroupMembersRequest {
                group_id: into,
                joining: true,
                handover: None,
                candidates,
                known_alive: None,
            }),
            Purpose::MergeFollow {
                from,
                into,
                leader: leader.clone(),
                hops,
            },
        );
    }

    /// The leader of the group this member's group merged into answered: follow it with the
    /// links kept; if it did not take the member in, leave and walk as before the switch.
    pub(super) fn on_merge_follow_reply(
        &mut self,
        now: Time,
        from: GroupId,
        into: GroupId,
        leader: PeerRef,
        hops: u8,
        result: Result<Response, CallError>,
    ) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        if g.id != from {
            return;
        }
        match result {
            Ok(Response::GroupMembers(reply)) if reply.group.group_id == into => {
                let kept = std::mem::take(&mut g.intra);
                self.become_follower_keeping(now, reply, kept);
            }
            // That group merged on (chained merges after one re-measurement): follow it on.
            Err(CallError::Refused(RequestError::Moved {
                group,
                into: next,
                leader: next_leader,
            })) if group == into && next != from && hops < MAX_FOLLOW_HOPS => {
                self.follow_merge(from, next, next_leader, hops + 1);
            }
            _ => {
                self.leave_group(now);
                self.start_walk(now, vec![(into, leader)], Some(from));
            }
        }
    }
}
