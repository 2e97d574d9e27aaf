//! Everything a command needs, opened once: the database (migrated or checked), the master
//! keys and the vault (every stored data key must unwrap), the peppers and the authenticator.
//! `latchkey serve` and the CLI commands share this, so they agree on every start-up check.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::StoreError;
use latchkey_core::apikey::Peppers;
use latchkey_core::auth::Authenticator;
use latchkey_core::cache::{CACHE_TTL, CachedStore};
use latchkey_core::crypto::{CryptoError, KeySource, Keyring, Vault};
use latchkey_core::ports::Store;
use latchkey_store::{AnyStore, OpenError, PoolOptions};

use crate::keyfiles::{FileKeySource, KeyFileError, KeyList, KeyOrigin, default_in};
use crate::settings::Settings;

/// Why Latchkey cannot start. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Migrations are pending and auto-migration is off.
    #[error(
        "the database needs migrations {0:?}; run `latchkey migrate` (or set database.auto_migrate = true)"
    )]
    PendingMigrations(Vec<i64>),
    /// A key file problem.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A stored data key cannot be unwrapped by any configured master key.
    #[error(
        "refusing to start: {0}. Add that master key back to encryption.master_keys (or the key file) — data is never silently dropped"
    )]
    Keys(CryptoError),
    /// The store failed during start-up.
    #[error("database error during start-up: {0}")]
    Store(#[from] StoreError),
    /// The configured operator key is malformed.
    #[error("auth.operator_key: {0}")]
    OperatorKey(String),
    /// The first operator key could not be created.
    #[error("could not create the platform operator key: {0}")]
    OperatorKeyBootstrap(latchkey_core::CoreError),
    /// The Discord client could not be built.
    #[error("could not set up the Discord client: {0}")]
    Discord(latchkey_discord::DiscordError),
    /// The gRPC services could not be built (a broken compiled-in descriptor set).
    #[error("gRPC services: {0}")]
    Grpc(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        message: String,
    },
}

/// Whether opening may migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Follow `database.auto_migrate`.
    AsConfigured,
    /// Migrate now (`latchkey migrate`).
    Apply,
}

/// The opened runtime.
pub struct Context {
    /// The settings in force.
    pub settings: Arc<Settings>,
    /// The database handle (migrations, close).
    pub db: AnyStore,
    /// The domain ports, with providers and tools served from [`Context::cache`].
    pub store: Arc<dyn Store>,
    /// The look-up cache in front of the store (invalidated by the store's change notices).
    pub cache: Arc<CachedStore>,
    /// Encryption at rest.
    pub vault: Arc<Vault>,
    /// API-key hashing.
    pub peppers: Arc<Peppers>,
    /// API-key authentication.
    pub authenticator: Arc<Authenticator>,
    /// Where the master keys came from.
    pub master_origin: KeyOrigin,
    /// The master-key list's file (used when keys are not configured).
    pub master_keys: KeyList,
    /// Migration versions applied while opening.
    pub applied_migrations: Vec<i64>,
    /// Long-poll waiters of this process, woken by the store's change notices.
    pub waiters: Arc<latchkey_authorization::Waiters>,
    /// The token service's warm tokens, kept in step by [`Context::cache`].
    pub warm: Arc<latchkey_core::warm::WarmTokens>,
}

impl Context {
    /// Applies the store's change notices to this process's caches until the store closes; on
    /// PostgreSQL it also listens for every other replica's. Returns the tasks to stop.
    pub fn follow_changes(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut rx = self.db.changes();
        let cache = self.cache.clone();
        let authenticator = self.authenticator.clone();
        let vault = self.vault.clone();
        let waiters = self.waiters.clone();
        let apply = tokio::spawn(async move {
            while let Some(change) = latchkey_store::next_change(&mut rx).await {
                waiters.apply(&change);
                cache.apply(&change).await;
                authenticator.apply(&change).await;
                // A deleted tenant's data keys leave every replica's memory at once (§6.4).
                if let latchkey_core::cache::Change::Tenant(t) = change {
                    vault.forget_tenant(t).await;
                }
            }
        });
        std::iter::once(apply)
            .chain(self.db.listen_for_changes())
            .collect()
    }

    /// Opens and checks everything, or says exactly what is wrong.
    pub async fn open(settings: Settings, migrations: Migrations) -> Result<Self, StartupError> {
        let opts = PoolOptions {
            max_connections: settings.database.max_connections,
            acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_secs),
        };
        let db = AnyStore::open(&settings.database_url(), &opts).await?;
        let applied_migrations = if migrations == Migrations::Apply || settings.auto_migrate() {
            db.migrate().await?
        } else {
            let pending = db.pending_migrations().await?;
            if !pending.is_empty() {
                return Err(StartupError::PendingMigrations(pending));
            }
            Vec::new()
        };
        let warm = Arc::new(latchkey_core::warm::WarmTokens::new(
            settings.token_cache_ttl(),
        ));
        let cache =
            Arc::new(CachedStore::new(db.store(), CACHE_TTL).with_warm_tokens(warm.clone()));
        let store: Arc<dyn Store> = cache.clone();
        let has_data =
            !store.all_tenant_keys().await?.is_empty() || store.count_operator_keys().await? > 0;
        let may_generate = settings.is_sqlite();

        let master_keys = KeyList {
            what: "master-key",
            config_key: "encryption.master_keys",
            file: default_in(
                &settings.data_dir,
                settings.encryption.key_file.as_ref(),
                "master.key",
            ),
        };
        let (keys, master_origin) =
            master_keys.load(&settings.encryption.master_keys, may_generate, has_data)?;
        let source: Option<Arc<dyn KeySource>> = match &master_origin {
            KeyOrigin::Configured => None,
            KeyOrigin::File(path) | KeyOrigin::Generated(path) => {
                master_keys.check_permissions();
                tracing::warn!(
                    path = %path.display(),
                    "master keys come from a key file beside the database: this protects copies of the database, not the host; production should set encryption.master_keys"
                );
                Some(Arc::new(FileKeySource(master_keys.clone())))
            }
        };
        if let KeyOrigin::Generated(path) = &master_origin {
            tracing::warn!(path = %path.display(), "generated a new master-key file (mode 0600); back it up with the database");
        }
        let keyring = Keyring::new(keys).ok_or(StartupError::Keys(CryptoError::Malformed))?;
        let vault = Arc::new(Vault::new(keyring, source, store.clone()));
        vault
            .check_all_unwrappable()
            .await
            .map_err(StartupError::Keys)?;

        let pepper_list = KeyList {
            what: "pepper",
            config_key: "auth.peppers",
            file: default_in(
                &settings.data_dir,
                settings.auth.pepper_file.as_ref(),
                "pepper.key",
            ),
        };
        let (pepper_keys, pepper_origin) =
            pepper_list.load(&settings.auth.peppers, may_generate, has_data)?;
        if pepper_origin != KeyOrigin::Configured {
            pepper_list.check_permissions();
        }
        let peppers =
            Arc::new(Peppers::new(pepper_keys).ok_or(StartupError::Keys(CryptoError::Malformed))?);
        let authenticator = Arc::new(
            Authenticator::new(
                store.clone(),
                peppers.clone(),
                settings.auth.operator_key.as_ref(),
            )
            .map_err(|e| StartupError::OperatorKey(e.to_string()))?,
        );
        Ok(Self {
            settings: Arc::new(settings),
            db,
            store,
            cache,
            vault,
            peppers,
            authenticator,
            master_origin,
            master_keys,
            applied_migrations,
            waiters: Arc::default(),
            warm,
        })
    }
}
