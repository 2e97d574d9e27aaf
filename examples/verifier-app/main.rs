//! The example tenant web app with a Latchkey **verifier route** (docs/verifier.md).
//!
//! Users sign in with a username and password (a real, server-side login session: a random
//! session id in an `HttpOnly` cookie that expires). After a user consents at Discord, Latchkey
//! sends their browser to `GET /latchkey/verify?flow_id=…`; this route
//!
//! 1. takes the user from **its own session** — never from the query string (someone else's
//!    link could name anyone);
//! 2. sends a browser without a session through the login page and back, keeping `flow_id`;
//! 3. calls `confirm_user(flow_id, session user)` with the app key, and redirects to the
//!    `next_uri` Latchkey answers, or shows what went wrong.
//!
//! Configuration (environment): `LATCHKEY_BASE_URL`, `LATCHKEY_API_KEY` (an **app** key),
//! `PORT` (default 3000), `APP_USERS` (`name:password,…`; default
//! `alice:wonderland,bob:builder` — demo accounts, replace them with your real login).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use latchkey_sdk::{Client, Error, ErrorName};

/// How long a login session lasts.
const SESSION_TTL: Duration = Duration::from_secs(60 * 60);
const COOKIE: &str = "app_session";

#[derive(Clone)]
struct App {
    latchkey: Client,
    /// username → password (demo accounts; a real app checks its own user store).
    users: Arc<HashMap<String, String>>,
    /// session id → (user, expiry).
    sessions: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

/// The session id in the request's cookie.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

impl App {
    /// The signed-in user of this request, from the session cookie alone.
    fn session_user(&self, headers: &HeaderMap) -> Option<String> {
        let sid = session_id(headers)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        match sessions.get(&sid) {
            Some((user, until)) if Instant::now() < *until => Some(user.clone()),
            Some(_) => {
                sessions.remove(&sid);
                None
            }
            None => None,
        }
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Only our own paths are followed after login (no open redirect).
fn local_path(next: Option<&String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .cloned()
        .unwrap_or_else(|| "/".to_owned())
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.session_user(&headers) {
        Some(user) => page(
            "Example app",
            &format!(
                "<p>Signed in as <strong>{}</strong>.</p>\
                 <form method=\"post\" action=\"/logout\"><button>Sign out</button></form>",
                escape(&user)
            ),
        )
        .into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

async fn login_form(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let next = escape(&local_path(q.get("next")));
    page(
        "Sign in",
        &format!(
            "<form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <label>Username <input name=\"username\" autocomplete=\"username\" required></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button>Sign in</button></form>"
        ),
    )
}

async fn login(State(app): State<App>, Form(f): Form<HashMap<String, String>>) -> Response {
    let (Some(user), Some(password)) = (f.get("username"), f.get("password")) else {
        return (
            StatusCode::BAD_REQUEST,
            "username and password are required",
        )
            .into_response();
    };
    if app.users.get(user) != Some(password) {
        return (
            StatusCode::UNAUTHORIZED,
            page(
                "Sign in",
                "<p>Wrong username or password.</p><a href=\"/login\">Try again</a>",
            ),
        )
            .into_response();
    }
    let sid = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    app.sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(sid.clone(), (user.clone(), Instant::now() + SESSION_TTL));
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
                SESSION_TTL.as_secs()
            ),
        )],
        Redirect::to(&local_path(f.get("next"))),
    )
        .into_response()
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(sid) = session_id(&headers) {
        app.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sid);
    }
    (
        [(header::SET_COOKIE, format!("{COOKIE}=; Path=/; Max-Age=0"))],
        Redirect::to("/login"),
    )
        .into_response()
}

/// The verifier route Latchkey sends browsers to.
async fn verify(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(flow_id) = q.get("flow_id").filter(|f| !f.is_empty()) else {
        return (StatusCode::BAD_REQUEST, page("Not a Latchkey link", "")).into_response();
    };
    // 1. The user comes from our own session, and from nothing else in the request.
    let Some(user) = app.session_user(&headers) else {
        // 2. Sign in first, then come back here with the same flow_id.
        let back: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("flow_id", flow_id)
            .finish();
        let next: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/latchkey/verify?{back}"))
            .finish();
        return Redirect::to(&format!("/login?{next}")).into_response();
    };
    // 3. Latchkey compares the user the authorization was started for with ours.
    match app.latchkey.auth().confirm_user(flow_id, &user).await {
        Ok(done) => Redirect::to(&done.next_uri).into_response(),
        Err(Error::Api(e)) if e.name == Some(ErrorName::UserMismatch) => (
            StatusCode::FORBIDDEN,
            page(
                "This link was not for you",
                "<p>This Discord connection was started for another account, so it was \
                 cancelled. If you did not expect this, someone may have sent you their link.</p>",
            ),
        )
            .into_response(),
        Err(Error::Api(e)) if e.name == Some(ErrorName::NotFound) => (
            StatusCode::GONE,
            page(
                "Link expired",
                "<p>This link has expired or was already used. Start again from the app.</p>",
            ),
        )
            .into_response(),
        Err(e) => {
            eprintln!("confirm_user failed: {e}");
            (
                StatusCode::BAD_GATEWAY,
                page(
                    "Try again",
                    "<p>We could not reach Latchkey. Reload to retry.</p>",
                ),
            )
                .into_response()
        }
    }
}

fn users_from_env() -> HashMap<String, String> {
    std::env::var("APP_USERS")
        .unwrap_or_else(|_| "alice:wonderland,bob:builder".to_owned())
        .split(',')
        .filter_map(|p| p.split_once(':'))
        .map(|(u, p)| (u.to_owned(), p.to_owned()))
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = App {
        latchkey: Client::from_env()?,
        users: Arc::new(users_from_env()),
        sessions: Arc::default(),
    };
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let router = axum::Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/latchkey/verify", get(verify))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "verifier-app listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router).await?;
    Ok(())
}
