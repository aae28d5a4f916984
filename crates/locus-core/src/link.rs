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
    /// Connections this search opened.
    pub(crate) connected: usize,
    /// An improvement round: look for one group closer than `radius`, then stop.
    pub(crate) improve: bool,
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
            connected: 0,
            improve: false,
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
            self.phase = Phase::Done;
            return Vec::new();
        };
        if let Some(c) = self.candidates.get_mut(&group) {
            c.tried = true;
        }
        self.phase = Phase::Connecting(group);
        vec![Action::Connect { group, leader, rtt }]
    }
}
