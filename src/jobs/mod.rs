//! Bulk cancellation jobs (docs/jobs.md): a job's documents are written `waiting` at creation
//! (`rows`), cancelled in slices by every replica's runner (`runner`), watched through their
//! representation (`view`), and announced by a signed callback when the job ends (`callback`
//! signs and sends one attempt, `notify` schedules them).

pub mod callback;
pub mod notify;
pub mod runner;
pub mod view;
use crate::audit::{self, RequestMeta};
use crate::cancellation::{CancelCommand, Gateway};
use crate::model::{DocumentResult, ErrorCode, Outcome};
use crate::store::{AuditRow, NewJob, RowStatus};

/// The rows of a new job, in order: `waiting` for every code routing can send (to its vendor,
/// or to the lane that finds the vendor by status read), already final for the others
/// (unroutable, vendor not configured, malformed for its vendor). Nothing is called.
pub fn rows(gateway: &Gateway, job: &NewJob, command: &CancelCommand) -> Vec<AuditRow> {
    let plan: Vec<(DocumentResult, bool)> = command
        .codes
        .iter()
        .map(|code| match gateway.placement(code) {
            Ok(Some(route)) => {
                let planned = gateway.planned(code, Ok(route));
                let sent = gateway.will_send(&planned);
                (planned, sent)
            }
            // Several vendors could hold it: the runner's locating lane finds which.
            Ok(None) => (
                DocumentResult {
                    code: code.clone(),
                    vendor: None,
                    vendor_code: None,
                    outcome: Outcome::failed(ErrorCode::DeadlineExceeded, ""),
                    vendor_status: None,
                    vendor_calls: 0,
                    outcome_unknown: false,
                    vendor_state: None,
                },
                true,
            ),
            Err(unlocated) => (gateway.planned(code, Err(unlocated)), false),
        })
        .collect();
    let meta = RequestMeta {
        attempt_id: job.id.clone(),
        request_id: job.request_id.clone(),
        idempotency_key: None,
        received_at: job.created_at,
    };
    let (results, sent): (Vec<DocumentResult>, Vec<bool>) = plan.into_iter().unzip();
    let mut rows = audit::pending_rows(&meta, command, &results, &sent);
    for row in rows.iter_mut().filter(|r| r.status == RowStatus::Pending) {
        row.status = RowStatus::Waiting;
    }
    rows
}
