//! The `Authorization` header's key: the anchored grammar accepts only `lk_<id>_<secret>` of the
//! exact length in ASCII, and the id it reports is the one in the key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = latchkey_core::apikey::PresentedKey::parse(raw) {
        assert!(raw.is_ascii() && raw.starts_with("lk_"));
        assert_eq!(raw.trim(), raw);
        assert!(raw.contains(&key.id().to_string()));
        let generated = latchkey_core::apikey::PresentedKey::parse(raw).expect("deterministic");
        assert_eq!(generated.id(), key.id());
    }
});
