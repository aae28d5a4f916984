//! `metrics.json` is recomputable from `overlay.json` and the model alone.

mod common;

use locus_sim::{Metrics, Overlay, metrics};

#[test]
fn metrics_recompute_from_overlay_json_and_the_matrix() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/latency/seattle99_median_ms.tsv"
    );
    let spec = common::spec(&format!("matrix:{path}"));
    let outcome = common::run(&spec, common::scenario(99), 11);
    let loaded = spec.load().unwrap();
    let (written, _) = metrics::compute(&outcome.overlay, loaded.model.as_ref(), 8);
    let overlay_json = serde_json::to_string(&outcome.overlay).unwrap();
    let metrics_json = serde_json::to_string(&written).unwrap();

    // Someone else, holding only the two files and the matrix.
    let overlay: Overlay = serde_json::from_str(&overlay_json).unwrap();
    let model = overlay
        .model
        .parse::<locus_sim::ModelSpec>()
        .unwrap()
        .load()
        .unwrap();
    let (recomputed, _) = metrics::compute(&overlay, model.model.as_ref(), 8);
    let on_file: Metrics = serde_json::from_str(&metrics_json).unwrap();
    assert_eq!(recomputed, on_file);

    // And the figures mean what they say: check two of them by hand.
    let rtt = |a: usize, b: usize| model.model.rtt_us(a, b).unwrap() as f64 / 1e3;
    let mean =
        overlay.links.iter().map(|l| rtt(l.0, l.1)).sum::<f64>() / overlay.links.len() as f64;
    assert!((recomputed.mean_link_rtt_ms - mean).abs() < 1e-9);
    assert_eq!(recomputed.peers, 99);
    assert_eq!(recomputed.join.joins, 99);
    assert!(recomputed.knn_bound_ms <= recomputed.mean_link_rtt_ms);
    assert!(
        recomputed.random_ratio > 0.0 && recomputed.random_ratio < 1.0,
        "{}",
        recomputed.random_ratio
    );

    // The Vivaldi baseline spends locus's mean probes per join, then twice and four times that,
    // and its overlay has about locus's mean degree, in one component.
    let budget = recomputed.join.probes_mean.round() as usize;
    let spent: Vec<usize> = recomputed
        .vivaldi
        .iter()
        .map(|v| v.samples_per_peer)
        .collect();
    assert_eq!(spent, [budget, 2 * budget, 4 * budget]);
    for v in &recomputed.vivaldi {
        assert_eq!(v.components, 1);
        assert!(
            (v.mean_degree - recomputed.mean_degree).abs() < 2.0,
            "Vivaldi mean degree {} against {}",
            v.mean_degree,
            recomputed.mean_degree
        );
        assert!(v.median_relative_error > 0.0 && v.median_relative_error < 1.0);
    }
}
