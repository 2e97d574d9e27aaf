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
    /// What happens when a user's re-authorization yields another Discord account.
    pub account_switch: AccountSwitch,
    /// When they last changed.
    pub updated_at: UnixMillis,
}

/// The tenant's policy for a re-authorization that yields a different Discord account than the
/// user's current grant (security.md V10). Either way the switch is audited
/// (`account_switched`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountSwitch {
    /// The new grant replaces the old one (which is revoked at Discord).
    #[default]
    Notify,
    /// The new grant waits (`awaiting_ack`) and the old one stays active until an admin
    /// acknowledges the switch.
    RequireAck,
}

impl AccountSwitch {
    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::RequireAck => "require_ack",
        }
    }

    /// Parses the stored and wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "notify" => Some(Self::Notify),
            "require_ack" => Some(Self::RequireAck),
            _ => None,
        }
    }
}
