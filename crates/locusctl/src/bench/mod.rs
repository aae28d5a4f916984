//! `locusctl bench`: a bounded load of one RPC against a rendezvous or a peer, with the
//! latency distribution of the calls that completed; optionally over a directory filled with
//! synthetic groups and beside background writes and watchers ([`fill`]).
//!
//! `--concurrency` tasks each make one call at a time over `--connections` shared HTTP/2
//! connections, until `--requests` calls have been made or `--duration-s` has passed, whichever
//! comes first. A call's latency runs from just before it is sent to its decoded reply; every
//! call carries the global `--timeout` as its deadline. Each connection is opened (TCP and
//! TLS handshakes) by one uncounted call before the clock starts, so the numbers are those of
//! a warm connection. Calls under way when the duration ends are awaited and counted; the rate
//! is completed calls over the time from the start until the last of them completed.

mod fill;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::Expect;
use serde::Serialize;
use tonic::Code;

use crate::client::{Client, Svc, describe};
use crate::table::Table;
use crate::{Failure, print_json};

/// Highest latency the histogram holds, in microseconds (a day, past any deadline); values
/// beyond are clamped to it.
const HIGHEST_US: u64 = 86_400_000_000;
/// A group id no directory holds: what `resolve-group` asks for without `--group` when the
/// directory is empty.
const ABSENT_GROUP: &str = "00000000-0000-4000-8000-000000000000";

/// The calls `bench` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Rpc {
    /// `GetBootList`, of a rendezvous or (with `--target peer`) a peer.
    GetBootList,
    /// `ListGroups` (the first page) of a rendezvous.
    ListGroups,
    /// `GetOverlay` of a rendezvous.
    GetOverlay,
    /// `ResolveGroup` of a rendezvous.
    ResolveGroup,
    /// `Measure` of a peer.
    Measure,
    /// `GetStatus` of a peer.
    GetStatus,
    /// `AnnounceGroup` of a rendezvous: each connection refreshes one group of `--fill`, as
    /// its leader.
    AnnounceGroup,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::GetBootList => "GetBootList",
            Rpc::ListGroups => "ListGroups",
            Rpc::GetOverlay => "GetOverlay",
            Rpc::ResolveGroup => "ResolveGroup",
            Rpc::Measure => "Measure",
            Rpc::GetStatus => "GetStatus",
            Rpc::AnnounceGroup => "AnnounceGroup",
        }
    }
}

/// Which service `bench` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// The one that serves the RPC: a peer for `measure` and `get-status`, else a rendezvous.
    Auto,
    /// A rendezvous.
    Rendezvous,
    /// A peer.
    Peer,
}

/// `bench`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The call to make.
    #[arg(long, value_enum)]
    rpc: Rpc,
    /// The kind of service at ADDR.
    #[arg(long, value_enum, default_value_t = Target::Auto)]
    target: Target,
    /// Calls in flight at once: this many tasks, each making one call at a time.
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Stop after this many calls.
    #[arg(long, default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// Stop starting calls after this many seconds.
    #[arg(long, default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration_s: u64,
    /// HTTP/2 connections the tasks share, task i on connection i mod N.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    connections: u64,
    /// `max` of each GetBootList request (at most 64 groups are returned).
    #[arg(long, default_value_t = 8)]
    max: u32,
    /// The group `resolve-group` asks for [default: the first group listed, else one that does
    /// not exist].
    #[arg(long, value_name = "UUID")]
    group: Option<String>,
    /// First fill the rendezvous' directory with this many synthetic groups, each announced
    /// by a leader of its own over mutual TLS with a certificate minted from `--ca-dir`.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(fill::MAX_FILL)))]
    fill: Option<u32>,
    /// The CA that `--fill` mints its leaders' certificates from: the directory of `locusctl
    /// ca init` (ca.pem, ca-key.pem).
    #[arg(long, value_name = "DIR", requires = "fill")]
    ca_dir: Option<PathBuf>,
    /// While the calls run, announce `--fill`'s groups at this many a second: refreshes that
    /// change nothing, as leaders mostly send.
    #[arg(long, default_value_t = 0, requires = "fill",
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    background_announce_rate: u32,
    /// Make every background announcement a change of its group's member count, which every
    /// subscriber receives: the worst case for `--watchers`.
    #[arg(long, requires = "fill")]
    background_changes: bool,
    /// While the calls run, this many `WatchOverlay` subscribers read every change (from when
    /// they subscribe, without the existing groups).
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=1_000))]
    watchers: u32,
    /// The service's address, `host:port` [default: --rendezvous, for a rendezvous].
    addr: Option<String>,
}

/// One connection's client, of the service the benchmark calls.
#[derive(Debug, Clone)]
enum Stub {
    Rendezvous(RendezvousClient<Svc>),
    Peer(PeerServiceClient<Svc>),
    /// A synthetic group's leader, for `AnnounceGroup`.
    Leader(fill::Leader),
}

/// What one call needs besides its client.
#[derive(Debug, Clone)]
struct Call {
    rpc: Rpc,
    max: u32,
    group: String,
}

impl Call {
    /// Makes the call; only its outcome is kept.
    async fn make(&self, stub: &mut Stub) -> Result<(), tonic::Status> {
        match (stub, self.rpc) {
            (Stub::Rendezvous(c), Rpc::GetBootList) => c
                .get_boot_list(pb::GetBootListRequest {
                    caller: None,
                    max: self.max,
                    landmarks: false,
                    near: vec![],
                    shortcut_for: Default::default(),
                })
                .await
                .map(drop),
            (Stub::Peer(c), Rpc::GetBootList) => c
                .get_boot_list(pb::GetBootListRequest {
                    caller: None,
                    max: self.max,
                    landmarks: false,
                    near: vec![],
                    shortcut_for: Default::default(),
                })
                .await
                .map(drop),
            (Stub::Rendezvous(c), Rpc::ListGroups) => c
                .list_groups(pb::ListGroupsRequest {
                    caller: None,
                    page_size: 0,
                    page_token: String::new(),
                })
                .await
                .map(drop),
            (Stub::Rendezvous(c), Rpc::GetOverlay) => c
                .get_overlay(pb::GetOverlayRequest {
                    caller: None,
                    ..Default::default()
                })
                .await
                .map(drop),
            (Stub::Rendezvous(c), Rpc::ResolveGroup) => c
                .resolve_group(pb::ResolveGroupRequest {
                    caller: None,
                    group_id: self.group.clone(),
                })
                .await
                .map(drop),
            (Stub::Peer(c), Rpc::Measure) => c
                .measure(pb::MeasureRequest { caller: None })
                .await
                .map(drop),
            (Stub::Leader(l), Rpc::AnnounceGroup) => l.announce().await,
            (Stub::Peer(c), Rpc::GetStatus) => c
                .get_status(pb::GetStatusRequest { caller: None })
                .await
                .map(drop),
            // `run` pairs every RPC with a service that serves it.
            (_, rpc) => Err(tonic::Status::internal(format!(
                "{} is not benchmarked against this service",
                rpc.name()
            ))),
        }
    }
}

/// One task's tally.
#[derive(Debug)]
struct Tally {
    /// Latencies of the calls that succeeded, in microseconds.
    ok: Histogram<u64>,
    /// Failed calls by code, with the first message seen for each.
    errors: BTreeMap<i32, (u64, String)>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            ok: Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok
            .add(other.ok)
            .expect("histograms of the same bounds add up");
        for (code, (n, first)) in other.errors {
            self.errors.entry(code).or_insert((0, first)).0 += n;
        }
    }
}

/// The report, as `-o json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    rpc: &'static str,
    target: &'static str,
    addr: String,
    tls: String,
    concurrency: u64,
    connections: u64,
    /// `requests` when the count was reached, `duration` when the time ran out first.
    stopped_by: &'static str,
    /// Completed calls, successful or not.
    calls: u64,
    ok: u64,
    errors: u64,
    /// Completed calls by gRPC code, `OK` included.
    codes: BTreeMap<&'static str, u64>,
    /// The first message of each error code.
    first_errors: BTreeMap<&'static str, String>,
    elapsed_s: f64,
    requests_per_s: f64,
    /// Latency of the successful calls; `None` when there were none.
    latency_us: Option<Latency>,
    /// The directory's fill before the run (`--fill`).
    fill: Option<fill::FillReport>,
    /// The load beside the calls (`--background-announce-rate`, `--watchers`).
    background: Option<fill::BackgroundReport>,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: u64,
    p90: u64,
    p99: u64,
    p99_9: u64,
    max: u64,
    mean: f64,
}

/// Runs the benchmark and prints its report; fails when no call succeeded.
pub(crate) async fn run(
    args: BenchArgs,
    client: &Client,
    rendezvous: &str,
    json: bool,
) -> Result<(), Failure> {
    let serves = |target| {
        matches!(
            (args.rpc, target),
            (Rpc::GetBootList, _)
                | (Rpc::Measure | Rpc::GetStatus, Target::Peer)
                | (
                    Rpc::ListGroups | Rpc::GetOverlay | Rpc::ResolveGroup | Rpc::AnnounceGroup,
                    Target::Rendezvous
                )
        )
    };
    let target = match args.target {
        Target::Auto if serves(Target::Rendezvous) => Target::Rendezvous,
        Target::Auto => Target::Peer,
        t if serves(t) => t,
        t => {
            return Err(Failure::new(
                2,
                format!(
                    "a {} does not serve {}",
                    if t == Target::Peer {
                        "peer"
                    } else {
                        "rendezvous"
                    },
                    args.rpc.name()
                ),
            ));
        }
    };
    let (what, addr) = match (target, &args.addr) {
        (Target::Peer, None) => {
            return Err(Failure::new(
                2,
                "bench against a peer needs its address, ADDR",
            ));
        }
        (Target::Peer, Some(a)) => ("peer", a.clone()),
        (_, a) => (
            "rendezvous",
            a.clone().unwrap_or_else(|| rendezvous.to_string()),
        ),
    };
    let announcers = if args.rpc == Rpc::AnnounceGroup {
        args.connections as usize
    } else {
        0
    };
    // Refreshes spread over enough leaders that none passes a rendezvous' default write rate
    // (20 a second).
    let background_leaders = match args.background_announce_rate {
        0 => 0,
        rate => (rate as usize / 5).max(64),
    };
    let (mut leaders, fill_report) = match (args.fill, &args.ca_dir) {
        (Some(_), _) if target != Target::Rendezvous => {
            return Err(Failure::new(2, "--fill fills a rendezvous' directory"));
        }
        (Some(_), None) => {
            return Err(Failure::new(
                2,
                "--fill needs --ca-dir, the CA to mint its leaders' certificates from",
            ));
        }
        (Some(_), Some(_)) if *client.mode() == crate::client::Mode::Plaintext => {
            return Err(Failure::new(
                2,
                "--fill needs TLS (--ca): a plaintext rendezvous checks every new group with its leader, and synthetic leaders do not answer",
            ));
        }
        (Some(n), Some(dir)) => {
            if (n as usize) < announcers {
                return Err(Failure::new(
                    2,
                    "--rpc announce-group refreshes one filled group per connection: --fill at least --connections",
                ));
            }
            eprintln!("filling the directory with {n} synthetic groups");
            let (leaders, report) =
                fill::fill(client, dir, &addr, n, announcers + background_leaders).await?;
            (leaders, Some(report))
        }
        (None, _) if args.rpc == Rpc::AnnounceGroup => {
            return Err(Failure::new(
                2,
                "--rpc announce-group refreshes the groups of --fill: give --fill and --ca-dir",
            ));
        }
        (None, _) => (Vec::new(), None),
    };
    let background = leaders.split_off(announcers.min(leaders.len()));
    let mut leaders = leaders.into_iter();
    let mut stubs = Vec::new();
    for _ in 0..args.connections {
        stubs.push(match (target, args.rpc) {
            (Target::Peer, _) => Stub::Peer(client.peer(&addr, Expect::AnyPeer)?),
            (_, Rpc::AnnounceGroup) => match leaders.next() {
                Some(l) => Stub::Leader(l),
                None => return Err(Failure::new(1, "--fill kept too few leaders")),
            },
            _ => Stub::Rendezvous(client.rendezvous(&addr)?),
        });
    }
    let group = match (&args.group, &mut stubs[0]) {
        (Some(g), _) => g.clone(),
        (None, Stub::Rendezvous(c)) if args.rpc == Rpc::ResolveGroup => c
            .list_groups(pb::ListGroupsRequest {
                caller: None,
                page_size: 1,
                page_token: String::new(),
            })
            .await
            .map_err(|s| client.fail(what, &addr, s))?
            .into_inner()
            .groups
            .first()
            .and_then(|e| e.group.as_ref())
            .map_or_else(|| ABSENT_GROUP.to_string(), |g| g.group_id.clone()),
        (None, _) => ABSENT_GROUP.to_string(),
    };
    let call = Call {
        rpc: args.rpc,
        max: args.max,
        group,
    };
    // Open every connection before the clock starts; a service that refuses the call stops
    // the benchmark here, with the reason, rather than after thousands of failures.
    for stub in &mut stubs {
        call.make(stub)
            .await
            .map_err(|s| client.fail(what, &addr, s))?;
    }

    let load = if args.background_announce_rate > 0 || args.watchers > 0 {
        Some(
            fill::Background::start(
                client,
                &addr,
                background,
                args.background_announce_rate,
                args.background_changes,
                args.watchers,
            )
            .await?,
        )
    } else {
        None
    };

    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop_at = start + Duration::from_secs(args.duration_s);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.concurrency {
        let mut stub = stubs[(i % args.connections) as usize].clone();
        let call = call.clone();
        let issued = Arc::clone(&issued);
        let requests = args.requests;
        tasks.spawn(async move {
            let mut tally = Tally::new();
            while Instant::now() < stop_at && issued.fetch_add(1, Ordering::Relaxed) < requests {
                let sent = Instant::now();
                let outcome = call.make(&mut stub).await;
                let took = sent.elapsed();
                match outcome {
                    Ok(()) => {
                        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                        tally.ok.saturating_record(us.max(1));
                    }
                    Err(s) => {
                        tally
                            .errors
                            .entry(s.code() as i32)
                            .or_insert_with(|| (0, describe(&s)))
                            .0 += 1;
                    }
                }
            }
            (tally, Instant::now())
        });
    }
    let mut total = Tally::new();
    let mut last = start;
    while let Some(done) = tasks.join_next().await {
        let (tally, finished) =
            done.map_err(|e| Failure::new(1, format!("a benchmark task failed: {e}")))?;
        total.merge(tally);
        last = last.max(finished);
    }
    let elapsed = last.duration_since(start).as_secs_f64();
    let background = match load {
        Some(load) => Some(load.stop().await),
        None => None,
    };

    let ok = total.ok.len();
    let errors: u64 = total.errors.values().map(|(n, _)| n).sum();
    let calls = ok + errors;
    let mut codes = BTreeMap::new();
    if ok > 0 {
        codes.insert("OK", ok);
    }
    let mut first_errors = BTreeMap::new();
    for (code, (n, first)) in &total.errors {
        let name = code_name(Code::from(*code));
        codes.insert(name, *n);
        first_errors.insert(name, first.clone());
    }
    let h = &total.ok;
    let report = Report {
        rpc: args.rpc.name(),
        target: what,
        addr,
        tls: client.mode().to_string(),
        concurrency: args.concurrency,
        connections: args.connections,
        stopped_by: if calls >= args.requests {
            "requests"
        } else {
            "duration"
        },
        calls,
        ok,
        errors,
        codes,
        first_errors,
        elapsed_s: elapsed,
        requests_per_s: if elapsed > 0.0 {
            calls as f64 / elapsed
        } else {
            0.0
        },
        latency_us: (ok > 0).then(|| Latency {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }),
        fill: fill_report,
        background,
    };
    if json {
        print_json(&report)?;
    } else {
        out!("{}", render(&report));
    }
    if ok == 0 {
        return Err(Failure::new(1, "no call succeeded"));
    }
    Ok(())
}

fn render(r: &Report) -> String {
    let mut out = format!(
        "{} against {} {} ({}), {} tasks over {}\n",
        r.rpc,
        r.target,
        r.addr,
        r.tls,
        r.concurrency,
        crate::units::count(r.connections, "connection"),
    );
    if let Some(f) = &r.fill {
        out += &format!(
            "filled with {} first: certificates minted in {:.1} s, announced in {:.1} s ({:.0} a second)\n",
            crate::units::count(u64::from(f.groups), "synthetic group"),
            f.mint_s,
            f.announce_s,
            f.announces_per_s
        );
    }
    if let Some(b) = &r.background {
        out += &format!(
            "beside it: {} ({:.0} a second, {} failed{}), {} reading {} ({} lost)\n",
            crate::units::count(b.announces, "announcement"),
            b.announces_per_s,
            b.announce_errors,
            b.first_announce_error
                .as_ref()
                .map(|e| format!(", first: {e}"))
                .unwrap_or_default(),
            crate::units::count(u64::from(b.watchers), "WatchOverlay subscriber"),
            crate::units::count(b.watch_events, "event"),
            b.watchers_lost
        );
    }
    out += &format!(
        "{} completed in {:.3} s (stopped by --{}): {:.1} requests/s\n\n",
        crate::units::count(r.calls, "call"),
        r.elapsed_s,
        if r.stopped_by == "requests" {
            "requests"
        } else {
            "duration-s"
        },
        r.requests_per_s
    );
    let mut t = Table::new(&["CODE", "CALLS", "FIRST MESSAGE"]);
    // OK first, then the errors by name.
    let ok = r.codes.get_key_value("OK");
    for (code, n) in ok
        .into_iter()
        .chain(r.codes.iter().filter(|(c, _)| **c != "OK"))
    {
        let first = r.first_errors.get(code).cloned().unwrap_or_default();
        t.row(vec![code.to_string(), n.to_string(), first]);
    }
    out += &t.render();
    out.push('\n');
    let mut t = Table::new(&["LATENCY OF OK CALLS", "P50", "P90", "P99", "P99.9", "MAX"]);
    match &r.latency_us {
        Some(l) => t.row(
            std::iter::once("ms".to_string())
                .chain(
                    [l.p50, l.p90, l.p99, l.p99_9, l.max]
                        .map(|us| format!("{:.3}", us as f64 / 1000.0)),
                )
                .collect(),
        ),
        None => t.row(vec![
            "ms".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]),
    }
    out += &t.render();
    out
}

/// A code's name as the gRPC spec spells it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_merge_counts_and_keep_the_first_message() {
        let mut a = Tally::new();
        a.ok.saturating_record(100);
        a.errors
            .insert(Code::Unavailable as i32, (2, "first".into()));
        let mut b = Tally::new();
        b.ok.saturating_record(300);
        b.ok.saturating_record(HIGHEST_US * 2);
        b.errors
            .insert(Code::Unavailable as i32, (1, "later".into()));
        b.errors.insert(Code::Internal as i32, (1, "x".into()));
        a.merge(b);
        assert_eq!(a.ok.len(), 3);
        assert!(a.ok.max() >= HIGHEST_US);
        assert_eq!(a.errors[&(Code::Unavailable as i32)], (3, "first".into()));
        assert_eq!(a.errors[&(Code::Internal as i32)].0, 1);
        assert_eq!(
            code_name(Code::from(Code::Unauthenticated as i32)),
            "UNAUTHENTICATED"
        );
    }
}
