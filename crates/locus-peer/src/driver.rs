//! The driver: the one task that owns the peer's protocol engine.
//!
//! It `select!`s over a bounded command channel (incoming requests from the gRPC handlers, each
//! with a oneshot for its reply), the engine's next timer, completed outgoing calls and the
//! shutdown signal. After every step it drains the engine's transmits (each becomes a call in a
//! bounded `JoinSet`, with the request timeout as its deadline) and events (logs and metrics),
//! as `locus_core::peer` prescribes. Every transmit's result is reported exactly once: the
//! call's reply, its failure, its timeout, or an immediate failure when it cannot be sent.
//!
//! Calls to `Target::Rendezvous` go to the current rendezvous, moving on to the next when one
//! fails (boot lists and `ResolveGroup` may come from any), except `AnnounceGroup`: it goes to
//! every configured rendezvous, one call each with its own deadline, so that each holds the
//! whole directory and losing any one loses nothing. The engine still hears once: of the first
//! successful reply, or, when every call failed, of the last failure.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use locus_core::message::Role;
use locus_core::{
    CallError, Event, Peer, PeerRef, Request, RequestError, RequestId, Response, Target, Transmit,
};
use locus_proto::Outgoing;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::client::{self, CallContext, Pool};
use crate::metrics as m;
use locus_service::Clock;
use locus_service::tls::Expect;

/// What the gRPC handlers ask of the driver.
#[derive(Debug)]
pub(crate) enum Command {
    /// An incoming call, validated; the engine's answer goes back on `reply`.
    Request {
        /// The caller, when it named itself.
        caller: Option<PeerRef>,
        /// The request.
        request: Request,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Response, RequestError>>,
    },
}

/// How a call ended, and where it went.
type Completed = (RequestId, Dest, Result<Response, CallError>);

/// Where a call went: an address, and which rendezvous (by index) if it went to one.
#[derive(Debug, Clone)]
struct Dest {
    addr: String,
    /// Whom the call must find at `addr` (checked on the TLS handshake).
    expect: Expect,
    rendezvous: Option<usize>,
}

/// One announcement's calls to every rendezvous, until the last of them ends.
#[derive(Debug)]
struct FanOut {
    /// Calls still under way.
    pending: usize,
    /// Whether the engine has had its result (the first success).
    answered: bool,
}

/// The driver's state; [`Driver::run`] is its task.
#[derive(Debug)]
pub(crate) struct Driver {
    peer: Peer,
    clock: Clock,
    pool: Pool,
    ctx: CallContext,
    calls: JoinSet<Completed>,
    max_inflight: usize,
    /// Results known without a call (nothing to send to, too many in flight).
    ready: VecDeque<(RequestId, Result<Response, CallError>)>,
    rendezvous: Vec<String>,
    /// The rendezvous tried first; moves on when one fails.
    current_rendezvous: usize,
    /// Announcements under way at several rendezvous, by transmit; at most one entry per
    /// call in `calls`, so bounded like them.
    fanouts: HashMap<RequestId, FanOut>,
    commands: mpsc::Receiver<Command>,
    /// The peer's role as [`role_value`] numbers it, for the `role` label of the server's
    /// metrics ([`role_name`]).
    role: Arc<AtomicU8>,
}

impl Driver {
    pub(crate) fn new(
        peer: Peer,
        clock: Clock,
        pool: Pool,
        ctx: CallContext,
        max_inflight: usize,
        rendezvous: Vec<String>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Driver {
            peer,
            clock,
            pool,
            ctx,
            calls: JoinSet::new(),
            max_inflight,
            ready: VecDeque::new(),
            rendezvous,
            current_rendezvous: 0,
            fanouts: HashMap::new(),
            commands,
            role: Arc::new(AtomicU8::new(0)),
        }
    }

    /// The peer's role as it changes, for the server's metrics ([`role_name`]).
    pub(crate) fn role(&self) -> Arc<AtomicU8> {
        Arc::clone(&self.role)
    }

    /// The engine, for the start-up command.
    pub(crate) fn peer_mut(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Runs until `stop` turns true, then leaves the overlay gracefully: tells the group, hands
    /// leadership over, and waits up to `leave_grace` for those calls. `in_group` says, after
    /// every step, whether the peer is in a group (its readiness: gRPC health).
    pub(crate) async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        leave_grace: Duration,
        in_group: watch::Sender<bool>,
    ) {
        loop {
            self.flush();
            let joined = matches!(
                self.peer.role(),
                Role::Member | Role::Electing | Role::Leader
            );
            in_group.send_if_modified(|v| std::mem::replace(v, joined) != joined);
            if let Some((id, result)) = self.ready.pop_front() {
                self.peer.handle_response(self.clock.now(), id, result);
                continue;
            }
            let timer = self.peer.poll_timeout().map(|t| self.clock.instant_of(t));
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                Some(command) = self.commands.recv() => self.on_command(command),
                Some(done) = self.calls.join_next(), if !self.calls.is_empty() => self.on_completed(done),
                () = sleep_until(timer), if timer.is_some() => {
                    self.peer.handle_timeout(self.clock.now());
                    self.update_gauges();
                }
            }
        }
        in_group.send_if_modified(|v| std::mem::replace(v, false));
        self.leave(leave_grace).await;
    }

    async fn leave(&mut self, grace: Duration) {
        tracing::info!(peer = %self.peer.me().id, "leaving the overlay");
        self.peer.leave(self.clock.now());
        self.flush();
        let deadline = tokio::time::Instant::now() + grace;
        while !self.calls.is_empty() {
            match tokio::time::timeout_at(deadline, self.calls.join_next()).await {
                Ok(Some(done)) => {
                    self.on_completed(done);
                    // After leaving the engine is idle: it sends nothing new. Drop anything
                    // it might, rather than start calls that nobody waits for.
                    while self.peer.poll_transmit().is_some() {}
                    self.drain_events();
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        calls = self.calls.len(),
                        "goodbye calls unfinished at the end of the leave grace"
                    );
                    break;
                }
            }
        }
        self.calls.shutdown().await;
        self.update_gauges();
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                caller,
                request,
                reply,
            } => {
                let result = self.peer.handle_request(self.clock.now(), caller, request);
                // The handler may have given up (its caller went away): nothing to do then.
                let _ = reply.send(result);
            }
        }
    }

    fn on_completed(&mut self, done: Result<Completed, tokio::task::JoinError>) {
        let Ok((id, dest, result)) = done else {
            // A call task cannot panic short of a bug in tonic; its transmit is then lost for
            // good, and the engine's own timers (alive, member timeouts) recover from that.
            tracing::error!("an outgoing call task failed");
            return;
        };
        if let Err(CallError::Unreachable(_) | CallError::Timeout) = &result {
            self.pool.forget(&dest.addr, &dest.expect);
            if let Some(i) = dest.rendezvous
                && i == self.current_rendezvous
                && !self.rendezvous.is_empty()
            {
                self.current_rendezvous = (i + 1) % self.rendezvous.len();
            }
        }
        if let Some(f) = self.fanouts.get_mut(&id) {
            f.pending = f.pending.saturating_sub(1);
            let deliver = match result {
                Ok(reply) if !f.answered => {
                    f.answered = true;
                    Some(Ok(reply))
                }
                Ok(_) => None,
                Err(e) => (f.pending == 0 && !f.answered).then_some(Err(e)),
            };
            if f.pending == 0 {
                self.fanouts.remove(&id);
            }
            if let Some(result) = deliver {
                self.peer.handle_response(self.clock.now(), id, result);
            }
            return;
        }
        self.peer.handle_response(self.clock.now(), id, result);
    }

    /// Sends every transmit the engine has queued and drains its events.
    fn flush(&mut self) {
        while let Some(t) = self.peer.poll_transmit() {
            self.send(t);
        }
        metrics::gauge!(m::INFLIGHT).set(self.calls.len() as f64);
        self.drain_events();
    }

    fn send(&mut self, t: Transmit) {
        let everywhere = matches!(t.request, Request::AnnounceGroup(_));
        let outgoing = Outgoing::new(Some(self.peer.me().clone()), t.request);
        let dest = match t.to {
            Target::Peer(p) => Dest {
                addr: p.addr.to_string(),
                expect: Expect::Peer(p.id),
                rendezvous: None,
            },
            Target::Address(addr) => Dest {
                addr,
                expect: Expect::AnyPeer,
                rendezvous: None,
            },
            Target::Rendezvous if self.rendezvous.is_empty() => {
                let e = CallError::Unreachable("no rendezvous configured".into());
                self.ready.push_back((t.id, Err(e)));
                return;
            }
            Target::Rendezvous if everywhere => {
                self.announce(t.id, outgoing);
                return;
            }
            Target::Rendezvous => {
                let i = self.current_rendezvous % self.rendezvous.len();
                Dest {
                    addr: self.rendezvous[i].clone(),
                    expect: Expect::Rendezvous,
                    rendezvous: Some(i),
                }
            }
        };
        if let Err(e) = self.spawn_call(t.id, dest, outgoing) {
            self.ready.push_back((t.id, Err(e)));
        }
    }

    /// Sends an announcement to every rendezvous; see the module docs. Calls that do not fit
    /// under `max_inflight` are skipped (that rendezvous hears the next announcement); the
    /// transmit fails at once only when none could be sent.
    fn announce(&mut self, id: RequestId, outgoing: Outgoing) {
        let mut sent = 0;
        let mut failure = None;
        for i in 0..self.rendezvous.len() {
            let dest = Dest {
                addr: self.rendezvous[i].clone(),
                expect: Expect::Rendezvous,
                rendezvous: Some(i),
            };
            match self.spawn_call(id, dest, outgoing.clone()) {
                Ok(()) => sent += 1,
                Err(e) => failure = Some(e),
            }
        }
        if sent == 0 {
            let e = failure.unwrap_or_else(|| CallError::Unreachable("no rendezvous".into()));
            self.ready.push_back((id, Err(e)));
            return;
        }
        self.fanouts.insert(
            id,
            FanOut {
                pending: sent,
                answered: false,
            },
        );
    }

    /// Starts one call, or says why it cannot start: too many in flight, a bad address.
    fn spawn_call(
        &mut self,
        id: RequestId,
        dest: Dest,
        outgoing: Outgoing,
    ) -> Result<(), CallError> {
        let rpc = outgoing.name();
        if self.calls.len() >= self.max_inflight {
            metrics::counter!(m::CALLS, "rpc" => rpc, "outcome" => "overloaded").increment(1);
            return Err(CallError::Unreachable("too many calls in flight".into()));
        }
        let channel = self.pool.channel(&dest.addr, &dest.expect)?;
        let ctx = self.ctx.clone();
        let to_rendezvous = dest.rendezvous.is_some();
        self.calls.spawn(async move {
            let sent = std::time::Instant::now();
            let result = client::call(channel, ctx, outgoing, to_rendezvous).await;
            if rpc == "Measure" && result.is_ok() {
                // The round trip as this peer sees it: what its locality decisions rest on.
                metrics::histogram!(m::MEASURED_RTT).record(sent.elapsed().as_secs_f64());
            }
            let outcome = match &result {
                Ok(_) => "ok",
                Err(CallError::Timeout) => "timeout",
                Err(CallError::Unreachable(_)) => "unreachable",
                Err(CallError::Refused(_)) => "refused",
            };
            metrics::counter!(m::CALLS, "rpc" => rpc, "outcome" => outcome).increment(1);
            (id, dest, result)
        });
        Ok(())
    }

    fn drain_events(&mut self) {
        let me = self.peer.me().id;
        while let Some(event) = self.peer.poll_event() {
            metrics::counter!(m::EVENTS, "event" => event_name(&event)).increment(1);
            match &event {
                Event::Joined {
                    group,
                    founded,
                    stats,
                } => tracing::info!(
                    peer = %me, %group, founded, probes = stats.probes, rpcs = stats.rpcs,
                    tested_groups = stats.tested_groups,
                    join_ms = stats.duration.as_millis() as u64,
                    "joined"
                ),
                Event::BecameLeader { group, epoch } => {
                    tracing::info!(peer = %me, %group, epoch, "became leader")
                }
                Event::SteppedDown { group, leader } => {
                    tracing::info!(peer = %me, %group, leader = %leader.id, "stepped down")
                }
                Event::LeaderChanged {
                    group,
                    leader,
                    epoch,
                } => {
                    tracing::info!(peer = %me, %group, leader = %leader.id, epoch, "leader changed")
                }
                Event::ElectionStarted { group, epoch } => {
                    tracing::info!(peer = %me, %group, epoch, "election started")
                }
                Event::Merging { from, into } => {
                    tracing::info!(peer = %me, %from, %into, "merging groups")
                }
                Event::Relocated { from, to } => {
                    tracing::info!(peer = %me, %from, %to, "moved to a nearer group")
                }
                Event::GroupEnded { group } => tracing::info!(peer = %me, %group, "group ended"),
                Event::Left => tracing::info!(peer = %me, "left"),
                other => tracing::debug!(peer = %me, event = ?other, "event"),
            }
        }
    }

    fn update_gauges(&self) {
        let status = self.peer.status();
        let role = role_value(status.role);
        self.role.store(role, Ordering::Relaxed);
        metrics::gauge!(m::ROLE).set(f64::from(role));
        metrics::gauge!(m::INTRA_LINKS).set(status.intra.len() as f64);
        metrics::gauge!(m::INTER_LINKS).set(status.inter.len() as f64);
        metrics::gauge!(m::CROSS_LINKS).set(status.cross.len() as f64);
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The `role` label of a [`role_value`].
pub(crate) fn role_name(value: u8) -> &'static str {
    match value {
        0 => "idle",
        1 => "joining",
        2 => "member",
        3 => "electing",
        4 => "leader",
        _ => "unknown",
    }
}

fn role_value(role: locus_core::message::Role) -> u8 {
    use locus_core::message::Role;
    match role {
        Role::Idle => 0,
        Role::Joining => 1,
        Role::Member => 2,
        Role::Electing => 3,
        Role::Leader => 4,
    }
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::Joined { .. } => "joined",
        Event::BecameLeader { .. } => "became_leader",
        Event::SteppedDown { .. } => "stepped_down",
        Event::LeaderChanged { .. } => "leader_changed",
        Event::MemberJoined { .. } => "member_joined",
        Event::MemberLeft { .. } => "member_left",
        Event::NeighborAdded { .. } => "neighbor_added",
        Event::NeighborRemoved { .. } => "neighbor_removed",
        Event::ElectionStarted { .. } => "election_started",
        Event::Merging { .. } => "merging",
        Event::Relocated { .. } => "relocated",
        Event::GroupEnded { .. } => "group_ended",
        Event::Left => "left",
    }
}
