//! `CreateAuthProvider`, `ListAuthProviders`, `GetAuthProvider`, `UpdateAuthProvider`,
//! `DeleteAuthProvider` (admin key). The input message becomes the REST `ProviderRequest`
//! field by field (absent stays absent), so the one request→changes conversion and its
//! validation in `crate::providers` serve both transports. The Arcade fields that REST accepts
//! only as `null` (`oauth2.authorize_request`, …) have no gRPC twin.

use latchkey_api::grpc::v1 as pb;
use latchkey_api::providers::{
    OAuth2Request, PkceSettings, PolicySettings, ProviderRequest, ProviderResponse,
};
use latchkey_api::server::ApiError;

use super::{auth, page};
use crate::{ControlPlane, providers};

fn request(id: Option<String>, input: Option<pb::AuthProviderInput>) -> ProviderRequest {
    let i = input.unwrap_or_default();
    ProviderRequest {
        id,
        description: i.description,
        external_id: i.external_id,
        provider_id: i.provider_id,
        kind: i.r#type,
        status: i.status,
        oauth2: i.oauth2.map(|o| OAuth2Request {
            client_id: o.client_id,
            client_secret: o.client_secret,
            scope_delimiter: o.scope_delimiter,
            pkce: o.pkce.map(|p| PkceSettings {
                enabled: p.enabled,
                code_challenge_method: p.code_challenge_method,
            }),
            ..OAuth2Request::default()
        }),
        scopes: i.scopes.map(|s| s.values),
        policy: i.policy.map(policy_settings),
        endpoint_origin: i.endpoint_origin,
    }
}

fn policy_settings(p: pb::Policy) -> PolicySettings {
    PolicySettings {
        required_guild_ids: p.required_guild_ids,
        required_role_ids: p.required_role_ids,
        message: p.message,
    }
}

fn pkce(p: PkceSettings) -> pb::Pkce {
    pb::Pkce {
        enabled: p.enabled,
        code_challenge_method: p.code_challenge_method,
    }
}

/// The REST answer as a message.
pub(crate) fn provider(p: ProviderResponse) -> pb::AuthProvider {
    pb::AuthProvider {
        id: p.id,
        description: p.description,
        provider_id: p.provider_id,
        r#type: p.kind,
        status: p.status,
        binding: Some(pb::Binding {
            r#type: p.binding.kind,
            id: p.binding.id,
        }),
        created_at: p.created_at,
        updated_at: p.updated_at,
        oauth2: Some(pb::OAuth2 {
            client_id: p.oauth2.client_id,
            client_secret: Some(pb::SecretInfo {
                exists: p.oauth2.client_secret.exists,
                hint: p.oauth2.client_secret.hint,
                editable: p.oauth2.client_secret.editable,
                binding: p.oauth2.client_secret.binding,
            }),
            redirect_uri: p.oauth2.redirect_uri,
            scope_delimiter: p.oauth2.scope_delimiter,
            pkce: Some(pkce(p.oauth2.pkce)),
        }),
        scopes: p.scopes,
        policy: p.policy.map(|p| pb::Policy {
            required_guild_ids: p.required_guild_ids,
            required_role_ids: p.required_role_ids,
            message: p.message,
        }),
        endpoint_origin: p.endpoint_origin,
    }
}

pub(super) async fn create(
    cp: &ControlPlane,
    req: tonic::Request<pb::CreateAuthProviderRequest>,
) -> Result<pb::CreateAuthProviderResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let created =
        providers::create_auth_provider(cp, &caller, request(r.id, r.auth_provider)).await?;
    Ok(pb::CreateAuthProviderResponse {
        auth_provider: Some(provider(created)),
    })
}

pub(super) async fn list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListAuthProvidersRequest>,
) -> Result<pb::ListAuthProvidersResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let p = providers::list_auth_providers(cp, &caller, page(r.limit, r.offset)?).await?;
    Ok(page_response!(pb::ListAuthProvidersResponse, p, provider))
}

pub(super) async fn get(
    cp: &ControlPlane,
    req: tonic::Request<pb::GetAuthProviderRequest>,
) -> Result<pb::GetAuthProviderResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let p = providers::get_auth_provider(cp, &caller, &req.into_inner().id).await?;
    Ok(pb::GetAuthProviderResponse {
        auth_provider: Some(provider(p)),
    })
}

pub(super) async fn update(
    cp: &ControlPlane,
    req: tonic::Request<pb::UpdateAuthProviderRequest>,
) -> Result<pb::UpdateAuthProviderResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let p =
        providers::update_auth_provider(cp, &caller, &r.id, request(None, r.auth_provider)).await?;
    Ok(pb::UpdateAuthProviderResponse {
        auth_provider: Some(provider(p)),
    })
}

pub(super) async fn delete(
    cp: &ControlPlane,
    req: tonic::Request<pb::DeleteAuthProviderRequest>,
) -> Result<pb::DeleteAuthProviderResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let p = providers::delete_auth_provider(cp, &caller, &req.into_inner().id).await?;
    Ok(pb::DeleteAuthProviderResponse {
        auth_provider: Some(provider(p)),
    })
}
