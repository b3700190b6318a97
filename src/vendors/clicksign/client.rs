//! Clicksign API v3: one document per cancel call, `PATCH` of the document's `status` inside
//! its envelope, the access token as `Authorization` without a scheme, JSON:API bodies and
//! errors as `{"errors": [{"code", "status", "title", "detail", "source"}]}`. Docs:
//! <https://developers.clicksign.com/v2.0/docs/alterar-documento>,
//! <https://developers.clicksign.com/docs/mensagens-de-erro>,
//! <https://developers.clicksign.com/docs/limite-de-requisicoes>.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ClicksignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::kind::is_uuid;
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

/// JSON:API's media type: Clicksign's `Content-Type` and `Accept`.
pub(super) const JSON_API: &str = "application/vnd.api+json";

// ---- client --------------------------------------------------------------------------------

/// A Clicksign account: its base URL, access token and connection pool.
pub struct Clicksign {
    client: Client,
    base_url: String,
    access_token: SecretString,
}

impl fmt::Debug for Clicksign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clicksign")
            .field("base_url", &self.base_url)
            .field("access_token", &"[redacted]")
            .finish()
    }
}

impl Clicksign {
    /// Builds the client; `clicksign.access_token` must be set.
    pub fn new(settings: &VendorSettings, clicksign: &ClicksignSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            access_token: clicksign.access_token.clone().unwrap_or_default(),
        }
    }

    /// The document's URL inside its envelope.
    fn document_url(&self, code: &Code<'_>) -> String {
        format!(
            "{}/envelopes/{}/documents/{}",
            self.base_url, code.envelope, code.document
        )
    }

    /// The token as `Authorization` as is ("Em Authorization adicione o access token"), and
    /// JSON:API's media type.
    fn authorised(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .header(AUTHORIZATION, self.access_token.expose_secret())
            .header(ACCEPT, JSON_API)
    }

    async fn cancel_one(&self, code: &str, ctx: &CallContext<'_>) -> Reply {
        let Some(code) = Code::parse(code) else {
            return Ok(malformed());
        };
        let body = CancelBody {
            data: CancelData {
                id: code.document,
                kind: "documents",
                attributes: CancelAttributes { status: "canceled" },
            },
        };
        // `json` keeps a `Content-Type` set before it: JSON:API's, not `application/json`.
        let request = self
            .authorised(self.client.patch(self.document_url(&code)))
            .header(CONTENT_TYPE, JSON_API)
            .json(&body);
        let (answer, headers) = http::send_keeping_headers(request, ctx.request_id).await?;
        classify(&answer, reset_wait(&headers, SystemTime::now()))
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for Clicksign {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        one_by_one(batch, |code| self.cancel_one(code, &batch.ctx)).await
    }

    fn malformed_code(&self, code: &str) -> Option<&'static str> {
        Code::parse(code).is_none().then_some(MALFORMED)
    }

    fn can_read_status(&self) -> bool {
        true
    }

    // A code that is not a pair of UUIDs names no Clicksign document: nothing to ask.
    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let Some(code) = Code::parse(code) else {
            return Ok(DocState::NotFound);
        };
        let request = self.authorised(self.client.get(self.document_url(&code)));
        let (answer, headers) = http::send_keeping_headers(request, ctx.request_id).await?;
        classify_status(&answer, reset_wait(&headers, SystemTime::now()))
    }
}

// ---- codes -----------------------------------------------------------------------------------

/// A Clicksign code, `ENVELOPE_ID:DOCUMENT_ID`: v3 addresses a document inside its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Code<'a> {
    envelope: &'a str,
    document: &'a str,
}

impl<'a> Code<'a> {
    /// The two UUIDs, or `None` for anything else (so no call goes out with a broken path).
    fn parse(code: &'a str) -> Option<Self> {
        let (envelope, document) = code.split_once(':')?;
        (is_uuid(envelope) && is_uuid(document)).then_some(Self { envelope, document })
    }
}

/// The answer for a code that cannot be a Clicksign document; no call was made.
fn malformed() -> Answer {
    Answer {
        outcome: Outcome::failed(ErrorCode::Rejected, MALFORMED),
        // No call was made, but an `Answer` carries a status: that of a request refused as
        // invalid. The gateway never gets here: it checks `malformed_code` first.
        http_status: 400,
    }
}

/// Why a code that is not a Clicksign pair is never sent.
const MALFORMED: &str = "A Clicksign code is ENVELOPE_ID:DOCUMENT_ID, two UUIDs; nothing was sent.";

// ---- classification -------------------------------------------------------------------------

/// Classifies a cancel answer by status. `reset` is the wait `X-Rate-Limit-Reset` asks for.
fn classify(answer: &RawAnswer, reset: Option<Duration>) -> Reply {
    let status = answer.status.as_u16();
    let failed = |code: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    let said = ErrorBody::said(&answer.body);
    match status {
        // The PATCH changes nothing but the status: any 2xx is the cancel, whatever its body
        // (Clicksign shows the resource's shape, not the exact answer).
        200..=299 => Ok(Answer {
            outcome: Outcome::Cancelled,
            http_status: status,
        }),
        // Only a running document can change status, and Clicksign does not document the
        // answer for any other: the policy's status read says canceled, closed or draft; a
        // document still running keeps this refusal.
        400 | 422 => failed(
            ErrorCode::VendorRefused,
            format!("Clicksign refused to cancel the document{said}."),
        ),
        401 | 403 => failed(
            ErrorCode::VendorAuthFailed,
            format!("Clicksign rejected signgate's access token{said}."),
        ),
        404 => failed(
            ErrorCode::NotFound,
            "Clicksign does not know this document in this envelope.".into(),
        ),
        429 => Err(UpstreamError::RateLimited {
            retry_after: answer.retry_after.or(reset),
        }),
        0..=199 | 300..=399 | 402 | 405..=421 | 423..=428 | 430..=u16::MAX => {
            Err(http::common_error(answer))
        }
    }
}

/// Reads a `GET /envelopes/{envelope}/documents/{document}` answer.
fn classify_status(answer: &RawAnswer, reset: Option<Duration>) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let read: StatusBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            state_of(&read.data.attributes.status).ok_or(UpstreamError::BadResponse { status })
        }
        404 => Ok(DocState::NotFound),
        429 => Err(UpstreamError::RateLimited {
            retry_after: answer.retry_after.or(reset),
        }),
        0..=199 | 300..=403 | 405..=428 | 430..=u16::MAX => Err(http::common_error(answer)),
    }
}

/// A document `status` as a document state.
fn state_of(status: &str) -> Option<DocState> {
    Some(match status {
        "running" => DocState::InProgress,
        "canceled" => DocState::Cancelled,
        // Finished: signed by everyone (auto-close), or closed by the sender after signatures.
        "closed" => DocState::Signed,
        // Not yet activated: only a running document can be cancelled.
        "draft" => DocState::Closed,
        _ => return None,
    })
}

/// The wait until `X-Rate-Limit-Reset` (Unix seconds, UTC; Clicksign's spelling, with a
/// dash) from `now`: zero when it has passed.
fn reset_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(http::wait_until_unix(reset, now))
}

// ---- wire types ------------------------------------------------------------------------------

/// `{"data": {"id", "type": "documents", "attributes": {"status": "canceled"}}}`.
#[derive(Serialize)]
struct CancelBody<'a> {
    data: CancelData<'a>,
}

#[derive(Serialize)]
struct CancelData<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    attributes: CancelAttributes,
}

#[derive(Serialize)]
struct CancelAttributes {
    status: &'static str,
}

/// `{"data": {"attributes": {"status"}}}`, the rest ignored.
#[derive(Deserialize)]
struct StatusBody {
    data: StatusData,
}

#[derive(Deserialize)]
struct StatusData {
    attributes: StatusAttributes,
}

#[derive(Deserialize)]
struct StatusAttributes {
    status: String,
}

/// `{"errors": [{"code", "status", "title", "detail", "source"}]}`; `status` is a number
/// where JSON:API has a string, so it is not read.
#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

impl ErrorBody {
    /// ` (code: detail)` of the first error, for a message, or nothing.
    fn said(body: &[u8]) -> String {
        let Ok(body) = serde_json::from_slice::<Self>(body) else {
            return String::new();
        };
        let Some(first) = body.errors.into_iter().next() else {
            return String::new();
        };
        let code = first.code.as_deref().map(http::excerpt);
        let text = first.detail.or(first.title);
        let text = text.as_deref().map(http::excerpt);
        match (code, text) {
            (Some(code), Some(text)) => format!(" ({code}: {text})"),
            (Some(one), None) | (None, Some(one)) => format!(" ({one})"),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
