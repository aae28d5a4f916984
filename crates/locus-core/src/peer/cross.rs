//! Cross links (beyond the seed, issue #14; docs/decisions.md "Members linked across groups"):
//! every grouped peer, member or leader, links to the nearest peers of *other* groups it has
//! measured, within `cross_group_radius`.
//!
//! Groups are cut by thresholds, so two peers a few ms apart can fall into neighbouring
//! groups; the seed links them only through their leaders, which is where PlanetLab's overlay
//! lost most against the nearest-neighbour bound. A cross link costs no probe to find: the
//! candidates are the closest peers this one has measured ([`super::known::Known`], filled by
//! its join walk and its searches), less its own group. The peer at the other end proves
//! nothing by accepting and decides nothing by it: a cross link carries no leadership, no
//! membership and no routing state, so a peer that lies about its group gets at most a link
//! it could have had anyway, within the caps.
//!
//! Each end keeps the link alive on its own terms: the opener renews it every
//! [`refresh_interval`] (the renewal is the same `ConnectCross` call, which the other end
//! refuses once the two peers share a group or it has left); the other end forgets a link not
//! renewed for three intervals. A graceful leave closes them (`LinkScope::Cross`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::state::{Group, ProbeFor, Purpose, State};
use super::{Peer, Timer};
use crate::config::Config;
use crate::id::{GroupId, PeerId, PeerRef};
use crate::message::{
    CallError, ConnectCrossRequest, ConnectReply, LeaveRequest, LinkInfo, LinkScope, MeasureReply,
    Request, RequestError, Response,
};
use crate::time::Time;

/// Most cross links a peer opens (`Config::cross_group_links`).
pub const MAX_CROSS_GROUP_LINKS: usize = 8;

/// Cross links a peer accepts from others beyond those it opened: a peer many others find
/// nearest (a host on a well-connected site) stops taking more, and those others move on to
/// their next candidate.
pub const MAX_ACCEPTED_CROSS_LINKS: usize = 8;

/// Referrals a new link's far end names, and this peer measures at most.
const REFERRALS_MEASURED: usize = 4;

/// A link moves to a referral only if it is nearer than this share of the link's RTT: RTTs
/// are noisy, and moving costs a call at each of three peers.
const MOVE_SHARE: f64 = 0.8;

/// Renewals an accepted cross link may miss before the accepting end forgets it.
const MISSED_RENEWALS: u32 = 3;

/// How often an opener renews its cross links and tops them up: twice the re-measurement
/// interval (60 s in the wan preset), so that each link costs its opener one call a minute.
pub(crate) fn refresh_interval(remeasure_interval: Duration) -> Duration {
    remeasure_interval * 2
}

/// A peer's cross links, both the ones it opened and the ones it accepted.
#[derive(Debug, Default)]
pub(super) struct CrossLinks {
    /// Open links, by the peer at the other end.
    pub(super) links: BTreeMap<PeerId, CrossLink>,
    /// Asked for and not yet answered (counted against the target).
    pub(super) connecting: BTreeSet<PeerId>,
    /// Refused or failed: not asked again while this peer stays in its group.
    pub(super) refused: BTreeSet<PeerId>,
}

/// One cross link.
#[derive(Debug, Clone)]
pub(super) struct CrossLink {
    pub(super) link: LinkInfo,
    /// This peer opened it (and renews it); otherwise it was accepted.
    pub(super) opened: bool,
    /// Opened: when it was last confirmed. Accepted: when it was last renewed.
    pub(super) seen: Time,
}

/// The peers a cross link must not go to: those a member knows to be in its own group (a
/// sample in large groups: the other end refuses a link within its group anyway). A leader's
/// inter-group neighbours stay candidates: the link to the nearest of them is already there,
/// and asking for it again opens nothing new (measured: leaving them out made links longer,
/// `random_ratio` +0.002 on PlanetLab).
fn not_candidates(g: &Group, me: PeerId) -> BTreeSet<PeerId> {
    g.roster()
        .iter()
        .chain(g.leadership.iter())
        .map(|p| p.id)
        .chain(g.intra.keys().copied())
        .chain([g.leader.id, me])
        .collect()
}

/// How far this peer's cross links go: `cross_group_radius` while its group is too small
/// to give it `intra_group_target` intra-group links, and otherwise no farther than the
/// `intra_group_target`-th nearest of them. A peer of a group of a hundred has its nearest
/// peers in its group, and a link to another group's peer farther than those its group gives
/// it adds a long link for nothing; a peer of a group of two has one intra-group link, and its
/// next nearest peers are in other groups. The `intra_group_target`-th rather than the
/// farthest: one long intra-group link (a member of the next metro) would stretch the reach
/// (measured at 20,000 synthetic peers: optimality gap 1.82 against 1.99 with the farthest).
fn cross_reach(cfg: &Config, g: &Group) -> Duration {
    let radius = cfg.cross_group_radius;
    if (g.intra.len() as u32) < cfg.intra_group_target {
        return radius;
    }
    let mut rtts: Vec<Duration> = g.intra.values().map(|l| l.rtt).collect();
    rtts.sort_unstable();
    rtts.get(cfg.intra_group_target as usize - 1)
        .map_or(radius, |kth| (*kth).min(radius))
}

impl CrossLinks {
    fn opened(&self) -> usize {
        self.links.values().filter(|l| l.opened).count()
    }

    fn accepted(&self) -> usize {
        self.links.values().filter(|l| !l.opened).count()
    }
}

impl Peer {
    /// The first round of cross links, just after entering a group (the walk's measurements
    /// are at hand), then every [`refresh_interval`].
    pub(super) fn schedule_cross(&mut self, now: Time) {
        if self.cfg.cross_group_links > 0 {
            self.set_timer(Timer::Cross, now + self.cfg.member_refresh_interval);
        }
    }

    /// Renews the links this peer opened, forgets accepted ones not renewed in time, and tops
    /// up to `cross_group_links`.
    pub(super) fn on_cross_timer(&mut self, now: Time) {
        let interval = refresh_interval(self.cfg.remeasure_interval);
        let State::Member(g) = &mut self.state else {
            return;
        };
        let group_id = g.id;
        let stale = interval * MISSED_RENEWALS;
        g.cross
            .links
            .retain(|_, l| l.opened || now.saturating_since(l.seen) <= stale);
        g.cross.refused.clear();
        // A link opened before the group gave this peer its intra-group links may now lie
        // beyond its reach: it closes, and the round looks for a nearer one.
        let reach = cross_reach(&self.cfg, g);
        let (renew, beyond): (Vec<&CrossLink>, Vec<&CrossLink>) = g
            .cross
            .links
            .values()
            .filter(|l| l.opened)
            .partition(|l| l.link.rtt <= reach);
        let renew: Vec<PeerRef> = renew.iter().map(|l| l.link.peer.clone()).collect();
        let beyond: Vec<PeerRef> = beyond.iter().map(|l| l.link.peer.clone()).collect();
        for peer in beyond {
            self.close_cross(group_id, peer);
        }
        for peer in renew {
            self.ask_cross(group_id, peer);
        }
        self.top_up_cross();
        self.set_timer(Timer::Cross, now + interval);
    }

    /// Asks the nearest measured peers outside this peer's group for cross links until
    /// `cross_group_links` are open or asked for.
    pub(super) fn top_up_cross(&mut self) {
        let target = self.cfg.cross_group_links as usize;
        let me = self.me.id;
        let State::Member(g) = &self.state else {
            return;
        };
        let radius = cross_reach(&self.cfg, g);
        // Renewals in flight are links already counted as opened.
        let asking = g
            .cross
            .connecting
            .iter()
            .filter(|p| !g.cross.links.contains_key(p))
            .count();
        let missing = target.saturating_sub(g.cross.opened() + asking);
        if missing == 0 {
            return;
        }
        let own = not_candidates(g, me);
        let mut near: Vec<&LinkInfo> = self
            .known
            .iter()
            .filter(|l| {
                l.rtt <= radius
                    && !own.contains(&l.peer.id)
                    && !g.cross.links.contains_key(&l.peer.id)
                    && !g.cross.connecting.contains(&l.peer.id)
                    && !g.cross.refused.contains(&l.peer.id)
            })
            .collect();
        near.sort_by_key(|l| (l.rtt, l.peer.id));
        let chosen: Vec<PeerRef> = near
            .into_iter()
            .take(missing)
            .map(|l| l.peer.clone())
            .collect();
        let group_id = g.id;
        for peer in chosen {
            self.ask_cross(group_id, peer);
        }
    }

    /// A new link's far end named the peers nearest it: its own group's, most often a few ms
    /// from it and so from this peer too. The nearest few not of this peer's group are
    /// measured; [`Peer::on_cross_candidate_measured`] moves a link to one that is nearer.
    fn measure_cross_referrals(&mut self, referrals: Vec<PeerRef>) {
        let me = self.me.id;
        let State::Member(g) = &self.state else {
            return;
        };
        let own: BTreeSet<PeerId> = not_candidates(g, me);
        let measure: Vec<PeerRef> = referrals
            .into_iter()
            .filter(|p| {
                !own.contains(&p.id)
                    && !g.cross.links.contains_key(&p.id)
                    && self.known.rtt(p.id).is_none()
            })
            .take(REFERRALS_MEASURED)
            .collect();
        for p in measure {
            self.probe(p, ProbeFor::CrossCandidate);
        }
    }

    /// A referral was measured: when it is nearer than the farthest link this peer opened (by
    /// [`MOVE_SHARE`]), or a link is still missing, the link moves to it.
    pub(super) fn on_cross_candidate_measured(
        &mut self,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        let Some((rtt, reply)) = result else {
            return;
        };
        let target_count = self.cfg.cross_group_links as usize;
        let State::Member(g) = &self.state else {
            return;
        };
        let group_id = g.id;
        if rtt > cross_reach(&self.cfg, g)
            || reply.responder.id != target.id
            || reply.group.as_ref().is_none_or(|v| v.group_id == group_id)
            || g.cross.links.contains_key(&target.id)
            || g.cross.connecting.contains(&target.id)
            || g.cross.refused.contains(&target.id)
        {
            return;
        }
        if g.cross.opened() >= target_count {
            let Some(far) = g
                .cross
                .links
                .values()
                .filter(|l| l.opened)
                .max_by_key(|l| (l.link.rtt, l.link.peer.id))
            else {
                return;
            };
            if rtt.as_secs_f64() >= far.link.rtt.as_secs_f64() * MOVE_SHARE {
                return;
            }
            let far = far.link.peer.clone();
            self.close_cross(group_id, far);
        }
        self.ask_cross(group_id, target.clone());
    }

    fn close_cross(&mut self, group_id: GroupId, peer: PeerRef) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.cross.links.remove(&peer.id);
        self.send_to(
            &peer,
            Request::Leave(LeaveRequest {
                group_id,
                scope: LinkScope::Cross,
            }),
            Purpose::Ignore,
        );
    }

    fn ask_cross(&mut self, group_id: GroupId, peer: PeerRef) {
        let State::Member(g) = &mut self.state else {
            return;
        };
        if !g.cross.connecting.insert(peer.id) {
            return;
        }
        self.send_to(
            &peer,
            Request::ConnectCross(ConnectCrossRequest { group_id }),
            Purpose::ConnectCross(peer.clone()),
        );
    }

    /// The answer to a `ConnectCross` this peer sent (a new link or a renewal).
    pub(super) fn on_connect_cross_reply(
        &mut self,
        now: Time,
        peer: PeerRef,
        result: Result<Response, CallError>,
    ) {
        let rtt = self.known.rtt(peer.id);
        let State::Member(g) = &mut self.state else {
            return;
        };
        g.cross.connecting.remove(&peer.id);
        match result {
            Ok(Response::Connect(ConnectReply {
                accepted: true,
                referrals,
            })) => {
                let new = !g.cross.links.contains_key(&peer.id);
                let link = g.cross.links.entry(peer.id).or_insert_with(|| CrossLink {
                    link: LinkInfo {
                        peer: peer.clone(),
                        rtt: rtt.unwrap_or_default(),
                    },
                    opened: true,
                    seen: now,
                });
                link.seen = now;
                if let Some(rtt) = rtt {
                    link.link.rtt = rtt;
                }
                if new {
                    self.measure_cross_referrals(referrals);
                }
            }
            _ => {
                // Refused (full, same group, left) or unreachable: the link is gone, and
                // another candidate is asked now rather than at the next round.
                if g.cross.links.get(&peer.id).is_some_and(|l| l.opened) {
                    g.cross.links.remove(&peer.id);
                }
                g.cross.refused.insert(peer.id);
                self.top_up_cross();
            }
        }
    }

    /// Another group's peer asks for a cross link (or renews one). `from` is the caller as the
    /// transport identified it; `group_id` is the caller's group as it says, checked only to
    /// refuse a link within this peer's own group.
    pub(super) fn on_connect_cross(
        &mut self,
        now: Time,
        from: PeerRef,
        group_id: GroupId,
    ) -> Result<Response, RequestError> {
        if self.cfg.cross_group_links == 0 {
            return Err(RequestError::Unsupported);
        }
        let known = self.known.rtt(from.id);
        let State::Member(g) = &mut self.state else {
            return Err(RequestError::NotJoined);
        };
        if g.id == group_id {
            return Err(RequestError::Invalid(
                "a cross link joins two groups; the caller names this peer's own group".into(),
            ));
        }
        if from.id == self.me.id {
            return Err(RequestError::Invalid("a cross link to itself".into()));
        }
        if g.roster().iter().any(|p| p.id == from.id) || g.intra.contains_key(&from.id) {
            return Err(RequestError::Invalid(
                "the caller is a member of this peer's group".into(),
            ));
        }
        let full = g.cross.accepted() >= MAX_ACCEPTED_CROSS_LINKS;
        match g.cross.links.get_mut(&from.id) {
            Some(l) => l.seen = now,
            None if full => {
                return Ok(Response::Connect(ConnectReply {
                    accepted: false,
                    referrals: Vec::new(),
                }));
            }
            None => {
                g.cross.links.insert(
                    from.id,
                    CrossLink {
                        link: LinkInfo {
                            peer: from.clone(),
                            rtt: known.unwrap_or_default(),
                        },
                        opened: false,
                        seen: now,
                    },
                );
                if known.is_none() {
                    self.probe(from.clone(), ProbeFor::Cross);
                }
            }
        }
        // The peers nearest this one, for the caller to measure: a link may move to one
        // nearer to it.
        let referrals = self
            .nearby(REFERRALS_MEASURED + 1)
            .into_iter()
            .map(|l| l.peer)
            .filter(|p| p.id != from.id)
            .take(REFERRALS_MEASURED)
            .collect();
        Ok(Response::Connect(ConnectReply {
            accepted: true,
            referrals,
        }))
    }

    pub(super) fn on_cross_measured(
        &mut self,
        target: &PeerRef,
        result: Option<(Duration, &MeasureReply)>,
    ) {
        if let (State::Member(g), Some((rtt, _))) = (&mut self.state, result)
            && let Some(l) = g.cross.links.get_mut(&target.id)
        {
            l.link.rtt = rtt;
        }
    }

    /// The other end closed a cross link.
    pub(super) fn on_cross_leave(&mut self, from: &PeerRef) {
        if let State::Member(g) = &mut self.state {
            g.cross.links.remove(&from.id);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Cross links driven through the engine: founders of groups of their own, their
    //! measurements recorded by hand, their calls answered by hand.

    use std::time::Duration;

    use super::super::tests::{at, peer};
    use super::super::{Peer, State};
    use super::MAX_ACCEPTED_CROSS_LINKS;
    use crate::config::Config;
    use crate::id::{GroupId, PeerId};
    use crate::message::{
        ConnectCrossRequest, ConnectReply, LeaveRequest, LinkInfo, LinkScope, Request,
        RequestError, Response, Role, Target, Transmit,
    };
    use crate::time::Time;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Peer `n` on `Config::test()` with cross links within 15 ms, alone: its walk found
    /// nothing, so it leads a group of one.
    fn founder(n: u8) -> Peer {
        let cfg = Config {
            cross_group_radius: ms(15),
            ..Config::test()
        };
        let mut p = Peer::new(peer(n), cfg, u64::from(n));
        p.join(Time::ZERO, Vec::new());
        drain(&mut p);
        assert_eq!(p.role(), Role::Leader);
        p
    }

    /// Drops `p`'s pending calls (each times out) and returns them.
    fn drain(p: &mut Peer) -> Vec<Transmit> {
        let mut out = Vec::new();
        while let Some(t) = p.poll_transmit() {
            out.push(t);
        }
        out
    }

    /// `p` measured peer `n` at `rtt` ms, for each pair.
    fn knows(p: &mut Peer, measured: &[(u8, u64)]) {
        for &(n, rtt) in measured {
            p.known.record(LinkInfo {
                peer: peer(n),
                rtt: ms(rtt),
            });
        }
    }

    /// `p`'s group gives it six intra-group links of 2 ms (peers 20–25).
    fn fill_group(p: &mut Peer) {
        let State::Member(g) = &mut p.state else {
            unreachable!()
        };
        for n in 20..26 {
            g.intra.insert(
                peer(n).id,
                LinkInfo {
                    peer: peer(n),
                    rtt: ms(2),
                },
            );
        }
    }

    /// Answers the `ConnectCross` calls among `calls` at `now`, accepting those to peers
    /// `accept` picks; returns the peers asked.
    fn answer_cross(
        p: &mut Peer,
        now: Time,
        calls: &[Transmit],
        accept: impl Fn(PeerId) -> bool,
    ) -> Vec<PeerId> {
        let mut asked = Vec::new();
        for t in calls {
            if let (Target::Peer(q), Request::ConnectCross(_)) = (&t.to, &t.request) {
                asked.push(q.id);
                p.handle_response(
                    now,
                    t.id,
                    Ok(Response::Connect(ConnectReply {
                        accepted: accept(q.id),
                        referrals: Vec::new(),
                    })),
                );
            }
        }
        asked
    }

    fn group_of(p: &Peer) -> GroupId {
        p.group().expect("in a group").group_id
    }

    fn cross_calls(calls: &[Transmit]) -> Vec<PeerId> {
        calls
            .iter()
            .filter_map(|t| match (&t.to, &t.request) {
                (Target::Peer(q), Request::ConnectCross(_)) => Some(q.id),
                _ => None,
            })
            .collect()
    }

    fn ask(p: &mut Peer, now: Time, from: u8, group_id: GroupId) -> Result<Response, RequestError> {
        p.handle_request(
            now,
            Some(peer(from)),
            Request::ConnectCross(ConnectCrossRequest { group_id }),
        )
    }

    fn accepted(r: Result<Response, RequestError>) -> bool {
        matches!(
            r,
            Ok(Response::Connect(ConnectReply { accepted: true, .. }))
        )
    }

    fn cross_ids(p: &Peer) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = p.status().cross.iter().map(|l| l.peer.id).collect();
        v.sort();
        v
    }

    #[test]
    fn a_peer_asks_the_nearest_measured_peers_within_reach_and_no_farther() {
        let mut p = founder(0);
        knows(&mut p, &[(5, 3), (6, 30), (7, 8), (8, 12), (9, 15)]);
        p.handle_timeout(at(500));
        let mut asked = cross_calls(&drain(&mut p));
        asked.sort();
        // A group of one gives no intra-group link: the reach is the 15 ms radius, and the
        // three nearest within it are asked; 30 ms is beyond it, 15 ms the fourth.
        assert_eq!(asked, vec![peer(5).id, peer(7).id, peer(8).id]);
    }

    #[test]
    fn a_peer_whose_group_gives_its_links_goes_no_farther_than_them() {
        let mut p = founder(0);
        fill_group(&mut p);
        knows(&mut p, &[(5, 1), (6, 10)]);
        p.handle_timeout(at(500));
        assert_eq!(cross_calls(&drain(&mut p)), vec![peer(5).id]);
    }

    #[test]
    fn a_link_beyond_the_reach_the_group_now_gives_closes_at_the_next_round() {
        let mut p = founder(0);
        knows(&mut p, &[(5, 10)]);
        p.handle_timeout(at(500));
        let calls = drain(&mut p);
        answer_cross(&mut p, at(510), &calls, |_| true);
        assert_eq!(cross_ids(&p), vec![peer(5).id]);
        // The group fills up: six intra-group links of 2 ms. The 10 ms link is now beyond
        // the reach; the round closes it instead of renewing it.
        fill_group(&mut p);
        p.handle_timeout(at(4500));
        let calls = drain(&mut p);
        assert!(
            cross_calls(&calls).is_empty(),
            "renewed a link beyond reach"
        );
        assert!(calls.iter().any(|t| matches!(
            (&t.to, &t.request),
            (Target::Peer(q), Request::Leave(LeaveRequest { scope: LinkScope::Cross, .. }))
                if q.id == peer(5).id
        )));
        assert!(p.status().cross.is_empty());
    }

    #[test]
    fn a_forged_or_stray_cross_link_request_opens_nothing() {
        let mut b = founder(1);
        let own = group_of(&b);
        // Naming the callee's own group: a link within a group is not a cross link.
        assert!(matches!(
            ask(&mut b, at(10), 2, own),
            Err(RequestError::Invalid(_))
        ));
        // Naming the callee itself as caller.
        let other = group_of(&founder(3));
        assert!(matches!(
            ask(&mut b, at(10), 1, other),
            Err(RequestError::Invalid(_))
        ));
        // A member of the callee's group naming another group.
        let State::Member(g) = &mut b.state else {
            unreachable!()
        };
        g.intra.insert(
            peer(9).id,
            LinkInfo {
                peer: peer(9),
                rtt: ms(1),
            },
        );
        assert!(matches!(
            ask(&mut b, at(10), 9, other),
            Err(RequestError::Invalid(_))
        ));
        // A peer in no group takes none.
        let mut idle = Peer::new(peer(4), Config::test(), 4);
        assert!(matches!(
            ask(&mut idle, at(10), 2, other),
            Err(RequestError::NotJoined)
        ));
        // With cross links off, none is taken.
        let mut off = Peer::new(
            peer(5),
            Config {
                cross_group_links: 0,
                ..Config::test()
            },
            5,
        );
        off.join(Time::ZERO, Vec::new());
        drain(&mut off);
        assert!(matches!(
            ask(&mut off, at(10), 2, other),
            Err(RequestError::Unsupported)
        ));
        assert!(b.status().cross.is_empty());
        assert!(idle.status().cross.is_empty());
        assert!(off.status().cross.is_empty());
    }

    #[test]
    fn a_peer_takes_no_more_than_its_cap_however_many_ask() {
        let mut b = founder(1);
        let other = group_of(&founder(2));
        for n in 0..MAX_ACCEPTED_CROSS_LINKS as u8 {
            assert!(accepted(ask(&mut b, at(10), 10 + n, other)), "caller {n}");
        }
        // One more is refused; one already linked renews its link.
        assert!(!accepted(ask(&mut b, at(20), 100, other)));
        assert!(accepted(ask(&mut b, at(20), 10, other)));
        assert_eq!(b.status().cross.len(), MAX_ACCEPTED_CROSS_LINKS);
        assert!(!cross_ids(&b).contains(&peer(100).id));
    }

    #[test]
    fn an_accepted_link_not_renewed_is_forgotten_and_a_renewed_one_kept() {
        let mut b = founder(1);
        let other = group_of(&founder(2));
        assert!(accepted(ask(&mut b, at(10), 5, other)));
        assert!(accepted(ask(&mut b, at(10), 6, other)));
        // The test preset renews every 4 s; three missed renewals forget a link. Peer 6 renews
        // every 4 s, peer 5 never.
        let mut now = at(10);
        while now < at(14_000) {
            now = now + ms(4000);
            assert!(accepted(ask(&mut b, now, 6, other)));
            while let Some(t) = b.poll_timeout().filter(|t| *t <= now) {
                b.handle_timeout(t);
                drain(&mut b);
            }
        }
        assert_eq!(cross_ids(&b), vec![peer(6).id]);
    }

    #[test]
    fn a_cross_leave_closes_only_the_callers_own_link() {
        let mut b = founder(1);
        let other = group_of(&founder(2));
        assert!(accepted(ask(&mut b, at(10), 5, other)));
        assert!(accepted(ask(&mut b, at(10), 6, other)));
        let leave = |from: u8, b: &mut Peer| {
            b.handle_request(
                at(20),
                Some(peer(from)),
                Request::Leave(LeaveRequest {
                    group_id: other,
                    scope: LinkScope::Cross,
                }),
            )
            .unwrap();
        };
        // A stranger closing "its" link closes nothing of the others'.
        leave(7, &mut b);
        assert_eq!(cross_ids(&b), {
            let mut v = vec![peer(5).id, peer(6).id];
            v.sort();
            v
        });
        leave(5, &mut b);
        assert_eq!(cross_ids(&b), vec![peer(6).id]);
    }

    #[test]
    fn an_opened_link_refused_on_renewal_is_dropped_and_replaced() {
        let mut p = founder(0);
        knows(&mut p, &[(5, 3), (7, 8), (8, 12), (9, 15)]);
        p.handle_timeout(at(500));
        let calls = drain(&mut p);
        answer_cross(&mut p, at(510), &calls, |_| true);
        drain(&mut p);
        assert_eq!(p.status().cross.len(), 3);
        // At the renewal peer 5 refuses (it joined this peer's group, or left): the link goes
        // and the next nearest, peer 9, is asked.
        p.handle_timeout(at(4500));
        let calls = drain(&mut p);
        let renewals = answer_cross(&mut p, at(4510), &calls, |q| q != peer(5).id);
        assert_eq!(renewals.len(), 3);
        let next = cross_calls(&drain(&mut p));
        assert_eq!(next, vec![peer(9).id]);
        assert!(!cross_ids(&p).contains(&peer(5).id));
    }
}
