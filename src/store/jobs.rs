//! The store's part of bulk cancellation jobs (docs/jobs.md): the `jobs` table, the job's
//! documents as audit rows (`attempt_id` = the job's id, `job = TRUE`), the atomic claim of a
//! slice of them, and the callback's delivery state.
//!
//! A document is `waiting` until a runner claims it; the claim turns it `pending` and leases it
//! to the runner in the same statement (Postgres: `FOR UPDATE SKIP LOCKED`, so replicas never
//! claim the same row). A `pending` document whose lease has passed (its runner died mid-slice)
//! is claimed again with its outcome marked unknown, so the next slice reads its status before
//! any send. The SQL text is shared by both backends apart from that lock clause.

use async_trait::async_trait;

use super::sql::{audit_columns, AuditRecord};
use super::{AuditRow, Completion, RowStatus, StoreError, Timestamp};

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted; no document claimed yet.
    Queued,
    /// Some documents claimed.
    Running,
    /// Every document has its outcome.
    Done,
    /// Stopped by `DELETE`: documents not sent yet ended `aborted`.
    Cancelled,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn from_wire(name: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// Whether the job has ended (`done` or `cancelled`).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled)
    }
}

/// Where a job's callback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    /// Not delivered yet (or the job has not ended).
    Pending,
    /// A receiver answered `2xx`.
    Delivered,
    /// Every attempt failed until the retry period ended.
    Failed,
}

impl CallbackState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn from_wire(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A job as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// signgate's id for the job (a UUID), also its documents' `attempt_id`.
    pub id: String,
    /// The creating request's id.
    pub request_id: String,
    /// Documents in the job.
    pub total: u32,
    /// Who cancels.
    pub email: String,
    /// The reason.
    pub message: String,
    /// Whether signers are told.
    pub notify_signers: bool,
    /// When it was accepted.
    pub created_at: Timestamp,
    /// Where its summary is posted when it ends.
    pub callback_url: Option<String>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// What it was created with.
    pub job: NewJob,
    /// Its state.
    pub state: JobState,
    /// When its first document was claimed.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// The callback's state; `None` without a callback.
    pub callback_state: Option<CallbackState>,
    /// Delivery attempts so far.
    pub callback_attempts: u32,
}

/// How many of a job's documents of one vendor (as routed so far) are in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The vendor; `None` while a code's vendor is not known yet, or when it has none.
    pub vendor: Option<String>,
    /// The status.
    pub status: RowStatus,
    /// How many.
    pub documents: u64,
}

/// One claimed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDocument {
    /// Its audit row, now `pending` and leased to the claimer. `outcome_unknown` says an
    /// earlier slice may have sent its cancel: read its status before any send.
    pub row: AuditRow,
    /// Slices that carried it before this one.
    pub attempts: u32,
}

/// What a document's slice decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceOutcome {
    /// The row with its outcome (final status), or `waiting` again to be retried.
    pub row: AuditRow,
    /// Slices that carried it, this one included.
    pub attempts: u32,
    /// When a `waiting` row may be claimed again.
    pub next_at: Option<Timestamp>,
}

/// What `JobStore::claim_slice` claims, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct SliceClaim<'a> {
    /// The runner's name (the lease owner).
    pub owner: &'a str,
    /// The vendor whose documents are claimed; `""` for documents whose vendor is not known
    /// yet (codes that several vendors could hold).
    pub lane: &'a str,
    /// The claim's time.
    pub now: Timestamp,
    /// The lease's end.
    pub lease_until: Timestamp,
    /// Most documents claimed.
    pub limit: u32,
}

/// One delivery attempt of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAttempt {
    /// When it was made.
    pub at: Timestamp,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// What comes after a callback attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackNext {
    /// Delivered: no more attempts.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Give up.
    Failed,
}

/// The job queue's figures for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobGauges {
    /// Jobs by state.
    pub jobs: Vec<(JobState, u64)>,
    /// Documents `waiting` by vendor (`""`: vendor not known yet).
    pub waiting: Vec<(String, u64)>,
}

/// Jobs in the store. Every method is one transaction.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Writes a job, its documents' rows (`waiting`, due at once, or already finished when
    /// nothing can be sent for them) and, in the same transaction, completes the
    /// `Idempotency-Key` of `completion`: a retry then finds the job, never creates a second.
    async fn create_job(
        &self,
        job: &NewJob,
        rows: &[AuditRow],
        completion: Option<Completion<'_>>,
    ) -> Result<(), StoreError>;

    /// The job, if it exists.
    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// Its documents counted by vendor and status.
    async fn job_tally(&self, id: &str) -> Result<Vec<Tally>, StoreError>;

    /// The codes of its documents not cancelled (any status but `cancelled`), in order.
    async fn job_failures(&self, id: &str) -> Result<Vec<String>, StoreError>;

    /// At most `limit` of its rows from position `from` on, in order.
    async fn job_rows(&self, id: &str, from: u32, limit: u32) -> Result<Vec<AuditRow>, StoreError>;

    /// Claims at most `limit` due documents of the lane (see `SliceClaim`) of active jobs,
    /// soonest due first, and marks their jobs `running`.
    async fn claim_slice(&self, claim: &SliceClaim<'_>) -> Result<Vec<JobDocument>, StoreError>;

    /// Writes the outcomes of documents `owner` still holds (others are left alone), ends the
    /// documents of a job cancelled meanwhile that went back to `waiting` (`aborted`), and
    /// marks `done` each job left with nothing `waiting` or `pending`. Returns how many rows
    /// were written.
    async fn finish_slice(
        &self,
        owner: &str,
        outcomes: &[SliceOutcome],
        now: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Cancels an active job: it ends `cancelled` and its `waiting` documents `failed` with
    /// `aborted` (documents being cancelled finish). Returns the job as it is after, or `None`
    /// when it does not exist; a job that already ended is left as it was.
    async fn abort_job(&self, id: &str, now: Timestamp) -> Result<Option<JobRecord>, StoreError>;

    /// Leases to `owner` until `lease_until` at most `limit` callbacks due at `now` of jobs
    /// that ended with no document still being cancelled.
    async fn claim_callbacks(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError>;

    /// Records a delivery attempt of a callback `owner` holds and what comes next, releasing
    /// the lease. Returns whether it still held it.
    async fn record_callback(
        &self,
        id: &str,
        owner: &str,
        attempt: &CallbackAttempt,
        next: CallbackNext,
    ) -> Result<bool, StoreError>;

    /// Every delivery attempt of a job's callback, in order.
    async fn callback_attempts(&self, id: &str) -> Result<Vec<CallbackAttempt>, StoreError>;

    /// Jobs by state and waiting documents by vendor.
    async fn job_gauges(&self) -> Result<JobGauges, StoreError>;

    /// Deletes at most `batch` jobs that ended before `before`, whose callback is not waiting
    /// for a delivery and whose documents the audit purge has already deleted, with their
    /// callback attempts; oldest first, in one statement. Says how many went.
    async fn purge_jobs(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError>;
}

/// The columns of `jobs`, in `JobRow`'s order.
macro_rules! job_columns {
    () => {
        "id, request_id, state, total, email, message, notify_signers, created_at, started_at, \
         finished_at, callback_url, callback_state, callback_attempts"
    };
}

/// `$1`..`$10`: the new job's columns.
pub(super) const INSERT_JOB: &str = "\
INSERT INTO jobs (id, request_id, state, total, email, message, notify_signers, created_at,
                  callback_url, callback_state)
VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, NULL)";

/// Marks the rows of job `$1` as a job's, due at `$2`.
pub(super) const MARK_JOB_ROWS: &str = "\
UPDATE audit_events SET job = TRUE, job_next_at = CASE WHEN status = 'waiting' THEN $2 END
WHERE attempt_id = $1";

/// `$1` id.
pub(super) const SELECT_JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");

/// `$1` id.
pub(super) const JOB_TALLY: &str = "\
SELECT vendor, status, COUNT(*) AS documents FROM audit_events WHERE attempt_id = $1
GROUP BY vendor, status ORDER BY vendor, status";

/// `$1` id.
pub(super) const JOB_FAILURES: &str = "\
SELECT code FROM audit_events WHERE attempt_id = $1 AND status <> 'cancelled' ORDER BY position";

/// `$1` id, `$2` first position, `$3` limit.
pub(super) const JOB_ROWS: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit_events WHERE attempt_id = $1 AND position >= $2 ORDER BY position LIMIT $3"
);

/// A job's document that a runner may claim at `$3` (now): due and `waiting`, or `pending`
/// with its lease passed.
macro_rules! claimable {
    () => {
        "job = TRUE AND ((status = 'waiting' AND job_next_at <= $3) \
         OR (status = 'pending' AND recovery_lease_until < $3))"
    };
}

/// `$1` owner, `$2` lease_until, `$3` now, `$4` lane (`''`: vendor not known yet), `$5` most
/// documents; `$lock` is the backend's row lock clause. The pick is materialised first, so
/// its `LIMIT` holds whatever plan the update gets. `SET` reads the row as it was: a row
/// claimed while `pending` (its runner died) is resumed, its outcome unknown.
macro_rules! claim_slice {
    ($lock:literal) => {
        concat!(
            "WITH picked AS MATERIALIZED (\
               SELECT attempt_id AS picked_attempt, position AS picked_position \
               FROM audit_events WHERE COALESCE(vendor, '') = $4 AND ",
            claimable!(),
            " ORDER BY job_next_at, attempt_id, position LIMIT $5 ",
            $lock,
            ") UPDATE audit_events SET status = 'pending', \
             outcome_unknown = (outcome_unknown OR status = 'pending'), \
             recovery_owner = $1, recovery_lease_until = $2 \
             FROM picked WHERE attempt_id = picked_attempt AND position = picked_position \
             RETURNING ",
            audit_columns!(),
            ", job_attempts"
        )
    };
}

/// `claim_slice!` for Postgres: replicas skip each other's locked rows instead of waiting.
pub(super) const CLAIM_SLICE_POSTGRES: &str = claim_slice!("FOR UPDATE SKIP LOCKED");
/// `claim_slice!` for SQLite: one process, one writer at a time.
pub(super) const CLAIM_SLICE_SQLITE: &str = claim_slice!("");

/// `$1` job, `$2` now.
pub(super) const START_JOB: &str = "\
UPDATE jobs SET state = 'running', started_at = $2 WHERE id = $1 AND state = 'queued'";

/// `$1` status, `$2` error_code, `$3` error_message, `$4` finished_at, `$5` vendor_status,
/// `$6` vendor_calls, `$7` outcome_unknown, `$8` vendor_state, `$9` queued, `$10` confirm_at,
/// `$11` job_attempts, `$12` job_next_at, `$13` vendor, `$14` vendor_code, `$15` attempt_id,
/// `$16` position, `$17` owner.
pub(super) const FINISH_JOB_ROW: &str = "\
UPDATE audit_events
SET status = $1, error_code = $2, error_message = $3, finished_at = $4, vendor_status = $5,
    vendor_calls = $6, outcome_unknown = $7, vendor_state = $8, queued = $9, confirm_at = $10,
    job_attempts = $11, job_next_at = $12, vendor = $13, vendor_code = $14,
    recovery_owner = NULL, recovery_lease_until = NULL
WHERE attempt_id = $15 AND position = $16 AND recovery_owner = $17 AND status = 'pending'";

/// Ends job `$1` at `$2` when nothing of it is `waiting` or `pending` any more; its callback
/// (if any) is due at once.
pub(super) const COMPLETE_JOB: &str = "\
UPDATE jobs SET state = 'done', finished_at = $2,
    callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
    callback_next_at = $2
WHERE id = $1 AND state IN ('queued', 'running')
  AND NOT EXISTS (SELECT 1 FROM audit_events
                  WHERE attempt_id = $1 AND status IN ('waiting', 'pending'))";

/// Cancels active job `$1` at `$2`.
pub(super) const CANCEL_JOB: &str = "\
UPDATE jobs SET state = 'cancelled', finished_at = $2,
    callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
    callback_next_at = $2
WHERE id = $1 AND state IN ('queued', 'running')";

/// A job that may go at `$1` (the retention's horizon): ended before it, its callback not
/// waiting for a delivery, its documents already purged from the trail.
macro_rules! purgeable_job {
    () => {
        "state IN ('done', 'cancelled') AND finished_at < $1 \
         AND (callback_state IS NULL OR callback_state <> 'pending') \
         AND NOT EXISTS (SELECT 1 FROM audit_events WHERE attempt_id = jobs.id)"
    };
}

/// Deletes at most `$2` jobs `purgeable_job!` at `$1`, oldest first; their callback attempts
/// go with them (`ON DELETE CASCADE`). Jobs are few (one per bulk request), so the pick reads
/// the table without an index of its own; the outer test is repeated as in `PURGE_AUDIT`.
pub(super) const PURGE_JOBS: &str = concat!(
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE ",
    purgeable_job!(),
    " ORDER BY finished_at LIMIT $2) AND ",
    purgeable_job!()
);

/// Ends at `$2` the `waiting` documents of job `$1` if it was cancelled, with message `$3`.
pub(super) const ABORT_WAITING: &str = "\
UPDATE audit_events
SET status = 'failed', error_code = 'aborted', error_message = $3, finished_at = $2,
    job_next_at = NULL
WHERE attempt_id = $1 AND status = 'waiting'
  AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND state = 'cancelled')";

/// The message of a document that a cancelled job never sent.
pub(super) const ABORTED: &str = "The job was cancelled before this document was sent.";

/// A callback `owner` may claim at `$3` (now).
macro_rules! callback_due {
    () => {
        "callback_state = 'pending' AND callback_next_at <= $3 \
         AND (callback_lease_until IS NULL OR callback_lease_until < $3)"
    };
}

/// `$1` owner, `$2` lease_until, `$3` now, `$4` most; `$lock` as in `claim_slice!`.
macro_rules! claim_callbacks {
    ($lock:literal) => {
        concat!(
            "WITH picked AS MATERIALIZED (SELECT id AS picked_id FROM jobs WHERE ",
            callback_due!(),
            " AND NOT EXISTS (SELECT 1 FROM audit_events \
               WHERE attempt_id = jobs.id AND status = 'pending') \
             ORDER BY callback_next_at LIMIT $4 ",
            $lock,
            ") UPDATE jobs SET callback_owner = $1, callback_lease_until = $2 \
             FROM picked WHERE id = picked_id RETURNING ",
            job_columns!()
        )
    };
}

/// `claim_callbacks!` for Postgres.
pub(super) const CLAIM_CALLBACKS_POSTGRES: &str = claim_callbacks!("FOR UPDATE SKIP LOCKED");
/// `claim_callbacks!` for SQLite.
pub(super) const CLAIM_CALLBACKS_SQLITE: &str = claim_callbacks!("");

/// `$1` id, `$2` at, `$3` status, `$4` error, `$5` owner.
pub(super) const INSERT_CALLBACK_ATTEMPT: &str = "\
INSERT INTO job_callback_attempts (job_id, attempt, at, status, error)
SELECT id, callback_attempts + 1, $2, $3, $4 FROM jobs WHERE id = $1 AND callback_owner = $5";

/// `$1` id, `$2` callback_state, `$3` callback_next_at, `$4` owner.
pub(super) const RECORD_CALLBACK: &str = "\
UPDATE jobs SET callback_attempts = callback_attempts + 1, callback_state = $2,
    callback_next_at = $3, callback_owner = NULL, callback_lease_until = NULL
WHERE id = $1 AND callback_owner = $4";

/// `$1` id.
pub(super) const CALLBACK_ATTEMPTS: &str = "\
SELECT at, status, error FROM job_callback_attempts WHERE job_id = $1 ORDER BY attempt";

pub(super) const JOBS_BY_STATE: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state";

pub(super) const WAITING_BY_VENDOR: &str = "\
SELECT COALESCE(vendor, ''), COUNT(*) FROM audit_events WHERE status = 'waiting'
GROUP BY COALESCE(vendor, '')";

/// A `jobs` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct JobRow {
    id: String,
    request_id: String,
    state: String,
    total: i64,
    email: String,
    message: String,
    notify_signers: bool,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    callback_url: Option<String>,
    callback_state: Option<String>,
    callback_attempts: i64,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("jobs.{what}"));
        Ok(Self {
            state: JobState::from_wire(&row.state)
                .ok_or_else(|| corrupt(format!("state `{}` is unknown", row.state)))?,
            started_at: row.started_at.map(Timestamp::from_millis),
            finished_at: row.finished_at.map(Timestamp::from_millis),
            callback_state: row
                .callback_state
                .map(|s| {
                    CallbackState::from_wire(&s)
                        .ok_or_else(|| corrupt(format!("callback_state `{s}` is unknown")))
                })
                .transpose()?,
            callback_attempts: u32::try_from(row.callback_attempts)
                .map_err(|_| corrupt("callback_attempts is out of range".into()))?,
            job: NewJob {
                id: row.id,
                request_id: row.request_id,
                total: u32::try_from(row.total)
                    .map_err(|_| corrupt("total is out of range".into()))?,
                email: row.email,
                message: row.message,
                notify_signers: row.notify_signers,
                created_at: Timestamp::from_millis(row.created_at),
                callback_url: row.callback_url,
            },
        })
    }
}

/// A claimed document as returned.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimedRecord {
    #[sqlx(flatten)]
    row: AuditRecord,
    job_attempts: i64,
}

impl TryFrom<ClaimedRecord> for JobDocument {
    type Error = StoreError;

    fn try_from(record: ClaimedRecord) -> Result<Self, StoreError> {
        Ok(Self {
            row: AuditRow::try_from(record.row)?,
            attempts: u32::try_from(record.job_attempts).map_err(|_| {
                StoreError::Corrupt("audit_events.job_attempts is out of range".into())
            })?,
        })
    }
}

/// A tally row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct TallyRow {
    vendor: Option<String>,
    status: String,
    documents: i64,
}

impl TryFrom<TallyRow> for Tally {
    type Error = StoreError;

    fn try_from(row: TallyRow) -> Result<Self, StoreError> {
        Ok(Self {
            vendor: row.vendor,
            status: RowStatus::from_wire(&row.status).ok_or_else(|| {
                StoreError::Corrupt(format!("audit_events.status `{}` is unknown", row.status))
            })?,
            documents: u64::try_from(row.documents).unwrap_or(0),
        })
    }
}

/// A callback attempt as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AttemptRow {
    at: i64,
    status: Option<i64>,
    error: Option<String>,
}

impl From<AttemptRow> for CallbackAttempt {
    fn from(row: AttemptRow) -> Self {
        Self {
            at: Timestamp::from_millis(row.at),
            status: row.status.and_then(|s| u16::try_from(s).ok()),
            error: row.error,
        }
    }
}

/// Implements `JobStore` for a backend with an sqlx `pool`, claiming with its own statements
/// (`CLAIM_SLICE_*`, `CLAIM_CALLBACKS_*`: they differ only in the row lock clause).
macro_rules! pool_job_store {
    ($store:ty, $claim_slice:expr, $claim_callbacks:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::JobStore for $store {
            async fn create_job(
                &self,
                job: &$crate::store::NewJob,
                rows: &[$crate::store::AuditRow],
                completion: Option<$crate::store::Completion<'_>>,
            ) -> Result<(), $crate::store::StoreError> {
                const OPERATION: &str = "create a job";
                let fail = $crate::store::StoreError::database(OPERATION);
                let mut tx = self.pool.begin().await.map_err(fail)?;
                sqlx::query($crate::store::jobs::INSERT_JOB)
                    .bind(job.id.as_str())
                    .bind(job.request_id.as_str())
                    .bind(i64::from(job.total))
                    .bind(job.email.as_str())
                    .bind(job.message.as_str())
                    .bind(job.notify_signers)
                    .bind(job.created_at.as_millis())
                    .bind(job.callback_url.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                for chunk in rows.chunks($crate::store::sql::INSERT_CHUNK) {
                    $crate::store::sql::insert_audit_rows(chunk)
                        .build()
                        .persistent(false)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                sqlx::query($crate::store::jobs::MARK_JOB_ROWS)
                    .bind(job.id.as_str())
                    .bind(job.created_at.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                // A job whose every document was settled at creation has already ended.
                sqlx::query($crate::store::jobs::COMPLETE_JOB)
                    .bind(job.id.as_str())
                    .bind(job.created_at.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                if let Some(done) = completion {
                    let completed = sqlx::query($crate::store::sql::COMPLETE_ATTEMPT_KEY)
                        .bind(done.key)
                        .bind(done.attempt_id)
                        .bind(done.body)
                        .bind(done.now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    if completed.rows_affected() == 0 {
                        return Err($crate::store::StoreError::KeyNotHeld);
                    }
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))
            }

            async fn job(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::JobRecord>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::jobs::JobRow>($crate::store::jobs::SELECT_JOB)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("read a job"))?
                    .map($crate::store::JobRecord::try_from)
                    .transpose()
            }

            async fn job_tally(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::store::Tally>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::jobs::TallyRow>($crate::store::jobs::JOB_TALLY)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "count a job's documents",
                    ))?
                    .into_iter()
                    .map($crate::store::Tally::try_from)
                    .collect()
            }

            async fn job_failures(
                &self,
                id: &str,
            ) -> Result<Vec<String>, $crate::store::StoreError> {
                sqlx::query_scalar($crate::store::jobs::JOB_FAILURES)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("read a job's failures"))
            }

            async fn job_rows(
                &self,
                id: &str,
                from: u32,
                limit: u32,
            ) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::sql::AuditRecord>($crate::store::jobs::JOB_ROWS)
                    .bind(id)
                    .bind(i64::from(from))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "read a job's documents",
                    ))?
                    .into_iter()
                    .map($crate::store::AuditRow::try_from)
                    .collect()
            }

            async fn claim_slice(
                &self,
                claim: &$crate::store::SliceClaim<'_>,
            ) -> Result<Vec<$crate::store::JobDocument>, $crate::store::StoreError> {
                const OPERATION: &str = "claim a slice of a job";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let claimed = sqlx::query_as::<_, $crate::store::jobs::ClaimedRecord>($claim_slice)
                    .bind(claim.owner)
                    .bind(claim.lease_until.as_millis())
                    .bind(claim.now.as_millis())
                    .bind(claim.lane)
                    .bind(i64::from(claim.limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?
                    .into_iter()
                    .map($crate::store::JobDocument::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut jobs: Vec<&str> =
                    claimed.iter().map(|d| d.row.attempt_id.as_str()).collect();
                jobs.sort_unstable();
                jobs.dedup();
                for job in jobs {
                    sqlx::query($crate::store::jobs::START_JOB)
                        .bind(job)
                        .bind(claim.now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(claimed)
            }

            async fn finish_slice(
                &self,
                owner: &str,
                outcomes: &[$crate::store::SliceOutcome],
                now: $crate::store::Timestamp,
            ) -> Result<u64, $crate::store::StoreError> {
                const OPERATION: &str = "record a slice's outcomes";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let mut written = 0;
                for done in outcomes {
                    let row = &done.row;
                    written += sqlx::query($crate::store::jobs::FINISH_JOB_ROW)
                        .bind(row.status.as_str())
                        .bind(row.error_code.map($crate::model::ErrorCode::as_str))
                        .bind(row.error_message.as_deref())
                        .bind(row.finished_at.map($crate::store::Timestamp::as_millis))
                        .bind(row.vendor_status.map(i64::from))
                        .bind(i64::from(row.vendor_calls))
                        .bind(row.outcome_unknown)
                        .bind(row.vendor_state.map($crate::model::DocState::as_str))
                        .bind(row.queued)
                        .bind(row.confirm_at.map($crate::store::Timestamp::as_millis))
                        .bind(i64::from(done.attempts))
                        .bind(done.next_at.map($crate::store::Timestamp::as_millis))
                        .bind(row.vendor.as_deref())
                        .bind(row.vendor_code.as_deref())
                        .bind(row.attempt_id.as_str())
                        .bind(i64::from(row.position))
                        .bind(owner)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?
                        .rows_affected();
                }
                let mut jobs: Vec<&str> =
                    outcomes.iter().map(|d| d.row.attempt_id.as_str()).collect();
                jobs.sort_unstable();
                jobs.dedup();
                for job in jobs {
                    sqlx::query($crate::store::jobs::ABORT_WAITING)
                        .bind(job)
                        .bind(now.as_millis())
                        .bind($crate::store::jobs::ABORTED)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    sqlx::query($crate::store::jobs::COMPLETE_JOB)
                        .bind(job)
                        .bind(now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(written)
            }

            async fn abort_job(
                &self,
                id: &str,
                now: $crate::store::Timestamp,
            ) -> Result<Option<$crate::store::JobRecord>, $crate::store::StoreError> {
                const OPERATION: &str = "cancel a job";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                sqlx::query($crate::store::jobs::CANCEL_JOB)
                    .bind(id)
                    .bind(now.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                sqlx::query($crate::store::jobs::ABORT_WAITING)
                    .bind(id)
                    .bind(now.as_millis())
                    .bind($crate::store::jobs::ABORTED)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let job = sqlx::query_as::<_, $crate::store::jobs::JobRow>(
                    $crate::store::jobs::SELECT_JOB,
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::store::StoreError::database(OPERATION))?;
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                job.map($crate::store::JobRecord::try_from).transpose()
            }

            async fn claim_callbacks(
                &self,
                owner: &str,
                now: $crate::store::Timestamp,
                lease_until: $crate::store::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::store::JobRecord>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::jobs::JobRow>($claim_callbacks)
                    .bind(owner)
                    .bind(lease_until.as_millis())
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("claim job callbacks"))?
                    .into_iter()
                    .map($crate::store::JobRecord::try_from)
                    .collect()
            }

            async fn record_callback(
                &self,
                id: &str,
                owner: &str,
                attempt: &$crate::store::CallbackAttempt,
                next: $crate::store::CallbackNext,
            ) -> Result<bool, $crate::store::StoreError> {
                const OPERATION: &str = "record a callback attempt";
                let (state, next_at) = match next {
                    $crate::store::CallbackNext::Delivered => ("delivered", None),
                    $crate::store::CallbackNext::RetryAt(at) => ("pending", Some(at.as_millis())),
                    $crate::store::CallbackNext::Failed => ("failed", None),
                };
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                sqlx::query($crate::store::jobs::INSERT_CALLBACK_ATTEMPT)
                    .bind(id)
                    .bind(attempt.at.as_millis())
                    .bind(attempt.status.map(i64::from))
                    .bind(attempt.error.as_deref())
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let held = sqlx::query($crate::store::jobs::RECORD_CALLBACK)
                    .bind(id)
                    .bind(state)
                    .bind(next_at)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?
                    .rows_affected();
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(held > 0)
            }

            async fn callback_attempts(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::store::CallbackAttempt>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<_, $crate::store::jobs::AttemptRow>(
                    $crate::store::jobs::CALLBACK_ATTEMPTS,
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::StoreError::database(
                    "read callback attempts",
                ))?
                .into_iter()
                .map($crate::store::CallbackAttempt::from)
                .collect())
            }

            async fn job_gauges(
                &self,
            ) -> Result<$crate::store::JobGauges, $crate::store::StoreError> {
                const OPERATION: &str = "count jobs";
                let states: Vec<(String, i64)> = sqlx::query_as($crate::store::jobs::JOBS_BY_STATE)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let waiting: Vec<(String, i64)> =
                    sqlx::query_as($crate::store::jobs::WAITING_BY_VENDOR)
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                Ok($crate::store::JobGauges {
                    jobs: states
                        .into_iter()
                        .filter_map(|(s, n)| {
                            $crate::store::JobState::from_wire(&s).map(|s| (s, count(n)))
                        })
                        .collect(),
                    waiting: waiting.into_iter().map(|(v, n)| (v, count(n))).collect(),
                })
            }

            async fn purge_jobs(
                &self,
                before: $crate::store::Timestamp,
                batch: u32,
            ) -> Result<u64, $crate::store::StoreError> {
                let purged = sqlx::query($crate::store::jobs::PURGE_JOBS)
                    .bind(before.as_millis())
                    .bind(i64::from(batch))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("purge old jobs"))?;
                Ok(purged.rows_affected())
            }
        }
    };
}
pub(super) use pool_job_store;
