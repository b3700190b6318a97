//! The HTTP surface: one file per resource, joined here.

use axum::middleware::from_fn_with_state;
use axum::Router;

use crate::auth::require_api_key;
use crate::error::ApiError;
use crate::middleware::load_shed;
use crate::startup::AppState;

pub mod cancel;
pub mod cancellations;
pub mod health;

/// Every route: the authenticated API and the open operational endpoints.
pub fn router(state: AppState) -> Router {
    let api = cancel::router()
        .merge(cancellations::router())
        .route_layer(from_fn_with_state(state.clone(), require_api_key))
        .route_layer(from_fn_with_state(state.clone(), load_shed));
    Router::new()
        .merge(api)
        .merge(health::router())
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}
