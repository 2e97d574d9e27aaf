//! Run-time settings (§10.8): typed, defaulted, readable from a TOML file and changeable at run
//! time through `PATCH /__sim/settings` with flat dotted keys. Every unknown of §11 is one of
//! these knobs; the defaults are the spec's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SimError;

mod sections;

pub(crate) use sections::*;

/// All simulator settings. Construct with `Default`, [`Settings::from_toml`] or
/// [`Settings::set`]; the admin API reads and patches the same structure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub(crate) seed: u64,
    pub(crate) consent: ConsentSettings,
    pub(crate) oauth: OauthSettings,
    pub(crate) token: TokenSettings,
    pub(crate) refresh: RefreshSettings,
    pub(crate) reauth: ReauthSettings,
    pub(crate) pkce: PkceSettings,
    pub(crate) client_credentials: ClientCredentialsSettings,
    pub(crate) rest: RestSettings,
    pub(crate) join: JoinSettings,
    pub(crate) revoke: RevokeSettings,
    pub(crate) rate_limits: RateLimitSettings,
    pub(crate) log: LogSettings,
}

impl Settings {
    /// Parses a TOML settings file (nested tables, e.g. `[oauth]` `code_ttl_s = 5`).
    pub fn from_toml(text: &str) -> Result<Settings, SimError> {
        toml::from_str(text).map_err(|e| SimError::Setting(e.to_string()))
    }

    /// Sets one dotted key (`"oauth.code_ttl_s"`) to a JSON value, as `PATCH /__sim/settings`.
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), SimError> {
        let mut tree =
            serde_json::to_value(&*self).map_err(|e| SimError::Setting(e.to_string()))?;
        let unknown = || SimError::Setting(format!("unknown setting `{key}`"));
        let mut node = &mut tree;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let obj = node.as_object_mut().ok_or_else(unknown)?;
            let slot = obj.get_mut(part).ok_or_else(unknown)?;
            if parts.peek().is_none() {
                *slot = coerce(slot, value);
                break;
            }
            node = slot;
        }
        *self = serde_json::from_value(tree)
            .map_err(|e| SimError::Setting(format!("bad value for `{key}`: {e}")))?;
        Ok(())
    }
}

/// Lets `"400"`-style string settings also be written as numbers.
fn coerce(current: &Value, value: Value) -> Value {
    match (current, &value) {
        (Value::String(_), Value::Number(n)) => Value::String(n.to_string()),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_patch_typed_settings() {
        let mut s = Settings::default();
        s.set("oauth.code_ttl_s", json!(5)).unwrap();
        s.set("token.invalid_client_status", json!(400)).unwrap();
        s.set("rest.member_not_found_code", json!("10007")).unwrap();
        s.set(
            "rate_limits.routes",
            json!({"GET /users/@me": {"limit": 2, "window_s": 5}}),
        )
        .unwrap();
        assert_eq!(s.oauth.code_ttl_s, 5);
        assert_eq!(s.token.invalid_client_status, InvalidClientStatus::S400);
        assert_eq!(
            s.rest.member_not_found_code,
            MemberNotFoundCode::UnknownMember
        );
        assert_eq!(s.rate_limits.routes.len(), 1);
        let err = s.set("oauth.nope", json!(1)).unwrap_err().to_string();
        assert!(err.contains("oauth.nope"));
        assert!(s.set("token.format", json!("weird")).is_err());
    }

    #[test]
    fn toml_files_parse() {
        let s = Settings::from_toml("[token]\nformat = \"prefixed\"\n").unwrap();
        assert_eq!(s.token.format, TokenFormat::Prefixed);
        assert!(Settings::from_toml("[token]\nbogus = 1\n").is_err());
    }
}
