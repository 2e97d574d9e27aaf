//! The look-up cache and the change notices behind it, on SQLite and PostgreSQL: every write
//! that affects a cached look-up announces itself once it commits (never when it does not);
//! `CachedStore` serves a tenant's providers and tools from memory, drops them on its own
//! writes and on notices; on PostgreSQL a second replica hears the first one's writes through
//! LISTEN/NOTIFY.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::cache::{CachedStore, Change};
use latchkey_core::ports::{ProviderStore, Store};
use latchkey_core::time::UnixMillis;
use latchkey_core::tool::{self, ToolChanges, ToolName, ToolRequirement, ToolVersion};
use latchkey_store::{AnyStore, PoolOptions, next_change};
use support::{TestDb, actor, audit_event, new_provider, new_tenant, world};
use tokio::sync::broadcast::Receiver;

/// The next notice, or `None` if none comes within `wait`.
async fn heard_within(rx: &mut Receiver<Change>, wait: Duration) -> Option<Change> {
    tokio::time::timeout(wait, next_change(rx))
        .await
        .ok()
        .flatten()
}

/// The next notice, or `None` if none comes within two seconds (across replicas).
async fn heard(rx: &mut Receiver<Change>) -> Option<Change> {
    heard_within(rx, Duration::from_secs(2)).await
}

/// Every in-process notice until 200 ms pass without one.
async fn drain(rx: &mut Receiver<Change>) -> Vec<Change> {
    let mut out = Vec::new();
    while let Some(c) = heard_within(rx, Duration::from_millis(200)).await {
        out.push(c);
    }
    out
}

fn probe_tool() -> ToolChanges {
    ToolChanges {
        version: Some(ToolVersion::parse("1.0.0").unwrap()),
        description: None,
        requirement: Some(ToolRequirement {
            instance: None,
            scopes: vec!["guilds".to_owned()],
        }),
    }
}

async fn notices(db: &TestDb) {
    let w = world(db);
    let mut rx = db.store.changes();
    let created = new_tenant(&w, "A").await;
    let t = created.tenant.id;
    assert!(
        heard(&mut rx).await.is_none(),
        "creating a tenant changes no cached look-up"
    );

    let p = new_provider(&w, t, "discord-prod", "secret").await;
    assert_eq!(drain(&mut rx).await, [Change::Providers(t)]);
    // A conditional update that finds the row changed writes nothing and announces nothing.
    assert!(
        !w.store
            .update_provider(t, &p, UnixMillis(1), &audit_event())
            .await
            .unwrap()
    );
    assert!(
        heard(&mut rx).await.is_none(),
        "no notice for a write that did not commit"
    );
    assert!(
        w.store
            .update_provider(t, &p, p.updated_at, &audit_event())
            .await
            .unwrap()
    );
    assert_eq!(drain(&mut rx).await, [Change::Providers(t)]);

    let name = ToolName::parse("Discord.Probe").unwrap();
    let reg = tool::register_tool(
        w.store.as_ref(),
        &w.peppers,
        t,
        name.clone(),
        probe_tool(),
        &actor(),
    )
    .await
    .unwrap();
    assert_eq!(drain(&mut rx).await, [Change::Tools(t)]);
    w.store.delete_tool(t, &name, &audit_event()).await.unwrap();
    assert_eq!(drain(&mut rx).await, [Change::Tools(t)]);

    let admin = latchkey_core::apikey::PresentedKey::parse(secrecy::ExposeSecret::expose_secret(
        &created.admin_key,
    ))
    .unwrap()
    .id();
    w.store
        .revoke_api_key(t, admin, UnixMillis::now(), &audit_event())
        .await
        .unwrap();
    assert_eq!(drain(&mut rx).await, [Change::Key(admin)]);

    w.store
        .delete_provider(t, "discord-prod", &[], &audit_event())
        .await
        .unwrap();
    assert_eq!(drain(&mut rx).await, [Change::Providers(t)]);
    w.store.delete_tenant(t, &[], &audit_event()).await.unwrap();
    assert_eq!(drain(&mut rx).await, [Change::Tenant(t)]);
    assert!(
        w.store
            .get_tool_by_id(t, reg.tool.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn cached_store(db: &TestDb) {
    let w = world(db);
    let t = new_tenant(&w, "A").await.tenant.id;
    new_provider(&w, t, "discord-prod", "secret").await;
    let cached = Arc::new(CachedStore::new(db.store.store(), Duration::from_secs(300)));
    let store: Arc<dyn Store> = cached.clone();
    let description = || async {
        store
            .get_provider(t, "discord-prod")
            .await
            .unwrap()
            .unwrap()
            .description
    };
    assert_eq!(description().await, None);

    // Changed behind the cache's back (no notice): the cached copy is served.
    db.exec(
        "UPDATE providers SET description = 'sneaky' WHERE tenant_id = $1",
        &[&t.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(description().await, None, "served from the cache");

    // A notice drops it.
    cached.apply(&Change::Providers(t)).await;
    assert_eq!(description().await.as_deref(), Some("sneaky"));

    // A write through the cache is seen by the next read at once (read-your-writes).
    let p = store
        .get_provider(t, "discord-prod")
        .await
        .unwrap()
        .unwrap();
    let mut next = p.clone();
    next.description = Some("written".to_owned());
    next.updated_at = UnixMillis(p.updated_at.0 + 1);
    assert!(
        store
            .update_provider(t, &next, p.updated_at, &audit_event())
            .await
            .unwrap()
    );
    assert_eq!(description().await.as_deref(), Some("written"));
    assert!(store.get_provider_by_ref(t, p.id).await.unwrap().is_some());
    // The token hot path's shared list: the cache's own (not a copy), as fresh as the rest.
    let shared = store.shared_providers(t).await.unwrap();
    assert_eq!(shared[0].description.as_deref(), Some("written"));
    assert!(
        Arc::ptr_eq(&shared, &store.shared_providers(t).await.unwrap()),
        "not copied"
    );

    // Tools the same way; another tenant's entries are its own.
    let name = ToolName::parse("Discord.Probe").unwrap();
    assert!(store.get_tool(t, &name).await.unwrap().is_none());
    let reg = tool::register_tool(
        store.as_ref(),
        &w.peppers,
        t,
        name.clone(),
        probe_tool(),
        &actor(),
    )
    .await
    .unwrap();
    assert!(
        store.get_tool(t, &name).await.unwrap().is_some(),
        "its own write, seen at once"
    );
    assert!(
        store
            .get_tool_by_id(t, reg.tool.id)
            .await
            .unwrap()
            .is_some()
    );
    let tools = store.shared_tools(t).await.unwrap();
    assert!(tools.iter().any(|x| x.id == reg.tool.id));
    assert!(
        Arc::ptr_eq(&tools, &store.shared_tools(t).await.unwrap()),
        "not copied"
    );
    // The hot path's one look-up for both lists hands out the same shared lists, and a tool
    // written through the cache leaves the tenant's providers in it, not a stale or empty list.
    let catalog = store.shared_catalog(t).await.unwrap();
    assert!(Arc::ptr_eq(&catalog.tools, &tools), "not copied");
    assert!(Arc::ptr_eq(
        &catalog.providers,
        &store.shared_providers(t).await.unwrap()
    ));
    assert_eq!(catalog.providers[0].description.as_deref(), Some("written"));
    // The database's store answers the same without a cache.
    assert_eq!(
        db.store.store().shared_tools(t).await.unwrap().len(),
        tools.len()
    );
    let uncached = db.store.store().shared_catalog(t).await.unwrap();
    assert_eq!(
        (uncached.tools.len(), uncached.providers.len()),
        (catalog.tools.len(), catalog.providers.len())
    );
    let other = new_tenant(&w, "B").await.tenant.id;
    assert!(store.get_tool(other, &name).await.unwrap().is_none());
    db.exec("DELETE FROM tools WHERE tenant_id = $1", &[&t.to_string()])
        .await
        .unwrap();
    assert!(
        store.get_tool(t, &name).await.unwrap().is_some(),
        "served from the cache"
    );
    cached.apply(&Change::All).await;
    assert!(store.get_tool(t, &name).await.unwrap().is_none());
    assert!(store.shared_tools(t).await.unwrap().is_empty());
}

async fn another_replica_hears(db: &TestDb) {
    let url = db.postgres_url().expect("a PostgreSQL database");
    let w = world(db);
    let t = new_tenant(&w, "A").await.tenant.id;
    // A second replica: its own pool, listening.
    let other = AnyStore::open(&url, &PoolOptions::default()).await.unwrap();
    let mut rx = other.changes();
    let listener = other.listen_for_changes().expect("PostgreSQL listens");
    assert_eq!(
        heard(&mut rx).await,
        Some(Change::All),
        "a fresh listener drops everything"
    );
    let replica = CachedStore::new(other.store(), Duration::from_secs(300));
    assert!(replica.list_providers(t).await.unwrap().is_empty());

    new_provider(&w, t, "discord-prod", "secret").await;
    assert_eq!(
        heard(&mut rx).await,
        Some(Change::Providers(t)),
        "heard across replicas"
    );
    assert!(
        replica.list_providers(t).await.unwrap().is_empty(),
        "still cached until applied"
    );
    replica.apply(&Change::Providers(t)).await;
    assert_eq!(replica.list_providers(t).await.unwrap().len(), 1);

    // A notice inside a transaction that rolls back is never heard; committed, it is.
    let AnyStore::Postgres(pg) = &db.store else {
        unreachable!("a PostgreSQL database")
    };
    let notice = Change::Tools(t).encode();
    let mut tx = pg.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_notify('latchkey_changes', $1)")
        .bind(&notice)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(heard(&mut rx).await, None, "rolled back, never heard");
    let mut tx = pg.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_notify('latchkey_changes', $1)")
        .bind(&notice)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(heard(&mut rx).await, Some(Change::Tools(t)));
    listener.abort();
    other.close().await;
}

on_both_stores! {
    writes_announce_their_changes => notices;
    cached_store_serves_and_invalidates => cached_store;
}

/// Only PostgreSQL has other replicas to hear (SQLite is one process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_postgres_replica_hears_notices() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.run(another_replica_hears).await;
}
