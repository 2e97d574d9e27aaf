//! The simulator's library error type: everything that can go wrong while loading fixtures,
//! reading settings or binding the listener. Request-level failures are HTTP answers, not
//! errors, so they never appear here.

/// Errors returned by the simulator's library API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The fixture document is malformed or fails validation (§10.3).
    #[error("invalid fixtures: {0}")]
    Fixture(String),
    /// A setting key is unknown or its value has the wrong type (§10.8).
    #[error("invalid setting: {0}")]
    Setting(String),
    /// Binding the listener or reading a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
