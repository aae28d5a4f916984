//! The overlays locus is compared with, built on the same peers in the same run (DESIGN §5):
//!
//! - **random** — the configuration model: the locus overlay's degree sequence, stubs shuffled
//!   and paired (self-loops dropped), so only the choice of neighbours differs;
//! - **k-nearest bound** — every peer's `deg(v)` smallest RTTs to other running peers: no graph
//!   with these degrees has a lower mean link RTT;
//! - **landmark binning** (Ratnasamy, Handley, Karp, Shenker, "Topologically-aware overlay
//!   construction and server selection", INFOCOM 2002) — see [`landmark_binning`];
//! - **Vivaldi** — in [`crate::vivaldi`], bridged by [`bridge`] like landmark binning.
//!
//! Peers are numbered `0..n` here, in the order of [`crate::overlay::Overlay::peers`]; `sites`
//! maps them to the latency model.

use std::collections::HashSet;

use locus_core::Rng;
use locus_topology::LatencyModel;

/// Landmarks used by landmark binning unless told otherwise; the paper's experiments use 4
/// to 12, and 8 keeps bins small at 100,000 peers while every peer still measures only 8 RTTs.
pub const DEFAULT_LANDMARKS: usize = 8;
/// Latency level boundaries of landmark binning, in ms: the paper's three levels
/// `[0, 100)`, `[100, 200)` and `200+`.
pub const LEVELS_MS: [u64; 2] = [100, 200];
/// Up to this many peers the k-nearest bound is exact; above it, it is estimated from this
/// many sampled peers (each still against every other peer).
pub const KNN_EXACT_UP_TO: usize = 4_000;

/// RTT between peers `a` and `b` in µs, if the model has it.
pub fn rtt(model: &dyn LatencyModel, sites: &[usize], a: usize, b: usize) -> Option<u64> {
    model.rtt_us(sites[a], sites[b])
}

/// One random graph with the degree sequence of `edges`.
pub fn random_graph(n: usize, edges: &[(usize, usize)], rng: &mut Rng) -> Vec<(usize, usize)> {
    let _ = n;
    let mut stubs: Vec<usize> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    rng.shuffle(&mut stubs);
    stubs
        .chunks_exact(2)
        .filter(|c| c[0] != c[1])
        .map(|c| (c[0], c[1]))
        .collect()
}

/// The k-nearest bound: `(bound in µs, the per-peer nearest RTTs of the peers it looked at)`.
/// Exact up to [`KNN_EXACT_UP_TO`] peers; beyond, the sum over peers is estimated from a
/// uniform sample of that many peers, scaled by `n / sample`.
pub fn knn_bound(
    model: &dyn LatencyModel,
    sites: &[usize],
    degree: &[usize],
    rng: &mut Rng,
) -> (f64, Vec<u64>) {
    let total_degree: usize = degree.iter().sum();
    if total_degree == 0 {
        return (0.0, Vec::new());
    }
    let (sample, rows) = nearest_rows(model, sites, degree, rng);
    let sum: u128 = rows
        .iter()
        .flat_map(|(_, row)| row)
        .map(|&x| u128::from(x))
        .sum();
    let nearest_rtts = rows.into_iter().flat_map(|(_, row)| row).collect();
    let scale = sites.len() as f64 / sample as f64;
    (sum as f64 * scale / total_degree as f64, nearest_rtts)
}

/// The k-nearest bound (µs) for each of several degree sequences on the same peers, from one
/// scan: every sampled peer's nearest RTTs, as many as its largest degree among them, are
/// found once and summed per sequence. Sampled as [`knn_bound`]; the bound of each sequence
/// equals what [`knn_bound`] gives for it on the same sample.
pub fn knn_bounds(
    model: &dyn LatencyModel,
    sites: &[usize],
    degrees: &[Vec<usize>],
    rng: &mut Rng,
) -> Vec<f64> {
    let n = sites.len();
    let most: Vec<usize> = (0..n)
        .map(|v| degrees.iter().map(|d| d[v]).max().unwrap_or(0))
        .collect();
    if most.iter().all(|&k| k == 0) {
        return vec![0.0; degrees.len()];
    }
    let (sample, rows) = nearest_rows(model, sites, &most, rng);
    let scale = n as f64 / sample as f64;
    degrees
        .iter()
        .map(|degree| {
            let total: usize = degree.iter().sum();
            if total == 0 {
                return 0.0;
            }
            let sum: u128 = rows
                .iter()
                .flat_map(|(v, row)| &row[..degree[*v].min(row.len())])
                .map(|&x| u128::from(x))
                .sum();
            sum as f64 * scale / total as f64
        })
        .collect()
}

/// The peers the k-nearest bound looks at (all, or a uniform sample of [`KNN_EXACT_UP_TO`]),
/// and for each with `want[v] > 0` its `want[v]` smallest RTTs to other peers, ascending:
/// `(sample size, [(peer, rtts)])`.
fn nearest_rows(
    model: &dyn LatencyModel,
    sites: &[usize],
    want: &[usize],
    rng: &mut Rng,
) -> (usize, Vec<(usize, Vec<u64>)>) {
    let n = sites.len();
    let mut sample: Vec<usize> = (0..n).collect();
    if n > KNN_EXACT_UP_TO {
        rng.shuffle(&mut sample);
        sample.truncate(KNN_EXACT_UP_TO);
        sample.sort_unstable();
    }
    // On a model with localities a peer's nearest are found locality by locality, nearest
    // first by the model's floor, until the next locality's floor reaches the k-th smallest
    // RTT found: exact, and at 100,000 peers a few metros scanned instead of all of them.
    let pools = Pools::new(model, sites);
    // Each sampled peer scans every other: split the sample over the machine's cores and join
    // the parts in order, so the result does not depend on the split.
    let part = |chunk: &[usize]| {
        let mut rows = Vec::new();
        let mut row: Vec<u64> = Vec::with_capacity(n);
        let mut order: Vec<(u64, usize)> = Vec::new();
        for &v in chunk {
            let k = want[v];
            if k == 0 {
                continue;
            }
            row.clear();
            match &pools {
                Some(p) => p.scan(model, sites, v, k, &mut row, &mut order),
                None => row.extend(
                    (0..n)
                        .filter(|&u| u != v)
                        .filter_map(|u| rtt(model, sites, v, u)),
                ),
            }
            let k = k.min(row.len());
            if k == 0 {
                continue;
            }
            row.select_nth_unstable(k - 1);
            let mut nearest = row[..k].to_vec();
            nearest.sort_unstable();
            rows.push((v, nearest));
        }
        rows
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    let chunk = sample.len().div_ceil(threads).max(1);
    let rows: Vec<(usize, Vec<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = sample
            .chunks(chunk)
            .map(|c| scope.spawn(move || part(c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a knn worker panicked"))
            .collect()
    });
    (sample.len(), rows)
}

/// The peers of each locality, for [`nearest_rows`] on a model that has localities and a floor
/// between them ([`LatencyModel::locality_floor_us`]).
struct Pools {
    /// Locality label and its peers, by label.
    of: Vec<(u32, Vec<usize>)>,
    /// Each peer's index into `of`.
    pool: Vec<usize>,
}

impl Pools {
    /// `None` when some peer has no locality, or the model bounds nothing between its first
    /// two localities (then every peer scans every other).
    fn new(model: &dyn LatencyModel, sites: &[usize]) -> Option<Pools> {
        let mut by: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (v, s) in sites.iter().enumerate() {
            by.entry(model.locality(*s)?).or_default().push(v);
        }
        let labels: Vec<u32> = by.keys().copied().take(2).collect();
        if labels.len() < 2 || model.locality_floor_us(labels[0], labels[1]) == 0 {
            return None;
        }
        let of: Vec<(u32, Vec<usize>)> = by.into_iter().collect();
        let mut pool = vec![0; sites.len()];
        for (i, (_, peers)) in of.iter().enumerate() {
            for &v in peers {
                pool[v] = i;
            }
        }
        Some(Pools { of, pool })
    }

    /// Puts into `row` the RTTs from `v` to every peer that can be among its `k` nearest (and
    /// maybe some more): its own locality's, then each other locality's in order of floor
    /// while the floor is below the `k`-th smallest RTT so far.
    fn scan(
        &self,
        model: &dyn LatencyModel,
        sites: &[usize],
        v: usize,
        k: usize,
        row: &mut Vec<u64>,
        order: &mut Vec<(u64, usize)>,
    ) {
        let own = self.pool[v];
        let label = self.of[own].0;
        order.clear();
        order.push((0, own));
        order.extend(
            self.of
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != own)
                .map(|(i, (l, _))| (model.locality_floor_us(label, *l), i)),
        );
        order[1..].sort_unstable();
        let mut kth = u64::MAX;
        for &(floor, i) in order.iter() {
            if floor >= kth {
                break;
            }
            row.extend(
                self.of[i]
                    .1
                    .iter()
                    .filter(|&&u| u != v)
                    .filter_map(|&u| rtt(model, sites, v, u)),
            );
            if row.len() >= k {
                let (_, x, _) = row.select_nth_unstable(k - 1);
                kth = *x;
            }
        }
    }
}

/// The k-nearest-neighbour graph and how it was built.
#[derive(Debug, Clone)]
pub struct Nearest {
    /// Its links, undirected, deduplicated, bridges last.
    pub edges: Vec<(usize, usize)>,
    /// Whether every peer chose among all peers, or (above [`KNN_EXACT_UP_TO`] peers, on a
    /// model with localities) among the peers of its own locality.
    pub exact: bool,
    /// Components before bridging.
    pub components_before_bridging: usize,
    /// Links added to connect those components.
    pub bridges: usize,
}

/// The graph behind the k-nearest bound: every peer `v` links to its `degree[v]` nearest
/// peers (a link chosen from both ends counts once, so mean degree comes out at least the
/// bound's), bridged as the other baselines ([`bridge`]) so that path stretch is defined.
///
/// Up to [`KNN_EXACT_UP_TO`] peers, or on a model without localities, each peer scans every
/// other. Above, on a model with localities, each peer chooses among the peers of its own
/// locality (every peer when its locality has too few): `O(n × locality size)` instead of
/// `O(n²)`, which keeps a 100,000-peer run's metrics within seconds. On the synthetic worlds
/// a metro's peers are nearer each other than to other metros but for the jitter, so this
/// differs from the exact graph only at metro edges; [`Nearest::exact`] says which was built.
pub fn knn_graph(
    model: &dyn LatencyModel,
    sites: &[usize],
    degree: &[usize],
    rng: &mut Rng,
) -> Nearest {
    let n = sites.len();
    let mut pools: std::collections::BTreeMap<Option<u32>, Vec<usize>> = Default::default();
    if n > KNN_EXACT_UP_TO {
        for (v, s) in sites.iter().enumerate() {
            pools.entry(model.locality(*s)).or_default().push(v);
        }
    }
    let exact = pools.len() <= 1;
    let pool_of: Vec<Option<u32>> = if exact {
        Vec::new()
    } else {
        sites.iter().map(|s| model.locality(*s)).collect()
    };
    let everyone: Vec<usize> = (0..n).collect();
    let part = |chunk: &[usize]| {
        let mut edges = Vec::new();
        let mut row: Vec<(u64, usize)> = Vec::new();
        for &v in chunk {
            let k = degree[v];
            if k == 0 {
                continue;
            }
            let pool = pool_of
                .get(v)
                .and_then(|l| pools.get(l))
                .filter(|p| p.len() > k)
                .unwrap_or(&everyone);
            row.clear();
            row.extend(
                pool.iter()
                    .filter(|&&u| u != v)
                    .filter_map(|&u| rtt(model, sites, v, u).map(|r| (r, u))),
            );
            let k = k.min(row.len());
            if k == 0 {
                continue;
            }
            row.select_nth_unstable(k - 1);
            edges.extend(row[..k].iter().map(|&(_, u)| (v.min(u), v.max(u))));
        }
        edges
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    let chunk = n.div_ceil(threads).max(1);
    let mut edges: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = everyone
            .chunks(chunk)
            .map(|c| scope.spawn(move || part(c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a knn graph worker panicked"))
            .collect()
    });
    edges.sort_unstable();
    edges.dedup();
    let (components_before_bridging, bridges) = bridge(n, &mut edges, rng);
    Nearest {
        edges,
        exact,
        components_before_bridging,
        bridges,
    }
}

/// The landmark-binning overlay and how it was built.
#[derive(Debug, Clone)]
pub struct Binning {
    /// Its links, undirected, deduplicated.
    pub edges: Vec<(usize, usize)>,
    /// Landmarks used.
    pub landmarks: usize,
    /// Distinct bins (landmark order plus levels) among the peers.
    pub bins: usize,
    /// Components before bridging.
    pub components_before_bridging: usize,
    /// Links added to connect those components.
    pub bridges: usize,
}

/// Landmark binning as an overlay with the locus overlay's mean degree.
///
/// `landmarks` peers are drawn at random; every peer measures its RTT to each and takes as
/// its bin the landmarks ordered nearest first, each with its latency level ([`LEVELS_MS`]),
/// as in the paper. Peers are sorted by bin, so that peers sharing a longer prefix of the bin
/// (the same nearest landmarks at the same levels) sit next to each other. Each peer then
/// opens `m` links (`m` = half the target mean degree, randomly rounded so that the mean comes
/// out right) to random peers of its own bin, widening to the longest shared prefix that has
/// enough peers when its bin is too small — the paper's rule that peers in one bin are close,
/// with nearest bins as the fallback. Components left over are bridged to the largest with
/// one random link each (counted in [`Binning::bridges`]).
pub fn landmark_binning(
    model: &dyn LatencyModel,
    sites: &[usize],
    mean_degree: f64,
    landmarks: usize,
    rng: &mut Rng,
) -> Binning {
    let n = sites.len();
    let landmarks = landmarks.min(n);
    let mut chosen: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut chosen);
    chosen.truncate(landmarks);
    let width = 2 * landmarks;
    let mut keys: Vec<u8> = vec![0; n * width];
    let mut order: Vec<(u64, usize)> = Vec::with_capacity(landmarks);
    for v in 0..n {
        order.clear();
        order.extend(
            chosen
                .iter()
                .enumerate()
                .map(|(l, &p)| (rtt(model, sites, v, p).unwrap_or(u64::MAX), l)),
        );
        order.sort_unstable();
        for (pos, &(us, l)) in order.iter().enumerate() {
            let level = LEVELS_MS.iter().filter(|&&b| us >= b * 1000).count();
            keys[v * width + 2 * pos] = l as u8;
            keys[v * width + 2 * pos + 1] = level as u8;
        }
    }
    let key = |v: usize| &keys[v * width..(v + 1) * width];
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
    let mut position = vec![0usize; n];
    for (p, &v) in sorted.iter().enumerate() {
        position[v] = p;
    }
    let bins = 1
        + (1..n)
            .filter(|&p| key(sorted[p - 1]) != key(sorted[p]))
            .count();
    let half = (mean_degree / 2.0).max(0.0);
    let mut set: HashSet<(usize, usize)> = HashSet::new();
    for (v, &p) in position.iter().enumerate() {
        let m = half.floor() as usize + usize::from(rng.unit() < half.fract());
        if m == 0 || n < 2 {
            continue;
        }
        // Links to random peers of the longest shared prefix; where that run is too small or
        // already linked to, the prefix shortens (nearest bins first).
        let mut picked = 0;
        for len in (0..=width).rev() {
            let prefix = &key(v)[..len];
            let lo = sorted[..p].partition_point(|&u| &key(u)[..len] < prefix);
            let hi = p + sorted[p..].partition_point(|&u| &key(u)[..len] <= prefix);
            if hi - lo <= m {
                continue;
            }
            let mut tries = 0;
            while picked < m && tries < 4 * m {
                tries += 1;
                let u = sorted[lo + rng.below((hi - lo) as u64) as usize];
                if u != v && set.insert((v.min(u), v.max(u))) {
                    picked += 1;
                }
            }
            if picked == m {
                break;
            }
        }
    }
    let mut edges: Vec<(usize, usize)> = set.into_iter().collect();
    edges.sort_unstable();
    let (components_before_bridging, bridges) = bridge(n, &mut edges, rng);
    Binning {
        edges,
        landmarks,
        bins,
        components_before_bridging,
        bridges,
    }
}

/// Bridges the components of `edges` to the largest (ties: the lowest label) with one link
/// each, between random peers of the two; returns the components before and the links added.
/// Both baselines that can come out split (landmark binning and Vivaldi) are bridged this
/// way, so that their path stretch is defined and their link RTTs carry a comparable cost.
pub fn bridge(n: usize, edges: &mut Vec<(usize, usize)>, rng: &mut Rng) -> (usize, usize) {
    let labels = crate::graph::component_labels(n, edges);
    let mut members: std::collections::BTreeMap<usize, Vec<usize>> =
        std::collections::BTreeMap::new();
    for (v, &c) in labels.iter().enumerate() {
        members.entry(c).or_default().push(v);
    }
    let components_before_bridging = members.len();
    let mut bridges = 0;
    if let Some((&largest, _)) = members
        .iter()
        .max_by_key(|(c, m)| (m.len(), std::cmp::Reverse(**c)))
    {
        let big = &members[&largest];
        for (c, m) in &members {
            if *c != largest {
                let a = m[rng.below(m.len() as u64) as usize];
                let b = big[rng.below(big.len() as u64) as usize];
                edges.push((a.min(b), a.max(b)));
                bridges += 1;
            }
        }
    }
    (components_before_bridging, bridges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_topology::Matrix;

    /// Two clusters 100 ms apart, 1 ms inside, with a little symmetric noise so that
    /// landmark orders are not all ties.
    fn clusters(n: usize) -> Matrix {
        Matrix::from_fn(n, |a, b| {
            let noise = (a * b % 97) as u64;
            Some(if a == b {
                0
            } else if (a < n / 2) == (b < n / 2) {
                1_000 + noise
            } else {
                100_000 + noise
            })
        })
    }

    /// The locality-by-locality scan finds exactly the nearest RTTs a full scan finds, for
    /// every peer and several `k`, in a synthetic world with jitter and access delays, and
    /// scans far fewer peers.
    #[test]
    fn the_scan_by_locality_finds_the_same_nearest_as_a_full_scan() {
        let spec = "continents=2,metros=15,peers=600,seed=3,jitter_frac=0.3"
            .parse()
            .unwrap();
        let m = locus_topology::Synthetic::new(spec).unwrap();
        let sites: Vec<usize> = (0..600).collect();
        let pools = Pools::new(&m, &sites).expect("a synthetic model has localities and floors");
        let (mut row, mut order) = (Vec::new(), Vec::new());
        let mut scanned = 0;
        for v in 0..600 {
            let mut full: Vec<u64> = (0..600)
                .filter(|&u| u != v)
                .map(|u| m.rtt_us(v, u).unwrap())
                .collect();
            full.sort_unstable();
            for k in [1, 6, 40, 599] {
                row.clear();
                pools.scan(&m, &sites, v, k, &mut row, &mut order);
                scanned += row.len();
                row.sort_unstable();
                assert_eq!(row[..k], full[..k], "peer {v}, k {k}");
            }
        }
        assert!(scanned < 600 * 599 * 4 / 3, "{scanned} RTTs scanned");
    }

    #[test]
    fn knn_bound_is_the_nearest_rtts() {
        let m = clusters(10);
        let sites: Vec<usize> = (0..10).collect();
        let (bound, rtts) = knn_bound(&m, &sites, &[2; 10], &mut Rng::new(1));
        let mut exact = 0;
        for v in 0..10 {
            let mut row: Vec<u64> = (0..10)
                .filter(|u| *u != v)
                .map(|u| m.rtt_us(v, u).unwrap())
                .collect();
            row.sort_unstable();
            exact += row[0] + row[1];
        }
        assert_eq!(bound, exact as f64 / 20.0);
        assert!(bound < 1_100.0);
        assert_eq!(rtts.len(), 20);
    }

    #[test]
    fn knn_bounds_match_one_bound_per_degree_sequence() {
        let m = clusters(30);
        let sites: Vec<usize> = (0..30).collect();
        let degrees: Vec<Vec<usize>> = vec![vec![2; 30], (0..30).map(|v| v % 5).collect()];
        let both = knn_bounds(&m, &sites, &degrees, &mut Rng::new(1));
        for (d, b) in degrees.iter().zip(&both) {
            assert_eq!(*b, knn_bound(&m, &sites, d, &mut Rng::new(1)).0);
        }
        assert!(
            both.iter().all(|b| (1_000.0..1_100.0).contains(b)),
            "{both:?}"
        );
    }

    #[test]
    fn knn_graph_links_each_peer_to_its_nearest_and_bridges_the_clusters() {
        let m = clusters(20);
        let sites: Vec<usize> = (0..20).collect();
        let g = knn_graph(&m, &sites, &[2; 20], &mut Rng::new(1));
        assert!(g.exact);
        // Everyone's two nearest are in its own cluster: two components, one bridge.
        assert_eq!(g.components_before_bridging, 2);
        assert_eq!(g.bridges, 1);
        let across = g
            .edges
            .iter()
            .filter(|(a, b)| (*a < 10) != (*b < 10))
            .count();
        assert_eq!(across, 1);
        for v in 0..20 {
            let mut row: Vec<(u64, usize)> = (0..20)
                .filter(|u| *u != v)
                .map(|u| (m.rtt_us(v, u).unwrap(), u))
                .collect();
            row.sort_unstable();
            for &(_, u) in &row[..2] {
                assert!(g.edges.contains(&(v.min(u), v.max(u))), "{v} misses {u}");
            }
        }
        assert_eq!(crate::graph::components(20, g.edges.iter().copied()), 1);
    }

    #[test]
    fn knn_graph_above_the_exact_size_chooses_within_metros_and_matches_the_exact_choice() {
        let spec: locus_topology::SyntheticSpec = "continents=2,metros=20,peers=4100,seed=3"
            .parse()
            .expect("spec");
        let m = locus_topology::Synthetic::new(spec).expect("world");
        let n = m.len();
        assert!(n > KNN_EXACT_UP_TO);
        let sites: Vec<usize> = (0..n).collect();
        let degree: Vec<usize> = (0..n).map(|v| 1 + v % 6).collect();
        let g = knn_graph(&m, &sites, &degree, &mut Rng::new(2));
        assert!(!g.exact);
        let set: HashSet<(usize, usize)> = g.edges.iter().copied().collect();
        // On a synthetic world a peer's nearest are in its own metro: the choice within
        // metros is the exact one (checked against a full scan for every 41st peer).
        for v in (0..n).step_by(41) {
            let mut row: Vec<(u64, usize)> = (0..n)
                .filter(|u| *u != v)
                .map(|u| (m.rtt_us(v, u).unwrap(), u))
                .collect();
            row.sort_unstable();
            for &(_, u) in &row[..degree[v]] {
                assert!(set.contains(&(v.min(u), v.max(u))), "{v} misses {u}");
            }
        }
        assert_eq!(crate::graph::components(n, g.edges.iter().copied()), 1);
    }

    #[test]
    fn random_graph_keeps_degrees() {
        let edges: Vec<(usize, usize)> = (0..50).map(|i| (i, (i + 1) % 50)).collect();
        let r = random_graph(50, &edges, &mut Rng::new(3));
        let mut degree = [0; 50];
        for (a, b) in &r {
            degree[*a] += 1;
            degree[*b] += 1;
        }
        assert!(r.len() >= 45, "few self-loops: {}", r.len());
        assert!(degree.iter().all(|d| *d <= 2));
    }

    #[test]
    fn binning_links_mostly_within_clusters_and_connects() {
        let m = clusters(200);
        let sites: Vec<usize> = (0..200).collect();
        let b = landmark_binning(&m, &sites, 6.0, 8, &mut Rng::new(5));
        let across = b
            .edges
            .iter()
            .filter(|(a, c)| (*a < 100) != (*c < 100))
            .count();
        // Only bridges between components may cross.
        assert!(
            across <= b.bridges,
            "{across} links cross the clusters ({} bins, {} bridges)",
            b.bins,
            b.bridges
        );
        assert!(across * 10 < b.edges.len());
        let mean_degree = 2.0 * b.edges.len() as f64 / 200.0;
        assert!(
            (5.0..=7.0).contains(&mean_degree),
            "mean degree {mean_degree}"
        );
        assert_eq!(crate::graph::components(200, b.edges.iter().copied()), 1);
    }
}
