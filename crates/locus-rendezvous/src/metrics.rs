//! Metric names, and the HTTP endpoint that serves them to Prometheus.
//!
//! The service records through the `metrics` facade; the binary installs the Prometheus
//! recorder and serves [`serve`]. Without a recorder (tests, embedding) recording is a no-op.

use std::future::Future;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

/// Counter: calls served, by `rpc` and gRPC status `code`.
pub const REQUESTS: &str = "locus_rendezvous_requests_total";
/// Gauge: live groups in the directory.
pub const GROUPS: &str = "locus_rendezvous_groups";
/// Counter: entries that expired without a refresh.
pub const EXPIRED: &str = "locus_rendezvous_entries_expired_total";
/// Gauge: open `WatchOverlay` streams.
pub const WATCHERS: &str = "locus_rendezvous_watchers";
/// Counter: `WatchOverlay` subscribers dropped for falling behind.
pub const WATCHERS_DROPPED: &str = "locus_rendezvous_watchers_dropped_total";

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                handle.render()
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
