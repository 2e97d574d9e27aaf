//! 256-bit key material as configured by operators (base64), with a stable public fingerprint
//! used as the key's id. Shared by master keys and API-key peppers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why a configured key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    /// The value is not valid base64.
    #[error("is not valid base64 (expected 32 random bytes, base64-encoded)")]
    NotBase64,
    /// The value decodes to the wrong number of bytes.
    #[error("decodes to {0} bytes; a key must be exactly 32 bytes (44 base64 characters)")]
    WrongLength(usize),
}

/// 32 bytes of secret key material. Zeroised on drop; `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct KeyMaterial {
    bytes: Zeroizing<[u8; 32]>,
    fingerprint: String,
}

impl KeyMaterial {
    /// Fresh random key material.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut());
        Self::from_bytes(bytes)
    }

    /// Parses base64 (standard alphabet, padded or not; surrounding whitespace ignored).
    pub fn from_base64(s: &str) -> Result<Self, KeyMaterialError> {
        let trimmed = s.trim().trim_end_matches('=');
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .map_err(|_| KeyMaterialError::NotBase64)?,
        );
        let arr: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyMaterialError::WrongLength(decoded.len()))?;
        Ok(Self::from_bytes(Zeroizing::new(arr)))
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        // The fingerprint is an HMAC under the key itself: it names the key without revealing it.
        let fingerprint = match Hmac::<Sha256>::new_from_slice(bytes.as_ref()) {
            Ok(mut mac) => {
                mac.update(b"latchkey key fingerprint v1");
                hex::encode(&mac.finalize().into_bytes()[..8])
            }
            Err(_) => String::new(),
        };
        Self { bytes, fingerprint }
    }

    /// The key as base64, for writing a generated key file or printing a new key once.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    /// 16 hex digits that identify the key; safe to store and log.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({}, [REDACTED])", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_generated_keys_and_rejects_wrong_lengths() {
        let k = KeyMaterial::generate();
        let again = KeyMaterial::from_base64(&k.to_base64()).unwrap();
        assert_eq!(k.fingerprint(), again.fingerprint());
        assert_eq!(
            KeyMaterial::from_base64("c2hvcnQ=").unwrap_err(),
            KeyMaterialError::WrongLength(5)
        );
        assert_eq!(
            KeyMaterial::from_base64("not base64!").unwrap_err(),
            KeyMaterialError::NotBase64
        );
        assert!(!format!("{k:?}").contains(k.to_base64().as_str()));
    }
}
