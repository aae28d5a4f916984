//! Small models shared by the tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use locus_core::Config;
use locus_sim::scenario::{Arrival, Scenario};
use locus_sim::{ModelSpec, Outcome};

/// PlanetLab 490, the shared data set beside the repository.
pub fn planetlab() -> ModelSpec {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/latency/planetlab490_median_ms.tsv");
    format!("matrix:{}", path.display())
        .parse()
        .expect("model spec parses")
}

/// Three continents of two metros: 60 peers, ten per metro.
pub const SMALL: &str = "synthetic:continents=3,metros=2,peers=60,seed=3";

pub fn spec(s: &str) -> ModelSpec {
    s.parse().expect("model spec parses")
}

pub fn scenario(peers: usize) -> Scenario {
    Scenario {
        arrival: Arrival::Poisson(5.0),
        settle: Duration::from_secs(60),
        ..Scenario::new(peers)
    }
}

pub fn run(spec: &ModelSpec, scenario: Scenario, seed: u64) -> Outcome {
    run_on(spec, scenario, seed, 1)
}

/// [`run`] with the event loop on `threads` threads.
pub fn run_on(spec: &ModelSpec, scenario: Scenario, seed: u64, threads: usize) -> Outcome {
    let loaded = spec.load().expect("model loads");
    locus_sim::simulate(
        Config::wan(),
        scenario,
        loaded.model.as_ref(),
        &spec.to_string(),
        seed,
        threads,
        |_, _, _| {},
    )
}

pub fn components(o: &Outcome) -> usize {
    let index: std::collections::BTreeMap<usize, usize> = o
        .overlay
        .peers
        .iter()
        .enumerate()
        .map(|(k, p)| (p.site, k))
        .collect();
    locus_sim::graph::components(
        o.overlay.peers.len(),
        o.overlay.links.iter().map(|l| (index[&l.0], index[&l.1])),
    )
}
