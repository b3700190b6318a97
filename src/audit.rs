//! The audit trail: one `pending` row per document before any vendor is called, then the
//! outcome before answering. Rows hold who, what, why and how it went; never credentials.

use std::sync::Arc;

use crate::cancellation::CancelCommand;
use crate::error::ApiError;
use crate::model::DocumentResult;
use crate::store::{AuditRow, Store, Timestamp, STATUS_PENDING};

/// Who sent the request, and when.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// signgate's own id for this request (unique, unlike the client's request id).
    pub attempt_id: String,
    /// The request id.
    pub request_id: String,
    /// The `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// When signgate accepted it.
    pub received_at: Timestamp,
}

/// The `pending` rows for a planned request, in request order.
pub fn pending_rows(
    meta: &RequestMeta,
    command: &CancelCommand,
    plan: &[DocumentResult],
) -> Vec<AuditRow> {
    plan.iter()
        .enumerate()
        .map(|(position, doc)| AuditRow {
            attempt_id: meta.attempt_id.clone(),
            request_id: meta.request_id.clone(),
            position: u32::try_from(position).unwrap_or(u32::MAX),
            idempotency_key: meta.idempotency_key.clone(),
            received_at: meta.received_at,
            finished_at: None,
            email: command.email.clone(),
            message: command.message.clone(),
            code: doc.code.as_str().to_owned(),
            vendor: doc.vendor.as_ref().map(|v| v.as_str().to_owned()),
            vendor_code: doc.vendor_code.clone(),
            status: STATUS_PENDING.to_owned(),
            error_code: None,
            vendor_status: None,
            vendor_calls: 0,
        })
        .collect()
}

/// Writes the pending rows in one transaction; `503` (and no vendor call) when it cannot.
pub async fn write_pending(store: &Arc<dyn Store>, rows: &[AuditRow]) -> Result<(), ApiError> {
    store.insert_pending(rows).await.map_err(|e| {
        tracing::error!(error = %e, "Audit rows could not be written; no vendor was called.");
        ApiError::unavailable("The audit store cannot be written; no vendor was called.")
    })
}

/// Records every document's outcome on its row. A failure is logged, not answered: the
/// vendors have acted, and the pending rows already say which cancels may have been sent.
pub async fn record_outcomes(
    store: &Arc<dyn Store>,
    mut rows: Vec<AuditRow>,
    results: &[DocumentResult],
) {
    let finished_at = Timestamp::now();
    for (row, result) in rows.iter_mut().zip(results) {
        row.finished_at = Some(finished_at);
        row.status = result.outcome.status().as_str().to_owned();
        row.error_code = result.outcome.error_code().map(|c| c.as_str().to_owned());
        row.vendor_status = result.vendor_status;
        row.vendor_calls = result.vendor_calls;
    }
    if let Err(e) = store.finish(&rows).await {
        tracing::error!(error = %e, "Audit outcomes could not be recorded; rows stay pending.");
    }
}
