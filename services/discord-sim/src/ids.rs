//! Identifiers and secrets (§10.4): snowflake validation, opaque code and token minting in the
//! `discord_like` or `prefixed` format, and the `sha256:` + 12-hex fingerprint used wherever a
//! secret is logged or dumped.

use rand::Rng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};

use crate::settings::{SecretLog, TokenFormat};

/// Alphabet of Discord-like opaque strings.
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What a minted secret is for; decides the `prefixed` format's prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SecretKind {
    Code,
    Access,
    Refresh,
    Opaque,
}

/// True when `s` is a snowflake string (`^(0|[1-9][0-9]*)$`, fits in 64 bits; T8).
pub(crate) fn is_snowflake(s: &str) -> bool {
    let canonical = s == "0" || (!s.starts_with('0') && !s.is_empty());
    canonical && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
}

/// Numeric value of a snowflake string, 0 when malformed (used for ordering only).
pub(crate) fn snowflake_value(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// Thirty random alphanumerics, optionally behind a debugging prefix.
pub(crate) fn mint(rng: &mut StdRng, format: TokenFormat, kind: SecretKind) -> String {
    let body: String = (0..30)
        .map(|_| char::from(ALNUM[rng.gen_range(0..ALNUM.len())]))
        .collect();
    let prefix = match (format, kind) {
        (TokenFormat::DiscordLike, _) | (TokenFormat::Prefixed, SecretKind::Opaque) => "",
        (TokenFormat::Prefixed, SecretKind::Code) => "simcode_",
        (TokenFormat::Prefixed, SecretKind::Access) => "simat_",
        (TokenFormat::Prefixed, SecretKind::Refresh) => "simrt_",
    };
    format!("{prefix}{body}")
}

/// `sha256:` followed by the first 12 hex characters of SHA-256(value).
pub(crate) fn fingerprint(value: &str) -> String {
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    format!("sha256:{}", &digest[..12])
}

/// A secret rendered for the log or the state dump, per `log.secrets`.
pub(crate) fn show_secret(value: &str, mode: SecretLog) -> String {
    match mode {
        SecretLog::Hash => fingerprint(value),
        SecretLog::Redact => "[redacted]".to_owned(),
        SecretLog::Plain => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn snowflakes() {
        assert!(is_snowflake("0"));
        assert!(is_snowflake("80351110224678912"));
        assert!(!is_snowflake("080"));
        assert!(!is_snowflake(""));
        assert!(!is_snowflake("12a"));
        assert!(!is_snowflake("99999999999999999999"));
    }

    #[test]
    fn minted_tokens_have_the_configured_shape() {
        let mut rng = StdRng::seed_from_u64(0);
        let t = mint(&mut rng, TokenFormat::DiscordLike, SecretKind::Access);
        assert_eq!(t.len(), 30);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        let p = mint(&mut rng, TokenFormat::Prefixed, SecretKind::Refresh);
        assert!(p.starts_with("simrt_"));
        assert_eq!(fingerprint("abc").len(), "sha256:".len() + 12);
    }
}
