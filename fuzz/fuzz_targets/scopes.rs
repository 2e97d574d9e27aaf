//! Scope lists (one per line): accepted lists give a sorted, de-duplicated scope set holding
//! `identify` and nothing that was not asked for; classification never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let scopes: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for s in &scopes {
        let _ = latchkey_core::scopes::classify(s);
        let _ = latchkey_core::scopes::describe(s);
    }
    if latchkey_core::provider::check_scopes(&scopes).is_ok() {
        let set = latchkey_core::authorization::scope_set(&scopes, &[], &[]);
        assert!(set.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(set.iter().any(|s| s == "identify"));
        assert!(set.iter().all(|s| s == "identify" || scopes.contains(s)));
    }
});
