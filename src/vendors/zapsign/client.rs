//! ZapSign (Brazil): one document per cancel call, Bearer token, mandatory `User-Agent`, and
//! error bodies of several shapes. Docs: <https://docs.zapsign.com.br> (API v1, `POST /refuse/`).

use std::fmt;

use async_trait::async_trait;
use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ZapSignSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::settings::VendorSettings;
use crate::vendors::{
    one_by_one, Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor,
};

// ---- client --------------------------------------------------------------------------------

/// A ZapSign account: its base URL, API token and connection pool.
pub struct ZapSign {
    client: Client,
    base_url: String,
    api_token: SecretString,
}

impl fmt::Debug for ZapSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZapSign")
            .field("base_url", &self.base_url)
            .field("api_token", &"[redacted]")
            .finish()
    }
}

impl ZapSign {
    /// Builds the client; `zapsign.api_token` must be set.
    pub fn new(settings: &VendorSettings, zapsign: &ZapSignSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            api_token: zapsign.api_token.clone().unwrap_or_default(),
        }
    }

    async fn cancel_one(&self, doc_token: &str, batch: &Batch<'_>) -> Reply {
        let request = self
            .client
            .post(format!("{}/refuse/", self.base_url))
            .bearer_auth(self.api_token.expose_secret())
            // ZapSign rejects calls without a User-Agent; the client sets it, this makes it explicit.
            .header(reqwest::header::USER_AGENT, http::USER_AGENT)
            .json(&RefuseBody {
                doc_token,
                rejected_reason: batch.message,
                notify_signer: batch.notify_signers,
            });
        classify(&http::send(request, batch.ctx.request_id).await?)
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for ZapSign {
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
            .get(format!("{}/docs/{code}/", self.base_url))
            .bearer_auth(self.api_token.expose_secret());
        classify_status(&http::send(request, ctx.request_id).await?)
    }
}

// ---- classification -------------------------------------------------------------------------

/// The codes ZapSign documents for `POST /refuse/`.
const DOCUMENTED_CODES: [&str; 3] = [
    "document_already_refused",
    "document_already_signed",
    "refuse_not_allowed",
];

/// Classifies a refuse answer: by status first, then by a documented code in the body.
fn classify(answer: &RawAnswer) -> Reply {
    let status = answer.status.as_u16();
    let failed = |code: ErrorCode, message: &str| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    match status {
        200..=299 => Ok(Answer {
            outcome: Outcome::Cancelled,
            http_status: status,
        }),
        400 => {
            let detail = documented_code(
                &answer.body,
                &[
                    "missing_doc_token",
                    "missing_rejected_reason",
                    "invalid_json",
                ],
            );
            let message = match detail {
                Some(code) => format!("ZapSign rejected the request as invalid ({code})."),
                None => "ZapSign rejected the request as invalid.".into(),
            };
            failed(ErrorCode::Rejected, &message)
        }
        403 => match documented_code(&answer.body, &DOCUMENTED_CODES) {
            Some("document_already_refused") => failed(
                ErrorCode::AlreadyCancelled,
                "The document was already cancelled.",
            ),
            Some("document_already_signed") => {
                failed(ErrorCode::AlreadySigned, "The document is already signed.")
            }
            Some(_) => failed(
                ErrorCode::NotCancellable,
                "ZapSign does not allow cancelling this document.",
            ),
            // A 403 without a documented code is a token of the other environment.
            None => auth_failed(status),
        },
        401 | 402 => auth_failed(status),
        404 => failed(ErrorCode::NotFound, "ZapSign does not know this document."),
        0..=199 | 300..=399 | 405..=u16::MAX => Err(http::common_error(answer)),
    }
}

fn auth_failed(status: u16) -> Reply {
    Ok(Answer {
        outcome: Outcome::failed(
            ErrorCode::VendorAuthFailed,
            "ZapSign rejected signgate's credentials.",
        ),
        http_status: status,
    })
}

/// Finds one of `wanted` in the fields ZapSign uses for errors, whichever shape the body has
/// (`{"detail": ...}`, `{"error": ...}`, `{"message": ...}`, `{"code": ...}`, strings or lists).
fn documented_code<'w>(body: &[u8], wanted: &[&'w str]) -> Option<&'w str> {
    const FIELDS: [&str; 5] = ["code", "error", "error_code", "detail", "message"];
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let mut texts = Vec::new();
    for field in FIELDS {
        match map.get(field) {
            Some(Value::String(s)) => texts.push(s.as_str()),
            Some(Value::Array(items)) => texts.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    wanted
        .iter()
        .copied()
        .find(|code| texts.iter().any(|text| text.contains(code)))
}

/// Reads a `GET /docs/{token}/` answer.
fn classify_status(answer: &RawAnswer) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let doc: StatusBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            match doc.status.as_str() {
                "pending" => Ok(DocState::InProgress),
                "refused" => Ok(DocState::Cancelled),
                "signed" => Ok(DocState::Signed),
                _ => Err(UpstreamError::BadResponse { status }),
            }
        }
        404 => Ok(DocState::NotFound),
        0..=199 | 300..=399 | 400..=403 | 405..=u16::MAX => Err(http::common_error(answer)),
    }
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Serialize)]
struct RefuseBody<'a> {
    doc_token: &'a str,
    rejected_reason: &'a str,
    notify_signer: bool,
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

// ---- tests -----------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;

    fn code_of(status: u16, body: &str) -> Option<ErrorCode> {
        let answer = RawAnswer {
            status: StatusCode::from_u16(status).expect("valid status"),
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        };
        classify(&answer)
            .expect("a definite answer")
            .outcome
            .error_code()
    }

    #[test]
    fn every_documented_403_code_is_found_in_every_body_shape() {
        let expected = [
            ("document_already_refused", ErrorCode::AlreadyCancelled),
            ("document_already_signed", ErrorCode::AlreadySigned),
            ("refuse_not_allowed", ErrorCode::NotCancellable),
        ];
        for (code, want) in expected {
            for field in ["code", "error", "error_code", "detail", "message"] {
                let body = format!(r#"{{"{field}": "{code}"}}"#);
                assert_eq!(code_of(403, &body), Some(want), "{body}");
                let listed = format!(r#"{{"{field}": ["{code}"]}}"#);
                assert_eq!(code_of(403, &listed), Some(want), "{listed}");
            }
        }
    }

    #[test]
    fn a_403_without_a_documented_code_is_an_auth_failure() {
        assert_eq!(
            code_of(403, r#"{"detail":"Forbidden"}"#),
            Some(ErrorCode::VendorAuthFailed)
        );
        assert_eq!(
            code_of(403, "<html></html>"),
            Some(ErrorCode::VendorAuthFailed)
        );
    }

    #[test]
    fn status_first_whatever_the_body_says() {
        assert_eq!(
            code_of(404, r#"{"code":"document_already_signed"}"#),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code_of(400, r#"{"error":"missing_doc_token"}"#),
            Some(ErrorCode::Rejected)
        );
        assert_eq!(code_of(401, "{}"), Some(ErrorCode::VendorAuthFailed));
        assert_eq!(code_of(402, "{}"), Some(ErrorCode::VendorAuthFailed));
        assert_eq!(code_of(200, r#"{"message":"Documento recusado"}"#), None);
    }

    mod properties {
        //! Arbitrary statuses and bodies: never a panic, always a defined outcome, the
        //! status first.
        use super::*;
        use proptest::prelude::*;

        /// Garbage, or a JSON object with ZapSign's error fields and states.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            let field = prop_oneof![
                Just("code"),
                Just("error"),
                Just("detail"),
                Just("message"),
                Just("status")
            ];
            let text = prop_oneof![
                Just("document_already_refused".to_owned()),
                Just("document_already_signed".to_owned()),
                Just("refuse_not_allowed".to_owned()),
                Just("pending".to_owned()),
                Just("signed".to_owned()),
                Just("refused".to_owned()),
                any::<String>(),
            ];
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::collection::vec((field, text), 0..4).prop_map(|pairs| {
                    let map: serde_json::Map<String, Value> = pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), Value::String(v)))
                        .collect();
                    serde_json::to_vec(&map).unwrap_or_default()
                }),
            ]
        }

        proptest! {
            #[test]
            fn any_cancel_answer_has_a_defined_outcome(status in 100u16..=999, body in body()) {
                let answer = RawAnswer {
                    status: StatusCode::from_u16(status).expect("a status"),
                    retry_after: None,
                    body: Bytes::from(body),
                };
                match (status, classify(&answer)) {
                    (200..=299, Ok(reply)) => prop_assert_eq!(reply.outcome, Outcome::Cancelled),
                    (300..=399, reply) => {
                        prop_assert_eq!(reply, Err(UpstreamError::BadResponse { status }));
                    }
                    (_, Ok(reply)) => prop_assert_eq!(reply.http_status, status),
                    (_, Err(error)) => prop_assert_eq!(error.http_status(), Some(status)),
                }
            }

            #[test]
            fn any_status_answer_is_a_state_or_an_error(status in 100u16..=999, body in body()) {
                let answer = RawAnswer {
                    status: StatusCode::from_u16(status).expect("a status"),
                    retry_after: None,
                    body: Bytes::from(body),
                };
                let read = classify_status(&answer);
                if (300..=399).contains(&status) {
                    prop_assert_eq!(read, Err(UpstreamError::BadResponse { status }));
                } else if let Err(error) = read {
                    prop_assert_eq!(error.http_status(), Some(status));
                }
            }
        }
    }
}
