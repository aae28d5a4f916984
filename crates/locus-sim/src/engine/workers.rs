//! The regions and the threads that run them: in each window every thread, the loop's own
//! included, takes the next region not yet taken until none is left.
//!
//! A window at 100,000 peers holds a few hundred events over some 17 regions, so starting
//! one must cost little: a worker spins on an atomic counter rather than sleeping on a lock
//! between windows, and yields, then naps, only when no work has come for a while (the
//! scenario's own events, the end of the run). Each region sits behind its own mutex, taken by
//! one thread at a time, so the locks are never contended; the node tables sit behind a
//! read-write lock that only the loop writes, between windows.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use locus_core::Time;
use locus_topology::LatencyModel;

use super::Tables;
use super::region::Region;
use super::step::World;

/// The regions, the tables every region reads, and the state of the current window.
#[derive(Debug)]
pub(super) struct Pool {
    pub(super) regions: Vec<Mutex<Region>>,
    pub(super) tables: RwLock<Tables>,
    pub(super) timeout: Duration,
    pub(super) rendezvous_rtt: Duration,
    pub(super) queueing: f64,
    /// Windows started so far; a worker runs regions whenever this moves.
    epoch: AtomicU64,
    /// The current window's limit, µs.
    limit: AtomicU64,
    /// The next region to take in the current window.
    next: AtomicUsize,
    /// Regions finished in the current window.
    done: AtomicUsize,
    stop: AtomicBool,
    /// Set when a worker died (it panicked): the loop must not wait for it.
    dead: AtomicBool,
}

impl Pool {
    pub(super) fn new(
        regions: Vec<Region>,
        tables: Tables,
        timeout: Duration,
        rendezvous_rtt: Duration,
        queueing: f64,
    ) -> Self {
        Pool {
            regions: regions.into_iter().map(Mutex::new).collect(),
            tables: RwLock::new(tables),
            timeout,
            rendezvous_rtt,
            queueing,
            epoch: AtomicU64::new(0),
            limit: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            dead: AtomicBool::new(false),
        }
    }

    /// Region `k`, between windows.
    pub(super) fn region(&self, k: usize) -> MutexGuard<'_, Region> {
        self.regions[k]
            .lock()
            .expect("a region (did a worker die?)")
    }

    /// Every region, between windows.
    pub(super) fn all(&self) -> Vec<MutexGuard<'_, Region>> {
        (0..self.regions.len()).map(|k| self.region(k)).collect()
    }

    /// Runs every region's events before `limit`, on this thread and the workers; returns the
    /// number of regions this thread ran.
    pub(super) fn window(&self, limit: Time, model: &dyn LatencyModel) -> usize {
        // The limit and the reset counts are visible to whoever takes region 0 (the `next`
        // store releases them), even a worker still finishing the last window's loop.
        self.limit.store(limit.as_micros(), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.next.store(0, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::Release);
        let mine = self.take(model);
        let mut idle = 0;
        while self.done.load(Ordering::Acquire) < self.regions.len() {
            assert!(
                !self.dead.load(Ordering::Acquire),
                "an event-loop worker died"
            );
            backoff(&mut idle);
        }
        mine
    }

    /// Takes regions of the current window until none is left; returns how many.
    fn take(&self, model: &dyn LatencyModel) -> usize {
        let mut taken = 0;
        loop {
            let k = self.next.fetch_add(1, Ordering::AcqRel);
            if k >= self.regions.len() {
                return taken;
            }
            let limit = Time::from_micros(self.limit.load(Ordering::Relaxed));
            {
                let tables = self.tables.read().expect("node tables");
                let world = World::new(
                    &tables,
                    model,
                    self.timeout,
                    self.rendezvous_rtt,
                    self.queueing,
                );
                self.region(k).run_window(limit, &world);
            }
            taken += 1;
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// A worker's life: take regions of each window until told to stop.
    pub(super) fn work(&self, model: &dyn LatencyModel) {
        let _dead = DeadOnPanic(self);
        let mut seen = 0;
        let mut idle = 0;
        loop {
            let epoch = self.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                idle = 0;
                self.take(model);
                continue;
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            backoff(&mut idle);
        }
    }
}

/// Tells the workers to stop when dropped, however the loop ends.
pub(super) struct StopOnDrop<'a>(pub(super) &'a Pool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Release);
    }
}

/// Marks the pool's worker dead if it unwinds.
struct DeadOnPanic<'a>(&'a Pool);

impl Drop for DeadOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.dead.store(true, Ordering::Release);
        }
    }
}

/// Spin, then yield, then nap: a few µs of spinning catch the next window; a long wait
/// (the scenario's own events, the end) gives the core back.
fn backoff(idle: &mut u32) {
    *idle = idle.saturating_add(1);
    if *idle < 1 << 14 {
        std::hint::spin_loop();
    } else if *idle < 1 << 16 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(50));
    }
}
