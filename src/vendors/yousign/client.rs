//! Yousign API v3: one signature request per cancel call (`POST
//! /signature_requests/{id}/cancel` with `{"reason": "other", "custom_note"}`, answered `201`
//! with the signature request), a Bearer API key, errors as `{"type", "detail",
//! "invalid_params"?}`, and the status read `GET /signature_requests/{id}`. Docs:
//! <https://developers.yousign.com/reference/errors-1>,
//! <https://developers.yousign.com/docs/signature-request-2>.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::{Client, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::YousignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

/// The longest `custom_note` Yousign accepts (`maxLength: 500` in its OpenAPI description):
/// a longer message is cut to fit, ending in `…`; the audit trail keeps it whole.
pub const CUSTOM_NOTE_MAX_CHARS: usize = 500;

/// The `reason` sent: the other two of its enum (`contractualization_aborted`,
/// `errors_in_document`) cannot be told from a free-text message, which goes in `custom_note`.
const REASON: &str = "other";

// ---- client --------------------------------------------------------------------------------

/// A Yousign account (one environment): its base URL, API key and connection pool.
pub struct Yousign {
    client: Client,
    base_url: String,
    api_key: SecretString,
}

impl fmt::Debug for Yousign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yousign")
            .field("base_url", &self.base_url)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl Yousign {
    /// Builds the client; `yousign.api_key` must be set.
    pub fn new(settings: &VendorSettings, yousign: &YousignSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            api_key: yousign.api_key.clone().unwrap_or_default(),
        }
    }

    /// The Bearer key, and `Accept: application/json` as Yousign's generated clients send it.
    fn authorised(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .bearer_auth(self.api_key.expose_secret())
            .header(ACCEPT, "application/json")
    }

    async fn cancel_one(&self, id: &str, batch: &Batch<'_>) -> Reply {
        let url = format!("{}/signature_requests/{id}/cancel", self.base_url);
        let note = custom_note(batch.message);
        let body = CancelBody {
            reason: REASON,
            custom_note: &note,
        };
        let request = self.authorised(self.client.post(url)).json(&body);
        let (answer, headers) = http::send_keeping_headers(request, batch.ctx.request_id).await?;
        classify(&answer, reset_in(&headers))
    }
}

/// `message` as a `custom_note`: at most `CUSTOM_NOTE_MAX_CHARS` characters (Unicode scalar
/// values, as JSON Schema's `maxLength` counts them).
pub fn custom_note(message: &str) -> String {
    if message.chars().count() <= CUSTOM_NOTE_MAX_CHARS {
        return message.to_owned();
    }
    let mut note: String = message.chars().take(CUSTOM_NOTE_MAX_CHARS - 1).collect();
    note.push('…');
    note
}

/// `RateLimit-Reset`: the seconds until Yousign's window resets (a wait, not a time).
fn reset_in(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get("ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(http::wait_secs(seconds))
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for Yousign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |id| self.cancel_one(id, batch)).await
    }

    fn can_read_status(&self) -> bool {
        true
    }

    async fn status(&self, id: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let url = format!("{}/signature_requests/{id}", self.base_url);
        let request = self.authorised(self.client.get(url));
        let (answer, headers) = http::send_keeping_headers(request, ctx.request_id).await?;
        classify_status(&answer, reset_in(&headers))
    }
}

// ---- classification -------------------------------------------------------------------------

/// The error `type`s Yousign documents for a payload that failed validation (they carry
/// `invalid_params`).
const VALIDATION_TYPES: [&str; 2] = ["validation.error", "parameters_not_valid"];

/// The one table for cancel answers: status first, then, for a `400`, whether the body says
/// the payload was invalid. `reset` is `RateLimit-Reset`, for a `429` without `Retry-After`.
fn classify(answer: &RawAnswer, reset: Option<Duration>) -> Reply {
    let status = answer.status.as_u16();
    let failed = |code: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    match status {
        // Documented: `201` with the signature request (`status: canceled`); it adds nothing.
        200..=299 => Ok(Answer {
            outcome: Outcome::Cancelled,
            http_status: status,
        }),
        400 => match error_body(&answer.body) {
            Some(error) if error.is_validation() => failed(
                ErrorCode::Rejected,
                format!(
                    "Yousign rejected the request as invalid ({}).",
                    error.summary()
                ),
            ),
            // Yousign documents no `type` for a request in a state it will not cancel
            // (canceled, done, expired, ...): the policy's status read tells which.
            Some(error) => failed(
                ErrorCode::VendorRefused,
                format!("Yousign refused the cancel ({}).", error.summary()),
            ),
            None => failed(
                ErrorCode::VendorRefused,
                "Yousign refused the cancel without saying why.".into(),
            ),
        },
        401 | 403 => failed(
            ErrorCode::VendorAuthFailed,
            "Yousign rejected signgate's API key (each environment has its own).".into(),
        ),
        404 => failed(
            ErrorCode::NotFound,
            "Yousign does not know this signature request.".into(),
        ),
        415 => failed(
            ErrorCode::Rejected,
            "Yousign refused the request's content type.".into(),
        ),
        429 => Err(rate_limited(answer, reset)),
        0..=199 | 300..=399 | 402 | 405..=414 | 416..=428 | 430..=u16::MAX => {
            Err(http::common_error(answer))
        }
    }
}

fn rate_limited(answer: &RawAnswer, reset: Option<Duration>) -> UpstreamError {
    UpstreamError::RateLimited {
        retry_after: answer.retry_after.or(reset),
    }
}

/// Reads a `GET /signature_requests/{id}` answer.
fn classify_status(answer: &RawAnswer, reset: Option<Duration>) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let request: StatusBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            state_of(&request.status).ok_or(UpstreamError::BadResponse { status })
        }
        404 => Ok(DocState::NotFound),
        429 => Err(rate_limited(answer, reset)),
        0..=199 | 300..=399 | 400..=403 | 405..=428 | 430..=u16::MAX => {
            Err(http::common_error(answer))
        }
    }
}

/// A signature request `status` (every value of Yousign's `SignatureRequestStatus`) as a
/// document state; `None` for a value Yousign does not document.
fn state_of(status: &str) -> Option<DocState> {
    Some(match status {
        // Only these two can be cancelled.
        "ongoing" | "approval" => DocState::InProgress,
        "done" => DocState::Signed,
        "canceled" => DocState::Cancelled,
        // Declined by a signer, rejected by an approver, expired (it could be reactivated,
        // but not cancelled now), deleted, or never activated: Yousign will not cancel them.
        "declined" | "rejected" | "expired" | "deleted" | "draft" => DocState::Closed,
        _ => return None,
    })
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Serialize)]
struct CancelBody<'a> {
    reason: &'static str,
    custom_note: &'a str,
}

/// Yousign's 4xx body: `type` and `detail`, and `invalid_params` for a validation error.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    invalid_params: Vec<InvalidParam>,
}

#[derive(Debug, Deserialize)]
struct InvalidParam {
    #[serde(default)]
    name: String,
    #[serde(default)]
    reason: String,
}

impl ErrorBody {
    fn is_validation(&self) -> bool {
        !self.invalid_params.is_empty() || VALIDATION_TYPES.contains(&self.kind.as_str())
    }

    /// `type: detail`, and the first invalid parameter, short and printable.
    fn summary(&self) -> String {
        let mut text = format!(
            "{}: {}",
            http::excerpt(&self.kind),
            http::excerpt(&self.detail)
        );
        if let Some(param) = self.invalid_params.first() {
            text.push_str(&format!(
                "; {}: {}",
                http::excerpt(&param.name),
                http::excerpt(&param.reason)
            ));
        }
        text
    }
}

fn error_body(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice(body).ok()
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}
