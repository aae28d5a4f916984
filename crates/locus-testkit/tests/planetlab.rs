//! All 490 PlanetLab hosts join one after another on their measured RTT matrix: overlay
//! neighbours must be far closer than in a random graph with the same degrees (the published
//! anchor is about 0.11). The bound was 0.125 while this test measured 0.101 (12.81 ms against
//! 127.3 ms, 122 groups, intra-group links 5.8 ms); with issue #14's rules (the neighbour-scaled
//! guard above all) it measures 0.093 (12.25 ms against 131.9 ms, 166 groups, intra-group links
//! 2.6 ms against inter-group 25.7 ms), and the bound is 0.10. With the rendezvous sampling
//! boot lists over its own index (issue #13: the same uniform sample, other draws) it measures
//! 0.091 (12.13 ms against 133.27 ms). With joins that start near (`landmark_boot`) and
//! shortcuts for groups of 8 or more it measures 0.092 (12.20 ms against 132.60 ms, 165
//! groups): the groups here are 2–3 peers, below the shortcut threshold. With a cut's second
//! link between the pair the landmarks place nearest (`near_cut_links`) it measures 0.093
//! (12.23 ms against 131.92 ms, 164 groups). With cross links (`cross_group_links`: each peer
//! links to the nearest peers of other groups it measured) and inter-group links within 20 ms
//! beyond a group's first two, it measures 0.080 (9.71 ms against 121.06 ms, 159 groups; links
//! between groups, cross links included, 15.0 ms against intra-group 2.8 ms), and the bound is
//! 0.09. With intra-group links moved to the nearest members (`nearest_intra_links`) and cross
//! links within 11.5 ms it measures 0.076 (9.24 ms against 121.21 ms, 159 groups; between
//! groups 15.1 ms against intra-group 2.6 ms), and the bound is 0.085. With members far from
//! their leader walking again (`relocate_far_members`) it measures 0.076 (9.19 ms against
//! 121.22 ms, 160 groups, intra-group links 2.5 ms), and the bound stays.

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
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean_of = |inter: bool| {
        let v: Vec<f64> = links
            .iter()
            .filter(|l| l.2 == inter)
            .map(|l| ms(sim.rtt(l.0, l.1)))
            .collect();
        (v.len(), v.iter().sum::<f64>() / v.len().max(1) as f64)
    };
    let ((n_intra, intra), (n_inter, inter)) = (mean_of(false), mean_of(true));
    println!(
        "planetlab490 (seed {seed}): {} groups, {n_intra} intra links (mean {intra:.1} ms), \
         {n_inter} inter links (mean {inter:.1} ms), components {components}",
        groups.len()
    );
    println!(
        "planetlab490: mean link RTT {:.2} ms, random graph with the same degrees {:.2} ms, ratio {ratio:.3}",
        ms(mean),
        ms(random),
    );
    assert_eq!(components, 1, "the overlay is connected");
    assert!(
        ratio < 0.085,
        "mean link RTT {mean:?} is not below 0.085 × random {random:?}"
    );
    assert!(
        intra * 3.0 <= inter,
        "intra-group links ({intra:.1} ms) are not a third of inter-group ones ({inter:.1} ms)"
    );
}
