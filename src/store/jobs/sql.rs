//! The SQL of `JobStore`, shared by both backends (the claims differ only in their row lock
//! clause), and the rows it reads.

use super::{CallbackAttempt, CallbackState, JobDocument, JobRecord, JobState, NewJob, Tally};
use crate::store::sql::{audit_columns, AuditRecord};
use crate::store::{AuditRow, RowStatus, StoreError, Timestamp};

/// The columns of `jobs`, in `JobRow`'s order.
macro_rules! job_columns {
    () => {
        "id, request_id, state, total, email, message, notify_signers, created_at, started_at, \
         finished_at, callback_url, callback_state, callback_attempts"
    };
}

/// `$1`..`$10`: the new job's columns.
pub(in crate::store) const INSERT_JOB: &str = "\
INSERT INTO jobs (id, request_id, state, total, email, message, notify_signers, created_at,
                  callback_url, callback_state)
VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, NULL)";

/// Marks the rows of job `$1` as a job's, due at `$2`.
pub(in crate::store) const MARK_JOB_ROWS: &str = "\
UPDATE audit_events SET job = TRUE, job_next_at = CASE WHEN status = 'waiting' THEN $2 END
WHERE attempt_id = $1";

/// `$1` id.
pub(in crate::store) const SELECT_JOB: &str =
    concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");

/// `$1` id.
pub(in crate::store) const JOB_TALLY: &str = "\
SELECT vendor, status, COUNT(*) AS documents FROM audit_events WHERE attempt_id = $1
GROUP BY vendor, status ORDER BY vendor, status";

/// `$1` id.
pub(in crate::store) const JOB_FAILURES: &str = "\
SELECT code FROM audit_events WHERE attempt_id = $1 AND status <> 'cancelled' ORDER BY position";

/// `$1` id, `$2` first position, `$3` limit.
pub(in crate::store) const JOB_ROWS: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit_events WHERE attempt_id = $1 AND position >= $2 ORDER BY position LIMIT $3"
);

/// A job's document that a runner may claim at `$3` (now): due and `waiting`, or `pending`
/// with its lease passed.
macro_rules! claimable {
    () => {
        "job = TRUE AND handling_claims < 2 AND ((status = 'waiting' AND job_next_at <= $3) \
         OR (status = 'pending' AND recovery_lease_until < $3))"
    };
}

/// `$1` owner, `$2` lease_until, `$3` now, `$4` lane (`''`: vendor not known yet), `$5` most
/// documents; `$picked` selects the rows (`picked_attempt`, `picked_position`). The pick is
/// materialised first, so its `LIMIT` holds whatever plan the update gets. `SET` reads the row
/// as it was: a row claimed while `pending` (its runner died) is resumed, its outcome unknown.
macro_rules! claim_slice {
    ($picked:expr) => {
        concat!(
            "WITH picked AS MATERIALIZED (",
            $picked,
            ") UPDATE audit_events SET status = 'pending', \
             outcome_unknown = (outcome_unknown OR status = 'pending'), \
             recovery_owner = $1, recovery_lease_until = $2, \
             handling_claims = handling_claims + 1 \
             FROM picked WHERE attempt_id = picked_attempt AND position = picked_position \
             RETURNING ",
            audit_columns!(),
            ", job_attempts, handling_claims"
        )
    };
}

/// `claim_slice!` for Postgres: replicas skip each other's locked rows instead of waiting.
pub(in crate::store) const CLAIM_SLICE_POSTGRES: &str = claim_slice!(concat!(
    "SELECT attempt_id AS picked_attempt, position AS picked_position \
     FROM audit_events WHERE COALESCE(vendor, '') = $4 AND ",
    claimable!(),
    " ORDER BY job_next_at, attempt_id, position LIMIT $5 FOR UPDATE SKIP LOCKED"
));
/// `claim_slice!` for SQLite (one process, one writer at a time). SQLite matches a partial
/// index only to a condition that implies it, never to one arm of an `OR`: `claimable!` as one
/// condition scans the whole audit table, once a second per lane, holding the write lock. Each
/// arm reads its own index instead (`audit_events_waiting`, `audit_events_job_pending`);
/// waiting rows due at the same time are taken in the order they were written.
pub(in crate::store) const CLAIM_SLICE_SQLITE: &str = claim_slice!(
    "SELECT picked_attempt, picked_position FROM ( \
       SELECT * FROM (SELECT attempt_id AS picked_attempt, position AS picked_position, \
           job_next_at FROM audit_events \
         WHERE status = 'waiting' AND job_next_at <= $3 AND job = TRUE \
           AND handling_claims < 2 AND COALESCE(vendor, '') = $4 ORDER BY job_next_at LIMIT $5) \
       UNION ALL \
       SELECT * FROM (SELECT attempt_id, position, job_next_at FROM audit_events \
         WHERE status = 'pending' AND job = TRUE AND recovery_lease_until < $3 \
           AND handling_claims < 2 AND COALESCE(vendor, '') = $4 LIMIT $5)) \
     ORDER BY job_next_at, picked_attempt, picked_position LIMIT $5"
);

/// `$1` job, `$2` now.
pub(in crate::store) const START_JOB: &str = "\
UPDATE jobs SET state = 'running', started_at = $2 WHERE id = $1 AND state = 'queued'";

/// `$1` status, `$2` error_code, `$3` error_message, `$4` finished_at, `$5` vendor_status,
/// `$6` vendor_calls, `$7` outcome_unknown, `$8` vendor_state, `$9` queued, `$10` confirm_at,
/// `$11` job_attempts, `$12` job_next_at, `$13` vendor, `$14` vendor_code, `$15` attempt_id,
/// `$16` position, `$17` owner.
pub(in crate::store) const FINISH_JOB_ROW: &str = "\
UPDATE audit_events
SET status = $1, error_code = $2, error_message = $3, finished_at = $4, vendor_status = $5,
    vendor_calls = $6, outcome_unknown = $7, vendor_state = $8, queued = $9, confirm_at = $10,
    job_attempts = $11, job_next_at = $12, vendor = $13, vendor_code = $14,
    recovery_owner = NULL, recovery_lease_until = NULL, handling_claims = 0
WHERE attempt_id = $15 AND position = $16 AND recovery_owner = $17 AND status = 'pending'";

/// Ends job `$1` at `$2` when nothing of it is `waiting` or `pending` any more; its callback
/// (if any) is due at once.
pub(in crate::store) const COMPLETE_JOB: &str = "\
UPDATE jobs SET state = 'done', finished_at = $2,
    callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
    callback_next_at = $2
WHERE id = $1 AND state IN ('queued', 'running')
  AND NOT EXISTS (SELECT 1 FROM audit_events
                  WHERE attempt_id = $1 AND status IN ('waiting', 'pending'))";

/// Ends, at `$1`, every active job with nothing `waiting` or `pending` left: one whose last
/// documents two transactions wrote at once, each seeing the other's rows still pending (under
/// Postgres's read committed), so that neither ended it. Active jobs are few (`jobs_active`).
pub(in crate::store) const COMPLETE_FINISHED_JOBS: &str = "\
UPDATE jobs SET state = 'done', finished_at = $1,
    callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
    callback_next_at = $1
WHERE state IN ('queued', 'running')
  AND NOT EXISTS (SELECT 1 FROM audit_events
                  WHERE attempt_id = jobs.id AND status IN ('waiting', 'pending'))";

/// Cancels active job `$1` at `$2`.
pub(in crate::store) const CANCEL_JOB: &str = "\
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
pub(in crate::store) const PURGE_JOBS: &str = concat!(
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE ",
    purgeable_job!(),
    " ORDER BY finished_at LIMIT $2) AND ",
    purgeable_job!()
);

/// Ends at `$2` the `waiting` documents of job `$1` if it was cancelled, with message `$3`.
pub(in crate::store) const ABORT_WAITING: &str = "\
UPDATE audit_events
SET status = 'failed', error_code = 'aborted', error_message = $3, finished_at = $2,
    job_next_at = NULL
WHERE attempt_id = $1 AND status = 'waiting'
  AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND state = 'cancelled')";

/// The message of a document that a cancelled job never sent.
pub(in crate::store) const ABORTED: &str = "The job was cancelled before this document was sent.";

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
pub(in crate::store) const CLAIM_CALLBACKS_POSTGRES: &str =
    claim_callbacks!("FOR UPDATE SKIP LOCKED");
/// `claim_callbacks!` for SQLite.
pub(in crate::store) const CLAIM_CALLBACKS_SQLITE: &str = claim_callbacks!("");

/// `$1` id, `$2` at, `$3` status, `$4` error, `$5` owner.
pub(in crate::store) const INSERT_CALLBACK_ATTEMPT: &str = "\
INSERT INTO job_callback_attempts (job_id, attempt, at, status, error)
SELECT id, callback_attempts + 1, $2, $3, $4 FROM jobs WHERE id = $1 AND callback_owner = $5";

/// `$1` id, `$2` callback_state, `$3` callback_next_at, `$4` owner.
pub(in crate::store) const RECORD_CALLBACK: &str = "\
UPDATE jobs SET callback_attempts = callback_attempts + 1, callback_state = $2,
    callback_next_at = $3, callback_owner = NULL, callback_lease_until = NULL
WHERE id = $1 AND callback_owner = $4";

/// `$1` id.
pub(in crate::store) const CALLBACK_ATTEMPTS: &str = "\
SELECT at, status, error FROM job_callback_attempts WHERE job_id = $1 ORDER BY attempt";

pub(in crate::store) const JOBS_BY_STATE: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state";

pub(in crate::store) const WAITING_BY_VENDOR: &str = "\
SELECT COALESCE(vendor, ''), COUNT(*) FROM audit_events WHERE status = 'waiting'
GROUP BY COALESCE(vendor, '')";

/// A `jobs` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct JobRow {
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
pub(in crate::store) struct ClaimedRecord {
    #[sqlx(flatten)]
    row: AuditRecord,
    job_attempts: i64,
    handling_claims: i64,
}

impl TryFrom<ClaimedRecord> for JobDocument {
    type Error = StoreError;

    fn try_from(record: ClaimedRecord) -> Result<Self, StoreError> {
        Ok(Self {
            row: AuditRow::try_from(record.row)?,
            attempts: u32::try_from(record.job_attempts).map_err(|_| {
                StoreError::Corrupt("audit_events.job_attempts is out of range".into())
            })?,
            claims: u32::try_from(record.handling_claims).map_err(|_| {
                StoreError::Corrupt("audit_events.handling_claims is out of range".into())
            })?,
        })
    }
}

/// A tally row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct TallyRow {
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
pub(in crate::store) struct AttemptRow {
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
