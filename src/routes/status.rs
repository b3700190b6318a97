//! `GET /documents/status?code=CODE[&code=...]`: each code's vendor and normalized state, read
//! through the same routing, breakers, concurrency caps and pacing as cancels, concurrently,
//! under the request deadline.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use futures::future::join_all;
use serde::Serialize;
use tokio::time::{timeout_at, Instant};

use crate::cancellation::{Located, Unlocated};
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::model::{DocState, DocumentCode, ErrorCode, Failure, VendorName};
use crate::routes::cancel::ErrorDto;
use crate::routes::cancellations::form_urlencoded;
use crate::state::AppState;
use crate::vendors::{CallContext, Priority, UpstreamError};

/// The routes of this resource (authentication is added by the caller).
pub fn router() -> Router<AppState> {
    Router::new().route("/documents/status", get(status))
}

async fn status(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let codes = parse_query(
        query.as_deref().unwrap_or(""),
        state.settings.server.max_documents,
    )?;
    let ctx = CallContext {
        request_id: &request_id,
        deadline: Instant::now() + state.settings.server.request_timeout(),
        priority: Priority::Interactive,
    };
    let reads = codes.iter().map(|code| read_in_time(&state, code, ctx));
    let reads = join_all(reads).await;
    let answer = StatusAnswer {
        results: reads.iter().map(CodeStatus::from).collect(),
    };
    Ok(Json(answer).into_response())
}

/// Reads one or more `code` parameters (at most `max`, no duplicates); any other parameter
/// is refused.
fn parse_query(query: &str, max: usize) -> Result<Vec<DocumentCode>, ApiError> {
    let invalid = |m: String| ApiError::InvalidRequest(m);
    let mut codes = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (name, value) in form_urlencoded(query) {
        if name != "code" {
            return Err(invalid(format!("{name}: unknown parameter; expected code")));
        }
        let i = codes.len();
        let code = DocumentCode::parse(&value).map_err(|p| invalid(format!("code[{i}]: {p}")))?;
        if let Some(first) = seen.insert(value.clone(), i) {
            return Err(ApiError::DuplicateCode(format!(
                "code[{i}]: `{value}` already appears at code[{first}]"
            )));
        }
        codes.push(code);
    }
    if codes.is_empty() {
        return Err(invalid("code: is required".into()));
    }
    if codes.len() > max {
        return Err(ApiError::TooManyDocuments(format!(
            "code: at most {max} codes per request, got {}",
            codes.len()
        )));
    }
    Ok(codes)
}

/// One code's answer: where it routes, and its state or why it could not be read.
#[derive(Debug)]
struct Read {
    code: DocumentCode,
    vendor: Option<VendorName>,
    state: Result<DocState, Failure>,
}

/// Routes the code (finding its owner among candidate vendors if need be) and reads its
/// state, unless finding the owner already read it; `deadline_exceeded` once the request's
/// deadline passes.
async fn read_in_time(state: &AppState, code: &DocumentCode, ctx: CallContext<'_>) -> Read {
    let late = || Failure {
        code: ErrorCode::DeadlineExceeded,
        message: "The request's deadline passed before the vendor answered.".into(),
    };
    let read = |vendor, state| Read {
        code: code.clone(),
        vendor,
        state,
    };
    let located = match timeout_at(ctx.deadline, state.gateway.locate(code, ctx)).await {
        Ok(Ok(located)) => located,
        Ok(Err(Unlocated { route, failure })) => {
            return read(route.map(|r| r.vendor), Err(failure))
        }
        Err(_elapsed) => return read(None, Err(late())),
    };
    let Located {
        route,
        state: found,
    } = located;
    let doc_state = match found {
        Some(doc_state) => Ok(doc_state),
        None => timeout_at(
            ctx.deadline,
            read_at(state, &route.vendor, &route.vendor_code, ctx),
        )
        .await
        .unwrap_or_else(|_elapsed| Err(late())),
    };
    read(Some(route.vendor), doc_state)
}

/// One status read at a ready vendor, through its wrappers.
async fn read_at(
    state: &AppState,
    vendor: &VendorName,
    vendor_code: &str,
    ctx: CallContext<'_>,
) -> Result<DocState, Failure> {
    let unavailable = || Failure {
        code: ErrorCode::StatusUnavailable,
        message: format!("The vendor `{vendor}` has no status read configured."),
    };
    let Some(policy) = state.gateway.vendor(vendor.as_str()) else {
        return Err(Failure {
            code: ErrorCode::VendorNotConfigured,
            message: format!("The vendor `{vendor}` has no credentials configured."),
        });
    };
    if !policy.can_read_status() {
        return Err(unavailable());
    }
    policy
        .status(vendor_code, ctx)
        .await
        .map_err(|error| match error {
            UpstreamError::Unsupported => unavailable(),
            error => {
                tracing::warn!(vendor = %vendor, error = error.code().as_str(), "Status read failed.");
                Failure {
                    code: error.code(),
                    message: format!("The status could not be read: {error}."),
                }
            }
        })
}

/// The answer: one entry per requested code, in request order.
#[derive(Debug, Serialize)]
struct StatusAnswer<'a> {
    results: Vec<CodeStatus<'a>>,
}

#[derive(Debug, Serialize)]
struct CodeStatus<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDto<'a>>,
}

impl<'a> From<&'a Read> for CodeStatus<'a> {
    fn from(read: &'a Read) -> Self {
        let (state, error) = match &read.state {
            Ok(state) => (Some(state.as_str()), None),
            Err(failure) => (None, Some(ErrorDto::from(failure))),
        };
        Self {
            code: read.code.as_str(),
            vendor: read.vendor.as_ref().map(VendorName::as_str),
            state,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(query: &str) -> Result<Vec<String>, ApiError> {
        parse_query(query, 3).map(|codes| codes.iter().map(|c| c.as_str().to_owned()).collect())
    }

    #[test]
    fn several_codes_are_read_in_order_and_decoded() {
        assert_eq!(
            codes("code=B&code=zapsign%3AX&code=A").expect("valid"),
            ["B", "zapsign:X", "A"]
        );
    }

    #[test]
    fn none_too_many_invalid_duplicate_and_unknown_parameters_are_refused() {
        let cases = [
            ("", "invalid_request", "code: is required"),
            (
                "code=A&code=B&code=C&code=D",
                "too_many_documents",
                "code: at most 3",
            ),
            ("code=A&code=B%20C", "invalid_request", "code[1]: contains"),
            ("code=", "invalid_request", "code[0]: must not be empty"),
            (
                "code=A&code=A",
                "duplicate_code",
                "code[1]: `A` already appears",
            ),
            ("codes=A", "invalid_request", "codes: unknown parameter"),
        ];
        for (query, code, start) in cases {
            let error = codes(query).expect_err(query);
            assert_eq!(error.code(), code, "{query}");
            assert!(error.to_string().starts_with(start), "{query}: {error}");
        }
    }
}
