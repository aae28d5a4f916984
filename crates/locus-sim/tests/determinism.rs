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

/// Queueing (`--queueing`) is drawn from each call's caller and id, not from the order the
/// threads run in: the same seed gives the same overlay on one thread and on two; and it is
/// there (the samples of one measurement differ, so more of them are taken than without).
#[test]
fn queueing_keeps_a_run_the_same_for_any_number_of_threads() {
    let spec = common::spec("synthetic:continents=3,metros=4,peers=400,seed=9");
    let mut s = common::scenario(360);
    s.arrival = locus_sim::scenario::Arrival::AllAtOnce;
    s.settle = std::time::Duration::from_secs(20);
    s.queueing = 0.2;
    let one = common::run_on(&spec, s.clone(), 3, 1);
    let two = common::run_on(&spec, s.clone(), 3, 2);
    assert_eq!(two.counters.events, one.counters.events);
    assert_eq!(
        serde_json::to_string(&two.overlay).unwrap(),
        serde_json::to_string(&one.overlay).unwrap(),
        "two threads gave another overlay than one with queueing"
    );
    s.queueing = 0.0;
    let calm = common::run_on(&spec, s, 3, 1);
    let measures = |o: &locus_sim::Outcome| o.counters.calls_by_kind["measure"];
    assert!(
        measures(&one) > measures(&calm),
        "queueing took no more samples: {} against {}",
        measures(&one),
        measures(&calm)
    );
}
