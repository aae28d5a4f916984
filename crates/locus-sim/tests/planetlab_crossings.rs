//! PlanetLab 490's two large halves, North America and Europe (70 ms apart at their nearest
//! pair), are joined only by the rendezvous' partition links: no group's own search links
//! beyond its radius (50 ms then, 20 ms now), and every group has neighbours nearer than that.
//! A cut's second link now goes between the pair across the cut that the landmarks place
//! nearest (`near_cut_links`): sequential seed 1 measured path stretch 1.25 / 1.80 (1.23 / 1.57
//! since cross links). Before, the first
//! group behind the cut to announce linked towards groups next to the cut's far end, and the
//! halves hung on two 146 ms links: 1.41 / 2.10 (docs/decisions.md, "Partition links that land
//! near").

mod common;

use locus_sim::metrics;
use locus_sim::scenario::Scenario;

#[test]
fn planetlab_s_halves_are_joined_near_enough_for_short_paths() {
    let spec = common::planetlab();
    let o = common::run(&spec, Scenario::new(490), 1);
    assert!(o.violations.is_empty(), "{}", o.violations.join("\n"));
    assert_eq!(common::components(&o), 1, "overlay split");
    let loaded = spec.load().expect("model loads");
    let (m, _) = metrics::compute(&o.overlay, loaded.model.as_ref(), 8);
    let s = &m.path_stretch;
    assert_eq!(s.unreachable, 0);
    assert!(
        s.median <= 1.3 && s.p90 <= 1.95,
        "path stretch {:.3} / {:.3}",
        s.median,
        s.p90
    );
}
