//! Discord's objects as Latchkey reads them (specs/discord.md §4.3, §6, §8.2). Parsing is
//! lenient about unknown and optional fields but strict about types: snowflakes and permission
//! bitfields must be decimal strings (never JSON numbers, which lose precision past 2^53).

use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Discord id: a 64-bit integer written as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Snowflake(pub u64);

/// Parses `^(0|[1-9][0-9]*)$` into a `u64`.
fn decimal_u64(s: &str) -> Option<u64> {
    let canonical =
        s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()));
    if canonical { s.parse().ok() } else { None }
}

impl Snowflake {
    /// Parses the string form.
    pub fn parse(s: &str) -> Option<Self> {
        decimal_u64(s).map(Self)
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Snowflake::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("a snowflake must be a decimal string"))
    }
}

/// A permission bitfield: a decimal string of up to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions(pub u64);

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        decimal_u64(&s)
            .map(Permissions)
            .ok_or_else(|| serde::de::Error::custom("permissions must be a decimal string"))
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A successful token response, checked: `token_type` is Bearer, `expires_in` is positive.
pub struct TokenSet {
    /// The access token.
    pub access_token: SecretString,
    /// The rotated refresh token (absent for client credentials).
    pub refresh_token: Option<SecretString>,
    /// Lifetime as Discord stated it.
    pub expires_in: Duration,
    /// When Latchkey treats the access token as expired (`now + expires_in − skew`).
    pub expires_at: SystemTime,
    /// The granted scopes, exactly as Discord returned them (space-separated).
    pub scope: String,
    /// Discord's `guild` extra (authorizations that included `bot`): the guild's id.
    pub guild_id: Option<Snowflake>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("guild_id", &self.guild_id)
            .finish()
    }
}

impl TokenSet {
    /// The granted scopes as a list.
    pub fn scopes(&self) -> Vec<&str> {
        self.scope.split_whitespace().collect()
    }
}

/// The raw token response (§4.3); extra fields (`guild`, `webhook`, `id_token`) are ignored.
#[derive(Deserialize)]
pub(crate) struct RawTokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Discord's extra for `bot` authorizations; only its id is kept.
    #[serde(default)]
    pub guild: Option<GuildRef>,
}

/// The id of a guild object embedded in another response.
#[derive(Deserialize)]
pub(crate) struct GuildRef {
    pub id: Snowflake,
}

/// An OAuth error body `{error, error_description?}` (§4.2).
#[derive(Deserialize)]
pub(crate) struct OAuthErrorBody {
    pub error: String,
}

/// A REST error body `{code, message}` (§6.0); also what 429/5xx look like on the token route.
#[derive(Deserialize)]
pub(crate) struct RestErrorBody {
    #[serde(default)]
    pub code: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A 429 body (§7.2).
#[derive(Deserialize)]
pub(crate) struct RateLimitBody {
    pub retry_after: f64,
    #[serde(default)]
    pub global: bool,
}

/// The current user (§6.2). `email`/`verified` only with the `email` scope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct DiscordUser {
    /// The user id.
    pub id: Snowflake,
    /// The unique handle.
    pub username: String,
    /// `"0"` for migrated users.
    #[serde(default)]
    pub discriminator: Option<String>,
    /// Display name.
    #[serde(default)]
    pub global_name: Option<String>,
    /// Avatar hash.
    #[serde(default)]
    pub avatar: Option<String>,
    /// The email (may be null even with the scope).
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the email is verified.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Locale, e.g. `en-US`.
    #[serde(default)]
    pub locale: Option<String>,
}

impl DiscordUser {
    /// `global_name ?? username`.
    pub fn display_name(&self) -> &str {
        self.global_name.as_deref().unwrap_or(&self.username)
    }
}

/// A partial guild from `/users/@me/guilds` (§6.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PartialGuild {
    /// The guild id.
    pub id: Snowflake,
    /// Its name.
    pub name: String,
    /// Whether the user owns it.
    #[serde(default)]
    pub owner: bool,
    /// The user's guild-level permissions.
    pub permissions: Permissions,
    /// Guild features.
    #[serde(default)]
    pub features: Vec<String>,
}

/// The user's member object in one guild (§6.4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GuildMember {
    /// Role ids (no names).
    #[serde(default)]
    pub roles: Vec<Snowflake>,
    /// Guild nickname.
    #[serde(default)]
    pub nick: Option<String>,
    /// Has not passed membership screening.
    #[serde(default)]
    pub pending: bool,
    /// ISO 8601 join time.
    #[serde(default)]
    pub joined_at: Option<String>,
}

/// `/oauth2/@me` (§6.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CurrentAuthorization {
    /// The scopes the user authorized for the app.
    pub scopes: Vec<String>,
    /// This access token's expiry (ISO 8601).
    pub expires: String,
    /// The user, with `identify`.
    #[serde(default)]
    pub user: Option<DiscordUser>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn snowflakes_are_strings_only() {
        let u: DiscordUser = serde_json::from_str(
            r#"{"id":"80351110224678912","username":"nelly","global_name":null}"#,
        )
        .unwrap();
        assert_eq!(u.id, Snowflake(80351110224678912));
        assert_eq!(u.display_name(), "nelly");
        for bad in [
            r#"{"id":80351110224678912,"username":"x"}"#,
            r#"{"id":"-1","username":"x"}"#,
            r#"{"id":"01","username":"x"}"#,
            r#"{"id":"18446744073709551616","username":"x"}"#,
            r#"{"id":"1e3","username":"x"}"#,
        ] {
            assert!(serde_json::from_str::<DiscordUser>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_beyond_2_pow_53() {
        let g: PartialGuild = serde_json::from_str(
            r#"{"id":"1","name":"g","permissions":"9007199254740993","owner":false,"extra":1}"#,
        )
        .unwrap();
        assert_eq!(g.permissions, Permissions(9_007_199_254_740_993));
        assert!(
            serde_json::from_str::<PartialGuild>(r#"{"id":"1","name":"g","permissions":36953089}"#)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn snowflake_round_trip(n in any::<u64>()) {
            prop_assert_eq!(Snowflake::parse(&n.to_string()), Some(Snowflake(n)));
        }

        #[test]
        fn snowflake_parser_never_panics(s in "\\PC{0,30}") {
            if let Some(id) = Snowflake::parse(&s) { prop_assert_eq!(id.to_string(), s); }
        }
    }
}
