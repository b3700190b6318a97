//! `SqliteStore`: the embedded store for one replica (a file in WAL mode, or `sqlite::memory:`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{self, AuditRecord, KeyRow, Seen};
use super::{AuditRow, Begin, Store, StoreError, Timestamp};

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to a file: one writes at a time (WAL), the others keep reads flowing.
const FILE_CONNECTIONS: u32 = 4;

/// How long a call waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite database behind a connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
            .foreign_keys(true);
        let pool = if is_in_memory(url) {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            SqlitePoolOptions::new()
                .max_connections(FILE_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
        }
        .map_err(StoreError::database("open the SQLite database"))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(Self { pool })
    }
}

/// Whether a SQLite URL names a database that lives only in memory.
fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::database("answer a ping"))?;
        Ok(())
    }

    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        stale_after: Duration,
        ttl: Duration,
    ) -> Result<Begin, StoreError> {
        let stale_before = now.saturating_sub(stale_after);
        for _ in 0..sql::BEGIN_ATTEMPTS {
            let claim = sqlx::query(sql::CLAIM_KEY)
                .bind(key)
                .bind(fingerprint)
                .bind(now.as_millis())
                .bind(now.saturating_add(ttl).as_millis())
                .bind(stale_before.as_millis())
                .execute(&self.pool)
                .await
                .map_err(StoreError::database("claim an idempotency key"))?;
            if claim.rows_affected() == 1 {
                return Ok(Begin::Started);
            }
            let row = sqlx::query_as::<_, KeyRow>(sql::SELECT_KEY)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::database("read an idempotency key"))?;
            if let Seen::Decided(answer) = sql::classify(row, fingerprint, now, stale_before)? {
                return Ok(answer);
            }
        }
        Ok(Begin::InProgress)
    }

    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(sql::COMPLETE_KEY)
            .bind(key)
            .bind(fingerprint)
            .bind(body)
            .bind(now.as_millis())
            .execute(&self.pool)
            .await
            .map_err(StoreError::database("store an idempotent answer"))?;
        match done.rows_affected() {
            0 => Err(StoreError::KeyNotHeld),
            _ => Ok(()),
        }
    }

    async fn release(&self, key: &str, fingerprint: &str) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE_KEY)
            .bind(key)
            .bind(fingerprint)
            .execute(&self.pool)
            .await
            .map_err(StoreError::database("release an idempotency key"))?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let purged = sqlx::query(sql::PURGE_EXPIRED)
            .bind(now.as_millis())
            .execute(&self.pool)
            .await
            .map_err(StoreError::database("purge expired idempotency keys"))?;
        Ok(purged.rows_affected())
    }

    async fn insert_pending(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        const OPERATION: &str = "record pending audit rows";
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::database(OPERATION))?;
        for chunk in rows.chunks(sql::INSERT_CHUNK) {
            sql::insert_audit_rows(chunk)
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::database(OPERATION))?;
        }
        tx.commit().await.map_err(StoreError::database(OPERATION))
    }

    async fn finish(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        const OPERATION: &str = "record audit outcomes";
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::database(OPERATION))?;
        for row in rows {
            let updated = sqlx::query(sql::FINISH_AUDIT)
                .bind(row.status.as_str())
                .bind(row.error_code.as_deref())
                .bind(row.finished_at.map(Timestamp::as_millis))
                .bind(row.vendor_status.map(i64::from))
                .bind(i64::from(row.vendor_calls))
                .bind(row.request_id.as_str())
                .bind(i64::from(row.position))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::database(OPERATION))?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::UnknownAuditRow {
                    request_id: row.request_id.clone(),
                    position: row.position,
                });
            }
        }
        tx.commit().await.map_err(StoreError::database(OPERATION))
    }

    async fn history(&self, code: &str, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        sqlx::query_as::<_, AuditRecord>(sql::HISTORY)
            .bind(code)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::database("read the audit trail"))?
            .into_iter()
            .map(AuditRow::try_from)
            .collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

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
}
