//! A tenant's session-verification settings (specs/arcade-compat.md §10.3; security.md V1,
//! V14): which verifier confirms users, whether verification is skipped (development only),
//! and which origins `next_uri` may point to.

use crate::time::UnixMillis;

/// Session-verification settings. The default (nothing configured) fails closed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerificationSettings {
    /// The tenant's verifier endpoint (validated by [`crate::urls::verifier_url`]).
    pub verifier_url: Option<String>,
    /// Development only: complete flows without a verifier.
    pub unsafe_skip_verification: bool,
    /// Origins `next_uri` may name (validated by [`crate::urls::origin`]).
    pub allowed_next_uri_origins: Vec<String>,
    /// When they last changed.
    pub updated_at: UnixMillis,
}
