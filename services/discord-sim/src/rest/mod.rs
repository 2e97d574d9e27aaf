//! REST request processing (§10.5.5 steps 4–10): User-Agent policy, token in query,
//! `Authorization` resolution (Bearer or Bot), token kinds and scopes per route, the global
//! and per-route rate limits with their headers, then the endpoint handlers.

mod guilds;
mod join;
mod perms;
mod render;
mod users;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::api::Route;
use crate::faults::{Scope, too_many};
use crate::http::{Exchange, api_error, set_header, unauthorized};
use crate::ratelimit::{bucket_id, route_limit};
use crate::settings::{RejectIgnore, UserAgentPolicy};
use crate::state::World;

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// An OAuth2 user token.
    Bearer {
        token: String,
        user_id: String,
        app_id: String,
        scopes: Vec<String>,
    },
    /// An application's bot token.
    Bot { app_id: String, bot_user_id: String },
}

impl Caller {
    fn has_scope(&self, scope: &str) -> bool {
        match self {
            Caller::Bearer { scopes, .. } => scopes.iter().any(|s| s == scope),
            Caller::Bot { .. } => true,
        }
    }
}

/// Resolves the `Authorization` header (step 5).
fn authenticate(w: &World, ex: &mut Exchange) -> Result<Caller, Response> {
    let header = ex
        .header("authorization")
        .map(str::to_owned)
        .unwrap_or_default();
    if let Some(token) = header.strip_prefix("Bearer ").map(str::trim) {
        if w.dead_tokens.contains(token) {
            ex.violate(
                "dead_token_reused",
                "a token used again after it received a 401",
            );
        }
        return match w.live_access(token) {
            Ok(t) => {
                ex.identity = Some(format!("user:{}", t.user_id));
                ex.user_id = Some(t.user_id.clone());
                ex.client_id = Some(t.app_id.clone());
                Ok(Caller::Bearer {
                    token: token.to_owned(),
                    user_id: t.user_id.clone(),
                    app_id: t.app_id.clone(),
                    scopes: t.scopes.clone(),
                })
            }
            Err(reason) => {
                ex.note(reason);
                Err(unauthorized())
            }
        };
    }
    if let Some(token) = header.strip_prefix("Bot ").map(str::trim) {
        if let Some(app) = w.app_by_bot_token(token)
            && let Some(bot) = &app.bot
        {
            ex.identity = Some(format!("bot:{}", bot.user_id));
            ex.client_id = Some(app.id.clone());
            return Ok(Caller::Bot {
                app_id: app.id.clone(),
                bot_user_id: bot.user_id.clone(),
            });
        }
        ex.note("bot_token_unknown");
        return Err(unauthorized());
    }
    ex.note(if header.is_empty() {
        "missing_authorization"
    } else {
        "bad_authorization"
    });
    Err(unauthorized())
}

/// Steps 6–7: the token kind the route allows and the scope it needs.
fn permitted(route: &Route, caller: &Caller) -> bool {
    let bearer = matches!(caller, Caller::Bearer { .. });
    match route {
        Route::OauthMe => bearer,
        Route::UsersMe => caller.has_scope("identify"),
        Route::MyGuilds => caller.has_scope("guilds"),
        Route::MyMember(_) => bearer && caller.has_scope("guilds.members.read"),
        Route::Connections => caller.has_scope("connections"),
        Route::GuildMember(..) => !bearer,
        Route::LegacyAuthorize | Route::Token | Route::Revoke => false,
    }
}

/// Handles one REST call.
pub(crate) fn handle(w: &mut World, ex: &mut Exchange, route: &Route) -> Response {
    let ua_ok = ex.check_user_agent();
    if !ua_ok && w.settings.rest.require_user_agent == UserAgentPolicy::Reject40333 {
        return api_error(
            StatusCode::FORBIDDEN,
            40333,
            "Cloudflare is blocking your request. Set a proper User-Agent and try again later.",
        );
    }
    let bearer = ex
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let response = process(w, ex, route);
    if response.status() == StatusCode::UNAUTHORIZED
        && let Some(t) = bearer
    {
        w.dead_tokens.insert(t);
    }
    response
}

fn process(w: &mut World, ex: &mut Exchange, route: &Route) -> Response {
    if ex.query.iter().any(|(k, _)| k == "access_token") {
        ex.note("token_in_query");
        ex.violate("token_in_query", "access_token in a REST query string");
        if w.settings.rest.token_in_query == RejectIgnore::Reject {
            return unauthorized();
        }
    }
    let caller = match authenticate(w, ex) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if !permitted(route, &caller) {
        ex.note("token_kind_or_scope");
        return unauthorized();
    }

    // Step 8: global limit, then the route bucket.
    let now = w.now();
    let identity = ex
        .identity
        .clone()
        .unwrap_or_else(|| format!("ip:{}", ex.client_ip));
    let key = route.key(&ex.method);
    let bucket = bucket_id(w.settings.seed, &key);
    if w.limits.is_early(now, &identity, &bucket) {
        ex.violate(
            "early_retry",
            format!("request to bucket {bucket} before its reset"),
        );
    }
    if let Some(retry) = w
        .limits
        .hit_global(now, &identity, w.settings.rate_limits.global_per_s)
    {
        ex.note("global_rate_limited");
        return too_many(retry, Scope::Global);
    }
    let resource = match route {
        Route::GuildMember(gid, _) => gid.clone(),
        Route::MyMember(gid) if w.settings.rate_limits.member_route_per_guild => gid.clone(),
        Route::MyMember(_)
        | Route::LegacyAuthorize
        | Route::Token
        | Route::Revoke
        | Route::OauthMe
        | Route::UsersMe
        | Route::MyGuilds
        | Route::Connections => String::new(),
    };
    let state = route_limit(&w.settings.rate_limits, &key).map(|limit| {
        let s = w.limits.hit(now, &identity, &bucket, &resource, limit);
        (s, limit)
    });
    let mut response = match &state {
        Some((s, _)) if s.limited.is_some() => {
            ex.note("rate_limited");
            too_many(s.limited.unwrap_or_default(), Scope::User)
        }
        Some(_) | None => dispatch(w, ex, route, &caller),
    };
    if let Some((s, limit)) = state {
        for (name, value) in &s.headers {
            set_header(&mut response, name, value);
        }
        ex.rate_limit = Some(
            json!({"bucket": bucket, "limit": limit.limit, "window_s": limit.window_s,
                                    "remaining": s.headers.iter().find(|(n, _)| *n == "x-ratelimit-remaining").map(|(_, v)| v.clone())}),
        );
    }
    response
}

fn dispatch(w: &mut World, ex: &mut Exchange, route: &Route, caller: &Caller) -> Response {
    match route {
        Route::OauthMe => users::oauth_me(w, caller),
        Route::UsersMe => users::users_me(w, caller),
        Route::Connections => users::connections(w, caller),
        Route::MyGuilds => guilds::my_guilds(w, ex, caller),
        Route::MyMember(gid) => guilds::my_member(w, caller, gid),
        Route::GuildMember(gid, uid) => join::guild_member(w, ex, caller, gid, uid),
        Route::LegacyAuthorize | Route::Token | Route::Revoke => crate::http::not_found(),
    }
}
