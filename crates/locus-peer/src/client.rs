//! Outgoing calls: a pool of lazily connected channels, one per peer address and expected
//! identity, and the call of one core [`Transmit`](locus_core::Transmit) with its deadline.
//! With TLS, a channel only connects when the certificate at the address names the identity
//! expected there ([`Expect`]).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use locus_core::{CallError, RequestError, Response};
use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_proto::{Outgoing, Unary, call_error_from_reply, call_error_from_status, pb};
use locus_service::tls::{self, ClientTls, Expect, Policy};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

use crate::emulation::SITE_METADATA_KEY;

/// A channel's key: the address, and whom the channel expects to find there.
type Key = (String, Expect);

/// Channels by address and expected identity, at most `max`; the oldest is closed to make
/// room.
#[derive(Debug)]
pub(crate) struct Pool {
    channels: HashMap<Key, Channel>,
    order: VecDeque<Key>,
    max: usize,
    connect_timeout: Duration,
    tls: ClientTls,
    /// Which IPs the peers that messages name may be dialled at.
    policy: Policy,
}

impl Pool {
    pub(crate) fn new(
        max: usize,
        connect_timeout: Duration,
        tls: ClientTls,
        policy: Policy,
    ) -> Self {
        Pool {
            channels: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
            connect_timeout,
            tls,
            policy,
        }
    }

    /// The channel to `expect` at `addr`, created (not yet connected) if new.
    pub(crate) fn channel(&mut self, addr: &str, expect: &Expect) -> Result<Channel, CallError> {
        let key = (addr.to_string(), expect.clone());
        if let Some(c) = self.channels.get(&key) {
            return Ok(c.clone());
        }
        // A peer named in a message is dialled only at IPs the policy admits; the rendezvous
        // and bootstrap addresses are the operator's own settings.
        let policy = match expect {
            Expect::Peer(_) => self.policy,
            _ => Policy {
                allow_private: true,
            },
        };
        let channel = tls::lazy_channel_with(
            &self.tls,
            addr,
            expect.clone(),
            self.connect_timeout,
            policy,
        )
        .map_err(CallError::Unreachable)?;
        while self.channels.len() >= self.max {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.channels.remove(&oldest);
        }
        self.channels.insert(key.clone(), channel.clone());
        self.order.push_back(key);
        Ok(channel)
    }

    /// Closes the channel to an address that could not be reached, so that a dead peer does
    /// not keep a reconnecting channel.
    pub(crate) fn forget(&mut self, addr: &str, expect: &Expect) {
        let key = (addr.to_string(), expect.clone());
        if self.channels.remove(&key).is_some() {
            self.order.retain(|k| *k != key);
        }
    }
}

/// What every outgoing call carries besides its message.
#[derive(Debug, Clone)]
pub(crate) struct CallContext {
    /// This peer's region name, for distance emulation.
    pub(crate) site: Option<AsciiMetadataValue>,
    /// The call's deadline.
    pub(crate) timeout: Duration,
}

impl CallContext {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        // The deadline also travels as `grpc-timeout`, so that the callee can give up too.
        request.set_timeout(self.timeout);
        if let Some(site) = &self.site {
            request
                .metadata_mut()
                .insert(SITE_METADATA_KEY, site.clone());
        }
        request
    }
}

/// Calls one RPC on `channel` and validates the reply, within `ctx.timeout`. `rendezvous`
/// selects the service for `GetBootList`, the one RPC that both serve.
pub(crate) async fn call(
    channel: Channel,
    ctx: CallContext,
    outgoing: Outgoing,
    rendezvous: bool,
) -> Result<Response, CallError> {
    let timeout = ctx.timeout;
    match tokio::time::timeout(timeout, dispatch(channel, ctx, outgoing, rendezvous)).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Timeout),
    }
}

/// Sends `$message` with `$client.$method` and validates the reply as `$ty`'s.
macro_rules! unary {
    ($client:expr, $ctx:expr, $method:ident, $message:expr) => {{
        let message = $message;
        match $client.$method($ctx.request(message)).await {
            Ok(reply) => reply_into_core(reply.into_inner()),
            Err(status) => Err(call_error_from_status(&status)),
        }
    }};
}

fn reply_into_core<R>(reply: R) -> Result<Response, CallError>
where
    R: ReplyOf,
{
    R::Request::reply_into_core(reply).map_err(|e| call_error_from_reply(&e))
}

/// The request type whose reply a wire reply is, so that `unary!` validates by the reply type.
trait ReplyOf: Sized {
    type Request: Unary<Reply = Self>;
}

macro_rules! reply_of {
    ($($reply:ty => $request:ty,)*) => {
        $(impl ReplyOf for $reply { type Request = $request; })*
    };
}

reply_of! {
    pb::MeasureReply => pb::MeasureRequest,
    pb::GetNeighboringPeerGroupsReply => pb::GetNeighboringPeerGroupsRequest,
    pb::GetPeerGroupMembersReply => pb::GetPeerGroupMembersRequest,
    pb::LeaveReply => pb::LeaveRequest,
    pb::AliveReply => pb::AliveRequest,
    pb::NewLeaderReply => pb::NewLeaderRequest,
    pb::GetStatusReply => pb::GetStatusRequest,
    pb::NearbyReply => pb::NearbyRequest,
    pb::GetBootListReply => pb::GetBootListRequest,
    pb::AnnounceGroupReply => pb::AnnounceGroupRequest,
    pb::ResolveGroupReply => pb::ResolveGroupRequest,
}

async fn dispatch(
    channel: Channel,
    ctx: CallContext,
    outgoing: Outgoing,
    rendezvous: bool,
) -> Result<Response, CallError> {
    if rendezvous {
        let mut c = RendezvousClient::new(channel);
        return match outgoing {
            Outgoing::GetBootList(m) => unary!(c, ctx, get_boot_list, m),
            Outgoing::AnnounceGroup(m) => unary!(c, ctx, announce_group, m),
            Outgoing::ResolveGroup(m) => unary!(c, ctx, resolve_group, m),
            _ => Err(CallError::Refused(RequestError::Unsupported)),
        };
    }
    let mut c = PeerServiceClient::new(channel);
    match outgoing {
        Outgoing::Measure(m) => unary!(c, ctx, measure, m),
        Outgoing::GetNeighboringPeerGroups(m) => unary!(c, ctx, get_neighboring_peer_groups, m),
        Outgoing::GetPeerGroupMembers(m) => unary!(c, ctx, get_peer_group_members, m),
        // Both connect RPCs answer with `ConnectReply`; validate it directly.
        Outgoing::ConnectIntraGroup(m) => match c.connect_intra_group(ctx.request(m)).await {
            Ok(r) => pb::ConnectIntraGroupRequest::reply_into_core(r.into_inner())
                .map_err(|e| call_error_from_reply(&e)),
            Err(s) => Err(call_error_from_status(&s)),
        },
        Outgoing::ConnectInterGroup(m) => match c.connect_inter_group(ctx.request(m)).await {
            Ok(r) => pb::ConnectInterGroupRequest::reply_into_core(r.into_inner())
                .map_err(|e| call_error_from_reply(&e)),
            Err(s) => Err(call_error_from_status(&s)),
        },
        Outgoing::ConnectCross(m) => match c.connect_cross(ctx.request(m)).await {
            Ok(r) => pb::ConnectCrossRequest::reply_into_core(r.into_inner())
                .map_err(|e| call_error_from_reply(&e)),
            Err(s) => Err(call_error_from_status(&s)),
        },
        Outgoing::Leave(m) => unary!(c, ctx, leave, m),
        Outgoing::Alive(m) => unary!(c, ctx, alive, *m),
        Outgoing::NewLeader(m) => unary!(c, ctx, new_leader, m),
        Outgoing::GetStatus(m) => unary!(c, ctx, get_status, m),
        Outgoing::Nearby(m) => unary!(c, ctx, nearby, m),
        Outgoing::GetBootList(m) => unary!(c, ctx, get_boot_list, m),
        Outgoing::AnnounceGroup(_) | Outgoing::ResolveGroup(_) => {
            Err(CallError::Refused(RequestError::Unsupported))
        }
    }
}
