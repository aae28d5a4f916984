//! Metric names, and the HTTP endpoint that serves them to Prometheus.
//!
//! The service records through the `metrics` facade; the binary installs the Prometheus
//! recorder and serves them with `locus_service::serve_metrics`. Without a recorder (tests, embedding) recording is a no-op.

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
/// Counter: announcements checked with their leaders, by `outcome`: `confirmed`, `refused`
/// (the leader did not bear the announcement out: forged, stale or unreachable), `overloaded`
/// (refused unchecked, too many checks in flight).
pub const CHECKS: &str = "locus_rendezvous_announcement_checks_total";
