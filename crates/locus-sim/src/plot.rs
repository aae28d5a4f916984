//! SVG plots of a run: the CDF of link RTT (locus, random, k-nearest bound, landmark
//! binning, Vivaldi), group sizes, probes per join, and join cost against N across runs.
//!
//! SVG text is left to the viewer's fonts, so no font files are needed here.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::metrics::Samples;

const SIZE: (u32, u32) = (800, 500);

fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    // At most ~500 points per curve keeps the SVG small at 100,000 peers.
    let step = (v.len() / 500).max(1);
    let mut out: Vec<(f64, f64)> = v
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, x)| (*x, (i + 1) as f64 / n))
        .collect();
    if let Some(last) = v.last() {
        out.push((*last, 1.0));
    }
    out
}

/// CDF of link RTT on a log axis, one curve per overlay.
pub fn link_rtt_cdf(path: &Path, title: &str, s: &Samples) -> Result<()> {
    let curves: [(&str, &[f64], RGBColor); 5] = [
        ("locus", &s.locus, RGBColor(31, 119, 180)),
        ("random (same degrees)", &s.random, RGBColor(214, 39, 40)),
        ("k-nearest bound", &s.knn, RGBColor(44, 160, 44)),
        ("landmark binning", &s.landmark, RGBColor(255, 127, 14)),
        ("Vivaldi (same probes)", &s.vivaldi, RGBColor(148, 103, 189)),
    ];
    let max = curves
        .iter()
        .flat_map(|c| c.1.iter().copied())
        .fold(1.0f64, f64::max)
        * 1.2;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0.1f64..max).log_scale(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("link RTT (ms, log scale)")
        .y_desc("share of links")
        .draw()?;
    for (name, values, color) in curves {
        let points: Vec<(f64, f64)> = cdf(values)
            .into_iter()
            .map(|(x, y)| (x.max(0.1), y))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Histogram of group sizes in power-of-two buckets (1, 2–3, 4–7, …).
pub fn group_sizes(path: &Path, title: &str, sizes: &[usize]) -> Result<()> {
    let bucket = |s: usize| (usize::BITS - s.max(1).leading_zeros() - 1) as usize;
    let buckets = sizes.iter().map(|s| bucket(*s)).max().unwrap_or(0) + 1;
    let mut counts = vec![0u32; buckets];
    for s in sizes {
        counts[bucket(*s)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0u32..buckets as u32, 0u32..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(buckets + 1)
        .x_label_formatter(&|b| format!("{}–{}", 1u64 << b, (1u64 << (b + 1)) - 1))
        .x_desc("group size (members)")
        .y_desc("groups")
        .draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(b, c)| {
        let b = b as u32;
        Rectangle::new([(b, 0), (b + 1, *c)], RGBColor(31, 119, 180).filled())
    }))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// CDF of probes per join.
pub fn join_probes(path: &Path, title: &str, probes: &[u32]) -> Result<()> {
    let values: Vec<f64> = probes.iter().map(|p| f64::from(*p)).collect();
    let max = values.iter().copied().fold(1.0, f64::max) * 1.05;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..max, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("probes per join")
        .y_desc("share of joins")
        .draw()?;
    chart.draw_series(LineSeries::new(
        cdf(&values),
        RGBColor(31, 119, 180).stroke_width(2),
    ))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One run's join cost: `(N, probes mean, probes p99, calls mean)`.
pub type JoinCostPoint = (usize, f64, f64, f64);

/// A named curve: its label, how to read its value from a point, its colour.
type Series = (&'static str, fn(&JoinCostPoint) -> f64, RGBColor);

/// Mean and p99 probes (and calls) per join against N, log-scaled N.
pub fn join_cost_vs_n(path: &Path, points: &[JoinCostPoint]) -> Result<()> {
    let max_n = points.iter().map(|p| p.0).max().unwrap_or(10) as f64 * 2.0;
    let min_n = points.iter().map(|p| p.0).min().unwrap_or(1) as f64 / 2.0;
    let top = points.iter().map(|p| p.2.max(p.3)).fold(1.0, f64::max) * 1.2;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("join cost against N", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((min_n..max_n).log_scale(), 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("peers (log scale)")
        .y_desc("per join")
        .draw()?;
    let series: [Series; 3] = [
        ("probes, mean", |p| p.1, RGBColor(31, 119, 180)),
        ("probes, p99", |p| p.2, RGBColor(255, 127, 14)),
        ("calls, mean", |p| p.3, RGBColor(44, 160, 44)),
    ];
    for (name, f, color) in series {
        let pts: Vec<(f64, f64)> = points.iter().map(|p| (p.0 as f64, f(p))).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
