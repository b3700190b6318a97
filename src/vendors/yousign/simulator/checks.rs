//! The checks in front of the simulated Yousign's handlers: the Bearer API key, both
//! rate-limit windows (and the `x-ratelimit-*` headers every answer carries), and the cancel's
//! payload as Yousign's OpenAPI description has it
//! (<https://developers.yousign.com/openapi/6797ad02b552bd002410c61a>).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::window::Report;
use super::{answer, error, own, API_KEY};
use crate::simulator::{lock, Simulator};

/// `custom_note`'s `maxLength` in Yousign's OpenAPI description.
const CUSTOM_NOTE_MAX_CHARS: usize = 500;

/// `reason`'s enum in Yousign's OpenAPI description.
const REASONS: [&str; 3] = ["contractualization_aborted", "errors_in_document", "other"];

/// Why a call was refused before its handler acted.
pub(super) enum Refusal {
    /// No `Authorization: Bearer` with `API_KEY`.
    Unauthorised,
    /// Beyond one of the windows.
    Limited(Report),
    /// A cancel whose body is not JSON.
    NotJson,
    /// A cancel whose payload breaks the OpenAPI description: `(parameter, reason)` pairs.
    Invalid(Vec<(&'static str, String)>),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorised => error(
                StatusCode::UNAUTHORIZED,
                "about:blank",
                "Invalid authentication, check that you are using the correct API Key on the \
                 right environment.",
            ),
            Self::Limited(report) => {
                let throttled = answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "message": "Too Many Requests" }),
                );
                let mut response = with_limits(throttled, report);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(report.reset_secs));
                response
            }
            Self::NotJson => error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "about:blank",
                "The request's content type must be application/json.",
            ),
            Self::Invalid(params) => {
                let params: Vec<Value> = params
                    .into_iter()
                    .map(|(name, reason)| json!({ "name": name, "reason": reason }))
                    .collect();
                answer(
                    StatusCode::BAD_REQUEST,
                    json!({
                        "type": "validation.error",
                        "detail": "You have some invalid params in your payload.",
                        "invalid_params": params,
                    }),
                )
            }
        }
    }
}

/// The checks in front of every call: the API key, then both windows.
pub(super) fn admit(sim: &Simulator, headers: &HeaderMap) -> Result<Report, Refusal> {
    let authorised = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| key == API_KEY);
    if !authorised {
        return Err(Refusal::Unauthorised);
    }
    let own = own(sim);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    lock(&own.windows)
        .admit(own.limits, now)
        .map_err(Refusal::Limited)
}

/// The cancel's payload as Yousign's OpenAPI description has it: JSON, a `reason` of its
/// enum, an optional `custom_note` of at most 500 characters.
pub(super) fn check_payload(headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !json {
        return Err(Refusal::NotJson);
    }
    let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut invalid = Vec::new();
    match payload.get("reason").and_then(Value::as_str) {
        Some(reason) if REASONS.contains(&reason) => {}
        _ => invalid.push(("reason", format!("Value must be in {REASONS:?}."))),
    }
    match payload.get("custom_note") {
        None | Some(Value::Null) => {}
        Some(Value::String(note)) if note.chars().count() <= CUSTOM_NOTE_MAX_CHARS => {}
        Some(_) => invalid.push((
            "custom_note",
            format!("This value should be a string of at most {CUSTOM_NOTE_MAX_CHARS} characters."),
        )),
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Invalid(invalid))
    }
}

/// Adds Yousign's rate-limit headers.
pub(super) fn with_limits(mut response: Response, report: Report) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        "x-ratelimit-limit-minute",
        HeaderValue::from(report.limit_minute),
    );
    headers.insert(
        "x-ratelimit-remaining-minute",
        HeaderValue::from(report.remaining_minute),
    );
    headers.insert(
        "x-ratelimit-limit-hour",
        HeaderValue::from(report.limit_hour),
    );
    headers.insert(
        "x-ratelimit-remaining-hour",
        HeaderValue::from(report.remaining_hour),
    );
    headers.insert("ratelimit-reset", HeaderValue::from(report.reset_secs));
    response
}
