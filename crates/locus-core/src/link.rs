//! Inter-group links: the neighbour search of Figure 11 [0055]–[0059] and the leader's
//! inter-group cache [0048].
//!
//! A [`Search`] starts from the groups a join walk measured (or from a boot list when a group
//! re-enters the procedure), connects to the closest candidate, asks its newest neighbour for
//! its neighbours, measures them, and repeats until the leader has its target, the candidates
//! run out, or every candidate lies beyond `inter_group_radius`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::id::{GroupId, PeerId, PeerRef};
use crate::message::{MeasureReply, NeighborsReply};

/// Inter-group links a group opens to the closest groups it finds whatever their distance:
/// the least the seed allows for a target [0057], so that a remote group is never cut off by
/// `inter_group_radius`.
pub(crate) const MIN_LINKS: usize = 2;

/// Neighbour lists a search asks for beyond its links' when no candidate is within reach: it
/// walks towards the closest group it measured, as the join walk does (Figure 10), instead of
/// ending where its neighbourhood ends.
pub(crate) const MAX_DESCENTS: u32 = 3;

/// A neighbour group in the leader's inter-group cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Neighbor {
    pub(crate) leader: PeerRef,
    pub(crate) successors: Vec<PeerRef>,
    pub(crate) rtt: Duration,
    /// Opened as a random link against partitions [0039], not for closeness.
    pub(crate) random: bool,
    /// Members of that group as last reported (for merge decisions).
    pub(crate) member_count: u32,
    /// This leader opened the link (rather than accepted it). Only links a leader opened
    /// itself are pruned when closer ones make them redundant.
    pub(crate) opened: bool,
}

/// What a search asks its peer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Measure this peer and report with [`Search::on_measured`].
    Measure(PeerRef),
    /// Open an inter-group connection and report with [`Search::on_connect`].
    Connect {
        group: GroupId,
        leader: PeerRef,
        rtt: Duration,
    },
    /// Ask this neighbour for its neighbours and report with [`Search::on_neighbors`].
    Query { group: GroupId, leader: PeerRef },
}

#[derive(Debug, Clone)]
struct Candidate {
    leader: PeerRef,
    tried: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Selecting,
    Connecting(GroupId),
    /// Just linked to this group: its neighbours are asked for next.
    Linked(GroupId),
    Querying(GroupId),
    Done,
}

/// One run of the procedure of Figure 11.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    own: GroupId,
    radius: Duration,
    candidates: BTreeMap<GroupId, Candidate>,
    measured: BTreeMap<PeerId, Option<Duration>>,
    in_flight: BTreeSet<PeerId>,
    /// Peers named by referrals whose group is not known until they are measured.
    unknown: Vec<PeerRef>,
    phase: Phase,
    /// Everything worth measuring is in flight and no candidate came since: [`Search::next`]
    /// waits for the last measurement instead of rescanning every candidate on each reply.
    waiting: bool,
    /// Groups whose neighbour lists this search asked for.
    queried: BTreeSet<GroupId>,
    /// Of those, asked for while no candidate was within reach (at most [`MAX_DESCENTS`]).
    descents: u32,
    /// Connections this search opened.
    pub(crate) connected: usize,
    /// An improvement round: look for one group closer than `radius`, then stop.
    pub(crate) improve: bool,
    /// The improvement round of a remote group (see `peer::search` on remote groups): the link
    /// it makes redundant goes even below target.
    pub(crate) remote: bool,
}

impl Search {
    /// A search for group `own`, seeded with groups already measured.
    pub(crate) fn new(
        own: GroupId,
        radius: Duration,
        seeds: impl IntoIterator<Item = (GroupId, PeerRef, Option<Duration>)>,
    ) -> Self {
        let mut s = Search {
            own,
            radius,
            candidates: BTreeMap::new(),
            measured: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            unknown: Vec::new(),
            phase: Phase::Selecting,
            waiting: false,
            queried: BTreeSet::new(),
            descents: 0,
            connected: 0,
            improve: false,
            remote: false,
        };
        for (group, leader, rtt) in seeds {
            if let Some(rtt) = rtt {
                s.measured.insert(leader.id, Some(rtt));
            }
            s.add(group, leader);
        }
        s
    }

    fn add(&mut self, group: GroupId, leader: PeerRef) {
        if group != self.own && !self.candidates.contains_key(&group) {
            self.waiting = false;
            self.candidates.insert(
                group,
                Candidate {
                    leader,
                    tried: false,
                },
            );
        }
    }

    /// Adds groups measured elsewhere (by a re-walk), with their RTTs.
    pub(crate) fn add_measured(
        &mut self,
        groups: impl IntoIterator<Item = (GroupId, PeerRef, Duration)>,
    ) {
        for (group, leader, rtt) in groups {
            if !self.candidates.contains_key(&group) {
                self.measured.entry(leader.id).or_insert(Some(rtt));
                self.add(group, leader);
            }
        }
    }

    /// Adds groups from a boot list.
    pub(crate) fn add_seeds(&mut self, seeds: impl IntoIterator<Item = (GroupId, PeerRef)>) {
        for (group, leader) in seeds {
            self.add(group, leader);
        }
    }

    /// Re-enters the procedure at step 1108: first ask neighbour `group` for its neighbours.
    pub(crate) fn resume_from(&mut self, group: GroupId) {
        if self.candidates.contains_key(&group) {
            self.phase = Phase::Linked(group);
        }
    }

    /// Whether the search has ended.
    pub(crate) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// A measurement finished (`None`: no answer).
    pub(crate) fn on_measured(
        &mut self,
        peer: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        if !self.in_flight.remove(&peer.id) {
            return;
        }
        self.measured.insert(peer.id, result.map(|(rtt, _)| rtt));
        if let Some((_, reply)) = result
            && let Some(view) = reply.group.as_ref()
        {
            if view.leader.id == reply.responder.id {
                self.add(view.group_id, reply.responder.clone());
            } else if let Some(c) = self.candidates.get_mut(&view.group_id) {
                // The group has another leader now: measure that one instead.
                if c.leader.id == peer.id && !self.measured.contains_key(&view.leader.id) {
                    c.leader = view.leader.clone();
                    self.waiting = false;
                }
            }
        }
    }

    /// The connection to `group` was accepted or refused (with referrals), or failed (`None`).
    pub(crate) fn on_connect(&mut self, group: GroupId, result: Option<(bool, Vec<PeerRef>)>) {
        if self.phase != Phase::Connecting(group) {
            return;
        }
        self.waiting = false;
        match result {
            Some((true, _)) => {
                self.connected += 1;
                // Figure 11, step 1108: ask the newest neighbour for its neighbours.
                self.phase = Phase::Linked(group);
                return;
            }
            Some((false, referrals)) => self.unknown.extend(referrals),
            None => {}
        }
        self.phase = Phase::Selecting;
    }

    /// The newest neighbour's neighbour list (`None`: the call failed).
    pub(crate) fn on_neighbors(&mut self, group: GroupId, reply: Option<NeighborsReply>) {
        if self.phase != Phase::Querying(group) {
            return;
        }
        self.waiting = false;
        if let Some(reply) = reply {
            for n in reply.neighbors {
                self.add(n.group_id, n.leader);
            }
        }
        self.phase = Phase::Selecting;
    }

    /// Decides the next step. `linked` holds the groups already linked; `wanted` is how many
    /// more links the leader needs.
    pub(crate) fn next(&mut self, linked: &BTreeSet<GroupId>, wanted: usize) -> Vec<Action> {
        if self.waiting && !self.in_flight.is_empty() && self.phase == Phase::Selecting {
            return Vec::new();
        }
        self.waiting = false;
        match self.phase {
            Phase::Selecting => {}
            Phase::Connecting(_) | Phase::Querying(_) | Phase::Done => return Vec::new(),
            Phase::Linked(group) => {
                let leader = self.candidates.get(&group).map(|c| c.leader.clone());
                if let (Some(leader), true) = (leader, wanted > 0) {
                    self.queried.insert(group);
                    self.phase = Phase::Querying(group);
                    return vec![Action::Query { group, leader }];
                }
                self.phase = Phase::Selecting;
            }
        }
        if wanted == 0 {
            self.phase = Phase::Done;
            return Vec::new();
        }
        let mut to_measure: Vec<PeerRef> = std::mem::take(&mut self.unknown);
        to_measure.extend(
            self.candidates
                .iter()
                .filter(|(g, c)| !c.tried && !linked.contains(g))
                .map(|(_, c)| c.leader.clone()),
        );
        let mut seen = BTreeSet::new();
        to_measure.retain(|p| {
            !self.measured.contains_key(&p.id)
                && !self.in_flight.contains(&p.id)
                && seen.insert(p.id)
        });
        if !to_measure.is_empty() || !self.in_flight.is_empty() {
            for p in &to_measure {
                self.in_flight.insert(p.id);
            }
            self.waiting = true;
            return to_measure.into_iter().map(Action::Measure).collect();
        }
        // The first links of a group are its way into the overlay [0057]: they go to the
        // closest groups found, however far; beyond them only groups within the radius.
        let radius = if linked.len() < MIN_LINKS && !self.improve {
            Duration::MAX
        } else {
            self.radius
        };
        let best = self
            .candidates
            .iter()
            .filter(|(g, c)| !c.tried && !linked.contains(g))
            .filter_map(|(g, c)| {
                let rtt = self.measured.get(&c.leader.id).copied().flatten()?;
                (rtt <= radius).then(|| (rtt, *g, c.leader.clone()))
            })
            .min();
        let Some((rtt, group, leader)) = best else {
            // Nothing within reach: ask the closest group measured for its neighbours, as the
            // join walk descends (Figure 10). A group whose links all lead far away (founded
            // before its locality had groups, or beside a group it never saw) finds its
            // locality this way instead of staying an island of far links.
            let closest = self
                .candidates
                .iter()
                .filter(|(g, _)| !self.queried.contains(g))
                .filter_map(|(g, c)| {
                    let rtt = self.measured.get(&c.leader.id).copied().flatten()?;
                    Some((rtt, *g, c.leader.clone()))
                })
                .min();
            match closest {
                Some((_, group, leader)) if self.descents < MAX_DESCENTS => {
                    self.descents += 1;
                    self.queried.insert(group);
                    self.phase = Phase::Querying(group);
                    return vec![Action::Query { group, leader }];
                }
                _ => {
                    self.phase = Phase::Done;
                    return Vec::new();
                }
            }
        };
        if let Some(c) = self.candidates.get_mut(&group) {
            c.tried = true;
        }
        self.phase = Phase::Connecting(group);
        vec![Action::Connect { group, leader, rtt }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PeerId;
    use crate::message::{GroupView, NeighborGroup};
    use uuid::Uuid;

    fn peer(n: u8) -> PeerRef {
        PeerRef::new(
            PeerId(Uuid::from_u128(u128::from(n) + 1)),
            format!("p{n}:1"),
        )
    }

    fn gid(n: u8) -> GroupId {
        GroupId(Uuid::from_u128(0x9000 + u128::from(n)))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_search_with_nothing_in_reach_walks_towards_the_closest_group() {
        // Linked to two far groups (1 at 100 ms, 2 at 200 ms); nothing within the radius.
        let seeds = [
            (gid(1), peer(1), Some(ms(100))),
            (gid(2), peer(2), Some(ms(200))),
        ];
        let linked: BTreeSet<GroupId> = [gid(1), gid(2)].into();
        let mut s = Search::new(gid(0), ms(50), seeds);
        let a = s.next(&linked, 1);
        assert_eq!(
            a,
            vec![Action::Query {
                group: gid(1),
                leader: peer(1)
            }],
            "it asks the closest group for its neighbours instead of giving up"
        );
        let view = |n| GroupView {
            group_id: gid(n),
            epoch: 1,
            leader: peer(n),
            successors: Vec::new(),
            member_count: 1,
        };
        s.on_neighbors(
            gid(1),
            Some(NeighborsReply {
                group: view(1),
                neighbors: vec![NeighborGroup {
                    group_id: gid(3),
                    leader: peer(3),
                    successors: Vec::new(),
                    rtt: ms(60),
                }],
            }),
        );
        assert_eq!(s.next(&linked, 1), vec![Action::Measure(peer(3))]);
        let reply = MeasureReply {
            responder: peer(3),
            group: Some(view(3)),
        };
        s.on_measured(&peer(3), Some((ms(150), &reply)));
        // Group 3 is still out of reach but closer than group 2: the walk goes on from it.
        assert_eq!(
            s.next(&linked, 1),
            vec![Action::Query {
                group: gid(3),
                leader: peer(3)
            }]
        );
        s.on_neighbors(gid(3), None);
        // Group 2 is the only one left to ask; then the budget or the candidates end it.
        let mut queries = 0;
        while let [Action::Query { group, .. }] = s.next(&linked, 1).as_slice() {
            queries += 1;
            s.on_neighbors(*group, None);
        }
        assert!(queries <= 1);
        assert!(s.is_done());
    }
}
