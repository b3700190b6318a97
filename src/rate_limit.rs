//! The inbound rate limit (`server.rate_limit_per_second`, `server.rate_limit_burst`): one
//! process-wide GCRA limiter (`governor`) in front of the API routes; beyond it, `429`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::settings::ServerSettings;

/// The process's inbound limiter: a steady rate per second plus a burst.
#[derive(Debug)]
pub struct InboundLimit {
    limiter: DefaultDirectRateLimiter,
}

impl InboundLimit {
    /// A limiter of `per_second` requests with `burst` allowed at once; `None` if either is 0.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let quota =
            Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?);
        Some(Self {
            limiter: RateLimiter::direct(quota),
        })
    }

    /// The limiter these settings ask for, or `None` when the limit is off.
    pub fn from_settings(server: &ServerSettings) -> Option<Arc<Self>> {
        let (per_second, burst) = server.rate_limit()?;
        Self::new(per_second, burst).map(Arc::new)
    }

    /// Takes one request's cell, or says how long until one is free.
    pub fn check(&self) -> Result<(), ApiError> {
        self.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            ApiError::RateLimited {
                retry_after: whole_seconds(wait),
            }
        })
    }
}

/// Refuses the request with `429 rate_limited` (and `Retry-After`) when the limit is reached;
/// the handler, and so any vendor, is not called.
pub async fn enforce(
    State(limit): State<Arc<InboundLimit>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    limit.check()?;
    Ok(next.run(request).await)
}

/// A wait rounded up to whole seconds, at least one: retrying after `Retry-After` must succeed.
fn whole_seconds(wait: Duration) -> Duration {
    let mut seconds = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        seconds += 1;
    }
    Duration::from_secs(seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    fn limited_router(limit: InboundLimit, calls: Arc<AtomicUsize>) -> Router {
        Router::new()
            .route(
                "/limited",
                get(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }),
            )
            .route_layer(from_fn_with_state(Arc::new(limit), enforce))
    }

    #[tokio::test]
    async fn the_layer_refuses_the_request_after_the_burst_with_429_and_retry_after() {
        let calls = Arc::new(AtomicUsize::new(0));
        let limit = InboundLimit::new(1, 2).expect("a valid quota");
        let router = limited_router(limit, Arc::clone(&calls));

        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let request = Request::get("/limited").body(Body::empty()).unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            statuses.push(response.status().as_u16());
            last = Some(response);
        }

        assert_eq!(statuses, [200, 200, 429]);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the handler ran only twice"
        );
        let refused = last.unwrap();
        assert_eq!(refused.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(refused.into_body(), 4096)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "rate_limited");
    }

    #[test]
    fn a_zero_rate_or_burst_builds_no_limiter() {
        assert!(InboundLimit::new(0, 5).is_none());
        assert!(InboundLimit::new(5, 0).is_none());
    }

    #[test]
    fn retry_after_is_the_wait_rounded_up_to_whole_seconds_and_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            whole_seconds(Duration::from_millis(30)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            whole_seconds(Duration::from_millis(2001)),
            Duration::from_secs(3)
        );
    }
}
