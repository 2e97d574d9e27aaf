//! Errors: Latchkey's answers with their stable `name`s, transport failures, and the two
//! outcomes of waiting that are not a completed authorization.

use latchkey_api::ErrorName;

use crate::auth::Authorization;

/// What went wrong in a Latchkey call.
///
/// Latchkey's own refusals are [`Error::Api`]; match on their [`ApiError::name`]:
///
/// ```no_run
/// # async fn f(client: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
/// use latchkey_sdk::{Error, ErrorName};
/// match client.auth().start("alice", "discord", ["guilds"]).await {
///     Ok(auth) => println!("{:?}", auth.status),
///     Err(Error::Api(e)) if e.name == Some(ErrorName::ScopeNotAllowed) => {
///         println!("ask the tenant admin to allow that scope: {}", e.message)
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Latchkey answered with an error body (a 4xx, or a 5xx after the retries).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The user must authorize first (403 `authorization_required` on a token or proxy call):
    /// show them `url`, then ask again.
    #[error("authorization required: the user must open {url}")]
    AuthorizationRequired {
        /// The authorization to wait for (`auth.wait_for_completion`).
        authorization_id: String,
        /// The start link for the user's browser.
        url: String,
    },
    /// The authorization ended `failed` (consent denied, verifier refused, expired…).
    #[error("authorization {} failed", .0.id)]
    Failed(Box<Authorization>),
    /// `wait_for_completion` gave up: the authorization was still pending at the deadline.
    #[error("authorization {authorization_id} still pending at the deadline")]
    Timeout {
        /// The authorization that is still pending.
        authorization_id: String,
    },
    /// The request never got an answer (connection refused, reset, timed out), after the
    /// retries.
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// A non-2xx answer that is not Latchkey's error body: Discord's own error passed through
    /// the proxy (`{"message", "code"}`, a 429 with `retry_after`), or an intermediary's.
    #[error("upstream answered {status}: {body}")]
    Upstream {
        /// The HTTP status.
        status: u16,
        /// The body (JSON when it was JSON, else a string).
        body: serde_json::Value,
    },
    /// Latchkey answered something this SDK cannot read.
    #[error("unexpected answer ({status}): {message}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not parse.
        message: String,
    },
    /// The client is misconfigured (a missing key or a bad base URL).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The stable error name, when Latchkey gave one.
    pub fn name(&self) -> Option<ErrorName> {
        match self {
            Error::Api(e) => e.name,
            Error::AuthorizationRequired { .. } => Some(ErrorName::AuthorizationRequired),
            Error::Failed(_)
            | Error::Timeout { .. }
            | Error::Transport(_)
            | Error::Upstream { .. }
            | Error::Decode { .. }
            | Error::Config(_) => None,
        }
    }
}

/// One of Latchkey's error answers: `{"name", "message", "request_id"}` and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {raw_name}: {message} (request {request_id})")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The stable name, when it is one this SDK knows (a newer server may add names).
    pub name: Option<ErrorName>,
    /// The name as sent.
    pub raw_name: String,
    /// The human-readable sentence (never a secret).
    pub message: String,
    /// The request id, for the server's logs.
    pub request_id: String,
}

/// The known name spelled `raw`.
pub(crate) fn parse_name(raw: &str) -> Option<ErrorName> {
    ErrorName::ALL.iter().copied().find(|n| n.as_str() == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rest_name_maps_to_its_variant() {
        for n in ErrorName::ALL {
            assert_eq!(parse_name(n.as_str()), Some(*n));
        }
        assert_eq!(parse_name("something_new"), None);
    }
}
