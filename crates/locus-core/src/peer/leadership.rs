//! Leadership safety: who a peer follows, and how two leaderships of one group meet.
//!
//! The rules (docs/protocol.md, "Safety rules"):
//! - A peer follows a new leadership of its group (another leader, or a higher epoch) only
//!   after that leader answered it directly, with a `Measure` whose reply names the answering
//!   peer as the leader of the group: a *check*. Nothing a third party says (an `Alive` flood,
//!   a `NotLeader` hint, a claim's reply, the rendezvous' `superseded_by`) moves a peer by
//!   itself; each only tells it whom to check.
//! - A leader never steps down on a claim or an `Alive`: it answers with its own view, and
//!   yields only to a checked leadership of a higher [`term`](crate::term).
//! - A successor checks the peers before it on the leadership list before it takes over, and a
//!   handover is taken only once the old leader no longer answers as leader.
//! - Two leaders of one group meet without the rendezvous: a stale `Alive` is answered with
//!   the receiver's view; a leader re-checks the peers it lost (members gone silent, the
//!   leaders it succeeded) with a doubling gap, so that when a partition heals it hears the
//!   other side; each side then checks the other's leader and the lower term yields.
//!
//! A check has its own deadline, [`check_timeout`]: far shorter than `request_timeout`, since
//! it goes to a peer of the same group (near by construction), and a successor's check must
//! not slow failover.

use std::sync::Arc;
use std::time::Duration;

use super::state::{CheckFor, GroupRole, Lost, Purpose, State, Succession};
use super::{Peer, Timer};
use crate::id::{PeerId, PeerRef};
use crate::message::{CallError, GroupView, MeasureRequest, Request, RequestId, Response};
use crate::term::term;
use crate::time::Time;

/// Leadership checks one peer has in flight at most; more are dropped (a later message or
/// timer asks again), so no stream of forged views makes a peer send without bound.
pub(super) const MAX_CHECKS: usize = 16;
/// Lost peers a leader keeps re-checking at most (the most recent are kept).
pub(super) const MAX_LOST: usize = crate::message::MAX_LOST_PEERS;
/// Lost peers checked per `alive_interval` at most.
const LOST_CHECKS_PER_INTERVAL: usize = 4;
/// The longest gap between two checks of a lost peer, in alive intervals (80 s at the `wan`
/// preset, 8 s at `test`): a partition that heals is noticed within that.
pub(super) const MAX_LOST_GAP: u32 = 16;
/// How long a leader remembers a lost peer, in alive intervals (an hour at `wan`, 6 min at
/// `test`). Checks of a peer that is gone for good cost about 50 calls over that hour.
const LOST_MEMORY: u32 = 720;
/// Attempts at a successor's or a handover's check before the peer is taken for gone: one
/// lost message must not hand the group to a second leader.
const CHECK_ATTEMPTS: u8 = 2;

/// The deadline of a leadership check: half of the shorter of `request_timeout` and
/// `alive_interval`. Checks go to peers of the same group, near by construction; a
/// successor's two attempts at it still fit within one alive interval past `alive_timeout`.
pub(super) fn check_timeout(cfg: &crate::Config) -> Duration {
    cfg.request_timeout.min(cfg.alive_interval) / 2
}

/// How long before its due time a successor starts checking: both attempts of a check that
/// goes unanswered, so that a takeover after a crash comes no later than without checks.
/// Shorter than `alive_interval`, so never before the leader has been silent for
/// `alive_timeout − alive_interval`.
pub(super) fn succession_lead(cfg: &crate::Config) -> Duration {
    check_timeout(cfg) * u32::from(CHECK_ATTEMPTS)
}

impl Peer {
    /// Asks `target` directly, with one `Measure`, which leadership of this group it holds.
    pub(super) fn check(&mut self, target: PeerRef, why: CheckFor) {
        if target.id == self.me.id {
            return;
        }
        let deadline = self.now + check_timeout(&self.cfg);
        let State::Member(g) = &mut self.state else {
            return;
        };
        // The cap bounds what others can make this peer send (views to check, lost peers);
        // a successor's and a handover's own checks, at most one per leadership list entry,
        // must never be dropped, or the succession would wait for an answer that never comes.
        let own = matches!(why, CheckFor::Succession | CheckFor::Handover);
        if (!own && g.checking.len() >= MAX_CHECKS) || !g.checking.insert((target.id, why)) {
            return;
        }
        let id = RequestId(self.next_request);
        self.send_to(
            &target,
            Request::Measure(MeasureRequest {}),
            Purpose::Check(target.clone(), why),
        );
        self.check_deadlines.insert(id, deadline);
        if self
            .timers
            .get(&Timer::CheckDeadline)
            .is_none_or(|at| *at > deadline)
        {
            self.set_timer(Timer::CheckDeadline, deadline);
        }
    }

    /// Checks past their deadline fail now; their replies, if they come, are ignored.
    pub(super) fn on_check_deadline(&mut self, now: Time) {
        let expired: Vec<RequestId> = self
            .check_deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.check_deadlines.remove(&id);
            if let Some(p) = self.pending.remove(&id)
                && let Purpose::Check(target, why) = p.purpose
            {
                self.on_check_reply(now, target, why, Err(CallError::Timeout));
            }
        }
        if let Some(next) = self.check_deadlines.values().min().copied() {
            self.set_timer(Timer::CheckDeadline, next);
        }
    }

    /// The answer to a check. What the target says of itself counts: if it leads this group,
    /// that leadership is checked; if it follows another leader, that one gets checked next.
    pub(super) fn on_check_reply(
        &mut self,
        now: Time,
        target: PeerRef,
        why: CheckFor,
        result: Result<Response, CallError>,
    ) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.checking.remove(&(target.id, why));
        let group = g.id;
        // `None`: no answer from that peer. `Some(None)`: it answered, not in this group.
        let answer: Option<Option<GroupView>> = match result {
            Ok(Response::Measure(r)) if r.responder.id == target.id => {
                Some(r.group.filter(|v| v.group_id == group))
            }
            _ => None,
        };
        if answer.is_none() {
            // A peer that does not answer is no link (membership hygiene).
            g.intra.remove(&target.id);
        }
        let leads = matches!(&answer, Some(Some(v)) if v.leader.id == target.id);
        match &answer {
            Some(Some(v)) if leads => self.leader_answered(now, v.clone()),
            Some(Some(v)) => self.leadership_named(v.clone(), &target),
            _ => {}
        }
        match why {
            CheckFor::Leadership => {}
            CheckFor::Succession => {
                let view = answer.clone().flatten().filter(|_| leads);
                self.on_succession_checked(now, target, answer.is_some(), view)
            }
            CheckFor::Handover => self.on_handover_checked(now, target, answer.is_some(), leads),
            CheckFor::Lost => self.on_lost_checked(target.id, answer),
        }
    }

    /// `v`'s leader answered this peer itself, as the leader of this group: a checked
    /// leadership. A higher term than the one followed wins; the same one is proof of life;
    /// a lower one is told of this group's leadership, so that it checks it and yields.
    pub(super) fn leader_answered(&mut self, now: Time, v: GroupView) {
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return;
        };
        if v.group_id != g.id || v.leader.id == me {
            return;
        }
        let mine = term(&g.view());
        let same = v.leader.id == g.leader.id && v.epoch == g.epoch;
        match &g.role {
            // Electing: a live leader at least as new as the one this peer lost; follow it.
            GroupRole::Electing(e) if v.epoch.saturating_add(1) >= e.epoch => {
                self.follow(now, v.leader.clone(), v.epoch, true);
                self.pass_on_flood(now, &v);
            }
            GroupRole::Electing(_) => {}
            GroupRole::Follower if same => {
                g.last_alive = now;
                g.succession = None;
                self.schedule_alive_check(now);
                self.pass_on_flood(now, &v);
            }
            _ if term(&v) > mine => {
                self.follow(now, v.leader.clone(), v.epoch, true);
                self.pass_on_flood(now, &v);
            }
            GroupRole::Leading(_) if term(&v) < mine => self.send_own_alive(vec![v.leader]),
            _ => {}
        }
    }

    /// The leadership `v` answered a check: the flood `Alive` of it that set off the check
    /// goes on through the mesh now, as if it had come from the followed leadership's flood.
    /// Without this a leader's first floods after a takeover reached one hop further each
    /// round (`LEADERSHIP_FLOODS` of them), and members farther off followed the dead leader
    /// until their own succession timer, up to a minute (docs/decisions.md, "A new
    /// leadership's flood goes on past the members that check it").
    fn pass_on_flood(&mut self, now: Time, v: &GroupView) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let Some((from, alive)) = g.unchecked_flood.take() else {
            return;
        };
        if alive.group.leader.id == v.leader.id && alive.group.epoch == v.epoch {
            // Its sender's word is not what moved this peer (the check was); the contents
            // count as much as any flood `Alive` of the leadership it follows.
            let _ = self.apply_alive(now, from, alive, true, false);
        }
    }

    /// A member of this group (`via`) follows `v`: check a higher leadership, and tell a lower
    /// one (through the member and its leader) of the leadership this peer leads.
    pub(super) fn leadership_named(&mut self, v: GroupView, via: &PeerRef) {
        let me = self.me.id;
        let State::Member(g) = &self.state else {
            return;
        };
        if v.group_id != g.id || v.leader.id == me {
            return;
        }
        let (theirs, mine) = (term(&v), term(&g.view()));
        if theirs > mine {
            self.check(v.leader, CheckFor::Leadership);
        } else if theirs < mine && matches!(g.role, GroupRole::Leading(_)) {
            self.send_own_alive(vec![via.clone(), v.leader]);
        }
    }

    /// Sends this leader's latest `Alive` straight to `to`: peers that follow an older
    /// leadership of the group check it and yield.
    fn send_own_alive(&mut self, to: Vec<PeerRef>) {
        let me = self.me.id;
        let alive = match &self.state {
            State::Member(g) => match &g.role {
                GroupRole::Leading(l) => l.heartbeat.latest.clone(),
                _ => None,
            },
            _ => None,
        };
        let Some(alive) = alive.or_else(|| self.build_alive(None)) else {
            return;
        };
        for t in to {
            if t.id != me {
                self.send_to(&t, Request::Alive(Arc::clone(&alive)), Purpose::Ignore);
            }
        }
    }

    // ---- succession [0063] ----

    /// The leader has been silent for `alive_timeout` (plus this successor's stage): ask the
    /// peers before this one on the leadership list whether any still leads; a member off the
    /// list asks the whole list, then elects [0064].
    pub(super) fn on_alive_check(&mut self, now: Time) {
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return;
        };
        if !matches!(g.role, GroupRole::Follower) {
            return;
        }
        if let Some(s) = &g.succession {
            // The checks found the group leaderless before the due time: act now, unless the
            // leader was heard meanwhile.
            if s.pending.is_empty() && s.gone {
                if g.last_alive == s.heard {
                    self.succeed(now);
                } else {
                    g.succession = None;
                    self.schedule_alive_check(now);
                }
            }
            return;
        }
        let (ask, elect): (Vec<PeerRef>, bool) = match g.leadership.iter().position(|p| p.id == me)
        {
            Some(i) if i >= 1 => {
                // The leader followed first, even when the list is older than it (it was
                // followed after a check, before its first report refreshed the list).
                let mut before = g.leadership[..i].to_vec();
                if !before.iter().any(|p| p.id == g.leader.id) {
                    before.insert(0, g.leader.clone());
                }
                (before, false)
            }
            _ => {
                let mut all: Vec<PeerRef> = g.leadership.clone();
                if !all.iter().any(|p| p.id == g.leader.id) {
                    all.push(g.leader.clone());
                }
                all.retain(|p| p.id != me);
                (all, true)
            }
        };
        if ask.is_empty() {
            self.start_election(now);
            return;
        }
        g.succession = Some(Succession {
            pending: ask.iter().map(|p| (p.id, (p.clone(), 1))).collect(),
            elect,
            heard: g.last_alive,
            live: None,
            gone: false,
        });
        for p in ask {
            self.check(p, CheckFor::Succession);
        }
    }

    fn on_succession_checked(
        &mut self,
        now: Time,
        target: PeerRef,
        answered: bool,
        leads: Option<GroupView>,
    ) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let mine = term(&g.view());
        let Some(s) = g.succession.as_mut() else {
            return;
        };
        let higher = leads.as_ref().is_some_and(|v| term(v) >= mine);
        if higher || g.last_alive != s.heard || !matches!(g.role, GroupRole::Follower) {
            // Someone before this peer leads at this term or a higher one (`leader_answered`
            // followed it or took it as proof of life), or the leader was heard meanwhile:
            // no takeover.
            g.succession = None;
            if matches!(g.role, GroupRole::Follower) {
                self.schedule_alive_check(now);
            }
            return;
        }
        if let Some(v) = leads {
            // A live leader of a lower term than the silent one this peer follows (after a
            // partition, the two sides each took over): the silent one loses its rank, and the
            // best live leadership that answered is followed once every check is in, rather
            // than a third leadership made.
            if s.live.as_ref().is_none_or(|l| term(&v) > term(l)) {
                s.live = Some(v);
            }
            s.pending.remove(&target.id);
        }
        let Some((peer, tries)) = s.pending.get(&target.id).cloned() else {
            self.finish_succession(now);
            return;
        };
        if !answered && tries < CHECK_ATTEMPTS {
            s.pending.insert(target.id, (peer.clone(), tries + 1));
            self.check(peer, CheckFor::Succession);
            return;
        }
        s.pending.remove(&target.id);
        self.finish_succession(now);
    }

    /// Every check of a succession is in: follow the best live leadership that answered, or
    /// take over (elect, off the list).
    fn finish_succession(&mut self, now: Time) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let Some(s) = g.succession.as_ref() else {
            return;
        };
        if !s.pending.is_empty() {
            return;
        }
        if let Some(v) = s.live.clone() {
            g.succession = None;
            self.follow(now, v.leader, v.epoch, true);
            return;
        }
        // Nobody before this peer leads: take over at the due time, not before (a leader
        // whose process is gone refuses connections at once, well before `alive_timeout`).
        let due = self.succession_due().unwrap_or(now);
        if now < due {
            if let State::Member(g) = &mut self.state
                && let Some(s) = g.succession.as_mut()
            {
                s.gone = true;
            }
            self.set_timer(Timer::AliveCheck, due);
            return;
        }
        self.succeed(now);
    }

    /// The succession found the group leaderless: take over, or elect when off the list.
    fn succeed(&mut self, now: Time) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let Some(s) = g.succession.take() else {
            return;
        };
        if s.elect {
            self.start_election(now);
        } else {
            let me = self.me.id;
            let mut dead: Vec<PeerId> = g
                .leadership
                .iter()
                .take_while(|p| p.id != me)
                .map(|p| p.id)
                .collect();
            dead.push(g.leader.id);
            let epoch = g.epoch.saturating_add(1);
            self.become_leader(now, epoch, &dead);
        }
    }

    // ---- handover ----

    /// An `Alive` named this peer leader at the next epoch: the old leader hands the group
    /// over as it leaves. Taken once the old leader no longer answers as leader, so that a
    /// forged handover cannot make a second leader.
    pub(super) fn start_handover_check(&mut self) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        if g.handover.is_some() || !matches!(g.role, GroupRole::Follower) {
            return;
        }
        let leader = g.leader.clone();
        g.handover = Some((leader.id, 1));
        self.check(leader, CheckFor::Handover);
    }

    fn on_handover_checked(&mut self, now: Time, target: PeerRef, answered: bool, leads: bool) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let Some((old, tries)) = g.handover else {
            return;
        };
        if old != target.id || !matches!(g.role, GroupRole::Follower) {
            return;
        }
        if leads {
            g.handover = None;
            return;
        }
        if !answered && tries < CHECK_ATTEMPTS {
            g.handover = Some((old, tries + 1));
            self.check(target, CheckFor::Handover);
            return;
        }
        g.handover = None;
        let epoch = g.epoch.saturating_add(1);
        // The old leader is the one presumed gone, not the member that forwarded the Alive.
        self.become_leader(now, epoch, &[old]);
    }

    // ---- lost peers ----

    /// Remembers `peers` as lost (members gone silent, the leaders this one succeeded), to be
    /// re-checked: the first check one alive interval from now, then at doubling gaps.
    pub(super) fn remember_lost(&mut self, now: Time, peers: Vec<PeerRef>) {
        let first = now + self.cfg.alive_interval;
        let me = self.me.id;
        let Some(l) = self.leading_mut() else { return };
        for p in peers {
            if p.id == me {
                continue;
            }
            l.lost.insert(
                p.id,
                Lost {
                    peer: p,
                    since: now,
                    next: first,
                    gap: 1,
                },
            );
        }
        while l.lost.len() > MAX_LOST {
            let oldest = l
                .lost
                .iter()
                .min_by_key(|(_, x)| x.since)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                l.lost.remove(&id);
            }
        }
    }

    /// Each alive interval: forget lost peers past `LOST_MEMORY`, check the ones due.
    pub(super) fn check_lost(&mut self, now: Time) {
        let interval = self.cfg.alive_interval;
        let Some(l) = self.leading_mut() else { return };
        l.lost
            .retain(|_, x| now.saturating_since(x.since) < interval * LOST_MEMORY);
        let mut due: Vec<(Time, PeerId)> = l
            .lost
            .iter()
            .filter(|(_, x)| x.next <= now)
            .map(|(id, x)| (x.next, *id))
            .collect();
        due.sort();
        due.truncate(LOST_CHECKS_PER_INTERVAL);
        let mut ask = Vec::new();
        for (_, id) in due {
            if let Some(x) = l.lost.get_mut(&id) {
                x.gap = (x.gap * 2).min(MAX_LOST_GAP);
                x.next = now + interval * x.gap;
                ask.push(x.peer.clone());
            }
        }
        for p in ask {
            self.check(p, CheckFor::Lost);
        }
    }

    fn on_lost_checked(&mut self, target: PeerId, answer: Option<Option<GroupView>>) {
        let me = self.me.id;
        let Some(l) = self.leading_mut() else { return };
        match answer {
            // Back in no group or another: nothing to reconcile with.
            Some(None) => {
                l.lost.remove(&target);
            }
            // Back, following this leader.
            Some(Some(v)) if v.leader.id == me => {
                l.lost.remove(&target);
            }
            _ => {}
        }
    }
}
