//! Forged messages against a live loopback cluster: a plain gRPC client with no credentials and
//! a made-up identity claims a group at the rendezvous and to its members. None of it may move
//! a group's leader or epoch, at the peers or in the directory (DESIGN §7, "Trust").

use locus_tests::loopback as common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{channel, eventually, groups_by_region, listed_groups, regional_peers, rendezvous};
use locus_proto::pb;
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use tonic::Code;

/// Generous: convergence takes a few seconds; the deadline only bounds a failing test.
const CONVERGE: Duration = Duration::from_secs(60);

/// How long a forgery gets to do harm: three alive timeouts of the `test` preset (4.5 s), long
/// enough for a member to give up on its real leader and for a leader to step down.
fn steady() -> Duration {
    common::protocol().alive_timeout * 3
}

/// Every peer's standing: address → (role, group, leader, epoch).
type Standing = BTreeMap<String, (i32, String, String, u64)>;
/// The directory: group → (leader, epoch).
type Directory = BTreeMap<String, (String, u64)>;

async fn standing(peers: &[(String, &str)]) -> Result<Standing, String> {
    let mut out = BTreeMap::new();
    for (addr, _) in peers {
        let s = common::status(addr)
            .await
            .ok_or_else(|| format!("{addr} does not answer"))?;
        let g = s.group.ok_or_else(|| format!("{addr} is in no group"))?;
        let leader = g.leader.map(|l| l.peer_id).unwrap_or_default();
        out.insert(addr.clone(), (s.role, g.group_id, leader, g.epoch));
    }
    Ok(out)
}

async fn directory(rv: &str) -> Result<Directory, String> {
    Ok(listed_groups(rv)
        .await?
        .into_iter()
        .map(|g| {
            let leader = g.leader.map(|l| l.peer_id).unwrap_or_default();
            (g.group_id, (leader, g.epoch))
        })
        .collect())
}

/// Both views, once the directory agrees with the peers about every group.
async fn agreed(rv: &str, peers: &[(String, &str)]) -> Result<(Standing, Directory), String> {
    let s = standing(peers).await?;
    let d = directory(rv).await?;
    let from_peers: Directory = s
        .values()
        .map(|(_, g, l, e)| (g.clone(), (l.clone(), *e)))
        .collect();
    if from_peers == d {
        Ok((s, d))
    } else {
        Err(format!("peers {from_peers:?}, directory {d:?}"))
    }
}

/// Waits out [`steady`] and asserts that nothing moved.
async fn unchanged(what: &str, rv: &str, peers: &[(String, &str)], before: &(Standing, Directory)) {
    tokio::time::sleep(steady()).await;
    let now = (standing(peers).await.unwrap(), directory(rv).await.unwrap());
    assert_eq!(
        now.0, before.0,
        "after {what}: the peers' leaders and epochs moved"
    );
    assert_eq!(now.1, before.1, "after {what}: the directory moved");
}

/// The forger: a made-up peer at an address where nothing listens.
fn forger() -> pb::PeerRef {
    pb::PeerRef {
        peer_id: uuid::Uuid::new_v4().to_string(),
        addr: "127.0.0.1:1".into(),
    }
}

fn announcement(
    group: &pb::GroupView,
    epoch: u64,
    leader: pb::PeerRef,
) -> pb::AnnounceGroupRequest {
    pb::AnnounceGroupRequest {
        caller: Some(leader.clone()),
        group: Some(pb::GroupView {
            epoch,
            leader: Some(leader),
            successors: vec![],
            ..group.clone()
        }),
        neighbors: vec![],
        ended: false,
        partition_group_ids: vec![],
        landmarks: vec![],
    }
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_claims_move_no_leader_and_no_epoch() {
    let rv = rendezvous(Duration::from_secs(3)).await;
    let rendezvous_addrs = vec![rv.addr.clone()];
    let (servers, peers) = regional_peers(600..609, 3, &rendezvous_addrs).await;
    let groups = eventually("one group per region", CONVERGE, || {
        groups_by_region(&peers)
    })
    .await;
    let before = eventually("the directory agrees with the peers", CONVERGE, || {
        agreed(&rv.addr, &peers)
    })
    .await;
    // The control: left alone, nothing moves either.
    unchanged("nothing", &rv.addr, &peers, &before).await;

    // The target: the eu group, its leader, a member, and its view as the leader sends it.
    let eu = groups["eu"].clone();
    let eu_peers: Vec<&String> = peers
        .iter()
        .filter(|(_, r)| *r == "eu")
        .map(|(a, _)| a)
        .collect();
    let mut leader_status = None;
    let mut member_addr = None;
    for addr in &eu_peers {
        let s = common::status(addr).await.unwrap();
        if s.role == pb::Role::Leader as i32 {
            leader_status = Some(s);
        } else {
            member_addr = Some((*addr).clone());
        }
    }
    let leader_status = leader_status.expect("eu has a leader");
    let member_addr = member_addr.expect("eu has a member");
    let view = leader_status.group.clone().unwrap();
    assert_eq!(view.group_id, eu);
    let leader = leader_status.peer.clone().unwrap();
    let epoch = view.epoch;
    let mut rendezvous_client = RendezvousClient::new(channel(&rv.addr).await);

    // (a) An epoch beyond any the wire allows.
    let status = rendezvous_client
        .announce_group(announcement(&view, u64::MAX, forger()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("epoch"), "{status:?}");
    unchanged("an announcement at epoch 2^64-1", &rv.addr, &peers, &before).await;

    // (b) A fake leader at the current epoch and at the next.
    for e in [epoch, epoch + 1] {
        let status = rendezvous_client
            .announce_group(announcement(&view, e, forger()))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "a fake leader at epoch {e}: {status:?}"
        );
    }
    unchanged("announcements by a fake leader", &rv.addr, &peers, &before).await;

    // (c) Alive floods from a fake leader at the next epoch and five on, to a member: a
    // plausible one, carrying the real leadership list after the fake leader.
    let mut member = PeerServiceClient::new(channel(&member_addr).await);
    let fake = forger();
    for e in [epoch + 1, epoch + 5] {
        let reply = member
            .alive(pb::AliveRequest {
                caller: Some(fake.clone()),
                group: Some(pb::GroupView {
                    epoch: e,
                    leader: Some(fake.clone()),
                    ..view.clone()
                }),
                seq: 1,
                leadership: std::iter::once(fake.clone())
                    .chain(leader_status.leadership.iter().cloned())
                    .collect(),
                neighbors: vec![],
                roster: leader_status.leadership.clone(),
                merge_into: None,
                partition_links: vec![],
                opened_links: vec![],
                lost: vec![],
            })
            .await;
        eprintln!("forged Alive at epoch {e}: {reply:?}");
    }
    unchanged("forged Alive messages", &rv.addr, &peers, &before).await;

    // (d) Election claims at the next epoch, sent to the leader by a peer outside the group:
    // one for itself, one in the name of a real member (the caller field is only a field).
    let mut to_leader = PeerServiceClient::new(channel(&leader.addr).await);
    let outsider = forger();
    let real_member = common::status(&member_addr).await.unwrap().peer.unwrap();
    for claimant in [outsider, real_member] {
        let reply = to_leader
            .new_leader(pb::NewLeaderRequest {
                caller: Some(claimant.clone()),
                group_id: eu.clone(),
                epoch: epoch + 1,
                round: 0,
                candidate: Some(claimant),
                sent_at_unix_us: unix_us(),
            })
            .await;
        eprintln!("forged NewLeader: {reply:?}");
    }
    unchanged("forged NewLeader claims", &rv.addr, &peers, &before).await;

    for s in servers {
        s.kill();
    }
    rv.stop().await;
}
