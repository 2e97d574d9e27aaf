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

    /// Where the shared statements write: the same pool (PostgreSQL takes concurrent writers;
    /// on SQLite it is a connection of its own, [`crate::SqliteStore::writer`]).
    pub(crate) fn writer(&self) -> &PgPool {
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
    /// The pipeline's audit batches (migration 0014), a statement each; the batch of a tenant
    /// that no longer exists is skipped. A batch already stored fails the statement as a
    /// conflict.
    ///
    /// The tenant is locked (`FOR KEY SHARE`, until the commit) instead of a foreign key's
    /// trigger (migration 0012): a tenant deleted before the lock is skipped, and a deletion
    /// after it waits for the commit and then deletes the batches too
    /// ([`delete_tenant`](latchkey_core::ports::TenantStore::delete_tenant)).
    pub(crate) async fn insert_audit_batches(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        batches: Vec<crate::AuditBatch<'_>>,
    ) -> Result<(), latchkey_core::StoreError> {
        use crate::error::OrStore;
        for b in &batches {
            sqlx::query(
                "INSERT INTO audit_batches (tenant_id, id, first_at, last_at, events, starts, completions, releases) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE)",
            )
            .bind(b.tenant.as_str())
            .bind(b.id)
            .bind(b.first_at)
            .bind(b.last_at)
            .bind(EventsText(b))
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

/// A batch's events bound as the statement's text, written as JSON straight into the
/// statement's arguments: through a `String` of their own, each batch's text was allocated,
/// copied into the arguments (grown as it went) and freed — with jemalloc returning freed
/// pages at once (`.cargo/config.toml`), `perf` put page faults and unmapping at two fifths of
/// the audit thread's samples.
struct EventsText<'b>(&'b crate::AuditBatch<'b>);

impl sqlx::Type<sqlx::Postgres> for EventsText<'_> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for EventsText<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        self.0.write_json(buf)?;
        Ok(sqlx::encode::IsNull::No)
    }
}
