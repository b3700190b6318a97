//! `PostgresStore`: the shared store for several replicas, one Postgres database for all.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use std::sync::Arc;

use super::{pacing, sql, Reservation, SharedLimits, StoreError};

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

impl PostgresStore {
    /// Rate limits reserved here hold for every replica on the database.
    fn limits(&self) -> Option<Arc<dyn SharedLimits>> {
        Some(Arc::new(self.clone()))
    }

    /// The pool writes the audit trail (group-committed by `Coalescing` in front).
    fn audit_writer(&self) -> Option<&super::sqlite::AuditWriter> {
        None
    }
}

#[async_trait::async_trait]
impl SharedLimits for PostgresStore {
    /// One `signgate_reserve_calls` statement for the whole group.
    async fn reserve_calls(
        &self,
        key: &str,
        calls: u32,
        window: Duration,
        max_waits: &[Duration],
    ) -> Result<Vec<Option<Reservation>>, StoreError> {
        let (calls, window) = pacing::limits(calls, window);
        let (waits_ms, valid_ms): (Vec<Option<i64>>, Vec<Option<i64>>) =
            sqlx::query_as(pacing::RESERVE_CALLS)
                .bind(key)
                .bind(calls)
                .bind(window)
                .bind(pacing::max_waits_ms(max_waits))
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::database(
                    "reserve calls under a shared rate limit",
                ))?;
        pacing::reservations(max_waits.len(), waits_ms, valid_ms)
    }
}

sql::pool_store!(PostgresStore);
super::jobs::pool_job_store!(
    PostgresStore,
    super::jobs::CLAIM_SLICE_POSTGRES,
    super::jobs::CLAIM_CALLBACKS_POSTGRES
);
