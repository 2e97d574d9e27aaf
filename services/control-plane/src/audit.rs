//! `/v1/admin/audit_events`: the tenant's audit log (admin key), filtered by action and time.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use latchkey_api::audit::{AuditEventPage, AuditEventResponse};
use latchkey_api::server::{AdminKey, ApiError, OperatorKey, PageQuery};
use latchkey_api::time::{parse_rfc3339, rfc3339};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::CoreError;
use latchkey_core::audit::AuditFilter;
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::time::UnixMillis;

use crate::ControlPlane;

/// The REST query's filter: `action`, `since`, `until`, each at most once.
fn filter(uri: &Uri) -> Result<AuditFilter, ApiError> {
    let [action, since, until] = crate::query::params(uri, [&["action"], &["since"], &["until"]])?;
    audit_filter(action, since.as_deref(), until.as_deref())
}

/// Validates a filter (REST query and gRPC fields alike): `action` at most 100 bytes, `since`
/// and `until` RFC 3339 UTC times.
pub(crate) fn audit_filter(
    action: Option<String>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<AuditFilter, ApiError> {
    let time = |k: &str, v: Option<&str>| {
        v.map(|v| {
            parse_rfc3339(v).map(UnixMillis).ok_or_else(|| {
                ApiError::new(
                    ErrorName::InvalidRequest,
                    format!("`{k}` must be an RFC 3339 UTC time, e.g. 2025-05-01T12:00:00Z"),
                )
            })
        })
        .transpose()
    };
    if action.as_ref().is_some_and(|a| a.len() > 100) {
        return Err(ApiError::new(
            ErrorName::InvalidRequest,
            "`action` is too long",
        ));
    }
    Ok(AuditFilter {
        action,
        since: time("since", since)?,
        until: time("until", until)?,
    })
}

/// A page of the tenant's audit events (REST `list`, gRPC `ListAuditEvents`).
pub(crate) async fn list_audit_events(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    filter: &AuditFilter,
    page: PageQuery,
) -> Result<AuditEventPage, ApiError> {
    let events = cp
        .store
        .list_audit_events(caller.tenant, filter)
        .await
        .map_err(CoreError::from)?;
    Ok(page.page(&responses(events)))
}

/// A page of the platform audit log (REST `platform_list`, gRPC `ListPlatformAuditEvents`).
pub(crate) async fn list_platform_audit_events(
    cp: &ControlPlane,
    filter: &AuditFilter,
    page: PageQuery,
) -> Result<AuditEventPage, ApiError> {
    let events = cp
        .store
        .list_platform_audit_events(filter)
        .await
        .map_err(CoreError::from)?;
    Ok(page.page(&responses(events)))
}

fn responses(events: Vec<latchkey_core::audit::AuditEvent>) -> Vec<AuditEventResponse> {
    events
        .into_iter()
        .map(|e| AuditEventResponse {
            id: e.id,
            at: rfc3339(e.at.0),
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            request_id: e.request_id,
        })
        .collect()
}

/// List audit events.
///
/// What happened in the caller's tenant, oldest first: who (key id), what (`action`), on
/// which object (`target`), and with which request. Filter with `action`, `since` (inclusive)
/// and `until` (exclusive), RFC 3339 times. Events never contain a secret. Requires an admin key.
#[utoipa::path(
    get, path = "/v1/admin/audit_events", tag = "admin",
    operation_id = "admin_audit_events_list",
    security(("admin_key" = [])),
    params(
        ("action" = Option<String>, Query, description = "Only this action, e.g. `provider.create`"),
        ("since" = Option<String>, Query, description = "RFC 3339; events at or after"),
        ("until" = Option<String>, Query, description = "RFC 3339; events before"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–100"),
        ("offset" = Option<u64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of events", body = latchkey_api::Page<AuditEventResponse>),
        (status = 400, description = "Bad filter or paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    page: PageQuery,
    uri: Uri,
) -> Result<Json<AuditEventPage>, ApiError> {
    let f = filter(&uri)?;
    Ok(Json(list_audit_events(&cp, &caller, &f, page).await?))
}

/// List platform audit events.
///
/// What the platform operator did, oldest first: tenant creation and deletion, by which key,
/// with which request. The log outlives the tenants it names. Same filters as the tenant's
/// audit log. Requires the platform operator key.
#[utoipa::path(
    get, path = "/v1/platform/audit_events", tag = "platform",
    operation_id = "platform_audit_events_list",
    security(("operator_key" = [])),
    params(
        ("action" = Option<String>, Query, description = "Only this action, e.g. `tenant.delete`"),
        ("since" = Option<String>, Query, description = "RFC 3339; events at or after"),
        ("until" = Option<String>, Query, description = "RFC 3339; events before"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–100"),
        ("offset" = Option<u64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of events", body = latchkey_api::Page<AuditEventResponse>),
        (status = 400, description = "Bad filter or paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not the operator key", body = ErrorBody),
    )
)]
pub(crate) async fn platform_list(
    State(cp): State<ControlPlane>,
    OperatorKey(_): OperatorKey,
    page: PageQuery,
    uri: Uri,
) -> Result<Json<AuditEventPage>, ApiError> {
    let f = filter(&uri)?;
    Ok(Json(list_platform_audit_events(&cp, &f, page).await?))
}
