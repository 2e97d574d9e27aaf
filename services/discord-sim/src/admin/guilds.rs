//! Admin endpoints for guild fixtures: members (add, modify, remove), bans and bots.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{admin_error, body};
use crate::clock::format_ts;
use crate::http::json_response;
use crate::model::{GuildBot, Member, Perm};
use crate::server::AppState;

fn unknown(what: &str) -> Response {
    admin_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("unknown {what}"),
    )
}

/// Body of `PUT /__sim/guilds/{gid}/members/{uid}`; absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberPatch {
    roles: Option<Vec<String>>,
    nick: Option<String>,
    pending: Option<bool>,
    mute: Option<bool>,
    deaf: Option<bool>,
}

/// `PUT /__sim/guilds/{gid}/members/{uid}`: add or modify a member.
pub(crate) async fn put_member(
    State(app): State<AppState>,
    Path((gid, uid)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let patch: MemberPatch = match body(&bytes) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let mut w = app.world.lock();
    if w.user(&uid).is_none() {
        return unknown("user");
    }
    let now = format_ts(w.now());
    let Some(guild) = w.guild_mut(&gid) else {
        return unknown("guild");
    };
    if let Some(bad) = patch
        .roles
        .iter()
        .flatten()
        .find(|r| !guild.roles.iter().any(|role| &role.id == *r))
    {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "unknown_role",
            &format!("unknown role {bad}"),
        );
    }
    let created = !guild.members.iter().any(|m| m.user_id == uid);
    if created {
        guild.members.push(Member {
            user_id: uid.clone(),
            nick: None,
            avatar: None,
            banner: None,
            roles: Vec::new(),
            joined_at: Some(now),
            premium_since: None,
            deaf: false,
            mute: false,
            flags: 0,
            pending: false,
            communication_disabled_until: None,
        });
    }
    let Some(m) = guild.members.iter_mut().find(|m| m.user_id == uid) else {
        return unknown("member");
    };
    if let Some(r) = patch.roles {
        m.roles = r;
    }
    if patch.nick.is_some() {
        m.nick = patch.nick;
    }
    if let Some(p) = patch.pending {
        m.pending = p;
    }
    if let Some(v) = patch.mute {
        m.mute = v;
    }
    if let Some(v) = patch.deaf {
        m.deaf = v;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, &serde_json::to_value(&*m).unwrap_or_default())
}

/// `DELETE /__sim/guilds/{gid}/members/{uid}`: kick.
pub(crate) async fn delete_member(
    State(app): State<AppState>,
    Path((gid, uid)): Path<(String, String)>,
) -> Response {
    let mut w = app.world.lock();
    let Some(guild) = w.guild_mut(&gid) else {
        return unknown("guild");
    };
    let before = guild.members.len();
    guild.members.retain(|m| m.user_id != uid);
    if guild.members.len() == before {
        return unknown("member");
    }
    json_response(StatusCode::OK, &json!({"removed": true}))
}

/// `PUT /__sim/guilds/{gid}/bans/{uid}`: ban (and remove the member).
pub(crate) async fn put_ban(
    State(app): State<AppState>,
    Path((gid, uid)): Path<(String, String)>,
) -> Response {
    let mut w = app.world.lock();
    if w.user(&uid).is_none() {
        return unknown("user");
    }
    let Some(guild) = w.guild_mut(&gid) else {
        return unknown("guild");
    };
    guild.members.retain(|m| m.user_id != uid);
    if !guild.bans.contains(&uid) {
        guild.bans.push(uid);
    }
    json_response(StatusCode::OK, &json!({"banned": true}))
}

/// `DELETE /__sim/guilds/{gid}/bans/{uid}`.
pub(crate) async fn delete_ban(
    State(app): State<AppState>,
    Path((gid, uid)): Path<(String, String)>,
) -> Response {
    let mut w = app.world.lock();
    let Some(guild) = w.guild_mut(&gid) else {
        return unknown("guild");
    };
    guild.bans.retain(|b| *b != uid);
    json_response(StatusCode::OK, &json!({"banned": false}))
}

/// Body of `PUT /__sim/guilds/{gid}/bots/{app_id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BotPut {
    #[serde(default)]
    permissions: Option<Perm>,
    #[serde(default)]
    role_ids: Vec<String>,
}

/// `PUT /__sim/guilds/{gid}/bots/{app_id}`: place (or replace) the app's bot.
pub(crate) async fn put_bot(
    State(app): State<AppState>,
    Path((gid, app_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let req: BotPut = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut w = app.world.lock();
    if w.app(&app_id).is_none_or(|a| a.bot.is_none()) {
        return unknown("app with a bot");
    }
    let Some(guild) = w.guild_mut(&gid) else {
        return unknown("guild");
    };
    if let Some(bad) = req
        .role_ids
        .iter()
        .find(|r| !guild.roles.iter().any(|role| &role.id == *r))
    {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "unknown_role",
            &format!("unknown role {bad}"),
        );
    }
    guild.bots.retain(|b| b.app_id != app_id);
    let bot = GuildBot {
        app_id,
        role_ids: req.role_ids,
        permissions: req.permissions,
    };
    let rendered = serde_json::to_value(&bot).unwrap_or_default();
    guild.bots.push(bot);
    json_response(StatusCode::OK, &rendered)
}

/// `DELETE /__sim/guilds/{gid}/bots/{app_id}`.
pub(crate) async fn delete_bot(
    State(app): State<AppState>,
    Path((gid, app_id)): Path<(String, String)>,
) -> Response {
    let mut w = app.world.lock();
    let Some(guild) = w.guild_mut(&gid) else {
        return unknown("guild");
    };
    guild.bots.retain(|b| b.app_id != app_id);
    json_response(StatusCode::OK, &json!({"removed": true}))
}
