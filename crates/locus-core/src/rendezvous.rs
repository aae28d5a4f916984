//! The rendezvous point's directory [0044]: live groups, their leaders, and what changed.
//!
//! Pure data: the `locus-rendezvous` service wraps it in gRPC, the test harness and the
//! simulator use it directly. Leaders refresh their entries; an entry that is not refreshed
//! within the TTL expires.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;
use std::time::Duration;

use crate::id::{GroupId, PeerId};
use crate::message::{
    AnnounceReply, Announcement, GetBootListRequest, GroupView, LandmarkRtt, MAX_BOOT_LIST,
    MAX_LANDMARKS, MeasureReply, NeighborGroup,
};
use crate::rng::Rng;
use crate::term::term;
use crate::time::Time;

/// A change in the directory, for `WatchOverlay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A group appeared.
    GroupCreated(GroupView),
    /// A group's leader changed.
    LeaderChanged(GroupView),
    /// A group's member count changed.
    MembersChanged(GroupView),
    /// A group ended or its entry expired.
    GroupEnded(GroupId),
}

/// One live group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The group as its leader last announced it.
    pub view: GroupView,
    /// The leader's inter-group links.
    pub neighbors: Vec<NeighborGroup>,
    /// The neighbour groups it links to against partitions (random links and bridges).
    pub partition_links: Vec<GroupId>,
    /// When the entry was last refreshed.
    pub refreshed: Time,
    /// When the entry was created.
    pub created: Time,
    /// The leader's RTTs to landmark groups, sorted by group ([`Announcement::landmarks`]).
    pub landmarks: Vec<LandmarkRtt>,
}

/// The directory of live groups.
#[derive(Debug, Clone)]
pub struct Directory {
    ttl: Duration,
    max_groups: usize,
    entries: BTreeMap<GroupId, Entry>,
    /// The live groups in no particular order, and where each sits in it: a boot list picks
    /// positions at random, so sampling costs O(max) whatever the directory's size.
    order: Vec<GroupId>,
    /// Beside `order`, each group's landmark RTTs in µs by the position of the landmark in
    /// `landmarks` ([`NO_RTT`] where its leader measured none): `nearest` compares them in
    /// one pass over contiguous memory.
    positions: Vec<Position>,
    slots: HashMap<GroupId, usize>,
    /// The live groups by when their entry was last refreshed: expiry takes what is due from
    /// the front, O(k log n) for k expired entries.
    by_refresh: BTreeSet<(Time, GroupId)>,
    /// The group each peer leads, by the entries: one identity leads at most one group
    /// ([`Directory::authorize`]).
    leaders: BTreeMap<PeerId, GroupId>,
    components: Components,
    /// Bridge requests handed out, to spread them over the main component.
    bridges: u64,
    /// The landmark groups, oldest first ([`Directory::boot_list_from_landmarks`]).
    landmarks: Vec<GroupId>,
    /// Landmark groups picked so far, to spread the picks over the directory.
    landmark_picks: u64,
    /// See [`Directory::set_near_cut_links`].
    near_cut_links: bool,
    /// Groups asked for a cut's second link that announced without one, and when: not picked
    /// again for two TTLs (`second_link_for`).
    passed_over: BTreeMap<GroupId, Time>,
}

/// The connected components of the group graph as the announced neighbour lists draw it,
/// recomputed once per `ttl / 3` (one announce interval), and sooner — at most once per
/// `ttl / 30` — when an announcement dropped a link or a group ended, the only changes that
/// can cut a part off. Leaders announce at once when they lose a link, so a cut shows within
/// about a second instead of up to two intervals, and the cost stays one union-find pass per
/// interval while no link is dropped.
#[derive(Debug, Clone, Default)]
struct Components {
    computed: Option<Time>,
    /// A link was dropped or a group ended since `computed`.
    dirty: bool,
    /// The groups of the largest component, in group-id order.
    main: Vec<GroupId>,
    /// Groups outside the largest component, each with the index of its component and
    /// whether it may bridge it: its entry is at least one interval old (see
    /// `recompute_components`).
    minor: BTreeMap<GroupId, (usize, bool)>,
    /// Minor components whose bridge has been handed out since the recomputation: the first
    /// eligible group of a part to announce gets it, so a part waits for the soonest of its
    /// groups' announcements rather than for one picked in advance.
    bridged: std::collections::BTreeSet<usize>,
    /// Groups handed a bridge and not heard from since, and when: a part holding one is not
    /// handed another while that bridge is being measured and opened. The bridging leader
    /// announces as soon as its bridge is open or has failed, which ends the hold (or the
    /// interval does, if it never does).
    bridging: BTreeMap<GroupId, Time>,
    /// Groups of the largest component that one link holds on to the rest (the link is a
    /// bridge of the group graph), by the index of that cut in `cuts`. A group behind several
    /// cuts belongs to the one with the most groups behind it.
    fragile: BTreeMap<GroupId, usize>,
    cuts: Vec<Cut>,
    /// Entry time of each group of `main` (by its index there) in the depth-first pass of
    /// `find_cuts`, and the groups in that order: the side behind a cut is a range of it.
    tin: Vec<u32>,
    dfs: Vec<u32>,
    /// Cuts whose second link has been handed out since the recomputation.
    cuts_bridged: std::collections::BTreeSet<usize>,
}

/// A link of the largest component whose loss would cut groups off (see [`Directory::bridge_for`]).
#[derive(Debug, Clone)]
struct Cut {
    /// The group at the link's end on the side cut off (the smaller side).
    near: GroupId,
    /// Groups on the side cut off.
    behind: usize,
    /// Groups of the other side nearest, in links, to the link's far end (the far end last,
    /// and only when there is no other): a second link to one of them would not share the
    /// cut link, nor its far end when the side has more than one group.
    targets: Vec<GroupId>,
    /// The link's far end.
    far: GroupId,
    /// The side behind: `dfs[from..to]` when `subtree`, all but that otherwise.
    from: u32,
    to: u32,
    subtree: bool,
    /// The group behind the cut that is asked for the second link and its targets, picked
    /// by the landmarks' upper bound when the first group behind it announces (`None` until then;
    /// `Some(None)` when too few groups announced landmark RTTs to compare).
    nearest_pair: Option<Option<(GroupId, Vec<GroupId>)>>,
}

/// What `find_cuts` finds: the groups behind a cut with its index, the cuts, and the entry
/// times and order of its depth-first pass.
type FoundCuts = (BTreeMap<GroupId, usize>, Vec<Cut>, Vec<u32>, Vec<u32>);

/// Most cuts the directory keeps per recomputation: the ones with the most groups behind them.
const MAX_CUTS: usize = 256;

/// A cut is protected only when at least this share (one in so many) of the largest
/// component's groups, and at least two, lie behind it. Small parts cut off are bridged within
/// seconds once it happens (`bridge_for`); protecting each of them in advance piled partition
/// links onto the few groups next to the cuts while the overlay grew (100,000 peers: 223
/// partition links instead of 106, and those groups, full, refused closer neighbours, so
/// 2,784 groups instead of 1,917 and path stretch p90 7.7 instead of 4.6).
const MIN_CUT_SHARE: usize = 16;

/// Groups behind a cut, and across it, compared in pairs to pick the pair least apart
/// (`Directory::nearest_pair_across`): at most 64 × 512 landmark bounds per cut and
/// recomputation.
const PAIR_SAMPLE_BEHIND: usize = 64;
/// See [`PAIR_SAMPLE_BEHIND`].
const PAIR_SAMPLE_ACROSS: usize = 512;

/// Groups a search for a cut's targets visits at most.
const MAX_CUT_SEARCH: usize = 64;

/// Landmark groups a directory keeps (docs/decisions.md, "Joins that start near").
pub const LANDMARKS: usize = 8;

/// Landmarks a group's leader must have measured in common with a joining peer to be
/// compared with it: two RTTs place a point in the plane only up to a mirror image.
pub const MIN_COMMON_LANDMARKS: usize = 3;

/// Entries one `nearest` request compares at most, so that its cost is bounded whatever the
/// directory's size.
pub const MAX_NEAR_SCAN: usize = 8192;
/// A group is a shortcut candidate when the overlay's path to it is at least this many times
/// the landmark lower bound on the RTT to it ([`Directory::shortcut_candidates`]). Offline, on
/// PlanetLab 490 overlays with their shortcuts taken out and put back by each rule, 1.5 gave
/// the lowest and steadiest stretch median; 2 left fewer candidates and longer paths, and a
/// uniform sample swung the median between 1.2 and 1.6 with the draw (docs/decisions.md).
pub const SHORTCUT_DETOUR: f64 = 1.5;

/// Groups one directory holds at most by default; announcements of new groups beyond it are
/// refused ([`Directory::is_full_for`]).
pub const MAX_GROUPS: usize = 100_000;

impl Directory {
    /// An empty directory whose entries live `ttl` past their last refresh.
    pub fn new(ttl: Duration) -> Self {
        Self::with_max_groups(ttl, MAX_GROUPS)
    }

    /// Whether a cut's second link goes between the pair of groups across it that the
    /// landmarks place nearest (on, the default; docs/decisions.md, "Partition links that land
    /// near"), or from the first group behind it to announce towards the groups next to the
    /// cut (off, the behaviour before).
    pub fn set_near_cut_links(&mut self, on: bool) {
        self.near_cut_links = on;
    }

    /// An empty directory that holds at most `max_groups` groups.
    pub fn with_max_groups(ttl: Duration, max_groups: usize) -> Self {
        Directory {
            ttl,
            max_groups,
            entries: BTreeMap::new(),
            order: Vec::new(),
            positions: Vec::new(),
            slots: HashMap::new(),
            by_refresh: BTreeSet::new(),
            leaders: BTreeMap::new(),
            components: Components::default(),
            bridges: 0,
            landmarks: Vec::new(),
            landmark_picks: 0,
            near_cut_links: true,
            passed_over: BTreeMap::new(),
        }
    }

    /// Whether `a` would add a group to a directory already at its cap: [`Directory::announce`]
    /// leaves it out, and a service says so (`RESOURCE_EXHAUSTED`).
    pub fn is_full_for(&self, a: &Announcement) -> bool {
        !a.ended
            && self.entries.len() >= self.max_groups
            && !self.entries.contains_key(&a.group.group_id)
    }

    /// Whether the announcement needs its leader checked before [`Directory::announce`]
    /// takes it: everything but a refresh of the entry as it stands (same leader, same epoch).
    /// A new group, a change of leader or epoch, and an `ended` all rest on the announced
    /// leader, and the rendezvous has only the sender's word for it: the driver (the gRPC
    /// service, the harness) asks that leader directly with a `Measure`, and passes the
    /// announcement on only when [`confirms`] says its reply bears it out. So a forged
    /// announcement naming a peer that does not lead the group, or an address nobody answers
    /// at, never enters the directory nor makes a leader step down.
    pub fn needs_check(&self, a: &Announcement) -> bool {
        match self.entries.get(&a.group.group_id) {
            Some(e) => {
                a.ended || e.view.leader.id != a.group.leader.id || e.view.epoch != a.group.epoch
            }
            None => !a.ended,
        }
    }

    /// Records an announcement and returns the reply plus the changes it caused. When
    /// [`Directory::needs_check`] says so, the caller must have confirmed it first.
    ///
    /// An announcement from an older leadership than the entry's (lower epoch, or the same
    /// epoch from a peer with a higher id) is refused with the entry's view, so that a stale
    /// leader learns of its successor.
    pub fn announce(&mut self, now: Time, a: Announcement) -> (AnnounceReply, Vec<Change>) {
        let id = a.group.group_id;
        let mut changes = Vec::new();
        if a.ended {
            if let Some(e) = self.entries.get(&id)
                && e.view.leader.id == a.group.leader.id
            {
                self.remove(id);
                self.fill_landmarks();
                self.components.dirty = true;
                changes.push(Change::GroupEnded(id));
            }
            return (
                AnnounceReply {
                    superseded_by: None,
                    bridge: Vec::new(),
                },
                changes,
            );
        }
        match self.entries.get_mut(&id) {
            Some(e) => {
                let theirs = term(&a.group);
                if theirs < term(&e.view) {
                    return (
                        AnnounceReply {
                            superseded_by: Some(e.view.clone()),
                            bridge: Vec::new(),
                        },
                        changes,
                    );
                }
                if e.view.leader.id != a.group.leader.id || e.view.epoch != a.group.epoch {
                    changes.push(Change::LeaderChanged(a.group.clone()));
                } else if e.view.member_count != a.group.member_count {
                    changes.push(Change::MembersChanged(a.group.clone()));
                }
                if e.neighbors
                    .iter()
                    .any(|old| a.neighbors.iter().all(|n| n.group_id != old.group_id))
                {
                    self.components.dirty = true;
                }
                if e.view.leader.id != a.group.leader.id {
                    if self.leaders.get(&e.view.leader.id) == Some(&id) {
                        self.leaders.remove(&e.view.leader.id);
                    }
                    self.leaders.insert(a.group.leader.id, id);
                }
                e.view = a.group;
                e.neighbors = a.neighbors;
                e.partition_links = a.partition_links;
                e.landmarks = landmark_vector(a.landmarks);
                if let Some(&slot) = self.slots.get(&id) {
                    self.positions[slot] = position(&self.landmarks, &e.landmarks, Some(id));
                }
                self.by_refresh.remove(&(e.refreshed, id));
                self.by_refresh.insert((now, id));
                e.refreshed = now;
            }
            None => {
                if self.entries.len() >= self.max_groups {
                    return (
                        AnnounceReply {
                            superseded_by: None,
                            bridge: Vec::new(),
                        },
                        changes,
                    );
                }
                changes.push(Change::GroupCreated(a.group.clone()));
                self.leaders.insert(a.group.leader.id, id);
                let landmarks = landmark_vector(a.landmarks);
                self.slots.insert(id, self.order.len());
                self.order.push(id);
                self.positions
                    .push(position(&self.landmarks, &landmarks, Some(id)));
                self.by_refresh.insert((now, id));
                self.entries.insert(
                    id,
                    Entry {
                        view: a.group,
                        neighbors: a.neighbors,
                        partition_links: a.partition_links,
                        refreshed: now,
                        created: now,
                        landmarks,
                    },
                );
            }
        }
        self.fill_landmarks();
        let bridge = self.bridge_for(now, id);
        (
            AnnounceReply {
                superseded_by: None,
                bridge,
            },
            changes,
        )
    }

    /// Partition repair (beyond the seed, in place of a random link per group [0039]): when
    /// `group` is the first eligible group of a component cut off from the largest to announce
    /// since the last recomputation, groups of the largest component for its leader to link
    /// to. Its own announced neighbours are checked too, so that a link opened since the last
    /// recomputation spares the bridge.
    fn bridge_for(&mut self, now: Time, group: GroupId) -> Vec<GroupView> {
        let dirty = self.components.dirty;
        let stale = self.components.computed.is_none_or(|at| {
            let since = now.saturating_since(at);
            since >= self.ttl / 3 || (dirty && since >= self.ttl / 30)
        });
        if stale {
            self.recompute_components(now);
        }
        let Some(&(part, settled)) = self.components.minor.get(&group) else {
            return self.second_link_for(now, group);
        };
        if self.components.bridging.remove(&group).is_some() {
            // Its bridge is open or failed: either way this announcement tells which.
            self.components.bridged.remove(&part);
        }
        if !settled {
            return Vec::new();
        }
        if self.components.bridging.len() >= self.max_groups {
            return Vec::new();
        }
        if self.components.bridged.contains(&part) {
            return Vec::new();
        }
        let main = &self.components.main;
        let Some(entry) = self.entries.get(&group) else {
            return Vec::new();
        };
        let joined = entry
            .neighbors
            .iter()
            .any(|n| main.binary_search(&n.group_id).is_ok());
        let k = main.len().min(MAX_BOOT_LIST);
        if joined || k == 0 {
            // A link into the largest part opened since the recomputation joins the whole
            // part: no other group of it needs to bridge.
            if joined {
                self.components.bridged.insert(part);
            }
            return Vec::new();
        }
        self.components.bridged.insert(part);
        self.components.bridging.insert(group, now);
        // Evenly spaced from a rotating start: different bridges land on different groups.
        // Not the groups nearest the bridging group (as for a cut's second link): spread
        // bridges double as shortcuts, and at 100,000 peers with churn near ones took path
        // stretch p90 from 2.46 to 2.62 (docs/decisions.md, "Partition links that land near").
        let start = (self.bridges % main.len() as u64) as usize;
        self.bridges = self.bridges.wrapping_add(1);
        let step = main.len() / k;
        let targets: Vec<GroupId> = (0..k)
            .map(|i| main[(start + i * step) % main.len()])
            .collect();
        self.views(&targets)
    }

    /// The groups behind cut `k` (`behind`) or on its other side, at the recomputation.
    fn side(&self, k: usize, behind: bool) -> Box<dyn Iterator<Item = GroupId> + '_> {
        let c = &self.components;
        let cut = &c.cuts[k];
        let (from, to) = (cut.from as usize, cut.to as usize);
        let id = |i: &u32| c.main[*i as usize];
        if behind == cut.subtree {
            Box::new(c.dfs[from..to].iter().map(id))
        } else {
            Box::new(c.dfs[..from].iter().chain(&c.dfs[to..]).map(id))
        }
    }

    /// Whether `group` was on the other side of cut `k` at the recomputation (not behind it,
    /// and not its far end when the side behind has more than one group).
    fn is_across(&self, k: usize, group: GroupId) -> bool {
        let c = &self.components;
        let cut = &c.cuts[k];
        let Ok(i) = c.main.binary_search(&group) else {
            return false;
        };
        let t = c.tin[i];
        let inside = (cut.from..cut.to).contains(&t);
        inside != cut.subtree && !(group == cut.far && cut.behind > 1)
    }

    /// The views of the groups in `ids` that are in the directory, in that order.
    fn views(&self, ids: &[GroupId]) -> Vec<GroupView> {
        ids.iter()
            .filter_map(|g| self.entries.get(g))
            .map(|e| e.view.clone())
            .collect()
    }

    /// A group's landmark RTTs as `nearest` compares them, if it is in the directory.
    fn position_of(&self, id: GroupId) -> Option<&Position> {
        self.slots
            .get(&id)
            .and_then(|&slot| self.positions.get(slot))
    }

    /// Up to `max` groups of `pool` nearest a peer at `from` by the landmarks' upper bound
    /// ([`landmark_upper_bound`]), nearest first; groups without [`MIN_COMMON_LANDMARKS`]
    /// landmarks in common with it are left out, and at most [`MAX_NEAR_SCAN`] of `pool` are
    /// compared.
    fn nearest_of(
        &self,
        from: &Position,
        pool: impl Iterator<Item = GroupId>,
        max: usize,
    ) -> Vec<GroupId> {
        let mut best: Vec<(u32, GroupId)> = Vec::with_capacity(max + 1);
        for id in pool.take(MAX_NEAR_SCAN) {
            let Some(bound) = self
                .position_of(id)
                .and_then(|p| landmark_upper_bound(from, p, MIN_COMMON_LANDMARKS))
            else {
                continue;
            };
            keep_least(&mut best, max, (bound, id));
        }
        best.into_iter().map(|(_, g)| g).collect()
    }

    /// The group behind cut `k` to ask for its second link, and the groups on the other side
    /// for it to measure: of the eligible groups behind (a sample of [`PAIR_SAMPLE_BEHIND`])
    /// and the groups across (a sample of [`PAIR_SAMPLE_ACROSS`]), the pair least apart by
    /// the landmarks' upper bound, and the groups across nearest the first of it. `None` when
    /// no pair can be compared (too few landmark RTTs announced): then the first eligible
    /// group behind to announce is asked, towards the groups next to the far end. A group
    /// passed over (it was asked and opened no link across) is not eligible.
    fn nearest_pair_across(&self, k: usize, now: Time) -> Option<(GroupId, Vec<GroupId>)> {
        let c = &self.components;
        let cut = &c.cuts[k];
        let interval = self.ttl / 3;
        let eligible = |g: &GroupId| {
            c.fragile.get(g) == Some(&k)
                && !(*g == cut.near && cut.behind > 1)
                && !self.passed_over.contains_key(g)
                && self
                    .entries
                    .get(g)
                    .is_some_and(|e| now.saturating_since(e.created) >= interval)
        };
        let across = || {
            self.side(k, false)
                .filter(|g| !(*g == cut.far && cut.behind > 1))
        };
        let sample = |v: Box<dyn Iterator<Item = GroupId> + '_>, len: usize, cap: usize| {
            v.step_by(len.div_ceil(cap).max(1))
                .filter_map(|g| self.position_of(g).map(|p| (g, *p)))
                .collect::<Vec<(GroupId, Position)>>()
        };
        let behind_len = (cut.to - cut.from) as usize;
        let behind_len = if cut.subtree {
            behind_len
        } else {
            c.main.len() - behind_len
        };
        let across_sample = sample(
            Box::new(across()),
            c.main.len() - behind_len,
            PAIR_SAMPLE_ACROSS,
        );
        let behind_sample = sample(self.side(k, true), behind_len, PAIR_SAMPLE_BEHIND);
        let mut best: Option<(u32, GroupId)> = None;
        for (b, pb) in behind_sample.into_iter().filter(|(b, _)| eligible(b)) {
            for (_, pa) in &across_sample {
                if let Some(bound) = landmark_upper_bound(&pb, pa, MIN_COMMON_LANDMARKS)
                    && best.is_none_or(|x| (bound, b) < x)
                {
                    best = Some((bound, b));
                }
            }
        }
        let (_, chosen) = best?;
        let targets = self.nearest_of(self.position_of(chosen)?, across(), MAX_BOOT_LIST);
        (!targets.is_empty()).then_some((chosen, targets))
    }

    /// Protection against the next cut (beyond the seed): when `group` lies behind a link
    /// whose loss would cut it off from the rest of the largest component, and is the group
    /// behind it that the landmarks place nearest the other side ([`Self::nearest_pair_across`];
    /// without landmark RTTs, the first eligible group behind that link to announce since the
    /// last recomputation), groups on the other side for its leader to link to (a partition
    /// link). The largest component then
    /// stays connected when any one link goes, where otherwise it waited for a cut to happen
    /// and for the next announcements to repair it: on PlanetLab 490 two halves of the overlay
    /// hang on one to three links, and merges and link pruning drop those now and then.
    fn second_link_for(&mut self, now: Time, group: GroupId) -> Vec<GroupView> {
        let Some(&k) = self.components.fragile.get(&group) else {
            return Vec::new();
        };
        let asked = self.components.bridging.remove(&group).is_some();
        if asked {
            self.components.cuts_bridged.remove(&k);
        }
        let interval = self.ttl / 3;
        let Some(entry) = self.entries.get(&group) else {
            return Vec::new();
        };
        let cut = &self.components.cuts[k];
        if now.saturating_since(entry.created) < interval
            || self.components.cuts_bridged.contains(&k)
            || (group == cut.near && cut.behind > 1)
        {
            return Vec::new();
        }
        if entry
            .neighbors
            .iter()
            .any(|n| cut.targets.contains(&n.group_id) || self.is_across(k, n.group_id))
        {
            // Linked across since the recomputation.
            self.components.cuts_bridged.insert(k);
            return Vec::new();
        }
        if asked {
            // Asked and no link across: its targets refused, or its leader announced a place
            // it is not at to be picked and then opened nothing. Another pair is picked, and
            // this group is passed over for a while.
            let hold = self.ttl * 2;
            self.passed_over
                .retain(|_, at| now.saturating_since(*at) < hold);
            self.passed_over.insert(group, now);
            self.components.cuts[k].nearest_pair = None;
        }
        if self.components.cuts[k].nearest_pair.is_none() {
            let pair = if self.near_cut_links {
                self.nearest_pair_across(k, now)
            } else {
                None
            };
            self.components.cuts[k].nearest_pair = Some(pair);
        }
        let cut = &self.components.cuts[k];
        let targets = match &cut.nearest_pair {
            Some(Some((chosen, _))) if *chosen != group => return Vec::new(),
            Some(Some((_, near))) => self.views(near),
            _ => self.views(&cut.targets),
        };
        if !targets.is_empty() {
            self.components.cuts_bridged.insert(k);
            self.components.bridging.insert(group, now);
        }
        targets
    }

    /// The cut links of the largest component (bridges of its group graph, found in one
    /// depth-first pass) and the groups behind each.
    fn find_cuts(&self, main: &[GroupId]) -> FoundCuts {
        let n = main.len();
        let mut fragile = BTreeMap::new();
        if n < 2 {
            return (fragile, Vec::new(), Vec::new(), Vec::new());
        }
        let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, id) in main.iter().enumerate() {
            for nb in self.entries.get(id).map_or(&[][..], |e| &e.neighbors[..]) {
                if let Ok(j) = main.binary_search(&nb.group_id)
                    && j != i
                {
                    adj[i].push(j as u32);
                    adj[j].push(i as u32);
                }
            }
        }
        for a in &mut adj {
            a.sort_unstable();
            a.dedup();
        }
        // Iterative depth-first search: entry time, lowest entry time reachable with one back
        // link, subtree size and exit time of every group.
        const NONE: u32 = u32::MAX;
        let mut tin = vec![NONE; n];
        let mut low = vec![0u32; n];
        let mut size = vec![1u32; n];
        let mut tout = vec![0u32; n];
        let mut parent = vec![NONE; n];
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
        tin[0] = 0;
        order.push(0);
        while let Some(top) = stack.last_mut() {
            let (v, k) = (top.0 as usize, top.1);
            if let Some(&w) = adj[v].get(k) {
                top.1 += 1;
                let w = w as usize;
                if tin[w] == NONE {
                    tin[w] = order.len() as u32;
                    low[w] = tin[w];
                    parent[w] = v as u32;
                    order.push(w as u32);
                    stack.push((w as u32, 0));
                } else if w as u32 != parent[v] {
                    low[v] = low[v].min(tin[w]);
                }
            } else {
                stack.pop();
                tout[v] = order.len() as u32;
                if let Some(&(p, _)) = stack.last() {
                    let p = p as usize;
                    low[p] = low[p].min(low[v]);
                    size[p] += size[v];
                }
            }
        }
        // Each cut: (groups behind, near end, far end, whether the side behind is the
        // subtree of the near end).
        let least = (n / MIN_CUT_SHARE).max(2);
        let mut found: Vec<(usize, usize, usize, bool)> = (1..n)
            .filter(|&v| parent[v] != NONE && low[v] > tin[parent[v] as usize])
            .map(|v| {
                let (p, below) = (parent[v] as usize, size[v] as usize);
                if below <= n - below {
                    (below, v, p, true)
                } else {
                    (n - below, p, v, false)
                }
            })
            .filter(|&(behind, ..)| behind >= least)
            .collect();
        found.sort_unstable_by_key(|&(behind, near, _, _)| (std::cmp::Reverse(behind), near));
        found.truncate(MAX_CUTS);
        let mut cuts = Vec::with_capacity(found.len());
        for (behind, near, far, subtree) in found {
            let k = cuts.len();
            // The side behind the cut: the subtree of the tree end of the cut link, or all
            // but it (entry times are contiguous in a subtree).
            let v = if subtree { near } else { far };
            let (from, to) = (tin[v] as usize, tout[v] as usize);
            let side: Box<dyn Iterator<Item = &u32>> = if subtree {
                Box::new(order[from..to].iter())
            } else {
                Box::new(order[..from].iter().chain(&order[to..]))
            };
            for &g in side {
                fragile.entry(main[g as usize]).or_insert(k);
            }
            // Breadth-first from the far end, not back over the cut link.
            let mut seen = std::collections::BTreeSet::from([far, near]);
            let mut queue = std::collections::VecDeque::from([far]);
            let mut targets = Vec::new();
            while let Some(x) = queue.pop_front() {
                if seen.len() > MAX_CUT_SEARCH || targets.len() >= MAX_BOOT_LIST {
                    break;
                }
                for &y in &adj[x] {
                    let y = y as usize;
                    if seen.insert(y) {
                        targets.push(main[y]);
                        queue.push_back(y);
                    }
                }
            }
            targets.truncate(MAX_BOOT_LIST);
            if targets.is_empty() {
                targets.push(main[far]);
            }
            cuts.push(Cut {
                near: main[near],
                behind,
                targets,
                far: main[far],
                from: from as u32,
                to: to as u32,
                subtree,
                nearest_pair: None,
            });
        }
        (fragile, cuts, tin, order)
    }

    /// Union-find over the live entries and the links their leaders announced (a link counts
    /// when either end announces it).
    fn recompute_components(&mut self, now: Time) {
        let ids: Vec<GroupId> = self.entries.keys().copied().collect();
        let mut parent: Vec<usize> = (0..ids.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (i, e) in self.entries.values().enumerate() {
            for n in &e.neighbors {
                if let Ok(j) = ids.binary_search(&n.group_id) {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
            }
        }
        let roots: Vec<usize> = (0..ids.len()).map(|i| root(&mut parent, i)).collect();
        let mut size: BTreeMap<usize, usize> = BTreeMap::new();
        for r in &roots {
            *size.entry(*r).or_default() += 1;
        }
        // The largest component; ties go to the one holding the smallest group id.
        let main_root = size
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r)))
            .map(|(r, _)| *r);
        let interval = self.ttl / 3;
        let mut bridging = std::mem::take(&mut self.components.bridging);
        bridging
            .retain(|g, at| now.saturating_since(*at) < interval && self.entries.contains_key(g));
        let mut c = Components {
            computed: Some(now),
            ..Components::default()
        };
        // A group announces at once when it is founded, before its search has linked it, so
        // its first entry shows it cut off. After a cold start (every group founded within
        // the same few seconds) a recomputation then sees most groups cut off although their
        // searches link them within seconds, and bridging every one of them piles ~100 ms
        // partition links onto the few groups of the largest part (on PlanetLab 490, 106
        // groups were asked at 10 s and 16 at 20 s where at most a handful were really cut
        // off). So only a group whose entry is one interval old, and whose announced links
        // therefore come from a finished search, is picked to bridge its part.
        for ((i, id), e) in ids.iter().enumerate().zip(self.entries.values()) {
            if Some(roots[i]) == main_root {
                c.main.push(*id);
            } else {
                let settled = now.saturating_since(e.created) >= interval;
                c.minor.insert(*id, (roots[i], settled));
                if bridging.contains_key(id) {
                    c.bridged.insert(roots[i]);
                }
            }
        }
        c.bridging = bridging;
        (c.fragile, c.cuts, c.tin, c.dfs) = self.find_cuts(&c.main);
        for g in c.bridging.keys() {
            if let Some(&k) = c.fragile.get(g) {
                c.cuts_bridged.insert(k);
            }
        }
        self.components = c;
    }

    /// The entries [`Directory::expire`] would drop at `now`, least recently refreshed first.
    pub fn expiring(&self, now: Time) -> impl Iterator<Item = &Entry> {
        self.by_refresh
            .iter()
            .take_while(move |(at, _)| now.saturating_since(*at) > self.ttl)
            .filter_map(|(_, id)| self.entries.get(id))
    }

    /// Drops entries not refreshed within the TTL.
    pub fn expire(&mut self, now: Time) -> Vec<Change> {
        let dead: Vec<GroupId> = self.expiring(now).map(|e| e.view.group_id).collect();
        if !dead.is_empty() {
            self.components.dirty = true;
        }
        let changes = dead
            .into_iter()
            .map(|id| {
                self.remove(id);
                Change::GroupEnded(id)
            })
            .collect();
        self.fill_landmarks();
        changes
    }

    /// A random sample of at most `max` live groups [0044], in O(max) whatever the size of
    /// the directory.
    pub fn boot_list(&self, rng: &mut Rng, max: usize) -> Vec<GroupView> {
        let max = max.min(MAX_BOOT_LIST);
        let n = self.order.len();
        if n <= max {
            return self.entries.values().map(|e| e.view.clone()).collect();
        }
        // Floyd's sampling: `max` distinct positions in `max` draws.
        let mut picked = BTreeSet::new();
        for j in (n - max)..n {
            let t = rng.below(j as u64 + 1) as usize;
            if !picked.insert(t) {
                picked.insert(j);
            }
        }
        picked
            .into_iter()
            .filter_map(|i| self.entries.get(&self.order[i]))
            .map(|e| e.view.clone())
            .collect()
    }

    /// The answer to a boot-list request: the groups nearest the caller's landmark RTTs when it
    /// sent them, the landmark groups first when it asked for them, a random sample
    /// otherwise.
    pub fn answer(&self, rng: &mut Rng, request: &GetBootListRequest) -> Vec<GroupView> {
        let max = request.max as usize;
        if let Some(from) = request.shortcut_for {
            self.shortcut_candidates(rng, max, from)
        } else if !request.near.is_empty() {
            self.nearest(rng, max, &request.near)
        } else if request.landmarks {
            self.boot_list_from_landmarks(rng, max)
        } else {
            self.boot_list(rng, max)
        }
    }

    /// Up to `max` groups for `from`'s leader to measure for a shortcut, drawn at random from
    /// the groups the overlay reaches from `from` only the long way round: along the announced
    /// links (their announced RTTs) the path is at least [`SHORTCUT_DETOUR`] times the landmark
    /// lower bound on the RTT between the two leaders ([`landmark_bound`]), or there is none.
    /// The leader links to the closest that answers as its group's leader, as it did from a
    /// uniform sample (docs/decisions.md, "Shortcuts where the overlay goes the long way
    /// round"): a shortcut then lands where it shortens paths rather than beside a group a hop
    /// or two away. `from`'s own links and groups without [`MIN_COMMON_LANDMARKS`] landmarks in
    /// common are left out; with none left (or `from` unknown or without landmark RTTs), a
    /// random sample as before. The search settles at most [`MAX_NEAR_SCAN`] groups, and at
    /// most that many are compared, from a random place in the directory.
    pub fn shortcut_candidates(&self, rng: &mut Rng, max: usize, from: GroupId) -> Vec<GroupView> {
        let max = max.min(MAX_BOOT_LIST);
        let (Some(entry), Some(here)) = (self.entries.get(&from), self.position_of(from)) else {
            return self.boot_list(rng, max);
        };
        let n = self.order.len();
        if max == 0 || n == 0 {
            return Vec::new();
        }
        // Overlay distances from `from` over the announced links, µs, by slot.
        let mut dist = vec![u64::MAX; n];
        let Some(&start) = self.slots.get(&from) else {
            return self.boot_list(rng, max);
        };
        dist[start] = 0;
        let mut heap = std::collections::BinaryHeap::from([std::cmp::Reverse((0u64, start))]);
        let mut settled = 0;
        // Groups not settled are at least this far (the search stopped there).
        let mut reach = 0u64;
        while let Some(std::cmp::Reverse((d, at))) = heap.pop() {
            if d > dist[at] {
                continue;
            }
            reach = d;
            settled += 1;
            if settled > MAX_NEAR_SCAN {
                break;
            }
            let Some(e) = self.entries.get(&self.order[at]) else {
                continue;
            };
            for nb in &e.neighbors {
                let Some(&to) = self.slots.get(&nb.group_id) else {
                    continue;
                };
                let via = d.saturating_add(nb.rtt.as_micros().min(u128::from(u32::MAX)) as u64);
                if via < dist[to] {
                    dist[to] = via;
                    heap.push(std::cmp::Reverse((via, to)));
                }
            }
        }
        let stopped = settled > MAX_NEAR_SCAN;
        let linked: BTreeSet<GroupId> = entry.neighbors.iter().map(|nb| nb.group_id).collect();
        // (random key, group) of a random `max` of the groups the long way round.
        let mut far: Vec<(u32, GroupId)> = Vec::with_capacity(max + 1);
        for at in self.scan_window(rng) {
            let id = self.order[at];
            if id == from || linked.contains(&id) {
                continue;
            }
            let Some(bound) = landmark_bound(here, &self.positions[at], MIN_COMMON_LANDMARKS)
            else {
                continue;
            };
            let path = if stopped && dist[at] == u64::MAX {
                reach
            } else {
                dist[at]
            };
            if path == u64::MAX || path as f64 >= SHORTCUT_DETOUR * f64::from(bound) {
                // A random `max` of them: the least of random keys.
                keep_least(&mut far, max, (rng.below(1 << 30) as u32, id));
            }
        }
        if far.is_empty() {
            return self.boot_list(rng, max);
        }
        far.into_iter()
            .filter_map(|(_, g)| self.entries.get(&g))
            .map(|e| e.view.clone())
            .collect()
    }

    /// The positions in `order` that one request compares: all of them, or
    /// [`MAX_NEAR_SCAN`] in a row from a random place when the directory holds more.
    fn scan_window(&self, rng: &mut Rng) -> impl Iterator<Item = usize> + use<> {
        let n = self.order.len();
        let scan = n.min(MAX_NEAR_SCAN);
        let start = if scan < n {
            rng.below(n as u64) as usize
        } else {
            0
        };
        (0..scan).map(move |k| (start + k) % n)
    }

    /// A boot list for a join walk's first request: the landmark groups, then a random
    /// sample, `max` in all. The walk measures them and sends its RTTs back as
    /// [`Directory::nearest`]'s `near` (docs/decisions.md, "Joins that start near").
    pub fn boot_list_from_landmarks(&self, rng: &mut Rng, max: usize) -> Vec<GroupView> {
        let max = max.min(MAX_BOOT_LIST);
        let mut list: Vec<GroupView> = self
            .landmarks
            .iter()
            .filter_map(|g| self.entries.get(g))
            .map(|e| e.view.clone())
            .take(max)
            .collect();
        if list.len() < max {
            let rest = self.boot_list(rng, max);
            for v in rest {
                if list.len() == max {
                    break;
                }
                if !self.landmarks.contains(&v.group_id) {
                    list.push(v);
                }
            }
        }
        list
    }

    /// The `max` groups likely nearest a peer that measured the RTTs in `near` to landmark
    /// groups: by the triangle inequality, the RTT between the peer and a group's leader is
    /// at least the largest difference between their RTTs to any one landmark, so the groups
    /// for which that bound is least come first. A group counts only when its leader measured
    /// at least [`MIN_COMMON_LANDMARKS`] of the same landmarks (or all of them, if `near` has
    /// fewer); groups named in `near` are left out, the caller has measured them. At most
    /// [`MAX_NEAR_SCAN`] entries are compared, from a random place in the directory.
    pub fn nearest(&self, rng: &mut Rng, max: usize, near: &[LandmarkRtt]) -> Vec<GroupView> {
        let max = max.min(MAX_BOOT_LIST);
        let query = landmark_vector(near.to_vec());
        let q = position(&self.landmarks, &query, None);
        let known = q.iter().filter(|r| **r != NO_RTT).count();
        let need = MIN_COMMON_LANDMARKS.min(known);
        let n = self.order.len();
        if need == 0 || max == 0 || n == 0 {
            return Vec::new();
        }
        // (bound in µs, group) of the best `max` so far, worst last.
        let mut best: Vec<(u32, GroupId)> = Vec::with_capacity(max + 1);
        for at in self.scan_window(rng) {
            let Some(bound) = landmark_bound(&q, &self.positions[at], need) else {
                continue;
            };
            let id = self.order[at];
            if best.len() == max && best.last().is_some_and(|w| (bound, id) >= *w) {
                continue;
            }
            if query.iter().any(|l| l.group == id) {
                continue;
            }
            keep_least(&mut best, max, (bound, id));
        }
        best.into_iter()
            .filter_map(|(_, g)| self.entries.get(&g))
            .map(|e| e.view.clone())
            .collect()
    }

    /// The landmark groups, oldest pick first.
    pub fn landmarks(&self) -> &[GroupId] {
        &self.landmarks
    }

    /// Keeps [`LANDMARKS`] landmark groups while the directory has them: a landmark stays
    /// until its group ends (a new leader keeps it: it is a member of the same group, near
    /// the old one), and a new one is picked at a spread-out place of the directory.
    fn fill_landmarks(&mut self) {
        let n = self.order.len();
        while self.landmarks.len() < LANDMARKS.min(n) {
            // Positions a golden-ratio step apart (Weyl sequence) until a free one turns up;
            // at most n tries, so the loop ends whatever the picks so far.
            let mut picked = None;
            for _ in 0..n {
                self.landmark_picks = self.landmark_picks.wrapping_add(1);
                let at = ((self.landmark_picks.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32)
                    % n as u64) as usize;
                let id = self.order[at];
                if !self.landmarks.contains(&id) {
                    picked = Some(id);
                    break;
                }
            }
            match picked {
                Some(id) => {
                    self.landmarks.push(id);
                    self.rebuild_positions();
                }
                None => break,
            }
        }
    }

    /// Recomputes every group's [`Position`] after the landmarks changed (rare: a landmark
    /// stays until its group ends).
    fn rebuild_positions(&mut self) {
        let positions = self
            .order
            .iter()
            .map(|id| {
                self.entries.get(id).map_or([NO_RTT; LANDMARKS], |e| {
                    position(&self.landmarks, &e.landmarks, Some(*id))
                })
            })
            .collect();
        self.positions = positions;
    }

    fn remove(&mut self, id: GroupId) {
        let Some(e) = self.entries.remove(&id) else {
            return;
        };
        if self.landmarks.contains(&id) {
            self.landmarks.retain(|g| *g != id);
            self.rebuild_positions();
        }
        if self.leaders.get(&e.view.leader.id) == Some(&id) {
            self.leaders.remove(&e.view.leader.id);
        }
        self.by_refresh.remove(&(e.refreshed, id));
        if let Some(slot) = self.slots.remove(&id) {
            self.order.swap_remove(slot);
            self.positions.swap_remove(slot);
            if let Some(moved) = self.order.get(slot) {
                self.slots.insert(*moved, slot);
            }
        }
    }

    /// Whether the authenticated peer `caller` may make announcement `a` (docs/security.md):
    /// - only the leader it names announces a group, and one peer leads one group;
    /// - only the current leader ends a group;
    /// - a new leader (or epoch) of an existing group is taken from a successor the entry
    ///   lists, or once the current leader is found gone ([`Authorization::CheckGone`]);
    /// - an announcement from an older leadership than the entry's passes, since
    ///   [`Directory::announce`] only answers it with the entry.
    pub fn authorize(&self, caller: PeerId, a: &Announcement) -> Authorization {
        let id = a.group.group_id;
        if a.group.leader.id != caller {
            return Authorization::Refuse(Refusal::NotLeader);
        }
        let entry = self.entries.get(&id);
        if a.ended {
            return match entry {
                Some(e) if e.view.leader.id != caller => {
                    Authorization::Refuse(Refusal::NotCurrentLeader)
                }
                _ => Authorization::Accept,
            };
        }
        if let Some(&other) = self.leaders.get(&caller)
            && other != id
        {
            return Authorization::Refuse(Refusal::LeadsAnother(other));
        }
        match entry {
            None => Authorization::Accept,
            Some(e) if e.view.leader.id == caller => Authorization::Accept,
            Some(e) if term(&a.group) < term(&e.view) => Authorization::Accept,
            Some(e) if e.view.successors.iter().any(|s| s.id == caller) => Authorization::Accept,
            Some(e) => Authorization::CheckGone(e.view.clone()),
        }
    }

    /// The entry of one group.
    pub fn resolve(&self, id: GroupId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Every live entry, ordered by group id.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The live entries after group `after` (from the first when `None`), ordered by group
    /// id: a page starts in O(log n).
    pub fn entries_after(&self, after: Option<GroupId>) -> impl Iterator<Item = &Entry> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.entries.range((from, Bound::Unbounded)).map(|(_, e)| e)
    }

    /// Live groups.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no group is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A landmark vector as the directory keeps it: sorted by group, one RTT per group (the
/// least), at most [`MAX_LANDMARKS`].
fn landmark_vector(mut v: Vec<LandmarkRtt>) -> Vec<LandmarkRtt> {
    v.sort();
    v.dedup_by_key(|l| l.group);
    v.truncate(MAX_LANDMARKS);
    v
}

/// A group's RTTs to the directory's landmarks in µs, in the order of
/// [`Directory::landmarks`]; [`NO_RTT`] where its leader measured none.
type Position = [u32; LANDMARKS];

/// No RTT to that landmark.
const NO_RTT: u32 = u32::MAX;

/// `rtts` (sorted by group) laid out by the landmarks' order; `own`, the group they place,
/// is 0 from itself when it is a landmark (its leader never measures its own group).
fn position(landmarks: &[GroupId], rtts: &[LandmarkRtt], own: Option<GroupId>) -> Position {
    let mut p = [NO_RTT; LANDMARKS];
    for (slot, g) in p.iter_mut().zip(landmarks) {
        if Some(*g) == own {
            *slot = 0;
        } else if let Ok(i) = rtts.binary_search_by_key(g, |l| l.group) {
            *slot =
                u32::try_from(rtts[i].rtt.as_micros()).map_or(NO_RTT - 1, |us| us.min(NO_RTT - 1));
        }
    }
    p
}

/// Inserts `x` into `best` (sorted, least first) and keeps its `max` least.
fn keep_least(best: &mut Vec<(u32, GroupId)>, max: usize, x: (u32, GroupId)) {
    if best.len() == max && best.last().is_some_and(|w| x >= *w) {
        return;
    }
    let at = best.partition_point(|b| *b < x);
    best.insert(at, x);
    best.truncate(max);
}

/// The largest difference between two positions over the landmarks both hold, if they hold
/// at least `need` in common: a lower bound on the RTT between the two peers, µs.
fn landmark_bound(a: &Position, b: &Position, need: usize) -> Option<u32> {
    let (mut bound, mut common) = (0, 0);
    for (x, y) in a.iter().zip(b) {
        if *x != NO_RTT && *y != NO_RTT {
            bound = bound.max(x.abs_diff(*y));
            common += 1;
        }
    }
    (common >= need).then_some(bound)
}

/// The least sum of two positions over the landmarks both hold, if they hold at least `need`
/// in common: an upper bound on the RTT between the two peers (through that landmark), µs.
/// Ranking pairs far apart by it finds nearer pairs than the lower bound does: a landmark near
/// either end makes it nearly exact, where the lower bound needs one in line with both (on
/// PlanetLab 490, the pair it picks across the Atlantic is 1.08 times the nearest at the
/// median, the lower bound's 1.19; docs/decisions.md, "Partition links that land near").
fn landmark_upper_bound(a: &Position, b: &Position, need: usize) -> Option<u32> {
    let (mut bound, mut common) = (u32::MAX, 0);
    for (x, y) in a.iter().zip(b) {
        if *x != NO_RTT && *y != NO_RTT {
            bound = bound.min(x.saturating_add(*y));
            common += 1;
        }
    }
    (common >= need).then_some(bound)
}

/// What [`Directory::authorize`] makes of an authenticated peer's announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Take it.
    Accept,
    /// Take it only if the entry's leader (this view) no longer answers as that group's
    /// leader ([`still_leads`]).
    CheckGone(GroupView),
    /// Refuse it.
    Refuse(Refusal),
}

/// Why an authenticated peer's announcement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The announcement names another peer as leader.
    NotLeader,
    /// An `ended` from a peer that does not lead the group now.
    NotCurrentLeader,
    /// The peer already leads this other group.
    LeadsAnother(GroupId),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotLeader => {
                f.write_str("group.leader: only a group's leader announces it, and the certificate names another peer")
            }
            Refusal::NotCurrentLeader => {
                f.write_str("ended: only the group's current leader ends it")
            }
            Refusal::LeadsAnother(g) => write!(
                f,
                "group: this peer already leads group {g} in the directory; one peer leads one group"
            ),
        }
    }
}

/// Whether `reply` (`None`: no answer), from the leader of `entry`, shows it still leading that
/// group at the entry's epoch or later.
pub fn still_leads(entry: &GroupView, reply: Option<&MeasureReply>) -> bool {
    reply.is_some_and(|r| {
        r.responder.id == entry.leader.id
            && r.group.as_ref().is_some_and(|v| {
                v.group_id == entry.group_id
                    && v.leader.id == r.responder.id
                    && v.epoch >= entry.epoch
            })
    })
}

/// Whether the announced leader's own answer to a `Measure` (`None`: no answer) bears out the
/// announcement: for a live group, it answered itself, as the leader of that group at that
/// epoch or a later one; for an `ended` group, it no longer answers as that group's leader.
pub fn confirms(a: &Announcement, reply: Option<&MeasureReply>) -> bool {
    let leads = reply.is_some_and(|r| {
        r.responder.id == a.group.leader.id
            && r.group.as_ref().is_some_and(|v| {
                v.group_id == a.group.group_id
                    && v.leader.id == r.responder.id
                    && v.epoch >= a.group.epoch
            })
    });
    if a.ended { !leads } else { leads }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{PeerId, PeerRef};
    use uuid::Uuid;

    fn view(group: u128, leader: u128, epoch: u64, members: u32) -> GroupView {
        GroupView {
            group_id: GroupId(Uuid::from_u128(group)),
            epoch,
            leader: PeerRef::new(PeerId(Uuid::from_u128(leader)), format!("p{leader}")),
            successors: vec![],
            member_count: members,
        }
    }

    fn announce(d: &mut Directory, at: u64, v: GroupView) -> (AnnounceReply, Vec<Change>) {
        d.announce(
            Time::from_micros(at),
            Announcement {
                group: v,
                neighbors: vec![],
                partition_links: vec![],
                landmarks: vec![],
                ended: false,
            },
        )
    }

    fn peer(n: u128) -> PeerId {
        PeerId(Uuid::from_u128(n))
    }

    fn announcement(v: GroupView, ended: bool) -> Announcement {
        Announcement {
            group: v,
            neighbors: vec![],
            partition_links: vec![],
            landmarks: vec![],
            ended,
        }
    }

    #[test]
    fn authenticated_announcements_follow_the_leadership_rules() {
        let mut d = Directory::new(Duration::from_secs(30));
        let mut g1 = view(1, 10, 1, 3);
        g1.successors = vec![PeerRef::new(peer(11), "p11")];
        // Only the leader it names announces a group.
        assert_eq!(
            d.authorize(peer(99), &announcement(g1.clone(), false)),
            Authorization::Refuse(Refusal::NotLeader)
        );
        assert_eq!(
            d.authorize(peer(10), &announcement(g1.clone(), false)),
            Authorization::Accept
        );
        announce(&mut d, 0, g1.clone());
        // One peer leads one group.
        assert_eq!(
            d.authorize(peer(10), &announcement(view(2, 10, 1, 1), false)),
            Authorization::Refuse(Refusal::LeadsAnother(g1.group_id))
        );
        // The listed successor takes over at epoch + 1; anyone else only once 10 is gone.
        assert_eq!(
            d.authorize(peer(11), &announcement(view(1, 11, 2, 2), false)),
            Authorization::Accept
        );
        assert_eq!(
            d.authorize(peer(12), &announcement(view(1, 12, 2, 2), false)),
            Authorization::CheckGone(g1.clone())
        );
        // An older leadership passes: the directory only answers it with the entry.
        assert_eq!(
            d.authorize(peer(5), &announcement(view(1, 5, 0, 2), false)),
            Authorization::Accept
        );
        assert!(
            d.announce(Time::ZERO, announcement(view(1, 5, 0, 2), false))
                .0
                .superseded_by
                .is_some()
        );
        // Only the current leader ends it.
        assert_eq!(
            d.authorize(peer(11), &announcement(view(1, 11, 1, 0), true)),
            Authorization::Refuse(Refusal::NotCurrentLeader)
        );
        assert_eq!(
            d.authorize(peer(10), &announcement(g1.clone(), true)),
            Authorization::Accept
        );
        // After a successor took over, the old leader is free to found a group again, and the
        // new one leads only this group.
        announce(&mut d, 1, view(1, 11, 2, 2));
        assert_eq!(
            d.authorize(peer(10), &announcement(view(2, 10, 1, 1), false)),
            Authorization::Accept
        );
        assert_eq!(
            d.authorize(peer(11), &announcement(view(3, 11, 1, 1), false)),
            Authorization::Refuse(Refusal::LeadsAnother(g1.group_id))
        );
        // Once the group ends, its last leader may found another.
        d.announce(Time::ZERO, announcement(view(1, 11, 2, 0), true));
        assert!(d.resolve(g1.group_id).is_none());
        assert_eq!(
            d.authorize(peer(11), &announcement(view(3, 11, 1, 1), false)),
            Authorization::Accept
        );
    }

    #[test]
    fn a_leader_still_leads_only_by_its_own_answer() {
        let entry = view(1, 10, 3, 2);
        let reply = |responder: u128, leader: u128, epoch: u64| MeasureReply {
            responder: PeerRef::new(peer(responder), "x"),
            group: Some(view(1, leader, epoch, 2)),
        };
        assert!(still_leads(&entry, Some(&reply(10, 10, 3))));
        assert!(still_leads(&entry, Some(&reply(10, 10, 4))));
        assert!(!still_leads(&entry, None));
        assert!(!still_leads(&entry, Some(&reply(10, 11, 4))));
        assert!(!still_leads(&entry, Some(&reply(10, 10, 2))));
        assert!(!still_leads(&entry, Some(&reply(12, 12, 3))));
    }

    #[test]
    fn stale_leader_is_told_of_its_successor_and_entries_expire() {
        let mut d = Directory::new(Duration::from_secs(3));
        let (_, c) = announce(&mut d, 0, view(1, 10, 1, 4));
        assert!(matches!(c[..], [Change::GroupCreated(_)]));
        let (_, c) = announce(&mut d, 1, view(1, 11, 2, 4));
        assert!(matches!(c[..], [Change::LeaderChanged(_)]));
        let (reply, c) = announce(&mut d, 2, view(1, 10, 1, 4));
        assert_eq!(
            reply.superseded_by.unwrap().leader.id,
            PeerId(Uuid::from_u128(11))
        );
        assert!(c.is_empty());
        assert!(d.expire(Time::from_micros(3_000_000)).is_empty());
        let c = d.expire(Time::from_micros(4_000_001));
        assert_eq!(c, vec![Change::GroupEnded(GroupId(Uuid::from_u128(1)))]);
        assert!(d.is_empty());
    }

    fn announce_linked(d: &mut Directory, at: u64, group: u128, links: &[u128]) -> AnnounceReply {
        announce_placed(d, at, group, links, &[])
    }

    #[test]
    fn one_leader_of_a_cut_off_part_is_asked_to_bridge_into_the_largest() {
        let mut d = Directory::new(Duration::from_secs(30));
        // Main component the ring 1-2-3-4 (links announced by one end suffice, and no one
        // link holds part of it on); minor part 5-6.
        announce_linked(&mut d, 0, 1, &[2, 4]);
        announce_linked(&mut d, 0, 2, &[3]);
        announce_linked(&mut d, 0, 3, &[]);
        announce_linked(&mut d, 0, 4, &[3]);
        announce_linked(&mut d, 0, 6, &[5]);
        announce_linked(&mut d, 0, 5, &[]);
        // Recomputed once the interval (ttl / 3) has passed.
        let later = 10_000_000;
        let main: Vec<GroupId> = (1..=4).map(|g| GroupId(Uuid::from_u128(g))).collect();
        let reply = announce_linked(&mut d, later, 5, &[]);
        assert_eq!(reply.bridge.len(), 4);
        assert!(reply.bridge.iter().all(|v| main.contains(&v.group_id)));
        // Only the part's smallest group bridges; groups of the main part never do.
        assert!(announce_linked(&mut d, later, 6, &[5]).bridge.is_empty());
        assert!(announce_linked(&mut d, later, 1, &[2, 4]).bridge.is_empty());
        // A link into the main part announced since spares the bridge.
        assert!(announce_linked(&mut d, later, 5, &[4]).bridge.is_empty());
        // And the next recomputation sees one component.
        let reply = announce_linked(&mut d, 2 * later, 5, &[4]);
        assert!(reply.bridge.is_empty());
        assert!(d.components.minor.is_empty());
    }

    #[test]
    fn groups_founded_within_the_last_interval_are_not_asked_to_bridge() {
        let mut d = Directory::new(Duration::from_secs(30));
        announce_linked(&mut d, 0, 1, &[2]);
        announce_linked(&mut d, 0, 2, &[]);
        // A cold start: groups 5 and 6 were just founded, their searches have not linked them.
        announce_linked(&mut d, 9_000_000, 5, &[]);
        announce_linked(&mut d, 9_000_000, 6, &[]);
        // Recomputed at 10 s: 5 and 6 look cut off but are one second old.
        assert!(
            announce_linked(&mut d, 10_000_000, 5, &[])
                .bridge
                .is_empty()
        );
        assert!(
            announce_linked(&mut d, 10_000_001, 6, &[])
                .bridge
                .is_empty()
        );
        // An interval later, still alone: now they are.
        assert!(
            !announce_linked(&mut d, 20_000_000, 5, &[])
                .bridge
                .is_empty()
        );
        assert!(
            !announce_linked(&mut d, 20_000_001, 6, &[])
                .bridge
                .is_empty()
        );
    }

    #[test]
    fn a_dropped_link_is_noticed_within_a_second_and_its_part_bridged_once() {
        let mut d = Directory::new(Duration::from_secs(30));
        // The ring 1-2-3 and 3-4-5: the link 3-4 holds 4 and 5 on.
        announce_linked(&mut d, 0, 1, &[2, 3]);
        announce_linked(&mut d, 0, 2, &[3]);
        announce_linked(&mut d, 0, 3, &[4]);
        announce_linked(&mut d, 0, 4, &[5]);
        announce_linked(&mut d, 0, 5, &[]);
        assert!(
            announce_linked(&mut d, 10_000_000, 4, &[5])
                .bridge
                .is_empty()
        );
        // 3 drops the link and announces at once; 4 announces 1.5 s later, well before the
        // next regular recomputation at 20 s.
        assert!(
            announce_linked(&mut d, 11_000_000, 3, &[])
                .bridge
                .is_empty()
        );
        let reply = announce_linked(&mut d, 12_500_000, 4, &[5]);
        assert_eq!(reply.bridge.len(), 3);
        // The other group of that part is not asked too while 4's bridge is under way.
        assert!(
            announce_linked(&mut d, 12_600_000, 5, &[])
                .bridge
                .is_empty()
        );
        // 4's next announcement shows the bridge failed (no link into 1-2-3): asked again.
        assert!(
            !announce_linked(&mut d, 13_000_000, 4, &[5])
                .bridge
                .is_empty()
        );
        // It opened one: nobody is asked any more.
        assert!(
            announce_linked(&mut d, 14_000_000, 4, &[5, 2])
                .bridge
                .is_empty()
        );
        assert!(
            announce_linked(&mut d, 14_100_000, 5, &[])
                .bridge
                .is_empty()
        );
    }

    #[test]
    fn a_part_held_on_by_one_link_is_asked_for_a_second_that_shares_neither_end() {
        let mut d = Directory::new(Duration::from_secs(30));
        // Triangles 1-2-3 and 4-5-6, joined by the one link 3-4.
        announce_linked(&mut d, 0, 1, &[2, 3]);
        announce_linked(&mut d, 0, 2, &[3]);
        announce_linked(&mut d, 0, 3, &[4]);
        announce_linked(&mut d, 0, 4, &[5, 6]);
        announce_linked(&mut d, 0, 5, &[6]);
        announce_linked(&mut d, 0, 6, &[]);
        // And group 7 hanging off 1 alone: one group behind a cut is left to `bridge_for`.
        announce_linked(&mut d, 0, 7, &[1]);
        let later = 10_000_000;
        assert!(announce_linked(&mut d, later, 7, &[1]).bridge.is_empty());
        let ids = |gs: &[u128]| -> Vec<GroupId> {
            gs.iter().map(|g| GroupId(Uuid::from_u128(*g))).collect()
        };
        // The cut link's own ends are not asked: a second link from them would share an end.
        assert!(announce_linked(&mut d, later, 4, &[5, 6]).bridge.is_empty());
        assert!(announce_linked(&mut d, later, 3, &[4]).bridge.is_empty());
        let reply = announce_linked(&mut d, later, 5, &[6]);
        let mut got: Vec<GroupId> = reply.bridge.iter().map(|v| v.group_id).collect();
        got.sort();
        assert_eq!(
            got,
            ids(&[1, 2, 7]),
            "the far side's groups, not the cut link's far end"
        );
        // One group behind the cut is asked, not each.
        assert!(announce_linked(&mut d, later, 6, &[]).bridge.is_empty());
        // Once 5 links to 1, no link is a cut any more: nobody is asked.
        announce_linked(&mut d, later + 1, 5, &[6, 1]);
        for g in 1..=6 {
            let links: &[u128] = match g {
                1 => &[2, 3, 7],
                2 => &[3],
                3 => &[4],
                4 => &[5, 6],
                5 => &[6, 1],
                _ => &[],
            };
            assert!(
                announce_linked(&mut d, 2 * later, g, links)
                    .bridge
                    .is_empty(),
                "group {g} asked for a link with no cut left"
            );
        }
        assert_eq!(
            d.components.cuts.len(),
            0,
            "only 1-7 is a cut, and too small"
        );
    }

    /// Two rings on a line, west 1–5 at 0, 10, … 40 ms and east 6–9 at 100, 110, … 130 ms,
    /// held together by the one link 1–9 (130 ms), every leader announcing its RTTs to the
    /// landmarks as the line gives them (`forged`: a group and the place it claims instead).
    /// Returns what each group announces to the landmarks, for its next announcements.
    fn line_with_one_crossing(
        near_cut_links: bool,
        forged: Option<(u128, u64)>,
    ) -> (Directory, BTreeMap<u128, Vec<(u128, u64)>>) {
        let mut d = Directory::new(Duration::from_secs(30));
        d.set_near_cut_links(near_cut_links);
        let links: [(u128, &[u128]); 9] = [
            (1, &[2, 5, 9]),
            (2, &[3]),
            (3, &[4]),
            (4, &[5]),
            (5, &[]),
            (6, &[7, 9]),
            (7, &[8]),
            (8, &[9]),
            (9, &[]),
        ];
        let x = |g: u128| {
            if g <= 5 {
                (g as u64 - 1) * 10
            } else {
                100 + (g as u64 - 6) * 10
            }
        };
        for (g, l) in links {
            announce_linked(&mut d, 0, g, l);
        }
        let landmarks: Vec<u128> = d.landmarks().iter().map(|g| g.0.as_u128()).collect();
        assert_eq!(landmarks.len(), LANDMARKS, "{landmarks:?}");
        let mut placed = BTreeMap::new();
        for (g, l) in links {
            let at = match forged {
                Some((liar, claimed)) if liar == g => claimed,
                _ => x(g),
            };
            let rtts: Vec<(u128, u64)> = landmarks
                .iter()
                .filter(|&&m| m != g)
                .map(|&m| (m, at.abs_diff(x(m)).max(1)))
                .collect();
            announce_placed(&mut d, 0, g, l, &rtts);
            placed.insert(g, rtts);
        }
        (d, placed)
    }

    fn announce_placed(
        d: &mut Directory,
        at: u64,
        group: u128,
        links: &[u128],
        landmarks: &[(u128, u64)],
    ) -> AnnounceReply {
        let neighbors = links
            .iter()
            .map(|g| NeighborGroup {
                group_id: GroupId(Uuid::from_u128(*g)),
                leader: PeerRef::new(PeerId(Uuid::from_u128(1000 + g)), "x"),
                successors: vec![],
                rtt: Duration::from_millis(5),
            })
            .collect();
        d.announce(
            Time::from_micros(at),
            Announcement {
                group: view(group, 1000 + group, 1, 1),
                neighbors,
                partition_links: vec![],
                landmarks: landmark_rtts(landmarks),
                ended: false,
            },
        )
        .0
    }

    #[test]
    fn a_cut_s_second_link_joins_the_pair_the_landmarks_place_nearest() {
        let (mut d, placed) = line_with_one_crossing(true, None);
        let again = |d: &mut Directory, at: u64, g: u128, links: &[u128]| {
            announce_placed(d, at, g, links, &placed[&g])
        };
        let later = 10_000_000;
        // The east ring (the smaller side) is behind the cut. Its group nearest the west, 6
        // (100 ms), is asked, not the first to announce, and not 9, the cut's own end.
        assert!(again(&mut d, later, 7, &[8]).bridge.is_empty());
        assert!(again(&mut d, later, 9, &[]).bridge.is_empty());
        let reply = again(&mut d, later, 6, &[7, 9]);
        assert_eq!(
            ids(&reply.bridge),
            vec![5, 4, 3, 2],
            "the west groups nearest 6, nearest first, without the cut's far end 1"
        );
        // It links to 5: the cut is protected, nobody else is asked.
        assert!(again(&mut d, later + 1, 6, &[7, 9, 5]).bridge.is_empty());
        assert!(again(&mut d, later + 2, 7, &[8]).bridge.is_empty());
        assert!(again(&mut d, later + 3, 8, &[9]).bridge.is_empty());
    }

    #[test]
    fn a_group_that_forges_its_place_to_be_asked_and_links_nothing_is_passed_over() {
        // 8 claims to sit at 95 ms, nearer the west than 6: it is picked.
        let (mut d, placed) = line_with_one_crossing(true, Some((8, 95)));
        let again = |d: &mut Directory, at: u64, g: u128, links: &[u128]| {
            announce_placed(d, at, g, links, &placed[&g])
        };
        let later = 10_000_000;
        assert!(again(&mut d, later, 6, &[7, 9]).bridge.is_empty());
        assert_eq!(ids(&again(&mut d, later, 8, &[9]).bridge), vec![5, 4, 3, 2]);
        // It announces again without a link across: another pair is picked, and the cut is
        // not left waiting on the group that opened nothing.
        assert!(again(&mut d, later + 1, 8, &[9]).bridge.is_empty());
        assert_eq!(
            ids(&again(&mut d, later + 2, 6, &[7, 9]).bridge),
            vec![5, 4, 3, 2]
        );
        // Passed over at the next recomputation too.
        assert!(again(&mut d, 2 * later, 8, &[9]).bridge.is_empty());
    }

    #[test]
    fn without_near_cut_links_the_first_group_behind_to_announce_is_asked() {
        let (mut d, placed) = line_with_one_crossing(false, None);
        let again = |d: &mut Directory, at: u64, g: u128, links: &[u128]| {
            announce_placed(d, at, g, links, &placed[&g])
        };
        let later = 10_000_000;
        let reply = again(&mut d, later, 7, &[8]);
        assert!(!reply.bridge.is_empty());
        assert!(!ids(&reply.bridge).contains(&1), "not the cut's far end");
        assert!(again(&mut d, later, 6, &[7, 9]).bridge.is_empty());
    }

    #[test]
    fn a_chain_is_protected_from_its_far_end() {
        let mut d = Directory::new(Duration::from_secs(30));
        // A ring 1-2-3-4 with a tail 4-5-6-7: the tail hangs on three cut links, and the
        // group at its end is asked for a link into the ring, not next to 4.
        announce_linked(&mut d, 0, 1, &[2, 4]);
        announce_linked(&mut d, 0, 2, &[3]);
        announce_linked(&mut d, 0, 3, &[4]);
        announce_linked(&mut d, 0, 4, &[5]);
        announce_linked(&mut d, 0, 5, &[6]);
        announce_linked(&mut d, 0, 6, &[7]);
        announce_linked(&mut d, 0, 7, &[]);
        let later = 10_000_000;
        let reply = announce_linked(&mut d, later, 7, &[]);
        let got: Vec<u128> = reply
            .bridge
            .iter()
            .map(|v| v.group_id.0.as_u128())
            .collect();
        assert!(
            !got.is_empty() && got.iter().all(|g| (1..=3).contains(g)),
            "targets {got:?}"
        );
        assert!(announce_linked(&mut d, later, 6, &[7]).bridge.is_empty());
    }

    #[test]
    fn boot_list_is_a_capped_sample_without_duplicates() {
        let mut d = Directory::new(Duration::from_secs(3));
        for g in 0..100 {
            announce(&mut d, 0, view(g, 1000 + g, 1, 1));
        }
        let mut rng = Rng::new(7);
        let list = d.boot_list(&mut rng, 8);
        assert_eq!(list.len(), 8);
        let ids: std::collections::BTreeSet<_> = list.iter().map(|v| v.group_id).collect();
        assert_eq!(ids.len(), 8);
        assert_eq!(d.boot_list(&mut rng, 1000).len(), MAX_BOOT_LIST);
    }

    fn landmark_rtts(rtts: &[(u128, u64)]) -> Vec<LandmarkRtt> {
        rtts.iter()
            .map(|&(g, ms)| LandmarkRtt {
                group: GroupId(Uuid::from_u128(g)),
                rtt: Duration::from_millis(ms),
            })
            .collect()
    }

    fn ids(list: &[GroupView]) -> Vec<u128> {
        list.iter().map(|v| v.group_id.0.as_u128()).collect()
    }

    #[test]
    fn landmarks_start_the_list_and_stay_until_their_group_ends() {
        let mut d = Directory::new(Duration::from_secs(30));
        for g in 0..20 {
            announce(&mut d, 0, view(g, 1000 + g, 1, 1));
        }
        let landmarks = d.landmarks().to_vec();
        assert_eq!(landmarks.len(), LANDMARKS);
        let mut rng = Rng::new(1);
        let list = d.answer(
            &mut rng,
            &GetBootListRequest {
                max: 12,
                landmarks: true,
                near: vec![],
                shortcut_for: Default::default(),
            },
        );
        assert_eq!(list.len(), 12);
        let first: Vec<GroupId> = list.iter().take(LANDMARKS).map(|v| v.group_id).collect();
        assert_eq!(first, landmarks, "the landmarks first, then a sample");
        let rest: BTreeSet<GroupId> = list.iter().skip(LANDMARKS).map(|v| v.group_id).collect();
        assert_eq!(rest.len(), 4);
        assert!(rest.iter().all(|g| !landmarks.contains(g)), "no duplicates");
        // A new leader keeps its group a landmark; the end of the group replaces it.
        let g = landmarks[0].0.as_u128();
        announce(&mut d, 1, view(g, 5000, 2, 1));
        assert_eq!(d.landmarks(), landmarks.as_slice());
        d.announce(
            Time::from_micros(2),
            announcement(view(g, 5000, 2, 1), true),
        );
        assert_eq!(d.landmarks().len(), LANDMARKS);
        assert!(!d.landmarks().contains(&landmarks[0]));
        assert_eq!(&d.landmarks()[..LANDMARKS - 1], &landmarks[1..]);
    }

    #[test]
    fn nearest_ranks_groups_by_the_landmark_bound_and_leaves_out_what_it_cannot_compare() {
        let mut d = Directory::new(Duration::from_secs(30));
        // Landmark groups 1, 2, 3; groups 10–13 announce their leaders' RTTs to them.
        for g in 1..=3 {
            announce(&mut d, 0, view(g, 100 + g, 1, 1));
        }
        let positions: [(u128, &[(u128, u64)]); 4] = [
            (10, &[(1, 10), (2, 50), (3, 90)]),
            (11, &[(1, 12), (2, 48), (3, 95)]),
            (12, &[(1, 80), (2, 20), (3, 30)]),
            // Only two landmarks in common: a mirror image of the caller's place would match.
            (13, &[(1, 10), (2, 50)]),
        ];
        for (g, rtts) in positions {
            let mut a = announcement(view(g, 100 + g, 1, 1), false);
            a.landmarks = landmark_rtts(rtts);
            d.announce(Time::ZERO, a);
        }
        let mut rng = Rng::new(1);
        let near = landmark_rtts(&[(1, 11), (2, 49), (3, 92)]);
        let ask = |max: u32| GetBootListRequest {
            max,
            landmarks: false,
            near: near.clone(),
            shortcut_for: None,
        };
        // Bounds: 10 → 2 ms, 11 → 3 ms, 12 → 69 ms; 13 is left out, and so are 1–3, which
        // the caller measured.
        assert_eq!(ids(&d.answer(&mut rng, &ask(8))), vec![10, 11, 12]);
        assert_eq!(ids(&d.answer(&mut rng, &ask(1))), vec![10]);
        // Entries sent in any order or twice count once, at their least RTT.
        let mut a = announcement(view(12, 112, 1, 1), false);
        a.landmarks = landmark_rtts(&[(3, 91), (2, 48), (1, 12), (1, 300), (3, 400)]);
        d.announce(Time::ZERO, a);
        assert_eq!(
            d.resolve(GroupId(Uuid::from_u128(12)))
                .map(|e| e.landmarks.clone()),
            Some(landmark_rtts(&[(1, 12), (2, 48), (3, 91)]))
        );
        assert_eq!(ids(&d.answer(&mut rng, &ask(2))), vec![12, 10]);
    }

    #[test]
    fn shortcut_candidates_are_the_groups_the_overlay_reaches_the_long_way_round() {
        let mut d = Directory::new(Duration::from_secs(30));
        // Landmark groups 1, 2, 3 at -100, 200 and 300 on a line; the others' positions are
        // their RTTs to them, so the landmark bound between two groups is their distance.
        for g in 1..=3 {
            announce(&mut d, 0, view(g, 100 + g, 1, 1));
        }
        let at = |x: i64| {
            landmark_rtts(&[
                (1, (x + 100) as u64),
                (2, (200 - x) as u64),
                (3, (300 - x) as u64),
            ])
        };
        let link = |g: u128, ms: u64| NeighborGroup {
            group_id: GroupId(Uuid::from_u128(g)),
            leader: PeerRef::new(PeerId(Uuid::from_u128(100 + g)), format!("p{}", 100 + g)),
            successors: vec![],
            rtt: Duration::from_millis(ms),
        };
        // A chain 10 - 11 - 12 - 13 - 14, each link as long as the distance, but 14 (5 ms
        // from 10) hangs off 13 by a 25 ms link: from 10 the overlay reaches it in 55 ms. 15
        // has no link at all; 16 announced no landmark RTTs.
        let groups: [(u128, i64, Vec<NeighborGroup>); 7] = [
            (10, 0, vec![link(11, 10)]),
            (11, 10, vec![link(10, 10), link(12, 10)]),
            (12, 20, vec![link(11, 10), link(13, 10)]),
            (13, 30, vec![link(12, 10), link(14, 25)]),
            (14, 5, vec![link(13, 25)]),
            (15, 100, vec![]),
            (16, 40, vec![link(13, 10)]),
        ];
        for (g, x, neighbors) in groups {
            let mut a = announcement(view(g, 100 + g, 1, 1), false);
            if g != 16 {
                a.landmarks = at(x);
            }
            a.neighbors = neighbors;
            d.announce(Time::ZERO, a);
        }
        let mut rng = Rng::new(1);
        let ask = |from: u128| GetBootListRequest {
            max: 8,
            landmarks: false,
            near: vec![],
            shortcut_for: Some(GroupId(Uuid::from_u128(from))),
        };
        let mut from_10 = ids(&d.answer(&mut rng, &ask(10)));
        from_10.sort();
        // 11 is linked already; 12 and 13 are as far by the overlay as by the bound; the
        // landmark groups cannot be compared (one landmark each); 16 has no position.
        assert_eq!(from_10, vec![14, 15]);
        // From 13, 12 and 14 are linked, and 11 and 10 are as far by the overlay as apart.
        let mut from_13 = ids(&d.answer(&mut rng, &ask(13)));
        from_13.sort();
        assert_eq!(from_13, vec![15]);
        // A group without landmark RTTs, or one not in the directory, gets a random sample.
        assert_eq!(d.answer(&mut rng, &ask(16)).len(), 8);
        assert_eq!(d.answer(&mut rng, &ask(99)).len(), 8);
        assert_eq!(
            d.shortcut_candidates(&mut rng, 1, GroupId(Uuid::from_u128(10)))
                .len(),
            1
        );
    }

    /// The sampling and expiry indexes agree with the entries.
    fn assert_indexes_agree(d: &Directory) {
        let mut ordered = d.order.clone();
        ordered.sort();
        let keys: Vec<GroupId> = d.entries.keys().copied().collect();
        assert_eq!(
            ordered, keys,
            "the sampling order holds every live group once"
        );
        for (i, id) in d.order.iter().enumerate() {
            assert_eq!(d.slots.get(id), Some(&i), "group {id} knows its position");
        }
        assert_eq!(d.slots.len(), d.order.len());
        assert_eq!(
            d.positions.len(),
            d.order.len(),
            "one position per live group"
        );
        let refreshed: BTreeSet<(Time, GroupId)> = d
            .entries
            .values()
            .map(|e| (e.refreshed, e.view.group_id))
            .collect();
        assert_eq!(
            d.by_refresh, refreshed,
            "the expiry index follows the refreshes"
        );
    }

    #[test]
    fn sampling_expiry_and_paging_stay_exact_through_creations_refreshes_ends_and_expiry() {
        let ttl = Duration::from_secs(30);
        let mut d = Directory::new(ttl);
        let mut rng = Rng::new(11);
        let mut now = 0u64;
        for step in 0..3_000u64 {
            now += 10_000 + rng.below(40_000);
            let g = u128::from(rng.below(400));
            match rng.below(10) {
                // Created or refreshed.
                0..=6 => {
                    announce(&mut d, now, view(g, 10_000 + g, 1, 1));
                }
                // Ended by its leader.
                7 => {
                    d.announce(
                        Time::from_micros(now),
                        announcement(view(g, 10_000 + g, 1, 1), true),
                    );
                }
                // Now and then time jumps past some entries' TTL and they expire.
                _ => {
                    if step % 7 == 0 {
                        now += rng.below(ttl.as_micros() as u64);
                    }
                    let at = Time::from_micros(now);
                    let due: Vec<GroupId> = d
                        .entries()
                        .filter(|e| at.saturating_since(e.refreshed) > ttl)
                        .map(|e| e.view.group_id)
                        .collect();
                    let mut expiring: Vec<GroupId> =
                        d.expiring(at).map(|e| e.view.group_id).collect();
                    expiring.sort();
                    assert_eq!(expiring, due, "expiring() is exactly what is due");
                    let ended: Vec<GroupId> = d
                        .expire(at)
                        .into_iter()
                        .map(|c| match c {
                            Change::GroupEnded(id) => id,
                            other => panic!("expiry changed {other:?}"),
                        })
                        .collect();
                    assert_eq!(ended.len(), due.len());
                }
            }
            assert_indexes_agree(&d);
            let list = d.boot_list(&mut rng, 8);
            let distinct: BTreeSet<GroupId> = list.iter().map(|v| v.group_id).collect();
            assert_eq!(list.len(), d.len().min(8));
            assert_eq!(distinct.len(), list.len(), "a boot list repeats no group");
            assert!(distinct.iter().all(|id| d.resolve(*id).is_some()));
        }
        assert!(d.len() > 50, "the run kept a directory worth sampling");
        // Pages of 7 from `entries_after` cover every entry once, in order.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page: Vec<GroupId> = d
                .entries_after(after)
                .take(7)
                .map(|e| e.view.group_id)
                .collect();
            let Some(last) = page.last() else { break };
            after = Some(*last);
            paged.extend(page);
        }
        assert_eq!(
            paged,
            d.entries().map(|e| e.view.group_id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_live_group_is_sampled_in_time() {
        let mut d = Directory::new(Duration::from_secs(30));
        for g in 0..50 {
            announce(&mut d, 0, view(g, 1000 + g, 1, 1));
        }
        for g in (0..50).step_by(3) {
            d.announce(Time::ZERO, announcement(view(g, 1000 + g, 1, 1), true));
        }
        let mut rng = Rng::new(3);
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            seen.extend(d.boot_list(&mut rng, 4).into_iter().map(|v| v.group_id));
        }
        let live: BTreeSet<GroupId> = d.entries().map(|e| e.view.group_id).collect();
        assert_eq!(
            seen, live,
            "sampling reaches every live group and no ended one"
        );
    }
}
