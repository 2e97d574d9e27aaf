//! The authorization service over gRPC: `latchkey.v1.Authorization`
//! (proto/latchkey/v1/authorization.proto). Each method authenticates the `authorization`
//! metadata with the same check and role rule as the REST `AppKey` extractor, converts the
//! message into the REST request type, calls the same use case and converts the answer back,
//! so validation cannot diverge between the transports.

use latchkey_api::auth::{
    AuthRequirement, AuthorizationResponse, AuthorizeOAuth2, AuthorizeRequest, ConfirmUserRequest,
};
use latchkey_api::grpc::v1 as pb;
use latchkey_api::grpc::v1::authorization_server::{Authorization as Rpc, AuthorizationServer};
use latchkey_api::server::grpc::presented;
use latchkey_api::server::{ApiError, AppKey, authenticate};
use latchkey_core::auth::TenantPrincipal;
use tonic::{Request, Response, Status};

use crate::{Authorizer, confirm, start, status};

/// The largest request message decoded (the REST body limit).
pub const MAX_MESSAGE: usize = latchkey_api::BODY_LIMIT;

/// The gRPC server for the authorization service, ready to be routed.
pub fn server(az: Authorizer) -> AuthorizationServer<AuthorizationService> {
    AuthorizationServer::new(AuthorizationService { az }).max_decoding_message_size(MAX_MESSAGE)
}

/// The service (the same [`Authorizer`] state as the REST routes).
#[derive(Clone)]
pub struct AuthorizationService {
    az: Authorizer,
}

async fn app<T>(az: &Authorizer, req: &Request<T>) -> Result<TenantPrincipal, ApiError> {
    let p = authenticate(&az.authenticator, presented(req.metadata())).await?;
    Ok(AppKey::from_principal(p)?.0)
}

fn empty_is_none(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

fn state(r: AuthorizationResponse) -> pb::AuthorizationState {
    pb::AuthorizationState {
        id: r.id,
        status: r.status,
        url: r.url,
        provider_id: r.provider_id,
        scopes: r.scopes,
        user_id: r.user_id,
        context: r.context.map(|c| pb::AuthorizationContext {
            token: c.token,
            user_info_json: c.user_info.to_string(),
        }),
    }
}

#[tonic::async_trait]
impl Rpc for AuthorizationService {
    async fn start(
        &self,
        request: Request<pb::StartRequest>,
    ) -> Result<Response<pb::StartResponse>, Status> {
        let caller = app(&self.az, &request).await?;
        let m = request.into_inner();
        let ar = m.auth_requirement.unwrap_or_default();
        let req = AuthorizeRequest {
            user_id: m.user_id,
            next_uri: m.next_uri,
            auth_requirement: AuthRequirement {
                id: empty_is_none(ar.id),
                provider_id: empty_is_none(ar.provider_id),
                provider_type: empty_is_none(ar.provider_type),
                oauth2: Some(AuthorizeOAuth2 {
                    scopes: Some(ar.scopes),
                    unknown: Default::default(),
                }),
                unknown: Default::default(),
            },
            unknown: Default::default(),
        };
        let r = start::start(&self.az, &caller, req).await?;
        Ok(Response::new(pb::StartResponse {
            authorization: Some(state(r)),
        }))
    }

    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let caller = app(&self.az, &request).await?;
        let m = request.into_inner();
        let r = status::get_status(&self.az, &caller, &m.id, u64::from(m.wait)).await?;
        Ok(Response::new(pb::GetStatusResponse {
            authorization: Some(state(r)),
        }))
    }

    async fn confirm_user(
        &self,
        request: Request<pb::ConfirmUserRequest>,
    ) -> Result<Response<pb::ConfirmUserResponse>, Status> {
        let caller = app(&self.az, &request).await?;
        let m = request.into_inner();
        let r = confirm::confirm(
            &self.az,
            &caller,
            &ConfirmUserRequest {
                flow_id: m.flow_id,
                user_id: m.user_id,
            },
        )
        .await?;
        Ok(Response::new(pb::ConfirmUserResponse {
            auth_id: r.auth_id,
            next_uri: r.next_uri,
        }))
    }
}
