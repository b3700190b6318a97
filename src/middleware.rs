//! The outermost layer of every request: the request id, the request span and its one log
//! line, and the shared JSON body on every error, whoever produced it.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::error::ApiError;

/// The request's id: the client's `X-Request-Id` when usable, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Header carrying the request id both ways and to vendors.
pub const REQUEST_ID: &str = "x-request-id";

/// Assigns the request id, runs the request inside its span, and renders error bodies.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| usable_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let response = next.run(request).instrument(span.clone()).await;
    let mut response = envelope(response, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let _entered = span.enter();
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "Request finished."
    );
    response
}

/// A client id is kept when it is 1 to 128 visible ASCII characters.
fn usable_id(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Gives every error the shared body: ours are re-rendered with the id, and bare statuses from
/// axum or tower layers (404, 405, 413, ...) are mapped to the matching `ApiError`.
fn envelope(response: Response, request_id: &str) -> Response {
    if let Some(error) = response.extensions().get::<ApiError>() {
        return error.render(request_id);
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        return ApiError::from_status(status).render(request_id);
    }
    response
}
