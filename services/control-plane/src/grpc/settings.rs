//! `GetSessionVerificationSettings`, `PutSessionVerificationSettings` (admin key): the use
//! cases of `crate::settings`. An absent field stays as it is; `verifier_url: ""` clears the
//! URL (REST's `null` has no proto3 twin, and REST treats `""` the same way).

use latchkey_api::grpc::v1 as pb;
use latchkey_api::server::ApiError;
use latchkey_api::settings::{VerificationSettingsRequest, VerificationSettingsResponse};

use super::auth;
use crate::{ControlPlane, settings};

fn message(s: VerificationSettingsResponse) -> pb::SessionVerificationSettings {
    pb::SessionVerificationSettings {
        unsafe_skip_verification: s.unsafe_skip_verification,
        unsafe_skip_verification_choice_allowed: s.unsafe_skip_verification_choice_allowed,
        verifier_url: s.verifier_url,
        allowed_next_uri_origins: s.allowed_next_uri_origins,
        account_switch: s.account_switch,
    }
}

pub(super) async fn get(
    cp: &ControlPlane,
    req: tonic::Request<pb::GetSessionVerificationSettingsRequest>,
) -> Result<pb::GetSessionVerificationSettingsResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let s = settings::get_settings(cp, &caller).await?;
    Ok(pb::GetSessionVerificationSettingsResponse {
        settings: Some(message(s)),
    })
}

pub(super) async fn put(
    cp: &ControlPlane,
    req: tonic::Request<pb::PutSessionVerificationSettingsRequest>,
) -> Result<pb::PutSessionVerificationSettingsResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let changes = VerificationSettingsRequest {
        verifier_url: r.verifier_url.map(Some),
        unsafe_skip_verification: r.unsafe_skip_verification,
        allowed_next_uri_origins: r.allowed_next_uri_origins.map(|l| l.values),
        account_switch: r.account_switch,
    };
    let s = settings::put_settings(cp, &caller, changes).await?;
    Ok(pb::PutSessionVerificationSettingsResponse {
        settings: Some(message(s)),
    })
}
