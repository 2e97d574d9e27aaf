//! The start-up seam: `Application::build` opens everything and binds both listeners (port 0
//! allowed, the bound addresses reported), `run_until_stopped` serves until the shutdown future
//! resolves, then drains in-flight requests and closes the database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use latchkey_core::tenant;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::context::{Context, Migrations, StartupError};
use crate::metrics::Metrics;
use crate::routes::{self, AppState, Listener};
use crate::settings::Settings;

/// Request bodies over this size get 413 (specs/arcade-compat.md §3.3).
pub use latchkey_api::BODY_LIMIT;

/// A built, bound, not yet serving Latchkey.
pub struct Application {
    ctx: Context,
    api: TcpListener,
    ops: TcpListener,
    metrics: Arc<Metrics>,
    revoker: Arc<dyn latchkey_core::ports::DiscordRevoker>,
    authorizer: latchkey_authorization::Authorizer,
    tokens: latchkey_token::Tokens,
    custody: Arc<latchkey_core::custody::Custody>,
    audit_flusher: latchkey_core::audit_pipeline::Flusher,
    new_operator_key: Option<SecretString>,
    grpc: routes::grpc::Grpc,
}

impl Application {
    /// Opens the database and keys, bootstraps the operator key, binds both listeners.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let ctx = Context::open(settings, Migrations::AsConfigured).await?;
        let new_operator_key = if ctx.settings.auth.operator_key.is_some() {
            None
        } else {
            tenant::bootstrap_operator_key(ctx.store.as_ref(), &ctx.peppers)
                .await
                .map_err(StartupError::OperatorKeyBootstrap)?
        };
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| StartupError::Bind {
                    addr,
                    message: e.to_string(),
                })
        };
        let metrics = Arc::new(Metrics::new());
        let meters = latchkey_core::metrics::Meters::new(metrics.meter());
        let discord = latchkey_discord::DiscordClient::with_propagator(
            latchkey_discord::ClientConfig {
                breaker: ctx.settings.discord.breaker(),
                ..Default::default()
            },
            Some(crate::telemetry::discord_propagator()),
        )
        .map_err(StartupError::Discord)?;
        metrics.observe(ctx.waiters.clone(), discord.clone());
        let revoker: Arc<dyn latchkey_core::ports::DiscordRevoker> =
            Arc::new(crate::discord::Revoker(discord.clone()));
        let oauth: Arc<dyn latchkey_core::ports::DiscordOAuth> =
            Arc::new(crate::discord::OAuth(discord));
        // One custody per process: the authorization and token services share its single
        // flight, so a grant is refreshed once whichever service asks.
        let custody = Arc::new(latchkey_core::custody::Custody::new(
            ctx.store.clone(),
            ctx.vault.clone(),
            oauth.clone(),
            ctx.settings.refresh_margin(),
            meters.clone(),
        ));
        let authorizer = authorizer(&ctx, &revoker, oauth.clone(), custody.clone(), &meters);
        let (audit, audit_flusher) = latchkey_core::audit_pipeline::AuditPipeline::new(
            ctx.store.clone(),
            ctx.settings.audit_queue_capacity(),
            ctx.settings.audit_flush_interval(),
            ctx.settings.audit_flush_batch(),
        );
        let tokens = tokens(&ctx, custody.clone(), oauth.clone(), audit, meters)?;
        let grpc = routes::grpc::build(
            control_plane_state(&ctx, &revoker, &oauth),
            authorizer.clone(),
            tokens.clone(),
        )
        .await?;
        let api = bind(ctx.settings.server.api_addr).await?;
        let ops = bind(ctx.settings.server.ops_addr).await?;
        Ok(Self {
            ctx,
            api,
            ops,
            metrics,
            revoker,
            authorizer,
            tokens,
            custody,
            audit_flusher,
            new_operator_key,
            grpc,
        })
    }

    /// Where the API listener is bound.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
            .local_addr()
            .unwrap_or(self.ctx.settings.server.api_addr)
    }

    /// Where the operations listener is bound.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops
            .local_addr()
            .unwrap_or(self.ctx.settings.server.ops_addr)
    }

    /// The operator key created by this start (first start of an empty database), to be shown
    /// once.
    pub fn take_new_operator_key(&mut self) -> Option<SecretString> {
        self.new_operator_key.take()
    }

    /// The opened context (for the CLI's start-up report).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    fn state(&self) -> AppState {
        AppState {
            store: self.ctx.store.clone(),
            authenticator: self.ctx.authenticator.clone(),
            metrics: self.metrics.clone(),
        }
    }

    fn api_router(&self) -> Router {
        let (health, control_plane, authorization, tokens, doc) = api_parts();
        let control_plane = control_plane.with_state(control_plane_state(
            &self.ctx,
            &self.revoker,
            &self.authorizer.discord,
        ));
        let authorization = authorization
            .merge(latchkey_authorization::browser_routes())
            .with_state(self.authorizer.clone());
        let tokens = tokens.with_state(self.tokens.clone());
        let docs = Router::new()
            .route("/docs", get(routes::docs::page))
            .route("/docs/openapi.json", get(routes::docs::json))
            .route("/docs/openapi.yaml", get(routes::docs::yaml))
            .with_state(routes::docs::Docs::new(&doc));
        health
            .with_state(self.state())
            .merge(control_plane)
            .merge(authorization)
            .merge(tokens)
            .merge(docs)
            .merge(routes::dashboard::router(
                &self.ctx.settings.server.dashboard_dir,
            ))
            .merge(self.grpc.router.clone())
            // Arcade's routes under /v1/tools that Latchkey does not serve would otherwise be
            // taken for tool names.
            .route("/v1/tools/execute", axum::routing::any(routes::not_found))
            .route(
                "/v1/tools/requirements",
                axum::routing::any(routes::not_found),
            )
            .fallback(routes::not_found)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(routes::context::RequestContextLayer::new(
                self.metrics.clone(),
                Listener("api"),
            ))
    }

    fn ops_router(&self) -> Router {
        Router::new()
            .route("/healthz", get(routes::ops::healthz))
            .route("/readyz", get(routes::ops::readyz))
            .route("/metrics", get(routes::ops::metrics))
            .fallback(routes::not_found)
            .layer(routes::context::RequestContextLayer::new(
                self.metrics.clone(),
                Listener("ops"),
            ))
            .with_state(self.state())
    }

    /// Every second, works off the revocations at Discord that are owed and due (on every
    /// replica; claims lease rows, so no two replicas try one at once).
    fn work_off_revocations(&self) -> tokio::task::JoinHandle<()> {
        let store = self.ctx.store.clone();
        let vault = self.ctx.vault.clone();
        let revoker = self.revoker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match latchkey_core::revocation::run_due(store.as_ref(), &vault, revoker.as_ref())
                    .await
                {
                    Ok((0, 0)) => {}
                    Ok((revoked, owed)) => {
                        tracing::info!(revoked, owed, "worked off owed revocations")
                    }
                    Err(e) => tracing::warn!(error = %e, "could not work off owed revocations"),
                }
            }
        })
    }

    /// Says loudly at start-up which tenants complete authorizations without verifying the user
    /// (security.md V14).
    async fn warn_about_skip_mode(&self) {
        if !self.ctx.settings.skip_verification_allowed() {
            return;
        }
        let Ok(tenants) = self.ctx.store.list_tenants().await else {
            return;
        };
        let mut skipping = Vec::new();
        for t in tenants {
            if let Ok(Some(s)) = self.ctx.store.verification_settings(t.id).await
                && s.unsafe_skip_verification
            {
                skipping.push(t.id.to_string());
            }
        }
        if !skipping.is_empty() {
            tracing::warn!(
                tenants = %skipping.join(","),
                "these tenants have unsafe_skip_verification set: their users' authorizations complete WITHOUT user verification (development only)"
            );
        }
    }

    /// Every second, ends the flows that are due (lifetime over, or stuck mid-exchange) and
    /// revokes what they held (on every replica; each ending is a conditional update); every
    /// 10 s, purges authorizations past their retention.
    fn reap_flows(&self) -> tokio::task::JoinHandle<()> {
        let az = self.authorizer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                match latchkey_authorization::ending::reap(&az).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(ended = n, "ended expired authorization flows"),
                    Err(e) => tracing::warn!(error = e.message(), "could not end expired flows"),
                }
                // Purging is not urgent: every 10 s is enough.
                ticks += 1;
                if ticks % 10 == 1 {
                    match latchkey_authorization::ending::purge(&az).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(purged = n, "purged ended authorizations"),
                        Err(e) => {
                            tracing::warn!(error = e.message(), "could not purge authorizations")
                        }
                    }
                }
            }
        })
    }

    /// Keeps idle grants alive: refreshes active grants whose access tokens expire within the
    /// hour (on every replica; each refresh is exclusive across replicas).
    fn keep_grants_alive(&self) -> tokio::task::JoinHandle<()> {
        let custody = self.custody.clone();
        let every = self.ctx.settings.keep_alive_every();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match latchkey_core::custody::keep_alive(&custody, 20).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(refreshed = n, "kept idle grants alive"),
                    Err(e) => tracing::warn!(error = %e, "keep-alive failed"),
                }
            }
        })
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (bounded by `server.shutdown_grace_secs`), and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.warn_about_skip_mode().await;
        let mut followers = self.ctx.follow_changes();
        followers.push(self.work_off_revocations());
        followers.push(self.reap_flows());
        followers.push(self.keep_grants_alive());
        let api_app = self.api_router().map_request(routes::strip_org_project);
        let ops_app = self.ops_router();
        let (stop_audit, audit_stopping) = tokio::sync::watch::channel(false);
        let audit = self.audit_flusher.spawn(audit_stopping)?;
        let grace = Duration::from_secs(self.ctx.settings.server.shutdown_grace_secs);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let api = crate::serve::serve(self.api, api_app, wait(rx.clone()));
        let ops = crate::serve::serve(self.ops, ops_app, wait(rx));
        let api = tokio::spawn(api);
        let ops = tokio::spawn(ops);
        shutdown.await;
        tracing::info!("shutting down: draining in-flight requests");
        routes::grpc::stopping(&self.grpc.health).await;
        // Held long-polls answer their current status now rather than hold the drain.
        self.authorizer.waiters.stop();
        let _ = tx.send(true);
        let drained = tokio::time::timeout(grace, async {
            let a = api.await;
            let o = ops.await;
            (a, o)
        })
        .await;
        match drained {
            Ok((a, o)) => {
                for r in [a, o] {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "listener task failed");
                    }
                }
            }
            Err(_) => tracing::warn!(
                grace_secs = grace.as_secs(),
                "grace period over; dropping unfinished requests"
            ),
        }
        // Every release answered so far is in the audit queue: persist it before the database
        // closes (bounded by the grace period, should the database be gone).
        let _ = stop_audit.send(true);
        match audit.finish(grace).await {
            latchkey_core::audit_pipeline::Finished::Written(written) => {
                tracing::info!(written, "audit pipeline flushed")
            }
            latchkey_core::audit_pipeline::Finished::Died => {
                tracing::error!("audit pipeline's thread failed")
            }
            latchkey_core::audit_pipeline::Finished::Abandoned => tracing::error!(
                grace_secs = grace.as_secs(),
                "audit events accepted before shutdown could not be written within the grace period"
            ),
        }
        for f in followers {
            f.abort();
        }
        // Spans and metrics still queued go out before the process ends.
        self.metrics.shutdown().await;
        crate::telemetry::flush_traces().await;
        self.ctx.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The control plane's state, shared by its REST routes and its gRPC service.
fn control_plane_state(
    ctx: &Context,
    revoker: &Arc<dyn latchkey_core::ports::DiscordRevoker>,
    discord: &Arc<dyn latchkey_core::ports::DiscordOAuth>,
) -> latchkey_control_plane::ControlPlane {
    latchkey_control_plane::ControlPlane {
        discord: discord.clone(),
        store: ctx.store.clone(),
        fresh: ctx.db.store(),
        revoker: revoker.clone(),
        vault: ctx.vault.clone(),
        peppers: ctx.peppers.clone(),
        authenticator: ctx.authenticator.clone(),
        public_url: ctx.settings.server.public_url.clone().into(),
        allowed_endpoint_origins: ctx.settings.discord.allowed_endpoint_origins.clone().into(),
        skip_allowed: ctx.settings.skip_verification_allowed(),
        url_policy: latchkey_core::urls::UrlPolicy {
            allow_insecure_loopback: ctx.settings.auth.allow_insecure_loopback_urls,
        },
        session_ttl: ctx.settings.dashboard_session_ttl(),
    }
}

fn public_url(ctx: &Context) -> Arc<str> {
    ctx.settings
        .server
        .public_url
        .trim_end_matches('/')
        .to_owned()
        .into()
}

/// The authorization service's state.
fn authorizer(
    ctx: &Context,
    revoker: &Arc<dyn latchkey_core::ports::DiscordRevoker>,
    discord: Arc<dyn latchkey_core::ports::DiscordOAuth>,
    custody: Arc<latchkey_core::custody::Custody>,
    meters: &latchkey_core::metrics::Meters,
) -> latchkey_authorization::Authorizer {
    latchkey_authorization::AuthorizationService {
        store: ctx.store.clone(),
        vault: ctx.vault.clone(),
        authenticator: ctx.authenticator.clone(),
        custody,
        discord,
        revoker: revoker.clone(),
        waiters: ctx.waiters.clone(),
        public_url: public_url(ctx),
        skip_allowed: ctx.settings.skip_verification_allowed(),
        page_key: Arc::new(ctx.peppers.derive("interstitial csrf")),
        flow_lifetime: ctx.settings.flow_lifetime(),
        retention: ctx.settings.authorization_retention(),
        url_policy: latchkey_core::urls::UrlPolicy {
            allow_insecure_loopback: ctx.settings.auth.allow_insecure_loopback_urls,
        },
        misses: Arc::default(),
        meters: meters.clone(),
    }
    .into()
}

/// The token service's state.
fn tokens(
    ctx: &Context,
    custody: Arc<latchkey_core::custody::Custody>,
    discord: Arc<dyn latchkey_core::ports::DiscordOAuth>,
    audit: latchkey_core::audit_pipeline::AuditPipeline,
    meters: latchkey_core::metrics::Meters,
) -> Result<latchkey_token::Tokens, StartupError> {
    // Tool grants are signed with keys derived from the peppers: the newest signs, the older
    // ones verify, and every replica with the same configuration derives the same keys.
    let seeds = ctx.peppers.derive_each("tool grant signing key v1");
    let grant_keys = latchkey_token::grants::GrantKeys::from_seeds(&seeds)
        .map_err(|e| StartupError::Grpc(format!("tool grant keys: {e}")))?;
    Ok(latchkey_token::TokenService {
        store: ctx.store.clone(),
        vault: ctx.vault.clone(),
        authenticator: ctx.authenticator.clone(),
        custody,
        public_url: public_url(ctx),
        skip_allowed: ctx.settings.skip_verification_allowed(),
        flow_lifetime: ctx.settings.flow_lifetime(),
        grant_keys: Arc::new(grant_keys),
        discord,
        grant_ttl: ctx.settings.tool_grant_ttl(),
        warm: ctx.warm.clone(),
        audit,
        meters,
    }
    .into())
}

/// The API routes that carry OpenAPI documentation, and the document they make.
fn api_parts() -> (
    Router<AppState>,
    Router<latchkey_control_plane::ControlPlane>,
    Router<latchkey_authorization::Authorizer>,
    Router<latchkey_token::Tokens>,
    utoipa::openapi::OpenApi,
) {
    let (health, health_doc) = utoipa_axum::router::OpenApiRouter::<AppState>::new()
        .routes(utoipa_axum::routes!(routes::health::get))
        .split_for_parts();
    let (control_plane, mut doc) = latchkey_control_plane::routes().split_for_parts();
    let (authorization, auth_doc) = latchkey_authorization::routes().split_for_parts();
    let (tokens, token_doc) = latchkey_token::routes().split_for_parts();
    doc.merge(health_doc);
    doc.merge(auth_doc);
    doc.merge(token_doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document_body_refusals(&mut doc);
    (health, control_plane, authorization, tokens, doc)
}

/// Every operation that takes a JSON body may also answer 413 (over 64 KiB) and 415 (not JSON,
/// compressed, or not UTF-8): the body layers refuse before any handler runs, so no handler
/// documents them. (Found by schemathesis, `make test-long`.)
fn document_body_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let refusal = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        .filter(|op| op.request_body.is_some())
        {
            op.responses
                .responses
                .entry("413".to_owned())
                .or_insert_with(|| refusal("`payload_too_large`: the body is over 64 KiB"));
            op.responses.responses.entry("415".to_owned()).or_insert_with(|| {
                refusal("`unsupported_media_type`: the body is not JSON (`Content-Type: application/json`), is compressed, or is not UTF-8")
            });
        }
    }
}

/// Latchkey's OpenAPI document (`latchkey openapi`, committed as `openapi.yaml`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts().4
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
