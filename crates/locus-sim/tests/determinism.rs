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
