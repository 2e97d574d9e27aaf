//! Tool grants (`Authorization: Bearer <JWT>` on the token routes): no input verifies without
//! Latchkey's signing key, and none panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let keys = latchkey_token::grants::GrantKeys::from_seeds(&[[7u8; 32]]).expect("keys");
    assert!(keys.verify(token, "https://latchkey.example.com").is_err());
});
