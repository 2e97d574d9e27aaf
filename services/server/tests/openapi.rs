//! The committed `openapi.yaml` is exactly what the code generates, and every operation says
//! what it does, where it belongs and which key it needs (STYLE.md §13).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;

#[test]
fn committed_openapi_matches_the_code() {
    let generated = latchkey_server::startup::openapi().to_yaml().unwrap();
    let committed = include_str!("../../../openapi.yaml");
    assert!(
        generated == committed,
        "openapi.yaml is stale: run `make openapi` and commit the result"
    );
}

#[test]
fn every_operation_is_documented_and_declares_its_key_role() {
    let doc: serde_json::Value = serde_json::to_value(latchkey_server::startup::openapi()).unwrap();
    let schemes: HashSet<&str> = doc["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        schemes,
        HashSet::from([
            "operator_key",
            "admin_key",
            "app_key",
            "tool_key",
            "dashboard_session"
        ])
    );
    let mut ids = HashSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let at = format!("{method} {path}");
            for field in ["summary", "description", "operationId"] {
                assert!(
                    op[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{at}: missing {field}"
                );
            }
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{at}: duplicate operationId"
            );
            assert_eq!(
                op["tags"].as_array().map(Vec::len),
                Some(1),
                "{at}: exactly one tag"
            );
            let security: Vec<&str> = op["security"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                        .collect()
                })
                .unwrap_or_default();
            // The public documents (health, the tool-grant signing keys) and the dashboard's
            // sign-in, whose key is in its body.
            let public = path == "/v1/health"
                || path == "/.well-known/jwks.json"
                || (path == "/v1/dashboard/session" && method == "post");
            if public {
                assert!(security.is_empty(), "{at}: needs no key");
            } else {
                assert_eq!(security.len(), 1, "{at}: exactly one key role");
                assert!(
                    schemes.contains(security[0]),
                    "{at}: unknown scheme {}",
                    security[0]
                );
                let expected = if path.starts_with("/v1/platform/") {
                    "operator_key"
                } else if path.starts_with("/v1/admin/") {
                    "admin_key"
                } else {
                    security[0]
                };
                assert_eq!(security[0], expected, "{at}");
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|c| c.starts_with('2')),
                "{at}: no success response"
            );
            if !public {
                // A session is always an admin's: only its writes can be refused (CSRF).
                let codes: &[&str] = if security == ["dashboard_session"] && method == "get" {
                    &["401"]
                } else {
                    &["401", "403"]
                };
                for code in codes {
                    assert!(responses.contains_key(*code), "{at}: {code} not documented");
                }
            }
        }
    }
    assert!(count >= 8, "read the operations: {count}");
}

mod support;

#[tokio::test]
async fn docs_serves_a_browsable_reference_of_every_operation_and_the_document() {
    let app = support::spawn_app(None).await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/docs", app.api)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    let doc: serde_json::Value = serde_json::to_value(latchkey_server::startup::openapi()).unwrap();
    let mut ops = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(html.contains(&format!("<code>{path}</code>")), "{path}");
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
            ops += 1;
        }
    }
    assert!(ops >= 25, "{ops} operations");
    assert!(
        !html.contains("<script"),
        "no scripts, nothing fetched from elsewhere"
    );
    let yaml = http
        .get(format!("{}/docs/openapi.yaml", app.api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(yaml, include_str!("../../../openapi.yaml"));
    let json: serde_json::Value = http
        .get(format!("{}/docs/openapi.json", app.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json, doc);
    app.stop().await;
}
