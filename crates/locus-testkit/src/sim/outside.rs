//! What reaches the peers from outside the overlay: the rendezvous, and forgers.

use locus_core::message::MeasureReply;
use locus_core::rendezvous::confirms;
use locus_core::{CallError, PeerRef, Request, RequestError, Response, Time};

use super::Sim;

/// Who receives a request injected with [`Sim::inject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// A node, by index.
    Node(usize),
    /// The rendezvous.
    Rendezvous,
}

/// A forged request delivered by [`Sim::inject`], and what its recipient answered.
#[derive(Debug, Clone)]
pub struct Injection {
    /// When it was delivered.
    pub at: Time,
    /// Who received it.
    pub to: Recipient,
    /// The caller the forger claimed to be.
    pub from: Option<PeerRef>,
    /// What it asked.
    pub request: Request,
    /// The recipient's answer (it reaches nobody); `Unreachable` if the recipient was down.
    pub result: Result<Response, CallError>,
}

impl Sim {
    /// Delivers `request` now from a stray sender that is not a node (a forger anywhere on
    /// the network, cut off by no partition and subject to no loss), claiming to be `from`,
    /// to a node or to the rendezvous. Returns the answer, which reaches nobody, and records
    /// the delivery in [`Sim::injections`]. Whatever the recipient sends in consequence goes
    /// through the network as usual.
    pub fn inject(
        &mut self,
        to: Recipient,
        from: Option<PeerRef>,
        request: Request,
    ) -> Result<Response, CallError> {
        let now = self.now;
        let result = match to {
            Recipient::Node(b) if self.nodes[b].up => {
                let r = self.nodes[b]
                    .peer
                    .handle_request(now, from.clone(), request.clone());
                self.flush(b);
                r.map_err(CallError::Refused)
            }
            Recipient::Rendezvous if self.rendezvous_up => self.rendezvous(request.clone()),
            _ => Err(CallError::Unreachable("not running".into())),
        };
        self.injections.push(Injection {
            at: now,
            to,
            from,
            request,
            result: result.clone(),
        });
        result
    }

    pub(super) fn rendezvous(&mut self, request: Request) -> Result<Response, CallError> {
        let now = self.now;
        self.directory.expire(now);
        match request {
            Request::GetBootList(r) => {
                Ok(Response::BootList(self.directory.answer(&mut self.rng, &r)))
            }
            Request::AnnounceGroup(a) => {
                // The directory takes a new group, a change of leadership or an end only once
                // the announced leader bore it out itself. The rendezvous would probe it; here
                // it reads the answer that leader would give right now.
                if self.directory.needs_check(&a) {
                    let reply = self.measure_reply(&a.group.leader.addr);
                    if !confirms(&a, reply.as_ref()) {
                        self.unconfirmed_announcements += 1;
                        return Err(CallError::Refused(RequestError::Invalid(
                            "the announced leader does not bear the announcement out".into(),
                        )));
                    }
                }
                Ok(Response::Announced(self.directory.announce(now, a).0))
            }
            Request::ResolveGroup(g) => Ok(Response::Resolved(
                self.directory.resolve(g).map(|e| e.view.clone()),
            )),
            _ => Err(CallError::Refused(locus_core::RequestError::Unsupported)),
        }
    }

    /// What the node at `addr` would answer to a `Measure` now, if it runs.
    fn measure_reply(&self, addr: &str) -> Option<MeasureReply> {
        let n = &self.nodes[*self.by_addr.get(addr)?];
        n.up.then(|| MeasureReply {
            responder: n.peer.me().clone(),
            group: n.peer.group(),
        })
    }
}
