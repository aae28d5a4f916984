//! Plain graph algorithms over peers numbered `0..n`: components, shortest paths, quantiles.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Number of connected components of the graph on `0..n` with `edges`.
pub fn components(n: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> usize {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut count = n;
    for (a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra] = rb;
            count -= 1;
        }
    }
    count
}

/// The component label of every vertex (labels are representatives, not dense).
pub fn component_labels(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra] = rb;
        }
    }
    (0..n).map(|v| find(&mut parent, v)).collect()
}

/// Adjacency lists with edge weights (µs), compressed.
#[derive(Debug)]
pub struct Weighted {
    start: Vec<usize>,
    to: Vec<(u32, u64)>,
}

impl Weighted {
    /// Builds the undirected graph on `0..n` from weighted edges.
    pub fn new(n: usize, edges: &[(usize, usize, u64)]) -> Self {
        let mut degree = vec![0usize; n + 1];
        for &(a, b, _) in edges {
            degree[a] += 1;
            degree[b] += 1;
        }
        let mut start = vec![0usize; n + 1];
        for v in 0..n {
            start[v + 1] = start[v] + degree[v];
        }
        let mut fill = start.clone();
        let mut to = vec![(0u32, 0u64); start[n]];
        for &(a, b, w) in edges {
            to[fill[a]] = (b as u32, w);
            fill[a] += 1;
            to[fill[b]] = (a as u32, w);
            fill[b] += 1;
        }
        Weighted { start, to }
    }

    /// Shortest-path distances from `source` (`u64::MAX`: unreachable).
    pub fn dijkstra(&self, source: usize) -> Vec<u64> {
        let n = self.start.len() - 1;
        let mut dist = vec![u64::MAX; n];
        let mut heap = BinaryHeap::new();
        dist[source] = 0;
        heap.push(Reverse((0u64, source as u32)));
        while let Some(Reverse((d, v))) = heap.pop() {
            let v = v as usize;
            if d > dist[v] {
                continue;
            }
            for &(u, w) in &self.to[self.start[v]..self.start[v + 1]] {
                let nd = d + w;
                if nd < dist[u as usize] {
                    dist[u as usize] = nd;
                    heap.push(Reverse((nd, u)));
                }
            }
        }
        dist
    }
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank; 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Mean of the values; 0 when empty.
pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_paths() {
        assert_eq!(components(5, [(0, 1), (1, 2), (3, 4)]), 2);
        assert_eq!(components(3, []), 3);
        let g = Weighted::new(4, &[(0, 1, 5), (1, 2, 5), (0, 2, 20)]);
        assert_eq!(g.dijkstra(0), vec![0, 5, 10, u64::MAX]);
        let labels = component_labels(4, &[(0, 1), (2, 3)]);
        assert_eq!(labels[0], labels[1]);
        assert_ne!(labels[1], labels[2]);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 5.0);
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(quantile(&v, 1.0), 10.0);
        assert_eq!(mean([1.0, 2.0, 3.0]), 2.0);
    }
}
