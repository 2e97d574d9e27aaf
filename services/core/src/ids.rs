//! Prefixed, time-sortable identifiers (`tnt_…`, `key_…`, `prv_…`, `tool_…`, `grt_…`).
//!
//! Each id is a UUIDv7 written as its prefix, an underscore and 32 lowercase hex digits. There is
//! exactly one spelling: upper case, hyphens, braces, `urn:uuid:` and a wrong or missing prefix
//! are all rejected, so no alias of an id reaches a cache, a log or a query (security.md TI3/TI4).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not start with the id's prefix and an underscore.
    #[error("expected an id starting with `{expected}_`")]
    WrongPrefix {
        /// The prefix the id must carry.
        expected: &'static str,
    },
    /// The part after the prefix is not 32 lowercase hex digits.
    #[error("malformed `{prefix}_` id: expected 32 lowercase hex digits after the prefix")]
    Malformed {
        /// The prefix of the id kind.
        prefix: &'static str,
    },
}

/// A new time-sortable id written as `prefix`, an underscore and 32 lowercase hex digits, for
/// the ids without a type of their own (request, audit event, tool grant, revocation). Built
/// without the formatting machinery: some are made on every request.
pub fn new_prefixed(prefix: &str) -> String {
    prefixed(prefix, Uuid::now_v7())
}

thread_local! {
    /// The clock sequence of [`new_prefixed_unordered`] on this thread.
    static UNORDERED: uuid::ContextV7 = const { uuid::ContextV7::new() };
}

/// As [`new_prefixed`], but time-sorted only per thread: ids made on two threads in the same
/// millisecond may sort either way. For ids nobody orders (request ids): `Uuid::now_v7` keeps
/// every id of the process in order through one lock, which every request took (`perf`:
/// 0.6 % of the warm token fetch's samples, on two cores).
pub fn new_prefixed_unordered(prefix: &str) -> String {
    let context = uuid::timestamp::context::ThreadLocalContext::new(&UNORDERED);
    prefixed(prefix, Uuid::new_v7(uuid::Timestamp::now(context)))
}

/// As [`new_prefixed_unordered`], with the time the id was made of (one clock reading for
/// both): a token release's audit event, on every release.
pub fn new_prefixed_unordered_at(prefix: &str) -> (String, crate::time::UnixMillis) {
    let context = uuid::timestamp::context::ThreadLocalContext::new(&UNORDERED);
    let at = uuid::Timestamp::now(context);
    let (secs, nanos) = at.to_unix();
    let ms = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000)
        .saturating_add(i64::from(nanos / 1_000_000));
    (
        prefixed(prefix, Uuid::new_v7(at)),
        crate::time::UnixMillis(ms),
    )
}

fn prefixed(prefix: &str, uuid: Uuid) -> String {
    let mut hex = [0u8; 32];
    let hex = uuid.simple().encode_lower(&mut hex);
    let mut id = String::with_capacity(prefix.len() + 1 + hex.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(hex);
    id
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix this kind of id is written with.
            pub const PREFIX: &'static str = $prefix;
            /// The length of the written form.
            pub const LEN: usize = $prefix.len() + 1 + 32;

            /// A new, time-sortable id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the one accepted spelling.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                parse_prefixed(s, $prefix).map(Self)
            }
        }

        impl fmt::Display for $name {
            /// One piece, so that `to_string` allocates once, at the right size (ids are written
            /// on every request: the audit actor, the stores' keys).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                const AT: usize = $prefix.len();
                let mut text = [0u8; Self::LEN];
                text[..AT].copy_from_slice($prefix.as_bytes());
                text[AT] = b'_';
                self.0.simple().encode_lower(&mut text[AT + 1..]);
                // ASCII throughout: the prefix literal, `_` and lowercase hex.
                f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn parse_prefixed(s: &str, prefix: &'static str) -> Result<Uuid, IdError> {
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { expected: prefix })?;
    let hex_ok = rest.len() == 32 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex_ok {
        return Err(IdError::Malformed { prefix });
    }
    Uuid::try_parse(rest).map_err(|_| IdError::Malformed { prefix })
}

prefixed_id!(
    /// A tenant: a team that builds an agent product on Latchkey.
    TenantId,
    "tnt"
);
prefixed_id!(
    /// An API key's public identifier (the part of `lk_<key_id>_<secret>` that is looked up).
    ApiKeyId,
    "key"
);
prefixed_id!(
    /// A provider's globally unique internal id, used in its Discord callback path.
    ProviderRef,
    "prv"
);
prefixed_id!(
    /// A registered tool's internal id (tool keys are bound to it).
    ToolId,
    "tool"
);
prefixed_id!(
    /// A grant (a user's connection): one user's Discord authorization through one provider.
    GrantId,
    "grt"
);
prefixed_id!(
    /// An authorization: one attempt to obtain or upgrade a grant (what an app polls).
    AuthorizationId,
    "auth"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn untyped_ids_have_the_one_spelling_and_sort_by_time() {
        let a = new_prefixed("evt");
        let b = new_prefixed("evt");
        assert_eq!(a.len(), 4 + 32);
        let hex = a.strip_prefix("evt_").unwrap_or_default();
        assert_eq!(
            parse_prefixed(&a, "evt").map(|u| u.simple().to_string()),
            Ok(hex.to_owned())
        );
        assert!(a < b, "{a} was made before {b}");
        assert_eq!(
            TenantId::parse(&new_prefixed("tnt")).map(|t| t.to_string().len()),
            Ok(TenantId::LEN)
        );
    }

    #[test]
    fn unordered_ids_are_well_formed_distinct_and_sorted_on_one_thread() {
        let ids: Vec<String> = (0..10_000).map(|_| new_prefixed_unordered("req")).collect();
        for id in &ids {
            assert_eq!(id.len(), 4 + 32);
            let u = parse_prefixed(id, "req").unwrap();
            assert_eq!(u.get_version_num(), 7, "{id}");
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "in order on one thread"
        );
        let other = std::thread::spawn(|| new_prefixed_unordered("req"))
            .join()
            .unwrap();
        assert!(!ids.contains(&other));
    }

    #[test]
    fn an_unordered_id_carries_its_time() {
        let before = crate::time::UnixMillis::now();
        let (id, at) = new_prefixed_unordered_at("evt");
        let after = crate::time::UnixMillis::now();
        assert!(before <= at && at <= after, "{before:?} {at:?} {after:?}");
        let u = parse_prefixed(&id, "evt").unwrap();
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        assert_eq!(
            at.0,
            i64::try_from(secs).unwrap() * 1_000 + i64::from(nanos / 1_000_000)
        );
    }

    #[test]
    fn round_trips_and_has_one_spelling() {
        let id = TenantId::generate();
        let s = id.to_string();
        assert_eq!(s.len(), TenantId::LEN);
        assert_eq!(TenantId::parse(&s), Ok(id));
        assert!(TenantId::parse(&s.to_uppercase()).is_err());
        assert!(TenantId::parse(&s.replace("tnt_", "TNT_")).is_err());
        assert!(ApiKeyId::parse(&s).is_err(), "a tenant id is not a key id");
    }

    #[test]
    fn rejects_other_encodings() {
        let u = Uuid::now_v7();
        for bad in [
            format!("tnt_{}", u.hyphenated()),
            format!("tnt_{{{}}}", u.simple()),
            format!("tnt_urn:uuid:{}", u.hyphenated()),
            u.simple().to_string(),
            format!("key_{}", u.simple()),
            "123".to_owned(),
            "' OR 1=1 --".to_owned(),
            format!("tnt_{}%2F", u.simple()),
        ] {
            assert!(TenantId::parse(&bad).is_err(), "{bad} must be rejected");
        }
        assert!(
            TenantId::parse(&format!("tnt_{}", "0".repeat(32))).is_ok(),
            "all-zero is well-formed"
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_only_accepts_canonical(s in "\\PC{0,64}") {
            if let Ok(id) = TenantId::parse(&s) {
                prop_assert_eq!(id.to_string(), s);
            }
        }

        #[test]
        fn display_parse_round_trip_for_every_id(bits in any::<u128>()) {
            let u = Uuid::from_u128(bits);
            macro_rules! round_trip {
                ($($t:ident),*) => {$(
                    let id = $t(u);
                    prop_assert_eq!($t::parse(&id.to_string()), Ok(id));
                    prop_assert_eq!(id.to_string().len(), $t::LEN);
                    prop_assert_eq!(format!("{id:?}"), id.to_string());
                )*};
            }
            round_trip!(TenantId, ApiKeyId, ProviderRef, ToolId, GrantId, AuthorizationId);
        }

        #[test]
        fn one_kind_of_id_is_never_another(bits in any::<u128>()) {
            let written = TenantId(Uuid::from_u128(bits)).to_string();
            prop_assert!(ApiKeyId::parse(&written).is_err());
            prop_assert!(GrantId::parse(&written).is_err());
            prop_assert!(AuthorizationId::parse(&written).is_err());
        }
    }
}
