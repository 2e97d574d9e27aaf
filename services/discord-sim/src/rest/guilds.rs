//! `GET /users/@me/guilds` and `GET /users/@me/guilds/{id}/member` (§6.3, §6.4): ascending
//! ids, `before`/`after`/`limit` cursors with 50035 validation, `with_counts`, permissions as
//! decimal strings, and the configurable not-a-member 404.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::Caller;
use super::perms::{bot_permissions, member_permissions};
use super::render::{member, public_user};
use crate::http::{Exchange, api_error, invalid_form_body, json_response, unauthorized};
use crate::ids::snowflake_value;
use crate::model::Guild;
use crate::settings::{MemberNotFoundCode, WithCountsPolicy};
use crate::state::World;

/// T11 booleans.
fn truthy(v: &str) -> bool {
    matches!(v, "true" | "True" | "1")
}

/// `GET /users/@me/guilds`.
pub(crate) fn my_guilds(w: &World, ex: &Exchange, caller: &Caller) -> Response {
    let limit = match ex.query_get("limit") {
        None => 200,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n < 1 => {
                return invalid_form_body(
                    "limit",
                    "NUMBER_TYPE_MIN",
                    "int value should be greater than or equal to 1.",
                );
            }
            Ok(n) if n > 200 => {
                return invalid_form_body(
                    "limit",
                    "NUMBER_TYPE_MAX",
                    "int value should be less than or equal to 200.",
                );
            }
            Ok(n) => usize::try_from(n).unwrap_or(200),
            Err(_) => {
                return invalid_form_body(
                    "limit",
                    "NUMBER_TYPE_COERCE",
                    &format!("Value \"{raw}\" is not int."),
                );
            }
        },
    };
    let cursor = |key: &str| -> Result<Option<u64>, Response> {
        match ex.query_get(key) {
            None => Ok(None),
            Some(raw) if crate::ids::is_snowflake(raw) => Ok(Some(snowflake_value(raw))),
            Some(raw) => Err(invalid_form_body(
                key,
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{raw}\" is not snowflake."),
            )),
        }
    };
    let (before, after) = match (cursor("before"), cursor("after")) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(resp), _) | (_, Err(resp)) => return resp,
    };
    let mut with_counts = ex.query_get("with_counts").is_some_and(truthy);
    if with_counts && !caller.has_scope("guilds.members.read") {
        match w.settings.rest.with_counts_without_members_read {
            WithCountsPolicy::Unauthorized => return unauthorized(),
            WithCountsPolicy::Ignore => with_counts = false,
        }
    }
    let mut visible: Vec<(&Guild, u64)> = w
        .objects
        .guilds
        .iter()
        .filter_map(|g| match caller {
            Caller::Bearer { user_id, .. } => g
                .members
                .iter()
                .any(|m| &m.user_id == user_id)
                .then(|| (g, member_permissions(g, user_id))),
            Caller::Bot { app_id, .. } => g
                .bots
                .iter()
                .find(|b| &b.app_id == app_id)
                .map(|b| (g, bot_permissions(g, b))),
        })
        .filter(|(g, _)| {
            let id = snowflake_value(&g.id);
            before.is_none_or(|b| id < b) && after.is_none_or(|a| id > a)
        })
        .collect();
    visible.sort_by_key(|(g, _)| snowflake_value(&g.id));
    if before.is_some() && after.is_none() && visible.len() > limit {
        visible.drain(..visible.len() - limit);
    }
    visible.truncate(limit);
    let owner_id = match caller {
        Caller::Bearer { user_id, .. } => user_id.clone(),
        Caller::Bot { bot_user_id, .. } => bot_user_id.clone(),
    };
    let items: Vec<Value> = visible
        .into_iter()
        .map(|(g, perms)| {
            let mut v = json!({
                "id": g.id, "name": g.name, "icon": g.icon, "banner": g.banner,
                "owner": g.owner_id == owner_id, "permissions": perms.to_string(), "features": g.features,
            });
            if let (true, Some(obj)) = (with_counts, v.as_object_mut()) {
                let members = g.approximate_member_count.unwrap_or(g.members.len() as u64);
                obj.insert("approximate_member_count".to_owned(), json!(members));
                obj.insert("approximate_presence_count".to_owned(), json!(g.approximate_presence_count.unwrap_or(0)));
            }
            v
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(items))
}

/// The not-a-member answer per `rest.member_not_found_code`.
pub(crate) fn member_not_found(w: &World) -> Response {
    match w.settings.rest.member_not_found_code {
        MemberNotFoundCode::UnknownGuild => {
            api_error(StatusCode::NOT_FOUND, 10004, "Unknown Guild")
        }
        MemberNotFoundCode::UnknownMember => {
            api_error(StatusCode::NOT_FOUND, 10007, "Unknown Member")
        }
    }
}

/// `GET /users/@me/guilds/{guild_id}/member`.
pub(crate) fn my_member(w: &World, caller: &Caller, guild_id: &str) -> Response {
    let Caller::Bearer { user_id, .. } = caller else {
        return unauthorized();
    };
    let Some(guild) = w.guild(guild_id) else {
        return api_error(StatusCode::NOT_FOUND, 10004, "Unknown Guild");
    };
    let (Some(m), Some(user)) = (
        guild.members.iter().find(|m| &m.user_id == user_id),
        w.user(user_id),
    ) else {
        return member_not_found(w);
    };
    json_response(StatusCode::OK, &member(m, public_user(user)))
}
