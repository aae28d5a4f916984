//! The topology file as written, and the serde helpers that check values while parsing so
//! that errors carry the line and field path of the offending value.

use std::fmt;

use serde::Deserialize;

use super::{DEFAULT_INTRA_REGION_RTT_MS, DEFAULT_JITTER_MS, MAX_MS};

/// The file as written; `Topology::from_file` validates what serde cannot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default = "default_intra")]
    pub(super) intra_region_rtt_ms: Ms,
    #[serde(default = "default_jitter")]
    pub(super) jitter_ms: Ms,
    pub(super) regions: Vec<RegionFile>,
    #[serde(default)]
    pub(super) rtt_ms: Option<UniqueMap<UniqueMap<Ms>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegionFile {
    pub(super) name: String,
    #[serde(default)]
    pub(super) coordinates: Option<[Coordinate; 2]>,
}

fn default_intra() -> Ms {
    Ms(DEFAULT_INTRA_REGION_RTT_MS)
}

fn default_jitter() -> Ms {
    Ms(DEFAULT_JITTER_MS)
}

/// A YAML mapping with string keys that rejects a repeated key (a plain map keeps the last
/// one silently, which hides a mistake in a hand-written RTT table).
#[derive(Debug)]
pub(super) struct UniqueMap<V>(pub(super) Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<V>(std::marker::PhantomData<V>);

        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
            type Value = UniqueMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping from region names")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                let mut seen = std::collections::BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate key `{key}`"
                        )));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }

        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// A duration in ms: finite, `0..=MAX_MS`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ms(pub(super) f64);

impl<'de> Deserialize<'de> for Ms {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_f64(Bounded {
            range: 0.0..=MAX_MS,
            expected: "a non-negative number of milliseconds, at most 3600000",
        })
        .map(Self)
    }
}

/// A coordinate in ms: finite, `-MAX_MS..=MAX_MS`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Coordinate(pub(super) f64);

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_f64(Bounded {
            range: -MAX_MS..=MAX_MS,
            expected: "a coordinate in milliseconds, at most 3600000 from the origin",
        })
        .map(Self)
    }
}

/// Accepts a number within `range`. The check runs inside the visitor, not after
/// deserialising, so that the YAML layer attaches the value's line and field path to the error.
struct Bounded {
    range: std::ops::RangeInclusive<f64>,
    expected: &'static str,
}

impl serde::de::Visitor<'_> for Bounded {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        if self.range.contains(&v) {
            Ok(v)
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
}
