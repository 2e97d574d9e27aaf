//! PostgreSQL: the production store and the scale-out path (many replicas, one database).

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::{OpenError, PoolOptions};

/// The PostgreSQL migrations, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Latchkey's ports on PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    pub(crate) notices: crate::changes::Notices,
}

impl crate::Dialect for PgStore {
    type Db = sqlx::Postgres;
    const NAME: &'static str = "postgres";
    const NOTIFY: Option<&'static str> = Some("SELECT pg_notify('latchkey_changes', $1)");
    const BEGIN: &'static str = "BEGIN";
}

impl PgStore {
    /// Connects to a `postgres://` URL.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "sqlx::Error is non_exhaustive"
    )]
    pub async fn open(url: &str, opts: &PoolOptions) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect(url)
            .await
            .map_err(|e| match e {
                sqlx::Error::Configuration(c) => OpenError::BadUrl(c.to_string()),
                other => OpenError::Connect(other.to_string()),
            })?;
        Ok(Self {
            pool,
            notices: crate::changes::Notices::new(),
        })
    }

    /// The connection pool (tests read raw rows through it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Versions not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, latchkey_core::StoreError> {
        crate::pending::<sqlx::Postgres>(&self.pool, &MIGRATOR, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'").await
    }
}

crate::queries::impl_ports!(PgStore);
crate::tool_queries::impl_more_ports!(PgStore);
crate::auth_queries::impl_auth_ports!(PgStore);
