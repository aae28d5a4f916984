//! One seed, one overlay.

mod common;

#[test]
fn same_seed_same_overlay_json() {
    let spec = common::spec(common::SMALL);
    let mut s = common::scenario(50);
    s.churn = Some("20:1m".parse().unwrap());
    let a = serde_json::to_string(&common::run(&spec, s.clone(), 5).overlay).unwrap();
    let b = serde_json::to_string(&common::run(&spec, s.clone(), 5).overlay).unwrap();
    assert_eq!(a, b, "the same seed gave two overlays");
    let c = serde_json::to_string(&common::run(&spec, s, 6).overlay).unwrap();
    assert_ne!(a, c, "another seed gave the same overlay");
}

#[test]
fn the_overlay_does_not_depend_on_the_number_of_threads() {
    // Everyone at once, then churn: the first windows hold hundreds of events, enough to be
    // shared out between threads.
    let spec = common::spec("synthetic:continents=3,metros=4,peers=400,seed=9");
    let mut s = common::scenario(360);
    s.arrival = locus_sim::scenario::Arrival::AllAtOnce;
    s.settle = std::time::Duration::from_secs(20);
    s.churn = Some("60:30s".parse().unwrap());
    let one = common::run_on(&spec, s.clone(), 3, 1);
    assert_eq!(
        one.counters.parallel_windows, 0,
        "one thread shares nothing out"
    );
    let one_json = serde_json::to_string(&one.overlay).unwrap();
    for threads in [2, 3] {
        let many = common::run_on(&spec, s.clone(), 3, threads);
        assert!(
            many.counters.parallel_windows > 0,
            "{threads} threads never shared a window out"
        );
        assert_eq!(many.counters.events, one.counters.events);
        assert_eq!(
            serde_json::to_string(&many.overlay).unwrap(),
            one_json,
            "{threads} threads gave another overlay than one"
        );
    }
}
