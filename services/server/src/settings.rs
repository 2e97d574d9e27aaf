//! Typed, layered settings: built-in defaults, then an optional TOML file (`--config`), then
//! environment variables `LATCHKEY__SECTION__KEY`. Unknown keys are errors; values are
//! validated at start with messages that name the offending key; secrets are `SecretString`s
//! that print as `[REDACTED]`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use latchkey_core::apikey::PresentedKey;
use latchkey_core::crypto::KeyMaterial;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// All of Latchkey's settings.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the embedded database and generated key files live.
    pub data_dir: PathBuf,
    /// Listeners and public URL.
    pub server: ServerSettings,
    /// The database.
    pub database: DatabaseSettings,
    /// Master keys for encryption at rest.
    pub encryption: EncryptionSettings,
    /// API-key peppers and the operator key.
    pub auth: AuthSettings,
    /// Logging.
    pub log: LogSettings,
    /// Discord.
    pub discord: DiscordSettings,
}

/// Discord.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordSettings {
    /// Origins (`scheme://host[:port]`) a provider may use instead of discord.com: the
    /// simulator or an egress proxy. Empty: providers always talk to discord.com.
    pub allowed_endpoint_origins: Vec<String>,
    /// Invalid answers (401, 403, 429) this process may get from Discord in ten minutes before
    /// its breaker opens. Discord bans an IP address at 10,000; replicas sharing an egress
    /// address should split a budget below that.
    pub invalid_request_budget: usize,
    /// Seconds an open breaker fails calls before it lets one probe through.
    pub breaker_open_secs: u64,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        let breaker = latchkey_discord::breaker::BreakerConfig::default();
        Self {
            allowed_endpoint_origins: Vec::new(),
            invalid_request_budget: breaker.trip_at,
            breaker_open_secs: breaker.open_for.as_secs(),
        }
    }
}

impl DiscordSettings {
    /// The breaker these settings give: it warns at half the budget.
    pub fn breaker(&self) -> latchkey_discord::breaker::BreakerConfig {
        latchkey_discord::breaker::BreakerConfig {
            warn_at: self.invalid_request_budget.div_ceil(2),
            trip_at: self.invalid_request_budget,
            open_for: Duration::from_secs(self.breaker_open_secs),
            ..Default::default()
        }
    }
}

/// Listeners.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// REST `/v1`, gRPC, browser pages and the dashboard.
    pub api_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub ops_addr: SocketAddr,
    /// The URL users and Discord reach the API listener at (start links, callbacks).
    pub public_url: String,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// The built dashboard (`dashboard/dist`, from `make dashboard`), served at `/dashboard`.
    pub dashboard_dir: PathBuf,
}

/// The database. `Debug` hides the URL's password.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://…`; unset means `sqlite://<data_dir>/latchkey.db`.
    #[serde(serialize_with = "redact_url_password")]
    pub url: Option<String>,
    /// Run migrations at start; unset means on for SQLite, off for PostgreSQL.
    pub auto_migrate: Option<bool>,
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout_secs: u64,
}

/// Master keys.
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionSettings {
    /// Base64 256-bit keys; the first encrypts, all decrypt. Empty means the key file.
    #[serde(deserialize_with = "one_or_many", serialize_with = "redact_list")]
    pub master_keys: Vec<SecretString>,
    /// The key file used when `master_keys` is empty; default `<data_dir>/master.key`.
    pub key_file: Option<PathBuf>,
}

/// API-key hashing and the operator key.
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Base64 256-bit peppers; the first hashes new keys, all verify. Empty means the file.
    #[serde(deserialize_with = "one_or_many", serialize_with = "redact_list")]
    pub peppers: Vec<SecretString>,
    /// The pepper file used when `peppers` is empty; default `<data_dir>/pepper.key`.
    pub pepper_file: Option<PathBuf>,
    /// A platform operator key given by configuration (`lk_…`); when set, none is generated.
    #[serde(serialize_with = "redact_option")]
    pub operator_key: Option<SecretString>,
    /// Whether tenants may set `unsafe_skip_verification` (development only). Unset: allowed on
    /// the embedded SQLite default, forbidden on PostgreSQL.
    pub allow_unsafe_skip_verification: Option<bool>,
    /// Whether tenant URLs (verifier, next_uri origins) may be `http://` on loopback (tests).
    pub allow_insecure_loopback_urls: bool,
    /// How long an authorization's flow lives, in seconds (consent, callback and
    /// `confirm_user` must all happen within it). Default 600, at most 3600.
    pub flow_lifetime_secs: Option<u64>,
    /// How long an ended authorization stays readable, in seconds (an authorization that backs
    /// an active grant is kept). Default 86400.
    pub authorization_retention_secs: Option<u64>,
    /// How long a tool grant (JWT) is valid, in seconds. Default 300, at most 3600.
    pub tool_grant_ttl_secs: Option<u64>,
    /// Access tokens expiring sooner than this many seconds are refreshed before they are
    /// released. Default 300, at most 3000.
    pub refresh_margin_secs: Option<u64>,
    /// How often the keep-alive refreshes grants that expire within the hour, in seconds.
    /// Default 60.
    pub keep_alive_secs: Option<u64>,
    /// How long a released access token is served again from memory (the warm-token cache),
    /// in seconds; revocations reach every replica at once, this bounds a missed notice.
    /// Default 10, at most 60; 0 turns the cache off.
    pub token_cache_ttl_secs: Option<u64>,
    /// How often the audit pipeline persists accepted token releases, in milliseconds
    /// (also after every `audit_flush_batch`). Default 1000, 10 – 60000.
    pub audit_flush_interval_ms: Option<u64>,
    /// How many accepted token releases the audit pipeline writes at most in one transaction
    /// (and writes as soon as that many are queued). Default 5000, 100 – 50000.
    pub audit_flush_batch: Option<usize>,
    /// How many accepted, unwritten audit events the pipeline holds before token releases stop
    /// (503). Default 50000, at least 1.
    pub audit_queue_capacity: Option<usize>,
    /// How long a dashboard session lasts, in seconds. Default 28800 (8 h), 60 – 604800.
    pub dashboard_session_secs: Option<u64>,
}

/// Log output.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `latchkey=debug,info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./latchkey-data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            encryption: EncryptionSettings::default(),
            auth: AuthSettings::default(),
            log: LogSettings::default(),
            discord: DiscordSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            api_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ops_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            public_url: "http://127.0.0.1:8080".to_owned(),
            shutdown_grace_secs: 20,
            dashboard_dir: PathBuf::from("dashboard/dist"),
        }
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_deref().map(redact_password))
            .field("auto_migrate", &self.auto_migrate)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .finish()
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            auto_migrate: None,
            max_connections: 10,
            acquire_timeout_secs: 5,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Why the settings cannot be used. Each message names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file, an environment variable, or a value's type is wrong.
    #[error("{0}")]
    Load(String),
    /// A value parsed but is not acceptable.
    #[error("{key}: {message}")]
    Invalid {
        /// The dotted key, e.g. `encryption.master_keys[1]`.
        key: String,
        /// What is wrong with it (never the value of a secret).
        message: String,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Settings {
    /// Loads defaults, then `config_file` (which must exist when given), then the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(config_file, Env::prefixed("LATCHKEY__").split("__"))
    }

    /// As [`Settings::load`], with the environment provider given (tests use a fixed one).
    pub fn load_from(config_file: Option<&Path>, env: Env) -> Result<Self, SettingsError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(SettingsError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment.merge(env).extract().map_err(|e| {
            SettingsError::Load(
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:// (embedded) or postgres:// (PostgreSQL)",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        for (i, k) in self.encryption.master_keys.iter().enumerate() {
            KeyMaterial::from_base64(k.expose_secret())
                .map_err(|e| invalid(format!("encryption.master_keys[{i}]"), e.to_string()))?;
        }
        for (i, k) in self.auth.peppers.iter().enumerate() {
            KeyMaterial::from_base64(k.expose_secret())
                .map_err(|e| invalid(format!("auth.peppers[{i}]"), e.to_string()))?;
        }
        if let Some(k) = &self.auth.operator_key {
            PresentedKey::parse(k.expose_secret()).map_err(|e| {
                invalid(
                    "auth.operator_key",
                    format!("{e}; generate one with `latchkey keys generate-api-key`"),
                )
            })?;
        }
        let public = &self.server.public_url;
        if !(public.starts_with("http://") || public.starts_with("https://"))
            || public.contains(char::is_whitespace)
        {
            return Err(invalid(
                "server.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.server.api_addr == self.server.ops_addr && self.server.api_addr.port() != 0 {
            return Err(invalid(
                "server.ops_addr",
                "must differ from server.api_addr",
            ));
        }
        for (i, origin) in self.discord.allowed_endpoint_origins.iter().enumerate() {
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|rest| {
                    !rest.is_empty()
                        && !rest.contains(['/', '?', '#', '@', ' '])
                        && !rest.ends_with('.')
                });
            if !bare {
                return Err(invalid(
                    format!("discord.allowed_endpoint_origins[{i}]"),
                    "must be an origin: http(s)://host[:port], with no path, userinfo or trailing dot",
                ));
            }
        }
        if !(1..=10_000).contains(&self.discord.invalid_request_budget) {
            return Err(invalid(
                "discord.invalid_request_budget",
                "must be 1–10000 (Discord bans an address at 10,000 invalid requests in ten minutes)",
            ));
        }
        if !(1..=3_600).contains(&self.discord.breaker_open_secs) {
            return Err(invalid("discord.breaker_open_secs", "must be 1–3600"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", format!("not a valid filter: {e}")))?;
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("latchkey.db").display()))
    }

    /// Whether the database is the embedded SQLite one.
    pub fn is_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// How long an authorization's flow lives (`auth.flow_lifetime_secs`, 1 s – 1 h).
    pub fn flow_lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.auth.flow_lifetime_secs.unwrap_or(600).clamp(1, 3600))
    }

    /// The refresh margin (`auth.refresh_margin_secs`, 0 – 3000 s).
    pub fn refresh_margin(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.auth
                .refresh_margin_secs
                .unwrap_or(latchkey_core::custody::REFRESH_MARGIN.as_secs())
                .min(3000),
        )
    }

    /// How often the keep-alive runs (`auth.keep_alive_secs`, at least 1 s).
    pub fn keep_alive_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.auth.keep_alive_secs.unwrap_or(60).max(1))
    }

    /// How long a tool grant is valid (`auth.tool_grant_ttl_secs`, 1 s – 1 h).
    pub fn tool_grant_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.auth.tool_grant_ttl_secs.unwrap_or(300).clamp(1, 3600))
    }

    /// How long a dashboard session lasts (`auth.dashboard_session_secs`, 1 min – 7 days).
    pub fn dashboard_session_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.auth
                .dashboard_session_secs
                .unwrap_or(8 * 3600)
                .clamp(60, 7 * 24 * 3600),
        )
    }

    /// How long a warm token is served from memory (`auth.token_cache_ttl_secs`, 0 – 60 s).
    pub fn token_cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.auth
                .token_cache_ttl_secs
                .unwrap_or(latchkey_core::warm::WARM_TTL.as_secs())
                .min(60),
        )
    }

    /// How often the audit pipeline flushes (`auth.audit_flush_interval_ms`, 10 ms – 60 s).
    pub fn audit_flush_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.auth
                .audit_flush_interval_ms
                .unwrap_or(
                    u64::try_from(latchkey_core::audit_pipeline::FLUSH_INTERVAL.as_millis())
                        .unwrap_or(1000),
                )
                .clamp(10, 60_000),
        )
    }

    /// How many events the audit pipeline writes at once (`auth.audit_flush_batch`, 100 – 50,000).
    pub fn audit_flush_batch(&self) -> usize {
        self.auth
            .audit_flush_batch
            .unwrap_or(latchkey_core::audit_pipeline::FLUSH_BATCH)
            .clamp(100, 50_000)
    }

    /// How many unwritten audit events may queue (`auth.audit_queue_capacity`, at least 1).
    pub fn audit_queue_capacity(&self) -> usize {
        self.auth
            .audit_queue_capacity
            .unwrap_or(latchkey_core::audit_pipeline::QUEUE_CAPACITY)
            .max(1)
    }

    /// How long ended authorizations are kept (`auth.authorization_retention_secs`, at least 1 s).
    pub fn authorization_retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.auth
                .authorization_retention_secs
                .unwrap_or(86_400)
                .max(1),
        )
    }

    /// Whether tenants may turn verification off (development only; closed on PostgreSQL unless
    /// the operator says otherwise).
    pub fn skip_verification_allowed(&self) -> bool {
        self.auth
            .allow_unsafe_skip_verification
            .unwrap_or_else(|| self.is_sqlite())
    }

    /// Whether to migrate at start.
    pub fn auto_migrate(&self) -> bool {
        self.database
            .auto_migrate
            .unwrap_or_else(|| self.is_sqlite())
    }

    /// The effective settings as TOML, every secret redacted (`latchkey config check`).
    pub fn to_redacted_toml(&self) -> String {
        let mut effective = toml::Table::try_from(self).unwrap_or_default();
        if let Some(toml::Value::Table(db)) = effective.get_mut("database") {
            db.insert(
                "url".to_owned(),
                toml::Value::String(redact_password(&self.database_url())),
            );
            db.insert(
                "auto_migrate".to_owned(),
                toml::Value::Boolean(self.auto_migrate()),
            );
        }
        if let Some(toml::Value::Table(auth)) = effective.get_mut("auth") {
            auth.insert(
                "allow_unsafe_skip_verification".to_owned(),
                toml::Value::Boolean(self.skip_verification_allowed()),
            );
        }
        toml::to_string_pretty(&effective).unwrap_or_default()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:[REDACTED]@host/db`; a `password=`
/// query parameter is redacted too.
pub fn redact_password(url: &str) -> String {
    let url = redact_userinfo_password(url);
    match url.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=[REDACTED]"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => url,
    }
}

fn redact_userinfo_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:[REDACTED]{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

fn redact_url_password<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(u) => s.serialize_some(&redact_password(u)),
        None => s.serialize_none(),
    }
}

fn redact_list<S: Serializer>(v: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|_| "[REDACTED]"))
}

fn redact_option<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("[REDACTED]"),
        None => s.serialize_none(),
    }
}

/// Accepts a single string or a list of strings.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![SecretString::from(s)],
        OneOrMany::Many(v) => v.into_iter().map(SecretString::from).collect(),
    })
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redacted_toml_hide_every_secret() {
        let mut s = Settings::default();
        s.database.url = Some("postgres://app:hunter2@db:5432/latchkey".to_owned());
        s.encryption.master_keys = vec![SecretString::from("master-secret-material")];
        s.auth.peppers = vec![SecretString::from("pepper-secret-material")];
        s.auth.operator_key = Some(SecretString::from("lk_operator-secret-material"));
        for shown in [format!("{s:?}"), s.to_redacted_toml()] {
            for secret in [
                "hunter2",
                "master-secret-material",
                "pepper-secret-material",
                "operator-secret-material",
            ] {
                assert!(!shown.contains(secret), "{secret} leaked in:\n{shown}");
            }
            assert!(shown.contains("app:[REDACTED]@db"), "{shown}");
        }
    }

    #[test]
    fn audit_flush_batch_defaults_and_bounds() {
        let mut s = Settings::default();
        assert_eq!(s.audit_flush_batch(), 5_000);
        for (set, got) in [(1, 100), (20_000, 20_000), (10_000_000, 50_000)] {
            s.auth.audit_flush_batch = Some(set);
            assert_eq!(s.audit_flush_batch(), got, "{set}");
        }
    }

    #[test]
    fn password_redaction() {
        assert_eq!(
            redact_password("postgres://u:p@h/db"),
            "postgres://u:[REDACTED]@h/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_password("postgres://u:p:q@h:1/db?x=@"),
            "postgres://u:[REDACTED]@h:1/db?x=@"
        );
        assert_eq!(
            redact_password("sqlite://./a:b@c.db"),
            "sqlite://./a:b@c.db"
        );
        assert_eq!(
            redact_password("postgres://u@h/db?sslmode=require&password=hunter2"),
            "postgres://u@h/db?sslmode=require&password=[REDACTED]"
        );
    }
}
