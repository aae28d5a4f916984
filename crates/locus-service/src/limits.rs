//! The limits every locus gRPC server runs with, on by default (docs/operations.md, "Server
//! limits"): keepalive that finds dead connections, a maximum connection age, a deadline on
//! every request, and a cap on calls in progress per connection beyond which calls are shed
//! with `RESOURCE_EXHAUSTED` rather than queued, and the same for the process as a whole
//! ([`crate::accounting`]).
//!
//! [`LimitSettings`] is the `limits:` section of both services' configuration files and its
//! flags; [`Limits`] is the resolved form that [`Limits::apply`] puts on a tonic server.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::Server;

/// How often an idle connection is pinged (HTTP/2 PING and TCP keepalive): a peer that
/// vanished without closing its connections is found within this plus the timeout.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is closed.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may live before the server asks the client to reconnect (GOAWAY),
/// so that long-lived connections rebalance and pick up renewed certificates; calls in progress
/// get [`DEFAULT_MAX_CONNECTION_AGE_GRACE`] to finish.
pub const DEFAULT_MAX_CONNECTION_AGE: Duration = Duration::from_secs(3600);
/// What calls in progress get to finish when their connection has reached its age.
pub const DEFAULT_MAX_CONNECTION_AGE_GRACE: Duration = Duration::from_secs(30);
/// Longest a request's handler may take before the call ends with `CANCELLED`: every locus
/// call answers in milliseconds (the longest waits are the rendezvous' checks, 1 s), so this
/// only ends calls stuck for good. A `WatchOverlay` stream is not bound by it once started.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls in progress on one connection; more are refused with `RESOURCE_EXHAUSTED` at once.
/// HTTP/2 advertises the same number as its stream limit.
pub const DEFAULT_MAX_CALLS_PER_CONNECTION: u32 = 256;
/// Calls whose handlers run at once across all connections; more are refused with
/// `RESOURCE_EXHAUSTED` at once. Handlers take microseconds to a second (a rendezvous' check of
/// a leader), so on the few cores a locus process has, more than this many under way means a
/// backlog that only grows: better refused, and retried by the caller, than queued.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: u32 = 1024;

/// The server limits as given: file (the `limits:` section), environment or flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Milliseconds between keepalive pings of an idle connection [default: 30000].
    #[arg(long, env = "LOCUS_KEEPALIVE_INTERVAL_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_interval_ms: Option<u64>,
    /// Milliseconds a keepalive ping may go unanswered [default: 10000].
    #[arg(long, env = "LOCUS_KEEPALIVE_TIMEOUT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_timeout_ms: Option<u64>,
    /// Seconds a connection may live before the server asks for a new one [default: 3600].
    #[arg(long, env = "LOCUS_MAX_CONNECTION_AGE_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_age_s: Option<u64>,
    /// Milliseconds a request's handler may take [default: 30000].
    #[arg(long, env = "LOCUS_SERVER_REQUEST_TIMEOUT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_request_timeout_ms: Option<u64>,
    /// Calls in progress on one connection; more are refused with RESOURCE_EXHAUSTED
    /// [default: 256].
    #[arg(long, env = "LOCUS_MAX_CALLS_PER_CONNECTION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls_per_connection: Option<u32>,
    /// Calls in progress across all connections; more are refused with RESOURCE_EXHAUSTED
    /// [default: 1024].
    #[arg(long, env = "LOCUS_MAX_CALLS_IN_FLIGHT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls_in_flight: Option<u32>,
}

/// The resolved server limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See [`DEFAULT_KEEPALIVE_INTERVAL`].
    pub keepalive_interval: Duration,
    /// See [`DEFAULT_KEEPALIVE_TIMEOUT`].
    pub keepalive_timeout: Duration,
    /// See [`DEFAULT_MAX_CONNECTION_AGE`].
    pub max_connection_age: Duration,
    /// See [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`DEFAULT_MAX_CALLS_PER_CONNECTION`].
    pub max_calls_per_connection: u32,
    /// See [`DEFAULT_MAX_CALLS_IN_FLIGHT`].
    pub max_calls_in_flight: u32,
}

impl Default for Limits {
    fn default() -> Self {
        LimitSettings::default()
            .resolve()
            .expect("the defaults are valid")
            .1
    }
}

/// A limit that cannot work: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid limits.{field}: {reason}")]
pub struct LimitError {
    /// The setting.
    pub field: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl LimitSettings {
    /// These settings with every field that `over` sets taken from `over`.
    pub fn merge(self, over: LimitSettings) -> LimitSettings {
        LimitSettings {
            keepalive_interval_ms: over.keepalive_interval_ms.or(self.keepalive_interval_ms),
            keepalive_timeout_ms: over.keepalive_timeout_ms.or(self.keepalive_timeout_ms),
            max_connection_age_s: over.max_connection_age_s.or(self.max_connection_age_s),
            server_request_timeout_ms: over
                .server_request_timeout_ms
                .or(self.server_request_timeout_ms),
            max_calls_per_connection: over
                .max_calls_per_connection
                .or(self.max_calls_per_connection),
            max_calls_in_flight: over.max_calls_in_flight.or(self.max_calls_in_flight),
        }
    }

    /// Fills in the defaults and checks each value: the complete settings and the limits.
    pub fn resolve(self) -> Result<(LimitSettings, Limits), LimitError> {
        let full = LimitSettings {
            keepalive_interval_ms: Some(
                self.keepalive_interval_ms
                    .unwrap_or(DEFAULT_KEEPALIVE_INTERVAL.as_millis() as u64),
            ),
            keepalive_timeout_ms: Some(
                self.keepalive_timeout_ms
                    .unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT.as_millis() as u64),
            ),
            max_connection_age_s: Some(
                self.max_connection_age_s
                    .unwrap_or(DEFAULT_MAX_CONNECTION_AGE.as_secs()),
            ),
            server_request_timeout_ms: Some(
                self.server_request_timeout_ms
                    .unwrap_or(DEFAULT_REQUEST_TIMEOUT.as_millis() as u64),
            ),
            max_calls_per_connection: Some(
                self.max_calls_per_connection
                    .unwrap_or(DEFAULT_MAX_CALLS_PER_CONNECTION),
            ),
            max_calls_in_flight: Some(
                self.max_calls_in_flight
                    .unwrap_or(DEFAULT_MAX_CALLS_IN_FLIGHT),
            ),
        };
        let ms = |v: Option<u64>| Duration::from_millis(v.unwrap_or_default());
        let limits = Limits {
            keepalive_interval: ms(full.keepalive_interval_ms),
            keepalive_timeout: ms(full.keepalive_timeout_ms),
            max_connection_age: Duration::from_secs(full.max_connection_age_s.unwrap_or_default()),
            request_timeout: ms(full.server_request_timeout_ms),
            max_calls_per_connection: full.max_calls_per_connection.unwrap_or_default(),
            max_calls_in_flight: full.max_calls_in_flight.unwrap_or_default(),
        };
        let check = |ok: bool, field, reason| {
            if ok {
                Ok(())
            } else {
                Err(LimitError { field, reason })
            }
        };
        let secs = |d: Duration| d.as_secs_f64();
        check(
            (0.1..=3600.0).contains(&secs(limits.keepalive_interval)),
            "keepalive_interval_ms",
            "must be between 100 and 3600000",
        )?;
        check(
            (0.1..=600.0).contains(&secs(limits.keepalive_timeout)),
            "keepalive_timeout_ms",
            "must be between 100 and 600000",
        )?;
        check(
            (10.0..=7.0 * 24.0 * 3600.0).contains(&secs(limits.max_connection_age)),
            "max_connection_age_s",
            "must be between 10 and 604800",
        )?;
        check(
            (0.1..=3600.0).contains(&secs(limits.request_timeout)),
            "server_request_timeout_ms",
            "must be between 100 and 3600000",
        )?;
        check(
            (1..=65_536).contains(&limits.max_calls_per_connection),
            "max_calls_per_connection",
            "must be between 1 and 65536",
        )?;
        check(
            (1..=1_000_000).contains(&limits.max_calls_in_flight),
            "max_calls_in_flight",
            "must be between 1 and 1000000",
        )?;
        Ok((full, limits))
    }
}

impl Limits {
    /// `server` with these limits: HTTP/2 keepalive, the connection age and its grace, the
    /// request deadline, the per-connection cap with load shedding; a tracing span per request
    /// (`rpc`, with the method's path); and `accounting` in front of every call, which counts
    /// and times it and sheds past [`Limits::max_calls_in_flight`] (give it that number). TCP
    /// keepalive is set where the connections are accepted ([`Limits::tcp_keepalive`]).
    pub fn apply(
        &self,
        server: Server,
        accounting: crate::accounting::Accounting,
    ) -> Server<
        tower::layer::util::Stack<crate::accounting::Accounting, tower::layer::util::Identity>,
    > {
        server
            // A span per request, so that what a handler logs names the call it serves.
            .trace_fn(|request| tracing::info_span!("rpc", path = %request.uri().path()))
            .http2_keepalive_interval(Some(self.keepalive_interval))
            .http2_keepalive_timeout(Some(self.keepalive_timeout))
            .tcp_keepalive(Some(self.keepalive_interval))
            .max_connection_age(self.max_connection_age)
            .max_connection_age_grace(DEFAULT_MAX_CONNECTION_AGE_GRACE)
            .timeout(self.request_timeout)
            .max_concurrent_streams(self.max_calls_per_connection)
            .concurrency_limit_per_connection(self.max_calls_per_connection as usize)
            .load_shed(true)
            .layer(accounting)
    }

    /// The TCP keepalive of accepted connections.
    pub fn tcp_keepalive(&self) -> Duration {
        self.keepalive_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_resolve_and_bad_values_are_named() {
        let l = Limits::default();
        assert_eq!(l.keepalive_interval, DEFAULT_KEEPALIVE_INTERVAL);
        assert_eq!(l.max_calls_per_connection, DEFAULT_MAX_CALLS_PER_CONNECTION);
        let over = LimitSettings {
            max_calls_per_connection: Some(8),
            ..Default::default()
        };
        let (full, l) = LimitSettings {
            max_calls_per_connection: Some(64),
            server_request_timeout_ms: Some(5000),
            ..Default::default()
        }
        .merge(over)
        .resolve()
        .unwrap();
        assert_eq!(l.max_calls_per_connection, 8);
        assert_eq!(l.request_timeout, Duration::from_secs(5));
        assert_eq!(full.keepalive_timeout_ms, Some(10_000));
        let err = LimitSettings {
            max_calls_per_connection: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid limits.max_calls_per_connection: must be between 1 and 65536"
        );
    }
}
