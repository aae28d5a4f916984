//! The RTTs a peer remembers beyond its links: the [`MAX_NEARBY`] closest peers it measured,
//! which is all that `Nearby` can return.

use std::time::Duration;

use crate::id::PeerId;
use crate::message::{LinkInfo, MAX_NEARBY};

/// The closest peers measured so far, each with its latest RTT; at most [`MAX_NEARBY`].
///
/// A vector, not a map: at 100,000 simulated peers a map of the first 1,024 peers measured
/// was a third of the run's memory (a peer measures some 40 leaders on its walk and keeps
/// them all), and `Nearby` never returns more than the closest [`MAX_NEARBY`].
#[derive(Debug, Clone, Default)]
pub(super) struct Known(Vec<LinkInfo>);

impl Known {
    /// Records the latest RTT to a peer: it replaces the peer's earlier one, and a peer new
    /// to a full list takes the place of the farthest if it is closer.
    pub(super) fn record(&mut self, link: LinkInfo) {
        if let Some(l) = self.0.iter_mut().find(|l| l.peer.id == link.peer.id) {
            *l = link;
            return;
        }
        if self.0.len() < MAX_NEARBY {
            self.0.push(link);
            return;
        }
        if let Some(far) = self.0.iter_mut().max_by_key(|l| (l.rtt, l.peer.id))
            && link.rtt < far.rtt
        {
            *far = link;
        }
    }

    /// The RTT last measured to `peer`, if it is among those kept.
    pub(super) fn rtt(&self, peer: PeerId) -> Option<Duration> {
        self.0.iter().find(|l| l.peer.id == peer).map(|l| l.rtt)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &LinkInfo> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PeerRef;
    use uuid::Uuid;

    fn link(n: u128, ms: u64) -> LinkInfo {
        LinkInfo {
            peer: PeerRef::new(PeerId(Uuid::from_u128(n)), format!("p{n}:1")),
            rtt: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_full_list_keeps_the_closest_and_the_latest_rtt() {
        let mut k = Known::default();
        for n in 0..MAX_NEARBY as u128 {
            k.record(link(n, 100 + n as u64));
        }
        // Farther than every kept peer: not kept.
        k.record(link(1000, 500));
        assert_eq!(k.rtt(PeerId(Uuid::from_u128(1000))), None);
        // Closer: takes the place of the farthest (the last one recorded, at 163 ms).
        k.record(link(1001, 5));
        assert_eq!(
            k.rtt(PeerId(Uuid::from_u128(1001))),
            Some(Duration::from_millis(5))
        );
        assert_eq!(k.rtt(PeerId(Uuid::from_u128(MAX_NEARBY as u128 - 1))), None);
        assert_eq!(k.iter().count(), MAX_NEARBY);
        // A kept peer measured again keeps its latest RTT.
        k.record(link(0, 300));
        assert_eq!(
            k.rtt(PeerId(Uuid::from_u128(0))),
            Some(Duration::from_millis(300))
        );
    }
}
