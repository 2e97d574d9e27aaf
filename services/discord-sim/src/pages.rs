//! HTML pages: authorize page errors with their machine markers (§10.5.1), the demo login and
//! consent pages (§10.5.2), and the bot-install success page. Every page carries the visible
//! simulator banner and uses no external assets.

use axum::http::StatusCode;
use axum::response::Response;

use crate::consent::AuthRequest;
use crate::http::{esc, html, set_header};
use crate::model::{App, User};
use crate::scopes;

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#313338;color:#dbdee1;margin:0}\
.banner{background:#f0b232;color:#111;padding:8px;text-align:center;font-weight:bold}\
main{max-width:440px;margin:40px auto;background:#2b2d31;padding:24px;border-radius:8px}\
button{padding:10px 18px;border:0;border-radius:4px;margin-right:8px;cursor:pointer}\
.primary{background:#5865f2;color:#fff}li{margin:6px 0}a{color:#00a8fc}";

/// A full page with the "not discord.com" banner.
pub(crate) fn banner_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} — Discord simulator</title><style>{STYLE}</style></head>\
         <body><div class=\"banner\">Discord simulator — not discord.com</div><main>{body}</main></body></html>",
        esc(title)
    )
}

/// A 400 page error with `X-Discord-Sim-Error` and the `discord-sim-error` meta tag.
pub(crate) fn page_error(marker: &str, text: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"discord-sim-error\" content=\"{m}\">\
         <title>Error — Discord simulator</title><style>{STYLE}</style></head><body>\
         <div class=\"banner\">Discord simulator — not discord.com</div><main><h1>{t}</h1></main></body></html>",
        m = esc(marker),
        t = esc(text)
    );
    let mut resp = html(StatusCode::BAD_REQUEST, body);
    set_header(&mut resp, "x-discord-sim-error", marker);
    resp
}

/// The demo consent page; the form carries only the pending id and the CSRF token.
pub(crate) fn consent(
    app: &App,
    user: &User,
    req: &AuthRequest,
    pending: &str,
    csrf: &str,
) -> Response {
    let display = user
        .global_name
        .clone()
        .unwrap_or_else(|| user.username.clone());
    let items: String = req
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<li>{} <small>({})</small></li>",
                esc(scopes::describe(s)),
                esc(s)
            )
        })
        .collect();
    let host = req
        .redirect_uri
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(&req.redirect_uri);
    let body = format!(
        "<h1>{app_name}</h1><p>wants to access your account</p>\
         <p>Signed in as <strong>{display}</strong> @{username} — <a href=\"/__sim/login\">Not you?</a></p>\
         <p>This will allow the developer of {app_name} to:</p><ul>{items}</ul>\
         <p>Once you authorize, you will be redirected to: <code>{host}</code></p>\
         <form method=\"post\" action=\"/__sim/consent\">\
         <input type=\"hidden\" name=\"pending\" value=\"{pending}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Cancel</button>\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\">Authorize</button></form>",
        app_name = esc(&app.name),
        display = esc(&display),
        username = esc(&user.username),
        host = esc(host),
        pending = esc(pending),
        csrf = esc(csrf),
    );
    html(
        StatusCode::OK,
        banner_page(&format!("Authorize {}", app.name), &body),
    )
}

/// The demo login page listing fixture users.
pub(crate) fn login(users: &[User], next: &str) -> Response {
    let buttons: String = users
        .iter()
        .map(|u| {
            let name = u.global_name.clone().unwrap_or_else(|| u.username.clone());
            format!(
                "<form method=\"post\" action=\"/__sim/login\"><input type=\"hidden\" name=\"user_id\" value=\"{id}\">\
                 <input type=\"hidden\" name=\"next\" value=\"{next}\"><button class=\"primary\" type=\"submit\">{name} (@{username})</button></form>",
                id = esc(&u.id),
                next = esc(next),
                name = esc(&name),
                username = esc(&u.username),
            )
        })
        .collect();
    html(
        StatusCode::OK,
        banner_page(
            "Log in",
            &format!("<h1>Choose a simulated user</h1>{buttons}"),
        ),
    )
}

/// Shown after the plain bot-install flow.
pub(crate) fn bot_installed(app: &str, guild: &str) -> Response {
    let body = format!(
        "<h1>Authorized</h1><p>{} was added to {}.</p>",
        esc(app),
        esc(guild)
    );
    html(StatusCode::OK, banner_page("Authorized", &body))
}
