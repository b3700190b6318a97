//! The durable store: the `Store` trait (idempotency keys, the audit trail and, on Postgres,
//! rate limits shared by every replica) and `connect`, which picks SQLite or Postgres from
//! `store.url` and runs the embedded migrations.
//!
//! Both backends share their SQL text and row mapping (`sql`); each backend file only owns its
//! connection options and the driver-typed calls. The conformance suite in `tests/store/` runs
//! every scenario against both.

mod coalesce;
mod error;
mod pacing;
mod postgres;
mod sql;
mod sqlite;
mod timestamp;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::coalesce::Coalescing;
pub use self::error::StoreError;
pub use self::pacing::Reservation;
pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;
pub use self::timestamp::Timestamp;

/// Where idempotency keys, audit rows and shared rate limits live; held as `Arc<dyn Store>`.
///
/// Every method is one atomic step in the database: concurrent callers, in one process or in
/// several replicas sharing one Postgres, see each other's writes whole or not at all.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Checks that the store answers a trivial query (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Claims `key` for a request whose body has `fingerprint` (SPEC 5.1), in one atomic
    /// statement. A new or expired key (`expires_at <= now`) is locked with `locked_at = now`
    /// and `expires_at = now + ttl`, and so is an in-progress key with the same fingerprint
    /// whose lock is older than `stale_after` (its process crashed): both return `Started`.
    /// Otherwise the existing row decides: `Replay`, `InProgress` or `Mismatch`.
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
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

    /// Deletes every key with `expires_at <= now` and says how many went.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Writes the `pending` rows of one request in one transaction: all of them or none.
    async fn insert_pending(&self, rows: &[AuditRow]) -> Result<(), StoreError>;

    /// Records outcomes: sets `status`, `error_code`, `finished_at`, `vendor_status` and
    /// `vendor_calls` of each row found by `(attempt_id, position)`, in one transaction. If
    /// any row does not exist, nothing is updated and `StoreError::UnknownAuditRow` is returned.
    async fn finish(&self, rows: &[AuditRow]) -> Result<(), StoreError>;

    /// The audit rows of one code (as sent), newest first (`received_at` descending, then
    /// `attempt_id` and `position`), at most `limit` of them; an unknown code gives none.
    async fn history(&self, code: &str, limit: u32) -> Result<Vec<AuditRow>, StoreError>;

    /// Whether rate limits reserved with `reserve_calls` hold for every replica on this store
    /// (Postgres). A store that does not share them (SQLite: one replica) leaves pacing to the
    /// process, and refuses `reserve_calls`.
    fn shares_limits(&self) -> bool;

    /// Reserves one call per element of `max_waits` against the limit named `key` (at most
    /// `calls` in any `window`, whole seconds, counted on the store's clock for every replica),
    /// in one atomic statement, in order. Element `i` of the answer is the call's turn, or
    /// `None` when no turn starts within `max_waits[i]`: that call takes nothing. A store that
    /// does not share limits answers `StoreError::Unsupported`.
    async fn reserve_calls(
        &self,
        key: &str,
        calls: u32,
        window: Duration,
        max_waits: &[Duration],
    ) -> Result<Vec<Option<Reservation>>, StoreError>;

    /// Closes the connections: waits for checked-out ones, then refuses every later call.
    /// Call it once, at shutdown, after the last request has finished.
    async fn close(&self);
}

/// What `Store::begin` decided about an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is now held by this request: process it, then `complete` or `release`.
    Started,
    /// The key was completed with the same fingerprint: answer with these bytes, unchanged.
    Replay(Vec<u8>),
    /// Another request with the same body holds the key and its lock is fresh: `409`.
    InProgress,
    /// The key was used with a different body: `422`.
    Mismatch,
}

/// One document of one request in the audit trail (SPEC 5.2). Never holds credentials.
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
    /// `pending`, `cancelled`, `already_cancelled` or `failed` (the store rejects others).
    pub status: String,
    /// The stable error code of SPEC 4, when not cancelled.
    pub error_code: Option<String>,
    /// The HTTP status of the vendor's last answer about this document.
    pub vendor_status: Option<u16>,
    /// How many cancel calls carried this document.
    pub vendor_calls: u32,
}

/// The `status` of a row written before any vendor is called.
pub const STATUS_PENDING: &str = "pending";

/// Opens the store named by `url` and brings its schema up to date.
///
/// - `sqlite::memory:`: a private in-memory database, kept by a single pooled connection that
///   is never recycled; it lives as long as the returned store.
/// - `sqlite://PATH` or `sqlite:PATH` (query options such as `?mode=ro` allowed): a file, created
///   if missing (its directory must exist), in WAL mode.
/// - `postgres://...` or `postgresql://...`: a server shared by every replica.
///
/// Audit writes of concurrent requests are group-committed (`Coalescing`).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PostgresStore::connect(url).await?)
    } else {
        return Err(StoreError::InvalidUrl(
            "it must start with `sqlite:`, `postgres://` or `postgresql://`",
        ));
    };
    Ok(Arc::new(Coalescing::new(store)))
}
