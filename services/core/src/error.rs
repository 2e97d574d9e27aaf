//! The errors of the domain layer. Transports map every variant exhaustively to an HTTP status
//! and a gRPC code; nothing here carries a secret.

use crate::crypto::CryptoError;

/// A failure of a store adapter, in terms the domain can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist for this tenant (another tenant's row answers the same).
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint refused the write; the string names what was duplicated.
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or refused the statement.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be decoded into a domain value.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table the row came from.
        table: &'static str,
        /// What was wrong with it (never the value itself).
        detail: String,
    },
}

/// A failure of a domain use case.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The object does not exist for the caller's tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An object with the same tenant-scoped identity already exists.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The caller's input is invalid; `field` names the offending field.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field that failed validation.
        field: &'static str,
        /// What is wrong, without echoing the value.
        message: String,
    },
    /// A scope that Discord reserves for approved apps (security.md P21).
    #[error("scope {0:?} is not allowed for this provider")]
    ScopeNotAllowed(String),
    /// Provider resolution found no instance (arcade-compat §7).
    #[error("no provider matches")]
    UnknownProvider,
    /// Several active instances share the requested provider id.
    #[error("several providers match")]
    AmbiguousProvider,
    /// The resolved provider instance is inactive.
    #[error("the provider is inactive")]
    ProviderInactive,
    /// The Discord client id is already registered by a provider (of any tenant; P6).
    #[error("this Discord client id is already registered")]
    ClientIdInUse,
    /// The tenant has neither a user verifier nor allowed skipping; the message says what to
    /// configure.
    #[error("{0}")]
    VerificationNotConfigured(&'static str),
    /// Discord could not be reached or refused a call Latchkey needed (no secret in it).
    #[error("Discord: {0}")]
    Upstream(String),
    /// Encryption or decryption failed; nothing is released.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The audit pipeline cannot accept an event (its queue is full or its store is failing):
    /// nothing is released (security.md I7).
    #[error("the audit pipeline cannot accept events")]
    AuditUnavailable,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => CoreError::NotFound("object"),
            StoreError::Conflict(what) => CoreError::AlreadyExists(what),
            other @ (StoreError::Unavailable(_) | StoreError::Corrupt { .. }) => {
                CoreError::Store(other)
            }
        }
    }
}
