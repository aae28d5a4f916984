//! The directory behind the gRPC service: the core's [`Directory`], the sampling generator, and
//! the broadcast of changes to `WatchOverlay` subscribers.
//!
//! One std mutex guards it: every operation is a short, synchronous step of the directory, and
//! changes are broadcast while it is held, so that a subscriber's snapshot and its stream of
//! changes fit together without a gap or a duplicate.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use locus_core::message::{AnnounceReply, Announcement, GroupView};
use locus_core::rendezvous::{Authorization, Change, Directory, Entry};
use locus_core::{GroupId, PeerId, PeerRef, Rng, Time};
use locus_proto::directory::OverlayChange;
use locus_proto::pb;
use tokio::sync::broadcast;

/// Why [`Registry::announce`] did not take an announcement.
#[derive(Debug)]
pub(crate) enum NotTaken {
    /// It needs its leader checked first; here it is back.
    NeedsCheck(Box<Announcement>),
    /// It would add a group to a full directory.
    Full,
}

/// The live directory and its subscribers.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    events: broadcast::Sender<pb::OverlayEvent>,
    ttl: Duration,
}

#[derive(Debug)]
struct Inner {
    directory: Directory,
    rng: Rng,
}

impl Registry {
    /// An empty directory whose entries live `ttl`, holding at most `max_groups`, buffering
    /// `watch_buffer` changes.
    pub(crate) fn new(ttl: Duration, watch_buffer: usize, seed: u64, max_groups: usize) -> Self {
        let (events, _) = broadcast::channel(watch_buffer);
        Registry {
            inner: Mutex::new(Inner {
                directory: Directory::with_max_groups(ttl, max_groups),
                rng: Rng::new(seed),
            }),
            events,
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while the lock is held; if something ever did, the directory is
        // still consistent data, so go on with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long entries live.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Live groups.
    pub(crate) fn len(&self) -> usize {
        self.lock().directory.len()
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
        let mut inner = self.lock();
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
            self.broadcast(now, &change);
        }
        Ok(reply)
    }

    /// What the directory makes of an announcement from the authenticated peer `caller`
    /// ([`Directory::authorize`]).
    pub(crate) fn authorize(&self, caller: PeerId, a: &Announcement) -> Authorization {
        self.lock().directory.authorize(caller, a)
    }

    /// Drops the entries not refreshed within the TTL; returns how many expired.
    pub(crate) fn expire(&self, now: Time) -> usize {
        let mut inner = self.lock();
        let epochs: Vec<(GroupId, u64)> = inner
            .directory
            .entries()
            .filter(|e| now.saturating_since(e.refreshed) > self.ttl)
            .map(|e| (e.view.group_id, e.view.epoch))
            .collect();
        let changes = inner.directory.expire(now);
        for change in &changes {
            if let Change::GroupEnded(group_id) = change {
                let epoch = epochs
                    .iter()
                    .find(|(g, _)| g == group_id)
                    .map_or(0, |(_, e)| *e);
                let change = OverlayChange::Ended {
                    group_id: *group_id,
                    epoch,
                    expired: true,
                };
                self.broadcast(now, &change);
            }
        }
        changes.len()
    }

    fn broadcast(&self, now: Time, change: &OverlayChange) {
        tracing::debug!(?change, "directory changed");
        // An error only means that nobody is subscribed.
        let _ = self.events.send(change.to_event(now));
    }

    /// A random sample of at most `max` live groups.
    pub(crate) fn boot_list(&self, max: usize) -> Vec<GroupView> {
        let mut inner = self.lock();
        let Inner { directory, rng } = &mut *inner;
        directory.boot_list(rng, max)
    }

    /// A group's entry.
    pub(crate) fn resolve(&self, group: GroupId) -> Option<GroupView> {
        self.lock().directory.resolve(group).map(|e| e.view.clone())
    }

    /// Calls `f` with the live entries in group-id order, under the lock.
    pub(crate) fn with_entries<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &Entry>) -> T,
    ) -> T {
        let inner = self.lock();
        f(&mut inner.directory.entries())
    }

    /// A subscription to the changes, plus (when `include_existing`) a `created` event for
    /// every live group, taken atomically with the subscription.
    pub(crate) fn subscribe(
        &self,
        now: Time,
        include_existing: bool,
    ) -> (Vec<pb::OverlayEvent>, broadcast::Receiver<pb::OverlayEvent>) {
        let inner = self.lock();
        let existing = if include_existing {
            inner
                .directory
                .entries()
                .map(|e| OverlayChange::Created(e.view.clone()).to_event(now))
                .collect()
        } else {
            Vec::new()
        };
        (existing, self.events.subscribe())
    }
}

/// Whether `caller` may announce `group` on a plaintext rendezvous: only its leader does. It
/// says nothing about who sent it, since both come from the request: with TLS, the
/// certificate decides ([`Registry::authorize`]).
pub(crate) fn names_itself_leader(caller: &PeerRef, group: &GroupView) -> bool {
    caller.id == group.leader.id
}
