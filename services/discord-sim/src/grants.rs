//! The three supported grants of the token endpoint (§10.5.3 step 5): `authorization_code`
//! with redirect, code and PKCE checks and compare-and-set consumption; `refresh_token` with
//! single use and rotation; and `client_credentials`.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::http::{Exchange, oauth_error, pair};
use crate::model::Via;
use crate::scopes;
use crate::settings::{
    CodeTokenScope, ErrorStyle, PkceMode, ReauthPolicy, RedirectMatch, ScopeSource,
    SecretlessExchange, WrongVerifierError,
};
use crate::state::World;
use crate::token::{Client, invalid_client, token_response};

fn invalid_request(description: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some(description),
    )
}

fn invalid_code(w: &World) -> Response {
    match w.settings.token.code_error_style {
        ErrorStyle::Current => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("Invalid \"code\" in request."),
        ),
        ErrorStyle::Legacy2020 => invalid_request("Invalid \"code\" in request."),
    }
}

fn invalid_refresh(w: &World) -> Response {
    match w.settings.token.code_error_style {
        ErrorStyle::Current => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("Invalid \"refresh_token\" in request"),
        ),
        ErrorStyle::Legacy2020 => invalid_request("Invalid \"refresh_token\" in request."),
    }
}

/// RFC 7636 verifier syntax: 43–128 of `[A-Za-z0-9-._~]`.
fn verifier_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `base64url_nopad(SHA-256(verifier))`.
pub(crate) fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `grant_type=authorization_code`.
pub(crate) fn authorization_code(
    w: &mut World,
    ex: &mut Exchange,
    params: &[(String, String)],
    client: &Client,
) -> Response {
    let app = &client.app;
    let verifier = pair(params, "code_verifier");
    if !client.has_secret {
        if verifier.is_none() {
            return invalid_request("Missing \"code_verifier\"");
        }
        if !app.public_client
            && w.settings.pkce.secretless_exchange == SecretlessExchange::PublicOnly
        {
            ex.note("secretless_exchange_not_public");
            return invalid_client(w, client.basic);
        }
    }
    // a. redirect_uri registered?
    let sent = pair(params, "redirect_uri");
    let registered = sent.is_some_and(|r| {
        app.redirect_uris.iter().any(|u| u == r)
            || w.settings.oauth.redirect_match == RedirectMatch::Any
    });
    let absent_ok = sent.is_none() && w.settings.token.redirect_uri_optional_at_exchange;
    if !registered && !absent_ok {
        return invalid_request("Invalid \"redirect_uri\" in request.");
    }
    // b. the code itself.
    let value = pair(params, "code").unwrap_or_default().to_owned();
    let Some(code) = w.codes.get(&value).cloned() else {
        ex.note("code_unknown");
        return invalid_code(w);
    };
    ex.user_id = Some(code.user_id.clone());
    if sent != code.sent_redirect_uri.as_deref() {
        ex.violate(
            "redirect_uri_changed",
            "exchange redirect_uri missing or not byte-identical to the authorize one",
        );
    }
    let now = w.now();
    if code.app_id != app.id {
        ex.note("code_other_client");
        return invalid_code(w);
    }
    if code.consumed_at_ms.is_some() && !w.settings.oauth.allow_code_reuse {
        ex.note("code_reused");
        if w.settings.oauth.code_reuse_revokes_tokens {
            for access in &code.issued_access {
                let rt = w.access.get_mut(access).and_then(|t| {
                    t.revoked_at_ms.get_or_insert(now);
                    t.refresh_token.clone()
                });
                if let Some(r) = rt.and_then(|rt| w.refresh.get_mut(&rt)) {
                    r.revoked_at_ms.get_or_insert(now);
                }
            }
        }
        return invalid_code(w);
    }
    if now >= code.expires_at_ms {
        ex.note("code_expired");
        return invalid_code(w);
    }
    if sent.is_some_and(|r| r != code.redirect_uri) {
        ex.note("code_redirect_mismatch");
        return invalid_code(w);
    }
    let Some(auth) = w
        .auths
        .get(&(code.user_id.clone(), app.id.clone()))
        .cloned()
    else {
        ex.note("code_authorization_gone");
        return invalid_code(w);
    };
    // c. PKCE (failures do not consume the code).
    let mode = w.settings.pkce.mode;
    if mode != PkceMode::Off {
        match (&code.code_challenge, verifier) {
            (Some(_), None) => {
                ex.note("pkce_missing_verifier");
                return invalid_request("Missing \"code_verifier\"");
            }
            (Some(challenge), Some(v)) => {
                if mode == PkceMode::Strict && !verifier_well_formed(v) {
                    ex.note("pkce_malformed_verifier");
                    return invalid_request("Invalid \"code_verifier\"");
                }
                if s256(v) != *challenge {
                    ex.note("pkce_mismatch");
                    return match w.settings.pkce.wrong_verifier_error {
                        WrongVerifierError::InvalidCodeVerifier => {
                            invalid_request("Invalid \"code_verifier\"")
                        }
                        WrongVerifierError::InvalidCode => invalid_code(w),
                    };
                }
            }
            (None, Some(_)) if mode == PkceMode::Strict => {
                ex.note("pkce_verifier_without_challenge");
                return invalid_request("Invalid \"code_verifier\"");
            }
            (None, Some(_) | None) => {}
        }
    }
    // e. compare-and-set consumption (the world lock makes it atomic), then issue.
    if let Some(c) = w.codes.get_mut(&value) {
        c.consumed_at_ms = Some(now);
    }
    let scopes = match w.settings.oauth.code_token_scope {
        CodeTokenScope::Requested => code.scopes.clone(),
        CodeTokenScope::Authorization => auth.scopes.clone(),
    };
    if w.settings.reauth.policy == ReauthPolicy::ReturnExisting {
        let existing = w
            .access
            .iter()
            .filter(|(_, t)| {
                t.user_id == code.user_id && t.app_id == app.id && t.refresh_token.is_some()
            })
            .find(|(token, _)| w.live_access(token).is_ok())
            .map(|(token, t)| (token.clone(), t.clone()));
        if let Some((token, t)) = existing {
            ex.note("returned_existing_pair");
            let remaining = (t.expires_at_ms - now) / 1000;
            return token_response(w, &token, t.refresh_token.as_deref(), &t.scopes, remaining);
        }
    }
    let (access, refresh) = w.issue(&app.id, &code.user_id, scopes.clone(), Via::Code);
    if let Some(c) = w.codes.get_mut(&value) {
        c.issued_access.push(access.clone());
    }
    token_response(
        w,
        &access,
        refresh.as_deref(),
        &scopes,
        w.settings.token.access_ttl_s,
    )
}

/// `grant_type=refresh_token`.
pub(crate) fn refresh_token(
    w: &mut World,
    ex: &mut Exchange,
    params: &[(String, String)],
    client: &Client,
) -> Response {
    let app = &client.app;
    if !client.has_secret && !app.public_client {
        ex.note("secretless_refresh_not_public");
        return invalid_client(w, client.basic);
    }
    let value = pair(params, "refresh_token").unwrap_or_default().to_owned();
    let Some(rt) = w.refresh.get(&value).cloned() else {
        ex.note("refresh_token_unknown");
        return invalid_refresh(w);
    };
    ex.user_id = Some(rt.user_id.clone());
    let now = w.now();
    if rt.app_id != app.id {
        ex.note("refresh_token_other_client");
        return invalid_refresh(w);
    }
    if rt.revoked_at_ms.is_some() {
        ex.note("refresh_token_revoked");
        return invalid_refresh(w);
    }
    if let Some(consumed) = rt.consumed_at_ms {
        let grace = w.settings.refresh.reuse_grace_s * 1000;
        if grace == 0 || now >= consumed + grace {
            ex.note("refresh_token_already_used");
            ex.violate(
                "refresh_token_reused",
                "refresh token presented after it was consumed",
            );
            if w.settings.refresh.reuse_revokes_family {
                w.revoke_tokens(&rt.user_id, &rt.app_id);
            }
            return invalid_refresh(w);
        }
        ex.note("refresh_token_reuse_within_grace");
    }
    if rt.expires_at_ms.is_some_and(|e| now >= e) {
        ex.note("refresh_token_expired");
        return invalid_refresh(w);
    }
    if w.user(&rt.user_id).is_some_and(|u| u.account_banned) {
        ex.note("account_banned");
        return invalid_refresh(w);
    }
    let Some(auth) = w
        .auths
        .get(&(rt.user_id.clone(), rt.app_id.clone()))
        .cloned()
    else {
        ex.note("authorization_gone");
        return invalid_refresh(w);
    };
    if let Some(r) = w.refresh.get_mut(&value) {
        r.consumed_at_ms.get_or_insert(now);
    }
    if w.settings.refresh.revoke_old_access_token
        && let Some(old) = w.access.get_mut(&rt.access_token)
    {
        old.revoked_at_ms.get_or_insert(now);
    }
    let scopes = match w.settings.refresh.scope_source {
        ScopeSource::Authorization => auth.scopes,
        ScopeSource::Token => rt.scopes,
    };
    let (access, refresh) = w.issue(&app.id, &rt.user_id, scopes.clone(), Via::Refresh);
    if w.access.get(&access).is_some_and(|t| t.dead_on_arrival) {
        ex.note("dead_on_arrival");
    }
    token_response(
        w,
        &access,
        refresh.as_deref(),
        &scopes,
        w.settings.token.access_ttl_s,
    )
}

/// `grant_type=client_credentials`: a token for the app owner, no refresh token.
pub(crate) fn client_credentials(
    w: &mut World,
    ex: &mut Exchange,
    params: &[(String, String)],
    client: &Client,
) -> Response {
    let app = &client.app;
    if !client.has_secret {
        return invalid_client(w, client.basic);
    }
    let requested = scopes::split(pair(params, "scope").unwrap_or_default());
    let allowed = &w.settings.client_credentials.allowed_scopes;
    if requested.is_empty() || requested.iter().any(|s| !allowed.contains(s)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            Some("The requested scope is invalid, unknown, or malformed."),
        );
    }
    let subject = app.owner_id.clone().unwrap_or_else(|| app.id.clone());
    ex.user_id = Some(subject.clone());
    let (access, _) = w.issue(&app.id, &subject, requested.clone(), Via::ClientCredentials);
    token_response(w, &access, None, &requested, w.settings.token.access_ttl_s)
}

#[cfg(test)]
mod tests {
    use super::s256;

    #[test]
    fn rfc7636_known_answer() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
