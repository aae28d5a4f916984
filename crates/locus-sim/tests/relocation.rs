//! After churn, no group keeps two metros: members far from their leader walk again and move
//! to a nearer group (`Config::relocate_far_members`, docs/decisions.md "Members far from their
//! leader walk again").
//!
//! The scenario is `docs/benchmarks.sh`'s `synthetic-2k-churn` (`locus-sim run --synthetic
//! continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --churn 20:10m --crash 0.05
//! --leave 0.05 --seed 1`): 20 metros of ~100 peers, 5 % leaving and 5 % crashing at once, then
//! ten minutes of churn. Measured on 2026-12-04: purity 1.000 with the rule (five members
//! moved); **0.951** without it, one group of 177 holding 82 peers of a metro whose own group
//! of 12 stood beside it, 15–20 ms from their leader.

mod common;

use std::time::Duration;

use locus_core::Config;
use locus_sim::metrics;
use locus_sim::scenario::{Arrival, Scenario};

#[test]
fn after_churn_no_group_keeps_the_peers_of_two_metros() {
    let spec = common::spec("synthetic:continents=5,metros=4,peers=2250,seed=7");
    let mut s = Scenario {
        arrival: Arrival::Poisson(100.0),
        settle: Duration::from_secs(60),
        ..Scenario::new(2000)
    };
    s.churn = Some("20:10m".parse().expect("churn parses"));
    s.crash = 0.05;
    s.leave = 0.05;
    let loaded = spec.load().expect("model loads");
    let o = locus_sim::simulate(
        Config::wan(),
        s,
        loaded.model.as_ref(),
        &spec.to_string(),
        1,
        1,
        |_, _, _| {},
    );
    assert!(o.violations.is_empty(), "{}", o.violations.join("\n"));
    assert_eq!(common::components(&o), 1, "overlay split");
    let (m, _) = metrics::compute(&o.overlay, loaded.model.as_ref(), 8);
    let purity = m.groups.purity.expect("a synthetic world has metros");
    assert!(purity >= 0.99, "metro purity {purity:.3}");
    assert!(o.counters.relocations > 0, "{:?}", o.counters);
}
