//! `locusctl`: the command-line client of a locus overlay.
//!
//! It reads the rendezvous' directory (groups, overlay, live events) and asks single peers for
//! their status and nearby peers. Tables by default, JSON with `--output json`.
//!
//! Exit codes: 0 success; 1 any other failure; 2 bad usage; 3 a service could not be reached
//! or did not answer in time; 4 the group asked for is not in the directory.

mod output;
mod table;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use output::{EventOut, GroupOut, LinkInfoOut, LinkOut, OverlayOut, PeerOut, StatusOut, ViewOut};
use serde::Serialize;
use table::Table;
use tonic::transport::Channel;

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
    /// Deadline of each call, in milliseconds.
    #[arg(long, default_value_t = 5000, global = true)]
    timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Aligned columns.
    Table,
    /// JSON (one document; one object per line for `watch`).
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live groups in the rendezvous directory.
    Groups,
    /// One group's entry: leader, successors, member count.
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
    /// The overlay snapshot: groups and the inter-group links their leaders announced.
    Overlay,
    /// Follow the directory's changes as they happen (Ctrl-C to stop).
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

    /// A failed call to `what` at `addr`, with a hint for the common causes.
    fn call(what: &str, addr: &str, status: tonic::Status) -> Self {
        use tonic::Code;
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Failure::new(
                3,
                format!(
                    "{what} at {addr} did not answer ({}): is it running, and is the address right?",
                    status.message()
                ),
            ),
            Code::Unimplemented => Failure::new(
                1,
                format!("{addr} does not serve this call: is it a {what}?"),
            ),
            _ => Failure::new(
                1,
                format!(
                    "{what} at {addr}: {:?}: {}",
                    status.code(),
                    status.message()
                ),
            ),
        }
    }
}

type Result<T> = std::result::Result<T, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("locusctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("locusctl: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn channel(addr: &str, timeout: Duration) -> Result<Channel> {
    let endpoint = Channel::from_shared(format!("http://{addr}"))
        .map_err(|_| Failure::new(2, format!("`{addr}` is not an address: use host:port")))?;
    Ok(endpoint
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_lazy())
}

async fn execute(cli: Cli) -> Result<()> {
    let timeout = Duration::from_millis(cli.timeout_ms);
    let rv_addr = cli.rendezvous.clone();
    let rendezvous = || -> Result<RendezvousClient<Channel>> {
        Ok(RendezvousClient::new(channel(&rv_addr, timeout)?).max_decoding_message_size(64 << 20))
    };
    let rv_fail = |s| Failure::call("rendezvous", &cli.rendezvous, s);
    let json = cli.output == Output::Json;
    match cli.command {
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
                        g.member_count.to_string(),
                        g.expires_in(),
                    ]);
                }
                print!("{}", t.render());
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
            let reply = rendezvous()?
                .resolve_group(pb::ResolveGroupRequest {
                    caller: None,
                    group_id: id.clone(),
                })
                .await
                .map_err(rv_fail)?
                .into_inner();
            let view = reply.group.ok_or_else(|| {
                Failure::new(
                    4,
                    format!("group {id} is not in the directory (unknown, ended or expired)"),
                )
            })?;
            let out = ViewOut::from(view);
            if json {
                print_json(&out)
            } else {
                println!(
                    "group     {}\nepoch     {}\nleader    {} {}\nmembers   {}",
                    out.group_id, out.epoch, out.leader.peer_id, out.leader.addr, out.member_count
                );
                for (i, s) in out.successors.iter().enumerate() {
                    println!("successor {} {} {}", i + 1, s.peer_id, s.addr);
                }
                Ok(())
            }
        }
        Command::Peers => peers(&mut rendezvous()?, timeout, json)
            .await
            .map_err(rv_fail)?,
        Command::Peer { addr } => {
            let status = PeerServiceClient::new(channel(&addr, timeout)?)
                .get_status(pb::GetStatusRequest { caller: None })
                .await
                .map_err(|s| Failure::call("peer", &addr, s))?
                .into_inner();
            print_status(StatusOut::from(status), json)
        }
        Command::Overlay => {
            let o = rendezvous()?
                .get_overlay(pb::GetOverlayRequest { caller: None })
                .await
                .map_err(rv_fail)?
                .into_inner();
            let out = OverlayOut {
                groups: o.groups.into_iter().map(GroupOut::from).collect(),
                links: o.links.into_iter().map(LinkOut::from).collect(),
                truncated: o.truncated,
            };
            if json {
                return print_json(&out);
            }
            let mut t = Table::new(&["GROUP", "LEADER", "EPOCH", "MEMBERS"]);
            for g in &out.groups {
                t.row(vec![
                    g.group_id.clone(),
                    g.leader_addr.clone(),
                    g.epoch.to_string(),
                    g.member_count.to_string(),
                ]);
            }
            print!("{}", t.render());
            println!();
            let mut t = Table::new(&["GROUP", "NEIGHBOUR GROUP", "NEIGHBOUR LEADER", "RTT"]);
            for l in &out.links {
                t.row(vec![
                    l.group_id.clone(),
                    l.neighbor_group_id.clone(),
                    l.neighbor_leader_addr.clone(),
                    ms(l.rtt_us),
                ]);
            }
            print!("{}", t.render());
            if out.truncated {
                println!("(truncated: the overlay has more groups than one snapshot carries)");
            }
            Ok(())
        }
        Command::Watch { include_existing } => {
            let mut stream = rendezvous()?
                .watch_overlay(pb::WatchOverlayRequest {
                    caller: None,
                    include_existing,
                })
                .await
                .map_err(rv_fail)?
                .into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(e)) => {
                        let e = EventOut::from(e);
                        if json {
                            println!(
                                "{}",
                                serde_json::to_string(&e)
                                    .map_err(|e| Failure::new(1, e.to_string()))?
                            );
                        } else {
                            println!(
                                "{}  {}  epoch {}  {}",
                                e.at_unix_ms, e.group_id, e.epoch, e.change
                            );
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                        return Err(Failure::new(
                            1,
                            format!(
                                "dropped by the rendezvous for reading too slowly: {}",
                                s.message()
                            ),
                        ));
                    }
                    Err(s) => return Err(rv_fail(s)),
                }
            }
        }
        Command::Health { addr, service } => {
            use tonic_health::pb::health_check_response::ServingStatus;
            let reply =
                tonic_health::pb::health_client::HealthClient::new(channel(&addr, timeout)?)
                    .check(tonic_health::pb::HealthCheckRequest { service })
                    .await
                    .map_err(|s| Failure::call("service", &addr, s))?
                    .into_inner();
            let status = ServingStatus::try_from(reply.status).unwrap_or(ServingStatus::Unknown);
            if json {
                print_json(&serde_json::json!({ "status": status.as_str_name() }))?;
            } else {
                println!("{}", status.as_str_name());
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
            let reply = PeerServiceClient::new(channel(&addr, timeout)?)
                .nearby(pb::NearbyRequest {
                    caller: None,
                    limit,
                })
                .await
                .map_err(|s| Failure::call("peer", &addr, s))?
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
            print!("{}", t.render());
            Ok(())
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

/// Every page of the directory.
async fn list_groups(
    c: &mut RendezvousClient<Channel>,
) -> std::result::Result<Vec<pb::GroupEntry>, tonic::Status> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .list_groups(pb::ListGroupsRequest {
                caller: None,
                page_size: 1024,
                page_token,
            })
            .await?
            .into_inner();
        out.extend(page.groups);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

async fn peers(
    c: &mut RendezvousClient<Channel>,
    timeout: Duration,
    json: bool,
) -> std::result::Result<Result<()>, tonic::Status> {
    let overlay = c
        .get_overlay(pb::GetOverlayRequest { caller: None })
        .await?
        .into_inner();
    let mut seen = std::collections::BTreeMap::<String, PeerOut>::new();
    for entry in overlay.groups {
        let Some(view) = entry.group else { continue };
        let Some(leader) = view.leader.clone() else {
            continue;
        };
        let mut add = |p: &pb::PeerRef, role: &str, rtt: Option<u64>| {
            seen.entry(p.peer_id.clone()).or_insert_with(|| PeerOut {
                peer_id: p.peer_id.clone(),
                addr: p.addr.clone(),
                group_id: view.group_id.clone(),
                role: role.into(),
                rtt_to_leader_us: rtt,
            });
        };
        add(&leader, "leader", None);
        for s in &view.successors {
            add(s, "successor", None);
        }
        // The leader's own view adds its intra-group links; a leader that does not answer
        // leaves what the directory knows.
        let Ok(ch) = channel(&leader.addr, timeout) else {
            continue;
        };
        if let Ok(status) = PeerServiceClient::new(ch)
            .get_status(pb::GetStatusRequest { caller: None })
            .await
        {
            for l in status.into_inner().intra {
                if let Some(p) = &l.peer {
                    add(p, "member", Some(l.rtt_us));
                }
            }
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
            p.rtt_to_leader_us.map(ms).unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", t.render());
    Ok(Ok(()))
}

fn print_status(s: StatusOut, json: bool) -> Result<()> {
    if json {
        return print_json(&s);
    }
    println!("peer    {} {}", s.peer.peer_id, s.peer.addr);
    println!("role    {}", s.role);
    match &s.group {
        Some(g) => println!(
            "group   {} (epoch {}, leader {} {}, {} members)",
            g.group_id, g.epoch, g.leader.peer_id, g.leader.addr, g.member_count
        ),
        None => println!("group   -"),
    }
    println!();
    let mut t = Table::new(&["LEADERSHIP", "PEER", "ADDRESS"]);
    for (i, p) in s.leadership.iter().enumerate() {
        t.row(vec![(i + 1).to_string(), p.peer_id.clone(), p.addr.clone()]);
    }
    print!("{}", t.render());
    println!();
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
    print!("{}", t.render());
    Ok(())
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::new(1, e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
