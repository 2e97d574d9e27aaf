//! Authorizations: what an app polls while its user consents. This module holds the status
//! values shared by the control plane (a tool's `token_status`) and the authorization service.

/// An authorization's status (specs/arcade-compat.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStatus {
    /// Created, link not opened.
    NotStarted,
    /// The user is somewhere between the start page and the verifier.
    Pending,
    /// A grant was made.
    Completed,
    /// Ended without a grant.
    Failed,
}

impl AuthorizationStatus {
    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "not_started" => Some(Self::NotStarted),
            "pending" => Some(Self::Pending),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}
