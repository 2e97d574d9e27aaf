//! The token service over gRPC: `latchkey.v1.Token` (proto/latchkey/v1/token.proto), over the
//! same use case as REST `POST /v1/tokens`, with the same tool-key rule.

use latchkey_api::grpc::v1 as pb;
use latchkey_api::grpc::v1::token_server::{Token as Rpc, TokenServer};
use latchkey_api::server::grpc::presented;
use latchkey_api::{ErrorName, grpc::ERROR_NAME_METADATA};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

use crate::Tokens;
use crate::issue::{self, Refusal};

/// The largest request message decoded (the REST body limit).
pub const MAX_MESSAGE: usize = latchkey_api::BODY_LIMIT;

/// The gRPC server for the token service, ready to be routed.
pub fn server(tk: Tokens) -> TokenServer<TokenService> {
    TokenServer::new(TokenService { tk }).max_decoding_message_size(MAX_MESSAGE)
}

/// The service (the same [`Tokens`] state as the REST route).
#[derive(Clone)]
pub struct TokenService {
    tk: Tokens,
}

fn status(r: Refusal) -> Status {
    match r {
        Refusal::Error(e) => e.into(),
        Refusal::AuthorizationRequired {
            authorization_id,
            url,
        } => {
            let mut md = MetadataMap::new();
            md.insert(
                ERROR_NAME_METADATA,
                MetadataValue::from_static(ErrorName::AuthorizationRequired.as_str()),
            );
            for (k, v) in [
                ("latchkey-authorization-id", authorization_id),
                ("latchkey-authorization-url", url),
            ] {
                if let Ok(v) = v.parse() {
                    md.insert(k, v);
                }
            }
            Status::with_metadata(
                Code::FailedPrecondition,
                "the user has not granted what this tool needs: show them the authorization url",
                md,
            )
        }
    }
}

#[tonic::async_trait]
impl Rpc for TokenService {
    async fn get_token(
        &self,
        request: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::GetTokenResponse>, Status> {
        let grant = Some(request.get_ref().grant.clone()).filter(|g| !g.is_empty());
        let user_id = Some(request.get_ref().user_id.clone()).filter(|u| !u.is_empty());
        let (caller, user_id) = issue::authenticate(
            &self.tk,
            presented(request.metadata()),
            grant.as_deref(),
            user_id.or_else(|| grant.is_none().then(String::new)),
        )
        .await
        .map_err(status)?;
        let t = issue::get_token(&self.tk, &caller, &user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetTokenResponse {
            access_token: t.access_token,
            token_type: t.token_type,
            expires_at: t.expires_at,
            scopes: t.scopes,
            user_info_json: t.user_info.get().to_owned(),
        }))
    }
}
