//! Group purity per group, for the purity-against-size plot: the share of a group's members
//! in the group's majority locality.
//!
//! A synthetic world knows every peer's locality (its metro). A measured matrix does not: its
//! nodes are anonymous. There the locality is taken from the data as **site clusters**:
//! single-linkage clusters of the peers closer than [`SITE_CLUSTER_MS`] to each other (on the
//! PlanetLab matrix many sites host two or more nodes 0.2 ms apart; at 5 ms its 490 nodes
//! form 144 clusters of at most 22, at 10 ms chains of nearby sites merge into clusters of 102
//! and 69). Site clusters are a labelling for the plot only: the report's `groups.purity`
//! stays the model's ground truth, and stays empty on a matrix.

use std::collections::BTreeMap;

use locus_topology::LatencyModel;

use crate::baseline;

/// Peers closer than this (ms) fall in one site cluster.
pub const SITE_CLUSTER_MS: u64 = 5;
/// Site clusters compare every pair of peers; above this many peers they are not computed.
pub const SITE_CLUSTERS_UP_TO: usize = 5_000;

/// Where a labelling comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The model's ground truth ([`LatencyModel::locality`]: the metro of a synthetic world).
    Model,
    /// Single-linkage clusters of peers closer than [`SITE_CLUSTER_MS`].
    SiteClusters,
}

/// A locality label for every peer (numbered `0..n` as in [`crate::baseline`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelling {
    /// Where the labels come from.
    pub source: Source,
    /// The label of each peer.
    pub of: Vec<u32>,
    /// Distinct labels.
    pub count: usize,
}

/// One group's size and purity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupPurity {
    /// Members.
    pub size: usize,
    /// Share of the members in the group's majority locality.
    pub purity: f64,
}

/// The model's localities when it has them; else site clusters, up to
/// [`SITE_CLUSTERS_UP_TO`] peers; else none.
pub fn labels(model: &dyn LatencyModel, sites: &[usize]) -> Option<Labelling> {
    let truth: Option<Vec<u32>> = sites.iter().map(|s| model.locality(*s)).collect();
    let (source, of) = match truth {
        Some(of) if !of.is_empty() => (Source::Model, of),
        _ if sites.len() <= SITE_CLUSTERS_UP_TO => (
            Source::SiteClusters,
            site_clusters(model, sites, SITE_CLUSTER_MS * 1_000),
        ),
        _ => return None,
    };
    let count = of.iter().collect::<std::collections::BTreeSet<_>>().len();
    Some(Labelling { source, of, count })
}

/// Single-linkage clusters of the peers whose RTT is below `threshold_us`, labelled `0..` in
/// order of their lowest peer.
pub fn site_clusters(model: &dyn LatencyModel, sites: &[usize], threshold_us: u64) -> Vec<u32> {
    let n = sites.len();
    let mut close = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            if baseline::rtt(model, sites, a, b).is_some_and(|r| r < threshold_us) {
                close.push((a, b));
            }
        }
    }
    let roots = crate::graph::component_labels(n, &close);
    let mut dense: BTreeMap<usize, u32> = BTreeMap::new();
    roots
        .iter()
        .map(|r| {
            let next = dense.len() as u32;
            *dense.entry(*r).or_insert(next)
        })
        .collect()
}

/// Size and purity of every group, given each group's members (peer numbers) and a label
/// per peer; in the order of `groups`.
pub fn per_group<'a>(
    groups: impl IntoIterator<Item = &'a [usize]>,
    labels: &[u32],
) -> Vec<GroupPurity> {
    groups
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|members| {
            let mut count: BTreeMap<u32, usize> = BTreeMap::new();
            for &v in members {
                *count.entry(labels[v]).or_default() += 1;
            }
            let majority = count.values().copied().max().unwrap_or(0);
            GroupPurity {
                size: members.len(),
                purity: majority as f64 / members.len() as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_topology::Matrix;

    /// Peers 0–2 a chain 3 ms apart (0–2 themselves 6 ms), 3–4 0.2 ms apart, 5 alone;
    /// everything else 80 ms.
    fn sites6() -> Matrix {
        Matrix::from_fn(6, |a, b| {
            let (a, b) = (a.min(b), a.max(b));
            Some(match (a, b) {
                _ if a == b => 0,
                (0, 1) | (1, 2) => 3_000,
                (0, 2) => 6_000,
                (3, 4) => 200,
                _ => 80_000,
            })
        })
    }

    #[test]
    fn site_clusters_link_chains_below_the_threshold() {
        let m = sites6();
        let sites: Vec<usize> = (0..6).collect();
        assert_eq!(site_clusters(&m, &sites, 5_000), vec![0, 0, 0, 1, 1, 2]);
        assert_eq!(site_clusters(&m, &sites, 1_000), vec![0, 1, 2, 3, 3, 4]);
        let l = labels(&m, &sites).expect("a small matrix is clustered");
        assert_eq!(l.source, Source::SiteClusters);
        assert_eq!(l.count, 3);
    }

    #[test]
    fn purity_is_the_majority_share_of_each_group() {
        let labels = [0, 0, 0, 1, 1, 2];
        let groups: [&[usize]; 3] = [&[0, 1, 3], &[3, 4], &[0, 2, 4, 5]];
        let p = per_group(groups, &labels);
        let got: Vec<(usize, f64)> = p.iter().map(|g| (g.size, g.purity)).collect();
        assert_eq!(got, vec![(3, 2.0 / 3.0), (2, 1.0), (4, 0.5)]);
    }
}
