//! The test harness: a fresh SQLite file or a fresh Postgres database per test, removed after.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use signgate::store::{connect, AuditRow, Begin, RowStatus, Store, Timestamp};
use tokio::sync::Barrier;

use crate::scratch::Scratch;

/// An arbitrary, fixed "now" (2023-11-14T22:13:20Z); scenarios move time explicitly.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// The `stale_after` every scenario passes to `begin`.
pub const STALE: Duration = Duration::from_secs(40);

/// The `ttl` every scenario passes to `begin`.
pub const TTL: Duration = Duration::from_secs(24 * 3600);

/// `T0` plus `millis`.
pub fn at(millis: u64) -> Timestamp {
    T0.saturating_add(Duration::from_millis(millis))
}

/// The attempt id `begin` claims for at `now`.
pub fn attempt_at(now: Timestamp) -> String {
    format!("attempt-{}", now.as_millis())
}

/// `begin` for `attempt_at(now)` with the scenario-wide `STALE` and `TTL`, failing the test on
/// a store error.
pub async fn begin(store: &dyn Store, key: &str, fingerprint: &str, now: Timestamp) -> Begin {
    store
        .begin(key, fingerprint, &attempt_at(now), now, STALE, TTL)
        .await
        .expect("begin should reach the store")
}

/// Twenty `begin` calls on `key` at `now`, released together, alternating between the pools.
pub async fn race(pools: &[Arc<dyn Store>; 2], key: &str, now: Timestamp) -> Vec<Begin> {
    let barrier = Arc::new(Barrier::new(20));
    let calls = (0..20).map(|i| {
        let (store, barrier, key) = (
            Arc::clone(&pools[i % 2]),
            Arc::clone(&barrier),
            key.to_owned(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            let attempt = format!("{}-{i}", attempt_at(now));
            store.begin(&key, "fp-a", &attempt, now, STALE, TTL).await
        })
    });
    join_all(calls)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("the task should not panic")
                .expect("begin should reach the store")
        })
        .collect()
}

pub fn count(answers: &[Begin], wanted: &Begin) -> usize {
    answers.iter().filter(|answer| *answer == wanted).count()
}

/// A pending audit row for document `position` of `request_id` (attempt `attempt-REQUEST_ID`).
pub fn pending(request_id: &str, position: u32, code: &str, received_at: Timestamp) -> AuditRow {
    AuditRow {
        attempt_id: format!("attempt-{request_id}"),
        request_id: request_id.to_owned(),
        position,
        idempotency_key: None,
        received_at,
        finished_at: None,
        email: "ops@example.com".to_owned(),
        message: "Contract withdrawn".to_owned(),
        code: code.to_owned(),
        vendor: Some("zapsign".to_owned()),
        vendor_code: Some(code.trim_start_matches("zapsign:").to_owned()),
        status: RowStatus::Pending,
        error_code: None,
        vendor_status: None,
        vendor_calls: 0,
        notify_signers: true,
        error_message: None,
        outcome_unknown: false,
        recovered_at: None,
        recovered_by: None,
        vendor_state: None,
        queued: false,
        confirm_at: None,
    }
}

/// One test's store, on a database no other test sees.
pub struct Harness {
    /// The store under test.
    pub store: Arc<dyn Store>,
    scratch: Scratch,
}

impl Harness {
    /// A store on a new SQLite file in the temp directory.
    pub async fn sqlite() -> Self {
        let scratch = Scratch::sqlite();
        let store = connect(&scratch.url)
            .await
            .expect("a SQLite store on a temp file");
        Self { store, scratch }
    }

    /// A store on a new Postgres database, or `None` when `POSTGRES_URL_VAR` is not set.
    pub async fn postgres(test: &str) -> Option<Self> {
        let scratch = Scratch::postgres(test).await?;
        let store = connect(&scratch.url)
            .await
            .unwrap_or_else(|e| panic!("could not open the Postgres store: {e}"));
        Some(Self { store, scratch })
    }

    /// A second store (its own connection pool) on the same database.
    pub async fn another_pool(&self) -> Arc<dyn Store> {
        connect(&self.scratch.url)
            .await
            .expect("a second pool on the test database")
    }

    /// Runs one SQL statement on the database directly, past the store's types: SQL the test
    /// wrote itself, never input.
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        if self.scratch.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.scratch.url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.scratch.url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
            pool.close().await;
        }
        Ok(())
    }

    /// A store on the same database that can read but not write.
    pub async fn read_only_store(&self) -> Arc<dyn Store> {
        let url = self.scratch.read_only_url().await;
        if url == self.scratch.url {
            // Postgres: the database itself turned read-only; the harness pool reconnects.
            Arc::clone(&self.store)
        } else {
            connect(&url).await.expect("a read-only store")
        }
    }
}
