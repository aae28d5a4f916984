//! Sites: which region a peer sits in, and nodes placed in regions as a latency model.

use std::fmt;
use std::str::FromStr;

use super::AUTO;
use crate::LatencyModel;

/// Why a site could not be resolved to a region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SiteError {
    /// The site spec is empty.
    #[error("empty site: give a region name or `auto`")]
    Empty,
    /// The site names a region the topology does not have.
    #[error("unknown region `{name}`, known regions: {}", known.join(", "))]
    UnknownRegion {
        /// The name asked for.
        name: String,
        /// The topology's regions, in file order.
        known: Vec<String>,
    },
    /// A node is assigned a region index the topology does not have.
    #[error("node {node} is assigned region {region}, but the topology has {regions} regions")]
    RegionIndex {
        /// The node.
        node: usize,
        /// The region index it was given.
        region: usize,
        /// Number of regions.
        regions: usize,
    },
}

/// Where a peer sits: a named region, or `auto` to pick one from a hash of the peer id so that
/// identical scaled replicas spread over the regions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SiteSpec {
    /// The region of this name.
    Named(String),
    /// A region chosen by hashing the peer id.
    Auto,
}

impl FromStr for SiteSpec {
    type Err = SiteError;

    /// `"auto"` is [`SiteSpec::Auto`]; any other non-empty string (trimmed) names a region.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Err(SiteError::Empty),
            AUTO => Ok(Self::Auto),
            name => Ok(Self::Named(name.to_string())),
        }
    }
}

impl fmt::Display for SiteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(name) => f.write_str(name),
            Self::Auto => f.write_str(AUTO),
        }
    }
}

/// Nodes placed in the regions of a [`Topology`](super::Topology); built by
/// [`Topology::model`](super::Topology::model). The RTT is the
/// base RTT between the regions, without jitter; locality is the region index.
#[derive(Debug, Clone)]
pub struct SiteModel {
    pub(super) regions: usize,
    /// Row-major regions × regions base RTT in µs.
    pub(super) base_us: Vec<u64>,
    pub(super) assignments: Vec<usize>,
}

impl SiteModel {
    /// Region of node `i`.
    pub fn region_of(&self, i: usize) -> Option<usize> {
        self.assignments.get(i).copied()
    }
}

impl LatencyModel for SiteModel {
    fn len(&self) -> usize {
        self.assignments.len()
    }

    fn rtt_us(&self, a: usize, b: usize) -> Option<u64> {
        let (ra, rb) = (*self.assignments.get(a)?, *self.assignments.get(b)?);
        if a == b {
            return Some(0);
        }
        Some(self.base_us[ra * self.regions + rb])
    }

    fn locality(&self, i: usize) -> Option<u32> {
        self.assignments.get(i).map(|&r| r as u32)
    }
}
