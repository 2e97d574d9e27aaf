//! The embedded default: one SQLite file (created if missing) in WAL mode with foreign keys on.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{OpenError, PoolOptions};

/// The SQLite migrations, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Latchkey's ports on SQLite.
pub struct SqliteStore {
    /// Reads (WAL: they never wait for the writer).
    pool: SqlitePool,
    /// Every write, on one connection: SQLite has one writer at a time, and writers that
    /// compete for its lock wait in its busy handler, which sleeps and retries (1 ms growing to
    /// 100 ms) in no order — under 64 concurrent `auth.start` calls some waited over 2 s
    /// (docs/benchmarks.md). Here they queue for the connection instead, first come first
    /// served, and each begins the moment the one before commits.
    writer: SqlitePool,
    pub(crate) notices: crate::changes::Notices,
}

impl crate::Dialect for SqliteStore {
    type Db = sqlx::Sqlite;
    const NAME: &'static str = "sqlite";
    const NOTIFY: Option<&'static str> = None;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

impl SqliteStore {
    /// Opens (creating the file and its directory if needed) a `sqlite://path` database.
    pub async fn open(url: &str, opts: &PoolOptions) -> Result<Self, OpenError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| OpenError::BadUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // 512 KiB of pages per pooled connection (SQLite's default is 2 MiB each, 20 MiB for
            // the pool): the operating system's page cache holds the file anyway, and the hot
            // path reads from Latchkey's own caches (docs/benchmarks.md, waiter memory).
            .pragma("cache_size", "-512")
            // A transaction keeps its changed pages in memory until it commits, beyond that
            // size, rather than writing them to the WAL early and reading them back: an audit
            // flush (5,000 rows) changes several times that, and early writes cost 0.58 page
            // writes and 0.2 reads a released token (`strace -c` under the warm fetch); without,
            // 0.34 and 0.12. The pages beyond the size are freed at commit.
            .pragma("cache_spill", "off");
        if let Some(dir) = connect.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| OpenError::Connect(format!("cannot create {}: {e}", dir.display())))?;
        }
        // The writer first: it creates the file and sets the journal mode.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self {
            pool,
            writer,
            notices: crate::changes::Notices::new(),
        })
    }

    /// The readers' connection pool (tests read raw rows through it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The writer's pool: one connection, through which every write of the store goes (and the
    /// migrations).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Versions not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, latchkey_core::StoreError> {
        crate::pending::<sqlx::Sqlite>(
            &self.pool,
            &MIGRATOR,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .await
    }
}

crate::queries::impl_ports!(SqliteStore);
crate::tool_queries::impl_more_ports!(SqliteStore);
crate::auth_queries::impl_auth_ports!(SqliteStore);

impl SqliteStore {
    /// The pipeline's audit batches (migration 0014), a statement each; the batch of a tenant
    /// that no longer exists is skipped (SQLite has one writer, so the check holds until the
    /// commit). A batch already stored fails the statement as a conflict.
    pub(crate) async fn insert_audit_batches(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        batches: Vec<crate::AuditBatch<'_>>,
    ) -> Result<(), latchkey_core::StoreError> {
        use crate::error::OrStore;
        for b in batches {
            let json = b.json()?;
            sqlx::query(
                "INSERT INTO audit_batches (tenant_id, id, first_at, last_at, events, starts, completions, releases) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = ?1)",
            )
            .bind(b.tenant)
            .bind(b.id)
            .bind(b.first_at)
            .bind(b.last_at)
            // By value: the text is not copied again on its way to SQLite.
            .bind(json)
            .bind(b.counts[0])
            .bind(b.counts[1])
            .bind(b.counts[2])
            .execute(&mut **tx)
            .await
            .or_store("audit_batches")?;
        }
        Ok(())
    }
}
