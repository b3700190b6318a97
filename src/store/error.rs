//! `StoreError`: every way the store can fail, with messages that never carry the store URL.

/// A failure of the durable store (SQLite or Postgres).
///
/// `Display` names the operation and a cause safe to log: the URL, and so any password in it,
/// never appears, and configuration errors are reduced to a fixed sentence.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `store.url` names no supported store or cannot be parsed.
    #[error("the store URL is not usable: {0}")]
    InvalidUrl(&'static str),
    /// The database refused or failed an operation, or could not be reached.
    #[error("the store could not {operation}: {}", describe(.error.as_ref()))]
    Database {
        /// What signgate was doing, as a verb phrase (`"record pending audit rows"`).
        operation: &'static str,
        /// The driver's error (sqlx's, or rusqlite's for the SQLite audit writer); sqlx's
        /// configuration details are not shown by `Display`.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The embedded schema migrations could not be applied.
    #[error("the store schema could not be migrated: {}", describe_migration(.0))]
    Migrate(sqlx::migrate::MigrateError),
    /// `complete` found no in-progress row for this key and fingerprint: the key was released,
    /// expired and reused, or already completed by a process that took over a stale lock.
    #[error("the idempotency key is no longer held by this request")]
    KeyNotHeld,
    /// `finish` named an audit row that was never inserted; nothing was updated.
    #[error("there is no audit row at position {position} of attempt {attempt_id}")]
    UnknownAuditRow {
        /// The attempt id of the missing row.
        attempt_id: String,
        /// Its position in the request.
        position: u32,
    },
    /// The store was closed (shutdown) and takes no more writes.
    #[error("the store is closed")]
    Closed,
    /// A stored value does not fit its Rust type (a row written by something else).
    #[error("the store holds a value signgate cannot read: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a driver error with the operation it interrupted.
    pub(crate) fn database<E>(operation: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |error| Self::Database {
            operation,
            error: Box::new(error),
        }
    }
}

/// The driver error as a sentence fragment, without configuration details (which may quote
/// parts of the URL).
fn describe(error: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    match error.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Configuration(_)) => {
            "the store URL or its options are invalid".to_owned()
        }
        _ => error.to_string(),
    }
}

fn describe_migration(error: &sqlx::migrate::MigrateError) -> String {
    match error {
        sqlx::migrate::MigrateError::Execute(inner) => describe(inner),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_do_not_repeat_their_details() {
        let error = StoreError::Database {
            operation: "connect",
            error: Box::new(sqlx::Error::Configuration(
                "postgres://u:hunter2@db/x is odd".into(),
            )),
        };
        let shown = error.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            shown,
            "the store could not connect: the store URL or its options are invalid"
        );
    }
}
