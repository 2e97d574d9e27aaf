//! The gRPC transport catalogue (security.md §5.6 G) on raw HTTP/2 frames, where a generated
//! client cannot go: invalid UTF-8 in a `string` field, messages over the size limit, missing,
//! doubled, non-ASCII and `-bin` credentials, compressed messages, and a gRPC path reached
//! without `application/grpc`. None of them may get `INTERNAL` or act.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{TestApp, spawn_app};

const CREATE_TENANT: &str = "/latchkey.v1.ControlPlane/CreateTenant";
const LIST_TENANTS: &str = "/latchkey.v1.ControlPlane/ListTenants";

/// A gRPC frame: uncompressed flag (or `compressed`), big-endian length, message.
fn frame(message: &[u8], compressed: bool) -> Vec<u8> {
    let mut f = vec![u8::from(compressed)];
    f.extend(u32::try_from(message.len()).unwrap().to_be_bytes());
    f.extend(message);
    f
}

/// `CreateTenantRequest { name }` with `name` as raw bytes (field 1, length-delimited).
fn create_tenant(name: &[u8]) -> Vec<u8> {
    let mut m = vec![0x0a];
    let mut len = name.len();
    loop {
        let byte = u8::try_from(len & 0x7f).unwrap();
        len >>= 7;
        if len == 0 {
            m.push(byte);
            break;
        }
        m.push(byte | 0x80);
    }
    m.extend(name);
    m
}

/// Sends one unary call over HTTP/2; answers the `grpc-status` code (a trailers-only answer),
/// the HTTP status and the content type.
async fn call(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Vec<u8>,
) -> (Option<i32>, u16, String) {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut req = client
        .post(format!("{}{path}", app.api))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, reqwest::header::HeaderValue::from_bytes(v).unwrap());
    }
    let r = req.send().await.unwrap();
    let code = r
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (code, r.status().as_u16(), content_type)
}

const INVALID_ARGUMENT: i32 = 3;
const OUT_OF_RANGE: i32 = 11;
const UNAUTHENTICATED: i32 = 16;

/// Standard base64 with padding (for a `-bin` metadata value).
fn base64_std(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn tenants(app: &TestApp) -> u64 {
    let (_, v) = support::call(
        app,
        reqwest::Method::GET,
        "/v1/platform/tenants",
        &app.operator_key,
        None,
    )
    .await;
    v["total_count"].as_u64().unwrap()
}

#[tokio::test]
async fn the_g_catalogue_on_raw_frames() {
    let app = spawn_app(None).await;
    let op = app.operator_key.clone();
    let auth: &[(&str, &[u8])] = &[("authorization", op.as_bytes())];
    let before = tenants(&app).await;

    // A well-formed call works, so the refusals below are about what they change.
    let (code, status, content_type) = call(&app, LIST_TENANTS, auth, frame(&[], false)).await;
    assert_eq!((status, content_type.as_str()), (200, "application/grpc"));
    assert!(code.is_none_or(|c| c == 0), "{code:?}");

    // G2: invalid UTF-8 in a string field.
    let (code, _, _) = call(
        &app,
        CREATE_TENANT,
        auth,
        frame(&create_tenant(b"\xc3\x28"), false),
    )
    .await;
    assert_eq!(code, Some(INVALID_ARGUMENT), "G2");

    // G4: a required field left at its default.
    let (code, _, _) = call(&app, CREATE_TENANT, auth, frame(&create_tenant(b""), false)).await;
    assert_eq!(code, Some(INVALID_ARGUMENT), "G4");

    // G1/G7: over the 64 KiB message limit.
    let big = create_tenant(&vec![b'x'; 70_000]);
    let (code, _, _) = call(&app, CREATE_TENANT, auth, frame(&big, false)).await;
    assert_eq!(code, Some(OUT_OF_RANGE), "G1");

    // G9–G11: no credential, two, a non-ASCII one, and the -bin variant.
    let valid = create_tenant(b"Acme");
    // The real key, as a binary metadata value: never read as a credential.
    let op_bin = base64_std(op.as_bytes());
    for (what, headers) in [
        ("G9 none", vec![]),
        (
            "G10 two",
            vec![
                ("authorization", op.as_bytes()),
                ("authorization", op.as_bytes()),
            ],
        ),
        (
            "G11 non-ASCII",
            vec![("authorization", b"lk_\xff\xfe".as_slice())],
        ),
        (
            "G11 only -bin",
            vec![("authorization-bin", op_bin.as_bytes())],
        ),
    ] {
        let (code, _, _) = call(&app, CREATE_TENANT, &headers, frame(&valid, false)).await;
        assert_eq!(code, Some(UNAUTHENTICATED), "{what}");
    }

    // G14: compressed messages are not accepted.
    let (code, _, _) = call(
        &app,
        CREATE_TENANT,
        &[("authorization", op.as_bytes()), ("grpc-encoding", b"gzip")],
        frame(&[0x1f, 0x8b, 0x08, 0x00], true),
    )
    .await;
    assert_eq!(code, Some(INVALID_ARGUMENT), "G14");

    assert_eq!(tenants(&app).await, before, "nothing was created");

    // G18: the gRPC path without application/grpc reaches the REST router, which refuses it.
    let r = reqwest::Client::new()
        .post(format!("{}{CREATE_TENANT}", app.api))
        .header("authorization", &op)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(
        [404, 405, 415].contains(&r.status().as_u16()),
        "G18: {}",
        r.status()
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["name"].is_string(), "G18: {body}");
    app.stop().await;
}

#[tokio::test]
async fn two_rest_authorization_headers_are_refused() {
    let app = spawn_app(None).await;
    let r = reqwest::Client::new()
        .get(format!("{}/v1/platform/tenants", app.api))
        .header("authorization", &app.operator_key)
        .header("authorization", &app.operator_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}
