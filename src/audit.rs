//! The audit trail: one `pending` row per document before any vendor is called, then the
//! outcome before answering. Rows hold who, what, why and how it went; never credentials.

use std::sync::Arc;

use crate::cancellation::CancelCommand;
use crate::error::ApiError;
use crate::model::{DocumentCode, DocumentResult, Outcome, Status, VendorName};
use crate::store::{AuditRow, RowStatus, Store, Timestamp};

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

/// The rows for a planned request, in request order: `pending` where a vendor will be called
/// (`sent[i]`), else already finished with the planned outcome (unroutable, not configured).
pub fn pending_rows(
    meta: &RequestMeta,
    command: &CancelCommand,
    plan: &[DocumentResult],
    sent: &[bool],
) -> Vec<AuditRow> {
    plan.iter()
        .zip(sent)
        .enumerate()
        .map(|(position, (doc, &sent))| {
            let mut row = AuditRow {
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
                status: RowStatus::Pending,
                error_code: None,
                vendor_status: None,
                vendor_calls: 0,
                notify_signers: command.notify_signers,
                error_message: None,
                outcome_unknown: false,
                recovered_at: None,
                recovered_by: None,
                vendor_state: None,
                queued: false,
                confirm_at: None,
            };
            if !sent {
                set_outcome(&mut row, doc, meta.received_at);
            }
            row
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
        set_outcome(row, result, finished_at);
    }
    if let Err(e) = store.finish(&rows).await {
        tracing::error!(error = %e, "Audit outcomes could not be recorded; rows stay pending.");
    }
}

/// Copies a result's outcome onto its row.
pub fn set_outcome(row: &mut AuditRow, result: &DocumentResult, finished_at: Timestamp) {
    row.finished_at = Some(finished_at);
    row.status = RowStatus::Done(result.outcome.status());
    row.error_code = result.outcome.error_code();
    row.error_message = match &result.outcome {
        Outcome::Cancelled | Outcome::Queued => None,
        Outcome::Failed(f) => Some(f.message.clone()),
    };
    row.vendor_status = result.vendor_status;
    row.vendor_calls = result.vendor_calls;
    row.outcome_unknown = result.outcome_unknown;
    row.vendor_state = result.vendor_state;
    row.queued = result.outcome == Outcome::Queued;
    row.confirm_at = row
        .queued
        .then(|| finished_at.saturating_add(crate::recovery::CONFIRM_QUEUED_AFTER));
}

/// The result a finished row records, as its request answered (or would have answered) it;
/// `None` for a row still `waiting` or `pending`, or one this version cannot read.
pub fn result_of(row: &AuditRow) -> Option<DocumentResult> {
    let outcome = match row.status {
        RowStatus::Waiting | RowStatus::Pending => return None,
        RowStatus::Done(Status::Cancelled) if row.queued => Outcome::Queued,
        RowStatus::Done(Status::Cancelled) => Outcome::Cancelled,
        RowStatus::Done(Status::AlreadyCancelled | Status::Failed) => {
            let code = row.error_code?;
            let message = row
                .error_message
                .clone()
                .unwrap_or_else(|| format!("The document was not cancelled ({}).", code.as_str()));
            Outcome::failed(code, message)
        }
    };
    Some(DocumentResult {
        code: DocumentCode::parse(&row.code).ok()?,
        vendor: row.vendor.as_deref().map(VendorName::new),
        vendor_code: row.vendor_code.clone(),
        outcome,
        vendor_status: row.vendor_status,
        vendor_calls: row.vendor_calls,
        outcome_unknown: row.outcome_unknown,
        vendor_state: row.vendor_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorCode;

    fn meta() -> RequestMeta {
        RequestMeta {
            attempt_id: "a-1".into(),
            request_id: "r-1".into(),
            idempotency_key: Some("k".into()),
            received_at: Timestamp::from_millis(1_000),
        }
    }

    fn result(code: &str, outcome: Outcome) -> DocumentResult {
        DocumentResult {
            code: DocumentCode::parse(code).expect("valid"),
            vendor: Some(VendorName::new("zapsign")),
            vendor_code: Some(code.into()),
            outcome,
            vendor_status: None,
            vendor_calls: 0,
            outcome_unknown: false,
            vendor_state: None,
        }
    }

    #[test]
    fn only_documents_a_vendor_will_be_called_for_are_written_pending() {
        let command = CancelCommand {
            codes: vec![],
            message: "m".into(),
            email: "a@b.co".into(),
            notify_signers: false,
        };
        let plan = [
            result("A1", Outcome::failed(ErrorCode::DeadlineExceeded, "x")),
            result("A2", Outcome::failed(ErrorCode::Unroutable, "no rule")),
        ];

        let rows = pending_rows(&meta(), &command, &plan, &[true, false]);

        assert_eq!(rows[0].status, RowStatus::Pending);
        assert!(!rows[0].notify_signers);
        assert_eq!(rows[1].status, RowStatus::Done(Status::Failed));
        assert_eq!(rows[1].error_code, Some(ErrorCode::Unroutable));
        assert_eq!(rows[1].error_message.as_deref(), Some("no rule"));
        assert_eq!(rows[1].finished_at, Some(Timestamp::from_millis(1_000)));
    }

    #[test]
    fn a_finished_row_gives_back_the_result_it_recorded() {
        let command = CancelCommand {
            codes: vec![],
            message: "m".into(),
            email: "a@b.co".into(),
            notify_signers: true,
        };
        let failed = result(
            "A3",
            Outcome::failed(ErrorCode::AlreadySigned, "It is signed."),
        );
        let mut rows = pending_rows(&meta(), &command, std::slice::from_ref(&failed), &[true]);
        assert_eq!(result_of(&rows[0]), None, "a pending row has no result yet");

        set_outcome(&mut rows[0], &failed, Timestamp::from_millis(2_000));

        assert_eq!(result_of(&rows[0]), Some(failed));
    }
}
