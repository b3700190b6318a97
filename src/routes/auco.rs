//! `POST /v1.5/ext/document/cancel`: the Auco drop-in. An app that calls Auco's cancel (its
//! path under Auco's base `/v1.5/ext`, `{"codes", "message", "email"}`, the key bare in
//! `Authorization`) switches to signgate by changing its base URL alone. It runs the same
//! pipeline as `POST /documents/cancel` (every code routes as usual) and answers only Auco's
//! summary; request errors carry Auco's `{"message": ...}` body.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::routes::pipeline::{self, Endpoint};
use crate::state::AppState;

/// Auco's cancel path under its base URL `/v1.5/ext`.
pub const PATH: &str = "/v1.5/ext/document/cancel";

/// The drop-in's place in the pipeline: Auco's fields only (Auco always notifies signers),
/// fingerprints of its own, and Auco's summary.
const ENDPOINT: Endpoint = Endpoint {
    fields: &["codes", "message", "email"],
    scope: Some(PATH),
    project: auco_summary,
};

/// The route (authentication and the error body are added by the caller).
pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(cancel))
}

async fn cancel(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    pipeline::cancel(&ENDPOINT, state, request_id, &headers, body).await
}

/// Response layer: renders a request error as Auco does, `{"message": ...}` with the usual
/// status (and `Retry-After`), instead of the gateway's own error body.
pub async fn error_body(response: Response) -> Response {
    match response.extensions().get::<ApiError>() {
        Some(error) => error.render_message_only(),
        None => response,
    }
}

/// Auco's answer: `{"success": n, "errors": {"cant": m, "documents": [...]}}`, `documents`
/// only when `cant > 0`, nothing else. Read from the stored full answer, whose summary is
/// Auco's already.
#[derive(Debug, Deserialize, Serialize)]
struct AucoAnswer {
    success: usize,
    errors: AucoErrors,
}

#[derive(Debug, Deserialize, Serialize)]
struct AucoErrors {
    cant: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    documents: Vec<String>,
}

fn auco_summary(stored: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let answer: AucoAnswer = serde_json::from_slice(&stored).map_err(|e| {
        tracing::error!(error = %e, "A stored cancel answer could not be read.");
        ApiError::Internal
    })?;
    serde_json::to_vec(&answer).map_err(|_| ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(full: serde_json::Value) -> String {
        let bytes = auco_summary(full.to_string().into_bytes()).expect("a stored answer");
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn the_summary_drops_results_and_keeps_documents_only_when_some_failed() {
        let all_cancelled = serde_json::json!({
            "success": 1, "errors": {"cant": 0},
            "results": [{"code": "A", "vendor": "auco", "status": "cancelled"}]
        });
        assert_eq!(
            project(all_cancelled),
            r#"{"success":1,"errors":{"cant":0}}"#
        );
        let one_failed = serde_json::json!({
            "success": 0, "errors": {"cant": 1, "documents": ["A"]},
            "results": [{"code": "A", "status": "failed"}]
        });
        assert_eq!(
            project(one_failed),
            r#"{"success":0,"errors":{"cant":1,"documents":["A"]}}"#
        );
    }

    #[test]
    fn an_unreadable_stored_answer_is_an_internal_error() {
        assert_eq!(auco_summary(b"[]".to_vec()), Err(ApiError::Internal));
    }
}
