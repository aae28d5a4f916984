//! YAML topology files for emulated test clusters (DESIGN §4).
//!
//! A topology names the regions of a test cluster and how far apart they are. Each peer is
//! given a site (a region name, or `auto`), and the server side of every call is delayed by the
//! RTT between the caller's region and its own. Example (`examples/three-regions.yaml`):
//!
//! ```yaml
//! intra_region_rtt_ms: 2      # RTT between two peers of one region (default 2)
//! jitter_ms: 0.5              # extra delay, scaled by a uniform sample (default 0)
//! regions:
//!   - name: eu
//!     coordinates: [0, 0]     # RTT between regions = euclidean distance, in ms
//!   - name: us
//!     coordinates: [90, 0]
//!   - name: asia
//!     coordinates: [0, 150]
//! ```
//!
//! Instead of coordinates, a top-level `rtt_ms` table may give every pair of regions once, in
//! either order: `rtt_ms: { eu: { us: 90, asia: 150 }, us: { asia: 180 } }`. A file uses one
//! placement or the other, never both. Unknown fields are errors, and every error from the YAML
//! layer names its line and the field path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::hash::{fnv1a64, mix64};

mod file;
mod site;

use file::File;
pub use site::{SiteError, SiteModel, SiteSpec};

/// Default RTT between two peers of the same region, in ms.
pub const DEFAULT_INTRA_REGION_RTT_MS: f64 = 2.0;
/// Default jitter, in ms: none, so that tests see exactly the modelled RTT.
pub const DEFAULT_JITTER_MS: f64 = 0.0;
/// Most regions a topology may have (the RTT table is regions²).
pub const MAX_REGIONS: usize = 1024;
/// Largest RTT, coordinate or jitter a file may give, in ms (an hour).
pub const MAX_MS: f64 = 3_600_000.0;
/// The site spec that picks a region from the peer id; no region may take this name.
pub const AUTO: &str = "auto";

/// What is wrong with the text of a topology.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The YAML does not parse or does not fit the schema (unknown field, wrong type, negative
    /// number); the message starts with the field path.
    #[error("{}{message}", Location(*location))]
    Yaml {
        /// 1-based line and column, when the YAML layer knows them.
        location: Option<(usize, usize)>,
        /// What the YAML layer said, without its location suffix.
        message: String,
    },
    /// The `regions` list is empty.
    #[error("regions: a topology needs at least one region")]
    NoRegions,
    /// There are more than [`MAX_REGIONS`] regions.
    #[error("regions: {count} regions exceed the limit of {MAX_REGIONS}")]
    TooManyRegions {
        /// Regions in the file.
        count: usize,
    },
    /// A region name is empty or reserved.
    #[error("regions[{index}].name: `{name}` is not a valid region name (empty, or `auto`)")]
    BadRegionName {
        /// Position in the `regions` list.
        index: usize,
        /// The offending name.
        name: String,
    },
    /// Two regions share a name.
    #[error("regions[{index}].name: `{name}` is already the name of regions[{first}]")]
    DuplicateRegion {
        /// Position of the second occurrence.
        index: usize,
        /// Position of the first occurrence.
        first: usize,
        /// The repeated name.
        name: String,
    },
    /// A region has coordinates although the file has an `rtt_ms` table.
    #[error(
        "regions[{index}].coordinates: region `{name}` has coordinates but the file also has an \
         `rtt_ms` table; place regions one way only"
    )]
    MixedPlacement {
        /// Position in the `regions` list.
        index: usize,
        /// Region name.
        name: String,
    },
    /// A region has no coordinates and the file has no `rtt_ms` table.
    #[error(
        "regions[{index}]: region `{name}` has no `coordinates` and there is no `rtt_ms` table"
    )]
    NoPlacement {
        /// Position in the `regions` list.
        index: usize,
        /// Region name.
        name: String,
    },
    /// The `rtt_ms` table names a region that is not in `regions`.
    #[error("{field}: unknown region `{name}`")]
    UnknownRegion {
        /// Path of the offending key, e.g. `rtt_ms.eu.uss`.
        field: String,
        /// The unknown name.
        name: String,
    },
    /// The `rtt_ms` table gives a region's RTT to itself.
    #[error("{field}: the RTT within a region is `intra_region_rtt_ms`, not a table entry")]
    SelfPair {
        /// Path of the offending key.
        field: String,
    },
    /// The `rtt_ms` table has no entry for a pair of regions.
    #[error("rtt_ms: no RTT between `{a}` and `{b}` (give rtt_ms.{a}.{b} or rtt_ms.{b}.{a})")]
    MissingPair {
        /// First region of the pair, in file order.
        a: String,
        /// Second region of the pair.
        b: String,
    },
    /// The `rtt_ms` table gives a pair in both orders with different values.
    #[error("rtt_ms: `{a}`-`{b}` is {ab} ms but `{b}`-`{a}` is {ba} ms; the table is symmetric")]
    ConflictingPair {
        /// First region of the pair.
        a: String,
        /// Second region of the pair.
        b: String,
        /// Value of `rtt_ms.a.b`.
        ab: f64,
        /// Value of `rtt_ms.b.a`.
        ba: f64,
    },
}

/// Formats an optional location as a `line L column C: ` prefix.
struct Location(Option<(usize, usize)>);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((line, column)) => write!(f, "line {line} column {column}: "),
            None => Ok(()),
        }
    }
}

impl From<serde_yaml::Error> for Error {
    fn from(err: serde_yaml::Error) -> Self {
        let location = err.location().map(|l| (l.line(), l.column()));
        let mut message = err.to_string();
        // The YAML layer appends " at line L column C"; the location goes in front instead.
        if let Some((line, column)) = location {
            let suffix = format!(" at line {line} column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message.truncate(stripped.len());
            }
        }
        Self::Yaml { location, message }
    }
}

/// Why a topology file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file was read but is not a valid topology.
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Error,
    },
}

/// One region of a topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Unique name, as written in the file.
    pub name: String,
    /// Position in ms, when the file places regions by coordinates.
    pub coordinates: Option<[f64; 2]>,
}

/// A validated topology: regions and the base RTT between every two of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    regions: Vec<Region>,
    intra_region_rtt_ms: f64,
    jitter_ms: f64,
    /// Row-major regions × regions base RTT in ms, the diagonal being `intra_region_rtt_ms`.
    base_ms: Vec<f64>,
}

impl Topology {
    /// Reads and parses a topology file; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| LoadError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses and validates the YAML described in the [module docs](self).
    pub fn parse(yaml: &str) -> Result<Self, Error> {
        let file: File = serde_yaml::from_str(yaml)?;
        Self::from_file(file)
    }

    fn from_file(file: File) -> Result<Self, Error> {
        let count = file.regions.len();
        if count == 0 {
            return Err(Error::NoRegions);
        }
        if count > MAX_REGIONS {
            return Err(Error::TooManyRegions { count });
        }
        let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, region) in file.regions.iter().enumerate() {
            let name = region.name.as_str();
            if name.trim().is_empty() || name == AUTO {
                return Err(Error::BadRegionName {
                    index,
                    name: name.to_string(),
                });
            }
            if let Some(&first) = index_of.get(name) {
                return Err(Error::DuplicateRegion {
                    index,
                    first,
                    name: name.to_string(),
                });
            }
            index_of.insert(name, index);
            match (&region.coordinates, &file.rtt_ms) {
                (Some(_), Some(_)) => {
                    return Err(Error::MixedPlacement {
                        index,
                        name: name.to_string(),
                    });
                }
                (None, None) => {
                    return Err(Error::NoPlacement {
                        index,
                        name: name.to_string(),
                    });
                }
                _ => {}
            }
        }

        let intra = file.intra_region_rtt_ms.0;
        let mut base_ms = vec![intra; count * count];
        let mut set = |a: usize, b: usize, ms: f64| {
            base_ms[a * count + b] = ms;
            base_ms[b * count + a] = ms;
        };
        if let Some(table) = &file.rtt_ms {
            let mut given: BTreeMap<(usize, usize), f64> = BTreeMap::new();
            for (from, row) in &table.0 {
                let a = *index_of
                    .get(from.as_str())
                    .ok_or_else(|| Error::UnknownRegion {
                        field: "rtt_ms".to_string(),
                        name: from.clone(),
                    })?;
                for (to, ms) in &row.0 {
                    let field = format!("rtt_ms.{from}.{to}");
                    let b = *index_of
                        .get(to.as_str())
                        .ok_or_else(|| Error::UnknownRegion {
                            field: format!("rtt_ms.{from}"),
                            name: to.clone(),
                        })?;
                    if a == b {
                        return Err(Error::SelfPair { field });
                    }
                    given.insert((a, b), ms.0);
                }
            }
            for a in 0..count {
                for b in a + 1..count {
                    let ms = match (given.get(&(a, b)), given.get(&(b, a))) {
                        (Some(&ab), Some(&ba)) if ab != ba => {
                            return Err(Error::ConflictingPair {
                                a: file.regions[a].name.clone(),
                                b: file.regions[b].name.clone(),
                                ab,
                                ba,
                            });
                        }
                        (Some(&ms), _) | (None, Some(&ms)) => ms,
                        (None, None) => {
                            return Err(Error::MissingPair {
                                a: file.regions[a].name.clone(),
                                b: file.regions[b].name.clone(),
                            });
                        }
                    };
                    set(a, b, ms);
                }
            }
        } else {
            let xy: Vec<[f64; 2]> = file
                .regions
                .iter()
                .map(|r| r.coordinates.map_or([0.0; 2], |[x, y]| [x.0, y.0]))
                .collect();
            for a in 0..count {
                for b in a + 1..count {
                    set(a, b, (xy[a][0] - xy[b][0]).hypot(xy[a][1] - xy[b][1]));
                }
            }
        }

        let regions = file
            .regions
            .into_iter()
            .map(|r| Region {
                name: r.name,
                coordinates: r.coordinates.map(|[x, y]| [x.0, y.0]),
            })
            .collect();
        Ok(Self {
            regions,
            intra_region_rtt_ms: intra,
            jitter_ms: file.jitter_ms.0,
            base_ms,
        })
    }

    /// The regions, in file order; a region's index is its position here.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Region names, in file order.
    pub fn region_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.regions.iter().map(|r| r.name.as_str())
    }

    /// Index of the region called `name`.
    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }

    /// RTT between two peers of the same region.
    pub fn intra_region_rtt(&self) -> Duration {
        ms_to_duration(self.intra_region_rtt_ms)
    }

    /// Largest jitter [`sample_rtt`](Self::sample_rtt) adds.
    pub fn jitter(&self) -> Duration {
        ms_to_duration(self.jitter_ms)
    }

    /// Base RTT (no jitter) between a peer in region `a` and a peer in region `b`; the
    /// intra-region RTT when `a == b`. `None` if either index is out of range.
    pub fn rtt_between(&self, a: usize, b: usize) -> Option<Duration> {
        self.base_ms(a, b).map(ms_to_duration)
    }

    /// [`rtt_between`](Self::rtt_between) plus `u × jitter_ms`, where `u` is a uniform sample
    /// in `[0, 1]` supplied by the caller (clamped; NaN counts as 0). Jitter only adds delay,
    /// like queueing does, so the base RTT is a floor.
    pub fn sample_rtt(&self, a: usize, b: usize, u: f64) -> Option<Duration> {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        self.base_ms(a, b)
            .map(|ms| ms_to_duration(ms + u * self.jitter_ms))
    }

    /// The region of a peer with the given site spec and id bytes.
    ///
    /// [`SiteSpec::Auto`] hashes the id with FNV-1a 64 and then the splitmix64 finaliser, modulo
    /// the number of regions: stable across runs and machines. The finaliser is there because
    /// FNV-1a's low bits depend only on the low bits of each byte, which spreads ids poorly over
    /// an even number of regions.
    pub fn resolve_site(&self, spec: &SiteSpec, peer_id: &[u8]) -> Result<usize, SiteError> {
        match spec {
            SiteSpec::Auto => Ok((mix64(fnv1a64(peer_id)) % self.regions.len() as u64) as usize),
            SiteSpec::Named(name) => {
                self.region_index(name)
                    .ok_or_else(|| SiteError::UnknownRegion {
                        name: name.clone(),
                        known: self.region_names().map(str::to_string).collect(),
                    })
            }
        }
    }

    /// A [`LatencyModel`](crate::LatencyModel) over nodes placed in regions: node `i` sits in region
    /// `assignments[i]`. Two nodes in one region are `intra_region_rtt_ms` apart.
    pub fn model(&self, assignments: Vec<usize>) -> Result<SiteModel, SiteError> {
        let regions = self.regions.len();
        if let Some((node, &region)) = assignments.iter().enumerate().find(|&(_, &r)| r >= regions)
        {
            return Err(SiteError::RegionIndex {
                node,
                region,
                regions,
            });
        }
        let base_us = self.base_ms.iter().map(|&ms| ms_to_us(ms)).collect();
        Ok(SiteModel {
            regions,
            base_us,
            assignments,
        })
    }

    fn base_ms(&self, a: usize, b: usize) -> Option<f64> {
        let n = self.regions.len();
        (a < n && b < n).then(|| self.base_ms[a * n + b])
    }
}

fn ms_to_us(ms: f64) -> u64 {
    // Validated: finite, non-negative and at most MAX_MS (plus jitter), so this cannot saturate.
    (ms * 1000.0).round() as u64
}

fn ms_to_duration(ms: f64) -> Duration {
    Duration::from_micros(ms_to_us(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LatencyModel;
    use crate::hash::SplitMix64;

    fn example(file: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(file)
    }

    fn ms(ms: u64) -> Option<Duration> {
        Some(Duration::from_millis(ms))
    }

    #[test]
    fn coordinates_example_loads() {
        let t = Topology::load(example("three-regions.yaml")).unwrap();
        assert_eq!(t.region_names().collect::<Vec<_>>(), ["eu", "us", "asia"]);
        assert_eq!(t.intra_region_rtt(), Duration::from_millis(2));
        assert_eq!(t.jitter(), Duration::from_micros(500));
        assert_eq!(t.rtt_between(0, 1), ms(90));
        assert_eq!(t.rtt_between(0, 2), ms(150));
        assert_eq!(t.rtt_between(2, 1), Some(Duration::from_micros(174_929))); // √(90² + 150²)
        assert_eq!(t.rtt_between(1, 1), ms(2));
        assert_eq!(t.rtt_between(0, 3), None);
        assert_eq!(t.regions()[1].coordinates, Some([90.0, 0.0]));
    }

    #[test]
    fn rtt_table_example_loads() {
        let t = Topology::load(example("rtt-table.yaml")).unwrap();
        assert_eq!(t.rtt_between(0, 1), ms(90));
        assert_eq!(t.rtt_between(2, 0), ms(150));
        assert_eq!(t.rtt_between(1, 2), ms(180));
        assert_eq!(t.rtt_between(2, 1), ms(180));
        assert_eq!(t.regions()[0].coordinates, None);
    }

    #[test]
    fn inline_table_and_defaults() {
        let t = Topology::parse("regions: [{name: a}, {name: b}]\nrtt_ms: { b: { a: 12.5 } }\n")
            .unwrap();
        assert_eq!(t.rtt_between(0, 1), Some(Duration::from_micros(12_500)));
        assert_eq!(t.intra_region_rtt(), Duration::from_millis(2));
        assert_eq!(t.jitter(), Duration::ZERO);
        // Both orders with the same value are fine.
        Topology::parse("regions: [{name: a}, {name: b}]\nrtt_ms: {a: {b: 3}, b: {a: 3}}\n")
            .unwrap();
    }

    #[test]
    fn sample_rtt_adds_injected_jitter() {
        let t = Topology::load(example("three-regions.yaml")).unwrap();
        assert_eq!(t.sample_rtt(0, 1, 0.0), ms(90));
        assert_eq!(t.sample_rtt(0, 1, 1.0), Some(Duration::from_micros(90_500)));
        assert_eq!(t.sample_rtt(0, 1, 0.5), Some(Duration::from_micros(90_250)));
        assert_eq!(t.sample_rtt(0, 1, 7.0), Some(Duration::from_micros(90_500)));
        assert_eq!(t.sample_rtt(0, 1, f64::NAN), ms(90));
        assert_eq!(t.sample_rtt(0, 9, 0.5), None);
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let yaml = "# comment\nintra_region_rtt_ms: 2\nregions:\n  - name: eu\n    coordinates: [0, 0]\n  - name: us\n    cordinates: [90, 0]\n";
        let err = Topology::parse(yaml).unwrap_err();
        let Error::Yaml {
            location: Some((line, _)),
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*line, 7);
        let msg = err.to_string();
        assert!(
            msg.starts_with("line 7 column 5: regions[1]: unknown field `cordinates`"),
            "{msg}"
        );

        let dir = std::env::temp_dir().join(format!("locus-topology-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("topology.yaml");
        std::fs::write(&path, yaml).unwrap();
        let msg = Topology::load(&path).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            msg.contains("topology.yaml: line 7 column 5: regions[1]: unknown field"),
            "{msg}"
        );
    }

    #[test]
    fn negative_number_names_line_and_field() {
        let err = Topology::parse("regions: [{name: a, coordinates: [0, 0]}]\njitter_ms: -1\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("line 2 column ") && msg.contains("jitter_ms"),
            "{msg}"
        );
        let err =
            Topology::parse("regions: [{name: a}, {name: b}]\nrtt_ms: {a: {b: -5}}\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("line 2 ") && msg.contains("rtt_ms.a.b"),
            "{msg}"
        );
    }

    #[test]
    fn missing_pair_is_named() {
        let err = Topology::parse(
            "regions: [{name: eu}, {name: us}, {name: asia}]\nrtt_ms: {eu: {us: 90, asia: 150}}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::MissingPair {
                a: "us".into(),
                b: "asia".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "rtt_ms: no RTT between `us` and `asia` (give rtt_ms.us.asia or rtt_ms.asia.us)"
        );
    }

    #[test]
    fn validation_errors() {
        let parse = |yaml: &str| Topology::parse(yaml).unwrap_err();
        assert_eq!(parse("regions: []\n"), Error::NoRegions);
        assert!(
            matches!(parse("jitter_ms: 1\n"), Error::Yaml { .. }),
            "regions is required"
        );
        assert!(matches!(
            parse("regions: [{name: a, coordinates: [0, 0]}, {name: a, coordinates: [1, 1]}]"),
            Error::DuplicateRegion {
                index: 1,
                first: 0,
                ..
            }
        ));
        assert!(matches!(
            parse("regions: [{name: auto, coordinates: [0, 0]}]"),
            Error::BadRegionName { index: 0, .. }
        ));
        assert!(matches!(
            parse("regions: [{name: a, coordinates: [0, 0]}, {name: b}]"),
            Error::NoPlacement { index: 1, .. }
        ));
        assert!(matches!(
            parse("regions: [{name: a, coordinates: [0, 0]}, {name: b}]\nrtt_ms: {a: {b: 1}}"),
            Error::MixedPlacement { index: 0, .. }
        ));
        assert_eq!(
            parse("regions: [{name: a}, {name: b}]\nrtt_ms: {a: {c: 1}}"),
            Error::UnknownRegion {
                field: "rtt_ms.a".into(),
                name: "c".into()
            }
        );
        assert!(matches!(
            parse("regions: [{name: a}, {name: b}]\nrtt_ms: {a: {a: 1, b: 2}}"),
            Error::SelfPair { .. }
        ));
        assert!(matches!(
            parse("regions: [{name: a}, {name: b}]\nrtt_ms: {a: {b: 1}, b: {a: 2}}"),
            Error::ConflictingPair { .. }
        ));
        assert!(matches!(
            parse("regions: [{name: a, coordinates: [0]}]"),
            Error::Yaml { .. }
        ));
    }

    #[test]
    fn site_spec_parses() {
        assert_eq!("auto".parse::<SiteSpec>().unwrap(), SiteSpec::Auto);
        assert_eq!(
            " eu ".parse::<SiteSpec>().unwrap(),
            SiteSpec::Named("eu".into())
        );
        assert_eq!("".parse::<SiteSpec>().unwrap_err(), SiteError::Empty);
        assert_eq!(SiteSpec::Auto.to_string(), "auto");
    }

    #[test]
    fn named_site_resolves_or_lists_regions() {
        let t = Topology::load(example("three-regions.yaml")).unwrap();
        assert_eq!(
            t.resolve_site(&SiteSpec::Named("asia".into()), b"x")
                .unwrap(),
            2
        );
        let err = t.resolve_site(&"mars".parse().unwrap(), b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown region `mars`, known regions: eu, us, asia"
        );
    }

    #[test]
    fn auto_site_is_stable_and_spreads() {
        let t = Topology::load(example("three-regions.yaml")).unwrap();
        let mut rng = SplitMix64::new(42);
        let random_ids: Vec<Vec<u8>> = (0..1000)
            .map(|_| rng.next_u64().to_le_bytes().repeat(2))
            .collect();
        let replica_ids: Vec<Vec<u8>> = (1..=1000)
            .map(|i| format!("locus-peer-{i}").into_bytes())
            .collect();
        for ids in [random_ids, replica_ids] {
            let mut counts = [0; 3];
            for id in &ids {
                let region = t.resolve_site(&SiteSpec::Auto, id).unwrap();
                assert_eq!(
                    t.resolve_site(&SiteSpec::Auto, id).unwrap(),
                    region,
                    "stable"
                );
                counts[region] += 1;
            }
            assert!(counts.iter().all(|&c| c >= 200), "{counts:?}");
        }
        // A fixed id maps to a fixed region on every machine and run.
        let pinned = t.resolve_site(&SiteSpec::Auto, b"locus-peer-1").unwrap();
        assert_eq!(pinned, (mix64(fnv1a64(b"locus-peer-1")) % 3) as usize);
    }

    #[test]
    fn site_model_is_a_latency_model() {
        let t = Topology::load(example("three-regions.yaml")).unwrap();
        let m = t.model(vec![0, 0, 1, 2]).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m.rtt_us(0, 0), Some(0));
        assert_eq!(m.rtt_us(0, 1), Some(2_000));
        assert_eq!(m.rtt_us(1, 2), Some(90_000));
        assert_eq!(m.rtt_us(3, 0), Some(150_000));
        assert_eq!(m.rtt_us(0, 4), None);
        assert_eq!(m.locality(3), Some(2));
        assert_eq!(m.region_of(2), Some(1));
        let err = t.model(vec![0, 3]).unwrap_err();
        assert_eq!(
            err,
            SiteError::RegionIndex {
                node: 1,
                region: 3,
                regions: 3
            }
        );
    }
}
