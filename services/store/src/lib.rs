//! `latchkey-store` implements the ports of `latchkey-core` on SQLite (the embedded default)
//! and PostgreSQL (production and scale-out), with one set of SQL statements shared by both
//! dialects (`queries.rs`), per-dialect connection set-up and migrations (`sqlite.rs`,
//! `postgres.rs`), and row types decoded into domain types at this boundary (`rows.rs`).
//!
//! Every statement on a tenant-owned table is bound to the `TenantId` argument; the few
//! cross-tenant statements (authentication by key id, data-key listing for start-up checks and
//! rotation, platform tenant listing) are marked as such in `queries.rs`.

mod auth_queries;
mod changes;
mod error;
mod postgres;
mod queries;
mod rows;
mod sqlite;
mod tool_queries;

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::StoreError;
use latchkey_core::ports::Store;

pub use changes::next as next_change;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Pool settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a request waits for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`, or is malformed.
    #[error("database.url: {0}")]
    BadUrl(String),
    /// The database could not be reached or created.
    #[error("could not open the database: {0}")]
    Connect(String),
    /// A migration failed or the applied migrations do not match this build's.
    #[error("migrations failed: {0}")]
    Migrate(String),
}

/// An opened database of either kind.
#[derive(Clone)]
pub enum AnyStore {
    /// The embedded default.
    Sqlite(Arc<SqliteStore>),
    /// PostgreSQL.
    Postgres(Arc<PgStore>),
}

impl AnyStore {
    /// Opens the database a URL names: `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn open(url: &str, opts: &PoolOptions) -> Result<Self, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(Arc::new(SqliteStore::open(url, opts).await?)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(Arc::new(PgStore::open(url, opts).await?)))
        } else {
            Err(OpenError::BadUrl(
                "must start with sqlite:// (embedded) or postgres:// (PostgreSQL)".to_owned(),
            ))
        }
    }

    /// The store behind the domain ports.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::clone(s) as Arc<dyn Store>,
            Self::Postgres(s) => Arc::clone(s) as Arc<dyn Store>,
        }
    }

    /// Applies pending migrations; returns the versions applied by this call.
    pub async fn migrate(&self) -> Result<Vec<i64>, OpenError> {
        let pending = self
            .pending_migrations()
            .await
            .map_err(|e| OpenError::Migrate(e.to_string()))?;
        match self {
            Self::Sqlite(s) => sqlite::MIGRATOR.run(s.writer()).await,
            Self::Postgres(s) => postgres::MIGRATOR.run(s.pool()).await,
        }
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
        Ok(pending)
    }

    /// Versions this build knows that the database has not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        match self {
            Self::Sqlite(s) => s.pending_migrations().await,
            Self::Postgres(s) => s.pending_migrations().await,
        }
    }

    /// Change notices of this store's writes, and on PostgreSQL of every replica's once
    /// [`AnyStore::listen_for_changes`] runs.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<latchkey_core::cache::Change> {
        match self {
            Self::Sqlite(s) => s.notices.subscribe(),
            Self::Postgres(s) => s.notices.subscribe(),
        }
    }

    /// On PostgreSQL, starts listening for other replicas' change notices (ends when the pool
    /// closes); on SQLite there are no other writers to hear, so nothing starts.
    pub fn listen_for_changes(&self) -> Option<tokio::task::JoinHandle<()>> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(s) => Some(tokio::spawn(changes::listen(
                s.pool().clone(),
                s.notices.clone(),
            ))),
        }
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => {
                s.writer().close().await;
                s.pool().close().await;
            }
            Self::Postgres(s) => s.pool().close().await,
        }
    }
}

/// The migration versions of each dialect, for the test that keeps them in step.
pub fn migration_versions() -> (Vec<i64>, Vec<i64>) {
    (
        sqlite::MIGRATOR.iter().map(|m| m.version).collect(),
        postgres::MIGRATOR.iter().map(|m| m.version).collect(),
    )
}

/// Audit events in one `audit_batches` row, at most (migration 0014): a tenant's events of one
/// flush go in as rows of this many.
pub const AUDIT_EVENTS_PER_BATCH: usize = 1_000;

/// A flush's events as they are stored: by tenant (each tenant's in the order given), at most
/// [`AUDIT_EVENTS_PER_BATCH`] to a group, as their positions in `events`. (No index of the
/// whole flush is built: a flush usually holds one tenant or a few, and a large temporary
/// buffer costs more than it saves — jemalloc returns freed pages at once,
/// `.cargo/config.toml`, so each one is mapped, faulted in and unmapped again.)
pub(crate) fn audit_groups(
    events: &latchkey_core::audit::PackedAudits,
) -> Vec<(latchkey_core::TenantId, Vec<usize>)> {
    let tenant_of = |i: usize| events.tenant(i);
    let mut tenants: Vec<latchkey_core::TenantId> = Vec::new();
    for tenant in (0..events.len()).filter_map(tenant_of) {
        if !tenants.contains(&tenant) {
            tenants.push(tenant);
        }
    }
    let mut groups = Vec::new();
    for tenant in tenants {
        let of_tenant = || (0..events.len()).filter(move |&i| tenant_of(i) == Some(tenant));
        let mut left = of_tenant().count();
        let mut group = Vec::with_capacity(left.min(AUDIT_EVENTS_PER_BATCH));
        for i in of_tenant() {
            if group.len() == AUDIT_EVENTS_PER_BATCH {
                let next = Vec::with_capacity(left.min(AUDIT_EVENTS_PER_BATCH));
                groups.push((tenant, std::mem::replace(&mut group, next)));
            }
            group.push(i);
            left -= 1;
        }
        groups.push((tenant, group));
    }
    groups
}

/// The earliest and the latest time of the events of `events` at `group`
/// (`(i64::MAX, i64::MIN)` for none).
pub(crate) fn time_bounds(
    events: &latchkey_core::audit::PackedAudits,
    group: &[usize],
) -> (i64, i64) {
    group
        .iter()
        .filter_map(|&i| events.get(i))
        .fold((i64::MAX, i64::MIN), |(lo, hi), e| {
            (lo.min(e.at.0), hi.max(e.at.0))
        })
}

/// One row of `audit_batches`: a tenant's events, to be written as one JSON text (migration
/// 0014).
pub(crate) struct AuditBatch<'a> {
    /// The tenant.
    pub(crate) tenant: String,
    /// The first event's id.
    pub(crate) id: &'a str,
    /// The earliest event's time.
    pub(crate) first_at: i64,
    /// The latest event's time.
    pub(crate) last_at: i64,
    /// How many events are `authorization.start`, `authorization.completed` and
    /// `token.release`: what the daily usage counts.
    pub(crate) counts: [i64; 3],
    /// The flush's events.
    events: &'a latchkey_core::audit::PackedAudits,
    /// The positions in `events` of this row's.
    group: Vec<usize>,
}

/// The actions of [`AuditBatch::counts`], in order.
const COUNTED_ACTIONS: [&str; 3] = [
    "authorization.start",
    "authorization.completed",
    "token.release",
];

/// Events written as the JSON of an [`AuditBatch`], straight from the packed events.
struct BatchJson<'a>(&'a AuditBatch<'a>);

impl serde::Serialize for BatchJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.events().map(|e| {
            (
                e.id,
                e.at.0,
                e.actor,
                e.action,
                e.target,
                e.outcome,
                e.request_id,
            )
        }))
    }
}

impl<'a> AuditBatch<'a> {
    /// The row of the events of `events` at `group` (none if there are none).
    pub(crate) fn of(
        tenant: latchkey_core::TenantId,
        events: &'a latchkey_core::audit::PackedAudits,
        group: Vec<usize>,
    ) -> Option<Self> {
        let id = events.get(*group.first()?)?.id;
        let (first_at, last_at) = time_bounds(events, &group);
        let mut counts = [0; 3];
        for e in group.iter().filter_map(|&i| events.get(i)) {
            if let Some(i) = COUNTED_ACTIONS.iter().position(|a| *a == e.action) {
                counts[i] += 1;
            }
        }
        Some(Self {
            tenant: tenant.to_string(),
            id,
            first_at,
            last_at,
            counts,
            events,
            group,
        })
    }

    /// This row's events.
    fn events(&self) -> impl Iterator<Item = latchkey_core::audit::AuditEventRef<'a>> + '_ {
        self.group.iter().filter_map(|&i| self.events.get(i))
    }

    /// Appends the events' JSON, `[[id, at, actor, action, target, outcome, request_id], ...]`,
    /// to `out`, having made room for it first: grown as it was written, the text was copied
    /// over and over (`perf`: its reallocations a third of the flusher's JSON).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let size = self
            .events()
            .map(|e| {
                48 + e.id.len()
                    + e.actor.len()
                    + e.action.len()
                    + e.target.map_or(4, str::len)
                    + e.outcome.len()
                    + e.request_id.map_or(4, str::len)
            })
            .sum::<usize>();
        out.reserve(size);
        serde_json::to_writer(out, &BatchJson(self)).map_err(|_| StoreError::Corrupt {
            table: "audit_batches",
            detail: "the batch could not be written as JSON".to_owned(),
        })
    }

    /// The events' JSON as a text of its own.
    pub(crate) fn json(&self) -> Result<String, StoreError> {
        let mut json = Vec::new();
        self.write_json(&mut json)?;
        String::from_utf8(json).map_err(|_| StoreError::Corrupt {
            table: "audit_batches",
            detail: "the batch's JSON is not UTF-8".to_owned(),
        })
    }
}

/// Ties a store type to its sqlx database and name, for the shared statements.
pub(crate) trait Dialect {
    type Db: sqlx::Database;
    const NAME: &'static str;
    /// The statement that announces a change inside a transaction, where the database can.
    const NOTIFY: Option<&'static str>;
    /// The statement that opens a write transaction. SQLite takes its write lock up front
    /// (`BEGIN IMMEDIATE`, which waits out the busy timeout): a deferred transaction that
    /// reads first cannot upgrade to a write while another connection holds the lock, and
    /// SQLite fails that upgrade at once instead of waiting.
    const BEGIN: &'static str;
}

/// Opens a write transaction on `pool` the dialect's way ([`Dialect::BEGIN`]).
pub(crate) async fn begin<D: Dialect>(
    pool: &sqlx::Pool<D::Db>,
) -> Result<sqlx::Transaction<'static, D::Db>, sqlx::Error> {
    pool.begin_with(D::BEGIN).await
}

/// Migration versions the database has not applied yet.
async fn pending<DB>(
    pool: &sqlx::Pool<DB>,
    migrator: &sqlx::migrate::Migrator,
    table_exists: &'static str,
) -> Result<Vec<i64>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments: sqlx::IntoArguments<DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use sqlx::Row;
    let all: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let exists = sqlx::query(table_exists)
        .fetch_optional(pool)
        .await
        .map_err(|e| error::map(e, "migrations"))?;
    if exists.is_none() {
        return Ok(all);
    }
    let applied: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await
        .map_err(|e| error::map(e, "migrations"))?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .map_err(|e| error::map(e, "migrations"))?;
    Ok(all.into_iter().filter(|v| !applied.contains(v)).collect())
}
