//! The browser side of a flow (security.md §2.4–§2.5, V8, V9, V13; §5.3 Q and §5.4 L):
//!
//! - `GET /oauth/start/{start_token}`: the interstitial, a consent receipt naming the tenant's
//!   app and explaining each scope. It changes nothing, so link unfurlers cannot burn links.
//!   It sets a CSRF cookie and puts a MAC over that nonce and the start token in the form.
//! - `POST /oauth/start/{start_token}`: the click. It needs the CSRF cookie and field and a
//!   same-origin `Origin` (or `Sec-Fetch-Site: same-origin`). The first accepted click binds
//!   the browser (a cookie only it holds) and answers 303 to Discord with a fresh `state`,
//!   PKCE S256 and `prompt=consent`; the bound browser may click again (new `state`); any
//!   other browser is told the link was used (audited `link_reuse_attempt`).
//! - `GET /oauth/callback/{provider_ref}`: checks `state`, the provider in the path, expiry
//!   and the binding cookie, then exchanges the code exactly once, reads the Discord user,
//!   applies the provider's guild/role policy and either completes (skip mode) or quarantines
//!   the tokens and 303s to the tenant's verifier with a one-time `flow_id`.
//!
//! Every refusal is a page that says what to do and echoes nothing from the request.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use latchkey_api::server::ApiError;
use latchkey_core::audit::AuditEvent;
use latchkey_core::authorization::{
    self, AuthorizationRecord, FlowRecord, Phase, Quarantine, capability_hash,
    is_capability_shaped, new_capability,
};
use latchkey_core::ports::DiscordAppRef;
use latchkey_core::provider::{self, ProviderRecord, ProviderStatus};
use latchkey_core::scopes;
use latchkey_core::time::UnixMillis;
use latchkey_core::{ProviderRef, TenantId};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::ending::{self, Ending, Held, system};
use crate::limits::{Peer, too_many};
use crate::pages::{escape, page, page_with, problem, see_other};
use crate::{Authorizer, confirm};

/// Longest `state` accepted on the callback (Latchkey's are 43 characters).
const MAX_STATE: usize = 128;
/// Longest `code` accepted (Discord's are about 30).
const MAX_CODE: usize = 512;
/// Longest callback query string accepted.
const MAX_QUERY: usize = 4096;

fn cookie_prefix(az: &Authorizer) -> &'static str {
    if az.secure_cookies() { "__Host-" } else { "" }
}

fn csrf_cookie(az: &Authorizer) -> String {
    format!("{}lk_csrf", cookie_prefix(az))
}

/// The binding cookie of one flow (a browser may hold several flows at once).
fn binding_cookie(az: &Authorizer, f: &FlowRecord) -> String {
    let tag: String = f
        .start_token_hash
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}lk_bind_{tag}", cookie_prefix(az))
}

fn set_cookie(az: &Authorizer, name: &str, value: &str, same_site: &str, max_age: i64) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if az.secure_cookies() { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` (the last one if several).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .next_back()
}

/// Whether this browser holds the flow's binding.
fn bound(az: &Authorizer, headers: &HeaderMap, f: &FlowRecord) -> bool {
    let (Some(have), Some(want)) = (cookie(headers, &binding_cookie(az, f)), &f.binding_hash)
    else {
        return false;
    };
    is_capability_shaped(&have)
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            capability_hash(&have).as_slice(),
            want.as_slice(),
        ))
}

fn csrf_mac(az: &Authorizer, nonce: &str, f: &FlowRecord) -> String {
    match Hmac::<Sha256>::new_from_slice(az.page_key.as_slice()) {
        Ok(mut mac) => {
            mac.update(b"latchkey interstitial v1\0");
            mac.update(nonce.as_bytes());
            mac.update(&f.start_token_hash);
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The interstitial's CSRF check: the cookie's nonce, the form's MAC over it and this link,
/// and a same-origin request.
fn csrf_ok(az: &Authorizer, headers: &HeaderMap, form: Option<&str>, f: &FlowRecord) -> bool {
    let same_origin = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) => url::Url::parse(&az.public_url)
            .map(|u| u.origin().ascii_serialization() == o)
            .unwrap_or(false),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v == "same-origin"),
    };
    let Some((nonce, mac)) = form.and_then(|v| v.split_once('.')) else {
        return false;
    };
    let cookie_ok = cookie(headers, &csrf_cookie(az)).is_some_and(|c| c == nonce);
    let expected = csrf_mac(az, nonce, f);
    same_origin
        && cookie_ok
        && !expected.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            mac.as_bytes(),
        ))
}

fn unknown_link() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "Check that you copied the whole link, or ask the app that sent it for a new one.",
    )
}

fn ended_link() -> Response {
    problem(
        StatusCode::GONE,
        "This link has expired",
        "Links to connect Discord work for a few minutes and only once. Ask the app that sent it for a new link.",
    )
}

fn used_link() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "This link was already used",
        "Someone already started connecting Discord with this link in another browser. If that was not you, do not continue: ask the app for a new link.",
    )
}

fn trouble() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Latchkey could not handle this step. Ask the app that sent you here for a new link.",
    )
}

/// A page for an internal failure (the cause goes to the log, not the page).
fn page_err(e: &ApiError) -> Response {
    tracing::warn!(name = %e.name(), message = e.message(), "browser flow step failed");
    trouble()
}

/// The flow a start link names, if it is one.
async fn flow_for_link(
    az: &Authorizer,
    token: &str,
) -> Result<Option<(TenantId, AuthorizationRecord, FlowRecord)>, ApiError> {
    if !is_capability_shaped(token) {
        return Ok(None);
    }
    az.store
        .flow_by_start_token(&capability_hash(token))
        .await
        .map_err(crate::store_err)
}

fn alive(a: &AuthorizationRecord, f: &FlowRecord) -> bool {
    !f.phase.is_terminal() && a.expires_at > UnixMillis::now()
}

/// Where Discord lives for a provider (the form's `form-action`).
fn discord_origin(p: &ProviderRecord) -> String {
    p.endpoint_origin
        .clone()
        .unwrap_or_else(|| "https://discord.com".to_owned())
}

/// `GET /oauth/start/{start_token}`: the interstitial (changes nothing).
pub async fn start_page(
    State(az): State<Authorizer>,
    Peer(peer): Peer,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    limited(&az, peer, start_page_inner(&az, &token, &headers)).await
}

/// Answers 429 to an address that missed too often (before `step` looks anything up), else
/// `step`'s answer, counting it when it is a miss.
async fn limited(
    az: &Authorizer,
    peer: Option<std::net::IpAddr>,
    step: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    if az.misses.limited(peer) {
        return too_many();
    }
    let r = step.await.unwrap_or_else(|e| page_err(&e));
    az.misses.record(peer, r.status());
    r
}

async fn start_page_inner(
    az: &Authorizer,
    token: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let Some((tenant, a, f)) = flow_for_link(az, token).await? else {
        return Ok(unknown_link());
    };
    if !alive(&a, &f) {
        return Ok(ended_link());
    }
    if f.phase != Phase::LinkIssued && !bound(az, headers, &f) {
        return Ok(used_link());
    }
    let Some(p) = az
        .provider(tenant, a.provider)
        .await?
        .filter(|p| p.status == ProviderStatus::Active)
    else {
        return Ok(ended_link());
    };
    let app = az
        .store
        .get_tenant(tenant)
        .await
        .map_err(crate::store_err)?
        .map(|t| t.name.as_str().to_owned())
        .unwrap_or_default();
    let nonce = new_capability();
    let field = format!(
        "{}.{}",
        nonce.expose_secret(),
        csrf_mac(az, nonce.expose_secret(), &f)
    );
    let minutes = (a.expires_at.0 - UnixMillis::now().0).max(0) / 60_000;
    let scope_items: String = a
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<li><code>{}</code> — {}</li>",
                escape(s),
                escape(scopes::describe(s))
            )
        })
        .collect();
    let body = format!(
        "<p><strong>{app}</strong> asks to connect your Discord account. If you continue, Discord will ask you to approve, and {app} will be able to:</p>\
         <ul>{scope_items}</ul>\
         <p class=\"warn\">Continue only if you asked <strong>{app}</strong> to connect Discord just now. If someone sent you this link, close this page.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"{field}\"><button type=\"submit\">Continue to Discord</button></form>\
         <p><small>This link expires in about {minutes} minute(s) and works in one browser only.</small></p>",
        app = escape(&app),
        field = escape(&field),
    );
    let mut resp = page_with(
        StatusCode::OK,
        "Connect Discord",
        &body,
        Some(&discord_origin(&p)),
    );
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        az,
        &csrf_cookie(az),
        nonce.expose_secret(),
        "Strict",
        3600,
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /oauth/start/{start_token}`: the click that binds the browser and goes to Discord.
pub async fn start_click(
    State(az): State<Authorizer>,
    Peer(peer): Peer,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    limited(&az, peer, start_click_inner(&az, &token, &headers, &body)).await
}

async fn start_click_inner(
    az: &Authorizer,
    token: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let Some((tenant, a, f)) = flow_for_link(az, token).await? else {
        return Ok(unknown_link());
    };
    let mut csrf = None;
    for (k, v) in form_urlencoded::parse(body) {
        if k == "csrf" && csrf.replace(v.into_owned()).is_some() {
            csrf = None;
            break;
        }
    }
    if !csrf_ok(az, headers, csrf.as_deref(), &f) {
        return Ok(problem(
            StatusCode::FORBIDDEN,
            "Please start again",
            "This page could not be confirmed as yours. Open the link you were given again and press Continue.",
        ));
    }
    if !alive(&a, &f) {
        return Ok(ended_link());
    }
    let rebind = match f.phase {
        Phase::LinkIssued => false,
        Phase::AwaitingCallback if bound(az, headers, &f) => true,
        Phase::AwaitingCallback
        | Phase::Exchanging
        | Phase::AwaitingVerification
        | Phase::Completed
        | Phase::Failed
        | Phase::Expired => {
            let event = AuditEvent::success(&system(), "link_reuse_attempt", a.id.to_string());
            az.store
                .record_audit(tenant, &event)
                .await
                .map_err(crate::store_err)?;
            return Ok(used_link());
        }
    };
    let Some(p) = az
        .provider(tenant, a.provider)
        .await?
        .filter(|p| p.status == ProviderStatus::Active)
    else {
        let end = Ending {
            from: f.phase,
            to: Phase::Failed,
            reason: "provider_unavailable",
            held: None,
            decision: None,
        };
        ending::fail(az, tenant, &a, &f, end, &system()).await?;
        return Ok(ended_link());
    };
    let settings = az
        .store
        .verification_settings(tenant)
        .await
        .map_err(crate::store_err)?
        .unwrap_or_default();
    if !authorization::verification_ready(&settings, az.skip_allowed) {
        let end = Ending {
            from: f.phase,
            to: Phase::Failed,
            reason: "verification_not_configured",
            held: None,
            decision: None,
        };
        ending::fail(az, tenant, &a, &f, end, &system()).await?;
        return Ok(problem(
            StatusCode::FORBIDDEN,
            "This app cannot connect Discord yet",
            "The app has not set up user verification, so nothing was connected. Ask the app for a new link later.",
        ));
    }
    let binding = new_capability();
    let state = new_capability();
    let verifier = new_capability();
    let url = az
        .discord
        .authorize_url(
            p.client_id.as_str(),
            &az.redirect_uri(p.id),
            p.endpoint_origin.as_deref(),
            &a.scopes,
            &state,
            &verifier,
        )
        .map_err(|e| ApiError::internal(&e))?;
    let to = FlowRecord {
        phase: Phase::AwaitingCallback,
        binding_hash: if rebind {
            f.binding_hash.clone()
        } else {
            Some(capability_hash(binding.expose_secret()))
        },
        state_hash: Some(capability_hash(state.expose_secret())),
        pkce_verifier: Some(
            authorization::seal_secret(&az.vault, tenant, a.id, "pkce_verifier", &verifier).await?,
        ),
        updated_at: UnixMillis::now(),
        ..f.clone()
    };
    let moved = az
        .store
        .advance_flow(tenant, a.id, f.phase, f.state_hash.as_deref(), &to)
        .await
        .map_err(crate::store_err)?;
    if !moved {
        // Another browser (or tab) clicked at the same moment and won.
        return Ok(used_link());
    }
    let mut resp = see_other(&url);
    if !rebind {
        let max_age = (a.expires_at.0 - UnixMillis::now().0).max(0) / 1000;
        if let Ok(v) = HeaderValue::from_str(&set_cookie(
            az,
            &binding_cookie(az, &f),
            binding.expose_secret(),
            "Lax",
            max_age,
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// The callback's parameters, each at most once.
#[derive(Default)]
pub(crate) struct CallbackQuery {
    pub(crate) state: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) error: Option<String>,
}

pub(crate) fn parse_callback(query: &str) -> Result<CallbackQuery, &'static str> {
    if query.len() > MAX_QUERY {
        return Err("The sign-in answer from Discord was too long.");
    }
    let mut q = CallbackQuery::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "state" => &mut q.state,
            "code" => &mut q.code,
            "error" => &mut q.error,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err("The sign-in answer from Discord repeated a parameter.");
        }
    }
    if q.state.as_ref().is_some_and(|s| s.len() > MAX_STATE)
        || q.code.as_ref().is_some_and(|c| c.len() > MAX_CODE)
        || q.error.as_ref().is_some_and(|e| e.len() > 200)
    {
        return Err("The sign-in answer from Discord had an oversized parameter.");
    }
    Ok(q)
}

fn bad_callback(advice: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "This sign-in cannot continue",
        advice,
    )
}

/// `GET /oauth/callback/{provider_ref}`: Discord's answer.
pub async fn callback(
    State(az): State<Authorizer>,
    Peer(peer): Peer,
    Path(provider): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    limited(&az, peer, callback_inner(&az, &provider, &uri, &headers)).await
}

async fn callback_inner(
    az: &Authorizer,
    provider: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    // A prefetch must not consume the one callback a flow gets (Q19).
    if headers
        .get("sec-purpose")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("prefetch"))
    {
        return Ok(bad_callback(
            "This page cannot be prefetched. Open it directly.",
        ));
    }
    let Ok(provider) = ProviderRef::parse(provider) else {
        return Ok(unknown_link());
    };
    let q = match parse_callback(uri.query().unwrap_or_default()) {
        Ok(q) => q,
        Err(why) => return Ok(bad_callback(why)),
    };
    let Some(state) = q.state.filter(|s| is_capability_shaped(s)) else {
        return Ok(bad_callback(
            "The answer from Discord did not name a sign-in Latchkey started. Open the link you were given again.",
        ));
    };
    let state_hash = capability_hash(&state);
    let Some((tenant, a, f)) = az
        .store
        .flow_by_state(&state_hash)
        .await
        .map_err(crate::store_err)?
    else {
        return Ok(bad_callback(
            "This sign-in is unknown or was replaced by a newer one. Open the link you were given again.",
        ));
    };
    if a.provider != provider {
        return Ok(bad_callback(
            "The answer from Discord arrived for another app. Open the link you were given again.",
        ));
    }
    if f.phase != Phase::AwaitingCallback {
        return Ok(if f.phase.is_terminal() {
            ended_link()
        } else {
            bad_callback("This sign-in was already handled.")
        });
    }
    if a.expires_at <= UnixMillis::now() {
        ending::expire(az, tenant, &a, &f).await?;
        return Ok(ended_link());
    }
    if !bound(az, headers, &f) {
        return Ok(bad_callback(
            "Finish connecting in the same browser where you opened the link.",
        ));
    }
    if q.error.is_some() && q.code.is_some() {
        return Ok(bad_callback(
            "The answer from Discord was ambiguous. Open the link you were given again.",
        ));
    }
    if let Some(error) = q.error {
        let (reason, title, advice) = if error == "access_denied" {
            (
                "discord_access_denied",
                "You cancelled at Discord",
                "Nothing was connected. If you want to connect Discord, ask the app for a new link.",
            )
        } else {
            (
                "discord_error",
                "Discord could not complete the sign-in",
                "Nothing was connected. Ask the app for a new link and try again.",
            )
        };
        let end = Ending {
            from: Phase::AwaitingCallback,
            to: Phase::Failed,
            reason,
            held: None,
            decision: None,
        };
        ending::fail(az, tenant, &a, &f, end, &system()).await?;
        return Ok(problem(StatusCode::OK, title, advice));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Ok(bad_callback(
            "The answer from Discord carried no authorization code. Open the link you were given again.",
        ));
    };
    let exchanging = FlowRecord {
        phase: Phase::Exchanging,
        updated_at: UnixMillis::now(),
        ..f.clone()
    };
    if !az
        .store
        .advance_flow(
            tenant,
            a.id,
            Phase::AwaitingCallback,
            Some(&state_hash),
            &exchanging,
        )
        .await
        .map_err(crate::store_err)?
    {
        return Ok(bad_callback("This sign-in was already handled."));
    }
    exchange(az, tenant, &a, &exchanging, SecretString::from(code)).await
}

/// Fails the flow (now `exchanging`) for `reason`, revoking `held`, with a page.
async fn give_up(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    f: &FlowRecord,
    reason: &'static str,
    held: Option<Held>,
    page: Response,
) -> Result<Response, ApiError> {
    let end = Ending {
        from: Phase::Exchanging,
        to: Phase::Failed,
        reason,
        held,
        decision: None,
    };
    ending::fail(az, tenant, a, f, end, &system()).await?;
    Ok(page)
}

/// The part after the flow moved to `exchanging`: exactly one code exchange.
async fn exchange(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    f: &FlowRecord,
    code: SecretString,
) -> Result<Response, ApiError> {
    let discord_down = || {
        problem(
            StatusCode::BAD_GATEWAY,
            "Discord could not complete the sign-in",
            "Nothing was connected. Ask the app for a new link and try again in a moment.",
        )
    };
    let Some(p) = az
        .provider(tenant, a.provider)
        .await?
        .filter(|p| p.status == ProviderStatus::Active)
    else {
        return give_up(az, tenant, a, f, "provider_unavailable", None, ended_link()).await;
    };
    let (Some(sealed),) = (f.pkce_verifier.as_ref(),) else {
        return give_up(az, tenant, a, f, "flow_incomplete", None, trouble()).await;
    };
    let verifier =
        authorization::open_secret(&az.vault, tenant, a.id, "pkce_verifier", sealed).await?;
    let secret = provider::client_secret(&az.vault, tenant, &p).await?;
    let redirect_uri = az.redirect_uri(p.id);
    let app = DiscordAppRef {
        client_id: p.client_id.as_str(),
        client_secret: &secret,
        redirect_uri: &redirect_uri,
        endpoint_origin: p.endpoint_origin.as_deref(),
    };
    let tokens = match az.discord.exchange_code(&app, &code, &verifier).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, authorization = %a.id, "code exchange failed");
            return give_up(az, tenant, a, f, "exchange_failed", None, discord_down()).await;
        }
    };
    let mut held = Held {
        token: tokens
            .refresh_token
            .clone()
            .unwrap_or_else(|| tokens.access_token.clone()),
        discord_user_id: None,
    };
    let (discord_user_id, user_info) = match az
        .discord
        .current_user(&app, &tokens.access_token)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, authorization = %a.id, "reading the Discord user failed");
            return give_up(
                az,
                tenant,
                a,
                f,
                "user_lookup_failed",
                Some(held),
                discord_down(),
            )
            .await;
        }
    };
    held.discord_user_id = Some(discord_user_id.clone());
    if let Some(refusal) = policy_refusal(az, &app, &p, &tokens.access_token).await {
        let page = match refusal {
            Ok(message) => problem(
                StatusCode::FORBIDDEN,
                "You cannot connect this account",
                &message,
            ),
            Err(()) => discord_down(),
        };
        return give_up(az, tenant, a, f, "policy_refused", Some(held), page).await;
    }
    let settings = az
        .store
        .verification_settings(tenant)
        .await
        .map_err(crate::store_err)?
        .unwrap_or_default();
    let q = Quarantine {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
        scopes: tokens.scopes,
        user_info,
        discord_user_id,
    };
    if let Some(verifier_url) = settings.verifier_url.as_deref() {
        let flow_id = new_capability();
        let to = FlowRecord {
            phase: Phase::AwaitingVerification,
            flow_id_hash: Some(capability_hash(flow_id.expose_secret())),
            quarantined: Some(q.seal(&az.vault, tenant, a.id).await?),
            discord_user_id: Some(q.discord_user_id.clone()),
            updated_at: UnixMillis::now(),
            ..f.clone()
        };
        if !az
            .store
            .advance_flow(tenant, a.id, Phase::Exchanging, None, &to)
            .await
            .map_err(crate::store_err)?
        {
            // The reaper ended it meanwhile; the tokens are not kept.
            return give_up(az, tenant, a, f, "expired", Some(held), ended_link()).await;
        }
        let sep = if verifier_url.contains('?') { '&' } else { '?' };
        return Ok(see_other(&format!(
            "{verifier_url}{sep}flow_id={}",
            flow_id.expose_secret()
        )));
    }
    if settings.unsafe_skip_verification && az.skip_allowed {
        let done =
            confirm::activate(az, tenant, a, Phase::Exchanging, q, None, &system(), false).await?;
        if !done {
            return Ok(ended_link());
        }
        tracing::warn!(authorization = %a.id, tenant = %tenant, "completed WITHOUT user verification (unsafe_skip_verification)");
        let settings_now = az
            .store
            .verification_settings(tenant)
            .await
            .map_err(crate::store_err)?
            .unwrap_or_default();
        return Ok(see_other(&confirm::next_uri(az, a, &settings_now)));
    }
    give_up(
        az,
        tenant,
        a,
        f,
        "verification_not_configured",
        Some(held),
        problem(
            StatusCode::FORBIDDEN,
            "This app cannot connect Discord yet",
            "The app has not set up user verification, so nothing was connected. Tell the app's team.",
        ),
    )
    .await
}

/// `Some(Ok(message))` when the provider's policy refuses the user, `Some(Err(()))` when
/// Discord could not answer, `None` when the policy holds (or there is none).
async fn policy_refusal(
    az: &Authorizer,
    app: &DiscordAppRef<'_>,
    p: &ProviderRecord,
    access: &SecretString,
) -> Option<Result<String, ()>> {
    let policy = p.policy.as_ref()?;
    if policy.required_guild_ids.is_empty() {
        return None;
    }
    let message = policy.message.clone().unwrap_or_else(|| {
        "Your Discord account does not meet this app's membership requirements.".to_owned()
    });
    let mut roles: Vec<String> = Vec::new();
    for guild in &policy.required_guild_ids {
        match az.discord.member_roles(app, access, guild).await {
            Ok(Some(r)) => roles.extend(r),
            Ok(None) => return Some(Ok(message)),
            Err(e) => {
                tracing::warn!(error = %e, "guild membership check failed");
                return Some(Err(()));
            }
        }
    }
    if policy.required_role_ids.iter().all(|r| roles.contains(r)) {
        None
    } else {
        Some(Ok(message))
    }
}

/// `HEAD /oauth/callback/…`: 405, with no side effect.
pub async fn method_not_allowed() -> Response {
    let mut r = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "Open this page with a normal link.",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
}

/// `GET /oauth/done`: where users land when the app gave no `next_uri`.
pub async fn done_page() -> Response {
    page(
        StatusCode::OK,
        "Discord is connected",
        "<p>You can close this window and go back to the app.</p>",
    )
}
