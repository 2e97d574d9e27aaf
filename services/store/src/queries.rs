//! Every SQL statement of the store, written once and instantiated for both dialects by
//! `impl_ports!`. Parameters are `$N` (PostgreSQL's syntax, which SQLite also accepts), and
//! values are always bound — never formatted into SQL (security.md B15).
//!
//! Statements on tenant-owned tables bind `tenant_id` from the `TenantId` argument. The
//! cross-tenant statements are exactly: `find_key_for_auth`, `update_key_hash`,
//! `touch_api_key` (authentication by globally unique key id), `all_tenant_keys` (start-up check
//! and rotation), and the platform tenant operations.

macro_rules! impl_ports {
    ($store:ty) => {
        use async_trait::async_trait;
        use latchkey_core::apikey::KeyHash;
        use latchkey_core::audit::{AuditEvent, AuditFilter};
        use latchkey_core::crypto::{MasterKeyId, WrappedKey};
        use latchkey_core::ports::{
            ApiKeyRecord, ApiKeyStore, AuditStore, AuthKeyRecord, OperatorKeyRecord, ProviderStore, SettingsStore, Store,
            TenantKeyRecord, TenantKeyStore, TenantStore,
        };
        use latchkey_core::provider::ProviderRecord;
        use latchkey_core::settings::VerificationSettings;
        use latchkey_core::tenant::Tenant;
        use latchkey_core::time::UnixMillis;
        use latchkey_core::{ApiKeyId, StoreError, TenantId};

        use crate::error::OrStore;
        use crate::rows::{self, ApiKeyRow, AuthKeyRow, ProviderRow, TenantKeyRow, TenantRow};

        macro_rules! tenant_key_cols {
            () => {
                "tenant_id, version, master_key_id, wrapped_key, created_at"
            };
        }
        macro_rules! api_key_cols {
            () => {
                "id, role, tool_id, name, pepper_id, key_hash, created_at, last_used_at, revoked_at"
            };
        }
        macro_rules! provider_cols {
            () => {
                "id, ref, description, external_id, status, client_id, client_secret, scopes, policy, endpoint_origin, created_at, updated_at"
            };
        }

        #[async_trait]
        impl TenantStore for $store {
            #[tracing::instrument(name = "store.create_tenant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn create_tenant(
                &self,
                tenant: &Tenant,
                data_key: &TenantKeyRecord,
                api_keys: &[ApiKeyRecord],
                audit: &AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("tenant")?;
                sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(tenant.id.to_string())
                    .bind(tenant.name.as_str())
                    .bind(tenant.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("tenant")?;
                sqlx::query(
                    "INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant.id.to_string())
                .bind(rows::version(data_key.version))
                .bind(&data_key.wrapped.master_key_id.0)
                .bind(&data_key.wrapped.bytes)
                .bind(data_key.created_at.0)
                .execute(&mut *tx)
                .await
                .or_store("tenant key")?;
                for key in api_keys {
                    insert_api_key(&mut *tx, tenant.id, key).await?;
                }
                insert_audit(&mut *tx, tenant.id, audit).await?;
                insert_platform_audit(&mut *tx, audit).await?;
                tx.commit().await.or_store("tenant")
            }

            #[tracing::instrument(name = "store.get_tenant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
                sqlx::query_as::<_, TenantRow>("SELECT id, name, created_at FROM tenants WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("tenants")?
                    .map(Tenant::try_from)
                    .transpose()
            }

            #[tracing::instrument(name = "store.list_platform_audit_events", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn list_platform_audit_events(&self, f: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
                // Platform scope: operator routes only.
                let rows = sqlx::query_as::<_, rows::AuditRow>(
                    "SELECT id, at, actor, action, target, outcome, request_id FROM platform_audit_events \
                     WHERE ($1 IS NULL OR action = $1) AND at >= $2 AND at < $3 ORDER BY at, id",
                )
                .bind(f.action.as_deref())
                .bind(f.since.map_or(i64::MIN, |t| t.0))
                .bind(f.until.map_or(i64::MAX, |t| t.0))
                .fetch_all(&self.pool)
                .await
                .or_store("platform_audit_events")?;
                Ok(rows.into_iter().map(AuditEvent::from).collect())
            }

            #[tracing::instrument(name = "store.list_tenants", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
                let rows = sqlx::query_as::<_, TenantRow>("SELECT id, name, created_at FROM tenants ORDER BY id")
                    .fetch_all(&self.pool)
                    .await
                    .or_store("tenants")?;
                rows::all(rows)
            }

            #[tracing::instrument(name = "store.delete_tenant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn delete_tenant(&self, id: TenantId, revoked: &[latchkey_core::GrantId], audit: &AuditEvent) -> Result<(), StoreError> {
                // Every tenant-owned table cascades from tenants, data keys included; audit
                // events are deleted below.
                let change = latchkey_core::cache::Change::Tenant(id);
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("tenants")?;
                // Lock the tenant (on PostgreSQL; SQLite has one writer), then check that
                // nothing is owed and that its grants are exactly the ones revoked.
                if <$store as crate::Dialect>::NAME == "postgres" {
                    sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .or_store("tenants")?;
                }
                let (owed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pending_revocations WHERE tenant_id = $1")
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await
                    .or_store("pending_revocations")?;
                let grants: Vec<(String,)> = sqlx::query_as("SELECT id FROM grants WHERE tenant_id = $1 AND status <> 'revoked'")
                    .bind(id.to_string())
                    .fetch_all(&mut *tx)
                    .await
                    .or_store("grants")?;
                let revoked: Vec<String> = revoked.iter().map(ToString::to_string).collect();
                if owed > 0 || !same_ids(grants, revoked.iter().map(String::as_str)) {
                    return Err(StoreError::Conflict("the tenant's grants changed"));
                }
                let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .or_store("tenants")?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                // Audit events do not cascade (migrations 0012 to 0014). Read after the
                // tenant's lock: a batch being written holds it until it commits, so its events
                // are seen here.
                sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .or_store("audit_events")?;
                sqlx::query("DELETE FROM audit_batches WHERE tenant_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .or_store("audit_batches")?;
                insert_platform_audit(&mut *tx, audit).await?;
                commit_announcing(tx, &self.notices, &[change], "tenants").await?;
                Ok(())
            }
        }

        /// Whether the ids of `rows` are exactly `expected` (as sets).
        fn same_ids<'a>(rows: Vec<(String,)>, expected: impl Iterator<Item = &'a str>) -> bool {
            let mut have: Vec<String> = rows.into_iter().map(|(id,)| id).collect();
            let mut want: Vec<&str> = expected.collect();
            have.sort();
            want.sort_unstable();
            have.len() == want.len() && have.iter().zip(&want).all(|(h, w)| h == w)
        }

        /// Announces `change` to other replicas inside the write's transaction (PostgreSQL's
        /// NOTIFY is delivered on commit only); the caller announces it in-process after commit.
        async fn announce_in_tx<'e, E>(exec: E, change: latchkey_core::cache::Change) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            if let Some(sql) = <$store as crate::Dialect>::NOTIFY {
                sqlx::query(sql).bind(change.encode()).execute(exec).await.or_store("change notice")?;
            }
            Ok(())
        }

        /// Announces `changes` inside `tx` (see [`announce_in_tx`]), commits it, then announces
        /// them in-process.
        async fn commit_announcing(
            mut tx: sqlx::Transaction<'_, <$store as crate::Dialect>::Db>,
            notices: &crate::changes::Notices,
            changes: &[latchkey_core::cache::Change],
            table: &'static str,
        ) -> Result<(), StoreError> {
            for c in changes {
                announce_in_tx(&mut *tx, *c).await?;
            }
            tx.commit().await.or_store(table)?;
            for c in changes {
                notices.send(*c);
            }
            Ok(())
        }

        async fn insert_audit<'e, E>(exec: E, tenant: TenantId, e: &AuditEvent) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            // A deleted tenant's event is skipped. audit_events has no foreign key (migrations
            // 0012 and 0013): on PostgreSQL the tenant is locked until the commit instead
            // (SQLite has one writer).
            let sql = if <$store as crate::Dialect>::NAME == "postgres" {
                "INSERT INTO audit_events (tenant_id, id, at, actor, action, target, outcome, request_id) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE)"
            } else {
                "INSERT INTO audit_events (tenant_id, id, at, actor, action, target, outcome, request_id) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)"
            };
            write_audit(exec, sql, tenant, e).await
        }

        /// Runs `sql`, an insert of one audit event whose parameters are, in order, the tenant
        /// and the event's id, time, actor, action, target, outcome and request id.
        async fn write_audit<'e, E>(exec: E, sql: &'static str, tenant: TenantId, e: &AuditEvent) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(&e.id)
            .bind(e.at.0)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(e.target.as_deref())
            .bind(&e.outcome)
            .bind(e.request_id.as_deref())
            .execute(exec)
            .await
            .or_store("audit event")?;
            Ok(())
        }

        async fn insert_platform_audit<'e, E>(exec: E, e: &AuditEvent) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            sqlx::query(
                "INSERT INTO platform_audit_events (id, at, actor, action, target, outcome, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&e.id)
            .bind(e.at.0)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(e.target.as_deref())
            .bind(&e.outcome)
            .bind(e.request_id.as_deref())
            .execute(exec)
            .await
            .or_store("platform audit event")?;
            Ok(())
        }

        async fn insert_revocation<'e, E>(
            exec: E,
            tenant: TenantId,
            r: &latchkey_core::revocation::RevocationRecord,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            sqlx::query(
                "INSERT INTO pending_revocations (tenant_id, id, grant_id, client_id, client_secret, endpoint_origin, \
                 token, attempts, next_attempt_at, last_error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(tenant.to_string())
            .bind(&r.id)
            .bind(&r.grant_id)
            .bind(&r.client_id)
            .bind(&r.client_secret)
            .bind(r.endpoint_origin.as_deref())
            .bind(&r.token)
            .bind(i64::from(r.attempts))
            .bind(r.next_attempt_at.0)
            .bind(r.last_error.as_deref())
            .bind(r.created_at.0)
            .execute(exec)
            .await
            .or_store("revocation")?;
            Ok(())
        }

        async fn insert_grant_row<'e, E>(exec: E, tenant: TenantId, g: &latchkey_core::grant::GrantRecord) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            sqlx::query(
                "INSERT INTO grants (tenant_id, id, user_id, provider_ref, discord_user_id, user_info, scopes, \
                 access_token, refresh_token, expires_at, generation, status, created_at, updated_at, authorization_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(tenant.to_string())
            .bind(g.id.to_string())
            .bind(&g.user_id)
            .bind(g.provider.to_string())
            .bind(&g.discord_user_id)
            .bind(&g.user_info)
            .bind(g.scopes.join(" "))
            .bind(&g.access_token)
            .bind(g.refresh_token.as_deref())
            .bind(g.expires_at.0)
            .bind(g.generation)
            .bind(g.status.as_str())
            .bind(g.created_at.0)
            .bind(g.updated_at.0)
            .bind(g.authorization.map(|a| a.to_string()))
            .execute(exec)
            .await
            .or_store("grant")?;
            Ok(())
        }

        async fn insert_api_key<'e, E>(exec: E, tenant: TenantId, key: &ApiKeyRecord) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as crate::Dialect>::Db>,
        {
            sqlx::query(
                "INSERT INTO api_keys (tenant_id, id, role, tool_id, name, pepper_id, key_hash, created_at, \
                 last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(tenant.to_string())
            .bind(key.id.to_string())
            .bind(key.role.as_str())
            .bind(key.tool_id.as_deref())
            .bind(&key.name)
            .bind(&key.hash.pepper_id)
            .bind(key.hash.mac.as_slice())
            .bind(key.created_at.0)
            .bind(key.last_used_at.map(|t| t.0))
            .bind(key.revoked_at.map(|t| t.0))
            .execute(exec)
            .await
            .or_store("api key")?;
            Ok(())
        }

        #[async_trait]
        impl ApiKeyStore for $store {
            #[tracing::instrument(name = "store.insert_api_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn insert_api_key(&self, tenant: TenantId, key: &ApiKeyRecord, audit: &AuditEvent) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("api key")?;
                insert_api_key(&mut *tx, tenant, key).await?;
                insert_audit(&mut *tx, tenant, audit).await?;
                tx.commit().await.or_store("api key")
            }

            #[tracing::instrument(name = "store.get_api_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn get_api_key(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query_as::<_, ApiKeyRow>(concat!("SELECT ", api_key_cols!(), " FROM api_keys WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .or_store("api_keys")?
                .map(ApiKeyRecord::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.list_api_keys", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
                let rows = sqlx::query_as::<_, ApiKeyRow>(concat!("SELECT ", api_key_cols!(), " FROM api_keys WHERE tenant_id = $1 ORDER BY id"))
                .bind(tenant.to_string())
                .fetch_all(&self.pool)
                .await
                .or_store("api_keys")?;
                rows::all(rows)
            }

            #[tracing::instrument(name = "store.revoke_api_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, at: UnixMillis, audit: &AuditEvent) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("api_keys")?;
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant.to_string())
                .bind(id.to_string())
                .bind(at.0)
                .execute(&mut *tx)
                .await
                .or_store("api_keys")?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                // Its dashboard sessions end with it.
                sqlx::query("DELETE FROM dashboard_sessions WHERE tenant_id = $1 AND key_id = $2")
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .or_store("dashboard_sessions")?;
                insert_audit(&mut *tx, tenant, audit).await?;
                let change = latchkey_core::cache::Change::Key(id);
                commit_announcing(tx, &self.notices, &[change], "api_keys").await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.find_key_for_auth", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn find_key_for_auth(&self, id: ApiKeyId) -> Result<Option<AuthKeyRecord>, StoreError> {
                // Cross-tenant by design (authentication): key ids are globally unique.
                sqlx::query_as::<_, AuthKeyRow>(
                    "SELECT id, tenant_id, role, tool_id, pepper_id, key_hash, revoked_at \
                     FROM api_keys WHERE id = $1 \
                     UNION ALL \
                     SELECT id, NULL, 'operator', NULL, pepper_id, key_hash, revoked_at \
                     FROM operator_keys WHERE id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .or_store("api_keys")?
                .map(AuthKeyRecord::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.update_key_hash", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn update_key_hash(&self, id: ApiKeyId, hash: &KeyHash) -> Result<(), StoreError> {
                for sql in [
                    "UPDATE api_keys SET pepper_id = $2, key_hash = $3 WHERE id = $1",
                    "UPDATE operator_keys SET pepper_id = $2, key_hash = $3 WHERE id = $1",
                ] {
                    sqlx::query(sql)
                        .bind(id.to_string())
                        .bind(&hash.pepper_id)
                        .bind(hash.mac.as_slice())
                        .execute(self.writer())
                        .await
                        .or_store("api_keys")?;
                }
                let change = latchkey_core::cache::Change::Key(id);
                announce_in_tx(self.writer(), change).await?;
                self.notices.send(change);
                Ok(())
            }

            #[tracing::instrument(name = "store.touch_api_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn touch_api_key(&self, id: ApiKeyId, at: UnixMillis) -> Result<(), StoreError> {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .or_store("api_keys")?;
                Ok(())
            }

            #[tracing::instrument(name = "store.insert_operator_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn insert_operator_key(&self, key: &OperatorKeyRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO operator_keys (id, pepper_id, key_hash, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(key.id.to_string())
                .bind(&key.hash.pepper_id)
                .bind(key.hash.mac.as_slice())
                .bind(key.created_at.0)
                .bind(key.revoked_at.map(|t| t.0))
                .execute(self.writer())
                .await
                .or_store("operator key")?;
                Ok(())
            }

            #[tracing::instrument(name = "store.insert_first_operator_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn insert_first_operator_key(&self, key: &OperatorKeyRecord) -> Result<bool, StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("operator key")?;
                let marked = sqlx::query("INSERT INTO platform_bootstrap (name, created_at) VALUES ('operator_key', $1)")
                    .bind(key.created_at.0)
                    .execute(&mut *tx)
                    .await;
                match marked {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Ok(false),
                    Err(e) => return Err(crate::error::map(e, "operator key")),
                }
                sqlx::query(
                    "INSERT INTO operator_keys (id, pepper_id, key_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)",
                )
                .bind(key.id.to_string())
                .bind(&key.hash.pepper_id)
                .bind(key.hash.mac.as_slice())
                .bind(key.created_at.0)
                .execute(&mut *tx)
                .await
                .or_store("operator key")?;
                tx.commit().await.or_store("operator key")?;
                Ok(true)
            }

            #[tracing::instrument(name = "store.count_operator_keys", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn count_operator_keys(&self) -> Result<u64, StoreError> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM operator_keys")
                    .fetch_one(&self.pool)
                    .await
                    .or_store("operator_keys")?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            #[tracing::instrument(name = "store.insert_dashboard_session", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn insert_dashboard_session(
                &self,
                id_hash: &[u8],
                session: &latchkey_core::auth::DashboardSession,
                audit: &AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("dashboard session")?;
                sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
                    .bind(session.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("dashboard session")?;
                sqlx::query(
                    "INSERT INTO dashboard_sessions (tenant_id, id_hash, key_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(session.tenant.to_string())
                .bind(id_hash)
                .bind(session.key_id.to_string())
                .bind(session.created_at.0)
                .bind(session.expires_at.0)
                .execute(&mut *tx)
                .await
                .or_store("dashboard session")?;
                insert_audit(&mut *tx, session.tenant, audit).await?;
                tx.commit().await.or_store("dashboard session")
            }

            #[tracing::instrument(name = "store.dashboard_session", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn dashboard_session(
                &self,
                id_hash: &[u8],
            ) -> Result<Option<latchkey_core::auth::DashboardSession>, StoreError> {
                let row: Option<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT tenant_id, key_id, created_at, expires_at FROM dashboard_sessions WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await
                .or_store("dashboard session")?;
                row.map(|(tenant, key, created, expires)| {
                    Ok(latchkey_core::auth::DashboardSession {
                        tenant: crate::rows::tenant_id("dashboard_sessions", &tenant)?,
                        key_id: crate::rows::key_id("dashboard_sessions", &key)?,
                        created_at: UnixMillis(created),
                        expires_at: UnixMillis(expires),
                    })
                })
                .transpose()
            }

            #[tracing::instrument(name = "store.delete_dashboard_session", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn delete_dashboard_session(&self, id_hash: &[u8], audit: &AuditEvent) -> Result<bool, StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("dashboard session")?;
                let gone: Option<(String,)> = sqlx::query_as("DELETE FROM dashboard_sessions WHERE id_hash = $1 RETURNING tenant_id")
                    .bind(id_hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .or_store("dashboard session")?;
                let Some((tenant,)) = gone else {
                    return Ok(false);
                };
                let tenant = crate::rows::tenant_id("dashboard_sessions", &tenant)?;
                insert_audit(&mut *tx, tenant, audit).await?;
                tx.commit().await.or_store("dashboard session")?;
                Ok(true)
            }
        }

        #[async_trait]
        impl TenantKeyStore for $store {
            #[tracing::instrument(name = "store.tenant_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn tenant_key(&self, tenant: TenantId, version: u32) -> Result<Option<TenantKeyRecord>, StoreError> {
                sqlx::query_as::<_, TenantKeyRow>(concat!("SELECT ", tenant_key_cols!(), " FROM tenant_keys WHERE tenant_id = $1 AND version = $2"))
                .bind(tenant.to_string())
                .bind(rows::version(version))
                .fetch_optional(&self.pool)
                .await
                .or_store("tenant_keys")?
                .map(TenantKeyRecord::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.latest_tenant_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn latest_tenant_key(&self, tenant: TenantId) -> Result<Option<TenantKeyRecord>, StoreError> {
                sqlx::query_as::<_, TenantKeyRow>(concat!("SELECT ", tenant_key_cols!(), " FROM tenant_keys WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1"))
                .bind(tenant.to_string())
                .fetch_optional(&self.pool)
                .await
                .or_store("tenant_keys")?
                .map(TenantKeyRecord::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.all_tenant_keys", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn all_tenant_keys(&self) -> Result<Vec<(TenantId, TenantKeyRecord)>, StoreError> {
                // Cross-tenant by design: start-up check and rotation.
                let rows = sqlx::query_as::<_, TenantKeyRow>(concat!("SELECT ", tenant_key_cols!(), " FROM tenant_keys ORDER BY tenant_id, version"))
                .fetch_all(&self.pool)
                .await
                .or_store("tenant_keys")?;
                rows.into_iter()
                    .map(|r| Ok((rows::tenant_id("tenant_keys", &r.tenant_id)?, TenantKeyRecord::try_from(r)?)))
                    .collect()
            }

            #[tracing::instrument(name = "store.rewrap_tenant_key", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn rewrap_tenant_key(
                &self,
                tenant: TenantId,
                version: u32,
                old: &MasterKeyId,
                new: &WrappedKey,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE tenant_keys SET master_key_id = $4, wrapped_key = $5 \
                     WHERE tenant_id = $1 AND version = $2 AND master_key_id = $3",
                )
                .bind(tenant.to_string())
                .bind(rows::version(version))
                .bind(&old.0)
                .bind(&new.master_key_id.0)
                .bind(&new.bytes)
                .execute(self.writer())
                .await
                .or_store("tenant_keys")?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl ProviderStore for $store {
            #[tracing::instrument(name = "store.insert_provider", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn insert_provider(&self, tenant: TenantId, p: &ProviderRecord, audit: &AuditEvent) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("provider")?;
                sqlx::query(
                    "INSERT INTO providers (tenant_id, id, ref, description, external_id, status, client_id, client_secret, \
                     scopes, policy, endpoint_origin, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(tenant.to_string())
                .bind(p.slug.as_str())
                .bind(p.id.to_string())
                .bind(p.description.as_deref())
                .bind(p.external_id.as_deref())
                .bind(p.status.as_str())
                .bind(p.client_id.as_str())
                .bind(&p.client_secret)
                .bind(p.scopes.join(" "))
                .bind(rows::policy_json(p))
                .bind(p.endpoint_origin.as_deref())
                .bind(p.created_at.0)
                .bind(p.updated_at.0)
                .execute(&mut *tx)
                .await
                .or_store("provider")?;
                insert_audit(&mut *tx, tenant, audit).await?;
                let change = latchkey_core::cache::Change::Providers(tenant);
                commit_announcing(tx, &self.notices, &[change], "provider").await?;
                Ok(())
            }

            #[tracing::instrument(name = "store.update_provider", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn update_provider(
                &self,
                tenant: TenantId,
                p: &ProviderRecord,
                expected_updated_at: UnixMillis,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("provider")?;
                // A new client id is another Discord app: the old app's grants cannot be
                // refreshed through it (security.md B13). Rolled back with the rest when the
                // conditional provider write below finds the row changed.
                sqlx::query(
                    "UPDATE grants SET status = 'reauth_required', updated_at = $4 \
                     WHERE tenant_id = $1 AND provider_ref = $2 AND status = 'active' \
                     AND EXISTS (SELECT 1 FROM providers WHERE tenant_id = $1 AND ref = $2 AND client_id <> $3)",
                )
                .bind(tenant.to_string())
                .bind(p.id.to_string())
                .bind(p.client_id.as_str())
                .bind(p.updated_at.0)
                .execute(&mut *tx)
                .await
                .or_store("grants")?;
                let done = sqlx::query(
                    "UPDATE providers SET description = $4, external_id = $5, status = $6, client_id = $7, \
                     client_secret = $8, scopes = $9, policy = $10, endpoint_origin = $11, updated_at = $12 \
                     WHERE tenant_id = $1 AND ref = $2 AND updated_at = $3",
                )
                .bind(tenant.to_string())
                .bind(p.id.to_string())
                .bind(expected_updated_at.0)
                .bind(p.description.as_deref())
                .bind(p.external_id.as_deref())
                .bind(p.status.as_str())
                .bind(p.client_id.as_str())
                .bind(&p.client_secret)
                .bind(p.scopes.join(" "))
                .bind(rows::policy_json(p))
                .bind(p.endpoint_origin.as_deref())
                .bind(p.updated_at.0)
                .execute(&mut *tx)
                .await
                .or_store("provider")?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if p.status == latchkey_core::provider::ProviderStatus::Inactive {
                    sqlx::query(
                        "UPDATE authorizations SET status = 'failed', failure_reason = 'provider_inactive', updated_at = $3 \
                         WHERE tenant_id = $1 AND provider_ref = $2 AND status IN ('not_started', 'pending')",
                    )
                    .bind(tenant.to_string())
                    .bind(p.id.to_string())
                    .bind(p.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("authorizations")?;
                }
                insert_audit(&mut *tx, tenant, audit).await?;
                let change = latchkey_core::cache::Change::Providers(tenant);
                commit_announcing(tx, &self.notices, &[change], "provider").await?;
                Ok(true)
            }

            #[tracing::instrument(name = "store.client_id_in_use", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn client_id_in_use(&self, client_id: &str, except: Option<latchkey_core::ProviderRef>) -> Result<bool, StoreError> {
                // Cross-tenant by design (security.md P6).
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM providers WHERE client_id = $1 AND ref <> $2")
                    .bind(client_id)
                    .bind(except.map(|r| r.to_string()).unwrap_or_default())
                    .fetch_one(&self.pool)
                    .await
                    .or_store("providers")?;
                Ok(n > 0)
            }

            #[tracing::instrument(name = "store.get_provider_by_ref", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn get_provider_by_ref(&self, tenant: TenantId, id: latchkey_core::ProviderRef) -> Result<Option<ProviderRecord>, StoreError> {
                sqlx::query_as::<_, ProviderRow>(concat!("SELECT ", provider_cols!(), " FROM providers WHERE tenant_id = $1 AND ref = $2"))
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .or_store("providers")?
                .map(ProviderRecord::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.get_provider", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn get_provider(&self, tenant: TenantId, slug: &str) -> Result<Option<ProviderRecord>, StoreError> {
                sqlx::query_as::<_, ProviderRow>(concat!("SELECT ", provider_cols!(), " FROM providers WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.to_string())
                .bind(slug)
                .fetch_optional(&self.pool)
                .await
                .or_store("providers")?
                .map(ProviderRecord::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.list_providers", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn list_providers(&self, tenant: TenantId) -> Result<Vec<ProviderRecord>, StoreError> {
                let rows = sqlx::query_as::<_, ProviderRow>(concat!("SELECT ", provider_cols!(), " FROM providers WHERE tenant_id = $1 ORDER BY created_at, id"))
                .bind(tenant.to_string())
                .fetch_all(&self.pool)
                .await
                .or_store("providers")?;
                rows::all(rows)
            }

            #[tracing::instrument(name = "store.delete_provider", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn delete_provider(
                &self,
                tenant: TenantId,
                slug: &str,
                revocations: &[latchkey_core::revocation::RevocationRecord],
                audit: &AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("providers")?;
                // Lock the provider (on PostgreSQL; SQLite has one writer), so no grant is made
                // through it until the transaction ends...
                let locked: Option<(String,)> = sqlx::query_as(if <$store as crate::Dialect>::NAME == "postgres" {
                    "SELECT ref FROM providers WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
                } else {
                    "SELECT ref FROM providers WHERE tenant_id = $1 AND id = $2"
                })
                .bind(tenant.to_string())
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await
                .or_store("providers")?;
                let Some((reference,)) = locked else {
                    return Err(StoreError::NotFound);
                };
                // ...then check that exactly its grants have their revocation owed: they
                // cascade with it.
                let grants: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM grants WHERE tenant_id = $1 AND provider_ref = $2 AND status <> 'revoked'",
                )
                .bind(tenant.to_string())
                .bind(&reference)
                .fetch_all(&mut *tx)
                .await
                .or_store("grants")?;
                if !same_ids(grants, revocations.iter().map(|r| r.grant_id.as_str())) {
                    return Err(StoreError::Conflict("the provider's grants changed"));
                }
                for r in revocations {
                    insert_revocation(&mut *tx, tenant, r).await?;
                }
                let done = sqlx::query("DELETE FROM providers WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.to_string())
                    .bind(slug)
                    .execute(&mut *tx)
                    .await
                    .or_store("providers")?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                insert_audit(&mut *tx, tenant, audit).await?;
                let change = latchkey_core::cache::Change::Providers(tenant);
                commit_announcing(tx, &self.notices, &[change], "providers").await?;
                Ok(())
            }
        }

        #[async_trait]
        impl SettingsStore for $store {
            #[tracing::instrument(name = "store.verification_settings", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn verification_settings(&self, tenant: TenantId) -> Result<Option<VerificationSettings>, StoreError> {
                sqlx::query_as::<_, rows::SettingsRow>(
                    "SELECT verifier_url, unsafe_skip_verification, allowed_next_uri_origins, account_switch, updated_at \
                     FROM tenant_settings WHERE tenant_id = $1",
                )
                .bind(tenant.to_string())
                .fetch_optional(&self.pool)
                .await
                .or_store("tenant_settings")?
                .map(VerificationSettings::try_from)
                .transpose()
            }

            #[tracing::instrument(name = "store.put_verification_settings", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn put_verification_settings(&self, tenant: TenantId, s: &VerificationSettings, audit: &AuditEvent) -> Result<(), StoreError> {
                let origins = serde_json::to_string(&s.allowed_next_uri_origins).unwrap_or_else(|_| "[]".to_owned());
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("tenant_settings")?;
                sqlx::query(
                    "INSERT INTO tenant_settings (tenant_id, verifier_url, unsafe_skip_verification, allowed_next_uri_origins, updated_at, account_switch) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant_id) DO UPDATE SET verifier_url = excluded.verifier_url, \
                     unsafe_skip_verification = excluded.unsafe_skip_verification, \
                     allowed_next_uri_origins = excluded.allowed_next_uri_origins, updated_at = excluded.updated_at, \
                     account_switch = excluded.account_switch",
                )
                .bind(tenant.to_string())
                .bind(s.verifier_url.as_deref())
                .bind(s.unsafe_skip_verification)
                .bind(origins)
                .bind(s.updated_at.0)
                .bind(s.account_switch.as_str())
                .execute(&mut *tx)
                .await
                .or_store("tenant_settings")?;
                insert_audit(&mut *tx, tenant, audit).await?;
                tx.commit().await.or_store("tenant_settings")
            }
        }

        impl $store {
            /// One flush's events in one transaction, as `audit_batches` rows (migration 0014);
            /// `dedupe` leaves out events already stored.
            async fn write_audits(&self, events: &latchkey_core::audit::PackedAudits, dedupe: bool) -> Result<(), StoreError> {
                let mut tx = crate::begin::<$store>(self.writer()).await.or_store("audit_batches")?;
                let mut batches = Vec::new();
                for (tenant, mut group) in crate::audit_groups(events) {
                    if dedupe {
                        let (lo, hi) = crate::time_bounds(events, &group);
                        let stored: std::collections::HashSet<String> = sqlx::query_scalar(
                            "SELECT id FROM audit_log WHERE tenant_id = $1 \
                             AND batch_first <= $3 AND batch_last >= $2 AND at >= $2 AND at <= $3",
                        )
                        .bind(tenant.to_string())
                        .bind(lo)
                        .bind(hi)
                        .fetch_all(&mut *tx)
                        .await
                        .or_store("audit_batches")?
                        .into_iter()
                        .collect();
                        group.retain(|&i| events.get(i).is_some_and(|e| !stored.contains(e.id)));
                    }
                    batches.extend(crate::AuditBatch::of(tenant, events, group));
                }
                <$store>::insert_audit_batches(&mut tx, batches).await?;
                tx.commit().await.or_store("audit_batches")
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            #[tracing::instrument(name = "store.list_audit_events", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn list_audit_events(&self, tenant: TenantId, f: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
                // batch_first and batch_last: only the batches that can hold such events are
                // unpacked (migration 0014).
                let rows = sqlx::query_as::<_, rows::AuditRow>(
                    "SELECT id, at, actor, action, target, outcome, request_id FROM audit_log \
                     WHERE tenant_id = $1 AND batch_first < $4 AND batch_last >= $3 \
                     AND ($2 IS NULL OR action = $2) AND at >= $3 AND at < $4 ORDER BY at, id",
                )
                .bind(tenant.to_string())
                .bind(f.action.as_deref())
                .bind(f.since.map_or(i64::MIN, |t| t.0))
                .bind(f.until.map_or(i64::MAX, |t| t.0))
                .fetch_all(&self.pool)
                .await
                .or_store("audit_events")?;
                Ok(rows.into_iter().map(AuditEvent::from).collect())
            }

            #[tracing::instrument(name = "store.daily_usage", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn daily_usage(&self, tenant: TenantId, since: UnixMillis) -> Result<Vec<(i64, String, i64)>, StoreError> {
                // A batch of events all at or after `since` and within one day is counted from
                // its counts; the rows of audit_events, and batches that start before `since` or
                // cross midnight, event by event (migration 0014).
                sqlx::query_as::<_, (i64, String, i64)>(
                    "SELECT day, action, CAST(SUM(n) AS BIGINT) FROM ( \
                       SELECT at / 86400000 AS day, action, COUNT(*) AS n FROM audit_log \
                       WHERE tenant_id = $1 AND batch_last >= $2 AND at >= $2 \
                       AND NOT (in_batch = 1 AND batch_first >= $2 AND batch_first / 86400000 = batch_last / 86400000) \
                       AND action IN ('authorization.start', 'authorization.completed', 'token.release') \
                       GROUP BY at / 86400000, action \
                       UNION ALL SELECT first_at / 86400000, 'authorization.start', starts FROM audit_batches \
                       WHERE tenant_id = $1 AND first_at >= $2 AND first_at / 86400000 = last_at / 86400000 \
                       UNION ALL SELECT first_at / 86400000, 'authorization.completed', completions FROM audit_batches \
                       WHERE tenant_id = $1 AND first_at >= $2 AND first_at / 86400000 = last_at / 86400000 \
                       UNION ALL SELECT first_at / 86400000, 'token.release', releases FROM audit_batches \
                       WHERE tenant_id = $1 AND first_at >= $2 AND first_at / 86400000 = last_at / 86400000 \
                     ) u GROUP BY day, action HAVING SUM(n) > 0 ORDER BY day, action",
                )
                .bind(tenant.to_string())
                .bind(since.0)
                .fetch_all(&self.pool)
                .await
                .or_store("audit_events")
            }

            #[tracing::instrument(name = "store.record_audits", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn record_audits(&self, events: &latchkey_core::audit::PackedAudits) -> Result<(), StoreError> {
                // A tenant deleted since took its audit trail with it. The events' ids are
                // fresh, so the batch goes in as it is; only a batch that collides — a retry of
                // one that had committed after all — is written again without what is there.
                match self.write_audits(events, false).await {
                    Err(StoreError::Conflict(_)) => self.write_audits(events, true).await,
                    written => written,
                }
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store as crate::Dialect>::NAME
            }

            #[tracing::instrument(name = "store.ping", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.or_store("ping")?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_ports;
