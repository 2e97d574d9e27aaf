//! `/dashboard`: the tenant dashboard's built files (`server.dashboard_dir`, default
//! `dashboard/dist`; a missing asset is 404), with the single-page app's `index.html` for every
//! other path under it, and
//! a strict content security policy: the page loads only its own scripts and styles and talks
//! only to this origin's API. When the dashboard is not built, a page says how to build it.

use std::path::Path;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// The dashboard's routes, served from `dir`.
pub fn router(dir: &Path) -> Router {
    let index = dir.join("index.html");
    let files = if index.is_file() {
        Router::new()
            // Built files: a missing one is 404, not the app's page.
            .nest_service("/dashboard/assets", ServeDir::new(dir.join("assets")))
            .nest_service(
                "/dashboard/",
                ServeDir::new(dir).fallback(ServeFile::new(index)),
            )
    } else {
        let shown = dir.display().to_string();
        let missing = move || async move {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(format!(
                    "<!doctype html><title>Latchkey dashboard</title><h1>The dashboard is not built</h1>\
                     <p>Run <code>make dashboard</code> (or <code>make run</code>) to build it into \
                     <code>{}</code>, or set <code>server.dashboard_dir</code>.</p>",
                    html_escape(&shown)
                )),
            )
                .into_response()
        };
        Router::new()
            .route("/dashboard/", get(missing.clone()))
            .route("/dashboard/{*rest}", get(missing))
    };
    files
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
