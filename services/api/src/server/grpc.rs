//! The gRPC side of the error contract (features `server` and `grpc`): every [`ErrorName`] has
//! one `tonic::Code`, chosen by an exhaustive `match` (no `_` arm), so a new name cannot ship
//! without a deliberate gRPC answer. A client's mistake never gets a code whose HTTP twin is
//! 408, 409, 429 or 5xx (`DEADLINE_EXCEEDED`, `ABORTED`, `ALREADY_EXISTS`,
//! `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, `INTERNAL`, `UNIMPLEMENTED`, …), since clients retry
//! those. The status message is the REST `message`; the stable name and the request id travel
//! in the `latchkey-error-name` and `x-request-id` metadata. The table is in docs/api.md.

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use super::principal::Presented;
use super::{ApiError, REQUEST_ID_HEADER, current_request_id};
use crate::ErrorName;

pub use crate::grpc::ERROR_NAME_METADATA;

/// The gRPC code an error name is sent with.
pub fn code(name: ErrorName) -> Code {
    match name {
        ErrorName::InvalidRequest
        | ErrorName::UnknownProvider
        | ErrorName::AmbiguousProvider
        | ErrorName::UnsupportedProvider
        | ErrorName::NextUriNotAllowed
        | ErrorName::UserMismatch
        | ErrorName::MethodNotAllowed
        | ErrorName::UnsupportedMediaType => Code::InvalidArgument,
        ErrorName::AlreadyExists
        | ErrorName::ClientIdInUse
        | ErrorName::ProviderInactive
        | ErrorName::VerificationNotConfigured
        | ErrorName::AuthorizationRequired => Code::FailedPrecondition,
        ErrorName::PayloadTooLarge => Code::OutOfRange,
        ErrorName::Unauthorized => Code::Unauthenticated,
        ErrorName::Forbidden | ErrorName::ScopeNotAllowed | ErrorName::RouteNotAllowed => {
            Code::PermissionDenied
        }
        ErrorName::NotFound | ErrorName::NotSupported => Code::NotFound,
        ErrorName::RateLimited => Code::ResourceExhausted,
        ErrorName::InternalError => Code::Internal,
        ErrorName::UpstreamUnavailable | ErrorName::Unavailable => Code::Unavailable,
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            ERROR_NAME_METADATA,
            MetadataValue::from_static(e.name().as_str()),
        );
        if let Ok(id) = current_request_id().parse() {
            metadata.insert(REQUEST_ID_HEADER, id);
        }
        Status::with_metadata(code(e.name()), e.message().to_owned(), metadata)
    }
}

/// The credential a gRPC call presented in its `authorization` metadata.
pub fn presented(metadata: &MetadataMap) -> Presented<'_> {
    if metadata.get_all("authorization").iter().nth(1).is_some() {
        return Presented::Several;
    }
    match metadata.get("authorization").map(|v| v.to_str()) {
        None => Presented::Missing,
        Some(Err(_)) => Presented::NotAscii,
        Some(Ok(v)) => Presented::Value(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gRPC twin of "never 408/409/429/5xx for a client's mistake": codes whose canonical
    /// HTTP mapping is one of those are kept for Latchkey's faults and rate limits.
    #[test]
    fn client_mistakes_never_get_a_retryable_code() {
        for n in ErrorName::ALL {
            let client_fault = (400..500).contains(&n.status()) && *n != ErrorName::RateLimited;
            let retryable = matches!(
                code(*n),
                Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::AlreadyExists
                    | Code::ResourceExhausted
                    | Code::Unavailable
                    | Code::Internal
                    | Code::Unknown
                    | Code::DataLoss
                    | Code::Unimplemented
            );
            assert!(!(client_fault && retryable), "{n} -> {:?}", code(*n));
        }
    }

    #[test]
    fn status_carries_name_message_and_no_internals() {
        let s = Status::from(ApiError::internal(&"db password=hunter2 leaked"));
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.message(), "internal error");
        assert_eq!(
            s.metadata()
                .get(ERROR_NAME_METADATA)
                .and_then(|v| v.to_str().ok()),
            Some("internal_error")
        );
    }
}
