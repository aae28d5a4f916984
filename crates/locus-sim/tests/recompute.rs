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
}
