//! Latency models for locus: how far apart two peers are, in round-trip time.
//!
//! On one machine every container is microseconds from every other, so test clusters emulate
//! distance in the application (DESIGN §4), and the discrete-event simulator (`locus-sim`,
//! DESIGN §5) needs a distance for every pair it probes among up to 100,000 peers. Both ask the
//! same question of a [`LatencyModel`]: the RTT between node `a` and node `b`, and, where the
//! model knows it, the ground-truth locality of a node (to score group purity).
//!
//! Three models live here, one module each:
//! - [`matrix`] — a measured all-pairs RTT matrix such as the PlanetLab and Seattle data sets in
//!   the shared `data/latency/` folder: a loader that says which line and column is wrong, plus
//!   helpers to symmetrise and cut a matrix down.
//! - [`synthetic`] — generated continents, metros and peers with ground truth, described by a
//!   short spec string (`"continents=5,metros=20,peers=10000,seed=7"`). RTTs are computed on the
//!   fly from coordinates, so memory stays O(N) at 100,000 peers.
//! - [`topology`] — the YAML topology file of an emulated test cluster: named regions placed by
//!   coordinates or an explicit RTT table, and the mapping of a peer to its site (`auto` or a
//!   region name).
//!
//! The crate has no runtime and no randomness of its own: synthetic models derive everything
//! from their seed, and jitter in a topology takes a uniform sample from the caller.

#![warn(missing_docs)]

mod hash;
pub mod matrix;
pub mod synthetic;
pub mod topology;

use std::time::Duration;

pub use matrix::Matrix;
pub use synthetic::{Synthetic, SyntheticSpec};
pub use topology::{SiteSpec, Topology};

/// A source of round-trip times between `len()` nodes, indexed `0..len()`.
///
/// Implementations answer in O(1) without allocating, since the simulator asks millions of times.
pub trait LatencyModel: Send + Sync {
    /// Number of nodes (peers or sites) the model covers.
    fn len(&self) -> usize;

    /// Whether the model covers no node at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Round-trip time from `a` to `b` in microseconds: `Some(0)` when `a == b`, `None` when
    /// either index is out of range or the model has no value for the pair.
    fn rtt_us(&self, a: usize, b: usize) -> Option<u64>;

    /// [`rtt_us`](Self::rtt_us) as a [`Duration`].
    fn rtt(&self, a: usize, b: usize) -> Option<Duration> {
        self.rtt_us(a, b).map(Duration::from_micros)
    }

    /// Ground-truth locality label of node `i` (e.g. its metro or region), if the model has one.
    fn locality(&self, i: usize) -> Option<u32> {
        let _ = i;
        None
    }

    /// A lower bound on the RTT between any node of locality `a` and any node of locality `b`,
    /// µs, so that a search for a node's nearest can skip whole localities. The default, 0,
    /// bounds nothing.
    fn locality_floor_us(&self, a: u32, b: u32) -> u64 {
        let _ = (a, b);
        0
    }

    /// A split of the nodes into at most `parts` regions that a simulator can run side by side,
    /// with a lower bound on the RTT between nodes of different regions: what happens in one
    /// region reaches another no sooner than half that bound. The default is one region.
    fn regions(&self, parts: usize) -> Regions {
        let _ = parts;
        Regions::one(self.len())
    }
}

/// Nodes split into regions (see [`LatencyModel::regions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regions {
    /// Region of each node.
    pub of: Vec<u16>,
    /// Number of regions; every entry of `of` is below it.
    pub count: usize,
    /// No two nodes of different regions are closer than this, µs (`u64::MAX` with one region).
    pub min_cross_rtt_us: u64,
}

impl Regions {
    /// Every one of `len` nodes in a single region.
    pub fn one(len: usize) -> Self {
        Regions {
            of: vec![0; len],
            count: 1,
            min_cross_rtt_us: u64::MAX,
        }
    }
}

impl<M: LatencyModel + ?Sized> LatencyModel for &M {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn rtt_us(&self, a: usize, b: usize) -> Option<u64> {
        (**self).rtt_us(a, b)
    }
    fn locality(&self, i: usize) -> Option<u32> {
        (**self).locality(i)
    }
    fn regions(&self, parts: usize) -> Regions {
        (**self).regions(parts)
    }
}

impl<M: LatencyModel + ?Sized> LatencyModel for Box<M> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn rtt_us(&self, a: usize, b: usize) -> Option<u64> {
        (**self).rtt_us(a, b)
    }
    fn locality(&self, i: usize) -> Option<u32> {
        (**self).locality(i)
    }
    fn regions(&self, parts: usize) -> Regions {
        (**self).regions(parts)
    }
}

impl<M: LatencyModel + ?Sized> LatencyModel for std::sync::Arc<M> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn rtt_us(&self, a: usize, b: usize) -> Option<u64> {
        (**self).rtt_us(a, b)
    }
    fn locality(&self, i: usize) -> Option<u32> {
        (**self).locality(i)
    }
    fn regions(&self, parts: usize) -> Regions {
        (**self).regions(parts)
    }
}

/// Path of a file in the shared data folder beside the repository, for tests.
#[cfg(test)]
pub(crate) fn shared_data(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/latency")
        .join(file)
}
