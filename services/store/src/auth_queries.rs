//! The statements of the authorization port, written once for both dialects like `queries.rs`
//! and instantiated by `impl_auth_ports!` in a child module of each dialect. Every flow move is
//! one conditional `UPDATE … WHERE phase = $from` whose row count decides; a flow's ending
//! writes its phase, the authorization's status, the grant it activates, the revocations it
//! owes and its audit events in one transaction, and announces the change (PostgreSQL
//! `NOTIFY`) so that long-poll waiters on every replica wake.

macro_rules! impl_auth_ports {
    ($store:ty) => {
        mod auth_ports {
            use super::*;
            use latchkey_core::authorization::{AuthorizationRecord, Finish, FlowRecord, Phase};
            use latchkey_core::cache::Change;
            use latchkey_core::ports::{AuthorizationStore, FoundFlow};
            use latchkey_core::{AuthorizationId, ProviderRef};

            use crate::rows::FlowRow;

            macro_rules! flow_cols {
                () => {
                    "SELECT tenant_id, a.id, a.user_id, a.provider_ref, a.requested_scopes, a.next_uri, a.status, \
                     a.failure_reason, a.created_at, a.updated_at, a.expires_at, f.phase, f.start_token_hash, \
                     f.start_token, f.browser_binding_hash, f.state_hash, f.pkce_verifier, f.flow_id_hash, \
                     f.quarantined_tokens, f.discord_user_id, f.decision, f.decided_user_hash, \
                     f.updated_at AS flow_updated_at"
                };
            }

            fn one(row: Option<FlowRow>) -> Result<Option<FoundFlow>, StoreError> {
                row.map(FlowRow::into_records).transpose()
            }

            fn untenanted(
                found: Option<FoundFlow>,
            ) -> Option<(AuthorizationRecord, FlowRecord)> {
                found.map(|(_, a, f)| (a, f))
            }

            #[derive(sqlx::FromRow)]
            struct VerifierTestRow {
                id: String,
                user_id: String,
                verifier_url: String,
                flow_id_hash: Vec<u8>,
                status: String,
                decision: Option<String>,
                decided_user_hash: Option<Vec<u8>>,
                created_at: i64,
                expires_at: i64,
                updated_at: i64,
            }

            impl TryFrom<VerifierTestRow> for latchkey_core::authorization::VerifierTest {
                type Error = StoreError;
                fn try_from(r: VerifierTestRow) -> Result<Self, StoreError> {
                    let corrupt = |detail: &str| StoreError::Corrupt { table: "verifier_tests", detail: detail.to_owned() };
                    Ok(Self {
                        id: AuthorizationId::parse(&r.id).map_err(|_| corrupt("bad id"))?,
                        user_id: r.user_id,
                        verifier_url: r.verifier_url,
                        flow_id_hash: r.flow_id_hash,
                        status: latchkey_core::authorization::AuthorizationStatus::parse(&r.status).ok_or_else(|| corrupt("unknown status"))?,
                        decision: r.decision,
                        decided_user_hash: r.decided_user_hash,
                        created_at: UnixMillis(r.created_at),
                        expires_at: UnixMillis(r.expires_at),
                        updated_at: UnixMillis(r.updated_at),
                    })
                }
            }

            macro_rules! verifier_test_cols {
                () => {
                    "SELECT id, user_id, verifier_url, flow_id_hash, status, decision, decided_user_hash, \
                     created_at, expires_at, updated_at"
                };
            }

            #[async_trait]
            impl AuthorizationStore for $store {
                #[tracing::instrument(name = "store.insert_verifier_test", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn insert_verifier_test(
                    &self,
                    tenant: TenantId,
                    t: &latchkey_core::authorization::VerifierTest,
                    audit: &AuditEvent,
                ) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("verifier_tests")?;
                    sqlx::query(
                        "INSERT INTO verifier_tests (tenant_id, id, user_id, verifier_url, flow_id_hash, status, created_at, expires_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(tenant.to_string())
                    .bind(t.id.to_string())
                    .bind(&t.user_id)
                    .bind(&t.verifier_url)
                    .bind(&t.flow_id_hash)
                    .bind(t.status.as_str())
                    .bind(t.created_at.0)
                    .bind(t.expires_at.0)
                    .bind(t.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("verifier_tests")?;
                    insert_audit(&mut *tx, tenant, audit).await?;
                    tx.commit().await.or_store("verifier_tests")
                }

                #[tracing::instrument(name = "store.verifier_test_by_flow_id", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn verifier_test_by_flow_id(
                    &self,
                    tenant: TenantId,
                    hash: &[u8],
                ) -> Result<Option<latchkey_core::authorization::VerifierTest>, StoreError> {
                    sqlx::query_as::<_, VerifierTestRow>(concat!(verifier_test_cols!(), " FROM verifier_tests WHERE tenant_id = $1 AND flow_id_hash = $2"))
                        .bind(tenant.to_string())
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await
                        .or_store("verifier_tests")?
                        .map(TryFrom::try_from)
                        .transpose()
                }

                #[tracing::instrument(name = "store.get_verifier_test", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn get_verifier_test(
                    &self,
                    tenant: TenantId,
                    id: AuthorizationId,
                ) -> Result<Option<latchkey_core::authorization::VerifierTest>, StoreError> {
                    sqlx::query_as::<_, VerifierTestRow>(concat!(verifier_test_cols!(), " FROM verifier_tests WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .or_store("verifier_tests")?
                        .map(TryFrom::try_from)
                        .transpose()
                }

                #[tracing::instrument(name = "store.decide_verifier_test", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn decide_verifier_test(
                    &self,
                    tenant: TenantId,
                    t: &latchkey_core::authorization::VerifierTest,
                    audit: &AuditEvent,
                ) -> Result<bool, StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("verifier_tests")?;
                    let done = sqlx::query(
                        "UPDATE verifier_tests SET status = $3, decision = $4, decided_user_hash = $5, updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND status = 'pending'",
                    )
                    .bind(tenant.to_string())
                    .bind(t.id.to_string())
                    .bind(t.status.as_str())
                    .bind(t.decision.as_deref())
                    .bind(t.decided_user_hash.as_deref())
                    .bind(t.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("verifier_tests")?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_audit(&mut *tx, tenant, audit).await?;
                    tx.commit().await.or_store("verifier_tests")?;
                    Ok(true)
                }

                #[tracing::instrument(name = "store.insert_authorization", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn insert_authorization(
                    &self,
                    tenant: TenantId,
                    a: &AuthorizationRecord,
                    f: &FlowRecord,
                    audit: &AuditEvent,
                ) -> Result<(), StoreError> {
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("authorization")?;
                    sqlx::query(
                        "INSERT INTO authorizations (tenant_id, id, user_id, provider_ref, requested_scopes, next_uri, \
                         status, failure_reason, created_at, updated_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(tenant.to_string())
                    .bind(a.id.to_string())
                    .bind(&a.user_id)
                    .bind(a.provider.to_string())
                    .bind(a.scopes.join(" "))
                    .bind(a.next_uri.as_deref())
                    .bind(a.status.as_str())
                    .bind(a.failure_reason.as_deref())
                    .bind(a.created_at.0)
                    .bind(a.updated_at.0)
                    .bind(a.expires_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("authorization")?;
                    sqlx::query(
                        "INSERT INTO flows (tenant_id, authorization_id, phase, start_token_hash, start_token, \
                         created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(tenant.to_string())
                    .bind(a.id.to_string())
                    .bind(f.phase.as_str())
                    .bind(&f.start_token_hash)
                    .bind(&f.start_token)
                    .bind(a.created_at.0)
                    .bind(f.updated_at.0)
                    .bind(a.expires_at.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("flow")?;
                    insert_audit(&mut *tx, tenant, audit).await?;
                    tx.commit().await.or_store("authorization")
                }

                #[tracing::instrument(name = "store.get_authorization", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn get_authorization(
                    &self,
                    tenant: TenantId,
                    id: AuthorizationId,
                ) -> Result<Option<(AuthorizationRecord, FlowRecord)>, StoreError> {
                    let row = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE tenant_id = $1 AND f.authorization_id = a.id AND a.id = $2"
                    ))
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("authorizations")?;
                    Ok(untenanted(one(row)?))
                }

                #[tracing::instrument(name = "store.recent_authorizations", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn recent_authorizations(
                    &self,
                    tenant: TenantId,
                    limit: u32,
                ) -> Result<Vec<AuthorizationRecord>, StoreError> {
                    let rows = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE tenant_id = $1 AND f.authorization_id = a.id \
                         ORDER BY a.updated_at DESC, a.id DESC LIMIT $2"
                    ))
                    .bind(tenant.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .or_store("authorizations")?;
                    rows.into_iter()
                        .map(|r| r.into_records().map(|(_, a, _)| a))
                        .collect()
                }

                #[tracing::instrument(name = "store.reusable_authorizations", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn reusable_authorizations(
                    &self,
                    tenant: TenantId,
                    user_id: &str,
                    provider: ProviderRef,
                    now: UnixMillis,
                ) -> Result<Vec<(AuthorizationRecord, FlowRecord)>, StoreError> {
                    let rows = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE tenant_id = $1 AND f.authorization_id = a.id AND a.user_id = $2 AND a.provider_ref = $3 \
                         AND f.phase = 'link_issued' AND a.expires_at > $4 ORDER BY a.created_at DESC, a.id DESC LIMIT 20"
                    ))
                    .bind(tenant.to_string())
                    .bind(user_id)
                    .bind(provider.to_string())
                    .bind(now.0)
                    .fetch_all(&self.pool)
                    .await
                    .or_store("authorizations")?;
                    rows.into_iter()
                        .map(|r| r.into_records().map(|(_, a, f)| (a, f)))
                        .collect()
                }

                #[tracing::instrument(name = "store.flow_by_start_token", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn flow_by_start_token(&self, hash: &[u8]) -> Result<Option<FoundFlow>, StoreError> {
                    let row = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE f.start_token_hash = $1 AND f.authorization_id = a.id"
                    ))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("flows")?;
                    one(row)
                }

                #[tracing::instrument(name = "store.flow_by_state", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn flow_by_state(&self, hash: &[u8]) -> Result<Option<FoundFlow>, StoreError> {
                    let row = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE f.state_hash = $1 AND f.authorization_id = a.id"
                    ))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("flows")?;
                    one(row)
                }

                #[tracing::instrument(name = "store.flow_by_flow_id", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn flow_by_flow_id(
                    &self,
                    tenant: TenantId,
                    hash: &[u8],
                ) -> Result<Option<(AuthorizationRecord, FlowRecord)>, StoreError> {
                    let row = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE tenant_id = $1 AND f.flow_id_hash = $2 AND f.authorization_id = a.id"
                    ))
                    .bind(tenant.to_string())
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("flows")?;
                    Ok(untenanted(one(row)?))
                }

                #[tracing::instrument(name = "store.advance_flow", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn advance_flow(
                    &self,
                    tenant: TenantId,
                    id: AuthorizationId,
                    from: Phase,
                    expect_state: Option<&[u8]>,
                    to: &FlowRecord,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE flows SET phase = $4, browser_binding_hash = $5, state_hash = $6, pkce_verifier = $7, \
                         flow_id_hash = $8, quarantined_tokens = $9, discord_user_id = $10, updated_at = $11 \
                         WHERE tenant_id = $1 AND authorization_id = $2 AND phase = $3 AND ($12 IS NULL OR state_hash = $12)",
                    )
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .bind(from.as_str())
                    .bind(to.phase.as_str())
                    .bind(to.binding_hash.as_deref())
                    .bind(to.state_hash.as_deref())
                    .bind(to.pkce_verifier.as_deref())
                    .bind(to.flow_id_hash.as_deref())
                    .bind(to.quarantined.as_deref())
                    .bind(to.discord_user_id.as_deref())
                    .bind(to.updated_at.0)
                    .bind(expect_state)
                    .execute(self.writer())
                    .await
                    .or_store("flows")?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(name = "store.finish_flow", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn finish_flow(
                    &self,
                    tenant: TenantId,
                    id: AuthorizationId,
                    from: Phase,
                    finish: &Finish,
                ) -> Result<bool, StoreError> {
                    let now = UnixMillis::now();
                    let mut tx = crate::begin::<$store>(self.writer()).await.or_store("flows")?;
                    let (decision, decided_hash) = match &finish.decision {
                        Some((d, h)) => (Some(d.as_str()), Some(h.as_slice())),
                        None => (None, None),
                    };
                    let moved = sqlx::query(
                        "UPDATE flows SET phase = $4, pkce_verifier = NULL, quarantined_tokens = NULL, decision = $5, \
                         decided_user_hash = $6, updated_at = $7 WHERE tenant_id = $1 AND authorization_id = $2 AND phase = $3",
                    )
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .bind(from.as_str())
                    .bind(finish.phase.as_str())
                    .bind(decision)
                    .bind(decided_hash)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("flows")?;
                    if moved.rows_affected() != 1 {
                        return Ok(false);
                    }
                    sqlx::query(
                        "UPDATE authorizations SET status = $3, failure_reason = $4, updated_at = $5 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .bind(finish.phase.status().as_str())
                    .bind(finish.failure_reason.as_deref())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .or_store("authorizations")?;
                    for old in &finish.replaces {
                        sqlx::query("DELETE FROM grants WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant.to_string())
                            .bind(old.to_string())
                            .execute(&mut *tx)
                            .await
                            .or_store("grants")?;
                    }
                    if let Some(g) = &finish.grant {
                        insert_grant_row(&mut *tx, tenant, g).await?;
                    }
                    for r in &finish.revocations {
                        insert_revocation(&mut *tx, tenant, r).await?;
                    }
                    for e in &finish.audit {
                        insert_audit(&mut *tx, tenant, e).await?;
                    }
                    // The replaced grants' warm tokens leave every replica's cache, and the
                    // authorization's waiters wake.
                    let changes: Vec<Change> = finish
                        .replaces
                        .iter()
                        .map(|g| Change::Grant(tenant, *g))
                        .chain(std::iter::once(Change::Authorization(tenant, id)))
                        .collect();
                    commit_announcing(tx, &self.notices, &changes, "flows").await?;
                    Ok(true)
                }

                #[tracing::instrument(name = "store.due_flows", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn due_flows(
                    &self,
                    now: UnixMillis,
                    stuck_before: UnixMillis,
                    limit: u32,
                ) -> Result<Vec<FoundFlow>, StoreError> {
                    let rows = sqlx::query_as::<_, FlowRow>(concat!(
                        flow_cols!(),
                        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE f.authorization_id = a.id AND f.phase NOT IN ('completed', 'failed', 'expired') \
                         AND (f.expires_at <= $1 OR (f.phase = 'exchanging' AND f.updated_at < $2)) \
                         ORDER BY f.expires_at LIMIT $3"
                    ))
                    .bind(now.0)
                    .bind(stuck_before.0)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .or_store("flows")?;
                    rows.into_iter().map(FlowRow::into_records).collect()
                }

                #[tracing::instrument(name = "store.purge_authorizations", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn purge_authorizations(&self, before: UnixMillis, limit: u32) -> Result<u64, StoreError> {
                    // Flows go with their authorization (foreign key, ON DELETE CASCADE).
                    let done = sqlx::query(
                        "DELETE FROM authorizations WHERE (tenant_id, id) IN (SELECT a.tenant_id, a.id FROM authorizations a \
                         WHERE a.status IN ('completed', 'failed') AND a.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM grants g \
                         WHERE g.tenant_id = a.tenant_id AND g.authorization_id = a.id AND g.status = 'active') LIMIT $2)",
                    )
                    .bind(before.0)
                    .bind(i64::from(limit))
                    .execute(self.writer())
                    .await
                    .or_store("authorizations")?;
                    // Verifier tests end at their expiry; they go after the same retention.
                    let tests = sqlx::query(
                        "DELETE FROM verifier_tests WHERE (tenant_id, id) IN \
                         (SELECT tenant_id, id FROM verifier_tests WHERE expires_at < $1 LIMIT $2)",
                    )
                    .bind(before.0)
                    .bind(i64::from(limit))
                    .execute(self.writer())
                    .await
                    .or_store("verifier_tests")?;
                    Ok(done.rows_affected() + tests.rows_affected())
                }

                #[tracing::instrument(name = "store.record_audit", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn record_audit(&self, tenant: TenantId, event: &AuditEvent) -> Result<(), StoreError> {
                    insert_audit(self.writer(), tenant, event).await
                }

                #[tracing::instrument(name = "store.discord_user_connected", skip_all, fields(otel.kind = "client", db.system = <$store as crate::Dialect>::NAME))]
                async fn discord_user_connected(
                    &self,
                    tenant: TenantId,
                    provider: ProviderRef,
                    discord_user_id: &str,
                ) -> Result<bool, StoreError> {
                    let row: Option<(String,)> = sqlx::query_as(
                        "SELECT id FROM grants WHERE tenant_id = $1 AND provider_ref = $2 AND discord_user_id = $3 \
                         AND status = 'active' LIMIT 1",
                    )
                    .bind(tenant.to_string())
                    .bind(provider.to_string())
                    .bind(discord_user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .or_store("grants")?;
                    Ok(row.is_some())
                }
            }
        }
    };
}

pub(crate) use impl_auth_ports;
