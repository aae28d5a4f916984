//! Members far from their leader move to a nearer group (beyond the seed, issue #14;
//! docs/decisions.md "Members far from their leader walk again").
//!
//! A walk enters a group by the locality test of the moment: a metro whose group had not
//! formed yet, or had lost its leader or its links, sends its next arrivals into the group of
//! the metro beside it, and churn can leave a group of two metros with a group of the other
//! metro beside it (the 2k churn runs: 82 members 15–20 ms from their leader, 12 peers of
//! their own metro in a group of their own). Nothing in the seed ever moves a member once it
//! is in: merges join whole groups whose leaders are near, and these leaders are not.
//!
//! A follower whose measured RTT to its leader is over `locality_threshold` (not local by the
//! protocol's own measure) walks again, as a join walk would, while it stays a member. It moves
//! only when that walk enters a group whose leader it measured at under [`MOVE_SHARE`] of its
//! leader's RTT: it takes the new group's members reply first, then leaves the old group as a
//! graceful leave does. A walk that would found a group ends with the member where it was. The
//! walks come at doubling intervals, at most [`MAX_RELOCATION_WALKS`] per group entered, so a
//! member with no nearer group costs a few walks, not one a minute.
//!
//! What the move rests on: this peer's own RTT samples (to its leader and to the new one) and
//! the new leader's answer to its entry; nothing any other peer claims.

use std::time::Duration;

use super::Peer;
use super::state::{GroupRole, State};
use crate::event::Event;
use crate::id::PeerRef;
use crate::join::Walk;
use crate::message::GroupMembersReply;
use crate::time::Time;

/// Walks a member starts per group it entered: one interval after entering, then after two,
/// four and eight more (1, 3, 7 and 15 minutes in the wan preset).
pub(super) const MAX_RELOCATION_WALKS: u32 = 4;

/// A member moves only to a group whose leader is nearer than this share of its own leader's
/// RTT: RTTs are noisy, and moving costs the old group a member and the new one an entry.
pub(super) const MOVE_SHARE: f64 = 0.5;

/// A member's relocation state, in its [`super::state::Group`].
#[derive(Debug, Default)]
pub(super) struct Relocation {
    /// The walk in flight, by id.
    pub(super) walk: Option<(u64, Walk)>,
    /// When the walk in flight started: one that outlived its deadline (its results went
    /// elsewhere while this peer led for a while) is dropped at the next refresh.
    pub(super) started: Time,
    /// When the next walk is due (`None` until the first refresh in this group).
    pub(super) next: Option<Time>,
    /// Walks started since entering this group.
    pub(super) walks: u32,
}

/// The first interval: twice the re-measurement interval (60 s in the wan preset), so that a
/// member's first relocation walk comes after its group had a chance to settle.
fn first_interval(remeasure: Duration) -> Duration {
    remeasure * 2
}

impl Peer {
    /// At each report: starts a relocation walk when one is due and this follower's leader is
    /// farther than `locality_threshold`.
    pub(super) fn relocate_if_far(&mut self, now: Time) {
        if !self.cfg.relocate_far_members {
            return;
        }
        let first = first_interval(self.cfg.remeasure_interval);
        let threshold = self.cfg.locality_threshold;
        let stale = self.cfg.join_deadline * 2;
        let State::Member(g) = &mut self.state else {
            return;
        };
        if !matches!(g.role, GroupRole::Follower) {
            return;
        }
        let r = &mut g.relocation;
        if r.walk.is_some() && now > r.started + stale {
            r.walk = None;
        }
        let Some(due) = r.next else {
            r.next = Some(now + first);
            return;
        };
        if now < due || r.walk.is_some() || r.walks >= MAX_RELOCATION_WALKS {
            return;
        }
        let far = g.intra.get(&g.leader.id).is_some_and(|l| l.rtt > threshold);
        if !far {
            return;
        }
        r.walks += 1;
        r.next = Some(now + first * (1 << r.walks));
        let own = g.id;
        // Due and far: only now the walk's sources and limits (this runs at every report).
        let sources = self.rewalk_sources();
        let mut walk = Walk::new(
            self.walk_limits(now, self.cfg.max_tested_groups),
            sources.len(),
        );
        walk.exclude(own);
        if self.asks_near(&sources) {
            walk.ask_near();
        }
        let id = self.next_walk;
        self.next_walk += 1;
        if let State::Member(g) = &mut self.state {
            g.relocation.walk = Some((id, walk));
            g.relocation.started = now;
        }
        self.ask_boot_lists(sources, id);
    }

    /// Whether walk `id` is this member's relocation walk.
    pub(super) fn is_relocation_walk(&self, id: u64) -> bool {
        matches!(&self.state, State::Member(g)
            if g.relocation.walk.as_ref().is_some_and(|(w, _)| *w == id))
    }

    /// Ends the relocation walk without moving.
    pub(super) fn end_relocation(&mut self) {
        if let State::Member(g) = &mut self.state {
            g.relocation.walk = None;
        }
    }

    /// The relocation walk would enter `leader`'s group: whether that leader is near enough,
    /// by this peer's own samples, to be worth moving to.
    pub(super) fn worth_moving_to(&self, leader: &PeerRef) -> bool {
        let State::Member(g) = &self.state else {
            return false;
        };
        let Some(own) = g.intra.get(&g.leader.id).map(|l| l.rtt) else {
            return false;
        };
        self.known
            .rtt(leader.id)
            .is_some_and(|rtt| rtt.as_secs_f64() < own.as_secs_f64() * MOVE_SHARE)
    }

    /// The new group's leader took this peer in: it leaves the old group (its links close, its
    /// leader drops it from the roster) and follows the new one.
    pub(super) fn complete_relocation(&mut self, now: Time, reply: GroupMembersReply) {
        let Some(from) = self.my_group_id() else {
            return;
        };
        let to = reply.group.group_id;
        self.leave_group(now);
        self.become_follower_of(now, reply);
        self.events.push_back(Event::Relocated { from, to });
    }
}
