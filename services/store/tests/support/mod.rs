//! Test databases: a temp-file SQLite, or a uniquely named PostgreSQL database created for the
//! test and dropped afterwards. With `CI=true`, an unreachable PostgreSQL fails the test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use latchkey_core::TenantId;
use latchkey_core::apikey::Peppers;
use latchkey_core::crypto::{KeyMaterial, Keyring, Vault};
use latchkey_core::ports::Store;
use latchkey_core::provider::{self, DiscordClientId, ProviderChanges, ProviderSlug};
use latchkey_core::tenant::{self, CreatedTenant, TenantName};
use latchkey_store::{AnyStore, PoolOptions};
use secrecy::SecretString;

/// Every tenant-owned table (their keys lead with `tenant_id`).
pub const TENANT_OWNED_TABLES: [&str; 13] = [
    "tenant_keys",
    "providers",
    "tools",
    "api_keys",
    "authorizations",
    "flows",
    "grants",
    "audit_events",
    "audit_batches",
    "tenant_settings",
    "pending_revocations",
    "verifier_tests",
    "dashboard_sessions",
];

/// Views over tenant-owned tables (statements on them are audited as on the tables).
pub const TENANT_OWNED_VIEWS: [&str; 1] = ["audit_log"];

/// The platform tables, which belong to no tenant.
pub const PLATFORM_TABLES: [&str; 4] = [
    "tenants",
    "operator_keys",
    "platform_bootstrap",
    "platform_audit_events",
];

/// Every migration (`None`), or those up to `version` read from the migrations directory, as
/// an older release left the database.
async fn migrate_to(store: &AnyStore, version: Option<i64>) {
    let Some(version) = version else {
        store.migrate().await.unwrap();
        return;
    };
    let kind = match store {
        AnyStore::Sqlite(_) => "sqlite",
        AnyStore::Postgres(_) => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(kind);
    let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    match store {
        AnyStore::Sqlite(s) => migrator.run_to(version, s.pool()).await,
        AnyStore::Postgres(s) => migrator.run_to(version, s.pool()).await,
    }
    .unwrap();
}

pub struct TestDb {
    pub store: AnyStore,
    pub kind: &'static str,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

pub fn postgres_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDb {
    pub async fn sqlite() -> Self {
        Self::sqlite_at(None).await
    }

    /// With `Some(version)`: migrated only up to that version (upgrade tests).
    pub async fn sqlite_at(version: Option<i64>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("latchkey.db").display());
        let store = AnyStore::open(&url, &PoolOptions::default()).await.unwrap();
        migrate_to(&store, version).await;
        Self {
            store,
            kind: "sqlite",
            cleanup: None,
            _dir: Some(dir),
        }
    }

    /// `None` when PostgreSQL is unreachable outside CI (the test then says so and passes).
    pub async fn postgres() -> Option<Self> {
        Self::postgres_at(None).await
    }

    /// As [`TestDb::postgres`]; with `Some(version)`, migrated only up to that version.
    pub async fn postgres_at(version: Option<i64>) -> Option<Self> {
        let admin_url = postgres_admin_url();
        let admin = match sqlx::PgPool::connect(&admin_url).await {
            Ok(p) => p,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!(
                    "SKIPPED: PostgreSQL unreachable at {admin_url}: {e} (set CI=true to fail instead)"
                );
                return None;
            }
            Err(e) => panic!("CI=true and PostgreSQL is unreachable at {admin_url}: {e}"),
        };
        let name = format!("latchkey_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = db_url(&admin_url, &name);
        let store = AnyStore::open(&url, &PoolOptions::default()).await.unwrap();
        migrate_to(&store, version).await;
        Some(Self {
            store,
            kind: "postgres",
            cleanup: Some((admin_url, name)),
            _dir: None,
        })
    }

    /// The URL of this database (PostgreSQL), for tests that open a second pool.
    pub fn postgres_url(&self) -> Option<String> {
        self.cleanup
            .as_ref()
            .map(|(admin, name)| db_url(admin, name))
    }

    /// Runs a test body, then drops the database even when the body panicked.
    pub async fn run(self, body: impl AsyncFnOnce(&TestDb)) {
        use futures::FutureExt;
        let outcome = std::panic::AssertUnwindSafe(body(&self))
            .catch_unwind()
            .await;
        self.finish().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = &self.cleanup {
            let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            .unwrap();
        }
    }

    /// Runs a statement with text parameters on whichever backend this is; returns rows affected.
    pub async fn exec(&self, sql: &'static str, params: &[&str]) -> Result<u64, sqlx::Error> {
        match &self.store {
            AnyStore::Sqlite(s) => {
                let mut q = sqlx::query(sql);
                for p in params {
                    q = q.bind(p.to_string());
                }
                Ok(q.execute(s.pool()).await?.rows_affected())
            }
            AnyStore::Postgres(s) => {
                let mut q = sqlx::query(sql);
                for p in params {
                    q = q.bind(p.to_string());
                }
                Ok(q.execute(s.pool()).await?.rows_affected())
            }
        }
    }

    /// Every text and binary value stored in `table`, as raw bytes, for plaintext sweeps.
    pub async fn raw_values(&self, table: &str) -> Vec<Vec<u8>> {
        use sqlx::{Column, Row};
        let sql = sqlx::AssertSqlSafe(format!("SELECT * FROM {table}"));
        let mut out = Vec::new();
        match &self.store {
            AnyStore::Sqlite(s) => {
                for row in sqlx::query(sql).fetch_all(s.pool()).await.unwrap() {
                    for c in row.columns() {
                        if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(c.ordinal()) {
                            out.push(b);
                        } else if let Ok(Some(t)) = row.try_get::<Option<String>, _>(c.ordinal()) {
                            out.push(t.into_bytes());
                        }
                    }
                }
            }
            AnyStore::Postgres(s) => {
                for row in sqlx::query(sql).fetch_all(s.pool()).await.unwrap() {
                    for c in row.columns() {
                        if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(c.ordinal()) {
                            out.push(b);
                        } else if let Ok(Some(t)) = row.try_get::<Option<String>, _>(c.ordinal()) {
                            out.push(t.into_bytes());
                        }
                    }
                }
            }
        }
        out
    }

    /// Every table of the schema (migration bookkeeping excluded), sorted.
    pub async fn table_names(&self) -> Vec<String> {
        use sqlx::Row;
        let mut names: Vec<String> = match &self.store {
            AnyStore::Sqlite(s) => sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(s.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect(),
            AnyStore::Postgres(s) => sqlx::query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(s.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect(),
        };
        names.retain(|n| n != "_sqlx_migrations");
        names.sort();
        names
    }

    /// The first primary-key column of a table.
    pub async fn first_pk_column(&self, table: &str) -> String {
        use sqlx::Row;
        match &self.store {
            AnyStore::Sqlite(s) => {
                sqlx::query("SELECT name FROM pragma_table_info($1) WHERE pk = 1")
                    .bind(table)
                    .fetch_one(s.pool())
                    .await
                    .unwrap()
                    .get(0)
            }
            AnyStore::Postgres(s) => sqlx::query(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = $1::regclass AND i.indisprimary",
            )
            .bind(table)
            .fetch_one(s.pool())
            .await
            .unwrap()
            .get(0),
        }
    }
}

fn db_url(admin_url: &str, name: &str) -> String {
    match admin_url.rfind('/') {
        Some(i)
            if admin_url[..i].contains("://")
                && admin_url[i..].len() > 1
                && !admin_url[..i].ends_with('/') =>
        {
            format!("{}/{name}", &admin_url[..i])
        }
        _ => format!("{}/{name}", admin_url.trim_end_matches('/')),
    }
}

/// Defines `mod $name { sqlite(), postgres() }` running `$body(&TestDb)` on each backend.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident => $body:ident;)*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::support::TestDb::sqlite().await;
                    db.run(super::$body).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(db) = $crate::support::TestDb::postgres().await else { return };
                    db.run(super::$body).await;
                }
            }
        )*
    };
}

pub struct World {
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    pub peppers: Peppers,
}

pub fn world(db: &TestDb) -> World {
    let store = db.store.store();
    let keyring = Keyring::new(vec![KeyMaterial::generate()]).unwrap();
    World {
        vault: Vault::new(keyring, None, store.clone()),
        peppers: Peppers::new(vec![KeyMaterial::generate()]).unwrap(),
        store,
    }
}

pub async fn new_tenant(w: &World, name: &str) -> CreatedTenant {
    tenant::create_tenant(
        w.store.as_ref(),
        &w.vault,
        &w.peppers,
        TenantName::parse(name).unwrap(),
        &actor(),
    )
    .await
    .unwrap()
}

pub async fn new_provider(
    w: &World,
    t: TenantId,
    slug: &str,
    secret: &str,
) -> provider::ProviderRecord {
    // A distinct Discord client id per provider (they are unique across tenants).
    static NEXT: std::sync::atomic::AtomicU64 =
        std::sync::atomic::AtomicU64::new(1_100_000_000_000_000_000);
    let client_id = NEXT
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        .to_string();
    provider::create_provider(
        w.store.as_ref(),
        &w.vault,
        t,
        ProviderSlug::parse(slug).unwrap(),
        ProviderChanges {
            client_id: Some(DiscordClientId::parse(&client_id).unwrap()),
            client_secret: Some(SecretString::from(secret)),
            scopes: Some(vec!["identify".to_owned(), "guilds".to_owned()]),
            ..ProviderChanges::default()
        },
        &actor(),
    )
    .await
    .unwrap()
}

impl TestDb {
    /// Overwrites a provider's sealed client secret with raw bytes (tamper and move tests).
    pub async fn set_client_secret(&self, tenant: TenantId, slug: &str, bytes: &[u8]) {
        let sql = "UPDATE providers SET client_secret = $3 WHERE tenant_id = $1 AND id = $2";
        let n = match &self.store {
            AnyStore::Sqlite(s) => sqlx::query(sql)
                .bind(tenant.to_string())
                .bind(slug)
                .bind(bytes)
                .execute(s.pool())
                .await
                .unwrap()
                .rows_affected(),
            AnyStore::Postgres(s) => sqlx::query(sql)
                .bind(tenant.to_string())
                .bind(slug)
                .bind(bytes)
                .execute(s.pool())
                .await
                .unwrap()
                .rows_affected(),
        };
        assert_eq!(n, 1);
    }

    /// The raw bytes of the SQLite database file and its WAL (empty for PostgreSQL).
    pub fn sqlite_file_bytes(&self) -> Vec<u8> {
        let Some(dir) = &self._dir else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in ["latchkey.db", "latchkey.db-wal"] {
            if let Ok(b) = std::fs::read(dir.path().join(name)) {
                out.extend(b);
            }
        }
        out
    }
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An audit event for store calls made directly by tests.
pub fn audit_event() -> latchkey_core::audit::AuditEvent {
    latchkey_core::audit::AuditEvent::success(&actor(), "test.write", None)
}

/// `events` packed, as the audit pipeline hands them to the store.
pub fn pack(
    events: &[(latchkey_core::TenantId, latchkey_core::audit::AuditEvent)],
) -> latchkey_core::audit::PackedAudits {
    latchkey_core::audit::PackedAudits::of(events).unwrap()
}

/// The actor of use cases run directly by tests.
pub fn actor() -> latchkey_core::audit::Actor {
    latchkey_core::audit::Actor {
        id: "test".to_owned(),
        request_id: None,
    }
}
