//! The Discord-facing entry point (§10.5.5 steps 1–2 and 10): buffers the request, applies
//! fault rules, refuses banned IPs, dispatches to the handler with the world locked, then
//! counts invalid answers and writes the ledger entry and violations.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::api;
use crate::clock::format_ts;
use crate::faults::{Action, FaultInput, status_response, too_many};
use crate::http::{Exchange, pair};
use crate::log::{LogEntry, Violation, scrub_json, scrub_location, scrub_pairs};
use crate::ratelimit::ban_response;
use crate::server::{AppState, ConnHandle};
use crate::settings::IpSource;
use crate::state::World;

/// Largest request body the simulator reads.
const MAX_BODY: usize = 1 << 20;

/// What to do once the handler has answered.
enum After {
    Nothing,
    Drop,
    Mutate(serde_json::Map<String, Value>, Vec<String>),
}

/// Router fallback: every non-admin request lands here.
pub(crate) async fn entry(State(app): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let conn = parts.extensions.get::<ConnHandle>().cloned();
    let peer = conn
        .as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.peer.ip());
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let mut ex = Exchange::new(
        parts.method,
        parts.uri.path().to_owned(),
        raw_query,
        parts.headers,
        body,
        peer,
    );

    let picked = {
        let mut w = app.world.lock();
        ex.at_ms = w.now();
        if w.settings.rate_limits.client_ip_source == IpSource::XForwardedFor {
            let forwarded = ex
                .header("x-forwarded-for")
                .and_then(|h| h.split(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            ex.client_ip = forwarded.unwrap_or(peer);
        }
        let input = fault_input(&w, &ex);
        w.faults.pick(&input)
    };

    let mut after = After::Nothing;
    let mut early: Option<Response> = None;
    if let Some((id, action)) = picked {
        ex.fault = Some(id);
        match action {
            Action::Status {
                status,
                body,
                headers,
            } => early = Some(status_response(status, body.as_ref(), &headers)),
            Action::RateLimit {
                retry_after, scope, ..
            } => {
                ex.shared_429 = scope == crate::faults::Scope::Shared;
                early = Some(too_many(retry_after, scope));
            }
            Action::Delay { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            Action::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                early = Some(status_response(504, None, &Default::default()));
            }
            Action::Drop => return drop_connection(conn).await,
            Action::CommitThenDrop => after = After::Drop,
            Action::BanIp => {
                let mut w = app.world.lock();
                let (now, secs) = (w.now(), w.settings.rate_limits.ban_duration_s);
                w.limits.ban(ex.client_ip, now, secs);
            }
            Action::MutateTokenResponse { set, remove } => after = After::Mutate(set, remove),
        }
    }

    let response = match early {
        Some(resp) => resp,
        None => {
            let mut w = app.world.lock();
            if w.limits.is_banned(ex.client_ip, ex.at_ms) {
                ex.note("ip_banned");
                ban_response(w.settings.rate_limits.ban_response)
            } else {
                api::route(&mut w, &mut ex, app.mode)
            }
        }
    };

    let (response, logged_body) = buffer(response).await;
    let response = match &after {
        After::Mutate(set, remove) => mutate(response, &logged_body, set, remove),
        After::Nothing | After::Drop => rebuild(response, logged_body.clone()),
    };
    finish(&app, ex, &response, &logged_body);
    if matches!(after, After::Drop) {
        return drop_connection(conn).await;
    }
    response
}

async fn drop_connection(conn: Option<ConnHandle>) -> Response {
    if let Some(conn) = conn {
        conn.kill.notify_one();
        std::future::pending::<()>().await;
    }
    status_response(500, None, &Default::default())
}

/// Facts for fault matching, resolved from the request and the world.
fn fault_input(w: &World, ex: &Exchange) -> FaultInput {
    let form = if ex.is_form() {
        ex.body_pairs()
    } else {
        Vec::new()
    };
    let basic_id = crate::token::basic_credentials(ex).map(|(id, _)| id);
    let client_id = pair(&form, "client_id").map(str::to_owned).or(basic_id);
    let bearer = ex
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let user_id = bearer
        .and_then(|t| w.access.get(t).map(|a| a.user_id.clone()))
        .or_else(|| {
            pair(&form, "refresh_token")
                .and_then(|t| w.refresh.get(t))
                .map(|r| r.user_id.clone())
        })
        .or_else(|| {
            pair(&form, "code")
                .and_then(|c| w.codes.get(c))
                .map(|c| c.user_id.clone())
        });
    FaultInput {
        method: ex.method.to_string(),
        path: ex.path.clone(),
        grant_type: pair(&form, "grant_type").map(str::to_owned),
        client_id,
        user_id,
        client_ip: ex.client_ip.to_string(),
    }
}

async fn buffer(response: Response) -> (Response, axum::body::Bytes) {
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, MAX_BODY).await.unwrap_or_default();
    (Response::from_parts(parts, Body::empty()), bytes)
}

fn rebuild(response: Response, bytes: axum::body::Bytes) -> Response {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Body::from(bytes))
}

/// `mutate_token_response`: edits a successful JSON token answer.
fn mutate(
    response: Response,
    bytes: &[u8],
    set: &serde_json::Map<String, Value>,
    remove: &[String],
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    match (response.status() == StatusCode::OK, parsed) {
        (true, Some(Value::Object(mut obj))) => {
            for key in remove {
                obj.remove(key);
            }
            for (k, v) in set {
                obj.insert(k.clone(), v.clone());
            }
            let (parts, _) = response.into_parts();
            Response::from_parts(parts, Body::from(Value::Object(obj).to_string()))
        }
        _ => rebuild(response, axum::body::Bytes::copy_from_slice(bytes)),
    }
}

/// Counts invalid answers, records the ledger entry and violations.
fn finish(app: &AppState, ex: Exchange, response: &Response, body: &[u8]) {
    let mut w = app.world.lock();
    let status = response.status().as_u16();
    let invalid = matches!(status, 401 | 403) || (status == 429 && !ex.shared_429);
    let mut notes = ex.notes.clone();
    if invalid && !notes.iter().any(|n| n == "ip_banned") {
        let settings = w.settings.rate_limits.clone();
        if w.limits.count_invalid(ex.client_ip, ex.at_ms, &settings) {
            notes.push("ip_banned_now".to_owned());
        }
    }
    let mode = w.settings.log.secrets;
    let response_value = if let Some(loc) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        serde_json::json!({"location": scrub_location(loc, mode)})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => scrub_json(&v, mode),
            Err(_) => Value::String(String::from_utf8_lossy(body).chars().take(2000).collect()),
        }
    };
    let seq = w.ledger.next_seq();
    let at = format_ts(ex.at_ms);
    for (kind, detail) in &ex.violations {
        w.ledger.violations.push(Violation {
            kind: kind.clone(),
            detail: detail.clone(),
            seq,
            at: at.clone(),
            method: ex.method.to_string(),
            path: ex.path.clone(),
            client_id: ex.client_id.clone(),
        });
    }
    let entry = LogEntry {
        seq,
        at,
        client_ip: ex.client_ip.to_string(),
        method: ex.method.to_string(),
        path: ex.path.clone(),
        api_version: ex.api_version,
        query: scrub_pairs(&ex.query, mode),
        content_type: ex.content_type().map(str::to_owned),
        // The client's identification and its W3C trace context (so a trace can be followed
        // into the simulator); no other header is kept.
        headers: ["user-agent", "traceparent", "tracestate"]
            .into_iter()
            .filter_map(|h| ex.header(h).map(|v| (h.to_owned(), v.to_owned())))
            .collect(),
        client_auth: ex.client_auth.map(str::to_owned),
        client_id: ex.client_id.clone(),
        form: ex.form.as_ref().map(|f| scrub_pairs(f, mode)),
        json: ex.json.as_ref().map(|j| scrub_json(j, mode)),
        identity: ex.identity.clone(),
        status,
        response: response_value,
        rate_limit: ex.rate_limit.clone(),
        fault: ex.fault.clone(),
        duration_ms: u64::try_from(ex.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        notes,
        user_id: ex.user_id.clone(),
    };
    let capacity = w.settings.log.capacity;
    w.ledger.push(entry, capacity);
    w.tick_scheduled();
}
