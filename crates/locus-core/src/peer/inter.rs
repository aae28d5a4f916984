//! Inter-group connections between leaders [0041]: serving the inter-group cache [0046]–[0048],
//! opening and accepting links, and re-linking every neighbour after a change of leader [0064].
//!
//! The procedures that choose links live beside it: [`super::search`] (Figure 11),
//! [`super::bridge`] (partition links), [`super::remeasure`] (re-measurement, replacement),
//! [`super::merge`] (group merge).

use std::time::Duration;

use super::Peer;
use super::state::{GroupRole, InterConnect, Purpose, State};
use crate::event::Event;
use crate::id::{GroupId, PeerRef};
use crate::link::Neighbor;
use crate::message::{
    CallError, ConnectInterRequest, ConnectReply, MAX_CANDIDATES, MAX_NEIGHBORS, MeasureReply,
    NeighborsReply, Request, RequestError, Response,
};
use crate::time::Time;

impl Peer {
    pub(super) fn on_get_neighbors(
        &mut self,
        group_id: Option<GroupId>,
    ) -> Result<Response, RequestError> {
        let State::Member(g) = &self.state else {
            return Err(RequestError::NotJoined);
        };
        if group_id.is_some_and(|id| id != g.id) {
            return Err(RequestError::WrongGroup(g.id));
        }
        match &g.role {
            GroupRole::Leading(l) => {
                let mut neighbors = l.neighbor_groups();
                neighbors.truncate(MAX_NEIGHBORS);
                Ok(Response::Neighbors(NeighborsReply {
                    group: g.view(),
                    neighbors,
                }))
            }
            GroupRole::Follower => Err(RequestError::NotLeader {
                leader: Some(g.leader.clone()),
            }),
            GroupRole::Electing(_) => Err(RequestError::NotLeader { leader: None }),
        }
    }

    /// Another leader opens an inter-group connection; at the maximum, refuse and name the
    /// neighbours instead.
    pub(super) fn on_connect_inter(
        &mut self,
        from: PeerRef,
        req: ConnectInterRequest,
    ) -> Result<Response, RequestError> {
        let max = self.cfg.max_inter_group_links as usize;
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if req.group.group_id == g.id {
            return Err(RequestError::Invalid(
                "an inter-group connection needs two groups".into(),
            ));
        }
        if req.group.leader.id != from.id {
            return Err(RequestError::Invalid(
                "only a group's leader opens its inter-group connections".into(),
            ));
        }
        let GroupRole::Leading(l) = &mut g.role else {
            let leader = matches!(g.role, GroupRole::Follower).then(|| g.leader.clone());
            return Err(RequestError::NotLeader { leader });
        };
        // A merge: the caller's group absorbed `replaces`, and this group's link to it becomes
        // the link to the caller's group, keeping its standing (who opened it, partition or
        // not). Only a link this leader holds is swapped, so the caller cannot close others.
        let swapped = match req.replaces {
            Some(old) if old != req.group.group_id && old != g.id => l.inter.remove(&old),
            _ => None,
        };
        if let (Some(old), Some(_)) = (req.replaces, &swapped) {
            l.replacing.remove(&old);
            self.events.push_back(Event::NeighborRemoved { group: old });
            // Tell the rendezvous now: it drops the merged group and must see this link at once
            // or take the neighbourhood for cut off.
            self.announce_soon();
        }
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        let GroupRole::Leading(l) = &mut g.role else {
            return Err(RequestError::NotLeader { leader: None });
        };
        let random_wanted = super::bridge::shortcuts_wanted(&self.cfg, l.members.len());
        if let Some(n) = l.inter.get_mut(&req.group.group_id) {
            // The same group, perhaps under a new leader after a succession.
            n.leader = from;
            n.successors = req.group.successors;
            n.member_count = req.group.member_count;
            l.replacing.remove(&req.group.group_id);
        } else if let Some(prev) = swapped {
            l.inter.insert(
                req.group.group_id,
                Neighbor {
                    leader: from.clone(),
                    successors: req.group.successors,
                    rtt: req.rtt,
                    random: prev.random,
                    member_count: req.group.member_count,
                    opened: prev.opened,
                },
            );
            self.events.push_back(Event::NeighborAdded {
                group: req.group.group_id,
                rtt: req.rtt,
            });
            self.check_merge_soon(req.group.group_id, &from, req.rtt);
        } else if req.random
            && random_wanted > 0
            && l.inter.values().filter(|n| n.random).count() >= random_wanted
        {
            // Random links are for partitions, not closeness: one per group is enough, so a
            // group that has its own refuses more, and the opener tries another group. With
            // random links off, a partition link is a bridge the rendezvous asked for, and
            // every one is taken (up to the maximum).
            return Ok(Response::Connect(ConnectReply {
                accepted: false,
                referrals: Vec::new(),
            }));
        } else if l.inter.len() < max {
            l.inter.insert(
                req.group.group_id,
                Neighbor {
                    leader: from.clone(),
                    successors: req.group.successors,
                    rtt: req.rtt,
                    random: req.random,
                    member_count: req.group.member_count,
                    opened: false,
                },
            );
            self.events.push_back(Event::NeighborAdded {
                group: req.group.group_id,
                rtt: req.rtt,
            });
            self.check_merge_soon(req.group.group_id, &from, req.rtt);
        } else {
            let referrals = l
                .inter
                .values()
                .take(MAX_CANDIDATES)
                .map(|n| n.leader.clone())
                .collect();
            return Ok(Response::Connect(ConnectReply {
                accepted: false,
                referrals,
            }));
        }
        Ok(Response::Connect(ConnectReply {
            accepted: true,
            referrals: Vec::new(),
        }))
    }

    pub(super) fn connect_inter(&mut self, c: InterConnect) {
        let State::Member(g) = &self.state else {
            return;
        };
        let group = g.view();
        let (to, rtt, random, replaces) = (c.leader.clone(), c.rtt, c.random, c.replaces);
        self.send_to(
            &to,
            Request::ConnectInter(ConnectInterRequest {
                group,
                rtt,
                random,
                replaces,
            }),
            Purpose::ConnectInter(c),
        );
    }

    pub(super) fn on_connect_inter_reply(
        &mut self,
        now: Time,
        c: InterConnect,
        result: Result<Response, CallError>,
    ) {
        let Some(l) = self.leading_mut() else { return };
        let outcome = match result {
            Ok(Response::Connect(ConnectReply {
                accepted,
                referrals,
            })) => Some((accepted, referrals)),
            _ => None,
        };
        let accepted = outcome.as_ref().is_some_and(|(a, _)| *a);
        let mut added = None;
        if accepted {
            let n = l.inter.entry(c.group).or_insert_with(|| {
                added = Some(c.rtt);
                Neighbor {
                    leader: c.leader.clone(),
                    successors: Vec::new(),
                    rtt: c.rtt,
                    random: c.random,
                    member_count: 0,
                    opened: c.opened,
                }
            });
            n.leader = c.leader.clone();
        } else if !c.search && !c.random {
            // Re-linking after a succession failed: find that group's current leader.
            if l.inter.contains_key(&c.group) {
                self.replace(now, c.group);
            }
        }
        if let Some(rtt) = added {
            self.events.push_back(Event::NeighborAdded {
                group: c.group,
                rtt,
            });
            self.check_merge_soon(c.group, &c.leader, rtt);
        }
        if accepted && c.replaces.is_some() {
            // A link taken over in a merge: the rendezvous must see it before it recomputes
            // the components without the merged group.
            self.announce_soon();
        }
        if c.random
            && c.replaces.is_none()
            && let Some(l) = self.leading_mut()
        {
            l.search.random_pending = false;
            if let Some(b) = l.search.bridge.as_mut()
                && b.pending == 0
                && b.trying == Some(c.group)
            {
                b.trying = None;
                if accepted {
                    l.search.bridge = None;
                    // Tell the rendezvous at once, so that it stops counting this part as
                    // cut off (or hands out another bridge if this one closes again).
                    self.announce_soon();
                } else {
                    self.try_next_bridge();
                }
            }
        }
        if c.search {
            if let Some(s) = self.leading_mut().and_then(|l| l.search.current.as_mut()) {
                s.on_connect(c.group, outcome);
            }
            self.drive_search(now);
        }
    }

    /// After a succession: tell every neighbour group who leads this group now [0064].
    pub(super) fn relink_neighbors(&mut self) {
        let Some(l) = self.leading_mut() else { return };
        let links: Vec<InterConnect> = l
            .inter
            .iter()
            .map(|(g, n)| InterConnect {
                group: *g,
                leader: n.leader.clone(),
                rtt: n.rtt,
                random: n.random,
                search: false,
                replaces: None,
                opened: n.opened,
            })
            .collect();
        for c in links {
            self.connect_inter(c);
        }
    }
}

/// The measured RTT when the probed peer answered as the leader of `group`: only then is it
/// worth an inter-group link to that group.
pub(super) fn rtt_if_leads(
    result: Option<(Duration, &MeasureReply)>,
    group: GroupId,
) -> Option<Duration> {
    result.and_then(|(rtt, r)| {
        r.group
            .as_ref()
            .filter(|v| v.group_id == group && v.leader.id == r.responder.id)
            .map(|_| rtt)
    })
}
