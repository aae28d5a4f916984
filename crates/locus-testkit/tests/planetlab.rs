//! All 490 PlanetLab hosts join one after another on their measured RTT matrix: overlay
//! neighbours must be far closer than in a random graph with the same degrees.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use locus_core::{Config, Rng, Time};
use locus_testkit::{Sim, SimOptions, check, seed};
use locus_topology::{LatencyModel, Matrix};

fn planetlab() -> Matrix {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/latency/planetlab490_median_ms.tsv");
    Matrix::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn planetlab_490_neighbours_are_close() {
    let matrix = planetlab();
    let n = matrix.len();
    assert_eq!(n, 490);
    let seed = seed(490);
    let mut sim = Sim::new(SimOptions::new(Config::wan(), seed), Arc::new(matrix));
    for i in 0..n {
        sim.add_peer(i);
        sim.join_at(i, Time::ZERO + Duration::from_secs(3) * i as u32);
    }
    sim.run_until(Time::ZERO + Duration::from_secs(3) * n as u32 + Duration::from_secs(120));

    let violations = check::steady_state_violations(&sim);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    let live: Vec<usize> = sim.live().collect();
    let links = sim.links();
    let components = check::components(&live, links.iter().map(|(a, b, _)| (*a, *b)));
    let mean = check::mean_link_rtt(&sim);
    let random = check::random_graph_mean_rtt(&sim, &mut Rng::new(seed), 20);
    let ratio = mean.as_secs_f64() / random.as_secs_f64();
    let groups = sim.groups();
    println!(
        "planetlab490: {} groups, {} links ({} inter), components {components}, \
         mean link RTT {:.2} ms, random graph {:.2} ms, ratio {ratio:.3}",
        groups.len(),
        links.len(),
        links.iter().filter(|l| l.2).count(),
        mean.as_secs_f64() * 1e3,
        random.as_secs_f64() * 1e3,
    );
    assert_eq!(components, 1, "the overlay is connected");
    assert!(ratio < 0.2, "mean link RTT {mean:?} is not below 0.2 × random {random:?}");
}

#[test]
fn debug_breakdown() {
    let matrix = planetlab();
    let n = matrix.len();
    let mut cfg = Config::wan();
    if let Ok(v) = std::env::var("IGT") { cfg.inter_group_target = v.parse().unwrap(); }
    if let Ok(v) = std::env::var("RND") { cfg.random_inter_group_links = v.parse().unwrap(); }
    if let Ok(v) = std::env::var("GUARD") { cfg.max_leader_rtt = Some(Duration::from_millis(v.parse().unwrap())); }
    let mut sim = Sim::new(SimOptions::new(cfg, 490), Arc::new(matrix));
    for i in 0..n {
        sim.add_peer(i);
        sim.join_at(i, Time::ZERO + Duration::from_secs(3) * i as u32);
    }
    sim.run_until(Time::ZERO + Duration::from_secs(3) * n as u32 + Duration::from_secs(120));
    let links = sim.links();
    let (mut ni, mut si, mut nx, mut sx) = (0, 0.0, 0, 0.0);
    let mut inter_rtts = vec![];
    for (a, b, inter) in &links {
        let r = sim.rtt(*a, *b).as_secs_f64() * 1e3;
        if *inter { nx += 1; sx += r; inter_rtts.push(r); } else { ni += 1; si += r; }
    }
    inter_rtts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| inter_rtts[((inter_rtts.len() as f64 - 1.0) * p) as usize];
    println!("intra {ni} mean {:.1}; inter {nx} mean {:.1}; inter p25 {:.1} p50 {:.1} p75 {:.1} p90 {:.1}", si / ni as f64, sx / nx as f64, q(0.25), q(0.5), q(0.75), q(0.9));
    let sizes: Vec<usize> = sim.groups().values().map(|m| m.len()).collect();
    let mut hist = std::collections::BTreeMap::new();
    for s in &sizes { *hist.entry(*s).or_insert(0) += 1; }
    println!("group sizes {hist:?}");
    let mean = check::mean_link_rtt(&sim);
    let random = check::random_graph_mean_rtt(&sim, &mut Rng::new(1), 20);
    println!("ratio {:.3}", mean.as_secs_f64() / random.as_secs_f64());
}
