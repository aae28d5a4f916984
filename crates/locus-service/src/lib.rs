//! `locus-service`: the process scaffolding that the two service binaries share.
//!
//! `locus-rendezvous` and `locus-peer` are different services around the same kind of process:
//! a wall clock the core can use ([`Clock`]), a Prometheus endpoint beside the service's own
//! HTTP routes ([`serve_metrics`]), graceful stop on SIGTERM or Ctrl-C ([`shutdown_signal`]),
//! `RUST_LOG`-driven logging as text or JSON ([`init_logging`]), one-line error reports
//! ([`report`]), server reflection that lists what a service serves ([`reflection`]), and the
//! process around a service's
//! `run(listener, config, shutdown)` ([`serve`]), mutual TLS with the cluster's certificates
//! ([`tls`]), the limits every gRPC server runs with ([`limits`]), and the layer that counts,
//! times and sheds every call ([`accounting`]), and the binaries' `main` with the layered
//! settings ([`process`]).

#![warn(missing_docs)]

pub mod accounting;
mod clock;
pub mod limits;
pub mod process;
pub mod tls;

use std::future::Future;
use std::io::IsTerminal as _;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

pub use clock::Clock;

/// A server reflection builder over the locus and health schemas that lists only `services`
/// (with the health and reflection services themselves): one descriptor set describes both
/// `locus.v1.PeerService` and `locus.v1.Rendezvous`, and listing a service a server does not
/// serve sends grpcurl to calls that fail. Every type still resolves for `describe`. Call
/// `build_v1()` and `build_v1alpha()` on it.
pub fn reflection(services: &[&str]) -> tonic_reflection::server::Builder<'static> {
    const ALWAYS: [&str; 3] = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    services.iter().chain(ALWAYS.iter()).fold(
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(locus_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
        |b, name| b.with_service_name(*name),
    )
}

/// Serves `GET /metrics` (Prometheus text format) and the service's own `routes` on
/// `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    handle: PrometheusHandle,
    routes: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    handle.run_upkeep();
                    handle.render()
                }
            }),
        )
        .merge(routes);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM (the container runtime's stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

/// Installs the log subscriber: logs go to standard error, filtered by `RUST_LOG` (default
/// `info`), JSON lines when `json`; text is coloured only when standard error is a terminal and
/// `NO_COLOR` is unset or empty ([`ansi_wanted`]).
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Standard error, so that standard output stays for what a command prints (`--print-config`)
    // and a container's log driver still collects both.
    let ansi = ansi_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Whether log lines carry ANSI colour codes: only on a terminal, where someone reads them,
/// never in a file, a pipe or `docker logs`, and not when `NO_COLOR` is set to anything but
/// the empty string (<https://no-color.org>).
pub fn ansi_wanted(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// An error and its causes on one line, each cause once: most messages here already quote
/// their cause.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !out.contains(&cause_text) {
            out.push_str(": ");
            out.push_str(&cause_text);
        }
        source = cause.source();
    }
    out
}

/// Why a service process could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}{what}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the socket was for, if not the gRPC service.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The Prometheus recorder could not be installed.
    #[error("cannot install the metrics recorder")]
    Recorder(#[source] metrics_exporter_prometheus::BuildError),
    /// The metrics endpoint failed.
    #[error("the metrics endpoint failed")]
    Metrics(#[source] std::io::Error),
    /// The metrics task panicked or was cancelled.
    #[error("the metrics task failed")]
    MetricsTask(#[source] tokio::task::JoinError),
    /// The service itself failed.
    #[error(transparent)]
    Service(Box<dyn std::error::Error + Send + Sync>),
}

/// Binds `listen`, serves Prometheus metrics and the service's own HTTP `routes` (the
/// rendezvous' live map; `Router::new()` for none) on `metrics_listen` if given, and runs the
/// service until SIGTERM or Ctrl-C; the HTTP server stops once the service has. The HTTP port
/// is plain HTTP, for the cluster's internal network (docs/security.md).
pub async fn serve<Fut, E>(
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    routes: Router,
    run: impl FnOnce(TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
) -> Result<(), ServeError>
where
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let bind = |addr, what| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, what, source })
    };
    let listener = bind(listen, "").await?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let metrics = match metrics_listen {
        Some(addr) => {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    accounting::SECONDS_BUCKETS,
                )
                .map_err(ServeError::Recorder)?
                .install_recorder()
                .map_err(ServeError::Recorder)?;
            metrics::describe_counter!(
                tls::HANDSHAKES,
                "Server-side TLS handshakes, by outcome (ok, failed, timeout, shed)."
            );
            let listener = bind(addr, " for metrics").await?;
            tracing::info!(%addr, "metrics on /metrics");
            Some(tokio::spawn(serve_metrics(
                listener,
                handle,
                routes,
                async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                },
            )))
        }
        None => {
            if routes.has_routes() {
                tracing::info!("the HTTP port is off (metrics_listen): its pages are not served");
            }
            None
        }
    };
    let result = run(listener, Box::pin(shutdown_signal())).await;
    let _ = stop_tx.send(true);
    if let Some(task) = metrics {
        task.await
            .map_err(ServeError::MetricsTask)?
            .map_err(ServeError::Metrics)?;
    }
    result.map_err(|e| ServeError::Service(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::ansi_wanted;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(ansi_wanted(true, None));
        // NO_COLOR="" counts as unset, as the convention says.
        assert!(ansi_wanted(true, Some(OsStr::new(""))));
        assert!(!ansi_wanted(true, Some(OsStr::new("1"))));
        // A pipe or `docker logs`: never, whatever NO_COLOR says.
        assert!(!ansi_wanted(false, None));
        assert!(!ansi_wanted(false, Some(OsStr::new("1"))));
    }
}
