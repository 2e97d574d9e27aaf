//! Per-request context and response builders shared by every Discord-facing handler: the
//! buffered request (`Exchange`) with the log fields handlers fill in, and Discord's exact
//! error shapes (§4.2, §6.0).

use std::net::IpAddr;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One Discord-facing request being answered, plus what the ledger should say about it.
pub(crate) struct Exchange {
    pub started: Instant,
    pub at_ms: i64,
    pub client_ip: IpAddr,
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub api_version: Option<u32>,
    pub client_auth: Option<&'static str>,
    pub client_id: Option<String>,
    pub form: Option<Vec<(String, String)>>,
    pub json: Option<Value>,
    pub identity: Option<String>,
    pub user_id: Option<String>,
    pub notes: Vec<String>,
    pub violations: Vec<(String, String)>,
    pub fault: Option<String>,
    pub rate_limit: Option<Value>,
    /// A 429 with scope `shared`, which does not count as invalid (§7.5).
    pub shared_429: bool,
}

impl Exchange {
    pub(crate) fn new(
        method: Method,
        path: String,
        raw_query: String,
        headers: HeaderMap,
        body: Bytes,
        client_ip: IpAddr,
    ) -> Exchange {
        let query = form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        Exchange {
            started: Instant::now(),
            at_ms: 0,
            client_ip,
            method,
            path,
            raw_query,
            query,
            headers,
            body,
            api_version: None,
            client_auth: None,
            client_id: None,
            form: None,
            json: None,
            identity: None,
            user_id: None,
            notes: Vec::new(),
            violations: Vec::new(),
            fault: None,
            rate_limit: None,
            shared_429: false,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// True for `application/x-www-form-urlencoded` (parameters such as `charset` allowed).
    pub(crate) fn is_form(&self) -> bool {
        self.content_type().is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
    }

    pub(crate) fn is_json(&self) -> bool {
        self.content_type().is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
    }

    /// The body's form pairs, in order.
    pub(crate) fn body_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// First value of a query parameter.
    pub(crate) fn query_get(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn note(&mut self, note: &str) {
        if !self.notes.iter().any(|n| n == note) {
            self.notes.push(note.to_owned());
        }
    }

    pub(crate) fn violate(&mut self, kind: &str, detail: impl Into<String>) {
        self.violations.push((kind.to_owned(), detail.into()));
    }

    /// Notes and records a missing or non-`DiscordBot (…)` User-Agent (T6).
    pub(crate) fn check_user_agent(&mut self) -> bool {
        let ok = match self.header("user-agent") {
            None => {
                self.note("missing_user_agent");
                false
            }
            Some(ua) if !ua.starts_with("DiscordBot (") || !ua.contains(')') => {
                self.note("bad_user_agent");
                false
            }
            Some(_) => true,
        };
        if !ok {
            self.violate(
                "missing_user_agent",
                "no DiscordBot (url, version) User-Agent",
            );
        }
        ok
    }
}

/// First value of `key` in form pairs.
pub(crate) fn pair<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Discord's API error shape `{"message", "code"}`.
pub(crate) fn api_error(status: StatusCode, code: u64, message: &str) -> Response {
    json_response(status, &json!({"message": message, "code": code}))
}

pub(crate) fn unauthorized() -> Response {
    api_error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
}

pub(crate) fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, 0, "404: Not Found")
}

pub(crate) fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")
}

/// The 50035 body with one field leaf.
pub(crate) fn invalid_form_body(field: &str, code: &str, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"code": 50035, "message": "Invalid Form Body",
                "errors": {field: {"_errors": [{"code": code, "message": message}]}}}),
    )
}

/// RFC 6749 §5.2 error, `error_description` omitted when `None`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: Option<&str>) -> Response {
    let body = match description {
        Some(d) => json!({"error": error, "error_description": d}),
        None => json!({"error": error}),
    };
    json_response(status, &body)
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// `base` plus form-encoded `params`, appended with `&` when `base` already has a query.
pub(crate) fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", ser.finish())
}

pub(crate) fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// HTML escaping for the demo pages.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
