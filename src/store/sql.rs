//! The SQL both backends run, and the mapping between database rows and `AuditRow`.
//!
//! The statements are written once in the dialect SQLite and Postgres share (`$N` parameters,
//! `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`), so the two stores cannot drift apart.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{AuditRow, Begin, RowStatus, StoreError, Timestamp};
use crate::model::{DocState, ErrorCode};

/// Every `audit_events` column `AuditRecord` reads, in its order.
macro_rules! audit_columns {
    () => {
        "attempt_id, request_id, position, idempotency_key, received_at, finished_at, email, \
         message, code, vendor, vendor_code, status, error_code, vendor_status, vendor_calls, \
         notify_signers, error_message, outcome_unknown, recovered_at, recovered_by, vendor_state, queued, confirm_at"
    };
}
pub(super) use audit_columns;

/// `audit_columns!` as a constant.
pub(super) const AUDIT_COLUMNS: &str = audit_columns!();

/// How many columns `audit_columns!` names (the values of `audit_values`).
pub(super) const AUDIT_VALUES: usize = 23;

/// How many claims `begin` tries when the key keeps changing between its claim and its read
/// (other requests releasing or taking it over); after that it answers `InProgress`.
pub(super) const BEGIN_ATTEMPTS: usize = 4;

/// Claims a key: inserts it, or overwrites it when expired or when its same-fingerprint lock is
/// stale. One statement, so concurrent claims serialise on the row and at most one succeeds.
/// `$1` key, `$2` fingerprint, `$3` now, `$4` expires_at, `$5` locks taken before are stale,
/// `$6` attempt id. Returns `previous_attempt`: the attempt whose in-progress lock on the same
/// body this claim took over, or `NULL` for a new (or expired) key.
pub(super) const CLAIM_KEY: &str = "\
INSERT INTO idempotency_keys (key, fingerprint, state, body, locked_at, expires_at, attempt_id)
VALUES ($1, $2, 'in_progress', NULL, $3, $4, $6)
ON CONFLICT (key) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    state = excluded.state,
    body = NULL,
    locked_at = excluded.locked_at,
    expires_at = excluded.expires_at,
    attempt_id = excluded.attempt_id,
    previous_attempt = CASE
        WHEN idempotency_keys.state = 'in_progress'
         AND idempotency_keys.fingerprint = excluded.fingerprint
        THEN idempotency_keys.attempt_id END
WHERE idempotency_keys.expires_at <= excluded.locked_at
   OR (idempotency_keys.state = 'in_progress'
       AND idempotency_keys.fingerprint = excluded.fingerprint
       AND idempotency_keys.locked_at < $5)
RETURNING previous_attempt";

/// `$1` key.
pub(super) const SELECT_KEY: &str = "\
SELECT fingerprint, state, body, locked_at, expires_at FROM idempotency_keys WHERE key = $1";

/// `$1` key, `$2` fingerprint, `$3` body, `$4` now.
pub(super) const COMPLETE_KEY: &str = "\
UPDATE idempotency_keys SET state = 'completed', body = $3, locked_at = $4
WHERE key = $1 AND fingerprint = $2 AND state = 'in_progress'";

/// `$1` key, `$2` fingerprint.
pub(super) const RELEASE_KEY: &str = "\
DELETE FROM idempotency_keys WHERE key = $1 AND fingerprint = $2 AND state = 'in_progress'";

/// Deletes at most `$2` keys expired at `$1`, soonest expired first.
pub(super) const PURGE_EXPIRED: &str = "\
DELETE FROM idempotency_keys WHERE key IN (
    SELECT key FROM idempotency_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)
AND expires_at <= $1";

/// The head of the multi-row insert built by `insert_audit_rows`.
const INSERT_AUDIT: &str = concat!("INSERT INTO audit_events (", audit_columns!(), ") ");

/// Rows per `INSERT` statement: 23 parameters each stays far below both databases' limits.
pub(super) const INSERT_CHUNK: usize = 500;

/// `$1` status, `$2` error_code, `$3` finished_at, `$4` vendor_status, `$5` vendor_calls,
/// `$6` attempt_id, `$7` position, `$8` error_message, `$9` outcome_unknown, `$10` queued,
/// `$11` confirm_at.
pub(super) const FINISH_AUDIT: &str = "\
UPDATE audit_events
SET status = $1, error_code = $2, finished_at = $3, vendor_status = $4, vendor_calls = $5,
    error_message = $8, outcome_unknown = $9, queued = $10, confirm_at = $11
WHERE attempt_id = $6 AND position = $7";

/// `$1` code, `$2` limit.
pub(super) const HISTORY: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit_events WHERE code = $1 \
     ORDER BY received_at DESC, attempt_id, position LIMIT $2"
);

/// `$1` attempt_id.
pub(super) const ATTEMPT_ROWS: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit_events WHERE attempt_id = $1 ORDER BY position"
);

/// Which rows a recovery resolves: `$3` now, `$4` stale_before, `$5` unknown_since; queued
/// cancels whose `confirm_at` has come. A job's unfinished documents (`waiting`, or `pending`
/// in a slice) are the job runner's: it resumes them itself (src/jobs/runner.rs). Repeated in
/// the outer `WHERE` of `CLAIM_UNSETTLED`, so a row claimed concurrently is re-checked (and
/// skipped) after its lock is released.
macro_rules! unsettled {
    () => {
        "((((status = 'pending' AND job = FALSE) \
            OR (outcome_unknown = TRUE AND received_at >= $5 AND status NOT IN ('waiting', 'pending'))) \
           AND received_at < $4) \
          OR (queued = TRUE AND confirm_at <= $3)) \
         AND (recovery_lease_until IS NULL OR recovery_lease_until < $3) \
         AND handling_claims < 2"
    };
}

/// The rows not leased at `$3` (now).
macro_rules! unleased {
    () => {
        "(recovery_lease_until IS NULL OR recovery_lease_until < $3)"
    };
}

/// `$1` owner, `$2` lease_until, `$3`..`$5` as in `unsettled!`, `$6` most attempts. The
/// candidates come from three selects, each with the exact term of one partial index
/// (`audit_events_pending`, `audit_events_unknown`, `audit_events_queued`), so a pass never
/// scans the whole table.
pub(super) const CLAIM_UNSETTLED: &str = concat!(
    "UPDATE audit_events SET recovery_owner = $1, recovery_lease_until = $2, \
     handling_claims = handling_claims + 1 \
     WHERE attempt_id IN (SELECT attempt_id FROM (\
       SELECT attempt_id, received_at FROM audit_events \
       WHERE status = 'pending' AND job = FALSE AND received_at < $4 AND ",
    unleased!(),
    " UNION ALL SELECT attempt_id, received_at FROM audit_events \
       WHERE outcome_unknown = TRUE AND status NOT IN ('waiting', 'pending') \
       AND received_at >= $5 AND received_at < $4 AND ",
    unleased!(),
    " UNION ALL SELECT attempt_id, received_at FROM audit_events \
       WHERE queued = TRUE AND confirm_at <= $3 AND ",
    unleased!(),
    ") candidates GROUP BY attempt_id ORDER BY MIN(received_at) LIMIT $6) AND ",
    unsettled!(),
    " RETURNING ",
    audit_columns!()
);

/// `$1` key, `$2` attempt_id, `$3` now.
pub(super) const HOLD_KEY: &str = "\
UPDATE idempotency_keys SET locked_at = $3
WHERE key = $1 AND attempt_id = $2 AND state = 'in_progress'";

/// `$1` key, `$2` now.
pub(super) const KEY_EXISTS: &str = "\
SELECT COUNT(*) FROM idempotency_keys WHERE key = $1 AND expires_at > $2";

/// `$1` key, `$2` the adopting attempt, `$3` owner, `$4` lease_until.
pub(super) const ADOPT: &str = concat!(
    "UPDATE audit_events SET recovery_owner = $3, recovery_lease_until = $4 \
     WHERE idempotency_key = $1 AND attempt_id <> $2 AND status = 'pending' RETURNING ",
    audit_columns!()
);

/// `$1` status, `$2` error_code, `$3` error_message, `$4` finished_at, `$5` vendor_status,
/// `$6` vendor_calls, `$7` outcome_unknown, `$8` recovered_at, `$9` recovered_by,
/// `$10` vendor_state, `$11` attempt_id, `$12` position, `$13` owner, `$14` queued,
/// `$15` confirm_at.
pub(super) const SETTLE_ROW: &str = "\
UPDATE audit_events
SET status = $1, error_code = $2, error_message = $3, finished_at = $4, vendor_status = $5,
    vendor_calls = $6, outcome_unknown = $7, recovered_at = $8, recovered_by = $9,
    vendor_state = $10, queued = $14, confirm_at = $15, recovery_owner = NULL, recovery_lease_until = NULL,
    handling_claims = 0
WHERE attempt_id = $11 AND position = $12 AND recovery_owner = $13";

/// `$1` now, `$2` error_message: see `Store::quarantine`. A row's claims count up at each claim
/// (`CLAIM_UNSETTLED`, the job runner's slice claim) and go back to 0 when its outcome is
/// written (`SETTLE_ROW`, `FINISH_JOB_ROW`); 2 with no live lease means two handlings died
/// (a panic, or the process killed) before writing anything. Returns the job of each row.
pub(super) const QUARANTINE: &str = "\
UPDATE audit_events
SET status = CASE WHEN status IN ('pending', 'waiting') THEN 'failed' ELSE status END,
    error_code = 'needs_attention', error_message = $2,
    finished_at = COALESCE(finished_at, $1), job_next_at = NULL, confirm_at = NULL,
    recovery_owner = NULL, recovery_lease_until = NULL
WHERE handling_claims >= 2 AND (recovery_lease_until IS NULL OR recovery_lease_until < $1)
  AND (error_code IS NULL OR error_code <> 'needs_attention')
  AND (status IN ('pending', 'waiting') OR outcome_unknown = TRUE OR queued = TRUE)
RETURNING attempt_id, job";

/// What `QUARANTINE` stores as the row's message.
pub(super) const QUARANTINED: &str = "Handling this document failed twice (a panic or a crash); \
it is no longer retried and needs an operator (docs/runbook.md, needs_attention).";

/// `$1` code.
pub(super) const CODE_OWNER: &str = "SELECT vendor FROM code_owners WHERE code = $1";

/// `$1` code, `$2` vendor, `$3` now.
pub(super) const REMEMBER_OWNER: &str = "\
INSERT INTO code_owners (code, vendor, found_at) VALUES ($1, $2, $3)
ON CONFLICT (code) DO UPDATE SET vendor = excluded.vendor, found_at = excluded.found_at";

/// The audit rows recovery no longer needs, at `$2` (now): not `pending` nor a job's
/// `waiting` document, outcome known, not
/// `queued` (a recovery still confirms those), and not leased to a recovery. The only place
/// that says which rows a purge may delete; its first three terms are, word for word, the
/// predicate of the partial index `audit_events_purgeable` (migration 0006), so the purge reads
/// that index instead of scanning the table.
macro_rules! past_recovery {
    () => {
        "status NOT IN ('pending', 'waiting') AND outcome_unknown = FALSE AND queued = FALSE \
         AND (recovery_lease_until IS NULL OR recovery_lease_until < $2)"
    };
}

/// Deletes at most `$3` audit rows received before `$1` that recovery no longer needs at `$2`
/// (now), oldest first, in one statement. The outer `WHERE` repeats the test, so a row that
/// changed after the inner select (Postgres re-checks a row it waited for) is kept, and a row
/// another replica deleted first is simply not counted. Public for `EXPLAIN` and for purging
/// by hand (docs/retention.md).
pub const PURGE_AUDIT: &str = concat!(
    "DELETE FROM audit_events WHERE (attempt_id, position) IN (\
       SELECT attempt_id, position FROM audit_events WHERE received_at < $1 AND ",
    past_recovery!(),
    " ORDER BY received_at LIMIT $3) AND received_at < $1 AND ",
    past_recovery!()
);

/// Deletes at most `$2` remembered code owners found before `$1`, oldest first. Public like
/// `PURGE_AUDIT`.
pub const PURGE_OWNERS: &str = "\
DELETE FROM code_owners WHERE code IN (
    SELECT code FROM code_owners WHERE found_at < $1 ORDER BY found_at LIMIT $2)
AND found_at < $1";

/// `$1` key, `$2` attempt_id, `$3` body, `$4` now.
pub(super) const COMPLETE_ATTEMPT_KEY: &str = "\
UPDATE idempotency_keys SET state = 'completed', body = $3, locked_at = $4
WHERE key = $1 AND attempt_id = $2 AND state = 'in_progress'";

/// An `idempotency_keys` row as `begin` reads it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct KeyRow {
    fingerprint: String,
    state: String,
    body: Option<Vec<u8>>,
    locked_at: i64,
    expires_at: i64,
}

/// What `begin` learned from reading a key it could not claim.
pub(super) enum Seen {
    /// The row settles the answer.
    Decided(Begin),
    /// The row vanished or became claimable since the claim: claim again.
    Changed,
}

/// Decides `begin` from the row found after a failed claim, with the claim's own limits.
pub(super) fn classify(
    row: Option<KeyRow>,
    fingerprint: &str,
    now: Timestamp,
    stale_before: Timestamp,
) -> Result<Seen, StoreError> {
    let Some(row) = row else {
        return Ok(Seen::Changed);
    };
    if row.expires_at <= now.as_millis() {
        return Ok(Seen::Changed);
    }
    if row.fingerprint != fingerprint {
        return Ok(Seen::Decided(Begin::Mismatch));
    }
    match row.state.as_str() {
        "completed" => match row.body {
            Some(body) => Ok(Seen::Decided(Begin::Replay(body))),
            None => Err(StoreError::Corrupt(
                "a completed idempotency key has no body".to_owned(),
            )),
        },
        "in_progress" if row.locked_at < stale_before.as_millis() => Ok(Seen::Changed),
        "in_progress" => Ok(Seen::Decided(Begin::InProgress)),
        other => Err(StoreError::Corrupt(format!(
            "an idempotency key has the unknown state `{other}`"
        ))),
    }
}

/// An `audit_events` row as stored: integers are `BIGINT` in both databases.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRecord {
    attempt_id: String,
    request_id: String,
    position: i64,
    idempotency_key: Option<String>,
    received_at: i64,
    finished_at: Option<i64>,
    email: String,
    message: String,
    code: String,
    vendor: Option<String>,
    vendor_code: Option<String>,
    status: String,
    error_code: Option<String>,
    vendor_status: Option<i64>,
    vendor_calls: i64,
    notify_signers: bool,
    error_message: Option<String>,
    outcome_unknown: bool,
    recovered_at: Option<i64>,
    recovered_by: Option<String>,
    vendor_state: Option<String>,
    queued: bool,
    confirm_at: Option<i64>,
}

impl TryFrom<AuditRecord> for AuditRow {
    type Error = StoreError;

    fn try_from(record: AuditRecord) -> Result<Self, StoreError> {
        let out_of_range =
            |column: &str| StoreError::Corrupt(format!("audit_events.{column} is out of range"));
        Ok(Self {
            position: u32::try_from(record.position).map_err(|_| out_of_range("position"))?,
            vendor_status: record
                .vendor_status
                .map(u16::try_from)
                .transpose()
                .map_err(|_| out_of_range("vendor_status"))?,
            vendor_calls: u32::try_from(record.vendor_calls)
                .map_err(|_| out_of_range("vendor_calls"))?,
            attempt_id: record.attempt_id,
            request_id: record.request_id,
            idempotency_key: record.idempotency_key,
            received_at: Timestamp::from_millis(record.received_at),
            finished_at: record.finished_at.map(Timestamp::from_millis),
            email: record.email,
            message: record.message,
            code: record.code,
            vendor: record.vendor,
            vendor_code: record.vendor_code,
            status: RowStatus::from_wire(&record.status).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "audit_events.status `{}` is unknown",
                    record.status
                ))
            })?,
            error_code: record
                .error_code
                .map(|code| {
                    ErrorCode::from_wire(&code).ok_or_else(|| {
                        StoreError::Corrupt(format!("audit_events.error_code `{code}` is unknown"))
                    })
                })
                .transpose()?,
            notify_signers: record.notify_signers,
            error_message: record.error_message,
            outcome_unknown: record.outcome_unknown,
            recovered_at: record.recovered_at.map(Timestamp::from_millis),
            recovered_by: record.recovered_by,
            vendor_state: record
                .vendor_state
                .map(|state| {
                    DocState::from_wire(&state).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "audit_events.vendor_state `{state}` is unknown"
                        ))
                    })
                })
                .transpose()?,
            queued: record.queued,
            confirm_at: record.confirm_at.map(Timestamp::from_millis),
        })
    }
}

/// One value bound to an audit statement, in a form both drivers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
}

/// A whole audit row's values, in `audit_columns!` order.
pub(super) fn audit_values(row: &AuditRow) -> [Value<'_>; AUDIT_VALUES] {
    use Value::{Bool, Int, Text};
    [
        Text(Some(&row.attempt_id)),
        Text(Some(&row.request_id)),
        Int(Some(i64::from(row.position))),
        Text(row.idempotency_key.as_deref()),
        Int(Some(row.received_at.as_millis())),
        Int(row.finished_at.map(Timestamp::as_millis)),
        Text(Some(&row.email)),
        Text(Some(&row.message)),
        Text(Some(&row.code)),
        Text(row.vendor.as_deref()),
        Text(row.vendor_code.as_deref()),
        Text(Some(row.status.as_str())),
        Text(row.error_code.map(ErrorCode::as_str)),
        Int(row.vendor_status.map(i64::from)),
        Int(Some(i64::from(row.vendor_calls))),
        Bool(row.notify_signers),
        Text(row.error_message.as_deref()),
        Bool(row.outcome_unknown),
        Int(row.recovered_at.map(Timestamp::as_millis)),
        Text(row.recovered_by.as_deref()),
        Text(row.vendor_state.map(DocState::as_str)),
        Bool(row.queued),
        Int(row.confirm_at.map(Timestamp::as_millis)),
    ]
}

/// A row's outcome as `FINISH_AUDIT`'s `$1`..`$11`.
pub(super) fn outcome_values(row: &AuditRow) -> [Value<'_>; 11] {
    use Value::{Bool, Int, Text};
    [
        Text(Some(row.status.as_str())),
        Text(row.error_code.map(ErrorCode::as_str)),
        Int(row.finished_at.map(Timestamp::as_millis)),
        Int(row.vendor_status.map(i64::from)),
        Int(Some(i64::from(row.vendor_calls))),
        Text(Some(&row.attempt_id)),
        Int(Some(i64::from(row.position))),
        Text(row.error_message.as_deref()),
        Bool(row.outcome_unknown),
        Bool(row.queued),
        Int(row.confirm_at.map(Timestamp::as_millis)),
    ]
}

/// One multi-row `INSERT` of whole audit rows (at most `INSERT_CHUNK` of them).
pub(super) fn insert_audit_rows<'a, DB>(rows: &'a [AuditRow]) -> QueryBuilder<DB>
where
    DB: Database,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut builder = QueryBuilder::new(INSERT_AUDIT);
    push_rows(&mut builder, rows, audit_values);
    builder
}

/// `FINISH_AUDIT` for many rows in one statement, up to the `FROM`: each row's
/// `outcome_values` is one tuple of a `VALUES` list, whose columns both engines name `column1`
/// to `column11`.
const FINISH_AUDIT_ROWS: &str = "\
UPDATE audit_events
SET status = v.column1, error_code = v.column2, finished_at = v.column3,
    vendor_status = v.column4, vendor_calls = v.column5, error_message = v.column8,
    outcome_unknown = v.column9, queued = v.column10, confirm_at = v.column11
FROM (";

/// One `UPDATE` of the outcomes of many audit rows (at most `INSERT_CHUNK` of them); the rows
/// it finds are its `rows_affected`.
pub(super) fn finish_audit_rows<'a, DB>(rows: &'a [AuditRow]) -> QueryBuilder<DB>
where
    DB: Database,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut builder = QueryBuilder::new(FINISH_AUDIT_ROWS);
    push_rows(&mut builder, rows, outcome_values);
    builder.push(") AS v WHERE attempt_id = v.column6 AND position = v.column7");
    builder
}

/// Appends `VALUES (...), (...)`: the `values` of each row, bound.
fn push_rows<'a, DB, const N: usize>(
    builder: &mut QueryBuilder<DB>,
    rows: &'a [AuditRow],
    values: fn(&'a AuditRow) -> [Value<'a>; N],
) where
    DB: Database,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    builder.push_values(rows, |mut tuple, row| {
        for value in values(row) {
            match value {
                Value::Text(text) => tuple.push_bind(text),
                Value::Int(int) => tuple.push_bind(int),
                Value::Bool(flag) => tuple.push_bind(flag),
            };
        }
    });
}

/// Implements `Store` for a backend whose `pool` field is an sqlx pool. The SQL text is shared
/// (both engines take `$N` parameters and `ON CONFLICT`), so the two backends differ only in
/// how they connect, in rate limits (the backend's inherent `limits`) and in who writes the
/// audit trail (its inherent `audit_writer`: the SQLite file store's own thread, or the pool
/// when `None`); sqlx has no generic `rows_affected`, hence a macro rather than generics.
macro_rules! pool_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("answer a ping"))?;
                Ok(())
            }

            async fn begin(
                &self,
                key: &str,
                fingerprint: &str,
                attempt_id: &str,
                now: $crate::store::Timestamp,
                stale_after: std::time::Duration,
                ttl: std::time::Duration,
            ) -> Result<$crate::store::Begin, $crate::store::StoreError> {
                let stale_before = now.saturating_sub(stale_after);
                for _ in 0..$crate::store::sql::BEGIN_ATTEMPTS {
                    let claimed: Option<Option<String>> =
                        sqlx::query_scalar($crate::store::sql::CLAIM_KEY)
                            .bind(key)
                            .bind(fingerprint)
                            .bind(now.as_millis())
                            .bind(now.saturating_add(ttl).as_millis())
                            .bind(stale_before.as_millis())
                            .bind(attempt_id)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err($crate::store::StoreError::database(
                                "claim an idempotency key",
                            ))?;
                    match claimed {
                        Some(None) => return Ok($crate::store::Begin::Started),
                        Some(Some(previous_attempt)) => {
                            return Ok($crate::store::Begin::TakenOver { previous_attempt })
                        }
                        None => {}
                    }
                    let row = sqlx::query_as::<_, $crate::store::sql::KeyRow>(
                        $crate::store::sql::SELECT_KEY,
                    )
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "read an idempotency key",
                    ))?;
                    if let $crate::store::sql::Seen::Decided(answer) =
                        $crate::store::sql::classify(row, fingerprint, now, stale_before)?
                    {
                        return Ok(answer);
                    }
                }
                Ok($crate::store::Begin::InProgress)
            }

            async fn complete(
                &self,
                key: &str,
                fingerprint: &str,
                body: &[u8],
                now: $crate::store::Timestamp,
            ) -> Result<(), $crate::store::StoreError> {
                let done = sqlx::query($crate::store::sql::COMPLETE_KEY)
                    .bind(key)
                    .bind(fingerprint)
                    .bind(body)
                    .bind(now.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "store an idempotent answer",
                    ))?;
                match done.rows_affected() {
                    0 => Err($crate::store::StoreError::KeyNotHeld),
                    _ => Ok(()),
                }
            }

            async fn release(
                &self,
                key: &str,
                fingerprint: &str,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query($crate::store::sql::RELEASE_KEY)
                    .bind(key)
                    .bind(fingerprint)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "release an idempotency key",
                    ))?;
                Ok(())
            }

            async fn purge_expired(
                &self,
                now: $crate::store::Timestamp,
                batch: u32,
            ) -> Result<u64, $crate::store::StoreError> {
                let purged = sqlx::query($crate::store::sql::PURGE_EXPIRED)
                    .bind(now.as_millis())
                    .bind(i64::from(batch))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "purge expired idempotency keys",
                    ))?;
                Ok(purged.rows_affected())
            }

            async fn purge_audit(
                &self,
                before: $crate::store::Timestamp,
                now: $crate::store::Timestamp,
                batch: u32,
            ) -> Result<u64, $crate::store::StoreError> {
                let purged = sqlx::query($crate::store::sql::PURGE_AUDIT)
                    .bind(before.as_millis())
                    .bind(now.as_millis())
                    .bind(i64::from(batch))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("purge old audit rows"))?;
                Ok(purged.rows_affected())
            }

            async fn purge_owners(
                &self,
                before: $crate::store::Timestamp,
                batch: u32,
            ) -> Result<u64, $crate::store::StoreError> {
                let purged = sqlx::query($crate::store::sql::PURGE_OWNERS)
                    .bind(before.as_millis())
                    .bind(i64::from(batch))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("purge old code owners"))?;
                Ok(purged.rows_affected())
            }

            async fn insert_pending(
                &self,
                rows: &[$crate::store::AuditRow],
            ) -> Result<(), $crate::store::StoreError> {
                if let Some(writer) = self.audit_writer() {
                    return writer.insert_pending(rows).await;
                }
                const OPERATION: &str = "record pending audit rows";
                if rows.len() <= $crate::store::sql::INSERT_CHUNK {
                    // One statement is atomic by itself: no BEGIN and COMMIT to wait for.
                    $crate::store::sql::insert_audit_rows(rows)
                        .build()
                        .persistent(false)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin()
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
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))
            }

            async fn finish(
                &self,
                rows: &[$crate::store::AuditRow],
            ) -> Result<(), $crate::store::StoreError> {
                if let Some(writer) = self.audit_writer() {
                    return writer.finish(rows).await;
                }
                const OPERATION: &str = "record audit outcomes";
                let update = |row| {
                    let mut update = sqlx::query($crate::store::sql::FINISH_AUDIT);
                    for value in $crate::store::sql::outcome_values(row) {
                        update = match value {
                            $crate::store::sql::Value::Text(text) => update.bind(text),
                            $crate::store::sql::Value::Int(int) => update.bind(int),
                            $crate::store::sql::Value::Bool(flag) => update.bind(flag),
                        };
                    }
                    update
                };
                let unknown =
                    |row: &$crate::store::AuditRow| $crate::store::StoreError::UnknownAuditRow {
                        attempt_id: row.attempt_id.clone(),
                        position: row.position,
                    };
                if let [row] = rows {
                    // One statement is atomic by itself: no BEGIN and COMMIT to wait for.
                    let updated = update(row)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    return match updated.rows_affected() {
                        0 => Err(unknown(row)),
                        _ => Ok(()),
                    };
                }
                // One statement per chunk, not one per row: a round trip each on Postgres.
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let mut updated = 0;
                for chunk in rows.chunks($crate::store::sql::INSERT_CHUNK) {
                    updated += $crate::store::sql::finish_audit_rows(chunk)
                        .build()
                        .persistent(false)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?
                        .rows_affected();
                }
                if updated == rows.len() as u64 {
                    return tx
                        .commit()
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION));
                }
                // A row is missing: undo, and find which one, a row at a time.
                drop(tx);
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                for row in rows {
                    let updated = update(row)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    if updated.rows_affected() == 0 {
                        return Err(unknown(row));
                    }
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))
            }

            async fn history(
                &self,
                code: &str,
                limit: u32,
            ) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::sql::AuditRecord>($crate::store::sql::HISTORY)
                    .bind(code)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("read the audit trail"))?
                    .into_iter()
                    .map($crate::store::AuditRow::try_from)
                    .collect()
            }

            async fn code_owner(
                &self,
                code: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                sqlx::query_scalar($crate::store::sql::CODE_OWNER)
                    .bind(code)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("read a code's owner"))
            }

            async fn remember_owner(
                &self,
                code: &str,
                vendor: &str,
                now: $crate::store::Timestamp,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query($crate::store::sql::REMEMBER_OWNER)
                    .bind(code)
                    .bind(vendor)
                    .bind(now.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "remember a code's owner",
                    ))?;
                Ok(())
            }

            async fn claim_unsettled(
                &self,
                claim: &$crate::store::UnsettledClaim<'_>,
            ) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::sql::AuditRecord>(
                    $crate::store::sql::CLAIM_UNSETTLED,
                )
                .bind(claim.owner)
                .bind(claim.lease_until.as_millis())
                .bind(claim.now.as_millis())
                .bind(claim.stale_before.as_millis())
                .bind(claim.unknown_since.as_millis())
                .bind(i64::from(claim.max_attempts))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::StoreError::database("claim rows to recover"))?
                .into_iter()
                .map($crate::store::AuditRow::try_from)
                .collect()
            }

            async fn quarantine(
                &self,
                now: $crate::store::Timestamp,
            ) -> Result<u64, $crate::store::StoreError> {
                const OPERATION: &str = "quarantine rows whose handling failed twice";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let rows: Vec<(String, bool)> = sqlx::query_as($crate::store::sql::QUARANTINE)
                    .bind(now.as_millis())
                    .bind($crate::store::sql::QUARANTINED)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let jobs: std::collections::BTreeSet<&str> = rows
                    .iter()
                    .filter(|(_, job)| *job)
                    .map(|(id, _)| id.as_str())
                    .collect();
                for job in jobs {
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
                Ok(rows.len() as u64)
            }

            async fn hold_key(
                &self,
                key: &str,
                attempt_id: &str,
                now: $crate::store::Timestamp,
            ) -> Result<$crate::store::KeyHolder, $crate::store::StoreError> {
                const OPERATION: &str = "hold an interrupted request's idempotency key";
                let held = sqlx::query($crate::store::sql::HOLD_KEY)
                    .bind(key)
                    .bind(attempt_id)
                    .bind(now.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                if held.rows_affected() > 0 {
                    return Ok($crate::store::KeyHolder::Held);
                }
                let live: i64 = sqlx::query_scalar($crate::store::sql::KEY_EXISTS)
                    .bind(key)
                    .bind(now.as_millis())
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(if live > 0 {
                    $crate::store::KeyHolder::Elsewhere
                } else {
                    $crate::store::KeyHolder::Gone
                })
            }

            async fn adopt(
                &self,
                key: &str,
                attempt_id: &str,
                owner: &str,
                lease_until: $crate::store::Timestamp,
            ) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::sql::AuditRecord>($crate::store::sql::ADOPT)
                    .bind(key)
                    .bind(attempt_id)
                    .bind(owner)
                    .bind(lease_until.as_millis())
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "adopt an earlier attempt's rows",
                    ))?
                    .into_iter()
                    .map($crate::store::AuditRow::try_from)
                    .collect()
            }

            async fn settle(
                &self,
                owner: &str,
                rows: &[$crate::store::AuditRow],
                completion: Option<$crate::store::Completion<'_>>,
            ) -> Result<u64, $crate::store::StoreError> {
                const OPERATION: &str = "record recovered outcomes";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let mut written = 0;
                for row in rows {
                    written += sqlx::query($crate::store::sql::SETTLE_ROW)
                        .bind(row.status.as_str())
                        .bind(row.error_code.map($crate::model::ErrorCode::as_str))
                        .bind(row.error_message.as_deref())
                        .bind(row.finished_at.map($crate::store::Timestamp::as_millis))
                        .bind(row.vendor_status.map(i64::from))
                        .bind(i64::from(row.vendor_calls))
                        .bind(row.outcome_unknown)
                        .bind(row.recovered_at.map($crate::store::Timestamp::as_millis))
                        .bind(row.recovered_by.as_deref())
                        .bind(row.vendor_state.map($crate::model::DocState::as_str))
                        .bind(row.attempt_id.as_str())
                        .bind(i64::from(row.position))
                        .bind(owner)
                        .bind(row.queued)
                        .bind(row.confirm_at.map($crate::store::Timestamp::as_millis))
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?
                        .rows_affected();
                }
                if let Some(done) = completion {
                    sqlx::query($crate::store::sql::COMPLETE_ATTEMPT_KEY)
                        .bind(done.key)
                        .bind(done.attempt_id)
                        .bind(done.body)
                        .bind(done.now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(written)
            }

            async fn attempt_rows(
                &self,
                attempt_id: &str,
            ) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::sql::AuditRecord>(
                    $crate::store::sql::ATTEMPT_ROWS,
                )
                .bind(attempt_id)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::StoreError::database(
                    "read an attempt's rows",
                ))?
                .into_iter()
                .map($crate::store::AuditRow::try_from)
                .collect()
            }

            fn shared_limits(&self) -> Option<std::sync::Arc<dyn $crate::store::SharedLimits>> {
                self.limits()
            }

            async fn close(&self) {
                if let Some(writer) = self.audit_writer() {
                    writer.close().await;
                }
                self.pool.close().await;
            }
        }
    };
}
pub(super) use pool_store;
