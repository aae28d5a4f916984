//! Settings of the rendezvous: a YAML file, `LOCUS_*` environment variables and flags, in
//! rising order of precedence.
//!
//! [`Settings`] is all three at once: every field is optional, so that a value given nowhere
//! takes its `DEFAULT_*` and a flag's absence never overrides the file. [`Settings::resolve`]
//! fills in the defaults and checks the result; the filled-in settings are what
//! `--print-config` shows, and they are a valid configuration file themselves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7100";
/// Default metrics listen address (`/metrics`, Prometheus text format).
pub const DEFAULT_METRICS_LISTEN: &str = "0.0.0.0:9101";
/// How long an entry lives without a refresh: three of the peers' default announce intervals
/// (`locus_core::config::DEFAULT_ANNOUNCE_INTERVAL`), so that two lost announcements in a row
/// do not drop a live group.
pub const DEFAULT_ENTRY_TTL: Duration =
    Duration::from_secs(3 * locus_core::config::DEFAULT_ANNOUNCE_INTERVAL.as_secs());
/// Directory changes buffered for `WatchOverlay` subscribers; one that falls further behind is
/// dropped with `RESOURCE_EXHAUSTED`.
pub const DEFAULT_WATCH_BUFFER: usize = 1024;
/// Concurrent `WatchOverlay` streams; more are refused with `RESOURCE_EXHAUSTED`.
pub const DEFAULT_MAX_WATCHERS: usize = 256;
/// Groups in a `GetBootList` reply that asks for 0.
pub const DEFAULT_BOOT_LIST_SIZE: u32 = locus_core::config::DEFAULT_BOOT_LIST_SIZE;
/// Longest the graceful shutdown waits for calls in progress.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Deadline of the `Measure` that checks an announcement with its leader (connection
/// included). A leader answers a probe at once, so one second is a lost or hung peer, not a
/// slow one; it stays within the peers' `request_timeout` of the `wan` and `test` presets
/// (2 s, 1 s), so that a peer usually hears the outcome of its announcement (with `lan`,
/// 500 ms, lower it to about 400 ms).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Announcements being checked with their leaders at once; more are refused with
/// `RESOURCE_EXHAUSTED` (the leader announces again at its next interval). Checks happen only
/// for a new group, a change of leader or epoch, or an end, so a healthy overlay of thousands
/// of groups has a handful in flight; the cap bounds what a flood of forged announcements
/// costs: this many connections and tasks, each for at most the check timeout.
pub const DEFAULT_MAX_CHECKS_IN_FLIGHT: usize = 64;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The rendezvous' settings as given: by file, environment or flag. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// gRPC listen address [default: 0.0.0.0:7100].
    #[arg(long, env = "LOCUS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Metrics listen address, or `off` [default: 0.0.0.0:9101].
    #[arg(long, env = "LOCUS_METRICS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// Milliseconds an entry lives without a refresh [default: 30000].
    #[arg(long, env = "LOCUS_ENTRY_TTL_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_ttl_ms: Option<u64>,
    /// Directory changes buffered for watchers [default: 1024].
    #[arg(long, env = "LOCUS_WATCH_BUFFER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_buffer: Option<usize>,
    /// Concurrent WatchOverlay streams [default: 256].
    #[arg(long, env = "LOCUS_MAX_WATCHERS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_watchers: Option<usize>,
    /// Seed of the boot-list sampling [default: random].
    #[arg(long, env = "LOCUS_SEED")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Milliseconds the graceful shutdown waits for calls in progress [default: 5000].
    #[arg(long, env = "LOCUS_SHUTDOWN_GRACE_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_ms: Option<u64>,
    /// Milliseconds an announcement's check with its leader may take [default: 1000].
    #[arg(long, env = "LOCUS_CHECK_TIMEOUT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_timeout_ms: Option<u64>,
    /// Announcements checked with their leaders at once [default: 64].
    #[arg(long, env = "LOCUS_MAX_CHECKS_IN_FLIGHT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_checks_in_flight: Option<usize>,
    /// Log format [default: text].
    #[arg(long, env = "LOCUS_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// The rendezvous' resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// gRPC listen address (the binary binds it; [`crate::run`] takes a bound listener).
    pub listen: SocketAddr,
    /// Metrics listen address; `None` when off.
    pub metrics_listen: Option<SocketAddr>,
    /// See [`DEFAULT_ENTRY_TTL`].
    pub entry_ttl: Duration,
    /// See [`DEFAULT_WATCH_BUFFER`].
    pub watch_buffer: usize,
    /// See [`DEFAULT_MAX_WATCHERS`].
    pub max_watchers: usize,
    /// Seed of the boot-list sampling.
    pub seed: u64,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`DEFAULT_CHECK_TIMEOUT`].
    pub check_timeout: Duration,
    /// See [`DEFAULT_MAX_CHECKS_IN_FLIGHT`].
    pub max_checks_in_flight: usize,
    /// Log format.
    pub log_format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Settings::default()
            .resolve()
            .expect("the defaults are valid")
            .1
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The configuration file is not valid YAML for these settings (the message names the line
    /// and the field).
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column.
        source: serde_yaml::Error,
    },
    /// A setting has a value that cannot work.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl Settings {
    /// Reads a YAML settings file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// These settings with every field that `over` sets taken from `over`.
    pub fn merge(self, over: Settings) -> Settings {
        Settings {
            listen: over.listen.or(self.listen),
            metrics_listen: over.metrics_listen.or(self.metrics_listen),
            entry_ttl_ms: over.entry_ttl_ms.or(self.entry_ttl_ms),
            watch_buffer: over.watch_buffer.or(self.watch_buffer),
            max_watchers: over.max_watchers.or(self.max_watchers),
            seed: over.seed.or(self.seed),
            shutdown_grace_ms: over.shutdown_grace_ms.or(self.shutdown_grace_ms),
            check_timeout_ms: over.check_timeout_ms.or(self.check_timeout_ms),
            max_checks_in_flight: over.max_checks_in_flight.or(self.max_checks_in_flight),
            log_format: over.log_format.or(self.log_format),
        }
    }

    /// Fills in the defaults and checks every value: the complete settings (what
    /// `--print-config` shows) and the configuration they make.
    pub fn resolve(self) -> Result<(Settings, Config), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.to_string(),
        };
        let full = Settings {
            listen: Some(
                self.listen
                    .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid")),
            ),
            metrics_listen: Some(
                self.metrics_listen
                    .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.into()),
            ),
            entry_ttl_ms: Some(
                self.entry_ttl_ms
                    .unwrap_or(DEFAULT_ENTRY_TTL.as_millis() as u64),
            ),
            watch_buffer: Some(self.watch_buffer.unwrap_or(DEFAULT_WATCH_BUFFER)),
            max_watchers: Some(self.max_watchers.unwrap_or(DEFAULT_MAX_WATCHERS)),
            seed: Some(self.seed.unwrap_or_else(random_seed)),
            shutdown_grace_ms: Some(
                self.shutdown_grace_ms
                    .unwrap_or(DEFAULT_SHUTDOWN_GRACE.as_millis() as u64),
            ),
            check_timeout_ms: Some(
                self.check_timeout_ms
                    .unwrap_or(DEFAULT_CHECK_TIMEOUT.as_millis() as u64),
            ),
            max_checks_in_flight: Some(
                self.max_checks_in_flight
                    .unwrap_or(DEFAULT_MAX_CHECKS_IN_FLIGHT),
            ),
            log_format: Some(self.log_format.unwrap_or_default()),
        };
        let metrics_listen = match full.metrics_listen.as_deref() {
            Some("off") | None => None,
            Some(addr) => Some(addr.parse().map_err(|_| {
                invalid(
                    "metrics_listen",
                    "must be `host:port` with an IP host, or `off`",
                )
            })?),
        };
        let entry_ttl = Duration::from_millis(full.entry_ttl_ms.unwrap_or_default());
        if entry_ttl.is_zero() {
            return Err(invalid("entry_ttl_ms", "must be greater than zero"));
        }
        let watch_buffer = full.watch_buffer.unwrap_or_default();
        if !(1..=1 << 20).contains(&watch_buffer) {
            return Err(invalid("watch_buffer", "must be between 1 and 1048576"));
        }
        let max_watchers = full.max_watchers.unwrap_or_default();
        if !(1..=1 << 16).contains(&max_watchers) {
            return Err(invalid("max_watchers", "must be between 1 and 65536"));
        }
        let check_timeout = Duration::from_millis(full.check_timeout_ms.unwrap_or_default());
        if !(1..=60_000).contains(&check_timeout.as_millis()) {
            return Err(invalid("check_timeout_ms", "must be between 1 and 60000"));
        }
        let max_checks_in_flight = full.max_checks_in_flight.unwrap_or_default();
        if !(1..=1 << 16).contains(&max_checks_in_flight) {
            return Err(invalid(
                "max_checks_in_flight",
                "must be between 1 and 65536",
            ));
        }
        let config = Config {
            listen: full
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid")),
            metrics_listen,
            entry_ttl,
            watch_buffer,
            max_watchers,
            seed: full.seed.unwrap_or_default(),
            shutdown_grace: Duration::from_millis(full.shutdown_grace_ms.unwrap_or_default()),
            check_timeout,
            max_checks_in_flight,
            log_format: full.log_format.unwrap_or_default(),
        };
        Ok((full, config))
    }
}

/// A seed from the clock and the process id: boot-list sampling needs spread, not secrecy.
fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    t ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_absent_flags_keep_it() {
        let file: Settings = serde_yaml::from_str("entry_ttl_ms: 3000\nmax_watchers: 9\n").unwrap();
        let flags = Settings {
            max_watchers: Some(4),
            ..Settings::default()
        };
        let (full, config) = file.merge(flags).resolve().unwrap();
        assert_eq!(config.entry_ttl, Duration::from_millis(3000));
        assert_eq!(config.max_watchers, 4);
        assert_eq!(config.watch_buffer, DEFAULT_WATCH_BUFFER);
        // What --print-config shows reads back as the same settings.
        let shown = serde_yaml::to_string(&full).unwrap();
        let again: Settings = serde_yaml::from_str(&shown).unwrap();
        assert_eq!(again, full);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let err = serde_yaml::from_str::<Settings>("entry_ttl: 3\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `entry_ttl`"),
            "{err}"
        );
        let err = Settings {
            entry_ttl_ms: Some(0),
            ..Settings::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid entry_ttl_ms: must be greater than zero"
        );
        for (settings, field) in [
            (
                Settings {
                    check_timeout_ms: Some(0),
                    ..Settings::default()
                },
                "check_timeout_ms",
            ),
            (
                Settings {
                    max_checks_in_flight: Some(0),
                    ..Settings::default()
                },
                "max_checks_in_flight",
            ),
        ] {
            let err = settings.resolve().unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("invalid {field}: ")),
                "{err}"
            );
        }
        let config = Config::default();
        assert_eq!(config.check_timeout, DEFAULT_CHECK_TIMEOUT);
        assert_eq!(config.max_checks_in_flight, DEFAULT_MAX_CHECKS_IN_FLIGHT);
    }
}
