//! `latchkey-api` is Latchkey's wire contract: the REST data shapes shared by the server and
//! the SDK — the error body with its enumerated `name`s, and the health answer. With the
//! `server` feature it also holds the server side of the contract: the per-request context
//! (request id), `ApiError` with its exhaustive status mapping, and the axum extractors for the
//! four key principals (`OperatorKey`, `AdminKey`, `AppKey`, `ToolKey`). Without that feature
//! it depends on nothing else of Latchkey's, so the SDK stays light.

pub mod activity;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod page;
pub mod providers;
pub mod settings;
pub mod tenants;
pub mod time;
pub mod tokens;
pub mod tools;

#[cfg(feature = "server")]
pub mod server;

pub use error::{ErrorBody, ErrorName};

/// The largest request body (REST) or message (gRPC) Latchkey accepts: 64 KiB; larger ones are
/// 413 `payload_too_large` (specs/arcade-compat.md §3.3).
pub const BODY_LIMIT: usize = 64 * 1024;
pub use health::HealthResponse;
pub use page::Page;

#[cfg(feature = "grpc")]
pub mod grpc;
