//! The binary's allocator is built to return freed pages at once (`.cargo/config.toml`): with
//! jemalloc's default 10 s decay, pages freed by a burst are handed out again under buffers
//! nobody writes — every held long-poll's hyper buffers — and stay resident
//! (docs/benchmarks.md, long-poll waiters).
#![cfg(feature = "jemalloc")]

#[test]
fn jemalloc_is_built_to_return_freed_pages_at_once() {
    let conf = tikv_jemalloc_ctl::config::malloc_conf::read().expect("jemalloc's build options");
    // (The string comes with its C terminator.)
    let options: Vec<&str> = conf.trim_end_matches('\0').split(',').collect();
    for want in ["dirty_decay_ms:0", "muzzy_decay_ms:0"] {
        assert!(
            options.contains(&want),
            "jemalloc was built without {want}: {conf:?} (JEMALLOC_SYS_WITH_MALLOC_CONF in .cargo/config.toml)"
        );
    }
}
