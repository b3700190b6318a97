//! The layer in front of every simulated endpoint: counts the call, waits the configured
//! latency, and injects the configured faults (before the handler, or after a cancel).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use super::config::{Faults, Latency};
use super::net::Conn;
use super::{Endpoint, SimVendor, Simulator};

/// How long a "timeout" call hangs: longer than any sane client timeout.
const HANG: Duration = Duration::from_secs(60);

/// One fault, as drawn for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer this `5xx` status.
    Error(StatusCode),
    /// Hang, then answer `504`.
    Timeout,
    /// Answer `429` with `Retry-After: 1`.
    RateLimit,
    /// Reset the connection without an answer.
    Reset,
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    delay: Duration,
    fault: Option<Fault>,
    /// Whether the handler runs (and its state change sticks) before the fault fires.
    after_handler: bool,
}

impl Plan {
    /// Rolls the dice for one call. Synchronous, so the thread-local RNG never crosses an await.
    fn draw(latency: &Latency, faults: &Faults, is_cancel: bool) -> Self {
        let mut rng = rand::rng();
        let slow = rng.random::<f64>() < latency.slow_share;
        let delay = Duration::from_millis(if slow {
            latency.slow_ms
        } else {
            latency.fixed_ms
        });
        let roll = rng.random::<f64>();
        let mut threshold = 0.0;
        let mut pick = |share: f64| {
            threshold += share.max(0.0);
            roll < threshold
        };
        let fault = if pick(faults.error_share) {
            let status = if rng.random_bool(0.5) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Some(Fault::Error(status))
        } else if pick(faults.timeout_share) {
            Some(Fault::Timeout)
        } else if pick(faults.rate_limit_share) {
            Some(Fault::RateLimit)
        } else if pick(faults.reset_share) {
            Some(Fault::Reset)
        } else {
            None
        };
        let after_handler = is_cancel
            && faults.after_cancel
            && matches!(fault, Some(Fault::Error(_) | Fault::Timeout | Fault::Reset));
        Self {
            delay,
            fault,
            after_handler,
        }
    }
}

/// Where the layer sits: one endpoint of one vendor, on one simulator.
#[derive(Clone)]
pub(super) struct At {
    pub(super) sim: Simulator,
    pub(super) vendor: &'static dyn SimVendor,
    pub(super) endpoint: Endpoint,
}

/// The middleware: `from_fn_with_state(at, apply)` (see `Simulator::faulty`).
pub(super) async fn apply(State(at): State<At>, request: Request, next: Next) -> Response {
    let At {
        sim,
        vendor,
        endpoint,
    } = at;
    sim.count(vendor.name(), endpoint.name);
    let (latency, faults) = sim.behaviour();
    let plan = Plan::draw(&latency, &faults, endpoint.cancels);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let conn = request
        .extensions()
        .get::<ConnectInfo<Conn>>()
        .map(|info| info.0.clone());
    match plan.fault {
        None => next.run(request).await,
        Some(fault) => {
            if plan.after_handler {
                drop(next.run(request).await);
            }
            fire(fault, vendor, conn).await
        }
    }
}

async fn fire(fault: Fault, vendor: &dyn SimVendor, conn: Option<Conn>) -> Response {
    match fault {
        Fault::Error(status) if status == StatusCode::SERVICE_UNAVAILABLE => {
            // What a load balancer in front of a vendor sends: HTML, not the vendor's JSON.
            let page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
            (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
        }
        Fault::Error(status) => {
            (status, vendor_body(vendor, "Internal Server Error")).into_response()
        }
        Fault::Timeout => {
            tokio::time::sleep(HANG).await;
            (
                StatusCode::GATEWAY_TIMEOUT,
                vendor_body(vendor, "Gateway Timeout"),
            )
                .into_response()
        }
        Fault::RateLimit => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                vendor_body(vendor, "Request was throttled."),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Fault::Reset => match conn {
            Some(Conn(kill)) => {
                kill.throw();
                // Never written: the connection fails its first write and is reset.
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            // Without a simulator listener (a `oneshot` test), the best available is a body
            // that breaks after the headers.
            None => {
                let broken = futures::stream::once(async {
                    Err::<bytes::Bytes, _>(std::io::Error::other("reset by the simulator"))
                });
                Response::new(Body::from_stream(broken))
            }
        },
    }
}

/// An error body in the vendor's usual shape (`SimVendor::error_body`).
fn vendor_body(vendor: &dyn SimVendor, text: &str) -> axum::Json<serde_json::Value> {
    axum::Json(vendor.error_body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(error: f64, timeout: f64, rate: f64, reset: f64) -> Faults {
        Faults {
            error_share: error,
            timeout_share: timeout,
            rate_limit_share: rate,
            reset_share: reset,
            after_cancel: true,
        }
    }

    #[test]
    fn a_share_of_one_always_fires_and_zero_never_does() {
        let latency = Latency::default();
        for _ in 0..50 {
            let plan = Plan::draw(&latency, &faults(0.0, 1.0, 0.0, 0.0), false);
            assert_eq!(plan.fault, Some(Fault::Timeout));
            let plan = Plan::draw(&latency, &faults(0.0, 0.0, 0.0, 1.0), false);
            assert_eq!(plan.fault, Some(Fault::Reset));
            let plan = Plan::draw(&latency, &Faults::default(), true);
            assert_eq!(plan.fault, None);
        }
    }

    #[test]
    fn only_cancels_fault_after_the_handler_and_never_with_a_429() {
        let latency = Latency::default();
        assert!(Plan::draw(&latency, &faults(1.0, 0.0, 0.0, 0.0), true).after_handler);
        assert!(!Plan::draw(&latency, &faults(1.0, 0.0, 0.0, 0.0), false).after_handler);
        assert!(!Plan::draw(&latency, &faults(0.0, 0.0, 1.0, 0.0), true).after_handler);
    }

    #[test]
    fn shares_split_calls_roughly_as_configured() {
        let latency = Latency {
            fixed_ms: 1,
            slow_ms: 9,
            slow_share: 0.5,
        };
        let mixed = faults(0.25, 0.0, 0.25, 0.0);
        let plans: Vec<Plan> = (0..4000)
            .map(|_| Plan::draw(&latency, &mixed, false))
            .collect();
        let count = |f: &dyn Fn(&Plan) -> bool| plans.iter().filter(|p| f(p)).count();
        let errors = count(&|p| matches!(p.fault, Some(Fault::Error(_))));
        let limited = count(&|p| p.fault == Some(Fault::RateLimit));
        let slow = count(&|p| p.delay == Duration::from_millis(9));
        for n in [errors, limited] {
            assert!((800..1200).contains(&n), "{n} of 4000");
        }
        assert!((1700..2300).contains(&slow), "{slow} of 4000");
    }
}
