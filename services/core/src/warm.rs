//! Warm tokens: the token service's bounded, short-lived, in-memory cache of decrypted access
//! tokens (security.md B1 allows exactly this one), so a tool asking again for the same user's
//! token costs no database round trip and no decryption. An entry is dropped — on every
//! replica — when its grant is refreshed, needs re-authorization, is replaced or deleted
//! ([`Change::Grant`]), when the tenant's providers change or the tenant is deleted, and after
//! the TTL at the latest. A token is served from here only while it is fresh (outside the
//! refresh margin), so refreshing stays with grant custody.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use secrecy::SecretString;

use crate::cache::Change;
use crate::grant::GrantRecord;
use crate::{GrantId, ProviderRef, TenantId};

/// How long a warm token is served without a look at the database, by default.
pub const WARM_TTL: Duration = Duration::from_secs(10);

/// Warm tokens kept, at most.
pub const WARM_CAPACITY: u64 = 100_000;

/// Slots of [`WarmTokens::changed`]: a grant's changes are marked in one of them, picked by a
/// hash of its id.
const CHANGE_SLOTS: usize = 4096;

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

/// A [`UserKey`] borrowed, to look one up without copying the user id. Its fields are
/// [`UserKey`]'s, in the same order, so that both hash alike (as `moka` requires).
#[derive(Hash)]
struct UserKeyRef<'a> {
    tenant: TenantId,
    provider: ProviderRef,
    user: &'a str,
}

impl moka::Equivalent<UserKey> for UserKeyRef<'_> {
    fn equivalent(&self, key: &UserKey) -> bool {
        self.tenant == key.tenant && self.provider == key.provider && self.user == &*key.user
    }
}

/// A warm grant with the epoch read before it was loaded.
#[derive(Clone)]
struct Held {
    epoch: u64,
    warm: Arc<Warm>,
}

/// The cache. One per process, fed the store's change notices through [`WarmTokens::apply`].
///
/// One look-up a release: a user's entry holds the warm grant itself, with the epoch read
/// before it was loaded. A grant's change does not look for its entry (it is not keyed by the
/// grant); it marks the epoch of the change in the grant's slot of `changed`, and an entry
/// loaded before the latest change marked in its grant's slot is never served (two lists, the
/// user's grant id and then the grant, cost a second look-up a release: `moka` records every
/// read, about 2 % of the warm fetch's samples each). A slot is shared by many grants: a
/// change to one makes the others' entries loaded before it miss once, and load again.
pub struct WarmTokens {
    users: Cache<UserKey, Held>,
    /// Per slot, the epoch of the latest change to a grant in it.
    changed: Box<[AtomicU64]>,
    /// The epoch of the latest change that drops everything: nothing loaded before it is
    /// served.
    floor: AtomicU64,
    /// Bumped by every change: an entry loaded before a change to its grant is not served.
    epoch: AtomicU64,
    /// Hashes a grant id to its slot.
    slots: std::hash::RandomState,
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
            changed: (0..CHANGE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            floor: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            slots: std::hash::RandomState::new(),
        }
    }

    fn slot(&self, grant: &GrantId) -> &AtomicU64 {
        let mut h = self.slots.build_hasher();
        grant.hash(&mut h);
        let i = usize::try_from(std::hash::Hasher::finish(&h) % CHANGE_SLOTS as u64).unwrap_or(0);
        &self.changed[i]
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
        let key = UserKeyRef {
            tenant,
            provider,
            user,
        };
        let held = self.users.get(&key)?;
        let stale = held.epoch < self.floor.load(Ordering::SeqCst)
            || held.epoch < self.slot(&held.warm.grant.id).load(Ordering::SeqCst);
        // The key names the provider and the user; the check is belt and braces.
        Some(held.warm)
            .filter(|w| !stale && w.grant.provider == provider && w.grant.user_id == user)
    }

    /// The current epoch: read it *before* reading the grant from the store, and pass it to
    /// [`WarmTokens::put`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps `warm` for its user, read at `epoch`: it is served until its grant changes (a
    /// change since `epoch` included), everything is dropped, or the TTL ends.
    pub async fn put(&self, epoch: u64, tenant: TenantId, warm: Arc<Warm>) {
        if !self.on {
            return;
        }
        let key = UserKey {
            tenant,
            provider: warm.grant.provider,
            user: warm.grant.user_id.as_str().into(),
        };
        self.users.insert(key, Held { epoch, warm });
    }

    /// Drops what `change` makes stale: entries loaded before it are not served again.
    pub async fn apply(&self, change: &Change) {
        match change {
            Change::Grant(_, id) => {
                let at = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
                self.slot(id).fetch_max(at, Ordering::SeqCst);
            }
            // A provider's change may end its grants (a new client id) and a deleted tenant's
            // grants are gone: rare, so everything goes.
            Change::Providers(_) | Change::Tenant(_) | Change::All => {
                let at = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
                self.floor.fetch_max(at, Ordering::SeqCst);
                self.users.invalidate_all();
            }
            Change::Tools(_) | Change::Key(_) | Change::Authorization(..) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::GrantStatus;
    use crate::time::UnixMillis;

    fn warm(user: &str, provider: ProviderRef) -> Arc<Warm> {
        Arc::new(Warm {
            grant: GrantRecord {
                id: GrantId::generate(),
                user_id: user.to_owned(),
                provider,
                discord_user_id: "80351110224678912".to_owned(),
                user_info: Vec::new(),
                scopes: vec!["identify".to_owned()],
                access_token: Vec::new(),
                refresh_token: None,
                expires_at: UnixMillis(i64::MAX),
                generation: 1,
                status: GrantStatus::Active,
                created_at: UnixMillis(0),
                updated_at: UnixMillis(0),
                authorization: None,
                cooldown_until: None,
            },
            token: SecretString::from("token"),
            user_info: serde_json::value::RawValue::from_string("{}".to_owned())
                .unwrap()
                .into(),
        })
    }

    /// A cache that keeps tokens a minute, a tenant and a provider.
    fn cache() -> (WarmTokens, TenantId, ProviderRef) {
        (
            WarmTokens::new(Duration::from_secs(60)),
            TenantId::generate(),
            ProviderRef::generate(),
        )
    }

    async fn served(w: &WarmTokens, t: TenantId, p: ProviderRef, user: &str) -> Option<GrantId> {
        w.get(t, p, user).await.map(|w| w.grant.id)
    }

    #[tokio::test]
    async fn a_grants_change_stops_its_warm_token_and_no_other() {
        let (w, t, p) = cache();
        let (alice, bob) = (warm("alice", p), warm("bob", p));
        w.put(w.epoch(), t, Arc::clone(&alice)).await;
        w.put(w.epoch(), t, Arc::clone(&bob)).await;
        assert_eq!(served(&w, t, p, "alice").await, Some(alice.grant.id));
        // Another tenant's or provider's user of the same name is someone else.
        assert_eq!(served(&w, TenantId::generate(), p, "alice").await, None);
        assert_eq!(served(&w, t, ProviderRef::generate(), "alice").await, None);

        w.apply(&Change::Grant(t, alice.grant.id)).await;
        assert_eq!(served(&w, t, p, "alice").await, None);
        // Bob's grant did not change (unless it shares alice's slot: then it misses once).
        let bob_shares = std::ptr::eq(w.slot(&alice.grant.id), w.slot(&bob.grant.id));
        assert_eq!(
            served(&w, t, p, "bob").await,
            (!bob_shares).then_some(bob.grant.id)
        );
        // Loaded again after the change: served again.
        w.put(w.epoch(), t, Arc::clone(&alice)).await;
        assert_eq!(served(&w, t, p, "alice").await, Some(alice.grant.id));
    }

    #[tokio::test]
    async fn a_grant_read_before_its_change_is_not_served_when_kept_after_it() {
        let (w, t, p) = cache();
        let alice = warm("alice", p);
        // The release reads the epoch, then the store; the change's notice arrives in between.
        let read_at = w.epoch();
        w.apply(&Change::Grant(t, alice.grant.id)).await;
        w.put(read_at, t, Arc::clone(&alice)).await;
        assert_eq!(served(&w, t, p, "alice").await, None);
        // A change to an unrelated grant in the meantime does not spoil it.
        let read_at = w.epoch();
        let other = (0..)
            .map(|_| GrantId::generate())
            .find(|g| !std::ptr::eq(w.slot(g), w.slot(&alice.grant.id)))
            .unwrap();
        w.apply(&Change::Grant(t, other)).await;
        w.put(read_at, t, Arc::clone(&alice)).await;
        assert_eq!(served(&w, t, p, "alice").await, Some(alice.grant.id));
    }

    #[tokio::test]
    async fn a_change_to_every_grant_stops_even_what_is_kept_after_it() {
        let (w, t, p) = cache();
        let alice = warm("alice", p);
        w.put(w.epoch(), t, Arc::clone(&alice)).await;
        let read_at = w.epoch();
        w.apply(&Change::Providers(t)).await;
        assert_eq!(served(&w, t, p, "alice").await, None);
        w.put(read_at, t, Arc::clone(&alice)).await;
        assert_eq!(served(&w, t, p, "alice").await, None);
        w.put(w.epoch(), t, Arc::clone(&alice)).await;
        assert_eq!(served(&w, t, p, "alice").await, Some(alice.grant.id));
    }

    #[tokio::test]
    async fn a_zero_ttl_keeps_nothing() {
        let w = WarmTokens::new(Duration::ZERO);
        let (t, p) = (TenantId::generate(), ProviderRef::generate());
        w.put(w.epoch(), t, warm("alice", p)).await;
        assert_eq!(served(&w, t, p, "alice").await, None);
    }
}
