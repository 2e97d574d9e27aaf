//! `latchkey-server` composes Latchkey: typed settings, logging and metrics, the start-up seam
//! (`Application`), the routers of the API and operations listeners, and the `latchkey` CLI.

pub mod cli;
pub mod context;
pub mod discord;
pub mod keyfiles;
pub mod metrics;
pub mod routes;
pub mod serve;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use context::{Context, StartupError};
pub use settings::Settings;
pub use startup::Application;
