//! Leaving: a member closes its links, a leader hands its group to its first successor [0063],
//! and the last member ends the group [0060].

use std::sync::Arc;

use super::Peer;
use super::state::{GroupRole, Purpose, State};
use crate::event::Event;
use crate::id::PeerRef;
use crate::message::{
    Alive, Announcement, LeaveRequest, LinkScope, MAX_NEIGHBORS, MAX_ROSTER, Request, RequestError,
    Response, Target,
};
use crate::time::Time;

impl Peer {
    pub(super) fn on_leave(
        &mut self,
        now: Time,
        from: PeerRef,
        req: LeaveRequest,
    ) -> Result<Response, RequestError> {
        let State::Member(g) = &mut self.state else {
            return Ok(Response::Ack);
        };
        let group = g.id;
        let mut lost_link = false;
        match (req.scope, &mut g.role) {
            (LinkScope::Intra, role) if req.group_id == group => {
                g.intra.remove(&from.id);
                if let GroupRole::Leading(l) = role {
                    if l.members.remove(&from.id).is_some() {
                        self.events.push_back(Event::MemberLeft {
                            group,
                            peer: from.id,
                        });
                    }
                    self.repair_leadership();
                }
            }
            (LinkScope::Inter, GroupRole::Leading(l))
                if l.inter
                    .get(&req.group_id)
                    .is_some_and(|n| n.leader.id == from.id) =>
            {
                l.inter.remove(&req.group_id);
                self.events.push_back(Event::NeighborRemoved {
                    group: req.group_id,
                });
                lost_link = true;
            }
            (LinkScope::Cross, _) => self.on_cross_leave(&from),
            _ => {}
        }
        if lost_link {
            // The neighbour merged away, left, or pruned the link: tell the rendezvous now,
            // and if that left the group with fewer than two near links search now rather
            // than at the next re-measurement, or a group whose only links went this way
            // sits cut off for up to a whole interval.
            self.announce_soon();
            self.search_if_below_minimum(now);
        }
        Ok(Response::Ack)
    }

    /// Leaves the group: a leader hands over to its first successor [0063], or ends the group
    /// when it is the last member [0060]; every member closes its links.
    pub(super) fn leave_group(&mut self, _now: Time) {
        let me = self.me.clone();
        let State::Member(g) = &self.state else {
            return;
        };
        let group_id = g.id;
        let links: Vec<PeerRef> = g.intra.values().map(|l| l.peer.clone()).collect();
        let cross: Vec<PeerRef> = g
            .cross
            .links
            .values()
            .map(|l| l.link.peer.clone())
            .collect();
        match &g.role {
            GroupRole::Leading(l) if l.members.len() <= 1 => {
                let neighbors = l.neighbor_groups();
                let mut view = g.view();
                view.member_count = 0;
                self.send(
                    Target::Rendezvous,
                    Request::AnnounceGroup(Announcement {
                        group: view,
                        neighbors: Vec::new(),
                        partition_links: vec![],
                        ended: true,
                        landmarks: Vec::new(),
                    }),
                    Purpose::Ignore,
                );
                for n in neighbors {
                    self.send_to(
                        &n.leader,
                        Request::Leave(LeaveRequest {
                            group_id,
                            scope: LinkScope::Inter,
                        }),
                        Purpose::Ignore,
                    );
                }
                self.events.push_back(Event::GroupEnded { group: group_id });
            }
            GroupRole::Leading(l) => {
                let successor = g
                    .leadership
                    .iter()
                    .find(|p| p.id != me.id && l.members.contains_key(&p.id))
                    .or_else(|| l.members.values().map(|(p, _)| p).find(|p| p.id != me.id))
                    .cloned();
                if let Some(successor) = successor {
                    let mut leadership: Vec<PeerRef> = g
                        .leadership
                        .iter()
                        .filter(|p| p.id != me.id && p.id != successor.id)
                        .cloned()
                        .collect();
                    leadership.insert(0, successor.clone());
                    let roster: Vec<PeerRef> = l
                        .members
                        .values()
                        .map(|(p, _)| p.clone())
                        .filter(|p| p.id != me.id)
                        .take(MAX_ROSTER)
                        .collect();
                    let mut view = g.view();
                    view.epoch = view.epoch.saturating_add(1);
                    view.leader = successor.clone();
                    view.successors = leadership
                        .iter()
                        .skip(1)
                        .take(crate::message::MAX_SUCCESSORS)
                        .cloned()
                        .collect();
                    view.member_count = roster.len() as u32;
                    let alive = Alive {
                        group: view,
                        seq: 1,
                        leadership: leadership.clone(),
                        neighbors: l
                            .neighbor_groups()
                            .into_iter()
                            .take(MAX_NEIGHBORS)
                            .collect(),
                        roster,
                        merge_into: None,
                        partition_links: l.partition_links(),
                        opened_links: l.opened_links(),
                        lost: l.lost.values().map(|x| x.peer.clone()).collect(),
                    };
                    let mut targets = vec![successor];
                    targets.extend(links.iter().cloned());
                    targets.extend(leadership);
                    self.flood(Arc::new(alive), targets, &[me.id]);
                }
            }
            GroupRole::Follower | GroupRole::Electing(_) => {
                if matches!(g.role, GroupRole::Follower) && !g.intra.contains_key(&g.leader.id) {
                    let leader = g.leader.clone();
                    self.send_to(
                        &leader,
                        Request::Leave(LeaveRequest {
                            group_id,
                            scope: LinkScope::Intra,
                        }),
                        Purpose::Ignore,
                    );
                }
            }
        }
        for p in links {
            self.send_to(
                &p,
                Request::Leave(LeaveRequest {
                    group_id,
                    scope: LinkScope::Intra,
                }),
                Purpose::Ignore,
            );
        }
        for p in cross {
            self.send_to(
                &p,
                Request::Leave(LeaveRequest {
                    group_id,
                    scope: LinkScope::Cross,
                }),
                Purpose::Ignore,
            );
        }
    }
}
