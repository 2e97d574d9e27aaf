//! The tenant's user ids (security.md §5.13): opaque, 1–256 bytes of UTF-8, compared byte for
//! byte and never normalised — but refused when they hold characters that make two different
//! ids look alike or hide text (controls, bidirectional marks, zero-width characters) or when
//! they start or end with whitespace.

use crate::error::CoreError;

/// A validated user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Validates a user id; `field` names it in the error.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, CoreError> {
        let message = if s.is_empty() || s.len() > 256 {
            "must be 1-256 bytes"
        } else if s.chars().any(crate::text::is_hidden) {
            "must not contain control, bidirectional or zero-width characters"
        } else if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            "must not start or end with whitespace"
        } else {
            return Ok(Self(s.to_owned()));
        };
        Err(CoreError::Invalid {
            field,
            message: message.to_owned(),
        })
    }

    /// The id, byte-exact.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_u_catalogue() {
        let ok = |s: &str| UserId::parse("user_id", s).is_ok();
        assert!(!ok(""), "U1");
        assert!(!ok(&"a".repeat(257)), "U2");
        assert!(ok(&"😀".repeat(64)), "U2: 256 bytes");
        assert!(!ok("alice\u{0}"), "U3");
        assert!(!ok("alice "), "U4");
        assert!(!ok("\u{202e}ecila"), "U8");
        assert!(!ok("al\u{200b}ice"), "U9");
        for literal in [
            "alice@example.com",
            "*",
            "%",
            "_",
            "../bob",
            "null",
            "0",
            "ALICE",
        ] {
            assert!(ok(literal), "{literal}");
        }
        assert_ne!(
            UserId::parse("u", "é").unwrap(),
            UserId::parse("u", "e\u{301}").unwrap(),
            "U6: never normalised"
        );
    }

    proptest! {
        #[test]
        fn accepted_ids_are_kept_byte_exact(s in "\\PC{0,70}") {
            if let Ok(u) = UserId::parse("u", &s) { prop_assert_eq!(u.as_str(), s.as_str()); }
        }
    }
}
