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

impl PgStore {
    /// The pipeline's audit batches (migration 0014) in one statement over `UNNEST`ed arrays;
    /// the batch of a tenant that no longer exists is skipped. A batch already stored fails the
    /// statement as a conflict.
    ///
    /// The batches' tenants are locked (`FOR KEY SHARE`, until the commit) instead of a foreign
    /// key's trigger (migration 0012): a tenant deleted before the lock is skipped, and a
    /// deletion after it waits for the commit and then deletes the batches too
    /// ([`delete_tenant`](latchkey_core::ports::TenantStore::delete_tenant)).
    pub(crate) async fn insert_audit_batches(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        batches: Vec<crate::AuditBatch>,
    ) -> Result<(), latchkey_core::StoreError> {
        use crate::error::OrStore;
        if batches.is_empty() {
            return Ok(());
        }
        let tenants: Vec<&str> = batches.iter().map(|b| b.tenant.as_str()).collect();
        sqlx::query(
            "WITH live AS (SELECT id FROM tenants WHERE id = ANY($1::text[]) FOR KEY SHARE) \
             INSERT INTO audit_batches (tenant_id, id, first_at, last_at, events) \
             SELECT v.* FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[]) \
               AS v (tenant_id, id, first_at, last_at, events) \
             WHERE v.tenant_id IN (SELECT id FROM live)",
        )
        .bind(tenants)
        .bind(batches.iter().map(|b| b.id.as_str()).collect::<Vec<_>>())
        .bind(batches.iter().map(|b| b.first_at).collect::<Vec<_>>())
        .bind(batches.iter().map(|b| b.last_at).collect::<Vec<_>>())
        .bind(
            batches
                .iter()
                .map(|b| b.events.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await
        .or_store("audit_batches")?;
        Ok(())
    }
}
