//! Settings of the rendezvous: a YAML file, `LOCUS_*` environment variables and flags, in
//! rising order of precedence.
//!
//! [`Settings`] is all three at once: every field is optional, so that a value given nowhere
//! takes its `DEFAULT_*` and a flag's absence never overrides the file. [`Settings::resolve`]
//! fills in the defaults and checks the result; the filled-in settings are what
//! `--print-config` shows, and they are a valid configuration file themselves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use locus_service::limits::{LimitSettings, Limits};
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
/// Groups the directory holds at most; announcements of new groups beyond are refused with
/// `RESOURCE_EXHAUSTED`. An entry takes about 2 kB with the usual few neighbours and at most
/// about 100 kB (64 neighbours with four successors each, at the longest addresses), so size it
/// as memory allows: 100,000 typical entries are about 200 MB.
pub const DEFAULT_MAX_GROUPS: usize = locus_core::rendezvous::MAX_GROUPS;
/// Writes (`AnnounceGroup`, `Enroll`, `Renew`) one caller may make per second, on average: a
/// leader announces once per `announce_interval` (1 s with the `test` preset) and at once when
/// a link changes, so twenty is far above an honest leader's pace.
pub const DEFAULT_WRITE_RATE: u32 = 20;
/// Writes one caller may make at once before the rate applies.
pub const DEFAULT_WRITE_BURST: u32 = 40;
/// How long a `WatchOverlay` subscriber may leave an event unread (its stream's queue full,
/// its HTTP/2 window closed) before it is dropped: a subscriber that stalls must not hold one
/// of the `max_watchers` places for ever.
pub const DEFAULT_WATCH_SEND_TIMEOUT: Duration = Duration::from_secs(10);
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

/// Lifetime of the certificates the rendezvous issues to peers (and of its own, which it
/// re-issues itself at two thirds of it): see [`locus_service::tls::pki::DEFAULT_CERT_TTL`].
pub const DEFAULT_CERT_TTL: Duration = locus_service::tls::pki::DEFAULT_CERT_TTL;

/// How log lines are written.
pub use locus_service::process::LogFormat;

/// The rendezvous' settings as given: by file, environment or flag. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// gRPC listen address [default: 0.0.0.0:7100].
    #[arg(long, env = "LOCUS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// HTTP listen address: metrics and the live map, or `off` [default: 0.0.0.0:9101].
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
    /// Writes (AnnounceGroup, Enroll, Renew) per second per caller: its certificate's
    /// identity, else its IP address [default: 20].
    #[arg(long, env = "LOCUS_WRITE_RATE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_rate: Option<u32>,
    /// Writes per caller at once before the rate applies [default: 40].
    #[arg(long, env = "LOCUS_WRITE_BURST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_burst: Option<u32>,
    /// Groups the directory holds at most [default: 100000].
    #[arg(long, env = "LOCUS_MAX_GROUPS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_groups: Option<usize>,
    /// Milliseconds a WatchOverlay subscriber may leave an event unread before it is dropped
    /// [default: 10000].
    #[arg(long, env = "LOCUS_WATCH_SEND_TIMEOUT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_send_timeout_ms: Option<u64>,
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
    /// The cluster CA's certificate, PEM [required unless insecure_plaintext].
    #[arg(long, env = "LOCUS_CA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// The cluster CA's private key, PEM: the rendezvous issues certificates [required unless
    /// insecure_plaintext].
    #[arg(long, env = "LOCUS_CA_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<PathBuf>,
    /// Join tokens, one per line, read at each enrollment [default: none, so no peer can
    /// enroll].
    #[arg(long, env = "LOCUS_TOKENS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<PathBuf>,
    /// This rendezvous' name in its certificate [default: $HOSTNAME, else `rendezvous`].
    #[arg(long, env = "LOCUS_NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// DNS names and IP addresses its certificate carries besides `rendezvous.locus`,
    /// comma-separated [default: localhost,127.0.0.1,rendezvous and the name].
    #[arg(long, env = "LOCUS_TLS_NAMES", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_names: Option<Vec<String>>,
    /// Seconds the certificates it issues are valid [default: 86400].
    #[arg(long, env = "LOCUS_CERT_TTL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_ttl_s: Option<u64>,
    /// Serve without TLS, for local experiments only: anyone can then speak for any peer. Logs
    /// a warning at start [default: false].
    #[arg(long, env = "LOCUS_INSECURE_PLAINTEXT", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_plaintext: Option<bool>,
    /// Check announced leaders at loopback and private addresses too (see the peers'
    /// setting of the same name) [default: false].
    #[arg(long, env = "LOCUS_ALLOW_PRIVATE_ADDRESSES", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_private_addresses: Option<bool>,
    /// Server limits (the `limits:` section of the file).
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitSettings,
}

/// Where the rendezvous' TLS material lives, and what it issues.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The CA key.
    pub ca_key: PathBuf,
    /// The join tokens file; `None`: enrollment is off.
    pub tokens: Option<PathBuf>,
    /// Its identity's name.
    pub name: String,
    /// Further SANs of its own certificate.
    pub names: Vec<String>,
    /// Lifetime of the certificates it issues. See [`DEFAULT_CERT_TTL`].
    pub cert_ttl: Duration,
}

/// The rendezvous' resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// gRPC listen address (the binary binds it; [`crate::run`] takes a bound listener).
    pub listen: SocketAddr,
    /// HTTP listen address (`/metrics`, the live map); `None` when off.
    pub metrics_listen: Option<SocketAddr>,
    /// See [`DEFAULT_ENTRY_TTL`].
    pub entry_ttl: Duration,
    /// See [`DEFAULT_WATCH_BUFFER`].
    pub watch_buffer: usize,
    /// See [`DEFAULT_MAX_GROUPS`].
    pub max_groups: usize,
    /// See [`DEFAULT_WRITE_RATE`].
    pub write_rate: u32,
    /// See [`DEFAULT_WRITE_BURST`].
    pub write_burst: u32,
    /// See [`DEFAULT_WATCH_SEND_TIMEOUT`].
    pub watch_send_timeout: Duration,
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
    /// TLS material; `None` only with `insecure_plaintext`.
    pub tls: Option<Tls>,
    /// Whether announced leaders are checked at loopback and private addresses.
    pub allow_private_addresses: bool,
    /// The gRPC server's limits.
    pub limits: Limits,
}

impl Default for Config {
    /// The defaults in plaintext with private addresses allowed, for tests that embed
    /// [`crate::run`] on loopback; the binary resolves its settings, which need TLS material or
    /// an explicit `insecure_plaintext`.
    fn default() -> Self {
        Settings {
            insecure_plaintext: Some(true),
            allow_private_addresses: Some(true),
            ..Settings::default()
        }
        .resolve()
        .expect("the defaults are valid")
        .1
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
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
    /// These settings with every field that `over` sets taken from `over`.
    pub fn merge(self, over: Settings) -> Settings {
        Settings {
            listen: over.listen.or(self.listen),
            metrics_listen: over.metrics_listen.or(self.metrics_listen),
            entry_ttl_ms: over.entry_ttl_ms.or(self.entry_ttl_ms),
            watch_buffer: over.watch_buffer.or(self.watch_buffer),
            max_groups: over.max_groups.or(self.max_groups),
            write_rate: over.write_rate.or(self.write_rate),
            write_burst: over.write_burst.or(self.write_burst),
            watch_send_timeout_ms: over.watch_send_timeout_ms.or(self.watch_send_timeout_ms),
            max_watchers: over.max_watchers.or(self.max_watchers),
            seed: over.seed.or(self.seed),
            shutdown_grace_ms: over.shutdown_grace_ms.or(self.shutdown_grace_ms),
            check_timeout_ms: over.check_timeout_ms.or(self.check_timeout_ms),
            max_checks_in_flight: over.max_checks_in_flight.or(self.max_checks_in_flight),
            log_format: over.log_format.or(self.log_format),
            ca: over.ca.or(self.ca),
            ca_key: over.ca_key.or(self.ca_key),
            tokens: over.tokens.or(self.tokens),
            name: over.name.or(self.name),
            tls_names: over.tls_names.or(self.tls_names),
            cert_ttl_s: over.cert_ttl_s.or(self.cert_ttl_s),
            insecure_plaintext: over.insecure_plaintext.or(self.insecure_plaintext),
            allow_private_addresses: over
                .allow_private_addresses
                .or(self.allow_private_addresses),
            limits: self.limits.merge(over.limits),
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
            max_groups: Some(self.max_groups.unwrap_or(DEFAULT_MAX_GROUPS)),
            write_rate: Some(self.write_rate.unwrap_or(DEFAULT_WRITE_RATE)),
            write_burst: Some(self.write_burst.unwrap_or(DEFAULT_WRITE_BURST)),
            watch_send_timeout_ms: Some(
                self.watch_send_timeout_ms
                    .unwrap_or(DEFAULT_WATCH_SEND_TIMEOUT.as_millis() as u64),
            ),
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
            name: Some(self.name.unwrap_or_else(default_name)),
            tls_names: self.tls_names,
            cert_ttl_s: Some(self.cert_ttl_s.unwrap_or(DEFAULT_CERT_TTL.as_secs())),
            insecure_plaintext: Some(self.insecure_plaintext.unwrap_or(false)),
            allow_private_addresses: Some(self.allow_private_addresses.unwrap_or(false)),
            limits: self
                .limits
                .resolve()
                .map_err(|e| invalid(e.field, e.reason))?
                .0,
            ca: self.ca,
            ca_key: self.ca_key,
            tokens: self.tokens,
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
        let watch_send_timeout =
            Duration::from_millis(full.watch_send_timeout_ms.unwrap_or_default());
        if !(10..=3_600_000).contains(&watch_send_timeout.as_millis()) {
            return Err(invalid(
                "watch_send_timeout_ms",
                "must be between 10 and 3600000",
            ));
        }
        let max_groups = full.max_groups.unwrap_or_default();
        if !(1..=10_000_000).contains(&max_groups) {
            return Err(invalid("max_groups", "must be between 1 and 10000000"));
        }
        let write_rate = full.write_rate.unwrap_or_default();
        if !(1..=1_000_000).contains(&write_rate) {
            return Err(invalid("write_rate", "must be between 1 and 1000000"));
        }
        let write_burst = full.write_burst.unwrap_or_default();
        if !(1..=1_000_000).contains(&write_burst) {
            return Err(invalid("write_burst", "must be between 1 and 1000000"));
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
        let name = full.name.clone().unwrap_or_default();
        if !locus_service::tls::pki::valid_name(&name) {
            return Err(invalid(
                "name",
                "must be 1 to 64 of letters, digits, '.', '_' and '-'",
            ));
        }
        let cert_ttl = Duration::from_secs(full.cert_ttl_s.unwrap_or_default());
        if !(60..=366 * 24 * 3600).contains(&cert_ttl.as_secs()) {
            return Err(invalid("cert_ttl_s", "must be between 60 and 31622400"));
        }
        let tls = match (
            full.insecure_plaintext.unwrap_or(false),
            &full.ca,
            &full.ca_key,
        ) {
            (true, None, None) => None,
            (true, _, _) => {
                return Err(invalid(
                    "insecure_plaintext",
                    "cannot be set together with ca and ca_key",
                ));
            }
            (false, Some(ca), Some(ca_key)) => Some(Tls {
                ca: ca.clone(),
                ca_key: ca_key.clone(),
                tokens: full.tokens.clone(),
                names: full.tls_names.clone().unwrap_or_else(|| {
                    let mut names: Vec<String> = ["localhost", "127.0.0.1", "rendezvous"]
                        .map(String::from)
                        .into();
                    if !names.contains(&name) {
                        names.push(name.clone());
                    }
                    names
                }),
                name,
                cert_ttl,
            }),
            (false, _, _) => {
                return Err(invalid(
                    "ca",
                    "TLS needs ca and ca_key (create them with `locusctl ca init`); for a local experiment without TLS, set insecure_plaintext",
                ));
            }
        };
        let config = Config {
            tls,
            allow_private_addresses: full.allow_private_addresses.unwrap_or(false),
            limits: full
                .limits
                .clone()
                .resolve()
                .map_err(|e| invalid(e.field, e.reason))?
                .1,
            listen: full
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid")),
            metrics_listen,
            entry_ttl,
            watch_buffer,
            max_groups,
            write_rate,
            write_burst,
            watch_send_timeout,
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

/// `$HOSTNAME` when it is a valid name (containers set it), else `rendezvous`.
fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| locus_service::tls::pki::valid_name(h))
        .unwrap_or_else(|| "rendezvous".to_string())
}

/// A seed from the clock and the process id: boot-list sampling needs spread, not secrecy.
fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    t ^ (u64::from(std::process::id()) << 32)
}

impl locus_service::process::ServiceSettings for Settings {
    type Config = Config;
    type Error = ConfigError;

    fn merge(self, over: Settings) -> Settings {
        Settings::merge(self, over)
    }

    fn resolve(self) -> Result<(Settings, Config), ConfigError> {
        Settings::resolve(self)
    }

    fn log_format(config: &Config) -> LogFormat {
        config.log_format
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plaintext() -> Settings {
        Settings {
            insecure_plaintext: Some(true),
            ..Settings::default()
        }
    }

    #[test]
    fn tls_is_on_unless_plaintext_is_asked_for() {
        let err = Settings::default().resolve().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid ca: TLS needs ca and ca_key"),
            "{err}"
        );
        let (_, config) = plaintext().resolve().unwrap();
        assert_eq!(config.tls, None);
        let both = Settings {
            ca: Some("ca.pem".into()),
            ca_key: Some("ca-key.pem".into()),
            ..plaintext()
        };
        assert!(both.resolve().is_err());
        let (_, config) = Settings {
            ca: Some("ca.pem".into()),
            ca_key: Some("ca-key.pem".into()),
            name: Some("rv".into()),
            ..Settings::default()
        }
        .resolve()
        .unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.names, ["localhost", "127.0.0.1", "rendezvous", "rv"]);
        assert_eq!(tls.cert_ttl, DEFAULT_CERT_TTL);
        assert_eq!(tls.tokens, None);
    }

    #[test]
    fn flags_win_over_the_file_and_absent_flags_keep_it() {
        let file: Settings = serde_yaml::from_str("entry_ttl_ms: 3000\nmax_watchers: 9\n").unwrap();
        let flags = Settings {
            max_watchers: Some(4),
            ..Settings::default()
        };
        let (full, config) = file.merge(flags).merge(plaintext()).resolve().unwrap();
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
            ..plaintext()
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
                    ..plaintext()
                },
                "check_timeout_ms",
            ),
            (
                Settings {
                    max_checks_in_flight: Some(0),
                    ..plaintext()
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
