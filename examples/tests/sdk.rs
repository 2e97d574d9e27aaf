//! `latchkey-sdk` against a real Latchkey and the simulator (issue 7, items 1–2): waiting ends
//! on completion, failure or the deadline; a registered tool's declaration stays the single
//! source of truth; tool grants and tool keys get the token and call Discord through the proxy;
//! refusals arrive as typed errors with the REST names.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use latchkey_discord_sim::Mode;
use latchkey_examples::{Demo, NELLY};
use latchkey_sdk::{AuthStatus, Client, Discord, Error, ErrorName, Tool};
use reqwest::StatusCode;
use support::complete;

fn client(demo: &Demo, key: &str) -> Client {
    Client::builder()
        .api_key(key)
        .base_url(&demo.latchkey.api)
        .build()
        .unwrap()
}

#[tokio::test]
async fn apps_wait_for_completion_failure_or_the_deadline() {
    let demo = Demo::start(Mode::Test, 0, 0).await.unwrap();
    let (_app_process, app) = demo.start_verifier_app(0).await.unwrap();
    let c = client(&demo, &demo.app_key);

    // The deadline: a pending authorization is reported as such, after about the timeout.
    let a = c
        .auth()
        .start("alice", "discord", ["guilds"])
        .await
        .unwrap();
    assert_eq!(a.status, AuthStatus::Pending);
    let link = a.url.clone().unwrap();
    let started = Instant::now();
    let e = c
        .auth()
        .wait_for_completion(&a, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Timeout { authorization_id } if *authorization_id == a.id),
        "{e:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));

    // Completion, waited for by id while the user acts.
    let waiter = {
        let c = c.clone();
        let id = a.id.clone();
        tokio::spawn(async move {
            c.auth()
                .wait_for_completion(id, Duration::from_secs(60))
                .await
        })
    };
    let page = complete(&demo, &app, &link, "alice", "wonderland").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let done = waiter.await.unwrap().unwrap();
    assert!(done.is_completed());
    assert_eq!(done.user_info.as_ref().unwrap()["id"], NELLY);
    assert_eq!(done.scopes, ["guilds", "identify"]);
    // Already granted: completed at once, and waiting on it asks nothing more.
    let again = c
        .auth()
        .start("alice", "discord", ["guilds"])
        .await
        .unwrap();
    assert_eq!(again.token, done.token);
    let same = c
        .auth()
        .wait_for_completion(again, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(same.token, done.token);

    // Failure is terminal: bob's authorization confirmed by alice's session fails.
    let b = c.auth().start("bob", "discord", ["guilds"]).await.unwrap();
    let page = complete(
        &demo,
        &app,
        b.url.as_deref().unwrap(),
        "alice",
        "wonderland",
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let e = c
        .auth()
        .wait_for_completion(&b, Duration::from_secs(60))
        .await
        .unwrap_err();
    let Error::Failed(failed) = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (failed.id.as_str(), &failed.status),
        (b.id.as_str(), &AuthStatus::Failed)
    );

    // Typed refusals with the REST names.
    let e = c
        .auth()
        .start("alice", "discord", ["connections"])
        .await
        .unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::ScopeNotAllowed));
    let e = c.auth().status("auth_nope", None).await.unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::NotFound));
    let e = c
        .auth()
        .confirm_user("not-a-flow", "alice")
        .await
        .unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::NotFound));
    let e = client(&demo, "lk_key_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa_wrong")
        .auth()
        .start("alice", "discord", ["guilds"])
        .await
        .unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::Unauthorized));
    demo.stop().await;
}

#[tokio::test]
async fn tools_are_declared_in_code_and_act_for_users_by_key_or_grant() {
    let demo = Demo::start(Mode::Test, 0, 0).await.unwrap();
    let (_app_process, app) = demo.start_verifier_app(0).await.unwrap();
    let admin = client(&demo, &demo.admin_key);
    let apps = client(&demo, &demo.app_key);

    // The declaration is what gets registered, and re-registering brings the tool in line.
    let v1 = Tool::new("Demo.Whoami")
        .version("1.0.0")
        .requires(Discord::scopes(["identify"]));
    let reg = admin.tools().register(&v1).await.unwrap();
    let key = reg.key.clone().unwrap();
    assert_eq!(reg.tool.requirement.oauth2.scopes, ["identify"]);
    assert!(
        !format!("{reg:?}").contains(&key),
        "the key is never printed"
    );
    let v2 = Tool::new("Demo.Whoami")
        .version("1.1.0")
        .description("Who the user is on Discord, and their servers.")
        .requires(Discord::scopes(["guilds", "identify"]).provider(latchkey_examples::PROVIDER));
    let reg = admin.tools().register(&v2).await.unwrap();
    assert!(reg.key.is_none());
    assert_eq!(
        (
            reg.tool.version.as_str(),
            reg.tool.requirement.id.as_deref()
        ),
        ("1.1.0", Some(latchkey_examples::PROVIDER))
    );
    assert_eq!(reg.tool.requirement.oauth2.scopes, ["guilds", "identify"]);
    // Another key for the tool (rotation, or a lost first answer) works as the first does.
    let second_key = admin.tools().issue_key("Demo.Whoami").await.unwrap();
    assert_ne!(second_key, key);
    // Registering needs an admin key.
    let e = apps.tools().register(&v2).await.unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::Forbidden));

    // Before the user connects: the tool is told where to send them.
    let tool = client(&demo, &key);
    let ctx = tool.tool_context("alice");
    let e = ctx.token().await.unwrap_err();
    let Error::AuthorizationRequired {
        authorization_id,
        url,
    } = e
    else {
        panic!("{e:?}")
    };
    // The app authorizes the same thing by the tool's name.
    let a = apps
        .tools()
        .authorize("Demo.Whoami", "alice")
        .await
        .unwrap();
    assert_eq!(
        (a.id.as_str(), a.url.as_deref()),
        (authorization_id.as_str(), Some(url.as_str()))
    );
    assert_eq!(a.scopes, ["guilds", "identify"]);
    complete(&demo, &app, &url, "alice", "wonderland").await;
    apps.auth()
        .wait_for_completion(a, Duration::from_secs(30))
        .await
        .unwrap();

    // By key: the token, and Discord through the proxy.
    let t = ctx.token().await.unwrap();
    assert_eq!(t.scopes, ["guilds", "identify"]);
    assert_eq!(t.user_info["id"], NELLY);
    assert!(!format!("{t:?}").contains(&t.access_token));
    assert_eq!(
        ctx.discord().current_user().await.unwrap().username,
        "nelly"
    );
    let guilds = ctx.discord().guilds().await.unwrap();
    assert_eq!(
        guilds.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["1337 Krew"]
    );
    // A route the declared scopes do not imply is refused by Latchkey.
    let e = ctx
        .discord()
        .get::<serde_json::Value>("users/@me/connections")
        .await
        .unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::RouteNotAllowed));

    // By grant: the app mints one for the tool and user; the tool needs no key of its own.
    let g = apps.tools().grant("Demo.Whoami", "alice").await.unwrap();
    assert_eq!(
        (g.tool.as_str(), g.user_id.as_str()),
        ("Demo.Whoami", "alice")
    );
    let keyless = Client::builder()
        .api_key("lk_unused")
        .base_url(&demo.latchkey.api)
        .build()
        .unwrap();
    let by_grant = keyless.tool_context_with_grant(g.grant);
    assert_eq!(by_grant.token().await.unwrap().access_token, t.access_token);
    assert_eq!(by_grant.discord().guilds().await.unwrap().len(), 1);
    let rotated = client(&demo, &second_key).tool_context("alice");
    assert_eq!(rotated.token().await.unwrap().access_token, t.access_token);
    demo.stop().await;
}
