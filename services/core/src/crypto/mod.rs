//! Envelope encryption of secrets at rest (security.md B1, DEC6, §6.4).
//!
//! Master keys (from configuration, or a generated key file in the embedded default) wrap
//! per-tenant, versioned data keys; data keys seal individual column values with AES-256-GCM.
//! The additional authenticated data binds every sealed value to its tenant, table, row, column
//! and data-key version, so a ciphertext copied anywhere else fails to open.

mod keyring;
mod material;
mod vault;

pub use keyring::{Keyring, MasterKeyId, WrappedKey};
pub use material::{KeyMaterial, KeyMaterialError};
pub use vault::{KeySource, RotationReport, Vault};

/// Where a sealed value lives; becomes the additional authenticated data.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    /// The table holding the value.
    pub table: &'static str,
    /// The primary id of the row.
    pub row: &'a str,
    /// The column holding the value.
    pub column: &'static str,
}

/// Why a value could not be sealed or opened. Never carries key material or plaintext.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: the ciphertext was altered, moved, or belongs to another tenant.
    #[error("decryption failed: the ciphertext was altered or does not belong here")]
    Tampered,
    /// The sealed value is not in a format this version understands.
    #[error("sealed value is malformed")]
    Malformed,
    /// The data key is wrapped by a master key that is not configured.
    #[error(
        "unknown_master_key: data key v{version} of tenant {tenant} is wrapped by master key {master_key_id}, which is not configured"
    )]
    UnknownMasterKey {
        /// The tenant whose data key it is.
        tenant: String,
        /// The data-key version.
        version: u32,
        /// The id of the missing master key.
        master_key_id: String,
    },
    /// No data key of this version exists for the tenant.
    #[error("tenant {tenant} has no data key v{version}")]
    MissingDataKey {
        /// The tenant.
        tenant: String,
        /// The data-key version named by the ciphertext.
        version: u32,
    },
    /// The key store failed while loading a data key.
    #[error("could not load data key: {0}")]
    Store(String),
}

/// Appends `part` with a 4-byte big-endian length prefix, so that no two different lists of
/// parts produce the same bytes.
pub(crate) fn push_lp(buf: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(part);
}
