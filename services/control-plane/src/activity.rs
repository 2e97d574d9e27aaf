//! `/v1/admin/authorizations` and `/v1/admin/usage` (admin key): what the dashboard shows of a
//! tenant's activity — the latest authorizations (polled for a live list) and daily counts of
//! authorizations and token releases from the audit log.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use latchkey_api::activity::{AuthorizationList, AuthorizationSummary, UsageDay, UsageResponse};
use latchkey_api::server::{AdminKey, ApiError};
use latchkey_api::time::rfc3339;
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::CoreError;
use latchkey_core::time::UnixMillis;

use crate::ControlPlane;

const DAY_MS: i64 = 86_400_000;

/// A whole number in `min..=max` from the query, else `default`.
fn bounded(raw: Option<String>, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorName::InvalidRequest,
                    format!("{name}: a whole number from 1 to {max}"),
                )
            }),
    }
}

/// Recent authorizations.
///
/// The tenant's most recently changed authorizations, newest first — who was asked to connect,
/// through which provider, and how it ended. Never a start link or a token. Requires an admin
/// key.
#[utoipa::path(
    operation_id = "admin_authorizations_list",
    get, path = "/v1/admin/authorizations", tag = "admin",
    security(("admin_key" = [])),
    params(("limit" = Option<u32>, Query, description = "How many, 1–100 (default 50)")),
    responses(
        (status = 200, description = "The latest authorizations", body = AuthorizationList),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn authorizations(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    uri: Uri,
) -> Result<Json<AuthorizationList>, ApiError> {
    let [limit] = crate::query::params(&uri, [&["limit"]])?;
    let limit = bounded(limit, "limit", 50, 100)?;
    let records = cp
        .store
        .recent_authorizations(caller.tenant, limit)
        .await
        .map_err(CoreError::from)?;
    let providers: HashMap<_, _> = cp
        .store
        .list_providers(caller.tenant)
        .await
        .map_err(CoreError::from)?
        .into_iter()
        .map(|p| (p.id, p.slug.as_str().to_owned()))
        .collect();
    let items = records
        .into_iter()
        .map(|a| AuthorizationSummary {
            id: a.id.to_string(),
            provider_id: providers.get(&a.provider).cloned().unwrap_or_default(),
            user_id: a.user_id,
            scopes: a.scopes,
            status: a.status.as_str().to_owned(),
            failure_reason: a.failure_reason,
            created_at: rfc3339(a.created_at.0),
            updated_at: rfc3339(a.updated_at.0),
            expires_at: rfc3339(a.expires_at.0),
        })
        .collect();
    Ok(Json(AuthorizationList { items }))
}

/// Daily usage.
///
/// For each of the last `days` UTC days (today included), how many authorizations were started
/// and completed and how many tokens were released to tools. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_usage",
    get, path = "/v1/admin/usage", tag = "admin",
    security(("admin_key" = [])),
    params(("days" = Option<u32>, Query, description = "How many days, 1–90 (default 14)")),
    responses(
        (status = 200, description = "One entry per day, oldest first", body = UsageResponse),
        (status = 400, description = "Bad days", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn usage(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    uri: Uri,
) -> Result<Json<UsageResponse>, ApiError> {
    let [days] = crate::query::params(&uri, [&["days"]])?;
    let days = i64::from(bounded(days, "days", 14, 90)?);
    let today = UnixMillis::now().0.div_euclid(DAY_MS);
    let first = today - days + 1;
    let counts = cp
        .store
        .daily_usage(caller.tenant, UnixMillis(first * DAY_MS))
        .await
        .map_err(CoreError::from)?;
    let days = (first..=today)
        .map(|day| {
            let n = |action: &str| {
                counts
                    .iter()
                    .filter(|(d, a, _)| *d == day && a == action)
                    .map(|(_, _, c)| u64::try_from(*c).unwrap_or(0))
                    .sum()
            };
            UsageDay {
                date: rfc3339(day * DAY_MS)[..10].to_owned(),
                authorizations_started: n("authorization.start"),
                authorizations_completed: n("authorization.completed"),
                token_releases: n("token.release"),
            }
        })
        .collect();
    Ok(Json(UsageResponse { days }))
}
