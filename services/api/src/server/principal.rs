//! The four principals. Every route declares who may call it by taking one of these
//! extractors; no check happens deeper down (STYLE.md §14, security.md DEC5).
//!
//! Accepted: `Authorization: <key>` and `Authorization: Bearer <key>` (scheme in any case,
//! surrounding whitespace ignored). Anything else, and any unknown, revoked or malformed key,
//! gets the same 401 body with `WWW-Authenticate: Bearer`. A valid key of the wrong role gets 403.
//! A key in the query string is refused with 400 before anything else.
//!
//! The check itself ([`authenticate`] and each principal's `from_principal`) is
//! transport-neutral: the gRPC services call it with the `authorization` metadata.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use latchkey_core::ApiKeyId;
use latchkey_core::apikey::KeyRole;
use latchkey_core::auth::{AuthFailure, Authenticator, Principal, TenantPrincipal};

use super::ApiError;
use crate::ErrorName;

/// The key from an `Authorization` header value: the raw key, or `Bearer <key>`.
pub fn bearer_value(header: &str) -> &str {
    let v = header.trim();
    match v.split_once([' ', '\t']) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => v,
    }
}

fn key_in_query(parts: &Parts) -> bool {
    parts.uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(name, _)| {
            matches!(
                name.to_ascii_lowercase().as_str(),
                "api_key" | "apikey" | "key" | "access_token"
            )
        })
    })
}

/// What a request presented as its credential: the `Authorization` header of a REST call or
/// the `authorization` metadata of a gRPC call.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// No header (or metadata entry) at all.
    Missing,
    /// A value that is not visible ASCII.
    NotAscii,
    /// More than one value: which one counts would be a guess (security.md G10, H).
    Several,
    /// The raw value: a key, or `Bearer <key>`.
    Value(&'a str),
}

impl<'a> Presented<'a> {
    /// From one HTTP header value.
    pub fn from_header(value: Option<&'a http::HeaderValue>) -> Self {
        match value.map(http::HeaderValue::to_str) {
            None => Self::Missing,
            Some(Err(_)) => Self::NotAscii,
            Some(Ok(v)) => Self::Value(v),
        }
    }
}

/// Authenticates a presented credential: the one transport-neutral check behind the REST
/// extractors and the gRPC services. Every failure but an unreachable key store answers the
/// same `unauthorized`; the reason is logged, never the key.
pub async fn authenticate(
    authenticator: &Authenticator,
    presented: Presented<'_>,
) -> Result<Principal, ApiError> {
    let raw = match presented {
        Presented::Value(v) => v,
        Presented::Missing => {
            tracing::info!(reason = "no Authorization header", "authentication failed");
            return Err(ApiError::unauthorized());
        }
        Presented::NotAscii => {
            tracing::info!(
                reason = "non-ASCII Authorization header",
                "authentication failed"
            );
            return Err(ApiError::unauthorized());
        }
        Presented::Several => {
            tracing::info!(
                reason = "several Authorization headers",
                "authentication failed"
            );
            return Err(ApiError::unauthorized());
        }
    };
    authenticator
        .authenticate(bearer_value(raw))
        .await
        .map_err(|e| refusal(e, "authentication failed"))
}

/// The answer to a failed key or session check: 503 when the key store is unreachable, else
/// the one `unauthorized` whatever the reason (which is logged as `what`, never the secret).
pub fn refusal(e: AuthFailure, what: &'static str) -> ApiError {
    match e {
        AuthFailure::Unavailable(e) => ApiError::unavailable(&e),
        reason @ (AuthFailure::Malformed(_)
        | AuthFailure::UnknownKey
        | AuthFailure::WrongSecret
        | AuthFailure::Revoked) => {
            tracing::info!(reason = %reason, "{what}");
            ApiError::unauthorized()
        }
    }
}

/// The dashboard's session cookie on a plain-`http` deployment (local development).
pub const SESSION_COOKIE: &str = "latchkey_session";
/// The dashboard's session cookie on an `https` deployment (host-only, `Secure`).
pub const SECURE_SESSION_COOKIE: &str = "__Host-latchkey_session";
/// The header a dashboard session's writes carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session secret of the request's dashboard cookie, if it has one.
pub fn session_cookie(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE || *k == SECURE_SESSION_COOKIE)
        .map(|(_, v)| v)
}

/// Refuses (403) a dashboard write that does not carry its session's CSRF token.
pub fn csrf_checked(headers: &http::HeaderMap, secret: &str) -> Result<(), ApiError> {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent.is_some_and(|t| latchkey_core::auth::csrf_matches(secret, t)) {
        return Ok(());
    }
    tracing::warn!("dashboard write without its CSRF token; refused");
    Err(ApiError::new(
        ErrorName::Forbidden,
        "this change needs the session's X-CSRF-Token header: reload the dashboard",
    ))
}

/// A request without an `Authorization` header but with the dashboard's session cookie: the
/// session's admin key, when the session is current and the key still valid; writes must also
/// carry the session's CSRF token.
async fn session_principal(
    authenticator: &Authenticator,
    parts: &Parts,
    secret: &str,
) -> Result<Principal, ApiError> {
    let (p, _) = authenticator
        .session(secret)
        .await
        .map_err(|e| refusal(e, "dashboard session refused"))?;
    if !parts.method.is_safe() {
        csrf_checked(&parts.headers, secret)?;
    }
    Ok(Principal::Tenant(p))
}

/// Refuses (400) a request that carries an API key in its query string, before anything else.
fn refuse_key_in_query(parts: &Parts) -> Result<(), ApiError> {
    if key_in_query(parts) {
        tracing::warn!("API key sent in a query string; refused");
        return Err(ApiError::new(
            ErrorName::InvalidRequest,
            "API keys must be sent in the Authorization header, never in a URL; treat this key as exposed and rotate it",
        ));
    }
    Ok(())
}

/// The credential of a route that authenticates by hand (a tool key, or a tool grant in the
/// body or a header): its `Authorization` header, taken without a copy of the request's other
/// headers. A key in the query string is refused here, as by every principal extractor.
#[derive(Clone)]
pub struct Credential {
    value: Option<http::HeaderValue>,
    several: bool,
}

impl Credential {
    /// The `Authorization` header of a request (the first value; whether there were more).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let mut all = headers.get_all(http::header::AUTHORIZATION).iter();
        let value = all.next().cloned().map(|mut v| {
            v.set_sensitive(true);
            v
        });
        Self {
            value,
            several: all.next().is_some(),
        }
    }

    /// What the request presented, for [`authenticate`].
    pub fn presented(&self) -> Presented<'_> {
        if self.several {
            return Presented::Several;
        }
        Presented::from_header(self.value.as_ref())
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential([REDACTED])")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credential {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        refuse_key_in_query(parts)?;
        Ok(Self::from_headers(&parts.headers))
    }
}

async fn authenticate_parts<S>(parts: &Parts, state: &S) -> Result<Principal, ApiError>
where
    Arc<Authenticator>: FromRef<S>,
{
    refuse_key_in_query(parts)?;
    let authenticator = Arc::<Authenticator>::from_ref(state);
    let credential = Credential::from_headers(&parts.headers);
    let presented = credential.presented();
    // Boxed: the look-ups' futures would otherwise be laid out inside every handler's future,
    // which a long-poll keeps for its whole hold.
    if let (Presented::Missing, Some(secret)) = (presented, session_cookie(&parts.headers)) {
        return Box::pin(session_principal(&authenticator, parts, secret)).await;
    }
    Box::pin(authenticate(&authenticator, presented)).await
}

fn forbidden(wanted: &str) -> ApiError {
    ApiError::new(
        ErrorName::Forbidden,
        format!("this route needs a key with the {wanted} role"),
    )
}

/// The platform operator (tenant management routes only).
#[derive(Debug, Clone)]
pub struct OperatorKey(pub ApiKeyId);

impl OperatorKey {
    /// The role rule: only the operator key; any tenant key is `forbidden`.
    pub fn from_principal(p: Principal) -> Result<Self, ApiError> {
        match p {
            Principal::Operator { key_id } => Ok(Self(key_id)),
            Principal::Tenant(_) => Err(forbidden("operator")),
        }
    }
}

impl<S> FromRequestParts<S> for OperatorKey
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Self::from_principal(authenticate_parts(parts, state).await?)
    }
}

macro_rules! tenant_principal {
    ($(#[$doc:meta])* $name:ident, $role:expr, $article_role:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub TenantPrincipal);

        impl $name {
            /// The role rule: a tenant key of exactly this role; anything else is `forbidden`.
            /// Records the tenant on the request span.
            pub fn from_principal(p: Principal) -> Result<Self, ApiError> {
                match p {
                    Principal::Tenant(p) if p.role == $role => {
                        tracing::Span::current().record("tenant_id", tracing::field::display(p.tenant));
                        Ok(Self(p))
                    }
                    Principal::Tenant(_) | Principal::Operator { .. } => Err(forbidden($article_role)),
                }
            }
        }

        impl<S> FromRequestParts<S> for $name
        where
            Arc<Authenticator>: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                Self::from_principal(authenticate_parts(parts, state).await?)
            }
        }
    };
}

tenant_principal!(
    /// A tenant's admin key (control plane).
    AdminKey, KeyRole::Admin, "admin"
);
tenant_principal!(
    /// A tenant's app key (`auth.start`, status, `confirm_user`, `tools.authorize`).
    AppKey, KeyRole::App, "app"
);
tenant_principal!(
    /// A tool key, bound to one registered tool (token service and proxy).
    ToolKey, KeyRole::Tool, "tool"
);

#[cfg(test)]
mod tests {
    use super::bearer_value;

    #[test]
    fn header_forms() {
        assert_eq!(bearer_value("lk_x"), "lk_x");
        assert_eq!(bearer_value("  lk_x  "), "lk_x");
        assert_eq!(bearer_value("Bearer lk_x"), "lk_x");
        assert_eq!(bearer_value("bEaReR    lk_x"), "lk_x");
        assert_eq!(
            bearer_value("Basic abc"),
            "Basic abc",
            "other schemes fail the key grammar"
        );
    }
}
