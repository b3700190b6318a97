//! The jobs API as `signgate cancel` sees it: a small HTTP client (base URL and API key) and
//! the typed `Job` and `JobResult` it reads. Unknown fields are ignored, so a newer server
//! does not break an older command.

use std::fmt;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many times a failed POST is sent again (connect errors, timeouts, `5xx`).
pub const CREATE_RETRIES: u32 = 3;

/// The wait before the first re-send of the POST; it doubles for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// A client of one signgate's jobs API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &"[redacted]")
            .finish()
    }
}

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

/// Why a call to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the connection failed or timed out.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server answered an error status.
    #[error("the server answered {status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error code of its envelope (or the status's reason when it had none).
        code: String,
        /// The message of its envelope (or the start of its body).
        message: String,
    },
    /// The server answered success with a body this command cannot read.
    #[error("the server's answer cannot be read: {0}")]
    BadAnswer(String),
}

impl ClientError {
    /// Whether sending the same request again may succeed: no answer, or a `5xx`.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) => true,
            ClientError::Api { status, .. } => *status >= 500,
            ClientError::BadAnswer(_) => false,
        }
    }
}

impl Client {
    /// A client of the signgate at `base` (such as `https://signgate.example`), with its
    /// API key.
    pub fn new(base: &str, key: SecretString) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// The URL of a job (the one to watch).
    pub fn job_url(&self, id: &str) -> String {
        format!("{}/documents/cancel/jobs/{id}", self.base)
    }

    /// Submits a job under `idempotency_key`; re-sends it with the same key up to
    /// [`CREATE_RETRIES`] times after a connect error, a timeout or a `5xx`.
    pub async fn create(&self, job: &CreateJob, idempotency_key: &str) -> Result<Job, ClientError> {
        let url = format!("{}/documents/cancel/jobs", self.base);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let request = self
                .http
                .post(&url)
                .header("Idempotency-Key", idempotency_key)
                .json(job);
            match self.send(request).await {
                Err(e) if e.is_transient() && attempt < CREATE_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                answer => return answer,
            }
        }
    }

    /// Reads a job.
    pub async fn get(&self, id: &str) -> Result<Job, ClientError> {
        self.send(self.http.get(self.job_url(id))).await
    }

    /// Reads one page of a job's results: the first when `cursor` is `None`.
    pub async fn results(
        &self,
        id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ResultsPage, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        let url = format!("{}/results", self.job_url(id));
        self.send(self.http.get(url).query(&query)).await
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        let bearer = format!("Bearer {}", self.key.expose_secret());
        let response = request
            .header(AUTHORIZATION, bearer)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(api_error(status, response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }
}

/// The error of a non-success answer, from signgate's `{"error": {code, message}}` envelope
/// when the body is one.
async fn api_error(status: StatusCode, response: Response) -> ClientError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Body,
    }
    #[derive(Deserialize)]
    struct Body {
        code: String,
        #[serde(default)]
        message: String,
    }
    let body = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Envelope>(&body) {
        Ok(envelope) => ClientError::Api {
            status: status.as_u16(),
            code: envelope.error.code,
            message: envelope.error.message,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: status
                .canonical_reason()
                .unwrap_or("error")
                .to_lowercase()
                .replace(' ', "_"),
            message: if body.chars().count() <= 200 {
                body
            } else {
                format!("{}...", body.chars().take(200).collect::<String>())
            },
        },
    }
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

    #[test]
    fn only_unreachable_and_5xx_errors_are_transient() {
        let api = |status| ClientError::Api {
            status,
            code: "x".into(),
            message: String::new(),
        };
        assert!(ClientError::Unreachable("refused".into()).is_transient());
        assert!(api(503).is_transient());
        assert!(!api(400).is_transient());
        assert!(!ClientError::BadAnswer("eof".into()).is_transient());
    }

    #[test]
    fn the_client_debug_hides_the_key() {
        let client = Client::new("http://127.0.0.1:1/", SecretString::from("s3cret")).unwrap();
        let printed = format!("{client:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert_eq!(
            client.job_url("a"),
            "http://127.0.0.1:1/documents/cancel/jobs/a"
        );
    }
}
