//! Two rendezvous on loopback: leaders announce to both, so each lists every group, and
//! stopping either one loses nothing: the other keeps every entry and a newcomer still joins.

use locus_tests::loopback as common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    Server, eventually, groups_by_region, overlay, peer, peer_id, regional_peers, rendezvous,
};
use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;

/// Generous: convergence takes a few seconds; the deadline only bounds a failing test.
const CONVERGE: Duration = Duration::from_secs(60);
/// Entries live three of the `test` preset's announce intervals.
const TTL: Duration = Duration::from_secs(3);

/// A rendezvous' entries: group id → (leader id, when last announced, Unix ms).
async fn entries(rv: &str) -> Result<BTreeMap<String, (String, u64)>, String> {
    let o = overlay(rv)
        .await
        .ok_or_else(|| format!("rendezvous {rv} does not answer"))?;
    Ok(o.groups
        .into_iter()
        .filter_map(|e| {
            let g = e.group?;
            let leader = g.leader.map(|l| l.peer_id).unwrap_or_default();
            Some((g.group_id, (leader, e.announced_at_unix_ms)))
        })
        .collect())
}

/// The leaders as the peers see themselves: group id → leader id.
async fn leaders(peers: &[(String, &str)]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (addr, _) in peers {
        let s = common::status(addr)
            .await
            .ok_or_else(|| format!("{addr} does not answer"))?;
        if s.role == pb::Role::Leader as i32
            && let (Some(g), Some(p)) = (s.group, s.peer)
        {
            out.insert(g.group_id, p.peer_id);
        }
    }
    Ok(out)
}

/// `Ok` when the rendezvous lists exactly the groups the peers lead, with their leaders, each
/// announced after `since` (Unix ms).
async fn lists_every_group(
    rv: &str,
    peers: &[(String, &str)],
    since: u64,
) -> Result<BTreeMap<String, String>, String> {
    let ours = leaders(peers).await?;
    let theirs = entries(rv).await?;
    let listed: BTreeMap<String, String> = theirs
        .iter()
        .map(|(g, (l, _))| (g.clone(), l.clone()))
        .collect();
    let fresh = theirs.values().all(|(_, at)| *at > since);
    if listed == ours && fresh {
        Ok(ours)
    } else {
        Err(format!(
            "rendezvous {rv} lists {theirs:?} (fresh since {since}: {fresh}), the peers lead {ours:?}"
        ))
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Nine peers in the three regions with both rendezvous; both list every group; then the
/// rendezvous `stopped` (0 or 1) stops, and the other still keeps every group and boots a
/// newcomer into its region's group.
async fn stopping_one_loses_nothing(stopped: usize, first_peer: u32) {
    let mut rvs: Vec<Option<Server>> =
        vec![Some(rendezvous(TTL).await), Some(rendezvous(TTL).await)];
    let addrs: Vec<String> = rvs.iter().flatten().map(|s| s.addr.clone()).collect();
    let (mut servers, mut peers) = regional_peers(first_peer..first_peer + 9, 3, &addrs).await;
    let groups = eventually("one group per region", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;

    // Both list every group with its leader: the same directory twice.
    let both = eventually("both rendezvous list every group", CONVERGE, || async {
        let a = lists_every_group(&addrs[0], &peers, 0).await?;
        let b = lists_every_group(&addrs[1], &peers, 0).await?;
        if a == b {
            Ok(a)
        } else {
            Err(format!("{a:?} and {b:?} differ"))
        }
    })
    .await;
    assert_eq!(
        both.keys().collect::<Vec<_>>(),
        {
            let mut g: Vec<_> = groups.values().collect();
            g.sort();
            g
        },
        "the listed groups are the regions' groups"
    );

    // Watch the survivor from before the stop: it must never end one of the groups.
    let survivor = addrs[1 - stopped].clone();
    let mut events = RendezvousClient::new(common::channel(&survivor).await)
        .watch_overlay(pb::WatchOverlayRequest {
            caller: None,
            include_existing: false,
        })
        .await
        .unwrap()
        .into_inner();

    rvs[stopped].take().unwrap().stop().await;
    let stopped_at = unix_ms();

    // Every group refreshed at the survivor more than a TTL after the stop, leaders unchanged.
    let after = eventually("the survivor keeps every group refreshed", CONVERGE, || {
        lists_every_group(&survivor, &peers, stopped_at + TTL.as_millis() as u64)
    })
    .await;
    assert_eq!(after, both, "the same groups and leaders");
    // Everything the survivor streamed since the stop (the stream stays open: stop reading
    // once nothing more comes within a moment).
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(200), events.message()).await {
        let event = next
            .expect("the survivor's stream goes on")
            .expect("the survivor's stream goes on");
        assert!(
            !matches!(event.kind, Some(pb::overlay_event::Kind::Ended(_))),
            "a group ended at the survivor: {event:?}"
        );
    }

    // A newcomer configured with both still joins its region's group.
    let newcomer = peer(peer_id(first_peer + 100), "eu", &addrs, &[]).await;
    peers.push((newcomer.addr.clone(), "eu"));
    servers.push(newcomer);
    let with_newcomer = eventually("the newcomer joins eu", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;
    assert_eq!(with_newcomer, groups);
    eventually("the survivor lists the same groups", CONVERGE, || {
        lists_every_group(&survivor, &peers, stopped_at)
    })
    .await;

    for s in servers {
        s.kill();
    }
    for rv in rvs.into_iter().flatten() {
        rv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_list_every_group_and_stopping_the_first_loses_nothing() {
    stopping_one_loses_nothing(0, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_list_every_group_and_stopping_the_second_loses_nothing() {
    stopping_one_loses_nothing(1, 500).await;
}
