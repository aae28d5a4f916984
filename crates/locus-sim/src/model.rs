//! Naming and loading latency models: `matrix:PATH` (symmetrised when the file is not
//! symmetric) or `synthetic:SPEC`. The name is stored in `overlay.json`, so an overlay says
//! which model to recompute its figures on.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result};
use locus_topology::{LatencyModel, Matrix, Synthetic, SyntheticSpec};

/// A latency model by name.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// A measured matrix file.
    Matrix(PathBuf),
    /// A generated world.
    Synthetic(SyntheticSpec),
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Matrix(p) => write!(f, "matrix:{}", p.display()),
            ModelSpec::Synthetic(s) => write!(f, "synthetic:{s}"),
        }
    }
}

impl FromStr for ModelSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some(("matrix", p)) => Ok(ModelSpec::Matrix(PathBuf::from(p))),
            Some(("synthetic", spec)) => {
                Ok(ModelSpec::Synthetic(spec.parse().map_err(|e| {
                    anyhow::anyhow!("synthetic spec `{spec}`: {e}")
                })?))
            }
            _ => anyhow::bail!("model `{s}` is neither matrix:PATH nor synthetic:SPEC"),
        }
    }
}

/// A loaded model, with a note of anything done to it.
pub struct Loaded {
    /// The model.
    pub model: Box<dyn LatencyModel>,
    /// E.g. that an asymmetric matrix was symmetrised.
    pub note: Option<String>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("len", &self.model.len())
            .field("note", &self.note)
            .finish()
    }
}

impl ModelSpec {
    /// Loads the model. An asymmetric matrix is replaced by its symmetric version
    /// ([`Matrix::symmetric`]): overlay links are undirected, so each pair needs one RTT.
    pub fn load(&self) -> Result<Loaded> {
        match self {
            ModelSpec::Matrix(p) => {
                let m = Matrix::load(p).with_context(|| format!("loading {}", p.display()))?;
                if m.is_symmetric() {
                    Ok(Loaded {
                        model: Box::new(m),
                        note: None,
                    })
                } else {
                    Ok(Loaded {
                        model: Box::new(m.symmetric()),
                        note: Some("asymmetric matrix: symmetrised".into()),
                    })
                }
            }
            ModelSpec::Synthetic(s) => Ok(Loaded {
                model: Box::new(
                    Synthetic::new(s.clone())
                        .map_err(|e| anyhow::anyhow!("synthetic spec: {e}"))?,
                ),
                note: None,
            }),
        }
    }
}
