//! The statements of the tool and grant ports, written once for both dialects like
//! `queries.rs` (whose transaction helpers they share) and instantiated by `impl_more_ports!`
//! in a child module of each dialect. Every statement binds `tenant_id`.

macro_rules! impl_more_ports {
    ($store:ty) => {
        mod more_ports {
            use super::*;
            use latchkey_core::authorization::AuthorizationStatus;
            use latchkey_core::grant::GrantRecord;
            use latchkey_core::ports::{GrantFilter, GrantLock, GrantStore, RevocationStore, TokenUpdate, ToolStore};
            use latchkey_core::revocation::RevocationRecord;
            use latchkey_core::tool::{ToolName, ToolRecord};
            use latchkey_core::{GrantId, ProviderRef, ToolId};

            use crate::rows::{GrantRow, RevocationRow, ToolRow};

            macro_rules! tool_cols {
                () => {
                    "id, name, version, description, provider_instance, scopes, created_at, updated_at"
                };
            }
            macro_rules! grant_cols {
                () => {
                    "id, user_id, provider_ref, discord_user_id, user_info, scopes, access_token, refresh_token, \
                     expires_at, generation, status, created_at, updated_at, authorization_id, cooldown_until"
                };
            }

            /// A grant held for a refresh: the transaction holding its row lock (PostgreSQL), or
            /// none (SQLite, where the generation check alone guards the write).
            struct Locked {
                tx: Option<sqlx::Transaction<'static, <$store as crate::Dialect>::Db>>,
                writer: sqlx::Pool<<$store as crate::Dialect>::Db>,
                notices: crate::changes::Notices,
                tenant: TenantId,
                grant: GrantRecord,
            }

            impl Locked {
                async fn tx(&mut self) -> Result<sqlx::Transaction<'static, <$store as crate::Dialect>::Db>, StoreError> {
                    match self.tx.take() {
                        Some(tx) => Ok(tx),
                        None => crate::begin::<$store>(&self.writer).await.or_store("grants"),
                    }
                }
            }

            #[async_trait]
            impl GrantLock for Locked {
                fn grant(&self) -> &GrantRecord {
                    &self.grant
                }

                #[tracing::instrument(name = "store.store_tokens", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn store_tokens(mut self: Box<Self>, u: &TokenUpdate) -> Result<bool, StoreError> {
                    let mut tx = self.tx().await?;
                    let done = sqlx::query(
                        "UPDATE grants SET access_token = $3, refresh_token = $4, expires_at = $5, scopes = $6, \
                         generation = generation + 1, refresh_failures = 0, cooldown_until = NULL, updated_at = $7 \
                         WHERE tenant_id = $1 AND id = $2 AND generation = $8 AND status = 'active'",
                    )
                    .bind(self.tenant.to_string())
                    .bind(self.grant.id.to_string())
                    .bind(&u.access_token)
                    .bind(u.refresh_token.as_deref())
                    .bind(u.expires_at.0)
                    .bind(u.scopes.join(" "))
                    .bind(UnixMillis::now().0)
                    .bind(self.grant.generation)
                    .execute(&mut *tx)
                    .await
                    .or_store("grants")?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    // The old access token is dead at Discord: every replica drops it.
                    let change = latchkey_core::cache::Change::Grant(self.tenant, self.grant.id);
                    commit_announcing(tx, &self.notices, &[change], "grants").await?;
                    Ok(true)
                }

                #[tracing::instrument(name = "store.refresh_failed", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn refresh_failed(mut self: Box<Self>, until: UnixMillis) -> Result<bool, StoreError> {
                    let mut tx = self.tx().await?;
                    let done = sqlx::query(
                        "UPDATE grants SET refresh_failures = refresh_failures + 1, cooldown_until = $3 \
                         WHERE tenant_id = $1 AND id = $2 AND generation = $4",
                    )
                    .bind(self.tenant.to_string())
                    .bind(self.grant.id.to_string())
                    .bind(until.0)
                    .bind(self.grant.generation)
                    .execute(&mut *tx)
                    .await
                    .or_store("grants")?;
                    tx.commit().await.or_store("grants")?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(name = "store.reauth_required", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn reauth_required(mut self: Box<Self>, audit: &AuditEvent) -> Result<bool, StoreError> {
                    let mut tx = self.tx().await?;
                    let done = sqlx::query(
                        "UPDATE grants SET status = 'reauth_required', updated_at = $3 \
                         WHERE tenant_id = $1 AND id = $2 AND generation = $4 AND status = 'active'",
                    )
                    .bind(self.tenant.to_string())
                    .bind(self.grant.id.to_string())
                    .bind(UnixMillis::now().0)
                    .bind(self.grant.generation)
                    .execute(&mut *tx)
                    .await
                    .or_store("grants")?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_audit(&mut *tx, self.tenant, audit).await?;
                    let change = latchkey_core::cache::Change::Grant(self.tenant, self.grant.id);
                    commit_announcing(tx, &self.notices, &[change], "grants").await?;
                    Ok(true)
                }
            }

            /// Commits a write to the tenant's tools, announcing it to every replica's caches.
            async fn commit_tools(
                store: &$store,
                tx: sqlx::Transaction<'_, <$store as crate::Dialect>::Db>,
                tenant: TenantId,
            ) -> Result<(), StoreError> {
                let change = latchkey_core::cache::Change::Tools(tenant);
                commit_announcing(tx, &store.notices, &[change], "tools").await?;
                Ok(())
            }

            #[async_trait]
            impl ToolStore for $store {
                #[tracing::instrument(name = "store.insert_tool", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn insert_tool(&self, tenant: TenantId, t: &ToolRecord, key: &ApiKeyRecord, audit: &AuditEvent) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("tool")?;
                    sqlx::query(
                        "INSERT INTO tools (tenant_id, id, name, version, description, provider, provider_instance, scopes, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'discord', $6, $7, $8, $9)",
                    )
                    .bind(tenant.to_string())
                    .bind(t.id.to_string())
                    .bind(t.name.qualified())
                    .bind(t.version.as_str())
                    .bind(t.description.as_deref())
                    .bind(t.requirement.instance.as_ref().map(|s| s.as_str()))
                    .bind(t.requirement.scopes.join(" "))
                    .bind(t.created_at.0)
                    .bind(t.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("tool")?;
                    insert_api_key(&mut *tx, tenant, key).await?;
                    insert_audit(&mut *tx, tenant, audit).await?;
                    commit_tools(self, tx, tenant).await
                }

                #[tracing::instrument(name = "store.get_tool", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn get_tool(&self, tenant: TenantId, name: &ToolName) -> Result<Option<ToolRecord>, StoreError> {
                    sqlx::query_as::<_, ToolRow>(concat!("SELECT ", tool_cols!(), " FROM tools WHERE tenant_id = $1 AND name = $2"))
                        .bind(tenant.to_string())
                        .bind(name.qualified())
                        .fetch_optional(&self.pool)
                        .await
                        .or_store("tools")?
                        .map(ToolRecord::try_from)
                        .transpose()
                }

                #[tracing::instrument(name = "store.get_tool_by_id", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn get_tool_by_id(&self, tenant: TenantId, id: ToolId) -> Result<Option<ToolRecord>, StoreError> {
                    sqlx::query_as::<_, ToolRow>(concat!("SELECT ", tool_cols!(), " FROM tools WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .or_store("tools")?
                        .map(ToolRecord::try_from)
                        .transpose()
                }

                #[tracing::instrument(name = "store.list_tools", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn list_tools(&self, tenant: TenantId) -> Result<Vec<ToolRecord>, StoreError> {
                    let rows = sqlx::query_as::<_, ToolRow>(concat!("SELECT ", tool_cols!(), " FROM tools WHERE tenant_id = $1 ORDER BY name"))
                        .bind(tenant.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .or_store("tools")?;
                    rows::all(rows)
                }

                #[tracing::instrument(name = "store.update_tool", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn update_tool(&self, tenant: TenantId, t: &ToolRecord, expected_updated_at: UnixMillis, audit: &AuditEvent) -> Result<bool, StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("tool")?;
                    let done = sqlx::query(
                        "UPDATE tools SET version = $4, description = $5, provider_instance = $6, scopes = $7, updated_at = $8 \
                         WHERE tenant_id = $1 AND id = $2 AND updated_at = $3",
                    )
                    .bind(tenant.to_string())
                    .bind(t.id.to_string())
                    .bind(expected_updated_at.0)
                    .bind(t.version.as_str())
                    .bind(t.description.as_deref())
                    .bind(t.requirement.instance.as_ref().map(|s| s.as_str()))
                    .bind(t.requirement.scopes.join(" "))
                    .bind(t.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("tool")?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_audit(&mut *tx, tenant, audit).await?;
                    commit_tools(self, tx, tenant).await?;
                    Ok(true)
                }

                #[tracing::instrument(name = "store.delete_tool", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn delete_tool(&self, tenant: TenantId, name: &ToolName, audit: &AuditEvent) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("tools")?;
                    // Tool keys go with the tool (composite foreign key, ON DELETE CASCADE).
                    let done = sqlx::query("DELETE FROM tools WHERE tenant_id = $1 AND name = $2")
                        .bind(tenant.to_string())
                        .bind(name.qualified())
                        .execute(&mut *tx)
                        .await
                        .or_store("tools")?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    insert_audit(&mut *tx, tenant, audit).await?;
                    commit_tools(self, tx, tenant).await
                }
            }

            macro_rules! revocation_cols {
                () => {
                    "tenant_id, id, grant_id, client_id, client_secret, endpoint_origin, token, attempts, next_attempt_at, \
                     last_error, created_at"
                };
            }

            #[async_trait]
            impl RevocationStore for $store {
                #[tracing::instrument(name = "store.list_revocations", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn list_revocations(&self, tenant: TenantId) -> Result<Vec<RevocationRecord>, StoreError> {
                    let rows = sqlx::query_as::<_, RevocationRow>(concat!(
                        "SELECT ", revocation_cols!(), " FROM pending_revocations WHERE tenant_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(tenant.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .or_store("pending_revocations")?;
                    rows.into_iter().map(|r| r.into_record().map(|(_, r)| r)).collect()
                }

                #[tracing::instrument(name = "store.claim_revocations", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn claim_revocations(&self, now: UnixMillis, lease_until: UnixMillis, limit: u32) -> Result<Vec<(TenantId, RevocationRecord)>, StoreError> {
                    // Cross-tenant by design (the background task). The outer condition is
                    // checked again on the locked row, so two replicas never claim one row.
                    let rows = sqlx::query_as::<_, RevocationRow>(concat!(
                        "UPDATE pending_revocations SET next_attempt_at = $2 WHERE next_attempt_at <= $1 AND id IN \
                         (SELECT id FROM pending_revocations WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3) \
                         RETURNING ", revocation_cols!()
                    ))
                    .bind(now.0)
                    .bind(lease_until.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await
                    .or_store("pending_revocations")?;
                    rows.into_iter().map(RevocationRow::into_record).collect()
                }

                #[tracing::instrument(name = "store.finish_revocation", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn finish_revocation(&self, tenant: TenantId, id: &str, audit: &AuditEvent) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("pending_revocations")?;
                    let done = sqlx::query("DELETE FROM pending_revocations WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.to_string())
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .or_store("pending_revocations")?;
                    // Another replica finished it first (its lease ran out): audited once.
                    if done.rows_affected() == 0 {
                        return Ok(());
                    }
                    insert_audit(&mut *tx, tenant, audit).await?;
                    tx.commit().await.or_store("pending_revocations")
                }

                #[tracing::instrument(name = "store.reschedule_revocation", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn reschedule_revocation(&self, tenant: TenantId, id: &str, attempts: u32, next_attempt_at: UnixMillis, error: &str) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE pending_revocations SET attempts = $3, next_attempt_at = $4, last_error = $5 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.to_string())
                    .bind(id)
                    .bind(i64::from(attempts))
                    .bind(next_attempt_at.0)
                    .bind(error.chars().take(500).collect::<String>())
                    .execute(self.writer())
                    .await
                    .or_store("pending_revocations")?;
                    Ok(())
                }
            }

            #[async_trait]
            impl GrantStore for $store {
                #[tracing::instrument(name = "store.insert_grant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn insert_grant(&self, tenant: TenantId, g: &GrantRecord, audit: &AuditEvent) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("grant")?;
                    insert_grant_row(&mut *tx, tenant, g).await?;
                    insert_audit(&mut *tx, tenant, audit).await?;
                    tx.commit().await.or_store("grant")
                }

                #[tracing::instrument(name = "store.get_grant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn get_grant(&self, tenant: TenantId, id: GrantId) -> Result<Option<GrantRecord>, StoreError> {
                    sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .or_store("grants")?
                        .map(GrantRecord::try_from)
                        .transpose()
                }

                #[tracing::instrument(name = "store.list_grants", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn list_grants(&self, tenant: TenantId, f: &GrantFilter) -> Result<Vec<GrantRecord>, StoreError> {
                    let rows = sqlx::query_as::<_, GrantRow>(concat!(
                        "SELECT ", grant_cols!(), " FROM grants WHERE tenant_id = $1 AND status <> 'revoked' \
                         AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR provider_ref = $3) ORDER BY created_at, id"
                    ))
                    .bind(tenant.to_string())
                    .bind(f.user_id.as_deref())
                    .bind(f.provider.map(|p| p.to_string()))
                    .fetch_all(&self.pool)
                    .await
                    .or_store("grants")?;
                    rows::all(rows)
                }

                #[tracing::instrument(name = "store.active_grant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn active_grant(&self, tenant: TenantId, user_id: &str, provider: ProviderRef) -> Result<Option<GrantRecord>, StoreError> {
                    sqlx::query_as::<_, GrantRow>(concat!(
                        "SELECT ", grant_cols!(), " FROM grants WHERE tenant_id = $1 AND user_id = $2 AND provider_ref = $3 AND status = 'active'"
                    ))
                    .bind(tenant.to_string())
                    .bind(user_id)
                    .bind(provider.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("grants")?
                    .map(GrantRecord::try_from)
                    .transpose()
                }

                #[tracing::instrument(name = "store.delete_grant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn delete_grant(&self, tenant: TenantId, id: GrantId, revocation: Option<&RevocationRecord>, audit: &AuditEvent) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("grants")?;
                    let done = sqlx::query("DELETE FROM grants WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.to_string())
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .or_store("grants")?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    if let Some(r) = revocation {
                        insert_revocation(&mut *tx, tenant, r).await?;
                    }
                    insert_audit(&mut *tx, tenant, audit).await?;
                    let change = latchkey_core::cache::Change::Grant(tenant, id);
                    commit_announcing(tx, &self.notices, &[change], "grants").await?;
                    Ok(())
                }

                #[tracing::instrument(name = "store.acknowledge_grant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn acknowledge_grant(&self, tenant: TenantId, id: GrantId, replaces: &[GrantId], revocations: &[RevocationRecord], audit: &AuditEvent) -> Result<bool, StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("grants")?;
                    // The replaced grants go first: the one active grant per user and provider.
                    for old in replaces {
                        sqlx::query("DELETE FROM grants WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant.to_string())
                            .bind(old.to_string())
                            .execute(&mut *tx)
                            .await
                            .or_store("grants")?;
                    }
                    let done = sqlx::query(
                        "UPDATE grants SET status = 'active', updated_at = $3 \
                         WHERE tenant_id = $1 AND id = $2 AND status = 'awaiting_ack'",
                    )
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .bind(UnixMillis::now().0)
                    .execute(&mut *tx)
                    .await
                    .or_store("grants")?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    for r in revocations {
                        insert_revocation(&mut *tx, tenant, r).await?;
                    }
                    insert_audit(&mut *tx, tenant, audit).await?;
                    let changes: Vec<latchkey_core::cache::Change> = replaces
                        .iter()
                        .map(|g| latchkey_core::cache::Change::Grant(tenant, *g))
                        .collect();
                    commit_announcing(tx, &self.notices, &changes, "grants").await?;
                    Ok(true)
                }

                #[tracing::instrument(name = "store.expiring_grants", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn expiring_grants(&self, before: UnixMillis, limit: u32) -> Result<Vec<(TenantId, GrantRecord)>, StoreError> {
                    let rows: Vec<(String, String)> = sqlx::query_as(
                        "SELECT tenant_id, id FROM grants WHERE status = 'active' AND refresh_token IS NOT NULL \
                         AND expires_at < $1 ORDER BY expires_at LIMIT $2",
                    )
                    .bind(before.0)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .or_store("grants")?;
                    let mut out = Vec::with_capacity(rows.len());
                    for (tenant, id) in rows {
                        let tenant = crate::rows::tenant_id("grants", &tenant)?;
                        let id = GrantId::parse(&id).map_err(|e| StoreError::Corrupt { table: "grants", detail: e.to_string() })?;
                        if let Some(g) = self.get_grant(tenant, id).await? {
                            out.push((tenant, g));
                        }
                    }
                    Ok(out)
                }

                #[tracing::instrument(name = "store.lock_grant", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn lock_grant(&self, tenant: TenantId, id: GrantId) -> Result<Option<Box<dyn GrantLock>>, StoreError> {
                    let postgres = <$store as crate::Dialect>::NAME == "postgres";
                    let mut tx = if postgres { Some(crate::begin::<$store>(self.writer()).await.or_store("grants")?) } else { None };
                    let query = sqlx::query_as::<_, GrantRow>(if postgres {
                        concat!("SELECT ", grant_cols!(), " FROM grants WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                    } else {
                        concat!("SELECT ", grant_cols!(), " FROM grants WHERE tenant_id = $1 AND id = $2")
                    })
                    .bind(tenant.to_string())
                    .bind(id.to_string());
                    let row = match tx.as_mut() {
                        Some(tx) => query.fetch_optional(&mut **tx).await,
                        None => query.fetch_optional(&self.pool).await,
                    }
                    .or_store("grants")?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(Box::new(Locked { tx, writer: self.writer().clone(), notices: self.notices.clone(), tenant, grant: GrantRecord::try_from(row)? })))
                }

                #[tracing::instrument(name = "store.authorization_summary", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn authorization_summary(&self, tenant: TenantId, user_id: &str, provider: ProviderRef, now: UnixMillis) -> Result<Option<AuthorizationStatus>, StoreError> {
                    let row: Option<(String,)> = sqlx::query_as(
                        "SELECT status FROM authorizations WHERE tenant_id = $1 AND user_id = $2 AND provider_ref = $3 \
                         AND (status IN ('completed', 'failed') OR expires_at > $4) \
                         ORDER BY CASE WHEN status IN ('not_started', 'pending') THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT 1",
                    )
                    .bind(tenant.to_string())
                    .bind(user_id)
                    .bind(provider.to_string())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("authorizations")?;
                    row.map(|(s,)| {
                        AuthorizationStatus::parse(&s).ok_or(StoreError::Corrupt {
                            table: "authorizations",
                            detail: "unknown status".to_owned(),
                        })
                    })
                    .transpose()
                }
            }
        }
    };
}

pub(crate) use impl_more_ports;
