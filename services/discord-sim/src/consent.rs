//! Consent (§10.5.2): who approves an authorize request and how — the consent plan queue,
//! query selectors, the demo login cookie, the default user — plus the demo consent form
//! (pending requests with CSRF tokens) and the final approve/deny redirect.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::Mode;
use crate::authorize::redirect_error;
use crate::http::{Exchange, html, redirect, set_header, with_query};
use crate::ids::SecretKind;
use crate::model::{App, Code, Via};
use crate::pages;
use crate::server::AppState;
use crate::settings::{Decision, ReauthPolicy};
use crate::state::World;

/// Everything needed to finish an authorize request after consent.
#[derive(Debug, Clone)]
pub(crate) struct AuthRequest {
    pub app_id: String,
    pub redirect_uri: String,
    pub sent_redirect_uri: Option<String>,
    pub response_type: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub guild_id: Option<String>,
    pub permissions: Option<String>,
}

/// A demo-mode request waiting for the consent form.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub csrf: String,
    pub user_id: String,
    pub request: AuthRequest,
    pub expires_at_ms: i64,
}

/// The acting user, the decision if already known, and where they came from.
pub(crate) struct Chosen {
    pub user_id: String,
    pub decision: Option<Decision>,
    pub granted: Option<Vec<String>>,
    pub source: &'static str,
}

/// `sim_user` from the `Cookie` header.
pub(crate) fn cookie_user(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("cookie")?.to_str().ok()?;
    raw.split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "sim_user")
        .map(|(_, v)| v.to_owned())
}

/// Steps 1–5 of §10.5.2; `Err` is the answer when nobody can act.
pub(crate) fn choose(
    w: &mut World,
    ex: &Exchange,
    mode: Mode,
    app_id: &str,
    sim_user: Option<String>,
    sim_decision: Option<String>,
) -> Result<Chosen, Response> {
    if let Some(pos) = w
        .plan
        .iter()
        .position(|e| e.client_id.as_deref().is_none_or(|c| c == app_id))
        && let Some(entry) = w.plan.remove(pos)
    {
        return Ok(Chosen {
            user_id: entry.user_id,
            decision: Some(entry.decision),
            granted: entry.granted_scopes,
            source: "plan",
        });
    }
    let query_decision = match sim_decision.as_deref() {
        Some("deny") => Some(Decision::Deny),
        Some("approve") => Some(Decision::Approve),
        Some(_) | None => None,
    };
    let default_decision = match mode {
        Mode::Test => Some(query_decision.unwrap_or(w.settings.consent.default_decision)),
        Mode::Demo => query_decision,
    };
    let candidates = [
        (sim_user, "query"),
        (cookie_user(&ex.headers), "cookie"),
        (w.settings.consent.default_user.clone(), "default"),
    ];
    for (user, source) in candidates {
        if let Some(user_id) = user {
            return Ok(Chosen {
                user_id,
                decision: default_decision,
                granted: None,
                source,
            });
        }
    }
    match mode {
        Mode::Test => Err(pages::page_error(
            "no_simulated_user",
            "No simulated user: use sim_user, a consent plan or consent.default_user",
        )),
        Mode::Demo => {
            let original = if ex.raw_query.is_empty() {
                ex.path.clone()
            } else {
                format!("{}?{}", ex.path, ex.raw_query)
            };
            Err(redirect(&with_query(
                "/__sim/login",
                &[("next", &original)],
            )))
        }
    }
}

/// Stores a pending request and renders the demo consent page.
pub(crate) fn consent_page(
    w: &mut World,
    app: &App,
    user_id: &str,
    request: AuthRequest,
) -> Response {
    let id = w.mint(SecretKind::Opaque);
    let csrf = w.mint(SecretKind::Opaque);
    let expires_at_ms = w.now() + w.settings.consent.pending_ttl_s * 1000;
    let now = w.now();
    w.pending.retain(|_, p| p.expires_at_ms > now);
    let page = match w.user(user_id) {
        Some(user) => pages::consent(app, user, &request, &id, &csrf),
        None => return pages::page_error("unknown_user", "Unknown user"),
    };
    w.pending.insert(
        id,
        Pending {
            csrf,
            user_id: user_id.to_owned(),
            request,
            expires_at_ms,
        },
    );
    page
}

/// Steps 9–10 of §10.5.1: the deny or approve redirect.
pub(crate) fn finish(
    w: &mut World,
    req: &AuthRequest,
    user_id: &str,
    decision: Decision,
    granted: Option<Vec<String>>,
) -> Response {
    if decision == Decision::Deny {
        return redirect_error(
            &req.redirect_uri,
            "access_denied",
            "The resource owner or authorization server denied the request",
            req.state.as_deref(),
        );
    }
    let scopes = granted.unwrap_or_else(|| req.scopes.clone());
    if w.settings.reauth.policy == ReauthPolicy::RevokeOld {
        w.revoke_tokens(user_id, &req.app_id);
    }
    w.record_consent(user_id, &req.app_id, &scopes);
    if req.response_type == "token" {
        let (access, _) = w.issue(&req.app_id, user_id, scopes.clone(), Via::Implicit);
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("access_token", &access)
            .append_pair("token_type", "Bearer")
            .append_pair("expires_in", &w.settings.token.access_ttl_s.to_string())
            .append_pair("scope", &scopes.join(" "));
        if let Some(s) = &req.state {
            ser.append_pair("state", s);
        }
        return redirect(&format!("{}#{}", req.redirect_uri, ser.finish()));
    }
    let now = w.now();
    let code = w.mint(SecretKind::Code);
    w.codes.insert(
        code.clone(),
        Code {
            app_id: req.app_id.clone(),
            user_id: user_id.to_owned(),
            scopes: scopes.clone(),
            redirect_uri: req.redirect_uri.clone(),
            sent_redirect_uri: req.sent_redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            created_at_ms: now,
            expires_at_ms: now + w.settings.oauth.code_ttl_s * 1000,
            consumed_at_ms: None,
            issued_access: Vec::new(),
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s.as_str()));
    }
    let bot = scopes.iter().any(|s| s == "bot");
    if let (true, Some(g)) = (bot, &req.guild_id) {
        params.push(("guild_id", g.as_str()));
        params.push(("permissions", req.permissions.as_deref().unwrap_or("0")));
    }
    redirect(&with_query(&req.redirect_uri, &params))
}

/// Form of `POST /__sim/consent`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConsentForm {
    pending: String,
    csrf: String,
    decision: String,
}

/// `POST /__sim/consent`: the demo consent form's target.
pub(crate) async fn submit(
    State(app): State<AppState>,
    axum::Form(form): axum::Form<ConsentForm>,
) -> Response {
    let mut w = app.world.lock();
    let now = w.now();
    let pending = match w.pending.remove(&form.pending) {
        Some(p) if p.expires_at_ms > now && p.csrf == form.csrf => p,
        Some(_) | None => {
            return pages::page_error(
                "invalid_consent_request",
                "This authorization request has expired or is invalid",
            );
        }
    };
    let decision = if form.decision == "approve" {
        Decision::Approve
    } else {
        Decision::Deny
    };
    finish(&mut w, &pending.request, &pending.user_id, decision, None)
}

/// Query of `GET /__sim/login`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /__sim/login`: pick a fixture user.
pub(crate) async fn login_page(
    State(app): State<AppState>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let w = app.world.lock();
    pages::login(&w.objects.users, q.next.as_deref().unwrap_or("/"))
}

/// Form of `POST /__sim/login`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    user_id: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /__sim/login`: sets the `sim_user` cookie and returns to `next` (same-origin only).
pub(crate) async fn login_submit(
    State(app): State<AppState>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let known = app.world.lock().user(&form.user_id).is_some();
    if !known {
        return html(
            StatusCode::BAD_REQUEST,
            pages::banner_page("Unknown user", "<p>Unknown user.</p>"),
        );
    }
    let next = form
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/".to_owned());
    let mut resp = redirect(&next);
    set_header(
        &mut resp,
        "set-cookie",
        &format!("sim_user={}; Path=/; HttpOnly; SameSite=Lax", form.user_id),
    );
    resp
}
