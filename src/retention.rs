//! Retention of the audit trail: a background task deletes audit rows (and remembered code
//! owners, and bulk jobs once their documents are gone) older than
//! `store.audit_retention_days`, in small batches with a pause between
//! them, so the cancels that share the database (SQLite has one writer) keep going. Rows a
//! recovery still needs are kept whatever their age (the store decides which: `purge_audit`).
//! Every replica runs the task; deleting the same rows concurrently is harmless.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics;
use crate::settings::StoreSettings;
use crate::store::{Store, StoreError, Timestamp};
use crate::supervisor::Supervisor;

/// Rows per delete statement. Each statement is its own transaction that holds SQLite's write
/// lock (or Postgres row locks) while it runs: 1,000 rows took 11 ms on SQLite and 40 ms on a
/// loaded Postgres (bench/retention.rs), the order of a cancel's own write at p99, while the
/// per-statement cost (index search, commit) is spread over enough rows to purge a day of a
/// busy gateway (8.6 million rows at 100 documents a second) in well under an hour.
pub const BATCH: u32 = 1_000;

/// The shortest pause after each batch that deleted rows.
pub const PAUSE: Duration = Duration::from_millis(100);

/// The pause after a batch is also at least this many times as long as the batch took, so a
/// purge holds the database at most a fifth of the time however slow its statements are
/// (bench/README.md: on a loaded Postgres, 40 ms statements with only the fixed pause raised
/// the cancels' write p99 tenfold).
pub const IDLE_PER_BUSY: u32 = 4;

/// How often the purge runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// How long after start-up the first purge runs (the server is up and serving by then).
pub const FIRST_AFTER: Duration = Duration::from_secs(30);

/// How a purge paces itself: rows per statement and the pause between statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Most rows per delete statement (at least 1).
    pub batch: u32,
    /// The shortest pause after a batch that deleted rows (longer when the batch was slow:
    /// `IDLE_PER_BUSY`).
    pub pause: Duration,
}

impl Default for Pace {
    /// `BATCH` rows, then `PAUSE`.
    fn default() -> Self {
        Self {
            batch: BATCH,
            pause: PAUSE,
        }
    }
}

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Audit rows deleted.
    pub audit_rows: u64,
    /// Remembered code owners deleted.
    pub code_owners: u64,
    /// Ended bulk jobs deleted (with their callback attempts).
    pub jobs: u64,
    /// Delete statements run, on both tables.
    pub statements: u32,
    /// Time spent in those statements (the rest of a purge is pauses).
    pub busy: Duration,
}

/// Deletes, batch after batch, the audit rows received and the code owners found before
/// `now - retention` (audit rows only where recovery no longer needs them at `now`), then the
/// jobs that ended before it and have no document left (`JobStore::purge_jobs`); with no
/// retention (0 days) it deletes nothing. Each table is done when a statement deletes nothing:
/// a replica purging at the same time may take some rows of a batch, never stop this one early.
pub async fn purge(
    store: &dyn Store,
    retention: Option<Duration>,
    now: Timestamp,
    pace: Pace,
) -> Result<Purged, StoreError> {
    let Some(retention) = retention else {
        return Ok(Purged::default());
    };
    let before = now.saturating_sub(retention);
    let batch = pace.batch.max(1);
    let audit = drain(pace, metrics::audit_rows_purged("audit_events"), || {
        store.purge_audit(before, now, batch)
    })
    .await?;
    let owners = drain(pace, metrics::audit_rows_purged("code_owners"), || {
        store.purge_owners(before, batch)
    })
    .await?;
    // After the audit rows: a job goes once its documents have.
    let jobs = drain(pace, metrics::audit_rows_purged("jobs"), || {
        store.purge_jobs(before, batch)
    })
    .await?;
    Ok(Purged {
        audit_rows: audit.rows,
        code_owners: owners.rows,
        jobs: jobs.rows,
        statements: audit.statements + owners.statements + jobs.statements,
        busy: audit.busy + owners.busy + jobs.busy,
    })
}

/// What one `drain` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Rows deleted.
    pub rows: u64,
    /// Delete statements run.
    pub statements: u32,
    /// Time spent in them.
    pub busy: Duration,
}

/// Runs `statement` (one batch of deletes) until it deletes nothing, pausing after each batch
/// that deleted rows as `pace` says; adds each batch's rows to `counter`.
pub async fn drain<F, Fut>(
    pace: Pace,
    counter: ::metrics::Counter,
    mut statement: F,
) -> Result<Drained, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut drained = Drained::default();
    loop {
        let started = Instant::now();
        let deleted = statement().await?;
        let took = started.elapsed();
        drained.statements += 1;
        drained.busy += took;
        if deleted == 0 {
            return Ok(drained);
        }
        drained.rows += deleted;
        counter.increment(deleted);
        tokio::time::sleep(pace.pause.max(took * IDLE_PER_BUSY)).await;
    }
}

/// Starts the purge task: a first purge `FIRST_AFTER` start-up, then one every `EVERY`.
/// With a retention of 0 days it says so and ends at once. A failed purge is logged and
/// retried at the next turn; the task never stops the server.
pub fn spawn(
    supervisor: &Supervisor,
    store: Arc<dyn Store>,
    settings: &StoreSettings,
) -> JoinHandle<()> {
    let retention = settings.audit_retention();
    supervisor.spawn("retention", move || {
        let store = Arc::clone(&store);
        async move {
            let Some(retention) = retention else {
                tracing::info!(
                    "The audit trail is kept forever (store.audit_retention_days = 0); no purge runs."
                );
                return;
            };
            let days = retention.as_secs() / 86_400;
            tracing::info!(retention_days = days, "The audit purge is scheduled.");
            let mut ticks = tokio::time::interval_at(Instant::now() + FIRST_AFTER, EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                run_once(store.as_ref(), Some(retention), days).await;
            }
        }
    })
}

/// One scheduled purge, logged.
async fn run_once(store: &dyn Store, retention: Option<Duration>, days: u64) {
    let started = std::time::Instant::now();
    match purge(store, retention, Timestamp::now(), Pace::default()).await {
        Ok(purged) if purged.audit_rows + purged.code_owners + purged.jobs > 0 => tracing::info!(
            audit_rows = purged.audit_rows,
            code_owners = purged.code_owners,
            jobs = purged.jobs,
            statements = purged.statements,
            busy_ms = purged.busy.as_millis() as u64,
            retention_days = days,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Purged audit rows, code owners and jobs older than the retention."
        ),
        Ok(_) => tracing::debug!(
            retention_days = days,
            "Nothing in the audit trail is older than the retention."
        ),
        Err(e) => tracing::error!(
            error = %e,
            "The audit purge failed; the next turn retries."
        ),
    }
}
