//! The simulated Discord world's objects (§10.3): applications, users, guilds with roles,
//! members, bots and bans, and the OAuth2 artefacts (authorizations, codes, tokens). The
//! fixture file deserializes straight into the first group.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A permission bitfield; a decimal string on the wire (T12), a number accepted in fixtures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Perm(pub u64);

impl Serialize for Perm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Perm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Perm(n)),
            Raw::Text(t) => t.parse().map(Perm).map_err(serde::de::Error::custom),
        }
    }
}

fn yes() -> bool {
    true
}
fn zero_discriminator() -> String {
    "0".to_owned()
}
fn en_us() -> String {
    "en-US".to_owned()
}
fn max_guilds() -> usize {
    200
}

/// A registered application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct App {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub description: String,
    pub secret: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub public_client: bool,
    #[serde(default)]
    pub flags: u64,
    #[serde(default)]
    pub bot: Option<Bot>,
    /// Owner user id (subject of client_credentials tokens); the app id when absent.
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub approved_scopes: Vec<String>,
    #[serde(default = "yes")]
    pub bot_public: bool,
    #[serde(default)]
    pub bot_require_code_grant: bool,
    #[serde(default)]
    pub verify_key: Option<String>,
    #[serde(default)]
    pub hook: bool,
}

/// An application's bot user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Bot {
    pub user_id: String,
    pub token: String,
    pub username: String,
}

/// A Discord user account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct User {
    pub id: String,
    pub username: String,
    #[serde(default = "zero_discriminator")]
    pub discriminator: String,
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub banner: Option<String>,
    #[serde(default)]
    pub accent_color: Option<i64>,
    #[serde(default = "en_us")]
    pub locale: String,
    #[serde(default)]
    pub mfa_enabled: bool,
    #[serde(default)]
    pub flags: u64,
    #[serde(default)]
    pub public_flags: u64,
    #[serde(default)]
    pub premium_type: u8,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub account_banned: bool,
    #[serde(default)]
    pub join_restricted: bool,
    #[serde(default = "max_guilds")]
    pub max_guilds: usize,
    #[serde(default)]
    pub connections: Vec<Connection>,
}

/// A linked third-party account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Connection {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub friend_sync: bool,
    #[serde(default = "yes")]
    pub show_activity: bool,
    #[serde(default)]
    pub two_way_link: bool,
    #[serde(default)]
    pub visibility: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
}

/// A guild (server).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Guild {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub banner: Option<String>,
    pub owner_id: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub screening: bool,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub bots: Vec<GuildBot>,
    #[serde(default)]
    pub bans: Vec<String>,
    #[serde(default)]
    pub approximate_member_count: Option<u64>,
    #[serde(default)]
    pub approximate_presence_count: Option<u64>,
}

/// A guild role; the `@everyone` role's id is the guild id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Role {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub permissions: Perm,
    #[serde(default)]
    pub position: u32,
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub hoist: bool,
    #[serde(default)]
    pub mentionable: bool,
}

/// A guild member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Member {
    pub user_id: String,
    #[serde(default)]
    pub nick: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub banner: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Rendered timestamp; filled with load time when absent.
    #[serde(default)]
    pub joined_at: Option<String>,
    #[serde(default)]
    pub premium_since: Option<String>,
    #[serde(default)]
    pub deaf: bool,
    #[serde(default)]
    pub mute: bool,
    #[serde(default)]
    pub flags: u64,
    #[serde(default)]
    pub pending: bool,
    #[serde(default)]
    pub communication_disabled_until: Option<String>,
}

/// An application's bot placed in a guild. Without `role_ids` the bot is treated as holding
/// its managed role at the top of the hierarchy, with `permissions` as that role's bits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GuildBot {
    pub app_id: String,
    #[serde(default)]
    pub role_ids: Vec<String>,
    #[serde(default)]
    pub permissions: Option<Perm>,
}

/// A pre-existing consent in a fixture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthorizationFixture {
    pub user_id: String,
    pub app_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// One (user, app) authorization (§2: one per pair).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Authorization {
    pub user_id: String,
    pub app_id: String,
    pub scopes: Vec<String>,
    pub created_at_ms: i64,
}

/// An authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub app_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    /// The effective redirect URI the code is bound to.
    pub redirect_uri: String,
    /// The `redirect_uri` exactly as the client sent it at authorize, if it sent one.
    pub sent_redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub consumed_at_ms: Option<i64>,
    pub issued_access: Vec<String>,
}

/// How an access token came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    Code,
    Refresh,
    ClientCredentials,
    Implicit,
}

/// A Bearer access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub app_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub via: Via,
    pub refresh_token: Option<String>,
    pub dead_on_arrival: bool,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub app_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub issued_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub consumed_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub access_token: String,
}
