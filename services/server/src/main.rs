//! The `latchkey` binary; all logic lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    latchkey_server::cli::main()
}
