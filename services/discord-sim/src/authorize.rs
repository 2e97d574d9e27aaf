//! `GET /oauth2/authorize` (§10.5.1): parameter checks in Discord's order, page errors versus
//! redirect errors, the consent decision (§10.5.2), and the final 302 carrying a code (or, for
//! the implicit grant, a fragment token).

use std::collections::HashSet;

use axum::response::Response;

use crate::Mode;
use crate::consent::{self, AuthRequest, Chosen};
use crate::http::{Exchange, redirect, with_query};
use crate::model::{GuildBot, Perm};
use crate::pages::{bot_installed, page_error};
use crate::scopes;
use crate::settings::{PkceMode, RedirectMatch};
use crate::state::World;

/// Authorize parameters Discord accepts (§3.1).
const KNOWN_PARAMS: &[&str] = &[
    "client_id",
    "response_type",
    "scope",
    "redirect_uri",
    "state",
    "prompt",
    "integration_type",
    "permissions",
    "guild_id",
    "disable_guild_select",
    "channel_id",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";

/// A redirect error (RFC 6749 §4.1.2.1 style) to `target`.
pub(crate) fn redirect_error(
    target: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(&with_query(target, &params))
}

/// Handles one authorize request.
pub(crate) fn handle(w: &mut World, ex: &mut Exchange, mode: Mode) -> Response {
    // Step 1: simulator selectors, duplicates, conformance checks.
    let overrides = w
        .settings
        .consent
        .allow_query_overrides
        .unwrap_or(mode == Mode::Test);
    let mut params = ex.query.clone();
    let mut sim_user = None;
    let mut sim_decision = None;
    if overrides {
        sim_user = params
            .iter()
            .find(|(k, _)| k == "sim_user")
            .map(|(_, v)| v.clone());
        sim_decision = params
            .iter()
            .find(|(k, _)| k == "sim_decision")
            .map(|(_, v)| v.clone());
        params.retain(|(k, _)| k != "sim_user" && k != "sim_decision");
    }
    let mut seen = HashSet::new();
    for (k, _) in &params {
        if !seen.insert(k.clone()) {
            ex.note("duplicate_param");
            ex.violate(
                "duplicate_param",
                format!("authorize parameter `{k}` repeated"),
            );
        }
        if !KNOWN_PARAMS.contains(&k.as_str()) {
            ex.violate(
                "unknown_param",
                format!("authorize parameter `{k}` is not one Discord defines"),
            );
        }
    }
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    conformance(w, ex, &get);

    // Step 2: client.
    let Some(app) = get("client_id").and_then(|id| w.app(&id).cloned()) else {
        return page_error("unknown_client", "Unknown Application");
    };
    ex.client_id = Some(app.id.clone());
    let state = get("state");
    let response_type = get("response_type");
    let challenge = get("code_challenge");

    // Step 3: effective redirect URI.
    let sent_redirect = get("redirect_uri");
    let redirect_uri = match &sent_redirect {
        Some(uri) => {
            let registered = app.redirect_uris.iter().any(|r| r == uri);
            if !registered && w.settings.oauth.redirect_match == RedirectMatch::Exact {
                return page_error("invalid_redirect_uri", "Invalid OAuth2 redirect_uri");
            }
            let web = uri.starts_with("http://") || uri.starts_with("https://");
            if !web && challenge.is_none() && w.settings.oauth.custom_scheme_requires_pkce {
                return page_error(
                    "custom_scheme_without_pkce",
                    "Invalid \"redirect_uri\" in request",
                );
            }
            Some(uri.clone())
        }
        None if response_type.is_some() && !w.settings.oauth.default_redirect_when_omitted => {
            return page_error("invalid_redirect_uri", "Invalid OAuth2 redirect_uri");
        }
        None => app.redirect_uris.first().cloned(),
    };

    // Step 4: response_type.
    let requested = scopes::split(&get("scope").unwrap_or_default());
    let Some(response_type) = response_type else {
        let bot_only = !requested.is_empty()
            && requested
                .iter()
                .all(|s| s == "bot" || s == "applications.commands");
        if bot_only {
            return install_bot(w, &app, get("guild_id"), get("permissions"));
        }
        return match &redirect_uri {
            Some(target) => redirect_error(
                target,
                "invalid_request",
                "Missing response_type parameter.",
                state.as_deref(),
            ),
            None => page_error("invalid_redirect_uri", "Invalid OAuth2 redirect_uri"),
        };
    };
    let Some(redirect_uri) = redirect_uri else {
        return page_error("invalid_redirect_uri", "Invalid OAuth2 redirect_uri");
    };
    let fail = |error: &str, description: &str| {
        redirect_error(&redirect_uri, error, description, state.as_deref())
    };
    if response_type != "code" && response_type != "token" {
        return fail(
            "unsupported_response_type",
            "The authorization server does not support obtaining an authorization code using this method.",
        );
    }
    if let (Some(max), Some(s)) = (w.settings.oauth.max_state_len, &state)
        && s.len() > max
    {
        return fail("invalid_request", "Invalid \"state\" in request.");
    }

    // Step 5: scopes.
    let too_long = w
        .settings
        .oauth
        .max_scope_len
        .is_some_and(|max| get("scope").unwrap_or_default().len() > max);
    let bad_scope = requested.iter().any(|s| {
        !scopes::is_known(s)
            || (scopes::needs_approval(s) && !app.approved_scopes.contains(s))
            || s == "applications.commands.update"
            || (s == "role_connections.write"
                && (challenge.is_some() || response_type == "token" || app.public_client))
    });
    if requested.is_empty() || bad_scope || too_long {
        return fail("invalid_scope", INVALID_SCOPE);
    }
    if app.bot.is_none() && requested.iter().any(|s| s == "bot" || s == "guilds.join") {
        return page_error("app_without_bot", "OAuth2 application does not have a bot");
    }

    // Step 6: PKCE parameters.
    let method = get("code_challenge_method");
    if method.as_deref().is_some_and(|m| m != "S256") || (challenge.is_some() && method.is_none()) {
        return fail("invalid_request", "Unsupported \"code_challenge_method\"");
    }
    if let Some(c) = &challenge {
        let well_formed = c.len() == 43
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if w.settings.pkce.mode == PkceMode::Strict && !well_formed {
            return fail("invalid_request", "Invalid \"code_challenge\"");
        }
    }

    let request = AuthRequest {
        app_id: app.id.clone(),
        redirect_uri,
        sent_redirect_uri: sent_redirect,
        response_type,
        scopes: requested,
        state,
        code_challenge: challenge,
        guild_id: get("guild_id"),
        permissions: get("permissions"),
    };

    // Steps 7–10: who decides, then the answer.
    let chosen = match consent::choose(w, ex, mode, &app.id, sim_user, sim_decision) {
        Ok(chosen) => chosen,
        Err(resp) => return resp,
    };
    let Chosen {
        user_id,
        decision,
        granted,
        source,
    } = chosen;
    ex.note(&format!("consent_source:{source}"));
    ex.user_id = Some(user_id.clone());
    let Some(user) = w.user(&user_id) else {
        return page_error("unknown_user", "Unknown user");
    };
    if user.account_banned {
        return page_error("user_banned", "This account has been disabled");
    }
    let prompt_none = get("prompt").as_deref() == Some("none");
    let covered = w
        .auths
        .get(&(user_id.clone(), app.id.clone()))
        .is_some_and(|a| request.scopes.iter().all(|s| a.scopes.contains(s)));
    let passthrough = request
        .scopes
        .iter()
        .any(|s| scopes::PASSTHROUGH.contains(&s.as_str()));
    let decision = match decision {
        Some(d) => d,
        None if prompt_none && covered && !passthrough => crate::settings::Decision::Approve,
        None => return consent::consent_page(w, &app, &user_id, request),
    };
    consent::finish(w, &request, &user_id, decision, granted)
}

/// Client-conformance checks on the authorize parameters (§10.7.1).
fn conformance(w: &mut World, ex: &mut Exchange, get: &dyn Fn(&str) -> Option<String>) {
    if get("response_type").as_deref() != Some("code") {
        ex.violate(
            "implicit_or_unknown_response_type",
            "response_type is not `code`",
        );
    }
    match get("state") {
        None => ex.violate("missing_state", "no state parameter"),
        Some(s) if s.len() < 43 => ex.violate(
            "short_state",
            format!("state has {} characters (< 43)", s.len()),
        ),
        Some(_) => {}
    }
    match get("code_challenge") {
        None => ex.violate("missing_pkce", "no code_challenge"),
        Some(c) => {
            if !w.seen_challenges.insert(c) {
                ex.violate("duplicate_code_challenge", "code_challenge seen before");
            }
        }
    }
    if get("code_challenge_method")
        .as_deref()
        .is_some_and(|m| m != "S256")
    {
        ex.violate("pkce_method_not_s256", "code_challenge_method is not S256");
    }
    if get("prompt").as_deref() != Some("consent") {
        ex.violate("prompt_not_consent", "prompt absent or not `consent`");
    }
}

/// The plain bot-install flow (minimal): adds the app's bot to `guild_id`.
fn install_bot(
    w: &mut World,
    app: &crate::model::App,
    guild_id: Option<String>,
    permissions: Option<String>,
) -> Response {
    if app.bot.is_none() {
        return page_error("app_without_bot", "OAuth2 application does not have a bot");
    }
    let perms = permissions.and_then(|p| p.parse().ok()).map(Perm);
    let Some(guild) = guild_id.and_then(|g| w.guild_mut(&g)) else {
        return page_error("unknown_guild", "Unknown Guild");
    };
    if !guild.bots.iter().any(|b| b.app_id == app.id) {
        guild.bots.push(GuildBot {
            app_id: app.id.clone(),
            role_ids: Vec::new(),
            permissions: perms,
        });
    }
    bot_installed(&app.name, &guild.name)
}
