//! Warm tokens: the token service's bounded, short-lived, in-memory cache of decrypted access
//! tokens (security.md B1 allows exactly this one), so a tool asking again for the same user's
//! token costs no database round trip and no decryption. An entry is dropped — on every
//! replica — when its grant is refreshed, needs re-authorization, is replaced or deleted
//! ([`Change::Grant`]), when the tenant's providers change or the tenant is deleted, and after
//! the TTL at the latest. A token is served from here only while it is fresh (outside the
//! refresh margin), so refreshing stays with grant custody.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;
use secrecy::SecretString;

use crate::cache::Change;
use crate::grant::GrantRecord;
use crate::{GrantId, ProviderRef, TenantId};

/// How long a warm token is served without a look at the database, by default.
pub const WARM_TTL: Duration = Duration::from_secs(10);

/// Warm tokens kept, at most.
pub const WARM_CAPACITY: u64 = 100_000;

/// A released grant, ready to hand out again.
pub struct Warm {
    /// The grant as stored when it was released.
    pub grant: GrantRecord,
    /// Its access token.
    pub token: SecretString,
    /// The Discord user, as stored with the grant (its JSON text).
    pub user_info: Arc<serde_json::value::RawValue>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct UserKey {
    tenant: TenantId,
    provider: ProviderRef,
    user: Box<str>,
}

/// The cache. One per process, fed the store's change notices through [`WarmTokens::apply`].
pub struct WarmTokens {
    /// Which grant a user's token comes from (a user has at most one active grant per
    /// provider).
    users: Cache<UserKey, GrantId>,
    /// The warm grants, dropped by grant id.
    grants: Cache<GrantId, Arc<Warm>>,
    /// Bumped by every change before it invalidates: an entry loaded before a change is not
    /// kept after it (see [`WarmTokens::put`]).
    epoch: AtomicU64,
    /// Off when the TTL is zero: nothing is kept.
    on: bool,
}

impl WarmTokens {
    /// A cache whose entries live at most `ttl` (zero: no cache).
    pub fn new(ttl: Duration) -> Self {
        let on = !ttl.is_zero();
        let ttl = ttl.max(Duration::from_millis(1));
        Self {
            on,
            users: Cache::builder()
                .max_capacity(WARM_CAPACITY)
                .time_to_live(ttl)
                .build(),
            grants: Cache::builder()
                .max_capacity(WARM_CAPACITY)
                .time_to_live(ttl)
                .build(),
            epoch: AtomicU64::new(0),
        }
    }

    /// The warm grant of `user` through `provider` of `tenant`, if there is one.
    pub async fn get(
        &self,
        tenant: TenantId,
        provider: ProviderRef,
        user: &str,
    ) -> Option<Arc<Warm>> {
        if !self.on {
            return None;
        }
        let key = UserKey {
            tenant,
            provider,
            user: user.into(),
        };
        let id = self.users.get(&key).await?;
        // Grant ids are unique across tenants, and only `put` (with the same tenant) links a
        // user to one; the check below is belt and braces.
        self.grants
            .get(&id)
            .await
            .filter(|w| w.grant.provider == provider && w.grant.user_id == user)
    }

    /// The current epoch: read it *before* reading the grant from the store, and pass it to
    /// [`WarmTokens::put`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps `warm` for its user, unless a change arrived since `epoch` was read (then what
    /// was read may already be stale, and is not kept).
    pub async fn put(&self, epoch: u64, tenant: TenantId, warm: Arc<Warm>) {
        if !self.on {
            return;
        }
        let id = warm.grant.id;
        let key = UserKey {
            tenant,
            provider: warm.grant.provider,
            user: warm.grant.user_id.as_str().into(),
        };
        self.grants.insert(id, warm).await;
        self.users.insert(key, id).await;
        if self.epoch() != epoch {
            self.grants.invalidate(&id).await;
        }
    }

    /// Drops what `change` makes stale.
    pub async fn apply(&self, change: &Change) {
        match change {
            Change::Grant(_, id) => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                self.grants.invalidate(id).await;
            }
            // A provider's change may end its grants (a new client id) and a deleted tenant's
            // grants are gone: rare, so everything goes.
            Change::Providers(_) | Change::Tenant(_) | Change::All => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                self.grants.invalidate_all();
                self.users.invalidate_all();
            }
            Change::Tools(_) | Change::Key(_) | Change::Authorization(..) => {}
        }
    }
}
