//! The HTTP surface: one file per resource, joined here.

use std::sync::Arc;

use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::Router;

use crate::auth::{require_api_key, Scheme};
use crate::error::ApiError;
use crate::middleware::{load_shed, mark_route};
use crate::rate_limit;
use crate::state::AppState;

pub mod auco;
pub mod cancel;
pub mod cancellations;
pub mod health;
pub mod jobs;
pub mod pipeline;
pub mod status;

/// Every route: the authenticated API, the Auco drop-in (the same guards, Auco's bare key and
/// Auco's error body), and the open operational endpoints.
pub fn router(state: AppState) -> Router {
    let api = cancel::router()
        .merge(jobs::router(state.settings.jobs.max_body_bytes))
        .merge(cancellations::router())
        .merge(status::router());
    let api = guarded(api, &state, Scheme::BearerOrBare);
    let drop_in =
        guarded(auco::router(), &state, Scheme::Bare).route_layer(map_response(auco::error_body));
    Router::new()
        .merge(api)
        .merge(drop_in)
        .merge(health::router())
        .route_layer(from_fn(mark_route))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// Around authenticated routes, outermost first: load shedding, the API key presented as
/// `scheme` says, the inbound rate limit (so requests with a wrong key never use up the
/// budget).
fn guarded(routes: Router<AppState>, state: &AppState, scheme: Scheme) -> Router<AppState> {
    let mut routes = routes;
    if let Some(limit) = &state.rate_limit {
        routes = routes.route_layer(from_fn_with_state(Arc::clone(limit), rate_limit::enforce));
    }
    routes
        .route_layer(from_fn_with_state((state.clone(), scheme), require_api_key))
        .route_layer(from_fn_with_state(state.clone(), load_shed))
}
