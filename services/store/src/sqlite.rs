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

/// A tenant's audit events, up to 1,000 a statement: the rows travel as a single JSON text
/// that SQLite's `jsonb_each` unpacks, instead of eight bound values a row. Binding each value cost a
/// copy on the way in (the argument list), another into SQLite, and two frees across threads:
/// `perf` of the warm token fetch put the binding and the argument list's drop at a fifth of
/// SQLite's worker thread, and building the statements at 5 % of the server's samples.
/// (`jsonb_each`, not `json_each`: it hands each row over in SQLite's binary form, which `->>`
/// reads as it is; `json_each` turned every row back into text for `->>` to parse again —
/// 40 % of the worker.)
macro_rules! insert_audits {
    ($tail:literal) => {
        concat!(
            "INSERT INTO audit_events (tenant_id, id, at, actor, action, target, outcome, request_id) \
             SELECT ?1, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6 \
             FROM jsonb_each(?2) AS j WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = ?1)",
            $tail
        )
    };
}

impl SqliteStore {
    /// Audit events in bulk: one statement per tenant in the batch (`insert_audits!`), and per
    /// [`AUDIT_ROWS_PER_STATEMENT`](crate::AUDIT_ROWS_PER_STATEMENT) of its events; events
    /// of tenants that no longer exist are skipped, and with `dedupe` events already written
    /// too (without it, one of them fails the statement as a conflict).
    pub(crate) async fn insert_audit_rows(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        events: &[(latchkey_core::TenantId, latchkey_core::audit::AuditEvent)],
        dedupe: bool,
    ) -> Result<(), latchkey_core::StoreError> {
        use crate::error::OrStore;
        // A row as `jsonb_each` reads it: `[id, at, actor, action, target, outcome, request_id]`.
        type Row<'a> = (
            &'a str,
            i64,
            &'a str,
            &'a str,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
        );
        let mut order: Vec<&(latchkey_core::TenantId, latchkey_core::audit::AuditEvent)> =
            events.iter().collect();
        // Stable: each tenant's events keep their order.
        order.sort_by_key(|(tenant, _)| *tenant);
        let groups = order
            .chunk_by(|a, b| a.0 == b.0)
            .flat_map(|group| group.chunks(crate::AUDIT_ROWS_PER_STATEMENT));
        for group in groups {
            let Some((tenant, _)) = group.first() else {
                continue;
            };
            let rows: Vec<Row<'_>> = group
                .iter()
                .map(|(_, e)| {
                    (
                        e.id.as_str(),
                        e.at.0,
                        e.actor.as_str(),
                        e.action.as_str(),
                        e.target.as_deref(),
                        e.outcome.as_str(),
                        e.request_id.as_deref(),
                    )
                })
                .collect();
            // Sized up front: grown as it was written, the text was copied over and over
            // (`perf`: its reallocations a third of the flusher's JSON).
            let size = rows
                .iter()
                .map(|(id, _, actor, action, target, outcome, request_id)| {
                    48 + id.len()
                        + actor.len()
                        + action.len()
                        + target.map_or(4, str::len)
                        + outcome.len()
                        + request_id.map_or(4, str::len)
                })
                .sum::<usize>();
            let mut json = Vec::with_capacity(size);
            serde_json::to_writer(&mut json, &rows).map_err(|_| {
                latchkey_core::StoreError::Corrupt {
                    table: "audit_events",
                    detail: "the batch could not be written as JSON".to_owned(),
                }
            })?;
            let json = String::from_utf8(json).map_err(|_| latchkey_core::StoreError::Corrupt {
                table: "audit_events",
                detail: "the batch's JSON is not UTF-8".to_owned(),
            })?;
            sqlx::query(if dedupe {
                insert_audits!(" ON CONFLICT DO NOTHING")
            } else {
                insert_audits!("")
            })
            .bind(tenant.to_string())
            .bind(json)
            .execute(&mut **tx)
            .await
            .or_store("audit_events")?;
        }
        Ok(())
    }
}
