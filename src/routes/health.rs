//! Operational endpoints without an API key: liveness, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI document, compiled in.
pub const OPENAPI: &str = include_str!("../../openapi.yaml");

/// `/livez`, `/readyz`, `/metrics`, `/openapi.yaml`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/openapi.yaml", get(openapi))
        .route("/metrics", get(prometheus))
}

/// `200` while the process runs; touches nothing else.
async fn livez() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// `200` when ready to serve (the store answers), `503` once shutdown has begun.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    readiness(&state).await?;
    Ok(axum::Json(serde_json::json!({"status": "ready"})))
}

/// Ready unless shutdown has begun, a background task is down (panicked, waiting for its
/// restart) or the store does not answer.
async fn readiness(state: &AppState) -> Result<(), ApiError> {
    if state.is_draining() {
        return Err(ApiError::unavailable("Shutting down."));
    }
    let down = state.tasks.down();
    if !down.is_empty() {
        return Err(ApiError::unavailable(format!(
            "Background task down, restarting: {}.",
            down.join(", ")
        )));
    }
    if let Err(e) = state.store.ping().await {
        tracing::error!(error = %e, "Store does not answer.");
        return Err(ApiError::unavailable("The store does not answer."));
    }
    Ok(())
}

/// The Prometheus text exposition of every metric, with `signgate_ready` taken just before.
async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::ready(readiness(&state).await.is_ok());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI)
}
