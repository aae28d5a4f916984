//! The `locus.v1.Rendezvous` gRPC service: thin handlers over the [`Registry`].
//!
//! Every handler validates its request through `locus-proto` (a malformed one is refused with
//! `INVALID_ARGUMENT` naming the field), does one short step on the registry and answers. An
//! announcement that would change the directory is first checked with its leader (`check`).

use std::pin::Pin;
use std::sync::Arc;

use locus_core::{Request, RequestError, Response};
use locus_proto::directory::{self, ListGroups, Watch};
use locus_proto::{Unary, pb, refused};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use locus_core::PeerId;
use locus_core::rendezvous::{Authorization, Refusal};
use locus_service::Clock;
use locus_service::tls::{self, Identity};

use crate::authority::Authority;
use crate::check::Checker;
use crate::config::{Config, DEFAULT_BOOT_LIST_SIZE};
use crate::metrics as m;
use crate::rate::RateLimit;
use crate::registry::{self, NotTaken, Registry};

/// Events queued per subscriber between its forwarding task and its HTTP/2 stream; the shared
/// broadcast buffer absorbs the rest.
const SUBSCRIBER_QUEUE: usize = 64;

/// Groups per page of a subscriber's initial snapshot (`include_existing`).
const SNAPSHOT_PAGE: usize = 256;

/// The rendezvous service.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    registry: Arc<Registry>,
    clock: Clock,
    watchers: Arc<Semaphore>,
    checker: Checker,
    stopping: watch::Receiver<bool>,
    /// See [`crate::config::DEFAULT_WATCH_SEND_TIMEOUT`].
    watch_send_timeout: std::time::Duration,
    /// The CA side; `None` on a plaintext rendezvous.
    authority: Option<Arc<Authority>>,
    /// Writes per caller.
    writes: Arc<RateLimit>,
}

/// Who made a call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    /// The identity of the client's verified certificate.
    Verified(Identity),
    /// A plaintext rendezvous knows nothing of its callers.
    Plaintext,
}

/// The status of an announcement the directory did not take after the checks: a full
/// directory refuses new groups with `RESOURCE_EXHAUSTED`, counted.
fn not_taken(why: NotTaken) -> Status {
    match why {
        NotTaken::Full => {
            metrics::counter!(m::FULL).increment(1);
            Status::resource_exhausted(
                "the directory is full (max_groups): no new group is taken until some end or expire",
            )
        }
        NotTaken::Changed => Status::aborted(
            "the group's entry changed while its leader was being checked: announce again",
        ),
        NotTaken::Refused(why) => Status::permission_denied(why.to_string()),
        NotTaken::NeedsCheck(_) => Status::internal("a checked announcement handed back"),
    }
}

/// The refusal of a call without a client certificate, on a TLS rendezvous.
fn unauthenticated() -> Status {
    Status::unauthenticated(
        "a client certificate from the cluster CA is required: peers enroll (Enroll), operators use one from `locusctl cert operator`",
    )
}

impl Service {
    pub(crate) fn new(
        registry: Arc<Registry>,
        clock: Clock,
        config: &Config,
        stopping: watch::Receiver<bool>,
        authority: Option<Arc<Authority>>,
        client: tls::ClientTls,
    ) -> Self {
        Service {
            registry,
            clock,
            watchers: Arc::new(Semaphore::new(config.max_watchers)),
            watch_send_timeout: config.watch_send_timeout,
            writes: Arc::new(RateLimit::new(
                f64::from(config.write_rate),
                config.write_burst,
            )),
            checker: Checker::new(
                config.check_timeout,
                config.max_checks_in_flight,
                client,
                tls::Policy {
                    allow_private: config.allow_private_addresses,
                },
            ),
            stopping,
            authority,
        }
    }

    /// Who made `request`: on a TLS rendezvous, the identity its certificate names
    /// (`UNAUTHENTICATED` without one); and the `caller` it names, if any, must be that
    /// identity (`PERMISSION_DENIED` otherwise).
    fn authenticate<T>(
        &self,
        request: &tonic::Request<T>,
        named: Option<&pb::PeerRef>,
    ) -> Result<Caller, Status> {
        if self.authority.is_none() {
            return Ok(Caller::Plaintext);
        }
        let identity = tls::caller(request).ok_or_else(unauthenticated)?;
        let identity = Identity::clone(&identity);
        if let Some(named) = named {
            let same = matches!(&identity, Identity::Peer(id) if uuid::Uuid::parse_str(&named.peer_id).is_ok_and(|u| u == id.0));
            if !same {
                return Err(Status::permission_denied(format!(
                    "caller: names peer {:?}, but the client certificate names {identity}",
                    named.peer_id
                )));
            }
        }
        Ok(Caller::Verified(identity))
    }

    /// Takes one write from the caller's budget: its certificate's identity; without one the
    /// peer it `claims` to be (a plaintext rendezvous, where loopback test clusters share one
    /// address), else its IP address. `RESOURCE_EXHAUSTED` past its rate.
    fn limit_writes<T>(
        &self,
        request: &tonic::Request<T>,
        rpc: &'static str,
        claims: Option<&str>,
    ) -> Result<(), Status> {
        let key = match (tls::caller(request), claims) {
            (Some(identity), _) => identity.uri(),
            (None, Some(claimed)) => format!("claimed:{claimed}"),
            (None, None) => request
                .extensions()
                .get::<tls::ConnInfo>()
                .and_then(|i| i.remote)
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
        };
        if self.writes.allow(&key, std::time::Instant::now()) {
            return Ok(());
        }
        metrics::counter!(m::RATE_LIMITED, "rpc" => rpc).increment(1);
        Err(Status::resource_exhausted(
            "too many writes from this caller (write_rate), try again later",
        ))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::OverlayEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::rendezvous_server::Rendezvous for Service {
    async fn get_boot_list(
        &self,
        request: tonic::Request<pb::GetBootListRequest>,
    ) -> Result<tonic::Response<pb::GetBootListReply>, Status> {
        self.authenticate(&request, request.get_ref().caller.as_ref())
            .and_then(|_| self.boot_list(request.into_inner()))
    }

    async fn announce_group(
        &self,
        request: tonic::Request<pb::AnnounceGroupRequest>,
    ) -> Result<tonic::Response<pb::AnnounceGroupReply>, Status> {
        match self
            .authenticate(&request, request.get_ref().caller.as_ref())
            .and_then(|c| {
                let claims = request
                    .get_ref()
                    .caller
                    .as_ref()
                    .map(|p| p.peer_id.as_str());
                self.limit_writes(&request, "AnnounceGroup", claims)
                    .map(|()| c)
            }) {
            Ok(caller) => self.announce(caller, request.into_inner()).await,
            Err(e) => Err(e),
        }
    }

    async fn resolve_group(
        &self,
        request: tonic::Request<pb::ResolveGroupRequest>,
    ) -> Result<tonic::Response<pb::ResolveGroupReply>, Status> {
        (|| {
            self.authenticate(&request, request.get_ref().caller.as_ref())?;
            let (_, request) = request.into_inner().into_core()?;
            let Request::ResolveGroup(group) = request else {
                return Err(Status::internal(
                    "ResolveGroup converted to another request",
                ));
            };
            let reply =
                pb::ResolveGroupRequest::reply(Response::Resolved(self.registry.resolve(group)))?;
            Ok(tonic::Response::new(reply))
        })()
    }

    async fn list_groups(
        &self,
        request: tonic::Request<pb::ListGroupsRequest>,
    ) -> Result<tonic::Response<pb::ListGroupsReply>, Status> {
        self.authenticate(&request, request.get_ref().caller.as_ref())
            .and_then(|_| ListGroups::try_from(request.into_inner()).map_err(Status::from))
            .map(|req| {
                let ttl = self.registry.ttl();
                let (groups, more) = self.registry.with_entries_after(req.after, |entries| {
                    let mut page = entries
                        .take(req.page_size + 1)
                        .map(|e| directory::group_entry(e, ttl))
                        .collect::<Vec<_>>();
                    let more = page.len() > req.page_size;
                    page.truncate(req.page_size);
                    (page, more)
                });
                let next_page_token = match (more, groups.last()) {
                    // The entries came from the directory, so their ids are well-formed.
                    (true, Some(last)) => last
                        .group
                        .as_ref()
                        .map(|g| g.group_id.clone())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                tonic::Response::new(pb::ListGroupsReply {
                    groups,
                    next_page_token,
                })
            })
    }

    async fn get_overlay(
        &self,
        request: tonic::Request<pb::GetOverlayRequest>,
    ) -> Result<tonic::Response<pb::GetOverlayReply>, Status> {
        self.authenticate(&request, request.get_ref().caller.as_ref())
            .and_then(|_| directory::Overlay::try_from(request.into_inner()).map_err(Status::from))
            .map(|req| {
                let ttl = self.registry.ttl();
                let mut reply = pb::GetOverlayReply {
                    taken_at_unix_ms: directory::unix_ms(self.clock.now()),
                    ..Default::default()
                };
                let mut last = None;
                self.registry.with_entries_after(req.after, |entries| {
                    for e in entries {
                        if reply.groups.len() == req.page_size {
                            reply.truncated = true;
                            break;
                        }
                        last = Some(e.view.group_id);
                        reply.groups.push(directory::group_entry(e, ttl));
                        reply.links.extend(directory::overlay_links(e));
                    }
                });
                if reply.truncated
                    && let Some(last) = last
                {
                    reply.next_page_token = directory::page_token(last);
                }
                tonic::Response::new(reply)
            })
    }

    type WatchOverlayStream = EventStream;

    async fn watch_overlay(
        &self,
        request: tonic::Request<pb::WatchOverlayRequest>,
    ) -> Result<tonic::Response<Self::WatchOverlayStream>, Status> {
        self.authenticate(&request, request.get_ref().caller.as_ref())
            .and_then(|_| self.watch(request.into_inner()))
    }

    async fn enroll(
        &self,
        request: tonic::Request<pb::EnrollRequest>,
    ) -> Result<tonic::Response<pb::EnrollReply>, Status> {
        match &self.authority {
            Some(authority) => self
                .limit_writes(&request, "Enroll", None)
                .and_then(|()| authority.enroll(request.into_inner()))
                .map(tonic::Response::new),
            None => Err(Status::failed_precondition(
                "this rendezvous runs without TLS (insecure_plaintext): there is nothing to enroll in",
            )),
        }
    }

    async fn renew(
        &self,
        request: tonic::Request<pb::RenewRequest>,
    ) -> Result<tonic::Response<pb::EnrollReply>, Status> {
        (|| {
            let Some(authority) = &self.authority else {
                return Err(Status::failed_precondition(
                    "this rendezvous runs without TLS (insecure_plaintext): there is nothing to renew",
                ));
            };
            self.limit_writes(&request, "Renew", None)?;
            let Caller::Verified(Identity::Peer(id)) = self.authenticate(&request, None)? else {
                return Err(Status::permission_denied(
                    "only a peer renews its certificate, and the client certificate names no peer",
                ));
            };
            authority
                .renew(id, request.into_inner())
                .map(tonic::Response::new)
        })()
    }
}

impl Service {
    fn boot_list(
        &self,
        request: pb::GetBootListRequest,
    ) -> Result<tonic::Response<pb::GetBootListReply>, Status> {
        let (_, request) = request.into_core()?;
        let Request::GetBootList(mut request) = request else {
            return Err(Status::internal("GetBootList converted to another request"));
        };
        if request.max == 0 {
            request.max = DEFAULT_BOOT_LIST_SIZE;
        }
        let groups = self.registry.boot_list(&request);
        Ok(tonic::Response::new(pb::GetBootListRequest::reply(
            Response::BootList(groups),
        )?))
    }

    async fn announce(
        &self,
        who: Caller,
        request: pb::AnnounceGroupRequest,
    ) -> Result<tonic::Response<pb::AnnounceGroupReply>, Status> {
        let (caller, request) = request.into_core()?;
        let Request::AnnounceGroup(announcement) = request else {
            return Err(Status::internal(
                "AnnounceGroup converted to another request",
            ));
        };
        let caller = caller.ok_or_else(|| refused(RequestError::MissingCaller))?;
        let reply = match who {
            Caller::Verified(Identity::Peer(id)) => {
                self.authorized_announce(id, announcement).await?
            }
            Caller::Verified(other) => {
                return Err(Status::permission_denied(format!(
                    "only peers announce groups, and the client certificate names {other}"
                )));
            }
            Caller::Plaintext => self.checked_announce(&caller, announcement).await?,
        };
        metrics::gauge!(m::GROUPS).set(self.registry.len() as f64);
        Ok(tonic::Response::new(pb::AnnounceGroupRequest::reply(
            Response::Announced(reply),
        )?))
    }

    /// An announcement from the authenticated peer `caller`, judged by the directory's rules
    /// (docs/security.md); a takeover by a peer the entry does not list as successor waits for
    /// the current leader to be found gone.
    async fn authorized_announce(
        &self,
        caller: PeerId,
        announcement: locus_core::message::Announcement,
    ) -> Result<locus_core::message::AnnounceReply, Status> {
        let refuse = |rule: &'static str, status: Status| {
            metrics::counter!(m::UNAUTHORIZED, "rule" => rule).increment(1);
            tracing::warn!(
                peer = %caller, group = %announcement.group.group_id, rule,
                "announcement refused"
            );
            Err(status)
        };
        let judge = |why: Refusal| {
            let (rule, status) = match why {
                Refusal::NotLeader => ("not_leader", Status::permission_denied(why.to_string())),
                Refusal::NotCurrentLeader => (
                    "not_current_leader",
                    Status::permission_denied(why.to_string()),
                ),
                Refusal::LeadsAnother(_) => (
                    "leads_another",
                    Status::failed_precondition(why.to_string()),
                ),
            };
            (rule, status)
        };
        let gone = match self.registry.authorize(caller, &announcement) {
            Authorization::Accept => None,
            Authorization::Refuse(why) => {
                let (rule, status) = judge(why);
                return refuse(rule, status);
            }
            Authorization::CheckGone(entry) => {
                if self.checker.still_leads(&entry).await? {
                    return refuse(
                        "leader_alive",
                        Status::failed_precondition(format!(
                            "group {}: its leader {} still answers as leader at epoch {}, and the entry does not list this peer as a successor",
                            entry.group_id, entry.leader.id, entry.epoch
                        )),
                    );
                }
                Some(entry)
            }
        };
        // Judged again with the change, under the directory's lock: another announcement may
        // have been taken since (the same peer's second group, say, on another connection).
        let group = announcement.group.group_id;
        match self.registry.announce_as(
            self.clock.now(),
            announcement,
            true,
            Some((caller, gone.as_ref())),
        ) {
            Ok(reply) => Ok(reply),
            Err(NotTaken::Refused(why)) => {
                let (rule, status) = judge(why);
                metrics::counter!(m::UNAUTHORIZED, "rule" => rule).increment(1);
                tracing::warn!(peer = %caller, %group, rule, "announcement refused");
                Err(status)
            }
            Err(why) => Err(not_taken(why)),
        }
    }

    /// An announcement on a plaintext rendezvous: a change is taken only once the leader it
    /// names bears it out (`check`).
    async fn checked_announce(
        &self,
        caller: &locus_core::PeerRef,
        announcement: locus_core::message::Announcement,
    ) -> Result<locus_core::message::AnnounceReply, Status> {
        if !registry::names_itself_leader(caller, &announcement.group) {
            return Err(refused(RequestError::Invalid(
                "group.leader: only a group's leader announces it, and the caller is not the leader".into(),
            )));
        }
        let reply = match self
            .registry
            .announce(self.clock.now(), announcement, false)
        {
            Ok(reply) => reply,
            Err(NotTaken::NeedsCheck(announcement)) => {
                let announcement = *announcement;
                // An end is checked where the directory knows the leader to be: a forger
                // naming the real leader's id at an address nobody answers must not end it.
                let addr = if announcement.ended {
                    self.registry
                        .resolve(announcement.group.group_id)
                        .filter(|v| v.leader.id == announcement.group.leader.id)
                        .map(|v| v.leader.addr)
                } else {
                    None
                }
                .unwrap_or_else(|| announcement.group.leader.addr.clone());
                // Outside the lock: other calls go on while the leader is asked. If the entry
                // changed meanwhile, the directory judges the confirmed announcement against
                // the entry as it is then.
                self.checker.check(&announcement, &addr).await?;
                self.registry
                    .announce(self.clock.now(), announcement, true)
                    .map_err(not_taken)?
            }
            Err(why) => return Err(not_taken(why)),
        };
        Ok(reply)
    }

    fn watch(
        &self,
        request: pb::WatchOverlayRequest,
    ) -> Result<tonic::Response<EventStream>, Status> {
        let Watch {
            include_existing, ..
        } = Watch::try_from(request)?;
        let permit = Arc::clone(&self.watchers)
            .try_acquire_owned()
            .map_err(|_| {
                Status::resource_exhausted("too many WatchOverlay subscribers, try again later")
            })?;
        let mut events = self.registry.subscribe();
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let mut stopping = self.stopping.clone();
        let (registry, clock) = (Arc::clone(&self.registry), self.clock);
        metrics::gauge!(m::WATCHERS).increment(1.0);
        // The forwarding task ends when the subscriber goes away, falls behind, leaves an event
        // unread for the send timeout, or the service stops; the permit and the gauge go with
        // it.
        let send_timeout = self.watch_send_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            // `None` ends the stream: the subscriber left, or stalled past the timeout.
            let send = |event: pb::OverlayEvent| {
                let tx = &tx;
                async move {
                    match tokio::time::timeout(send_timeout, tx.send(Ok(event))).await {
                        Ok(sent) => sent.ok(),
                        Err(_) => {
                            metrics::counter!(m::WATCHERS_DROPPED).increment(1);
                            tracing::info!(
                                timeout_ms = send_timeout.as_millis() as u64,
                                "dropping a WatchOverlay subscriber that stopped reading"
                            );
                            None
                        }
                    }
                }
            };
            let forward = async {
                // The existing groups, a page at a time: no copy of the whole directory per
                // subscriber, and the lock is shared for one page's read only.
                let mut paging = registry::Paging::default();
                if include_existing {
                    let mut after = None;
                    loop {
                        let (page, seq) = registry.page(clock.now(), after, SNAPSHOT_PAGE);
                        let full = page.len() == SNAPSHOT_PAGE;
                        let last = page.last().map(|(g, _)| *g);
                        paging.read(last.filter(|_| full), seq);
                        for (_, event) in page {
                            send(event).await?;
                        }
                        if !full {
                            break;
                        }
                        after = last;
                    }
                }
                loop {
                    match events.recv().await {
                        Ok(change) if paging.shows(&change) => {}
                        Ok(change) => send(change.event).await?,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            metrics::counter!(m::WATCHERS_DROPPED).increment(1);
                            tracing::info!(
                                missed,
                                "dropping a WatchOverlay subscriber that fell behind"
                            );
                            let status = Status::resource_exhausted(format!(
                                "subscriber fell {missed} events behind and was dropped; re-subscribe with include_existing"
                            ));
                            let _ = tx.send(Err(status)).await;
                            return None;
                        }
                        Err(broadcast::error::RecvError::Closed) => return None::<()>,
                    }
                }
            };
            tokio::select! {
                _ = forward => {}
                _ = tx.closed() => {}
                _ = stopping.wait_for(|s| *s) => {
                    let _ = tx.try_send(Err(Status::unavailable("the rendezvous is shutting down")));
                }
            }
            metrics::gauge!(m::WATCHERS).decrement(1.0);
        });
        Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
