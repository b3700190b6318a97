//! Simulated Example Sign (a made-up vendor, test builds only): one cancel per call, a Bearer
//! token, `{"error": "..."}` bodies, and a status read.

use std::any::Any;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

/// The simulated Example Sign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: ExampleSim = ExampleSim;

/// The API token the simulator accepts, sent as `Authorization: Bearer <token>`.
pub const TOKEN: &str = "sim-example-token";

/// `POST /documents/{id}/cancel`, counted as `("example", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET /documents/{id}`, counted as `("example", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// The demo documents `seed_demo` creates, one or more in every state.
pub const DEMO: [(&str, ExampleState); 5] = [
    ("EX-0001", ExampleState::Open),
    ("EX-0002", ExampleState::Open),
    ("EX-0101", ExampleState::Cancelled),
    ("EX-0201", ExampleState::Completed),
    ("EX-0301", ExampleState::Expired),
];

/// Creates or overwrites an Example Sign document on `sim`.
pub fn seed(sim: &Simulator, id: &str, state: ExampleState) {
    own(sim).docs.insert(id, state);
}

/// An Example Sign document's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, id: &str) -> Option<ExampleState> {
    own(sim).docs.get(id)
}

/// An Example Sign document's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExampleState {
    /// Waiting for signatures: cancellable.
    Open,
    /// Cancelled.
    Cancelled,
    /// Fully signed.
    Completed,
    /// Expired unsigned: closed.
    Expired,
}

impl ExampleState {
    /// The `state` Example Sign reports.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
            Self::Expired => "expired",
        }
    }
}

/// The simulated Example Sign: see `SimVendor`.
#[derive(Debug)]
pub struct ExampleSim;

impl SimVendor for ExampleSim {
    fn name(&self) -> &'static str {
        "example"
    }

    fn prefix(&self) -> &'static str {
        "/example/v1"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[CANCEL, STATUS]
    }

    /// `/documents/{id}/cancel` and `/documents/{id}`, each behind the fault layer.
    fn router(&self, sim: &Simulator) -> Router {
        Router::new()
            .route(
                "/documents/{id}/cancel",
                sim.faulty(&SIM, CANCEL, post(cancel)),
            )
            .route("/documents/{id}", sim.faulty(&SIM, STATUS, get(status)))
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        match options.iter().next() {
            Some((name, _)) => Err(format!("the simulated Example Sign has no option `{name}`")),
            None => Ok(()),
        }
    }

    fn new_state(&self, _config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        Box::new(Own {
            docs: Documents::default(),
        })
    }

    fn error_body(&self, text: &str) -> Value {
        json!({ "error": text })
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("token", TOKEN)]
    }

    fn describe(&self, _sim: &Simulator) -> Vec<String> {
        vec![format!(
            "Authorization: Bearer {TOKEN} (an example vendor, test builds only)"
        )]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (id, state) in DEMO {
            seed(sim, id, state);
        }
    }

    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        DEMO.iter()
            .map(|(id, state)| (state.wire(), (*id).to_owned()))
            .collect()
    }
}

/// Example Sign's state on one simulator.
struct Own {
    docs: Documents<ExampleState>,
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds Example Sign's state from simulator::vendors()")
}

/// `POST /documents/{id}/cancel`: `{"reason": "..."}`.
async fn cancel(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers) {
        return answer(StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }));
    }
    let reason = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("reason").and_then(Value::as_str).map(str::to_owned))
        .filter(|r| !r.is_empty());
    if reason.is_none() {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "missing_reason" }),
        );
    }
    let unknown_open = sim.unknown_in_progress();
    let mut docs = own(&sim).docs.lock();
    let current = docs
        .get(&id)
        .copied()
        .or(unknown_open.then_some(ExampleState::Open));
    match current {
        Some(ExampleState::Open) => {
            docs.insert(id.clone(), ExampleState::Cancelled);
            answer(StatusCode::OK, json!({ "id": id, "state": "cancelled" }))
        }
        Some(ExampleState::Cancelled) => answer(
            StatusCode::CONFLICT,
            json!({ "error": "already_cancelled" }),
        ),
        Some(ExampleState::Completed) => {
            answer(StatusCode::CONFLICT, json!({ "error": "completed" }))
        }
        Some(ExampleState::Expired) => answer(StatusCode::CONFLICT, json!({ "error": "expired" })),
        None => not_found(),
    }
}

/// `GET /documents/{id}`: the document's state.
async fn status(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return answer(StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }));
    }
    let current = state(&sim, &id).or(sim.unknown_in_progress().then_some(ExampleState::Open));
    match current {
        Some(current) => answer(StatusCode::OK, json!({ "id": id, "state": current.wire() })),
        None => not_found(),
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| token == TOKEN)
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, json!({ "error": "not_found" }))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}
