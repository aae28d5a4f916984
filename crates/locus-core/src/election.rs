//! The leaderless election of [0064]: claims with timestamps, the earliest wins, rounds repeat
//! while claims collide.

use std::time::Duration;

use crate::id::{PeerId, PeerRef};
use crate::message::NewLeader;
use crate::time::Time;

/// How an election round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The earliest claim (ties by peer id) won.
    Winner(PeerRef),
    /// The two earliest claims are closer than the collision window: another round.
    Collision,
    /// Nobody claimed (cannot happen once a claim was sent or heard).
    Empty,
}

/// One peer's view of an election in progress.
#[derive(Debug, Clone)]
pub(crate) struct Election {
    /// The epoch the winner will lead.
    pub(crate) epoch: u64,
    /// The current round.
    pub(crate) round: u32,
    /// Whether this peer has sent its own claim in this round.
    pub(crate) claimed: bool,
    /// When this round is decided, once a claim was sent or heard.
    pub(crate) decide_at: Option<Time>,
    /// The round was decided for another peer: this one waits to hear it lead.
    pub(crate) awaiting: Option<PeerId>,
    claims: Vec<(Time, PeerRef)>,
}

impl Election {
    /// A new election for `epoch`, in round 0.
    pub(crate) fn new(epoch: u64) -> Self {
        Election {
            epoch,
            round: 0,
            claimed: false,
            decide_at: None,
            awaiting: None,
            claims: Vec::new(),
        }
    }

    /// Starts the next round.
    pub(crate) fn next_round(&mut self) {
        self.round = self.round.saturating_add(1);
        self.claimed = false;
        self.decide_at = None;
        self.awaiting = None;
        self.claims.clear();
    }

    /// Records a claim. A claim for a later epoch or round moves this election there. Returns
    /// `false` for a claim from an older epoch or round, which is ignored.
    pub(crate) fn on_claim(&mut self, claim: &NewLeader) -> bool {
        if (claim.epoch, claim.round) < (self.epoch, self.round) {
            return false;
        }
        if (claim.epoch, claim.round) > (self.epoch, self.round) {
            self.epoch = claim.epoch;
            self.round = claim.round;
            self.claimed = false;
            self.decide_at = None;
            self.awaiting = None;
            self.claims.clear();
        }
        if !self.claims.iter().any(|(_, p)| p.id == claim.candidate.id) {
            self.claims.push((claim.sent_at, claim.candidate.clone()));
        }
        true
    }

    /// Decides the round from the claims heard.
    pub(crate) fn decide(&mut self, collision_window: Duration, max_rounds: u32) -> Decision {
        self.claims.sort_by_key(|(at, p)| (*at, p.id));
        match self.claims.as_slice() {
            [] => Decision::Empty,
            [(first, _), (second, _), ..]
                if second.saturating_since(*first) < collision_window
                    && self.round.saturating_add(1) < max_rounds =>
            {
                Decision::Collision
            }
            [(_, winner), ..] => Decision::Winner(winner.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn peer(n: u128) -> PeerRef {
        PeerRef::new(PeerId(Uuid::from_u128(n)), format!("p{n}"))
    }

    fn claim(n: u128, epoch: u64, round: u32, at_ms: u64) -> NewLeader {
        NewLeader {
            group_id: crate::id::GroupId(Uuid::from_u128(99)),
            epoch,
            round,
            candidate: peer(n),
            sent_at: Time::from_micros(at_ms * 1000),
        }
    }

    #[test]
    fn earliest_claim_wins_and_ties_go_to_the_lower_id() {
        let window = Duration::from_millis(100);
        let mut e = Election::new(3);
        assert!(e.on_claim(&claim(5, 3, 0, 900)));
        assert!(e.on_claim(&claim(7, 3, 0, 100)));
        assert_eq!(e.decide(window, 5), Decision::Winner(peer(7)));

        // Two claims at the same instant collide until the last round, then the lower id wins.
        let mut e = Election::new(3);
        e.on_claim(&claim(9, 3, 0, 100));
        e.on_claim(&claim(4, 3, 0, 100));
        assert_eq!(e.decide(window, 5), Decision::Collision);
        e.round = 4;
        assert_eq!(e.decide(window, 5), Decision::Winner(peer(4)));
    }

    #[test]
    fn later_round_resets_and_older_round_is_ignored() {
        let mut e = Election::new(3);
        e.on_claim(&claim(1, 3, 0, 10));
        assert!(e.on_claim(&claim(2, 3, 1, 500)));
        assert_eq!(e.round, 1);
        assert!(!e.on_claim(&claim(1, 3, 0, 10)));
        assert_eq!(
            e.decide(Duration::from_millis(100), 5),
            Decision::Winner(peer(2))
        );
    }
}
