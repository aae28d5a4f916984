//! The event loop: a heap of timed deliveries, timers and scheduled failures.

mod outside;

pub use outside::{Injection, Recipient};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use locus_core::message::Role;
use locus_core::rendezvous::Directory;
use locus_core::{
    BootSource, CallError, Config, Event, GroupId, Peer, PeerId, PeerRef, Request, RequestId,
    Response, Rng, Target, Time,
};
use locus_topology::LatencyModel;

/// Settings of one harness run.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The protocol configuration every peer runs.
    pub config: Config,
    /// The run's seed: peer ids, peer seeds and message loss all derive from it.
    pub seed: u64,
    /// RTT between any peer and the rendezvous.
    pub rendezvous_rtt: Duration,
    /// How long a rendezvous entry lives without a refresh.
    pub rendezvous_ttl: Duration,
    /// Probability that any one message (request or reply) is lost.
    pub drop_rate: f64,
}

impl SimOptions {
    /// Options with `config`, `seed`, a 2 ms rendezvous, a TTL of three announce intervals and
    /// no loss.
    pub fn new(config: Config, seed: u64) -> Self {
        let ttl = config.announce_interval * 3;
        SimOptions {
            config,
            seed,
            rendezvous_rtt: Duration::from_millis(2),
            rendezvous_ttl: ttl,
            drop_rate: 0.0,
        }
    }
}

/// One simulated peer process.
#[derive(Debug)]
pub struct Node {
    /// The protocol engine.
    pub peer: Peer,
    /// Its index in the latency model.
    pub site: usize,
    /// Whether the process is running.
    pub up: bool,
    incarnation: u32,
    timer_at: Option<Time>,
}

#[derive(Debug)]
enum Dest {
    Node(usize),
    Rendezvous,
}

#[derive(Debug)]
enum Ev {
    Request {
        caller: usize,
        incarnation: u32,
        dest: Dest,
        id: RequestId,
        request: Request,
        sent_at: Time,
        rtt: Duration,
    },
    Reply {
        to: usize,
        incarnation: u32,
        id: RequestId,
        result: Result<Response, CallError>,
    },
    Timer {
        node: usize,
        incarnation: u32,
        at: Time,
    },
    Join(usize, Vec<BootSource>),
    Crash(usize),
    Leave(usize),
    /// The end of a leave's grace: the process exits, unless it was restarted meanwhile.
    Exit(usize, u32),
    Restart(usize, Vec<BootSource>),
}

/// The harness: peers, the rendezvous, virtual time and the failure schedule.
pub struct Sim {
    opts: SimOptions,
    model: Arc<dyn LatencyModel>,
    now: Time,
    rng: Rng,
    nodes: Vec<Node>,
    by_addr: HashMap<String, usize>,
    by_id: HashMap<PeerId, usize>,
    directory: Directory,
    rendezvous_up: bool,
    /// Partition label per node: messages cross only between equal labels.
    partition: Vec<u32>,
    /// `BecameLeader` events per group.
    leadership_changes: BTreeMap<GroupId, u64>,
    queue: BinaryHeap<Reverse<(Time, u64, usize)>>,
    slots: Vec<Option<Ev>>,
    free: Vec<usize>,
    seq: u64,
    /// Every event any peer reported, with when and who.
    pub events: Vec<(Time, usize, Event)>,
    /// Calls sent, by kind of request.
    pub calls: BTreeMap<&'static str, u64>,
    /// Every forged request delivered by [`Sim::inject`], in order.
    pub injections: Vec<Injection>,
    /// Announcements the rendezvous refused because the announced leader did not bear them out.
    pub unconfirmed_announcements: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

fn kind(r: &Request) -> &'static str {
    match r {
        Request::Measure(_) => "measure",
        Request::GetNeighbors(_) => "get_neighbors",
        Request::GetGroupMembers(_) => "get_group_members",
        Request::ConnectIntra(_) => "connect_intra",
        Request::ConnectInter(_) => "connect_inter",
        Request::ConnectCross(_) => "connect_cross",
        Request::Leave(_) => "leave",
        Request::Alive(_) => "alive",
        Request::NewLeader(_) => "new_leader",
        Request::GetStatus => "get_status",
        Request::Nearby(_) => "nearby",
        Request::GetBootList(_) => "get_boot_list",
        Request::AnnounceGroup(_) => "announce_group",
        Request::ResolveGroup(_) => "resolve_group",
    }
}

impl Sim {
    /// An empty harness over `model`.
    pub fn new(opts: SimOptions, model: Arc<dyn LatencyModel>) -> Self {
        let directory = Directory::new(opts.rendezvous_ttl);
        Sim {
            rng: Rng::new(opts.seed),
            opts,
            model,
            now: Time::ZERO,
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            by_id: HashMap::new(),
            directory,
            rendezvous_up: true,
            partition: Vec::new(),
            leadership_changes: BTreeMap::new(),
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            events: Vec::new(),
            calls: BTreeMap::new(),
            injections: Vec::new(),
            unconfirmed_announcements: 0,
        }
    }

    /// Adds a peer process at model index `site` (not started: schedule a join). Returns its
    /// node index.
    pub fn add_peer(&mut self, site: usize) -> usize {
        assert!(
            site < self.model.len(),
            "site {site} outside the latency model"
        );
        let i = self.nodes.len();
        let id = PeerId::random(&mut self.rng);
        let me = PeerRef::new(id, format!("peer-{i}:7000"));
        let peer = Peer::new(me.clone(), self.opts.config.clone(), self.rng.next_u64());
        self.by_addr.insert(me.addr.to_string(), i);
        self.by_id.insert(id, i);
        self.nodes.push(Node {
            peer,
            site,
            up: false,
            incarnation: 0,
            timer_at: None,
        });
        self.partition.push(0);
        i
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// All nodes, by index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node index of a peer id.
    pub fn index_of(&self, id: PeerId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// The latency model.
    pub fn model(&self) -> &dyn LatencyModel {
        self.model.as_ref()
    }

    /// The rendezvous directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Modelled RTT between two nodes.
    pub fn rtt(&self, a: usize, b: usize) -> Duration {
        self.model
            .rtt(self.nodes[a].site, self.nodes[b].site)
            .unwrap_or(Duration::from_secs(1))
    }

    /// Schedules node `i` to join at `at`, booting from the rendezvous.
    pub fn join_at(&mut self, i: usize, at: Time) {
        self.push(at, Ev::Join(i, vec![BootSource::Rendezvous]));
    }

    /// Schedules node `i` to join at `at`, booting from other peers' addresses only.
    pub fn join_via_peers_at(&mut self, i: usize, at: Time, peers: &[usize]) {
        let boot = peers
            .iter()
            .map(|p| BootSource::Peer(self.nodes[*p].peer.me().addr.to_string()))
            .collect();
        self.push(at, Ev::Join(i, boot));
    }

    /// Schedules a crash of node `i` at `at`: it stops answering and sends nothing more.
    pub fn crash_at(&mut self, i: usize, at: Time) {
        self.push(at, Ev::Crash(i));
    }

    /// Schedules a graceful leave of node `i` at `at`.
    pub fn leave_at(&mut self, i: usize, at: Time) {
        self.push(at, Ev::Leave(i));
    }

    /// Schedules node `i` to restart at `at` with a fresh state (same id and address) and
    /// join again from the rendezvous.
    pub fn restart_at(&mut self, i: usize, at: Time) {
        self.push(at, Ev::Restart(i, vec![BootSource::Rendezvous]));
    }

    /// Schedules node `i` to restart at `at` with a fresh state (same id and address) and
    /// join again through the given peers' addresses (for runs without a rendezvous).
    pub fn restart_via_peers_at(&mut self, i: usize, at: Time, peers: &[usize]) {
        let boot = peers
            .iter()
            .map(|p| BootSource::Peer(self.nodes[*p].peer.me().addr.to_string()))
            .collect();
        self.push(at, Ev::Restart(i, boot));
    }

    /// Stops or starts the rendezvous now. A stopped rendezvous answers nothing (its callers
    /// time out) and keeps its directory, as a process that is paused would.
    pub fn set_rendezvous_up(&mut self, up: bool) {
        self.rendezvous_up = up;
    }

    /// Whether the rendezvous is up.
    pub fn rendezvous_up(&self) -> bool {
        self.rendezvous_up
    }

    /// Cuts `side` off from every other node (the rendezvous stays reachable from both sides).
    pub fn partition(&mut self, side: &[usize]) {
        self.partition_sides(&[side.to_vec()]);
    }

    /// Splits the nodes into `sides`: messages cross only between nodes of one side. Nodes
    /// named in no side form one more side together; a node named twice belongs to the last
    /// side that names it. Replaces any earlier partition; the rendezvous stays reachable from
    /// every side. A request already in flight is lost if its ends are apart when it arrives.
    pub fn partition_sides(&mut self, sides: &[Vec<usize>]) {
        self.partition.iter_mut().for_each(|l| *l = 0);
        for (k, side) in sides.iter().enumerate() {
            for i in side {
                self.partition[*i] = k as u32 + 1;
            }
        }
    }

    /// Whether messages between nodes `a` and `b` get through the current partition.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.partition[a] == self.partition[b]
    }

    /// How many times a peer became leader of group `g` (`Event::BecameLeader`): successions,
    /// elections and handovers. The founding of a group is not counted.
    pub fn leadership_changes(&self, g: GroupId) -> u64 {
        self.leadership_changes.get(&g).copied().unwrap_or(0)
    }

    /// Repairs every partition.
    pub fn heal(&mut self) {
        self.partition.iter_mut().for_each(|l| *l = 0);
    }

    /// Sets the message loss probability from now on.
    pub fn set_drop_rate(&mut self, rate: f64) {
        self.opts.drop_rate = rate;
    }

    /// Runs every event up to and including `until`; time ends at `until`.
    pub fn run_until(&mut self, until: Time) {
        while let Some(Reverse((at, _, slot))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            if let Some(ev) = self.slots[slot].take() {
                self.free.push(slot);
                self.dispatch(ev);
            }
        }
        self.now = until;
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn push(&mut self, at: Time, ev: Ev) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(ev);
                s
            }
            None => {
                self.slots.push(Some(ev));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, slot)));
    }

    fn dispatch(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Join(i, boot) => {
                let n = &mut self.nodes[i];
                n.up = true;
                n.peer.join(now, boot);
                self.flush(i);
            }
            Ev::Exit(i, incarnation) if self.nodes[i].incarnation != incarnation => {}
            Ev::Crash(i) | Ev::Exit(i, _) => {
                let n = &mut self.nodes[i];
                n.up = false;
                n.incarnation += 1;
                n.timer_at = None;
            }
            Ev::Leave(i) => {
                if self.nodes[i].up {
                    // Like the peer service, which answers (as a peer in no group) through
                    // its leave grace while its goodbye calls complete, then exits.
                    self.nodes[i].peer.leave(now);
                    self.flush(i);
                    let grace = self.opts.config.request_timeout;
                    let incarnation = self.nodes[i].incarnation;
                    self.push(now + grace, Ev::Exit(i, incarnation));
                }
            }
            Ev::Restart(i, boot) => {
                let me = self.nodes[i].peer.me().clone();
                let seed = self.rng.next_u64();
                let n = &mut self.nodes[i];
                n.peer = Peer::new(me, self.opts.config.clone(), seed);
                n.incarnation += 1;
                n.timer_at = None;
                n.up = true;
                n.peer.join(now, boot);
                self.flush(i);
            }
            Ev::Timer {
                node,
                incarnation,
                at,
            } => {
                let n = &mut self.nodes[node];
                if !n.up || n.incarnation != incarnation {
                    return;
                }
                if n.timer_at == Some(at) {
                    n.timer_at = None;
                }
                if n.peer.poll_timeout().is_some_and(|t| t <= now) {
                    n.peer.handle_timeout(now);
                }
                self.flush(node);
            }
            Ev::Reply {
                to,
                incarnation,
                id,
                result,
            } => {
                let n = &mut self.nodes[to];
                if n.up && n.incarnation == incarnation {
                    n.peer.handle_response(now, id, result);
                    self.flush(to);
                }
            }
            Ev::Request {
                caller,
                incarnation,
                dest,
                id,
                request,
                sent_at,
                rtt,
            } => {
                let deadline = sent_at + self.opts.config.request_timeout;
                let from = self.nodes[caller].peer.me().clone();
                let result = match dest {
                    Dest::Node(b) if self.nodes[b].up && self.connected(caller, b) => {
                        let r = self.nodes[b].peer.handle_request(now, Some(from), request);
                        self.flush(b);
                        Some(r.map_err(CallError::Refused))
                    }
                    Dest::Node(_) => None,
                    Dest::Rendezvous if self.rendezvous_up => Some(self.rendezvous(request)),
                    Dest::Rendezvous => None,
                };
                let back = now + rtt / 2;
                let lost = self.lost();
                let (at, result) = match result {
                    Some(r) if !lost && back <= deadline => (back, r),
                    _ => (deadline.max(now), Err(CallError::Timeout)),
                };
                self.push(
                    at,
                    Ev::Reply {
                        to: caller,
                        incarnation,
                        id,
                        result,
                    },
                );
            }
        }
    }

    fn lost(&mut self) -> bool {
        self.opts.drop_rate > 0.0 && self.rng.unit() < self.opts.drop_rate
    }

    /// Carries out everything node `i` asked for: sends its calls, records its events,
    /// schedules its next timer.
    fn flush(&mut self, i: usize) {
        let now = self.now;
        while let Some(t) = self.nodes[i].peer.poll_transmit() {
            *self.calls.entry(kind(&t.request)).or_default() += 1;
            let incarnation = self.nodes[i].incarnation;
            let timeout = self.opts.config.request_timeout;
            let dest = match &t.to {
                Target::Peer(p) => self.by_addr.get(&*p.addr).copied().map(Dest::Node),
                Target::Address(a) => self.by_addr.get(a).copied().map(Dest::Node),
                Target::Rendezvous => Some(Dest::Rendezvous),
            };
            let rtt = match &dest {
                Some(Dest::Node(b)) => self.rtt(i, *b),
                _ => self.opts.rendezvous_rtt,
            };
            let cut = matches!(dest, Some(Dest::Node(b)) if self.partition[b] != self.partition[i]);
            let lost = self.lost();
            match dest {
                Some(dest) if !cut && !lost => self.push(
                    now + rtt / 2,
                    Ev::Request {
                        caller: i,
                        incarnation,
                        dest,
                        id: t.id,
                        request: t.request,
                        sent_at: now,
                        rtt,
                    },
                ),
                _ => self.push(
                    now + timeout,
                    Ev::Reply {
                        to: i,
                        incarnation,
                        id: t.id,
                        result: Err(CallError::Timeout),
                    },
                ),
            }
        }
        while let Some(e) = self.nodes[i].peer.poll_event() {
            if let Event::BecameLeader { group, .. } = &e {
                *self.leadership_changes.entry(*group).or_default() += 1;
            }
            self.events.push((now, i, e));
        }
        let n = &mut self.nodes[i];
        if let Some(t) = n.peer.poll_timeout()
            && n.timer_at.is_none_or(|s| t < s)
        {
            n.timer_at = Some(t);
            let incarnation = n.incarnation;
            self.push(
                t.max(now),
                Ev::Timer {
                    node: i,
                    incarnation,
                    at: t,
                },
            );
        }
    }

    // ---- observations ----

    /// Indices of the running nodes.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].up)
    }

    /// Running nodes by the group they believe they are in.
    pub fn groups(&self) -> BTreeMap<GroupId, Vec<usize>> {
        let mut out: BTreeMap<GroupId, Vec<usize>> = BTreeMap::new();
        for i in self.live() {
            if let Some(g) = self.nodes[i].peer.group() {
                out.entry(g.group_id).or_default().push(i);
            }
        }
        out
    }

    /// Running nodes that lead a group, by group.
    pub fn leaders(&self) -> BTreeMap<GroupId, Vec<usize>> {
        let mut out: BTreeMap<GroupId, Vec<usize>> = BTreeMap::new();
        for i in self.live() {
            let p = &self.nodes[i].peer;
            if p.role() == Role::Leader
                && let Some(g) = p.group()
            {
                out.entry(g.group_id).or_default().push(i);
            }
        }
        out
    }

    /// The overlay's links between running nodes, undirected: `(a, b, inter)` with `a < b`,
    /// `inter` true for links between groups (inter-group links and cross links). A link
    /// counts once either end reports it.
    pub fn links(&self) -> BTreeSet<(usize, usize, bool)> {
        let mut out = BTreeSet::new();
        for i in self.live() {
            let s = self.nodes[i].peer.status();
            let ends = s
                .intra
                .iter()
                .map(|l| (l.peer.id, false))
                .chain(s.inter.iter().map(|n| (n.leader.id, true)))
                .chain(s.cross.iter().map(|l| (l.peer.id, true)));
            for (id, inter) in ends {
                if let Some(j) = self.index_of(id).filter(|j| self.nodes[*j].up && *j != i) {
                    out.insert((i.min(j), i.max(j), inter));
                }
            }
        }
        out
    }
}
