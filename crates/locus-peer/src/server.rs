//! The `locus.v1.PeerService` handlers: authenticate the caller by its certificate, validate
//! through `locus-proto`, hand the request to the driver, await its answer.
//!
//! With TLS, who calls is the identity of the client certificate, never the request's
//! `caller`: a `caller` that names anyone else is refused with `PERMISSION_DENIED`, and the
//! RPCs that change a peer's state ([`PEER_ONLY`]) need a peer's certificate. Operators and
//! the rendezvous read (Measure, GetStatus, ...) without naming a caller.

use locus_core::PeerRef;
use locus_proto::{Unary, pb, refused};
use locus_service::tls::{self, Identity};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

use crate::driver::Command;

/// The handlers' side of the driver's command channel.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    commands: mpsc::Sender<Command>,
    /// Whether calls come over mutual TLS (and must be authenticated).
    tls: bool,
}

/// The RPCs only a peer may call: they change the callee's group, links or leadership.
pub(crate) const PEER_ONLY: [&str; 6] = [
    "ConnectIntraGroup",
    "ConnectInterGroup",
    "ConnectCross",
    "Leave",
    "Alive",
    "NewLeader",
];

/// The calls that keep a group together, which have places of their own under the process-wide
/// limit (`locus_service::accounting`): [`PEER_ONLY`] and the members' periodic reports
/// (`GetPeerGroupMembers`, answered with the leader's `Alive`). A flood of `Measure` must not
/// make a member lose its leader.
pub(crate) const GROUP_CALLS: [&str; 6] = [
    "ConnectIntraGroup",
    "ConnectInterGroup",
    "Leave",
    "Alive",
    "NewLeader",
    "GetPeerGroupMembers",
];

/// Whether `identity`, the caller's verified certificate, may make call `rpc` naming `caller`.
pub(crate) fn authorize(
    rpc: &str,
    identity: &Identity,
    caller: Option<&PeerRef>,
) -> Result<(), Status> {
    match identity {
        Identity::Peer(id) => match caller {
            Some(c) if c.id != *id => Err(Status::permission_denied(format!(
                "caller: names peer {}, but the client certificate names peer {id}",
                c.id
            ))),
            _ => Ok(()),
        },
        other => {
            if let Some(c) = caller {
                return Err(Status::permission_denied(format!(
                    "caller: names peer {}, but the client certificate names {other}",
                    c.id
                )));
            }
            if PEER_ONLY.contains(&rpc) {
                return Err(Status::permission_denied(format!(
                    "{rpc} needs a peer's certificate, and the client certificate names {other}"
                )));
            }
            Ok(())
        }
    }
}

impl Handler {
    pub(crate) fn new(commands: mpsc::Sender<Command>, tls: bool) -> Self {
        Handler { commands, tls }
    }

    async fn unary<R>(&self, request: Request<R>) -> Result<Response<R::Reply>, Status>
    where
        R: Unary + Send,
    {
        self.serve(request).await
    }

    async fn serve<R>(&self, request: Request<R>) -> Result<Response<R::Reply>, Status>
    where
        R: Unary + Send,
    {
        let identity = if self.tls {
            // The handshake already required a certificate; this is for a server built
            // otherwise.
            let identity = tls::caller(&request).ok_or_else(|| {
                Status::unauthenticated("a client certificate from the cluster CA is required")
            })?;
            Some(identity)
        } else {
            None
        };
        if let Some(identity) = &identity {
            // Whether this kind of client may call this RPC at all, before reading the body.
            authorize(R::NAME, identity, None)?;
        }
        let (caller, request) = request.into_inner().into_core()?;
        if let Some(identity) = &identity {
            authorize(R::NAME, identity, caller.as_ref())?;
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            caller,
            request,
            reply,
        };
        self.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                Status::resource_exhausted("the peer is overloaded, try again later")
            }
            mpsc::error::TrySendError::Closed(_) => Status::unavailable("the peer is stopping"),
        })?;
        let response = answer
            .await
            .map_err(|_| Status::unavailable("the peer is stopping"))?
            .map_err(refused)?;
        Ok(Response::new(R::reply(response)?))
    }
}

#[tonic::async_trait]
impl pb::peer_service_server::PeerService for Handler {
    async fn measure(
        &self,
        r: Request<pb::MeasureRequest>,
    ) -> Result<Response<pb::MeasureReply>, Status> {
        self.unary(r).await
    }

    async fn get_neighboring_peer_groups(
        &self,
        r: Request<pb::GetNeighboringPeerGroupsRequest>,
    ) -> Result<Response<pb::GetNeighboringPeerGroupsReply>, Status> {
        self.unary(r).await
    }

    async fn get_peer_group_members(
        &self,
        r: Request<pb::GetPeerGroupMembersRequest>,
    ) -> Result<Response<pb::GetPeerGroupMembersReply>, Status> {
        self.unary(r).await
    }

    async fn connect_intra_group(
        &self,
        r: Request<pb::ConnectIntraGroupRequest>,
    ) -> Result<Response<pb::ConnectReply>, Status> {
        self.unary(r).await
    }

    async fn connect_inter_group(
        &self,
        r: Request<pb::ConnectInterGroupRequest>,
    ) -> Result<Response<pb::ConnectReply>, Status> {
        self.unary(r).await
    }

    async fn connect_cross(
        &self,
        r: Request<pb::ConnectCrossRequest>,
    ) -> Result<Response<pb::ConnectReply>, Status> {
        self.unary(r).await
    }

    async fn leave(
        &self,
        r: Request<pb::LeaveRequest>,
    ) -> Result<Response<pb::LeaveReply>, Status> {
        self.unary(r).await
    }

    async fn alive(
        &self,
        r: Request<pb::AliveRequest>,
    ) -> Result<Response<pb::AliveReply>, Status> {
        self.unary(r).await
    }

    async fn new_leader(
        &self,
        r: Request<pb::NewLeaderRequest>,
    ) -> Result<Response<pb::NewLeaderReply>, Status> {
        self.unary(r).await
    }

    async fn get_status(
        &self,
        r: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusReply>, Status> {
        self.unary(r).await
    }

    async fn nearby(
        &self,
        r: Request<pb::NearbyRequest>,
    ) -> Result<Response<pb::NearbyReply>, Status> {
        self.unary(r).await
    }

    async fn get_boot_list(
        &self,
        r: Request<pb::GetBootListRequest>,
    ) -> Result<Response<pb::GetBootListReply>, Status> {
        self.unary(r).await
    }
}
