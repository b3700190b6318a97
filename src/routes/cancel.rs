//! `POST /documents/cancel`: body validation (shared with the Auco drop-in), the endpoint's
//! place in the shared pipeline (`pipeline.rs`), and its answer: the Auco-style summary plus
//! one result per document.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cancellation::CancelCommand;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::model::{DocumentCode, DocumentResult, ErrorCode, Failure, Status};
use crate::routes::pipeline::{self, Endpoint};
use crate::state::AppState;

/// Longest `message`, in characters, after trimming.
const MAX_MESSAGE_CHARS: usize = 2000;
/// Longest `email`.
const MAX_EMAIL_CHARS: usize = 254;
const FIELDS: [&str; 4] = ["codes", "message", "email", "notify_signers"];

/// The routes of this resource (authentication is added by the caller).
pub fn router() -> Router<AppState> {
    Router::new().route("/documents/cancel", post(cancel))
}

/// The gateway's own cancel endpoint: its full answer, as stored.
const ENDPOINT: Endpoint = Endpoint {
    fields: &FIELDS,
    scope: None,
    project: pipeline::as_stored,
};

async fn cancel(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    pipeline::cancel(&ENDPOINT, state, request_id, &headers, body).await
}

// ---- request -------------------------------------------------------------------------------

/// Parses the body as a JSON object.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(ApiError::InvalidJson(
            "The body must be a JSON object.".into(),
        ));
    }
    Ok(value)
}

/// Validates a cancel body that may hold `allowed` fields; every message names the field (and
/// index) at fault.
pub fn parse_command(
    body: &Value,
    allowed: &[&str],
    max_documents: usize,
) -> Result<CancelCommand, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::InvalidJson(
            "The body must be a JSON object.".into(),
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!(
            "{unknown}: unknown field; expected {}",
            allowed.join(", ")
        )));
    }
    Ok(CancelCommand {
        codes: parse_codes(fields, max_documents)?,
        message: parse_message(fields)?,
        email: parse_email(fields)?,
        notify_signers: match fields.get("notify_signers") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("notify_signers: must be true or false")),
        },
    })
}

fn parse_codes(fields: &Map<String, Value>, max: usize) -> Result<Vec<DocumentCode>, ApiError> {
    let items = match fields.get("codes") {
        None => return Err(invalid("codes: is required")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("codes: must be an array of strings")),
    };
    if items.is_empty() {
        return Err(invalid("codes: must hold at least one code"));
    }
    if items.len() > max {
        return Err(ApiError::TooManyDocuments(format!(
            "codes: at most {max} codes per request, got {}",
            items.len()
        )));
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut codes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::String(raw) = item else {
            return Err(invalid(format!("codes[{i}]: must be a string")));
        };
        let code = DocumentCode::parse(raw)
            .map_err(|problem| invalid(format!("codes[{i}]: {problem}")))?;
        if let Some(first) = seen.insert(raw, i) {
            return Err(ApiError::DuplicateCode(format!(
                "codes[{i}]: `{raw}` already appears at codes[{first}]"
            )));
        }
        codes.push(code);
    }
    Ok(codes)
}

fn parse_message(fields: &Map<String, Value>) -> Result<String, ApiError> {
    let message = match fields.get("message") {
        None => return Err(invalid("message: is required")),
        Some(Value::String(s)) => s.trim(),
        Some(_) => return Err(invalid("message: must be a string")),
    };
    if message.is_empty() {
        return Err(invalid("message: must not be empty"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(invalid("message: must be at most 2000 characters"));
    }
    Ok(message.to_owned())
}

fn parse_email(fields: &Map<String, Value>) -> Result<String, ApiError> {
    let email = match fields.get("email") {
        None => return Err(invalid("email: is required")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid("email: must be a string")),
    };
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid("email: must be at most 254 characters"));
    }
    if !email_address::EmailAddress::is_valid(email) {
        return Err(invalid("email: is not a valid email address"));
    }
    Ok(email.clone())
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}

// ---- response ------------------------------------------------------------------------------

/// The Auco-style summary plus one result per document.
#[derive(Debug, Serialize)]
pub struct CancelResponse<'a> {
    success: usize,
    errors: ErrorSummary<'a>,
    results: Vec<ResultDto<'a>>,
}

#[derive(Debug, Serialize)]
struct ErrorSummary<'a> {
    cant: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    documents: Vec<&'a str>,
}

#[derive(Debug, Serialize)]
struct ResultDto<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<&'a str>,
    status: Status,
    /// The vendor accepted the cancel and applies it later (present only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDto<'a>>,
}

/// A document's error in an answer: the stable code, a message, and whether to retry.
#[derive(Debug, Serialize)]
pub struct ErrorDto<'a> {
    code: ErrorCode,
    message: &'a str,
    retryable: bool,
}

impl<'a> From<&'a Failure> for ErrorDto<'a> {
    fn from(failure: &'a Failure) -> Self {
        Self {
            code: failure.code,
            message: &failure.message,
            retryable: failure.code.retryable(),
        }
    }
}

impl<'a> CancelResponse<'a> {
    /// Summarises results in request order.
    pub fn new(results: &'a [DocumentResult]) -> Self {
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| r.outcome.status() != Status::Cancelled)
            .map(|r| r.code.as_str())
            .collect();
        Self {
            success: results.len() - failed.len(),
            errors: ErrorSummary {
                cant: failed.len(),
                documents: failed,
            },
            results: results.iter().map(ResultDto::from).collect(),
        }
    }
}

impl<'a> From<&'a DocumentResult> for ResultDto<'a> {
    fn from(result: &'a DocumentResult) -> Self {
        let error = match &result.outcome {
            crate::model::Outcome::Cancelled | crate::model::Outcome::Queued => None,
            crate::model::Outcome::Failed(f) => Some(ErrorDto::from(f)),
        };
        Self {
            code: result.code.as_str(),
            vendor: result.vendor.as_ref().map(|v| v.as_str()),
            status: result.outcome.status(),
            queued: result.outcome == crate::model::Outcome::Queued,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<CancelCommand, ApiError> {
        parse_command(&parse_json(body.as_bytes())?, &FIELDS, 3)
    }

    fn error_of(body: &str) -> ApiError {
        parse(body).expect_err("invalid body")
    }

    const VALID: &str = r#"{"codes":["A1"],"message":" why ","email":"a@b.co"}"#;

    #[test]
    fn a_valid_body_is_trimmed_and_defaults_notify_signers() {
        let command = parse(VALID).expect("valid");
        assert_eq!(command.message, "why");
        assert!(command.notify_signers);
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_invalid_json() {
        assert_eq!(error_of("{").code(), "invalid_json");
        assert_eq!(error_of("[1]").code(), "invalid_json");
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (
                r#"{"code":["A"],"message":"m","email":"a@b.co"}"#,
                "code: unknown field",
            ),
            (r#"{"message":"m","email":"a@b.co"}"#, "codes: is required"),
            (
                r#"{"codes":"A","message":"m","email":"a@b.co"}"#,
                "codes: must be an array",
            ),
            (
                r#"{"codes":[],"message":"m","email":"a@b.co"}"#,
                "codes: must hold",
            ),
            (
                r#"{"codes":["A",1],"message":"m","email":"a@b.co"}"#,
                "codes[1]: must be a string",
            ),
            (
                r#"{"codes":["A","B C"],"message":"m","email":"a@b.co"}"#,
                "codes[1]: contains",
            ),
            (
                r#"{"codes":["A"],"message":"  ","email":"a@b.co"}"#,
                "message: must not be empty",
            ),
            (
                r#"{"codes":["A"],"email":"a@b.co"}"#,
                "message: is required",
            ),
            (
                r#"{"codes":["A"],"message":"m","email":"nope"}"#,
                "email: is not a valid",
            ),
            (
                r#"{"codes":["A"],"message":"m","email":"a@b.co","notify_signers":"yes"}"#,
                "notify_signers:",
            ),
        ];
        for (body, start) in cases {
            let error = error_of(body);
            assert_eq!(error.code(), "invalid_request", "{body}");
            assert!(error.to_string().starts_with(start), "{body}: {error}");
        }
    }

    #[test]
    fn limits_on_count_duplicates_and_lengths() {
        let too_many = r#"{"codes":["A","B","C","D"],"message":"m","email":"a@b.co"}"#;
        assert_eq!(error_of(too_many).code(), "too_many_documents");
        let twice = r#"{"codes":["A","B","A"],"message":"m","email":"a@b.co"}"#;
        let error = error_of(twice);
        assert_eq!(error.code(), "duplicate_code");
        assert!(error.to_string().starts_with("codes[2]:"), "{error}");
        let long = format!(
            r#"{{"codes":["A"],"message":"{}","email":"a@b.co"}}"#,
            "é".repeat(2001)
        );
        assert_eq!(error_of(&long).code(), "invalid_request");
        let ok = format!(
            r#"{{"codes":["A"],"message":"{}","email":"a@b.co"}}"#,
            "é".repeat(2000)
        );
        assert!(parse(&ok).is_ok());
    }
}
