//! The worker threads of the event loop: each waits for a share of a window, runs it, and
//! hands it back.
//!
//! A window holds a few dozen events (at 100,000 peers about sixty, some 100 µs of work), so
//! handing shares out must cost far less than that: a worker spins on an atomic counter
//! rather than sleeping on a lock between windows, and yields, then naps, only when no work
//! has come for a while (the scenario's own events, the end of the run). A share carries its
//! nodes moved out of the engine (each a boxed peer, so a pointer), so a worker owns what it
//! changes and no node is ever locked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use locus_topology::LatencyModel;

use super::step::World;
use super::{Share, run_share};

/// One worker's mailbox.
#[derive(Debug, Default)]
pub(super) struct Slot {
    /// Shares posted so far; the worker runs one whenever this moves past `done`.
    posted: AtomicU64,
    /// Shares finished so far.
    done: AtomicU64,
    share: Mutex<Share>,
    stop: AtomicBool,
    /// Set when the worker died (it panicked): the loop must not wait for it.
    dead: AtomicBool,
}

impl Slot {
    /// Hands `share` to the worker (leaving the worker's last, emptied share in its place).
    pub(super) fn post(&self, share: &mut Share) {
        std::mem::swap(&mut *self.share.lock().expect("worker slot"), share);
        self.posted.fetch_add(1, Ordering::Release);
    }

    /// Waits for the worker to finish the share posted last and takes it back; says whether
    /// it had to wait.
    pub(super) fn collect(&self, share: &mut Share) -> bool {
        let posted = self.posted.load(Ordering::Relaxed);
        let waited = self.done.load(Ordering::Acquire) != posted;
        let mut idle = 0;
        while self.done.load(Ordering::Acquire) != posted {
            assert!(
                !self.dead.load(Ordering::Acquire),
                "an event-loop worker died"
            );
            backoff(&mut idle);
        }
        std::mem::swap(&mut *self.share.lock().expect("worker slot"), share);
        waited
    }
}

/// Tells the workers to stop when dropped, however the loop ends.
pub(super) struct StopOnDrop<'a>(pub(super) &'a [Slot]);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        for slot in self.0 {
            slot.stop.store(true, Ordering::Release);
        }
    }
}

/// Marks the slot dead if the worker unwinds.
struct DeadOnPanic<'a>(&'a Slot);

impl Drop for DeadOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.dead.store(true, Ordering::Release);
        }
    }
}

/// A worker's life: run each share posted to `slot` until told to stop.
pub(super) fn work(slot: &Slot, model: &dyn LatencyModel) {
    let _dead = DeadOnPanic(slot);
    let mut seen = 0;
    let mut idle = 0;
    loop {
        let posted = slot.posted.load(Ordering::Acquire);
        if posted != seen {
            seen = posted;
            idle = 0;
            let mut share = slot.share.lock().expect("worker slot");
            let tables = share
                .tables
                .take()
                .expect("a posted share carries the tables");
            let world = World::new(&tables, model, share.timeout, share.rendezvous_rtt);
            run_share(&mut share, None, &world);
            drop(share);
            slot.done.store(seen, Ordering::Release);
            continue;
        }
        if slot.stop.load(Ordering::Acquire) {
            return;
        }
        backoff(&mut idle);
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
