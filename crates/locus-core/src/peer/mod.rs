//! One peer's protocol engine: the state machine that drivers run.
//!
//! # Driving a peer
//! A driver owns one [`Peer`] and, in any order that respects time:
//! - hands it incoming calls with [`Peer::handle_request`] and sends back the reply;
//! - carries out [`Peer::poll_transmit`]'s calls with a deadline of `request_timeout` and
//!   reports each result exactly once through [`Peer::handle_response`];
//! - calls [`Peer::handle_timeout`] when [`Peer::poll_timeout`]'s instant is reached;
//! - drains [`Peer::poll_event`] for logs and metrics.
//!
//! After every `handle_*` call and command, drain transmits and events and re-read the timeout.
//!
//! The engine's parts live in submodules by procedure, each an `impl Peer` block:
//! - joining: [`joining`] (Figure 10's walk, entering a group, founding one);
//! - within a group: [`membership`] (roster, reports, intra-group links), [`alive`] (the
//!   heartbeat and its replica), [`election`] (becoming leader, following, the leaderless
//!   election), [`leadership`] (the safety rules: checks, succession, handover, lost peers),
//!   [`leave`] (graceful leave);
//! - between groups: [`inter`] (inter-group connections), [`search`] (Figure 11), [`cross`]
//!   (members' links to near peers of other groups), [`bridge`]
//!   (partition links), [`remeasure`] (re-measurement, replacement, re-walks), [`merge`]
//!   (group merge), [`relocate`] (members far from their leader moving to a nearer group),
//!   [`announce`] (the rendezvous entry);
//! - [`state`]: the data all of them share.

mod alive;
mod announce;
mod bridge;
mod cross;
mod election;
mod inter;
mod joining;
mod known;
mod leadership;
mod leave;
mod membership;
mod merge;
mod near_intra;
mod relocate;
mod remeasure;
mod search;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::config::{Config, SAMPLE_AGREEMENT_FLOOR};
use crate::event::Event;
use crate::id::{GroupId, PeerId, PeerRef};
use crate::message::{
    CallError, GroupView, LandmarkRtt, LinkInfo, MAX_BOOT_LIST, MAX_NEARBY, MAX_STATUS_LINKS,
    MeasureReply, MeasureRequest, Request, RequestError, RequestId, Response, Role, Status, Target,
    Transmit,
};
use crate::rng::Rng;
use crate::time::Time;

pub use cross::{MAX_ACCEPTED_CROSS_LINKS, MAX_CROSS_GROUP_LINKS};
use known::Known;
use state::{GroupRole, Pending, Probe, ProbeFor, Purpose, State};

/// Where a joining peer gets its boot list from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootSource {
    /// The rendezvous services the driver knows ([`Target::Rendezvous`]).
    Rendezvous,
    /// A peer already in the overlay, known only by address; every peer answers `GetBootList`.
    Peer(String),
}

/// The protocol timers; each is either unset or due at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The join walk's deadline [0054]: found a group with what was found so far.
    JoinDeadline,
    /// The boot list was empty: ask again rather than found at once (a cold start).
    JoinRetry,
    /// Leader: build the next `Alive` (flooded after a change of leadership) and expire silent
    /// members [0063].
    Alive,
    /// Member: the leader has been silent too long; succeed it or start an election.
    AliveCheck,
    /// Member: report to the leader and top up intra-group connections.
    Refresh,
    /// Electing: the random wait before claiming leadership is over [0064].
    ElectionBackoff,
    /// Electing: decide the round from the claims heard.
    ElectionDecide,
    /// Leader: refresh the group's rendezvous entry.
    Announce,
    /// Leader: re-measure neighbours [0048], re-enter Figure 11 if below target, check merges.
    Remeasure,
    /// A leadership check's deadline passed (`leadership::check_timeout`): it failed.
    CheckDeadline,
    /// Any grouped peer: renew and top up cross links (`peer::cross`).
    Cross,
}

impl Timer {
    /// Every timer, in firing order for timers due at the same instant.
    const ALL: [Timer; 11] = [
        Timer::JoinDeadline,
        Timer::JoinRetry,
        Timer::Alive,
        Timer::AliveCheck,
        Timer::Refresh,
        Timer::ElectionBackoff,
        Timer::ElectionDecide,
        Timer::Announce,
        Timer::Remeasure,
        Timer::CheckDeadline,
        Timer::Cross,
    ];
}

/// The protocol timers, one slot each. A driver polls them after every event, so a fixed
/// array (no allocation, one cache line) beats a map.
#[derive(Debug, Default)]
struct Timers([Option<Time>; Timer::ALL.len()]);

impl Timers {
    fn get(&self, timer: &Timer) -> Option<&Time> {
        self.0[*timer as usize].as_ref()
    }

    fn insert(&mut self, timer: Timer, at: Time) {
        self.0[timer as usize] = Some(at);
    }

    fn remove(&mut self, timer: &Timer) {
        self.0[*timer as usize] = None;
    }

    fn clear(&mut self) {
        self.0 = Default::default();
    }

    fn earliest(&self) -> Option<Time> {
        self.0.iter().flatten().min().copied()
    }
}

/// One peer of the overlay.
#[derive(Debug)]
pub struct Peer {
    me: PeerRef,
    cfg: Config,
    rng: Rng,
    now: Time,
    next_request: u64,
    next_walk: u64,
    pending: BTreeMap<RequestId, Pending>,
    /// Deadlines of the leadership checks in flight, shorter than `request_timeout`.
    check_deadlines: BTreeMap<RequestId, Time>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    timers: Timers,
    probes: BTreeMap<PeerId, Probe>,
    known: Known,
    boot: Vec<BootSource>,
    /// The RTTs this peer's last walk measured to its first boot list's groups, the
    /// rendezvous' landmarks: announced while it leads, so that joins near it start near it.
    landmarks: Vec<LandmarkRtt>,
    state: State,
}

impl Peer {
    /// A peer that is not in the overlay yet. `seed` fixes every random choice it makes.
    ///
    /// The configuration must have passed [`Config::validate`].
    pub fn new(me: PeerRef, cfg: Config, seed: u64) -> Self {
        Peer {
            me,
            cfg,
            rng: Rng::new(seed),
            now: Time::ZERO,
            next_request: 1,
            next_walk: 1,
            pending: BTreeMap::new(),
            check_deadlines: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: Timers::default(),
            probes: BTreeMap::new(),
            known: Known::default(),
            boot: Vec::new(),
            landmarks: Vec::new(),
            state: State::Idle,
        }
    }

    /// This peer's reference.
    pub fn me(&self) -> &PeerRef {
        &self.me
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Command: join the overlay, with boot lists from `boot` (an empty list founds a group at
    /// once). Joining again while in the overlay is ignored.
    pub fn join(&mut self, now: Time, boot: Vec<BootSource>) {
        self.now = now;
        if !matches!(self.state, State::Idle) {
            return;
        }
        self.boot = boot;
        self.start_walk(now, Vec::new(), None);
    }

    /// Command: leave the overlay gracefully. A follower tells its links; a leader hands its
    /// group to the first successor; the last member ends the group.
    pub fn leave(&mut self, now: Time) {
        self.now = now;
        self.leave_group(now);
        self.state = State::Idle;
        self.timers.clear();
        self.probes.clear();
        self.check_deadlines.clear();
        self.events.push_back(Event::Left);
    }

    /// What the peer is doing.
    pub fn role(&self) -> Role {
        match &self.state {
            State::Idle => Role::Idle,
            State::Joining(_) => Role::Joining,
            State::Member(g) => match g.role {
                GroupRole::Follower => Role::Member,
                GroupRole::Electing(_) => Role::Electing,
                GroupRole::Leading(_) => Role::Leader,
            },
        }
    }

    /// The group the peer is in and the leadership it follows.
    pub fn group(&self) -> Option<GroupView> {
        match &self.state {
            State::Member(g) => Some(g.view()),
            _ => None,
        }
    }

    /// The leader's member roster (empty unless this peer leads its group).
    pub fn members(&self) -> Vec<PeerRef> {
        match &self.state {
            State::Member(g) => match &g.role {
                GroupRole::Leading(l) => l.members.values().map(|(p, _)| p.clone()).collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The neighbour groups this leader keeps links to against partitions rather than for
    /// closeness (random links [0039] and bridges the rendezvous asked for); empty unless it
    /// leads a group.
    pub fn partition_links(&self) -> Vec<GroupId> {
        match &self.state {
            State::Member(g) => match &g.role {
                GroupRole::Leading(l) => l
                    .inter
                    .iter()
                    .filter(|(_, n)| n.random)
                    .map(|(id, _)| *id)
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The peer's full status, as `GetStatus` reports it.
    pub fn status(&self) -> Status {
        let (leadership, intra, inter, cross) = match &self.state {
            State::Member(g) => (
                g.leadership.clone(),
                g.intra.values().take(MAX_STATUS_LINKS).cloned().collect(),
                match &g.role {
                    GroupRole::Leading(l) => l
                        .neighbor_groups()
                        .into_iter()
                        .take(MAX_STATUS_LINKS)
                        .collect(),
                    _ => Vec::new(),
                },
                g.cross
                    .links
                    .values()
                    .take(MAX_STATUS_LINKS)
                    .map(|l| l.link.clone())
                    .collect(),
            ),
            _ => (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
        };
        Status {
            peer: self.me.clone(),
            role: self.role(),
            group: self.group(),
            leadership,
            intra,
            inter,
            cross,
        }
    }

    /// Answers one incoming call. `from` is the caller, when it named itself.
    pub fn handle_request(
        &mut self,
        now: Time,
        from: Option<PeerRef>,
        request: Request,
    ) -> Result<Response, RequestError> {
        self.now = now;
        let caller = || from.clone().ok_or(RequestError::MissingCaller);
        match request {
            Request::Measure(MeasureRequest {}) => Ok(Response::Measure(MeasureReply {
                responder: self.me.clone(),
                group: self.group(),
            })),
            Request::GetStatus => Ok(Response::Status(Box::new(self.status()))),
            Request::Nearby(req) => Ok(Response::Nearby(self.nearby(req.limit as usize))),
            Request::GetBootList(req) => Ok(Response::BootList(self.boot_list(req.max as usize))),
            Request::GetNeighbors(req) => self.on_get_neighbors(req.group_id),
            Request::GetGroupMembers(req) => self.on_get_group_members(now, caller()?, req),
            Request::ConnectIntra(req) => self.on_connect_intra(now, caller()?, req.group_id),
            Request::ConnectInter(req) => self.on_connect_inter(caller()?, req),
            Request::ConnectCross(req) => self.on_connect_cross(now, caller()?, req.group_id),
            Request::Leave(req) => self.on_leave(now, caller()?, req),
            Request::Alive(alive) => self.on_alive(now, caller()?, alive),
            Request::NewLeader(claim) => {
                let from = caller()?;
                if claim.candidate.id != from.id {
                    return Err(RequestError::Invalid(
                        "a leadership claim names its sender as the candidate".into(),
                    ));
                }
                self.on_new_leader(now, claim)
            }
            Request::AnnounceGroup(_) | Request::ResolveGroup(_) => Err(RequestError::Unsupported),
        }
    }

    /// Reports the result of a call from [`Peer::poll_transmit`]. Unknown ids are ignored.
    pub fn handle_response(
        &mut self,
        now: Time,
        id: RequestId,
        result: Result<Response, CallError>,
    ) {
        self.now = now;
        let Some(Pending { sent_at, purpose }) = self.pending.remove(&id) else {
            return;
        };
        let rtt = now.saturating_since(sent_at);
        match purpose {
            Purpose::Probe(target) => self.on_probe_sample(now, target, rtt, result),
            Purpose::Boot { walk, rendezvous } => self.on_boot_reply(now, walk, rendezvous, result),
            Purpose::WalkQuery { walk, group } => {
                self.on_walk_query_reply(now, walk, group, result)
            }
            Purpose::WalkEnter { walk, group } => {
                self.on_walk_enter_reply(now, walk, group, result)
            }
            Purpose::Report => self.on_report_reply(now, result),
            Purpose::MergeFollow {
                from,
                into,
                leader,
                hops,
            } => self.on_merge_follow_reply(now, from, into, leader, hops, result),
            Purpose::ConnectIntra(peer) => self.on_connect_intra_reply(peer, rtt, result, false),
            Purpose::BridgeIntra(peer) => self.on_connect_intra_reply(peer, rtt, result, true),
            Purpose::ConnectNearIntra { peer, replaces } => {
                self.on_connect_near_intra_reply(peer, replaces, rtt, result)
            }
            Purpose::ConnectInter(c) => self.on_connect_inter_reply(now, c, result),
            Purpose::ConnectCross(peer) => self.on_connect_cross_reply(now, peer, result),
            Purpose::SearchQuery(group) => self.on_search_query_reply(now, group, result),
            Purpose::SearchBoot => self.on_search_boot_reply(now, result),
            Purpose::RandomBoot => self.on_random_boot_reply(result),
            Purpose::Alive(peer) => self.on_alive_reply(peer, result),
            Purpose::Check(target, why) => {
                self.check_deadlines.remove(&id);
                self.on_check_reply(now, target, why, result)
            }
            Purpose::Claim => self.on_claim_reply(result),
            Purpose::Announce => self.on_announce_reply(result),
            Purpose::Resolve(group) => self.on_resolve_reply(now, group, result),
            Purpose::Ignore => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.now = now;
        for timer in Timer::ALL {
            // A timer fired earlier in this loop may have cancelled or moved this one.
            if self.timers.get(&timer).is_none_or(|at| *at > now) {
                continue;
            }
            self.timers.remove(&timer);
            match timer {
                Timer::JoinDeadline => self.on_join_deadline(now),
                Timer::JoinRetry => self.on_join_retry(now),
                Timer::Alive => self.on_alive_timer(now),
                Timer::AliveCheck => self.on_alive_check(now),
                Timer::Refresh => self.on_refresh_timer(now),
                Timer::ElectionBackoff => self.on_election_backoff(now),
                Timer::ElectionDecide => self.on_election_decide(now),
                Timer::Announce => self.on_announce_timer(now),
                Timer::Remeasure => self.on_remeasure_timer(now),
                Timer::CheckDeadline => self.on_check_deadline(now),
                Timer::Cross => self.on_cross_timer(now),
            }
        }
    }

    /// The next call to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Peer::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.earliest()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- plumbing shared by the procedures ----

    fn send(&mut self, to: Target, request: Request, purpose: Purpose) {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        if let State::Joining(j) = &mut self.state {
            j.stats.rpcs += 1;
            if matches!(request, Request::Measure(_)) {
                j.stats.probes += 1;
            }
        }
        self.pending.insert(
            id,
            Pending {
                sent_at: self.now,
                purpose,
            },
        );
        self.transmits.push_back(Transmit { id, to, request });
    }

    fn send_to(&mut self, peer: &PeerRef, request: Request, purpose: Purpose) {
        self.send(Target::Peer(peer.clone()), request, purpose);
    }

    fn set_timer(&mut self, timer: Timer, at: Time) {
        self.timers.insert(timer, at);
    }

    fn cancel_timer(&mut self, timer: Timer) {
        self.timers.remove(&timer);
    }

    fn random_delay(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.rng.below(max.as_micros() as u64 + 1))
    }

    /// Measures the RTT to `target` with up to `measure_samples` sequential probes, keeping the
    /// minimum, and stopping early once two samples agree (`sample_agreement`); the result goes to `why` (several reasons share one measurement).
    fn probe(&mut self, target: PeerRef, why: ProbeFor) {
        self.probe_from(target, why, None);
    }

    /// [`Self::probe`] of a peer already sampled once at `first`: the measurement goes on from
    /// that sample (it counts towards agreement, the minimum and `measure_samples`).
    fn probe_from(&mut self, target: PeerRef, why: ProbeFor, first: Option<Duration>) {
        if target.id == self.me.id {
            self.probe_done(target, None, vec![why]);
            return;
        }
        if let Some(p) = self.probes.get_mut(&target.id) {
            p.why.push(why);
            return;
        }
        self.probes.insert(
            target.id,
            Probe {
                target: target.clone(),
                remaining: self
                    .cfg
                    .measure_samples
                    .saturating_sub(u32::from(first.is_some()))
                    .max(1),
                best: first,
                reply: None,
                why: vec![why],
            },
        );
        self.send_to(
            &target,
            Request::Measure(MeasureRequest {}),
            Purpose::Probe(target.id),
        );
    }

    fn on_probe_sample(
        &mut self,
        _now: Time,
        target: PeerId,
        rtt: Duration,
        result: Result<Response, CallError>,
    ) {
        let Some(p) = self.probes.get_mut(&target) else {
            return;
        };
        match result {
            Ok(Response::Measure(reply)) => {
                // Two samples that agree end the measurement: a further one could only lower
                // the minimum by less than they differ.
                let agreement = self.cfg.sample_agreement;
                if agreement > 0.0
                    && let Some(best) = p.best
                    && best.abs_diff(rtt)
                        <= best.max(rtt).mul_f64(agreement).max(SAMPLE_AGREEMENT_FLOOR)
                {
                    p.remaining = 0;
                }
                p.best = Some(p.best.map_or(rtt, |b| b.min(rtt)));
                p.reply = Some(reply);
                p.remaining = p.remaining.saturating_sub(1);
                // A sample that only ranks a walk's candidate is enough on its own.
                if self.cfg.rank_on_one_sample
                    && p.why.iter().all(|w| matches!(w, ProbeFor::Walk(_)))
                {
                    p.remaining = 0;
                }
                // A walk's candidate far beyond the guard (four times it) needs no second sample.
                let far = self
                    .cfg
                    .max_leader_rtt
                    .filter(|_| self.cfg.single_far_walk_samples)
                    .map(|guard| guard * 4);
                if far.is_some_and(|far| rtt > far)
                    && p.why.iter().all(|w| matches!(w, ProbeFor::Walk(_)))
                {
                    p.remaining = 0;
                }
                if p.remaining > 0 {
                    let to = p.target.clone();
                    self.send_to(
                        &to,
                        Request::Measure(MeasureRequest {}),
                        Purpose::Probe(target),
                    );
                    return;
                }
            }
            // A probe that fails after answering once still measured something.
            _ => p.remaining = 0,
        }
        let Some(p) = self.probes.remove(&target) else {
            return;
        };
        let result = p.best.zip(p.reply);
        self.probe_done(p.target, result, p.why);
    }

    fn probe_done(
        &mut self,
        target: PeerRef,
        result: Option<(Duration, MeasureReply)>,
        why: Vec<ProbeFor>,
    ) {
        if let Some((rtt, reply)) = &result
            && reply.responder.id == target.id
        {
            self.known.record(LinkInfo {
                peer: reply.responder.clone(),
                rtt: *rtt,
            });
        }
        let result = result.as_ref().map(|(rtt, reply)| (*rtt, reply));
        for w in why {
            match w {
                ProbeFor::Walk(walk) | ProbeFor::WalkConfirm(walk) => {
                    self.on_walk_measured(self.now, walk, &target, result)
                }
                ProbeFor::Search => self.on_search_measured(self.now, &target, result),
                ProbeFor::Remeasure(group) => self.on_remeasured(self.now, group, &target, result),
                ProbeFor::Replace(group) => {
                    self.on_replace_measured(self.now, group, &target, result)
                }
                ProbeFor::Random(group) => self.on_random_measured(group, &target, result),
                ProbeFor::Bridge(group) => self.on_bridge_measured(group, &target, result),
                ProbeFor::Handover(group) => self.on_handover_measured(group, &target, result),
                ProbeFor::Intra => self.on_intra_measured(&target, result),
                ProbeFor::Cross => self.on_cross_measured(&target, result),
                ProbeFor::CrossCandidate => self.on_cross_candidate_measured(&target, result),
                ProbeFor::IntraCandidate => self.on_intra_candidate_measured(&target, result),
            }
        }
    }

    fn nearby(&self, limit: usize) -> Vec<LinkInfo> {
        let mut all: BTreeMap<PeerId, LinkInfo> =
            self.known.iter().map(|l| (l.peer.id, l.clone())).collect();
        if let State::Member(g) = &self.state {
            for l in g.intra.values() {
                all.insert(l.peer.id, l.clone());
            }
        }
        let mut v: Vec<LinkInfo> = all.into_values().collect();
        v.sort_by_key(|l| (l.rtt, l.peer.id));
        v.truncate(limit.clamp(1, MAX_NEARBY));
        v
    }

    fn boot_list(&self, max: usize) -> Vec<GroupView> {
        let max = max.clamp(1, MAX_BOOT_LIST);
        let State::Member(g) = &self.state else {
            return Vec::new();
        };
        let mut out = vec![g.view()];
        let neighbors = match &g.role {
            GroupRole::Leading(l) => l.neighbor_groups(),
            _ => g.neighbors().to_vec(),
        };
        out.extend(neighbors.into_iter().map(|n| GroupView {
            group_id: n.group_id,
            epoch: 0,
            leader: n.leader,
            successors: n.successors,
            member_count: 0,
        }));
        out.truncate(max);
        out
    }

    fn my_group_id(&self) -> Option<GroupId> {
        match &self.state {
            State::Member(g) => Some(g.id),
            _ => None,
        }
    }
}
