//! The outermost layer of every request: the request id, the request span and its one log
//! line, and the shared JSON body on every error, whoever produced it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;

/// The request's id: the client's `X-Request-Id` when usable, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Header carrying the request id both ways and to vendors.
pub const REQUEST_ID: &str = "x-request-id";

/// Assigns the request id, runs the request inside its span, renders error bodies, and
/// records the request's metrics.
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
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    metrics::http_request(route, response.status().as_u16(), started.elapsed());
    let _entered = span.enter();
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "Request finished."
    );
    response
}

/// Sheds load: once shutdown has begun, or beyond `server.max_in_flight` concurrent API
/// requests, answers `503` at once without calling any vendor.
pub async fn load_shed(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.is_draining() {
        metrics::shed(metrics::ShedReason::Draining);
        return Err(ApiError::unavailable(
            "The gateway is shutting down; retry shortly.",
        ));
    }
    let Ok(_permit) = state.in_flight.try_acquire() else {
        metrics::shed(metrics::ShedReason::Overloaded);
        return Err(ApiError::unavailable(
            "The gateway is overloaded; retry later.",
        ));
    };
    metrics::in_flight(1.0);
    let response = next.run(request).await;
    metrics::in_flight(-1.0);
    Ok(response)
}

/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// Copies the route a request matched onto its response, where `request_context` reads it as
/// the metric label (added with `route_layer`, so it runs only for matched routes).
pub async fn mark_route(route: MatchedPath, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.extensions_mut().insert(route);
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_matched_route_is_labelled_by_its_pattern_and_nothing_else_is_labelled() {
        let router = Router::new()
            .route("/documents/{code}", get(|| async { "ok" }))
            .route_layer(axum::middleware::from_fn(mark_route));
        let get_path = |path: &str| HttpRequest::get(path).body(Body::empty()).unwrap();

        let matched = router
            .clone()
            .oneshot(get_path("/documents/A1"))
            .await
            .unwrap();
        let unmatched = router.oneshot(get_path("/elsewhere")).await.unwrap();

        let label = matched
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        assert_eq!(label, Some("/documents/{code}"));
        assert!(unmatched.extensions().get::<MatchedPath>().is_none());
    }
}
