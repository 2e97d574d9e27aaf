//! Discord's redirect to `/oauth/callback/{provider}`: any query string. Accepted queries hold
//! each parameter at most once and within its length limit; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((state, code, error)) = latchkey_authorization::fuzzing::callback_query(query) {
        assert!(query.len() <= 4096);
        assert!(state.is_none_or(|s| s.len() <= 128));
        assert!(code.is_none_or(|c| c.len() <= 512));
        assert!(error.is_none_or(|e| e.len() <= 200));
    }
});
