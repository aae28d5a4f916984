//! The event loop: every peer, the rendezvous and the scenario on one virtual clock.
//!
//! The delivery rules are the test harness' (`locus-testkit`): a call reaches its destination
//! after half the modelled RTT and its reply comes back after the other half; a call to a
//! peer that is down, cut off by a partition or on a pair the model has no RTT for fails with
//! [`CallError::Timeout`] at its deadline (`request_timeout`). What differs is the scale:
//! peers are addressed `p{index}` so that an address is its own index (no map), a crashed
//! peer's state is dropped, each peer has at most one timer event queued at a time, and the
//! rendezvous directory is expired on a tick rather than on every call.
//!
//! **Windows.** Events are taken from the queue ([`queue`]) a window at a time. A call made at
//! `t` arrives no earlier than `t + lookahead`, the lookahead being half the smallest RTT the
//! model can give (and of the rendezvous RTT), so events less than a lookahead apart on
//! different nodes cannot affect each other: the window `[t0, t0 + lookahead)` is handled
//! node by node, each node's events in queue order, on as many threads as asked ([`step`]).
//! A node's own timers falling due inside the window run inside it. What the window causes
//! is queued afterwards node by node (the rendezvous last), each node's in the order caused,
//! so a run is the same for a seed whatever the number of threads. The scenario's own events (churn, partitions,
//! expiry) end a window and run alone. A model that cannot bound its RTTs from below gets a
//! lookahead of zero: one instant per window, in effect the plain sequential loop.
//!
//! [`observe`] reads the overlay out of the running peers.

use std::sync::Arc;
use std::time::Duration;

use locus_core::rendezvous::Directory;
use locus_core::{
    CallError, Config, Peer, PeerId, PeerRef, Request, RequestId, Response, Rng, Time,
};
use locus_topology::LatencyModel;

use crate::overlay::JoinRecord;
use crate::scenario::{Arrival, Scenario};

mod observe;
mod queue;
mod step;
mod workers;

use queue::Calendar;
use step::{Effects, RENDEZVOUS, Step, Tally, World};
use workers::Slot;

/// One simulated peer process: what changes as it runs.
#[derive(Debug, Default)]
struct Node {
    /// `None` once the process is gone (crashed or left). Boxed so that a node moves to a
    /// worker thread and back as a pointer.
    peer: Option<Box<Peer>>,
    /// When a timer event for this node is queued, the earliest one.
    timer_at: Option<Time>,
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

impl Ev {
    /// The node whose state the event touches ([`RENDEZVOUS`] for the rendezvous), or `None`
    /// for the scenario's own events, which run alone.
    fn lane(&self) -> Option<u32> {
        match self {
            Ev::Request {
                dest: Dest::Node(b),
                ..
            } => Some(*b),
            Ev::Request {
                dest: Dest::Rendezvous,
                ..
            } => Some(RENDEZVOUS),
            Ev::Reply { to, .. } => Some(*to),
            Ev::Timer { node, .. } => Some(*node),
            Ev::Join(i) => Some(*i),
            Ev::Disturb | Ev::ChurnJoin | Ev::ChurnCrash | Ev::Cut | Ev::Heal | Ev::Expire => None,
        }
    }
}

/// Counts of what happened during a run, for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counters {
    /// Events processed.
    pub events: u64,
    /// Windows of events (see the window rule in [`engine`](self)).
    pub windows: u64,
    /// Windows shared out between threads.
    pub parallel_windows: u64,
    /// Events in the windows shared out.
    pub parallel_events: u64,
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
    /// What every thread reads about the nodes; changed only between windows.
    tables: Arc<Tables>,
    /// Running node indices, and each node's position in it (`u32::MAX`: not running).
    live: Vec<u32>,
    live_pos: Vec<u32>,
    /// Model sites without a running peer, where churn places newcomers.
    vacant: Vec<u32>,
    directory: Directory,
    /// The rendezvous' own generator (boot list samples), apart from the scenario's.
    rendezvous_rng: Rng,
    queue: Calendar,
    slots: Vec<Option<Ev>>,
    free: Vec<u32>,
    disturb_at: Time,
    end: Time,
    joins: Vec<JoinRecord>,
    /// Half the smallest RTT any call can take; see the window rule above.
    lookahead: Duration,
    threads: usize,
    /// The loop thread's share of a window's events, per mille; see [`Engine::window`].
    main_share: u32,
    tally: Tally,
    /// What happened, for the summary.
    pub counters: Counters,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("threads", &self.threads)
            .finish()
    }
}

/// How often the rendezvous drops expired entries.
const EXPIRE_TICK: Duration = Duration::from_secs(1);

/// Windows with fewer events than this run on one thread: handing them out costs more.
const PARALLEL_MIN_EVENTS: usize = 16;

fn addr(i: u32) -> String {
    format!("p{i}")
}

fn index_of(addr: &str) -> Option<u32> {
    addr.strip_prefix('p')?.parse().ok()
}

/// What every thread reads about the nodes: identity and address (as callers present
/// themselves), model site and partition label.
#[derive(Debug, Clone, Default)]
struct Tables {
    mes: Vec<PeerRef>,
    sites: Vec<u32>,
    sides: Vec<u8>,
}

/// Most threads a run takes.
const MAX_THREADS: usize = 64;

/// One thread's share of a window: a run of whole lanes and their events, sorted by lane.
#[derive(Debug, Default)]
struct Share {
    steps: Vec<(u32, Time, Ev)>,
    /// For a worker: its lanes, and their nodes moved out of the engine in the same order.
    lanes: Vec<u32>,
    nodes: Vec<Node>,
    /// For a worker: what it reads and the window's bounds.
    tables: Option<Arc<Tables>>,
    limit: Time,
    timeout: Duration,
    rendezvous_rtt: Duration,
    fx: Effects,
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
        let lookahead =
            Duration::from_micros(model.min_rtt_us() / 2).min(scenario.rendezvous_rtt / 2);
        let rendezvous_rng = Rng::new(rng.next_u64());
        let mut e = Engine {
            directory: Directory::new(ttl),
            rendezvous_rng,
            cfg,
            model,
            seed,
            now: Time::ZERO,
            rng,
            nodes: Vec::with_capacity(peers),
            tables: Arc::new(Tables::default()),
            live: Vec::with_capacity(peers),
            live_pos: Vec::with_capacity(peers),
            vacant,
            queue: Calendar::new(),
            slots: Vec::new(),
            free: Vec::new(),
            disturb_at: Time::ZERO,
            end: Time::ZERO,
            joins: Vec::with_capacity(peers),
            lookahead,
            threads: 1,
            main_share: 500,
            tally: Tally::default(),
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

    /// Runs windows on `threads` threads (at least one). The run is the same for any number.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.clamp(1, MAX_THREADS);
        self.main_share = 1000 / self.threads as u32;
    }

    /// Threads the windows run on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Half the smallest RTT a call can take: the width of a window.
    pub fn lookahead(&self) -> Duration {
        self.lookahead
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
            peer: Some(Box::new(peer)),
            timer_at: None,
            joined: false,
        });
        // No worker holds the tables between windows: this does not copy them.
        let t = Arc::make_mut(&mut self.tables);
        t.mes.push(me);
        t.sites.push(site);
        t.sides.push(0);
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
    pub fn run(&mut self, progress: impl FnMut(Time, usize)) {
        if self.threads == 1 {
            return self.run_windows(&[], progress);
        }
        let slots: Vec<Slot> = (1..self.threads).map(|_| Slot::default()).collect();
        let model = self.model;
        std::thread::scope(|scope| {
            for (k, slot) in slots.iter().enumerate() {
                std::thread::Builder::new()
                    .name(format!("sim-worker-{}", k + 1))
                    .spawn_scoped(scope, move || workers::work(slot, model))
                    .expect("spawning an event-loop worker");
            }
            // Whatever happens to the loop, the workers stop with it.
            let _stop = workers::StopOnDrop(&slots);
            self.run_windows(&slots, progress);
        });
    }

    fn run_windows(&mut self, slots: &[Slot], mut progress: impl FnMut(Time, usize)) {
        let end = self.end;
        let mut shares: Vec<Share> = (0..self.threads).map(|_| Share::default()).collect();
        let mut rendezvous = Share::default();
        let mut batch: Vec<(u32, Time, u32)> = Vec::new();
        let mut reported = 0;
        while let Some(t0) = self.queue.peek().filter(|&at| at <= end.as_micros()) {
            // The window: events before t0 + lookahead (and not after the end), cut short by
            // the first scenario event, which then runs alone.
            let horizon = Time::from_micros(t0) + self.lookahead;
            let horizon = horizon.min(end + Duration::from_micros(1));
            let mut limit = horizon;
            let mut alone = None;
            while self
                .queue
                .peek()
                .is_some_and(|at| at == t0 || at < horizon.as_micros())
            {
                let (at, slot) = self.queue.pop().expect("peeked");
                let at = Time::from_micros(at);
                match self.slots[slot as usize].as_ref().and_then(Ev::lane) {
                    Some(lane) => batch.push((lane, at, slot)),
                    None => {
                        let ev = self.slots[slot as usize].take().expect("queued event");
                        self.free.push(slot);
                        limit = at;
                        alone = Some((at, ev));
                        break;
                    }
                }
            }
            if let Some(&(_, last, _)) = batch.last() {
                self.window(&mut batch, limit, &mut shares, &mut rendezvous, slots);
                self.now = last;
            }
            if let Some((at, ev)) = alone {
                self.now = at;
                self.tally.events += 1;
                self.scenario_event(ev);
            }
            if self.tally.events / 65_536 != reported {
                reported = self.tally.events / 65_536;
                progress(self.now, self.live.len());
            }
        }
        self.now = end;
        let t = &self.tally;
        let c = &mut self.counters;
        c.events = t.events;
        c.calls = t.calls;
        c.timeouts = t.timeouts;
        c.rejoins = t.rejoins;
        c.new_leaders = t.new_leaders;
        c.merges = t.merges;
        for (name, &count) in KINDS.iter().zip(&t.kinds) {
            if count > 0 {
                c.calls_by_kind.insert(name, count);
            }
        }
        progress(self.now, self.live.len());
    }

    /// Handles one window's node and rendezvous events (see the window rule above), then
    /// queues what they caused.
    fn window(
        &mut self,
        batch: &mut Vec<(u32, Time, u32)>,
        limit: Time,
        shares: &mut [Share],
        rendezvous: &mut Share,
        slots: &[Slot],
    ) {
        // Sorting by lane keeps each lane's events in queue order (the sort is stable).
        batch.sort_by_key(|e| e.0);
        let lanes = batch.partition_point(|e| e.0 != RENDEZVOUS);
        let used = if lanes < PARALLEL_MIN_EVENTS {
            1
        } else {
            slots.len() + 1
        };
        // Cut the lane-sorted events into `used` runs of whole lanes: the loop's own thread
        // takes `main_share` of them (it also pops, sorts and queues), the workers the rest.
        let first = lanes * self.main_share as usize / 1000;
        let rest = lanes - first;
        let mut k = 0;
        for (n, (lane, at, slot)) in batch.drain(..).enumerate() {
            let ev = self.slots[slot as usize].take().expect("queued event");
            self.free.push(slot);
            if lane == RENDEZVOUS {
                rendezvous.steps.push((lane, at, ev));
                continue;
            }
            if k + 1 < used
                && n >= first + k * rest / (used - 1)
                && shares[k].steps.last().is_some_and(|s| s.0 != lane)
            {
                k += 1;
            }
            shares[k].steps.push((lane, at, ev));
        }
        let used = k + 1;
        self.counters.windows += 1;
        if used > 1 {
            self.counters.parallel_windows += 1;
            self.counters.parallel_events += lanes as u64;
        }
        // Every share but the first goes to a worker with its nodes, moved out and back.
        for (share, slot) in shares[1..used].iter_mut().zip(slots) {
            for &(lane, _, _) in &share.steps {
                if share.lanes.last() != Some(&lane) {
                    share.lanes.push(lane);
                    share
                        .nodes
                        .push(std::mem::take(&mut self.nodes[lane as usize]));
                }
            }
            share.tables = Some(self.tables.clone());
            share.limit = limit;
            share.timeout = self.cfg.request_timeout;
            share.rendezvous_rtt = self.scenario.rendezvous_rtt;
            slot.post(share);
        }
        let world = World::new(
            &self.tables,
            self.model,
            self.cfg.request_timeout,
            self.scenario.rendezvous_rtt,
        );
        let Share { steps, fx, .. } = rendezvous;
        step::run_rendezvous(
            &mut self.directory,
            &mut self.rendezvous_rng,
            steps.drain(..).map(|(_, at, ev)| (at, ev)),
            fx,
        );
        shares[0].limit = limit;
        run_share(&mut shares[0], Some(&mut self.nodes), &world);
        // Balance: if a worker was still busy, the loop's thread takes more next time; if
        // all were done, less. Which thread runs which node changes nothing in the run.
        let mut waited = false;
        for (share, slot) in shares[1..used].iter_mut().zip(slots) {
            waited |= slot.collect(share);
            for (lane, node) in share.lanes.drain(..).zip(share.nodes.drain(..)) {
                self.nodes[lane as usize] = node;
            }
        }
        if used > 1 {
            self.main_share = if waited {
                (self.main_share + 5).min(900)
            } else {
                self.main_share.saturating_sub(5).max(100)
            };
        }
        let fxs = shares
            .iter_mut()
            .map(|s| &mut s.fx)
            .chain([&mut rendezvous.fx]);
        self.apply(fxs);
    }

    /// Queues what `fxs` caused, one after the other.
    fn apply<'a>(&mut self, fxs: impl Iterator<Item = &'a mut Effects>) {
        for fx in fxs {
            for (at, ev) in fx.pushes.drain(..) {
                self.push(at, ev);
            }
            for i in std::mem::take(&mut fx.started) {
                self.set_live(i, true);
            }
            self.joins.append(&mut fx.joins);
            self.tally.add(&fx.tally);
            fx.tally = Tally::default();
        }
    }

    /// Runs one step of node `i` now, outside a window (the scenario starts or stops it).
    fn step_alone(&mut self, i: u32, step: Step) {
        let world = World::new(
            &self.tables,
            self.model,
            self.cfg.request_timeout,
            self.scenario.rendezvous_rtt,
        );
        let mut fx = Effects::default();
        step::run_node(
            &mut self.nodes[i as usize],
            i,
            std::iter::once((self.now, step)),
            self.now,
            &world,
            &mut fx,
        );
        self.apply(std::iter::once(&mut fx));
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

    /// The scenario's own events: they run alone, between windows.
    fn scenario_event(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Disturb => self.disturb(),
            Ev::ChurnJoin => {
                if self.vacant.is_empty() {
                    self.counters.no_vacant_site += 1;
                } else {
                    let k = self.rng.below(self.vacant.len() as u64) as usize;
                    let site = self.vacant.swap_remove(k);
                    let i = self.add_node(site);
                    self.counters.churn_joins += 1;
                    self.step_alone(i, Step::Start);
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
            Ev::Heal => Arc::make_mut(&mut self.tables)
                .sides
                .iter_mut()
                .for_each(|s| *s = 0),
            Ev::Expire => {
                self.directory.expire(now);
                self.push(now + EXPIRE_TICK, Ev::Expire);
            }
            other => unreachable!("a node event runs in a window: {other:?}"),
        }
    }

    fn crash(&mut self, i: u32) {
        let n = &mut self.nodes[i as usize];
        n.peer = None;
        n.timer_at = None;
        self.vacant.push(self.tables.sites[i as usize]);
        self.set_live(i, false);
        self.counters.crashes += 1;
    }

    fn leave(&mut self, i: u32) {
        self.step_alone(i, Step::Leave);
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
        let centre = self.tables.sites
            [self.live[self.rng.below(self.live.len() as u64) as usize] as usize]
            as usize;
        let mut by_distance: Vec<(u64, u32)> = self
            .live
            .iter()
            .map(|&i| {
                (
                    self.model
                        .rtt_us(centre, self.tables.sites[i as usize] as usize)
                        .unwrap_or(u64::MAX),
                    i,
                )
            })
            .collect();
        by_distance.sort_unstable();
        let count = (p.fraction * self.live.len() as f64).round() as usize;
        for &(_, i) in &by_distance[..count] {
            Arc::make_mut(&mut self.tables).sides[i as usize] = 1;
        }
    }
}

/// Runs one share of a window: each of its lanes' events in order, on `all` the nodes
/// (indexed by lane) or, for a worker, on the share's own nodes.
fn run_share(share: &mut Share, mut all: Option<&mut [Node]>, world: &World<'_>) {
    let Share {
        steps,
        nodes,
        limit,
        fx,
        ..
    } = share;
    let mut steps = steps.drain(..).peekable();
    let mut taken = nodes.iter_mut();
    while let Some(&(lane, _, _)) = steps.peek() {
        let node = match all.as_deref_mut() {
            Some(all) => &mut all[lane as usize],
            None => taken.next().expect("a node for each lane"),
        };
        let own = std::iter::from_fn(|| steps.next_if(|s| s.0 == lane))
            .map(|(_, at, ev)| (at, Step::Ev(ev)));
        step::run_node(node, lane, own, *limit, world, fx);
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
