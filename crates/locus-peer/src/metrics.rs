//! Metric names, and the HTTP endpoint that serves them to Prometheus.
//!
//! The peer records through the `metrics` facade; the binary installs the Prometheus recorder
//! and serves them with `locus_service::serve_metrics`. Without a recorder (tests, embedding) recording is a no-op.

/// Counter: calls served, by `rpc` and gRPC status `code`.
pub const REQUESTS: &str = "locus_peer_requests_total";
/// Counter: calls made, by `rpc` and `outcome` (`ok`, `timeout`, `unreachable`, `refused`,
/// `overloaded`).
pub const CALLS: &str = "locus_peer_calls_total";
/// Gauge: outgoing calls in flight.
pub const INFLIGHT: &str = "locus_peer_inflight_calls";
/// Counter: protocol events, by `event` (`joined`, `became_leader`, ...).
pub const EVENTS: &str = "locus_peer_events_total";
/// Gauge: the peer's role: 0 idle, 1 joining, 2 member, 3 electing, 4 leader.
pub const ROLE: &str = "locus_peer_role";
/// Gauge: intra-group links.
pub const INTRA_LINKS: &str = "locus_peer_intra_links";
/// Gauge: inter-group links (leaders).
pub const INTER_LINKS: &str = "locus_peer_inter_links";

/// Gives every metric above its `# HELP` line; called once the recorder is installed.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(REQUESTS, "Calls served, by rpc and gRPC status code.");
    describe_counter!(
        CALLS,
        "Calls made, by rpc and outcome (ok, timeout, unreachable, refused, overloaded)."
    );
    describe_gauge!(INFLIGHT, "Outgoing calls in flight.");
    describe_counter!(
        EVENTS,
        "Protocol events, by event (joined, became_leader, ...)."
    );
    describe_gauge!(
        ROLE,
        "The peer's role: 0 idle, 1 joining, 2 member, 3 electing, 4 leader."
    );
    describe_gauge!(INTRA_LINKS, "Intra-group links.");
    describe_gauge!(INTER_LINKS, "Inter-group links (leaders).");
}
