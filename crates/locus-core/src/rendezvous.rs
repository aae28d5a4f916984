//! The rendezvous point's directory [0044]: live groups, their leaders, and what changed.
//!
//! Pure data: the `locus-rendezvous` service wraps it in gRPC, the test harness and the
//! simulator use it directly. Leaders refresh their entries; an entry that is not refreshed
//! within the TTL expires.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::id::{GroupId, PeerId};
use crate::message::{AnnounceReply, Announcement, GroupView, MAX_BOOT_LIST, NeighborGroup};
use crate::rng::Rng;
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
    /// When the entry was last refreshed.
    pub refreshed: Time,
}

/// The directory of live groups.
#[derive(Debug, Clone)]
pub struct Directory {
    ttl: Duration,
    max_groups: usize,
    entries: BTreeMap<GroupId, Entry>,
}

/// Groups one directory holds at most; announcements of new groups beyond it are refused.
pub const MAX_GROUPS: usize = 100_000;

impl Directory {
    /// An empty directory whose entries live `ttl` past their last refresh.
    pub fn new(ttl: Duration) -> Self {
        Directory {
            ttl,
            max_groups: MAX_GROUPS,
            entries: BTreeMap::new(),
        }
    }

    /// Records an announcement and returns the reply plus the changes it caused.
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
                self.entries.remove(&id);
                changes.push(Change::GroupEnded(id));
            }
            return (
                AnnounceReply {
                    superseded_by: None,
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
                        },
                        changes,
                    );
                }
                if e.view.leader.id != a.group.leader.id || e.view.epoch != a.group.epoch {
                    changes.push(Change::LeaderChanged(a.group.clone()));
                } else if e.view.member_count != a.group.member_count {
                    changes.push(Change::MembersChanged(a.group.clone()));
                }
                e.view = a.group;
                e.neighbors = a.neighbors;
                e.refreshed = now;
            }
            None => {
                if self.entries.len() >= self.max_groups {
                    return (
                        AnnounceReply {
                            superseded_by: None,
                        },
                        changes,
                    );
                }
                changes.push(Change::GroupCreated(a.group.clone()));
                self.entries.insert(
                    id,
                    Entry {
                        view: a.group,
                        neighbors: a.neighbors,
                        refreshed: now,
                    },
                );
            }
        }
        (
            AnnounceReply {
                superseded_by: None,
            },
            changes,
        )
    }

    /// Drops entries not refreshed within the TTL.
    pub fn expire(&mut self, now: Time) -> Vec<Change> {
        let ttl = self.ttl;
        let dead: Vec<GroupId> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_since(e.refreshed) > ttl)
            .map(|(id, _)| *id)
            .collect();
        dead.into_iter()
            .map(|id| {
                self.entries.remove(&id);
                Change::GroupEnded(id)
            })
            .collect()
    }

    /// A random sample of at most `max` live groups [0044].
    pub fn boot_list(&self, rng: &mut Rng, max: usize) -> Vec<GroupView> {
        let max = max.min(MAX_BOOT_LIST);
        let n = self.entries.len();
        if n <= max {
            return self.entries.values().map(|e| e.view.clone()).collect();
        }
        // Floyd's sampling keeps this O(max) picks over the ordered map.
        let mut picked = std::collections::BTreeSet::new();
        for j in (n - max)..n {
            let t = rng.below(j as u64 + 1) as usize;
            if !picked.insert(t) {
                picked.insert(j);
            }
        }
        let mut out = Vec::with_capacity(max);
        let mut it = self.entries.values().enumerate();
        for idx in picked {
            for (i, e) in it.by_ref() {
                if i == idx {
                    out.push(e.view.clone());
                    break;
                }
            }
        }
        out
    }

    /// The entry of one group.
    pub fn resolve(&self, id: GroupId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Every live entry, ordered by group id.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
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

/// The order of leaderships within one group: a higher epoch wins, then the lower peer id.
pub(crate) fn term(view: &GroupView) -> (u64, std::cmp::Reverse<PeerId>) {
    (view.epoch, std::cmp::Reverse(view.leader.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PeerRef;
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
                ended: false,
            },
        )
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
}
