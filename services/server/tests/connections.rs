//! `/v1/admin/user_connections` and the deletions that revoke at Discord, through a running
//! server and the Discord simulator: Arcade's shape, both filter spellings; a connection or a
//! provider deleted at once while its revocation is owed and retried until Discord confirms
//! (the simulator saw it, the token is dead, the audit log says so); a changed client id
//! turning grants `reauth_required`; a tenant deleted only once Discord confirmed everything
//! (502 and nothing deleted while it fails).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::sim::{self, Sim};
use support::{TestApp, call, spawn_app_with};

struct World {
    sim: Sim,
    app: TestApp,
    tenant: String,
    admin: String,
}

async fn world(db: Option<String>) -> World {
    let sim = Sim::start().await;
    let origin = sim.origin();
    let app = spawn_app_with(db, |s| s.discord.allowed_endpoint_origins = vec![origin]).await;
    let (s, t) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let admin = t["admin_key"].as_str().unwrap().to_owned();
    let (s, p) = call(&app, Method::POST, "/v1/admin/auth_providers", &admin,
        Some(json!({"id": "discord-prod", "description": "Discord prod app", "provider_id": "discord",
                    "oauth2": {"client_id": sim::APP_ID, "client_secret": sim::SECRET},
                    "scopes": ["guilds"], "endpoint_origin": sim.origin()}))).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    World {
        sim,
        app,
        tenant: t["id"].as_str().unwrap().to_owned(),
        admin,
    }
}

impl World {
    /// A real grant from the simulator, stored for `user`.
    async fn grant(&self, user: &str) -> (String, latchkey_discord::types::TokenSet) {
        let t = self.sim.login(&["identify", "guilds"]).await;
        let (access, refresh) = Sim::tokens(&t);
        let id = support::seed_grant(
            &self.app,
            &self.tenant,
            "discord-prod",
            user,
            &["identify", "guilds"],
            (&access, refresh.as_deref()),
            json!({"id": sim::USER, "username": "nelly"}),
        )
        .await;
        (id, t)
    }

    async fn list(&self, query: &str) -> Value {
        let (s, v) = call(
            &self.app,
            Method::GET,
            &format!("/v1/admin/user_connections{query}"),
            &self.admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn fail_revocations(&self) {
        let r = self.sim.http.post(format!("{}/__sim/faults", self.sim.origin()))
            .json(&json!({"match": {"method": "POST", "path": "/api/oauth2/token/revoke"}, "trigger": {"count": null}, "action": {"kind": "status", "status": 503}}))
            .send().await.unwrap();
        assert!(r.status().is_success());
    }

    /// A real grant, deleted while Discord refuses revocations: its revocation is owed.
    async fn owed_grant(&self, user: &str) -> (String, latchkey_discord::types::TokenSet) {
        let (id, tokens) = self.grant(user).await;
        self.fail_revocations().await;
        let (s, _) = call(
            &self.app,
            Method::DELETE,
            &format!("/v1/admin/user_connections/{id}"),
            &self.admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(self.owed().await, 1);
        (id, tokens)
    }

    /// How many revocations the tenant still owes Discord.
    async fn owed(&self) -> usize {
        let t = latchkey_core::TenantId::parse(&self.tenant).unwrap();
        self.app.store.list_revocations(t).await.unwrap().len()
    }

    /// Waits (at most 20 s: the first retries come after 1, 2 and 4 s) until Discord has
    /// confirmed every owed revocation.
    async fn until_nothing_owed(&self) {
        let start = std::time::Instant::now();
        while self.owed().await > 0 {
            assert!(start.elapsed().as_secs() < 20, "revocations still owed");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn heal(&self) {
        let r = self
            .sim
            .http
            .delete(format!("{}/__sim/faults", self.sim.origin()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

async fn list_delete_and_reauth(db: Option<String>) {
    let w = world(db).await;
    let (alice, alice_tokens) = w.grant("alice").await;
    let (bob, _) = w.grant("bob").await;

    let page = w.list("").await;
    assert_eq!(
        (
            page["total_count"].as_u64(),
            page["page_count"].as_u64(),
            page["offset"].as_u64(),
            page["limit"].as_u64()
        ),
        (Some(2), Some(2), Some(0), Some(100))
    );
    let first = &page["items"][0];
    // When the access token expires: in the future, as the grant stores it.
    let expires = first["expires_at"].as_str().unwrap();
    let at = latchkey_api::time::parse_rfc3339(expires).unwrap();
    assert!(at > latchkey_core::time::UnixMillis::now().0, "{expires}");
    assert_eq!(
        first,
        &json!({
        "id": alice, "connection_id": alice, "connection_status": "active",
        "provider_id": "discord-prod", "provider_type": "oauth2", "provider_description": "Discord prod app",
        "provider_user_info": {"id": sim::USER, "username": "nelly"},
        "scopes": ["guilds", "identify"], "user_id": "alice", "expires_at": expires})
    );
    let raw = page.to_string();
    let (access, refresh) = Sim::tokens(&alice_tokens);
    assert!(
        !raw.contains(&access) && !raw.contains(&refresh.unwrap()),
        "tokens never listed"
    );

    for (q, n) in [
        ("?user_id=alice", 1),
        ("?user%5Bid%5D=bob", 1),
        ("?user_id=ALICE", 0),
        ("?provider_id=discord-prod", 2),
        ("?provider%5Bid%5D=discord", 2),
        ("?provider_id=nope", 0),
        ("?provider_id=discord-prod&user_id=bob", 1),
        ("?limit=1&offset=1", 2),
    ] {
        let v = w.list(q).await;
        assert_eq!(v["total_count"], n, "{q}");
    }
    let v = w.list("?limit=1&offset=1").await;
    assert_eq!(
        (v["page_count"].as_u64(), v["items"][0]["user_id"].as_str()),
        (Some(1), Some("bob"))
    );
    for bad in [
        "?user_id=a&user%5Bid%5D=b",
        "?provider_id=",
        "?user_id=",
        "?limit=abc",
    ] {
        let (s, e) = call(
            &w.app,
            Method::GET,
            &format!("/v1/admin/user_connections{bad}"),
            &w.admin,
            None,
        )
        .await;
        assert_eq!(
            (s, e["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad}"
        );
    }

    // Delete while Discord fails: deleted at once, the revocation owed and retried until
    // Discord confirms (the token stays alive meanwhile, and dies after).
    w.fail_revocations().await;
    let r = support::request(
        &w.app,
        Method::DELETE,
        &format!("/v1/admin/user_connections/{alice}"),
        Some(&w.admin),
        None,
    )
    .await;
    assert_eq!((r.status, r.raw.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(
        w.list("?user_id=alice").await["total_count"],
        0,
        "deleted at once"
    );
    assert_eq!(w.owed().await, 1, "the revocation is owed");
    assert!(w.sim.token_alive(&alice_tokens).await);
    let before = w.sim.requests("/api/oauth2/token/revoke").await.len();
    w.heal().await;
    w.until_nothing_owed().await;
    assert!(
        w.sim.requests("/api/oauth2/token/revoke").await.len() > before,
        "Discord saw the revocation"
    );
    assert!(
        !w.sim.token_alive(&alice_tokens).await,
        "the token is dead at Discord"
    );
    let (_, revoked) = call(
        &w.app,
        Method::GET,
        "/v1/admin/audit_events?action=connection.revoked",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(
        (
            revoked["items"][0]["target"].as_str(),
            revoked["items"][0]["actor"].as_str()
        ),
        (Some(alice.as_str()), Some("system"))
    );
    let (s, _) = call(
        &w.app,
        Method::DELETE,
        &format!("/v1/admin/user_connections/{alice}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &w.app,
        Method::DELETE,
        "/v1/admin/user_connections/not-an-id",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = call(
        &w.app,
        Method::GET,
        "/v1/admin/audit_events?action=connection.delete",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(audit["items"][0]["target"], alice.as_str());

    // A new client id is another Discord app: bob must authorize again.
    let (s, _) = call(
        &w.app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &w.admin,
        Some(json!({"oauth2": {"client_id": "1100000000000000042"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v = w.list("?user_id=bob").await;
    assert_eq!(
        (
            v["items"][0]["id"].as_str(),
            v["items"][0]["connection_status"].as_str()
        ),
        (Some(bob.as_str()), Some("reauth_required"))
    );
    w.app.stop().await;
}

#[tokio::test]
async fn list_delete_and_reauth_on_sqlite() {
    list_delete_and_reauth(None).await;
}

#[tokio::test]
async fn list_delete_and_reauth_on_postgres() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    list_delete_and_reauth(Some(db.url.clone())).await;
    db.drop_now().await;
}

#[tokio::test]
async fn provider_deletion_owes_revocations_and_tenant_deletion_needs_them_done() {
    let w = world(None).await;
    let (_, a) = w.grant("alice").await;

    // While Discord fails, the tenant is not deleted (its keys seal what would be owed)...
    w.fail_revocations().await;
    let (s, e) = call(
        &w.app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{}", w.tenant),
        &w.app.operator_key,
        None,
    )
    .await;
    assert_eq!(
        (s, e["name"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("upstream_unavailable"))
    );
    assert_eq!(w.list("").await["total_count"], 1, "nothing deleted");

    // ...but the provider is, with its grants, owing their revocations.
    let (s, p) = call(
        &w.app,
        Method::DELETE,
        "/v1/admin/auth_providers/discord-prod",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(
        (s, p["id"].as_str()),
        (StatusCode::OK, Some("discord-prod"))
    );
    assert_eq!(w.list("").await["total_count"], 0);
    assert_eq!(w.owed().await, 1);
    assert!(w.sim.token_alive(&a).await);
    w.heal().await;
    w.until_nothing_owed().await;
    assert!(!w.sim.token_alive(&a).await, "revoked at Discord");

    // Tenant delete: every grant of every provider is revoked, then all data is gone.
    let (s, _) = call(&w.app, Method::POST, "/v1/admin/auth_providers", &w.admin,
        Some(json!({"id": "again", "provider_id": "discord", "oauth2": {"client_id": sim::APP_ID, "client_secret": sim::SECRET},
                    "endpoint_origin": w.sim.origin()}))).await;
    assert_eq!(s, StatusCode::OK);
    let t = w.sim.login(&["identify"]).await;
    let (access, refresh) = Sim::tokens(&t);
    support::seed_grant(
        &w.app,
        &w.tenant,
        "again",
        "carol",
        &["identify"],
        (&access, refresh.as_deref()),
        json!({"id": sim::USER}),
    )
    .await;
    let (s, _) = call(
        &w.app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{}", w.tenant),
        &w.app.operator_key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!w.sim.token_alive(&t).await, "revoked at Discord");
    let (s, _) = call(
        &w.app,
        Method::GET,
        &format!("/v1/platform/tenants/{}", w.tenant),
        &w.app.operator_key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    w.app.stop().await;
}

#[tokio::test]
async fn owed_revocations_block_tenant_deletion_until_confirmed_or_abandoned() {
    let w = world(None).await;
    let (alice, a) = w.owed_grant("alice").await;

    // The tenant's keys seal what is owed: while it is owed, the tenant stays.
    let (s, e) = call(
        &w.app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{}", w.tenant),
        &w.app.operator_key,
        None,
    )
    .await;
    assert_eq!(
        (s, e["name"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("upstream_unavailable"))
    );
    assert_eq!(w.owed().await, 1, "still owed");

    // An obligation Discord keeps refusing is given up after its last attempt, and says so.
    // (The background task may be in the middle of an attempt with its own copy of the
    // obligation, whose outcome overwrites ours: put it at its last attempt until it is gone.)
    let t = latchkey_core::TenantId::parse(&w.tenant).unwrap();
    let start = std::time::Instant::now();
    loop {
        let owed = w.app.store.list_revocations(t).await.unwrap();
        let Some(r) = owed.first() else { break };
        assert!(start.elapsed().as_secs() < 60, "revocation never abandoned");
        if r.attempts < latchkey_core::revocation::MAX_ATTEMPTS - 1 {
            w.app
                .store
                .reschedule_revocation(
                    t,
                    &r.id,
                    latchkey_core::revocation::MAX_ATTEMPTS - 1,
                    latchkey_core::time::UnixMillis(0),
                    "refused",
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, audit) = call(
        &w.app,
        Method::GET,
        "/v1/admin/audit_events?action=connection.revoke_abandoned",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(
        (
            audit["items"][0]["target"].as_str(),
            audit["items"][0]["actor"].as_str()
        ),
        (Some(alice.as_str()), Some("system"))
    );
    assert!(
        w.sim.token_alive(&a).await,
        "never confirmed: recorded, not pretended"
    );

    // Nothing owed and no grants: the tenant can go, even while Discord fails.
    let (s, _) = call(
        &w.app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{}", w.tenant),
        &w.app.operator_key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    w.app.stop().await;
}

#[tokio::test]
async fn an_owed_revocation_uses_the_apps_current_secret_after_a_rotation() {
    let w = world(None).await;
    let (_, a) = w.owed_grant("alice").await;

    // The tenant rotates the app's secret at Discord and in Latchkey while the revocation is
    // owed (sealed with the old secret, which Discord now refuses).
    let rotated = "rotated-secret-0123456789";
    let r = w
        .sim
        .http
        .post(format!("{}/__sim/fixtures", w.sim.origin()))
        .json(
            &json!({"apps": [{"id": sim::APP_ID, "name": "Acme Agent", "secret": rotated,
                                "redirect_uris": [sim::REDIRECT], "public_client": false}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, _) = call(
        &w.app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &w.admin,
        Some(json!({"oauth2": {"client_secret": rotated}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    w.heal().await;
    w.until_nothing_owed().await;
    assert!(
        !w.sim.token_alive(&a).await,
        "revoked with the current secret"
    );
    w.app.stop().await;
}
