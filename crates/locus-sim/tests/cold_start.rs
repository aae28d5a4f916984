//! PlanetLab 490 with every peer starting at once, default settings and settle: the overlay is
//! one component. Seeds 1 and 3 used to end split — a group whose only neighbour merged away,
//! and a region whose far links were pruned 20 s before the end while the rendezvous took up
//! to two announce intervals to notice and bridge it (docs/decisions.md).

mod common;

use locus_sim::scenario::{Arrival, Scenario};

#[test]
fn planetlab_all_at_once_is_one_component() {
    let spec = common::planetlab();
    for seed in [1, 3] {
        let s = Scenario {
            arrival: Arrival::AllAtOnce,
            ..Scenario::new(490)
        };
        let o = common::run(&spec, s, seed);
        assert!(o.violations.is_empty(), "{}", o.violations.join("\n"));
        assert_eq!(o.overlay.peers.len(), 490);
        assert_eq!(common::components(&o), 1, "seed {seed}: overlay split");
    }
}
