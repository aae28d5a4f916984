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
    if let Ok(v) = std::env::var("INTRA") { cfg.intra_group_target = v.parse().unwrap(); }
    if let Ok(v) = std::env::var("RND") { cfg.random_inter_group_links = v.parse().unwrap(); }
    if let Ok(v) = std::env::var("GUARD") { cfg.max_leader_rtt = Some(Duration::from_millis(v.parse().unwrap())); }
    let s: u64 = std::env::var("S").map(|v| v.parse().unwrap()).unwrap_or(490);
    let mut sim = Sim::new(SimOptions::new(cfg, s), Arc::new(matrix));
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
    let leaders: Vec<usize> = sim.leaders().values().map(|v| v[0]).collect();
    let mut ideal = vec![];
    for &a in &leaders {
        let mut d: Vec<f64> = leaders.iter().filter(|b| **b != a).map(|&b| sim.rtt(a, b).as_secs_f64() * 1e3).collect();
        d.sort_by(|x, y| x.partial_cmp(y).unwrap());
        ideal.push(d.iter().take(6).sum::<f64>() / 6.0);
    }
    println!("ideal 6-nearest-leader mean {:.1}", ideal.iter().sum::<f64>() / ideal.len() as f64);
    let mut actual = vec![];
    for &a in &leaders {
        let st = sim.nodes()[a].peer.status();
        let mut d: Vec<f64> = st.inter.iter().filter_map(|n| sim.index_of(n.leader.id)).map(|b| sim.rtt(a, b).as_secs_f64() * 1e3).collect();
        d.sort_by(|x, y| x.partial_cmp(y).unwrap());
        actual.push((d.len(), d.iter().take(6).sum::<f64>() / 6.0f64.min(d.len() as f64)));
    }
    println!("actual 6 nearest links mean {:.1}, mean inter degree {:.1}", actual.iter().map(|a| a.1).sum::<f64>() / actual.len() as f64, actual.iter().map(|a| a.0 as f64).sum::<f64>() / actual.len() as f64);
}
