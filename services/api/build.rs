//! Compiles `proto/` with `protox` (pure Rust, no `protoc`) and `tonic-prost-build` when the
//! `grpc` feature is on; `grpc-client` adds the clients. The encoded file descriptor set is
//! written next to the code for the reflection service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "grpc")]
    grpc()?;
    Ok(())
}

#[cfg(feature = "grpc")]
fn grpc() -> Result<(), Box<dyn std::error::Error>> {
    use prost::Message as _;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files = [
        "latchkey/v1/control_plane.proto",
        "latchkey/v1/authorization.proto",
        "latchkey/v1/token.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("latchkey_v1_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .codec_path("crate::grpc::codec::LatchkeyCodec")
        .build_server(true)
        .build_client(cfg!(feature = "grpc-client"))
        .compile_fds(fds)?;
    Ok(())
}
