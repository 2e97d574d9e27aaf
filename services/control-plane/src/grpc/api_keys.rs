//! `CreateApiKey`, `ListApiKeys`, `RevokeApiKey` (admin key): the use cases of
//! `crate::api_keys`, with messages converted to and from the REST types.

use latchkey_api::api_keys::{ApiKeyResponse, CreateApiKeyRequest};
use latchkey_api::grpc::v1 as pb;
use latchkey_api::server::ApiError;

use super::{auth, page};
use crate::{ControlPlane, api_keys};

pub(super) fn key(k: ApiKeyResponse) -> pb::ApiKey {
    pb::ApiKey {
        id: k.id,
        name: k.name,
        role: k.role,
        tool_id: k.tool_id,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    }
}

pub(super) async fn create(
    cp: &ControlPlane,
    req: tonic::Request<pb::CreateApiKeyRequest>,
) -> Result<pb::CreateApiKeyResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let pb::CreateApiKeyRequest { name, role } = req.into_inner();
    let created = api_keys::create_api_key(cp, &caller, CreateApiKeyRequest { name, role }).await?;
    Ok(pb::CreateApiKeyResponse {
        key: Some(key(created.key)),
        secret: created.secret,
    })
}

pub(super) async fn list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListApiKeysRequest>,
) -> Result<pb::ListApiKeysResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let p = api_keys::list_api_keys(cp, &caller, page(r.limit, r.offset)?).await?;
    Ok(page_response!(pb::ListApiKeysResponse, p, key))
}

pub(super) async fn revoke(
    cp: &ControlPlane,
    req: tonic::Request<pb::RevokeApiKeyRequest>,
) -> Result<pb::RevokeApiKeyResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    api_keys::revoke_api_key(cp, &caller, &req.into_inner().id).await?;
    Ok(pb::RevokeApiKeyResponse {})
}
