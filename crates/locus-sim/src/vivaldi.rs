//! Vivaldi network coordinates (Dabek, Cox, Kaashoek, Morris, "Vivaldi: a decentralized
//! network coordinate system", SIGCOMM 2004) as the baseline Serf, Consul and memberlist users
//! would pick instead of locus: every peer embeds itself from RTT samples to random peers,
//! then links to the peers nearest by *estimated* distance.
//!
//! The update follows the paper's adaptive-timestep algorithm with error weighting and
//! heights, as memberlist's `coordinate` package implements it, in a 2-D space plus a height.
//! Left out on purpose: memberlist's latency filter (a median of the last 3 RTTs per peer —
//! the model's RTTs carry no noise to filter), its adjustment term and gravity (both shift
//! distances by per-peer constants or pull the whole space back to the origin; neither changes
//! much which peers are nearest to whom at the sample budgets used here).
//!
//! Peers are numbered `0..n`, `sites` maps them to the latency model (as in
//! [`crate::baseline`]).

use std::collections::HashSet;

use locus_core::Rng;
use locus_topology::LatencyModel;

use crate::baseline;

/// Weight of a new sample in a peer's error estimate (memberlist's `VivaldiCE`).
pub const CE: f64 = 0.25;
/// Largest step towards a sample, as a share of the prediction error (memberlist's
/// `VivaldiCC`).
pub const CC: f64 = 0.25;
/// A peer's error estimate starts here and never exceeds it (memberlist's
/// `VivaldiErrorMax`): a new peer trusts its own coordinate least.
pub const ERROR_MAX: f64 = 1.5;
/// Smallest height, ms (memberlist's `HeightMin`, 10 µs): a height of zero would stop the
/// height from ever growing, since it scales with itself.
pub const HEIGHT_MIN_MS: f64 = 0.010;
/// Budgets run in every metrics computation, as multiples of locus's mean probes per join:
/// the baseline itself and the ablation at twice and four times its samples.
pub const BUDGET_FACTORS: [u32; 3] = [1, 2, 4];
/// Random pairs on which the relative prediction error is measured.
pub const ERROR_PAIRS: usize = 4_096;
/// Below this (ms) a distance or RTT counts as zero, as memberlist's `zeroThreshold` (1 µs).
const ZERO_MS: f64 = 1e-3;

/// One peer's Vivaldi state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coord {
    /// Position in the plane, ms.
    pub vec: [f64; 2],
    /// Height, ms: the access-link delay added to every distance from this peer.
    pub height: f64,
    /// Relative error estimate of the peer's own predictions (0 = perfect).
    pub error: f64,
}

impl Default for Coord {
    fn default() -> Self {
        Self {
            vec: [0.0; 2],
            height: HEIGHT_MIN_MS,
            error: ERROR_MAX,
        }
    }
}

impl Coord {
    /// Estimated RTT to `other`, ms: the plane distance plus both heights.
    pub fn distance(&self, other: &Coord) -> f64 {
        plane(self.vec, other.vec) + self.height + other.height
    }

    /// One Vivaldi update on an RTT sample (ms) to a peer whose coordinate is `other`.
    ///
    /// The sample's weight `w = e_i / (e_i + e_j)` lets a peer that trusts its coordinate less
    /// than the other's move more (the adaptive timestep `δ = cc·w`); the error estimate is a
    /// moving average of the sample's relative error with the same weight. `rng` gives the
    /// direction when the two coordinates coincide, as they all do at the start.
    pub fn update(&mut self, other: &Coord, rtt_ms: f64, rng: &mut Rng) {
        let rtt = rtt_ms.max(ZERO_MS);
        let dist = self.distance(other);
        let total = (self.error + other.error).max(ZERO_MS);
        let weight = self.error / total;
        let wrongness = (dist - rtt).abs() / rtt;
        self.error = (CE * weight * wrongness + self.error * (1.0 - CE * weight)).min(ERROR_MAX);
        let force = CC * weight * (rtt - dist);
        let d = [self.vec[0] - other.vec[0], self.vec[1] - other.vec[1]];
        let mag = d[0].hypot(d[1]);
        let unit = if mag > ZERO_MS {
            [d[0] / mag, d[1] / mag]
        } else {
            let angle = std::f64::consts::TAU * rng.unit();
            [angle.cos(), angle.sin()]
        };
        self.vec[0] += unit[0] * force;
        self.vec[1] += unit[1] * force;
        // The height takes its share of the force in proportion to the heights' share of the
        // plane distance, as memberlist does; with coinciding coordinates there is no share.
        if mag > ZERO_MS {
            self.height =
                ((self.height + other.height) * force / mag + self.height).max(HEIGHT_MIN_MS);
        }
    }
}

fn plane(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Runs Vivaldi on every peer: rounds in each of which every peer in turn samples the RTT to
/// one random other peer and updates against that peer's current coordinate; returns the
/// coordinates after each of `checkpoints` rounds (ascending), so that the ablation's larger
/// budgets continue the same run instead of starting over. Rounds keep the order fair (no peer
/// runs ahead on a stale space) and deterministic. Pairs the model has no RTT for spend the
/// sample without an update.
pub fn embed(
    model: &dyn LatencyModel,
    sites: &[usize],
    checkpoints: &[usize],
    rng: &mut Rng,
) -> Vec<Vec<Coord>> {
    let n = sites.len();
    let mut coords = vec![Coord::default(); n];
    let mut out = Vec::with_capacity(checkpoints.len());
    let mut done = 0;
    for &until in checkpoints {
        while n >= 2 && done < until {
            for i in 0..n {
                let mut j = rng.below(n as u64 - 1) as usize;
                if j >= i {
                    j += 1;
                }
                if let Some(us) = baseline::rtt(model, sites, i, j) {
                    let other = coords[j];
                    coords[i].update(&other, us as f64 / 1e3, rng);
                }
            }
            done += 1;
        }
        out.push(coords.clone());
    }
    out
}

/// For every peer, the `k` other peers nearest by estimated distance, nearest first (ties by
/// index, so the lists are the same on every machine and for any number of threads).
///
/// A uniform grid over the plane, about four peers per cell on average, each cell's peers
/// sorted by height, searched ring by ring around the peer's cell. A cell is skipped when its
/// nearest corner plus both smallest heights cannot beat the `k`-th estimate so far, and a
/// cell's scan stops at the first peer too high to; the rings stop when a peer in ring
/// `r + 1`, at least `r` cells away in the plane, cannot either. At 100,000 peers this takes
/// seconds where comparing all pairs would be 10^10 distances.
pub fn nearest(coords: &[Coord], k: usize) -> Vec<Vec<usize>> {
    let n = coords.len();
    let k = k.min(n.saturating_sub(1));
    if n == 0 {
        return Vec::new();
    }
    let grid = Grid::new(coords);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    let chunk = n.div_ceil(threads).max(1);
    let queries: Vec<usize> = (0..n).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = queries
            .chunks(chunk)
            .map(|c| {
                let grid = &grid;
                scope.spawn(move || {
                    c.iter()
                        .map(|&v| grid.nearest(coords, v, k))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a nearest-peer worker panicked"))
            .collect()
    })
}

/// The peers bucketed into square cells of the plane, for [`nearest`].
struct Grid {
    lo: [f64; 2],
    cell: f64,
    dims: [usize; 2],
    /// Cell `c`'s peers are `items[start[c]..start[c + 1]]`, lowest height first.
    start: Vec<usize>,
    items: Vec<usize>,
    /// Smallest height in each cell.
    min_height: Vec<f64>,
    /// Smallest height of all.
    lowest: f64,
}

impl Grid {
    fn new(coords: &[Coord]) -> Self {
        let n = coords.len();
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for c in coords {
            for d in 0..2 {
                lo[d] = lo[d].min(c.vec[d]);
                hi[d] = hi[d].max(c.vec[d]);
            }
        }
        let side = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        let per_axis = ((n as f64 / 4.0).sqrt().ceil() as usize).max(1);
        let cell = (side / per_axis as f64).max(ZERO_MS);
        let dims = [0, 1].map(|d| ((hi[d] - lo[d]) / cell) as usize + 1);
        let mut grid = Self {
            lo,
            cell,
            dims,
            start: vec![0; dims[0] * dims[1] + 1],
            items: Vec::with_capacity(n),
            min_height: vec![f64::INFINITY; dims[0] * dims[1]],
            lowest: coords
                .iter()
                .map(|c| c.height)
                .fold(f64::INFINITY, f64::min),
        };
        let mut by_cell: Vec<(usize, usize)> = coords
            .iter()
            .enumerate()
            .map(|(v, c)| (grid.index(grid.cell_of(c)), v))
            .collect();
        by_cell.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(coords[a.1].height.total_cmp(&coords[b.1].height))
                .then(a.1.cmp(&b.1))
        });
        for &(c, v) in &by_cell {
            grid.start[c + 1] += 1;
            grid.min_height[c] = grid.min_height[c].min(coords[v].height);
            grid.items.push(v);
        }
        for c in 0..grid.min_height.len() {
            grid.start[c + 1] += grid.start[c];
        }
        grid
    }

    fn cell_of(&self, c: &Coord) -> [usize; 2] {
        [0, 1].map(|d| (((c.vec[d] - self.lo[d]) / self.cell) as usize).min(self.dims[d] - 1))
    }

    fn index(&self, [x, y]: [usize; 2]) -> usize {
        y * self.dims[0] + x
    }

    /// Plane distance from `p` to the nearest point of cell `[x, y]`.
    fn gap(&self, p: [f64; 2], [x, y]: [usize; 2]) -> f64 {
        let axis = |d: usize, i: usize| {
            let (a, b) = (
                self.lo[d] + i as f64 * self.cell,
                self.lo[d] + (i + 1) as f64 * self.cell,
            );
            (a - p[d]).max(p[d] - b).max(0.0)
        };
        axis(0, x).hypot(axis(1, y))
    }

    fn nearest(&self, coords: &[Coord], v: usize, k: usize) -> Vec<usize> {
        if k == 0 {
            return Vec::new();
        }
        let me = &coords[v];
        let [cx, cy] = self.cell_of(me);
        let worse = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        let kth = |best: &Vec<(f64, usize)>| {
            if best.len() == k {
                best[k - 1].0
            } else {
                f64::INFINITY
            }
        };
        for r in 0..self.dims[0].max(self.dims[1]) {
            let (x0, x1) = (cx.saturating_sub(r), (cx + r).min(self.dims[0] - 1));
            let (y0, y1) = (cy.saturating_sub(r), (cy + r).min(self.dims[1] - 1));
            for y in y0..=y1 {
                for x in x0..=x1 {
                    // Only the ring's border: the inside was searched at smaller r.
                    if x.abs_diff(cx) != r && y.abs_diff(cy) != r {
                        continue;
                    }
                    let c = self.index([x, y]);
                    let floor = self.gap(me.vec, [x, y]) + me.height;
                    // `>` rather than `>=`: an equal estimate may still win on the index.
                    if floor + self.min_height[c] > kth(&best) {
                        continue;
                    }
                    for &u in &self.items[self.start[c]..self.start[c + 1]] {
                        if floor + coords[u].height > kth(&best) {
                            break;
                        }
                        if u == v {
                            continue;
                        }
                        let e = (me.distance(&coords[u]), u);
                        if best.len() == k && worse(&e, &best[k - 1]).is_ge() {
                            continue;
                        }
                        let at = best.partition_point(|b| worse(b, &e).is_lt());
                        best.insert(at, e);
                        best.truncate(k);
                    }
                }
            }
            if r as f64 * self.cell + me.height + self.lowest > kth(&best) {
                break;
            }
        }
        best.into_iter().map(|(_, u)| u).collect()
    }
}

/// The Vivaldi overlay and how it was built.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The coordinates after the samples.
    pub coords: Vec<Coord>,
    /// Its links, undirected, deduplicated, bridges included.
    pub edges: Vec<(usize, usize)>,
    /// RTT samples every peer took.
    pub samples_per_peer: usize,
    /// Nearest peers each peer linked to.
    pub k: usize,
    /// Components before bridging.
    pub components_before_bridging: usize,
    /// Links added to connect them.
    pub bridges: usize,
}

/// Vivaldi as an overlay with the locus overlay's mean degree: every peer links to its `k`
/// nearest by estimated distance on `coords` (from [`embed`] after `samples` rounds).
///
/// `k` is the one whose graph (the union of every peer's `k` links, undirected) has the mean
/// degree closest to `mean_degree` (ties to the smaller `k`): a peer also gets the links of
/// the peers that picked it, so `k = mean_degree` would give Vivaldi about half as many links
/// again as locus, and with them a shorter path stretch that says nothing about locality.
/// Components left over are bridged to the largest with one random link each, as landmark
/// binning's are ([`baseline::bridge`]).
pub fn overlay(coords: Vec<Coord>, samples: usize, mean_degree: f64, rng: &mut Rng) -> Baseline {
    let n = coords.len();
    let k_max = (mean_degree.round() as usize).clamp(1, n.saturating_sub(1).max(1));
    let lists = nearest(&coords, k_max);
    // Links after each k: the union grows by every peer's k-th nearest.
    let mut set: HashSet<(usize, usize)> = HashSet::new();
    let mut k = 0;
    let mut best_gap = f64::INFINITY;
    for rank in 0..k_max {
        for (v, list) in lists.iter().enumerate() {
            if let Some(&u) = list.get(rank) {
                set.insert((v.min(u), v.max(u)));
            }
        }
        let gap = (2.0 * set.len() as f64 / n.max(1) as f64 - mean_degree).abs();
        if gap < best_gap {
            best_gap = gap;
            k = rank + 1;
        }
    }
    let mut edges: Vec<(usize, usize)> = lists
        .iter()
        .enumerate()
        .flat_map(|(v, list)| list.iter().take(k).map(move |&u| (v.min(u), v.max(u))))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let (components_before_bridging, bridges) = baseline::bridge(n, &mut edges, rng);
    Baseline {
        coords,
        edges,
        samples_per_peer: if n < 2 { 0 } else { samples },
        k,
        components_before_bridging,
        bridges,
    }
}

/// Median of `|estimate − rtt| ÷ rtt` over `pairs` random pairs with a nonzero RTT.
pub fn median_relative_error(
    model: &dyn LatencyModel,
    sites: &[usize],
    coords: &[Coord],
    pairs: usize,
    rng: &mut Rng,
) -> f64 {
    let n = sites.len();
    if n < 2 {
        return 0.0;
    }
    let mut errors: Vec<f64> = (0..pairs)
        .filter_map(|_| {
            let a = rng.below(n as u64) as usize;
            let b = rng.below(n as u64) as usize;
            let rtt = baseline::rtt(model, sites, a, b).filter(|r| a != b && *r > 0)? as f64 / 1e3;
            Some((coords[a].distance(&coords[b]) - rtt).abs() / rtt)
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    crate::graph::quantile(&errors, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_topology::Matrix;

    /// `n` points spread over a 100 ms square, RTT = their Euclidean distance: a world that a
    /// plane embeds exactly.
    fn square(n: usize, seed: u64) -> (Matrix, Vec<[f64; 2]>) {
        let mut rng = Rng::new(seed);
        let points: Vec<[f64; 2]> = (0..n)
            .map(|_| [rng.unit() * 100.0, rng.unit() * 100.0])
            .collect();
        let m = Matrix::from_fn(n, |a, b| {
            Some((plane(points[a], points[b]) * 1e3).round() as u64)
        });
        (m, points)
    }

    #[test]
    fn converges_on_a_world_that_embeds_in_the_plane() {
        let (m, _) = square(300, 4);
        let sites: Vec<usize> = (0..300).collect();
        let mut rng = Rng::new(9);
        let runs = embed(&m, &sites, &[0, 200], &mut rng);
        let before = median_relative_error(&m, &sites, &runs[0], 2_000, &mut rng);
        // With random peers the error falls slowly at first (on 400 such points: 0.43 after
        // 10 samples per peer, 0.26 after 60, 0.11 after 100, 0.01 after 200): the heights
        // absorb the early errors and shrink back only as the plane settles.
        let coords = &runs[1];
        let after = median_relative_error(&m, &sites, coords, 2_000, &mut rng);
        eprintln!("median relative error {before:.3} at the origin, {after:.3} after 200 samples");
        assert!(before > 0.9, "all at the origin: error {before}");
        assert!(
            after < 0.1,
            "median relative error {after} after 200 samples per peer"
        );
        // Heights stay near their minimum when the plane alone explains every RTT.
        let mut heights: Vec<f64> = coords.iter().map(|c| c.height).collect();
        heights.sort_by(f64::total_cmp);
        assert!(heights[150] < 2.0, "median height {} ms", heights[150]);
    }

    #[test]
    fn embedding_is_deterministic_for_a_seed_and_checkpoints_continue_it() {
        let (m, _) = square(50, 1);
        let sites: Vec<usize> = (0..50).collect();
        let a = embed(&m, &sites, &[20], &mut Rng::new(3));
        let b = embed(&m, &sites, &[10, 20], &mut Rng::new(3));
        assert_eq!(a[0], b[1], "a checkpoint does not change the run");
        assert_ne!(b[0], b[1]);
    }

    #[test]
    fn grid_search_finds_the_same_neighbours_as_comparing_all_pairs() {
        let mut rng = Rng::new(7);
        // Clusters of different spreads and heights, so that cells are uneven and heights
        // reorder neighbours.
        let coords: Vec<Coord> = (0..600)
            .map(|i| {
                let centre = [(i % 5) as f64 * 40.0, (i % 3) as f64 * 70.0];
                let spread = 1.0 + (i % 7) as f64 * 3.0;
                Coord {
                    vec: [
                        centre[0] + rng.unit() * spread,
                        centre[1] + rng.unit() * spread,
                    ],
                    height: HEIGHT_MIN_MS + rng.unit() * 8.0,
                    error: 0.1,
                }
            })
            .collect();
        let fast = nearest(&coords, 9);
        for (v, got) in fast.iter().enumerate() {
            let mut all: Vec<(f64, usize)> = (0..coords.len())
                .filter(|u| *u != v)
                .map(|u| (coords[v].distance(&coords[u]), u))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all.iter().take(9).map(|e| e.1).collect();
            assert_eq!(got, &want, "peer {v}");
        }
    }

    #[test]
    fn overlay_links_nearby_peers_with_the_target_degree_in_one_component() {
        let (m, points) = square(400, 2);
        let sites: Vec<usize> = (0..400).collect();
        let mut rng = Rng::new(5);
        let coords = embed(&m, &sites, &[200], &mut rng).remove(0);
        let b = overlay(coords, 200, 7.0, &mut rng);
        let mean_degree = 2.0 * b.edges.len() as f64 / 400.0;
        assert!(
            (6.0..=8.0).contains(&mean_degree),
            "mean degree {mean_degree} with k {}",
            b.k
        );
        assert!(
            b.k < 7,
            "the union of k links each has more than k per peer"
        );
        assert_eq!(crate::graph::components(400, b.edges.iter().copied()), 1);
        // Links are short against random pairs in the square (mean distance ≈ 52 ms).
        let mean_link = b
            .edges
            .iter()
            .map(|&(a, c)| plane(points[a], points[c]))
            .sum::<f64>()
            / b.edges.len() as f64;
        assert!(mean_link < 15.0, "mean link {mean_link} ms");
    }
}
