//! The store conformance suite: every store operation, on SQLite and on PostgreSQL, including
//! tenant isolation (security.md §6.2), cascading tenant deletion, composite foreign keys and
//! the schema rule that `tenant_id` leads every tenant-owned key.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_core::apikey::{KeyRole, Peppers};
use latchkey_core::crypto::{KeyMaterial, Keyring};
use latchkey_core::provider::{
    self, DiscordClientId, ProviderChanges, ProviderPolicy, ProviderSlug, ProviderStatus,
};
use latchkey_core::tenant::{self};
use latchkey_core::time::UnixMillis;
use latchkey_core::{ApiKeyId, StoreError, TenantId};
use secrecy::{ExposeSecret, SecretString};
use support::{TestDb, audit_event, new_provider, new_tenant, pack, world};

fn key_id_of(whole: &SecretString) -> ApiKeyId {
    latchkey_core::apikey::PresentedKey::parse(whole.expose_secret())
        .unwrap()
        .id()
}

async fn tenants(db: &TestDb) {
    let w = world(db);
    assert!(w.store.list_tenants().await.unwrap().is_empty());
    let a = new_tenant(&w, "Acme").await;
    let b = new_tenant(&w, "Bravo").await;
    assert_eq!(
        w.store.get_tenant(a.tenant.id).await.unwrap(),
        Some(a.tenant.clone())
    );
    let listed: Vec<_> = w
        .store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, vec![a.tenant.id, b.tenant.id], "oldest first");
    assert!(
        w.store
            .get_tenant(TenantId::generate())
            .await
            .unwrap()
            .is_none()
    );
    // Its audit events, written one at a time and in a batch, go with it (by delete_tenant
    // itself: audit_events and audit_batches have no foreign key, migrations 0012 to 0014).
    let events = |t: TenantId| {
        let store = w.store.clone();
        async move {
            let all = latchkey_core::audit::AuditFilter::default();
            store.list_audit_events(t, &all).await.unwrap()
        }
    };
    let record = |t: TenantId| {
        let store = w.store.clone();
        async move {
            store.record_audit(t, &audit_event()).await.unwrap();
            store
                .record_audits(&pack(&[(t, audit_event())]))
                .await
                .unwrap();
        }
    };
    record(a.tenant.id).await;
    record(b.tenant.id).await;
    assert!(events(b.tenant.id).await.len() >= 2);
    let kept = events(a.tenant.id).await;
    w.store
        .delete_tenant(b.tenant.id, &[], &audit_event())
        .await
        .unwrap();
    assert!(w.store.get_tenant(b.tenant.id).await.unwrap().is_none());
    assert!(events(b.tenant.id).await.is_empty());
    assert_eq!(events(a.tenant.id).await, kept);
    // Events for a tenant that no longer exists are skipped, one at a time or in a batch.
    record(b.tenant.id).await;
    assert!(events(b.tenant.id).await.is_empty());
    assert!(matches!(
        w.store
            .delete_tenant(b.tenant.id, &[], &audit_event())
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn api_keys(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await;
    let t = a.tenant.id;
    let keys = w.store.list_api_keys(t).await.unwrap();
    let roles: Vec<_> = keys.iter().map(|k| k.role).collect();
    assert_eq!(keys.len(), 2);
    assert!(roles.contains(&KeyRole::Admin) && roles.contains(&KeyRole::App));

    let (rec, whole) = w
        .peppers
        .mint_tenant_key(KeyRole::App, None, "second app key");
    w.store
        .insert_api_key(t, &rec, &support::audit_event())
        .await
        .unwrap();
    assert_eq!(
        w.store.get_api_key(t, rec.id).await.unwrap(),
        Some(rec.clone())
    );
    assert!(matches!(
        w.store
            .insert_api_key(t, &rec, &support::audit_event())
            .await,
        Err(StoreError::Conflict(_))
    ));

    let found = w
        .store
        .find_key_for_auth(key_id_of(&whole))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.tenant, Some(t));
    assert_eq!(found.role, KeyRole::App);
    assert_eq!(found.hash, rec.hash);

    w.store.touch_api_key(rec.id, UnixMillis(42)).await.unwrap();
    assert_eq!(
        w.store
            .get_api_key(t, rec.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(UnixMillis(42))
    );

    let newer = Peppers::new(vec![KeyMaterial::generate()])
        .unwrap()
        .hash(&whole);
    w.store.update_key_hash(rec.id, &newer).await.unwrap();
    assert_eq!(
        w.store
            .find_key_for_auth(rec.id)
            .await
            .unwrap()
            .unwrap()
            .hash,
        newer
    );

    w.store
        .revoke_api_key(t, rec.id, UnixMillis(7), &support::audit_event())
        .await
        .unwrap();
    assert_eq!(
        w.store
            .get_api_key(t, rec.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(UnixMillis(7))
    );
    assert!(matches!(
        w.store
            .revoke_api_key(t, rec.id, UnixMillis(8), &support::audit_event())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        w.store
            .find_key_for_auth(ApiKeyId::generate())
            .await
            .unwrap()
            .is_none()
    );

    // Operator keys live in their own table and are found by the same look-up.
    assert_eq!(w.store.count_operator_keys().await.unwrap(), 0);
    let op = tenant::bootstrap_operator_key(w.store.as_ref(), &w.peppers)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tenant::bootstrap_operator_key(w.store.as_ref(), &w.peppers)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(w.store.count_operator_keys().await.unwrap(), 1);
    let found = w
        .store
        .find_key_for_auth(key_id_of(&op))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.tenant, found.role), (None, KeyRole::Operator));
}

async fn tenant_keys(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await;
    let t = a.tenant.id;
    let v1 = w.store.tenant_key(t, 1).await.unwrap().unwrap();
    assert_eq!(
        w.store.latest_tenant_key(t).await.unwrap(),
        Some(v1.clone())
    );
    assert!(w.store.tenant_key(t, 2).await.unwrap().is_none());
    assert_eq!(
        w.store.all_tenant_keys().await.unwrap(),
        vec![(t, v1.clone())]
    );

    let other = Keyring::new(vec![KeyMaterial::generate()]).unwrap();
    let rewrapped = other.wrap(t, 1, &[1u8; 32]);
    let stale = latchkey_core::crypto::MasterKeyId("mk_0000000000000000".to_owned());
    assert!(
        !w.store
            .rewrap_tenant_key(t, 1, &stale, &rewrapped)
            .await
            .unwrap(),
        "conditional on the old master key"
    );
    assert!(
        w.store
            .rewrap_tenant_key(t, 1, &v1.wrapped.master_key_id, &rewrapped)
            .await
            .unwrap()
    );
    assert_eq!(
        w.store.tenant_key(t, 1).await.unwrap().unwrap().wrapped,
        rewrapped
    );
}

async fn providers(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await;
    let t = a.tenant.id;
    let p = new_provider(&w, t, "discord-prod", "s3cret-value").await;
    assert_eq!(
        w.store.get_provider(t, "discord-prod").await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(w.store.list_providers(t).await.unwrap(), vec![p.clone()]);
    assert_eq!(
        provider::client_secret(&w.vault, t, &p)
            .await
            .unwrap()
            .expose_secret(),
        "s3cret-value"
    );
    let slug = ProviderSlug::parse("discord-prod").unwrap();
    let with = |client_id: &str| ProviderChanges {
        client_id: Some(DiscordClientId::parse(client_id).unwrap()),
        client_secret: Some(SecretString::from("x")),
        ..ProviderChanges::default()
    };
    // The same slug twice in one tenant; the same client id anywhere.
    let dup = provider::create_provider(
        w.store.as_ref(),
        &w.vault,
        t,
        slug.clone(),
        with("42"),
        &support::actor(),
    )
    .await;
    assert!(
        matches!(dup, Err(latchkey_core::CoreError::AlreadyExists(_))),
        "{dup:?}"
    );
    let other = new_tenant(&w, "Bravo").await.tenant.id;
    let reuse = provider::create_provider(
        w.store.as_ref(),
        &w.vault,
        other,
        slug.clone(),
        with(p.client_id.as_str()),
        &support::actor(),
    )
    .await;
    assert!(
        matches!(reuse, Err(latchkey_core::CoreError::ClientIdInUse)),
        "{reuse:?}"
    );

    // Update: field by field, secret re-sealed, conditional on updated_at.
    let changed = provider::update_provider(
        w.store.as_ref(),
        &w.vault,
        t,
        &slug,
        ProviderChanges {
            description: Some(Some("prod app".to_owned())),
            client_secret: Some(SecretString::from("rotated-secret")),
            status: Some(ProviderStatus::Inactive),
            policy: Some(Some(ProviderPolicy {
                required_guild_ids: vec!["290926798626357250".to_owned()],
                ..Default::default()
            })),
            endpoint_origin: Some(Some("http://127.0.0.1:7300".to_owned())),
            ..ProviderChanges::default()
        },
        &support::actor(),
    )
    .await
    .unwrap();
    let stored = w
        .store
        .get_provider(t, "discord-prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, changed);
    assert_eq!(
        (stored.description.as_deref(), stored.status),
        (Some("prod app"), ProviderStatus::Inactive)
    );
    assert_eq!(
        stored.policy.unwrap().required_guild_ids,
        vec!["290926798626357250"]
    );
    assert_eq!(
        provider::client_secret(&w.vault, t, &changed)
            .await
            .unwrap()
            .expose_secret(),
        "rotated-secret"
    );
    assert!(changed.updated_at > p.updated_at && changed.client_id == p.client_id);
    assert!(
        !w.store
            .update_provider(t, &changed, p.updated_at, &support::audit_event())
            .await
            .unwrap(),
        "a stale writer changes nothing"
    );

    w.store
        .delete_provider(t, "discord-prod", &[], &support::audit_event())
        .await
        .unwrap();
    assert!(
        w.store
            .get_provider(t, "discord-prod")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        w.store
            .delete_provider(t, "discord-prod", &[], &support::audit_event())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !w.store
            .client_id_in_use(p.client_id.as_str(), None)
            .await
            .unwrap(),
        "the client id is free again"
    );
}

/// Every read, update and delete done as tenant A on tenant B's rows sees nothing, or fails
/// exactly like "not found", and leaves B's rows untouched.
async fn isolation(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await.tenant.id;
    let b_created = new_tenant(&w, "Bravo").await;
    let b = b_created.tenant.id;
    let b_admin = key_id_of(&b_created.admin_key);
    let b_provider = new_provider(&w, b, "shared-slug", "bravo-secret").await;

    // Same slug in two tenants: both fine, no error reveals the other.
    let a_provider = new_provider(&w, a, "shared-slug", "acme-secret").await;
    assert_ne!(a_provider.id, b_provider.id);

    assert!(w.store.get_api_key(a, b_admin).await.unwrap().is_none());
    assert!(
        w.store
            .list_api_keys(a)
            .await
            .unwrap()
            .iter()
            .all(|k| k.id != b_admin)
    );
    assert!(matches!(
        w.store
            .revoke_api_key(a, b_admin, UnixMillis::now(), &support::audit_event())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        w.store
            .get_api_key(b, b_admin)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    assert_eq!(
        w.store
            .get_provider(a, "shared-slug")
            .await
            .unwrap()
            .unwrap()
            .id,
        a_provider.id
    );
    w.store
        .delete_provider(a, "shared-slug", &[], &support::audit_event())
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .delete_provider(a, "shared-slug", &[], &support::audit_event())
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        w.store
            .get_provider(b, "shared-slug")
            .await
            .unwrap()
            .unwrap()
            .id,
        b_provider.id
    );
    assert!(w.store.list_providers(a).await.unwrap().is_empty());

    let b_key = w.store.tenant_key(b, 1).await.unwrap().unwrap();
    let a_key = w.store.tenant_key(a, 1).await.unwrap().unwrap();
    assert_ne!(a_key.wrapped, b_key.wrapped);
    // A re-wrap done as A changes A's row only, even when both are under the same master key.
    let replacement = Keyring::new(vec![KeyMaterial::generate()])
        .unwrap()
        .wrap(a, 1, &[0u8; 32]);
    assert!(
        w.store
            .rewrap_tenant_key(a, 1, &a_key.wrapped.master_key_id, &replacement)
            .await
            .unwrap()
    );
    assert_eq!(
        w.store.tenant_key(b, 1).await.unwrap().unwrap(),
        b_key,
        "B's data key untouched"
    );

    // A's vault cannot open B's ciphertext even when handed B's row.
    let stolen = latchkey_core::provider::client_secret(&w.vault, a, &b_provider).await;
    assert!(stolen.is_err());
}

async fn delete_cascades(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await.tenant.id;
    let b = new_tenant(&w, "Bravo").await.tenant.id;
    new_provider(&w, a, "p1", "secret-a").await;
    new_provider(&w, b, "p1", "secret-b").await;
    w.store.delete_tenant(a, &[], &audit_event()).await.unwrap();
    assert!(w.store.list_api_keys(a).await.unwrap().is_empty());
    assert!(w.store.list_providers(a).await.unwrap().is_empty());
    assert!(
        w.store.tenant_key(a, 1).await.unwrap().is_none(),
        "data keys destroyed with the tenant"
    );
    assert_eq!(w.store.list_providers(b).await.unwrap().len(), 1);
    assert_eq!(w.store.list_api_keys(b).await.unwrap().len(), 2);
}

/// A row of tenant A cannot reference a row of tenant B (composite foreign keys).
async fn composite_foreign_keys(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await.tenant.id.to_string();
    let b = new_tenant(&w, "Bravo").await.tenant.id;
    let b_ref = new_provider(&w, b, "p1", "secret-b").await.id.to_string();
    let cross = db
        .exec(
            "INSERT INTO authorizations (tenant_id, id, user_id, provider_ref, requested_scopes, status, created_at, updated_at, expires_at) \
             VALUES ($1, 'auth_x', 'u1', $2, 'identify', 'pending', 0, 0, 0)",
            &[&a, &b_ref],
        )
        .await;
    assert!(
        cross.is_err(),
        "an authorization of A pointing at B's provider must violate a constraint"
    );
    let same = db
        .exec(
            "INSERT INTO authorizations (tenant_id, id, user_id, provider_ref, requested_scopes, status, created_at, updated_at, expires_at) \
             VALUES ($1, 'auth_x', 'u1', $2, 'identify', 'pending', 0, 0, 0)",
            &[&b.to_string(), &b_ref],
        )
        .await;
    assert_eq!(same.unwrap(), 1, "the same row inside one tenant is fine");
}

async fn schema_leads_with_tenant(db: &TestDb) {
    let mut known: Vec<String> = support::TENANT_OWNED_TABLES
        .iter()
        .chain(&support::PLATFORM_TABLES)
        .map(|t| (*t).to_owned())
        .collect();
    known.sort();
    assert_eq!(
        db.table_names().await,
        known,
        "every table is classified as tenant-owned or platform"
    );
    for table in support::TENANT_OWNED_TABLES {
        assert_eq!(
            db.first_pk_column(table).await,
            "tenant_id",
            "{table} must lead its key with tenant_id"
        );
    }
    assert!(db.store.pending_migrations().await.unwrap().is_empty());
    assert!(
        db.store.migrate().await.unwrap().is_empty(),
        "migrating twice is a no-op"
    );
}

async fn settings(db: &TestDb) {
    use latchkey_core::settings::VerificationSettings;
    let w = world(db);
    let a = new_tenant(&w, "Acme").await.tenant.id;
    let b = new_tenant(&w, "Bravo").await.tenant.id;
    assert_eq!(w.store.verification_settings(a).await.unwrap(), None);
    let mut s = VerificationSettings {
        verifier_url: Some("https://app.example.com/verify".to_owned()),
        unsafe_skip_verification: false,
        allowed_next_uri_origins: vec!["https://app.example.com".to_owned()],
        account_switch: latchkey_core::settings::AccountSwitch::Notify,
        updated_at: UnixMillis(5),
    };
    w.store
        .put_verification_settings(a, &s, &support::audit_event())
        .await
        .unwrap();
    assert_eq!(
        w.store.verification_settings(a).await.unwrap(),
        Some(s.clone())
    );
    s.verifier_url = None;
    s.unsafe_skip_verification = true;
    s.account_switch = latchkey_core::settings::AccountSwitch::RequireAck;
    s.updated_at = UnixMillis(6);
    w.store
        .put_verification_settings(a, &s, &support::audit_event())
        .await
        .unwrap();
    assert_eq!(
        w.store.verification_settings(a).await.unwrap(),
        Some(s),
        "replaced, not duplicated"
    );
    assert_eq!(
        w.store.verification_settings(b).await.unwrap(),
        None,
        "B sees nothing of A's"
    );
    w.store.delete_tenant(a, &[], &audit_event()).await.unwrap();
    assert_eq!(
        w.store.verification_settings(a).await.unwrap(),
        None,
        "deleted with the tenant"
    );
}

async fn audit_is_written_with_the_change(db: &TestDb) {
    use latchkey_core::audit::{AuditEvent, AuditFilter};
    let w = world(db);
    let a = new_tenant(&w, "Acme").await.tenant.id;
    let b = new_tenant(&w, "Bravo").await.tenant.id;
    let actor = support::actor();
    let p = new_provider(&w, a, "p1", "secret-value-1").await;
    let (key, _) = w.peppers.mint_tenant_key(KeyRole::App, None, "k");
    w.store
        .insert_api_key(
            a,
            &key,
            &AuditEvent::success(&actor, "api_key.create", key.id.to_string()),
        )
        .await
        .unwrap();
    // Failed writes leave no event behind.
    assert!(
        w.store
            .insert_api_key(
                a,
                &key,
                &AuditEvent::success(&actor, "api_key.create", key.id.to_string())
            )
            .await
            .is_err()
    );
    assert!(
        w.store
            .delete_provider(
                a,
                "nope",
                &[],
                &AuditEvent::success(&actor, "provider.delete", None)
            )
            .await
            .is_err()
    );
    assert!(
        !w.store
            .update_provider(
                a,
                &p,
                UnixMillis(1),
                &AuditEvent::success(&actor, "provider.update", None)
            )
            .await
            .unwrap()
    );
    let all = w
        .store
        .list_audit_events(a, &AuditFilter::default())
        .await
        .unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["tenant.create", "provider.create", "api_key.create"],
        "{all:?}"
    );
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    assert!(all.iter().all(|e| e.outcome == "success"));
    let only = w
        .store
        .list_audit_events(
            a,
            &AuditFilter {
                action: Some("provider.create".to_owned()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (only.len(), only[0].target.as_deref()),
        (1, Some(p.id.to_string().as_str()))
    );
    let first = all[0].at;
    let later = w
        .store
        .list_audit_events(
            a,
            &AuditFilter {
                since: Some(UnixMillis(first.0 + 1)),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(later.iter().all(|e| e.at.0 > first.0));
    let none = w
        .store
        .list_audit_events(
            a,
            &AuditFilter {
                until: Some(first),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "until is exclusive");
    let theirs = w
        .store
        .list_audit_events(b, &AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(
        theirs.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["tenant.create"],
        "B sees only its own"
    );
}

async fn operator_key_bootstrap_is_atomic(db: &TestDb) {
    let w = std::sync::Arc::new(world(db));
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move {
                tenant::bootstrap_operator_key(w.store.as_ref(), &w.peppers)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for r in racers {
        created += usize::from(r.await.unwrap().is_some());
    }
    assert_eq!(
        created, 1,
        "exactly one of the racing starts creates (and prints) a key"
    );
    assert_eq!(w.store.count_operator_keys().await.unwrap(), 1);
    assert!(
        tenant::bootstrap_operator_key(w.store.as_ref(), &w.peppers)
            .await
            .unwrap()
            .is_none()
    );
}

/// Migration 0013 re-keys audit_events by (tenant, time, id) — on SQLite by rebuilding the
/// table — and 0014 adds audit_batches and the audit_log view over both: the events written
/// before them (as the previous release wrote them, a row each) are all there after them, in
/// the same order, beside the batches written since; the time window selects from both; a
/// retried batch adds nothing twice.
async fn audit_events_survive_their_rekeying(db: &TestDb) {
    use latchkey_core::audit::AuditFilter;
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let s = w.store.as_ref();
    let event = |n: i64| {
        let mut e = audit_event();
        e.action = "token.release".to_owned();
        e.target = Some(format!("grant-{n}"));
        e.at = UnixMillis(1_700_000_000_000 + n % 7);
        e
    };
    let old: Vec<_> = (0..300_i64).map(event).collect();
    for e in &old {
        db.exec(
            "INSERT INTO audit_events (tenant_id, id, at, actor, action, target, outcome) \
             VALUES ($1, $2, CAST($3 AS BIGINT), $4, $5, $6, $7)",
            &[
                &t.to_string(),
                &e.id,
                &e.at.0.to_string(),
                &e.actor,
                &e.action,
                e.target.as_deref().unwrap_or_default(),
                &e.outcome,
            ],
        )
        .await
        .unwrap();
    }
    let applied = db.store.migrate().await.unwrap();
    assert_eq!(applied.first(), Some(&13), "{applied:?}");
    assert!(applied.contains(&14), "{applied:?}");
    let all = AuditFilter::default();
    let before = s.list_audit_events(t, &all).await.unwrap();
    assert_eq!(before.len(), 301, "the events and the tenant's creation");
    let mut want = old.clone();
    want.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let releases = AuditFilter {
        action: Some("token.release".to_owned()),
        ..Default::default()
    };
    assert_eq!(s.list_audit_events(t, &releases).await.unwrap(), want);
    // One B-tree (SQLite) or one index (PostgreSQL) an event: the key, nothing beside it.
    match &db.store {
        latchkey_store::AnyStore::Sqlite(p) => {
            let shape: (i64, String) = sqlx::query_as(
                "SELECT (SELECT wr FROM pragma_table_list('audit_events')), \
                 (SELECT group_concat(origin) FROM pragma_index_list('audit_events'))",
            )
            .fetch_one(p.pool())
            .await
            .unwrap();
            assert_eq!(shape, (1, "pk".to_owned()), "WITHOUT ROWID, its key alone");
        }
        latchkey_store::AnyStore::Postgres(p) => {
            let defs: Vec<String> = sqlx::query_scalar(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_events'",
            )
            .fetch_all(p.pool())
            .await
            .unwrap();
            assert_eq!(defs.len(), 1, "{defs:?}");
            assert!(defs[0].ends_with("(tenant_id, at, id)"), "{defs:?}");
        }
    }
    // Batches since, at the same times: listed with the rows, by time and id.
    let batch: Vec<_> = (300..600_i64).map(|n| (t, event(n))).collect();
    s.record_audits(&pack(&batch)).await.unwrap();
    s.record_audits(&pack(&batch)).await.unwrap();
    let mut want = before.clone();
    want.extend(batch.iter().map(|(_, e)| e.clone()));
    want.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    assert_eq!(s.list_audit_events(t, &all).await.unwrap(), want);
    let window = AuditFilter {
        since: Some(UnixMillis(1_700_000_000_002)),
        until: Some(UnixMillis(1_700_000_000_004)),
        ..Default::default()
    };
    let picked = s.list_audit_events(t, &window).await.unwrap();
    let want: Vec<_> = want
        .into_iter()
        .filter(|e| (1_700_000_000_002..1_700_000_000_004).contains(&e.at.0))
        .collect();
    assert_eq!(
        picked.len(),
        2 * 86,
        "n % 7 in 2..4 for n < 300, and again for 300..600"
    );
    assert_eq!(picked, want);
}

mod audit_rekeying {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = crate::support::TestDb::sqlite_at(Some(12)).await;
        db.run(super::audit_events_survive_their_rekeying).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(db) = crate::support::TestDb::postgres_at(Some(12)).await else {
            return;
        };
        db.run(super::audit_events_survive_their_rekeying).await;
    }
}

on_both_stores! {
    operator_key_bootstrap => operator_key_bootstrap_is_atomic;
    audit_events => audit_is_written_with_the_change;
    settings_crud => settings;
    tenants_crud => tenants;
    api_keys_crud => api_keys;
    tenant_keys_crud => tenant_keys;
    providers_crud => providers;
    tenant_isolation => isolation;
    tenant_delete_cascades => delete_cascades;
    composite_fks => composite_foreign_keys;
    schema => schema_leads_with_tenant;
}

#[test]
fn migration_version_lists_match() {
    let (sqlite, postgres) = latchkey_store::migration_versions();
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must have the same versions"
    );
}

#[tokio::test]
async fn bad_urls_are_named() {
    let err = latchkey_store::AnyStore::open("mysql://x", &Default::default())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("database.url"), "{err}");
    let err = latchkey_store::AnyStore::open(
        "postgres://nobody@127.0.0.1:1/x",
        &latchkey_store::PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(1),
        },
    )
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("could not open the database"),
        "{err}"
    );
}

/// SQLite has one writer at a time: the store's writes wait their turn for its one writer
/// connection, first come first served, rather than each holding a connection of the readers'
/// pool while it retries in SQLite's busy handler (which under 64 concurrent `auth.start` calls
/// kept some waiting over 2 s, docs/benchmarks.md). Reads go on meanwhile, and every queued
/// write lands once the lock is free.
#[tokio::test]
async fn sqlite_writes_queue_for_the_one_writer_connection() {
    let db = TestDb::sqlite().await;
    let w = world(&db);
    let t = new_tenant(&w, "queued").await.tenant.id;
    let latchkey_store::AnyStore::Sqlite(s) = &db.store else {
        panic!("not SQLite");
    };
    assert_eq!(s.writer().options().get_max_connections(), 1);
    // Someone else's write (another process, say): the database's write lock, held from a
    // connection of the readers' pool.
    let mut outside = s.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *outside)
        .await
        .unwrap();
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..4 {
        let store = w.store.clone();
        writes.spawn(async move {
            store
                .touch_api_key(ApiKeyId::generate(), UnixMillis(i))
                .await
        });
        let store = w.store.clone();
        writes.spawn(async move { store.record_audits(&pack(&[(t, audit_event())])).await });
    }
    // The first write has the writer connection (and waits in the busy handler); the other
    // seven wait for it, holding nothing.
    for _ in 0..500 {
        if s.writer().num_idle() == 0 && s.writer().size() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!((s.writer().size(), s.writer().num_idle()), (1, 0));
    let readers_in_use = s.pool().size() as usize - s.pool().num_idle();
    assert_eq!(
        readers_in_use, 1,
        "only the outside transaction's connection"
    );
    assert!(
        w.store.get_tenant(t).await.unwrap().is_some(),
        "reads go on"
    );
    assert_eq!(writes.len(), 8, "all eight writes still wait");
    assert!(writes.try_join_next().is_none());

    sqlx::query("ROLLBACK")
        .execute(&mut *outside)
        .await
        .unwrap();
    drop(outside);
    for done in writes.join_all().await {
        done.unwrap();
    }
    let all = latchkey_core::audit::AuditFilter::default();
    let events = w.store.list_audit_events(t, &all).await.unwrap();
    let written = events.iter().filter(|e| e.action == "test.write").count();
    assert_eq!(written, 4);
}
