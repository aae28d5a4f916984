//! The loopback cluster: a rendezvous and peers on real sockets of 127.0.0.1, in one process,
//! in a three-region emulated topology: the overlay finds the regions, survives a leader's
//! crash, outlives the rendezvous, and holds cross links between groups.

use locus_tests::loopback as common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    REGIONS, eventually, groups_by_region, listed_groups, overlay, peer, peer_id, regional_peers,
    rendezvous, status,
};
use locus_proto::pb;

/// Generous: convergence takes a few seconds; the deadline only bounds a failing test.
const CONVERGE: Duration = Duration::from_secs(60);
/// Well below the slow failure detection of the handover test.
const HANDOVER: Duration = Duration::from_secs(30);

/// The rendezvous' view: group id → (leader id, member count).
async fn directory(rv: &str) -> Result<BTreeMap<String, (String, u32)>, String> {
    Ok(listed_groups(rv)
        .await?
        .into_iter()
        .map(|g| {
            let leader = g.leader.map(|l| l.peer_id).unwrap_or_default();
            (g.group_id, (leader, g.member_count))
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_make_three_groups_and_a_crashed_leader_is_replaced() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let rendezvous_addrs = vec![rv.addr.clone()];
    let mut servers = Vec::new();
    let mut peers: Vec<(String, &str)> = Vec::new();
    // Regions interleaved, one peer every 100 ms: joins overlap, as in a real start-up.
    for n in 0..24u32 {
        let region = REGIONS[n as usize % 3];
        let s = peer(peer_id(n), region, &rendezvous_addrs, &[]).await;
        peers.push((s.addr.clone(), region));
        servers.push(Some(s));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Through the peers: one group per region, one leader each.
    let groups = eventually("one group per region (GetStatus)", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;

    // Through the rendezvous: the same three groups, 8 members each.
    eventually(
        "the same three groups at the rendezvous (GetOverlay)",
        CONVERGE,
        || async {
            let dir = directory(&rv.addr).await?;
            let ours: std::collections::BTreeSet<_> = groups.values().cloned().collect();
            let counts: Vec<u32> = dir.values().map(|(_, c)| *c).collect();
            if dir
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                == ours
                && counts.iter().all(|c| *c == 8)
            {
                Ok(())
            } else {
                Err(format!("directory {dir:?}, peers' groups {groups:?}"))
            }
        },
    )
    .await;
    let links = overlay(&rv.addr).await.unwrap().links;
    assert!(
        !links.is_empty(),
        "leaders announce their inter-group links"
    );
    assert!(
        links.iter().all(|l| l.rtt_us >= 80_000),
        "inter-region links are long: {links:?}"
    );

    // Crash the eu group's leader: no goodbye.
    let eu_group = groups["eu"].clone();
    let (leader_index, old_leader) = {
        let mut found = None;
        for (i, (addr, region)) in peers.iter().enumerate() {
            if *region == "eu" {
                let s = status(addr).await.unwrap();
                if s.role == pb::Role::Leader as i32 {
                    found = Some((i, s.peer.unwrap().peer_id));
                }
            }
        }
        found.expect("eu has a leader")
    };
    servers[leader_index].take().unwrap().kill();
    let survivors: Vec<(String, &str)> = peers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader_index)
        .map(|(_, p)| p.clone())
        .collect();

    // A successor takes over the same group and announces itself.
    eventually("a new eu leader at the rendezvous", CONVERGE, || async {
        let dir = directory(&rv.addr).await?;
        match dir.get(&eu_group) {
            Some((leader, _)) if *leader != old_leader => Ok(()),
            other => Err(format!("eu entry {other:?}")),
        }
    })
    .await;
    let after = eventually("survivors settle", CONVERGE, || {
        groups_by_region(&survivors)
    })
    .await;
    assert_eq!(after, groups, "the groups outlive their leader");

    for s in servers.into_iter().flatten() {
        s.kill();
    }
    rv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overlay_outlives_the_rendezvous_and_peers_bootstrap_each_other() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let rendezvous_addrs = vec![rv.addr.clone()];
    let (mut servers, mut peers) = regional_peers(100..106, 2, &rendezvous_addrs).await;
    let groups = eventually("one group per region", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;

    rv.stop().await;
    // Several alive timeouts later, nothing has changed.
    tokio::time::sleep(common::protocol().alive_timeout * 3).await;
    let still = eventually("groups without the rendezvous", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;
    assert_eq!(still, groups);

    // A newcomer knows only one peer's address, in another region than its own.
    let us_addr = peers.iter().find(|(_, r)| *r == "us").unwrap().0.clone();
    let newcomer = peer(peer_id(999), "eu", &[], &[us_addr]).await;
    peers.push((newcomer.addr.clone(), "eu"));
    servers.push(newcomer);
    let with_newcomer = eventually("the newcomer joins eu", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;
    assert_eq!(with_newcomer, groups);

    for s in servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_stops_gracefully_hands_its_group_over() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let rendezvous_addrs = vec![rv.addr.clone()];
    let mut servers = Vec::new();
    let mut peers: Vec<(String, &str)> = Vec::new();
    // Members would notice a silent leader only after two minutes, far beyond the deadlines
    // below: a new leader within them comes from the handover, not from a timeout.
    let slow_failure_detection = locus_core::Config {
        alive_timeout: Duration::from_secs(120),
        member_timeout: Duration::from_secs(120),
        ..common::protocol()
    };
    for n in 200..203u32 {
        let s = common::peer_with(
            slow_failure_detection.clone(),
            peer_id(n),
            "asia",
            &rendezvous_addrs,
            &[],
        )
        .await;
        peers.push((s.addr.clone(), "asia"));
        servers.push(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let groups = eventually("one group", CONVERGE, || groups_by_region(&peers)).await;
    let group = groups["asia"].clone();
    let (before, _) = directory(&rv.addr).await.unwrap()[&group].clone();
    let mut leader = None;
    for (i, srv) in servers.iter().enumerate() {
        if status(&srv.addr)
            .await
            .and_then(|s| s.peer)
            .is_some_and(|p| p.peer_id == before)
        {
            leader = Some(i);
        }
    }
    let leader = leader.expect("the announced leader is one of the peers");
    let stopped = servers.remove(leader);
    let stopped_addr = stopped.addr.clone();
    stopped.stop().await;
    peers.retain(|(addr, _)| *addr != stopped_addr);

    // The successor leads the same group, and the rendezvous counts two members.
    eventually("the successor announces the group", HANDOVER, || async {
        let dir = directory(&rv.addr).await?;
        match dir.get(&group) {
            Some((leader, 2)) if *leader != before => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let after = eventually("the survivors follow it", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;
    assert_eq!(after["asia"], group);
    for s in servers {
        s.kill();
    }
    rv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_rendezvous_is_skipped_for_the_next_one() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    // Nothing listens on port 1: the peer moves on to the second rendezvous.
    let addrs = vec!["127.0.0.1:1".to_string(), rv.addr.clone()];
    let p = peer(peer_id(300), "eu", &addrs, &[]).await;
    eventually(
        "the group announced at the live rendezvous",
        CONVERGE,
        || async {
            let dir = directory(&rv.addr).await?;
            if dir.len() == 1 {
                Ok(())
            } else {
                Err(format!("{dir:?}"))
            }
        },
    )
    .await;
    p.stop().await;
    rv.stop().await;
}

/// Cross links over real gRPC: with the cross-link radius opened to 200 ms, each peer of three
/// two-peer groups (eu, us, asia, 90–175 ms apart) links to peers of the other groups it
/// measured on its walk (`ConnectCross`), and both ends report the link in `GetStatus`. With
/// the default 15 ms no peer of another region is near enough for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_far_groups_hold_cross_links_both_ends_report() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let rendezvous_addrs = vec![rv.addr.clone()];
    let mut servers = Vec::new();
    let mut peers: Vec<(String, &str)> = Vec::new();
    for n in 400..406u32 {
        let region = REGIONS[n as usize % 3];
        let s = common::peer_with_config(peer_id(n), region, &rendezvous_addrs, |c| {
            c.protocol.cross_group_radius = Duration::from_millis(200);
        })
        .await;
        peers.push((s.addr.clone(), region));
        servers.push(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let region_of: BTreeMap<String, &str> = peers.iter().cloned().collect();
    eventually(
        "every peer holds a cross link to another region, reported at both ends",
        CONVERGE,
        || async {
            let mut ends: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (addr, _) in &peers {
                let s = status(addr)
                    .await
                    .ok_or(format!("{addr} does not answer"))?;
                let cross = s
                    .cross
                    .iter()
                    .filter_map(|l| l.peer.as_ref().map(|p| p.addr.clone()))
                    .collect();
                ends.insert(addr.clone(), cross);
            }
            for (addr, cross) in &ends {
                let far: Vec<&String> = cross
                    .iter()
                    .filter(|c| region_of.get(*c).is_some_and(|r| *r != region_of[addr]))
                    .collect();
                if far.is_empty() {
                    return Err(format!(
                        "{addr} has no cross link out of its region: {ends:?}"
                    ));
                }
                for other in far {
                    if !ends.get(other).is_some_and(|o| o.contains(addr)) {
                        return Err(format!(
                            "{other} does not report its link to {addr}: {ends:?}"
                        ));
                    }
                }
            }
            Ok(())
        },
    )
    .await;
    for s in servers {
        s.kill();
    }
    rv.stop().await;
}
