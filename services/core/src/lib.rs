//! `latchkey-core` is Latchkey's domain: the typed identifiers every layer shares, the ports
//! (traits) that the store and the Discord client implement, envelope encryption of secrets at
//! rest, API-key grammar and hashing, and the use cases that the transports call.
//!
//! It depends on no web, gRPC or SQL framework; `make check-deps` keeps it that way.

pub mod apikey;
pub mod audit;
pub mod audit_pipeline;
pub mod auth;
pub mod authorization;
pub mod cache;
pub mod catalog;
pub mod connections;
pub mod crypto;
pub mod custody;
pub mod error;
pub mod grant;
pub mod ids;
pub mod metrics;
pub mod ports;
pub mod provider;
pub mod resolve;
pub mod revocation;
pub mod scopes;
pub mod settings;
pub mod sharded;
pub mod tenant;
pub mod text;
pub mod time;
pub mod tool;
pub mod urls;
pub mod user;
pub mod warm;

pub use error::{CoreError, StoreError};
pub use ids::{ApiKeyId, AuthorizationId, GrantId, IdError, ProviderRef, TenantId, ToolId};
