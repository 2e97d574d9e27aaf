//! Test databases: a temp-file SQLite, or a uniquely named PostgreSQL database created for the
//! test and dropped afterwards. With `CI=true`, an unreachable PostgreSQL fails the test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use latchkey_store::{AnyStore, PoolOptions};

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
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("latchkey.db").display());
        let store = AnyStore::open(&url, &PoolOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        Self { store, kind: "sqlite", cleanup: None, _dir: Some(dir) }
    }

    /// `None` when PostgreSQL is unreachable outside CI (the test then says so and passes).
    pub async fn postgres() -> Option<Self> {
        let admin_url = postgres_admin_url();
        let admin = match sqlx::PgPool::connect(&admin_url).await {
            Ok(p) => p,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED: PostgreSQL unreachable at {admin_url}: {e} (set CI=true to fail instead)");
                return None;
            }
            Err(e) => panic!("CI=true and PostgreSQL is unreachable at {admin_url}: {e}"),
        };
        let name = format!("latchkey_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        admin.close().await;
        let url = db_url(&admin_url, &name);
        let store = AnyStore::open(&url, &PoolOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        Some(Self { store, kind: "postgres", cleanup: Some((admin_url, name)), _dir: None })
    }

    /// The URL of this database (PostgreSQL), for tests that open a second pool.
    pub fn postgres_url(&self) -> Option<String> {
        self.cleanup.as_ref().map(|(admin, name)| db_url(admin, name))
    }

    /// Runs a test body, then drops the database even when the body panicked.
    pub async fn run(self, body: impl AsyncFnOnce(&TestDb)) {
        use futures::FutureExt;
        let outcome = std::panic::AssertUnwindSafe(body(&self)).catch_unwind().await;
        self.finish().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = &self.cleanup {
            let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
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

    /// The first primary-key column of a table.
    pub async fn first_pk_column(&self, table: &str) -> String {
        use sqlx::Row;
        match &self.store {
            AnyStore::Sqlite(s) => sqlx::query("SELECT name FROM pragma_table_info($1) WHERE pk = 1")
                .bind(table)
                .fetch_one(s.pool())
                .await
                .unwrap()
                .get(0),
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
        Some(i) if admin_url[..i].contains("://") && admin_url[i..].len() > 1 && !admin_url[..i].ends_with('/') => {
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
