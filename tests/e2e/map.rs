//! The live map of a container cluster in headless Chromium, at the rendezvous' published HTTP
//! port (the one serving `/metrics`): it shows one circle per group and one line per
//! inter-group link of the directory, and after `docker stop` of a leader its panel names the
//! new leader within the failover bound plus one second. The bound, `alive_timeout +
//! alive_interval` of the `test` preset (2 s), is a protocol property: the members of a group
//! whose leader vanishes follow a successor by then (a stopped leader hands over at once, which
//! is faster). The second covers the successor's announcement (it announces as it takes over),
//! the event stream and the page's drawing. A screenshot of the page is written where the test
//! prints.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use locus_tests::browser::{Browser, chromium};
use serde_json::Value;
use xtask::cluster::{overlay, peer_name, short};

use crate::support::{
    CONVERGE_TIMEOUT, Cluster, PRESET, failover_bound, largest, published, say, step,
};

/// Peers of the cluster the map shows: four regions, so four groups and their links.
const PEERS: usize = 12;
/// How often the page is read.
const POLL: Duration = Duration::from_millis(50);
/// The slack over the failover bound for the announcement, the event stream and the drawing.
const SHOW_SLACK: Duration = Duration::from_secs(1);

/// What the page shows: its circles' groups, its link lines (not the legend's), its table rows
/// (group, leader, epoch) and the state of its event stream.
#[derive(Debug)]
struct Shown {
    circles: BTreeSet<String>,
    lines: usize,
    rows: Vec<(String, String, String)>,
    status: String,
}

const SHOWN: &str = "JSON.stringify({
    circles: [...document.querySelectorAll('circle.group')].map(c => c.dataset.group),
    lines: [...document.querySelectorAll('line.link')].filter(l => !l.closest('#legend')).length,
    rows: [...document.querySelectorAll('#group-table tbody tr')]
        .map(r => [r.dataset.group, r.children[1].textContent, r.children[2].textContent]),
    status: document.getElementById('status')?.textContent ?? 'not loaded',
})";

async fn shown(page: &mut Browser) -> Result<Shown> {
    let v: Value = serde_json::from_str(page.eval(SHOWN).await.as_str().context("no JSON")?)?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    };
    Ok(Shown {
        circles: strings(&v["circles"]).into_iter().collect(),
        lines: v["lines"].as_u64().unwrap_or_default() as usize,
        rows: v["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let r = strings(r);
                let at = |i: usize| r.get(i).cloned().unwrap_or_default();
                (at(0), at(1), at(2))
            })
            .collect(),
        status: v["status"].as_str().unwrap_or_default().to_string(),
    })
}

/// Reads the page until `ok` holds of what it shows, for at most `within`; how long it took.
async fn until(
    page: &mut Browser,
    what: &str,
    within: Duration,
    ok: impl Fn(&Shown) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let s = shown(page).await?;
        if ok(&s) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!(
                "the page never showed {what} within {} s; it shows {s:?}",
                within.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_map_shows_the_directory_and_the_new_leader_after_docker_stop() {
    let chromium = chromium();
    let mut cluster = Cluster::prepare("map").await;
    let result = cluster.map(&chromium).await;
    cluster.finish(result);
}

impl Cluster {
    async fn map(&mut self, chromium: &Path) -> Result<()> {
        let snap = self.up(PEERS).await?;
        let (grpc, http) = published();
        let url = format!("http://{http}/");
        step(&format!("the live map at {url} in headless Chromium"));
        let t = Instant::now();
        let mut page = Browser::open(chromium, &url).await;
        // The page against the directory as the rendezvous has it, read afresh each time: the
        // leaders announce their links once a second, so the directory may trail the peers by
        // that much.
        loop {
            let o = overlay(&self.client, &grpc)
                .await
                .map_err(|e| anyhow::anyhow!("GetOverlay at {grpc}: {e}"))?;
            let groups: BTreeSet<String> = o
                .groups
                .iter()
                .filter_map(|e| e.group.as_ref())
                .map(|g| g.group_id.clone())
                .collect();
            // A link both ends announce is listed twice, once by each.
            let links = pairs(
                o.links
                    .iter()
                    .filter(|l| {
                        groups.contains(&l.group_id) && groups.contains(&l.neighbor_group_id)
                    })
                    .map(|l| (l.group_id.clone(), l.neighbor_group_id.clone())),
            );
            let s = shown(&mut page).await?;
            let settled = groups.len() == snap.groups().len();
            if settled && s.status == "live" && s.circles == groups && s.lines == links.len() {
                say!(
                    "  ok: the page shows {} circles, one per group of the directory, and {} \
                     lines, one per inter-group link, in {:.1} s",
                    groups.len(),
                    links.len(),
                    t.elapsed().as_secs_f64()
                );
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                bail!(
                    "the page never showed the directory within 10 s: the directory has {} \
                     groups (the peers are in {}) and {} links, the page shows {s:?}",
                    groups.len(),
                    snap.groups().len(),
                    links.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }

        let group = largest(&snap)?;
        let old = group.leader.clone().context("no leader")?;
        step(&format!(
            "docker stop {} (leader of group {}, epoch {}): the map's panel names the new leader",
            peer_name(&old),
            short(&group.id),
            group.epoch
        ));
        self.involved.insert(old.name.clone());
        let bound = failover_bound();
        let t = Instant::now();
        let docker = self.docker.clone();
        let id = old.id.clone();
        let stop = tokio::task::spawn_blocking(move || docker.docker(&["stop", &id]));
        let old_addr = group.leader_addr.clone();
        let old_epoch = group.epoch;
        let shown_after = until(
            &mut page,
            "a new leader for the group",
            CONVERGE_TIMEOUT,
            |s| {
                s.rows.iter().any(|(g, leader, epoch)| {
                    *g == group.id
                        && *leader != old_addr
                        && epoch.parse::<u64>().is_ok_and(|e| e > old_epoch)
                })
            },
        )
        .await?;
        stop.await??;
        let new_leader = shown(&mut page)
            .await?
            .rows
            .into_iter()
            .find(|(g, _, _)| *g == group.id)
            .map(|(_, leader, epoch)| format!("{leader} at epoch {epoch}"))
            .unwrap_or_default();
        let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-map.png");
        std::fs::write(&png, page.screenshot().await)
            .with_context(|| format!("cannot write {}", png.display()))?;
        say!(
            "  the panel names {new_leader} {:.1} s after the stop (bound: alive_timeout + \
             alive_interval of the `{PRESET}` preset, {:.1} s, plus {:.0} s); screenshot: {}",
            shown_after.as_secs_f64(),
            bound.as_secs_f64(),
            SHOW_SLACK.as_secs_f64(),
            png.display()
        );
        self.timings.push((
            format!(
                "the map shows the new leader after docker stop (bound {:.1} s)",
                (bound + SHOW_SLACK).as_secs_f64()
            ),
            shown_after,
        ));
        ensure!(
            shown_after <= bound + SHOW_SLACK,
            "the map showed the new leader {:.1} s after the stop, over the bound of {:.1} s",
            shown_after.as_secs_f64(),
            (bound + SHOW_SLACK).as_secs_f64()
        );
        // The leader it names is the one the peers follow.
        let snap = self
            .converge(
                "the group follows the new leader",
                t,
                Some(PEERS - 1),
                |snap| match snap.groups().get(&group.id) {
                    Some(g) if g.epoch > old_epoch => Vec::new(),
                    other => vec![format!(
                        "group {}: {:?}",
                        short(&group.id),
                        other.map(|g| g.epoch)
                    )],
                },
            )
            .await?;
        let now = &snap.groups()[&group.id];
        ensure!(
            new_leader.starts_with(&format!("{} ", now.leader_addr)),
            "the map named {new_leader}, the peers follow {}",
            now.leader_addr
        );
        say!(
            "  ok: the peers follow {}, as the map shows",
            now.leader_addr
        );
        Ok(())
    }
}

/// Unordered pairs of group ids.
fn pairs(links: impl Iterator<Item = (String, String)>) -> BTreeSet<(String, String)> {
    links
        .map(|(a, b)| if a < b { (a, b) } else { (b, a) })
        .collect()
}
