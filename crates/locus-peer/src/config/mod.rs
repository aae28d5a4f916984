//! Settings of a peer: a YAML file, `LOCUS_*` environment variables and flags, in rising order
//! of precedence.
//!
//! [`Settings`] is all three at once: every field is optional, so that a value given nowhere
//! takes its default and a flag's absence never overrides the file. The protocol settings
//! ([`ProtocolSettings`], the `protocol:` section of the file) start from a preset (`wan`,
//! `lan`, `test`: [`locus_core::Config`]'s presets) and override single fields of it.
//! [`Settings::resolve`] fills in the defaults and checks the result; the filled-in settings are
//! what `--print-config` shows, and they are a valid configuration file themselves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use locus_core::PeerId;
use locus_service::limits::{LimitError, LimitSettings, Limits};

mod protocol;

use locus_topology::{SiteSpec, Topology};
pub use protocol::{DEFAULT_PRESET, Preset, ProtocolSettings};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7000";
/// Default metrics listen address (`/metrics`, Prometheus text format).
pub const DEFAULT_METRICS_LISTEN: &str = "0.0.0.0:9100";
/// Outgoing calls in flight at once; a call beyond it fails at once as unreachable (the peer
/// is overloaded) rather than queueing, since a queued probe would measure its own wait.
pub const DEFAULT_MAX_INFLIGHT_CALLS: usize = 512;
/// Client connections kept open (one per peer address); the oldest is closed beyond it.
pub const DEFAULT_CLIENT_POOL_SIZE: usize = 256;
/// Incoming requests queued for the driver; beyond it a request is refused with
/// `RESOURCE_EXHAUSTED`.
pub const DEFAULT_COMMAND_QUEUE: usize = 1024;
/// How long a graceful leave waits for its goodbye calls (Leave, handover) to complete.
pub const DEFAULT_LEAVE_GRACE: Duration = Duration::from_secs(2);
/// Largest list of rendezvous or bootstrap addresses.
pub const MAX_BOOT_ADDRESSES: usize = 64;

/// How log lines are written.
pub use locus_service::process::LogFormat;

/// A peer's settings as given: by file, environment or flag. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// gRPC listen address [default: 0.0.0.0:7000].
    #[arg(long, env = "LOCUS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Address other peers reach this one at, `host:port` [default: the listen address,
    /// with 127.0.0.1 for an unspecified IP].
    #[arg(long, env = "LOCUS_ADVERTISE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// Metrics listen address, or `off` [default: 0.0.0.0:9100].
    #[arg(long, env = "LOCUS_METRICS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// This peer's id, a UUID [default: random at start-up].
    #[arg(long, env = "LOCUS_PEER_ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    /// Seed of the protocol's random choices [default: random at start-up].
    #[arg(long, env = "LOCUS_SEED")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Rendezvous addresses, `host:port`, comma-separated [default: none].
    #[arg(long, env = "LOCUS_RENDEZVOUS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendezvous: Option<Vec<String>>,
    /// Peer addresses to bootstrap from, `host:port`, comma-separated [default: none].
    #[arg(long, env = "LOCUS_BOOTSTRAP", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Vec<String>>,
    /// Topology file of an emulated test cluster; enables distance emulation [default: off].
    #[arg(long, env = "LOCUS_TOPOLOGY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<PathBuf>,
    /// This peer's region in the topology, or `auto` [default: auto].
    #[arg(long, env = "LOCUS_SITE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Outgoing calls in flight at once [default: 512].
    #[arg(long, env = "LOCUS_MAX_INFLIGHT_CALLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inflight_calls: Option<usize>,
    /// Client connections kept open [default: 256].
    #[arg(long, env = "LOCUS_CLIENT_POOL_SIZE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_pool_size: Option<usize>,
    /// Incoming requests queued for the driver [default: 1024].
    #[arg(long, env = "LOCUS_COMMAND_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_queue: Option<usize>,
    /// Milliseconds a graceful leave waits for its goodbye calls [default: 2000].
    #[arg(long, env = "LOCUS_LEAVE_GRACE_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leave_grace_ms: Option<u64>,
    /// Log format [default: text].
    #[arg(long, env = "LOCUS_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// The cluster CA's certificate, PEM [required unless insecure_plaintext].
    #[arg(long, env = "LOCUS_CA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// This peer's certificate, PEM, naming its id (with `key`); instead, `token_file`
    /// enrolls with the rendezvous [default: none].
    #[arg(long, env = "LOCUS_CERT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// The private key of `cert`, PEM [default: none].
    #[arg(long, env = "LOCUS_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// A file holding a join token: the peer enrolls with the rendezvous at start, which
    /// picks its id and signs its key, and renews the certificate before it expires
    /// [default: none].
    #[arg(long, env = "LOCUS_TOKEN_FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Run without TLS, for local experiments only: anyone can then speak for any peer. Logs a
    /// warning at start [default: false].
    #[arg(long, env = "LOCUS_INSECURE_PLAINTEXT", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_plaintext: Option<bool>,
    /// Dial peers at loopback and private addresses too (10/8, 172.16/12, 192.168/16,
    /// 100.64/10, fc00::/7, 127/8, ::1): test clusters, containers on a private network, a
    /// cluster inside one VPC. Link-local, multicast and unspecified addresses are never
    /// dialled [default: false].
    #[arg(long, env = "LOCUS_ALLOW_PRIVATE_ADDRESSES", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_private_addresses: Option<bool>,
    /// Server limits (the `limits:` section of the file).
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitSettings,
    /// Protocol settings.
    #[command(flatten)]
    #[serde(default)]
    pub protocol: ProtocolSettings,
}

/// How a peer gets its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A certificate and key in files.
    Files {
        /// The certificate.
        cert: PathBuf,
        /// Its key.
        key: PathBuf,
    },
    /// Enrollment with a rendezvous, with the token in this file.
    Enroll {
        /// The token file.
        token_file: PathBuf,
    },
}

/// A peer's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The CA certificate.
    pub ca: PathBuf,
    /// Where its own certificate comes from.
    pub identity: IdentitySource,
}

/// A peer's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address (the binary binds it; [`crate::run`] takes a bound listener).
    pub listen: SocketAddr,
    /// The address announced to other peers; `None` derives it from the bound listener.
    pub advertise: Option<String>,
    /// Metrics listen address; `None` when off.
    pub metrics_listen: Option<SocketAddr>,
    /// This peer's id; `None` draws a random one.
    pub peer_id: Option<PeerId>,
    /// Seed of the protocol's random choices; `None` draws one.
    pub seed: Option<u64>,
    /// Rendezvous addresses: announcements go to all of them, boot lists and `ResolveGroup`
    /// to one at a time, moving on when one fails.
    pub rendezvous: Vec<String>,
    /// Peer addresses to bootstrap from.
    pub bootstrap: Vec<String>,
    /// Distance emulation: the topology and this peer's site in it; `None` measures the real
    /// network.
    pub emulation: Option<(Arc<Topology>, SiteSpec)>,
    /// See [`DEFAULT_MAX_INFLIGHT_CALLS`].
    pub max_inflight_calls: usize,
    /// See [`DEFAULT_CLIENT_POOL_SIZE`].
    pub client_pool_size: usize,
    /// See [`DEFAULT_COMMAND_QUEUE`].
    pub command_queue: usize,
    /// See [`DEFAULT_LEAVE_GRACE`].
    pub leave_grace: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// The protocol engine's settings.
    pub protocol: locus_core::Config,
    /// TLS settings; `None` only with `insecure_plaintext`.
    pub tls: Option<Tls>,
    /// Whether peers that messages name may be dialled at loopback and private addresses.
    pub allow_private_addresses: bool,
    /// The gRPC server's limits.
    pub limits: Limits,
}

impl Config {
    /// A configuration for a peer in tests and embedding: the given protocol settings, no
    /// metrics, no boot sources, no emulation, plaintext, loopback and private addresses
    /// allowed, and the other defaults.
    pub fn new(protocol: locus_core::Config) -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid"),
            advertise: None,
            metrics_listen: None,
            peer_id: None,
            seed: None,
            rendezvous: Vec::new(),
            bootstrap: Vec::new(),
            emulation: None,
            max_inflight_calls: DEFAULT_MAX_INFLIGHT_CALLS,
            client_pool_size: DEFAULT_CLIENT_POOL_SIZE,
            command_queue: DEFAULT_COMMAND_QUEUE,
            leave_grace: DEFAULT_LEAVE_GRACE,
            log_format: LogFormat::Text,
            protocol,
            tls: None,
            allow_private_addresses: true,
            limits: Limits::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The topology file could not be loaded.
    #[error("topology: {0}")]
    Topology(#[from] locus_topology::topology::LoadError),
    /// A setting has a value that cannot work.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The protocol settings do not work together.
    #[error("protocol: {0}")]
    Protocol(#[from] locus_core::ConfigError),
}

fn limit_error(e: LimitError) -> ConfigError {
    invalid(e.field, e.reason)
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl Settings {
    /// These settings with every field that `over` sets taken from `over`.
    pub fn merge(self, over: Settings) -> Settings {
        Settings {
            listen: over.listen.or(self.listen),
            advertise: over.advertise.or(self.advertise),
            metrics_listen: over.metrics_listen.or(self.metrics_listen),
            peer_id: over.peer_id.or(self.peer_id),
            seed: over.seed.or(self.seed),
            rendezvous: over.rendezvous.or(self.rendezvous),
            bootstrap: over.bootstrap.or(self.bootstrap),
            topology: over.topology.or(self.topology),
            site: over.site.or(self.site),
            max_inflight_calls: over.max_inflight_calls.or(self.max_inflight_calls),
            client_pool_size: over.client_pool_size.or(self.client_pool_size),
            command_queue: over.command_queue.or(self.command_queue),
            leave_grace_ms: over.leave_grace_ms.or(self.leave_grace_ms),
            log_format: over.log_format.or(self.log_format),
            ca: over.ca.or(self.ca),
            cert: over.cert.or(self.cert),
            key: over.key.or(self.key),
            token_file: over.token_file.or(self.token_file),
            insecure_plaintext: over.insecure_plaintext.or(self.insecure_plaintext),
            allow_private_addresses: over
                .allow_private_addresses
                .or(self.allow_private_addresses),
            limits: self.limits.merge(over.limits),
            protocol: self.protocol.merge(over.protocol),
        }
    }

    /// Fills in the defaults and checks every value: the complete settings (what
    /// `--print-config` shows) and the configuration they make. Loads the topology file.
    pub fn resolve(self) -> Result<(Settings, Config), ConfigError> {
        let full = Settings {
            listen: Some(
                self.listen
                    .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid")),
            ),
            metrics_listen: Some(
                self.metrics_listen
                    .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.into()),
            ),
            rendezvous: Some(self.rendezvous.unwrap_or_default()),
            bootstrap: Some(self.bootstrap.unwrap_or_default()),
            site: self
                .site
                .or_else(|| self.topology.as_ref().map(|_| "auto".into())),
            max_inflight_calls: Some(
                self.max_inflight_calls
                    .unwrap_or(DEFAULT_MAX_INFLIGHT_CALLS),
            ),
            client_pool_size: Some(self.client_pool_size.unwrap_or(DEFAULT_CLIENT_POOL_SIZE)),
            command_queue: Some(self.command_queue.unwrap_or(DEFAULT_COMMAND_QUEUE)),
            leave_grace_ms: Some(
                self.leave_grace_ms
                    .unwrap_or(DEFAULT_LEAVE_GRACE.as_millis() as u64),
            ),
            log_format: Some(self.log_format.unwrap_or_default()),
            insecure_plaintext: Some(self.insecure_plaintext.unwrap_or(false)),
            allow_private_addresses: Some(self.allow_private_addresses.unwrap_or(false)),
            protocol: self.protocol.complete(),
            limits: self.limits.resolve().map_err(limit_error)?.0,
            ..self
        };
        let protocol = full.protocol.to_core();
        protocol.validate()?;
        let metrics_listen = match full.metrics_listen.as_deref() {
            Some("off") | None => None,
            Some(addr) => Some(
                addr.parse()
                    .map_err(|_| invalid("metrics_listen", "must be `ip:port` or `off`"))?,
            ),
        };
        let peer_id = full
            .peer_id
            .as_deref()
            .map(|s| {
                s.parse::<PeerId>()
                    .map_err(|_| invalid("peer_id", "must be a UUID"))
            })
            .transpose()?;
        let rendezvous = full.rendezvous.clone().unwrap_or_default();
        let bootstrap = full.bootstrap.clone().unwrap_or_default();
        for (field, list) in [("rendezvous", &rendezvous), ("bootstrap", &bootstrap)] {
            if list.len() > MAX_BOOT_ADDRESSES {
                return Err(invalid(
                    field,
                    format!("at most {MAX_BOOT_ADDRESSES} addresses"),
                ));
            }
            if let Some(bad) = list.iter().find(|a| !is_host_port(a)) {
                return Err(invalid(field, format!("`{bad}` is not `host:port`")));
            }
        }
        if let Some(a) = full.advertise.as_ref().filter(|a| !is_host_port(a)) {
            return Err(invalid("advertise", format!("`{a}` is not `host:port`")));
        }
        let emulation = match &full.topology {
            Some(path) => {
                let topology = Topology::load(path)?;
                let spec: SiteSpec = full.site.as_deref().unwrap_or("auto").parse().map_err(
                    |e: locus_topology::topology::SiteError| invalid("site", e.to_string()),
                )?;
                // Check a named site now, not after start-up.
                if let SiteSpec::Named(_) = spec {
                    topology
                        .resolve_site(&spec, &[])
                        .map_err(|e| invalid("site", e.to_string()))?;
                }
                Some((Arc::new(topology), spec))
            }
            None if full.site.is_some() => {
                return Err(invalid("site", "needs a topology file (`topology`)"));
            }
            None => None,
        };
        let tls = match (
            full.insecure_plaintext.unwrap_or(false),
            &full.ca,
            &full.cert,
            &full.key,
            &full.token_file,
        ) {
            (true, None, None, None, None) => None,
            (true, ..) => {
                return Err(invalid(
                    "insecure_plaintext",
                    "cannot be set together with ca, cert, key or token_file",
                ));
            }
            (false, None, ..) => {
                return Err(invalid(
                    "ca",
                    "TLS needs the cluster CA (ca) and either cert and key or token_file; for a local experiment without TLS, set insecure_plaintext",
                ));
            }
            (false, Some(ca), Some(cert), Some(key), None) => Some(Tls {
                ca: ca.clone(),
                identity: IdentitySource::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                },
            }),
            (false, Some(ca), None, None, Some(token_file)) => {
                if rendezvous.is_empty() {
                    return Err(invalid(
                        "token_file",
                        "enrollment needs a rendezvous (rendezvous)",
                    ));
                }
                Some(Tls {
                    ca: ca.clone(),
                    identity: IdentitySource::Enroll {
                        token_file: token_file.clone(),
                    },
                })
            }
            (false, Some(_), ..) => {
                return Err(invalid(
                    "cert",
                    "give cert and key together, or token_file alone",
                ));
            }
        };
        if tls.is_some() && peer_id.is_some() {
            return Err(invalid(
                "peer_id",
                "with TLS, the certificate names the peer's id",
            ));
        }
        let positive = |field, v: usize| {
            if (1..=1 << 20).contains(&v) {
                Ok(v)
            } else {
                Err(invalid(field, "must be between 1 and 1048576"))
            }
        };
        let config = Config {
            listen: full.listen.expect("filled in"),
            advertise: full.advertise.clone(),
            metrics_listen,
            peer_id,
            seed: full.seed,
            rendezvous,
            bootstrap,
            emulation,
            max_inflight_calls: positive(
                "max_inflight_calls",
                full.max_inflight_calls.unwrap_or_default(),
            )?,
            client_pool_size: positive(
                "client_pool_size",
                full.client_pool_size.unwrap_or_default(),
            )?,
            command_queue: positive("command_queue", full.command_queue.unwrap_or_default())?,
            leave_grace: Duration::from_millis(full.leave_grace_ms.unwrap_or_default()),
            log_format: full.log_format.unwrap_or_default(),
            protocol,
            tls,
            allow_private_addresses: full.allow_private_addresses.unwrap_or(false),
            limits: full.limits.clone().resolve().map_err(limit_error)?.1,
        };
        Ok((full, config))
    }
}

/// Whether `s` looks like `host:port`: a non-empty host and a numeric port, at most
/// `MAX_ADDR_LEN` bytes.
fn is_host_port(s: &str) -> bool {
    s.len() <= locus_core::id::MAX_ADDR_LEN
        && s.rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
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
            ..Default::default()
        }
    }

    #[test]
    fn tls_is_on_unless_plaintext_is_asked_for() {
        let bad = |s: Settings| s.resolve().unwrap_err().to_string();
        assert!(bad(Settings::default()).starts_with("invalid ca: TLS needs the cluster CA"));
        let enroll = Settings {
            ca: Some("ca.pem".into()),
            token_file: Some("token".into()),
            rendezvous: Some(vec!["rv:7100".into()]),
            ..Default::default()
        };
        let (_, config) = enroll.clone().resolve().unwrap();
        assert_eq!(
            config.tls.unwrap().identity,
            IdentitySource::Enroll {
                token_file: "token".into()
            }
        );
        let s = Settings {
            rendezvous: None,
            ..enroll.clone()
        };
        assert!(bad(s).starts_with("invalid token_file"));
        let s = Settings {
            cert: Some("c.pem".into()),
            ..enroll.clone()
        };
        assert!(bad(s).starts_with("invalid cert"));
        let s = Settings {
            insecure_plaintext: Some(true),
            ..enroll
        };
        assert!(bad(s).starts_with("invalid insecure_plaintext"));
        assert_eq!(plaintext().resolve().unwrap().1.tls, None);
    }

    #[test]
    fn preset_is_the_base_and_fields_override_it() {
        let file: Settings = serde_yaml::from_str(
            "rendezvous: [rv:7100]\nprotocol:\n  preset: test\n  alive_interval_ms: 700\n",
        )
        .unwrap();
        let flags = Settings {
            protocol: ProtocolSettings {
                alive_timeout_ms: Some(2500),
                ..Default::default()
            },
            ..Default::default()
        };
        let (full, config) = file.merge(flags).merge(plaintext()).resolve().unwrap();
        assert_eq!(config.protocol.alive_interval, Duration::from_millis(700));
        assert_eq!(config.protocol.alive_timeout, Duration::from_millis(2500));
        assert_eq!(
            config.protocol.request_timeout,
            locus_core::Config::test().request_timeout
        );
        assert_eq!(config.rendezvous, vec!["rv:7100".to_string()]);
        let shown = serde_yaml::to_string(&full).unwrap();
        let again: Settings = serde_yaml::from_str(&shown).unwrap();
        assert_eq!(again, full);
    }

    #[test]
    fn presets_survive_print_config() {
        for preset in [Preset::Wan, Preset::Lan, Preset::Test] {
            let p = ProtocolSettings {
                preset: Some(preset),
                ..Default::default()
            };
            assert_eq!(p.complete().to_core(), preset.config(), "{preset:?}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let err = serde_yaml::from_str::<Settings>("protocol:\n  alive_interval: 3\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `alive_interval`"),
            "{err}"
        );
        let bad = |s: Settings| s.resolve().unwrap_err().to_string();
        let s = Settings {
            bootstrap: Some(vec!["no-port".into()]),
            ..plaintext()
        };
        assert_eq!(bad(s), "invalid bootstrap: `no-port` is not `host:port`");
        let s = Settings {
            site: Some("eu".into()),
            ..plaintext()
        };
        assert_eq!(bad(s), "invalid site: needs a topology file (`topology`)");
        let s = Settings {
            protocol: ProtocolSettings {
                alive_timeout_ms: Some(1),
                ..Default::default()
            },
            ..plaintext()
        };
        assert!(bad(s).starts_with("protocol: invalid alive_timeout"));
        for radius in [-1.0, f64::NAN, f64::INFINITY, 5_000.0] {
            let s = Settings {
                protocol: ProtocolSettings {
                    cross_group_radius_ms: Some(radius),
                    ..Default::default()
                },
                ..plaintext()
            };
            let err = bad(s);
            assert!(
                err.starts_with("protocol: invalid cross_group_radius"),
                "{radius}: {err}"
            );
        }
    }

    #[test]
    fn a_radius_in_ms_keeps_its_fraction() {
        let s: Settings =
            serde_yaml::from_str("protocol:\n  cross_group_radius_ms: 7.25\n").unwrap();
        let (full, config) = s.merge(plaintext()).resolve().unwrap();
        assert_eq!(
            config.protocol.cross_group_radius,
            Duration::from_micros(7_250)
        );
        assert_eq!(full.protocol.cross_group_radius_ms, Some(7.25));
    }
}
