//! The leader's entry at the rendezvous: periodic announcements, announcing at once when a link
//! closes, and what the reply asks for (a bridge, or a leadership to check).

use super::state::{CheckFor, GroupRole, Purpose, State};
use super::{Peer, Timer};
use crate::message::{Announcement, CallError, MAX_NEIGHBORS, Request, Response, Target};
use crate::term::term;
use crate::time::Time;

impl Peer {
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
            partition_links: l.partition_links(),
            ended: false,
            landmarks: self.landmarks.clone(),
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
}
