//! The live map on a real socket: groups announced by real leaders show in `/api/overlay` with
//! positions that follow their RTTs, the event stream delivers the change, and a real browser
//! (headless Chromium) draws one circle per group, names the leaders, and follows a new group,
//! a new leader and an end within a second.

use std::time::Duration;

use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_tests::browser::{self as cdp, chromium};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// A plaintext rendezvous with its map on a second port.
struct Running {
    client: RendezvousClient<Channel>,
    /// `host:port` of the map.
    http: String,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Running {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (grpc_addr, http_addr) = (grpc.local_addr().unwrap(), http.local_addr().unwrap());
    let rendezvous = locus_rendezvous::Rendezvous::new(locus_rendezvous::Config {
        entry_ttl: Duration::from_secs(60),
        seed: 5,
        ..Default::default()
    });
    let routes = rendezvous.http_routes();
    tokio::spawn(async move { axum::serve(http, routes).await.unwrap() });
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        rendezvous
            .run(grpc, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    Running {
        client: RendezvousClient::new(channel),
        http: http_addr.to_string(),
        _stop: stop,
    }
}

/// A real locus peer on loopback. Without a bootstrap address it founds a group of its own and
/// leads it, telling nobody: the test announces for it, with the links it chooses.
struct Peer {
    addr: String,
    client: PeerServiceClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn start(n: u128, bootstrap: &[String]) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut config = locus_peer::Config::new(locus_core::Config::test());
        config.peer_id = Some(locus_core::PeerId(uuid::Uuid::from_u128(n)));
        config.seed = Some(n as u64);
        config.bootstrap = bootstrap.to_vec();
        config.leave_grace = Duration::from_secs(1);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            locus_peer::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .timeout(Duration::from_secs(2))
            .connect_lazy();
        Peer {
            addr,
            client: PeerServiceClient::new(channel),
            stop: Some(stop),
            task,
        }
    }

    /// Its answer to a `Measure` (the rendezvous asks the same) once `accept` accepts it.
    async fn once(
        &self,
        what: &str,
        accept: impl Fn(&pb::MeasureReply) -> bool,
    ) -> pb::MeasureReply {
        let mut c = self.client.clone();
        let mut last = None;
        for _ in 0..300 {
            if let Ok(r) = c.measure(pb::MeasureRequest { caller: None }).await {
                let r = r.into_inner();
                if accept(&r) {
                    return r;
                }
                last = Some(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never {what}; last answer {last:?}", self.addr);
    }

    /// The group it leads, once it leads one that `accept` accepts.
    async fn leading(&self, accept: impl Fn(&pb::GroupView) -> bool) -> pb::GroupView {
        let r = self
            .once("led such a group", |r| {
                r.group.as_ref().is_some_and(|g| {
                    g.leader.as_ref().map(|l| &l.peer_id)
                        == r.responder.as_ref().map(|p| &p.peer_id)
                        && accept(g)
                })
            })
            .await;
        r.group.unwrap()
    }

    /// Graceful stop: a leader hands its group over; afterwards nothing answers at `addr`.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the peer stops")
            .unwrap();
    }
}

/// A peer leading a group of its own.
struct Leader {
    peer: Peer,
    view: pb::GroupView,
}

async fn leader(n: u128) -> Leader {
    let peer = Peer::start(n, &[]).await;
    let view = peer.leading(|_| true).await;
    Leader { peer, view }
}

/// Announces `l`'s group with `members` members and links to `neighbors` at their RTTs.
async fn announce(
    c: &mut RendezvousClient<Channel>,
    l: &Leader,
    members: u32,
    neighbors: &[(&Leader, u64)],
) {
    announce_view(c, &l.view, members, neighbors).await;
}

/// Announces `view` with `members` members and links to `neighbors` at their RTTs.
async fn announce_view(
    c: &mut RendezvousClient<Channel>,
    view: &pb::GroupView,
    members: u32,
    neighbors: &[(&Leader, u64)],
) {
    let reply = c
        .announce_group(pb::AnnounceGroupRequest {
            caller: view.leader.clone(),
            group: Some(pb::GroupView {
                member_count: members,
                ..view.clone()
            }),
            neighbors: neighbors
                .iter()
                .map(|(n, rtt_ms)| pb::NeighborGroup {
                    group_id: n.view.group_id.clone(),
                    leader: n.view.leader.clone(),
                    successors: vec![],
                    rtt_us: rtt_ms * 1000,
                })
                .collect(),
            ended: false,
            // The far link (150 ms across the ocean) stands for one kept against partitions.
            partition_group_ids: neighbors
                .iter()
                .filter(|(_, rtt_ms)| *rtt_ms >= 100)
                .map(|(n, _)| n.view.group_id.clone())
                .collect(),
            landmarks: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.superseded_by.is_none());
}

/// A plain HTTP/1.0 GET (the server closes after the body, so no chunking): status line,
/// headers and body.
async fn get(http: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(http).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {http}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut raw))
        .await
        .expect("a reply within 5 s")
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    (head.to_string(), body.to_string())
}

async fn overlay(http: &str) -> Value {
    let (head, body) = get(http, "/api/overlay").await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("application/json"), "{head}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `/api/overlay` until it holds `groups` groups.
async fn overlay_with(http: &str, groups: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..50 {
        last = overlay(http).await;
        if last["groups"].as_array().map(Vec::len) == Some(groups) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no overlay with {groups} groups within 5 s; last {last}");
}

fn group<'a>(o: &'a Value, l: &Leader) -> &'a Value {
    o["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == l.view.group_id.as_str())
        .unwrap_or_else(|| panic!("group {} in {o}", l.view.group_id))
}

fn distance(a: &Value, b: &Value) -> f64 {
    let (dx, dy) = (
        a["x"].as_f64().unwrap() - b["x"].as_f64().unwrap(),
        a["y"].as_f64().unwrap() - b["y"].as_f64().unwrap(),
    );
    dx.hypot(dy)
}

/// Three groups: two 8 ms apart (`eu1`, `eu2`), one 150 ms away (`us`).
async fn three_groups(rv: &mut Running) -> [Leader; 3] {
    let (eu1, eu2, us) = (leader(1).await, leader(2).await, leader(3).await);
    let c = &mut rv.client;
    announce(c, &eu1, 3, &[(&eu2, 8), (&us, 150)]).await;
    announce(c, &eu2, 2, &[(&eu1, 9)]).await;
    announce(c, &us, 4, &[]).await;
    [eu1, eu2, us]
}

#[tokio::test]
async fn the_overlay_is_served_with_positions_by_rtt_and_changes_are_streamed() {
    let mut rv = start().await;
    // The event stream first: it opens with an `overlay` event, then carries each change.
    let mut stream = TcpStream::connect(&rv.http).await.unwrap();
    stream
        .write_all(b"GET /api/events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut stream = BufReader::new(stream);
    let mut lines = Vec::new();
    let mut line = String::new();
    while !lines
        .iter()
        .any(|l: &String| l.starts_with("event: overlay"))
    {
        line.clear();
        tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line))
            .await
            .expect("the stream opens within 5 s")
            .unwrap();
        lines.push(line.trim_end().to_string());
    }
    assert!(lines[0].starts_with("HTTP/1.0 200"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("text/event-stream")),
        "{lines:?}"
    );

    let [eu1, eu2, us] = three_groups(&mut rv).await;

    // A `created` change for each group, as soon as the directory took it.
    let mut created = Vec::new();
    while created.len() < 3 {
        line.clear();
        tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line))
            .await
            .expect("a change within 5 s")
            .unwrap();
        if let Some(data) = line.trim_end().strip_prefix("data: ")
            && data.starts_with('{')
        {
            let e: Value = serde_json::from_str(data).unwrap();
            if e["kind"] == "created" {
                created.push(e);
            }
        }
    }
    for (e, l) in created.iter().zip([&eu1, &eu2, &us]) {
        assert_eq!(e["group"], l.view.group_id.as_str(), "{e}");
        assert_eq!(
            e["leader"]["addr"],
            l.view.leader.as_ref().unwrap().addr.as_str()
        );
        assert!(e["at_unix_ms"].as_u64().unwrap() > 0);
    }

    let o = overlay_with(&rv.http, 3).await;
    let (g1, g2, g3) = (group(&o, &eu1), group(&o, &eu2), group(&o, &us));
    assert_eq!(g1["members"], 3);
    assert_eq!(g3["members"], 4);
    assert_eq!(
        g2["leader"]["id"],
        eu2.view.leader.as_ref().unwrap().peer_id.as_str()
    );
    // Near groups are drawn near: about 8 ms against about 150.
    let (near, far) = (distance(g1, g2), distance(g1, g3));
    assert!(near * 5.0 < far, "eu1–eu2 {near:.1}, eu1–us {far:.1}");
    assert!((far - 150.0).abs() < 30.0, "eu1–us drawn {far:.1} ms apart");
    // One link per pair: eu1–eu2 announced by both ends (the lower RTT), eu1–us by one.
    let links = o["links"].as_array().unwrap();
    assert_eq!(links.len(), 2, "{o}");
    assert_eq!(o["links_total"], 2);
    assert_eq!(links[0]["rtt_ms"], 8.0);
    assert_eq!(links[0]["announced_by"], 2);
    assert_eq!(links[0]["partition"], false);
    assert_eq!(links[1]["rtt_ms"], 150.0);
    assert_eq!(links[1]["announced_by"], 1);
    // The leader announced the far link as kept against partitions; the map says so.
    assert_eq!(links[1]["partition"], true);
    assert_eq!(o["embedding"]["method"], "classical MDS");
    let kinds: Vec<&str> = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created"; 3]);

    // A refresh that changes a member count is a change too, and the next layout keeps the
    // groups where they were.
    announce(&mut rv.client, &us, 5, &[]).await;
    let mut o2 = overlay(&rv.http).await;
    for _ in 0..50 {
        if group(&o2, &us)["members"] == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        o2 = overlay(&rv.http).await;
    }
    assert_eq!(group(&o2, &us)["members"], 5);
    assert!(o2["version"].as_u64() > o["version"].as_u64());
    for l in [&eu1, &eu2, &us] {
        let moved = distance(group(&o, l), group(&o2, l));
        assert!(moved < 1.0, "a group moved {moved} ms on a refresh");
    }

    // The page and its assets, from the binary, with nothing fetched from elsewhere.
    let (head, page) = get(&rv.http, "/").await;
    assert!(head.contains("text/html"), "{head}");
    assert!(page.contains("<script src=\"map.js\">"), "{page}");
    let (head, script) = get(&rv.http, "/map.js").await;
    assert!(head.contains("text/javascript"), "{head}");
    for text in [&page, &script] {
        assert!(!text.contains("https://"), "an external resource");
    }
}

/// Loads `url` in headless Chromium and returns the DOM at the page's load event, by when the
/// page has drawn the overlay it loads with itself (`/api/overlay.js`). Not with
/// `--virtual-time-budget`: virtual time stands still while a request is open, and the page's
/// event stream always is.
fn dump_dom(url: &str) -> String {
    let mut child = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--timeout=10000",
            "--window-size=1280,800",
            "--dump-dom",
            url,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_draws_one_circle_per_group_and_names_the_leaders() {
    let browser = chromium();
    let mut rv = start().await;
    let leaders = three_groups(&mut rv).await;
    overlay_with(&rv.http, 3).await;
    let url = format!("http://{}/", rv.http);
    let dom = tokio::task::spawn_blocking(move || dump_dom(&url))
        .await
        .unwrap();
    let circles = dom.matches("<circle class=\"group").count();
    assert_eq!(circles, 3, "{browser:?} drew {circles} circles: {dom}");
    for l in &leaders {
        let group = &l.view.group_id;
        let addr = &l.view.leader.as_ref().unwrap().addr;
        assert!(
            dom.contains(&format!("data-group=\"{group}\"")),
            "no circle for {group}"
        );
        assert!(
            dom.contains(&format!("leader {addr}")),
            "leader {addr} not named on its circle"
        );
        assert!(
            dom.contains(&format!("<td class=\"leader-name\">{addr}</td>")),
            "leader {addr} not in the panel"
        );
    }
    // Two links between them, labelled with their RTT.
    assert_eq!(
        dom.matches("<line ").count(),
        2 + 3,
        "two links and the legend's three"
    );
    // The far link, announced as kept against partitions, is drawn as one (and the legend
    // shows the kind).
    assert_eq!(
        dom.matches("class=\"link one-end partition\"").count(),
        1,
        "{dom}"
    );
    assert!(dom.contains(">8.0 ms<"), "{dom}");
    assert!(dom.contains(">150 ms<"), "{dom}");
    assert!(dom.contains("3 groups, 9 members"), "{dom}");
}

/// What the page shows: its circles, its table rows (group, leader, epoch) and its status.
#[derive(Debug)]
struct Shown {
    circles: Vec<String>,
    rows: Vec<(String, String, String)>,
    status: String,
}

const SHOWN: &str = "JSON.stringify({
    circles: [...document.querySelectorAll('circle.group')].map(c => c.dataset.group),
    rows: [...document.querySelectorAll('#group-table tbody tr')]
        .map(r => [r.dataset.group, r.children[1].textContent, r.children[2].textContent]),
    status: document.getElementById('status')?.textContent ?? 'not loaded',
})";

/// Polls the page until `ok` holds of what it shows; returns how long that took.
async fn until(page: &mut cdp::Browser, what: &str, ok: impl Fn(&Shown) -> bool) -> Duration {
    let started = tokio::time::Instant::now();
    let mut shown = None;
    while started.elapsed() < Duration::from_secs(10) {
        let v: Value = serde_json::from_str(page.eval(SHOWN).await.as_str().unwrap()).unwrap();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let s = Shown {
            circles: strings(&v["circles"]),
            rows: v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let r = strings(r);
                    (r[0].clone(), r[1].clone(), r[2].clone())
                })
                .collect(),
            status: v["status"].as_str().unwrap().to_string(),
        };
        if ok(&s) {
            return started.elapsed();
        }
        shown = Some(s);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the page never showed {what} within 10 s; it shows {shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_new_group_a_new_leader_and_an_end_within_a_second() {
    let browser = chromium();
    let mut rv = start().await;
    let [eu1, _eu2, us] = three_groups(&mut rv).await;
    // A second member of eu1's group, listed as its successor, to take it over.
    let successor = Peer::start(6, std::slice::from_ref(&eu1.peer.addr)).await;
    let successor_id = uuid::Uuid::from_u128(6).to_string();
    eu1.peer
        .once("listed peer 6 as successor", |r| {
            r.group
                .as_ref()
                .is_some_and(|g| g.successors.iter().any(|p| p.peer_id == successor_id))
        })
        .await;
    overlay_with(&rv.http, 3).await;
    let mut page = cdp::Browser::open(&browser, &format!("http://{}/", rv.http)).await;
    until(&mut page, "three circles and a live feed", |s| {
        s.circles.len() == 3 && s.status == "live"
    })
    .await;

    // A new group.
    let asia = leader(4).await;
    announce(&mut rv.client, &asia, 2, &[(&us, 170)]).await;
    let created = until(&mut page, "the new group's circle", |s| {
        s.circles.contains(&asia.view.group_id)
    })
    .await;

    // A new leader: eu1's leader leaves, peer 6 takes the group over at the next epoch.
    let first = eu1.view.clone();
    eu1.peer.stop().await;
    let taken = successor
        .leading(|g| g.group_id == first.group_id && g.epoch > first.epoch)
        .await;
    announce_view(&mut rv.client, &taken, 2, &[]).await;
    let new_leader = taken.leader.as_ref().unwrap().addr.clone();
    let epoch = taken.epoch.to_string();
    let led = until(&mut page, "the new leader in the panel", |s| {
        s.rows
            .iter()
            .any(|(g, l, e)| *g == first.group_id && *l == new_leader && *e == epoch)
    })
    .await;

    // An end: the us group's leader leaves, and its end is announced.
    let gone = us.view.clone();
    us.peer.stop().await;
    rv.client
        .announce_group(pb::AnnounceGroupRequest {
            caller: gone.leader.clone(),
            group: Some(gone.clone()),
            neighbors: vec![],
            ended: true,
            partition_group_ids: vec![],
            landmarks: vec![],
        })
        .await
        .unwrap();
    let ended = until(&mut page, "the ended group gone", |s| {
        !s.circles.contains(&gone.group_id) && s.rows.iter().all(|(g, _, _)| *g != gone.group_id)
    })
    .await;

    eprintln!(
        "the page showed: a new group in {created:?}, a new leader in {led:?}, an end in {ended:?}"
    );
    for (what, took) in [("new group", created), ("new leader", led), ("end", ended)] {
        assert!(
            took < Duration::from_secs(1),
            "the {what} took {took:?} to show"
        );
    }
}
