//! The jobs API's types as `signgate cancel` reads them: the job to submit, `Job`,
//! `JobResult` and a results page. Unknown fields are ignored, so a newer server does not
//! break an older command.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /documents/cancel/jobs`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateJob {
    /// The document codes, in order.
    pub codes: Vec<String>,
    /// The cancellation message the vendors record.
    pub message: String,
    /// The email of the person cancelling.
    pub email: String,
    /// Whether the vendors notify the signers.
    pub notify_signers: bool,
    /// Where signgate posts the finished job, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, no document sent yet.
    Queued,
    /// Documents are being cancelled.
    Running,
    /// Every document has its final outcome.
    Done,
    /// Stopped by `DELETE`; documents not yet sent ended `failed` (`aborted`).
    Cancelled,
    /// A state this command does not know; it keeps watching.
    #[serde(other)]
    Unknown,
}

impl JobState {
    /// Whether the job has ended (done or cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Cancelled)
    }

    /// The state as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
            JobState::Unknown => "unknown",
        }
    }
}

/// A job, as `GET /documents/cancel/jobs/{id}` answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// Its state.
    pub state: JobState,
    /// How many documents it holds.
    pub total: u64,
    /// How many documents are in each status.
    #[serde(default)]
    pub counts: Counts,
    /// The server's estimate of the seconds left, when it has one.
    #[serde(default)]
    pub estimated_seconds_left: Option<u64>,
    /// The pace of each vendor.
    #[serde(default)]
    pub vendors: Vec<VendorPace>,
    /// Successes and errors, once the job has ended.
    #[serde(default)]
    pub summary: Option<Summary>,
}

impl Job {
    /// Documents with a final outcome: `total - waiting - pending`.
    pub fn done(&self) -> u64 {
        self.total
            .saturating_sub(self.counts.waiting)
            .saturating_sub(self.counts.pending)
    }

    /// `(success, errors)`: the summary's when there is one, else counted from `counts`
    /// (only `cancelled` is a success, as in a cancel's answer).
    pub fn success_and_errors(&self) -> (u64, u64) {
        match &self.summary {
            Some(summary) => (summary.success, summary.errors.cant),
            None => {
                let success = self.counts.cancelled;
                (success, self.total.saturating_sub(success))
            }
        }
    }
}

/// How many documents of a job are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Counts {
    /// Not yet sent.
    #[serde(default)]
    pub waiting: u64,
    /// Being cancelled right now.
    #[serde(default)]
    pub pending: u64,
    /// Cancelled.
    #[serde(default)]
    pub cancelled: u64,
    /// Cancelled before this job.
    #[serde(default)]
    pub already_cancelled: u64,
    /// Failed.
    #[serde(default)]
    pub failed: u64,
}

/// One vendor's share of a job and its pace.
#[derive(Debug, Clone, Deserialize)]
pub struct VendorPace {
    /// The vendor's name.
    pub vendor: String,
    /// Its documents not yet sent.
    #[serde(default)]
    pub waiting: u64,
    /// Its documents being cancelled right now, when the server says.
    #[serde(default)]
    pub pending: u64,
    /// Its documents with a final outcome.
    #[serde(default)]
    pub done: u64,
    /// Its recent pace, in calls per minute.
    #[serde(default)]
    pub calls_per_minute: Option<f64>,
}

impl VendorPace {
    /// The vendor's documents in all.
    pub fn total(&self) -> u64 {
        self.waiting + self.pending + self.done
    }
}

/// A finished job's summary, counted as a cancel's answer counts.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    /// Documents cancelled.
    pub success: u64,
    /// Documents not cancelled.
    pub errors: SummaryErrors,
}

/// The errors part of a summary.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryErrors {
    /// How many documents were not cancelled.
    pub cant: u64,
    /// Their codes.
    #[serde(default)]
    pub documents: Vec<String>,
}

/// One document's outcome in a job, as the results pages give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobResult {
    /// The document's code.
    pub code: String,
    /// Its vendor; absent when the code could not be routed.
    #[serde(default)]
    pub vendor: Option<String>,
    /// `cancelled`, `already_cancelled`, `failed`, `waiting` or `pending`.
    pub status: String,
    /// Whether the vendor accepted the cancel and applies it later.
    #[serde(default)]
    pub queued: bool,
    /// Why it is not `cancelled`.
    #[serde(default)]
    pub error: Option<ResultError>,
}

/// A result's error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResultError {
    /// The stable error code.
    pub code: String,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
    /// Whether sending the code again later may succeed.
    #[serde(default)]
    pub retryable: bool,
}

/// One page of results: the objects as received, and the cursor of the next page.
#[derive(Debug, Clone, Deserialize)]
pub struct ResultsPage {
    /// The results, untouched, so that JSON output keeps every field.
    pub results: Vec<Value>,
    /// The next page's cursor; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reads_with_unknown_fields_and_counts_done_as_total_less_waiting_and_pending() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "id": "j1", "state": "running", "total": 10, "created_at": "x", "extra": [1],
            "counts": {"waiting": 5, "pending": 2, "cancelled": 3, "already_cancelled": 0,
                       "failed": 0},
            "estimated_seconds_left": null,
            "vendors": [{"vendor": "zapsign", "waiting": 5, "done": 3, "calls_per_minute": 60}]
        }))
        .unwrap();
        assert_eq!(job.state, JobState::Running);
        assert_eq!(job.done(), 3);
        assert_eq!(job.vendors[0].total(), 8);
        assert_eq!(job.success_and_errors(), (3, 7));
    }

    #[test]
    fn an_unknown_state_is_not_final() {
        let state: JobState = serde_json::from_value(serde_json::json!("paused")).unwrap();
        assert_eq!(state, JobState::Unknown);
        assert!(!state.is_final());
        assert!(JobState::Cancelled.is_final());
    }
}
