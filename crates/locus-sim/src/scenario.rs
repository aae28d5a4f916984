//! What happens during a run: arrivals, graceful leaves, crashes, churn and a partition, as
//! plain data parsed from the command line.
//!
//! A run has three phases on one virtual clock that starts at zero:
//! 1. **arrivals** — `peers` peers join, all at once, one after another, or as a Poisson process;
//! 2. **disturbance**, starting `settle` after the last arrival — the `leave` and `crash`
//!    fractions go at its start, churn runs for its duration, the partition cuts and heals;
//! 3. **settling** for `settle` again, then the snapshot is taken.

use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// A scenario option that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    /// A duration like `30s`, `10m`, `500ms` or `2h` was expected.
    #[error("bad duration `{0}`: expected a number with ms, s, m or h")]
    Duration(String),
    /// The arrival process is not one of the three.
    #[error(
        "bad arrival `{0}`: expected sequential, sequential:INTERVAL, all-at-once or poisson:RATE_PER_S"
    )]
    Arrival(String),
    /// Churn is `RATE_PER_MIN:DURATION`.
    #[error("bad churn `{0}`: expected RATE_PER_MIN:DURATION, e.g. 1000:10m")]
    Churn(String),
    /// A partition is `AT:DURATION:FRACTION`.
    #[error("bad partition `{0}`: expected AT:DURATION:FRACTION, e.g. 30s:60s:0.2")]
    Partition(String),
    /// A share outside 0..=1, or not a number.
    #[error("bad share `{0}`: expected a number between 0 and 1")]
    Share(String),
}

/// Parses a share: a number between 0 and 1.
pub fn parse_share(s: &str) -> Result<f64, ParseError> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(ParseError::Share(s.to_string())),
    }
}

/// Parses `500ms`, `30s`, `10m`, `2h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::Duration(s.to_string());
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => v / 1e3,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How the initial peers arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Every peer starts its join at time zero: the concurrent-founding stress case.
    AllAtOnce,
    /// Peer `i` starts at `i × interval`, long enough for each join to finish before the next.
    Sequential(Duration),
    /// A Poisson process with this many arrivals per second.
    Poisson(f64),
}

/// The spacing of `sequential` when none is given: three seconds, well above a WAN join
/// (a few RTTs per tested group) so that joins do not overlap.
pub const DEFAULT_SEQUENTIAL_INTERVAL: Duration = Duration::from_secs(3);

impl FromStr for Arrival {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Arrival(s.to_string());
        match s.split_once(':') {
            None if s == "all-at-once" => Ok(Arrival::AllAtOnce),
            None if s == "sequential" => Ok(Arrival::Sequential(DEFAULT_SEQUENTIAL_INTERVAL)),
            Some(("sequential", d)) => {
                Ok(Arrival::Sequential(parse_duration(d).map_err(|_| bad())?))
            }
            Some(("poisson", r)) => match r.parse::<f64>() {
                Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(Arrival::Poisson(rate)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// A steady rate of joins and crashes: each minute, `per_minute` new peers join (on vacant
/// sites of the model) and as many running peers crash, each a Poisson process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Churn {
    /// Joins per minute, and crashes per minute.
    pub per_minute: f64,
    /// How long churn lasts.
    pub duration: Duration,
}

impl FromStr for Churn {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Churn(s.to_string());
        let (rate, d) = s.split_once(':').ok_or_else(bad)?;
        let per_minute: f64 = rate.parse().map_err(|_| bad())?;
        if !(per_minute >= 0.0 && per_minute.is_finite()) {
            return Err(bad());
        }
        Ok(Churn {
            per_minute,
            duration: parse_duration(d).map_err(|_| bad())?,
        })
    }
}

/// A region cut off from the rest and repaired: `fraction` of the running peers — those
/// nearest (by the model) to one randomly chosen peer, so a region rather than a scatter —
/// lose contact with every other peer from `at` (counted from the start of the disturbance
/// phase) for `duration`. The rendezvous stays reachable from both sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partition {
    /// When the cut happens, after the disturbance phase starts.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// Share of running peers on the cut-off side.
    pub fraction: f64,
}

impl FromStr for Partition {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Partition(s.to_string());
        let parts: Vec<&str> = s.split(':').collect();
        let [at, d, f] = parts[..] else {
            return Err(bad());
        };
        let fraction: f64 = f.parse().map_err(|_| bad())?;
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(bad());
        }
        Ok(Partition {
            at: parse_duration(at).map_err(|_| bad())?,
            duration: parse_duration(d).map_err(|_| bad())?,
            fraction,
        })
    }
}

/// Everything that happens in one run besides the protocol itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Peers that arrive in the first phase.
    pub peers: usize,
    /// How they arrive.
    pub arrival: Arrival,
    /// Quiet time after the last arrival and again after the disturbance.
    pub settle: Duration,
    /// Share of running peers that leave gracefully when the disturbance starts.
    pub leave: f64,
    /// Share of running peers that crash when the disturbance starts.
    pub crash: f64,
    /// Steady churn during the disturbance.
    pub churn: Option<Churn>,
    /// A partition and its repair during the disturbance.
    pub partition: Option<Partition>,
    /// RTT between any peer and the rendezvous.
    pub rendezvous_rtt: Duration,
    /// Mean queueing delay of a call between peers, as a share of its RTT: each call waits an
    /// exponentially distributed extra (capped at ten times the mean), so the samples of one
    /// measurement differ as they do on a loaded network. 0 (the default) models none: every
    /// sample is the model's RTT.
    pub queueing: f64,
    /// The rendezvous asks the group behind a cut nearest the other side for the second link,
    /// towards the groups it is nearest ([`locus_core::rendezvous::Directory::set_near_cut_links`]);
    /// off, the first group behind to announce is asked, towards the groups next to the cut.
    pub near_cut_links: bool,
}

/// Quiet time between phases when none is given: long enough for every timer of the `wan`
/// preset (remeasure 30 s, alive timeout 10 s, member timeout 15 s) to fire at least twice.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(60);
/// RTT to the rendezvous when none is given: a well-connected server a continent away.
pub const DEFAULT_RENDEZVOUS_RTT: Duration = Duration::from_millis(20);

impl Scenario {
    /// `peers` peers arriving one after another, nothing else.
    pub fn new(peers: usize) -> Self {
        Scenario {
            peers,
            arrival: Arrival::Sequential(DEFAULT_SEQUENTIAL_INTERVAL),
            settle: DEFAULT_SETTLE,
            leave: 0.0,
            crash: 0.0,
            churn: None,
            partition: None,
            rendezvous_rtt: DEFAULT_RENDEZVOUS_RTT,
            queueing: 0.0,
            near_cut_links: true,
        }
    }

    /// How long the disturbance phase lasts: the longest of churn and partition.
    pub fn disturbance(&self) -> Duration {
        let churn = self.churn.map_or(Duration::ZERO, |c| c.duration);
        let cut = self.partition.map_or(Duration::ZERO, |p| p.at + p.duration);
        churn.max(cut)
    }

    /// Whether anything happens after the arrivals.
    pub fn disturbs(&self) -> bool {
        self.leave > 0.0 || self.crash > 0.0 || self.churn.is_some() || self.partition.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_processes() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("7 parsecs").is_err());
        assert_eq!(
            "all-at-once".parse::<Arrival>().unwrap(),
            Arrival::AllAtOnce
        );
        assert_eq!(
            "poisson:250".parse::<Arrival>().unwrap(),
            Arrival::Poisson(250.0)
        );
        assert_eq!(
            "sequential:1s".parse::<Arrival>().unwrap(),
            Arrival::Sequential(Duration::from_secs(1))
        );
        assert!("poisson:-1".parse::<Arrival>().is_err());
        let c: Churn = "1000:10m".parse().unwrap();
        assert_eq!(
            (c.per_minute, c.duration),
            (1000.0, Duration::from_secs(600))
        );
        let p: Partition = "30s:1m:0.25".parse().unwrap();
        assert_eq!(p.at, Duration::from_secs(30));
        assert!("30s:1m:1.5".parse::<Partition>().is_err());
    }

    #[test]
    fn disturbance_spans_churn_and_partition() {
        let mut s = Scenario::new(10);
        assert!(!s.disturbs());
        s.churn = Some("10:2m".parse().unwrap());
        s.partition = Some("90s:60s:0.3".parse().unwrap());
        assert_eq!(s.disturbance(), Duration::from_secs(150));
    }
}
