//! The jobs API as `signgate cancel` sees it: a small HTTP client (base URL and API key) with
//! create, get and results calls, and the errors they end with.

use std::fmt;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::job::{CreateJob, Job, ResultsPage};

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
