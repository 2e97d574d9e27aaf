//! The `latchkey` binary; all logic lives in the library's `cli` module.

/// jemalloc rather than the system allocator (docs/benchmarks.md): a held long-poll's idle
/// connection buffers (hyper's, 8 KiB each) stay unbacked until written, where glibc's inline
/// chunk headers touch a page of each, and its thread caches make the token hot path's many
/// small allocations cheaper. It is built to return freed pages at once (`.cargo/config.toml`),
/// so pages a burst freed are not handed out again under those unwritten buffers. Build with
/// `--no-default-features` for the system allocator (to profile the heap with heaptrack, which
/// only sees `malloc`).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    latchkey_server::cli::main()
}
