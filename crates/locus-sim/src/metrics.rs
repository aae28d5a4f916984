//! The figures of DESIGN §5, computed from an [`Overlay`] and the latency model alone — so
//! that anyone holding `overlay.json` and the matrix gets the same `metrics.json`.
//!
//! Every figure that needs randomness (the random graphs, sampled pairs for path stretch, the
//! landmarks) draws from a generator seeded with the overlay's seed; the Vivaldi baseline
//! from a second one, so that adding it left every other figure as it was.

use std::collections::BTreeMap;

use locus_core::Rng;
use locus_topology::LatencyModel;
use serde::{Deserialize, Serialize};

use crate::baseline;
use crate::graph::{self, Weighted, mean, quantile};
use crate::overlay::{LinkKind, Overlay};
use crate::purity::{self, GroupPurity, Source};
use crate::vivaldi;

/// Random graphs averaged for `random_ratio`.
pub const RANDOM_SAMPLES: usize = 5;
/// Sources of shortest-path trees for path stretch, and destinations sampled per source.
/// 128, not 32: at 100,000 peers the p90 over 32 sources moved by −0.10 to +0.14 between
/// overlays whose p90 over 256 sources differed by 0.03 (docs/decisions.md, "Path stretch
/// over 128 sources"); a shortest-path tree over 100,000 peers costs about 50 ms.
pub const STRETCH_SOURCES: usize = 128;
/// See [`STRETCH_SOURCES`].
pub const STRETCH_TARGETS: usize = 32;

/// Median and p90 of path stretch over sampled pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    /// Pairs sampled.
    pub pairs: usize,
    /// Pairs with no overlay path (left out of the quantiles).
    pub unreachable: usize,
    /// Median stretch.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
}

/// Join cost over every first join of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinCost {
    /// Joins counted.
    pub joins: usize,
    /// Share of joins that founded a group.
    pub founded_share: f64,
    /// Probes per join.
    pub probes_mean: f64,
    /// 99th percentile of probes per join.
    pub probes_p99: f64,
    /// Calls per join, probes included.
    pub rpcs_mean: f64,
    /// 99th percentile of calls per join.
    pub rpcs_p99: f64,
    /// Groups tested per join.
    pub tested_groups_mean: f64,
    /// Virtual time per join, ms.
    pub time_mean_ms: f64,
    /// 99th percentile of the join time, ms.
    pub time_p99_ms: f64,
}

/// Group count, sizes and quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Groups {
    /// Groups with at least one running member.
    pub count: usize,
    /// Peers in no group.
    pub ungrouped: usize,
    /// Mean group size.
    pub size_mean: f64,
    /// Median group size.
    pub size_median: f64,
    /// Largest group.
    pub size_max: usize,
    /// Groups of one peer.
    pub singletons: usize,
    /// Mean RTT over intra-group links, ms.
    pub intra_mean_rtt_ms: f64,
    /// Mean RTT over inter-group links opened for closeness, ms.
    pub inter_mean_rtt_ms: f64,
    /// Mean RTT over the links kept against partitions, ms (0 when there are none).
    #[serde(default)]
    pub random_mean_rtt_ms: f64,
    /// Mean RTT over cross links, ms (0 when there are none).
    #[serde(default)]
    pub cross_mean_rtt_ms: f64,
    /// Share of grouped peers in their group's majority ground-truth locality (the model's
    /// metro); `None` when the model has no ground truth.
    pub purity: Option<f64>,
    /// Number of distinct ground-truth localities among the running peers.
    pub true_localities: Option<usize>,
}

/// The figures of landmark binning on the same peers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Landmark {
    /// Landmarks used.
    pub landmarks: usize,
    /// Distinct bins.
    pub bins: usize,
    /// Links (including bridges).
    pub links: usize,
    /// Components before bridging.
    pub components_before_bridging: usize,
    /// Links added to connect them.
    pub bridges: usize,
    /// Mean RTT over its links, ms.
    pub mean_link_rtt_ms: f64,
    /// Its mean link RTT over the random graph's (with its own degree sequence).
    pub random_ratio: f64,
    /// Its mean link RTT over the k-nearest bound for its own degrees.
    pub optimality_gap: f64,
    /// Its path stretch on the same sampled pairs.
    pub path_stretch: Stretch,
}

/// The figures of the Vivaldi baseline at one sample budget, on the same peers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vivaldi {
    /// Samples per peer as a multiple of locus's mean probes per join (1, 2 or 4).
    pub budget_factor: u32,
    /// RTT samples every peer spent: `budget_factor × round(locus probes per join mean)`.
    pub samples_per_peer: usize,
    /// Median of `|estimated − modelled RTT| ÷ modelled RTT` over random pairs.
    pub median_relative_error: f64,
    /// Nearest peers (by estimated distance) each peer linked to.
    pub k: usize,
    /// Links (including bridges).
    pub links: usize,
    /// Mean degree, `2 × links / peers`.
    pub mean_degree: f64,
    /// Components before bridging.
    pub components_before_bridging: usize,
    /// Links added to connect them.
    pub bridges: usize,
    /// Components after bridging.
    pub components: usize,
    /// Mean RTT over its links, ms.
    pub mean_link_rtt_ms: f64,
    /// Its mean link RTT over the random graph's (with its own degree sequence).
    pub random_ratio: f64,
    /// Its mean link RTT over the k-nearest bound for its own degrees.
    pub optimality_gap: f64,
    /// Its path stretch on the same sampled pairs.
    pub path_stretch: Stretch,
}

/// The k-nearest-neighbour graph ([`baseline::knn_graph`]) on the same peers: the graph
/// whose links the k-nearest bound counts, as an overlay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnGraph {
    /// Whether each peer chose among all peers (or among its own locality's).
    pub exact: bool,
    /// Links (including bridges).
    pub links: usize,
    /// Mean degree, `2 × links / peers`.
    pub mean_degree: f64,
    /// Components before bridging.
    pub components_before_bridging: usize,
    /// Links added to connect them.
    pub bridges: usize,
    /// Its path stretch on the same sampled pairs.
    pub path_stretch: Stretch,
}

/// Everything in `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Running peers.
    pub peers: usize,
    /// Overlay links.
    pub links: usize,
    /// Of which intra-group.
    pub intra_links: usize,
    /// Of which inter-group, opened for closeness.
    pub inter_links: usize,
    /// Of which inter-group, kept against partitions (random links, bridges).
    #[serde(default)]
    pub random_links: usize,
    /// Of which cross links, between near peers of two groups.
    #[serde(default)]
    pub cross_links: usize,
    /// Mean degree, `2 × links / peers`.
    pub mean_degree: f64,
    /// The seed's objective [0029], ms.
    pub mean_link_rtt_ms: f64,
    /// Mean link RTT of random graphs with the same degree sequence, ms.
    pub random_mean_link_rtt_ms: f64,
    /// `mean_link_rtt ÷ random_mean_link_rtt`.
    pub random_ratio: f64,
    /// The k-nearest bound, ms.
    pub knn_bound_ms: f64,
    /// Whether the bound is exact or estimated from a sample of peers.
    pub knn_exact: bool,
    /// `mean_link_rtt ÷ knn_bound`.
    pub optimality_gap: f64,
    /// Shortest overlay path RTT over direct RTT.
    pub path_stretch: Stretch,
    /// Connected components of the overlay.
    pub components: usize,
    /// Join cost.
    pub join: JoinCost,
    /// Group quality.
    pub groups: Groups,
    /// Landmark binning on the same peers.
    pub landmark: Landmark,
    /// Vivaldi on the same peers, at each of [`vivaldi::BUDGET_FACTORS`] (empty in runs
    /// written before the baseline existed).
    #[serde(default)]
    pub vivaldi: Vec<Vivaldi>,
    /// The k-nearest-neighbour graph with the locus overlay's degrees, on the same peers
    /// (`None` in runs written before it was added).
    #[serde(default)]
    pub knn_graph: Option<KnnGraph>,
}

/// Per-link RTT samples behind the figures, for the plots (ms).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Link RTTs of the locus overlay.
    pub locus: Vec<f64>,
    /// Link RTTs of one random graph with the same degrees.
    pub random: Vec<f64>,
    /// The per-peer nearest RTTs behind the k-nearest bound.
    pub knn: Vec<f64>,
    /// Link RTTs of landmark binning.
    pub landmark: Vec<f64>,
    /// Link RTTs of Vivaldi at locus's probe budget.
    pub vivaldi: Vec<f64>,
    /// Link RTTs of the locus overlay by kind: intra-group, inter-group for closeness,
    /// inter-group against partitions, cross links.
    pub locus_intra: Vec<f64>,
    /// See [`Samples::locus_intra`].
    pub locus_inter: Vec<f64>,
    /// See [`Samples::locus_intra`].
    pub locus_random: Vec<f64>,
    /// See [`Samples::locus_intra`].
    pub locus_cross: Vec<f64>,
    /// Per-pair path stretch of the locus overlay on the sampled pairs, sorted (unreachable
    /// pairs left out, as in [`Stretch`]).
    pub stretch_locus: PairStretch,
    /// The same for the k-nearest-neighbour graph.
    pub stretch_knn: PairStretch,
    /// The same for landmark binning.
    pub stretch_landmark: PairStretch,
    /// Group sizes.
    pub group_sizes: Vec<usize>,
    /// Each group's size and purity, and where its localities come from (`None` when the
    /// model has no localities and has too many peers to cluster).
    pub group_purity: Option<(Source, usize, Vec<GroupPurity>)>,
    /// Probes per join.
    pub join_probes: Vec<u32>,
}

/// Per-pair stretch values behind a [`Stretch`], sorted, and the pairs with no path.
#[derive(Debug, Clone, Default)]
pub struct PairStretch {
    /// Stretch of every reachable pair, ascending.
    pub values: Vec<f64>,
    /// Pairs with no path.
    pub unreachable: usize,
}

fn ms(us: f64) -> f64 {
    us / 1e3
}

fn mean_rtt_us(model: &dyn LatencyModel, sites: &[usize], edges: &[(usize, usize)]) -> f64 {
    mean(
        edges
            .iter()
            .filter_map(|&(a, b)| baseline::rtt(model, sites, a, b))
            .map(|x| x as f64),
    )
}

fn degrees(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut d = vec![0; n];
    for &(a, b) in edges {
        d[a] += 1;
        d[b] += 1;
    }
    d
}

/// Stretch of `edges` on the sampled `pairs`, and the per-pair values it summarises.
fn stretch(
    model: &dyn LatencyModel,
    sites: &[usize],
    edges: &[(usize, usize)],
    pairs: &[(usize, Vec<usize>)],
) -> (Stretch, PairStretch) {
    let weighted: Vec<(usize, usize, u64)> = edges
        .iter()
        .filter_map(|&(a, b)| baseline::rtt(model, sites, a, b).map(|w| (a, b, w)))
        .collect();
    let g = Weighted::new(sites.len(), &weighted);
    // One shortest-path tree per source, the sources split over the cores: at 100,000 peers
    // each tree is tens of ms, and a run computes 32 for each of six graphs.
    let part = |sources: &[(usize, Vec<usize>)]| {
        let (mut values, mut unreachable, mut count) = (Vec::new(), 0, 0);
        for (s, targets) in sources {
            let dist = g.dijkstra(*s);
            for &t in targets {
                let Some(direct) = baseline::rtt(model, sites, *s, t).filter(|d| *d > 0) else {
                    continue;
                };
                count += 1;
                if dist[t] == u64::MAX {
                    unreachable += 1;
                } else {
                    values.push(dist[t] as f64 / direct as f64);
                }
            }
        }
        (values, unreachable, count)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    let chunk = pairs.len().div_ceil(threads).max(1);
    let (mut values, mut unreachable, mut count) = (Vec::new(), 0, 0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|c| scope.spawn(move || part(c)))
            .collect();
        for h in handles {
            let (v, u, c) = h.join().expect("a path stretch worker panicked");
            values.extend(v);
            unreachable += u;
            count += c;
        }
    });
    values.sort_by(f64::total_cmp);
    let summary = Stretch {
        pairs: count,
        unreachable,
        median: quantile(&values, 0.5),
        p90: quantile(&values, 0.9),
    };
    (
        summary,
        PairStretch {
            values,
            unreachable,
        },
    )
}

/// Computes every figure, and the samples behind the plots.
pub fn compute(
    overlay: &Overlay,
    model: &dyn LatencyModel,
    landmarks: usize,
) -> (Metrics, Samples) {
    let sites = overlay.sites();
    let n = sites.len();
    let index: BTreeMap<usize, usize> = sites.iter().enumerate().map(|(k, s)| (*s, k)).collect();
    let mut rng = Rng::new(overlay.seed ^ 0x006d_6574_7269_6373);
    let edges: Vec<(usize, usize)> = overlay
        .links
        .iter()
        .map(|l| (index[&l.0], index[&l.1]))
        .collect();
    // Vivaldi's embedding starts first, on a core of its own; the rest is computed meanwhile.
    // Its budget is locus's mean probes per join, as `JoinCost::probes_mean` computes it.
    let mut probes: Vec<f64> = overlay.joins.iter().map(|j| f64::from(j.probes)).collect();
    probes.sort_by(f64::total_cmp);
    let budget = mean(probes.iter().copied()).round() as usize;
    let mean_degree = if n == 0 {
        0.0
    } else {
        2.0 * edges.len() as f64 / n as f64
    };
    std::thread::scope(|outer| {
        let embedding =
            outer.spawn(|| vivaldi_embedding(model, &sites, mean_degree, budget, overlay.seed));
        let kinds: Vec<LinkKind> = overlay.links.iter().map(|l| l.2).collect();
        let rtts: Vec<Option<u64>> = edges
            .iter()
            .map(|&(a, b)| baseline::rtt(model, &sites, a, b))
            .collect();
        let kind_mean = |k: LinkKind| {
            mean(
                rtts.iter()
                    .zip(&kinds)
                    .filter(|(_, kk)| **kk == k)
                    .filter_map(|(r, _)| r.map(|x| x as f64)),
            )
        };
        let mean_us = mean_rtt_us(model, &sites, &edges);

        // Random graphs with the same degrees.
        let mut random_sum = 0.0;
        let mut random_first = Vec::new();
        for s in 0..RANDOM_SAMPLES {
            let r = baseline::random_graph(n, &edges, &mut rng);
            random_sum += mean_rtt_us(model, &sites, &r);
            if s == 0 {
                random_first = r;
            }
        }
        let random_us = random_sum / RANDOM_SAMPLES as f64;
        let degree = degrees(n, &edges);
        let (knn_us, knn_rtts) = baseline::knn_bound(model, &sites, &degree, &mut rng);

        // The same sampled pairs for locus and landmark binning.
        let pairs: Vec<(usize, Vec<usize>)> = if n < 2 {
            Vec::new()
        } else {
            (0..STRETCH_SOURCES.min(n))
                .map(|_| {
                    let s = rng.below(n as u64) as usize;
                    let t = (0..STRETCH_TARGETS)
                        .map(|_| rng.below(n as u64) as usize)
                        .filter(|t| *t != s)
                        .collect();
                    (s, t)
                })
                .collect()
        };
        let (path_stretch, stretch_locus) = stretch(model, &sites, &edges, &pairs);

        // Groups.
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut group_peers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for p in &overlay.peers {
            if let Some(g) = &p.group {
                groups.entry(g.as_str()).or_default().push(p.site);
                group_peers
                    .entry(g.as_str())
                    .or_default()
                    .push(index[&p.site]);
            }
        }
        let mut sizes: Vec<usize> = groups.values().map(Vec::len).collect();
        sizes.sort_unstable();
        let grouped: usize = sizes.iter().sum();
        let truth = sites.first().and_then(|s| model.locality(*s)).is_some();
        let purity = truth.then(|| {
            let majority: usize = groups
                .values()
                .map(|members| {
                    let mut count: BTreeMap<Option<u32>, usize> = BTreeMap::new();
                    for s in members {
                        *count.entry(model.locality(*s)).or_default() += 1;
                    }
                    count.values().copied().max().unwrap_or(0)
                })
                .sum();
            majority as f64 / grouped.max(1) as f64
        });
        let true_localities = truth.then(|| {
            sites
                .iter()
                .filter_map(|s| model.locality(*s))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        });
        let sizes_f: Vec<f64> = sizes.iter().map(|s| *s as f64).collect();

        // Join cost.
        let mut probes: Vec<f64> = overlay.joins.iter().map(|j| f64::from(j.probes)).collect();
        let mut rpcs: Vec<f64> = overlay.joins.iter().map(|j| f64::from(j.rpcs)).collect();
        let mut times: Vec<f64> = overlay
            .joins
            .iter()
            .map(|j| j.duration_us as f64 / 1e3)
            .collect();
        for v in [&mut probes, &mut rpcs, &mut times] {
            v.sort_by(f64::total_cmp);
        }
        let joins = overlay.joins.len();
        let join = JoinCost {
            joins,
            founded_share: overlay.joins.iter().filter(|j| j.founded).count() as f64
                / joins.max(1) as f64,
            probes_mean: mean(probes.iter().copied()),
            probes_p99: quantile(&probes, 0.99),
            rpcs_mean: mean(rpcs.iter().copied()),
            rpcs_p99: quantile(&rpcs, 0.99),
            tested_groups_mean: mean(overlay.joins.iter().map(|j| f64::from(j.tested_groups))),
            time_mean_ms: mean(times.iter().copied()),
            time_p99_ms: quantile(&times, 0.99),
        };

        // Landmark binning with the same mean degree.
        let ((viv, viv_first), landmark, stretch_landmark, bin_edges, nearest) =
            std::thread::scope(|scope| {
                let vivaldi = scope.spawn(|| {
                    let embedded = embedding.join().expect("the Vivaldi embedding panicked");
                    vivaldi_baseline(model, &sites, n, embedded, &pairs)
                });
                let bin =
                    baseline::landmark_binning(model, &sites, mean_degree, landmarks, &mut rng);
                let bin_us = mean_rtt_us(model, &sites, &bin.edges);
                let bin_random = baseline::random_graph(n, &bin.edges, &mut rng);
                let (bin_knn, _) =
                    baseline::knn_bound(model, &sites, &degrees(n, &bin.edges), &mut rng);
                let (bin_stretch, stretch_landmark) = stretch(model, &sites, &bin.edges, &pairs);
                let landmark = Landmark {
                    landmarks: bin.landmarks,
                    bins: bin.bins,
                    links: bin.edges.len(),
                    components_before_bridging: bin.components_before_bridging,
                    bridges: bin.bridges,
                    mean_link_rtt_ms: ms(bin_us),
                    random_ratio: ratio(bin_us, mean_rtt_us(model, &sites, &bin_random)),
                    optimality_gap: ratio(bin_us, bin_knn),
                    path_stretch: bin_stretch,
                };

                // The k-nearest-neighbour graph with locus's degrees; bridged from its own generator, so
                // that the figures above do not move with it.
                let nearest = baseline::knn_graph(
                    model,
                    &sites,
                    &degree,
                    &mut Rng::new(overlay.seed ^ 0x006b_6e6e_6772_6170),
                );
                (
                    vivaldi.join().expect("the Vivaldi baseline panicked"),
                    landmark,
                    stretch_landmark,
                    bin.edges,
                    nearest,
                )
            });
        let (knn_stretch, stretch_knn) = stretch(model, &sites, &nearest.edges, &pairs);
        let knn_graph = KnnGraph {
            exact: nearest.exact,
            links: nearest.edges.len(),
            mean_degree: 2.0 * nearest.edges.len() as f64 / n.max(1) as f64,
            components_before_bridging: nearest.components_before_bridging,
            bridges: nearest.bridges,
            path_stretch: knn_stretch,
        };
        let group_purity = purity::labels(model, &sites).map(|l| {
            let per = purity::per_group(group_peers.values().map(Vec::as_slice), &l.of);
            (l.source, l.count, per)
        });

        let to_ms = |v: Vec<u64>| v.into_iter().map(|x| x as f64 / 1e3).collect::<Vec<f64>>();
        let edge_ms = |e: &[(usize, usize)]| {
            to_ms(
                e.iter()
                    .filter_map(|&(a, b)| baseline::rtt(model, &sites, a, b))
                    .collect(),
            )
        };
        let kind_ms = |k: LinkKind| {
            rtts.iter()
                .zip(&kinds)
                .filter(|(_, kk)| **kk == k)
                .filter_map(|(r, _)| r.map(|x| x as f64 / 1e3))
                .collect::<Vec<f64>>()
        };
        let samples = Samples {
            locus: edge_ms(&edges),
            random: edge_ms(&random_first),
            knn: to_ms(knn_rtts),
            landmark: edge_ms(&bin_edges),
            vivaldi: edge_ms(&viv_first),
            locus_intra: kind_ms(LinkKind::Intra),
            locus_inter: kind_ms(LinkKind::Inter),
            locus_random: kind_ms(LinkKind::Random),
            locus_cross: kind_ms(LinkKind::Cross),
            stretch_locus,
            stretch_knn,
            stretch_landmark,
            group_sizes: sizes.clone(),
            group_purity,
            join_probes: overlay.joins.iter().map(|j| j.probes).collect(),
        };
        let metrics = Metrics {
            peers: n,
            links: edges.len(),
            intra_links: kinds.iter().filter(|k| **k == LinkKind::Intra).count(),
            inter_links: kinds.iter().filter(|k| **k == LinkKind::Inter).count(),
            random_links: kinds.iter().filter(|k| **k == LinkKind::Random).count(),
            cross_links: kinds.iter().filter(|k| **k == LinkKind::Cross).count(),
            mean_degree,
            mean_link_rtt_ms: ms(mean_us),
            random_mean_link_rtt_ms: ms(random_us),
            random_ratio: ratio(mean_us, random_us),
            knn_bound_ms: ms(knn_us),
            knn_exact: n <= baseline::KNN_EXACT_UP_TO,
            optimality_gap: ratio(mean_us, knn_us),
            path_stretch,
            components: graph::components(n, edges.iter().copied()),
            join,
            groups: Groups {
                count: sizes.len(),
                ungrouped: n - grouped,
                size_mean: mean(sizes_f.iter().copied()),
                size_median: quantile(&sizes_f, 0.5),
                size_max: sizes.last().copied().unwrap_or(0),
                singletons: sizes.iter().filter(|s| **s == 1).count(),
                intra_mean_rtt_ms: ms(kind_mean(LinkKind::Intra)),
                inter_mean_rtt_ms: ms(kind_mean(LinkKind::Inter)),
                random_mean_rtt_ms: ms(kind_mean(LinkKind::Random)),
                cross_mean_rtt_ms: ms(kind_mean(LinkKind::Cross)),
                purity,
                true_localities,
            },
            landmark,
            vivaldi: viv,
            knn_graph: Some(knn_graph),
        };
        (metrics, samples)
    })
}

/// Vivaldi's coordinates at locus's probe budget (`budget` samples per peer) and the
/// ablation's multiples ([`vivaldi::BUDGET_FACTORS`]), each linked to its nearest by estimate,
/// and the generator to go on with. Its own generator, so that the other figures do not move
/// with it, and so that it can run beside them: the embedding is one sequential loop, seconds
/// at 100,000 peers.
fn vivaldi_embedding(
    model: &dyn LatencyModel,
    sites: &[usize],
    mean_degree: f64,
    budget: usize,
    seed: u64,
) -> (Vec<vivaldi::Baseline>, Rng) {
    let mut viv_rng = Rng::new(seed ^ 0x0076_6976_616c_6469);
    let budgets: Vec<usize> = vivaldi::BUDGET_FACTORS
        .iter()
        .map(|&f| budget * f as usize)
        .collect();
    let built: Vec<vivaldi::Baseline> = vivaldi::embed(model, sites, &budgets, &mut viv_rng)
        .into_iter()
        .zip(&budgets)
        .map(|(coords, &samples)| vivaldi::overlay(coords, samples, mean_degree, &mut viv_rng))
        .collect();
    (built, viv_rng)
}

/// The figures of [`vivaldi_embedding`]'s overlays, with the links of the first.
fn vivaldi_baseline(
    model: &dyn LatencyModel,
    sites: &[usize],
    n: usize,
    (built, mut viv_rng): (Vec<vivaldi::Baseline>, Rng),
    pairs: &[(usize, Vec<usize>)],
) -> (Vec<Vivaldi>, Vec<(usize, usize)>) {
    // One scan of every sampled peer's nearest RTTs serves the three bounds.
    let viv_degrees: Vec<Vec<usize>> = built.iter().map(|b| degrees(n, &b.edges)).collect();
    let viv_knn = baseline::knn_bounds(model, sites, &viv_degrees, &mut viv_rng);
    let viv: Vec<Vivaldi> = vivaldi::BUDGET_FACTORS
        .iter()
        .zip(&built)
        .zip(&viv_knn)
        .map(|((&factor, b), &knn)| {
            let us = mean_rtt_us(model, sites, &b.edges);
            let random = baseline::random_graph(n, &b.edges, &mut viv_rng);
            Vivaldi {
                budget_factor: factor,
                samples_per_peer: b.samples_per_peer,
                median_relative_error: vivaldi::median_relative_error(
                    model,
                    sites,
                    &b.coords,
                    vivaldi::ERROR_PAIRS,
                    &mut viv_rng,
                ),
                k: b.k,
                links: b.edges.len(),
                mean_degree: 2.0 * b.edges.len() as f64 / n.max(1) as f64,
                components_before_bridging: b.components_before_bridging,
                bridges: b.bridges,
                components: graph::components(n, b.edges.iter().copied()),
                mean_link_rtt_ms: ms(us),
                random_ratio: ratio(us, mean_rtt_us(model, sites, &random)),
                optimality_gap: ratio(us, knn),
                path_stretch: stretch(model, sites, &b.edges, pairs).0,
            }
        })
        .collect();
    let first = built
        .into_iter()
        .next()
        .map(|b| b.edges)
        .unwrap_or_default();

    (viv, first)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::{Link, PeerEntry};
    use locus_topology::Matrix;

    /// Two sites of three peers 0.2 ms apart, the sites 40 ms apart, and peer 6 alone
    /// 90 ms from everyone; RTTs a little uneven so that paths have a stretch above 1.
    fn world() -> Matrix {
        Matrix::from_fn(7, |a, b| {
            let (a, b) = (a.min(b), a.max(b));
            Some(if a == b {
                0
            } else if b == 6 {
                90_000 + 100 * a as u64
            } else if (a < 3) == (b < 3) {
                200 + 10 * (a + b) as u64
            } else {
                40_000 + 500 * (a + b) as u64
            })
        })
    }

    fn peer(site: usize, group: &str) -> PeerEntry {
        PeerEntry {
            site,
            group: Some(group.to_string()),
            role: "member".into(),
        }
    }

    /// Group `a` holds the first site and one peer of the second; `b` the rest of the
    /// second and the lone peer.
    fn overlay() -> Overlay {
        let groups = ["a", "a", "a", "a", "b", "b", "b"];
        let link = |a, b, k| Link(a, b, k);
        Overlay {
            model: "matrix:test".into(),
            seed: 3,
            time_us: 0,
            peers: (0..7).map(|s| peer(s, groups[s])).collect(),
            links: vec![
                link(0, 1, LinkKind::Intra),
                link(1, 2, LinkKind::Intra),
                link(2, 3, LinkKind::Intra),
                link(4, 5, LinkKind::Intra),
                link(5, 6, LinkKind::Intra),
                link(0, 4, LinkKind::Inter),
            ],
            joins: Vec::new(),
        }
    }

    #[test]
    fn per_group_purity_uses_site_clusters_on_an_anonymous_matrix() {
        let (m, s) = compute(&overlay(), &world(), 2);
        assert_eq!(m.groups.purity, None, "the report keeps ground truth only");
        let (source, localities, groups) = s.group_purity.expect("7 peers are clustered");
        assert_eq!(source, Source::SiteClusters);
        assert_eq!(localities, 3);
        let got: Vec<(usize, f64)> = groups.iter().map(|g| (g.size, g.purity)).collect();
        assert_eq!(got, vec![(4, 0.75), (3, 2.0 / 3.0)]);
        assert_eq!(s.locus_intra.len(), m.intra_links);
        assert_eq!(s.locus_inter, vec![40.0 + 0.5 * 4.0]);
        assert!(s.locus_random.is_empty());
    }

    #[test]
    fn per_pair_stretch_gives_the_reported_quantiles() {
        let (m, s) = compute(&overlay(), &world(), 2);
        let knn = m.knn_graph.expect("computed");
        for (summary, pairs) in [
            (&m.path_stretch, &s.stretch_locus),
            (&m.landmark.path_stretch, &s.stretch_landmark),
            (&knn.path_stretch, &s.stretch_knn),
        ] {
            assert_eq!(pairs.values.len() + pairs.unreachable, summary.pairs);
            assert_eq!(pairs.unreachable, summary.unreachable);
            assert!(pairs.values.windows(2).all(|w| w[0] <= w[1]), "sorted");
            // Below 1 where a path beats the direct RTT (the matrix breaks the triangle
            // inequality, as PlanetLab's does).
            assert!(pairs.values.iter().all(|v| *v > 0.5));
            assert_eq!(quantile(&pairs.values, 0.5), summary.median);
            assert_eq!(quantile(&pairs.values, 0.9), summary.p90);
        }
        assert!(s.stretch_locus.values.iter().any(|v| *v > 1.0));
        // The k-NN graph links each site's peers among themselves, the lone peer (degree 1)
        // to its nearest, peer 0, and leaves the two sites apart until bridged.
        assert!(knn.exact);
        assert_eq!(knn.components_before_bridging, 2);
        assert_eq!(knn.bridges, 1);
    }
}
