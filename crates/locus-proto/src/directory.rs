//! The rendezvous RPCs that read the directory and have no core request: `ListGroups`,
//! `GetOverlay` and `WatchOverlay`.
//!
//! The core's [`Directory`](locus_core::rendezvous::Directory) holds the entries; this module
//! validates the three requests and turns entries and directory changes into their wire form.
//! Instants in the directory are the network runtime's [`Time`]: microseconds since the Unix
//! epoch.

use std::time::Duration;

use locus_core::message::GroupView;
use locus_core::rendezvous::Entry;
use locus_core::{GroupId, PeerRef, Time};

use crate::convert::{group_id, optional, rtt_us};
use crate::error::ProtoError;
use crate::pb;

/// Entries in a `ListGroups` page when the request asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 256;
/// Most entries in one `ListGroups` page; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: usize = 1024;
/// Most groups in one `GetOverlay` page, and the page size when the request asks for 0: a
/// group with its leader and 16 links (the most a leader keeps by default) encodes to about
/// 2 kB, so a page stays within the 4 MiB that gRPC clients decode by default.
pub const MAX_OVERLAY_PAGE: usize = 2_000;

/// A validated `ListGroups` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroups {
    /// The sender, when it named itself.
    pub caller: Option<PeerRef>,
    /// Entries in this page, between 1 and [`MAX_PAGE_SIZE`].
    pub page_size: usize,
    /// The page starts after this group; `None` for the first page.
    pub after: Option<GroupId>,
}

impl TryFrom<pb::ListGroupsRequest> for ListGroups {
    type Error = ProtoError;
    fn try_from(r: pb::ListGroupsRequest) -> Result<Self, ProtoError> {
        Ok(Self {
            caller: optional(r.caller, "caller")?,
            page_size: page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
            after: after(&r.page_token)?,
        })
    }
}

/// A validated `GetOverlay` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// The sender, when it named itself.
    pub caller: Option<PeerRef>,
    /// Groups in this page, between 1 and [`MAX_OVERLAY_PAGE`].
    pub page_size: usize,
    /// The page starts after this group; `None` for the first page.
    pub after: Option<GroupId>,
}

impl TryFrom<pb::GetOverlayRequest> for Overlay {
    type Error = ProtoError;
    fn try_from(r: pb::GetOverlayRequest) -> Result<Self, ProtoError> {
        Ok(Self {
            caller: optional(r.caller, "caller")?,
            page_size: page_size(r.page_size, MAX_OVERLAY_PAGE, MAX_OVERLAY_PAGE),
            after: after(&r.page_token)?,
        })
    }
}

/// A requested page size: `default` for 0, larger ones lowered to `max`.
fn page_size(asked: u32, default: usize, max: usize) -> usize {
    match asked as usize {
        0 => default,
        n => n.min(max),
    }
}

/// Where a page starts: the token is the id of the last group of the previous page, and must
/// parse as one; empty for the first page.
fn after(token: &str) -> Result<Option<GroupId>, ProtoError> {
    if token.is_empty() {
        Ok(None)
    } else {
        group_id(token, "page_token").map(Some)
    }
}

/// The `next_page_token` of a page whose last entry is `last`.
pub fn page_token(last: GroupId) -> String {
    last.to_string()
}

/// A validated `WatchOverlay` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// The sender, when it named itself.
    pub caller: Option<PeerRef>,
    /// Start with a `created` event for every live group.
    pub include_existing: bool,
}

impl TryFrom<pb::WatchOverlayRequest> for Watch {
    type Error = ProtoError;
    fn try_from(r: pb::WatchOverlayRequest) -> Result<Self, ProtoError> {
        Ok(Self {
            caller: optional(r.caller, "caller")?,
            include_existing: r.include_existing,
        })
    }
}

/// Milliseconds since the Unix epoch of a runtime instant.
pub fn unix_ms(t: Time) -> u64 {
    t.as_micros() / 1000
}

/// The wire form of a directory entry whose entries live `ttl` past their last refresh.
pub fn group_entry(entry: &Entry, ttl: Duration) -> pb::GroupEntry {
    pb::GroupEntry {
        group: Some(entry.view.clone().into()),
        announced_at_unix_ms: unix_ms(entry.refreshed),
        expires_at_unix_ms: unix_ms(entry.refreshed + ttl),
    }
}

/// The inter-group links an entry's leader announced.
pub fn overlay_links(entry: &Entry) -> impl Iterator<Item = pb::OverlayLink> + '_ {
    entry.neighbors.iter().map(|n| pb::OverlayLink {
        group_id: entry.view.group_id.to_string(),
        neighbor_group_id: n.group_id.to_string(),
        neighbor_leader: Some(n.leader.clone().into()),
        rtt_us: rtt_us(n.rtt),
        partition: entry.partition_links.contains(&n.group_id),
    })
}

/// One change of the directory, with what it replaced: the core's `Change` plus the state
/// before it, which `WatchOverlay` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverlayChange {
    /// A group appeared (or is listed for `include_existing`).
    Created(GroupView),
    /// A group's leader changed.
    LeaderChanged {
        /// The leader before.
        previous: PeerRef,
        /// The group now.
        view: GroupView,
    },
    /// A group's member count changed.
    MembersChanged {
        /// The count before.
        previous_count: u32,
        /// The group now.
        view: GroupView,
    },
    /// A group left the directory.
    Ended {
        /// The group.
        group_id: GroupId,
        /// Its last epoch.
        epoch: u64,
        /// `true` when its entry expired, `false` when its leader announced the end.
        expired: bool,
    },
}

impl OverlayChange {
    /// The group the change is about.
    pub fn group_id(&self) -> GroupId {
        match self {
            Self::Created(view)
            | Self::LeaderChanged { view, .. }
            | Self::MembersChanged { view, .. } => view.group_id,
            Self::Ended { group_id, .. } => *group_id,
        }
    }

    /// The wire event, seen at `at`.
    pub fn to_event(&self, at: Time) -> pb::OverlayEvent {
        use pb::overlay_event::Kind;
        let (group_id, epoch, kind) = match self {
            Self::Created(view) => (
                view.group_id,
                view.epoch,
                Kind::Created(pb::GroupCreated {
                    group: Some(view.clone().into()),
                }),
            ),
            Self::LeaderChanged { previous, view } => (
                view.group_id,
                view.epoch,
                Kind::LeaderChanged(pb::LeaderChanged {
                    previous_leader: Some(previous.clone().into()),
                    leader: Some(view.leader.clone().into()),
                }),
            ),
            Self::MembersChanged {
                previous_count,
                view,
            } => (
                view.group_id,
                view.epoch,
                Kind::MemberCountChanged(pb::MemberCountChanged {
                    previous_count: *previous_count,
                    member_count: view.member_count,
                }),
            ),
            Self::Ended {
                group_id,
                epoch,
                expired,
            } => {
                let reason = if *expired {
                    pb::GroupEndReason::Expired
                } else {
                    pb::GroupEndReason::Ended
                };
                (
                    *group_id,
                    *epoch,
                    Kind::Ended(pb::GroupEnded {
                        reason: reason.into(),
                    }),
                )
            }
        };
        pb::OverlayEvent {
            at_unix_ms: unix_ms(at),
            group_id: group_id.to_string(),
            epoch,
            kind: Some(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_groups_defaults_caps_and_rejects_a_bad_token() {
        let r = ListGroups::try_from(pb::ListGroupsRequest::default()).unwrap();
        assert_eq!((r.page_size, r.after), (DEFAULT_PAGE_SIZE, None));
        let r = ListGroups::try_from(pb::ListGroupsRequest {
            page_size: 1_000_000,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.page_size, MAX_PAGE_SIZE);
        let err = ListGroups::try_from(pb::ListGroupsRequest {
            page_token: "x".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "page_token: invalid UUID");
    }
}
