//! Auco (Colombia): batch cancel with the raw private key, status read with the public key.
//! Docs: <https://docs.auco.ai> (API v1.5, `POST /document/cancel`, `GET /document`).

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::AucoSettings;
use crate::model::{ErrorCode, Outcome};
use crate::vendors::http::{self, RawAnswer};
use crate::vendors::settings::VendorSettings;
use crate::vendors::{Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor};

// ---- client --------------------------------------------------------------------------------

/// An Auco account: its base URL, keys and connection pool.
pub struct Auco {
    client: Client,
    base_url: String,
    private_key: SecretString,
    public_key: Option<SecretString>,
    batch_size: usize,
}

impl fmt::Debug for Auco {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auco")
            .field("base_url", &self.base_url)
            .field("private_key", &"[redacted]")
            .field(
                "public_key",
                &self.public_key.as_ref().map(|_| "[redacted]"),
            )
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Auco {
    /// Builds the client; `auco.private_key` must be set.
    pub fn new(settings: &VendorSettings, auco: &AucoSettings) -> Self {
        Self {
            client: http::client(settings),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            private_key: auco.private_key.clone().unwrap_or_default(),
            public_key: auco.public_key.clone(),
            batch_size: auco.batch_size(),
        }
    }
}

// ---- trait impl ------------------------------------------------------------------------------

#[async_trait]
impl Vendor for Auco {
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        let request = self
            .client
            .post(format!("{}/document/cancel", self.base_url))
            // Auco takes the bare private key, without `Bearer`.
            .header(AUTHORIZATION, self.private_key.expose_secret())
            .json(&CancelBody {
                codes: batch.codes,
                message: batch.message,
                email: batch.email,
            });
        match http::send(request, batch.ctx.request_id).await {
            Ok(answer) => classify(&answer, batch.codes),
            Err(e) => vec![Err(e); batch.codes.len()],
        }
    }

    fn can_read_status(&self) -> bool {
        self.public_key.is_some()
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let Some(key) = &self.public_key else {
            return Err(UpstreamError::Unsupported);
        };
        let request = self
            .client
            .get(format!("{}/document", self.base_url))
            .query(&[("code", code)])
            .header(AUTHORIZATION, key.expose_secret());
        classify_status(&http::send(request, ctx.request_id).await?)
    }
}

// ---- classification -------------------------------------------------------------------------

/// Turns a cancel answer into one reply per sent code.
fn classify(answer: &RawAnswer, codes: &[String]) -> Vec<Reply> {
    let status = answer.status.as_u16();
    let all = |reply: Reply| vec![reply; codes.len()];
    match status {
        200..=299 => attribute(answer, codes),
        // Auco does not say which code broke a batch: the caller re-sends each alone.
        400 if codes.len() > 1 => all(Err(UpstreamError::BatchRejected)),
        400 => {
            let said = serde_json::from_slice::<ErrorBody>(&answer.body)
                .ok()
                .and_then(|b| b.message)
                .map(|m| http::excerpt(&m))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "no reason given".into());
            all(Ok(answer_with(
                status,
                Outcome::failed(
                    ErrorCode::Rejected,
                    format!("Auco rejected the request: {said}."),
                ),
            )))
        }
        401 | 403 => all(Ok(answer_with(
            status,
            Outcome::failed(
                ErrorCode::VendorAuthFailed,
                "Auco rejected signgate's credentials.",
            ),
        ))),
        0..=199 | 300..=399 | 402 | 404..=u16::MAX => all(Err(http::common_error(answer))),
    }
}

/// Reads a `200` batch answer. Codes in `errors.documents` failed; the others are cancelled,
/// but only if the answer accounts for every sent code exactly once.
fn attribute(answer: &RawAnswer, codes: &[String]) -> Vec<Reply> {
    let status = answer.status.as_u16();
    let unreadable = || vec![Err(UpstreamError::BadResponse { status }); codes.len()];
    let Ok(parsed) = serde_json::from_slice::<BatchAnswer>(&answer.body) else {
        return unreadable();
    };
    let (cant, documents) = match parsed.errors {
        Some(errors) => (errors.cant, errors.documents.unwrap_or_default()),
        None => (0, Vec::new()),
    };
    let sent: HashSet<&str> = codes.iter().map(String::as_str).collect();
    let named: HashSet<&str> = documents.iter().map(String::as_str).collect();
    let adds_up = parsed.success.checked_add(cant) == Some(codes.len() as u64)
        && documents.len() as u64 == cant
        && named.len() == documents.len()
        && named.is_subset(&sent);
    if !adds_up {
        return unreadable();
    }
    codes
        .iter()
        .map(|code| {
            let outcome = if named.contains(code.as_str()) {
                Outcome::failed(
                    ErrorCode::VendorRefused,
                    "Auco refused to cancel the document without saying why \
                     (it may be signed, already cancelled or unknown).",
                )
            } else {
                Outcome::Cancelled
            };
            Ok(answer_with(status, outcome))
        })
        .collect()
}

/// Reads a `GET /document` answer.
fn classify_status(answer: &RawAnswer) -> Result<DocState, UpstreamError> {
    let status = answer.status.as_u16();
    match status {
        200..=299 => {
            let doc: StatusBody = serde_json::from_slice(&answer.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            match doc.status.as_str() {
                "CREATED" => Ok(DocState::InProgress),
                "REJECTED" => Ok(DocState::Cancelled),
                "FINISH" => Ok(DocState::Signed),
                "EXPIRED" => Ok(DocState::Closed),
                _ => Err(UpstreamError::BadResponse { status }),
            }
        }
        400 if String::from_utf8_lossy(&answer.body).contains("DOCUMENT_NOT_FOUND") => {
            Ok(DocState::NotFound)
        }
        0..=199 | 300..=399 | 400..=u16::MAX => Err(http::common_error(answer)),
    }
}

fn answer_with(http_status: u16, outcome: Outcome) -> Answer {
    Answer {
        outcome,
        http_status,
    }
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Serialize)]
struct CancelBody<'a> {
    codes: &'a [String],
    message: &'a str,
    email: &'a str,
}

#[derive(Deserialize)]
struct BatchAnswer {
    success: u64,
    errors: Option<BatchErrors>,
}

#[derive(Deserialize)]
struct BatchErrors {
    cant: u64,
    documents: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

// ---- tests -----------------------------------------------------------------------------------

#[cfg(test)]
mod properties;

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

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    fn error_codes(replies: &[Reply]) -> Vec<Option<ErrorCode>> {
        replies
            .iter()
            .map(|r| r.as_ref().map(|a| a.outcome.error_code()).unwrap_or(None))
            .collect()
    }

    #[test]
    fn codes_listed_in_errors_are_refused_and_the_others_cancelled() {
        let body = r#"{"success":1,"errors":{"cant":1,"documents":["B"]}}"#;
        let replies = classify(&answer(200, body), &codes(&["A", "B"]));
        assert_eq!(
            error_codes(&replies),
            [None, Some(ErrorCode::VendorRefused)]
        );
        assert!(replies.iter().all(Result::is_ok));
    }

    #[test]
    fn documents_may_be_absent_when_nothing_failed() {
        let replies = classify(
            &answer(200, r#"{"success":2,"errors":{"cant":0}}"#),
            &codes(&["A", "B"]),
        );
        assert_eq!(error_codes(&replies), [None, None]);
    }

    #[test]
    fn answers_that_cannot_be_attributed_cancel_nothing() {
        let sent = codes(&["A", "B"]);
        for body in [
            r#"{"success":2,"errors":{"cant":1,"documents":["B"]}}"#,
            r#"{"success":1,"errors":{"cant":1,"documents":["Z"]}}"#,
            r#"{"success":0,"errors":{"cant":2,"documents":["A","A"]}}"#,
            r#"{"success":1,"errors":{"cant":1}}"#,
            r#"{"success":2,"errors":{"cant":1}}"#,
            "<html>ok</html>",
        ] {
            let replies = classify(&answer(200, body), &sent);
            assert!(
                replies
                    .iter()
                    .all(|r| *r == Err(UpstreamError::BadResponse { status: 200 })),
                "{body}"
            );
        }
    }

    #[test]
    fn a_400_on_a_batch_asks_for_single_resends_and_on_one_code_is_rejected() {
        let body = r#"{"message":"INVALID_CODE"}"#;
        let replies = classify(&answer(400, body), &codes(&["A", "B"]));
        assert!(replies
            .iter()
            .all(|r| *r == Err(UpstreamError::BatchRejected)));
        let replies = classify(&answer(400, body), &codes(&["A"]));
        let Ok(Answer {
            outcome: Outcome::Failed(f),
            ..
        }) = &replies[0]
        else {
            panic!("expected a rejection");
        };
        assert_eq!(f.code, ErrorCode::Rejected);
        assert!(f.message.contains("INVALID_CODE"), "{}", f.message);
    }

    #[test]
    fn status_reads_map_auco_states() {
        let state = |s: &str| classify_status(&answer(200, &format!(r#"{{"status":"{s}"}}"#)));
        assert_eq!(state("CREATED"), Ok(DocState::InProgress));
        assert_eq!(state("REJECTED"), Ok(DocState::Cancelled));
        assert_eq!(state("FINISH"), Ok(DocState::Signed));
        assert_eq!(state("EXPIRED"), Ok(DocState::Closed));
        let missing = answer(400, r#"{"message":"DOCUMENT_NOT_FOUND"}"#);
        assert_eq!(classify_status(&missing), Ok(DocState::NotFound));
    }

    #[test]
    fn debug_hides_the_keys() {
        let vars = [
            ("SIGNGATE__AUTH__API_KEY", "test-api-key-0123456789"),
            ("SIGNGATE__VENDORS__AUCO__PRIVATE_KEY", "prk_secret"),
            ("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", "puk_secret"),
        ];
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let settings = crate::settings::Settings::from_sources(None, None, vars.collect())
            .expect("valid settings");
        let vendor = settings.vendors["auco"]
            .config
            .build(&settings.vendors["auco"]);
        let debug = format!("{vendor:?}");
        assert!(
            !debug.contains("prk_secret") && !debug.contains("puk_secret"),
            "{debug}"
        );
    }
}
