//! The HTTP surface: one file per resource, joined here.

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::Router;

use crate::auth::require_api_key;
use crate::error::ApiError;
use crate::middleware::{load_shed, mark_route};
use crate::rate_limit;
use crate::state::AppState;

pub mod cancel;
pub mod cancellations;
pub mod health;

/// Every route: the authenticated API and the open operational endpoints. Around the API,
/// outermost first: load shedding, the API key, the inbound rate limit (so requests with a
/// wrong key never use up the budget).
pub fn router(state: AppState) -> Router {
    let mut api = cancel::router().merge(cancellations::router());
    if let Some(limit) = &state.rate_limit {
        api = api.route_layer(from_fn_with_state(Arc::clone(limit), rate_limit::enforce));
    }
    let api = api
        .route_layer(from_fn_with_state(state.clone(), require_api_key))
        .route_layer(from_fn_with_state(state.clone(), load_shed));
    Router::new()
        .merge(api)
        .merge(health::router())
        .route_layer(axum::middleware::from_fn(mark_route))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}
