//! A region: some of the nodes (or the rendezvous) with a queue of their own, run as a plain
//! sequential event loop up to the limit of each window (see the window rule in [`super`]).

use locus_core::Time;

use super::queue::Calendar;
use super::step::{self, Effects, Rendezvous, Step, World};
use super::{Ev, Node};

/// A region's pending events: due times in a [`Calendar`], payloads in reusable slots.
#[derive(Debug)]
pub(super) struct Queue {
    calendar: Calendar,
    slots: Vec<Option<Ev>>,
    free: Vec<u32>,
}

impl Queue {
    fn new() -> Self {
        Queue {
            calendar: Calendar::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Queues `ev` at `at`, which must not be before the last event popped.
    pub(super) fn push(&mut self, at: Time, ev: Ev) {
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
        self.calendar.push(at.as_micros(), slot);
    }

    /// When the next event is due, µs.
    pub(super) fn peek(&mut self) -> Option<u64> {
        self.calendar.peek()
    }

    fn pop(&mut self) -> Option<(Time, Ev)> {
        let (at, slot) = self.calendar.pop()?;
        let ev = self.slots[slot as usize].take().expect("a queued event");
        self.free.push(slot);
        Some((Time::from_micros(at), ev))
    }
}

/// Where a step's consequences go: into the region's own queue, or into its outbox for another
/// region, never due before the window's limit.
pub(super) struct Outlet<'a> {
    queue: &'a mut Queue,
    outbox: &'a mut [Vec<(Time, Ev)>],
    first_out: &'a mut u64,
    crossed: &'a mut u64,
    here: u16,
    limit: Time,
}

impl Outlet<'_> {
    /// Sends `ev`, due at `at`, to `lane` (a node or the rendezvous).
    pub(super) fn emit(&mut self, world: &World<'_>, at: Time, lane: u32, ev: Ev) {
        let there = world.region_of(lane);
        if there == self.here {
            self.queue.push(at, ev);
        } else {
            // Only a deadline already past can fall inside the window (anything else travels
            // at least half the smallest cross-region RTT); it waits for the window's end.
            let at = at.max(self.limit);
            *self.first_out = (*self.first_out).min(at.as_micros());
            *self.crossed += 1;
            self.outbox[there as usize].push((at, ev));
        }
    }
}

/// One region of the run.
#[derive(Debug)]
pub(super) struct Region {
    here: u16,
    queue: Queue,
    /// The region's nodes, by their index in it ([`World::local`]).
    pub(super) nodes: Vec<Node>,
    /// Set in the rendezvous' region, which has no nodes.
    pub(super) rendezvous: Option<Rendezvous>,
    /// Events for other regions, by destination, in the order caused.
    pub(super) outbox: Vec<Vec<(Time, Ev)>>,
    /// Events from other regions, by source, in the order caused: queued when the next window
    /// starts, source after source, so the queue's order never depends on the threads.
    pub(super) inbox: Vec<Vec<(Time, Ev)>>,
    /// Due time of the earliest event put in the outbox since the loop last looked, µs.
    pub(super) first_out: u64,
    /// Events put in the outbox since the loop last looked.
    pub(super) crossed: u64,
    /// What the region's events did, collected by the loop between windows.
    pub(super) fx: Effects,
    /// Events handled in the last window, and when the latest of them was due (µs).
    pub(super) handled: u64,
    pub(super) last: u64,
}

impl Region {
    /// Region `here` of `count`.
    pub(super) fn new(here: u16, count: usize, rendezvous: Option<Rendezvous>) -> Self {
        Region {
            here,
            queue: Queue::new(),
            nodes: Vec::new(),
            rendezvous,
            outbox: (0..count).map(|_| Vec::new()).collect(),
            inbox: (0..count).map(|_| Vec::new()).collect(),
            first_out: u64::MAX,
            crossed: 0,
            fx: Effects::default(),
            handled: 0,
            last: 0,
        }
    }

    /// Queues `ev` at `at` in this region.
    pub(super) fn push(&mut self, at: Time, ev: Ev) {
        self.queue.push(at, ev);
    }

    /// When the region's next queued event is due, µs (not counting its inbox).
    pub(super) fn next_at(&mut self) -> Option<u64> {
        self.queue.peek()
    }

    /// Handles every event due before `limit`, in queue order, after queuing the inbox.
    pub(super) fn run_window(&mut self, limit: Time, world: &World<'_>) {
        for from in &mut self.inbox {
            for (at, ev) in from.drain(..) {
                self.queue.push(at, ev);
            }
        }
        self.handled = 0;
        while self.queue.peek().is_some_and(|at| at < limit.as_micros()) {
            let (at, ev) = self.queue.pop().expect("peeked");
            self.handled += 1;
            self.last = at.as_micros();
            self.step(at, ev, limit, world);
        }
        self.fx.tally.events += self.handled;
    }

    fn step(&mut self, at: Time, ev: Ev, limit: Time, world: &World<'_>) {
        let mut out = Outlet {
            queue: &mut self.queue,
            outbox: &mut self.outbox,
            first_out: &mut self.first_out,
            crossed: &mut self.crossed,
            here: self.here,
            limit,
        };
        match &mut self.rendezvous {
            Some(r) => step::rendezvous_call(r, at, ev, world, &mut self.fx, &mut out),
            None => {
                let i = ev.lane();
                let node = &mut self.nodes[world.local[i as usize] as usize];
                step::step_node(node, i, at, Step::Ev(ev), world, &mut self.fx, &mut out);
            }
        }
    }

    /// Runs one step of node `i` at `now`, between windows (the scenario starts or stops it).
    pub(super) fn step_alone(&mut self, i: u32, now: Time, step: Step, world: &World<'_>) {
        let mut out = Outlet {
            queue: &mut self.queue,
            outbox: &mut self.outbox,
            first_out: &mut self.first_out,
            crossed: &mut self.crossed,
            here: self.here,
            limit: now,
        };
        let node = &mut self.nodes[world.local[i as usize] as usize];
        step::step_node(node, i, now, step, world, &mut self.fx, &mut out);
    }
}
