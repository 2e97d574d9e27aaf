//! OpenTelemetry (issue 9, items 3 and 5): two `latchkey serve` processes export to an OTLP
//! receiver running in this test — replica A over gRPC, replica B over HTTP/protobuf — as the
//! standard `OTEL_*` variables tell them. The exporters are told to wait ten minutes, so what
//! arrives arrives because SIGTERM flushed it. The spans form traces: a root span per REST and
//! gRPC request (continuing an incoming `traceparent`), store spans and Discord spans beneath
//! them, and the trace context carried on to the Discord simulator. The metrics arrive too. No
//! secret is in anything exported.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::PgDb;
use support::flow::{Browser, D_ALICE, SECRET};
use support::pair::{Pair, send};

/// What the receiver got, and over which protocol.
#[derive(Clone, Default)]
struct Receiver {
    traces: Arc<Mutex<Vec<(&'static str, ExportTraceServiceRequest)>>>,
    metrics: Arc<Mutex<Vec<(&'static str, ExportMetricsServiceRequest)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(("grpc", r.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(("grpc", r.into_inner()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn http_traces(State(rx): State<Receiver>, body: Bytes) -> Vec<u8> {
    let req = ExportTraceServiceRequest::decode(body).expect("OTLP/HTTP protobuf traces");
    rx.traces.lock().unwrap().push(("http", req));
    ExportTraceServiceResponse::default().encode_to_vec()
}

async fn http_metrics(State(rx): State<Receiver>, body: Bytes) -> Vec<u8> {
    let req = ExportMetricsServiceRequest::decode(body).expect("OTLP/HTTP protobuf metrics");
    rx.metrics.lock().unwrap().push(("http", req));
    ExportMetricsServiceResponse::default().encode_to_vec()
}

impl Receiver {
    /// Serves OTLP/gRPC and OTLP/HTTP on one port; answers its origin.
    async fn start(&self) -> String {
        let grpc = tonic::service::Routes::new(TraceServiceServer::new(self.clone()))
            .add_service(MetricsServiceServer::new(self.clone()))
            .into_axum_router();
        let app = axum::Router::new()
            .route("/v1/traces", post(http_traces))
            .route("/v1/metrics", post(http_metrics))
            .with_state(self.clone())
            .merge(grpc)
            .layer(axum::extract::DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        origin
    }
}

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Span {
    via: &'static str,
    service: String,
    name: String,
    kind: i32,
    trace: String,
    id: String,
    parent: String,
    attrs: HashMap<String, String>,
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

fn spans(rx: &Receiver) -> Vec<Span> {
    let mut out = Vec::new();
    for (via, req) in rx.traces.lock().unwrap().iter() {
        for rs in &req.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| attrs(&r.attributes))
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    out.push(Span {
                        via,
                        service: resource.get("service.name").cloned().unwrap_or_default(),
                        name: s.name.clone(),
                        kind: s.kind,
                        trace: hex::encode(&s.trace_id),
                        id: hex::encode(&s.span_id),
                        parent: hex::encode(&s.parent_span_id),
                        attrs: attrs(&s.attributes),
                    });
                }
            }
        }
    }
    out
}

/// Data points of metric `name` received over `via`: (attributes, value as text).
fn points(rx: &Receiver, via: &str, name: &str) -> Vec<(HashMap<String, String>, String)> {
    let mut out = Vec::new();
    for (v, req) in rx.metrics.lock().unwrap().iter() {
        if *v != via {
            continue;
        }
        for rm in &req.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in sm.metrics.iter().filter(|m| m.name == name) {
                    match &m.data {
                        Some(metric::Data::Sum(s)) => {
                            for p in &s.data_points {
                                out.push((attrs(&p.attributes), format!("{:?}", p.value)));
                            }
                        }
                        Some(metric::Data::Gauge(g)) => {
                            for p in &g.data_points {
                                out.push((attrs(&p.attributes), format!("{:?}", p.value)));
                            }
                        }
                        Some(metric::Data::Histogram(h)) => {
                            for p in &h.data_points {
                                out.push((attrs(&p.attributes), p.count.to_string()));
                            }
                        }
                        other => out.push((HashMap::new(), format!("{other:?}"))),
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn spans_and_metrics_reach_an_otlp_receiver_over_grpc_and_http_without_secrets() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let rx = Receiver::default();
    let endpoint = rx.start().await;
    // Nothing is exported on a timer within the test: only the shutdown flush sends.
    let pair = Pair::start_each(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "65536"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ],
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "latchkey-b"),
        ],
    )
    .await;
    // Access tokens that expire inside the refresh margin: every release refreshes first.
    pair.sim_settings(json!({"token.access_ttl_s": 200})).await;

    // Alice connects through A (start link, consent, callback, the tenant's verifier).
    let (s, needed) = pair.token(&pair.a.api, "alice").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{needed}");
    let start_link = needed["url"].as_str().unwrap().to_owned();
    let mut browser = Browser::new();
    browser.set_cookie(&pair.origin, "sim_user", D_ALICE);
    browser
        .get(&format!("{}/login?user=alice", pair.tenant_app.origin))
        .await;
    let (page, flow_id) = browser.consent_and_verify(&start_link).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // A releases the token over gRPC; B over REST, continuing the caller's trace.
    use latchkey_api::grpc::v1 as pb;
    let mut c = pb::token_client::TokenClient::connect(pair.a.api.clone())
        .await
        .unwrap();
    let grpc_token = c
        .get_token(support::grpc::req(
            Some(&pair.tool_key),
            pb::GetTokenRequest {
                user_id: "alice".to_owned(),
                grant: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let (caller_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/tokens", pair.b.api))
        .header("authorization", &pair.tool_key)
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&json!({"user_id": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let rest_token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = send(
        Method::GET,
        &format!("{}/v1/admin/auth_providers", pair.a.api),
        &pair.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let token_calls = support::flow::logged(&pair.origin, "/api/oauth2/token").await;
    let keys = [
        ("admin key", pair.admin.clone()),
        ("app key", pair.app_key.clone()),
        ("tool key", pair.tool_key.clone()),
    ];

    assert!(
        rx.traces.lock().unwrap().is_empty() && rx.metrics.lock().unwrap().is_empty(),
        "nothing is exported before the flush"
    );
    let (a, b) = pair.stop().await;
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);

    // Both protocols delivered, each replica under its service name.
    let all = spans(&rx);
    let from_a: Vec<&Span> = all.iter().filter(|s| s.via == "grpc").collect();
    let from_b: Vec<&Span> = all.iter().filter(|s| s.via == "http").collect();
    assert!(!from_a.is_empty() && !from_b.is_empty(), "{all:#?}");
    assert!(from_a.iter().all(|s| s.service == "latchkey"));
    assert!(from_b.iter().all(|s| s.service == "latchkey-b"));
    let by_id: HashMap<&str, &Span> = all.iter().map(|s| (s.id.as_str(), s)).collect();
    let root_of = |s: &Span| -> Span {
        let mut cur = s.clone();
        while let Some(p) = by_id.get(cur.parent.as_str()) {
            cur = (*p).clone();
        }
        cur
    };

    // A root span per REST request, named by the route template with the stable fields.
    let server = |name: &str| -> Vec<&Span> {
        all.iter()
            .filter(|s| s.name == name && s.kind == SpanKind::Server as i32)
            .collect()
    };
    let refused = server("POST /v1/tokens")
        .into_iter()
        .find(|s| s.via == "grpc")
        .expect("A's POST /v1/tokens span");
    assert_eq!(refused.attrs["http.route"], "/v1/tokens");
    assert_eq!(refused.attrs["http.request.method"], "POST");
    assert_eq!(refused.attrs["http.response.status_code"], "403");
    assert!(
        refused.attrs["request_id"].starts_with("req_"),
        "{refused:?}"
    );
    assert!(!refused.attrs["tenant_id"].is_empty(), "{refused:?}");
    assert!(refused.parent.is_empty(), "a root span: {refused:?}");
    assert_eq!(server("GET /oauth/start/{token}").len(), 1, "{all:#?}");
    assert_eq!(server("GET /v1/admin/auth_providers").len(), 1);

    // The gRPC request: its own root span, named by the method.
    let grpc = server("latchkey.v1.Token/GetToken");
    assert_eq!(grpc.len(), 1, "{all:#?}");
    assert_eq!(grpc[0].attrs["rpc.system"], "grpc");
    assert_eq!(grpc[0].attrs["http.route"], "/latchkey.v1.Token/{*rest}");

    // B's span continues the caller's trace.
    let continued = server("POST /v1/tokens")
        .into_iter()
        .find(|s| s.via == "http")
        .expect("B's POST /v1/tokens span");
    assert_eq!(continued.trace, caller_trace);
    assert_eq!(continued.parent, caller_span);

    // Store calls are client spans inside their request's trace.
    let store: Vec<&Span> = all
        .iter()
        .filter(|s| s.name.starts_with("store."))
        .collect();
    assert!(!store.is_empty());
    for s in &store {
        assert_eq!(s.kind, SpanKind::Client as i32, "{s:?}");
        assert_eq!(s.attrs["db.system"], "postgres");
    }
    assert!(
        store
            .iter()
            .any(|s| root_of(s).id == refused.id && s.parent == refused.id),
        "{store:#?}"
    );

    // Discord calls: client spans under the request that made them, their trace context carried
    // on to the simulator — the code exchange in A's callback, the refreshes on A and B.
    let discord: Vec<&Span> = all
        .iter()
        .filter(|s| s.name == "Discord POST /oauth2/token")
        .collect();
    assert!(discord.len() >= 3, "{discord:#?}");
    let callback = server("GET /oauth/callback/{provider}");
    assert_eq!(callback.len(), 1, "{all:#?}");
    assert!(discord.iter().any(|d| root_of(d).id == callback[0].id));
    assert!(discord.iter().any(|d| root_of(d).id == grpc[0].id));
    assert!(discord.iter().any(|d| root_of(d).id == continued.id));
    assert_eq!(token_calls.len(), discord.len(), "{token_calls:#?}");
    for call in &token_calls {
        let tp = call["headers"]["traceparent"]
            .as_str()
            .expect("traceparent");
        let parts: Vec<&str> = tp.split('-').collect();
        assert!(
            discord
                .iter()
                .any(|d| d.trace == parts[1] && d.id == parts[2]),
            "{tp} matches no Discord span"
        );
    }

    // The metrics, over both protocols.
    let completed = points(&rx, "grpc", "latchkey.authorizations");
    assert!(
        completed.iter().any(|(a, v)| a["outcome"] == "completed"
            && a["verification"] == "verified"
            && v.contains("AsInt(1)")),
        "{completed:?}"
    );
    // A released one token (over gRPC) and nothing through the proxy: its cumulative count.
    let releases = points(&rx, "grpc", "latchkey.token.releases");
    assert!(
        !releases.is_empty()
            && releases
                .iter()
                .all(|(a, v)| a["channel"] == "token.release" && v == "Some(AsInt(1))"),
        "{releases:?}"
    );
    let refreshes = points(&rx, "http", "latchkey.refreshes");
    assert!(
        refreshes.iter().any(|(a, _)| a["outcome"] == "refreshed"),
        "{refreshes:?}"
    );
    for name in [
        "latchkey.http.requests",
        "latchkey.http.request.duration",
        "latchkey.longpoll.waiters",
        "latchkey.discord.breaker.state",
        "latchkey.discord.rate_limit.waits",
    ] {
        assert!(!points(&rx, "grpc", name).is_empty(), "{name} over gRPC");
        assert!(!points(&rx, "http", name).is_empty(), "{name} over HTTP");
    }
    assert!(
        points(&rx, "grpc", "latchkey.http.requests")
            .iter()
            .any(|(a, _)| a["route"] == "/latchkey.v1.Token/GetToken")
    );

    // No secret anywhere in what was exported.
    let exported = format!(
        "{:?}{:?}",
        rx.traces.lock().unwrap(),
        rx.metrics.lock().unwrap()
    );
    let start_token = start_link.rsplit('/').next().unwrap().to_owned();
    let secrets = [
        ("client secret", SECRET.to_owned()),
        ("start token", start_token),
        ("flow id", flow_id),
        ("access token (gRPC)", grpc_token),
        ("access token (REST)", rest_token),
    ];
    for (what, secret) in secrets.iter().chain(&keys) {
        assert!(
            !exported.contains(secret.as_str()),
            "the {what} was exported"
        );
    }
    db.drop_now().await;
}
