//! Partition links: the random link [0039] and the bridges the rendezvous asks for when it sees
//! part of the overlay cut off.

use std::time::Duration;

use super::Peer;
use super::inter::rtt_if_leads;
use super::state::{Bridge, InterConnect, ProbeFor, Purpose, RandomSample};
use crate::config::{Config, MAX_SHORTCUTS};
use crate::id::{GroupId, PeerRef};
use crate::message::{
    CallError, GetBootListRequest, GroupView, MAX_BOOT_LIST, MeasureReply, Request, Response,
    Target,
};

/// Random links a group of `members` keeps (its leader's own roster's count): the configured
/// number, times one for each full `members_per_shortcut` members (at least once, at most
/// [`MAX_SHORTCUTS`] in all). Both ends of a random link count it.
pub(super) fn shortcuts_wanted(cfg: &Config, members: usize) -> usize {
    let base = cfg.random_inter_group_links as usize;
    let per = cfg.members_per_shortcut as usize;
    let times = members.checked_div(per).map_or(1, |t| t.max(1));
    (base * times).min(base.max(MAX_SHORTCUTS as usize))
}

impl Peer {
    pub(super) fn ask_random_link(&mut self) {
        let max = self.cfg.boot_list_size;
        let min_members = self.cfg.random_link_min_members as usize;
        let Some(members) = self.leading_mut().map(|l| l.members.len()) else {
            return;
        };
        // A shortcut only for a group that can afford the link (its own roster's count).
        if members < min_members {
            return;
        }
        let wanted = shortcuts_wanted(&self.cfg, members);
        let shortcut_for = self.my_group_id().filter(|_| self.cfg.detour_shortcuts);
        let Some(l) = self.leading_mut() else { return };
        // A random link counts at both ends, whoever opened it.
        if l.search.random_pending || l.inter.values().filter(|n| n.random).count() >= wanted {
            return;
        }
        l.search.random_pending = true;
        self.send(
            Target::Rendezvous,
            Request::GetBootList(GetBootListRequest {
                max,
                landmarks: false,
                near: Vec::new(),
                shortcut_for,
            }),
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
            l.search.random_pending = false;
            return;
        }
        let k = (self.cfg.random_link_sample.max(1) as usize).min(list.len());
        let mut picks = Vec::with_capacity(k);
        for _ in 0..k {
            let pick = self.rng.below(list.len() as u64) as usize;
            picks.push(list.swap_remove(pick));
        }
        if let Some(l) = self.leading_mut() {
            l.search.random_sample = Some(RandomSample {
                pending: picks.len(),
                best: None,
            });
        }
        for v in picks {
            self.probe(v.leader, ProbeFor::Random(v.group_id));
        }
    }

    pub(super) fn on_random_measured(
        &mut self,
        group: GroupId,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let leads = rtt_if_leads(result, group);
        let Some(l) = self.leading_mut() else { return };
        let Some(sample) = l.search.random_sample.as_mut() else {
            return;
        };
        if let Some(rtt) = leads
            && !l.inter.contains_key(&group)
            && sample.best.as_ref().is_none_or(|(best, _, _)| rtt < *best)
        {
            sample.best = Some((rtt, group, target.clone()));
        }
        sample.pending = sample.pending.saturating_sub(1);
        if sample.pending > 0 {
            return;
        }
        match l.search.random_sample.take().and_then(|s| s.best) {
            Some((rtt, group, leader)) => self.connect_inter(InterConnect {
                group,
                leader,
                rtt,
                random: true,
                search: false,
                replaces: None,
                opened: true,
            }),
            None => l.search.random_pending = false,
        }
    }

    /// The rendezvous sees this group cut off from the largest part of the overlay and named
    /// groups of that part: measure them and link to the closest one that leads its group, as
    /// a partition link (not counted towards the target, never pruned for closeness).
    pub(super) fn start_bridge(&mut self, candidates: Vec<GroupView>) {
        let own = self.my_group_id();
        let Some(l) = self.leading_mut() else { return };
        if candidates.is_empty() || l.search.bridge.is_some() {
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
        l.search.bridge = Some(Bridge {
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
        let Some(b) = l.search.bridge.as_mut() else {
            return;
        };
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
    pub(super) fn try_next_bridge(&mut self) {
        let Some(l) = self.leading_mut() else { return };
        let Some(b) = l.search.bridge.as_mut() else {
            return;
        };
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
        l.search.bridge = None;
        self.announce_soon();
    }
}
