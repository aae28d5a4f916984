//! Intra-group maintenance [0060]–[0066]: membership, `Alive` with epochs, succession, the
//! leaderless election, graceful leave and step-down.
//!
//! The leader builds an `Alive` every `alive_interval`. Members get it in reply to their
//! periodic reports, which makes each report a heartbeat in both directions: the leader keeps
//! its roster, the member hears its leader and refreshes its replica. `Alive` is flooded
//! through the group's mesh only when the members must learn something without asking: a new
//! leader (for [`LEADERSHIP_FLOODS`] rounds), a handover, a merge. Periodic floods would cost
//! every member one call per intra-group link and interval, about five times the reports.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::state::{CheckFor, GroupRole, Leading, ProbeFor, Purpose, State};
use super::{Peer, Timer};
use crate::election::{Decision, Election};
use crate::event::Event;
use crate::id::{GroupId, PeerId, PeerRef};
use crate::link::Neighbor;
use crate::message::{
    Alive, AliveAck, Announcement, CallError, ConnectIntraRequest, ConnectReply,
    GetGroupMembersRequest, GroupMembersReply, GroupView, LeaveRequest, LinkInfo, LinkScope,
    MAX_CANDIDATES, MAX_GROUP_MEMBERS, MAX_NEIGHBORS, MAX_ROSTER, NewLeader, NewLeaderReply,
    Request, RequestError, Response, Target,
};
use crate::term::term;
use crate::time::Time;

/// `Alive` rounds a new leader floods (its first and the next ones) before members rely on
/// report replies alone: a member the first flood missed hears a later one.
const LEADERSHIP_FLOODS: u8 = 3;

impl Peer {
    // ---- membership and intra-group connections ----

    /// Opens intra-group connections to `candidates` until the target is met.
    pub(super) fn connect_intra(&mut self, candidates: Vec<PeerRef>) {
        let target = self.cfg.intra_group_target as usize;
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group_id = g.id;
        let mut chosen = Vec::new();
        for c in candidates {
            if g.intra.len() + g.connecting.len() >= target {
                break;
            }
            if c.id == me
                || g.intra.contains_key(&c.id)
                || g.connecting.contains(&c.id)
                || g.refused.contains(&c.id)
            {
                continue;
            }
            g.connecting.insert(c.id);
            chosen.push(c);
        }
        for c in chosen {
            self.send_to(
                &c,
                Request::ConnectIntra(ConnectIntraRequest { group_id }),
                Purpose::ConnectIntra(c.clone()),
            );
        }
    }

    /// The answer to a `ConnectIntra` this peer sent; `bridge` when it was a link beyond the
    /// target ([`Peer::bridge_to`]), which a refusal passes on to one member named instead.
    pub(super) fn on_connect_intra_reply(
        &mut self,
        peer: PeerRef,
        rtt: std::time::Duration,
        result: Result<Response, CallError>,
        bridge: bool,
    ) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.connecting.remove(&peer.id);
        match result {
            Ok(Response::Connect(ConnectReply { accepted: true, .. })) => {
                g.intra.insert(peer.id, LinkInfo { peer, rtt });
            }
            Ok(Response::Connect(ConnectReply {
                accepted: false,
                referrals,
            })) => {
                g.refused.insert(peer.id);
                if bridge {
                    for r in referrals {
                        if self.bridge_to(r) {
                            break;
                        }
                    }
                } else {
                    self.connect_intra(referrals);
                }
            }
            _ => {
                g.refused.insert(peer.id);
            }
        }
    }

    pub(super) fn on_connect_intra(
        &mut self,
        now: Time,
        from: PeerRef,
        group_id: GroupId,
    ) -> Result<Response, RequestError> {
        let max = self.cfg.max_intra_group_links as usize;
        let known = self.known.get(&from.id).map(|l| l.rtt);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if g.id != group_id {
            return Err(RequestError::WrongGroup(group_id));
        }
        // A merging leader's first call as a member: its handover may be taken now.
        self.confirm_handover(&from);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if !g.intra.contains_key(&from.id) && g.intra.len() >= max {
            let referrals = g
                .intra
                .values()
                .filter(|l| l.peer.id != from.id)
                .take(MAX_CANDIDATES)
                .map(|l| l.peer.clone())
                .collect();
            return Ok(Response::Connect(ConnectReply {
                accepted: false,
                referrals,
            }));
        }
        g.intra.insert(
            from.id,
            LinkInfo {
                peer: from.clone(),
                rtt: known.unwrap_or_default(),
            },
        );
        let group = g.id;
        if let GroupRole::Leading(l) = &mut g.role
            && l.members.len() < MAX_GROUP_MEMBERS
            && l.members.insert(from.id, (from.clone(), now)).is_none()
        {
            self.events.push_back(Event::MemberJoined {
                group,
                peer: from.id,
            });
        }
        if known.is_none() {
            self.probe(from, ProbeFor::Intra);
        }
        Ok(Response::Connect(ConnectReply {
            accepted: true,
            referrals: Vec::new(),
        }))
    }

    pub(super) fn on_intra_measured(
        &mut self,
        target: &PeerRef,
        result: Option<(std::time::Duration, &crate::message::MeasureReply)>,
    ) {
        if let (State::Member(g), Some((rtt, _))) = (&mut self.state, result)
            && let Some(link) = g.intra.get_mut(&target.id)
        {
            link.rtt = rtt;
        }
    }

    /// The leader's side of `GetPeerGroupMembers`: the joining peer's way in [0062] and every
    /// member's periodic report.
    pub(super) fn on_get_group_members(
        &mut self,
        now: Time,
        from: PeerRef,
        req: GetGroupMembersRequest,
    ) -> Result<Response, RequestError> {
        let list_target = self.cfg.leadership_list_target as usize;
        let want = (req.candidates as usize).min(MAX_CANDIDATES);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if g.id != req.group_id {
            return Err(RequestError::WrongGroup(req.group_id));
        }
        if let Some(h) = &req.handover {
            if !req.joining || h.group_id == g.id {
                return Err(RequestError::Invalid(
                    "only a leader merging another group into this one hands links over".into(),
                ));
            }
            if h.links.len() > MAX_NEIGHBORS {
                return Err(RequestError::Invalid("too many handed-over links".into()));
            }
        }
        let GroupRole::Leading(l) = &mut g.role else {
            let leader = matches!(g.role, GroupRole::Follower).then(|| g.leader.clone());
            return Err(RequestError::NotLeader { leader });
        };
        // A leader that is itself merging does not take in the leader of the group it merges
        // into: two groups merging into each other would leave both leaderless. Any other
        // group may merge into it meanwhile (its members follow on if this group merges on):
        // refusing every neighbour, as at first, made co-located groups whose merge checks ran
        // at the same instant (they founded together, so they re-measure together) refuse each
        // other at every re-measurement, for ever (PlanetLab all-at-once).
        if req.joining
            && l.merge.is_some()
            && l.merge_target
                .and_then(|t| l.inter.get(&t))
                .is_none_or(|n| n.leader.id == from.id)
        {
            return Err(RequestError::NotLeader { leader: None });
        }
        if !l.members.contains_key(&from.id) && l.members.len() >= MAX_GROUP_MEMBERS {
            return Err(RequestError::Full);
        }
        l.lost.remove(&from.id);
        if l.members.insert(from.id, (from.clone(), now)).is_none() {
            self.events.push_back(Event::MemberJoined {
                group: g.id,
                peer: from.id,
            });
        }
        if req.joining
            && g.leadership.len() < list_target
            && !g.leadership.iter().any(|p| p.id == from.id)
        {
            g.leadership.push(from.clone());
        }
        // `want` members at random. Every member reports each interval, so even walking the
        // roster per report would cost the leader O(n²) per interval: a large group draws from
        // the roster of its latest Alive, a vector; a small one samples its members.
        let mut candidates: Vec<PeerRef> = Vec::with_capacity(want);
        match l.alive.as_ref().filter(|a| a.roster.len() > want * 2) {
            _ if want == 0 => {}
            Some(a) => {
                let n = a.roster.len() as u64;
                for _ in 0..want * 4 {
                    if candidates.len() >= want {
                        break;
                    }
                    let p = &a.roster[self.rng.below(n) as usize];
                    if p.id != from.id && !candidates.iter().any(|q| q.id == p.id) {
                        candidates.push(p.clone());
                    }
                }
            }
            None => {
                // Reservoir sampling over the members.
                let others = l.members.values().filter(|(p, _)| p.id != from.id);
                for (k, (p, _)) in others.enumerate() {
                    if k < want {
                        candidates.push(p.clone());
                    } else {
                        let j = self.rng.below(k as u64 + 1) as usize;
                        if j < want {
                            candidates[j] = p.clone();
                        }
                    }
                }
                self.rng.shuffle(&mut candidates);
            }
        }
        // The caller's replica is current: the roster stays home.
        let alive = l
            .alive
            .clone()
            .filter(|a| req.known_alive != Some((a.group.epoch, a.seq)));
        let group = g.view();
        let reply = GroupMembersReply {
            group,
            leadership: g.leadership.clone(),
            candidates,
            alive,
        };
        match req.handover {
            // Taken over once the merging leader confirms it followed (`confirm_handover`):
            // if this reply is lost, the merge does not happen and its links stay its own.
            Some(h) => self.hold_handover(now, &from, h),
            None if !req.joining => self.confirm_handover(&from),
            None => {}
        }
        Ok(Response::GroupMembers(reply))
    }

    pub(super) fn on_refresh_timer(&mut self, now: Time) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.refused.clear();
        if matches!(g.role, GroupRole::Leading(_)) {
            return;
        }
        let follower = matches!(g.role, GroupRole::Follower);
        let (leader, group_id) = (g.leader.clone(), g.id);
        let linked = (g.intra.len() + g.connecting.len()) as u32;
        // Twice the links missing: some candidates are linked or refuse already.
        let candidates = self.cfg.intra_group_target.saturating_sub(linked) * 2;
        let known_alive = g.replica.as_ref().map(|a| (a.group.epoch, a.seq));
        self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        if follower {
            self.send_to(
                &leader,
                Request::GetGroupMembers(GetGroupMembersRequest {
                    group_id,
                    joining: false,
                    handover: None,
                    candidates,
                    known_alive,
                }),
                Purpose::Report,
            );
        }
    }

    pub(super) fn on_report_reply(&mut self, now: Time, result: Result<Response, CallError>) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        if !matches!(g.role, GroupRole::Follower) {
            return;
        }
        match result {
            Ok(Response::GroupMembers(reply)) if reply.group.group_id == g.id => {
                let leader = g.leader.clone();
                if reply.group.leader.id == leader.id && reply.group.epoch == g.epoch {
                    // The leader answered: as good as an `Alive` [0063].
                    g.leadership = reply.leadership;
                    g.last_alive = now;
                    g.succession = None;
                    self.schedule_alive_check(now);
                }
                if let Some(alive) = reply.alive {
                    // The leader's own answer: its Alive needs no further check.
                    let _ = self.apply_alive(now, leader, alive, false, true);
                }
                self.connect_intra(reply.candidates);
            }
            Err(CallError::Timeout | CallError::Unreachable(_)) => {
                // A link that does not answer is no link; the leader is linked again once it
                // answers. One lost report must not cost the member its leader: ask again soon.
                let leader = g.leader.id;
                g.intra.remove(&leader);
                let retry = now + self.cfg.member_refresh_interval / 4;
                if self.timers.get(&Timer::Refresh).is_some_and(|&t| t > retry) {
                    self.set_timer(Timer::Refresh, retry);
                }
            }
            Err(CallError::Refused(RequestError::NotLeader {
                leader: Some(other),
            })) => {
                // The peer followed no longer leads: the one it names is checked, not followed.
                self.check(other, CheckFor::Leadership);
            }
            Err(CallError::Refused(RequestError::WrongGroup(_) | RequestError::NotJoined)) => {
                // The leader is no longer in this group (it left, or merged away unheard):
                // close this peer's links, then walk again from the boot sources.
                let old = g.id;
                self.leave_group(now);
                self.start_walk(now, Vec::new(), Some(old));
            }
            _ => {}
        }
    }

    // ---- Alive ----

    pub(super) fn start_leading_timers(&mut self, now: Time) {
        for t in [
            Timer::AliveCheck,
            Timer::Refresh,
            Timer::ElectionBackoff,
            Timer::ElectionDecide,
        ] {
            self.cancel_timer(t);
        }
        self.set_timer(Timer::Alive, now + self.cfg.alive_interval);
        self.set_timer(Timer::Announce, now);
        self.set_timer(Timer::Remeasure, now + self.cfg.remeasure_interval);
    }

    fn cancel_leading_timers(&mut self) {
        for t in [Timer::Alive, Timer::Announce, Timer::Remeasure] {
            self.cancel_timer(t);
        }
    }

    /// When a follower gives up on its leader: successor `i` of the leadership list waits
    /// `alive_timeout + (i-1) * alive_interval` so that earlier successors go first [0063];
    /// members off the list wait for every successor, then elect [0064].
    pub(super) fn schedule_alive_check(&mut self, _now: Time) {
        let State::Member(g) = &self.state else {
            return;
        };
        let stage = match g.leadership.iter().position(|p| p.id == self.me.id) {
            Some(i) if i >= 1 => i - 1,
            _ => g.leadership.len().saturating_sub(1),
        };
        let at = g.last_alive + self.cfg.alive_timeout + self.cfg.alive_interval * stage as u32;
        self.set_timer(Timer::AliveCheck, at);
    }

    pub(super) fn on_alive_timer(&mut self, now: Time) {
        let member_timeout = self.cfg.member_timeout;
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group = g.id;
        let GroupRole::Leading(l) = &mut g.role else {
            return;
        };
        let expired: Vec<PeerId> = l
            .members
            .iter()
            .filter(|(id, (_, seen))| **id != me && now.saturating_since(*seen) > member_timeout)
            .map(|(id, _)| *id)
            .collect();
        let mut lost = Vec::new();
        for id in expired {
            if let Some((p, _)) = l.members.remove(&id) {
                lost.push(p);
            }
            g.intra.remove(&id);
            self.events.push_back(Event::MemberLeft { group, peer: id });
        }
        l.handovers
            .retain(|_, (_, at)| now.saturating_since(*at) <= member_timeout);
        self.remember_lost(now, lost);
        self.check_lost(now);
        self.repair_leadership();
        // Members hear this `Alive` in reply to their reports; it is flooded only for a few
        // rounds after a change of leadership, which the members must learn without asking.
        let flood = self.leading_mut().is_some_and(|l| {
            let f = l.floods_left > 0;
            l.floods_left = l.floods_left.saturating_sub(1);
            f
        });
        if flood {
            self.send_alive(None);
        } else {
            self.build_alive(None);
        }
        self.set_timer(Timer::Alive, now + self.cfg.alive_interval);
    }

    /// Keeps the leadership list to members the leader still has, topped up to the target in
    /// member order [0063].
    fn repair_leadership(&mut self) {
        let target = self.cfg.leadership_list_target as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let GroupRole::Leading(l) = &g.role else {
            return;
        };
        g.leadership.retain(|p| l.members.contains_key(&p.id));
        for (id, (p, _)) in &l.members {
            if g.leadership.len() >= target {
                break;
            }
            if !g.leadership.iter().any(|q| q.id == *id) {
                g.leadership.push(p.clone());
            }
        }
    }

    /// Floods the next `Alive` from the leader: to its intra-group links and, directly, to the
    /// leadership list, which must never miss one.
    pub(super) fn send_alive(&mut self, merge_into: Option<GroupView>) {
        let me = self.me.id;
        let Some(alive) = self.build_alive(merge_into) else {
            return;
        };
        let State::Member(g) = &self.state else {
            return;
        };
        let mut targets: Vec<PeerRef> = g.intra.values().map(|l| l.peer.clone()).collect();
        targets.extend(g.leadership.iter().cloned());
        self.flood(alive, targets, &[me]);
    }

    /// The leader's next `Alive`, kept for the replies to member reports.
    pub(super) fn build_alive(&mut self, merge_into: Option<GroupView>) -> Option<Arc<Alive>> {
        let State::Member(g) = &mut self.state else {
            return None;
        };
        let GroupRole::Leading(l) = &g.role else {
            return None;
        };
        g.seq = g.seq.saturating_add(1);
        let mut roster: Vec<PeerRef> = l.members.values().map(|(p, _)| p.clone()).collect();
        if roster.len() > MAX_ROSTER {
            self.rng.shuffle(&mut roster);
            roster.truncate(MAX_ROSTER);
        }
        let mut neighbors = l.neighbor_groups();
        neighbors.truncate(MAX_NEIGHBORS);
        let group = g.view();
        let alive = Arc::new(Alive {
            group,
            seq: g.seq,
            leadership: g.leadership.clone(),
            neighbors,
            roster,
            merge_into,
            partition_links: l.partition_links(),
            opened_links: l.opened_links(),
        });
        if let GroupRole::Leading(l) = &mut g.role {
            l.alive = Some(Arc::clone(&alive));
        }
        Some(alive)
    }

    fn flood(&mut self, alive: Arc<Alive>, targets: Vec<PeerRef>, skip: &[PeerId]) {
        let mut sent = BTreeSet::new();
        for t in targets {
            if skip.contains(&t.id) || !sent.insert(t.id) {
                continue;
            }
            self.send_to(&t, Request::Alive(Arc::clone(&alive)), Purpose::Alive(t.id));
        }
    }

    pub(super) fn on_alive_reply(&mut self, peer: PeerId, result: Result<Response, CallError>) {
        match result {
            Ok(Response::AliveAck(AliveAck { current: Some(v) })) => {
                // The receiver follows another leadership of the group: check it if it is
                // higher, tell it of this one if lower.
                if let Some(via) = self.known_peer(peer) {
                    self.leadership_named(v, &via);
                }
            }
            Ok(_) => {}
            Err(_) => {
                // A link that cannot take an Alive is gone; the member's next report repairs it.
                if let State::Member(g) = &mut self.state {
                    g.intra.remove(&peer);
                }
            }
        }
    }

    /// The reference of a peer this one is linked to or lists, by id.
    fn known_peer(&self, id: PeerId) -> Option<PeerRef> {
        let State::Member(g) = &self.state else {
            return None;
        };
        g.intra
            .get(&id)
            .map(|l| l.peer.clone())
            .or_else(|| g.leadership.iter().find(|p| p.id == id).cloned())
            .or_else(|| g.roster().iter().find(|p| p.id == id).cloned())
    }

    pub(super) fn on_alive(
        &mut self,
        now: Time,
        from: PeerRef,
        alive: Arc<Alive>,
    ) -> Result<Response, RequestError> {
        self.apply_alive(now, from, alive, true, false)
    }

    /// Takes in an `Alive` from the flood (`forward`: passed on through the group's mesh) or
    /// from a report's reply (`direct`: the leader's own answer to this peer).
    ///
    /// The safety rules (`peer::leadership`): an `Alive` of the leadership this peer follows
    /// refreshes its replica; a stale one is answered with this peer's view; a newer one is
    /// followed only once its leader answered a check, unless it is the leader's own answer;
    /// one that hands the group to this peer is taken once the old leader no longer leads.
    fn apply_alive(
        &mut self,
        now: Time,
        from: PeerRef,
        alive: Arc<Alive>,
        forward: bool,
        direct: bool,
    ) -> Result<Response, RequestError> {
        let me = self.me.clone();
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if alive.group.group_id != g.id {
            return Err(RequestError::WrongGroup(alive.group.group_id));
        }
        let ack = |current| Ok(Response::AliveAck(AliveAck { current }));
        let same = alive.group.leader.id == g.leader.id && alive.group.epoch == g.epoch;
        let mut newer = false;
        if !same {
            if term(&alive.group) < term(&g.view()) {
                // Stale: say which leadership this peer follows, so the sender checks it.
                return ack(Some(g.view()));
            }
            if !(direct && alive.group.leader.id == from.id) {
                if alive.group.leader.id == me.id {
                    // A handover to this peer, at the next epoch only.
                    if alive.group.epoch == g.epoch.saturating_add(1) {
                        self.start_handover_check();
                    }
                } else {
                    self.check(alive.group.leader.clone(), CheckFor::Leadership);
                }
                return ack(None);
            }
            newer = true;
            g.epoch = alive.group.epoch;
            g.leader = alive.group.leader.clone();
            g.seq = 0;
        }
        if alive.seq <= g.seq {
            return ack(None);
        }
        if matches!(g.role, GroupRole::Leading(_)) {
            // This leader's own Alive, come back round the mesh.
            return ack(None);
        }
        g.seq = alive.seq;
        g.leadership = alive.leadership.clone();
        g.replica = Some(Arc::clone(&alive));
        g.last_alive = now;
        g.succession = None;
        let group = g.id;
        if !matches!(g.role, GroupRole::Follower) {
            g.role = GroupRole::Follower;
            for t in [Timer::ElectionBackoff, Timer::ElectionDecide] {
                self.cancel_timer(t);
            }
            self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        }
        if newer {
            self.events.push_back(Event::LeaderChanged {
                group,
                leader: alive.group.leader.clone(),
                epoch: alive.group.epoch,
            });
        }
        // Forward through the group's mesh [0063].
        let State::Member(g) = &self.state else {
            return ack(None);
        };
        if forward {
            let targets: Vec<PeerRef> = g.intra.values().map(|l| l.peer.clone()).collect();
            let leader = g.leader.id;
            self.flood(Arc::clone(&alive), targets, &[from.id, leader, me.id]);
        }
        self.schedule_alive_check(now);
        if let Some(into) = alive.merge_into.clone() {
            self.events.push_back(Event::Merging {
                from: group,
                into: into.group_id,
            });
            self.leave_group(now);
            self.start_walk(now, vec![(into.group_id, into.leader)], Some(group));
        }
        ack(None)
    }

    // ---- succession and election ----

    /// Takes over the group at `epoch`: by succession, election or handover. `dead` are the
    /// peers presumed gone.
    pub(super) fn become_leader(&mut self, now: Time, epoch: u64, dead: &[PeerId]) {
        let target = self.cfg.leadership_list_target as usize;
        let me = self.me.clone();
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.epoch = epoch;
        g.leader = me.clone();
        g.seq = 0;
        let mut leading = Leading::default();
        for p in g.roster().iter().chain(g.leadership.iter()) {
            if !dead.contains(&p.id) {
                leading.members.insert(p.id, (p.clone(), now));
            }
        }
        leading.members.insert(me.id, (me.clone(), now));
        let mut list = vec![me.clone()];
        for p in g.leadership.iter().chain(g.roster().iter()) {
            if list.len() >= target {
                break;
            }
            if !dead.contains(&p.id) && !list.iter().any(|q| q.id == p.id) {
                list.push(p.clone());
            }
        }
        let lost: Vec<PeerRef> = g
            .leadership
            .iter()
            .chain(std::iter::once(&g.leader))
            .filter(|p| dead.contains(&p.id))
            .cloned()
            .collect();
        g.leadership = list;
        // The links keep their standing: a partition link stays one, and only links this
        // group opened may be pruned for closer ones.
        let (partition, opened) = g.replica.as_ref().map_or((&[][..], &[][..]), |a| {
            (&a.partition_links[..], &a.opened_links[..])
        });
        for n in g.neighbors() {
            leading.inter.insert(
                n.group_id,
                Neighbor {
                    leader: n.leader.clone(),
                    successors: n.successors.clone(),
                    rtt: n.rtt,
                    random: partition.contains(&n.group_id),
                    member_count: 0,
                    opened: opened.contains(&n.group_id),
                },
            );
        }
        for id in dead {
            g.intra.remove(id);
        }
        g.succession = None;
        g.handover = None;
        // This round's flood and the next ones tell the members the new leader.
        leading.floods_left = LEADERSHIP_FLOODS;
        g.role = GroupRole::Leading(Box::new(leading));
        let group = g.id;
        self.events.push_back(Event::BecameLeader { group, epoch });
        self.remember_lost(now, lost);
        self.start_leading_timers(now);
        self.relink_neighbors();
        self.send_alive(None);
    }

    pub(super) fn start_election(&mut self, now: Time) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let epoch = g.epoch.saturating_add(1);
        g.role = GroupRole::Electing(Election::new(epoch));
        let group = g.id;
        self.events
            .push_back(Event::ElectionStarted { group, epoch });
        self.cancel_timer(Timer::AliveCheck);
        let wait = self.random_delay(self.cfg.leaderless_backoff);
        self.set_timer(Timer::ElectionBackoff, now + wait);
    }

    fn election_mut(&mut self) -> Option<&mut Election> {
        match &mut self.state {
            State::Member(g) => match &mut g.role {
                GroupRole::Electing(e) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn on_election_backoff(&mut self, now: Time) {
        let me = self.me.clone();
        let decide_in = self.cfg.collision_window * 2;
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group_id = g.id;
        let mut targets: Vec<PeerRef> = g.roster().to_vec();
        targets.extend(g.intra.values().map(|l| l.peer.clone()));
        let GroupRole::Electing(e) = &mut g.role else {
            return;
        };
        if e.claimed || e.decide_at.is_some() {
            return;
        }
        // No claim heard during the wait: claim [0064].
        let claim = NewLeader {
            group_id,
            epoch: e.epoch,
            round: e.round,
            candidate: me.clone(),
            sent_at: now,
        };
        e.on_claim(&claim);
        e.claimed = true;
        e.decide_at = Some(now + decide_in);
        self.set_timer(Timer::ElectionDecide, now + decide_in);
        let mut sent = BTreeSet::new();
        for t in targets {
            if t.id != me.id && sent.insert(t.id) {
                self.send_to(&t, Request::NewLeader(claim.clone()), Purpose::Claim);
            }
        }
    }

    pub(super) fn on_election_decide(&mut self, now: Time) {
        let (window, rounds) = (self.cfg.collision_window, self.cfg.max_election_rounds);
        let me = self.me.id;
        let Some(e) = self.election_mut() else { return };
        let epoch = e.epoch;
        match e.decide(window, rounds) {
            Decision::Winner(w) if w.id == me => {
                let State::Member(g) = &self.state else {
                    return;
                };
                let dead: Vec<PeerId> = g
                    .leadership
                    .iter()
                    .map(|p| p.id)
                    .filter(|id| *id != me)
                    .collect();
                self.become_leader(now, epoch, &dead);
            }
            Decision::Winner(w) if e.awaiting.is_none() => {
                // Follow the winner once it answers as leader: its first Alive brings the
                // check about, and so does this one if it has taken over already. If neither
                // has happened within the alive timeout, the round is run again.
                e.awaiting = Some(w.id);
                let wait = self.cfg.alive_timeout;
                self.set_timer(Timer::ElectionDecide, now + wait);
                self.check(w, CheckFor::Leadership);
            }
            Decision::Winner(_) | Decision::Collision | Decision::Empty => {
                e.next_round();
                let wait = self.random_delay(self.cfg.leaderless_backoff);
                self.set_timer(Timer::ElectionBackoff, now + wait);
            }
        }
    }

    /// Follows `leader` at `epoch`, and links to it so that its `Alive` arrives directly.
    /// With `bridge`, the link is opened even at the link target (see [`Peer::bridge_to`]):
    /// this peer learnt of a leadership other than the one it was in, so the members it links
    /// to may all be on the side that lost it.
    pub(super) fn follow(&mut self, now: Time, leader: PeerRef, epoch: u64, bridge: bool) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        let was_leading = matches!(g.role, GroupRole::Leading(_));
        if g.epoch != epoch || g.leader.id != leader.id {
            g.seq = 0;
        }
        g.epoch = epoch;
        g.leader = leader.clone();
        g.last_alive = now;
        g.role = GroupRole::Follower;
        let group = g.id;
        for t in [Timer::ElectionBackoff, Timer::ElectionDecide] {
            self.cancel_timer(t);
        }
        self.cancel_leading_timers();
        self.set_timer(Timer::Refresh, now + self.cfg.member_refresh_interval);
        self.schedule_alive_check(now);
        self.events.push_back(if was_leading {
            Event::SteppedDown {
                group,
                leader: leader.clone(),
            }
        } else {
            Event::LeaderChanged {
                group,
                leader: leader.clone(),
                epoch,
            }
        });
        if bridge {
            self.bridge_to(leader);
        } else {
            self.connect_intra(vec![leader]);
        }
    }

    /// Opens one intra-group link to `peer`, or when it is full to one of the members it names,
    /// even at the link target. After a partition heals, the members that elected a leader of
    /// their own have intra-group links only among themselves (their links across the cut
    /// failed), and a member at its target never looks for another: the group works through
    /// reports to its leader, but the overlay graph stays split (docs/decisions.md).
    /// Returns whether it asked (not when `peer` is this one, linked, being linked or refused).
    pub(super) fn bridge_to(&mut self, peer: PeerRef) -> bool {
        let me = self.me.id;
        let State::Member(g) = &mut self.state else {
            return false;
        };
        if peer.id == me
            || g.intra.contains_key(&peer.id)
            || g.connecting.contains(&peer.id)
            || g.refused.contains(&peer.id)
        {
            return false;
        }
        let group_id = g.id;
        g.connecting.insert(peer.id);
        self.send_to(
            &peer,
            Request::ConnectIntra(ConnectIntraRequest { group_id }),
            Purpose::BridgeIntra(peer.clone()),
        );
        true
    }

    /// A leadership claim [0064]. A leader answers with its own view and never steps down on
    /// a claim; so does a member that hears its leader, or that is asked about an epoch other
    /// than the next one. Only a member whose leader has been silent for `alive_timeout` joins
    /// an election for the next epoch; an electing member counts claims of its own election
    /// only (this epoch, this round or the next), so a stray claim cannot move it elsewhere.
    pub(super) fn on_new_leader(
        &mut self,
        now: Time,
        claim: NewLeader,
    ) -> Result<Response, RequestError> {
        let alive_timeout = self.cfg.alive_timeout;
        let decide_in = self.cfg.collision_window * 2;
        let me = self.me.clone();
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if claim.group_id != g.id {
            return Err(RequestError::WrongGroup(claim.group_id));
        }
        let answer = |epoch, leader| {
            Ok(Response::NewLeader(NewLeaderReply {
                epoch,
                leader: Some(leader),
            }))
        };
        match &mut g.role {
            GroupRole::Leading(_) => return answer(g.epoch, me),
            GroupRole::Follower
                if now.saturating_since(g.last_alive) < alive_timeout
                    || claim.epoch != g.epoch.saturating_add(1) =>
            {
                return answer(g.epoch, g.leader.clone());
            }
            GroupRole::Electing(e) => {
                if claim.epoch == e.epoch
                    && claim.round <= e.round.saturating_add(1)
                    && e.on_claim(&claim)
                    && e.decide_at.is_none()
                {
                    e.decide_at = Some(now + decide_in);
                    self.timers.insert(Timer::ElectionDecide, now + decide_in);
                    if !e.claimed {
                        self.timers.remove(&Timer::ElectionBackoff);
                    }
                }
                return Ok(Response::NewLeader(NewLeaderReply {
                    epoch: e.epoch,
                    leader: None,
                }));
            }
            GroupRole::Follower => {}
        }
        // The leader has been silent too long and the claim is for the next epoch: join the
        // election.
        let mut e = Election::new(claim.epoch);
        e.on_claim(&claim);
        e.decide_at = Some(now + decide_in);
        g.role = GroupRole::Electing(e);
        g.succession = None;
        let group = g.id;
        for t in [Timer::AliveCheck, Timer::ElectionBackoff] {
            self.cancel_timer(t);
        }
        self.set_timer(Timer::ElectionDecide, now + decide_in);
        self.events.push_back(Event::ElectionStarted {
            group,
            epoch: claim.epoch,
        });
        Ok(Response::NewLeader(NewLeaderReply {
            epoch: claim.epoch,
            leader: None,
        }))
    }

    pub(super) fn on_claim_reply(&mut self, result: Result<Response, CallError>) {
        let Ok(Response::NewLeader(reply)) = result else {
            return;
        };
        let Some(leader) = reply.leader else { return };
        let me = self.me.id;
        let Some(e) = self.election_mut() else { return };
        // Someone still hears a leader at least as new as the one this peer lost: check it,
        // and follow it if it answers as leader (`leader_answered`).
        if leader.id != me && reply.epoch.saturating_add(1) >= e.epoch {
            self.check(leader, CheckFor::Leadership);
        }
    }

    // ---- leaving ----

    pub(super) fn on_leave(
        &mut self,
        now: Time,
        from: PeerRef,
        req: LeaveRequest,
    ) -> Result<Response, RequestError> {
        let State::Member(g) = &mut self.state else {
            return Ok(Response::Ack);
        };
        let group = g.id;
        let mut lost_link = false;
        match (req.scope, &mut g.role) {
            (LinkScope::Intra, role) if req.group_id == group => {
                g.intra.remove(&from.id);
                if let GroupRole::Leading(l) = role {
                    if l.members.remove(&from.id).is_some() {
                        self.events.push_back(Event::MemberLeft {
                            group,
                            peer: from.id,
                        });
                    }
                    self.repair_leadership();
                }
            }
            (LinkScope::Inter, GroupRole::Leading(l))
                if l.inter
                    .get(&req.group_id)
                    .is_some_and(|n| n.leader.id == from.id) =>
            {
                l.inter.remove(&req.group_id);
                self.events.push_back(Event::NeighborRemoved {
                    group: req.group_id,
                });
                lost_link = true;
            }
            _ => {}
        }
        if lost_link {
            // The neighbour merged away, left, or pruned the link: tell the rendezvous now,
            // and if that left the group with fewer than two near links search now rather
            // than at the next re-measurement, or a group whose only links went this way
            // sits cut off for up to a whole interval.
            self.announce_soon();
            self.search_if_below_minimum(now);
        }
        Ok(Response::Ack)
    }

    /// Leaves the group: a leader hands over to its first successor [0063], or ends the group
    /// when it is the last member [0060]; every member closes its links.
    pub(super) fn leave_group(&mut self, _now: Time) {
        let me = self.me.clone();
        let State::Member(g) = &self.state else {
            return;
        };
        let group_id = g.id;
        let links: Vec<PeerRef> = g.intra.values().map(|l| l.peer.clone()).collect();
        match &g.role {
            GroupRole::Leading(l) if l.members.len() <= 1 => {
                let neighbors = l.neighbor_groups();
                let mut view = g.view();
                view.member_count = 0;
                self.send(
                    Target::Rendezvous,
                    Request::AnnounceGroup(Announcement {
                        group: view,
                        neighbors: Vec::new(),
                        ended: true,
                    }),
                    Purpose::Ignore,
                );
                for n in neighbors {
                    self.send_to(
                        &n.leader,
                        Request::Leave(LeaveRequest {
                            group_id,
                            scope: LinkScope::Inter,
                        }),
                        Purpose::Ignore,
                    );
                }
                self.events.push_back(Event::GroupEnded { group: group_id });
            }
            GroupRole::Leading(l) => {
                let successor = g
                    .leadership
                    .iter()
                    .find(|p| p.id != me.id && l.members.contains_key(&p.id))
                    .or_else(|| l.members.values().map(|(p, _)| p).find(|p| p.id != me.id))
                    .cloned();
                if let Some(successor) = successor {
                    let mut leadership: Vec<PeerRef> = g
                        .leadership
                        .iter()
                        .filter(|p| p.id != me.id && p.id != successor.id)
                        .cloned()
                        .collect();
                    leadership.insert(0, successor.clone());
                    let roster: Vec<PeerRef> = l
                        .members
                        .values()
                        .map(|(p, _)| p.clone())
                        .filter(|p| p.id != me.id)
                        .take(MAX_ROSTER)
                        .collect();
                    let mut view = g.view();
                    view.epoch = view.epoch.saturating_add(1);
                    view.leader = successor.clone();
                    view.successors = leadership
                        .iter()
                        .skip(1)
                        .take(crate::message::MAX_SUCCESSORS)
                        .cloned()
                        .collect();
                    view.member_count = roster.len() as u32;
                    let alive = Alive {
                        group: view,
                        seq: 1,
                        leadership: leadership.clone(),
                        neighbors: l
                            .neighbor_groups()
                            .into_iter()
                            .take(MAX_NEIGHBORS)
                            .collect(),
                        roster,
                        merge_into: None,
                        partition_links: l.partition_links(),
                        opened_links: l.opened_links(),
                    };
                    let mut targets = vec![successor];
                    targets.extend(links.iter().cloned());
                    targets.extend(leadership);
                    self.flood(Arc::new(alive), targets, &[me.id]);
                }
            }
            GroupRole::Follower | GroupRole::Electing(_) => {
                if matches!(g.role, GroupRole::Follower) && !g.intra.contains_key(&g.leader.id) {
                    let leader = g.leader.clone();
                    self.send_to(
                        &leader,
                        Request::Leave(LeaveRequest {
                            group_id,
                            scope: LinkScope::Intra,
                        }),
                        Purpose::Ignore,
                    );
                }
            }
        }
        for p in links {
            self.send_to(
                &p,
                Request::Leave(LeaveRequest {
                    group_id,
                    scope: LinkScope::Intra,
                }),
                Purpose::Ignore,
            );
        }
    }
}
