//! Path routing for everything Discord-facing (§10.2): `/oauth2/authorize`, the `/api` tree
//! with optional `v{N}` version segments, Discord's 404/405 bodies, and the 50041 answer for
//! unsupported API versions.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::Mode;
use crate::http::{Exchange, api_error, method_not_allowed, not_found, redirect};
use crate::state::World;

/// A known `/api` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    LegacyAuthorize,
    Token,
    Revoke,
    OauthMe,
    UsersMe,
    MyGuilds,
    MyMember(String),
    Connections,
    GuildMember(String, String),
}

impl Route {
    fn parse(segs: &[&str]) -> Option<Route> {
        Some(match segs {
            ["oauth2", "authorize"] => Route::LegacyAuthorize,
            ["oauth2", "token"] => Route::Token,
            ["oauth2", "token", "revoke"] => Route::Revoke,
            ["oauth2", "@me"] => Route::OauthMe,
            ["users", "@me"] => Route::UsersMe,
            ["users", "@me", "guilds"] => Route::MyGuilds,
            ["users", "@me", "guilds", gid, "member"] => Route::MyMember((*gid).to_owned()),
            ["users", "@me", "connections"] => Route::Connections,
            ["guilds", gid, "members", uid] => {
                Route::GuildMember((*gid).to_owned(), (*uid).to_owned())
            }
            _ => return None,
        })
    }

    fn allows(&self, method: &Method) -> bool {
        match self {
            Route::LegacyAuthorize
            | Route::OauthMe
            | Route::UsersMe
            | Route::MyGuilds
            | Route::MyMember(_)
            | Route::Connections => method == Method::GET,
            Route::Token | Route::Revoke => method == Method::POST,
            Route::GuildMember(..) => method == Method::GET || method == Method::PUT,
        }
    }

    /// Rate-limit route key, `"METHOD /template"`.
    pub(crate) fn key(&self, method: &Method) -> String {
        let template = match self {
            Route::LegacyAuthorize => "/oauth2/authorize",
            Route::Token => "/oauth2/token",
            Route::Revoke => "/oauth2/token/revoke",
            Route::OauthMe => "/oauth2/@me",
            Route::UsersMe => "/users/@me",
            Route::MyGuilds => "/users/@me/guilds",
            Route::MyMember(_) => "/users/@me/guilds/{guild_id}/member",
            Route::Connections => "/users/@me/connections",
            Route::GuildMember(..) => "/guilds/{guild_id}/members/{user_id}",
        };
        format!("{method} {template}")
    }
}

/// Dispatches one Discord-facing request with the world locked.
pub(crate) fn route(w: &mut World, ex: &mut Exchange, mode: Mode) -> Response {
    let path = ex.path.clone();
    if path == "/oauth2/authorize" {
        if ex.method != Method::GET {
            return method_not_allowed();
        }
        return crate::authorize::handle(w, ex, mode);
    }
    let Some(rest) = path.strip_prefix("/api/") else {
        return not_found();
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let (version, segs) = match segs.split_first() {
        Some((first, tail))
            if first.len() > 1
                && first.starts_with('v')
                && first[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            (first[1..].parse::<u32>().ok(), tail)
        }
        _ => (None, segs.as_slice()),
    };
    ex.api_version = version;
    let Some(route) = Route::parse(segs) else {
        return not_found();
    };
    if !route.allows(&ex.method) {
        return method_not_allowed();
    }
    if let Some(v) = version
        && !w.settings.rest.api_versions.contains(&v)
    {
        return api_error(
            StatusCode::BAD_REQUEST,
            50041,
            "Invalid API version provided",
        );
    }
    match route {
        Route::LegacyAuthorize => {
            if !w.settings.oauth.legacy_authorize_redirect {
                return not_found();
            }
            let target = if ex.raw_query.is_empty() {
                "/oauth2/authorize".to_owned()
            } else {
                format!("/oauth2/authorize?{}", ex.raw_query)
            };
            redirect(&target)
        }
        Route::Token => crate::token::handle(w, ex),
        Route::Revoke => crate::revoke::handle(w, ex),
        Route::OauthMe
        | Route::UsersMe
        | Route::MyGuilds
        | Route::MyMember(_)
        | Route::Connections
        | Route::GuildMember(..) => {
            if version != Some(10) {
                ex.violate(
                    "non_v10_api",
                    format!(
                        "REST call on {}",
                        version.map_or("an unversioned path".to_owned(), |v| format!("v{v}"))
                    ),
                );
            }
            crate::rest::handle(w, ex, &route)
        }
    }
}
