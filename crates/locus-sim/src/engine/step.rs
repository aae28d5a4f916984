//! What one event does to a node or to the rendezvous, and where what it causes goes.
//!
//! A region handles its events one at a time in queue order (see [`super`]); this module is
//! that one step. It mutates only the node (or rendezvous) the event is for and reads the rest
//! of the world through [`World`], which does not change during a window. What a step causes
//! leaves through an [`Outlet`]: events for the same region go straight into its queue, events
//! for another region into its outbox, which the loop delivers between windows.

use std::time::Duration;

use locus_core::rendezvous::Directory;
use locus_core::{
    BootSource, CallError, Event, PeerRef, Request, RequestError, Response, Rng, Target, Time,
    Transmit,
};
use locus_topology::LatencyModel;

use super::region::Outlet;
use super::{Dest, Ev, KINDS, Node, Tables, index_of, kind};
use crate::overlay::JoinRecord;

/// What a node's handling reads about every node and the run.
pub(super) struct World<'a> {
    /// Each node's identity and address, as callers present themselves.
    pub(super) mes: &'a [PeerRef],
    /// Each node's model site.
    pub(super) sites: &'a [u32],
    /// Each node's partition label: calls cross only between equal labels.
    pub(super) sides: &'a [u8],
    /// Each node's region and its index there.
    pub(super) region: &'a [u16],
    pub(super) local: &'a [u32],
    pub(super) model: &'a dyn LatencyModel,
    pub(super) timeout: Duration,
    pub(super) rendezvous_rtt: Duration,
    /// Mean queueing delay added to a call between peers, as a share of its RTT
    /// ([`crate::scenario::Scenario::queueing`]).
    pub(super) queueing: f64,
    /// The rendezvous' region: the last one, of its own.
    pub(super) rendezvous_region: u16,
}

impl<'a> World<'a> {
    pub(super) fn new(
        tables: &'a Tables,
        model: &'a dyn LatencyModel,
        timeout: Duration,
        rendezvous_rtt: Duration,
        queueing: f64,
    ) -> Self {
        World {
            mes: &tables.mes,
            sites: &tables.sites,
            sides: &tables.sides,
            region: &tables.region,
            local: &tables.local,
            model,
            timeout,
            rendezvous_rtt,
            queueing,
            rendezvous_region: tables.rendezvous_region,
        }
    }

    /// The region of `lane` (a node, or [`RENDEZVOUS`]).
    pub(super) fn region_of(&self, lane: u32) -> u16 {
        if lane == RENDEZVOUS {
            self.rendezvous_region
        } else {
            self.region[lane as usize]
        }
    }
}

/// The lane of the rendezvous: after every node's.
pub(super) const RENDEZVOUS: u32 = u32::MAX;

/// Counts that only ever add up, kept per thread and summed.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    pub(super) events: u64,
    pub(super) calls: u64,
    pub(super) kinds: [u64; KINDS.len()],
    pub(super) timeouts: u64,
    pub(super) rejoins: u64,
    pub(super) new_leaders: u64,
    pub(super) merges: u64,
    pub(super) relocations: u64,
}

impl Tally {
    pub(super) fn add(&mut self, o: &Tally) {
        self.events += o.events;
        self.calls += o.calls;
        for (a, b) in self.kinds.iter_mut().zip(&o.kinds) {
            *a += b;
        }
        self.timeouts += o.timeouts;
        self.rejoins += o.rejoins;
        self.new_leaders += o.new_leaders;
        self.merges += o.merges;
        self.relocations += o.relocations;
    }
}

/// What a region's events did besides causing events, for the loop to collect between windows.
#[derive(Debug, Default)]
pub(super) struct Effects {
    /// Nodes that started running.
    pub(super) started: Vec<u32>,
    /// First joins completed.
    pub(super) joins: Vec<JoinRecord>,
    pub(super) tally: Tally,
    // Buffers reused from event to event.
    out: Vec<Transmit>,
    events: Vec<Event>,
}

/// What happens to a node.
// A step lives for one pass of the event loop and most are `Ev`s: boxing the event would add
// an allocation to nearly every step (boxing event payloads made the 100k run slower:
// docs/decisions.md, "What a 100k run costs": tried and dropped).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Step {
    /// A queued event for it.
    Ev(Ev),
    /// The process starts and joins.
    Start,
    /// The process leaves gracefully.
    Leave,
}

/// Handles one step of node `i` (its index in the node tables) at `now`.
pub(super) fn step_node(
    node: &mut Node,
    i: u32,
    now: Time,
    step: Step,
    world: &World<'_>,
    fx: &mut Effects,
    out: &mut Outlet<'_>,
) {
    match step {
        Step::Start => {
            let Some(peer) = node.peer.as_mut() else {
                return;
            };
            peer.join(now, vec![BootSource::Rendezvous]);
            fx.started.push(i);
        }
        Step::Leave => {
            let Some(peer) = node.peer.as_mut() else {
                return;
            };
            peer.leave(now);
        }
        Step::Ev(Ev::Join(_)) => return step_node(node, i, now, Step::Start, world, fx, out),
        Step::Ev(Ev::Timer { at, .. }) => {
            if node.timer_at == Some(at) {
                node.timer_at = None;
            }
            let Some(peer) = node.peer.as_mut() else {
                return;
            };
            if peer.poll_timeout().is_some_and(|t| t <= now) {
                peer.handle_timeout(now);
            }
        }
        Step::Ev(Ev::Reply { id, result, .. }) => {
            let Some(peer) = node.peer.as_mut() else {
                return;
            };
            peer.handle_response(now, id, result);
        }
        Step::Ev(Ev::Request {
            caller,
            id,
            request,
            deadline,
            half,
            ..
        }) => {
            let result = node.peer.as_mut().map(|peer| {
                let from = world.mes[caller as usize].clone();
                peer.handle_request(now, Some(from), request)
                    .map_err(CallError::Refused)
            });
            let answered = result.is_some();
            reply(world, fx, out, caller, id, now, half, deadline, result);
            if !answered {
                return;
            }
        }
    }
    flush(node, i, now, world, fx, out);
}

/// Sends the answer to a call back to `caller`, or a timeout at the deadline when there is
/// none (the callee is down) or it would arrive too late.
#[allow(clippy::too_many_arguments)]
fn reply(
    world: &World<'_>,
    fx: &mut Effects,
    out: &mut Outlet<'_>,
    caller: u32,
    id: locus_core::RequestId,
    now: Time,
    half: Duration,
    deadline: Time,
    result: Option<Result<Response, CallError>>,
) {
    let back = now + half;
    let (at, result) = match result {
        Some(r) if back <= deadline => (back, r),
        _ => {
            fx.tally.timeouts += 1;
            (deadline.max(now), Err(CallError::Timeout))
        }
    };
    out.emit(
        world,
        at,
        caller,
        Ev::Reply {
            to: caller,
            id,
            result,
        },
    );
}

/// `rtt` with the queueing of one call added: exponentially distributed with mean `share` of
/// `rtt`, capped at ten times that mean, drawn from the caller and the call's id so that a
/// run stays the same for any number of threads. Only ever adds: the windows' lookahead (half
/// the smallest cross-region RTT) still holds.
fn queued(share: f64, caller: u32, id: locus_core::RequestId, rtt: Duration) -> Duration {
    if share <= 0.0 {
        return rtt;
    }
    let u = locus_core::Rng::new((u64::from(caller) << 40) ^ id.0).unit();
    let extra = (-(1.0 - u).ln()).min(10.0) * share;
    rtt + rtt.mul_f64(extra)
}

/// Carries out everything node `i` asked for: its calls, its events, its next timer.
fn flush(
    node: &mut Node,
    i: u32,
    now: Time,
    world: &World<'_>,
    fx: &mut Effects,
    outlet: &mut Outlet<'_>,
) {
    let Some(peer) = node.peer.as_mut() else {
        return;
    };
    let mut out = std::mem::take(&mut fx.out);
    let mut events = std::mem::take(&mut fx.events);
    while let Some(t) = peer.poll_transmit() {
        out.push(t);
    }
    while let Some(e) = peer.poll_event() {
        events.push(e);
    }
    let next_timer = peer.poll_timeout();
    for t in out.drain(..) {
        fx.tally.calls += 1;
        fx.tally.kinds[kind(&t.request)] += 1;
        let dest = match &t.to {
            Target::Peer(p) => index_of(&p.addr).map(Dest::Node),
            Target::Address(a) => index_of(a).map(Dest::Node),
            Target::Rendezvous => Some(Dest::Rendezvous),
        };
        let rtt = match &dest {
            Some(Dest::Node(b)) if (*b as usize) < world.mes.len() => {
                let b = *b as usize;
                if world.sides[i as usize] != world.sides[b] {
                    None
                } else {
                    world
                        .model
                        .rtt_us(world.sites[i as usize] as usize, world.sites[b] as usize)
                        .map(|us| queued(world.queueing, i, t.id, Duration::from_micros(us)))
                }
            }
            Some(Dest::Node(_)) | None => None,
            Some(Dest::Rendezvous) => Some(world.rendezvous_rtt),
        };
        match (dest, rtt) {
            (Some(dest), Some(rtt)) => {
                let to = match dest {
                    Dest::Node(b) => b,
                    Dest::Rendezvous => RENDEZVOUS,
                };
                outlet.emit(
                    world,
                    now + rtt / 2,
                    to,
                    Ev::Request {
                        caller: i,
                        dest,
                        id: t.id,
                        request: t.request,
                        deadline: now + world.timeout,
                        half: rtt / 2,
                    },
                );
            }
            _ => {
                fx.tally.timeouts += 1;
                outlet.emit(
                    world,
                    now + world.timeout,
                    i,
                    Ev::Reply {
                        to: i,
                        id: t.id,
                        result: Err(CallError::Timeout),
                    },
                );
            }
        }
    }
    for e in events.drain(..) {
        on_event(node, world.sites[i as usize], now, e, fx);
    }
    fx.out = out;
    fx.events = events;
    if let Some(t) = next_timer
        && node.timer_at.is_none_or(|s| t < s)
    {
        node.timer_at = Some(t);
        outlet.emit(world, t.max(now), i, Ev::Timer { node: i, at: t });
    }
}

fn on_event(node: &mut Node, site: u32, now: Time, e: Event, fx: &mut Effects) {
    match e {
        Event::Joined { stats, founded, .. } => {
            if node.joined {
                fx.tally.rejoins += 1;
                return;
            }
            node.joined = true;
            let duration_us = stats.duration.as_micros() as u64;
            fx.joins.push(JoinRecord {
                site: site as usize,
                at_us: now.as_micros().saturating_sub(duration_us),
                probes: stats.probes,
                rpcs: stats.rpcs,
                tested_groups: stats.tested_groups,
                duration_us,
                founded,
            });
        }
        Event::BecameLeader { .. } => fx.tally.new_leaders += 1,
        Event::Merging { .. } => fx.tally.merges += 1,
        Event::Relocated { .. } => fx.tally.relocations += 1,
        _ => {}
    }
}

/// What the rendezvous keeps: its directory and the generator its boot lists sample with.
#[derive(Debug)]
pub(super) struct Rendezvous {
    pub(super) directory: Directory,
    pub(super) rng: Rng,
}

/// Answers one call to the rendezvous.
pub(super) fn rendezvous_call(
    rendezvous: &mut Rendezvous,
    now: Time,
    ev: Ev,
    world: &World<'_>,
    fx: &mut Effects,
    out: &mut Outlet<'_>,
) {
    let Ev::Request {
        caller,
        id,
        request,
        deadline,
        half,
        ..
    } = ev
    else {
        unreachable!("only calls go to the rendezvous: {ev:?}");
    };
    let Rendezvous { directory, rng } = rendezvous;
    let result = match request {
        Request::GetBootList(r) => Ok(Response::BootList(directory.answer(rng, &r))),
        Request::AnnounceGroup(a) => Ok(Response::Announced(directory.announce(now, a).0)),
        Request::ResolveGroup(g) => Ok(Response::Resolved(
            directory.resolve(g).map(|e| e.view.clone()),
        )),
        _ => Err(CallError::Refused(RequestError::Unsupported)),
    };
    reply(
        world,
        fx,
        out,
        caller,
        id,
        now,
        half,
        deadline,
        Some(result),
    );
}
