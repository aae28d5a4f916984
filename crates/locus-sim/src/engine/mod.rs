//! The event loop: one binary heap of timed events over every peer, on virtual time.
//!
//! The delivery rules are the test harness' (`locus-testkit`): a call reaches its destination
//! after half the modelled RTT and its reply comes back after the other half; a call to a
//! peer that is down, cut off by a partition or on a pair the model has no RTT for fails with
//! [`CallError::Timeout`] at its deadline (`request_timeout`). What differs is the scale:
//! peers are addressed `p{index}` so that an address is its own index (no map), a crashed
//! peer's state is dropped, each peer has at most one timer event queued at a time, and the
//! rendezvous directory is expired on a tick rather than on every call.
//!
//! [`observe`] reads the overlay out of the running peers.

use std::time::Duration;

use locus_core::message::GetBootListRequest;
use locus_core::rendezvous::Directory;
use locus_core::{
    BootSource, CallError, Config, Event, Peer, PeerId, PeerRef, Request, RequestError, RequestId,
    Response, Rng, Target, Time,
};
use locus_topology::LatencyModel;

use crate::overlay::JoinRecord;
use crate::scenario::{Arrival, Scenario};

mod observe;
mod queue;

use queue::Calendar;

/// One simulated peer process.
#[derive(Debug)]
struct Node {
    /// `None` once the process is gone (crashed or left).
    peer: Option<Peer>,
    /// Its identity and address, handed to the peers it calls.
    me: PeerRef,
    site: u32,
    /// When a timer event for this node is queued, the earliest one.
    timer_at: Option<Time>,
    /// Partition label: calls cross only between equal labels.
    side: u8,
    joined: bool,
}

#[derive(Debug)]
enum Dest {
    Node(u32),
    Rendezvous,
}

#[derive(Debug)]
enum Ev {
    Request {
        caller: u32,
        dest: Dest,
        id: RequestId,
        request: Request,
        deadline: Time,
        half: Duration,
    },
    Reply {
        to: u32,
        id: RequestId,
        result: Result<Response, CallError>,
    },
    Timer {
        node: u32,
        at: Time,
    },
    Join(u32),
    Disturb,
    ChurnJoin,
    ChurnCrash,
    Cut,
    Heal,
    Expire,
}

/// Counts of what happened during a run, for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counters {
    /// Events processed.
    pub events: u64,
    /// Calls sent by peers.
    pub calls: u64,
    /// Calls by kind of request.
    pub calls_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Calls that timed out (destination down, cut off, or no RTT in the model).
    pub timeouts: u64,
    /// Peers that joined by churn.
    pub churn_joins: u64,
    /// Peers crashed by churn or the crash fraction.
    pub crashes: u64,
    /// Peers that left gracefully.
    pub leaves: u64,
    /// Join walks after a peer's first (merges, lost groups).
    pub rejoins: u64,
    /// Leadership changes (succession, election, handover).
    pub new_leaders: u64,
    /// Groups that merged into another.
    pub merges: u64,
    /// Churn joins skipped because the model had no vacant site.
    pub no_vacant_site: u64,
}

/// The simulator: peers, the rendezvous, virtual time and the scenario's schedule.
pub struct Engine<'m> {
    cfg: Config,
    scenario: Scenario,
    model: &'m dyn LatencyModel,
    seed: u64,
    now: Time,
    rng: Rng,
    nodes: Vec<Node>,
    /// Running node indices, and each node's position in it (`u32::MAX`: not running).
    live: Vec<u32>,
    live_pos: Vec<u32>,
    /// Model sites without a running peer, where churn places newcomers.
    vacant: Vec<u32>,
    directory: Directory,
    queue: Calendar,
    slots: Vec<Option<Ev>>,
    free: Vec<u32>,
    disturb_at: Time,
    end: Time,
    joins: Vec<JoinRecord>,
    /// Calls by [`kind`], folded into the counters at the end.
    kinds: [u64; KINDS.len()],
    out: Vec<locus_core::Transmit>,
    events: Vec<Event>,
    /// What happened, for the summary.
    pub counters: Counters,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// How often the rendezvous drops expired entries.
const EXPIRE_TICK: Duration = Duration::from_secs(1);

fn addr(i: u32) -> String {
    format!("p{i}")
}

fn index_of(addr: &str) -> Option<u32> {
    addr.strip_prefix('p')?.parse().ok()
}

impl<'m> Engine<'m> {
    /// A run of `scenario` on `model` with every peer on `cfg`. Peers take model sites `0..peers`
    /// in a seeded random order; the other sites are vacant for churn.
    pub fn new(cfg: Config, scenario: Scenario, model: &'m dyn LatencyModel, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut sites: Vec<u32> = (0..model.len() as u32).collect();
        rng.shuffle(&mut sites);
        let peers = scenario.peers.min(sites.len());
        let vacant = sites.split_off(peers);
        let ttl = cfg.announce_interval * 3;
        let mut e = Engine {
            directory: Directory::new(ttl),
            cfg,
            model,
            seed,
            now: Time::ZERO,
            rng,
            nodes: Vec::with_capacity(peers),
            live: Vec::with_capacity(peers),
            live_pos: Vec::with_capacity(peers),
            vacant,
            queue: Calendar::new(),
            slots: Vec::new(),
            free: Vec::new(),
            disturb_at: Time::ZERO,
            end: Time::ZERO,
            joins: Vec::with_capacity(peers),
            kinds: [0; KINDS.len()],
            out: Vec::new(),
            events: Vec::new(),
            counters: Counters::default(),
            scenario,
        };
        let mut at = Time::ZERO;
        for (k, site) in sites.into_iter().enumerate() {
            let i = e.add_node(site);
            at = match e.scenario.arrival {
                Arrival::AllAtOnce => Time::ZERO,
                Arrival::Sequential(d) => Time::ZERO + d * k as u32,
                Arrival::Poisson(rate) => at + e.exponential(rate),
            };
            e.push(at, Ev::Join(i));
        }
        e.disturb_at = at + e.scenario.settle;
        e.end = e.disturb_at
            + if e.scenario.disturbs() {
                e.scenario.disturbance() + e.scenario.settle
            } else {
                Duration::ZERO
            };
        if e.scenario.disturbs() {
            e.push(e.disturb_at, Ev::Disturb);
        }
        e.push(Time::ZERO + EXPIRE_TICK, Ev::Expire);
        e
    }

    /// When the run ends: the snapshot time.
    pub fn end(&self) -> Time {
        self.end
    }

    /// When the disturbance phase starts (the arrivals have settled).
    pub fn disturb_at(&self) -> Time {
        self.disturb_at
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Running peers.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    fn exponential(&mut self, rate_per_s: f64) -> Duration {
        let u = self.rng.unit();
        Duration::from_secs_f64(-(1.0 - u).ln() / rate_per_s)
    }

    fn add_node(&mut self, site: u32) -> u32 {
        let i = self.nodes.len() as u32;
        let me = PeerRef::new(PeerId::random(&mut self.rng), addr(i));
        let peer = Peer::new(me.clone(), self.cfg.clone(), self.rng.next_u64());
        self.nodes.push(Node {
            peer: Some(peer),
            me,
            site,
            timer_at: None,
            side: 0,
            joined: false,
        });
        self.live_pos.push(u32::MAX);
        i
    }

    fn set_live(&mut self, i: u32, up: bool) {
        let pos = self.live_pos[i as usize];
        if up && pos == u32::MAX {
            self.live_pos[i as usize] = self.live.len() as u32;
            self.live.push(i);
        } else if !up && pos != u32::MAX {
            self.live.swap_remove(pos as usize);
            if let Some(&moved) = self.live.get(pos as usize) {
                self.live_pos[moved as usize] = pos;
            }
            self.live_pos[i as usize] = u32::MAX;
        }
    }

    /// Runs until the end of the scenario, calling `progress` now and then with the virtual time.
    pub fn run(&mut self, mut progress: impl FnMut(Time, usize)) {
        let end = self.end;
        while self.queue.peek().is_some_and(|at| at <= end.as_micros()) {
            let Some((at, slot)) = self.queue.pop() else {
                break;
            };
            self.now = Time::from_micros(at);
            if let Some(ev) = self.slots[slot as usize].take() {
                self.free.push(slot);
                self.counters.events += 1;
                if self.counters.events.is_multiple_of(65_536) {
                    progress(self.now, self.live.len());
                }
                self.dispatch(ev);
            }
        }
        self.now = end;
        for (name, &count) in KINDS.iter().zip(&self.kinds) {
            if count > 0 {
                self.counters.calls_by_kind.insert(name, count);
            }
        }
        progress(self.now, self.live.len());
    }

    fn push(&mut self, at: Time, ev: Ev) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(ev);
                s
            }
            None => {
                self.slots.push(Some(ev));
                (self.slots.len() - 1) as u32
            }
        };
        self.queue.push(at.as_micros(), slot);
    }

    fn dispatch(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Join(i) => self.start(i),
            Ev::Timer { node, at } => {
                let n = &mut self.nodes[node as usize];
                if n.timer_at == Some(at) {
                    n.timer_at = None;
                }
                let Some(peer) = n.peer.as_mut() else { return };
                if peer.poll_timeout().is_some_and(|t| t <= now) {
                    peer.handle_timeout(now);
                }
                self.flush(node);
            }
            Ev::Reply { to, id, result } => {
                if let Some(peer) = self.nodes[to as usize].peer.as_mut() {
                    peer.handle_response(now, id, result);
                    self.flush(to);
                }
            }
            Ev::Request {
                caller,
                dest,
                id,
                request,
                deadline,
                half,
            } => {
                let from = self.nodes[caller as usize].me.clone();
                let result = match dest {
                    Dest::Node(b) => match self.nodes[b as usize].peer.as_mut() {
                        Some(peer) => {
                            let r = peer.handle_request(now, Some(from), request);
                            self.flush(b);
                            Some(r.map_err(CallError::Refused))
                        }
                        None => None,
                    },
                    Dest::Rendezvous => Some(self.rendezvous(request)),
                };
                let back = now + half;
                let (at, result) = match result {
                    Some(r) if back <= deadline => (back, r),
                    _ => {
                        self.counters.timeouts += 1;
                        (deadline.max(now), Err(CallError::Timeout))
                    }
                };
                self.push(
                    at,
                    Ev::Reply {
                        to: caller,
                        id,
                        result,
                    },
                );
            }
            Ev::Disturb => self.disturb(),
            Ev::ChurnJoin => {
                if self.vacant.is_empty() {
                    self.counters.no_vacant_site += 1;
                } else {
                    let k = self.rng.below(self.vacant.len() as u64) as usize;
                    let site = self.vacant.swap_remove(k);
                    let i = self.add_node(site);
                    self.counters.churn_joins += 1;
                    self.start(i);
                }
                self.schedule_churn(Ev::ChurnJoin);
            }
            Ev::ChurnCrash => {
                if !self.live.is_empty() {
                    let k = self.rng.below(self.live.len() as u64) as usize;
                    self.crash(self.live[k]);
                }
                self.schedule_churn(Ev::ChurnCrash);
            }
            Ev::Cut => self.cut(),
            Ev::Heal => self.nodes.iter_mut().for_each(|n| n.side = 0),
            Ev::Expire => {
                self.directory.expire(now);
                self.push(now + EXPIRE_TICK, Ev::Expire);
            }
        }
    }

    fn start(&mut self, i: u32) {
        let now = self.now;
        let Some(peer) = self.nodes[i as usize].peer.as_mut() else {
            return;
        };
        peer.join(now, vec![BootSource::Rendezvous]);
        self.set_live(i, true);
        self.flush(i);
    }

    fn crash(&mut self, i: u32) {
        let n = &mut self.nodes[i as usize];
        n.peer = None;
        n.timer_at = None;
        self.vacant.push(n.site);
        self.set_live(i, false);
        self.counters.crashes += 1;
    }

    fn leave(&mut self, i: u32) {
        let now = self.now;
        if let Some(peer) = self.nodes[i as usize].peer.as_mut() {
            peer.leave(now);
            self.flush(i);
        }
        self.crash(i);
        self.counters.crashes -= 1;
        self.counters.leaves += 1;
    }

    fn disturb(&mut self) {
        let (leave, crash) = (self.scenario.leave, self.scenario.crash);
        for (fraction, graceful) in [(leave, true), (crash, false)] {
            let count = (fraction * self.live.len() as f64).round() as usize;
            for _ in 0..count.min(self.live.len()) {
                let k = self.rng.below(self.live.len() as u64) as usize;
                let i = self.live[k];
                if graceful {
                    self.leave(i)
                } else {
                    self.crash(i)
                }
            }
        }
        if self.scenario.churn.is_some_and(|c| c.per_minute > 0.0) {
            self.schedule_churn(Ev::ChurnJoin);
            self.schedule_churn(Ev::ChurnCrash);
        }
        if let Some(p) = self.scenario.partition {
            self.push(self.disturb_at + p.at, Ev::Cut);
            self.push(self.disturb_at + p.at + p.duration, Ev::Heal);
        }
    }

    fn schedule_churn(&mut self, ev: Ev) {
        let Some(churn) = self.scenario.churn else {
            return;
        };
        let at = self.now + self.exponential(churn.per_minute / 60.0);
        if at <= self.disturb_at + churn.duration {
            self.push(at, ev);
        }
    }

    /// Cuts off the `fraction` of running peers nearest to a random running peer.
    fn cut(&mut self) {
        let Some(p) = self.scenario.partition else {
            return;
        };
        if self.live.is_empty() {
            return;
        }
        let centre = self.nodes[self.live[self.rng.below(self.live.len() as u64) as usize] as usize]
            .site as usize;
        let mut by_distance: Vec<(u64, u32)> = self
            .live
            .iter()
            .map(|&i| {
                (
                    self.model
                        .rtt_us(centre, self.nodes[i as usize].site as usize)
                        .unwrap_or(u64::MAX),
                    i,
                )
            })
            .collect();
        by_distance.sort_unstable();
        let count = (p.fraction * self.live.len() as f64).round() as usize;
        for &(_, i) in &by_distance[..count] {
            self.nodes[i as usize].side = 1;
        }
    }

    fn rendezvous(&mut self, request: Request) -> Result<Response, CallError> {
        match request {
            Request::GetBootList(GetBootListRequest { max }) => Ok(Response::BootList(
                self.directory.boot_list(&mut self.rng, max as usize),
            )),
            Request::AnnounceGroup(a) => {
                Ok(Response::Announced(self.directory.announce(self.now, a).0))
            }
            Request::ResolveGroup(g) => Ok(Response::Resolved(
                self.directory.resolve(g).map(|e| e.view.clone()),
            )),
            _ => Err(CallError::Refused(RequestError::Unsupported)),
        }
    }

    /// Carries out everything node `i` asked for: its calls, its events, its next timer.
    fn flush(&mut self, i: u32) {
        let now = self.now;
        let timeout = self.cfg.request_timeout;
        // Buffers reused from call to call: flush runs once per event.
        let mut out = std::mem::take(&mut self.out);
        let mut events = std::mem::take(&mut self.events);
        let Some(peer) = self.nodes[i as usize].peer.as_mut() else {
            return;
        };
        while let Some(t) = peer.poll_transmit() {
            out.push(t);
        }
        while let Some(e) = peer.poll_event() {
            events.push(e);
        }
        let next_timer = peer.poll_timeout();
        for t in out.drain(..) {
            self.counters.calls += 1;
            self.kinds[kind(&t.request)] += 1;
            let dest = match &t.to {
                Target::Peer(p) => index_of(&p.addr).map(Dest::Node),
                Target::Address(a) => index_of(a).map(Dest::Node),
                Target::Rendezvous => Some(Dest::Rendezvous),
            };
            let rtt = match &dest {
                Some(Dest::Node(b)) if (*b as usize) < self.nodes.len() => {
                    let (na, nb) = (&self.nodes[i as usize], &self.nodes[*b as usize]);
                    if na.side != nb.side {
                        None
                    } else {
                        self.model
                            .rtt_us(na.site as usize, nb.site as usize)
                            .map(Duration::from_micros)
                    }
                }
                Some(Dest::Node(_)) | None => None,
                Some(Dest::Rendezvous) => Some(self.scenario.rendezvous_rtt),
            };
            match (dest, rtt) {
                (Some(dest), Some(rtt)) => self.push(
                    now + rtt / 2,
                    Ev::Request {
                        caller: i,
                        dest,
                        id: t.id,
                        request: t.request,
                        deadline: now + timeout,
                        half: rtt / 2,
                    },
                ),
                _ => {
                    self.counters.timeouts += 1;
                    self.push(
                        now + timeout,
                        Ev::Reply {
                            to: i,
                            id: t.id,
                            result: Err(CallError::Timeout),
                        },
                    );
                }
            }
        }
        for e in events.drain(..) {
            self.on_event(i, e);
        }
        self.out = out;
        self.events = events;
        let n = &mut self.nodes[i as usize];
        if let Some(t) = next_timer
            && n.timer_at.is_none_or(|s| t < s)
        {
            n.timer_at = Some(t);
            self.push(t.max(now), Ev::Timer { node: i, at: t });
        }
    }

    fn on_event(&mut self, i: u32, e: Event) {
        match e {
            Event::Joined { stats, founded, .. } => {
                let n = &mut self.nodes[i as usize];
                if n.joined {
                    self.counters.rejoins += 1;
                    return;
                }
                n.joined = true;
                let duration_us = stats.duration.as_micros() as u64;
                self.joins.push(JoinRecord {
                    site: n.site as usize,
                    at_us: self.now.as_micros().saturating_sub(duration_us),
                    probes: stats.probes,
                    rpcs: stats.rpcs,
                    tested_groups: stats.tested_groups,
                    duration_us,
                    founded,
                });
            }
            Event::BecameLeader { .. } => self.counters.new_leaders += 1,
            Event::Merging { .. } => self.counters.merges += 1,
            _ => {}
        }
    }
}

/// Names of the request kinds, indexed by [`kind`].
const KINDS: [&str; 13] = [
    "measure",
    "get_neighbors",
    "get_group_members",
    "connect_intra",
    "connect_inter",
    "leave",
    "alive",
    "new_leader",
    "get_status",
    "nearby",
    "get_boot_list",
    "announce_group",
    "resolve_group",
];

fn kind(r: &Request) -> usize {
    match r {
        Request::Measure(_) => 0,
        Request::GetNeighbors(_) => 1,
        Request::GetGroupMembers(_) => 2,
        Request::ConnectIntra(_) => 3,
        Request::ConnectInter(_) => 4,
        Request::Leave(_) => 5,
        Request::Alive(_) => 6,
        Request::NewLeader(_) => 7,
        Request::GetStatus => 8,
        Request::Nearby(_) => 9,
        Request::GetBootList(_) => 10,
        Request::AnnounceGroup(_) => 11,
        Request::ResolveGroup(_) => 12,
    }
}
