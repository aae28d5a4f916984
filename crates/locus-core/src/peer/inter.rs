//! Inter-group maintenance: Figure 11's neighbour search, the random link [0039],
//! re-measurement and leader replacement [0048], rendezvous announcements, and group merge.

use std::collections::BTreeSet;
use std::time::Duration;

use super::state::{
    Bridge, CheckFor, GroupRole, InterConnect, ProbeFor, Purpose, Replacing, State,
};
use super::{Peer, Timer};
use crate::event::Event;
use crate::id::{GroupId, PeerRef};
use crate::join::Measured;
use crate::link::{Action, MIN_LINKS, Neighbor, Search};
use crate::message::{
    Announcement, CallError, ConnectInterRequest, ConnectReply, GetBootListRequest,
    GetNeighborsRequest, GroupMembersReply, GroupView, HandedLink, Handover, LeaveRequest,
    LinkScope, MAX_BOOT_LIST, MAX_CANDIDATES, MAX_NEIGHBORS, MeasureReply, NeighborGroup,
    NeighborsReply, Request, RequestError, Response, Target,
};
use crate::term::term;
use crate::time::Time;

/// Improvement rounds a leader runs back to back, per re-measurement interval, while each finds
/// a closer group. A round that finds one runs the next at once instead of waiting a whole
/// `remeasure_interval`, so an overlay that started badly (a cluster starting at once, where
/// every peer founds a group of its own from an empty directory) descends to its near links
/// within seconds; a round that finds nothing ends the run. Each round costs one neighbour
/// query plus probes of the groups it names; eight rounds let a leader replace every one of
/// `inter_group_target` links once and then some.
const MAX_IMPROVE_ROUNDS: u32 = 8;

/// Re-walks a leader runs (at its 1st, 2nd, 4th and 8th re-measurement) while its group is
/// itself alone with no neighbour in its locality. A join walk that hit `join_deadline` or
/// `max_tested_groups` far from home founds a group whose links all lead far away; a peer of
/// the same site that walked before or after it may have done the same, and neither
/// Figure 11 nor the merge check ever brings the two together (PlanetLab: sites 242 and 341,
/// 0.2 ms apart, linked only to groups 97–340 ms away). Walking again once the overlay has
/// grown, from a fresh random boot list, finds them. Doubling intervals catch late arrivals
/// and keep the cost of a truly remote peer at four walks.
pub(super) const MAX_REWALKS: u32 = 4;

/// Handovers a leader holds for merging leaders that have not confirmed yet: merges into one
/// group happen one or two at a time.
const MAX_HELD_HANDOVERS: usize = 8;

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
        let random_wanted = self.cfg.random_inter_group_links as usize;
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

    /// A new neighbour in this group's locality may be a group to merge into (DESIGN §3):
    /// re-measure it now rather than at the next round, so that groups founded side by side
    /// (peers that started together) merge within seconds.
    fn check_merge_soon(&mut self, group: GroupId, leader: &PeerRef, rtt: Duration) {
        let threshold = self.cfg.locality_threshold;
        let guard = self.cfg.max_leader_rtt.unwrap_or(threshold);
        if self.cfg.group_merge && rtt < threshold.min(guard) {
            self.probe(leader.clone(), ProbeFor::Remeasure(group));
        }
    }

    fn connect_inter(&mut self, c: InterConnect) {
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
            l.random_pending = false;
            if let Some(b) = l.bridge.as_mut()
                && b.pending == 0
                && b.trying == Some(c.group)
            {
                b.trying = None;
                if accepted {
                    l.bridge = None;
                    // Tell the rendezvous at once, so that it stops counting this part as
                    // cut off (or hands out another bridge if this one closes again).
                    self.announce_soon();
                } else {
                    self.try_next_bridge();
                }
            }
        }
        if c.search {
            if let Some(s) = self.leading_mut().and_then(|l| l.search.as_mut()) {
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

    // ---- Figure 11 ----

    pub(super) fn drive_search(&mut self, now: Time) {
        let _ = now;
        let target = self.cfg.inter_group_target as usize;
        let Some(l) = self.leading_mut() else { return };
        let near = l.near_links();
        let linked: BTreeSet<GroupId> = l.inter.keys().copied().collect();
        let Some(search) = l.search.as_mut() else {
            return;
        };
        let wanted = if search.improve {
            usize::from(search.connected == 0)
        } else {
            target.saturating_sub(near)
        };
        let actions = search.next(&linked, wanted);
        let mut improved = false;
        let mut remote = false;
        let mut linkless = false;
        if search.is_done() {
            improved = search.improve && search.connected > 0;
            remote = search.remote;
            linkless = search.connected == 0 && l.inter.is_empty();
            l.search = None;
        }
        for a in actions {
            match a {
                Action::Measure(p) => self.probe(p, ProbeFor::Search),
                Action::Connect { group, leader, rtt } => self.connect_inter(InterConnect {
                    group,
                    leader,
                    rtt,
                    random: false,
                    search: true,
                    replaces: None,
                    opened: true,
                }),
                Action::Query { group, leader } => self.send_to(
                    &leader,
                    Request::GetNeighbors(GetNeighborsRequest {
                        group_id: Some(group),
                    }),
                    Purpose::SearchQuery(group),
                ),
            }
        }
        if improved {
            // The round found a closer group: drop the link it makes redundant and look again.
            if remote {
                self.prune_remote_link();
            } else {
                self.prune_far_link();
            }
            self.ensure_search(now);
        }
        if linkless {
            // No link at all and this search found none (every group it tried refused, or the
            // boot list held no other group): a group without links is cut off, so it asks
            // the rendezvous for a new boot list within one announce interval rather than a
            // whole re-measurement interval. The random wait spreads retries of groups that
            // failed together.
            let at = now + self.random_delay(self.cfg.announce_interval);
            if self.timers.get(&Timer::Remeasure).is_none_or(|t| *t > at) {
                self.set_timer(Timer::Remeasure, at);
            }
        }
    }

    /// A link of this leader's group closed: announce now rather than at the next interval,
    /// so that the rendezvous sees a part the closure cut off within a second and hands it a
    /// bridge (`rendezvous::Directory`). Closures in one instant share one announcement.
    pub(super) fn announce_soon(&mut self) {
        let now = self.now;
        if self.leading_mut().is_some()
            && self.timers.get(&Timer::Announce).is_none_or(|at| *at > now)
        {
            self.set_timer(Timer::Announce, now);
        }
    }

    /// Re-enters Figure 11 at once if a lost link left the group with fewer near links than
    /// the least the seed allows (`link::MIN_LINKS`, [0057]), none at all included; a group
    /// that still has that many waits for its re-measurement as before. (Searching at once
    /// on every loss below target relinked the neighbours of every merging group at once,
    /// which on `continents=5,metros=20` left 370 groups instead of 253 and 7 components
    /// instead of 2: docs/decisions.md.)
    pub(super) fn search_if_below_minimum(&mut self, now: Time) {
        if self
            .leading_mut()
            .is_some_and(|l| l.near_links() < MIN_LINKS)
        {
            self.ensure_search(now);
        }
    }

    /// Re-enters Figure 11 when the group is below its target [0057][0059]: from its nearest
    /// neighbour's neighbours, or from a boot list when it has none.
    pub(super) fn ensure_search(&mut self, now: Time) {
        let target = self.cfg.inter_group_target as usize;
        let radius = self.cfg.inter_group_radius;
        let max = self.cfg.boot_list_size;
        let roll = self.rng.below(u64::from(u32::MAX)) as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        if l.search.is_some() {
            return;
        }
        // A remote group: fewer than `MIN_LINKS` links within the radius, the rest being the
        // first links it opened however far. Its search finds nothing within the radius, so it
        // runs improvement rounds as a group at target does, each replacing its farthest
        // self-opened link with a closer group (`prune_remote_link`).
        let within = l
            .inter
            .values()
            .filter(|n| !n.random && n.rtt <= radius)
            .count();
        let far_opened = l
            .inter
            .values()
            .any(|n| n.opened && !n.random && n.rtt > radius);
        let remote = l.near_links() < target
            && l.near_links() >= MIN_LINKS
            && within < MIN_LINKS
            && far_opened;
        let improve = l.near_links() >= target || remote;
        if improve {
            if l.improve_rounds >= MAX_IMPROVE_ROUNDS {
                return;
            }
            l.improve_rounds += 1;
        }
        // At its target, a leader still looks for a group closer than the farthest link it
        // opened (by a tenth at least); `prune_far_link` then drops that link.
        let radius = if improve {
            let farthest = l
                .inter
                .values()
                .filter(|n| n.opened && !n.random)
                .map(|n| n.rtt)
                .max();
            match farthest {
                Some(f) if f > self.cfg.locality_threshold => f.mul_f64(0.9),
                _ => return,
            }
        } else {
            radius
        };
        let seeds: Vec<_> = l
            .inter
            .iter()
            .map(|(g, n)| (*g, n.leader.clone(), Some(n.rtt)))
            .collect();
        let mut near: Vec<(Duration, GroupId)> = l
            .inter
            .iter()
            .filter(|(_, n)| !n.random)
            .map(|(g, n)| (n.rtt, *g))
            .collect();
        near.sort();
        // A search below target starts from the nearest neighbour (Figure 11). An improvement
        // round asks the nearest on its first round and a random neighbour on later ones, so
        // that back-to-back rounds see different neighbourhoods instead of one list again.
        let start = if improve && l.improve_rounds > 1 && !near.is_empty() {
            roll % near.len()
        } else {
            0
        };
        let nearest = near.get(start).map(|(_, g)| *g);
        if improve && nearest.is_none() {
            return;
        }
        let mut search = Search::new(own, radius, seeds);
        search.improve = improve;
        search.remote = remote;
        match nearest {
            Some(group) => {
                search.resume_from(group);
                l.search = Some(search);
                self.drive_search(now);
            }
            None => {
                l.search = Some(search);
                self.send(
                    Target::Rendezvous,
                    Request::GetBootList(GetBootListRequest { max }),
                    Purpose::SearchBoot,
                );
            }
        }
    }

    pub(super) fn on_search_measured(
        &mut self,
        now: Time,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        if let Some(s) = self.leading_mut().and_then(|l| l.search.as_mut()) {
            s.on_measured(target, result);
        }
        self.drive_search(now);
    }

    pub(super) fn on_search_query_reply(
        &mut self,
        now: Time,
        group: GroupId,
        result: Result<Response, CallError>,
    ) {
        let reply = match result {
            Ok(Response::Neighbors(r)) => Some(r),
            _ => None,
        };
        if let Some(s) = self.leading_mut().and_then(|l| l.search.as_mut()) {
            s.on_neighbors(group, reply);
        }
        self.drive_search(now);
    }

    pub(super) fn on_search_boot_reply(&mut self, now: Time, result: Result<Response, CallError>) {
        let list = match result {
            Ok(Response::BootList(list)) => list,
            _ => Vec::new(),
        };
        if let Some(s) = self.leading_mut().and_then(|l| l.search.as_mut()) {
            s.add_seeds(list.into_iter().map(|v| (v.group_id, v.leader)));
        }
        self.drive_search(now);
    }

    // ---- the random link [0039] ----

    pub(super) fn ask_random_link(&mut self) {
        let wanted = self.cfg.random_inter_group_links as usize;
        let max = self.cfg.boot_list_size;
        let Some(l) = self.leading_mut() else { return };
        // A random link counts at both ends, whoever opened it.
        if l.random_pending || l.inter.values().filter(|n| n.random).count() >= wanted {
            return;
        }
        l.random_pending = true;
        self.send(
            Target::Rendezvous,
            Request::GetBootList(GetBootListRequest { max }),
            Purpose::RandomBoot,
        );
    }

    pub(super) fn on_random_boot_reply(&mut self, result: Result<Response, CallError>) {
        let own = self.my_group_id();
        let Some(l) = self.leading_mut() else { return };
        let mut list = match result {
            Ok(Response::BootList(list)) => list,
            _ => Vec::new(),
        };
        list.retain(|v| Some(v.group_id) != own && !l.inter.contains_key(&v.group_id));
        if list.is_empty() {
            l.random_pending = false;
            return;
        }
        let pick = self.rng.below(list.len() as u64) as usize;
        let v = list.swap_remove(pick);
        self.probe(v.leader, ProbeFor::Random(v.group_id));
    }

    pub(super) fn on_random_measured(
        &mut self,
        group: GroupId,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let leads = rtt_if_leads(result, group);
        match leads {
            Some(rtt) => self.connect_inter(InterConnect {
                group,
                leader: target.clone(),
                rtt,
                random: true,
                search: false,
                replaces: None,
                opened: true,
            }),
            None => {
                if let Some(l) = self.leading_mut() {
                    l.random_pending = false;
                }
            }
        }
    }

    // ---- bridges the rendezvous asks for ----

    /// The rendezvous sees this group cut off from the largest part of the overlay and named
    /// groups of that part: measure them and link to the closest one that leads its group, as
    /// a partition link (not counted towards the target, never pruned for closeness).
    fn start_bridge(&mut self, candidates: Vec<GroupView>) {
        let own = self.my_group_id();
        let Some(l) = self.leading_mut() else { return };
        if candidates.is_empty() || l.bridge.is_some() {
            return;
        }
        let targets: Vec<GroupView> = candidates
            .into_iter()
            .filter(|v| Some(v.group_id) != own && !l.inter.contains_key(&v.group_id))
            .take(MAX_BOOT_LIST)
            .collect();
        if targets.is_empty() {
            return;
        }
        l.bridge = Some(Bridge {
            pending: targets.len(),
            ..Bridge::default()
        });
        for v in targets {
            self.probe(v.leader, ProbeFor::Bridge(v.group_id));
        }
    }

    pub(super) fn on_bridge_measured(
        &mut self,
        group: GroupId,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let Some(l) = self.leading_mut() else { return };
        let Some(b) = l.bridge.as_mut() else { return };
        if b.pending == 0 {
            return;
        }
        let leads = rtt_if_leads(result, group);
        if let Some(rtt) = leads
            && b.ranked.len() < MAX_BOOT_LIST
            && b.ranked.iter().all(|(_, g, _)| *g != group)
        {
            b.ranked.push((rtt, group, target.clone()));
        }
        b.pending = b.pending.saturating_sub(1);
        if b.pending > 0 {
            return;
        }
        // Closest last, so that the next one to try is popped off the end.
        b.ranked.sort_by_key(|x| std::cmp::Reverse(x.0));
        self.try_next_bridge();
    }

    /// Opens the bridge to the closest named group not tried yet; a refusal (that group is at
    /// `max_inter_group_links`, common when many cut-off groups bridge into the same few)
    /// moves on to the next instead of leaving the part cut off until the rendezvous asks
    /// again.
    fn try_next_bridge(&mut self) {
        let Some(l) = self.leading_mut() else { return };
        let Some(b) = l.bridge.as_mut() else { return };
        while let Some((rtt, group, leader)) = b.ranked.pop() {
            if l.inter.contains_key(&group) {
                continue;
            }
            b.trying = Some(group);
            self.connect_inter(InterConnect {
                group,
                leader,
                rtt,
                random: true,
                search: false,
                replaces: None,
                opened: true,
            });
            return;
        }
        // Every named group refused or did not answer as a leader: say so now, so that the
        // rendezvous can name others.
        l.bridge = None;
        self.announce_soon();
    }

    // ---- re-measurement and leader replacement [0048] ----

    pub(super) fn on_remeasure_timer(&mut self, now: Time) {
        self.set_timer(Timer::Remeasure, now + self.cfg.remeasure_interval);
        let Some(l) = self.leading_mut() else { return };
        l.improve_rounds = 0;
        l.merge_tried.clear();
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
    fn rewalk_if_alone(&mut self, now: Time) {
        let threshold = self.cfg.locality_threshold;
        if !self.cfg.group_merge {
            return;
        }
        let Some(l) = self.leading_mut() else { return };
        l.remeasures = l.remeasures.saturating_add(1);
        let due = l.remeasures.is_power_of_two() && l.rewalks < MAX_REWALKS;
        let alone =
            l.members.len() <= 1 && !l.inter.values().any(|n| !n.random && n.rtt < threshold);
        if due && alone && l.merge.is_none() {
            self.start_rewalk(now);
        }
    }

    /// A re-walk ended without a group to join: the groups it measured become candidates of
    /// Figure 11 (of the search in progress, or of a new one), so that a group in this one's
    /// locality gets linked, and the merge check then merges them.
    pub(super) fn search_towards(&mut self, now: Time, nearest: Vec<Measured>) {
        self.ensure_search(now);
        if let Some(s) = self.leading_mut().and_then(|l| l.search.as_mut()) {
            s.add_measured(nearest.into_iter().map(|m| (m.group, m.leader, m.rtt)));
        }
        self.drive_search(now);
    }

    /// Drops one link this leader opened itself when it has more near links than its target
    /// and that link is farther than the target-th nearest: links opened while the overlay was
    /// small or far away give way to closer groups that linked in since [0034]. Links other
    /// groups opened are theirs to keep, so a remote group never loses its only way in.
    fn prune_far_link(&mut self) {
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
        let mut rtts: Vec<Duration> = l
            .inter
            .values()
            .filter(|n| !n.random)
            .map(|n| n.rtt)
            .collect();
        rtts.sort();
        let keep_within = rtts[target - 1];
        self.drop_farthest_opened(own, keep_within);
    }

    /// After a remote group's improvement round: drops its farthest self-opened link beyond
    /// `inter_group_radius` once `MIN_LINKS` other links are closer, so that the group keeps
    /// its closest ways in instead of adding a link to each it had (PlanetLab: a pair of
    /// co-located peers 80 ms from anyone, merged, still linked 157 and 241 ms away).
    fn prune_remote_link(&mut self) {
        let radius = self.cfg.inter_group_radius;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        let mut rtts: Vec<Duration> = l
            .inter
            .values()
            .filter(|n| !n.random)
            .map(|n| n.rtt)
            .collect();
        if rtts.len() <= MIN_LINKS {
            return;
        }
        rtts.sort();
        let keep_within = rtts[MIN_LINKS - 1].max(radius);
        self.drop_farthest_opened(own, keep_within);
    }

    /// Closes the farthest link this leader opened itself (never a partition link) whose RTT
    /// is above `keep_within`, and tells that neighbour and the rendezvous.
    fn drop_farthest_opened(&mut self, own: GroupId, keep_within: Duration) {
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
                    && l.merge.is_none()
                    && !n.random
                    && !l.merge_tried.contains(&group)
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
        if l.merge.is_some() {
            return;
        }
        let next = l
            .inter
            .iter()
            .filter(|(id, n)| {
                !n.random
                    && n.rtt < threshold.min(guard)
                    && !l.merge_tried.contains(id)
                    && !l.replacing.contains_key(id)
                    && (n.member_count, **id) > (own_count, own)
            })
            .min_by_key(|(_, n)| n.rtt)
            .map(|(id, n)| (*id, n.leader.clone()));
        if let Some((group, leader)) = next {
            self.start_merge_walk(now, group, leader);
        }
    }

    /// Tries the next candidate for a neighbour's lost leader: its successors, then the
    /// rendezvous; when all fail the neighbour is dropped and Figure 11 re-entered.
    fn replace(&mut self, now: Time, group: GroupId) {
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

    // ---- the rendezvous ----

    pub(super) fn on_announce_timer(&mut self, now: Time) {
        self.set_timer(Timer::Announce, now + self.cfg.announce_interval);
        let State::Member(g) = &self.state else {
            return;
        };
        let GroupRole::Leading(l) = &g.role else {
            return;
        };
        let mut neighbors = l.neighbor_groups();
        neighbors.truncate(MAX_NEIGHBORS);
        let a = Announcement {
            group: g.view(),
            neighbors,
            ended: false,
        };
        self.send(
            Target::Rendezvous,
            Request::AnnounceGroup(a),
            Purpose::Announce,
        );
    }

    pub(super) fn on_announce_reply(&mut self, result: Result<Response, CallError>) {
        let Ok(Response::Announced(reply)) = result else {
            return;
        };
        let Some(newer) = reply.superseded_by else {
            self.start_bridge(reply.bridge);
            return;
        };
        let State::Member(g) = &self.state else {
            return;
        };
        // The directory's word is a hint: the leader it names is checked, and this leader
        // yields only if that one answers as the group's leader with a higher term.
        if matches!(g.role, GroupRole::Leading(_))
            && newer.group_id == g.id
            && term(&newer) > term(&g.view())
        {
            self.check(newer.leader, CheckFor::Leadership);
        }
    }

    // ---- merge ----

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
        l.handed = links.iter().map(|h| h.neighbor.group_id).collect();
        Some(Handover { group_id, links })
    }

    /// Holds a merging leader's handover until it confirms that it followed: taking the links
    /// over at once, as at first, moved the neighbours' links away from a group whose merge
    /// then failed on a lost reply. At most `MAX_HELD_HANDOVERS` are held (the oldest go).
    pub(super) fn hold_handover(&mut self, now: Time, from: &PeerRef, h: Handover) {
        let Some(l) = self.leading_mut() else { return };
        l.handovers.insert(from.id, (h, now));
        while l.handovers.len() > MAX_HELD_HANDOVERS {
            let oldest = l
                .handovers
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                l.handovers.remove(&id);
            }
        }
    }

    /// `from` called as a member of this group: if it merged its group into this one, take
    /// its links over now.
    pub(super) fn confirm_handover(&mut self, from: &PeerRef) {
        let Some(l) = self.leading_mut() else { return };
        if let Some((h, _)) = l.handovers.remove(&from.id) {
            self.take_over(from, h);
        }
    }

    /// A neighbour group merged into this one and handed over its links: take over those this
    /// group does not have yet, nearest first while below `max_inter_group_links`, each after
    /// measuring that its leader still leads it; for those it already has, only tell the
    /// neighbour to drop its link to the merged group. A handover is taken only from the
    /// leader of a neighbour group (the merge check runs between neighbours), so no peer can
    /// make this leader link where it pleases.
    fn take_over(&mut self, from: &PeerRef, h: Handover) {
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
            } else if l.inter.len() + l.taking_over.len() < max
                && !l.taking_over.contains_key(&group)
            {
                probes.push((x.neighbor.leader.clone(), group));
                l.taking_over.insert(group, (h.group_id, x));
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
        let Some((merged, x)) = l.taking_over.remove(&group) else {
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
            .filter(|n| !l.handed.contains(&n.group_id))
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
                ended: true,
            }),
            Purpose::Ignore,
        );
        self.events.push_back(Event::Merging {
            from,
            into: reply.group.group_id,
        });
        self.events.push_back(Event::GroupEnded { group: from });
        self.become_follower_of(now, reply);
    }
}

/// The measured RTT when the probed peer answered as the leader of `group`: only then is it
/// worth an inter-group link to that group.
fn rtt_if_leads(result: Option<(Duration, &MeasureReply)>, group: GroupId) -> Option<Duration> {
    result.and_then(|(rtt, r)| {
        r.group
            .as_ref()
            .filter(|v| v.group_id == group && v.leader.id == r.responder.id)
            .map(|_| rtt)
    })
}
