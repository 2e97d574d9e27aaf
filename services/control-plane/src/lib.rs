//! `latchkey-control-plane` will hold the admin use cases (providers, tools, API keys,
//! verification settings, connections, audit events, platform tenants) and their thin REST
//! (axum + utoipa) and gRPC (tonic) transports. It arrives with issue 4; nothing here yet.
