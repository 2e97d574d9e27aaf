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
    pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self {
            pool,
            notices: crate::changes::Notices::new(),
        })
    }

    /// The connection pool (tests read raw rows through it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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

/// Rows in one audit `INSERT`: 64 rows of 8 parameters fill a 512-entry (8 KiB) argument
/// buffer, which the allocator serves from its thread cache. At 500 rows the 64 KiB buffer was
/// a fresh mapping each time, returned to the kernel once the statement ran (jemalloc keeps no
/// freed pages, for the waiters' memory): a page fault per 4 KiB and an `madvise` per statement
/// (`perf` of the warm token fetch: page faults and `madvise` 4.8 % of the CPU → 3.3 %).
pub const AUDIT_ROWS_PER_STATEMENT: usize = 64;

impl SqliteStore {
    /// Audit events in bulk: [`AUDIT_ROWS_PER_STATEMENT`] rows per statement; events of tenants
    /// that no longer exist, and events already written, are skipped.
    pub(crate) async fn insert_audit_rows(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        events: &[(latchkey_core::TenantId, latchkey_core::audit::AuditEvent)],
    ) -> Result<(), latchkey_core::StoreError> {
        use crate::error::OrStore;
        for chunk in events.chunks(AUDIT_ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO audit_events (tenant_id, id, at, actor, action, target, outcome, request_id) \
                 SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8 FROM (",
            );
            q.push_values(chunk, |mut row, (tenant, e)| {
                row.push_bind(tenant.to_string())
                    .push_bind(e.id.clone())
                    .push_bind(e.at.0)
                    .push_bind(e.actor.clone())
                    .push_bind(e.action.clone())
                    .push_bind(e.target.clone())
                    .push_bind(e.outcome.clone())
                    .push_bind(e.request_id.clone());
            });
            q.push(
                ") AS v WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = v.column1) \
                 ON CONFLICT (tenant_id, id) DO NOTHING",
            );
            q.build()
                .execute(&mut **tx)
                .await
                .or_store("audit_events")?;
        }
        Ok(())
    }
}
