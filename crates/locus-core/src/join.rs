//! The join walk of Figure 10 [0044]–[0054], as a sub-machine that only decides.
//!
//! A [`Walk`] holds the candidate groups, the measurement cache and the locality tests done so
//! far; the peer feeds it results and carries out the [`Action`]s it returns. The same walk
//! serves a leader checking whether its group should merge into a neighbour (DESIGN §3): then
//! it starts from that one group and may test only it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::id::{GroupId, PeerId, PeerRef};
use crate::message::{GroupView, LandmarkRtt, MAX_LANDMARKS, MeasureReply, NeighborsReply};
use crate::time::Time;

/// What a walk asks its peer to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Measure the RTT to this peer (a group leader) and report it with [`Walk::on_measured`].
    /// With [`Limits::one_sample`] this is one sample: it ranks the candidate, and a decision
    /// that rests on it asks for [`Action::Confirm`] first.
    Measure(PeerRef),
    /// Take the rest of a measurement's samples of this peer, whose one sample was `rtt`, and
    /// report the least with [`Walk::on_measured`] (docs/decisions.md, "One sample ranks, a
    /// decision takes them all").
    Confirm { peer: PeerRef, rtt: Duration },
    /// Ask this leader for its neighbour groups and report with [`Walk::on_neighbors`].
    Query { group: GroupId, leader: PeerRef },
    /// The group passed the locality test: enter it through its leader.
    Enter { group: GroupId, leader: PeerRef },
    /// No group passed: found a new group. `nearest` lists the groups measured, closest first.
    Found { nearest: Vec<Measured> },
    /// Ask the rendezvous for the groups nearest by these RTTs to its landmark groups, and
    /// report the list with [`Walk::on_boot_list`] (docs/decisions.md, "Joins that start
    /// near").
    AskNear(Vec<LandmarkRtt>),
}

/// Where a walk stands with the rendezvous' landmark groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Near {
    /// The walk does not ask for the groups nearest its landmark RTTs.
    Off,
    /// It will ask once the rendezvous' first boot list is measured.
    Pending,
    /// It asked, or decided it need not.
    Asked,
}

/// A group whose leader the walk measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measured {
    pub(crate) group: GroupId,
    pub(crate) leader: PeerRef,
    pub(crate) rtt: Duration,
}

/// The outcome of one locality test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every supplied distance matched within the threshold (and the guard held).
    Local,
    /// The leader is farther than the leader-distance guard allows.
    LeaderTooFar,
    /// At least one neighbour's supplied and measured distances differ by the threshold or more.
    Mismatch,
    /// Fewer neighbours than [`MIN_MEASURED_SHARE`] answered the caller: no evidence either way.
    TooFewAnswered,
}

/// The locality test of [0050]: a group is in the caller's locality when, for every neighbour
/// group, the distance the group supplied and the distance the caller measured differ by less
/// than `threshold`. Neighbours the caller could not reach are left out of the comparison, but
/// at least half of the neighbours must have answered ([`MIN_MEASURED_SHARE`]): a group whose
/// neighbours mostly did not answer (stale leaders, a partition, addresses that lead nowhere)
/// has given no evidence of where it is, and an unreachable neighbour must not be a way to pass.
///
/// Two checks on the direct distance to the leader come first (DESIGN §3, each a switch):
/// `max_leader_rtt`, the leader-distance guard — without it a group with no neighbours passes
/// any peer; and `direct_rtt` — a leader closer than that is local outright: by the triangle
/// inequality no supplied distance can then differ by more than the RTT to the leader, so a
/// mismatch could only be measurement noise (docs/protocol.md, "The locality test").
pub fn locality_test(
    threshold: Duration,
    max_leader_rtt: Option<Duration>,
    direct_rtt: Option<Duration>,
    leader_rtt: Duration,
    pairs: impl IntoIterator<Item = (Duration, Option<Duration>)>,
) -> Verdict {
    if max_leader_rtt.is_some_and(|max| leader_rtt > max) {
        return Verdict::LeaderTooFar;
    }
    if direct_rtt.is_some_and(|direct| leader_rtt < direct) {
        return Verdict::Local;
    }
    let (mut total, mut answered) = (0usize, 0usize);
    let all_close = pairs.into_iter().all(|(supplied, measured)| {
        total += 1;
        match measured {
            Some(m) => {
                answered += 1;
                supplied.abs_diff(m) < threshold
            }
            None => true,
        }
    });
    if !all_close {
        Verdict::Mismatch
    } else if answered * MIN_MEASURED_SHARE.1 < total * MIN_MEASURED_SHARE.0 {
        Verdict::TooFewAnswered
    } else {
        Verdict::Local
    }
}

/// The neighbour-scaled guard (docs/decisions.md, "Locality that holds at scale"): a group's
/// locality reaches at most `share` of the way from its leader to its nearest neighbour group,
/// by the distances the leader supplied, never less than the direct pass and never more than
/// `max_leader_rtt`. With `share` ½, a peer that passes is closer to this group's leader than
/// to any neighbour's (triangle inequality). A fixed guard cannot tell two metros 10 ms apart
/// from one metro where groups lie 30 ms apart; the neighbour distances can. `share` 0 (off)
/// or a group with no neighbours leaves `max_leader_rtt` as it is. `exclude`d groups (a
/// merging leader's own) are left out of the distances.
pub fn neighbor_guard(
    share: f64,
    max_leader_rtt: Option<Duration>,
    direct_rtt: Option<Duration>,
    supplied: impl IntoIterator<Item = Duration>,
) -> Option<Duration> {
    if share <= 0.0 {
        return max_leader_rtt;
    }
    let Some(nearest) = supplied.into_iter().min() else {
        return max_leader_rtt;
    };
    let scaled = nearest.mul_f64(share).max(direct_rtt.unwrap_or_default());
    Some(max_leader_rtt.map_or(scaled, |max| scaled.min(max)))
}

/// The least share of a group's neighbours (numerator, denominator) that must have answered
/// the caller's probes for the locality test to pass on them (docs/decisions.md).
pub const MIN_MEASURED_SHARE: (usize, usize) = (1, 2);

/// The walk's parameters, taken from [`crate::Config`].
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) threshold: Duration,
    pub(crate) max_leader_rtt: Option<Duration>,
    pub(crate) direct_rtt: Option<Duration>,
    /// The neighbour-scaled guard ([`crate::Config::neighbor_guard_share`]; 0 is off).
    pub(crate) neighbor_share: f64,
    /// Measure only what can change the walk's next step ([`crate::Config::prune_walk_probes`]).
    pub(crate) prune: bool,
    /// A [`Action::Measure`] takes one sample, and what decides a test is confirmed
    /// ([`crate::Config::rank_on_one_sample`]).
    pub(crate) one_sample: bool,
    pub(crate) max_tested: u32,
    pub(crate) deadline: Time,
}

#[derive(Debug, Clone)]
struct Candidate {
    leader: PeerRef,
    tested: bool,
    /// A lower bound on the RTT to `leader` by the triangle inequality: the distance a
    /// measured leader supplied for it less the RTT to that leader (zero when unknown).
    bound: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for boot lists.
    Booting { pending: usize },
    /// Measuring candidates, then choosing one.
    Selecting,
    /// Waiting for a leader's neighbour list.
    Querying(GroupId),
    /// Waiting for the measurements a locality test needs.
    Testing {
        group: GroupId,
        supplied: Vec<(GroupId, PeerRef, Duration)>,
    },
    /// Entering a group that passed.
    Entering(GroupId),
    /// Over: entered, or decided to found.
    Done,
}

/// One join walk.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    limits: Limits,
    candidates: BTreeMap<GroupId, Candidate>,
    /// The measurement cache of the whole walk [0049]: `None` marks a peer that did not answer.
    /// A peer in here is never probed again.
    measured: BTreeMap<PeerId, Option<Duration>>,
    /// Measurements asked for and not yet reported.
    in_flight: BTreeSet<PeerId>,
    /// Peers measured with every sample (all of them, without [`Limits::one_sample`]): only
    /// these RTTs may fail a locality test.
    confirmed: BTreeSet<PeerId>,
    /// Groups this walk must not enter (the walker's own group, when merging).
    excluded: BTreeSet<GroupId>,
    tested: u32,
    phase: Phase,
    /// Everything worth measuring is in flight and nothing else changed since: [`Walk::next`]
    /// has nothing to do until the last measurement reports. Saves rescanning every candidate
    /// on each reply, which made a walk quadratic in its candidates.
    waiting: bool,
    near: Near,
    /// The groups of the rendezvous' first boot list, which starts with its landmarks: the
    /// RTTs to them place the walker ([`Walk::landmark_rtts`]). Lists from peers are left out.
    boot_groups: BTreeSet<GroupId>,
}

impl Walk {
    /// A walk that first waits for `boot_requests` boot lists.
    pub(crate) fn new(limits: Limits, boot_requests: usize) -> Self {
        Walk {
            limits,
            candidates: BTreeMap::new(),
            measured: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            confirmed: BTreeSet::new(),
            excluded: BTreeSet::new(),
            tested: 0,
            waiting: false,
            near: Near::Off,
            boot_groups: BTreeSet::new(),
            phase: if boot_requests == 0 {
                Phase::Selecting
            } else {
                Phase::Booting {
                    pending: boot_requests,
                }
            },
        }
    }

    /// Once the rendezvous' first boot list is measured, ask it for the groups nearest by the
    /// RTTs to that list's groups ([`Action::AskNear`]) — unless one of them is within the
    /// direct pass.
    pub(crate) fn ask_near(&mut self) {
        self.near = Near::Pending;
    }

    /// The RTTs measured to the groups of the rendezvous' first boot list, by group (at most
    /// [`MAX_LANDMARKS`]): where the walker is, for the rendezvous' `nearest`.
    pub(crate) fn landmark_rtts(&self) -> Vec<LandmarkRtt> {
        self.boot_groups
            .iter()
            .filter_map(|g| {
                let rtt = self.candidates.get(g).and_then(|c| self.rtt(&c.leader))?;
                Some(LandmarkRtt { group: *g, rtt })
            })
            .take(MAX_LANDMARKS)
            .collect()
    }

    /// Never enter `group` (a merging leader's own group).
    pub(crate) fn exclude(&mut self, group: GroupId) {
        self.waiting = false;
        self.excluded.insert(group);
        self.candidates.remove(&group);
    }

    /// Groups tested so far.
    pub(crate) fn tested(&self) -> u32 {
        self.tested
    }

    /// Whether the walk is waiting for `group`'s neighbour list.
    pub(crate) fn is_querying(&self, group: GroupId) -> bool {
        self.phase == Phase::Querying(group)
    }

    /// Whether the walk is entering `group`.
    pub(crate) fn is_entering(&self, group: GroupId) -> bool {
        self.phase == Phase::Entering(group)
    }

    /// Adds groups to the candidates: from a boot list, a merge target or a neighbour list.
    pub(crate) fn add_candidates(&mut self, views: impl IntoIterator<Item = (GroupId, PeerRef)>) {
        self.waiting = false;
        for (group, leader) in views {
            if self.excluded.contains(&group) {
                continue;
            }
            self.candidates.entry(group).or_insert(Candidate {
                leader,
                tested: false,
                bound: Duration::ZERO,
            });
        }
    }

    /// Adds the neighbours a measured leader supplied, each with the lower bound on its RTT
    /// that the supplied distance and the RTT to that leader give.
    fn add_supplied(&mut self, via: Option<Duration>, supplied: &[(GroupId, PeerRef, Duration)]) {
        self.waiting = false;
        for (group, leader, d) in supplied {
            if self.excluded.contains(group) {
                continue;
            }
            let bound = via.map_or(Duration::ZERO, |r| d.saturating_sub(r));
            let c = self.candidates.entry(*group).or_insert(Candidate {
                leader: leader.clone(),
                tested: false,
                bound,
            });
            if c.leader.id == leader.id {
                c.bound = c.bound.max(bound);
            }
        }
    }

    /// One boot list arrived (or failed: `None`); `from_rendezvous` when the rendezvous sent
    /// it, whose first list starts with its landmark groups.
    pub(crate) fn on_boot_list(&mut self, list: Option<Vec<GroupView>>, from_rendezvous: bool) {
        self.waiting = false;
        if let Some(list) = list {
            if from_rendezvous
                && self.near != Near::Asked
                && matches!(self.phase, Phase::Booting { .. })
            {
                self.boot_groups.extend(list.iter().map(|v| v.group_id));
            }
            self.add_candidates(list.into_iter().map(|v| (v.group_id, v.leader)));
        }
        if let Phase::Booting { pending } = &mut self.phase {
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                self.phase = Phase::Selecting;
            }
        }
    }

    /// A measurement finished: `None` if the peer did not answer.
    ///
    /// The reply says which group the responder leads now; a leader that has stepped down is
    /// replaced in the candidates by the leader it names, which must itself be measured before
    /// it is trusted (DESIGN §7).
    pub(crate) fn on_measured(
        &mut self,
        peer: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        self.in_flight.remove(&peer.id);
        // A second report of a peer is its confirmation: every sample, and the least counts
        // (the first sample too, should the confirmation have shared another measurement).
        let first = match self.measured.get(&peer.id) {
            Some(first) => {
                self.confirmed.insert(peer.id);
                *first
            }
            None => {
                if !self.limits.one_sample {
                    self.confirmed.insert(peer.id);
                }
                None
            }
        };
        let rtt = result.map(|(rtt, _)| first.map_or(rtt, |f| f.min(rtt)));
        self.measured.insert(peer.id, rtt);
        let Some((_, reply)) = result else { return };
        // Which group does the responder lead? Fix up candidates that named it.
        let leads = reply
            .group
            .as_ref()
            .filter(|g| g.leader.id == reply.responder.id)
            .map(|g| g.group_id);
        let stale: Vec<GroupId> = self
            .candidates
            .iter()
            .filter(|(g, c)| c.leader.id == peer.id && Some(**g) != leads)
            .map(|(g, _)| *g)
            .collect();
        if !stale.is_empty() {
            self.waiting = false;
        }
        for g in stale {
            // The peer no longer leads g: follow its hint if it is in g, else drop g.
            match reply.group.as_ref().filter(|v| v.group_id == g) {
                Some(v) if self.measured.get(&v.leader.id) != Some(&None) => {
                    if let Some(c) = self.candidates.get_mut(&g) {
                        c.leader = v.leader.clone();
                    }
                }
                _ => {
                    self.candidates.remove(&g);
                }
            }
        }
        if let Some(g) = leads
            && !self.excluded.contains(&g)
            && !self.candidates.contains_key(&g)
        {
            self.waiting = false;
            self.candidates.insert(
                g,
                Candidate {
                    leader: reply.responder.clone(),
                    tested: false,
                    bound: Duration::ZERO,
                },
            );
        }
    }

    /// A leader's neighbour list arrived for the group being queried (`None`: the call failed).
    pub(crate) fn on_neighbors(&mut self, group: GroupId, reply: Option<NeighborsReply>) {
        if self.phase != Phase::Querying(group) {
            return;
        }
        self.waiting = false;
        let Some(reply) = reply.filter(|r| r.group.group_id == group) else {
            // The leader vanished or leads something else now: drop the group.
            self.candidates.remove(&group);
            self.phase = Phase::Selecting;
            return;
        };
        let supplied: Vec<(GroupId, PeerRef, Duration)> = reply
            .neighbors
            .into_iter()
            .filter(|n| n.group_id != group)
            .map(|n| (n.group_id, n.leader, n.rtt))
            .collect();
        let via = self
            .candidates
            .get(&group)
            .and_then(|c| self.rtt(&c.leader));
        self.add_supplied(via, &supplied);
        self.phase = Phase::Testing { group, supplied };
    }

    /// Entering `group` failed. `redirect` names the leader the old one pointed to, if any.
    pub(crate) fn on_enter_failed(&mut self, group: GroupId, redirect: Option<PeerRef>) {
        if self.phase != Phase::Entering(group) {
            return;
        }
        self.waiting = false;
        match redirect {
            // The group is still local; its new leader must be measured and the group retested.
            Some(leader) if !self.measured.contains_key(&leader.id) => {
                self.candidates.insert(
                    group,
                    Candidate {
                        leader,
                        tested: false,
                        bound: Duration::ZERO,
                    },
                );
            }
            _ => {
                self.candidates.remove(&group);
            }
        }
        self.phase = Phase::Selecting;
    }

    /// The walk entered its group.
    pub(crate) fn finish(&mut self) {
        self.phase = Phase::Done;
    }

    /// The groups measured so far, closest first.
    pub(crate) fn nearest(&self) -> Vec<Measured> {
        let mut out: Vec<Measured> = self
            .candidates
            .iter()
            .filter_map(|(g, c)| {
                self.rtt(&c.leader).map(|rtt| Measured {
                    group: *g,
                    leader: c.leader.clone(),
                    rtt,
                })
            })
            .collect();
        out.sort_by_key(|m| (m.rtt, m.group));
        out
    }

    fn rtt(&self, peer: &PeerRef) -> Option<Duration> {
        self.measured.get(&peer.id).copied().flatten()
    }

    /// Decides what to do next. Call after every report; returns nothing while waiting.
    pub(crate) fn next(&mut self, now: Time) -> Vec<Action> {
        if self.waiting && !self.in_flight.is_empty() && now < self.limits.deadline {
            return Vec::new();
        }
        self.waiting = false;
        loop {
            match &self.phase {
                Phase::Booting { .. } | Phase::Querying(_) | Phase::Entering(_) | Phase::Done => {
                    return Vec::new();
                }
                Phase::Selecting => {
                    if now >= self.limits.deadline || self.tested >= self.limits.max_tested {
                        return self.found();
                    }
                    // With pruning, a candidate whose lower bound is no less than the closest
                    // measured untested one cannot be the next to test: leave it unmeasured.
                    let best = self.prune_bound();
                    let unmeasured = self.unmeasured(
                        self.candidates
                            .values()
                            .filter(|c| best.is_none_or(|b| c.bound < b))
                            .map(|c| c.leader.clone()),
                    );
                    if !unmeasured.is_empty() || !self.in_flight.is_empty() {
                        self.waiting = true;
                        return self.measure(unmeasured);
                    }
                    if self.near == Near::Pending {
                        self.near = Near::Asked;
                        let closest = self.nearest().first().map(|m| m.rtt);
                        let direct = self
                            .limits
                            .direct_rtt
                            .zip(closest)
                            .is_some_and(|(d, c)| c < d);
                        let landmarks = self.landmark_rtts();
                        if !direct && !landmarks.is_empty() {
                            self.phase = Phase::Booting { pending: 1 };
                            return vec![Action::AskNear(landmarks)];
                        }
                    }
                    let best = self
                        .candidates
                        .iter()
                        .filter(|(_, c)| !c.tested)
                        .filter_map(|(g, c)| {
                            self.rtt(&c.leader).map(|rtt| (rtt, *g, c.leader.clone()))
                        })
                        .min();
                    let Some((rtt, group, leader)) = best else {
                        return self.found();
                    };
                    if let Some(c) = self.candidates.get_mut(&group) {
                        c.tested = true;
                    }
                    self.phase = Phase::Querying(group);
                    // The leader's RTT may decide the test (the guard): its other samples go
                    // out beside the query, so that they cost no round trip of their own. One
                    // within the direct pass passes as it is.
                    let passes = self.limits.direct_rtt.is_some_and(|d| rtt < d);
                    let mut actions = vec![Action::Query {
                        group,
                        leader: leader.clone(),
                    }];
                    if self.limits.one_sample
                        && !passes
                        && !self.confirmed.contains(&leader.id)
                        && self.in_flight.insert(leader.id)
                    {
                        actions.push(Action::Confirm { peer: leader, rtt });
                    }
                    return actions;
                }
                Phase::Testing { group, supplied } => {
                    let group = *group;
                    // With pruning, a leader beyond the guard fails, and one within the direct
                    // pass passes, before its neighbours are measured: both need only the RTT
                    // to the leader and the supplied distances.
                    if self.limits.prune
                        && let Some(leader_rtt) = self
                            .candidates
                            .get(&group)
                            .and_then(|c| self.rtt(&c.leader))
                    {
                        let guard = neighbor_guard(
                            self.limits.neighbor_share,
                            self.limits.max_leader_rtt,
                            self.limits.direct_rtt,
                            supplied
                                .iter()
                                .filter(|(g, _, _)| !self.excluded.contains(g))
                                .map(|(_, _, d)| *d),
                        );
                        if guard.is_some_and(|max| leader_rtt > max) {
                            // One sample may be queued: it fails the group only once confirmed.
                            if let Some(wait) = self.confirm(&group) {
                                return wait;
                            }
                            self.tested += 1;
                            self.phase = Phase::Selecting;
                            continue;
                        }
                        // The direct pass needs no neighbour either.
                        if self.limits.direct_rtt.is_some_and(|d| leader_rtt < d) {
                            self.tested += 1;
                            let leader = self.candidates[&group].leader.clone();
                            self.phase = Phase::Entering(group);
                            return vec![Action::Enter { group, leader }];
                        }
                    }
                    let unmeasured = self.unmeasured(supplied.iter().map(|(_, l, _)| l.clone()));
                    if !unmeasured.is_empty() || !self.in_flight.is_empty() {
                        self.waiting = true;
                        return self.measure(unmeasured);
                    }
                    // The neighbours' RTTs decide the test: each takes every sample first.
                    let unconfirmed: Vec<(PeerRef, Duration)> = supplied
                        .iter()
                        .filter(|(_, l, _)| !self.confirmed.contains(&l.id))
                        .filter_map(|(_, l, _)| self.rtt(l).map(|rtt| (l.clone(), rtt)))
                        .collect();
                    if !unconfirmed.is_empty() {
                        return self.confirm_all(unconfirmed);
                    }
                    let Some(leader) = self.candidates.get(&group).map(|c| c.leader.clone()) else {
                        self.phase = Phase::Selecting;
                        continue;
                    };
                    let Some(leader_rtt) = self.rtt(&leader) else {
                        self.phase = Phase::Selecting;
                        continue;
                    };
                    let pairs: Vec<_> =
                        supplied.iter().map(|(_, l, d)| (*d, self.rtt(l))).collect();
                    let guard = neighbor_guard(
                        self.limits.neighbor_share,
                        self.limits.max_leader_rtt,
                        self.limits.direct_rtt,
                        supplied
                            .iter()
                            .filter(|(g, _, _)| !self.excluded.contains(g))
                            .map(|(_, _, d)| *d),
                    );
                    let verdict = locality_test(
                        self.limits.threshold,
                        guard,
                        self.limits.direct_rtt,
                        leader_rtt,
                        pairs,
                    );
                    if verdict == Verdict::LeaderTooFar
                        && let Some(wait) = self.confirm(&group)
                    {
                        return wait;
                    }
                    self.tested += 1;
                    if verdict == Verdict::Local {
                        self.phase = Phase::Entering(group);
                        return vec![Action::Enter { group, leader }];
                    }
                    self.phase = Phase::Selecting;
                }
            }
        }
    }

    /// With pruning on, the RTT of the closest measured untested candidate: candidates whose
    /// lower bound reaches it need no measurement yet. `None` (measure everything) otherwise.
    fn prune_bound(&self) -> Option<Duration> {
        if !self.limits.prune {
            return None;
        }
        self.candidates
            .values()
            .filter(|c| !c.tested)
            .filter_map(|c| self.rtt(&c.leader))
            .min()
    }

    fn unmeasured(&self, peers: impl Iterator<Item = PeerRef>) -> Vec<PeerRef> {
        let mut seen = BTreeSet::new();
        peers
            .filter(|p| !self.measured.contains_key(&p.id) && !self.in_flight.contains(&p.id))
            .filter(|p| seen.insert(p.id))
            .collect()
    }

    /// Confirms the RTT to `group`'s leader before it fails the group: `None` when it is
    /// confirmed (or cannot be), else what to wait for.
    fn confirm(&mut self, group: &GroupId) -> Option<Vec<Action>> {
        let leader = self.candidates.get(group)?.leader.clone();
        if self.confirmed.contains(&leader.id) {
            return None;
        }
        let rtt = self.rtt(&leader)?;
        Some(self.confirm_all(vec![(leader, rtt)]))
    }

    fn confirm_all(&mut self, peers: Vec<(PeerRef, Duration)>) -> Vec<Action> {
        self.waiting = true;
        peers
            .into_iter()
            .filter(|(p, _)| self.in_flight.insert(p.id))
            .map(|(peer, rtt)| Action::Confirm { peer, rtt })
            .collect()
    }

    fn measure(&mut self, peers: Vec<PeerRef>) -> Vec<Action> {
        for p in &peers {
            self.in_flight.insert(p.id);
        }
        peers.into_iter().map(Action::Measure).collect()
    }

    fn found(&mut self) -> Vec<Action> {
        self.phase = Phase::Done;
        vec![Action::Found {
            nearest: self.nearest(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn difference_exactly_at_threshold_fails() {
        let t = ms(10);
        assert_eq!(
            locality_test(t, None, None, ms(1), [(ms(50), Some(ms(60)))]),
            Verdict::Mismatch
        );
        assert_eq!(
            locality_test(
                t,
                None,
                None,
                ms(1),
                [(ms(50), Some(ms(59) + Duration::from_micros(999)))]
            ),
            Verdict::Local
        );
        assert_eq!(
            locality_test(t, None, None, ms(1), [(ms(60), Some(ms(50)))]),
            Verdict::Mismatch
        );
    }

    #[test]
    fn group_without_neighbours_passes_any_peer_unless_guarded() {
        let far = ms(250);
        assert_eq!(locality_test(ms(10), None, None, far, []), Verdict::Local);
        assert_eq!(
            locality_test(ms(10), Some(ms(20)), None, far, []),
            Verdict::LeaderTooFar
        );
        assert_eq!(
            locality_test(ms(10), Some(ms(20)), None, ms(3), []),
            Verdict::Local
        );
    }

    #[test]
    fn a_leader_within_the_direct_distance_is_local_despite_noisy_neighbours() {
        let noisy = [(ms(80), Some(ms(120)))];
        assert_eq!(
            locality_test(ms(10), Some(ms(20)), Some(ms(5)), ms(1), noisy),
            Verdict::Local
        );
        assert_eq!(
            locality_test(ms(10), Some(ms(20)), Some(ms(5)), ms(5), noisy),
            Verdict::Mismatch
        );
        assert_eq!(
            locality_test(ms(10), Some(ms(20)), None, ms(1), noisy),
            Verdict::Mismatch
        );
    }

    #[test]
    fn a_group_whose_neighbours_mostly_did_not_answer_does_not_pass() {
        // One of three answered: not enough evidence, whatever the one says.
        assert_eq!(
            locality_test(
                ms(10),
                None,
                None,
                ms(1),
                [(ms(80), None), (ms(90), None), (ms(40), Some(ms(41)))]
            ),
            Verdict::TooFewAnswered
        );
        // Unreachable neighbours are no way to pass: all unanswered fails.
        assert_eq!(
            locality_test(ms(10), None, None, ms(1), [(ms(80), None)]),
            Verdict::TooFewAnswered
        );
    }

    #[test]
    fn unreachable_neighbours_are_left_out() {
        assert_eq!(
            locality_test(
                ms(10),
                None,
                None,
                ms(1),
                [(ms(80), None), (ms(40), Some(ms(45)))]
            ),
            Verdict::Local
        );
    }

    /// The mechanism behind groups that spanned metros at scale: a leader in metro A whose
    /// neighbours lie in other metros, and a peer from metro B next to A (11 ms from A's
    /// leader). Every metro pair pays the same 10 ms exit cost, which cancels out of each
    /// supplied-minus-measured difference, so the test passes and the fixed 20 ms guard lets
    /// the peer in. The neighbour-scaled guard keeps it out: it is farther from A's leader
    /// than half the way to A's nearest neighbour group.
    #[test]
    fn a_peer_of_the_next_metro_passes_the_fixed_guard_but_not_the_neighbour_scaled_one() {
        // Supplied by A's leader / measured by the peer in B.
        let pairs = [
            (ms(11), Some(ms(3))),  // a group in metro B itself
            (ms(14), Some(ms(12))), // metro C
            (ms(25), Some(ms(23))), // metro D
            (ms(31), Some(ms(34))), // metro E
        ];
        let leader_rtt = ms(11);
        let fixed = neighbor_guard(0.0, Some(ms(20)), Some(ms(5)), pairs.iter().map(|p| p.0));
        assert_eq!(fixed, Some(ms(20)));
        assert_eq!(
            locality_test(ms(10), fixed, Some(ms(5)), leader_rtt, pairs),
            Verdict::Local
        );
        let scaled = neighbor_guard(0.5, Some(ms(20)), Some(ms(5)), pairs.iter().map(|p| p.0));
        assert_eq!(scaled, Some(Duration::from_micros(5_500)));
        assert_eq!(
            locality_test(ms(10), scaled, Some(ms(5)), leader_rtt, pairs),
            Verdict::LeaderTooFar
        );
        // A peer of metro A itself still passes, directly.
        assert_eq!(
            locality_test(ms(10), scaled, Some(ms(5)), ms(2), pairs),
            Verdict::Local
        );
    }

    #[test]
    fn the_neighbour_scaled_guard_stays_between_the_direct_pass_and_the_fixed_guard() {
        // Neighbours far away (a remote group): the fixed guard bounds it.
        assert_eq!(
            neighbor_guard(0.5, Some(ms(20)), Some(ms(5)), [ms(120), ms(200)]),
            Some(ms(20))
        );
        // A neighbour next door: never below the direct pass.
        assert_eq!(
            neighbor_guard(0.5, Some(ms(20)), Some(ms(5)), [ms(2), ms(200)]),
            Some(ms(5))
        );
        // No neighbours, or the switch off: the fixed guard as it is.
        assert_eq!(neighbor_guard(0.5, Some(ms(20)), None, []), Some(ms(20)));
        assert_eq!(neighbor_guard(0.0, None, None, [ms(12)]), None);
        assert_eq!(neighbor_guard(0.5, None, None, [ms(12)]), Some(ms(6)));
    }

    mod walks {
        use super::super::*;
        use crate::id::{GroupId, PeerId};
        use crate::message::NeighborGroup;
        use uuid::Uuid;

        fn peer(n: u128) -> PeerRef {
            PeerRef::new(PeerId(Uuid::from_u128(n)), format!("p{n}"))
        }
        fn group(n: u128) -> GroupId {
            GroupId(Uuid::from_u128(1000 + n))
        }
        fn view(n: u128) -> GroupView {
            GroupView {
                group_id: group(n),
                epoch: 1,
                leader: peer(n),
                successors: vec![],
                member_count: 1,
            }
        }
        fn reply(n: u128) -> MeasureReply {
            MeasureReply {
                responder: peer(n),
                group: Some(view(n)),
            }
        }
        fn limits(max_tested: u32, deadline_s: u64) -> Limits {
            Limits {
                threshold: Duration::from_millis(10),
                max_leader_rtt: Some(Duration::from_millis(20)),
                direct_rtt: None,
                neighbor_share: 0.0,
                prune: false,
                one_sample: false,
                max_tested,
                deadline: Time::from_micros(deadline_s * 1_000_000),
            }
        }

        /// Answers every measurement with `rtt(n)` and every query with one far neighbour
        /// whose supplied distance disagrees with the measured one, so every test fails.
        fn run(walk: &mut Walk, now: Time, rtt: impl Fn(u128) -> u64) -> (u32, Vec<Action>) {
            let mut queries = 0;
            let mut actions = walk.next(now);
            for _ in 0..1000 {
                let mut next = Vec::new();
                for a in actions {
                    match a {
                        Action::Measure(p) => {
                            let n = p.id.0.as_u128();
                            walk.on_measured(&p, Some((Duration::from_millis(rtt(n)), &reply(n))));
                        }
                        Action::Query { group: g, leader } => {
                            queries += 1;
                            let n = leader.id.0.as_u128();
                            let far = n + 100;
                            let neighbors = vec![NeighborGroup {
                                group_id: group(far),
                                leader: peer(far),
                                successors: vec![],
                                rtt: Duration::from_millis(500),
                            }];
                            walk.on_neighbors(
                                g,
                                Some(NeighborsReply {
                                    group: view(n),
                                    neighbors,
                                }),
                            );
                        }
                        done => return (queries, vec![done]),
                    }
                    next.extend(walk.next(now));
                }
                actions = next;
                if actions.is_empty() {
                    actions = walk.next(now);
                }
            }
            panic!("walk did not finish");
        }

        #[test]
        fn walk_stops_after_max_tested_groups_and_founds_next_to_the_closest() {
            let mut walk = Walk::new(limits(3, 10), 1);
            walk.on_boot_list(Some((1..=6).map(view).collect()), true);
            // Leaders are 2n ms away; their far neighbours 100 ms, supplied as 500 ms.
            let (queries, actions) = run(&mut walk, Time::ZERO, |n| {
                if n > 100 { 100 } else { 2 * n as u64 }
            });
            assert_eq!(queries, 3, "exactly max_tested_groups groups were tested");
            assert_eq!(walk.tested(), 3);
            let [Action::Found { nearest }] = actions.as_slice() else {
                panic!("{actions:?}")
            };
            assert_eq!(
                nearest[0].group,
                group(1),
                "the closest group is the first neighbour"
            );
            assert_eq!(nearest[0].rtt, Duration::from_millis(2));
        }

        /// Leaders 1 and 2 are 30 and 40 ms away, beyond the 20 ms guard; each supplies one
        /// neighbour 500 ms from it. Returns the peers measured and the walk's outcome.
        fn walk_beyond_the_guard(prune: bool) -> (Vec<u128>, Vec<Action>) {
            let mut walk = Walk::new(
                Limits {
                    prune,
                    ..limits(2, 10)
                },
                1,
            );
            walk.on_boot_list(Some(vec![view(1), view(2)]), true);
            let measured = std::cell::RefCell::new(Vec::new());
            let (queries, actions) = run(&mut walk, Time::ZERO, |n| {
                measured.borrow_mut().push(n);
                match n {
                    1 => 30,
                    2 => 40,
                    _ => 100,
                }
            });
            assert_eq!(queries, 2, "both groups are tested, pruned or not");
            let mut measured = measured.into_inner();
            measured.sort_unstable();
            (measured, actions)
        }

        #[test]
        fn a_pruned_walk_measures_neither_the_neighbours_of_a_leader_beyond_the_guard_nor_far_candidates()
         {
            let (all, found_all) = walk_beyond_the_guard(false);
            assert_eq!(all, vec![1, 2, 101, 102]);
            let (pruned, found_pruned) = walk_beyond_the_guard(true);
            assert_eq!(
                pruned,
                vec![1, 2],
                "the 500 ms neighbours are at least 460 ms away: never the next to test"
            );
            for actions in [found_all, found_pruned] {
                let [Action::Found { nearest }] = actions.as_slice() else {
                    panic!("{actions:?}")
                };
                assert_eq!(nearest[0].group, group(1), "founds next to the closest");
            }
        }

        #[test]
        fn walk_founds_when_the_deadline_has_passed() {
            let mut walk = Walk::new(limits(10, 1), 1);
            walk.on_boot_list(Some((1..=6).map(view).collect()), true);
            let (queries, actions) = run(&mut walk, Time::from_micros(1_000_000), |n| n as u64);
            assert_eq!(queries, 0, "nothing is tested after the deadline");
            assert!(
                matches!(actions.as_slice(), [Action::Found { .. }]),
                "{actions:?}"
            );
        }

        /// Measures every `Measure` action with `rtt(n)` ms, then returns the walk's next actions.
        fn measure_all(
            walk: &mut Walk,
            actions: Vec<Action>,
            rtt: impl Fn(u128) -> u64,
        ) -> Vec<Action> {
            for a in actions {
                let Action::Measure(p) = a else {
                    panic!("expected only measurements, got {a:?}")
                };
                let n = p.id.0.as_u128();
                walk.on_measured(&p, Some((Duration::from_millis(rtt(n)), &reply(n))));
            }
            walk.next(Time::ZERO)
        }

        fn near_limits() -> Limits {
            Limits {
                direct_rtt: Some(Duration::from_millis(5)),
                prune: true,
                one_sample: false,
                ..limits(10, 10)
            }
        }

        #[test]
        fn a_walk_sends_its_landmark_rtts_once_and_enters_the_near_group_it_measures() {
            let mut walk = Walk::new(near_limits(), 1);
            walk.ask_near();
            walk.on_boot_list(Some((1..=3).map(view).collect()), true);
            let actions = walk.next(Time::ZERO);
            // Landmarks 40, 80 and 120 ms away: none within the direct pass.
            let actions = measure_all(&mut walk, actions, |n| 40 * n as u64);
            let [Action::AskNear(near)] = actions.as_slice() else {
                panic!("{actions:?}")
            };
            let expected: Vec<LandmarkRtt> = (1..=3)
                .map(|n| LandmarkRtt {
                    group: group(n),
                    rtt: Duration::from_millis(40 * n as u64),
                })
                .collect();
            assert_eq!(near, &expected);
            assert_eq!(walk.landmark_rtts(), expected);
            // The rendezvous names two groups: 7 first (a forged position: its leader is
            // 90 ms away), then 8, 2 ms away. The walk trusts only what it measures.
            walk.on_boot_list(Some(vec![view(7), view(8)]), true);
            let actions = walk.next(Time::ZERO);
            let actions = measure_all(&mut walk, actions, |n| if n == 7 { 90 } else { 2 });
            let [Action::Query { group: g, .. }] = actions.as_slice() else {
                panic!("{actions:?}")
            };
            assert_eq!(
                *g,
                group(8),
                "the group measured nearest is tested, not the first listed"
            );
            walk.on_neighbors(
                *g,
                Some(NeighborsReply {
                    group: view(8),
                    neighbors: vec![],
                }),
            );
            let actions = walk.next(Time::ZERO);
            assert!(
                matches!(actions.as_slice(), [Action::Enter { group: g, .. }] if *g == group(8)),
                "{actions:?}"
            );
            assert_eq!(
                walk.landmark_rtts(),
                expected,
                "only the first boot list's groups place the walker"
            );
        }

        #[test]
        fn only_the_rendezvous_list_places_the_walker() {
            // Two boot sources: a peer's list (groups 4–5, its neighbours) and the
            // rendezvous' (groups 1–3, its landmarks). Only the second is sent as `near`.
            let mut walk = Walk::new(near_limits(), 2);
            walk.ask_near();
            walk.on_boot_list(Some(vec![view(4), view(5)]), false);
            walk.on_boot_list(Some((1..=3).map(view).collect()), true);
            let actions = walk.next(Time::ZERO);
            let actions = measure_all(&mut walk, actions, |n| 30 * n as u64);
            let [Action::AskNear(near)] = actions.as_slice() else {
                panic!("{actions:?}")
            };
            let groups: Vec<GroupId> = near.iter().map(|l| l.group).collect();
            assert_eq!(groups, vec![group(1), group(2), group(3)]);
        }

        #[test]
        fn a_landmark_within_the_direct_pass_needs_no_near_request() {
            let mut walk = Walk::new(near_limits(), 1);
            walk.ask_near();
            walk.on_boot_list(Some((1..=3).map(view).collect()), true);
            let actions = walk.next(Time::ZERO);
            let actions = measure_all(&mut walk, actions, |n| if n == 2 { 3 } else { 60 });
            assert!(
                matches!(actions.as_slice(), [Action::Query { group: g, .. }] if *g == group(2)),
                "{actions:?}"
            );
        }

        #[test]
        fn a_walk_not_asked_to_start_near_never_asks() {
            let mut walk = Walk::new(near_limits(), 1);
            walk.on_boot_list(Some((1..=3).map(view).collect()), true);
            let actions = walk.next(Time::ZERO);
            let actions = measure_all(&mut walk, actions, |n| 40 * n as u64);
            assert!(
                matches!(actions.as_slice(), [Action::Query { group: g, .. }] if *g == group(1)),
                "{actions:?}"
            );
        }

        #[test]
        fn walk_enters_the_first_group_that_passes() {
            let mut walk = Walk::new(limits(10, 10), 1);
            walk.on_boot_list(Some(vec![view(1), view(2)]), true);
            let actions = walk.next(Time::ZERO);
            let actions = measure_all(&mut walk, actions, |n| 3 * n as u64);
            let [Action::Query { group: g, .. }] = actions.as_slice() else {
                panic!("{actions:?}")
            };
            assert_eq!(*g, group(1), "closest first");
            walk.on_neighbors(
                *g,
                Some(NeighborsReply {
                    group: view(1),
                    neighbors: vec![],
                }),
            );
            let actions = walk.next(Time::ZERO);
            assert!(
                matches!(actions.as_slice(), [Action::Enter { group: g, .. }] if *g == group(1)),
                "{actions:?}"
            );
        }

        /// One sample per candidate (docs/decisions.md, "One sample ranks, a decision takes
        /// them all"): a guard of 20 ms, the direct pass 5 ms.
        fn one_sample_limits(prune: bool) -> Limits {
            Limits {
                direct_rtt: Some(Duration::from_millis(5)),
                prune,
                one_sample: true,
                ..limits(10, 10)
            }
        }

        fn neighbors(n: u128, of: &[(u128, u64)]) -> NeighborsReply {
            NeighborsReply {
                group: view(n),
                neighbors: of
                    .iter()
                    .map(|&(m, d)| NeighborGroup {
                        group_id: group(m),
                        leader: peer(m),
                        successors: vec![],
                        rtt: Duration::from_millis(d),
                    })
                    .collect(),
            }
        }

        fn measured(walk: &mut Walk, n: u128, ms: f64) {
            walk.on_measured(
                &peer(n),
                Some((Duration::from_secs_f64(ms / 1e3), &reply(n))),
            );
        }

        /// A walk whose one candidate, group 1, was measured at `ms`.
        fn one_leader_at(limits: Limits, ms: f64) -> Walk {
            let mut walk = Walk::new(limits, 1);
            walk.on_boot_list(Some(vec![view(1)]), true);
            let _ = walk.next(Time::ZERO);
            measured(&mut walk, 1, ms);
            walk
        }

        #[test]
        fn a_sample_that_would_fail_the_group_is_confirmed_first_and_its_least_counts() {
            for prune in [true, false] {
                let mut walk = Walk::new(one_sample_limits(prune), 1);
                walk.on_boot_list(Some(vec![view(1), view(2)]), true);
                let actions = walk.next(Time::ZERO);
                assert_eq!(
                    actions,
                    vec![Action::Measure(peer(1)), Action::Measure(peer(2))]
                );
                // Leader 1's one sample was queued: 30 ms, beyond the 20 ms guard. Leader 2
                // is 60 ms away.
                measured(&mut walk, 1, 30.0);
                measured(&mut walk, 2, 60.0);
                let actions = walk.next(Time::ZERO);
                assert_eq!(
                    actions,
                    vec![
                        Action::Query {
                            group: group(1),
                            leader: peer(1)
                        },
                        Action::Confirm {
                            peer: peer(1),
                            rtt: Duration::from_millis(30)
                        },
                    ],
                    "the nearest is tested, and its other samples go out with the query"
                );
                walk.on_neighbors(group(1), Some(neighbors(1, &[])));
                assert_eq!(
                    walk.next(Time::ZERO),
                    vec![],
                    "the group does not fail on one sample beyond the guard (prune {prune})"
                );
                // The confirmed least sample is 3 ms: the peer enters group 1.
                measured(&mut walk, 1, 3.0);
                assert_eq!(
                    walk.next(Time::ZERO),
                    vec![Action::Enter {
                        group: group(1),
                        leader: peer(1)
                    }],
                    "prune {prune}"
                );
                assert_eq!(walk.tested(), 1);
            }
        }

        #[test]
        fn a_confirmed_rtt_beyond_the_guard_fails_the_group() {
            let mut walk = Walk::new(one_sample_limits(true), 1);
            walk.on_boot_list(Some(vec![view(1)]), true);
            let actions = walk.next(Time::ZERO);
            assert_eq!(actions, vec![Action::Measure(peer(1))]);
            measured(&mut walk, 1, 30.0);
            let actions = walk.next(Time::ZERO);
            assert!(
                matches!(actions.as_slice(), [_, Action::Confirm { .. }]),
                "{actions:?}"
            );
            walk.on_neighbors(group(1), Some(neighbors(1, &[])));
            measured(&mut walk, 1, 29.0);
            let actions = walk.next(Time::ZERO);
            assert!(
                matches!(actions.as_slice(), [Action::Found { .. }]),
                "confirmed beyond the guard: no group passes, {actions:?}"
            );
        }

        /// The walk's one group 1 is queried alone (no confirmation beside the query) and
        /// answers with no neighbours; returns what the walk does next.
        fn queried_alone(walk: &mut Walk) -> Vec<Action> {
            assert_eq!(
                walk.next(Time::ZERO),
                vec![Action::Query {
                    group: group(1),
                    leader: peer(1)
                }]
            );
            walk.on_neighbors(group(1), Some(neighbors(1, &[])));
            walk.next(Time::ZERO)
        }

        #[test]
        fn a_leader_within_the_direct_pass_needs_no_confirmation() {
            // Queueing only adds to a sample: 3 ms confirmed could only be less.
            let mut walk = one_leader_at(one_sample_limits(true), 3.0);
            assert!(matches!(
                queried_alone(&mut walk).as_slice(),
                [Action::Enter { .. }]
            ));
        }

        #[test]
        fn the_neighbours_a_locality_test_compares_are_confirmed_before_the_verdict() {
            // Leader 1 is 8 ms away (within the guard, beyond the direct pass); it supplies
            // neighbour 2 at 10 ms. The neighbour's one sample, 40 ms, is queued: compared as
            // it is, it would fail the group (a 30 ms difference against a 10 ms threshold).
            let mut walk = one_leader_at(one_sample_limits(true), 8.0);
            let actions = walk.next(Time::ZERO);
            assert!(
                matches!(actions.as_slice(), [_, Action::Confirm { .. }]),
                "{actions:?}"
            );
            // A confirmation that shared another purpose's measurement and came back higher
            // leaves the least sample.
            measured(&mut walk, 1, 9.0);
            assert_eq!(walk.nearest()[0].rtt, Duration::from_millis(8));
            walk.on_neighbors(group(1), Some(neighbors(1, &[(2, 10)])));
            assert_eq!(walk.next(Time::ZERO), vec![Action::Measure(peer(2))]);
            measured(&mut walk, 2, 40.0);
            assert_eq!(
                walk.next(Time::ZERO),
                vec![Action::Confirm {
                    peer: peer(2),
                    rtt: Duration::from_millis(40)
                }]
            );
            measured(&mut walk, 2, 12.0);
            assert_eq!(
                walk.next(Time::ZERO),
                vec![Action::Enter {
                    group: group(1),
                    leader: peer(1)
                }],
                "the confirmed 12 ms matches the supplied 10 ms"
            );
        }

        #[test]
        fn without_one_sample_nothing_is_confirmed() {
            let mut walk = one_leader_at(near_limits(), 30.0);
            assert!(matches!(
                queried_alone(&mut walk).as_slice(),
                [Action::Found { .. }]
            ));
        }
    }
}
