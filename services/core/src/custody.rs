//! Grant custody: releasing a grant's access token, refreshed first when it is close to expiry
//! (DESIGN.md §5 "Refresh"; specs/security.md §4.2). At most one refresh per grant is in flight
//! across all replicas: an in-process single flight per grant, then the store's lock on the
//! grant ([`crate::ports::GrantLock`]: a row lock on PostgreSQL), a re-read under the lock (a
//! refresh that finished meanwhile is used, not repeated), and a generation check on the write.
//! The rotated refresh token is stored before the new access token is released. Discord
//! refusing the refresh token marks the grant `reauth_required` (audited); Discord being
//! unreachable releases the current token while it is still valid, else fails `Upstream`, and
//! starts a cooldown during which no replica asks Discord again for that grant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use secrecy::SecretString;

use crate::audit::{Actor, AuditEvent};
use crate::error::CoreError;
use crate::grant::{self, GrantRecord, GrantStatus};
use crate::metrics::RefreshOutcome;
use crate::ports::{DiscordAppRef, DiscordCallError, DiscordOAuth, Store, TokenUpdate};
use crate::provider::{self, ProviderRecord};
use crate::time::UnixMillis;
use crate::{GrantId, TenantId};

/// By default, an access token expiring sooner than this is refreshed before it is released.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// What a grant can give.
pub enum Released {
    /// The grant (as stored after any refresh) and its current access token.
    Token(Box<GrantRecord>, SecretString),
    /// The user must authorize again (Discord refused the refresh token, or the grant is not
    /// active).
    ReauthRequired,
}

/// Releases grants' tokens; holds the in-process part of refresh exclusion (one lock per grant
/// being refreshed). One per process, shared by the services that release tokens.
pub struct Custody {
    store: Arc<dyn Store>,
    vault: Arc<crate::crypto::Vault>,
    discord: Arc<dyn DiscordOAuth>,
    margin: Duration,
    meters: crate::metrics::Meters,
    inflight: Mutex<HashMap<GrantId, Weak<tokio::sync::Mutex<()>>>>,
}

fn fresh(g: &GrantRecord, now: UnixMillis, margin: Duration) -> bool {
    let margin = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    g.expires_at.0.saturating_sub(now.0) > margin
}

/// After a refresh fails because Discord is unreachable, no refresh of that grant is tried for
/// this long (on any replica), so a struggling Discord is not hammered.
pub const REFRESH_COOLDOWN: Duration = Duration::from_secs(30);

/// How far ahead the keep-alive refreshes idle grants.
pub const KEEP_ALIVE_MARGIN: Duration = Duration::from_secs(3600);

impl Custody {
    /// Custody over the store, the vault and Discord, refreshing tokens that expire within
    /// `margin` before releasing them ([`REFRESH_MARGIN`] by default).
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<crate::crypto::Vault>,
        discord: Arc<dyn DiscordOAuth>,
        margin: Duration,
        meters: crate::metrics::Meters,
    ) -> Self {
        Self {
            store,
            vault,
            discord,
            margin,
            meters,
            inflight: Mutex::default(),
        }
    }

    /// Whether `g`'s access token may be released as it is (it expires after the margin).
    pub fn is_fresh(&self, g: &GrantRecord) -> bool {
        g.status == GrantStatus::Active && fresh(g, UnixMillis::now(), self.margin)
    }

    /// The refresh margin.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    fn flight(&self, id: GrantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(m) = map.get(&id).and_then(Weak::upgrade) {
            return m;
        }
        let m = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id, Arc::downgrade(&m));
        m
    }

    /// Grant `g`'s access token, refreshed first when it expires within the custody's margin.
    pub async fn release(
        &self,
        tenant: TenantId,
        provider: &ProviderRecord,
        g: GrantRecord,
    ) -> Result<Released, CoreError> {
        self.release_within(tenant, provider, g, self.margin).await
    }

    /// [`Custody::release`], refreshing when the token expires within `margin` (the
    /// keep-alive uses [`KEEP_ALIVE_MARGIN`]).
    pub async fn release_within(
        &self,
        tenant: TenantId,
        provider: &ProviderRecord,
        g: GrantRecord,
        margin: Duration,
    ) -> Result<Released, CoreError> {
        let (store, vault, discord) = (self.store.as_ref(), &*self.vault, self.discord.as_ref());
        if g.status != GrantStatus::Active {
            return Ok(Released::ReauthRequired);
        }
        if fresh(&g, UnixMillis::now(), margin) {
            let token = grant::access_token(vault, tenant, &g).await?;
            return Ok(Released::Token(Box::new(g), token));
        }
        let flight = self.flight(g.id);
        let _turn = flight.lock().await;
        let Some(lock) = store.lock_grant(tenant, g.id).await? else {
            return Ok(Released::ReauthRequired);
        };
        let current = lock.grant().clone();
        if current.status != GrantStatus::Active {
            return Ok(Released::ReauthRequired);
        }
        let now = UnixMillis::now();
        if fresh(&current, now, margin) {
            // Refreshed by someone else while this request waited.
            drop(lock);
            let token = grant::access_token(vault, tenant, &current).await?;
            return Ok(Released::Token(Box::new(current), token));
        }
        let still_valid = current.expires_at.0 > now.0;
        if current.cooldown_until.is_some_and(|c| c.0 > now.0) {
            // A refresh failed moments ago: Discord is not asked again before the cooldown ends.
            drop(lock);
            return if still_valid {
                let token = grant::access_token(vault, tenant, &current).await?;
                Ok(Released::Token(Box::new(current), token))
            } else {
                Err(CoreError::Upstream(
                    "Discord failed to refresh this grant moments ago; try again shortly"
                        .to_owned(),
                ))
            };
        }
        let Some(refresh) = grant::refresh_token(vault, tenant, &current).await? else {
            drop(lock);
            return if still_valid {
                let token = grant::access_token(vault, tenant, &current).await?;
                Ok(Released::Token(Box::new(current), token))
            } else {
                Ok(Released::ReauthRequired)
            };
        };
        let secret = provider::client_secret(vault, tenant, provider).await?;
        let app = DiscordAppRef {
            client_id: provider.client_id.as_str(),
            client_secret: &secret,
            // The refresh grant carries no redirect URI.
            redirect_uri: "",
            endpoint_origin: provider.endpoint_origin.as_deref(),
        };
        match discord.refresh(&app, &refresh).await {
            Ok(t) => {
                let (access_token, refresh_token) = grant::seal_tokens(
                    vault,
                    tenant,
                    current.id,
                    &t.access_token,
                    t.refresh_token.as_ref().or(Some(&refresh)),
                )
                .await?;
                let update = TokenUpdate {
                    access_token: access_token.clone(),
                    refresh_token: refresh_token.clone(),
                    expires_at: t.expires_at,
                    scopes: if t.scopes.is_empty() {
                        current.scopes.clone()
                    } else {
                        t.scopes.clone()
                    },
                };
                if !lock.store_tokens(&update).await? {
                    // The grant changed under us (deleted or replaced): nothing is released.
                    self.meters.refresh(RefreshOutcome::Superseded);
                    return Ok(Released::ReauthRequired);
                }
                self.meters.refresh(RefreshOutcome::Refreshed);
                let stored = GrantRecord {
                    access_token,
                    refresh_token,
                    expires_at: update.expires_at,
                    scopes: update.scopes,
                    generation: current.generation + 1,
                    updated_at: UnixMillis::now(),
                    ..current
                };
                Ok(Released::Token(Box::new(stored), t.access_token))
            }
            Err(DiscordCallError::Refused(why)) => {
                tracing::info!(grant = %current.id, reason = %why, "Discord refused the refresh token; the user must authorize again");
                let actor = Actor {
                    id: "system".to_owned(),
                    request_id: None,
                };
                let audit = AuditEvent::success(
                    &actor,
                    "connection.reauth_required",
                    current.id.to_string(),
                );
                lock.reauth_required(&audit).await?;
                self.meters.refresh(RefreshOutcome::ReauthRequired);
                Ok(Released::ReauthRequired)
            }
            Err(DiscordCallError::Unavailable(why)) => {
                let until = UnixMillis(
                    UnixMillis::now().0
                        + i64::try_from(REFRESH_COOLDOWN.as_millis()).unwrap_or(i64::MAX),
                );
                lock.refresh_failed(until).await?;
                self.meters.refresh(RefreshOutcome::Failed);
                if still_valid {
                    tracing::warn!(grant = %current.id, error = %why, "refresh failed; releasing the still-valid token");
                    let token = grant::access_token(vault, tenant, &current).await?;
                    Ok(Released::Token(Box::new(current), token))
                } else {
                    Err(CoreError::Upstream(why))
                }
            }
        }
    }
}

/// The keep-alive: refreshes up to `limit` active grants whose access tokens expire within
/// [`KEEP_ALIVE_MARGIN`], so that grants nobody uses stay alive. Returns how many were
/// refreshed.
pub async fn keep_alive(custody: &Custody, limit: u32) -> Result<usize, CoreError> {
    let margin = i64::try_from(KEEP_ALIVE_MARGIN.as_millis()).unwrap_or(i64::MAX);
    let before = UnixMillis(UnixMillis::now().0.saturating_add(margin));
    let due = custody.store.expiring_grants(before, limit).await?;
    let mut refreshed = 0;
    for (tenant, g) in due {
        let Some(provider) = custody
            .store
            .list_providers(tenant)
            .await?
            .into_iter()
            .find(|p| p.id == g.provider)
        else {
            continue;
        };
        let generation = g.generation;
        match custody
            .release_within(tenant, &provider, g, KEEP_ALIVE_MARGIN)
            .await
        {
            Ok(Released::Token(g, _)) if g.generation != generation => refreshed += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "keep-alive refresh failed; retried on the next round")
            }
        }
    }
    Ok(refreshed)
}
