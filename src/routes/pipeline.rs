//! The one sequence behind both cancel endpoints (`cancel.rs`, `auco.rs`): read and parse the
//! body, claim the `Idempotency-Key`, run the cancellation, store the answer, and project it
//! into the endpoint's own shape.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::audit::RequestMeta;
use crate::cancellation;
use crate::error::ApiError;
use crate::idempotency::{self, Claim, IdempotencyKey};
use crate::routes::cancel::{parse_body, CancelResponse, ParsedBody};
use crate::state::AppState;
use crate::store::Timestamp;

/// What sets one cancel endpoint apart from the other (authentication and the error body are
/// layers around its route).
#[derive(Debug)]
pub struct Endpoint {
    /// The fields its body may hold.
    pub fields: &'static [&'static str],
    /// Sets its idempotency fingerprints apart from the other endpoint's, so that a key used
    /// on both never replays an answer of the wrong shape. `None` keeps the plain body's
    /// fingerprint (`POST /documents/cancel`, as before the drop-in existed).
    pub scope: Option<&'static str>,
    /// Turns the stored answer (a `CancelResponse`, as recovery also stores it) into this
    /// endpoint's body; run on the first answer and on every replay alike.
    pub project: fn(Vec<u8>) -> Result<Vec<u8>, ApiError>,
}

/// Carries out one cancel request for `endpoint`.
pub async fn cancel(
    endpoint: &Endpoint,
    state: AppState,
    request_id: String,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body.map_err(|e| unread_body(&e, state.settings.server.max_body_bytes))?;
    let ParsedBody { command, fields } =
        parse_body(&body, endpoint.fields, state.settings.server.max_documents)?;
    drop(body);
    let value = Value::Object(fields);
    let key = IdempotencyKey::from_headers(headers)?;
    let meta = RequestMeta {
        // Time-ordered (UUIDv7): the audit table's primary key `(attempt_id, position)` then
        // grows at its end, where a random id touched a random page of it in every write.
        attempt_id: uuid::Uuid::now_v7().to_string(),
        request_id,
        idempotency_key: key.as_ref().map(|k| k.as_str().to_owned()),
        received_at: Timestamp::now(),
    };
    let fingerprinted = match endpoint.scope {
        None => value,
        Some(scope) => json!({ "endpoint": scope, "body": value }),
    };
    let claim = idempotency::claim(
        &state.store,
        &state.settings,
        key,
        &fingerprinted,
        &meta.attempt_id,
    );
    let lease = match claim.await? {
        Claim::Replay(stored) => return Ok(json_response((endpoint.project)(stored)?, true)),
        Claim::Run(lease) => lease,
    };
    // Detached, so a client that hangs up cannot stop a cancel half-way: the vendors' answers
    // are still recorded in the audit trail and under the idempotency key.
    let work = tokio::spawn(async move {
        let answer = cancellation::run(&state, &command, &meta, lease.took_over())
            .await
            .and_then(|results| {
                serde_json::to_vec(&CancelResponse::new(&results)).map_err(|_| ApiError::Internal)
            });
        lease.finish(&answer).await;
        answer
    });
    let stored = work.await.map_err(|e| {
        tracing::error!(error = %e, "Cancel task failed.");
        ApiError::Internal
    })??;
    Ok(json_response((endpoint.project)(stored)?, false))
}

/// Why a body of at most `max_body` bytes could not be read.
pub fn unread_body(rejection: &BytesRejection, max_body: usize) -> ApiError {
    if crate::server::is_body_timeout(rejection) {
        return ApiError::BodyTimeout;
    }
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(max_body),
        _ => ApiError::InvalidRequest("The body could not be read.".into()),
    }
}

/// The answer as stored, unchanged (`POST /documents/cancel`).
pub fn as_stored(stored: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    Ok(stored)
}

fn json_response(body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// Whether the request says its body is JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
