//! `SqliteStore`: the embedded store for one replica (a file in WAL mode, or `sqlite::memory:`).
//! A file store's audit rows are written by its own thread (`writer`); everything else, and
//! every call of an in-memory store, goes through one sqlx connection.

mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use std::sync::Arc;

pub(super) use self::writer::AuditWriter;
use super::{sql, SharedLimits, StoreError};

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's page cache per connection, in KiB (its default is 2 MiB).
const CACHE_KIB: i64 = 512;

/// How long a call waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite database behind a one-connection pool and, for a file, an audit writer thread.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Option<Arc<AuditWriter>>,
}

impl SqliteStore {
    /// Opens `url` (`sqlite::memory:`, `sqlite://PATH`, `sqlite:PATH`, with optional query
    /// options), creating the file if missing, and applies `migrations/sqlite`.
    ///
    /// An in-memory database lives in exactly one connection that the pool never closes, so
    /// every call sees the same data for as long as this store (or a clone) exists.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::database("read its URL"))?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("cache_size", (-CACHE_KIB).to_string());
        let in_memory = is_in_memory(url);
        let options = if in_memory {
            options
        } else {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        };
        // One connection: SQLite writes one at a time anyway, and a second writer would wait
        // in SQLite's sleeping busy handler instead of the pool's async queue. (An in-memory
        // database must live in exactly one connection, never recycled.) No ping before each
        // use: every statement already reports a broken connection.
        let path = options.get_filename().to_owned();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::database("open the SQLite database"))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        let writer = if in_memory {
            None
        } else {
            let read_only = has_param(url, "mode=ro");
            let writer = AuditWriter::open(&path, read_only)?;
            Some(Arc::new(writer))
        };
        Ok(Self { pool, writer })
    }

    /// Whether its audit writes are already group-committed (by its writer thread).
    pub fn groups_audit_writes(&self) -> bool {
        self.writer.is_some()
    }
}

/// Whether a SQLite URL names a database that lives only in memory.
fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let database = rest.split_once('?').map_or(rest, |(database, _)| database);
    database == ":memory:" || has_param(url, "mode=memory")
}

/// Whether a SQLite URL's query holds `param` (`name=value`).
fn has_param(url: &str, param: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, params)| params.split('&').any(|p| p == param))
}

impl SqliteStore {
    /// One replica per SQLite file: its vendors pace in process.
    fn limits(&self) -> Option<Arc<dyn SharedLimits>> {
        None
    }

    /// A file store's writer thread, or `None`: the pool writes (in memory).
    fn audit_writer(&self) -> Option<&AuditWriter> {
        self.writer.as_deref()
    }
}

sql::pool_store!(SqliteStore);
super::jobs::pool_job_store!(
    SqliteStore,
    super::jobs::CLAIM_SLICE_SQLITE,
    super::jobs::CLAIM_CALLBACKS_SQLITE
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://:memory:"));
        assert!(is_in_memory("sqlite://demo.db?mode=memory"));
        assert!(!is_in_memory("sqlite://signgate.db"));
        assert!(!is_in_memory("sqlite:data/signgate.db?mode=rwc"));
    }

    /// The first SQLite release with CVE-2025-6965 fixed, as `sqlite3_libversion_number`.
    const FIRST_FIXED_SQLITE: i32 = 3_050_002;

    #[tokio::test]
    async fn the_store_and_its_audit_writer_link_one_sqlite_of_3_50_2_or_later() {
        let store = SqliteStore::connect("sqlite::memory:")
            .await
            .expect("store");

        let (linked,): (String,) = sqlx::query_as("SELECT sqlite_version()")
            .fetch_one(&store.pool)
            .await
            .expect("the SQLite version");

        assert_eq!(
            linked,
            rusqlite::version(),
            "sqlx and rusqlite link one SQLite"
        );
        assert!(
            rusqlite::version_number() >= FIRST_FIXED_SQLITE,
            "SQLite {linked} predates 3.50.2 (CVE-2025-6965)"
        );
    }

    /// The plan SQLite picks for `statement` (one of the store's own constants), one line per
    /// step.
    async fn plan(store: &SqliteStore, statement: &'static str) -> String {
        let steps: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {statement}"
        )))
        .bind(1_i64)
        .bind(2_i64)
        .bind(3_i64)
        .fetch_all(&store.pool)
        .await
        .expect("a query plan");
        steps.into_iter().map(|step| step.3 + "\n").collect()
    }

    #[tokio::test]
    async fn the_purges_read_their_indexes_instead_of_scanning() {
        let store = SqliteStore::connect("sqlite::memory:")
            .await
            .expect("store");

        let audit = plan(&store, sql::PURGE_AUDIT).await;
        let owners = plan(&store, sql::PURGE_OWNERS).await;

        assert!(
            audit.contains("USING INDEX audit_events_purgeable (received_at<?)"),
            "{audit}"
        );
        assert!(!audit.contains("SCAN"), "{audit}");
        assert!(owners.contains("code_owners_found_at"), "{owners}");
        assert!(!owners.contains("SCAN"), "{owners}");
    }

    #[tokio::test]
    async fn the_job_claim_reads_its_indexes_instead_of_scanning() {
        let store = SqliteStore::connect("sqlite::memory:")
            .await
            .expect("store");

        let claim = plan(&store, super::super::jobs::CLAIM_SLICE_SQLITE).await;

        assert!(
            claim.contains("USING INDEX audit_events_waiting"),
            "{claim}"
        );
        assert!(
            claim.contains("USING INDEX audit_events_job_pending"),
            "{claim}"
        );
        assert!(!claim.contains("SCAN audit_events"), "{claim}");
    }
}
