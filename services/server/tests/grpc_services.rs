//! The gRPC infrastructure services on the API listener: server reflection lists
//! `latchkey.v1.ControlPlane` and serves its descriptor (so grpcurl needs no `.proto`), the
//! standard health service reports it SERVING, every call gets a request id, and REST still
//! answers paths that are no gRPC service.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use support::grpc::*;
use tonic::Code;

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = app(None).await;
    let mut c = ServerReflectionClient::new(channel(&app).await);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = c
        .server_reflection_info(tokio_stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    for want in ["grpc.health.v1.Health", "latchkey.v1.ControlPlane"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    // The control plane's descriptor is served, so grpcurl needs no .proto file.
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "latchkey.v1.ControlPlane".into(),
        )),
    };
    let mut answers = c
        .server_reflection_info(tokio_stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    assert!(
        matches!(answer.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{answer:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn health_reports_the_control_plane_serving_and_rest_still_answers_unknown_paths() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let app = app(None).await;
    let mut h = HealthClient::new(channel(&app).await);
    for service in ["", "latchkey.v1.ControlPlane"] {
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert!(
            r.metadata().get("x-request-id").is_some(),
            "gRPC calls get a request id"
        );
        assert_eq!(
            r.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let unknown = h
        .check(HealthCheckRequest {
            service: "latchkey.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    // REST is untouched next to gRPC.
    let (s, v) = rest(&app, Method::GET, "/latchkey.v1.Nope/Call", None, None).await;
    assert_eq!(
        (s, v["name"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    app.stop().await;
}
