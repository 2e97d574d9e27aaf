//! The `latchkey` command line: `serve`, `migrate`, `tenant create|list`, `keys
//! rotate|prune|generate|new-operator-key`, `config check`.
//!
//! Exit codes: 0 success, 1 a runtime failure, 2 a configuration or start-up error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use latchkey_core::crypto::{KeyMaterial, Keyring};
use latchkey_core::tenant::{self, TenantName};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::context::{Context, Migrations};
use crate::keyfiles::KeyOrigin;
use crate::settings::{Settings, redact_password};
use crate::startup::{Application, shutdown_signal};
use crate::telemetry;

/// Latchkey: a self-hostable, multi-tenant auth broker for AI agents.
#[derive(Parser, Debug)]
#[command(name = "latchkey", version, about)]
pub struct Cli {
    /// A TOML settings file, applied over the defaults (environment `LATCHKEY__SECTION__KEY`
    /// overrides it).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: API listener and operations listener.
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage master keys and generate key material.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI document (YAML), as committed in openapi.yaml.
    Openapi,
}

/// Tenant commands.
#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant and print its id and one admin and one app key (shown once).
    Create {
        /// The tenant's display name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Key commands.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Re-wrap every tenant data key under the newest master key. With the embedded key file,
    /// first add a new master key to it (unless --no-new-key). Safe while servers run, and
    /// safe to re-run after an interruption.
    Rotate {
        /// Only re-wrap under the current first key (for example to finish an interrupted run).
        #[arg(long)]
        no_new_key: bool,
    },
    /// Remove master keys that no stored data key uses any more from the embedded key file.
    Prune,
    /// Print a new random 256-bit key (base64) for encryption.master_keys or auth.peppers.
    Generate,
    /// Print a new platform operator key for auth.operator_key.
    NewOperatorKey,
}

/// Configuration commands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings, secrets redacted.
    Check,
}

/// Parses the command line, runs the command, and maps failures to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands that need no settings.
    match &cli.command {
        Command::Keys(KeysCommand::Generate) => {
            println!("{}", KeyMaterial::generate().to_base64().as_str());
            return ExitCode::SUCCESS;
        }
        Command::Keys(KeysCommand::NewOperatorKey) => {
            println!(
                "{}",
                latchkey_core::apikey::NewKey::generate()
                    .whole
                    .expose_secret()
            );
            return ExitCode::SUCCESS;
        }
        Command::Openapi => {
            return match crate::startup::openapi().to_yaml() {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("latchkey: cannot render the OpenAPI document: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Serve
        | Command::Migrate
        | Command::Tenant(_)
        | Command::Keys(_)
        | Command::Config(_) => {}
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latchkey: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("latchkey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Inside the runtime: the OTLP exporters run on it.
    let _entered = runtime.enter();
    telemetry::init_logging(&settings.log);
    let code = runtime.block_on(run(cli.command, settings));
    // The log thread writes what is still queued before the process ends.
    telemetry::flush_logs();
    code
}

async fn run(command: Command, settings: Settings) -> ExitCode {
    match command {
        Command::Serve => serve(settings).await,
        Command::Config(ConfigCommand::Check) => {
            print!("{}", settings.to_redacted_toml());
            eprintln!("latchkey: configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Migrate => with_context(settings, Migrations::Apply, |ctx| async move {
            if ctx.applied_migrations.is_empty() {
                println!("database is up to date");
            } else {
                println!("applied migrations {:?}", ctx.applied_migrations);
            }
            Ok(())
        })
        .await,
        Command::Tenant(TenantCommand::Create { name, json }) => {
            with_context(settings, Migrations::AsConfigured, |ctx| async move {
                let name = TenantName::parse(&name).map_err(|e| e.to_string())?;
                let t = tenant::create_tenant(ctx.store.as_ref(), &ctx.vault, &ctx.peppers, name, &latchkey_core::audit::Actor::cli())
                    .await
                    .map_err(|e| e.to_string())?;
                if json {
                    println!(
                        "{}",
                        json!({
                            "tenant_id": t.tenant.id,
                            "name": t.tenant.name.as_str(),
                            "admin_key": t.admin_key.expose_secret(),
                            "app_key": t.app_key.expose_secret(),
                        })
                    );
                } else {
                    println!("Tenant {} created: {}", t.tenant.name.as_str(), t.tenant.id);
                    println!("  admin key: {}", t.admin_key.expose_secret());
                    println!("  app key:   {}", t.app_key.expose_secret());
                    println!("These keys are shown once and cannot be recovered; store them now.");
                }
                Ok(())
            })
            .await
        }
        Command::Tenant(TenantCommand::List { json }) => {
            with_context(settings, Migrations::AsConfigured, |ctx| async move {
                let tenants = ctx.store.list_tenants().await.map_err(|e| e.to_string())?;
                if json {
                    let list: Vec<_> = tenants
                        .iter()
                        .map(|t| json!({"tenant_id": t.id, "name": t.name.as_str(), "created_at_ms": t.created_at.0}))
                        .collect();
                    println!("{}", serde_json::Value::Array(list));
                } else {
                    for t in &tenants {
                        println!("{}  {}", t.id, t.name.as_str());
                    }
                }
                Ok(())
            })
            .await
        }
        Command::Keys(KeysCommand::Rotate { no_new_key }) => {
            with_context(settings, Migrations::AsConfigured, |ctx| rotate(ctx, no_new_key)).await
        }
        Command::Keys(KeysCommand::Prune) => with_context(settings, Migrations::AsConfigured, prune).await,
        Command::Keys(KeysCommand::Generate | KeysCommand::NewOperatorKey) | Command::Openapi => ExitCode::SUCCESS,
    }
}

async fn with_context<F, Fut>(settings: Settings, migrations: Migrations, f: F) -> ExitCode
where
    F: FnOnce(std::sync::Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let ctx = match Context::open(settings, migrations).await {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            eprintln!("latchkey: {e}");
            return ExitCode::from(2);
        }
    };
    let result = f(ctx.clone()).await;
    ctx.db.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn rotate(ctx: std::sync::Arc<Context>, no_new_key: bool) -> Result<(), String> {
    let ring = match (&ctx.master_origin, no_new_key) {
        (KeyOrigin::Configured, _) => {
            eprintln!(
                "master keys come from encryption.master_keys: re-wrapping under its first entry"
            );
            ctx.vault.keyring()
        }
        (KeyOrigin::File(_) | KeyOrigin::Generated(_), true) => ctx.vault.keyring(),
        (KeyOrigin::File(_) | KeyOrigin::Generated(_), false) => {
            let mut keys = ctx.master_keys.read().map_err(|e| e.to_string())?;
            keys.insert(0, KeyMaterial::generate());
            ctx.master_keys
                .write(&keys, false)
                .map_err(|e| e.to_string())?;
            let ring = Keyring::new(keys).ok_or("no master key")?;
            eprintln!(
                "added master key {} to {} (running servers load it when they meet it)",
                ring.primary_id(),
                ctx.master_keys.file.display()
            );
            std::sync::Arc::new(ring)
        }
    };
    let vault = latchkey_core::crypto::Vault::new((*ring).clone(), None, ctx.store.clone());
    let report = vault
        .rotate(|done, total| eprintln!("re-wrapped {done}/{total} data keys"))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "rotation complete: {} data keys, {} re-wrapped now, {} already under {}",
        report.total,
        report.rewrapped,
        report.already_current,
        ring.primary_id()
    );
    Ok(())
}

async fn prune(ctx: std::sync::Arc<Context>) -> Result<(), String> {
    if ctx.master_origin == KeyOrigin::Configured {
        return Err("master keys come from encryption.master_keys; remove unused entries there (`latchkey keys rotate` reports when nothing uses an old key)".to_owned());
    }
    let used: std::collections::HashSet<String> = ctx
        .store
        .all_tenant_keys()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(_, k)| k.wrapped.master_key_id.0)
        .collect();
    let keys = ctx.master_keys.read().map_err(|e| e.to_string())?;
    let before = keys.len();
    let kept: Vec<KeyMaterial> = keys
        .into_iter()
        .enumerate()
        .filter(|(i, k)| *i == 0 || used.contains(&format!("mk_{}", k.fingerprint())))
        .map(|(_, k)| k)
        .collect();
    ctx.master_keys
        .write(&kept, false)
        .map_err(|e| e.to_string())?;
    println!(
        "removed {} unused master key(s); {} kept",
        before - kept.len(),
        kept.len()
    );
    Ok(())
}

async fn serve(settings: Settings) -> ExitCode {
    let db_url = redact_password(&settings.database_url());
    let dashboard = format!(
        "{}/dashboard/{}",
        settings.server.public_url.trim_end_matches('/'),
        if settings.server.dashboard_dir.join("index.html").is_file() {
            String::new()
        } else {
            format!(
                "   (not built: run `make dashboard`; looked in {})",
                settings.server.dashboard_dir.display()
            )
        }
    );
    let mut app = match Application::build(settings).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("latchkey: {e}");
            return ExitCode::from(2);
        }
    };
    let (api, ops) = (app.api_addr(), app.ops_addr());
    println!("Latchkey {} is running.", env!("CARGO_PKG_VERSION"));
    println!("  API:        http://{api}   (REST /v1, health: http://{api}/v1/health)");
    println!("  Dashboard:  {dashboard}");
    println!("  Operations: http://{ops}   (/healthz, /readyz, /metrics)");
    println!("  Database:   {db_url}");
    if let Some(key) = app.take_new_operator_key() {
        println!(
            "  Platform operator key (shown once; store it now): {}",
            key.expose_secret()
        );
        tracing::warn!("created the platform operator key and printed it to stdout once");
    }
    tracing::info!(%api, %ops, backend = app.context().store.backend(), "listening");
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: {e}");
            ExitCode::FAILURE
        }
    }
}
