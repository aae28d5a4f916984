//! The `locus.v1.PeerService` handlers: validate through `locus-proto`, hand the request to the
//! driver, await its answer. Nothing else happens here.

use locus_proto::{Unary, pb, refused};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

use crate::driver::Command;
use crate::metrics as m;

/// The handlers' side of the driver's command channel.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    commands: mpsc::Sender<Command>,
}

impl Handler {
    pub(crate) fn new(commands: mpsc::Sender<Command>) -> Self {
        Handler { commands }
    }

    async fn unary<R>(&self, request: Request<R>) -> Result<Response<R::Reply>, Status>
    where
        R: Unary + Send,
    {
        let result = self.serve(request).await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        };
        metrics::counter!(m::REQUESTS, "rpc" => R::NAME, "code" => format!("{code:?}"))
            .increment(1);
        result
    }

    async fn serve<R>(&self, request: Request<R>) -> Result<Response<R::Reply>, Status>
    where
        R: Unary + Send,
    {
        let (caller, request) = request.into_inner().into_core()?;
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
