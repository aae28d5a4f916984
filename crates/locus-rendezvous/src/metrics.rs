//! Metric names, and the HTTP endpoint that serves them to Prometheus.
//!
//! The service records through the `metrics` facade; the binary installs the Prometheus
//! recorder and serves them with `locus_service::serve_metrics`. Without a recorder (tests, embedding) recording is a no-op.

/// Counter: calls served, by `rpc` and gRPC status `code`; counted by
/// [`locus_service::accounting`].
pub const REQUESTS: &str = "locus_rendezvous_requests_total";
/// Histogram: seconds from a call's arrival to the end of its response, by `rpc` (for
/// `WatchOverlay`, the stream's life).
pub const REQUEST_DURATION: &str = "locus_rendezvous_request_duration_seconds";
/// Gauge: live groups in the directory.
pub const GROUPS: &str = "locus_rendezvous_groups";
/// Counter: entries that expired without a refresh.
pub const EXPIRED: &str = "locus_rendezvous_entries_expired_total";
/// Gauge: open `WatchOverlay` streams.
pub const WATCHERS: &str = "locus_rendezvous_watchers";
/// Counter: `WatchOverlay` subscribers dropped for falling behind, or for leaving an event
/// unread past the send timeout.
pub const WATCHERS_DROPPED: &str = "locus_rendezvous_watchers_dropped_total";
/// Counter: announcements checked with their leaders, by `outcome`: `confirmed`, `refused`
/// (the leader did not bear the announcement out: forged, stale or unreachable), `overloaded`
/// (refused unchecked, too many checks in flight); with TLS, a takeover's check of the current
/// leader: `leader_alive` (refused), `leader_gone` (taken).
pub const CHECKS: &str = "locus_rendezvous_announcement_checks_total";
/// Counter: enrollments and renewals, by `outcome`: `enrolled`, `renewed`, `bad_token`, `off`
/// (no tokens file).
pub const ENROLLMENTS: &str = "locus_rendezvous_enrollments_total";
/// Counter: announcements refused by the authorization rules (docs/security.md), by `rule`:
/// `not_leader`, `not_current_leader`, `leads_another`, `leader_alive`.
pub const UNAUTHORIZED: &str = "locus_rendezvous_unauthorized_announcements_total";
/// Counter: announcements of new groups refused because the directory holds `max_groups`.
pub const FULL: &str = "locus_rendezvous_directory_full_total";

/// Counter: writes refused for going past the caller's rate (`write_rate`), by `rpc`.
pub const RATE_LIMITED: &str = "locus_rendezvous_rate_limited_total";

/// Gives every metric above its `# HELP` line; called once the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "Calls served, by rpc and gRPC status code.");
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Seconds from a call's arrival to the end of its response, by rpc (WatchOverlay: the stream's life)."
    );
    describe_gauge!(GROUPS, "Live groups in the directory.");
    describe_counter!(EXPIRED, "Entries that expired without a refresh.");
    describe_gauge!(WATCHERS, "Open WatchOverlay streams.");
    describe_counter!(
        WATCHERS_DROPPED,
        "WatchOverlay subscribers dropped for falling behind or leaving events unread."
    );
    describe_counter!(
        CHECKS,
        "Announcements checked with their leaders, by outcome (confirmed, refused, overloaded, leader_alive, leader_gone)."
    );
    describe_counter!(
        ENROLLMENTS,
        "Enrollments and renewals, by outcome (enrolled, renewed, bad_token, off)."
    );
    describe_counter!(
        UNAUTHORIZED,
        "Announcements refused by the authorization rules, by rule."
    );
    describe_counter!(
        RATE_LIMITED,
        "Writes refused for going past the caller's rate (write_rate), by rpc."
    );
    describe_counter!(
        FULL,
        "Announcements of new groups refused because the directory holds max_groups."
    );
}
