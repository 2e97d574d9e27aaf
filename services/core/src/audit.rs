//! Audit events: who did what to which object, when, and with which request. Every
//! control-plane write is stored together with its event in one transaction, so a change
//! without its event (or an event without its change) cannot exist. Events never contain a
//! secret: targets are ids, never values.

use crate::time::UnixMillis;

/// Who is acting: a key id (or `cli` / `system`), and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `key_…` of the authenticated key, `operator:key_…`, `cli` or `system`.
    pub id: String,
    /// The request id, when there is one.
    pub request_id: Option<String>,
}

impl Actor {
    /// The command line (an operator at the host).
    pub fn cli() -> Self {
        Self {
            id: "cli".to_owned(),
            request_id: None,
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `evt_` and a time-sortable UUIDv7.
    pub id: String,
    /// When it happened.
    pub at: UnixMillis,
    /// Who acted.
    pub actor: String,
    /// What was done, e.g. `provider.create`.
    pub action: String,
    /// The object acted on (an id, never a secret).
    pub target: Option<String>,
    /// `success`.
    pub outcome: String,
    /// The request it came with.
    pub request_id: Option<String>,
}

impl AuditEvent {
    /// A successful action by `actor` on `target`.
    pub fn success(actor: &Actor, action: &str, target: impl Into<Option<String>>) -> Self {
        Self::success_by(actor.clone(), action, target)
    }

    /// [`AuditEvent::success`] taking the actor's strings over (a token release builds its
    /// actor for its event alone).
    pub fn success_by(actor: Actor, action: &str, target: impl Into<Option<String>>) -> Self {
        Self {
            id: crate::ids::new_prefixed("evt"),
            at: UnixMillis::now(),
            actor: actor.id,
            action: action.to_owned(),
            target: target.into(),
            outcome: "success".to_owned(),
            request_id: actor.request_id,
        }
    }
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<UnixMillis>,
    /// Before.
    pub until: Option<UnixMillis>,
}
