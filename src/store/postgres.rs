//! `PostgresStore`: the shared store for several replicas, one Postgres database for all.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::sql::{self, AuditRecord, KeyRow, Seen};
use super::{AuditRow, Begin, Store, StoreError, Timestamp};

/// Connections per replica; every request holds one only for a statement or a short transaction.
const MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server cancels any statement running longer than this (`statement_timeout`).
const STATEMENT_TIMEOUT: &str = "10s";

/// A Postgres database behind a connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`) and applies `migrations/postgres`.
    /// Replicas starting together are safe: sqlx serialises migrations with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::database("read its URL"))?
            .application_name("signgate")
            .options([("statement_timeout", STATEMENT_TIMEOUT)]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::database("connect to Postgres"))?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
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
