//! Mapping of driver errors to the domain's `StoreError`. Database messages can echo bound
//! values, so only the error kind and constraint name travel upward.

use latchkey_core::StoreError;

/// Maps a driver error; `what` names the object for uniqueness conflicts.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "sqlx::Error is non_exhaustive"
)]
pub(crate) fn map(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        sqlx::Error::Database(db) => StoreError::Unavailable(format!(
            "database error (code {})",
            db.code().unwrap_or_default()
        )),
        sqlx::Error::ColumnDecode { index, .. } => StoreError::Corrupt {
            table: what,
            detail: format!("column {index} could not be decoded"),
        },
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// Shorthand for `map_err(|e| map(e, what))`.
pub(crate) trait OrStore<T> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> OrStore<T> for Result<T, sqlx::Error> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| map(e, what))
    }
}
