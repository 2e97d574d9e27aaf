//! Authentication of API keys: grammar check, look-up by key id, constant-time HMAC
//! comparison, revocation, and a short cache so that revocation reaches every replica within
//! five seconds (security.md B18, K1–K18).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::apikey::{KeyCheck, KeyHash, KeyParseError, KeyRole, Peppers, PresentedKey};
use crate::cache::Change;
use crate::ports::{ApiKeyStore, AuthKeyRecord};
use crate::time::UnixMillis;
use crate::{ApiKeyId, TenantId, ToolId};

/// Who is calling, as established from a valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The platform operator.
    Operator {
        /// The key that authenticated.
        key_id: ApiKeyId,
    },
    /// A tenant's admin, app or tool key.
    Tenant(TenantPrincipal),
}

/// A tenant key's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPrincipal {
    /// The tenant every later call is scoped to.
    pub tenant: TenantId,
    /// The key that authenticated.
    pub key_id: ApiKeyId,
    /// The key's role.
    pub role: KeyRole,
    /// For tool keys, the bound tool.
    pub tool_id: Option<ToolId>,
}

/// Why authentication failed. Logged (without the key); the wire answer is the same for all.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    /// The key is not well-formed.
    #[error("{0}")]
    Malformed(#[from] KeyParseError),
    /// No key has this id.
    #[error("unknown key id")]
    UnknownKey,
    /// The id exists but the secret does not match.
    #[error("wrong secret")]
    WrongSecret,
    /// The key was revoked.
    #[error("revoked key")]
    Revoked,
    /// The key store could not be reached; the caller should answer 503, not 401.
    #[error("key store unavailable: {0}")]
    Unavailable(String),
}

/// A dashboard session: an admin key signed in to the dashboard. The browser holds only the
/// session's secret (an HttpOnly cookie); the store holds its SHA-256 and this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSession {
    /// The tenant.
    pub tenant: TenantId,
    /// The admin key that signed in; revoking it ends the session.
    pub key_id: ApiKeyId,
    /// When it started.
    pub created_at: UnixMillis,
    /// When it ends.
    pub expires_at: UnixMillis,
}

/// The stored form of a session secret.
pub fn session_hash(secret: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).to_vec()
}

/// The CSRF token of a session: the dashboard sends it in `X-CSRF-Token` on every write. It is
/// derived from the secret the HttpOnly cookie holds, so only a page that was given it (by
/// `GET /v1/dashboard/session`) can send it.
pub fn csrf_token(secret: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"latchkey dashboard csrf");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `sent` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(secret: &str, sent: &str) -> bool {
    use subtle::ConstantTimeEq;
    let want = csrf_token(secret);
    !want.is_empty() && bool::from(want.as_bytes().ct_eq(sent.as_bytes()))
}

/// How long a looked-up key record is trusted before it is read again.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);

/// Authenticates presented keys.
pub struct Authenticator {
    store: Arc<dyn ApiKeyStore>,
    peppers: Arc<Peppers>,
    configured_operator: Option<(ApiKeyId, KeyHash)>,
    /// Shared records: a hit hands out the `Arc`, not a copy of the record's strings. Read on
    /// every request: moka's sync cache, which polls no future for a look-up that never waits
    /// (the async cache's hit was 2.3 % of the warm token fetch's samples).
    cache: moka::sync::Cache<ApiKeyId, Option<Arc<AuthKeyRecord>>>,
    /// Where a miss loads: concurrent misses of one key share one read of the store
    /// (`try_get_with`), and the record goes into `cache` from there. Dropped along with
    /// `cache`'s entries, and before them.
    loads: moka::future::Cache<ApiKeyId, Option<Arc<AuthKeyRecord>>>,
}

impl Authenticator {
    /// An authenticator. `configured_operator` is an operator key given by configuration; it
    /// must be a well-formed key.
    pub fn new(
        store: Arc<dyn ApiKeyStore>,
        peppers: Arc<Peppers>,
        configured_operator: Option<&SecretString>,
    ) -> Result<Self, KeyParseError> {
        let configured_operator = configured_operator
            .map(|k| {
                PresentedKey::parse(k.expose_secret()).map(|p| (p.id(), peppers.hash(p.secret())))
            })
            .transpose()?;
        Ok(Self {
            store,
            peppers,
            configured_operator,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(AUTH_CACHE_TTL)
                .support_invalidation_closures()
                .build(),
            loads: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(AUTH_CACHE_TTL)
                .support_invalidation_closures()
                .build(),
        })
    }

    /// Checks a presented key and says who it belongs to.
    pub async fn authenticate(&self, raw: &str) -> Result<Principal, AuthFailure> {
        let presented = PresentedKey::parse(raw)?;
        let id = presented.id();
        if let Some((op_id, op_hash)) = &self.configured_operator
            && *op_id == id
        {
            return match self.peppers.verify(op_hash, presented.secret()) {
                KeyCheck::Valid { .. } => Ok(Principal::Operator { key_id: id }),
                KeyCheck::Invalid => Err(AuthFailure::WrongSecret),
            };
        }
        let Some(rec) = self.lookup(id).await? else {
            self.peppers.burn(presented.secret());
            return Err(AuthFailure::UnknownKey);
        };
        match self.peppers.verify(&rec.hash, presented.secret()) {
            KeyCheck::Invalid => return Err(AuthFailure::WrongSecret),
            KeyCheck::Valid { rehash: Some(new) } => {
                if let Err(e) = self.store.update_key_hash(id, &new).await {
                    tracing::warn!(key_id = %id, error = %e, "could not re-store a key hash under the newest pepper");
                }
                self.loads.invalidate(&id).await;
                self.cache.invalidate(&id);
            }
            KeyCheck::Valid { rehash: None } => {}
        }
        if rec.revoked_at.is_some() {
            return Err(AuthFailure::Revoked);
        }
        match (rec.role, rec.tenant) {
            (KeyRole::Operator, _) => Ok(Principal::Operator { key_id: id }),
            (role @ (KeyRole::Admin | KeyRole::App | KeyRole::Tool), Some(tenant)) => {
                Ok(Principal::Tenant(TenantPrincipal {
                    tenant,
                    key_id: id,
                    role,
                    // A stored tool id that does not parse binds no tool (the key is refused
                    // where a tool is needed).
                    tool_id: rec.tool_id.as_deref().and_then(|t| ToolId::parse(t).ok()),
                }))
            }
            (KeyRole::Admin | KeyRole::App | KeyRole::Tool, None) => Err(AuthFailure::UnknownKey),
        }
    }

    /// Signs an **admin** key in to the dashboard for `ttl`: the new session's secret (for the
    /// cookie), its principal and record. Any other valid key is `Err(None)` (wrong role); an
    /// invalid one `Err(Some(failure))`.
    pub async fn open_session(
        &self,
        raw_key: &str,
        ttl: Duration,
        audit: impl FnOnce(&TenantPrincipal) -> crate::audit::AuditEvent,
    ) -> Result<(SecretString, TenantPrincipal, DashboardSession), Option<AuthFailure>> {
        let p = match self.authenticate(raw_key).await.map_err(Some)? {
            Principal::Tenant(p) if p.role == KeyRole::Admin => p,
            Principal::Tenant(_) | Principal::Operator { .. } => return Err(None),
        };
        use base64::Engine;
        let secret =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let now = UnixMillis::now();
        let session = DashboardSession {
            tenant: p.tenant,
            key_id: p.key_id,
            created_at: now,
            expires_at: UnixMillis(
                now.0
                    .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            ),
        };
        self.store
            .insert_dashboard_session(&session_hash(&secret), &session, &audit(&p))
            .await
            .map_err(|e| Some(AuthFailure::Unavailable(e.to_string())))?;
        Ok((SecretString::from(secret), p, session))
    }

    /// Who a session secret stands for: an unexpired session whose admin key is still valid.
    pub async fn session(
        &self,
        secret: &str,
    ) -> Result<(TenantPrincipal, DashboardSession), AuthFailure> {
        // A session secret is 43 URL-safe characters; anything else is not one.
        if secret.len() != 43
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AuthFailure::UnknownKey);
        }
        let s = self
            .store
            .dashboard_session(&session_hash(secret))
            .await
            .map_err(|e| AuthFailure::Unavailable(e.to_string()))?
            .ok_or(AuthFailure::UnknownKey)?;
        if s.expires_at.0 <= UnixMillis::now().0 {
            return Err(AuthFailure::Revoked);
        }
        let rec = self
            .lookup(s.key_id)
            .await?
            .ok_or(AuthFailure::UnknownKey)?;
        if rec.revoked_at.is_some() {
            return Err(AuthFailure::Revoked);
        }
        match (rec.role, rec.tenant) {
            (KeyRole::Admin, Some(tenant)) if tenant == s.tenant => Ok((
                TenantPrincipal {
                    tenant,
                    key_id: s.key_id,
                    role: KeyRole::Admin,
                    tool_id: None,
                },
                s,
            )),
            (KeyRole::Admin | KeyRole::App | KeyRole::Tool | KeyRole::Operator, _) => {
                Err(AuthFailure::UnknownKey)
            }
        }
    }

    /// Ends the session `secret` names (sign-out), with `audit`.
    pub async fn close_session(
        &self,
        secret: &str,
        audit: &crate::audit::AuditEvent,
    ) -> Result<bool, AuthFailure> {
        self.store
            .delete_dashboard_session(&session_hash(secret), audit)
            .await
            .map_err(|e| AuthFailure::Unavailable(e.to_string()))
    }

    /// Drops cached key records that `change` makes stale: a revoked or re-hashed key, the
    /// keys of a tenant whose tools (and tool keys) changed or that was deleted, or all.
    pub async fn apply(&self, change: &Change) {
        match change {
            // `loads` first: a miss in `cache` in between must not find the old record there.
            Change::Key(id) => {
                self.loads.invalidate(id).await;
                self.cache.invalidate(id);
            }
            Change::Tools(t) | Change::Tenant(t) => {
                let t = *t;
                let of_tenant = move |_: &ApiKeyId, rec: &Option<Arc<AuthKeyRecord>>| {
                    rec.as_ref().is_some_and(|r| r.tenant == Some(t))
                };
                if self.loads.invalidate_entries_if(of_tenant).is_err() {
                    self.loads.invalidate_all();
                }
                if self.cache.invalidate_entries_if(of_tenant).is_err() {
                    self.cache.invalidate_all();
                }
            }
            Change::All => {
                self.loads.invalidate_all();
                self.cache.invalidate_all();
            }
            Change::Providers(_) | Change::Authorization(..) | Change::Grant(..) => {}
        }
    }

    async fn lookup(&self, id: ApiKeyId) -> Result<Option<Arc<AuthKeyRecord>>, AuthFailure> {
        // A hit needs none of the loader's set-up (`try_get_with` boxes the key in an `Arc`
        // of its own and the loader holds another reference to the store) on every request.
        if let Some(hit) = self.cache.get(&id) {
            return Ok(hit);
        }
        let store = Arc::clone(&self.store);
        let entry = self
            .loads
            .entry(id)
            .or_try_insert_with(async move {
                let rec = store.find_key_for_auth(id).await?;
                if rec
                    .as_ref()
                    .is_some_and(|r| r.tenant.is_some() && r.revoked_at.is_none())
                {
                    // At most one write per key per cache period.
                    if let Err(e) = store.touch_api_key(id, UnixMillis::now()).await {
                        tracing::warn!(key_id = %id, error = %e, "could not record the key's last use");
                    }
                }
                Ok::<_, crate::StoreError>(rec.map(Arc::new))
            })
            .await
            .map_err(|e| AuthFailure::Unavailable(e.to_string()))?;
        // Only the caller whose load ran keeps its record for the others: one that found it
        // in `loads` (`cache` dropped it early, e.g. for room) would keep it past its time.
        if entry.is_fresh() {
            self.cache.insert(id, entry.value().clone());
        }
        Ok(entry.into_value())
    }
}
