//! The vault: per-tenant data keys (loaded, unwrapped and cached) and the sealing of column
//! values with them. Also the online re-wrap used by `latchkey keys rotate`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use moka::future::Cache;
use zeroize::Zeroizing;

use super::{Aad, CryptoError, Keyring, MasterKeyId, push_lp};
use crate::TenantId;
use crate::ports::{TenantKeyRecord, TenantKeyStore};
use crate::time::UnixMillis;

/// Where the master keys come from, when they can change while the process runs (the embedded
/// key file, which `latchkey keys rotate` may extend from another process).
pub trait KeySource: Send + Sync {
    /// Reads the current master-key list.
    fn load(&self) -> Result<Keyring, String>;
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Data keys examined.
    pub total: usize,
    /// Data keys re-wrapped under the primary master key by this run.
    pub rewrapped: usize,
    /// Data keys that were already wrapped by the primary master key.
    pub already_current: usize,
}

type DataKey = Arc<Zeroizing<[u8; 32]>>;

/// Seals and opens column values with per-tenant data keys.
pub struct Vault {
    keyring: RwLock<Arc<Keyring>>,
    source: Option<Arc<dyn KeySource>>,
    store: Arc<dyn TenantKeyStore>,
    data_keys: Cache<(TenantId, u32), DataKey>,
    current: Cache<TenantId, u32>,
}

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 12;

impl Vault {
    /// A vault over `store`, with `keyring` and, when the keys can change at run time, the
    /// source to reload them from.
    pub fn new(
        keyring: Keyring,
        source: Option<Arc<dyn KeySource>>,
        store: Arc<dyn TenantKeyStore>,
    ) -> Self {
        Self {
            keyring: RwLock::new(Arc::new(keyring)),
            source,
            store,
            data_keys: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .support_invalidation_closures()
                .build(),
            current: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// The master keys in force.
    pub fn keyring(&self) -> Arc<Keyring> {
        match self.keyring.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// A fresh data key (version 1) for a new tenant, wrapped under the primary master key.
    pub fn new_tenant_key(&self, tenant: TenantId) -> TenantKeyRecord {
        // The key file may have gained a newer primary key (`latchkey keys rotate` in another
        // process): new data keys are wrapped under the newest key.
        if let Some(source) = &self.source {
            match source.load() {
                Ok(ring) => {
                    if let Ok(mut g) = self.keyring.write() {
                        *g = Arc::new(ring);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-read master keys; wrapping with the loaded ones")
                }
            }
        }
        let mut dk = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut OsRng, dk.as_mut());
        let wrapped = self.keyring().wrap(tenant, 1, &dk);
        TenantKeyRecord {
            version: 1,
            wrapped,
            created_at: UnixMillis::now(),
        }
    }

    /// Encrypts `plaintext` for the place `aad` names, under the tenant's current data key.
    pub async fn seal(
        &self,
        tenant: TenantId,
        aad: Aad<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let version = self.current_version(tenant).await?;
        let key = self.data_key(tenant, version).await?;
        let cipher = Aes256Gcm::new((&**key).into());
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad_bytes = value_aad(tenant, aad, version);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::Malformed)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts a value sealed by [`Vault::seal`] for exactly the same tenant and place.
    pub async fn open(
        &self,
        tenant: TenantId,
        aad: Aad<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != FORMAT_V1 {
            return Err(CryptoError::Malformed);
        }
        let version = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let key = self.data_key(tenant, version).await?;
        let cipher = Aes256Gcm::new((&**key).into());
        let aad_bytes = value_aad(tenant, aad, version);
        cipher
            .decrypt(
                Nonce::from_slice(&sealed[5..HEADER_LEN]),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: &aad_bytes,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                tracing::error!(
                    tenant_id = %tenant, table = aad.table, column = aad.column,
                    "decryption failed: a sealed value was altered or moved"
                );
                CryptoError::Tampered
            })
    }

    /// Drops every cached key of a tenant (after the tenant is deleted).
    pub async fn forget_tenant(&self, tenant: TenantId) {
        self.current.invalidate(&tenant).await;
        if let Err(e) = self
            .data_keys
            .invalidate_entries_if(move |(t, _), _| *t == tenant)
        {
            tracing::error!(tenant_id = %tenant, error = %e, "could not evict a tenant's data keys");
        }
    }

    /// Unwraps every stored data key; fails with the first one that no configured master key
    /// can unwrap. Run at start so that a missing key refuses start-up instead of failing later.
    pub async fn check_all_unwrappable(&self) -> Result<usize, CryptoError> {
        let all = self.stored_keys().await?;
        let ring = self.keyring();
        for (tenant, rec) in &all {
            ring.unwrap(*tenant, rec.version, &rec.wrapped)?;
        }
        Ok(all.len())
    }

    /// Re-wraps every data key not yet under the primary master key. Idempotent and resumable:
    /// each key is written with a conditional update, so a rotation killed midway is simply
    /// run again. `progress(done, total)` is called after each key.
    pub async fn rotate(
        &self,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<RotationReport, CryptoError> {
        let all = self.stored_keys().await?;
        let ring = self.keyring();
        let primary = ring.primary_id();
        let mut report = RotationReport {
            total: all.len(),
            ..RotationReport::default()
        };
        for (i, (tenant, rec)) in all.iter().enumerate() {
            if rec.wrapped.master_key_id == primary {
                report.already_current += 1;
            } else {
                let dk = ring.unwrap(*tenant, rec.version, &rec.wrapped)?;
                let new = ring.wrap(*tenant, rec.version, &dk);
                let changed = self
                    .store
                    .rewrap_tenant_key(*tenant, rec.version, &rec.wrapped.master_key_id, &new)
                    .await
                    .map_err(|e| CryptoError::Store(e.to_string()))?;
                if changed {
                    report.rewrapped += 1;
                } else {
                    report.already_current += 1;
                }
            }
            progress(i + 1, all.len());
        }
        Ok(report)
    }

    async fn stored_keys(&self) -> Result<Vec<(TenantId, TenantKeyRecord)>, CryptoError> {
        self.store
            .all_tenant_keys()
            .await
            .map_err(|e| CryptoError::Store(e.to_string()))
    }

    async fn current_version(&self, tenant: TenantId) -> Result<u32, CryptoError> {
        let store = Arc::clone(&self.store);
        self.current
            .try_get_with(tenant, async move {
                match store.latest_tenant_key(tenant).await {
                    Ok(Some(rec)) => Ok(rec.version),
                    Ok(None) => Err(CryptoError::MissingDataKey {
                        tenant: tenant.to_string(),
                        version: 0,
                    }),
                    Err(e) => Err(CryptoError::Store(e.to_string())),
                }
            })
            .await
            .map_err(unshare)
    }

    async fn data_key(&self, tenant: TenantId, version: u32) -> Result<DataKey, CryptoError> {
        self.data_keys
            .try_get_with((tenant, version), self.load_data_key(tenant, version))
            .await
            .map_err(unshare)
    }

    async fn load_data_key(&self, tenant: TenantId, version: u32) -> Result<DataKey, CryptoError> {
        let rec = self
            .store
            .tenant_key(tenant, version)
            .await
            .map_err(|e| CryptoError::Store(e.to_string()))?
            .ok_or_else(|| CryptoError::MissingDataKey {
                tenant: tenant.to_string(),
                version,
            })?;
        match self.keyring().unwrap(tenant, version, &rec.wrapped) {
            Err(CryptoError::UnknownMasterKey { .. })
                if self.reload(&rec.wrapped.master_key_id) =>
            {
                Ok(Arc::new(self.keyring().unwrap(
                    tenant,
                    version,
                    &rec.wrapped,
                )?))
            }
            Err(e) => {
                if let CryptoError::UnknownMasterKey { .. } = e {
                    tracing::error!(tenant_id = %tenant, error = %e, "unknown_master_key");
                }
                Err(e)
            }
            Ok(k) => Ok(Arc::new(k)),
        }
    }

    /// Reloads the master keys from the source when it now has `wanted`; true if it does.
    fn reload(&self, wanted: &MasterKeyId) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        match source.load() {
            Ok(ring) if ring.contains(wanted) => {
                tracing::info!(master_key_id = %wanted, "master keys reloaded from their source");
                if let Ok(mut g) = self.keyring.write() {
                    *g = Arc::new(ring);
                }
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::error!(error = %e, "could not reload master keys");
                false
            }
        }
    }
}

fn unshare(e: Arc<CryptoError>) -> CryptoError {
    (*e).clone()
}

fn value_aad(tenant: TenantId, aad: Aad<'_>, version: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    push_lp(&mut out, tenant.to_string().as_bytes());
    push_lp(&mut out, aad.table.as_bytes());
    push_lp(&mut out, aad.row.as_bytes());
    push_lp(&mut out, aad.column.as_bytes());
    push_lp(&mut out, &version.to_be_bytes());
    out
}
