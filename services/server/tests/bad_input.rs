//! The bad-input catalogue (security.md §5.1 S, §5.2 J) applied to every string field of every
//! operation that takes a body, generated from the OpenAPI document: a new operation or field
//! is covered without editing this file (an operation with a body but no baseline here fails
//! the test). For each case: never a 5xx (nor 408/409/429); a refusal carries a name from the
//! enumerated table, does not echo an oversized value, and writes nothing (the tenant's audit
//! log — written in the same transaction as every change — does not grow); an acceptance keeps
//! the value byte for byte. Identifier fields refuse empty, padded, control, bidirectional and
//! zero-width values; every field refuses NUL and values of the wrong JSON type.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, call, spawn_app};

/// Free text: stored as given. Every other string field is an identifier or an enumeration.
const FREE_TEXT: &[&str] = &[
    "description",
    "external_id",
    "policy.message",
    "oauth2.client_secret",
];

/// Fields stored but never returned (so an accepted value cannot be checked in the answer).
const WRITE_ONLY: &[&str] = &["oauth2.client_secret", "external_id"];

/// Operations whose answer echoes none of the body (a verifier self-test answers its `flow_id`
/// and result page; what it keeps is checked through `confirm_user` in `auth_flow.rs`).
const NOT_ECHOED: &[&str] = &["/v1/auth/validate_custom_verifier"];

/// Identifier fields where `""` is the documented way to clear or leave unset (never an id
/// that silently means a default). In an `auth_requirement`, an empty `id` or `provider_id`
/// counts as absent (arcade-compat §7), and the other one resolves the provider.
const CLEARABLE: &[&str] = &[
    "endpoint_origin",
    "verifier_url",
    "auth_requirement.id",
    "auth_requirement.provider_id",
];

/// Values every identifier refuses (S1–S8).
const BAD_IDENTIFIERS: &[&str] = &[
    "",
    "   ",
    " x",
    "x ",
    "a\u{1}b",
    "a\u{7f}b",
    "a\u{85}b",
    "x\r\nSet-Cookie: a=b",
    "\u{202e}x",
    "a\u{2066}b",
    "a\u{200b}b",
    "\u{feff}a",
    "a\u{1b}[2J",
];

/// Values that are only data: accepted as given or refused by the field's policy, never
/// coerced, normalised or evaluated (S9–S30).
const LITERALS: &[&str] = &[
    "ａｌｉｃｅ",
    "аlice",
    "é",
    "e\u{301}",
    "🦀",
    "' OR 1=1 --",
    "\"; DROP TABLE grants; --",
    "%",
    "_",
    "\\",
    "../../etc/passwd",
    "..%2f",
    "{{7*7}}",
    "${jndi:ldap://x/a}",
    "%s%n",
    "<script>alert(1)</script>",
    "{\"a\":1}",
    "1e309",
    "-0",
    "NaN",
    "DISCORD",
    " discord",
    "ß",
    "İ",
];

/// A malformed-body case: what it is, the bytes, the headers, the status it must get.
type BodyCase = (
    &'static str,
    Vec<u8>,
    Vec<(&'static str, &'static str)>,
    u16,
);

static NEXT: AtomicU64 = AtomicU64::new(1);

struct World {
    app: TestApp,
    admin: String,
    app_key: String,
    tool_key: String,
    tenant: String,
}

/// A valid body for an operation, with fresh ids where it creates something; `None` if the
/// operation has no baseline yet (which fails the test).
fn baseline(method: &str, path: &str) -> Option<Value> {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    Some(match (method, path) {
        ("post", "/v1/platform/tenants") => json!({"name": format!("Tenant {n}")}),
        ("post", "/v1/admin/api_keys") => json!({"name": format!("key {n}"), "role": "app"}),
        ("post", "/v1/admin/auth_providers") => json!({
            "id": format!("p{n}"), "description": "d", "external_id": "e", "provider_id": "discord",
            "type": "oauth2", "status": "active", "scopes": ["guilds"],
            "oauth2": {"client_id": format!("{}", 1_300_000_000_000_000_000u64 + n),
                       "client_secret": "secret-secret-secret", "scope_delimiter": " ",
                       "pkce": {"enabled": true, "code_challenge_method": "S256"}},
            "policy": {"required_guild_ids": ["290926798626357250"], "required_role_ids": [], "message": "m"}}),
        ("patch", "/v1/admin/auth_providers/{id}") => json!({"description": "d"}),
        ("put", "/v1/admin/settings/session_verification") => json!({
            "verifier_url": "https://verify.example.com/latchkey", "allowed_next_uri_origins": ["https://app.example.com"]}),
        ("post", "/v1/admin/tools") => json!({
            "name": format!("Kit{n}.Tool"), "version": "1.0.0", "description": "d",
            "requirement": {"provider_id": "discord", "provider_type": "oauth2", "id": "base", "oauth2": {"scopes": ["guilds"]}}}),
        ("patch", "/v1/admin/tools/{name}") => json!({"description": "d"}),
        ("post", "/v1/auth/authorize") => json!({
            "user_id": format!("user {n}"), "next_uri": "https://app.example.com/done",
            "auth_requirement": {"provider_id": "discord", "provider_type": "oauth2", "oauth2": {"scopes": ["guilds"]}}}),
        ("post", "/v1/auth/validate_custom_verifier") => json!({
            "user_id": format!("user {n}"), "verifier_url": "https://verify.example.com/latchkey"}),
        ("post", "/v1/tokens") => json!({"user_id": "alice"}),
        ("post", "/v1/tools/authorize") => json!({
            "tool_name": "Base.Tool", "tool_version": "1.0.0", "user_id": format!("user {n}"),
            "next_uri": "https://app.example.com/done"}),
        ("post", "/v1/tools/{name}/grants") => json!({"user_id": "alice"}),
        _ => return None,
    })
}

/// The concrete path of an operation on the fixture objects.
fn concrete(path: &str) -> String {
    path.replace("{id}", "base").replace("{name}", "Base.Tool")
}

/// Operations whose bodies carry a one-time capability (`flow_id`) that no baseline can hold:
/// their catalogue (security.md §5.5 CU) runs against real flows in `auth_flow.rs`; and the
/// dashboard's sign-in, whose body is a key.
const COVERED_BY_FLOWS: &[&str] = &[
    "/v1/auth/confirm_user",
    "/api/v1/oauth/confirm_user",
    // Its one field is a key: every bad value is 401 `unauthorized`, as a bad key is
    // everywhere (`dashboard_session.rs`).
    "/v1/dashboard/session",
];

/// The key an operation needs.
fn key<'a>(w: &'a World, path: &str) -> &'a str {
    if path.starts_with("/v1/platform/") {
        &w.app.operator_key
    } else if path == "/v1/auth/validate_custom_verifier" {
        &w.admin
    } else if path.starts_with("/v1/auth/")
        || path.ends_with("/grants")
        || path == "/v1/tools/authorize"
    {
        &w.app_key
    } else if path == "/v1/tokens" {
        &w.tool_key
    } else {
        &w.admin
    }
}

/// The string fields of a request schema, as dotted paths (`[]` for the items of a list).
fn string_fields(doc: &Value, schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    };
    for alt in ["oneOf", "allOf", "anyOf"] {
        for s in schema[alt].as_array().into_iter().flatten() {
            string_fields(doc, s, prefix, out);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => vec![],
    };
    if let Some(props) = schema["properties"].as_object() {
        for (k, v) in props {
            string_fields(doc, v, &format!("{prefix}{k}."), out);
        }
    } else if types.contains(&"array") {
        let items = &schema["items"];
        let mut inner = Vec::new();
        string_fields(doc, items, "", &mut inner);
        if inner == [""] {
            out.push(format!("{}[]", prefix.trim_end_matches('.')));
        }
    } else if types.contains(&"string") {
        out.push(prefix.trim_end_matches('.').to_owned());
    }
}

/// `body` with the field at `path` set to `value` (a list field gets `[value]`).
fn with(body: &Value, path: &str, value: Value) -> Value {
    let mut body = body.clone();
    let (path, list) = match path.strip_suffix("[]") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let mut at = &mut body;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        if at.get(*p).is_none_or(|v| !v.is_object()) {
            at[*p] = json!({});
        }
        at = &mut at[*p];
    }
    at[*parts.last().unwrap()] = if list { json!([value]) } else { value };
    body
}

/// Whether `needle` is a string anywhere in `v`.
fn contains_string(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s == needle,
        Value::Array(a) => a.iter().any(|x| contains_string(x, needle)),
        Value::Object(o) => o.values().any(|x| contains_string(x, needle)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

async fn audit_count(w: &World) -> u64 {
    let (_, v) = call(
        &w.app,
        Method::GET,
        "/v1/admin/audit_events?limit=1",
        &w.admin,
        None,
    )
    .await;
    v["total_count"].as_u64().unwrap()
}

async fn tenant_count(w: &World) -> u64 {
    let (_, v) = call(
        &w.app,
        Method::GET,
        "/v1/platform/tenants?limit=1",
        &w.app.operator_key,
        None,
    )
    .await;
    v["total_count"].as_u64().unwrap()
}

/// How much the world changed: the tenant's audit log and the platform's tenants.
async fn writes(w: &World) -> (u64, u64) {
    (audit_count(w).await, tenant_count(w).await)
}

/// Undoes a successful create, so the next case starts from the same world.
async fn undo(w: &World, path: &str, answer: &Value) {
    let target = match path {
        "/v1/platform/tenants" => {
            format!("/v1/platform/tenants/{}", answer["id"].as_str().unwrap())
        }
        "/v1/admin/api_keys" => format!("/v1/admin/api_keys/{}", answer["id"].as_str().unwrap()),
        "/v1/admin/auth_providers" => format!(
            "/v1/admin/auth_providers/{}",
            answer["id"].as_str().unwrap()
        ),
        "/v1/admin/tools" => format!(
            "/v1/admin/tools/{}",
            answer["tool"]["name"].as_str().unwrap()
        ),
        _ => return,
    };
    let (s, _) = call(&w.app, Method::DELETE, &target, key(w, path), None).await;
    assert!(s.is_success(), "undo {target}: {s}");
}

struct Case<'a> {
    method: &'a Method,
    path: &'a str,
    field: &'a str,
    what: String,
    body: Value,
    must_refuse: bool,
    keep_exact: Option<&'a str>,
}

async fn check(w: &World, c: Case<'_>) -> bool {
    let at = format!("{} {} {} = {}", c.method, c.path, c.field, c.what);
    let before = writes(w).await;
    let r = support::request(
        &w.app,
        c.method.clone(),
        &concrete(c.path),
        Some(key(w, c.path)),
        Some(&c.body),
    )
    .await;
    let s = r.status;
    assert!(
        s.is_success() || [400, 403, 404, 413, 415, 422].contains(&s.as_u16()),
        "{at}: {s} {}",
        r.raw
    );
    if s.is_success() {
        assert!(!c.must_refuse, "{at}: accepted, must be refused");
        if let Some(v) = c.keep_exact
            && !v.is_empty()
            && !WRITE_ONLY.contains(&c.field)
            && !NOT_ECHOED.contains(&c.path)
        {
            assert!(
                contains_string(&r.body, v),
                "{at}: not kept byte for byte: {}",
                r.raw
            );
        }
        if c.method == Method::POST {
            undo(w, c.path, &r.body).await;
        }
        if c.path == "/v1/tokens" {
            // A release is audited by the pipeline within a flush interval: wait for it, so
            // that the next case's count starts from a settled log.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while audit_count(w).await <= before.0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{at}: release not audited"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        return true;
    }
    let name = r.body["name"].as_str().unwrap_or_default();
    if name == "authorization_required" {
        // A valid request whose answer is an authorization for the user to complete (the
        // token service records it): accepted, not refused.
        assert!(!c.must_refuse, "{at}: accepted, must be refused");
        assert!(r.body["authorization_id"].is_string(), "{at}: {}", r.raw);
        return true;
    }
    assert!(
        latchkey_api::ErrorName::ALL
            .iter()
            .any(|n| n.as_str() == name),
        "{at}: unnamed refusal {}",
        r.raw
    );
    if c.keep_exact.is_some_and(|v| v.len() > 100) {
        assert!(
            !r.raw.contains(c.keep_exact.unwrap()),
            "{at}: echoed the value"
        );
    }
    assert_eq!(
        writes(w).await,
        before,
        "{at}: a refused request wrote something"
    );
    false
}

/// A tenant with the fixtures the operations address: provider `base`, tool `Base.Tool`.
async fn world() -> World {
    let app = spawn_app(None).await;
    let (_, t) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    let w = World {
        admin: t["admin_key"].as_str().unwrap().to_owned(),
        app_key: t["app_key"].as_str().unwrap().to_owned(),
        tool_key: String::new(),
        tenant: t["id"].as_str().unwrap().to_owned(),
        app,
    };
    // Authorizations need a verification mode; skipping survives the settings cases below
    // (which change the verifier URL and the origins, never this flag).
    let (s, b) = call(&w.app, Method::PUT, "/v1/admin/settings/session_verification", &w.admin,
        Some(json!({"unsafe_skip_verification": true, "allowed_next_uri_origins": ["https://app.example.com"]}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The fixtures the operations address: provider `base`, tool `Base.Tool`.
    let (s, _) = call(&w.app, Method::POST, "/v1/admin/auth_providers", &w.admin,
        Some(json!({"id": "base", "provider_id": "discord", "scopes": ["guilds"],
                    "oauth2": {"client_id": "1200000000000000001", "client_secret": "secret-secret-secret"}}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, tool) = call(&w.app, Method::POST, "/v1/admin/tools", &w.admin,
        Some(json!({"name": "Base.Tool", "version": "1.0.0", "requirement": {"oauth2": {"scopes": ["guilds"]}}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let mut w = w;
    w.tool_key = tool["key"]["secret"].as_str().unwrap().to_owned();
    // alice holds a grant, so that the token service's baseline releases a token.
    support::seed_grant(
        &w.app,
        &w.tenant,
        "base",
        "alice",
        &["guilds"],
        ("bad-input-access", None),
        json!({"id": "1"}),
    )
    .await;

    w
}

#[tokio::test]
async fn every_string_field_of_every_operation() {
    let w = world().await;
    let doc = serde_json::to_value(latchkey_server::startup::openapi()).unwrap();
    let (mut operations, mut cases, mut accepted) = (0, 0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method_name, op) in item.as_object().unwrap() {
            let Some(schema) =
                op["requestBody"]["content"]["application/json"]["schema"].as_object()
            else {
                continue;
            };
            if COVERED_BY_FLOWS.contains(&path.as_str()) {
                continue;
            }
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap();
            assert!(
                baseline(method_name, path).is_some(),
                "{method} {path}: no baseline body; add one"
            );
            let mut fields = Vec::new();
            string_fields(&doc, &Value::Object(schema.clone()), "", &mut fields);
            assert!(
                !fields.is_empty(),
                "{method} {path}: no string fields found"
            );
            // The baseline itself must succeed, so every refusal below is about the field.
            let ok = Case {
                method: &method,
                path,
                field: "(baseline)",
                what: "a valid body".into(),
                body: baseline(method_name, path).unwrap(),
                must_refuse: false,
                keep_exact: None,
            };
            assert!(
                check(&w, ok).await,
                "{method} {path}: the baseline body is refused"
            );
            operations += 1;
            for field in &fields {
                let identifier = !FREE_TEXT.contains(&field.as_str());
                let run = |value: Value, what: String, must_refuse: bool| {
                    let body = with(&baseline(method_name, path).unwrap(), field, value.clone());
                    let keep = value.as_str().map(str::to_owned);
                    (body, what, must_refuse, keep)
                };
                let mut table = Vec::new();
                table.push(run(json!("a\u{0}b"), "NUL".into(), true));
                for v in BAD_IDENTIFIERS {
                    let clears = v.is_empty() && CLEARABLE.contains(&field.as_str());
                    table.push(run(json!(v), format!("{v:?}"), identifier && !clears));
                }
                for v in LITERALS {
                    table.push(run(json!(v), format!("{v:?}"), false));
                }
                for (v, what) in [
                    (json!(1), "a number"),
                    (json!(["x"]), "a list"),
                    (json!({"a": 1}), "an object"),
                    (json!(true), "a boolean"),
                ] {
                    let v = if field.ends_with("[]") { json!(v) } else { v };
                    table.push(run(v, what.into(), true));
                }
                table.push(run(Value::Null, "null".into(), false));
                table.push(run(
                    json!("x".repeat(5_000)),
                    "5,000 bytes".into(),
                    identifier,
                ));
                table.push(run(json!("é".repeat(40_000)), "80,000 bytes".into(), true));
                for (body, what, must_refuse, keep) in table {
                    cases += 1;
                    let case = Case {
                        method: &method,
                        path,
                        field,
                        what,
                        body,
                        must_refuse,
                        keep_exact: keep.as_deref(),
                    };
                    if check(&w, case).await {
                        accepted += 1;
                    }
                }
            }
        }
    }
    assert!(operations >= 7, "{operations} operations with bodies");
    assert!(cases > 1000, "{cases} cases");
    assert!(
        accepted > 0 && accepted < cases,
        "{accepted} of {cases} accepted"
    );
    let _ = &w.tenant;
    w.app.stop().await;
}

#[tokio::test]
async fn every_body_operation_refuses_malformed_bodies() {
    let w = world().await;
    let doc = serde_json::to_value(latchkey_server::startup::openapi()).unwrap();
    let http = reqwest::Client::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method_name, op) in item.as_object().unwrap() {
            if op["requestBody"].is_null() || COVERED_BY_FLOWS.contains(&path.as_str()) {
                continue;
            }
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap();
            let valid = serde_json::to_string(&baseline(method_name, path).unwrap()).unwrap();
            // A string field of the operation's own schema (not one it would ignore).
            let mut fields = Vec::new();
            string_fields(
                &doc,
                &op["requestBody"]["content"]["application/json"]["schema"],
                "",
                &mut fields,
            );
            let f = fields
                .iter()
                .find(|f| !f.contains('.') && !f.ends_with("[]"))
                .unwrap_or_else(|| panic!("{method} {path}: no top-level string field"));
            let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
            let cases: Vec<BodyCase> = vec![
                (
                    "J3 text/plain",
                    valid.clone().into_bytes(),
                    vec![("content-type", "text/plain")],
                    415,
                ),
                (
                    "J4 utf-16",
                    valid.clone().into_bytes(),
                    vec![("content-type", "application/json; charset=utf-16")],
                    415,
                ),
                (
                    "J12 gzip",
                    valid.clone().into_bytes(),
                    vec![
                        ("content-type", "application/json"),
                        ("content-encoding", "gzip"),
                    ],
                    415,
                ),
                (
                    "J5 no body",
                    vec![],
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "J6 trailing bytes",
                    format!("{valid}xyz").into_bytes(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "J11 BOM",
                    [&[0xef, 0xbb, 0xbf][..], valid.as_bytes()].concat(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "J16 NaN",
                    format!("{{\"{f}\": NaN}}").into_bytes(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "J17 an array of the fields' values instead of an object",
                    serde_json::to_vec(&Value::Array(
                        serde_json::from_str::<serde_json::Map<String, Value>>(&valid)
                            .unwrap()
                            .into_iter()
                            .map(|(_, v)| v)
                            .collect(),
                    ))
                    .unwrap(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "J2 deep nesting",
                    deep.into_bytes(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "S12 invalid UTF-8",
                    [format!("{{\"{f}\": \"").as_bytes(), b"\xc3\x28\"}"].concat(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "S12 invalid UTF-8 in an ignored field",
                    b"{\"zz_unknown\": \"\xc3\x28\"}".to_vec(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "S11 lone surrogate",
                    format!("{{\"{f}\": \"\\ud800\"}}").into_bytes(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "S28 duplicate keys",
                    format!("{{\"{f}\": \"a\", \"{f}\": \"b\"}}").into_bytes(),
                    vec![("content-type", "application/json")],
                    400,
                ),
                (
                    "J1 over 64 KiB",
                    format!("{{\"{f}\": \"{}\"}}", "x".repeat(70_000)).into_bytes(),
                    vec![("content-type", "application/json")],
                    413,
                ),
            ];
            for (what, body, headers, want) in cases {
                let before = writes(&w).await;
                let mut req = http
                    .request(method.clone(), format!("{}{}", w.app.api, concrete(path)))
                    .header("authorization", key(&w, path))
                    .body(body);
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let id = r.headers().get("x-request-id").cloned();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                assert_eq!(status, want, "{method} {path} {what}: {body}");
                assert!(body["name"].is_string(), "{method} {path} {what}: {body}");
                // Refused before any handler or not, the body names the request's id.
                let id = id.and_then(|v| v.to_str().ok().map(str::to_owned));
                assert!(
                    id.as_deref().is_some_and(|id| id.starts_with("req_")),
                    "{method} {path} {what}: {id:?}"
                );
                assert_eq!(
                    body["request_id"].as_str(),
                    id.as_deref(),
                    "{method} {path} {what}"
                );
                assert_eq!(
                    writes(&w).await,
                    before,
                    "{method} {path} {what}: wrote something"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 7 * 13, "{checked}");
    let _ = &w.tenant;
    w.app.stop().await;
}
