//! The server side of the wire contract (feature `server`): the per-request id that every error
//! body and log line carries, `ApiError` with its mapping from the domain's errors, and the
//! principal extractors.

mod extract;
#[cfg(feature = "grpc")]
pub mod grpc;
mod principal;

use std::borrow::Cow;
use std::future::Future;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use latchkey_core::CoreError;
use latchkey_core::crypto::CryptoError;
use latchkey_core::error::StoreError;

pub use extract::{JsonBody, MAX_PAGE, PageQuery};
pub use principal::{
    AdminKey, AppKey, CSRF_HEADER, Credential, OperatorKey, Presented, SECURE_SESSION_COOKIE,
    SESSION_COOKIE, ToolKey, authenticate, bearer_value, csrf_checked, refusal, session_cookie,
};

use crate::{ErrorBody, ErrorName};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header that carries the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// [`REQUEST_ID_HEADER`] as a header name, checked once at compile time rather than on every
/// request.
pub const REQUEST_ID_HEADER_NAME: http::HeaderName =
    http::HeaderName::from_static(REQUEST_ID_HEADER);

/// The id of the request being handled (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Runs `f` with `id` as the current request id.
pub async fn with_request_id<F: Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// A future run with a request id as the current one ([`request_id_scope`]).
pub type RequestIdScope<F> = tokio::task::futures::TaskLocalFuture<String, F>;

/// `f` with `id` as the current request id, as a nameable future (for middleware whose future
/// is a struct rather than an `async` block).
pub fn request_id_scope<F: Future>(id: String, f: F) -> RequestIdScope<F> {
    REQUEST_ID.scope(id, f)
}

/// Calls `f` with `id` as the current request id.
pub fn sync_request_id_scope<R>(id: String, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

/// A new request id: `req_` and a time-sortable UUIDv7.
pub fn new_request_id() -> String {
    latchkey_core::ids::new_prefixed_unordered("req")
}

/// A request id sent by the client, kept only if it is short and plain (1–64 characters of
/// `A-Z a-z 0-9 . _ -`), so it cannot inject anything into logs.
pub fn accept_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let s = value?.to_str().ok()?;
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then(|| s.to_owned())
}

/// An error answer: a stable name and a human message. Rendered as [`ErrorBody`] with the
/// current request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    name: ErrorName,
    message: Cow<'static, str>,
}

impl ApiError {
    /// An error with a name and a message. The message must not echo request values.
    pub fn new(name: ErrorName, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    /// The 401 answer, identical for every cause (specs/arcade-compat.md §3.1).
    pub fn unauthorized() -> Self {
        Self::new(ErrorName::Unauthorized, "invalid API key")
    }

    /// A Latchkey fault: logged in the request span, generic on the wire.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorName::InternalError, "internal error")
    }

    /// The database or a key is unavailable: logged, generic on the wire.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "unavailable");
        Self::new(
            ErrorName::Unavailable,
            "Latchkey cannot serve this request right now; try again shortly",
        )
    }

    /// The error's name.
    pub fn name(&self) -> ErrorName {
        self.name
    }

    /// The human message (never a secret or an echoed request value).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.name.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            name: self.name.as_str().to_owned(),
            message: self.message.into_owned(),
            request_id: current_request_id(),
        };
        let mut response = (status, Json(body)).into_response();
        if self.name == ErrorName::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(what) => {
                Self::new(ErrorName::NotFound, format!("{what} not found"))
            }
            CoreError::AlreadyExists(what) => {
                Self::new(ErrorName::AlreadyExists, format!("{what} already exists"))
            }
            CoreError::Invalid { field, message } => {
                Self::new(ErrorName::InvalidRequest, format!("{field}: {message}"))
            }
            CoreError::ScopeNotAllowed(scope) => Self::new(
                ErrorName::ScopeNotAllowed,
                format!(
                    "scope {:?} is reserved by Discord for approved apps",
                    scope.chars().take(40).collect::<String>()
                ),
            ),
            CoreError::UnknownProvider => Self::new(
                ErrorName::UnknownProvider,
                "no provider of this tenant matches; check the provider id",
            ),
            CoreError::AmbiguousProvider => Self::new(
                ErrorName::AmbiguousProvider,
                "several active providers match provider_id; name one by its id",
            ),
            CoreError::ProviderInactive => Self::new(
                ErrorName::ProviderInactive,
                "the provider is inactive; activate it or choose another",
            ),
            CoreError::ClientIdInUse => Self::new(
                ErrorName::ClientIdInUse,
                "this Discord client id is already registered; each Discord app can be registered once",
            ),
            CoreError::VerificationNotConfigured(why) => {
                Self::new(ErrorName::VerificationNotConfigured, why)
            }
            CoreError::Upstream(why) => {
                tracing::warn!(error = %why, "Discord call failed");
                Self::new(
                    ErrorName::UpstreamUnavailable,
                    "Discord could not be reached or refused the call; try again",
                )
            }
            CoreError::Crypto(c) => match c {
                CryptoError::UnknownMasterKey { .. } | CryptoError::Store(_) => {
                    Self::unavailable(&c)
                }
                CryptoError::Tampered
                | CryptoError::Malformed
                | CryptoError::MissingDataKey { .. } => Self::internal(&c),
            },
            // The pipeline logs its refusals (once a second, with the reason).
            CoreError::AuditUnavailable => Self::new(
                ErrorName::Unavailable,
                "the audit log cannot record this release right now, so nothing was released; try again shortly",
            ),
            CoreError::Store(s) => match s {
                StoreError::NotFound => Self::new(ErrorName::NotFound, "not found"),
                StoreError::Conflict(what) => {
                    Self::new(ErrorName::AlreadyExists, format!("{what} already exists"))
                }
                StoreError::Unavailable(_) => Self::unavailable(&s),
                StoreError::Corrupt { .. } => Self::internal(&s),
            },
        }
    }
}
