//! The snapshot a run leaves behind, as written to `overlay.json`: every figure in
//! `metrics.json` is recomputed from it and the latency model alone.

use serde::{Deserialize, Serialize};

/// What kind of overlay connection a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// Between two members of one group.
    Intra,
    /// Between peers of two groups near each other, whatever their roles (a cross link).
    Cross,
    /// Between the leaders of two groups, opened for closeness (Figure 11).
    Inter,
    /// Between the leaders of two groups, opened against partitions rather than for closeness:
    /// a random link [0039] or a bridge the rendezvous asked for.
    Random,
}

/// One running peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    /// Its index in the latency model (the matrix row).
    pub site: usize,
    /// Its group id, if it is in a group.
    pub group: Option<String>,
    /// `leader`, `member`, `electing`, `joining` or `idle`.
    pub role: String,
}

/// An undirected overlay link between the peers at two sites, `a < b`; written as
/// `[a, b, "intra"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Link(pub usize, pub usize, pub LinkKind);

/// The cost of one peer's first join walk (DESIGN §5, join cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRecord {
    /// The joining peer's site.
    pub site: usize,
    /// When the walk started, virtual µs.
    pub at_us: u64,
    /// `Measure` probes sent, every sample counted.
    pub probes: u32,
    /// All calls sent during the walk.
    pub rpcs: u32,
    /// Groups whose locality test ran.
    pub tested_groups: u32,
    /// From the join command to entering or founding a group, virtual µs.
    pub duration_us: u64,
    /// Whether the walk ended by founding a group.
    pub founded: bool,
}

/// The final overlay of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    /// The latency model, as given on the command line.
    pub model: String,
    /// The run's seed.
    pub seed: u64,
    /// Virtual time of the snapshot, µs.
    pub time_us: u64,
    /// The running peers, by site.
    pub peers: Vec<PeerEntry>,
    /// Every overlay link between running peers, sorted.
    pub links: Vec<Link>,
    /// First joins of every peer that joined during the run (including peers that later
    /// crashed or left), in the order they completed.
    pub joins: Vec<JoinRecord>,
}

impl Overlay {
    /// The sites of the running peers.
    pub fn sites(&self) -> Vec<usize> {
        self.peers.iter().map(|p| p.site).collect()
    }
}
