//! Figure 11's neighbour search [0055]–[0059], re-entered whenever a group is below its target,
//! and the improvement rounds that replace far links with closer groups.

use std::collections::BTreeSet;
use std::time::Duration;

use super::state::{GroupRole, InterConnect, ProbeFor, Purpose, State};
use super::{Peer, Timer};
use crate::id::{GroupId, PeerRef};
use crate::join::Measured;
use crate::link::{Action, MIN_LINKS, Search};
use crate::message::{
    CallError, GetBootListRequest, GetNeighborsRequest, MeasureReply, Request, Response, Target,
};
use crate::time::Time;

/// Improvement rounds a leader runs back to back, per re-measurement interval, while each finds
/// a closer group. A round that finds one runs the next at once instead of waiting a whole
/// `remeasure_interval`, so an overlay that started badly (a cluster starting at once, where
/// every peer founds a group of its own from an empty directory) descends to its near links
/// within seconds; a round that finds nothing ends the run. Each round costs one neighbour
/// query plus probes of the groups it names; eight rounds let a leader replace every one of
/// `inter_group_target` links once and then some.
pub(super) const MAX_IMPROVE_ROUNDS: u32 = 8;

impl Peer {
    pub(super) fn drive_search(&mut self, now: Time) {
        let _ = now;
        let target = self.cfg.inter_group_target as usize;
        let Some(l) = self.leading_mut() else { return };
        let near = l.near_links();
        let linked: BTreeSet<GroupId> = l.inter.keys().copied().collect();
        let Some(search) = l.search.current.as_mut() else {
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
            l.search.current = None;
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
        if l.search.current.is_some() {
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
            if l.search.improve_rounds >= MAX_IMPROVE_ROUNDS {
                return;
            }
            l.search.improve_rounds += 1;
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
        let start = if improve && l.search.improve_rounds > 1 && !near.is_empty() {
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
                l.search.current = Some(search);
                self.drive_search(now);
            }
            None => {
                l.search.current = Some(search);
                self.send(
                    Target::Rendezvous,
                    Request::GetBootList(GetBootListRequest {
                        max,
                        landmarks: false,
                        near: Vec::new(),
                        shortcut_for: Default::default(),
                    }),
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
        if let Some(s) = self.leading_mut().and_then(|l| l.search.current.as_mut()) {
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
        if let Some(s) = self.leading_mut().and_then(|l| l.search.current.as_mut()) {
            s.on_neighbors(group, reply);
        }
        self.drive_search(now);
    }

    pub(super) fn on_search_boot_reply(&mut self, now: Time, result: Result<Response, CallError>) {
        let list = match result {
            Ok(Response::BootList(list)) => list,
            _ => Vec::new(),
        };
        if let Some(s) = self.leading_mut().and_then(|l| l.search.current.as_mut()) {
            s.add_seeds(list.into_iter().map(|v| (v.group_id, v.leader)));
        }
        self.drive_search(now);
    }

    /// A re-walk ended without a group to join: the groups it measured become candidates of
    /// Figure 11 (of the search in progress, or of a new one), so that a group in this one's
    /// locality gets linked, and the merge check then merges them.
    pub(super) fn search_towards(&mut self, now: Time, nearest: Vec<Measured>) {
        self.ensure_search(now);
        if let Some(s) = self.leading_mut().and_then(|l| l.search.current.as_mut()) {
            s.add_measured(nearest.into_iter().map(|m| (m.group, m.leader, m.rtt)));
        }
        self.drive_search(now);
    }
}
