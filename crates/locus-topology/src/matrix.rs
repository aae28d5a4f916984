//! Measured all-pairs RTT matrices.
//!
//! The text format (see `data/latency/README.md` in the shared folder): one row per line, values
//! separated by whitespace or commas, in milliseconds; row `i`, column `j` is the RTT from node
//! `i` to node `j`. A negative value or `NaN` marks a missing pair. Blank lines and lines whose
//! first non-blank character is `#` are ignored. The matrix must be square.
//!
//! Values are stored as `u32` microseconds (4 bytes a pair: 490² is under 1 MB), with one
//! sentinel for missing pairs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::LatencyModel;

/// Largest matrix [`Matrix::parse`] accepts, in nodes per side (400 MB of RTTs). Larger
/// populations belong to a synthetic model, which needs no stored matrix.
pub const MAX_NODES: usize = 10_000;

/// Largest RTT a matrix can hold, in microseconds (about 71 minutes).
pub const MAX_RTT_US: u64 = (u32::MAX - 1) as u64;

/// Stored value of a missing pair.
const MISSING: u32 = u32::MAX;

/// What is wrong with the text of a matrix. Lines and columns are 1-based; a column is the
/// position of a value within its row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value is not a number.
    #[error("line {line}, column {column}: `{value}` is not a number")]
    NotNumeric {
        /// Line of the file.
        line: usize,
        /// Position of the value in its row.
        column: usize,
        /// The offending text.
        value: String,
    },
    /// A value is infinite or larger than [`MAX_RTT_US`].
    #[error("line {line}, column {column}: {value} ms is out of range for a round-trip time")]
    OutOfRange {
        /// Line of the file.
        line: usize,
        /// Position of the value in its row.
        column: usize,
        /// The offending value in milliseconds.
        value: f64,
    },
    /// A row has a different number of values than the first row.
    #[error("line {line}: row {row} has {found} values, expected {expected}")]
    RowLength {
        /// Line of the file.
        line: usize,
        /// Row number (1-based, counting only data lines).
        row: usize,
        /// Values found on this row.
        found: usize,
        /// Values on the first row.
        expected: usize,
    },
    /// The number of rows differs from the number of columns.
    #[error("matrix has {rows} rows of {columns} values, expected a square matrix")]
    NotSquare {
        /// Data rows in the file.
        rows: usize,
        /// Values per row.
        columns: usize,
    },
    /// The matrix is wider than [`MAX_NODES`].
    #[error("line {line}: {columns} values per row exceed the limit of {MAX_NODES} nodes")]
    TooLarge {
        /// Line of the file.
        line: usize,
        /// Values per row.
        columns: usize,
    },
    /// There is no data row at all.
    #[error("matrix is empty: no data rows")]
    Empty,
}

/// Why a matrix file could not be loaded.
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
    /// The file was read but its contents are not a valid matrix.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Error,
    },
}

/// A square RTT matrix over anonymous nodes `0..len()`. Has no locality labels.
#[derive(Clone, PartialEq, Eq)]
pub struct Matrix {
    n: usize,
    /// Row-major, `n * n` microseconds, [`MISSING`] for a missing pair.
    rtt_us: Vec<u32>,
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // n² values are no use in a debug print.
        f.debug_struct("Matrix")
            .field("len", &self.n)
            .field("missing_pairs", &self.missing_pairs())
            .finish()
    }
}

impl Matrix {
    /// Reads and parses a matrix file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| LoadError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses the text format described in the [module docs](self).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut n = 0;
        let mut rows = 0;
        let mut rtt_us = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let start = rtt_us.len();
            for (i, token) in trimmed
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .enumerate()
            {
                let column = i + 1;
                if rows == 0 && column > MAX_NODES {
                    return Err(Error::TooLarge {
                        line,
                        columns: column,
                    });
                }
                if rows > 0 && column > n {
                    // Count the rest only to report the row length.
                    let found = column + trimmed_tokens(trimmed).skip(column).count();
                    return Err(Error::RowLength {
                        line,
                        row: rows + 1,
                        found,
                        expected: n,
                    });
                }
                rtt_us.push(parse_value(token, line, column)?);
            }
            let found = rtt_us.len() - start;
            if rows == 0 {
                n = found;
                rtt_us.reserve_exact(n * n - n);
            } else if found != n {
                return Err(Error::RowLength {
                    line,
                    row: rows + 1,
                    found,
                    expected: n,
                });
            }
            rows += 1;
        }
        if rows == 0 {
            return Err(Error::Empty);
        }
        if rows != n {
            return Err(Error::NotSquare { rows, columns: n });
        }
        Ok(Self { n, rtt_us })
    }

    /// Builds an `n × n` matrix from a function of `(a, b)` giving microseconds, `None` for a
    /// missing pair. Values above [`MAX_RTT_US`] saturate. The diagonal is whatever `f` says
    /// (the [`LatencyModel`] answer for `a == b` is 0 regardless).
    pub fn from_fn(n: usize, mut f: impl FnMut(usize, usize) -> Option<u64>) -> Self {
        let mut rtt_us = Vec::with_capacity(n * n);
        for a in 0..n {
            for b in 0..n {
                rtt_us.push(f(a, b).map_or(MISSING, |us| us.min(MAX_RTT_US) as u32));
            }
        }
        Self { n, rtt_us }
    }

    /// Number of pairs `(a, b)`, `a != b`, without a value.
    pub fn missing_pairs(&self) -> usize {
        (0..self.n)
            .map(|a| {
                let row = &self.rtt_us[a * self.n..(a + 1) * self.n];
                row.iter()
                    .enumerate()
                    .filter(|&(b, &v)| b != a && v == MISSING)
                    .count()
            })
            .sum()
    }

    /// Whether `rtt(a, b) == rtt(b, a)` for every pair (missing counts as a value).
    pub fn is_symmetric(&self) -> bool {
        (0..self.n).all(|a| (a + 1..self.n).all(|b| self.raw(a, b) == self.raw(b, a)))
    }

    /// A symmetric copy: each pair gets the mean of its two directions when both are present,
    /// the one present direction otherwise, and stays missing when both are missing.
    /// Measured matrices such as Seattle are asymmetric; most overlay metrics assume symmetry.
    pub fn symmetric(&self) -> Self {
        let mut out = self.clone();
        for a in 0..self.n {
            for b in a + 1..self.n {
                let v = match (self.raw(a, b), self.raw(b, a)) {
                    (MISSING, MISSING) => MISSING,
                    (x, MISSING) | (MISSING, x) => x,
                    // Round half up; the sum of two u32 fits in u64.
                    (x, y) => (u64::from(x) + u64::from(y)).div_ceil(2) as u32,
                };
                out.rtt_us[a * self.n + b] = v;
                out.rtt_us[b * self.n + a] = v;
            }
        }
        out
    }

    /// The matrix over the first `n` nodes (all of them if `n >= len()`).
    pub fn truncate(&self, n: usize) -> Self {
        let nodes: Vec<usize> = (0..n.min(self.n)).collect();
        self.subset_unchecked(&nodes)
    }

    /// The matrix over `nodes`, in that order (node `i` of the result is `nodes[i]` here).
    /// `None` if any index is out of range. Repeats are allowed.
    pub fn subset(&self, nodes: &[usize]) -> Option<Self> {
        nodes
            .iter()
            .all(|&i| i < self.n)
            .then(|| self.subset_unchecked(nodes))
    }

    fn subset_unchecked(&self, nodes: &[usize]) -> Self {
        let mut rtt_us = Vec::with_capacity(nodes.len() * nodes.len());
        for &a in nodes {
            rtt_us.extend(nodes.iter().map(|&b| self.raw(a, b)));
        }
        Self {
            n: nodes.len(),
            rtt_us,
        }
    }

    /// Writes the matrix in the format [`parse`](Self::parse) reads: tab-separated
    /// milliseconds with three decimals, `NaN` for a missing pair.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.n * self.n * 8);
        for a in 0..self.n {
            for b in 0..self.n {
                if b > 0 {
                    out.push('\t');
                }
                match self.raw(a, b) {
                    MISSING => out.push_str("NaN"),
                    us => {
                        let _ = write!(out, "{}.{:03}", us / 1000, us % 1000);
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    fn raw(&self, a: usize, b: usize) -> u32 {
        self.rtt_us[a * self.n + b]
    }
}

fn trimmed_tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
}

fn parse_value(token: &str, line: usize, column: usize) -> Result<u32, Error> {
    let ms: f64 = token.parse().map_err(|_| Error::NotNumeric {
        line,
        column,
        value: token.chars().take(40).collect(),
    })?;
    if ms.is_nan() || ms < 0.0 {
        return Ok(MISSING);
    }
    let us = (ms * 1000.0).round();
    if !us.is_finite() || us > MAX_RTT_US as f64 {
        return Err(Error::OutOfRange {
            line,
            column,
            value: ms,
        });
    }
    Ok(us as u32)
}

impl LatencyModel for Matrix {
    fn len(&self) -> usize {
        self.n
    }

    fn rtt_us(&self, a: usize, b: usize) -> Option<u64> {
        if a >= self.n || b >= self.n {
            return None;
        }
        if a == b {
            return Some(0);
        }
        match self.raw(a, b) {
            MISSING => None,
            us => Some(u64::from(us)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_data;

    #[test]
    fn planetlab_loads_symmetric_490() {
        let m = Matrix::load(shared_data("planetlab490_median_ms.tsv")).unwrap();
        assert_eq!(m.len(), 490);
        assert!(m.is_symmetric());
        assert_eq!(m.missing_pairs(), 0);
        // First line of the file: "0 0.164 2.546 121.650 ...".
        assert_eq!(m.rtt_us(0, 1), Some(164));
        assert_eq!(m.rtt_us(0, 2), Some(2_546));
        assert_eq!(m.rtt_us(0, 3), Some(121_650));
        assert_eq!(m.rtt_us(1, 0), Some(164));
        assert_eq!(m.rtt_us(0, 490), None);
        assert!((0..490).all(|i| m.rtt_us(i, i) == Some(0)));
        assert_eq!(m.symmetric(), m);
    }

    #[test]
    fn seattle_loads_asymmetric_99() {
        let m = Matrix::load(shared_data("seattle99_median_ms.tsv")).unwrap();
        assert_eq!(m.len(), 99);
        assert!(!m.is_symmetric());
        // First line: "0 120.000 150.000 ... 2330.000 ..." (column 12 is the heavy tail).
        assert_eq!(m.rtt_us(0, 1), Some(120_000));
        assert_eq!(m.rtt_us(0, 11), Some(2_330_000));
        // Third line starts "150.000 100.000 0 230.000".
        assert_eq!(m.rtt_us(2, 0), Some(150_000));
        assert_eq!(m.rtt_us(2, 1), Some(100_000));

        let s = m.symmetric();
        assert!(s.is_symmetric());
        for (a, b) in [(0, 1), (2, 1), (5, 40), (98, 3)] {
            let (x, y) = (m.rtt_us(a, b).unwrap(), m.rtt_us(b, a).unwrap());
            assert_eq!(s.rtt_us(a, b), Some((x + y).div_ceil(2)));
        }
    }

    #[test]
    fn parses_commas_comments_blank_lines_and_missing() {
        let m = Matrix::parse(
            "# a comment\n\n0, 1.5, -1\n1.5,0,NaN\n  # indented comment\n2 3.0004 0\n",
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.rtt_us(0, 1), Some(1_500));
        assert_eq!(m.rtt_us(0, 2), None);
        assert_eq!(m.rtt_us(1, 2), None);
        assert_eq!(m.rtt_us(2, 0), Some(2_000));
        assert_eq!(m.rtt_us(2, 1), Some(3_000));
        assert_eq!(m.missing_pairs(), 2);
        let s = m.symmetric();
        assert_eq!(
            s.rtt_us(0, 2),
            Some(2_000),
            "one direction present: taken as is"
        );
        assert_eq!(s.rtt_us(1, 2), Some(3_000));
    }

    #[test]
    fn non_numeric_value_names_line_and_column() {
        let err = Matrix::parse("# header\n0 1 2\n1 0 x7\n2 1 0\n").unwrap_err();
        assert_eq!(
            err,
            Error::NotNumeric {
                line: 3,
                column: 3,
                value: "x7".into()
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("column 3"), "{msg}");
    }

    #[test]
    fn short_and_long_rows_are_reported() {
        let err = Matrix::parse("0 1 2\n1 0\n2 1 0\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: row 2 has 2 values, expected 3");
        let err = Matrix::parse("0 1 2\n1 0 1\n2 1 0 9 9\n").unwrap_err();
        assert_eq!(err.to_string(), "line 3: row 3 has 5 values, expected 3");
    }

    #[test]
    fn non_square_is_rejected() {
        let err = Matrix::parse("0 1 2\n1 0 1\n").unwrap_err();
        assert_eq!(
            err,
            Error::NotSquare {
                rows: 2,
                columns: 3
            }
        );
        assert!(err.to_string().contains("square"));
        let err = Matrix::parse("0 1\n1 0\n3 3\n").unwrap_err();
        assert_eq!(
            err,
            Error::NotSquare {
                rows: 3,
                columns: 2
            }
        );
    }

    #[test]
    fn empty_is_rejected() {
        assert_eq!(Matrix::parse("").unwrap_err(), Error::Empty);
        assert_eq!(
            Matrix::parse("\n# only comments\n   \n").unwrap_err(),
            Error::Empty
        );
    }

    #[test]
    fn infinite_value_is_out_of_range() {
        let err = Matrix::parse("0 inf\n1 0\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::OutOfRange {
                    line: 1,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn load_error_names_the_file() {
        let err = Matrix::load("/nonexistent/m.tsv").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/m.tsv"), "{err}");
    }

    #[test]
    fn from_fn_truncate_subset_and_text_round_trip() {
        let m = Matrix::from_fn(4, |a, b| {
            (a != 3 || b != 0).then_some((a * 10 + b) as u64 * 1000)
        });
        assert_eq!(m.rtt_us(1, 2), Some(12_000));
        assert_eq!(m.rtt_us(3, 0), None);
        assert_eq!(m.rtt_us(2, 2), Some(0));

        let t = m.truncate(2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.rtt_us(1, 0), Some(10_000));
        assert_eq!(m.truncate(99), m);

        let s = m.subset(&[3, 1]).unwrap();
        assert_eq!(s.rtt_us(0, 1), Some(31_000));
        assert_eq!(s.rtt_us(1, 0), Some(13_000));
        assert!(m.subset(&[0, 4]).is_none());

        assert_eq!(Matrix::parse(&m.to_text()).unwrap(), m);
    }
}
