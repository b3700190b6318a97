//! Example Sign: one document per cancel call, Bearer token, `{"error": "..."}` bodies.
//! Made up for tests (see `README.md`): `POST /documents/{id}/cancel`, `GET /documents/{id}`.

use std::fmt;

use async_trait::async_trait;
use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ExampleSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

// ---- client --------------------------------------------------------------------------------

/// An Example Sign account: its base URL, API token and connection pool.
pub struct ExampleSign {
    client: Client,
    base_url: String,
    token: SecretString,
}

impl fmt::Debug for ExampleSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExampleSign")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl ExampleSign {
    /// Builds the client; `token` must be set.
    pub fn new(settings: &VendorSettings, example: &ExampleSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            token: example.token.clone().unwrap_or_default(),
        }
    }

    async fn cancel_one(&self, id: &str, batch: &Batch<'_>) -> Reply {
        let request = self
            .client
            .post(format!("{}/documents/{id}/cancel", self.base_url))
            .bearer_auth(self.token.expose_secret())
            .json(&CancelBody {
                reason: batch.message,
            });
        classify(&http::send(request, batch.ctx.request_id).await?)
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for ExampleSign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |code| self.cancel_one(code, batch)).await
    }

    fn can_read_status(&self) -> bool {
        true
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let request = self
            .client
            .get(format!("{}/documents/{code}", self.base_url))
            .bearer_auth(self.token.expose_secret());
        classify_status(&http::send(request, ctx.request_id).await?)
    }
}

// ---- classification -------------------------------------------------------------------------

/// Classifies a cancel answer: by status first, then by the `error` of a `409`.
fn classify(answer: &RawAnswer) -> Reply {
    let status = answer.status.as_u16();
    let failed = |code: ErrorCode, message: &str| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    match status {
        // Example Sign documents no body for a cancel: any 2xx is one.
        200..=299 => Ok(Answer {
            outcome: Outcome::Cancelled,
            http_status: status,
        }),
        409 => match error_of(&answer.body).as_deref() {
            Some("already_cancelled") => failed(
                ErrorCode::AlreadyCancelled,
                "The document was already cancelled.",
            ),
            Some("completed") => {
                failed(ErrorCode::AlreadySigned, "The document is already signed.")
            }
            Some(_) | None => failed(
                ErrorCode::NotCancellable,
                "Example Sign does not allow cancelling this document.",
            ),
        },
        400 => failed(
            ErrorCode::Rejected,
            "Example Sign rejected the request as invalid.",
        ),
        401 | 403 => failed(
            ErrorCode::VendorAuthFailed,
            "Example Sign rejected signgate's credentials.",
        ),
        404 => failed(
            ErrorCode::NotFound,
            "Example Sign does not know this document.",
        ),
        0..=199 | 300..=399 | 402 | 405..=408 | 410..=u16::MAX => Err(http::common_error(answer)),
    }
}

/// The `error` field of a JSON error body.
fn error_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error)
}

/// Reads a `GET /documents/{id}` answer.
fn classify_status(answer: &RawAnswer) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let doc: StatusBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            match doc.state.as_str() {
                "open" => Ok(DocState::InProgress),
                "cancelled" => Ok(DocState::Cancelled),
                "completed" => Ok(DocState::Signed),
                "expired" => Ok(DocState::Closed),
                _ => Err(UpstreamError::BadResponse { status }),
            }
        }
        404 => Ok(DocState::NotFound),
        0..=199 | 300..=399 | 400..=403 | 405..=u16::MAX => Err(http::common_error(answer)),
    }
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Serialize)]
struct CancelBody<'a> {
    reason: &'a str,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

#[derive(Deserialize)]
struct StatusBody {
    state: String,
}

// ---- tests -----------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;

    fn answer(status: u16, body: &str) -> RawAnswer {
        RawAnswer {
            status: StatusCode::from_u16(status).expect("valid status"),
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn code_of(status: u16, body: &str) -> Option<ErrorCode> {
        classify(&answer(status, body))
            .expect("a definite answer")
            .outcome
            .error_code()
    }

    #[test]
    fn each_409_error_is_its_own_outcome() {
        let expected = [
            (
                r#"{"error":"already_cancelled"}"#,
                ErrorCode::AlreadyCancelled,
            ),
            (r#"{"error":"completed"}"#, ErrorCode::AlreadySigned),
            (r#"{"error":"locked"}"#, ErrorCode::NotCancellable),
            ("<html></html>", ErrorCode::NotCancellable),
        ];
        for (body, want) in expected {
            assert_eq!(code_of(409, body), Some(want), "{body}");
        }
    }

    #[test]
    fn status_first_whatever_the_body_says() {
        let completed = r#"{"error":"completed"}"#;
        assert_eq!(code_of(404, completed), Some(ErrorCode::NotFound));
        assert_eq!(code_of(400, completed), Some(ErrorCode::Rejected));
        assert_eq!(code_of(401, completed), Some(ErrorCode::VendorAuthFailed));
        assert_eq!(code_of(403, completed), Some(ErrorCode::VendorAuthFailed));
        assert_eq!(code_of(200, completed), None);
    }

    #[test]
    fn other_statuses_go_through_the_shared_table() {
        let reply = classify(&answer(503, ""));

        assert!(matches!(
            reply,
            Err(UpstreamError::Server { status: 503, .. })
        ));
    }

    #[test]
    fn each_documented_state_is_read_and_an_unknown_one_is_a_bad_response() {
        let read = |body: &str| classify_status(&answer(200, body));
        assert_eq!(read(r#"{"state":"open"}"#), Ok(DocState::InProgress));
        assert_eq!(read(r#"{"state":"cancelled"}"#), Ok(DocState::Cancelled));
        assert_eq!(read(r#"{"state":"completed"}"#), Ok(DocState::Signed));
        assert_eq!(read(r#"{"state":"expired"}"#), Ok(DocState::Closed));
        assert_eq!(
            read(r#"{"state":"lost"}"#),
            Err(UpstreamError::BadResponse { status: 200 })
        );
        assert_eq!(classify_status(&answer(404, "")), Ok(DocState::NotFound));
    }
}
