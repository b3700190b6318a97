//! `POST /documents/cancel`: body validation (shared with the Auco drop-in), the endpoint's
//! place in the shared pipeline (`pipeline.rs`), and its answer: the Auco-style summary plus
//! one result per document.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde::de::{self, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::value::RawValue;
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

/// A cancel body, validated: the command, and the body's fields as sent (each one small once
/// validated), for the idempotency fingerprint and the fields only one endpoint has.
#[derive(Debug)]
pub struct ParsedBody {
    /// What to do.
    pub command: CancelCommand,
    /// Every field of the body, as JSON values.
    pub fields: Map<String, Value>,
}

/// Parses and validates a cancel body that may hold `allowed` fields; every message names the
/// field (and index) at fault.
///
/// The body is never turned into one generic JSON value first: its top level is read field by
/// field (an unknown field stops the parse at once), each field is kept as raw text and checked
/// against its own type, and no more than `max_documents` codes are ever copied. A body near
/// the size limit therefore costs about its own size in memory, whatever its shape.
pub fn parse_body(
    body: &[u8],
    allowed: &[&str],
    max_documents: usize,
) -> Result<ParsedBody, ApiError> {
    let raw = raw_fields(body, allowed)?;
    let codes = parse_codes(raw.get("codes").copied(), max_documents)?;
    let command = CancelCommand {
        codes,
        message: parse_message(raw.get("message").copied())?,
        email: parse_email(raw.get("email").copied())?,
        notify_signers: match raw.get("notify_signers") {
            None => true,
            Some(raw) => serde_json::from_str::<bool>(raw.get())
                .map_err(|_| invalid("notify_signers: must be true or false"))?,
        },
    };
    // Every field passed its check above, or is one the caller checks (a string or null at
    // most, such as `callback_url`); turning it into a value is cheap now.
    let mut fields = Map::new();
    for (name, raw) in raw {
        let value = serde_json::from_str(raw.get()).map_err(|_| ApiError::Internal)?;
        fields.insert(name, value);
    }
    Ok(ParsedBody { command, fields })
}

/// The body's top-level fields as raw JSON text, in a map (a repeated field: the last one).
fn raw_fields<'a>(
    body: &'a [u8],
    allowed: &[&str],
) -> Result<BTreeMap<String, &'a RawValue>, ApiError> {
    let unknown = Cell::new(None);
    let mut parser = serde_json::Deserializer::from_slice(body);
    let parsed = parser
        .deserialize_any(TopLevel {
            allowed,
            unknown: &unknown,
        })
        .and_then(|fields| parser.end().map(|()| fields));
    parsed.map_err(|e| match unknown.take() {
        Some(field) => invalid(format!(
            "{field}: unknown field; expected {}",
            allowed.join(", ")
        )),
        None if e.classify() == serde_json::error::Category::Data => {
            ApiError::InvalidJson("The body must be a JSON object.".into())
        }
        None => ApiError::InvalidJson(format!("The body is not valid JSON: {e}.")),
    })
}

/// Reads a top-level object; anything else is refused before it is read further.
struct TopLevel<'s> {
    allowed: &'s [&'s str],
    /// Set to the first field that is not allowed.
    unknown: &'s Cell<Option<String>>,
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = BTreeMap<String, &'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if !self.allowed.contains(&name.as_str()) {
                self.unknown.set(Some(name));
                return Err(de::Error::custom("unknown field"));
            }
            fields.insert(name, map.next_value::<&RawValue>()?);
        }
        Ok(fields)
    }
}

/// A `codes` array read without copying: at most `max` items kept (as raw text), the rest
/// only counted.
struct Codes {
    max: usize,
}

impl<'de> Visitor<'de> for Codes {
    type Value = (Vec<&'de RawValue>, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::new();
        let mut total = 0usize;
        loop {
            let more = if kept.len() < self.max {
                seq.next_element::<&RawValue>()?.map(|item| kept.push(item))
            } else {
                seq.next_element::<de::IgnoredAny>()?.map(drop)
            };
            if more.is_none() {
                return Ok((kept, total));
            }
            total = total.saturating_add(1);
        }
    }
}

fn parse_codes(raw: Option<&RawValue>, max: usize) -> Result<Vec<DocumentCode>, ApiError> {
    let raw = raw.ok_or_else(|| invalid("codes: is required"))?;
    let (items, total) = serde_json::Deserializer::from_str(raw.get())
        .deserialize_seq(Codes { max })
        .map_err(|_| invalid("codes: must be an array of strings"))?;
    if total == 0 {
        return Err(invalid("codes: must hold at least one code"));
    }
    if total > max {
        return Err(ApiError::TooManyDocuments(format!(
            "codes: at most {max} codes per request, got {total}"
        )));
    }
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
    let mut codes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let raw: String = serde_json::from_str(item.get())
            .map_err(|_| invalid(format!("codes[{i}]: must be a string")))?;
        let code = DocumentCode::parse(&raw)
            .map_err(|problem| invalid(format!("codes[{i}]: {problem}")))?;
        if let Some(first) = seen.get(&raw) {
            return Err(ApiError::DuplicateCode(format!(
                "codes[{i}]: `{raw}` already appears at codes[{first}]"
            )));
        }
        seen.insert(raw, i);
        codes.push(code);
    }
    Ok(codes)
}

/// A field that must be a string, or the message `<name>: must be a string`.
fn string_field(raw: Option<&RawValue>, name: &str) -> Result<String, ApiError> {
    let raw = raw.ok_or_else(|| invalid(format!("{name}: is required")))?;
    serde_json::from_str(raw.get()).map_err(|_| invalid(format!("{name}: must be a string")))
}

fn parse_message(raw: Option<&RawValue>) -> Result<String, ApiError> {
    let message = string_field(raw, "message")?;
    let message = message.trim();
    if message.is_empty() {
        return Err(invalid("message: must not be empty"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(invalid("message: must be at most 2000 characters"));
    }
    Ok(message.to_owned())
}

fn parse_email(raw: Option<&RawValue>) -> Result<String, ApiError> {
    let email = string_field(raw, "email")?;
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid("email: must be at most 254 characters"));
    }
    if !email_address::EmailAddress::is_valid(&email) {
        return Err(invalid("email: is not a valid email address"));
    }
    Ok(email)
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
        parse_body(body.as_bytes(), &FIELDS, 3).map(|parsed| parsed.command)
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
        assert_eq!(error_of(r#"{"codes":["A"]} x"#).code(), "invalid_json");
        let error = error_of(r#"{"codes":["A"],"message":"m","email":"a@b.co""#);
        assert!(
            error.to_string().starts_with("The body is not valid JSON"),
            "{error}"
        );
    }

    #[test]
    fn the_fields_are_kept_as_sent_for_the_fingerprint() {
        let parsed = parse_body(VALID.as_bytes(), &FIELDS, 3).expect("valid");
        let as_a_value: Value = serde_json::from_str(VALID).expect("json");
        assert_eq!(Value::Object(parsed.fields), as_a_value);
    }

    #[test]
    fn a_huge_body_is_refused_without_reading_it_into_values() {
        // An unknown field stops the parse at its name; codes past the limit are only counted.
        let keys: Vec<String> = (0..100_000).map(|i| format!(r#""k{i}":0"#)).collect();
        let many_keys = format!("{{{}}}", keys.join(","));
        assert!(error_of(&many_keys)
            .to_string()
            .starts_with("k0: unknown field"));
        let codes: Vec<String> = (0..100_000).map(|i| format!(r#""C{i}""#)).collect();
        let many_codes = format!(
            r#"{{"codes":[{}],"message":"m","email":"a@b.co"}}"#,
            codes.join(",")
        );
        let error = error_of(&many_codes);
        assert_eq!(error.code(), "too_many_documents");
        assert!(error.to_string().ends_with("got 100000"), "{error}");
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
