//! Metric names, and the HTTP endpoint that serves them to Prometheus.
//!
//! The peer records through the `metrics` facade; the binary installs the Prometheus recorder
//! and serves them with `locus_service::serve_metrics`. Without a recorder (tests, embedding) recording is a no-op.

/// Counter: calls served, by `rpc`, gRPC status `code` and the peer's `role` when the call
/// came (`idle`, `joining`, `member`, `electing`, `leader`); counted by
/// [`locus_service::accounting`].
pub const REQUESTS: &str = "locus_peer_requests_total";
/// Histogram: seconds from a call's arrival to the end of its response, by `rpc` and `role`.
pub const REQUEST_DURATION: &str = "locus_peer_request_duration_seconds";
/// Histogram: seconds of each `Measure` round trip this peer made (answered ones): the RTTs
/// its locality decisions rest on.
pub const MEASURED_RTT: &str = "locus_peer_measured_rtt_seconds";
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
/// Gauge: cross links to near peers of other groups.
pub const CROSS_LINKS: &str = "locus_peer_cross_links";

/// Gives every metric above its `# HELP` line; called once the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "Calls served, by rpc, gRPC status code and the peer's role at the time."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Seconds from a call's arrival to the end of its response, by rpc and role."
    );
    describe_histogram!(
        MEASURED_RTT,
        Unit::Seconds,
        "Round-trip times of the Measure calls this peer made, in seconds."
    );
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
    describe_gauge!(CROSS_LINKS, "Cross links to near peers of other groups.");
}
