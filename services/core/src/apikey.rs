//! API keys: the wire grammar `lk_<key_id>_<secret>`, generation, and HMAC-SHA256 hashing
//! under a versioned server-side pepper (security.md DEC5, B18, §5.8).

use std::fmt;

use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ApiKeyId;
use crate::crypto::KeyMaterial;
use crate::ports::{ApiKeyRecord, OperatorKeyRecord};
use crate::time::UnixMillis;

/// Every Latchkey key starts with this.
pub const WIRE_PREFIX: &str = "lk_";
/// Characters in the secret part: 43 base62 characters carry 256 bits.
pub const SECRET_LEN: usize = 43;
/// The exact length of a well-formed key.
pub const WIRE_LEN: usize = WIRE_PREFIX.len() + ApiKeyId::LEN + 1 + SECRET_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a key may do. Roles do not imply each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// Platform operator: tenant management only.
    Operator,
    /// A tenant's control plane.
    Admin,
    /// A tenant's app: `auth.start`, status, `confirm_user`, `tools.authorize`.
    App,
    /// One registered tool: the token service and the proxy.
    Tool,
}

impl KeyRole {
    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Operator => "operator",
            KeyRole::Admin => "admin",
            KeyRole::App => "app",
            KeyRole::Tool => "tool",
        }
    }

    /// Parses the stored and wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(KeyRole::Operator),
            "admin" => Some(KeyRole::Admin),
            "app" => Some(KeyRole::App),
            "tool" => Some(KeyRole::Tool),
            _ => None,
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a presented string is not a well-formed Latchkey key. For logs only: every cause gets
/// the same answer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// Nothing was presented.
    #[error("no key")]
    Empty,
    /// Longer than any key; rejected before hashing.
    #[error("key too long")]
    TooLong,
    /// Leading or trailing whitespace (for example a newline copied from a `.env` file).
    #[error("key has surrounding whitespace")]
    Whitespace,
    /// Does not start with `lk_`: not a Latchkey key.
    #[error("not a Latchkey key (expected the lk_ prefix)")]
    ForeignPrefix,
    /// Starts with `lk_` but does not match the grammar.
    #[error("malformed Latchkey key")]
    Malformed,
}

/// A key presented by a caller that passed the grammar check.
pub struct PresentedKey {
    id: ApiKeyId,
    whole: SecretString,
}

impl PresentedKey {
    /// Checks the anchored grammar; touches no database.
    pub fn parse(raw: &str) -> Result<Self, KeyParseError> {
        if raw.is_empty() {
            return Err(KeyParseError::Empty);
        }
        if raw.len() > 4 * WIRE_LEN {
            return Err(KeyParseError::TooLong);
        }
        if raw.trim() != raw {
            return Err(KeyParseError::Whitespace);
        }
        let rest = raw
            .strip_prefix(WIRE_PREFIX)
            .ok_or(KeyParseError::ForeignPrefix)?;
        if !raw.is_ascii() {
            return Err(KeyParseError::Malformed);
        }
        if raw.len() != WIRE_LEN {
            return Err(KeyParseError::Malformed);
        }
        let (id, secret) = rest.split_at(ApiKeyId::LEN);
        let secret = secret.strip_prefix('_').ok_or(KeyParseError::Malformed)?;
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyParseError::Malformed);
        }
        let id = ApiKeyId::parse(id).map_err(|_| KeyParseError::Malformed)?;
        Ok(Self {
            id,
            whole: SecretString::from(raw),
        })
    }

    /// The key id, used for the look-up.
    pub fn id(&self) -> ApiKeyId {
        self.id
    }

    /// The whole key, for hashing.
    pub fn secret(&self) -> &SecretString {
        &self.whole
    }
}

/// A freshly minted key: its id and the whole wire form, shown to its owner exactly once.
pub struct NewKey {
    /// The key id.
    pub id: ApiKeyId,
    /// `lk_<key_id>_<secret>`.
    pub whole: SecretString,
}

impl NewKey {
    /// Mints a key with a 256-bit base62 secret.
    pub fn generate() -> Self {
        let id = ApiKeyId::generate();
        let mut rng = rand::rngs::OsRng;
        let secret: String = (0..SECRET_LEN)
            .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
            .collect();
        Self {
            id,
            whole: SecretString::from(format!("{WIRE_PREFIX}{id}_{secret}")),
        }
    }
}

/// A stored key hash: which pepper computed it, and the MAC.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash {
    /// `pp_` + the pepper's fingerprint.
    pub pepper_id: String,
    /// HMAC-SHA256(pepper, whole key).
    pub mac: [u8; 32],
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}, …)", self.pepper_id)
    }
}

/// The outcome of checking a presented key against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// The key matches. `rehash` is set when it matched under an older pepper and should be
    /// stored again under the newest.
    Valid {
        /// The hash under the newest pepper, if the stored one is older.
        rehash: Option<KeyHash>,
    },
    /// The key does not match (or its pepper is no longer configured).
    Invalid,
}

/// What a pepper's id starts with; its key's fingerprint follows.
const PEPPER_ID_PREFIX: &str = "pp_";

/// The pepper list: the first computes new hashes, all verify.
#[derive(Debug, Clone)]
pub struct Peppers {
    keys: Vec<Pepper>,
}

/// A pepper with its HMAC already keyed: every request's key check starts from a copy of it,
/// instead of hashing the key into HMAC's inner and outer pads again (two of the five SHA-256
/// blocks of a check). The keyed state lives as long as the peppers, as the material does;
/// unlike the material it is not zeroised when dropped (`hmac` offers no way to), which
/// happens only when the process ends.
#[derive(Clone)]
struct Pepper {
    material: KeyMaterial,
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keyed state is derived from the secret: only the material's own (redacted) form.
        f.debug_struct("Pepper")
            .field("material", &self.material)
            .finish_non_exhaustive()
    }
}

impl Peppers {
    /// A pepper list; `None` when empty.
    pub fn new(keys: Vec<KeyMaterial>) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        let keys = keys
            .into_iter()
            .map(|material| {
                // HMAC takes a key of any length.
                let keyed = Hmac::<Sha256>::new_from_slice(material.bytes()).ok()?;
                Some(Pepper { material, keyed })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { keys })
    }

    fn id_of(k: &Pepper) -> String {
        format!("{PEPPER_ID_PREFIX}{}", k.material.fingerprint())
    }

    /// `id == id_of(k)`, without writing the id (every key check asks).
    fn is_id_of(k: &Pepper, id: &str) -> bool {
        id.strip_prefix(PEPPER_ID_PREFIX) == Some(k.material.fingerprint())
    }

    fn mac(k: &Pepper, whole: &SecretString) -> [u8; 32] {
        let mut mac = k.keyed.clone();
        mac.update(whole.expose_secret().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A key for another purpose (e.g. the interstitial's CSRF MAC), derived from the newest
    /// pepper, so that every replica with the same configuration derives the same key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        Self::mac(
            &self.keys[0],
            &SecretString::from(format!("latchkey derive: {purpose}")),
        )
    }

    /// [`Peppers::derive`] under every pepper, newest first (keys that rotate with the peppers:
    /// the newest signs, the older ones still verify).
    pub fn derive_each(&self, purpose: &str) -> Vec<[u8; 32]> {
        let label = SecretString::from(format!("latchkey derive: {purpose}"));
        self.keys.iter().map(|k| Self::mac(k, &label)).collect()
    }

    /// The hash of a key under the newest pepper.
    pub fn hash(&self, whole: &SecretString) -> KeyHash {
        let k = &self.keys[0];
        KeyHash {
            pepper_id: Self::id_of(k),
            mac: Self::mac(k, whole),
        }
    }

    /// Checks a presented key in constant time.
    pub fn verify(&self, stored: &KeyHash, presented: &SecretString) -> KeyCheck {
        let Some(pos) = self
            .keys
            .iter()
            .position(|k| Self::is_id_of(k, &stored.pepper_id))
        else {
            self.burn(presented);
            return KeyCheck::Invalid;
        };
        let computed = Self::mac(&self.keys[pos], presented);
        if bool::from(computed.ct_eq(&stored.mac)) {
            KeyCheck::Valid {
                rehash: (pos != 0).then(|| self.hash(presented)),
            }
        } else {
            KeyCheck::Invalid
        }
    }

    /// Does the work of a verification against nothing, so that an unknown key id takes as
    /// long as a wrong secret (K2 versus K3).
    pub fn burn(&self, presented: &SecretString) {
        let computed = Self::mac(&self.keys[0], presented);
        let _ = computed.ct_eq(&[0u8; 32]);
    }

    /// Mints a tenant key record and returns it with the one-time wire form.
    pub fn mint_tenant_key(
        &self,
        role: KeyRole,
        tool_id: Option<String>,
        name: &str,
    ) -> (ApiKeyRecord, SecretString) {
        let key = NewKey::generate();
        let rec = ApiKeyRecord {
            id: key.id,
            role,
            tool_id,
            name: name.to_owned(),
            hash: self.hash(&key.whole),
            created_at: UnixMillis::now(),
            last_used_at: None,
            revoked_at: None,
        };
        (rec, key.whole)
    }

    /// Mints an operator key record and returns it with the one-time wire form.
    pub fn mint_operator_key(&self) -> (OperatorKeyRecord, SecretString) {
        let key = NewKey::generate();
        let rec = OperatorKeyRecord {
            id: key.id,
            hash: self.hash(&key.whole),
            created_at: UnixMillis::now(),
            revoked_at: None,
        };
        (rec, key.whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peppers() -> Peppers {
        Peppers::new(vec![KeyMaterial::generate()]).unwrap()
    }

    /// Stored hashes stay verifiable: HMAC-SHA256 under the pepper, byte for byte (expected
    /// values from Python's `hmac`, key bytes 0..32), whatever the way it is computed.
    #[test]
    fn hashes_and_derived_keys_are_plain_hmac_sha256() {
        let key = KeyMaterial::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let p = Peppers::new(vec![key]).unwrap();
        let h = p.hash(&SecretString::from("lk_known_answer"));
        assert_eq!(
            hex::encode(h.mac),
            "267e63449494cfb666edbaa84f591790e913ab029e2cd926698efac151fd1f28"
        );
        // Twice from the same keyed state: each check starts from a fresh copy of it.
        assert_eq!(p.hash(&SecretString::from("lk_known_answer")).mac, h.mac);
        assert_eq!(
            hex::encode(p.derive("csrf")),
            "9f9cb10cba0bf5dae1431b48145002fc99bde08d7784808107964f62eb6caf56"
        );
    }

    #[test]
    fn generated_keys_parse_and_verify() {
        let p = peppers();
        let k = NewKey::generate();
        assert_eq!(k.whole.expose_secret().len(), WIRE_LEN);
        let presented = PresentedKey::parse(k.whole.expose_secret()).unwrap();
        assert_eq!(presented.id(), k.id);
        let h = p.hash(&k.whole);
        assert_eq!(
            p.verify(&h, presented.secret()),
            KeyCheck::Valid { rehash: None }
        );
    }

    #[test]
    fn grammar_rejects_the_catalogue() {
        let k = NewKey::generate();
        let good = k.whole.expose_secret().to_owned();
        let cases: Vec<(String, KeyParseError)> = vec![
            (String::new(), KeyParseError::Empty),
            (format!("{good}\n"), KeyParseError::Whitespace),
            (format!(" {good}"), KeyParseError::Whitespace),
            (
                good.replacen("lk_", "arc_", 1),
                KeyParseError::ForeignPrefix,
            ),
            (good[..good.len() - 1].to_owned(), KeyParseError::Malformed),
            (
                format!("{}!", &good[..good.len() - 1]),
                KeyParseError::Malformed,
            ),
            (good.replacen("key_", "kеy_", 1), KeyParseError::Malformed), // Cyrillic е
            (
                good.to_uppercase().replacen("LK_", "lk_", 1),
                KeyParseError::Malformed,
            ),
            (
                "lk_".to_owned() + &"a".repeat(10_000),
                KeyParseError::TooLong,
            ),
            // 83 bytes, with a two-byte character where the id ends: no panic on a char boundary.
            (
                format!("lk_{}é{}", "a".repeat(35), "a".repeat(43)),
                KeyParseError::Malformed,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(PresentedKey::parse(&input).err(), Some(want), "{input:?}");
        }
    }

    #[test]
    fn changed_secret_or_other_pepper_fails() {
        let p = peppers();
        let k = NewKey::generate();
        let h = p.hash(&k.whole);
        let mut s = k.whole.expose_secret().to_owned();
        let last = s.pop().unwrap();
        s.push(if last == 'a' { 'b' } else { 'a' });
        assert_eq!(p.verify(&h, &SecretString::from(s)), KeyCheck::Invalid);
        assert_eq!(
            peppers().verify(&h, &k.whole),
            KeyCheck::Invalid,
            "another deployment's pepper"
        );
    }

    #[test]
    fn older_pepper_verifies_and_asks_for_rehash() {
        let old = KeyMaterial::generate();
        let k = NewKey::generate();
        let h_old = Peppers::new(vec![old.clone()]).unwrap().hash(&k.whole);
        let rotated = Peppers::new(vec![KeyMaterial::generate(), old]).unwrap();
        match rotated.verify(&h_old, &k.whole) {
            KeyCheck::Valid { rehash: Some(new) } => {
                assert_eq!(
                    rotated.verify(&new, &k.whole),
                    KeyCheck::Valid { rehash: None }
                );
            }
            other @ (KeyCheck::Valid { rehash: None } | KeyCheck::Invalid) => {
                panic!("expected a rehash, got {other:?}")
            }
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,120}") {
            let _ = PresentedKey::parse(&s);
        }

        #[test]
        fn one_changed_character_never_verifies(pos in 0usize..WIRE_LEN, c in "[A-Za-z0-9_]") {
            let p = peppers();
            let k = NewKey::generate();
            let h = p.hash(&k.whole);
            let mut bytes = k.whole.expose_secret().as_bytes().to_vec();
            let c = c.as_bytes()[0];
            prop_assume!(bytes[pos] != c);
            bytes[pos] = c;
            let changed = String::from_utf8(bytes).unwrap();
            if let Ok(pk) = PresentedKey::parse(&changed) {
                prop_assert_eq!(p.verify(&h, pk.secret()), KeyCheck::Invalid);
            }
        }
    }
}
