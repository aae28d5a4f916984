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
//! **Regions and windows.** The model splits the peers into regions ([`LatencyModel::regions`]:
//! whole metros of a synthetic world, about equal in size; a matrix is one region), and the
//! rendezvous is a region of its own. Each region has its own queue ([`region`]) and runs as a
//! plain sequential event loop. A call between two regions takes at least half the smallest
//! cross-region RTT (or of the rendezvous RTT), the lookahead, so the loop advances all regions
//! a window `[t0, t0 + lookahead)` at a time, cut short by the scenario's next event: within a
//! window nothing one region does can reach another, and the regions run side by side on as
//! many threads as asked ([`workers`]). What a region sends to another waits in its outbox;
//! between windows the loop hands outboxes to inboxes, and a region queues its inbox source by
//! source when the next window starts, so a run is the same for a seed whatever the number of
//! threads. The scenario's own events (arrival schedule aside: churn, partitions, expiry) run
//! alone between windows.
//!
//! [`observe`] reads the overlay out of the running peers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
mod region;
mod step;
mod workers;

use region::Region;
use step::{RENDEZVOUS, Rendezvous, Step, Tally, World};
use workers::Pool;

/// One simulated peer process: what changes as it runs.
#[derive(Debug, Default)]
struct Node {
    /// `None` once the process is gone (crashed or left).
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

/// An event for a node or the rendezvous, queued in its region.
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
}

impl Ev {
    /// The node whose state the event touches, or [`RENDEZVOUS`].
    fn lane(&self) -> u32 {
        match self {
            Ev::Request {
                dest: Dest::Node(b),
                ..
            } => *b,
            Ev::Request {
                dest: Dest::Rendezvous,
                ..
            } => RENDEZVOUS,
            Ev::Reply { to, .. } => *to,
            Ev::Timer { node, .. } => *node,
            Ev::Join(i) => *i,
        }
    }
}

/// The scenario's own events, which run alone between windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sc {
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
    /// Regions the peers were split into (the rendezvous' own not counted).
    pub regions: usize,
    /// Windows of events (see the window rule in [`engine`](self)).
    pub windows: u64,
    /// Events sent from one region to another (they wait for the window's end).
    pub cross_region_events: u64,
    /// Windows in which more than one thread ran regions.
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
    /// Members that moved to a nearer group (`Config::relocate_far_members`).
    pub relocations: u64,
    /// Churn joins skipped because the model had no vacant site.
    pub no_vacant_site: u64,
    /// Calls sent in the second half of the final settle, the steady state: the overlay has
    /// formed and nothing disturbs it.
    pub steady_calls: u64,
    /// How long that steady window was, virtual seconds.
    pub steady_s: f64,
    /// Running peers at the end, for calls per peer.
    pub steady_peers: usize,
}

/// The simulator: peers, the rendezvous, virtual time and the scenario's schedule.
pub struct Engine<'m> {
    cfg: Config,
    scenario: Scenario,
    model: &'m dyn LatencyModel,
    seed: u64,
    now: Time,
    rng: Rng,
    /// The regions, their nodes and the node tables; shared with the worker threads.
    pool: Arc<Pool>,
    /// Region of each model site.
    site_region: Vec<u16>,
    /// Running node indices, and each node's position in it (`u32::MAX`: not running).
    live: Vec<u32>,
    live_pos: Vec<u32>,
    /// Model sites without a running peer, where churn places newcomers.
    vacant: Vec<u32>,
    /// The scenario's own events: (due µs, sequence, event).
    schedule: BinaryHeap<Reverse<(u64, u64, Sc)>>,
    schedule_seq: u64,
    /// Earliest event waiting in an inbox, µs.
    inbox_first: u64,
    disturb_at: Time,
    end: Time,
    joins: Vec<JoinRecord>,
    /// Half the smallest RTT between two regions: the width of a window.
    lookahead: Duration,
    threads: usize,
    tally: Tally,
    /// What happened, for the summary.
    pub counters: Counters,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.now)
            .field("nodes", &self.live_pos.len())
            .field("regions", &self.counters.regions)
            .field("threads", &self.threads)
            .finish()
    }
}

/// How often the rendezvous drops expired entries.
const EXPIRE_TICK: Duration = Duration::from_secs(1);

/// Regions asked of the model: enough for any thread to find one to take near a window's end,
/// few enough that a window's fixed cost per region stays small. The same for any number of
/// threads, since the regions shape the run.
const REGIONS: usize = 16;

fn addr(i: u32) -> String {
    format!("p{i}")
}

fn index_of(addr: &str) -> Option<u32> {
    addr.strip_prefix('p')?.parse().ok()
}

/// What every region reads about the nodes: identity and address (as callers present
/// themselves), model site, partition label, and where the node lives.
#[derive(Debug, Clone, Default)]
struct Tables {
    mes: Vec<PeerRef>,
    sites: Vec<u32>,
    sides: Vec<u8>,
    region: Vec<u16>,
    local: Vec<u32>,
    rendezvous_region: u16,
}

/// Most threads a run takes.
const MAX_THREADS: usize = 64;

impl<'m> Engine<'m> {
    /// A run of `scenario` on `model` with every peer on `cfg`. Peers take model sites `0..peers`
    /// in a seeded random order; the other sites are vacant for churn.
    pub fn new(cfg: Config, scenario: Scenario, model: &'m dyn LatencyModel, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut sites: Vec<u32> = (0..model.len() as u32).collect();
        rng.shuffle(&mut sites);
        let peers = scenario.peers.min(sites.len());
        let vacant = sites.split_off(peers);
        let split = model.regions(REGIONS);
        // At least a microsecond, so that every window moves time on; an event one region
        // sends another sooner than that (only with a zero rendezvous RTT) waits for it.
        let lookahead = Duration::from_micros(split.min_cross_rtt_us / 2)
            .min(scenario.rendezvous_rtt / 2)
            .max(Duration::from_micros(1));
        let count = split.count + 1;
        let mut regions: Vec<Region> = (0..split.count)
            .map(|k| Region::new(k as u16, count, None))
            .collect();
        regions.push(Region::new(
            split.count as u16,
            count,
            Some(Rendezvous {
                directory: {
                    let mut d = Directory::new(cfg.announce_interval * 3);
                    d.set_near_cut_links(scenario.near_cut_links);
                    d
                },
                rng: Rng::new(rng.next_u64()),
            }),
        ));
        let tables = Tables {
            rendezvous_region: split.count as u16,
            ..Tables::default()
        };
        let pool = Arc::new(Pool::new(
            regions,
            tables,
            cfg.request_timeout,
            scenario.rendezvous_rtt,
            scenario.queueing,
        ));
        let mut e = Engine {
            cfg,
            model,
            seed,
            now: Time::ZERO,
            rng,
            pool,
            site_region: split.of,
            live: Vec::with_capacity(peers),
            live_pos: Vec::with_capacity(peers),
            vacant,
            schedule: BinaryHeap::new(),
            schedule_seq: 0,
            inbox_first: u64::MAX,
            disturb_at: Time::ZERO,
            end: Time::ZERO,
            joins: Vec::with_capacity(peers),
            lookahead,
            threads: 1,
            tally: Tally::default(),
            counters: Counters {
                regions: split.count,
                ..Counters::default()
            },
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
            let r = e.site_region[site as usize] as usize;
            e.pool.region(r).push(at, Ev::Join(i));
        }
        e.disturb_at = at + e.scenario.settle;
        e.end = e.disturb_at
            + if e.scenario.disturbs() {
                e.scenario.disturbance() + e.scenario.settle
            } else {
                Duration::ZERO
            };
        if e.scenario.disturbs() {
            e.schedule(e.disturb_at, Sc::Disturb);
        }
        e.schedule(Time::ZERO + EXPIRE_TICK, Sc::Expire);
        e
    }

    /// Runs windows on `threads` threads (at least one). The run is the same for any number.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.clamp(1, MAX_THREADS);
    }

    /// Threads the windows run on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Half the smallest RTT between two regions: the width of a window.
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

    fn schedule(&mut self, at: Time, ev: Sc) {
        self.schedule_seq += 1;
        self.schedule
            .push(Reverse((at.as_micros(), self.schedule_seq, ev)));
    }

    fn add_node(&mut self, site: u32) -> u32 {
        let region = self.site_region[site as usize];
        let mut tables = self.pool.tables.write().expect("node tables");
        let i = tables.mes.len() as u32;
        let me = PeerRef::new(PeerId::random(&mut self.rng), addr(i));
        let peer = Peer::new(me.clone(), self.cfg.clone(), self.rng.next_u64());
        let mut r = self.pool.region(region as usize);
        tables.local.push(r.nodes.len() as u32);
        r.nodes.push(Node {
            peer: Some(Box::new(peer)),
            timer_at: None,
            joined: false,
        });
        tables.mes.push(me);
        tables.sites.push(site);
        tables.sides.push(0);
        tables.region.push(region);
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
            return self.run_windows(progress);
        }
        let model = self.model;
        let pool = Arc::clone(&self.pool);
        std::thread::scope(|scope| {
            for k in 1..self.threads {
                let pool = &pool;
                std::thread::Builder::new()
                    .name(format!("sim-worker-{k}"))
                    .spawn_scoped(scope, move || pool.work(model))
                    .expect("spawning an event-loop worker");
            }
            // Whatever happens to the loop, the workers stop with it.
            let _stop = workers::StopOnDrop(&pool);
            self.run_windows(progress);
        });
    }

    /// When the next node or rendezvous event is due, µs.
    fn next_event(&self) -> u64 {
        self.pool
            .all()
            .iter_mut()
            .filter_map(|r| r.next_at())
            .min()
            .unwrap_or(u64::MAX)
            .min(self.inbox_first)
    }

    fn run_windows(&mut self, mut progress: impl FnMut(Time, usize)) {
        let end = self.end.as_micros();
        let steady_from = end.saturating_sub(self.scenario.settle.as_micros() as u64 / 2);
        let mut steady_mark: Option<(u64, u64)> = None;
        let mut reported = 0;
        loop {
            if steady_mark.is_none() && self.now.as_micros() >= steady_from {
                steady_mark = Some((self.now.as_micros(), self.tally.calls));
            }
            let t0 = self.next_event();
            let scenario = self.schedule.peek().map_or(u64::MAX, |Reverse(e)| e.0);
            if t0.min(scenario) > end {
                break;
            }
            if scenario <= t0 {
                let Reverse((at, _, ev)) = self.schedule.pop().expect("peeked");
                self.now = Time::from_micros(at);
                self.tally.events += 1;
                self.scenario_event(ev);
                self.deliver();
            } else {
                // The window: events before t0 + lookahead and not after the end, cut short
                // by the scenario's next event.
                let limit = (t0 + self.lookahead.as_micros() as u64)
                    .min(scenario)
                    .min(end + 1);
                self.inbox_first = u64::MAX;
                let mine = self.pool.window(Time::from_micros(limit), self.model);
                self.counters.windows += 1;
                let handled = self.deliver();
                if mine < self.pool.regions.len() {
                    self.counters.parallel_windows += 1;
                    self.counters.parallel_events += handled;
                }
            }
            if self.tally.events / 65_536 != reported {
                reported = self.tally.events / 65_536;
                progress(self.now, self.live.len());
            }
        }
        self.now = self.end;
        let (from, calls_then) = steady_mark.unwrap_or((end, self.tally.calls));
        let t = &self.tally;
        let c = &mut self.counters;
        c.steady_calls = t.calls - calls_then;
        c.steady_s = end.saturating_sub(from) as f64 / 1e6;
        c.steady_peers = self.live.len();
        c.events = t.events;
        c.calls = t.calls;
        c.timeouts = t.timeouts;
        c.rejoins = t.rejoins;
        c.new_leaders = t.new_leaders;
        c.merges = t.merges;
        c.relocations = t.relocations;
        for (name, &count) in KINDS.iter().zip(&t.kinds) {
            if count > 0 {
                c.calls_by_kind.insert(name, count);
            }
        }
        progress(self.now, self.live.len());
    }

    /// Between windows: hands every outbox to its destination's inbox and collects what the
    /// regions did, region by region. Returns the events the last window handled.
    fn deliver(&mut self) -> u64 {
        let mut all = self.pool.all();
        let mut handled = 0;
        let mut started = Vec::new();
        let mut last = 0;
        for from in 0..all.len() {
            for to in 0..all.len() {
                if all[from].outbox[to].is_empty() {
                    continue;
                }
                let mut sent = std::mem::take(&mut all[from].outbox[to]);
                let inbox = &mut all[to].inbox[from];
                if inbox.is_empty() {
                    std::mem::swap(inbox, &mut sent);
                } else {
                    inbox.append(&mut sent);
                }
                // The emptied vector goes back, keeping its capacity.
                all[from].outbox[to] = sent;
            }
            let r = &mut all[from];
            self.inbox_first = self.inbox_first.min(r.first_out);
            r.first_out = u64::MAX;
            self.counters.cross_region_events += std::mem::take(&mut r.crossed);
            handled += std::mem::take(&mut r.handled);
            last = last.max(std::mem::take(&mut r.last));
            started.append(&mut r.fx.started);
            self.joins.append(&mut r.fx.joins);
            self.tally.add(&std::mem::take(&mut r.fx.tally));
        }
        drop(all);
        if last > self.now.as_micros() {
            self.now = Time::from_micros(last);
        }
        for i in started {
            self.set_live(i, true);
        }
        handled
    }

    /// Runs one step of node `i` now, between windows (the scenario starts or stops it).
    fn step_alone(&mut self, i: u32, step: Step) {
        let tables = self.pool.tables.read().expect("node tables");
        let world = World::new(
            &tables,
            self.model,
            self.cfg.request_timeout,
            self.scenario.rendezvous_rtt,
            self.scenario.queueing,
        );
        let r = tables.region[i as usize] as usize;
        self.pool.region(r).step_alone(i, self.now, step, &world);
    }

    /// The scenario's own events: they run alone, between windows.
    fn scenario_event(&mut self, ev: Sc) {
        let now = self.now;
        match ev {
            Sc::Disturb => self.disturb(),
            Sc::ChurnJoin => {
                if self.vacant.is_empty() {
                    self.counters.no_vacant_site += 1;
                } else {
                    let k = self.rng.below(self.vacant.len() as u64) as usize;
                    let site = self.vacant.swap_remove(k);
                    let i = self.add_node(site);
                    self.counters.churn_joins += 1;
                    self.step_alone(i, Step::Start);
                }
                self.schedule_churn(Sc::ChurnJoin);
            }
            Sc::ChurnCrash => {
                if !self.live.is_empty() {
                    let k = self.rng.below(self.live.len() as u64) as usize;
                    self.crash(self.live[k]);
                }
                self.schedule_churn(Sc::ChurnCrash);
            }
            Sc::Cut => self.cut(),
            Sc::Heal => self
                .pool
                .tables
                .write()
                .expect("node tables")
                .sides
                .iter_mut()
                .for_each(|s| *s = 0),
            Sc::Expire => {
                let r = self.pool.regions.len() - 1;
                if let Some(rv) = self.pool.region(r).rendezvous.as_mut() {
                    rv.directory.expire(now);
                }
                self.schedule(now + EXPIRE_TICK, Sc::Expire);
            }
        }
    }

    fn crash(&mut self, i: u32) {
        let (region, local, site) = {
            let t = self.pool.tables.read().expect("node tables");
            (
                t.region[i as usize],
                t.local[i as usize],
                t.sites[i as usize],
            )
        };
        let mut r = self.pool.region(region as usize);
        let n = &mut r.nodes[local as usize];
        n.peer = None;
        n.timer_at = None;
        drop(r);
        self.vacant.push(site);
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
            self.schedule_churn(Sc::ChurnJoin);
            self.schedule_churn(Sc::ChurnCrash);
        }
        if let Some(p) = self.scenario.partition {
            self.schedule(self.disturb_at + p.at, Sc::Cut);
            self.schedule(self.disturb_at + p.at + p.duration, Sc::Heal);
        }
    }

    fn schedule_churn(&mut self, ev: Sc) {
        let Some(churn) = self.scenario.churn else {
            return;
        };
        let at = self.now + self.exponential(churn.per_minute / 60.0);
        if at <= self.disturb_at + churn.duration {
            self.schedule(at, ev);
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
        let mut tables = self.pool.tables.write().expect("node tables");
        let centre = tables.sites
            [self.live[self.rng.below(self.live.len() as u64) as usize] as usize]
            as usize;
        let mut by_distance: Vec<(u64, u32)> = self
            .live
            .iter()
            .map(|&i| {
                (
                    self.model
                        .rtt_us(centre, tables.sites[i as usize] as usize)
                        .unwrap_or(u64::MAX),
                    i,
                )
            })
            .collect();
        by_distance.sort_unstable();
        let count = (p.fraction * self.live.len() as f64).round() as usize;
        for &(_, i) in &by_distance[..count] {
            tables.sides[i as usize] = 1;
        }
    }
}

/// Names of the request kinds, indexed by [`kind`].
const KINDS: [&str; 14] = [
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
    "connect_cross",
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
        Request::ConnectCross(_) => 13,
    }
}
