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

/// The audit batch's statement, with `$tail` after it (the conflict clause or nothing).
macro_rules! insert_audits {
    ($tail:literal) => {
        concat!(
            "WITH live AS (SELECT id FROM tenants WHERE id = ANY($9::text[]) FOR KEY SHARE) \
             INSERT INTO audit_events (tenant_id, id, at, actor, action, target, outcome, request_id) \
             SELECT v.* FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
               AS v (tenant_id, id, at, actor, action, target, outcome, request_id) \
             WHERE v.tenant_id IN (SELECT id FROM live)",
            $tail
        )
    };
}

impl PgStore {
    /// Audit events in bulk: statements over `UNNEST`ed arrays of up to
    /// [`AUDIT_ROWS_PER_STATEMENT`](crate::AUDIT_ROWS_PER_STATEMENT) events each;
    /// events of tenants that no longer exist are skipped, and with `dedupe` events already
    /// written too (without it, one of them fails the statement as a conflict).
    ///
    /// The batch's tenants are locked once (`FOR KEY SHARE`, until the commit) instead of a
    /// foreign key's trigger checking each row (a third of the insert's cost, migration 0012):
    /// a tenant deleted before the lock is skipped, and a deletion after it waits for the
    /// commit and then deletes the events too ([`delete_tenant`](latchkey_core::ports::TenantStore::delete_tenant)).
    pub(crate) async fn insert_audit_rows(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        events: &[(latchkey_core::TenantId, latchkey_core::audit::AuditEvent)],
        dedupe: bool,
    ) -> Result<(), latchkey_core::StoreError> {
        use crate::error::OrStore;
        for chunk in events.chunks(crate::AUDIT_ROWS_PER_STATEMENT) {
            let mut cols = (
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
                Vec::with_capacity(chunk.len()),
            );
            let mut tenants: Vec<String> = Vec::new();
            for (tenant, e) in chunk {
                let tenant = tenant.to_string();
                if !tenants.contains(&tenant) {
                    tenants.push(tenant.clone());
                }
                // Borrowed: the arrays are written straight from the events.
                cols.0.push(tenant);
                cols.1.push(e.id.as_str());
                cols.2.push(e.at.0);
                cols.3.push(e.actor.as_str());
                cols.4.push(e.action.as_str());
                cols.5.push(e.target.as_deref());
                cols.6.push(e.outcome.as_str());
                cols.7.push(e.request_id.as_deref());
            }
            sqlx::query(if dedupe {
                insert_audits!(" ON CONFLICT DO NOTHING")
            } else {
                insert_audits!("")
            })
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .bind(cols.4)
            .bind(cols.5)
            .bind(cols.6)
            .bind(cols.7)
            .bind(tenants)
            .execute(&mut **tx)
            .await
            .or_store("audit_events")?;
        }
        Ok(())
    }
}
