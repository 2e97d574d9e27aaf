//! `PUT /guilds/{gid}/members/{uid}` — add a user to a guild with `guilds.join` (§6.6,
//! §10.5.6 steps 1–12) — and the optional Bot-only `GET` of a member.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::Caller;
use super::perms::{
    CREATE_INSTANT_INVITE, DEAFEN_MEMBERS, MANAGE_NICKNAMES, MANAGE_ROLES, MUTE_MEMBERS,
    bot_permissions, bot_top_position,
};
use super::render::{member, public_user};
use crate::clock::format_ts;
use crate::http::{Exchange, api_error, invalid_form_body, json_response, unauthorized};
use crate::model::Member;
use crate::settings::RestrictedStatus;
use crate::state::World;

fn missing_permissions() -> Response {
    api_error(StatusCode::FORBIDDEN, 50013, "Missing Permissions")
}

/// `GET` or `PUT /guilds/{gid}/members/{uid}` (Bot token only).
pub(crate) fn guild_member(
    w: &mut World,
    ex: &mut Exchange,
    caller: &Caller,
    gid: &str,
    uid: &str,
) -> Response {
    let Caller::Bot { app_id, .. } = caller else {
        return unauthorized();
    };
    let Some(guild) = w.guild(gid).cloned() else {
        return api_error(StatusCode::NOT_FOUND, 10004, "Unknown Guild");
    };
    let Some(bot) = guild.bots.iter().find(|b| &b.app_id == app_id).cloned() else {
        return api_error(StatusCode::FORBIDDEN, 50001, "Missing Access");
    };
    if ex.method == Method::GET {
        return match (guild.members.iter().find(|m| m.user_id == uid), w.user(uid)) {
            (Some(m), Some(u)) => json_response(StatusCode::OK, &member(m, public_user(u))),
            _ => api_error(StatusCode::NOT_FOUND, 10007, "Unknown Member"),
        };
    }
    // Step 4: body.
    if !ex.is_json() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": 50035, "message": "Invalid Form Body",
                    "errors": {"_errors": [{"code": "CONTENT_TYPE_INVALID", "message": "Expected \"Content-Type\" header to be one of {'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'}."}]}}),
        );
    }
    let body: Map<String, Value> = match serde_json::from_slice::<Value>(&ex.body) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) | Err(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                50109,
                "The request body contains invalid JSON.",
            );
        }
    };
    ex.json = Some(Value::Object(body.clone()));
    // Step 5: fields.
    let Some(access_token) = body.get("access_token") else {
        return invalid_form_body(
            "access_token",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        );
    };
    let Some(access_token) = access_token.as_str().map(str::to_owned) else {
        return invalid_form_body("access_token", "BASE_TYPE_STRING", "Must be a string.");
    };
    let nick = match body.get("nick") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if n.chars().count() <= 32 => Some(n.clone()),
        Some(Value::String(_)) => {
            return invalid_form_body(
                "nick",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 32 or fewer in length.",
            );
        }
        Some(_) => return invalid_form_body("nick", "BASE_TYPE_STRING", "Must be a string."),
    };
    let roles: Option<Vec<String>> = match body.get("roles") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let ids: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            if ids.len() != items.len() || ids.len() > 250 || unique.len() != ids.len() {
                return invalid_form_body(
                    "roles",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be an array of at most 250 unique snowflakes.",
                );
            }
            if ids
                .iter()
                .any(|r| !guild.roles.iter().any(|role| &role.id == r))
            {
                return invalid_form_body("roles", "ROLE_NOT_FOUND", "Unknown role.");
            }
            Some(ids)
        }
        Some(_) => return invalid_form_body("roles", "BASE_TYPE_ARRAY", "Must be an array."),
    };
    let flag = |key: &str| -> Result<Option<bool>, Response> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid_form_body(
                key,
                "BASE_TYPE_BOOLEAN",
                "Must be either true or false.",
            )),
        }
    };
    let (mute, deaf) = match (flag("mute"), flag("deaf")) {
        (Ok(m), Ok(d)) => (m, d),
        (Err(resp), _) | (_, Err(resp)) => return resp,
    };
    // Step 6: the bot may create invites.
    let bot_perms = bot_permissions(&guild, &bot);
    if bot_perms & CREATE_INSTANT_INVITE == 0 {
        return missing_permissions();
    }
    // Step 7: the user token.
    let token_ok = w.live_access(&access_token).is_ok_and(|t| {
        &t.app_id == app_id && t.user_id == uid && t.scopes.iter().any(|s| s == "guilds.join")
    });
    if !token_ok {
        ex.note("join_user_token_invalid");
        return api_error(StatusCode::FORBIDDEN, 50025, "Invalid OAuth2 access token");
    }
    ex.user_id = Some(uid.to_owned());
    // Step 8–10.
    if guild.bans.iter().any(|b| b == uid) {
        return api_error(
            StatusCode::FORBIDDEN,
            40007,
            "The user is banned from this guild",
        );
    }
    let existing = guild.members.iter().any(|m| m.user_id == uid);
    if existing {
        if w.settings.join.apply_fields_to_existing_member
            && let Some(m) = w
                .guild_mut(gid)
                .and_then(|g| g.members.iter_mut().find(|m| m.user_id == uid))
        {
            apply(m, nick, roles, mute, deaf);
        }
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return resp;
    }
    let Some(user) = w.user(uid).cloned() else {
        return api_error(StatusCode::FORBIDDEN, 50025, "Invalid OAuth2 access token");
    };
    if user.join_restricted {
        let status = match w.settings.join.restricted_status {
            RestrictedStatus::S400 => StatusCode::BAD_REQUEST,
            RestrictedStatus::S403 => StatusCode::FORBIDDEN,
        };
        return api_error(
            status,
            340_015,
            "Access to joining new servers has been limited for the user",
        );
    }
    let joined = w
        .objects
        .guilds
        .iter()
        .filter(|g| g.members.iter().any(|m| m.user_id == uid))
        .count();
    if joined >= user.max_guilds {
        return api_error(
            StatusCode::BAD_REQUEST,
            30001,
            "Maximum number of guilds reached (100)",
        );
    }
    // Step 11: field permissions and role hierarchy.
    let needs = [
        (nick.is_some(), MANAGE_NICKNAMES),
        (roles.is_some(), MANAGE_ROLES),
        (mute.is_some(), MUTE_MEMBERS),
        (deaf.is_some(), DEAFEN_MEMBERS),
    ];
    if needs
        .iter()
        .any(|(used, bit)| *used && bot_perms & bit == 0)
    {
        return missing_permissions();
    }
    if let (Some(ids), true) = (&roles, w.settings.join.enforce_role_hierarchy) {
        let top = bot_top_position(&guild, &bot);
        if guild
            .roles
            .iter()
            .filter(|r| ids.contains(&r.id))
            .any(|r| r.position >= top)
        {
            return missing_permissions();
        }
    }
    // Step 12: add.
    let mut m = Member {
        user_id: uid.to_owned(),
        nick: None,
        avatar: None,
        banner: None,
        roles: Vec::new(),
        joined_at: Some(format_ts(w.now())),
        premium_since: None,
        deaf: false,
        mute: false,
        flags: 0,
        pending: guild.screening,
        communication_disabled_until: None,
    };
    apply(&mut m, nick, roles, mute, deaf);
    let rendered = member(&m, public_user(&user));
    if let Some(g) = w.guild_mut(gid) {
        g.members.push(m);
    }
    let event = json!({"type": "GUILD_MEMBER_ADD", "at": format_ts(w.now()), "guild_id": gid, "user_id": uid});
    w.ledger.events.push(event);
    json_response(StatusCode::CREATED, &rendered)
}

fn apply(
    m: &mut Member,
    nick: Option<String>,
    roles: Option<Vec<String>>,
    mute: Option<bool>,
    deaf: Option<bool>,
) {
    if let Some(n) = nick {
        m.nick = Some(n);
    }
    if let Some(r) = roles {
        m.roles = r;
    }
    if let Some(v) = mute {
        m.mute = v;
    }
    if let Some(v) = deaf {
        m.deaf = v;
    }
}
