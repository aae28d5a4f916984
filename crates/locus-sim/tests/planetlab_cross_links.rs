//! On PlanetLab 490 a group is two or three hosts of one site, and a peer's next nearest hosts
//! are in the groups of the sites around it: the seed links those only through the groups'
//! leaders, and that is where the overlay lost against the k-nearest bound (docs/decisions.md,
//! "Members linked across groups"). With cross links (`cross_group_links`: each peer links to
//! the nearest peers of other groups it measured, within 11.5 ms), sequential seed 1 measures
//! an optimality gap of 1.37 and all at once seed 2 of 1.46 (stretch 1.23 / 1.56 and 1.20 /
//! 1.71, over 128 × 32 sampled pairs); with them off (`--cross-group-links 0`), 1.59 and 1.67. The bounds are the figures with
//! about 6 % of slack.

mod common;

use locus_sim::metrics;
use locus_sim::scenario::{Arrival, Scenario};
fn gap_and_stretch(scenario: Scenario, seed: u64) -> (f64, f64, f64) {
    let spec = common::planetlab();
    let o = common::run(&spec, scenario, seed);
    assert!(o.violations.is_empty(), "{}", o.violations.join("\n"));
    assert_eq!(common::components(&o), 1, "overlay split");
    let loaded = spec.load().expect("model loads");
    let (m, _) = metrics::compute(&o.overlay, loaded.model.as_ref(), 8);
    assert!(m.cross_links > 0, "no cross link");
    (m.optimality_gap, m.path_stretch.median, m.path_stretch.p90)
}

#[test]
fn cross_links_bring_sequential_joins_near_the_k_nearest_bound() {
    let (gap, median, p90) = gap_and_stretch(Scenario::new(490), 1);
    assert!(gap <= 1.45, "optimality gap {gap:.3}");
    assert!(
        median <= 1.3 && p90 <= 1.8,
        "path stretch {median:.3} / {p90:.3}"
    );
}

#[test]
fn cross_links_bring_simultaneous_joins_near_the_k_nearest_bound() {
    let scenario = Scenario {
        arrival: Arrival::AllAtOnce,
        ..Scenario::new(490)
    };
    let (gap, median, p90) = gap_and_stretch(scenario, 2);
    assert!(gap <= 1.55, "optimality gap {gap:.3}");
    assert!(
        median <= 1.3 && p90 <= 1.9,
        "path stretch {median:.3} / {p90:.3}"
    );
}
