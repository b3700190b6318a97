//! Simulated Yousign API v3: a Bearer API key, `POST /signature_requests/{id}/cancel` (the
//! reason checked as Yousign's OpenAPI description says, `201` with the signature request),
//! `GET /signature_requests/{id}`, errors as `{"type", "detail", "invalid_params"?}`, and both
//! rate-limit windows (a minute and an hour) with Yousign's `x-ratelimit-*` headers on every
//! answer. Docs: <https://developers.yousign.com/reference/errors-1>,
//! <https://developers.yousign.com/docs/limits-new>.

use std::any::Any;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

mod checks;
mod state;
mod window;

use checks::{admit, check_payload, with_limits};
pub use state::{YousignState, DEMO};
use window::{Limits, Windows};

/// The simulated Yousign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: YousignSim = YousignSim;

/// The API key the simulator accepts, sent as `Authorization: Bearer <key>`.
pub const API_KEY: &str = "sim-yousign-key";

/// Production's limits, unless the `requests_per_minute` and `requests_per_hour` options say
/// otherwise (the sandbox's are 30 and 200).
pub const REQUESTS_PER_MINUTE: u32 = 60;
/// See `REQUESTS_PER_MINUTE`.
pub const REQUESTS_PER_HOUR: u32 = 1200;

/// `POST /signature_requests/{id}/cancel`, counted as `("yousign", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET /signature_requests/{id}`, counted as `("yousign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// Creates or overwrites a Yousign signature request on `sim`.
pub fn seed(sim: &Simulator, id: &str, state: YousignState) {
    own(sim).docs.insert(id, state);
}

/// A signature request's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, id: &str) -> Option<YousignState> {
    own(sim).docs.get(id)
}

/// The simulated Yousign: see `SimVendor`.
#[derive(Debug)]
pub struct YousignSim;

impl SimVendor for YousignSim {
    fn name(&self) -> &'static str {
        "yousign"
    }

    fn prefix(&self) -> &'static str {
        "/yousign/v3"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[CANCEL, STATUS]
    }

    /// `/signature_requests/{id}/cancel` and `/signature_requests/{id}`, each behind the fault
    /// layer.
    fn router(&self, sim: &Simulator) -> Router {
        Router::new()
            .route(
                "/signature_requests/{id}/cancel",
                sim.faulty(&SIM, CANCEL, post(cancel)),
            )
            .route(
                "/signature_requests/{id}",
                sim.faulty(&SIM, STATUS, get(status)),
            )
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        read_limits(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let limits = read_limits(config.vendor_options(self.name())).unwrap_or(Limits {
            per_minute: REQUESTS_PER_MINUTE,
            per_hour: REQUESTS_PER_HOUR,
        });
        Box::new(Own {
            docs: Documents::default(),
            windows: Mutex::default(),
            limits,
        })
    }

    /// Yousign's shapes: `{"message"}` for a throttled call, `{"type", "detail"}` otherwise.
    fn error_body(&self, text: &str) -> Value {
        match text {
            "Request was throttled." => json!({ "message": "Too Many Requests" }),
            _ => json!({ "type": "about:blank", "detail": text }),
        }
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("api_key", API_KEY)]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        let limits = own(sim).limits;
        vec![format!(
            "Authorization: Bearer {API_KEY} (at most {} calls a minute and {} an hour)",
            limits.per_minute, limits.per_hour
        )]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (id, state) in DEMO {
            seed(sim, id, state);
        }
    }

    /// One row per id: UUIDs do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        DEMO.iter()
            .map(|(id, state)| (state.wire(), (*id).to_owned()))
            .collect()
    }
}

/// Yousign's state on one simulator.
struct Own {
    docs: Documents<YousignState>,
    windows: Mutex<Windows>,
    limits: Limits,
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds Yousign's state from simulator::vendors()")
}

/// The options `requests_per_minute` and `requests_per_hour` (`SimConfig::set_option`).
fn read_limits(options: &VendorOptions) -> Result<Limits, String> {
    let mut limits = Limits {
        per_minute: REQUESTS_PER_MINUTE,
        per_hour: REQUESTS_PER_HOUR,
    };
    for (name, value) in options {
        let count = value
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{value}` is not a whole number above 0"));
        match name.as_str() {
            "requests_per_minute" => limits.per_minute = count?,
            "requests_per_hour" => limits.per_hour = count?,
            other => return Err(format!("the simulated Yousign has no option `{other}`")),
        }
    }
    Ok(limits)
}

/// `POST /signature_requests/{id}/cancel`: cancels a request in `approval` or `ongoing`.
async fn cancel(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let report = match admit(&sim, &headers) {
        Ok(report) => report,
        Err(refusal) => return refusal.into_response(),
    };
    let response = match check_payload(&headers, &body) {
        Err(refusal) => refusal.into_response(),
        Ok(()) => {
            let unknown_open = sim.unknown_in_progress();
            let mut docs = own(&sim).docs.lock();
            let current = docs
                .get(&id)
                .copied()
                .or(unknown_open.then_some(YousignState::Ongoing));
            match current {
                Some(YousignState::Ongoing | YousignState::Approval) => {
                    docs.insert(id.clone(), YousignState::Canceled);
                    answer(StatusCode::CREATED, YousignState::Canceled.body(&id))
                }
                // Yousign documents no `type` for this refusal: the simulator's is a guess.
                Some(other) => error(
                    StatusCode::BAD_REQUEST,
                    "about:blank",
                    &format!(
                        "The Signature Request is {}: only approval or ongoing Signature \
                         Requests can be canceled.",
                        other.wire()
                    ),
                ),
                None => not_found(),
            }
        }
    };
    with_limits(response, report)
}

/// `GET /signature_requests/{id}`: the signature request.
async fn status(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let report = match admit(&sim, &headers) {
        Ok(report) => report,
        Err(refusal) => return refusal.into_response(),
    };
    let current = state(&sim, &id).or(sim.unknown_in_progress().then_some(YousignState::Ongoing));
    let response = match current {
        Some(current) => answer(StatusCode::OK, current.body(&id)),
        None => not_found(),
    };
    with_limits(response, report)
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "resource.not_found",
        "The requested resource was not found.",
    )
}

fn error(status: StatusCode, kind: &str, detail: &str) -> Response {
    answer(status, json!({ "type": kind, "detail": detail }))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests;
