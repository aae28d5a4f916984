//! The directory behind the gRPC service: the core's [`Directory`], the sampling generator, and
//! the broadcast of changes to `WatchOverlay` subscribers.
//!
//! A std `RwLock` guards it. Reads (boot lists, resolutions, pages, snapshots) share it and run
//! side by side on every core; writes (announcements, expiry) take it alone for one short,
//! synchronous step of the directory: each step is O(log n), but for the directory's
//! component recomputation, O(n) once per announce interval. Changes are broadcast under the
//! write lock, each with a sequence number, so that a subscriber reading the directory in
//! pages knows which changes a page already shows ([`Paging`]). Boot lists draw from
//! generators of their own, seeded per call, so that sampling needs no write lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use locus_core::message::{AnnounceReply, Announcement, GetBootListRequest, GroupView};
use locus_core::rendezvous::{Authorization, Change, Directory, Entry, Refusal};
use locus_core::{GroupId, PeerId, PeerRef, Rng, Time};
use locus_proto::directory::OverlayChange;
use locus_proto::pb;
use tokio::sync::broadcast;

/// A change of the directory as subscribers receive it.
#[derive(Debug, Clone)]
pub(crate) struct Tagged {
    /// Its place in the order of changes: one more than the change before.
    pub(crate) seq: u64,
    /// The group it is about.
    pub(crate) group: GroupId,
    pub(crate) event: pb::OverlayEvent,
}

/// Why [`Registry::announce`] did not take an announcement.
#[derive(Debug)]
pub(crate) enum NotTaken {
    /// It needs its leader checked first; here it is back.
    NeedsCheck(Box<Announcement>),
    /// It would add a group to a full directory.
    Full,
    /// The authenticated caller may not make it ([`Directory::authorize`], judged under the
    /// lock, so that two announcements racing each other are judged one after the other).
    Refused(Refusal),
    /// It rests on the entry's leader being gone, and the entry changed since that was
    /// checked.
    Changed,
}

/// The live directory and its subscribers.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: RwLock<Inner>,
    events: broadcast::Sender<Tagged>,
    ttl: Duration,
    seed: u64,
    /// Boot lists drawn so far: each draws from `Rng::new(seed ^ mix(draw))`.
    draws: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    directory: Directory,
    /// The sequence number of the last change broadcast.
    seq: u64,
}

impl Registry {
    /// An empty directory whose entries live `ttl`, holding at most `max_groups`, buffering
    /// `watch_buffer` changes.
    pub(crate) fn new(ttl: Duration, watch_buffer: usize, seed: u64, max_groups: usize) -> Self {
        let (events, _) = broadcast::channel(watch_buffer);
        Registry {
            inner: RwLock::new(Inner {
                directory: Directory::with_max_groups(ttl, max_groups),
                seq: 0,
            }),
            events,
            ttl,
            seed,
            draws: AtomicU64::new(0),
        }
    }

    // Nothing panics while the lock is held; if something ever did, the directory is still
    // consistent data, so go on with it.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long entries live.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Live groups.
    pub(crate) fn len(&self) -> usize {
        self.read().directory.len()
    }

    /// Records an announcement and broadcasts what it changed; `checked` says that its leader
    /// confirmed it (see [`Directory::needs_check`]). An unchecked announcement that needs a
    /// check is handed back untouched. The decision and the change are one step under the
    /// lock, so an entry that changed while the caller checked (an `ended` that removed it,
    /// say) is judged as it stands now, never as it stood before.
    pub(crate) fn announce(
        &self,
        now: Time,
        a: Announcement,
        checked: bool,
    ) -> Result<AnnounceReply, NotTaken> {
        self.announce_as(now, a, checked, None)
    }

    /// [`Registry::announce`] from the authenticated peer in `by`, judged by
    /// [`Directory::authorize`] in the same step: `by` names the caller and, when the
    /// announcement rests on the entry's leader being gone, the entry as it was found gone.
    pub(crate) fn announce_as(
        &self,
        now: Time,
        a: Announcement,
        checked: bool,
        by: Option<(PeerId, Option<&GroupView>)>,
    ) -> Result<AnnounceReply, NotTaken> {
        let mut inner = self.write();
        if let Some((caller, gone)) = by {
            match inner.directory.authorize(caller, &a) {
                Authorization::Accept => {}
                Authorization::Refuse(why) => return Err(NotTaken::Refused(why)),
                Authorization::CheckGone(entry) => {
                    let same = gone
                        .is_some_and(|g| g.leader.id == entry.leader.id && g.epoch == entry.epoch);
                    if !same {
                        return Err(NotTaken::Changed);
                    }
                }
            }
        }
        if inner.directory.is_full_for(&a) {
            return Err(NotTaken::Full);
        }
        if !checked && inner.directory.needs_check(&a) {
            return Err(NotTaken::NeedsCheck(Box::new(a)));
        }
        let before = inner
            .directory
            .resolve(a.group.group_id)
            .map(|e| e.view.clone());
        let (reply, changes) = inner.directory.announce(now, a);
        for change in changes {
            let change = match change {
                Change::GroupCreated(view) => OverlayChange::Created(view),
                Change::LeaderChanged(view) => OverlayChange::LeaderChanged {
                    previous: before
                        .as_ref()
                        .map_or_else(|| view.leader.clone(), |b| b.leader.clone()),
                    view,
                },
                Change::MembersChanged(view) => OverlayChange::MembersChanged {
                    previous_count: before.as_ref().map_or(0, |b| b.member_count),
                    view,
                },
                Change::GroupEnded(group_id) => OverlayChange::Ended {
                    group_id,
                    epoch: before.as_ref().map_or(0, |b| b.epoch),
                    expired: false,
                },
            };
            self.broadcast(&mut inner, now, &change);
        }
        Ok(reply)
    }

    /// What the directory makes of an announcement from the authenticated peer `caller`
    /// ([`Directory::authorize`]).
    pub(crate) fn authorize(&self, caller: PeerId, a: &Announcement) -> Authorization {
        self.read().directory.authorize(caller, a)
    }

    /// Drops the entries not refreshed within the TTL; returns how many expired.
    pub(crate) fn expire(&self, now: Time) -> usize {
        // Most ticks expire nothing: find that out under the shared lock.
        if self.read().directory.expiring(now).next().is_none() {
            return 0;
        }
        let mut inner = self.write();
        let epochs: std::collections::HashMap<GroupId, u64> = inner
            .directory
            .expiring(now)
            .map(|e| (e.view.group_id, e.view.epoch))
            .collect();
        let changes = inner.directory.expire(now);
        for change in &changes {
            if let Change::GroupEnded(group_id) = change {
                let change = OverlayChange::Ended {
                    group_id: *group_id,
                    epoch: epochs.get(group_id).copied().unwrap_or(0),
                    expired: true,
                };
                self.broadcast(&mut inner, now, &change);
            }
        }
        changes.len()
    }

    fn broadcast(&self, inner: &mut Inner, now: Time, change: &OverlayChange) {
        tracing::debug!(?change, "directory changed");
        inner.seq += 1;
        // An error only means that nobody is subscribed.
        let _ = self.events.send(Tagged {
            seq: inner.seq,
            group: change.group_id(),
            event: change.to_event(now),
        });
    }

    /// A boot list ([`Directory::answer`]): a random sample of at most `max` live groups, the
    /// landmark groups first when asked, or the groups nearest the caller's landmark RTTs.
    pub(crate) fn boot_list(&self, request: &GetBootListRequest) -> Vec<GroupView> {
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        // Golden-ratio spacing of the per-call seeds; `Rng::new` mixes them further.
        let mut rng = Rng::new(self.seed ^ draw.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        self.read().directory.answer(&mut rng, request)
    }

    /// A group's entry.
    pub(crate) fn resolve(&self, group: GroupId) -> Option<GroupView> {
        self.read().directory.resolve(group).map(|e| e.view.clone())
    }

    /// Calls `f` with the live entries after `after` (from the first when `None`) in
    /// group-id order, under the shared lock: `f` should take what it needs and return.
    pub(crate) fn with_entries_after<T>(
        &self,
        after: Option<GroupId>,
        f: impl FnOnce(&mut dyn Iterator<Item = &Entry>) -> T,
    ) -> T {
        let inner = self.read();
        f(&mut inner.directory.entries_after(after))
    }

    /// Calls `f` with every live entry in group-id order, under the shared lock.
    pub(crate) fn with_entries<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &Entry>) -> T,
    ) -> T {
        self.with_entries_after(None, f)
    }

    /// A subscription to the changes from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Tagged> {
        // Under the lock, so that no change falls between the subscription and a page read
        // right after it.
        let _inner = self.read();
        self.events.subscribe()
    }

    /// A `created` event for each of at most `max` live groups after `after`, and the
    /// sequence number of the last change they show.
    pub(crate) fn page(
        &self,
        now: Time,
        after: Option<GroupId>,
        max: usize,
    ) -> (Vec<(GroupId, pb::OverlayEvent)>, u64) {
        let inner = self.read();
        let page = inner
            .directory
            .entries_after(after)
            .take(max)
            .map(|e| {
                let created = OverlayChange::Created(e.view.clone()).to_event(now);
                (e.view.group_id, created)
            })
            .collect();
        (page, inner.seq)
    }
}

/// A subscriber's initial snapshot, read in pages while changes keep coming: which changes a
/// page already shows, so that each is delivered exactly once, after the snapshot.
///
/// The pages run in group-id order. Page k shows the groups after the previous page's last id
/// up to its own last id (the last page: to the end) as of change `seq_k`. A change queued
/// meanwhile for a group in page k's range with a sequence number up to `seq_k` is already in
/// that page, and is dropped; any other is delivered.
#[derive(Debug, Default)]
pub(crate) struct Paging {
    /// Each page's last group id and the sequence number it was read at.
    pages: Vec<(GroupId, u64)>,
    /// The sequence number the last page (which runs to the end) was read at.
    last: Option<u64>,
}

impl Paging {
    /// Records a page ending at `last_group` (`None`: the final, possibly empty page) read at
    /// `seq`.
    pub(crate) fn read(&mut self, last_group: Option<GroupId>, seq: u64) {
        match last_group {
            Some(g) => self.pages.push((g, seq)),
            None => self.last = Some(seq),
        }
    }

    /// Whether the snapshot already shows change `t`.
    pub(crate) fn shows(&self, t: &Tagged) -> bool {
        let i = self.pages.partition_point(|(last, _)| *last < t.group);
        let seq = match self.pages.get(i) {
            Some((_, seq)) => *seq,
            None => self.last.unwrap_or(0),
        };
        t.seq <= seq
    }
}

/// Whether `caller` may announce `group` on a plaintext rendezvous: only its leader does. It
/// says nothing about who sent it, since both come from the request: with TLS, the
/// certificate decides ([`Registry::authorize`]).
pub(crate) fn names_itself_leader(caller: &PeerRef, group: &GroupView) -> bool {
    caller.id == group.leader.id
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use locus_proto::pb::overlay_event::Kind;
    use uuid::Uuid;

    use super::*;

    fn announcement(
        group: u64,
        leader: u64,
        epoch: u64,
        members: u32,
        ended: bool,
    ) -> Announcement {
        Announcement {
            group: GroupView {
                group_id: GroupId(Uuid::from_u128(u128::from(group))),
                epoch,
                leader: PeerRef::new(
                    PeerId(Uuid::from_u128(u128::from(leader))),
                    format!("10.0.0.{}:7000", leader % 250),
                ),
                successors: vec![],
                member_count: members,
            },
            neighbors: vec![],
            partition_links: vec![],
            landmarks: vec![],
            ended,
        }
    }

    /// What a subscriber holds: member count and leader id by group, from `created` events and
    /// the changes after them.
    fn apply(state: &mut BTreeMap<String, (u32, String)>, event: &pb::OverlayEvent) {
        match event.kind.as_ref().unwrap() {
            Kind::Created(c) => {
                let g = c.group.as_ref().unwrap();
                let leader = g.leader.as_ref().unwrap().peer_id.clone();
                let old = state.insert(event.group_id.clone(), (g.member_count, leader));
                assert!(old.is_none(), "group {} delivered twice", event.group_id);
            }
            Kind::MemberCountChanged(c) => {
                let entry = state
                    .get_mut(&event.group_id)
                    .expect("a change of a known group");
                assert_eq!(entry.0, c.previous_count, "changes arrive once, in order");
                entry.0 = c.member_count;
            }
            Kind::LeaderChanged(c) => {
                let entry = state
                    .get_mut(&event.group_id)
                    .expect("a change of a known group");
                entry.1 = c.leader.as_ref().unwrap().peer_id.clone();
            }
            Kind::Ended(_) => {
                assert!(
                    state.remove(&event.group_id).is_some(),
                    "group {} ended without being known",
                    event.group_id
                );
            }
        }
    }

    #[test]
    fn a_paged_snapshot_and_the_changes_during_it_add_up_to_the_directory() {
        let registry = Registry::new(Duration::from_secs(60), 100_000, 1, 100_000);
        let now = Time::from_micros(1_000_000);
        let mut rng = Rng::new(5);
        for g in 0..1_000 {
            registry
                .announce(now, announcement(g, 10_000 + g, 1, 1, false), true)
                .unwrap();
        }
        let mut events = registry.subscribe();
        let mut paging = Paging::default();
        let mut held = BTreeMap::new();
        let mut after = None;
        let mut next_group = 1_000;
        loop {
            // Between pages, groups on both sides of the cursor change, end and appear.
            for _ in 0..40 {
                let g = rng.below(next_group);
                let a = match rng.below(4) {
                    0 => announcement(g, 10_000 + g, 1, 1, true),
                    1 => {
                        next_group += 1;
                        announcement(next_group, 10_000 + next_group, 1, 1, false)
                    }
                    _ => announcement(g, 10_000 + g, 1, 2 + rng.below(50) as u32, false),
                };
                registry.announce(now, a, true).unwrap();
            }
            let (page, seq) = registry.page(now, after, 100);
            let full = page.len() == 100;
            let last = page.last().map(|(g, _)| *g);
            paging.read(last.filter(|_| full), seq);
            for (_, event) in &page {
                apply(&mut held, event);
            }
            if !full {
                break;
            }
            after = last;
        }
        for _ in 0..200 {
            let g = rng.below(next_group);
            registry
                .announce(
                    now,
                    announcement(g, 10_000 + g, 1, 60 + rng.below(9) as u32, false),
                    true,
                )
                .unwrap();
        }
        let mut shown = 0;
        while let Ok(change) = events.try_recv() {
            if paging.shows(&change) {
                shown += 1;
            } else {
                apply(&mut held, &change.event);
            }
        }
        assert!(shown > 0, "some changes were already in the pages");
        let directory: BTreeMap<String, (u32, String)> = registry.with_entries(|entries| {
            entries
                .map(|e| {
                    let leader = e.view.leader.id.to_string();
                    (e.view.group_id.to_string(), (e.view.member_count, leader))
                })
                .collect()
        });
        assert_eq!(held, directory, "snapshot plus changes is the directory");
    }

    #[test]
    fn a_peer_racing_two_groups_in_leads_one() {
        let registry = Registry::new(Duration::from_secs(60), 16, 1, 100);
        let now = Time::from_micros(1);
        let me = PeerId(Uuid::from_u128(77));
        let (a, b) = (
            announcement(1, 77, 1, 1, false),
            announcement(2, 77, 1, 1, false),
        );
        // Both pass the first look, taken before either is in.
        assert_eq!(registry.authorize(me, &a), Authorization::Accept);
        assert_eq!(registry.authorize(me, &b), Authorization::Accept);
        registry
            .announce_as(now, a, true, Some((me, None)))
            .unwrap();
        let second = registry.announce_as(now, b, true, Some((me, None)));
        assert!(
            matches!(second, Err(NotTaken::Refused(Refusal::LeadsAnother(_)))),
            "{second:?}"
        );
        assert_eq!(registry.len(), 1);
    }
}
