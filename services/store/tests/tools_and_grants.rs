//! Conformance of the tool and grant ports on SQLite and PostgreSQL: a tool and its first key
//! are written together or not at all; tool keys go with their tool; grants are listed by the
//! Arcade filters, sealed at rest, and never cross tenants; a provider's new client id turns
//! its grants `reauth_required` and `inactive` fails its open authorizations, each in the same
//! transaction as the provider write; the authorization summary behind `token_status`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_core::authorization::AuthorizationStatus;
use latchkey_core::grant::{self, GrantRecord, GrantSecrets, GrantStatus};
use latchkey_core::ports::GrantFilter;
use latchkey_core::provider::{
    self, DiscordClientId, ProviderChanges, ProviderSlug, ProviderStatus,
};
use latchkey_core::revocation;
use latchkey_core::time::UnixMillis;
use latchkey_core::tool::{self, ToolChanges, ToolName, ToolRequirement, ToolVersion};
use latchkey_core::{GrantId, StoreError, TenantId};
use support::{TestDb, World, actor, audit_event, new_provider, new_tenant, world};

fn changes(scopes: &[&str], instance: Option<&str>) -> ToolChanges {
    ToolChanges {
        version: Some(ToolVersion::parse("1.0.0").unwrap()),
        description: Some(Some("probe".to_owned())),
        requirement: Some(ToolRequirement {
            instance: instance.map(|s| ProviderSlug::parse(s).unwrap()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }),
    }
}

async fn seed(
    w: &World,
    t: TenantId,
    slug: &str,
    user: &str,
    scopes: &[&str],
    access: &str,
) -> GrantRecord {
    let p = w.store.get_provider(t, slug).await.unwrap().unwrap();
    let id = GrantId::generate();
    let (user_info, access_token, refresh_token) = grant::seal(
        &w.vault,
        t,
        id,
        &GrantSecrets {
            user_info: serde_json::json!({"id": "80351110224678912", "username": "nelly"}),
            access_token: access.into(),
            refresh_token: Some(format!("refresh-{access}").into()),
        },
    )
    .await
    .unwrap();
    let now = UnixMillis::now();
    let g = GrantRecord {
        id,
        user_id: user.to_owned(),
        provider: p.id,
        discord_user_id: "80351110224678912".to_owned(),
        user_info,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        access_token,
        refresh_token,
        expires_at: UnixMillis(now.0 + 60_000),
        generation: 0,
        status: GrantStatus::Active,
        created_at: now,
        updated_at: now,
        authorization: None,
        cooldown_until: None,
    };
    w.store.insert_grant(t, &g, &audit_event()).await.unwrap();
    g
}

async fn tools(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "A").await.tenant.id;
    let b = new_tenant(&w, "B").await.tenant.id;
    new_provider(&w, a, "discord-prod", "secret-a").await;
    let name = ToolName::parse("Discord.Whoami").unwrap();
    let reg = tool::register_tool(
        w.store.as_ref(),
        &w.peppers,
        a,
        name.clone(),
        changes(&["guilds"], Some("discord-prod")),
        &actor(),
    )
    .await
    .unwrap();
    let got = w.store.get_tool(a, &name).await.unwrap().unwrap();
    assert_eq!(got, reg.tool);
    assert_eq!(
        w.store
            .get_tool_by_id(a, reg.tool.id)
            .await
            .unwrap()
            .unwrap(),
        reg.tool
    );
    let key = w.store.get_api_key(a, reg.key.id).await.unwrap().unwrap();
    assert_eq!(
        key.tool_id.as_deref(),
        Some(reg.tool.id.to_string().as_str())
    );

    // The same name again: Conflict, and no key was written with it.
    let keys_before = w.store.list_api_keys(a).await.unwrap().len();
    let again = tool::register_tool(
        w.store.as_ref(),
        &w.peppers,
        a,
        name.clone(),
        changes(&["guilds"], None),
        &actor(),
    )
    .await;
    assert!(
        matches!(again, Err(latchkey_core::CoreError::AlreadyExists(_))),
        "{:?}",
        again.err()
    );
    assert_eq!(
        w.store.list_api_keys(a).await.unwrap().len(),
        keys_before,
        "no orphan key"
    );
    // Pinning an unknown provider, or a scope the provider lacks, is refused.
    let other = ToolName::parse("Discord.Other").unwrap();
    assert!(matches!(
        tool::register_tool(
            w.store.as_ref(),
            &w.peppers,
            a,
            other.clone(),
            changes(&["guilds"], Some("nope")),
            &actor()
        )
        .await,
        Err(latchkey_core::CoreError::UnknownProvider)
    ));
    assert!(
        tool::register_tool(
            w.store.as_ref(),
            &w.peppers,
            a,
            other,
            changes(&["email"], Some("discord-prod")),
            &actor()
        )
        .await
        .is_err()
    );

    // Another tenant sees nothing, and may use the same name.
    assert!(w.store.get_tool(b, &name).await.unwrap().is_none());
    assert!(
        w.store
            .get_tool_by_id(b, reg.tool.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(w.store.list_tools(b).await.unwrap().is_empty());
    assert!(matches!(
        w.store.delete_tool(b, &name, &audit_event()).await,
        Err(StoreError::NotFound)
    ));
    tool::register_tool(
        w.store.as_ref(),
        &w.peppers,
        b,
        name.clone(),
        changes(&["guilds"], None),
        &actor(),
    )
    .await
    .unwrap();

    // Conditional update: a stale expected_updated_at writes nothing.
    let mut next = reg.tool.clone();
    next.version = ToolVersion::parse("2.0.0").unwrap();
    next.updated_at = UnixMillis(next.updated_at.0 + 5);
    assert!(
        !w.store
            .update_tool(a, &next, UnixMillis(1), &audit_event())
            .await
            .unwrap()
    );
    assert!(
        w.store
            .update_tool(a, &next, reg.tool.updated_at, &audit_event())
            .await
            .unwrap()
    );
    assert_eq!(
        w.store
            .get_tool(a, &name)
            .await
            .unwrap()
            .unwrap()
            .version
            .as_str(),
        "2.0.0"
    );
    let updated = tool::update_tool(
        w.store.as_ref(),
        a,
        &name,
        ToolChanges {
            description: Some(None),
            ..ToolChanges::default()
        },
        &actor(),
    )
    .await
    .unwrap();
    assert_eq!(
        (updated.description, updated.version.as_str()),
        (None, "2.0.0")
    );

    // A second key; deleting the tool deletes every key bound to it.
    let (_, k2, _) = tool::issue_tool_key(w.store.as_ref(), &w.peppers, a, &name, &actor())
        .await
        .unwrap();
    w.store.delete_tool(a, &name, &audit_event()).await.unwrap();
    assert!(w.store.get_api_key(a, reg.key.id).await.unwrap().is_none());
    assert!(w.store.get_api_key(a, k2.id).await.unwrap().is_none());
    assert!(
        w.store.find_key_for_auth(k2.id).await.unwrap().is_none(),
        "the key no longer authenticates"
    );
    assert!(
        w.store.get_tool(b, &name).await.unwrap().is_some(),
        "B's tool of the same name stays"
    );
}

async fn grants(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "A").await.tenant.id;
    let b = new_tenant(&w, "B").await.tenant.id;
    let prod = new_provider(&w, a, "discord-prod", "secret-a").await;
    let test = new_provider(&w, a, "discord-test", "secret-b").await;
    new_provider(&w, b, "discord-prod", "secret-c").await;
    let alice = seed(
        &w,
        a,
        "discord-prod",
        "alice",
        &["identify", "guilds"],
        "token-alice-1",
    )
    .await;
    let bob = seed(&w, a, "discord-test", "bob", &["identify"], "token-bob-1").await;
    let b_alice = seed(
        &w,
        b,
        "discord-prod",
        "alice",
        &["identify"],
        "token-b-alice",
    )
    .await;

    // Sealed at rest: no token, refresh token or username in the table.
    for raw in db.raw_values("grants").await {
        for plain in [
            b"token-alice-1".as_slice(),
            b"refresh-token-alice-1",
            b"nelly",
        ] {
            assert!(!support::contains(&raw, plain), "plaintext in grants");
        }
    }
    assert_eq!(
        grant::access_token(&w.vault, a, &alice)
            .await
            .unwrap()
            .expose(),
        "token-alice-1"
    );
    assert_eq!(
        grant::revocation_token(&w.vault, a, &alice)
            .await
            .unwrap()
            .expose(),
        "refresh-token-alice-1"
    );
    assert_eq!(
        grant::user_info(&w.vault, a, &alice).await.unwrap()["username"],
        "nelly"
    );
    assert!(
        grant::access_token(&w.vault, b, &alice).await.is_err(),
        "another tenant's key cannot open it"
    );

    let list = |f: GrantFilter| {
        let store = w.store.clone();
        async move {
            store
                .list_grants(a, &f)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.user_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(GrantFilter::default()).await, ["alice", "bob"]);
    assert_eq!(
        list(GrantFilter {
            user_id: Some("alice".into()),
            provider: None
        })
        .await,
        ["alice"]
    );
    assert_eq!(
        list(GrantFilter {
            user_id: Some("ALICE".into()),
            provider: None
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(GrantFilter {
            user_id: None,
            provider: Some(test.id)
        })
        .await,
        ["bob"]
    );
    assert_eq!(
        w.store
            .active_grant(a, "alice", prod.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    assert!(
        w.store
            .active_grant(a, "alice", test.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(grant::covers(&alice, &["guilds".into(), "identify".into()]));
    assert!(!grant::covers(&bob, &["guilds".into()]));

    // Tenant isolation.
    assert!(w.store.get_grant(a, b_alice.id).await.unwrap().is_none());
    assert!(w.store.get_grant(b, alice.id).await.unwrap().is_none());
    assert!(matches!(
        w.store
            .delete_grant(b, alice.id, None, &audit_event())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        w.store
            .active_grant(b, "alice", prod.id)
            .await
            .unwrap()
            .is_none(),
        "B cannot reach A's provider"
    );

    // A new client id: the provider's active grants need re-authorization; others do not.
    provider::update_provider(
        w.store.as_ref(),
        &w.vault,
        a,
        &prod.slug,
        ProviderChanges {
            client_id: Some(DiscordClientId::parse("1999999999999999999").unwrap()),
            ..ProviderChanges::default()
        },
        &actor(),
    )
    .await
    .unwrap();
    assert_eq!(
        w.store
            .get_grant(a, alice.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        GrantStatus::ReauthRequired
    );
    assert_eq!(
        w.store.get_grant(a, bob.id).await.unwrap().unwrap().status,
        GrantStatus::Active
    );
    assert_eq!(
        w.store
            .get_grant(b, b_alice.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        GrantStatus::Active
    );
    assert!(
        w.store
            .active_grant(a, "alice", prod.id)
            .await
            .unwrap()
            .is_none()
    );
    // The same client id again changes nothing.
    provider::update_provider(
        w.store.as_ref(),
        &w.vault,
        a,
        &test.slug,
        ProviderChanges {
            client_id: Some(test.client_id.clone()),
            ..ProviderChanges::default()
        },
        &actor(),
    )
    .await
    .unwrap();
    assert_eq!(
        w.store.get_grant(a, bob.id).await.unwrap().unwrap().status,
        GrantStatus::Active
    );

    // Delete, then the provider's deletion takes the rest of its grants.
    w.store
        .delete_grant(a, bob.id, None, &audit_event())
        .await
        .unwrap();
    assert!(matches!(
        w.store.delete_grant(a, bob.id, None, &audit_event()).await,
        Err(StoreError::NotFound)
    ));
    // Deleting the provider owes a revocation for each grant it takes with it: without one,
    // nothing is deleted.
    let p = w
        .store
        .get_provider(a, "discord-prod")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        w.store
            .delete_provider(a, "discord-prod", &[], &audit_event())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(w.store.get_grant(a, alice.id).await.unwrap().is_some());
    let alice_now = w.store.get_grant(a, alice.id).await.unwrap().unwrap();
    let owed = revocation::obligation(&w.vault, a, &p, &alice_now)
        .await
        .unwrap();
    w.store
        .delete_provider(
            a,
            "discord-prod",
            std::slice::from_ref(&owed),
            &audit_event(),
        )
        .await
        .unwrap();
    assert!(w.store.get_grant(a, alice.id).await.unwrap().is_none());
    assert!(w.store.get_grant(b, b_alice.id).await.unwrap().is_some());
    assert_eq!(
        w.store.list_revocations(a).await.unwrap(),
        std::slice::from_ref(&owed)
    );
    assert!(w.store.list_revocations(b).await.unwrap().is_empty());
    for raw in db.raw_values("pending_revocations").await {
        for plain in [b"refresh-token-alice-1".as_slice(), b"secret-a"] {
            assert!(
                !support::contains(&raw, plain),
                "plaintext in pending_revocations"
            );
        }
    }

    // Claims lease rows: a second claim in the lease finds nothing.
    let now = UnixMillis(owed.next_attempt_at.0 + 1);
    let lease = UnixMillis(now.0 + 30_000);
    let claimed = w.store.claim_revocations(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].0, claimed[0].1.id.as_str()),
        (a, owed.id.as_str())
    );
    assert!(
        w.store
            .claim_revocations(now, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    w.store
        .reschedule_revocation(a, &owed.id, 1, UnixMillis(0), "Discord said no")
        .await
        .unwrap();
    let again = w.store.claim_revocations(now, lease, 10).await.unwrap();
    assert_eq!(
        (again[0].1.attempts, again[0].1.last_error.as_deref()),
        (1, Some("Discord said no"))
    );
    // A tenant that owes a revocation, or whose grants are not the ones revoked, is not
    // deleted.
    assert!(matches!(
        w.store.delete_tenant(a, &[], &audit_event()).await,
        Err(StoreError::Conflict(_))
    ));
    w.store
        .finish_revocation(a, &owed.id, &audit_event())
        .await
        .unwrap();
    assert!(w.store.list_revocations(a).await.unwrap().is_empty());
    // Finishing twice (another replica's lease ran out) audits once.
    let before = w
        .store
        .list_audit_events(a, &Default::default())
        .await
        .unwrap()
        .len();
    w.store
        .finish_revocation(a, &owed.id, &audit_event())
        .await
        .unwrap();
    assert_eq!(
        w.store
            .list_audit_events(a, &Default::default())
            .await
            .unwrap()
            .len(),
        before
    );
    let test = w.store.get_provider(a, "discord-test").await.unwrap();
    assert!(test.is_some());
    let carol = seed(&w, a, "discord-test", "carol", &["identify"], "token-carol").await;
    assert!(matches!(
        w.store.delete_tenant(a, &[], &audit_event()).await,
        Err(StoreError::Conflict(_))
    ));
    w.store
        .delete_tenant(a, &[carol.id], &audit_event())
        .await
        .unwrap();
    assert!(w.store.get_tenant(a).await.unwrap().is_none());
}

async fn authorizations(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "A").await.tenant.id;
    let p = new_provider(&w, a, "discord-prod", "secret-a").await;
    let (t, r) = (a.to_string(), p.id.to_string());
    let summary = |user: &'static str| {
        let store = w.store.clone();
        let pid = p.id;
        async move {
            store
                .authorization_summary(a, user, pid, UnixMillis::now())
                .await
                .unwrap()
        }
    };
    let add = |id: &'static str,
               user: &'static str,
               status: &'static str,
               created: &'static str,
               expires: &'static str| {
        let (t, r) = (t.clone(), r.clone());
        async move {
            db.exec(
                "INSERT INTO authorizations (tenant_id, id, user_id, provider_ref, requested_scopes, status, created_at, updated_at, expires_at) \
                 VALUES ($1, $2, $3, $4, 'identify', $5, CAST($6 AS BIGINT), CAST($6 AS BIGINT), CAST($7 AS BIGINT))",
                &[&t, id, user, &r, status, created, expires],
            )
            .await
            .unwrap();
        }
    };
    assert_eq!(summary("u1").await, None);
    add("auth_1", "u1", "failed", "1", "2").await;
    assert_eq!(summary("u1").await, Some(AuthorizationStatus::Failed));
    add("auth_2", "u1", "pending", "3", "9999999999999").await;
    assert_eq!(
        summary("u1").await,
        Some(AuthorizationStatus::Pending),
        "an open one wins"
    );
    add("auth_3", "u2", "pending", "3", "4").await;
    assert_eq!(
        summary("u2").await,
        None,
        "an expired open one does not count"
    );
    add("auth_4", "u3", "completed", "5", "6").await;
    add("auth_5", "u3", "failed", "7", "8").await;
    assert_eq!(
        summary("u3").await,
        Some(AuthorizationStatus::Failed),
        "the newest one"
    );

    // Deactivating the provider fails its open authorizations, in the provider's transaction.
    provider::update_provider(
        w.store.as_ref(),
        &w.vault,
        a,
        &p.slug,
        ProviderChanges {
            status: Some(ProviderStatus::Inactive),
            ..ProviderChanges::default()
        },
        &actor(),
    )
    .await
    .unwrap();
    assert_eq!(summary("u1").await, Some(AuthorizationStatus::Failed));
}

trait Expose {
    fn expose(&self) -> String;
}

impl Expose for secrecy::SecretString {
    fn expose(&self) -> String {
        secrecy::ExposeSecret::expose_secret(self).to_owned()
    }
}

on_both_stores! {
    tools_and_their_keys => tools;
    grants_filters_isolation_reauth => grants;
    authorization_summary_and_inactive_providers => authorizations;
}
