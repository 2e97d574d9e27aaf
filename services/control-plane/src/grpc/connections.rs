//! `ListUserConnections`, `DeleteUserConnection`, `AcknowledgeUserConnection` (admin key): the same filter validation and
//! use cases as REST `/v1/admin/user_connections`. `provider_user_info` (a JSON object in
//! REST) travels as its JSON text.

use latchkey_api::grpc::v1 as pb;
use latchkey_api::server::ApiError;
use latchkey_api::tools::ConnectionResponse;

use super::{auth, page};
use crate::{ControlPlane, connections};

fn connection(c: ConnectionResponse) -> pb::UserConnection {
    pb::UserConnection {
        id: c.id,
        connection_id: c.connection_id,
        connection_status: c.connection_status,
        provider_id: c.provider_id,
        provider_type: c.provider_type,
        provider_description: c.provider_description,
        provider_user_info: c.provider_user_info.to_string(),
        scopes: c.scopes,
        user_id: c.user_id,
        expires_at: c.expires_at,
    }
}

pub(super) async fn list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListUserConnectionsRequest>,
) -> Result<pb::ListUserConnectionsResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let page = page(r.limit, r.offset)?;
    let p = connections::list_user_connections(cp, &caller, r.provider_id, r.user_id, page).await?;
    Ok(page_response!(
        pb::ListUserConnectionsResponse,
        p,
        connection
    ))
}

pub(super) async fn delete(
    cp: &ControlPlane,
    req: tonic::Request<pb::DeleteUserConnectionRequest>,
) -> Result<pb::DeleteUserConnectionResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    connections::delete_user_connection(cp, &caller, &req.into_inner().id).await?;
    Ok(pb::DeleteUserConnectionResponse {})
}

pub(super) async fn acknowledge(
    cp: &ControlPlane,
    req: tonic::Request<pb::AcknowledgeUserConnectionRequest>,
) -> Result<pb::AcknowledgeUserConnectionResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let c = connections::acknowledge_user_connection(cp, &caller, &req.into_inner().id).await?;
    Ok(pb::AcknowledgeUserConnectionResponse {
        connection: Some(connection(c)),
    })
}
