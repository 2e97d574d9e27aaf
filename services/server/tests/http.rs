//! The listeners through the `Application` seam on port 0: health, request ids on every
//! response, error bodies, the org/project path prefix, the operations endpoints, and 503s
//! when the database goes away.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::spawn_app;

use serde_json::Value;

async fn get(url: &str) -> (u16, Option<String>, String) {
    let r = reqwest::get(url).await.unwrap();
    let id = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), id, r.text().await.unwrap())
}

#[tokio::test]
async fn health_and_request_ids() {
    let app = spawn_app(None).await;
    let (status, id, body) = get(&format!("{}/v1/health", app.api)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"healthy": true})
    );
    assert!(id.unwrap().starts_with("req_"));

    // The Arcade org/project prefix routes to the same handler.
    let (status, _, body) = get(&format!("{}/v1/orgs/o_1/projects/p_9/health", app.api)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"healthy":true}"#));

    // Unknown route: the error body, with the same request id as the header.
    let (status, id, body) = get(&format!("{}/v1/nothing-here", app.api)).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 404);
    assert_eq!(v["name"], "not_found");
    assert_eq!(v["request_id"].as_str(), id.as_deref());

    // Arcade routes Latchkey does not serve: 404 not_supported (never a retried 5xx), whatever
    // the method, also in the org/project form.
    let client = reqwest::Client::new();
    for (method, path) in [
        ("POST", "/v1/tools/execute"),
        ("GET", "/v1/tools/execute"),
        ("POST", "/v1/tools/requirements"),
        ("POST", "/v1/admin/secrets/DISCORD_BOT_TOKEN"),
        ("GET", "/v1/workers"),
        ("GET", "/v1/formatted_tools/x"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/orgs/o/projects/p/gateways/g"),
        ("GET", "/v1/config"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{}{path}", app.api))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["name"], "not_supported", "{method} {path}");
    }
    // Not a prefix match by accident.
    let (status, _, body) = get(&format!("{}/v1/configs", app.api)).await;
    assert_eq!(status, 404);
    assert!(body.contains("\"not_found\""), "{body}");

    // Wrong method.
    let r = client
        .post(format!("{}/v1/health", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "method_not_allowed");

    // A plain client request id is kept; anything else is replaced.
    let r = client
        .get(format!("{}/v1/health", app.api))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc.123");
    let r = client
        .get(format!("{}/v1/health", app.api))
        .header("x-request-id", "evil\" injected=1 ".repeat(10))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    app.stop().await;
}

#[tokio::test]
async fn operations_listener() {
    let app = spawn_app(None).await;
    let (status, id, body) = get(&format!("{}/healthz", app.ops)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    assert!(id.is_some());
    let (status, _, body) = get(&format!("{}/readyz", app.ops)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["database"],
        "sqlite"
    );
    get(&format!("{}/v1/health", app.api)).await;
    get(&format!("{}/v1/secret-looking-path-123", app.api)).await;
    // An unknown gRPC method keeps the service's route template: callers cannot mint labels.
    let r = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
        .post(format!("{}/latchkey.v1.Token/NoSuchMethod-123", app.api))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["grpc-status"], "12");
    let (status, _, metrics) = get(&format!("{}/metrics", app.ops)).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"latchkey_http_requests_total{listener="api",method="GET",route="/v1/health",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="unmatched""#));
    assert!(
        !metrics.contains("secret-looking-path") && !metrics.contains("NoSuchMethod"),
        "raw paths never become labels"
    );
    assert!(
        metrics.contains(r#"route="/latchkey.v1.Token/{*rest}""#),
        "{metrics}"
    );
    assert!(metrics.contains("latchkey_build_info"));
    for family in [
        "latchkey_http_request_duration_seconds histogram",
        "latchkey_longpoll_waiters gauge",
        "latchkey_discord_breaker_state gauge",
        "latchkey_discord_rate_limit_waits_total counter",
        "latchkey_discord_rate_limit_wait_seconds_total counter",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {family}")),
            "{family}\n{metrics}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness_fail_when_postgres_goes_away() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    let app = spawn_app(Some(db.url.clone())).await;
    let (status, _, _) = get(&format!("{}/readyz", app.ops)).await;
    assert_eq!(status, 200);
    db.drop_now().await;
    let (status, _, body) = get(&format!("{}/v1/health", app.api)).await;
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["healthy"], false);
    assert!(v["reason"].as_str().unwrap().contains("database"));
    let (status, _, _) = get(&format!("{}/readyz", app.ops)).await;
    assert_eq!(status, 503);
    let (status, _, _) = get(&format!("{}/healthz", app.ops)).await;
    assert_eq!(status, 200, "liveness does not depend on the database");
    app.stop().await;
}
