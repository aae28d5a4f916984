//! SVG plots of a run: the CDF of link RTT (locus, random, k-nearest bound, landmark
//! binning, Vivaldi), the same for locus's intra- and inter-group links, the CDF of path
//! stretch (locus, k-nearest-neighbour graph, landmark binning), group purity against group
//! size, group sizes, probes per join, and join cost against N across runs.
//!
//! SVG text is left to the viewer's fonts, so no font files are needed here.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::metrics::{PairStretch, Samples};
use crate::purity::{GroupPurity, SITE_CLUSTER_MS, Source};

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

/// One line of a CDF plot: its legend, its points and its colour.
struct Curve {
    label: String,
    points: Vec<(f64, f64)>,
    color: RGBColor,
}

/// A CDF plot on a log x axis from `min_x` to `max_x`, one line per curve, the legend at the
/// lower right: the shape every CDF of a run shares.
fn log_cdf_plot(
    path: &Path,
    title: &str,
    (min_x, max_x): (f64, f64),
    (x_desc, y_desc): (&str, &str),
    curves: Vec<Curve>,
) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((min_x..max_x).log_scale(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    for Curve {
        label,
        points,
        color,
    } in curves
    {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
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

/// The largest of `values` (at least `floor`), with a fifth of room to the right.
fn axis_max<'a>(values: impl Iterator<Item = &'a [f64]>, floor: f64) -> f64 {
    values.flatten().copied().fold(floor, f64::max) * 1.2
}

/// `cdf(values)` with every x at least `min_x`, so that it fits a log axis starting there.
fn cdf_from(values: &[f64], min_x: f64) -> Vec<(f64, f64)> {
    cdf(values)
        .into_iter()
        .map(|(x, y)| (x.max(min_x), y))
        .collect()
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
    let max = axis_max(curves.iter().map(|c| c.1), 1.0);
    let curves = curves
        .into_iter()
        .map(|(name, values, color)| Curve {
            label: name.to_string(),
            points: cdf_from(values, 0.1),
            color,
        })
        .collect();
    log_cdf_plot(
        path,
        title,
        (0.1, max),
        ("link RTT (ms, log scale)", "share of links"),
        curves,
    )
}

/// CDF of the locus overlay's link RTT by link kind (intra-group, inter-group for closeness,
/// inter-group against partitions, cross links), with the k-nearest bound's RTTs for
/// reference; log axis.
pub fn link_rtt_by_kind(path: &Path, title: &str, s: &Samples) -> Result<()> {
    let kinds: [(&str, &[f64], RGBColor); 4] = [
        ("intra-group", &s.locus_intra, RGBColor(31, 119, 180)),
        (
            "inter-group (closeness)",
            &s.locus_inter,
            RGBColor(214, 39, 40),
        ),
        (
            "inter-group (random, bridges)",
            &s.locus_random,
            RGBColor(148, 103, 189),
        ),
        ("cross links", &s.locus_cross, RGBColor(255, 127, 14)),
    ];
    let knn: &[f64] = &s.knn;
    let max = axis_max(kinds.iter().map(|c| c.1).chain([knn]), 1.0);
    // A kind with no links (no random links in a small run) gets no curve, but its legend
    // entry says so.
    let mut curves: Vec<Curve> = kinds
        .into_iter()
        .map(|(name, values, color)| Curve {
            label: format!("{name}: {} links", values.len()),
            points: cdf_from(values, 0.1),
            color,
        })
        .collect();
    curves.push(Curve {
        label: format!("k-nearest bound ({} RTTs)", knn.len()),
        points: cdf_from(knn, 0.1),
        color: RGBColor(44, 160, 44),
    });
    log_cdf_plot(
        path,
        title,
        (0.1, max),
        ("link RTT (ms, log scale)", "share of links of the kind"),
        curves,
    )
}

/// CDF of per-pair path stretch on the sampled pairs: the locus overlay, the
/// k-nearest-neighbour graph with locus's degrees, and landmark binning; log axis.
pub fn stretch_cdf(path: &Path, title: &str, s: &Samples) -> Result<()> {
    let graphs: [(&str, &PairStretch, RGBColor); 3] = [
        ("locus", &s.stretch_locus, RGBColor(31, 119, 180)),
        (
            "k-nearest-neighbour graph",
            &s.stretch_knn,
            RGBColor(44, 160, 44),
        ),
        (
            "landmark binning",
            &s.stretch_landmark,
            RGBColor(255, 127, 14),
        ),
    ];
    let max = axis_max(graphs.iter().map(|c| c.1.values.as_slice()), 2.0);
    let curves = graphs
        .into_iter()
        .map(|(name, st, color)| {
            let total = (st.values.len() + st.unreachable).max(1) as f64;
            // The share of all sampled pairs, so that unreachable pairs hold the curve below 1.
            let scale = st.values.len() as f64 / total;
            let points = cdf_from(&st.values, 1.0)
                .into_iter()
                .map(|(x, y)| (x, y * scale))
                .collect();
            let median = crate::graph::quantile(&st.values, 0.5);
            let mut label = format!("{name} (median {median:.2})");
            if st.unreachable > 0 {
                label.push_str(&format!(", {} pairs unreachable", st.unreachable));
            }
            Curve {
                label,
                points,
                color,
            }
        })
        .collect();
    log_cdf_plot(
        path,
        title,
        (1.0, max),
        (
            "path stretch: shortest overlay path RTT / direct RTT (log scale)",
            "share of sampled pairs",
        ),
        curves,
    )
}

/// Groups drawn as points at most; above, every `len / MAX_POINTS`-th by size.
const MAX_POINTS: usize = 1_000;

/// One power-of-two bucket of group sizes (1, 2–3, 4–7, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PurityBucket {
    /// The smallest size in the bucket.
    pub lowest: usize,
    /// Mean size of its groups.
    pub size_mean: f64,
    /// Mean purity of its groups.
    pub purity_mean: f64,
    /// Groups in it.
    pub groups: usize,
}

/// Mean size, mean purity and group count per power-of-two size bucket, smallest first.
pub fn purity_buckets(groups: &[GroupPurity]) -> Vec<PurityBucket> {
    let mut sums: std::collections::BTreeMap<u32, (usize, f64, usize)> = Default::default();
    for g in groups {
        let b = usize::BITS - g.size.max(1).leading_zeros() - 1;
        let e = sums.entry(b).or_default();
        e.0 += g.size;
        e.1 += g.purity;
        e.2 += 1;
    }
    sums.into_iter()
        .map(|(b, (size, purity, count))| PurityBucket {
            lowest: 1 << b,
            size_mean: size as f64 / count as f64,
            purity_mean: purity / count as f64,
            groups: count,
        })
        .collect()
}

/// Each group's purity against its size (log axis), with the mean per power-of-two size
/// bucket and the number of groups in it. `labels` is where the localities come from, their
/// number and the groups; `None` draws a chart that says there are none.
pub fn purity_vs_size(
    path: &Path,
    title: &str,
    labels: Option<&(Source, usize, Vec<GroupPurity>)>,
) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let groups: &[GroupPurity] = labels.map_or(&[], |l| &l.2);
    // The x axis is log2 of the size, labelled with sizes at the powers of two: plotters'
    // log axis draws a dense mesh that hides the points.
    let top = (groups.iter().map(|g| g.size).max().unwrap_or(1) as f64)
        .log2()
        .ceil()
        .max(1.0);
    let desc = match labels {
        Some((Source::Model, count, _)) => {
            format!("group size (members, log scale); localities: the model's {count} (its metros)")
        }
        Some((Source::SiteClusters, count, _)) => format!(
            "group size (members, log scale); localities: {count} site clusters (single linkage < {SITE_CLUSTER_MS} ms)"
        ),
        None => "group size (members, log scale)".to_string(),
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.3f64..top + 0.3, 0f64..1.08f64)?;
    chart
        .configure_mesh()
        .x_labels(top as usize + 2)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 && *x >= 0.0 {
                format!("{}", 1u64 << (x.round() as u32))
            } else {
                String::new()
            }
        })
        .x_desc(desc)
        .y_desc("purity: share in the majority locality")
        .draw()?;
    if groups.is_empty() {
        let why = if labels.is_none() {
            "no localities: the model has none and too many peers to cluster"
        } else {
            "no groups"
        };
        root.draw(&Text::new(
            why,
            (SIZE.0 as i32 / 2 - 220, SIZE.1 as i32 / 2),
            ("sans-serif", 18),
        ))?;
    } else {
        let mut by_size: Vec<&GroupPurity> = groups.iter().collect();
        by_size.sort_by(|a, b| a.size.cmp(&b.size).then(a.purity.total_cmp(&b.purity)));
        let step = by_size.len().div_ceil(MAX_POINTS).max(1);
        let color = RGBColor(31, 119, 180);
        let shown = by_size.len().div_ceil(step);
        chart
            .draw_series(by_size.iter().step_by(step).map(|g| {
                Circle::new(
                    ((g.size as f64).log2(), g.purity),
                    2,
                    color.mix(0.4).filled(),
                )
            }))?
            .label(if step > 1 {
                format!("a group ({shown} of {} shown)", groups.len())
            } else {
                format!("a group ({})", groups.len())
            })
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
        let buckets = purity_buckets(groups);
        let mean_color = RGBColor(214, 39, 40);
        let points: Vec<(f64, f64)> = buckets
            .iter()
            .map(|b| (b.size_mean.log2(), b.purity_mean))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), mean_color.stroke_width(2)))?
            .label("mean per size bucket (1, 2–3, 4–7, …) at its mean size; groups in it")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], mean_color.stroke_width(2))
            });
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new(*p, 4, mean_color.filled())),
        )?;
        chart.draw_series(points.iter().zip(&buckets).map(|(p, b)| {
            Text::new(
                format!("{}", b.groups),
                (p.0, (p.1 + 0.04).min(1.06)),
                ("sans-serif", 12).into_font().color(&mean_color),
            )
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purity_buckets_average_per_power_of_two() {
        let g = |size, purity| GroupPurity { size, purity };
        let b = purity_buckets(&[g(1, 1.0), g(2, 1.0), g(3, 0.5), g(5, 0.6), g(7, 0.8)]);
        let got: Vec<(usize, f64, f64, usize)> = b
            .iter()
            .map(|b| (b.lowest, b.size_mean, b.purity_mean, b.groups))
            .collect();
        assert_eq!(
            got,
            vec![(1, 1.0, 1.0, 1), (2, 2.5, 0.75, 2), (4, 6.0, 0.7, 2)]
        );
    }
}
