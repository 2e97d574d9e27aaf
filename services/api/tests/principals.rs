//! The principal extractors against a real SQLite store: each route accepts exactly its role,
//! both header forms work, and every bad key gets the same 401 body.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::routing::get;
use http::{Request, StatusCode};
use latchkey_api::server::{AdminKey, AppKey, OperatorKey, ToolKey, with_request_id};
use latchkey_core::apikey::{KeyRole, Peppers};
use latchkey_core::auth::Authenticator;
use latchkey_core::crypto::{KeyMaterial, Keyring, Vault};
use latchkey_core::ports::Store;
use latchkey_core::tenant::{self, TenantName};
use latchkey_core::time::UnixMillis;
use latchkey_store::AnyStore;
use secrecy::{ExposeSecret, SecretString};
use tower::ServiceExt;

#[derive(Clone)]
struct State(Arc<Authenticator>);

impl FromRef<State> for Arc<Authenticator> {
    fn from_ref(s: &State) -> Self {
        s.0.clone()
    }
}

struct Fixture {
    app: Router,
    store: Arc<dyn Store>,
    tenant: latchkey_core::TenantId,
    admin: String,
    app_key: String,
    tool: String,
    tool_id: String,
    operator: String,
    configured_operator: String,
    _dir: tempfile::TempDir,
}

/// A migrated SQLite store in a scratch directory, its peppers, and tenant "Acme" in it.
async fn store_with_tenant() -> (
    tempfile::TempDir,
    AnyStore,
    Arc<dyn Store>,
    Arc<Peppers>,
    tenant::CreatedTenant,
) {
    let dir = tempfile::tempdir().unwrap();
    let any = AnyStore::open(
        &format!("sqlite://{}/t.db", dir.path().display()),
        &Default::default(),
    )
    .await
    .unwrap();
    any.migrate().await.unwrap();
    let store = any.store();
    let peppers = Arc::new(Peppers::new(vec![KeyMaterial::generate()]).unwrap());
    let vault = Vault::new(
        Keyring::new(vec![KeyMaterial::generate()]).unwrap(),
        None,
        store.clone(),
    );
    let t = tenant::create_tenant(
        store.as_ref(),
        &vault,
        &peppers,
        TenantName::parse("Acme").unwrap(),
        &crate::actor(),
    )
    .await
    .unwrap();
    (dir, any, store, peppers, t)
}

async fn fixture() -> Fixture {
    let (dir, any, store, peppers, t) = store_with_tenant().await;
    let tool_id = latchkey_core::ToolId::generate().to_string();
    sqlx::query("INSERT INTO tools (tenant_id, id, name, version, provider, scopes, created_at, updated_at) VALUES ($1, $2, 'Discord.Hello', '1.0.0', 'discord', 'identify', 0, 0)")
        .bind(t.tenant.id.to_string())
        .bind(&tool_id)
        .execute(match &any { AnyStore::Sqlite(s) => s.pool(), AnyStore::Postgres(_) => unreachable!() })
        .await
        .unwrap();
    let (tool_rec, tool) = peppers.mint_tenant_key(KeyRole::Tool, Some(tool_id.clone()), "tool");
    store
        .insert_api_key(t.tenant.id, &tool_rec, &crate::audit_event())
        .await
        .unwrap();
    let operator = tenant::bootstrap_operator_key(store.as_ref(), &peppers)
        .await
        .unwrap()
        .unwrap();
    let configured = latchkey_core::apikey::NewKey::generate().whole;
    let auth = Authenticator::new(store.clone(), peppers, Some(&configured)).unwrap();
    let app = Router::new()
        .route(
            "/operator",
            get(|OperatorKey(_): OperatorKey| async { "operator" }),
        )
        .route(
            "/admin",
            get(|AdminKey(p): AdminKey| async move { p.tenant.to_string() }),
        )
        .route(
            "/app",
            get(|AppKey(p): AppKey| async move { p.tenant.to_string() }),
        )
        .route(
            "/tool",
            get(|ToolKey(p): ToolKey| async move {
                p.tool_id.map(|t| t.to_string()).unwrap_or_default()
            }),
        )
        .layer(axum::middleware::from_fn(
            |req: Request<Body>, next: axum::middleware::Next| {
                with_request_id("req_test".to_owned(), next.run(req))
            },
        ))
        .with_state(State(Arc::new(auth)));
    let s = |k: &SecretString| k.expose_secret().to_owned();
    Fixture {
        app,
        store,
        tenant: t.tenant.id,
        admin: s(&t.admin_key),
        app_key: s(&t.app_key),
        tool: s(&tool),
        tool_id,
        operator: s(&operator),
        configured_operator: s(&configured),
        _dir: dir,
    }
}

async fn call(
    app: &Router,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::get(path);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), www)
}

#[tokio::test]
async fn each_route_accepts_exactly_its_role_in_both_header_forms() {
    let f = fixture().await;
    let keys = [
        ("/operator", &f.operator),
        ("/admin", &f.admin),
        ("/app", &f.app_key),
        ("/tool", &f.tool),
    ];
    for (route, _) in keys {
        for (other_route, key) in keys {
            for form in [
                key.to_string(),
                format!("Bearer {key}"),
                format!("bearer   {key}  "),
            ] {
                let (status, body, _) = call(&f.app, route, Some(&form)).await;
                if route == other_route {
                    assert_eq!(status, StatusCode::OK, "{route} with its own key: {body}");
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{route} with the key of {other_route}"
                    );
                    assert!(body.contains(r#""name":"forbidden""#), "{body}");
                }
            }
        }
    }
    let (_, body, _) = call(&f.app, "/admin", Some(&f.admin)).await;
    assert_eq!(
        body,
        f.tenant.to_string(),
        "the principal carries the key's tenant"
    );
    let (_, body, _) = call(&f.app, "/tool", Some(&f.tool)).await;
    assert_eq!(body, f.tool_id, "a tool key is bound to its tool");
    let (status, _, _) = call(&f.app, "/operator", Some(&f.configured_operator)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an operator key given by configuration works"
    );
}

#[tokio::test]
async fn every_bad_key_gets_the_same_401() {
    let f = fixture().await;
    let mut changed = f.admin.clone();
    let last = changed.pop().unwrap();
    changed.push(if last == 'a' { 'b' } else { 'a' });
    let unknown = latchkey_core::apikey::NewKey::generate()
        .whole
        .expose_secret()
        .to_owned();
    // A key that was valid until revoked: the fixture's app key.
    let app_id = latchkey_core::apikey::PresentedKey::parse(&f.app_key)
        .unwrap()
        .id();
    f.store
        .revoke_api_key(f.tenant, app_id, UnixMillis::now(), &crate::audit_event())
        .await
        .unwrap();
    let revoked = f.app_key.clone();
    let cases: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".to_owned()),
        Some(format!("Basic {}", f.admin)),
        Some(f.admin.replacen("lk_", "arc_", 1)),
        Some(f.admin[..f.admin.len() - 1].to_owned()),
        Some(changed),
        Some(unknown),
        Some(revoked),
        Some("x".repeat(10_000)),
    ];
    let mut bodies = std::collections::HashSet::new();
    for auth in cases {
        let (status, body, www) = call(&f.app, "/app", auth.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(www.as_deref(), Some("Bearer"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["name"], "unauthorized");
        assert_eq!(v["request_id"], "req_test");
        if let Some(a) = &auth {
            assert!(
                a.len() < 8 || !body.contains(a.as_str()),
                "the key is never echoed"
            );
        }
        bodies.insert(body);
    }
    assert_eq!(
        bodies.len(),
        1,
        "the body is identical for every cause: {bodies:?}"
    );
}

#[tokio::test]
async fn a_key_in_the_query_string_is_refused() {
    let f = fixture().await;
    let (status, body, _) = call(
        &f.app,
        &format!("/admin?api_key={}", f.admin),
        Some(&f.admin),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_request") && !body.contains(&f.admin));
    // Also when the parameter name is percent-encoded.
    let (encoded, _, _) = call(
        &f.app,
        &format!("/admin?api%5Fkey={}", f.admin),
        Some(&f.admin),
    )
    .await;
    assert_eq!(encoded, StatusCode::BAD_REQUEST);
}

fn audit_event() -> latchkey_core::audit::AuditEvent {
    latchkey_core::audit::AuditEvent::success(&actor(), "test.write", None)
}

fn actor() -> latchkey_core::audit::Actor {
    latchkey_core::audit::Actor {
        id: "test".to_owned(),
        request_id: None,
    }
}

/// The key cache: a key in it is answered from it (a revocation behind its back is not seen)
/// until the revocation's change notice drops it — by key, by tenant, or everything — and a
/// key looked up again after that is read afresh.
#[tokio::test]
async fn a_cached_key_is_refused_once_its_change_arrives() {
    use latchkey_core::auth::AuthFailure;
    use latchkey_core::cache::Change;
    let (_dir, _any, store, peppers, t) = store_with_tenant().await;
    let auth = Authenticator::new(store.clone(), peppers.clone(), None).unwrap();
    let tenant = t.tenant.id;
    let mut keys = Vec::new();
    for name in ["one", "two", "three"] {
        let (rec, key) = peppers.mint_tenant_key(KeyRole::Admin, None, name);
        store
            .insert_api_key(tenant, &rec, &audit_event())
            .await
            .unwrap();
        keys.push((rec.id, key.expose_secret().to_owned()));
    }
    let revoke = |id| {
        let store = store.clone();
        async move {
            store
                .revoke_api_key(tenant, id, UnixMillis::now(), &audit_event())
                .await
                .unwrap();
        }
    };
    let refused = |r: Result<_, AuthFailure>| matches!(r, Err(AuthFailure::Revoked));
    for (i, change) in [Change::Key(keys[0].0), Change::Tenant(tenant), Change::All]
        .into_iter()
        .enumerate()
    {
        let (id, key) = &keys[i];
        assert!(auth.authenticate(key).await.is_ok(), "{change:?}: before");
        revoke(*id).await;
        assert!(auth.authenticate(key).await.is_ok(), "{change:?}: cached");
        auth.apply(&change).await;
        assert!(refused(auth.authenticate(key).await), "{change:?}");
        // Read again from the store, and refused again from the cache.
        assert!(refused(auth.authenticate(key).await), "{change:?}");
    }
}
