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

use super::{AuditRow, Completion, RowStatus, StoreError, Timestamp};

mod pool;
mod sql;

pub(super) use self::pool::pool_job_store;
pub(super) use self::sql::*;

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
    /// Claims of it since its outcome was last written, this one included: 2 means the
    /// previous handling died before writing anything (a panic, or its process killed), so
    /// this one runs it alone; a third is never made (it is quarantined, `Store::quarantine`).
    pub claims: u32,
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

    /// Ends every active job none of whose documents is `waiting` or `pending` any more (a
    /// job whose last documents were written by two writers at once); says how many.
    async fn complete_finished_jobs(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Jobs by state and waiting documents by vendor.
    async fn job_gauges(&self) -> Result<JobGauges, StoreError>;

    /// Deletes at most `batch` jobs that ended before `before`, whose callback is not waiting
    /// for a delivery and whose documents the audit purge has already deleted, with their
    /// callback attempts; oldest first, in one statement. Says how many went.
    async fn purge_jobs(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError>;
}
