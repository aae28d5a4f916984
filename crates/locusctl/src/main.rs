//! `locusctl`: the command-line client of a locus overlay.
//!
//! It reads the rendezvous' directory (groups, overlay, live events) and asks single peers for
//! their status and nearby peers. Tables by default, JSON with `--output json`, Graphviz for
//! the overlay with `--output dot`. It talks plaintext, or TLS with `--ca` and an operator's
//! `--cert`/`--key` ([`client`]); makes the cluster's CA, operator certificates and join tokens
//! ([`certs`]); and puts a bounded load on a service ([`bench`]).
//!
//! Exit codes: 0 success; 1 any other failure; 2 bad usage; 3 a service could not be reached
//! or did not answer in time; 4 the group asked for is not in the directory.

/// `print!` that ends the process quietly once standard output is closed
/// (`locusctl groups | head`) instead of panicking ([`stdout_failed`]), and that prints no
/// control character but line ends and tabs ([`output::terminal_safe`]): what it prints comes
/// from services, and an address or a message must not drive the operator's terminal.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        if let Err(e) = write!(std::io::stdout(), "{}", $crate::output::terminal_safe(&text)) {
            $crate::stdout_failed(e)
        }
    }};
}

/// `println!` that ends the process quietly once standard output is closed; see [`out!`].
macro_rules! outln {
    () => {
        outln!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        if let Err(e) = writeln!(std::io::stdout(), "{}", $crate::output::terminal_safe(&text)) {
            $crate::stdout_failed(e)
        }
    }};
}

/// Standard output failed: a reader that went away (a pipe into `head`) ends the command with
/// success, as it would have ended on SIGPIPE in C; anything else is an error.
fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("locusctl: cannot write to standard output: {e}");
    std::process::exit(1);
}

mod bench;
mod certs;
mod client;
mod dot;
mod output;
mod table;
mod units;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use client::{Client, Svc, TlsArgs};
use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::Expect;
use output::{EventOut, GroupOut, LinkInfoOut, LinkOut, OverlayOut, PeerOut, StatusOut};
use serde::Serialize;
use table::Table;
use units::{count, ms, parse_duration};

/// Command-line client for a locus overlay: groups, peers, the overlay and its live events.
///
/// Exit codes: 0 success, 1 failure, 2 bad usage, 3 service unreachable or too slow,
/// 4 group not found.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Rendezvous address, `host:port`.
    #[arg(
        long,
        short,
        env = "LOCUS_RENDEZVOUS",
        default_value = "127.0.0.1:7100",
        global = true
    )]
    rendezvous: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    /// Deadline of each call, with its unit: `500ms`, `5s`, `1m`.
    #[arg(long, short, value_name = "DURATION", value_parser = parse_duration,
          default_value = "5s", global = true)]
    timeout: Duration,
    /// Deprecated spelling of `--timeout` in milliseconds; the health checks of images built
    /// before `--timeout` existed still pass it.
    #[arg(
        long,
        value_name = "MS",
        global = true,
        hide = true,
        conflicts_with = "timeout"
    )]
    timeout_ms: Option<u64>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Aligned columns.
    Table,
    /// JSON (one document; one object per line for `watch`).
    Json,
    /// Graphviz (`overlay` only): `locusctl overlay -o dot | dot -Tsvg > overlay.svg`.
    Dot,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live groups in the rendezvous directory.
    Groups,
    /// One group's entry: leader, successors, member count (with `-o json`, the same object as
    /// an element of `groups -o json`).
    Group {
        /// The group id (UUID).
        id: String,
    },
    /// Peers seen from the groups' leaders: leaders, successors, and their intra-group links.
    Peers,
    /// One peer's status: role, group, leadership list, links with RTTs.
    Peer {
        /// The peer's address, `host:port`.
        addr: String,
    },
    /// The overlay snapshot: groups and the inter-group links their leaders announced
    /// (`-o dot` for Graphviz).
    Overlay,
    /// Follow the directory's changes as they happen, stamped in UTC (Ctrl-C to stop).
    Watch {
        /// Start with the groups that exist already.
        #[arg(long)]
        include_existing: bool,
    },
    /// Whether a rendezvous or peer serves (gRPC health): exit 0 when it does, 1 when not. For
    /// container health checks.
    Health {
        /// The service's address, `host:port`.
        addr: String,
        /// The service to ask about; the empty default asks about the server as a whole.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// The peers closest to a peer, by the RTTs it measured.
    Nearby {
        /// The peer's address, `host:port`.
        addr: String,
        /// Most peers to list (at most 64).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// A bounded load of one read RPC: its rate, outcomes and latency percentiles.
    ///
    /// `locusctl bench --rpc get-boot-list --concurrency 16 --requests 20000 --duration-s 30`
    /// stops after 20000 calls or 30 s, whichever comes first.
    Bench(bench::BenchArgs),
    /// The cluster's certificate authority.
    #[command(subcommand)]
    Ca(certs::CaCommand),
    /// Join tokens, which peers trade for their certificates.
    #[command(subcommand)]
    Token(certs::TokenCommand),
    /// Certificates: make one for an operator, or show what one says.
    #[command(subcommand)]
    Cert(certs::CertCommand),
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

type Result<T> = std::result::Result<T, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark must not be limited by a client on one core; the rest make a call or two.
    let runtime = if matches!(cli.command, Command::Bench(_)) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("locusctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("locusctl: {}", output::terminal_safe(&f.message));
            ExitCode::from(f.code)
        }
    }
}

async fn execute(cli: Cli) -> Result<()> {
    let timeout = match cli.timeout_ms {
        Some(0) => return Err(Failure::new(2, "--timeout-ms must be above 0")),
        Some(ms) => Duration::from_millis(ms),
        None => cli.timeout,
    };
    if cli.output == Output::Dot && !matches!(cli.command, Command::Overlay) {
        return Err(Failure::new(2, "`--output dot` is for `overlay` only"));
    }
    let json = cli.output == Output::Json;
    // The certificate commands make no calls, and need no TLS flags to be right.
    let command = match cli.command {
        Command::Ca(c) => return certs::ca(c),
        Command::Token(c) => return certs::token(c),
        Command::Cert(c) => return certs::cert(c, json),
        command => command,
    };
    let client = Client::new(&cli.tls, timeout)?;
    let rendezvous = || client.rendezvous(&cli.rendezvous);
    let rv_fail = |s| client.fail("rendezvous", &cli.rendezvous, s);
    match command {
        Command::Groups => {
            let groups = list_groups(&mut rendezvous()?).await.map_err(rv_fail)?;
            let groups: Vec<GroupOut> = groups.into_iter().map(GroupOut::from).collect();
            if json {
                print_json(&groups)
            } else {
                let mut t = Table::new(&[
                    "GROUP",
                    "LEADER",
                    "ADDRESS",
                    "EPOCH",
                    "MEMBERS",
                    "EXPIRES IN",
                ]);
                for g in &groups {
                    t.row(vec![
                        g.group_id.clone(),
                        g.leader_id.clone(),
                        g.leader_addr.clone(),
                        g.epoch.to_string(),
                        member_count(g.member_count),
                        g.expires_in(),
                    ]);
                }
                out!("{}", t.render());
                Ok(())
            }
        }
        Command::Group { id } => {
            if uuid_ok(&id).is_err() {
                return Err(Failure::new(
                    2,
                    format!("`{id}` is not a group id (a UUID)"),
                ));
            }
            let entry = find_group(&mut rendezvous()?, &id.to_ascii_lowercase())
                .await
                .map_err(rv_fail)?
                .ok_or_else(|| {
                    Failure::new(
                        4,
                        format!("group {id} is not in the directory (unknown, ended or expired)"),
                    )
                })?;
            let out = GroupOut::from(entry);
            if json {
                print_json(&out)
            } else {
                outln!(
                    "group      {}\nepoch      {}\nleader     {} {}\nmembers    {}\nexpires in {}",
                    out.group_id,
                    out.epoch,
                    out.leader_id,
                    out.leader_addr,
                    member_count(out.member_count),
                    out.expires_in()
                );
                for (i, s) in out.successors.iter().enumerate() {
                    outln!("successor  {} {} {}", i + 1, s.peer_id, s.addr);
                }
                Ok(())
            }
        }
        Command::Peers => peers(&mut rendezvous()?, &client, json)
            .await
            .map_err(rv_fail)?,
        Command::Peer { addr } => {
            let status = client
                .peer(&addr, Expect::AnyPeer)?
                .get_status(pb::GetStatusRequest { caller: None })
                .await
                .map_err(|s| client.fail("peer", &addr, s))?
                .into_inner();
            print_status(StatusOut::from(status), json)
        }
        Command::Overlay => {
            let o = overlay(&mut rendezvous()?).await.map_err(rv_fail)?;
            let out = OverlayOut {
                groups: o.groups.into_iter().map(GroupOut::from).collect(),
                links: o.links.into_iter().map(LinkOut::from).collect(),
                truncated: o.truncated,
            };
            match cli.output {
                Output::Json => return print_json(&out),
                Output::Dot => {
                    out!("{}", dot::render(&out));
                    return Ok(());
                }
                Output::Table => {}
            }
            let mut t = Table::new(&["GROUP", "LEADER", "EPOCH", "MEMBERS"]);
            for g in &out.groups {
                t.row(vec![
                    g.group_id.clone(),
                    g.leader_addr.clone(),
                    g.epoch.to_string(),
                    member_count(g.member_count),
                ]);
            }
            out!("{}", t.render());
            outln!();
            let mut t = Table::new(&["GROUP", "NEIGHBOUR GROUP", "NEIGHBOUR LEADER", "RTT"]);
            for l in &out.links {
                t.row(vec![
                    l.group_id.clone(),
                    l.neighbor_group_id.clone(),
                    l.neighbor_leader_addr.clone(),
                    ms(l.rtt_us),
                ]);
            }
            out!("{}", t.render());
            if out.truncated {
                outln!("(truncated: the overlay has more groups than one snapshot carries)");
            }
            Ok(())
        }
        Command::Watch { include_existing } => {
            // No deadline on the call, which runs until the operator stops it (a server may
            // hold a stream to its grpc-timeout); only its start is bounded, here. A stream
            // that ends (the rendezvous restarted, or closed an old connection at its maximum
            // age) is taken up again, without the existing groups: changes in between are
            // missed, which the note on standard error says.
            let channel = client.channel(&cli.rendezvous, Expect::Rendezvous)?;
            let mut include_existing = include_existing;
            let mut first = true;
            loop {
                let mut watcher = RendezvousClient::new(channel.clone());
                let started = watcher.watch_overlay(pb::WatchOverlayRequest {
                    caller: None,
                    include_existing,
                });
                let stream = match tokio::time::timeout(timeout, started).await {
                    Ok(Ok(s)) => s.into_inner(),
                    Ok(Err(s)) if first => return Err(rv_fail(s)),
                    Err(_) if first => {
                        return Err(rv_fail(tonic::Status::deadline_exceeded(
                            "no reply in time",
                        )));
                    }
                    // Not back yet: try again in a second.
                    Ok(Err(_)) | Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if !first {
                    eprintln!("locusctl: watching again (changes while away were missed)");
                }
                first = false;
                include_existing = false;
                let ended = print_events(stream, json).await?;
                eprintln!("locusctl: the stream ended ({ended}); subscribing again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Command::Health { addr, service } => {
            use tonic_health::pb::health_check_response::ServingStatus;
            let reply = tonic_health::pb::health_client::HealthClient::with_interceptor(
                client.channel(&addr, Expect::AnyServer)?,
                client.deadline(),
            )
            .check(tonic_health::pb::HealthCheckRequest { service })
            .await
            .map_err(|s| client.fail("service", &addr, s))?
            .into_inner();
            let status = ServingStatus::try_from(reply.status).unwrap_or(ServingStatus::Unknown);
            if json {
                print_json(&serde_json::json!({ "status": status.as_str_name() }))?;
            } else {
                outln!("{}", status.as_str_name());
            }
            match status {
                ServingStatus::Serving => Ok(()),
                _ => Err(Failure::new(
                    1,
                    format!("{addr} is {}", status.as_str_name()),
                )),
            }
        }
        Command::Nearby { addr, limit } => {
            let reply = client
                .peer(&addr, Expect::AnyPeer)?
                .nearby(pb::NearbyRequest {
                    caller: None,
                    limit,
                })
                .await
                .map_err(|s| client.fail("peer", &addr, s))?
                .into_inner();
            let out: Vec<LinkInfoOut> = reply.peers.into_iter().map(LinkInfoOut::from).collect();
            if json {
                return print_json(&out);
            }
            let mut t = Table::new(&["PEER", "ADDRESS", "RTT"]);
            for p in &out {
                t.row(vec![
                    p.peer.peer_id.clone(),
                    p.peer.addr.clone(),
                    ms(p.rtt_us),
                ]);
            }
            out!("{}", t.render());
            Ok(())
        }
        Command::Bench(args) => bench::run(args, &client, &cli.rendezvous, json).await,
        Command::Ca(_) | Command::Token(_) | Command::Cert(_) => {
            unreachable!("handled before any connection is set up")
        }
    }
}

fn uuid_ok(s: &str) -> std::result::Result<(), ()> {
    // A UUID in its canonical form: 36 characters, hex digits and four dashes.
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if ok { Ok(()) } else { Err(()) }
}

/// Every directory entry, page by page.
async fn list_groups(
    c: &mut RendezvousClient<Svc>,
) -> std::result::Result<Vec<pb::GroupEntry>, tonic::Status> {
    let mut out = Vec::new();
    pages(c, |entries| {
        out.extend(entries);
        true
    })
    .await?;
    Ok(out)
}

/// The directory entry of group `id` (lowercase canonical UUID), read page by page: ListGroups
/// carries the announcement times that ResolveGroup lacks, so `group` and `groups` show the
/// same entry. Pages come in group-id order, so the search stops at the first page past `id`.
async fn find_group(
    c: &mut RendezvousClient<Svc>,
    id: &str,
) -> std::result::Result<Option<pb::GroupEntry>, tonic::Status> {
    let mut found = None;
    pages(c, |entries| {
        let mut past = false;
        for entry in entries {
            let gid = entry.group.as_ref().map_or("", |g| g.group_id.as_str());
            past |= gid > id;
            if gid == id {
                found = Some(entry);
                return false;
            }
        }
        !past
    })
    .await?;
    Ok(found)
}

/// Hands the directory's pages to `page` in group-id order until it returns `false` or the
/// last page.
async fn pages(
    c: &mut RendezvousClient<Svc>,
    mut page: impl FnMut(Vec<pb::GroupEntry>) -> bool,
) -> std::result::Result<(), tonic::Status> {
    let mut page_token = String::new();
    loop {
        let reply = c
            .list_groups(pb::ListGroupsRequest {
                caller: None,
                page_size: 1024,
                page_token,
            })
            .await?
            .into_inner();
        if !page(reply.groups) || reply.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = reply.next_page_token;
    }
}

/// The whole overlay, read page by page: each page is a consistent read of its groups, and
/// pages read one after the other may see the directory at different moments.
async fn overlay(
    c: &mut RendezvousClient<Svc>,
) -> std::result::Result<pb::GetOverlayReply, tonic::Status> {
    let mut all = pb::GetOverlayReply::default();
    let mut page_token = String::new();
    loop {
        let reply = c
            .get_overlay(pb::GetOverlayRequest {
                caller: None,
                page_size: 0,
                page_token,
            })
            .await?
            .into_inner();
        if all.taken_at_unix_ms == 0 {
            all.taken_at_unix_ms = reply.taken_at_unix_ms;
        }
        all.groups.extend(reply.groups);
        all.links.extend(reply.links);
        if !reply.truncated || reply.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = reply.next_page_token;
    }
}

/// A member count as tables show it: 0 means the sender did not know (`GroupView`).
fn member_count(n: u32) -> String {
    if n == 0 { "?".into() } else { n.to_string() }
}

async fn peers(
    c: &mut RendezvousClient<Svc>,
    client: &Client,
    json: bool,
) -> std::result::Result<Result<()>, tonic::Status> {
    let overlay = overlay(c).await?;
    let mut seen = std::collections::BTreeMap::<String, PeerOut>::new();
    for entry in overlay.groups {
        let Some(view) = entry.group else { continue };
        let Some(leader) = view.leader.clone() else {
            continue;
        };
        let out = |p: &pb::PeerRef, role: &str| PeerOut {
            peer_id: p.peer_id.clone(),
            addr: p.addr.clone(),
            group_id: view.group_id.clone(),
            role: role.into(),
            rtt_to_leader_us: None,
        };
        seen.entry(leader.peer_id.clone())
            .or_insert_with(|| out(&leader, "leader"));
        for s in &view.successors {
            seen.entry(s.peer_id.clone())
                .or_insert_with(|| out(s, "successor"));
        }
        // The leader's intra-group links name its members and the RTT to each, successors
        // included: they are members too. A leader that does not answer leaves what the
        // directory knows, and says so, for its members are then missing from the table.
        // Over TLS, the leader must be the peer the directory names, not whoever answers there.
        let expect = locus_core::PeerRef::try_from(leader.clone())
            .map_or(Expect::AnyPeer, |p| Expect::Peer(p.id));
        let status = match client.peer(&leader.addr, expect) {
            Ok(mut c) => c
                .get_status(pb::GetStatusRequest { caller: None })
                .await
                .map(tonic::Response::into_inner),
            Err(f) => Err(tonic::Status::invalid_argument(f.message)),
        };
        match status {
            Ok(status) => {
                for l in status.intra {
                    let Some(p) = &l.peer else { continue };
                    seen.entry(p.peer_id.clone())
                        .or_insert_with(|| out(p, "member"))
                        .rtt_to_leader_us = Some(l.rtt_us);
                }
            }
            Err(s) => eprintln!(
                "locusctl: leader {} of group {} did not answer ({}): its other members \
                 and their RTTs are not shown",
                leader.addr,
                view.group_id,
                client::describe(&s)
            ),
        }
    }
    let peers: Vec<PeerOut> = seen.into_values().collect();
    if json {
        return Ok(print_json(&peers));
    }
    let mut t = Table::new(&["PEER", "ADDRESS", "GROUP", "ROLE", "RTT TO LEADER"]);
    for p in &peers {
        t.row(vec![
            p.peer_id.clone(),
            p.addr.clone(),
            p.group_id.clone(),
            p.role.clone(),
            match (&*p.role, p.rtt_to_leader_us) {
                (_, Some(rtt)) => ms(rtt),
                ("leader", None) => "(leader)".into(),
                (_, None) => "-".into(),
            },
        ]);
    }
    out!("{}", t.render());
    Ok(Ok(()))
}

fn print_status(s: StatusOut, json: bool) -> Result<()> {
    if json {
        return print_json(&s);
    }
    outln!("peer    {} {}", s.peer.peer_id, s.peer.addr);
    outln!("role    {}", s.role);
    match &s.group {
        Some(g) => outln!(
            "group   {} (epoch {}, leader {} {}, {})",
            g.group_id,
            g.epoch,
            g.leader.peer_id,
            g.leader.addr,
            // Only a leader counts its members; a member reports 0 for "not known here".
            match g.member_count {
                0 => "members known to the leader".to_string(),
                n => count(u64::from(n), "member"),
            }
        ),
        None => outln!("group   -"),
    }
    outln!();
    let mut t = Table::new(&["LEADERSHIP", "PEER", "ADDRESS"]);
    for (i, p) in s.leadership.iter().enumerate() {
        t.row(vec![(i + 1).to_string(), p.peer_id.clone(), p.addr.clone()]);
    }
    out!("{}", t.render());
    outln!();
    let mut t = Table::new(&["LINK", "PEER OR GROUP", "ADDRESS", "RTT"]);
    for l in &s.intra {
        t.row(vec![
            "intra".into(),
            l.peer.peer_id.clone(),
            l.peer.addr.clone(),
            ms(l.rtt_us),
        ]);
    }
    for n in &s.inter {
        t.row(vec![
            "inter".into(),
            n.group_id.clone(),
            n.leader.addr.clone(),
            ms(n.rtt_us),
        ]);
    }
    for l in &s.cross {
        t.row(vec![
            "cross".into(),
            l.peer.peer_id.clone(),
            l.peer.addr.clone(),
            ms(l.rtt_us),
        ]);
    }
    out!("{}", t.render());
    Ok(())
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::new(1, e.to_string()))?;
    outln!("{text}");
    Ok(())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Prints the events of a `WatchOverlay` stream until it ends; says how it ended. A
/// subscriber dropped for reading too slowly is an error, since taking it up again would only
/// repeat that.
async fn print_events(
    mut stream: tonic::Streaming<pb::OverlayEvent>,
    json: bool,
) -> std::result::Result<String, Failure> {
    loop {
        match stream.message().await {
            Ok(Some(e)) => {
                let e = EventOut::from(e);
                if json {
                    outln!(
                        "{}",
                        serde_json::to_string(&e).map_err(|e| Failure::new(1, e.to_string()))?
                    );
                } else {
                    outln!(
                        "{}  {}  epoch {}  {}",
                        units::timestamp(e.at_unix_ms),
                        e.group_id,
                        e.epoch,
                        e.change
                    );
                }
            }
            Ok(None) => return Ok("closed by the rendezvous".to_string()),
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                return Err(Failure::new(
                    1,
                    format!(
                        "dropped by the rendezvous for reading too slowly: {}",
                        s.message()
                    ),
                ));
            }
            Err(s) => return Ok(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}
