//! Dropbox Sign API v3: one signature request per cancel call, HTTP Basic with the API key and
//! an empty password, a cancel that is only queued, errors as `{"error": {"error_msg",
//! "error_name"}}`. Docs: <https://developers.hellosign.com/api/reference/operation/signatureRequestCancel/>,
//! <https://developers.hellosign.com/api/reference/operation/signatureRequestGet/>.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::{Client, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::DropboxSignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

// ---- client --------------------------------------------------------------------------------

/// A Dropbox Sign account: its base URL, API key and connection pool.
pub struct DropboxSign {
    client: Client,
    base_url: String,
    api_key: SecretString,
}

impl fmt::Debug for DropboxSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropboxSign")
            .field("base_url", &self.base_url)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl DropboxSign {
    /// Builds the client; `dropboxsign.api_key` must be set.
    pub fn new(settings: &VendorSettings, dropboxsign: &DropboxSignSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            api_key: dropboxsign.api_key.clone().unwrap_or_default(),
        }
    }

    /// The API key as the Basic user name, with an empty password.
    fn authorised(&self, request: RequestBuilder) -> RequestBuilder {
        request.basic_auth(self.api_key.expose_secret(), Some(""))
    }

    async fn cancel_one(&self, id: &str, ctx: &CallContext<'_>) -> Reply {
        let url = format!("{}/signature_request/cancel/{id}", self.base_url);
        // No body: the id in the path is the whole request.
        let request = self.authorised(self.client.post(url)).body("");
        let (answer, headers) = http::send_keeping_headers(request, ctx.request_id).await?;
        classify(&answer, http::rate_limit_reset(&headers, SystemTime::now()))
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for DropboxSign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |id| self.cancel_one(id, &batch.ctx)).await
    }

    fn can_read_status(&self) -> bool {
        true
    }

    async fn status(&self, id: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let url = format!("{}/signature_request/{id}", self.base_url);
        let request = self.authorised(self.client.get(url));
        let (answer, headers) = http::send_keeping_headers(request, ctx.request_id).await?;
        let now = SystemTime::now();
        classify_status(&answer, http::rate_limit_reset(&headers, now), now)
    }
}

// ---- classification -------------------------------------------------------------------------

/// What a Dropbox Sign answer means, whether its status or its `error_name` said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// `2xx`: the cancel is queued, not done.
    Queued,
    /// `400 bad_request`: refused; only a status read can say why.
    BadRequest,
    /// `401 unauthorized`, `402 payment_required`, `403 forbidden`.
    AuthFailed,
    /// `404 not_found`.
    NotFound,
    /// `409 conflict`: an identical request is being processed; the vendor may be acting.
    Conflict,
    /// `410 deleted`: the signature request was cancelled before.
    Deleted,
    /// `429 exceeded_rate`.
    RateLimited,
    /// `422 unprocessable_entity`.
    Unprocessable,
}

/// The meaning of the statuses Dropbox Sign documents; `None` for the others.
fn meaning_of_status(status: u16) -> Option<Meaning> {
    match status {
        200..=299 => Some(Meaning::Queued),
        400 => Some(Meaning::BadRequest),
        401..=403 => Some(Meaning::AuthFailed),
        404 => Some(Meaning::NotFound),
        409 => Some(Meaning::Conflict),
        410 => Some(Meaning::Deleted),
        422 => Some(Meaning::Unprocessable),
        429 => Some(Meaning::RateLimited),
        0..=199 | 300..=399 | 405..=408 | 411..=421 | 423..=428 | 430..=u16::MAX => None,
    }
}

/// The meaning of a documented `error_name`; `None` for any other name.
fn meaning_of_name(name: &str) -> Option<Meaning> {
    match name {
        "bad_request" => Some(Meaning::BadRequest),
        "unauthorized" | "payment_required" | "forbidden" => Some(Meaning::AuthFailed),
        "not_found" => Some(Meaning::NotFound),
        "conflict" => Some(Meaning::Conflict),
        "deleted" => Some(Meaning::Deleted),
        "exceeded_rate" => Some(Meaning::RateLimited),
        "unprocessable_entity" => Some(Meaning::Unprocessable),
        _ => None,
    }
}

/// Classifies a cancel answer: by status first, then, for an undocumented `4xx`, by the
/// body's `error_name`. `reset` is the wait `X-Ratelimit-Reset` asks for.
fn classify(answer: &RawAnswer, reset: Option<Duration>) -> Reply {
    let status = answer.status.as_u16();
    let error = ErrorBody::read(&answer.body);
    let by_name = || {
        let name = error.as_ref()?.error_name.as_deref()?;
        (400..=499)
            .contains(&status)
            .then(|| meaning_of_name(name))?
    };
    let Some(meaning) = meaning_of_status(status).or_else(by_name) else {
        return Err(http::common_error(answer));
    };
    let failed = |code: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    let said = ErrorBody::said(error.as_ref());
    match meaning {
        Meaning::Queued => Ok(Answer {
            outcome: Outcome::Queued,
            http_status: status,
        }),
        // Refused without a reason: the policy reads the status (signed, declined or
        // expired); a request still in progress keeps this refusal.
        Meaning::BadRequest => failed(
            ErrorCode::VendorRefused,
            format!("Dropbox Sign refused the cancel as a bad request{said}."),
        ),
        Meaning::AuthFailed => failed(
            ErrorCode::VendorAuthFailed,
            format!("Dropbox Sign rejected signgate's API key or plan{said}."),
        ),
        Meaning::NotFound => failed(
            ErrorCode::NotFound,
            "Dropbox Sign does not know this signature request.".into(),
        ),
        Meaning::Deleted => failed(
            ErrorCode::AlreadyCancelled,
            "The signature request was already cancelled.".into(),
        ),
        Meaning::Unprocessable => failed(
            ErrorCode::Rejected,
            format!("Dropbox Sign rejected the request as invalid{said}."),
        ),
        // The vendor may be cancelling it right now: ambiguous, so the policy reads the status.
        Meaning::Conflict => Err(UpstreamError::Conflict),
        Meaning::RateLimited => Err(UpstreamError::RateLimited {
            retry_after: answer.retry_after.or(reset),
        }),
    }
}

/// Reads a `GET /signature_request/{id}` answer at `now`.
fn classify_status(
    answer: &RawAnswer,
    reset: Option<Duration>,
    now: SystemTime,
) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let read: StatusBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            Ok(read.signature_request.state(now))
        }
        404 => Ok(DocState::NotFound),
        // A cancelled signature request is gone: Dropbox Sign answers `410 deleted`.
        410 => Ok(DocState::Cancelled),
        429 => Err(UpstreamError::RateLimited {
            retry_after: answer.retry_after.or(reset),
        }),
        0..=199 | 300..=403 | 405..=409 | 411..=428 | 430..=u16::MAX => {
            Err(http::common_error(answer))
        }
    }
}

// ---- wire types ------------------------------------------------------------------------------

/// `{"error": {"error_msg", "error_name", "error_path"?}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    error_msg: Option<String>,
    error_name: Option<String>,
}

impl ErrorBody {
    fn read(body: &[u8]) -> Option<ErrorDetail> {
        serde_json::from_slice::<Self>(body).ok().map(|b| b.error)
    }

    /// ` (error_name: error_msg)` for a message, or nothing.
    fn said(error: Option<&ErrorDetail>) -> String {
        let Some(error) = error else {
            return String::new();
        };
        let name = error.error_name.as_deref().map(http::excerpt);
        let msg = error.error_msg.as_deref().map(http::excerpt);
        match (name, msg) {
            (Some(name), Some(msg)) => format!(" ({name}: {msg})"),
            (Some(text), None) | (None, Some(text)) => format!(" ({text})"),
            (None, None) => String::new(),
        }
    }
}

/// `{"signature_request": {...}}`: no status field, only these flags.
#[derive(Deserialize)]
struct StatusBody {
    signature_request: SignatureRequest,
}

#[derive(Deserialize)]
struct SignatureRequest {
    #[serde(default)]
    is_complete: bool,
    #[serde(default)]
    is_declined: bool,
    /// Unix seconds; `null` when it never expires.
    expires_at: Option<u64>,
}

impl SignatureRequest {
    /// Complete is signed; declined or past `expires_at` is closed; anything else (an error
    /// included) is still in progress.
    fn state(&self, now: SystemTime) -> DocState {
        let expired = self.expires_at.is_some_and(|at| http::unix_passed(at, now));
        if self.is_complete {
            DocState::Signed
        } else if self.is_declined || expired {
            DocState::Closed
        } else {
            DocState::InProgress
        }
    }
}

// ---- tests -----------------------------------------------------------------------------------

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn answer(status: u16, body: &str) -> RawAnswer {
        RawAnswer {
            status: StatusCode::from_u16(status).expect("valid status"),
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn error(status: u16, name: &str) -> RawAnswer {
        let body = json!({"error": {"error_msg": "m", "error_name": name}});
        answer(status, &body.to_string())
    }

    fn code_of(reply: Reply) -> Option<ErrorCode> {
        reply.expect("a definite answer").outcome.error_code()
    }

    #[test]
    fn every_documented_status_has_its_meaning_whatever_the_name_says() {
        use ErrorCode as E;
        let definite = [
            (400, "bad_request", E::VendorRefused),
            (401, "unauthorized", E::VendorAuthFailed),
            (402, "payment_required", E::VendorAuthFailed),
            (403, "forbidden", E::VendorAuthFailed),
            (404, "not_found", E::NotFound),
            (410, "deleted", E::AlreadyCancelled),
            (422, "unprocessable_entity", E::Rejected),
            (404, "deleted", E::NotFound),
        ];
        for (status, name, want) in definite {
            let got = code_of(classify(&error(status, name), None));
            assert_eq!(got, Some(want), "{status} {name}");
        }
    }

    #[test]
    fn an_undocumented_4xx_is_read_by_its_error_name() {
        assert_eq!(
            code_of(classify(&error(418, "deleted"), None)),
            Some(ErrorCode::AlreadyCancelled)
        );
        assert_eq!(
            classify(&error(418, "something_new"), None),
            Err(UpstreamError::BadResponse { status: 418 })
        );
        assert_eq!(
            classify(&answer(405, "<html/>"), None),
            Err(UpstreamError::BadResponse { status: 405 })
        );
    }

    #[test]
    fn a_5xx_is_the_shared_table_whatever_its_body() {
        assert_eq!(
            classify(&error(500, "deleted"), None),
            Err(UpstreamError::Server {
                status: 500,
                retry_after: None
            })
        );
    }

    #[test]
    fn any_2xx_is_queued_whatever_its_body() {
        for body in ["", "{}", "<html>ok</html>"] {
            let reply = classify(&answer(200, body), None).expect("an answer");
            assert_eq!(reply.outcome, Outcome::Queued, "{body:?}");
        }
    }

    #[test]
    fn a_conflict_is_ambiguous_and_not_a_breaker_failure() {
        let error = classify(&error(409, "conflict"), None).expect_err("no definite answer");
        assert_eq!(error, UpstreamError::Conflict);
        assert!(error.class().ambiguous);
        assert!(!error.class().breaker_failure);
        assert!(!error.class().retry_safe);
    }

    #[test]
    fn the_message_carries_the_vendors_words_without_control_characters() {
        let body = json!({"error": {"error_msg": "Bad\nthing", "error_name": "bad_request"}});
        let reply = classify(&answer(400, &body.to_string()), None).expect("an answer");
        let Outcome::Failed(failure) = reply.outcome else {
            panic!("a refusal");
        };
        assert_eq!(
            failure.message,
            "Dropbox Sign refused the cancel as a bad request (bad_request: Badthing)."
        );
    }

    #[test]
    fn a_429_waits_for_retry_after_else_for_the_rate_limit_reset() {
        let reset = Some(Duration::from_secs(7));
        assert_eq!(
            classify(&error(429, "exceeded_rate"), reset),
            Err(UpstreamError::RateLimited { retry_after: reset })
        );
        let mut told = error(429, "exceeded_rate");
        told.retry_after = Some(Duration::from_secs(2));
        assert_eq!(
            classify(&told, reset),
            Err(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            })
        );
    }

    #[test]
    fn the_status_read_maps_flags_expiry_and_gone_requests() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000);
        let read = |fields: serde_json::Value| {
            let body = json!({ "signature_request": fields }).to_string();
            classify_status(&answer(200, &body), None, now)
        };
        let flags = |complete, declined, expires_at: Option<u64>| {
            json!({"is_complete": complete, "is_declined": declined, "has_error": false,
                   "expires_at": expires_at})
        };
        assert_eq!(read(flags(false, false, None)), Ok(DocState::InProgress));
        assert_eq!(
            read(flags(false, false, Some(3_000))),
            Ok(DocState::InProgress)
        );
        assert_eq!(read(flags(false, false, Some(1_000))), Ok(DocState::Closed));
        assert_eq!(read(flags(false, true, None)), Ok(DocState::Closed));
        assert_eq!(read(flags(true, false, Some(1_000))), Ok(DocState::Signed));
        assert_eq!(
            read(json!({"is_complete": false, "has_error": true})),
            Ok(DocState::InProgress)
        );
        let gone = classify_status(&error(410, "deleted"), None, now);
        assert_eq!(gone, Ok(DocState::Cancelled));
        let unknown = classify_status(&error(404, "not_found"), None, now);
        assert_eq!(unknown, Ok(DocState::NotFound));
    }

    #[test]
    fn a_status_read_that_cannot_be_understood_is_a_bad_response() {
        let now = SystemTime::now();
        for body in ["", "{}", r#"{"signature_request": "x"}"#] {
            assert_eq!(
                classify_status(&answer(200, body), None, now),
                Err(UpstreamError::BadResponse { status: 200 }),
                "{body:?}"
            );
        }
        assert_eq!(
            classify_status(&error(401, "unauthorized"), None, now),
            Err(UpstreamError::BadResponse { status: 401 })
        );
    }
}
