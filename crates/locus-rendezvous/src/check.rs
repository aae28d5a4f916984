//! Checking an announcement with the leader it names, before the directory takes it.
//!
//! The rendezvous has only the sender's word for an announcement. A refresh of an entry as it
//! stands changes nothing that matters, but a new group, a new leader or epoch, or an end would
//! let anyone rewrite the directory (and, through `superseded_by`, mislead the real leader). So
//! for those ([`Directory::needs_check`](locus_core::rendezvous::Directory::needs_check)) the
//! rendezvous asks the announced leader itself with a `Measure` and lets
//! [`confirms`](locus_core::rendezvous::confirms) judge its reply. The probe runs outside the
//! directory's lock, under a deadline, and only so many run at once: a flood of forged
//! announcements costs at most that many connections, each for at most the deadline.

use std::sync::Arc;
use std::time::Duration;

use locus_core::Response;
use locus_core::message::GroupView;
use locus_core::message::{Announcement, MeasureReply};
use locus_core::rendezvous::{confirms, still_leads};
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::{Unary, pb};
use locus_service::tls::{self, ClientTls, Expect, Policy};
use tokio::sync::Semaphore;
use tonic::Status;

use crate::metrics as m;

/// Largest `Measure` reply decoded: a responder and a group view with its few successors come
/// to well under 4 kB; anything near this is not a peer's answer.
const MAX_REPLY_SIZE: usize = 16 * 1024;

/// The message of the refusal of an announcement its leader did not bear out.
pub(crate) const NOT_CONFIRMED: &str =
    "the announced leader did not answer as the leader of that group at that epoch";

/// Checks announcements with their leaders, a bounded number at a time.
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    tls: ClientTls,
    policy: Policy,
}

impl Checker {
    /// A checker whose probes take at most `timeout`, at most `max_in_flight` at once, over
    /// `tls`.
    pub(crate) fn new(
        timeout: Duration,
        max_in_flight: usize,
        tls: ClientTls,
        policy: Policy,
    ) -> Self {
        Checker {
            timeout,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            tls,
            policy,
        }
    }

    /// Whether the leader of `entry` still answers as that group's leader, asked at the
    /// entry's address over TLS that proves it is that peer (docs/security.md). Bounded like
    /// [`Checker::check`].
    pub(crate) async fn still_leads(&self, entry: &GroupView) -> Result<bool, Status> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            metrics::counter!(m::CHECKS, "outcome" => "overloaded").increment(1);
            return Err(Status::resource_exhausted(
                "too many announcements are being checked, try again later",
            ));
        };
        let reply = measure(
            &self.tls,
            &entry.leader.addr,
            Expect::Peer(entry.leader.id),
            self.timeout,
            self.policy,
        )
        .await;
        if let Err(why) = &reply {
            tracing::debug!(group = %entry.group_id, leader = %entry.leader.id, %why, "the entry's leader did not answer");
        }
        let alive = still_leads(entry, reply.as_ref().ok());
        metrics::counter!(m::CHECKS, "outcome" => if alive { "leader_alive" } else { "leader_gone" })
            .increment(1);
        Ok(alive)
    }

    /// Asks the leader at `addr` whether it bears `a` out. `RESOURCE_EXHAUSTED` when too many
    /// checks are under way (the leader announces again at its next interval),
    /// `FAILED_PRECONDITION` when the leader's answer (or its silence) does not confirm it.
    pub(crate) async fn check(&self, a: &Announcement, addr: &str) -> Result<(), Status> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            metrics::counter!(m::CHECKS, "outcome" => "overloaded").increment(1);
            return Err(Status::resource_exhausted(
                "too many announcements are being checked with their leaders, try again later",
            ));
        };
        let reply = measure(
            &self.tls,
            addr,
            Expect::Peer(a.group.leader.id),
            self.timeout,
            self.policy,
        )
        .await;
        if let Err(why) = &reply {
            tracing::debug!(group = %a.group.group_id, %addr, %why, "announced leader did not answer");
        }
        if confirms(a, reply.as_ref().ok()) {
            metrics::counter!(m::CHECKS, "outcome" => "confirmed").increment(1);
            return Ok(());
        }
        metrics::counter!(m::CHECKS, "outcome" => "refused").increment(1);
        let answered = match &reply {
            Ok(r) => format!(
                "{} answered as leader {} of {} at epoch {}",
                r.responder.id,
                r.group
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |g| g.leader.id.to_string()),
                r.group
                    .as_ref()
                    .map_or_else(|| "no group".to_string(), |g| g.group_id.to_string()),
                r.group.as_ref().map_or(0, |g| g.epoch)
            ),
            Err(why) => format!("no answer: {why}"),
        };
        tracing::warn!(
            group = %a.group.group_id, leader = %a.group.leader.id, %addr,
            epoch = a.group.epoch, ended = a.ended, %answered,
            "announcement refused: its leader does not bear it out"
        );
        Err(Status::failed_precondition(format!(
            "{NOT_CONFIRMED} (group {}, leader {} at {addr}, epoch {}{}; {answered})",
            a.group.group_id,
            a.group.leader.id,
            a.group.epoch,
            if a.ended { ", ended" } else { "" }
        )))
    }
}

/// One `Measure` of the peer at `addr`, connection included, within `timeout`; the reply
/// validated through `locus-proto`. With TLS, the connection is refused unless the peer's
/// certificate names `expect`. The rendezvous names no caller and sends no site, so a peer
/// with distance emulation answers it without delay.
async fn measure(
    tls: &ClientTls,
    addr: &str,
    expect: Expect,
    timeout: Duration,
    policy: Policy,
) -> Result<MeasureReply, String> {
    // A connection per check: checks are rare (not refreshes), and a pool would have to be
    // bounded and pruned for addresses that forgers make up.
    let channel = tls::lazy_channel_with(tls, addr, expect, timeout, policy)?;
    let call = async {
        let mut client = PeerServiceClient::new(channel).max_decoding_message_size(MAX_REPLY_SIZE);
        let mut request = tonic::Request::new(pb::MeasureRequest { caller: None });
        request.set_timeout(timeout);
        let reply = client
            .measure(request)
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
        match pb::MeasureRequest::reply_into_core(reply.into_inner()) {
            Ok(Response::Measure(r)) => Ok(r),
            Ok(_) => Err("a reply of another kind".to_string()),
            Err(e) => Err(format!("malformed reply: {e}")),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| "deadline exceeded".to_string())?
}
