//! The master-key list: the first key wraps new data keys, every key unwraps.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::{CryptoError, KeyMaterial, push_lp};
use crate::TenantId;

/// The public id of a master key (`mk_` + its fingerprint); stored beside each wrapped data key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MasterKeyId(pub String);

impl std::fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A data key wrapped by a master key, as stored in `tenant_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The master key that wrapped it.
    pub master_key_id: MasterKeyId,
    /// Nonce ‖ AES-256-GCM ciphertext and tag of the 32-byte data key.
    pub bytes: Vec<u8>,
}

/// An ordered, non-empty list of master keys.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<KeyMaterial>,
}

const NONCE_LEN: usize = 12;

impl Keyring {
    /// A keyring; `None` when the list is empty.
    pub fn new(keys: Vec<KeyMaterial>) -> Option<Self> {
        if keys.is_empty() {
            None
        } else {
            Some(Self { keys })
        }
    }

    /// The id of the key that wraps new data keys.
    pub fn primary_id(&self) -> MasterKeyId {
        Self::id_of(&self.keys[0])
    }

    /// Every configured key id, primary first.
    pub fn ids(&self) -> Vec<MasterKeyId> {
        self.keys.iter().map(Self::id_of).collect()
    }

    /// Whether a key with this id is configured.
    pub fn contains(&self, id: &MasterKeyId) -> bool {
        self.keys.iter().any(|k| Self::id_of(k) == *id)
    }

    fn id_of(k: &KeyMaterial) -> MasterKeyId {
        MasterKeyId(format!("mk_{}", k.fingerprint()))
    }

    fn aad(tenant: TenantId, version: u32, master: &MasterKeyId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(96);
        push_lp(&mut aad, b"latchkey.tenant_keys.wrapped_key");
        push_lp(&mut aad, tenant.to_string().as_bytes());
        push_lp(&mut aad, &version.to_be_bytes());
        push_lp(&mut aad, master.0.as_bytes());
        aad
    }

    /// Wraps a data key under the primary master key.
    pub fn wrap(&self, tenant: TenantId, version: u32, data_key: &[u8; 32]) -> WrappedKey {
        let master = &self.keys[0];
        let id = Self::id_of(master);
        let cipher = Aes256Gcm::new(master.bytes().into());
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = Self::aad(tenant, version, &id);
        // Encryption with a valid key and a fresh nonce cannot fail for 32-byte input.
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: data_key,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ct);
        WrappedKey {
            master_key_id: id,
            bytes,
        }
    }

    /// Unwraps a stored data key with whichever configured master key wrapped it.
    pub fn unwrap(
        &self,
        tenant: TenantId,
        version: u32,
        wrapped: &WrappedKey,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let master = self
            .keys
            .iter()
            .find(|k| Self::id_of(k) == wrapped.master_key_id)
            .ok_or_else(|| CryptoError::UnknownMasterKey {
                tenant: tenant.to_string(),
                version,
                master_key_id: wrapped.master_key_id.0.clone(),
            })?;
        if wrapped.bytes.len() != NONCE_LEN + 32 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = wrapped.bytes.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(master.bytes().into());
        let aad = Self::aad(tenant, version, &wrapped.master_key_id);
        let plain = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
                .map_err(|_| CryptoError::Tampered)?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&plain);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_and_binding() {
        let old = KeyMaterial::generate();
        let new = KeyMaterial::generate();
        let ring = Keyring::new(vec![old.clone()]).unwrap();
        let t = TenantId::generate();
        let dk = [7u8; 32];
        let w = ring.wrap(t, 1, &dk);
        assert_eq!(*ring.unwrap(t, 1, &w).unwrap(), dk);
        // Bound to tenant and version.
        assert!(matches!(
            ring.unwrap(TenantId::generate(), 1, &w),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(ring.unwrap(t, 2, &w), Err(CryptoError::Tampered)));
        // A keyring without the wrapping key names the missing key.
        let other = Keyring::new(vec![new.clone()]).unwrap();
        let err = other.unwrap(t, 1, &w).unwrap_err();
        assert!(err.to_string().contains(&ring.primary_id().0), "{err}");
        // New primary first, old second: still unwraps, and wraps with the new one.
        let both = Keyring::new(vec![new, old]).unwrap();
        assert_eq!(*both.unwrap(t, 1, &w).unwrap(), dk);
        assert_eq!(both.wrap(t, 1, &dk).master_key_id, other.primary_id());
    }
}
