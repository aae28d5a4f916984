//! `locus-sim`: the locus protocol at scale, on virtual time, with the figures that judge it.
//!
//! The simulator drives many [`locus_core::Peer`]s in one process — the same engine the
//! network runtime drives — over a latency model from `locus-topology` (a measured RTT matrix
//! or a synthetic world of continents and metros). Event queues, one per region of the
//! model, carry every call, reply and timer; nothing runs on a wall clock, and one seed fixes
//! the whole run, whatever the number of threads.
//! After a scenario of arrivals, leaves, crashes, churn and partitions it writes the overlay,
//! the figures of DESIGN §5 beside the baselines computed on the same peers, and plots.
//!
//! Modules:
//! - [`scenario`]: arrivals, churn, leaves, crashes and partitions as data, parsed from flags.
//! - [`engine`]: the event loop over the peers, the rendezvous and the scenario's schedule.
//! - [`overlay`]: the snapshot written to `overlay.json`.
//! - [`metrics`]: every figure, recomputable from an overlay and the model alone.
//! - [`baseline`]: random graph, k-nearest bound and graph, landmark binning on the same peers.
//! - [`vivaldi`]: Vivaldi coordinates and the overlay of the nearest by estimate.
//! - [`graph`]: components, shortest paths, quantiles.
//! - [`plot`]: the SVG plots.
//! - [`purity`]: per-group purity, with site clusters as the localities of an anonymous matrix.
//! - [`model`]: naming and loading latency models.

#![warn(missing_docs)]

pub mod baseline;
pub mod engine;
pub mod graph;
pub mod metrics;
pub mod model;
pub mod overlay;
pub mod plot;
pub mod purity;
pub mod scenario;
pub mod vivaldi;

use std::time::Duration;

use locus_core::{Config, Time};
use locus_topology::LatencyModel;

pub use engine::{Counters, Engine};
pub use metrics::{Metrics, Samples};
pub use model::ModelSpec;
pub use overlay::Overlay;
pub use scenario::Scenario;

/// What one run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The final overlay.
    pub overlay: Overlay,
    /// What happened along the way.
    pub counters: Counters,
    /// Invariant violations at the end (empty when every invariant holds).
    pub violations: Vec<String>,
    /// Virtual time at which the disturbance phase started.
    pub disturb_at: Time,
    /// Wall time the event loop took.
    pub wall: Duration,
    /// Threads the event loop ran on.
    pub threads: usize,
}

/// Runs `scenario` on `model` and snapshots the overlay. `progress` is called now and then
/// with the virtual time, the run's end and the number of running peers.
pub fn simulate(
    cfg: Config,
    scenario: Scenario,
    model: &dyn LatencyModel,
    model_name: &str,
    seed: u64,
    threads: usize,
    mut progress: impl FnMut(Time, Time, usize),
) -> Outcome {
    let started = std::time::Instant::now();
    let mut engine = Engine::new(cfg, scenario, model, seed);
    engine.set_threads(threads);
    let end = engine.end();
    engine.run(|now, live| progress(now, end, live));
    let wall = started.elapsed();
    Outcome {
        overlay: engine.snapshot(model_name),
        violations: engine.violations(),
        disturb_at: engine.disturb_at(),
        counters: engine.counters.clone(),
        wall,
        threads: engine.threads(),
    }
}
