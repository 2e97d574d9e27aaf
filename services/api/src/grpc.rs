//! The gRPC contract (feature `grpc`), generated at build time from `proto/latchkey/v1` with
//! `protox` and `tonic-prost-build`: the `latchkey.v1` messages, the `ControlPlane` server
//! trait (and, with `grpc-client`, its client), and the encoded file descriptor set that the
//! reflection service publishes.

/// `latchkey.v1`: the control plane's messages and service.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::wildcard_enum_match_arm,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "generated code"
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/latchkey.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every file under `proto/latchkey/v1` (for reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/latchkey_v1_descriptor.bin"));

/// The fully qualified name of the control-plane service.
pub const CONTROL_PLANE_SERVICE: &str = "latchkey.v1.ControlPlane";
