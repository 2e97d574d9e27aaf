//! Token fetch with a cold cache over 100,000 grants (PostgreSQL): the grants are written
//! straight into the deployment's database, sealed with its keys exactly as a completed
//! authorization seals them (their Discord tokens are stand-ins, fresh for a week, so no fetch
//! calls Discord); then a replica with the warm-token cache turned off serves `wrk`'s token
//! requests for users picked at random — every fetch reads and decrypts its grant.

use anyhow::Context as _;
use latchkey_core::GrantId;
use latchkey_core::audit::{Actor, AuditEvent};
use latchkey_core::grant::{self, GrantRecord, GrantSecrets, GrantStatus};
use latchkey_core::time::UnixMillis;
use secrecy::SecretString;

use crate::load::{self, Figures};
use crate::world::{Deployment, Tenant};

/// Grants written.
pub const GRANTS: usize = 100_000;

/// Writes [`GRANTS`] grants (users `cold-1` … `cold-100000`) for the tenant's provider.
pub async fn seed(dep: &Deployment) -> anyhow::Result<()> {
    let ctx = dep.open().await?;
    let tenant = ctx
        .store
        .list_tenants()
        .await?
        .into_iter()
        .next()
        .context("the tenant")?
        .id;
    let provider = ctx
        .store
        .list_providers(tenant)
        .await?
        .into_iter()
        .next()
        .context("the provider")?
        .id;
    let week = UnixMillis(UnixMillis::now().0 + 7 * 24 * 3600 * 1000);
    let actor = Actor {
        id: "bench".to_owned(),
        request_id: None,
    };
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (store, vault, actor) = (ctx.store.clone(), ctx.vault.clone(), actor.clone());
        tasks.push(tokio::spawn(async move {
            for n in (worker + 1..=GRANTS).step_by(8) {
                let id = GrantId::generate();
                let secrets = GrantSecrets {
                    user_info: serde_json::json!({"id": format!("83{n:015}"), "username": format!("cold{n}")}),
                    access_token: SecretString::from(format!("bench-access-{n}")),
                    refresh_token: Some(SecretString::from(format!("bench-refresh-{n}"))),
                };
                let (user_info, access_token, refresh_token) =
                    grant::seal(&vault, tenant, id, &secrets).await?;
                let now = UnixMillis::now();
                let g = GrantRecord {
                    id,
                    user_id: format!("cold-{n}"),
                    provider,
                    discord_user_id: format!("83{n:015}"),
                    user_info,
                    scopes: vec!["guilds".to_owned(), "identify".to_owned()],
                    access_token,
                    refresh_token,
                    expires_at: week,
                    generation: 0,
                    status: GrantStatus::Active,
                    created_at: now,
                    updated_at: now,
                    authorization: None,
                    cooldown_until: None,
                };
                let audit = AuditEvent::success(&actor, "connection.created", id.to_string());
                store.insert_grant(tenant, &g, &audit).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    ctx.db.close().await;
    Ok(())
}

/// `wrk` token requests for random seeded users against a replica without the warm cache.
pub async fn measure(dep: &Deployment, tenant: &Tenant, secs: u32) -> anyhow::Result<Figures> {
    let (r, _) = dep
        .start(false, &[("LATCHKEY__AUTH__TOKEN_CACHE_TTL_SECS", "0")])
        .await?;
    let script = format!(
        "local threads = 0\n\
         function setup(thread) threads = threads + 1; thread:set(\"tid\", threads) end\n\
         function init(args) math.randomseed(os.time() * 7 + wrk.thread:get(\"tid\")) end\n\
         function request()\n  return wrk.format(\"POST\", \"/v1/tokens\", \
         {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"{key}\"}}, \
         '{{\"user_id\":\"cold-' .. math.random(1, {GRANTS}) .. '\"}}')\nend\n",
        key = tenant.tool
    );
    let f = load::wrk(&format!("{}/v1/tokens", r.api), &script, 64, secs).await;
    r.stop().await;
    f
}
