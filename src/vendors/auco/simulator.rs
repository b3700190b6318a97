//! Simulated Auco API v1.5 (SPEC 3.1): batch cancel with the bare private key, and status read
//! with the bare public key. Mirrors <https://docs.auco.ai> as the adapter reads it.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{faults, lock, Endpoint, Simulator};

/// An Auco document's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AucoState {
    /// Being signed (`CREATED`): cancellable.
    InProgress,
    /// Cancelled or rejected (`REJECTED`).
    Cancelled,
    /// Fully signed (`FINISH`).
    Signed,
    /// Expired (`EXPIRED`).
    Expired,
}

impl AucoState {
    /// The `status` Auco reports for this state.
    pub fn wire(self) -> &'static str {
        match self {
            Self::InProgress => "CREATED",
            Self::Cancelled => "REJECTED",
            Self::Signed => "FINISH",
            Self::Expired => "EXPIRED",
        }
    }
}

/// `/document/cancel` and `/document`, each behind the fault layer.
pub(crate) fn router(sim: Simulator) -> Router {
    let faulty = |endpoint| from_fn_with_state((sim.clone(), endpoint), faults::apply);
    Router::new()
        .route(
            "/document/cancel",
            post(cancel).layer(faulty(Endpoint::AucoCancel)),
        )
        .route("/document", get(status).layer(faulty(Endpoint::AucoStatus)))
        .with_state(sim)
}

/// `POST /document/cancel`: `{"codes", "message", "email"}` with the private key.
async fn cancel(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    let config = sim.config();
    if !authorized(&headers, &config.auco_private_key) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let codes = match parse_cancel(&body) {
        Ok(codes) => codes,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let mut docs = lock(&sim.inner.auco);
    let known = |code: &String| config.unknown_in_progress || docs.contains_key(code);
    if config.auco_batch_400_on_unknown && !codes.iter().all(known) {
        return error(StatusCode::BAD_REQUEST, "DOCUMENT_NOT_FOUND");
    }
    let total = codes.len();
    let mut failed = Vec::new();
    for code in codes {
        let state = docs
            .get(&code)
            .copied()
            .or(config.unknown_in_progress.then_some(AucoState::InProgress));
        match state {
            Some(AucoState::InProgress) => {
                docs.insert(code, AucoState::Cancelled);
            }
            // Auco does not say why: signed, already cancelled, expired and unknown look alike.
            Some(AucoState::Cancelled | AucoState::Signed | AucoState::Expired) | None => {
                failed.push(code);
            }
        }
    }
    drop(docs);
    let errors = if failed.is_empty() {
        json!({ "cant": 0 })
    } else {
        json!({ "cant": failed.len(), "documents": failed })
    };
    Json(json!({ "success": total - failed.len(), "errors": errors })).into_response()
}

/// `GET /document?code=CODE` with the public key.
async fn status(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let config = sim.config();
    if !authorized(&headers, &config.auco_public_key) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "CODE_REQUIRED");
    };
    let state = sim
        .auco_state(code)
        .or(config.unknown_in_progress.then_some(AucoState::InProgress));
    match state {
        Some(state) => Json(json!({ "code": code, "status": state.wire() })).into_response(),
        None => error(StatusCode::BAD_REQUEST, "DOCUMENT_NOT_FOUND"),
    }
}

/// Auco takes the bare key, exactly: `Bearer <key>` is refused.
fn authorized(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == key.as_bytes())
}

/// The codes of a valid cancel body, or Auco's `message` for a bad one.
fn parse_cancel(body: &[u8]) -> Result<Vec<String>, &'static str> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err("INVALID_BODY");
    };
    let codes: Vec<String> = match fields.get("codes") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("CODES_MUST_BE_STRINGS")?,
        _ => return Err("CODES_REQUIRED"),
    };
    let filled = |name| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|text| !text.trim().is_empty())
    };
    if !filled("message") {
        return Err("MESSAGE_REQUIRED");
    }
    if !filled("email") {
        return Err("EMAIL_REQUIRED");
    }
    Ok(codes)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

#[cfg(test)]
mod tests;
