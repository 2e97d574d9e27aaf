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

pub mod codec {
    //! Protobuf messages on the wire: prost's codec, except that a request that does not
    //! decode (invalid UTF-8 in a `string`, a malformed field) is the caller's mistake —
    //! `INVALID_ARGUMENT` with the error name `invalid_request` — not prost's `INTERNAL`, which
    //! clients retry (security.md G2).

    use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
    use tonic::{Code, Status};
    use tonic_prost::{ProstDecoder, ProstEncoder};

    /// The codec of every `latchkey.v1` method.
    #[derive(Debug)]
    pub struct LatchkeyCodec<T, U>(std::marker::PhantomData<(T, U)>);

    impl<T, U> Default for LatchkeyCodec<T, U> {
        fn default() -> Self {
            Self(std::marker::PhantomData)
        }
    }

    impl<T, U> Codec for LatchkeyCodec<T, U>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + Default + Send + 'static,
    {
        type Encode = T;
        type Decode = U;
        type Encoder = ProstEncoder<T>;
        type Decoder = LatchkeyDecoder<U>;

        fn encoder(&mut self) -> Self::Encoder {
            ProstEncoder::default()
        }

        fn decoder(&mut self) -> Self::Decoder {
            LatchkeyDecoder(ProstDecoder::default())
        }
    }

    /// Prost's decoder with decode failures answered as `INVALID_ARGUMENT`.
    #[derive(Debug)]
    pub struct LatchkeyDecoder<U>(ProstDecoder<U>);

    impl<U: prost::Message + Default> Decoder for LatchkeyDecoder<U> {
        type Item = U;
        type Error = Status;

        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
            self.0.decode(buf).map_err(|s| {
                if s.code() == Code::Internal {
                    let mut metadata = tonic::metadata::MetadataMap::new();
                    metadata.insert(
                        super::ERROR_NAME_METADATA,
                        tonic::metadata::MetadataValue::from_static("invalid_request"),
                    );
                    Status::with_metadata(
                        Code::InvalidArgument,
                        "the request message could not be decoded",
                        metadata,
                    )
                } else {
                    s
                }
            })
        }

        fn buffer_settings(&self) -> BufferSettings {
            self.0.buffer_settings()
        }
    }
}

/// The encoded `FileDescriptorSet` of every file under `proto/latchkey/v1` (for reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/latchkey_v1_descriptor.bin"));

/// The metadata key that carries an error's stable name (`invalid_request`, …).
pub const ERROR_NAME_METADATA: &str = "latchkey-error-name";

/// The fully qualified name of the control-plane service.
pub const CONTROL_PLANE_SERVICE: &str = "latchkey.v1.ControlPlane";

/// The fully qualified name of the authorization service.
pub const AUTHORIZATION_SERVICE: &str = "latchkey.v1.Authorization";

/// The fully qualified name of the token service.
pub const TOKEN_SERVICE: &str = "latchkey.v1.Token";
