//! Intra-group links chosen by measured RTT (beyond the seed, issue #14; docs/decisions.md
//! "Intra-group links to the nearest members"): a member opens its intra-group links to the
//! random members its leader names [0062], then moves them to nearer ones as it measures
//! group-mates.
//!
//! A group is everything within its leader's locality, and on real networks that is not a
//! ball: on PlanetLab one group held hosts 2–4 ms from its leader and 60–120 ms from each
//! other (the triangle inequality does not hold between hosts), and every random link between
//! the two sides crossed an ocean. Each report to the leader asks for a few more members
//! ([`CANDIDATES_PER_REPORT`]); the member measures those it has not measured, at most
//! [`MEASURE_BUDGET`] per group it is in, and when one is nearer than [`MOVE_SHARE`] of the
//! farthest link it opened, it links to it and then closes that farthest link.
//!
//! Robustness stays with what the seed gives: the link to the leader is never moved (every
//! member holds one, so the group's mesh is connected through its leader), nor are links
//! other members opened, and each member keeps [`RANDOM_KEPT`] of its random links. The RTT
//! that decides is this peer's own measurement of the candidate, whose reply must come from
//! that peer and name this group; the leader's candidate list only says whom to measure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Peer;
use super::state::{GroupRole, ProbeFor, Purpose, State};
use crate::id::{PeerId, PeerRef};
use crate::message::{
    CallError, ConnectIntraRequest, ConnectReply, LeaveRequest, LinkInfo, LinkScope, MeasureReply,
    Request, Response,
};

/// Members a report asks its leader for beyond the links missing: each is measured once.
pub(super) const CANDIDATES_PER_REPORT: u32 = 4;

/// Group-mates a member measures for this rule while it stays in one group: with reports every
/// 5 s and two candidates a report, a minute after entering. A group of a dozen is measured
/// whole; in larger groups (a metro of a hundred peers, all a few ms apart) a dozen random
/// members already hold links as near as the metro's spread allows. 24 probes at most per
/// member and group, none once spent.
pub(super) const MEASURE_BUDGET: u32 = 12;

/// A link moves only to a member nearer than this share of the link it replaces: RTTs are
/// noisy and a move costs a call at each of three peers.
const MOVE_SHARE: f64 = 0.8;

/// Random links (opened to the leader's random candidates) a member keeps however far: a few
/// links not chosen by distance keep the mesh of a group whose members form near clusters in
/// one piece even while its leader is being replaced.
pub(super) const RANDOM_KEPT: usize = 1;

/// The intra-group links this member opened (the leader's link aside), and its measuring.
#[derive(Debug, Default)]
pub(super) struct NearIntra {
    /// Links this member opened, by the peer at the other end: `true` if chosen by RTT,
    /// `false` if to a random candidate. Entries whose link is gone are ignored and pruned.
    pub(super) opened: BTreeMap<PeerId, bool>,
    /// Group-mates measured for this rule in this group.
    pub(super) measured: u32,
    /// Being measured.
    pub(super) probing: BTreeSet<PeerId>,
}

impl Peer {
    /// How many candidates a report asks for beyond the links missing: none once the budget
    /// is spent or with the rule off.
    pub(super) fn near_intra_extra_candidates(&self) -> u32 {
        let State::Member(g) = &self.state else {
            return 0;
        };
        if self.cfg.nearest_intra_links && g.near_intra.measured < MEASURE_BUDGET {
            CANDIDATES_PER_REPORT
        } else {
            0
        }
    }

    /// The leader named these members: measure the unmeasured ones (within the budget) and
    /// weigh the measured ones at once.
    pub(super) fn consider_intra_candidates(&mut self, candidates: &[PeerRef]) {
        if !self.cfg.nearest_intra_links {
            return;
        }
        let me = self.me.id;
        for c in candidates {
            let State::Member(g) = &mut self.state else {
                return;
            };
            if c.id == me
                || c.id == g.leader.id
                || g.intra.contains_key(&c.id)
                || g.near_intra.probing.contains(&c.id)
            {
                continue;
            }
            if let Some(rtt) = self.known.rtt(c.id) {
                self.weigh_near_intra(c.clone(), rtt);
            } else if g.near_intra.measured < MEASURE_BUDGET {
                g.near_intra.measured += 1;
                g.near_intra.probing.insert(c.id);
                self.probe(c.clone(), ProbeFor::IntraCandidate);
            }
        }
    }

    /// A candidate was measured. Only a reply from that peer, naming this group, counts.
    pub(super) fn on_intra_candidate_measured(
        &mut self,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.near_intra.probing.remove(&target.id);
        let Some((rtt, reply)) = result else { return };
        if reply.responder.id != target.id
            || reply.group.as_ref().is_none_or(|v| v.group_id != g.id)
        {
            return;
        }
        self.weigh_near_intra(target.clone(), rtt);
    }

    /// Links to `peer`, `rtt` away, if a link is missing or it is nearer than the farthest link
    /// this member may move (by [`MOVE_SHARE`]); that link closes once `peer` accepts.
    fn weigh_near_intra(&mut self, peer: PeerRef, rtt: Duration) {
        let target = self.cfg.intra_group_target as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        if !matches!(g.role, GroupRole::Follower)
            || peer.id == g.leader.id
            || g.intra.contains_key(&peer.id)
            || g.connecting.contains(&peer.id)
            || g.refused.contains(&peer.id)
        {
            return;
        }
        g.near_intra.opened.retain(|p, _| g.intra.contains_key(p));
        let replaces = if g.intra.len() + g.connecting.len() < target {
            None
        } else {
            let leader = g.leader.id;
            let random = g
                .near_intra
                .opened
                .iter()
                .filter(|(p, near)| !**near && **p != leader)
                .count();
            let Some(far) = g
                .near_intra
                .opened
                .iter()
                .filter(|(p, near)| **p != leader && (**near || random > RANDOM_KEPT))
                .filter_map(|(p, _)| g.intra.get(p))
                .max_by_key(|l| (l.rtt, l.peer.id))
            else {
                return;
            };
            if rtt.as_secs_f64() >= far.rtt.as_secs_f64() * MOVE_SHARE {
                return;
            }
            Some(far.peer.clone())
        };
        let group_id = g.id;
        g.connecting.insert(peer.id);
        self.send_to(
            &peer,
            Request::ConnectIntra(ConnectIntraRequest { group_id }),
            Purpose::ConnectNearIntra {
                peer: peer.clone(),
                replaces,
            },
        );
    }

    /// The answer to a `ConnectIntra` chosen by RTT: on acceptance the link it replaces closes.
    pub(super) fn on_connect_near_intra_reply(
        &mut self,
        peer: PeerRef,
        replaces: Option<PeerRef>,
        rtt: Duration,
        result: Result<Response, CallError>,
    ) {
        let target = self.cfg.intra_group_target as usize;
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.connecting.remove(&peer.id);
        let Ok(Response::Connect(ConnectReply { accepted: true, .. })) = result else {
            g.refused.insert(peer.id);
            return;
        };
        let rtt = self.known.rtt(peer.id).unwrap_or(rtt);
        g.intra.insert(
            peer.id,
            LinkInfo {
                peer: peer.clone(),
                rtt,
            },
        );
        g.near_intra.opened.insert(peer.id, true);
        let Some(old) = replaces else { return };
        if old.id == g.leader.id || !g.intra.contains_key(&old.id) || g.intra.len() <= target {
            return;
        }
        g.intra.remove(&old.id);
        g.near_intra.opened.remove(&old.id);
        let group_id = g.id;
        self.send_to(
            &old,
            Request::Leave(LeaveRequest {
                group_id,
                scope: LinkScope::Intra,
            }),
            Purpose::Ignore,
        );
    }
}

#[cfg(test)]
mod tests {
    //! A real follower (peer 1 of peer 0's group, joined through a walk) whose intra-group
    //! links are set by hand; the members it measures and links to answer by hand.

    use std::time::Duration;

    use super::super::tests::{at, founder, join, peer};
    use super::super::{Peer, State};
    use super::{CANDIDATES_PER_REPORT, MEASURE_BUDGET};
    use crate::id::PeerId;
    use crate::message::{
        ConnectReply, GroupView, LinkInfo, LinkScope, MeasureReply, Request, Response, Target,
        Transmit,
    };

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Peer 1, following peer 0, with its calls so far dropped and the links the walk gave it
    /// replaced by `links`: (peer, RTT in ms, opened by peer 1 as random (`Some(false)`), by RTT
    /// (`Some(true)`), or accepted from the other end (`None`)). Peer 0's link stays.
    fn member(links: &[(u8, u64, Option<bool>)], nearest_intra_links: bool) -> Peer {
        let mut leader = founder();
        let mut p = join(&mut leader, 1, at(0));
        p.cfg.nearest_intra_links = nearest_intra_links;
        drain(&mut p);
        let State::Member(g) = &mut p.state else {
            unreachable!()
        };
        g.intra.retain(|id, _| *id == peer(0).id);
        assert_eq!(g.intra.len(), 1, "linked to its leader");
        for &(n, rtt, opened) in links {
            g.intra.insert(
                peer(n).id,
                LinkInfo {
                    peer: peer(n),
                    rtt: ms(rtt),
                },
            );
            if let Some(near) = opened {
                g.near_intra.opened.insert(peer(n).id, near);
            }
        }
        p
    }

    fn drain(p: &mut Peer) -> Vec<Transmit> {
        std::iter::from_fn(|| p.poll_transmit()).collect()
    }

    fn view(p: &Peer) -> GroupView {
        p.group().expect("in a group")
    }

    fn to(t: &Transmit) -> PeerId {
        match &t.to {
            Target::Peer(q) => q.id,
            other => panic!("a call to {other:?}"),
        }
    }

    /// The leader named peer `n`; it answers every `Measure` sample as `responder` in `group`
    /// at `rtt` ms. Returns what `p` sent after the measurement.
    fn measure(
        p: &mut Peer,
        n: u8,
        rtt: u64,
        responder: u8,
        group: Option<GroupView>,
    ) -> Vec<Transmit> {
        p.consider_intra_candidates(&[peer(n)]);
        for _ in 0..p.cfg.measure_samples {
            let calls = drain(p);
            let Some(t) = calls
                .iter()
                .find(|t| matches!(t.request, Request::Measure(_)))
            else {
                return calls;
            };
            assert_eq!(to(t), peer(n).id);
            // Each sample leaves at the peer's latest instant and is answered `rtt` later.
            let now = p.now + ms(rtt);
            p.handle_response(
                now,
                t.id,
                Ok(Response::Measure(MeasureReply {
                    responder: peer(responder),
                    group: group.clone(),
                })),
            );
        }
        drain(p)
    }

    fn accept(p: &mut Peer, call: &Transmit) -> Vec<Transmit> {
        p.handle_response(
            p.now,
            call.id,
            Ok(Response::Connect(ConnectReply {
                accepted: true,
                referrals: Vec::new(),
            })),
        );
        drain(p)
    }

    fn connects(calls: &[Transmit]) -> Vec<&Transmit> {
        calls
            .iter()
            .filter(|t| matches!(t.request, Request::ConnectIntra(_)))
            .collect()
    }

    fn intra(p: &Peer) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = p.status().intra.iter().map(|l| l.peer.id).collect();
        v.sort();
        v
    }

    fn ids(ns: &[u8]) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = ns.iter().map(|n| peer(*n).id).collect();
        v.sort();
        v
    }

    /// Five random links, one of them across an ocean (peer 6, 90 ms).
    const RANDOM_FIVE: [(u8, u64, Option<bool>); 5] = [
        (2, 4, Some(false)),
        (3, 5, Some(false)),
        (4, 6, Some(false)),
        (5, 7, Some(false)),
        (6, 90, Some(false)),
    ];

    #[test]
    fn a_nearer_member_takes_the_place_of_the_farthest_link_the_member_opened() {
        let mut p = member(&RANDOM_FIVE, true);
        let group = view(&p);
        let calls = measure(&mut p, 9, 3, 9, Some(group));
        let connect = connects(&calls);
        assert_eq!(connect.len(), 1, "one link asked for: {calls:?}");
        assert_eq!(to(connect[0]), peer(9).id);
        let after = accept(&mut p, connect[0]);
        // Accepted: the 90 ms link closes, at both ends.
        let leave: Vec<&Transmit> = after
            .iter()
            .filter(|t| matches!(&t.request, Request::Leave(l) if l.scope == LinkScope::Intra))
            .collect();
        assert_eq!(leave.len(), 1);
        assert_eq!(to(leave[0]), peer(6).id);
        assert_eq!(intra(&p), ids(&[0, 2, 3, 4, 5, 9]));
    }

    #[test]
    fn a_member_no_nearer_than_the_share_moves_nothing() {
        let mut p = member(&RANDOM_FIVE, true);
        let group = view(&p);
        // 75 ms against the farthest link's 90: not below 0.8 of it.
        let calls = measure(&mut p, 9, 75, 9, Some(group));
        assert!(connects(&calls).is_empty(), "{calls:?}");
        assert_eq!(intra(&p), ids(&[0, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn the_leaders_link_the_last_random_link_and_links_others_opened_stay() {
        // Far: the leader's link is not in the list (it stays whatever its RTT), the one
        // random link (50 ms) and the link peer 3 opened (60 ms). Near: four chosen by RTT.
        let mut p = member(
            &[
                (2, 50, Some(false)),
                (3, 60, None),
                (4, 2, Some(true)),
                (5, 2, Some(true)),
                (6, 2, Some(true)),
                (7, 2, Some(true)),
            ],
            true,
        );
        let group = view(&p);
        // 5 ms is far nearer than 50 and 60, but no link that may move is farther than 2 ms.
        let calls = measure(&mut p, 9, 5, 9, Some(group.clone()));
        assert!(connects(&calls).is_empty(), "{calls:?}");
        // 1 ms is below 0.8 × 2 ms: it replaces one of the links chosen by RTT.
        let calls = measure(&mut p, 10, 1, 10, Some(group));
        let connect = connects(&calls);
        assert_eq!(connect.len(), 1);
        accept(&mut p, connect[0]);
        let now = intra(&p);
        for kept in [0, 2, 3, 10] {
            assert!(now.contains(&peer(kept).id), "peer {kept} lost: {now:?}");
        }
        assert_eq!(now.len(), 7, "one of peers 4–7 made way: {now:?}");
    }

    #[test]
    fn a_measurement_answered_by_another_peer_or_for_another_group_moves_nothing() {
        let mut p = member(&RANDOM_FIVE, true);
        let mut elsewhere = view(&p);
        elsewhere.group_id = crate::id::GroupId(uuid::Uuid::from_u128(77));
        // Peer 9's address answered as peer 8: not peer 9's RTT.
        let group = view(&p);
        let calls = measure(&mut p, 9, 1, 8, Some(group));
        assert!(connects(&calls).is_empty(), "{calls:?}");
        // Peer 10 says it is in another group: the leader's list is stale, or peer 10 lies.
        let calls = measure(&mut p, 10, 1, 10, Some(elsewhere));
        assert!(connects(&calls).is_empty(), "{calls:?}");
        // Peer 11 is in no group.
        let calls = measure(&mut p, 11, 1, 11, None);
        assert!(connects(&calls).is_empty(), "{calls:?}");
        assert_eq!(intra(&p), ids(&[0, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn a_member_measures_at_most_its_budget_and_then_asks_for_no_more() {
        let mut p = member(&RANDOM_FIVE, true);
        assert_eq!(p.near_intra_extra_candidates(), CANDIDATES_PER_REPORT);
        let named: Vec<_> = (20..60).map(peer).collect();
        p.consider_intra_candidates(&named);
        let probes = drain(&mut p)
            .iter()
            .filter(|t| matches!(t.request, Request::Measure(_)))
            .count();
        assert_eq!(probes, MEASURE_BUDGET as usize);
        assert_eq!(p.near_intra_extra_candidates(), 0);
        p.consider_intra_candidates(&[peer(61)]);
        assert!(drain(&mut p).is_empty());
    }

    #[test]
    fn with_the_rule_off_nothing_is_measured() {
        let mut p = member(&RANDOM_FIVE, false);
        assert_eq!(p.near_intra_extra_candidates(), 0);
        p.consider_intra_candidates(&[peer(9)]);
        assert!(drain(&mut p).is_empty());
    }
}
