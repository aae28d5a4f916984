//! Where the map draws each group: a plane embedding of the RTTs the leaders measured.
//!
//! The directory knows RTTs only along inter-group links, so the distance between two groups is
//! the shortest path over the links (the RTT a message relayed by the leaders would see).
//! Landmark MDS (de Silva and Tenenbaum, 2004) turns these into positions: `k` landmarks chosen
//! farthest-first, one Dijkstra from each, classical MDS of the landmarks' `k × k` distances,
//! and every other group placed from its distances to the landmarks. The cost is `k` Dijkstras
//! and `O(n·k)`, so it stays bounded at the directory's group cap; with `n ≤ k` every group is
//! a landmark and it is exactly classical MDS over all pairs.
//!
//! An embedding is only defined up to rotation, reflection and translation, and one group more
//! can flip it: each new one is turned onto the previous positions (orthogonal Procrustes over
//! the groups both have), so the picture does not jump between updates.
//!
//! Pure computation, no I/O: the map runs it on a blocking thread.

use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// Most landmarks: 48 Dijkstras over the group graph. Measured (release build, a loaded 2-core
/// machine, a few links a group): 0.12 s at 10,000 groups, 2.5 s at 100,000, nearly all of it
/// in the Dijkstras; the map pauses four times that long between layouts. Up to 48 groups
/// every group is a landmark (classical MDS).
pub(crate) const MAX_LANDMARKS: usize = 48;

/// The distance given to two groups that no chain of links joins, as a multiple of the longest
/// distance that does: parts of the overlay cut off from each other are drawn apart, but on the
/// same scale.
const UNREACHABLE_FACTOR: f64 = 1.5;

/// The distance between unreachable groups when no two groups are linked at all, in ms.
const UNLINKED_MS: f64 = 100.0;

/// The group graph: nodes `0..n`, undirected links weighted by RTT in milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    adj: Vec<Vec<(u32, f64)>>,
}

impl Graph {
    /// `n` groups and no links.
    pub(crate) fn new(n: usize) -> Self {
        Graph {
            adj: vec![Vec::new(); n],
        }
    }

    /// Groups.
    pub(crate) fn len(&self) -> usize {
        self.adj.len()
    }

    /// Links `a` and `b` with an RTT of `rtt_ms`; links to itself and negative or non-finite
    /// RTTs are ignored.
    pub(crate) fn link(&mut self, a: usize, b: usize, rtt_ms: f64) {
        if a == b || !rtt_ms.is_finite() || rtt_ms < 0.0 {
            return;
        }
        self.adj[a].push((b as u32, rtt_ms));
        self.adj[b].push((a as u32, rtt_ms));
    }

    /// Shortest-path distances from `from` to every group; `INFINITY` where no path leads.
    fn dijkstra(&self, from: usize) -> Vec<f64> {
        #[derive(PartialEq)]
        struct Next(f64, u32);
        impl Eq for Next {}
        impl Ord for Next {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                // Smallest distance first out of the max-heap.
                other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
            }
        }
        impl PartialOrd for Next {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        let mut dist = vec![f64::INFINITY; self.len()];
        let mut heap = BinaryHeap::new();
        dist[from] = 0.0;
        heap.push(Next(0.0, from as u32));
        while let Some(Next(d, v)) = heap.pop() {
            let v = v as usize;
            if d > dist[v] {
                continue;
            }
            for &(w, rtt) in &self.adj[v] {
                let nd = d + rtt;
                if nd < dist[w as usize] {
                    dist[w as usize] = nd;
                    heap.push(Next(nd, w));
                }
            }
        }
        dist
    }
}

/// Positions of the groups, in milliseconds of RTT.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Embedding {
    /// One position per group, in the graph's order.
    pub(crate) positions: Vec<[f64; 2]>,
    /// Landmarks used; equal to the number of groups when it was classical MDS over all pairs.
    pub(crate) landmarks: usize,
}

/// Embeds `graph` in the plane, turned onto `previous` positions where `keys` (one per node)
/// name groups that had one.
pub(crate) fn embed<K: Eq + Hash>(
    graph: &Graph,
    keys: &[K],
    previous: &HashMap<K, [f64; 2]>,
) -> Embedding {
    let n = graph.len();
    debug_assert_eq!(keys.len(), n);
    if n == 0 {
        return Embedding {
            positions: Vec::new(),
            landmarks: 0,
        };
    }
    let (landmarks, mut rows) = landmarks(graph, MAX_LANDMARKS.min(n));
    let k = landmarks.len();
    // Groups that no chain of links joins: far apart, on the same scale.
    let longest = rows
        .iter()
        .flatten()
        .copied()
        .filter(|d| d.is_finite())
        .fold(0.0_f64, f64::max);
    let unreachable = if longest > 0.0 {
        longest * UNREACHABLE_FACTOR
    } else {
        UNLINKED_MS
    };
    for d in rows.iter_mut().flatten() {
        if !d.is_finite() {
            *d = unreachable;
        }
        *d *= *d;
    }
    // Classical MDS of the landmarks: double-centred squared distances, top two eigenpairs.
    let sq = |i: usize, j: usize| rows[i][landmarks[j]];
    let col_mean: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|i| sq(i, j)).sum::<f64>() / k as f64)
        .collect();
    let all_mean = col_mean.iter().sum::<f64>() / k as f64;
    let mut b = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..k {
            b[i][j] = -0.5 * (sq(i, j) - col_mean[i] - col_mean[j] + all_mean);
        }
    }
    let (values, vectors) = top_two_eigen(b);
    // Every group (the landmarks included, which this reproduces) from its squared distances
    // to the landmarks: x = -1/2 · L# · (δ − δ_mean), L# the pseudo-inverse of the landmarks'
    // coordinates.
    let mut positions = vec![[0.0; 2]; n];
    for (axis, (&value, vector)) in values.iter().zip(&vectors).enumerate() {
        if value <= f64::EPSILON {
            continue;
        }
        let scale = -0.5 / value.sqrt();
        for (a, p) in positions.iter_mut().enumerate() {
            p[axis] = scale
                * (0..k)
                    .map(|j| vector[j] * (rows[j][a] - col_mean[j]))
                    .sum::<f64>();
        }
    }
    align(&mut positions, keys, previous);
    Embedding {
        positions,
        landmarks: k,
    }
}

/// `k` landmarks chosen farthest-first from group 0 (a group no path reaches is farthest), and
/// each one's distances to every group.
fn landmarks(graph: &Graph, k: usize) -> (Vec<usize>, Vec<Vec<f64>>) {
    let n = graph.len();
    let mut chosen = Vec::with_capacity(k);
    let mut rows = Vec::with_capacity(k);
    let mut nearest = vec![f64::INFINITY; n];
    let mut is_landmark = vec![false; n];
    let mut next = 0;
    while chosen.len() < k {
        let row = graph.dijkstra(next);
        for (m, d) in nearest.iter_mut().zip(&row) {
            *m = m.min(*d);
        }
        is_landmark[next] = true;
        chosen.push(next);
        rows.push(row);
        // The farthest group from every landmark so far; the first on ties, so that the same
        // directory always gives the same landmarks.
        let mut best: Option<(usize, f64)> = None;
        for (i, &d) in nearest.iter().enumerate() {
            if !is_landmark[i] && best.is_none_or(|(_, b)| d > b) {
                best = Some((i, d));
            }
        }
        match best {
            Some((i, _)) => next = i,
            None => break,
        }
    }
    (chosen, rows)
}

/// The two largest eigenvalues of the symmetric matrix `a` and their unit eigenvectors, by
/// cyclic Jacobi rotations (`a` is at most `MAX_LANDMARKS` square).
fn top_two_eigen(mut a: Vec<Vec<f64>>) -> ([f64; 2], [Vec<f64>; 2]) {
    let k = a.len();
    let mut v: Vec<Vec<f64>> = (0..k)
        .map(|i| (0..k).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let scale: f64 = a
        .iter()
        .flatten()
        .map(|x| x * x)
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..64 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= scale * 1e-22 {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                if a[p][q].abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                // The smaller rotation angle that zeroes a[p][q] (`signum` of 0 is 1).
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (arp, arq) = (row[p], row[q]);
                    row[p] = c * arp - s * arq;
                    row[q] = s * arp + c * arq;
                }
                let (above, below) = a.split_at_mut(q);
                for (apr, aqr) in above[p].iter_mut().zip(below[0].iter_mut()) {
                    (*apr, *aqr) = (c * *apr - s * *aqr, s * *apr + c * *aqr);
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| a[y][y].total_cmp(&a[x][x]));
    let pick = |m: Option<&usize>| match m {
        Some(&m) => (a[m][m], v.iter().map(|row| row[m]).collect()),
        None => (0.0, vec![0.0; k]),
    };
    let (l1, v1) = pick(order.first());
    let (l2, v2) = pick(order.get(1));
    ([l1, l2], [v1, v2])
}

/// Moves `positions` rigidly (rotation, maybe a reflection, translation; never a change of
/// scale, which is milliseconds) to lie as close as possible to the previous positions of the
/// groups that had one.
fn align<K: Eq + Hash>(positions: &mut [[f64; 2]], keys: &[K], previous: &HashMap<K, [f64; 2]>) {
    let pairs: Vec<([f64; 2], [f64; 2])> = keys
        .iter()
        .zip(positions.iter())
        .filter_map(|(key, &p)| previous.get(key).map(|&q| (p, q)))
        .collect();
    if pairs.is_empty() {
        // Nothing to stay close to: centre the picture on the origin.
        let c = centroid(positions.iter().copied());
        for p in positions.iter_mut() {
            *p = [p[0] - c[0], p[1] - c[1]];
        }
        return;
    }
    let cp = centroid(pairs.iter().map(|(p, _)| *p));
    let cq = centroid(pairs.iter().map(|(_, q)| *q));
    // The best rotation of the centred points onto the centred previous ones, with and without
    // a reflection first: the one that brings them closer wins.
    let best_angle = |flip: f64| {
        let (mut dot, mut cross) = (0.0, 0.0);
        for (p, q) in &pairs {
            let (px, py) = (p[0] - cp[0], flip * (p[1] - cp[1]));
            let (qx, qy) = (q[0] - cq[0], q[1] - cq[1]);
            dot += px * qx + py * qy;
            cross += px * qy - py * qx;
        }
        (cross.atan2(dot), dot.hypot(cross))
    };
    let (angle, fit) = best_angle(1.0);
    let (angle_flipped, fit_flipped) = best_angle(-1.0);
    let (flip, angle) = if fit_flipped > fit + 1e-9 {
        (-1.0, angle_flipped)
    } else {
        (1.0, angle)
    };
    let (sin, cos) = angle.sin_cos();
    for p in positions.iter_mut() {
        let (x, y) = (p[0] - cp[0], flip * (p[1] - cp[1]));
        *p = [cos * x - sin * y + cq[0], sin * x + cos * y + cq[1]];
    }
}

fn centroid(points: impl Iterator<Item = [f64; 2]>) -> [f64; 2] {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for p in points {
        sx += p[0];
        sy += p[1];
        n += 1;
    }
    if n == 0 {
        [0.0, 0.0]
    } else {
        [sx / n as f64, sy / n as f64]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
        (a[0] - b[0]).hypot(a[1] - b[1])
    }

    /// Points of the plane linked to their `k` nearest, RTT the distance: a graph whose
    /// shortest paths are close to the true distances.
    fn plane(points: &[[f64; 2]], k: usize) -> Graph {
        let mut g = Graph::new(points.len());
        for (i, &p) in points.iter().enumerate() {
            let mut near: Vec<(f64, usize)> = points
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, &q)| (dist(p, q), j))
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0));
            for &(d, j) in near.iter().take(k) {
                g.link(i, j, d);
            }
        }
        g
    }

    /// Deterministic pseudo-random points in a square of side `side`.
    fn scatter(n: usize, side: f64, seed: u64) -> Vec<[f64; 2]> {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n).map(|_| [next() * side, next() * side]).collect()
    }

    #[test]
    fn near_groups_land_nearer_than_far_ones() {
        // Three regions as in three-regions.yaml: 2 ms inside, 90/150/175 ms between, each
        // region linked to the next by one link between two of its groups.
        let mut g = Graph::new(9);
        for r in 0..3 {
            g.link(3 * r, 3 * r + 1, 2.0);
            g.link(3 * r + 1, 3 * r + 2, 2.0);
            g.link(3 * r, 3 * r + 2, 2.0);
        }
        g.link(0, 3, 90.0); // eu–us
        g.link(4, 6, 150.0); // us–asia
        g.link(7, 1, 175.0); // asia–eu
        let keys: Vec<usize> = (0..9).collect();
        let e = embed(&g, &keys, &HashMap::new());
        assert_eq!(e.landmarks, 9, "few groups: classical MDS over all pairs");
        let p = &e.positions;
        let within = (0..3)
            .flat_map(|r| [(3 * r, 3 * r + 1), (3 * r + 1, 3 * r + 2)])
            .map(|(a, b)| dist(p[a], p[b]))
            .fold(0.0, f64::max);
        let across = (0..3)
            .flat_map(|a| (3..9).map(move |b| (a, b)))
            .map(|(a, b)| dist(p[a], p[b]))
            .fold(f64::INFINITY, f64::min);
        assert!(
            within * 10.0 < across,
            "groups of a region within {within:.1} ms, regions at least {across:.1} apart"
        );
        // And the regions keep their order: eu–us nearer than eu–asia.
        let (eu, us, asia) = (p[0], p[3], p[6]);
        assert!(dist(eu, us) < dist(eu, asia), "{p:?}");
        assert!(
            (dist(eu, us) - 92.0).abs() < 30.0,
            "eu–us is about 90 ms: {}",
            dist(eu, us)
        );
    }

    #[test]
    fn a_plane_is_recovered_up_to_a_rigid_motion() {
        let points = scatter(30, 200.0, 7);
        let g = plane(&points, 7);
        let keys: Vec<usize> = (0..points.len()).collect();
        // Aligned onto the truth, the embedding is the truth, give or take the detours of the
        // shortest paths.
        let truth: HashMap<usize, [f64; 2]> = points.iter().copied().enumerate().collect();
        let e = embed(&g, &keys, &truth);
        let err = e
            .positions
            .iter()
            .zip(&points)
            .map(|(a, b)| dist(*a, *b))
            .sum::<f64>()
            / points.len() as f64;
        assert!(err < 12.0, "mean error {err:.1} in a 200 ms square");
    }

    #[test]
    fn one_group_more_moves_the_others_little() {
        // Six nearest each, about eight links a group: what leaders aiming at six links have.
        let mut points = scatter(40, 300.0, 11);
        let g = plane(&points, 6);
        let keys: Vec<usize> = (0..points.len()).collect();
        let first = embed(&g, &keys, &HashMap::new());
        let previous: HashMap<usize, [f64; 2]> =
            first.positions.iter().copied().enumerate().collect();
        // Without alignment a new embedding may come out turned or mirrored; with it, the old
        // groups stay where they were.
        points.push([150.0, 150.0]);
        let g = plane(&points, 6);
        let keys: Vec<usize> = (0..points.len()).collect();
        let second = embed(&g, &keys, &previous);
        // The new group's links shorten some paths, so the others do move, a little.
        let moves: Vec<f64> = (0..40)
            .map(|i| dist(first.positions[i], second.positions[i]))
            .collect();
        let max = moves.iter().copied().fold(0.0, f64::max);
        let mean = moves.iter().sum::<f64>() / moves.len() as f64;
        assert!(
            max < 20.0 && mean < 6.0,
            "old groups moved up to {max:.1} ms, {mean:.1} on average, in a 300 ms square"
        );
        // The same directory twice: not a hair.
        let again = embed(
            &g,
            &keys,
            &second.positions.iter().copied().enumerate().collect(),
        );
        let moved = (0..41)
            .map(|i| dist(second.positions[i], again.positions[i]))
            .fold(0.0, f64::max);
        assert!(moved < 1e-6, "moved {moved}");
    }

    #[test]
    fn many_groups_use_landmarks_and_keep_near_nearer() {
        let points = scatter(600, 1000.0, 3);
        let g = plane(&points, 6);
        let keys: Vec<usize> = (0..points.len()).collect();
        let e = embed(&g, &keys, &HashMap::new());
        assert_eq!(e.landmarks, MAX_LANDMARKS);
        // Of pairs of pairs whose true distances differ by at least a factor of two, the
        // embedding orders nearly all the same way.
        let (mut agree, mut total) = (0, 0);
        for i in (0..600).step_by(7) {
            for j in (1..600).step_by(13) {
                let (a, b) = (i, (i + j) % 600);
                let (c, d) = ((i * 31 + 5) % 600, (j * 17 + 3) % 600);
                let (t1, t2) = (dist(points[a], points[b]), dist(points[c], points[d]));
                if t1 * 2.0 < t2 || t2 * 2.0 < t1 {
                    total += 1;
                    let (e1, e2) = (
                        dist(e.positions[a], e.positions[b]),
                        dist(e.positions[c], e.positions[d]),
                    );
                    if (t1 < t2) == (e1 < e2) {
                        agree += 1;
                    }
                }
            }
        }
        assert!(total > 500);
        assert!(
            agree as f64 > 0.95 * total as f64,
            "{agree} of {total} orders kept"
        );
    }

    #[test]
    fn unlinked_and_single_groups_get_finite_positions() {
        for n in [1, 2, 5] {
            let g = Graph::new(n);
            let keys: Vec<usize> = (0..n).collect();
            let e = embed(&g, &keys, &HashMap::new());
            assert_eq!(e.positions.len(), n);
            assert!(e.positions.iter().flatten().all(|x| x.is_finite()));
        }
        // Two parts cut off from each other: finite, and apart.
        let mut g = Graph::new(4);
        g.link(0, 1, 5.0);
        g.link(2, 3, 5.0);
        let e = embed(&g, &[0, 1, 2, 3], &HashMap::new());
        assert!(e.positions.iter().flatten().all(|x| x.is_finite()));
        assert!(dist(e.positions[0], e.positions[1]) < dist(e.positions[0], e.positions[2]));
        assert!(
            embed(&Graph::new(0), &[] as &[usize], &HashMap::new())
                .positions
                .is_empty()
        );
    }
}
