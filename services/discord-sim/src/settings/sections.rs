//! The typed sections and value enums of the settings tree (§10.8), each with the spec's
//! default and its wire spelling (snake_case, or `"400"`-style strings for status knobs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A consent decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Decision {
    Approve,
    Deny,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ConsentSettings {
    pub default_user: Option<String>,
    pub default_decision: Decision,
    /// `None` = mode default (true in test mode, false in demo mode).
    pub allow_query_overrides: Option<bool>,
    pub pending_ttl_s: i64,
}

impl Default for ConsentSettings {
    fn default() -> Self {
        Self {
            default_user: None,
            default_decision: Decision::Approve,
            allow_query_overrides: None,
            pending_ttl_s: 600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CodeTokenScope {
    Requested,
    Authorization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RedirectMatch {
    Exact,
    Any,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OauthSettings {
    pub code_ttl_s: i64,
    pub code_reuse_revokes_tokens: bool,
    pub code_token_scope: CodeTokenScope,
    pub default_redirect_when_omitted: bool,
    pub custom_scheme_requires_pkce: bool,
    pub legacy_authorize_redirect: bool,
    pub redirect_match: RedirectMatch,
    pub allow_code_reuse: bool,
    pub max_state_len: Option<usize>,
    pub max_scope_len: Option<usize>,
}

impl Default for OauthSettings {
    fn default() -> Self {
        Self {
            code_ttl_s: 100,
            code_reuse_revokes_tokens: false,
            code_token_scope: CodeTokenScope::Requested,
            default_redirect_when_omitted: true,
            custom_scheme_requires_pkce: true,
            legacy_authorize_redirect: true,
            redirect_match: RedirectMatch::Exact,
            allow_code_reuse: false,
            max_state_len: None,
            max_scope_len: None,
        }
    }
}

/// Shape of minted codes and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TokenFormat {
    DiscordLike,
    Prefixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum InvalidClientStatus {
    #[serde(rename = "400")]
    S400,
    #[serde(rename = "401")]
    S401,
    #[serde(rename = "by_auth_method")]
    ByAuthMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AcceptReject {
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorStyle {
    Current,
    #[serde(rename = "legacy_2020")]
    Legacy2020,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TokenSettings {
    pub access_ttl_s: i64,
    pub refresh_ttl_s: Option<i64>,
    pub format: TokenFormat,
    pub accept_query_params: bool,
    pub redirect_uri_optional_at_exchange: bool,
    pub invalid_client_status: InvalidClientStatus,
    pub both_client_auth_methods: AcceptReject,
    pub code_error_style: ErrorStyle,
    pub emit_cache_headers: bool,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_ttl_s: 604_800,
            refresh_ttl_s: None,
            format: TokenFormat::DiscordLike,
            accept_query_params: false,
            redirect_uri_optional_at_exchange: true,
            invalid_client_status: InvalidClientStatus::ByAuthMethod,
            both_client_auth_methods: AcceptReject::Accept,
            code_error_style: ErrorStyle::Current,
            emit_cache_headers: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScopeSource {
    Authorization,
    Token,
}

/// `refresh.dead_on_arrival`: `"off"`, `"all"` or a list of user ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum DeadOnArrival {
    Keyword(String),
    Users(Vec<String>),
}

impl DeadOnArrival {
    pub fn applies_to(&self, user_id: &str) -> bool {
        match self {
            Self::Keyword(k) => k == "all",
            Self::Users(ids) => ids.iter().any(|id| id == user_id),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RefreshSettings {
    pub revoke_old_access_token: bool,
    pub reuse_grace_s: i64,
    pub reuse_revokes_family: bool,
    pub scope_source: ScopeSource,
    pub dead_on_arrival: DeadOnArrival,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            revoke_old_access_token: true,
            reuse_grace_s: 0,
            reuse_revokes_family: false,
            scope_source: ScopeSource::Authorization,
            dead_on_arrival: DeadOnArrival::Keyword("off".to_owned()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReauthPolicy {
    KeepOld,
    RevokeOld,
    ReturnExisting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScopeMerge {
    Union,
    Replace,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ReauthSettings {
    pub policy: ReauthPolicy,
    pub scope_merge: ScopeMerge,
}

impl Default for ReauthSettings {
    fn default() -> Self {
        Self {
            policy: ReauthPolicy::KeepOld,
            scope_merge: ScopeMerge::Union,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PkceMode {
    Strict,
    Lenient,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WrongVerifierError {
    InvalidCodeVerifier,
    InvalidCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SecretlessExchange {
    PublicOnly,
    AnyApp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PkceSettings {
    pub mode: PkceMode,
    pub wrong_verifier_error: WrongVerifierError,
    pub secretless_exchange: SecretlessExchange,
}

impl Default for PkceSettings {
    fn default() -> Self {
        Self {
            mode: PkceMode::Strict,
            wrong_verifier_error: WrongVerifierError::InvalidCodeVerifier,
            secretless_exchange: SecretlessExchange::PublicOnly,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ClientCredentialsSettings {
    pub allowed_scopes: Vec<String>,
}

impl Default for ClientCredentialsSettings {
    fn default() -> Self {
        let scopes = "identify email connections guilds guilds.members.read \
                      applications.commands.update applications.builds.read \
                      applications.entitlements applications.store.update";
        Self {
            allowed_scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MemberNotFoundCode {
    #[serde(rename = "10004")]
    UnknownGuild,
    #[serde(rename = "10007")]
    UnknownMember,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WithCountsPolicy {
    Unauthorized,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UserAgentPolicy {
    Log,
    #[serde(rename = "reject_40333")]
    Reject40333,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RejectIgnore {
    Reject,
    Ignore,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RestSettings {
    pub api_versions: Vec<u32>,
    pub member_not_found_code: MemberNotFoundCode,
    pub with_counts_without_members_read: WithCountsPolicy,
    pub require_user_agent: UserAgentPolicy,
    pub token_in_query: RejectIgnore,
}

impl Default for RestSettings {
    fn default() -> Self {
        Self {
            api_versions: vec![6, 7, 8, 9, 10],
            member_not_found_code: MemberNotFoundCode::UnknownGuild,
            with_counts_without_members_read: WithCountsPolicy::Unauthorized,
            require_user_agent: UserAgentPolicy::Log,
            token_in_query: RejectIgnore::Reject,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RestrictedStatus {
    #[serde(rename = "400")]
    S400,
    #[serde(rename = "403")]
    S403,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct JoinSettings {
    pub apply_fields_to_existing_member: bool,
    pub restricted_status: RestrictedStatus,
    pub enforce_role_hierarchy: bool,
}

impl Default for JoinSettings {
    fn default() -> Self {
        Self {
            apply_fields_to_existing_member: false,
            restricted_status: RestrictedStatus::S403,
            enforce_role_hierarchy: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnknownTokenPolicy {
    OkEmpty,
    InvalidRequest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RevokeSettings {
    pub unknown_token: UnknownTokenPolicy,
}

impl Default for RevokeSettings {
    fn default() -> Self {
        Self {
            unknown_token: UnknownTokenPolicy::OkEmpty,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Profile {
    Lenient,
    Realistic,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BanResponse {
    #[serde(rename = "cloudflare_1015_html")]
    Cloudflare1015Html,
    #[serde(rename = "json_40333")]
    Json40333,
    #[serde(rename = "discord_429_blocked")]
    Discord429Blocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IpSource {
    Peer,
    XForwardedFor,
}

/// One per-route limit: `{"limit": 2, "window_s": 5}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteLimit {
    pub limit: u32,
    pub window_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RateLimitSettings {
    pub profile: Profile,
    /// Keyed by `"METHOD /template"`, e.g. `"GET /users/@me"`; overrides the profile.
    pub routes: BTreeMap<String, RouteLimit>,
    pub member_route_per_guild: bool,
    pub global_per_s: u32,
    pub invalid_limit: u32,
    pub invalid_window_s: i64,
    pub ban_duration_s: i64,
    pub ban_response: BanResponse,
    pub client_ip_source: IpSource,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            profile: Profile::Lenient,
            routes: BTreeMap::new(),
            member_route_per_guild: false,
            global_per_s: 50,
            invalid_limit: 10_000,
            invalid_window_s: 600,
            ban_duration_s: 86_400,
            ban_response: BanResponse::Cloudflare1015Html,
            client_ip_source: IpSource::Peer,
        }
    }
}

/// How secrets appear in the request log and the state dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SecretLog {
    Hash,
    Redact,
    Plain,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LogSettings {
    pub capacity: usize,
    pub secrets: SecretLog,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            secrets: SecretLog::Hash,
        }
    }
}
