//! `next_uri` from a tenant's `auth.start`: only URLs on an allowed origin, with no user info
//! and no fragment, are accepted, whatever the spelling.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let allowed = ["https://app.example.com".to_owned()];
    if latchkey_authorization::fuzzing::next_uri_allowed(raw, &allowed) {
        let u = url::Url::parse(raw).expect("an accepted next_uri parses");
        assert_eq!(u.origin().ascii_serialization(), "https://app.example.com");
        assert!(u.username().is_empty() && u.password().is_none());
        assert!(u.fragment().is_none());
    }
});
