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
            .busy_timeout(Duration::from_secs(5));
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
