//! The durable store: the `Store` trait (idempotency keys, the audit trail and, on Postgres,
//! rate limits shared by every replica) and `connect`, which picks SQLite or Postgres from
//! `store.url` and runs the embedded migrations.
//!
//! Both backends share their SQL text and row mapping (`sql`); each backend file only owns its
//! connection options and the driver-typed calls. The conformance suite in `tests/store/` runs
//! every scenario against both.

mod coalesce;
mod error;
mod jobs;
mod pacing;
mod postgres;
mod sql;
mod sqlite;
mod timestamp;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{DocState, ErrorCode, Status};

pub use self::coalesce::Coalescing;
pub use self::error::StoreError;
pub use self::jobs::{
    CallbackAttempt, CallbackNext, CallbackState, JobDocument, JobGauges, JobRecord, JobState,
    JobStore, NewJob, SliceClaim, SliceOutcome, Tally,
};
pub use self::pacing::Reservation;
pub use self::postgres::PostgresStore;
pub use self::sql::{PURGE_AUDIT, PURGE_OWNERS};
pub use self::sqlite::SqliteStore;
pub use self::timestamp::Timestamp;

/// Where idempotency keys, audit rows and shared rate limits live; held as `Arc<dyn Store>`.
///
/// Every method is one atomic step in the database: concurrent callers, in one process or in
/// several replicas sharing one Postgres, see each other's writes whole or not at all.
#[async_trait]
pub trait Store: JobStore + Send + Sync + std::fmt::Debug {
    /// Checks that the store answers a trivial query (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Claims `key` for a request whose body has `fingerprint` (docs/api.md, Idempotency), in one atomic
    /// statement. A new or expired key (`expires_at <= now`) is locked with `locked_at = now`
    /// and `expires_at = now + ttl`, and so is an in-progress key with the same fingerprint
    /// whose lock is older than `stale_after` (its process crashed): both return `Started`.
    /// Otherwise the existing row decides: `Replay`, `InProgress` or `Mismatch`.
    ///
    /// The key records `attempt_id` as its holder; taking over a stale lock returns
    /// `TakenOver` with the attempt that held it.
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        attempt_id: &str,
        now: Timestamp,
        stale_after: Duration,
        ttl: Duration,
    ) -> Result<Begin, StoreError>;

    /// Stores the final `200` body for a key this request holds; later `begin` calls with the
    /// same fingerprint replay `body` byte for byte. Fails with `StoreError::KeyNotHeld` when
    /// no in-progress row with this key and fingerprint exists any more.
    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Forgets an in-progress key (the answer was not a `200`), so the client may retry.
    /// A completed key, a key with another fingerprint, or a missing key is left alone.
    async fn release(&self, key: &str, fingerprint: &str) -> Result<(), StoreError>;

    /// Deletes at most `batch` keys with `expires_at <= now`, soonest expired first, in one
    /// statement, and says how many went.
    async fn purge_expired(&self, now: Timestamp, batch: u32) -> Result<u64, StoreError>;

    /// Deletes at most `batch` audit rows received before `before` that recovery no longer
    /// needs at `now`, oldest first, in one statement (one short transaction), and says how
    /// many went. Kept whatever their age: `pending` rows, unknown outcomes, queued cancels
    /// and rows leased to a recovery. Concurrent purges (replicas) are harmless: a row goes
    /// once and is counted by whoever deleted it.
    async fn purge_audit(
        &self,
        before: Timestamp,
        now: Timestamp,
        batch: u32,
    ) -> Result<u64, StoreError>;

    /// Deletes at most `batch` remembered code owners found before `before`, oldest first, in
    /// one statement, and says how many went.
    async fn purge_owners(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError>;

    /// Writes the `pending` rows of one request in one transaction: all of them or none.
    async fn insert_pending(&self, rows: &[AuditRow]) -> Result<(), StoreError>;

    /// Records outcomes: sets `status`, `error_code`, `finished_at`, `vendor_status` and
    /// `vendor_calls` of each row found by `(attempt_id, position)`, in one transaction. If
    /// any row does not exist, nothing is updated and `StoreError::UnknownAuditRow` is returned.
    async fn finish(&self, rows: &[AuditRow]) -> Result<(), StoreError>;

    /// Claims the rows a recovery must resolve, for at most `max_attempts` attempts (all of
    /// an attempt's eligible rows together): rows still `pending`, and rows whose outcome is
    /// still unknown (`outcome_unknown`, received at or after `unknown_since`),
    /// received before `stale_before` and not leased to anyone at `now`. Each claimed row is
    /// leased to `owner` until `lease_until` in one atomic statement, so concurrent claimers
    /// (replicas on one Postgres) never get the same row.
    async fn claim_unsettled(
        &self,
        claim: &UnsettledClaim<'_>,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// Quarantines at `now` every unsettled row whose handling failed twice: claimed twice
    /// (by a job lane or a recovery) without its outcome being written back, and no longer
    /// leased. Such a row ends `failed` (if it was `pending` or `waiting`) with the error code
    /// `needs_attention`, and no claim takes it again; a job left with nothing to do ends.
    /// Says how many rows it quarantined.
    async fn quarantine(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Refreshes the lock of `key` at `now` if `attempt_id` still holds it in progress (a
    /// recovery of that attempt then owns the key), and otherwise says where the key is.
    async fn hold_key(
        &self,
        key: &str,
        attempt_id: &str,
        now: Timestamp,
    ) -> Result<KeyHolder, StoreError>;

    /// Leases to `owner` until `lease_until` the `pending` rows that attempts other than
    /// `attempt_id` left under `key` (a retry that took over a stale key adopts them, whoever
    /// leased them before), and returns them.
    async fn adopt(
        &self,
        key: &str,
        attempt_id: &str,
        owner: &str,
        lease_until: Timestamp,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// Writes resolved rows that `owner` still holds, clearing their lease (rows it no longer
    /// holds are left alone), and completes `completion`'s key if its attempt still holds it
    /// in progress; one transaction. Returns how many rows were written.
    async fn settle(
        &self,
        owner: &str,
        rows: &[AuditRow],
        completion: Option<Completion<'_>>,
    ) -> Result<u64, StoreError>;

    /// Every row of one attempt, in request order.
    async fn attempt_rows(&self, attempt_id: &str) -> Result<Vec<AuditRow>, StoreError>;

    /// The audit rows of one code (as sent), newest first (`received_at` descending, then
    /// `attempt_id` and `position`), at most `limit` of them; an unknown code gives none.
    async fn history(&self, code: &str, limit: u32) -> Result<Vec<AuditRow>, StoreError>;

    /// The vendor remembered as holding `code` (found by a status read among a routing
    /// rule's candidate vendors), if any.
    async fn code_owner(&self, code: &str) -> Result<Option<String>, StoreError>;

    /// Remembers that `vendor` holds `code`, for every replica (the last writer wins).
    async fn remember_owner(
        &self,
        code: &str,
        vendor: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The rate limits this store holds for every replica on it (Postgres), or `None` when
    /// it shares none (SQLite: one replica), so pacing stays in the process.
    fn shared_limits(&self) -> Option<Arc<dyn SharedLimits>>;

    /// Closes the connections: waits for checked-out ones, then refuses every later call.
    /// Call it once, at shutdown, after the last request has finished.
    async fn close(&self);
}

/// Rate limits held in a store for every replica on it.
#[async_trait]
pub trait SharedLimits: Send + Sync + std::fmt::Debug {
    /// Reserves one call per element of `max_waits` against the limit named `key` (at most
    /// `calls` in any `window`, whole seconds, counted on the store's clock for every replica),
    /// in one atomic statement, in order. Element `i` of the answer is the call's turn, or
    /// `None` when no turn starts within `max_waits[i]`: that call takes nothing.
    async fn reserve_calls(
        &self,
        key: &str,
        calls: u32,
        window: Duration,
        max_waits: &[Duration],
    ) -> Result<Vec<Option<Reservation>>, StoreError>;
}

/// What `Store::begin` decided about an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is now held by this request: process it, then `complete` or `release`.
    Started,
    /// The key was completed with the same fingerprint: answer with these bytes, unchanged.
    Replay(Vec<u8>),
    /// The key was held in progress by `previous_attempt`, whose lock went stale (its process
    /// stopped): it is now held by this request, which must treat that attempt's `pending`
    /// rows as its own ambiguous attempts.
    TakenOver {
        /// The attempt id that held the key.
        previous_attempt: String,
    },
    /// Another request with the same body holds the key and its lock is fresh: `409`.
    InProgress,
    /// The key was used with a different body: `422`.
    Mismatch,
}

/// What `Store::claim_unsettled` claims, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct UnsettledClaim<'a> {
    /// Who claims (a recovery's name).
    pub owner: &'a str,
    /// The claim's time.
    pub now: Timestamp,
    /// Only rows received before this (their request's process is presumed dead).
    pub stale_before: Timestamp,
    /// Unknown outcomes received before this are no longer looked at.
    pub unknown_since: Timestamp,
    /// The lease's end.
    pub lease_until: Timestamp,
    /// Most attempts claimed at once.
    pub max_attempts: u32,
}

/// Where an `Idempotency-Key` is, seen by a recovery of one of its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHolder {
    /// The attempt still holds it in progress; its lock was refreshed.
    Held,
    /// Another attempt holds it, or it was completed: another request answers for it.
    Elsewhere,
    /// It expired or was released.
    Gone,
}

/// The answer to store for a key whose attempt a recovery finished.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// The key.
    pub key: &'a str,
    /// The attempt that must still hold it.
    pub attempt_id: &'a str,
    /// The answer, replayed byte for byte.
    pub body: &'a [u8],
    /// When.
    pub now: Timestamp,
}

/// One document of one request in the audit trail (docs/operations.md, The store). Never holds credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// signgate's own id for the request (a UUID); with `position`, the row's identity. Unlike
    /// `request_id`, which clients choose and may repeat, it is unique.
    pub attempt_id: String,
    /// The request id (`x-request-id`).
    pub request_id: String,
    /// The document's index in the request.
    pub position: u32,
    /// The `Idempotency-Key` header, if the request carried one.
    pub idempotency_key: Option<String>,
    /// When signgate accepted the request.
    pub received_at: Timestamp,
    /// When the outcome was recorded; `None` while `pending`.
    pub finished_at: Option<Timestamp>,
    /// Who asked for the cancel.
    pub email: String,
    /// The reason given.
    pub message: String,
    /// The document code exactly as sent, prefix included.
    pub code: String,
    /// The vendor it was routed to, when routable.
    pub vendor: Option<String>,
    /// The code sent to the vendor (prefix removed).
    pub vendor_code: Option<String>,
    /// `pending`, then the answered status.
    pub status: RowStatus,
    /// The stable error code, when not cancelled.
    pub error_code: Option<ErrorCode>,
    /// The HTTP status of the vendor's last answer about this document.
    pub vendor_status: Option<u16>,
    /// How many cancel calls carried this document.
    pub vendor_calls: u32,
    /// The request's `notify_signers` (needed to re-send the cancel).
    pub notify_signers: bool,
    /// The outcome's message, when not cancelled.
    pub error_message: Option<String>,
    /// The answer could not say whether the vendor acted; a recovery reads the status later.
    pub outcome_unknown: bool,
    /// When a recovery (or a retry that took over the request's key) resolved the row.
    pub recovered_at: Option<Timestamp>,
    /// Who resolved it: `recovery:<instance>` or `retry:<request id>`.
    pub recovered_by: Option<String>,
    /// The document's state at the vendor as the last status read found it.
    pub vendor_state: Option<DocState>,
    /// The vendor queued the cancel (answered `cancelled`, `queued: true`); a recovery
    /// confirms it with a status read later and clears this.
    pub queued: bool,
    /// When a recovery next reads the status of a queued cancel.
    pub confirm_at: Option<Timestamp>,
}

/// An audit row's status: `pending` from before the first vendor call until its outcome is
/// recorded, then the document's answered status. A job's document is `waiting` until a slice
/// of the job claims it (and again between its attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    /// A job's document not sent yet: it waits for the job runner to claim it.
    Waiting,
    /// A cancel may have been sent; no outcome is recorded yet.
    Pending,
    /// The answered status.
    Done(Status),
}

impl RowStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Pending => "pending",
            Self::Done(status) => status.as_str(),
        }
    }

    /// Parses a stored name.
    pub fn from_wire(name: &str) -> Option<Self> {
        match name {
            "waiting" => Some(Self::Waiting),
            "pending" => Some(Self::Pending),
            "cancelled" => Some(Self::Done(Status::Cancelled)),
            "already_cancelled" => Some(Self::Done(Status::AlreadyCancelled)),
            "failed" => Some(Self::Done(Status::Failed)),
            _ => None,
        }
    }
}

/// Opens the store named by `url` and brings its schema up to date.
///
/// - `sqlite::memory:`: a private in-memory database, kept by a single pooled connection that
///   is never recycled; it lives as long as the returned store.
/// - `sqlite://PATH` or `sqlite:PATH` (query options such as `?mode=ro` allowed): a file, created
///   if missing (its directory must exist), in WAL mode.
/// - `postgres://...` or `postgresql://...`: a server shared by every replica.
///
/// Audit writes of concurrent requests are group-committed: by a SQLite file store's own
/// writer thread, else by `Coalescing` in front of the store.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        if store.groups_audit_writes() {
            return Ok(Arc::new(store));
        }
        Arc::new(store)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PostgresStore::connect(url).await?)
    } else {
        return Err(StoreError::InvalidUrl(
            "it must start with `sqlite:`, `postgres://` or `postgresql://`",
        ));
    };
    Ok(Arc::new(Coalescing::new(store)))
}

/// A `pending` audit row of one document, its attempt named after its code (unit tests).
#[cfg(test)]
fn pending_row(code: &str) -> AuditRow {
    AuditRow {
        attempt_id: code.into(),
        request_id: code.into(),
        position: 0,
        idempotency_key: None,
        received_at: Timestamp::from_millis(0),
        finished_at: None,
        email: "a@b.co".into(),
        message: "m".into(),
        code: code.into(),
        vendor: None,
        vendor_code: None,
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
