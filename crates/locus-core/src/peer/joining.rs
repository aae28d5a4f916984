//! Joining: the walk of Figure 10, entering a group, and founding one (Figure 11's start).

use std::collections::BTreeMap;
use std::time::Duration;

use super::state::{Group, GroupRole, Joining, Leading, ProbeFor, Purpose, State};
use super::{BootSource, Peer, Timer};
use crate::event::{Event, JoinStats};
use crate::id::{GroupId, PeerId, PeerRef};
use crate::join::{Action, Limits, Measured, Walk};
use crate::link::Search;
use crate::message::{
    CallError, GetBootListRequest, GetGroupMembersRequest, GetNeighborsRequest, GroupMembersReply,
    GroupView, LinkInfo, MeasureReply, Request, RequestError, Response, Target,
};
use crate::time::Time;

impl Peer {
    /// Starts a join walk from the boot sources plus `seeds`; `exclude` is a group it must not
    /// enter again (the one the peer is leaving).
    pub(super) fn start_walk(
        &mut self,
        now: Time,
        seeds: Vec<(GroupId, PeerRef)>,
        exclude: Option<GroupId>,
    ) {
        self.timers.clear();
        let id = self.next_walk;
        self.next_walk += 1;
        let boot = if seeds.is_empty() {
            self.boot.clone()
        } else {
            Vec::new()
        };
        let mut walk = Walk::new(
            self.walk_limits(now, self.cfg.max_tested_groups),
            boot.len(),
        );
        if let Some(g) = exclude {
            walk.exclude(g);
        }
        if self.asks_near(&boot) {
            walk.ask_near();
        }
        walk.add_candidates(seeds);
        self.state = State::Joining(Box::new(Joining {
            walk,
            id,
            started: now,
            stats: JoinStats::default(),
            exclude,
            backed_off: false,
        }));
        self.set_timer(Timer::JoinDeadline, now + self.cfg.join_deadline);
        self.ask_boot_lists(boot, id);
        self.drive_walk(now, id);
    }

    pub(super) fn walk_limits(&self, now: Time, max_tested: u32) -> Limits {
        Limits {
            threshold: self.cfg.locality_threshold,
            max_leader_rtt: self.cfg.max_leader_rtt,
            direct_rtt: self.cfg.direct_join_rtt,
            neighbor_share: self.cfg.neighbor_guard_share,
            prune: self.cfg.prune_walk_probes,
            one_sample: self.cfg.rank_on_one_sample && self.cfg.measure_samples > 1,
            max_tested,
            deadline: now + self.cfg.join_deadline,
        }
    }

    /// Starts a merge check of this leader's group against neighbour `group` (DESIGN §3): the
    /// locality test of Figure 10 on that one group, from the leader's position.
    pub(super) fn start_merge_walk(&mut self, now: Time, group: GroupId, leader: PeerRef) {
        let id = self.next_walk;
        self.next_walk += 1;
        let limits = self.walk_limits(now, 1);
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        if l.merge.walk.is_some() {
            return;
        }
        l.merge.target = Some(group);
        l.merge.tried.insert(group);
        let mut walk = Walk::new(limits, 0);
        walk.exclude(own);
        walk.add_candidates([(group, leader)]);
        l.merge.walk = Some((id, walk));
        self.drive_walk(now, id);
    }

    /// Walks Figure 10 again, from a fresh boot list, as the leader of a group of its own with
    /// no neighbour in its locality (see `MAX_REWALKS`). A group that passes takes this one in
    /// as a merge does; otherwise the groups measured become candidates of Figure 11.
    pub(super) fn start_rewalk(&mut self, now: Time) {
        let id = self.next_walk;
        self.next_walk += 1;
        let limits = self.walk_limits(now, self.cfg.max_tested_groups);
        let sources = self.rewalk_sources();
        let near = self.asks_near(&sources);
        let State::Member(g) = &mut self.state else {
            return;
        };
        let own = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        if l.merge.walk.is_some() {
            return;
        }
        l.merge.rewalks += 1;
        l.merge.rewalking = true;
        l.merge.target = None;
        let mut walk = Walk::new(limits, sources.len());
        walk.exclude(own);
        if near {
            walk.ask_near();
        }
        l.merge.walk = Some((id, walk));
        self.ask_boot_lists(sources, id);
    }

    /// The boot sources of a walk after the first (a leader's re-walk, a member's relocation):
    /// the same as the first walk's, so that a peer booted through other peers' addresses (a
    /// cluster whose rendezvous is down) walks again through them; the rendezvous otherwise.
    pub(super) fn rewalk_sources(&self) -> Vec<BootSource> {
        if self.boot.is_empty() {
            vec![BootSource::Rendezvous]
        } else {
            self.boot.clone()
        }
    }

    /// Whether a walk from `sources` asks the rendezvous for the groups nearest its landmark
    /// RTTs ([`crate::Config::landmark_boot`]).
    pub(super) fn asks_near(&self, sources: &[BootSource]) -> bool {
        self.cfg.landmark_boot && sources.contains(&BootSource::Rendezvous)
    }

    /// Keeps the RTTs walk `id` measured to its first boot list's groups, for this peer's
    /// announcements while it leads.
    fn keep_landmarks(&mut self, id: u64) {
        let Some(walk) = self.walk_mut(id) else {
            return;
        };
        let landmarks = walk.landmark_rtts();
        if !landmarks.is_empty() {
            self.landmarks = landmarks;
        }
    }

    /// Asks every boot source for a boot list, for walk `id` [0044].
    pub(super) fn ask_boot_lists(&mut self, sources: Vec<BootSource>, id: u64) {
        let max = self.cfg.boot_list_size;
        let landmarks = self.cfg.landmark_boot;
        for source in sources {
            let rendezvous = source == BootSource::Rendezvous;
            let to = match source {
                BootSource::Rendezvous => Target::Rendezvous,
                BootSource::Peer(addr) => Target::Address(addr),
            };
            self.send(
                to,
                Request::GetBootList(GetBootListRequest {
                    max,
                    landmarks,
                    near: Vec::new(),
                    shortcut_for: Default::default(),
                }),
                Purpose::Boot {
                    walk: id,
                    rendezvous,
                },
            );
        }
    }

    fn walk_mut(&mut self, id: u64) -> Option<&mut Walk> {
        match &mut self.state {
            State::Joining(j) if j.id == id => Some(&mut j.walk),
            State::Member(g) => match &mut g.role {
                GroupRole::Leading(l) => l
                    .merge
                    .walk
                    .as_mut()
                    .filter(|(w, _)| *w == id)
                    .map(|(_, w)| w),
                GroupRole::Follower => g
                    .relocation
                    .walk
                    .as_mut()
                    .filter(|(w, _)| *w == id)
                    .map(|(_, w)| w),
                GroupRole::Electing(_) => None,
            },
            _ => None,
        }
    }

    /// A leader's merge check or re-walk (not a join walk, not a member's relocation).
    fn is_merge_walk(&self, id: u64) -> bool {
        !matches!(&self.state, State::Joining(j) if j.id == id) && !self.is_relocation_walk(id)
    }

    pub(super) fn drive_walk(&mut self, now: Time, id: u64) {
        let Some(walk) = self.walk_mut(id) else {
            return;
        };
        for action in walk.next(now) {
            match action {
                Action::Measure(peer) => self.probe(peer, ProbeFor::Walk(id)),
                Action::Confirm { peer, rtt } => {
                    self.probe_from(peer, ProbeFor::WalkConfirm(id), Some(rtt));
                }
                Action::Query { group, leader } => self.send_to(
                    &leader,
                    Request::GetNeighbors(GetNeighborsRequest {
                        group_id: Some(group),
                    }),
                    Purpose::WalkQuery { walk: id, group },
                ),
                Action::AskNear(near) => self.send(
                    Target::Rendezvous,
                    Request::GetBootList(GetBootListRequest {
                        max: self.cfg.boot_list_size,
                        landmarks: false,
                        near,
                        shortcut_for: None,
                    }),
                    Purpose::Boot {
                        walk: id,
                        rendezvous: true,
                    },
                ),
                Action::Enter { group, leader } => {
                    if self.is_relocation_walk(id) && !self.worth_moving_to(&leader) {
                        self.end_relocation();
                        return;
                    }
                    self.keep_landmarks(id);
                    // A merging leader hands its links to the group it merges into.
                    let handover = if self.is_merge_walk(id) {
                        self.handover()
                    } else {
                        None
                    };
                    self.send_to(
                        &leader,
                        Request::GetGroupMembers(GetGroupMembersRequest {
                            group_id: group,
                            joining: true,
                            handover,
                            candidates: self.cfg.intra_group_target * 2,
                            known_alive: None,
                        }),
                        Purpose::WalkEnter { walk: id, group },
                    )
                }
                Action::Found { nearest } => {
                    if self.is_relocation_walk(id) {
                        // No group near enough passed: stay.
                        self.end_relocation();
                        return;
                    }
                    self.keep_landmarks(id);
                    if self.is_merge_walk(id) {
                        let rewalk = self.leading_mut().is_some_and(|l| {
                            l.merge.walk = None;
                            std::mem::take(&mut l.merge.rewalking)
                        });
                        if rewalk {
                            // No group passed: link towards the closest groups it measured,
                            // and run the merge check the re-walk held up (a neighbour that
                            // linked meanwhile).
                            self.search_towards(now, nearest);
                            self.check_next_merge(now);
                        } else {
                            // The neighbour is not local after all, or it refused: no merge
                            // with it; check the next neighbour in this group's locality.
                            self.check_next_merge(now);
                        }
                    } else if nearest.is_empty() && self.may_back_off() {
                        self.back_off_join(now);
                    } else {
                        self.found_group(now, nearest);
                    }
                }
            }
        }
    }

    pub(super) fn on_boot_reply(
        &mut self,
        now: Time,
        id: u64,
        rendezvous: bool,
        result: Result<Response, CallError>,
    ) {
        let list = match result {
            Ok(Response::BootList(list)) => Some(list),
            _ => None,
        };
        let Some(walk) = self.walk_mut(id) else {
            return;
        };
        walk.on_boot_list(list, rendezvous);
        self.drive_walk(now, id);
    }

    pub(super) fn on_walk_measured(
        &mut self,
        now: Time,
        id: u64,
        peer: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let Some(walk) = self.walk_mut(id) else {
            return;
        };
        walk.on_measured(peer, result);
        self.drive_walk(now, id);
    }

    pub(super) fn on_walk_query_reply(
        &mut self,
        now: Time,
        id: u64,
        group: GroupId,
        result: Result<Response, CallError>,
    ) {
        let reply = match result {
            Ok(Response::Neighbors(r)) => Some(r),
            _ => None,
        };
        let Some(walk) = self.walk_mut(id) else {
            return;
        };
        if !walk.is_querying(group) {
            return;
        }
        walk.on_neighbors(group, reply);
        self.drive_walk(now, id);
    }

    pub(super) fn on_walk_enter_reply(
        &mut self,
        now: Time,
        id: u64,
        group: GroupId,
        result: Result<Response, CallError>,
    ) {
        let Some(walk) = self.walk_mut(id) else {
            return;
        };
        if !walk.is_entering(group) {
            return;
        }
        match result {
            Ok(Response::GroupMembers(reply)) if reply.group.group_id == group => {
                walk.finish();
                let tested = walk.tested();
                if self.is_relocation_walk(id) {
                    self.complete_relocation(now, reply);
                } else if self.is_merge_walk(id) {
                    self.complete_merge(now, reply);
                } else {
                    self.enter_group(now, reply, tested);
                }
            }
            Err(CallError::Refused(RequestError::NotLeader { leader })) => {
                walk.on_enter_failed(group, leader);
                self.drive_walk(now, id);
            }
            _ => {
                walk.on_enter_failed(group, None);
                self.drive_walk(now, id);
            }
        }
    }

    /// A walk that measured no group at all, from boot sources that answered with nothing,
    /// waits once before founding (see `DEFAULT_COLD_START_BACKOFF`).
    fn may_back_off(&self) -> bool {
        matches!(&self.state, State::Joining(j) if !j.backed_off)
            && !self.boot.is_empty()
            && !self.cfg.cold_start_backoff.is_zero()
    }

    fn back_off_join(&mut self, now: Time) {
        let wait = self.random_delay(self.cfg.cold_start_backoff);
        if let State::Joining(j) = &mut self.state {
            j.backed_off = true;
        }
        self.cancel_timer(Timer::JoinDeadline);
        self.set_timer(Timer::JoinRetry, now + wait);
    }

    /// The cold-start wait is over: walk again from the boot sources, keeping the join's
    /// start time and costs so that they count the wait.
    pub(super) fn on_join_retry(&mut self, now: Time) {
        let State::Joining(j) = &self.state else {
            return;
        };
        let (started, stats, exclude) = (j.started, j.stats, j.exclude);
        self.start_walk(now, Vec::new(), exclude);
        if let State::Joining(j) = &mut self.state {
            j.started = started;
            j.stats.probes += stats.probes;
            j.stats.rpcs += stats.rpcs;
            j.backed_off = true;
        }
    }

    pub(super) fn on_join_deadline(&mut self, now: Time) {
        if let State::Joining(j) = &mut self.state {
            let nearest = j.walk.nearest();
            j.walk.finish();
            self.found_group(now, nearest);
        }
    }

    fn finish_join(&mut self, now: Time, tested: u32) -> JoinStats {
        match &self.state {
            State::Joining(j) => JoinStats {
                tested_groups: tested,
                duration: now.saturating_since(j.started),
                ..j.stats
            },
            _ => JoinStats::default(),
        }
    }

    /// Becomes a member of the group whose leader answered `reply` [0062].
    pub(super) fn enter_group(&mut self, now: Time, reply: GroupMembersReply, tested: u32) {
        let stats = self.finish_join(now, tested);
        self.become_follower_of(now, reply);
        if let Some(group) = self.my_group_id() {
            self.events.push_back(Event::Joined {
                group,
                founded: false,
                stats,
            });
        }
    }

    /// Switches to following the group described by `reply` and opens intra-group connections.
    pub(super) fn become_follower_of(&mut self, now: Time, reply: GroupMembersReply) {
        self.become_follower_keeping(now, reply, BTreeMap::new());
    }

    /// [`Peer::become_follower_of`], keeping the intra-group links `kept` (a merged group's
    /// mesh, whose members all move into the same group: `Config::merge_keeps_links`).
    pub(super) fn become_follower_keeping(
        &mut self,
        now: Time,
        reply: GroupMembersReply,
        kept: BTreeMap<PeerId, LinkInfo>,
    ) {
        self.timers.clear();
        let mut group = Group::new(&reply.group, reply.leadership, now);
        let kept_any = kept.keys().any(|p| *p != reply.group.leader.id);
        group.intra = kept;
        group.unbridged = kept_any;
        group.known.extend(reply.candidates.iter().cloned());
        group.replica = reply.alive;
        self.state = State::Member(Box::new(group));
        self.schedule_cross(now);
        self.schedule_alive_check(now);
        self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        let mut candidates = reply.candidates;
        if kept_any {
            // The kept links all lead into the merged group's old mesh: one link to the new
            // leader (or a member it names) joins that mesh to the group's, even at the target.
            self.bridge_to(reply.group.leader);
        } else {
            // The leader is always worth a direct link: Alive starts there.
            candidates.insert(0, reply.group.leader);
        }
        self.connect_intra(candidates);
    }

    /// Founds a new group with this peer as its first member and leader [0055][0060].
    pub(super) fn found_group(&mut self, now: Time, nearest: Vec<Measured>) {
        let tested = match &self.state {
            State::Joining(j) => j.walk.tested(),
            _ => 0,
        };
        let stats = self.finish_join(now, tested);
        self.timers.clear();
        let id = GroupId::random(&mut self.rng);
        let view = GroupView {
            group_id: id,
            epoch: 1,
            leader: self.me.clone(),
            successors: Vec::new(),
            member_count: 1,
        };
        let mut group = Group::new(&view, vec![self.me.clone()], now);
        let mut leading = Leading::default();
        leading.members.insert(self.me.id, (self.me.clone(), now));
        // Figure 11, step 1104: the closest group seen is the first neighbour candidate.
        leading.search.current = Some(Search::new(
            id,
            self.cfg.inter_group_radius,
            nearest
                .into_iter()
                .map(|m| (m.group, m.leader, Some(m.rtt))),
        ));
        group.role = GroupRole::Leading(Box::new(leading));
        self.state = State::Member(Box::new(group));
        self.schedule_cross(now);
        self.events.push_back(Event::Joined {
            group: id,
            founded: true,
            stats,
        });
        self.start_leading_timers(now);
        // The first re-measurement comes once every walk that started with this one has ended
        // (`join_deadline`), not a whole interval later: a new group's neighbourhood changes
        // most while its contemporaries found groups, and merge checks, improvement rounds and
        // the re-walk all wait for it (docs/decisions.md).
        let first = self.cfg.join_deadline.min(self.cfg.remeasure_interval);
        self.set_timer(Timer::Remeasure, now + first);
        self.drive_search(now);
        // A walk that measured nothing (an empty directory, peers starting together) leaves
        // the search with no candidate: ask the rendezvous now rather than at the first
        // re-measurement.
        self.ensure_search(now);
        self.ask_random_link();
    }

    pub(super) fn leading_mut(&mut self) -> Option<&mut Leading> {
        match &mut self.state {
            State::Member(g) => match &mut g.role {
                GroupRole::Leading(l) => Some(l),
                _ => None,
            },
            _ => None,
        }
    }
}
