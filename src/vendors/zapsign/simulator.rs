//! Simulated ZapSign API v1 (src/vendors/zapsign/README.md): one refuse per call, Bearer token, mandatory
//! `User-Agent`, a fixed-window rate limit per token, and deliberately varied error bodies
//! (`detail`, `error`, `code`), as the real vendor sends. Docs: <https://docs.zapsign.com.br>.

use std::any::Any;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{lock, Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

use crate::simulator::window::Windows;

/// The simulated ZapSign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: ZapSignSim = ZapSignSim;

/// The API token the simulator accepts, sent as `Authorization: Bearer <token>`.
pub const TOKEN: &str = "sim-token";

/// ZapSign's limit per token in each fixed one-minute window, unless the
/// `requests_per_minute` option says otherwise.
pub const REQUESTS_PER_MINUTE: u32 = 500;

/// `POST /refuse/`, counted as `("zapsign", "refuse")`.
pub const REFUSE: Endpoint = Endpoint {
    name: "refuse",
    cancels: true,
};
/// `GET /docs/{token}/`, counted as `("zapsign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// The demo documents `seed_demo` creates (tokens are UUIDs; the last group tells the
/// state: `00000000000N` pending, `0000000001..` refused, `0000000002..` signed,
/// `0000000003..` not allowed).
pub const DEMO: [(&str, ZapSignState); 8] = [
    (
        "0a1b2c3d-0000-4000-8000-000000000001",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000002",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000003",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000004",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000005",
        ZapSignState::Pending,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000101",
        ZapSignState::Refused,
    ),
    ("0a1b2c3d-0000-4000-8000-000000000201", ZapSignState::Signed),
    (
        "0a1b2c3d-0000-4000-8000-000000000301",
        ZapSignState::NotAllowed,
    ),
];

/// Creates or overwrites a ZapSign document on `sim`.
pub fn seed(sim: &Simulator, token: &str, state: ZapSignState) {
    own(sim).docs.insert(token, state);
}

/// A ZapSign document's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, token: &str) -> Option<ZapSignState> {
    own(sim).docs.get(token)
}

/// A ZapSign document's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZapSignState {
    /// Waiting for signatures (`pending`): cancellable.
    Pending,
    /// Refused, i.e. cancelled (`refused`).
    Refused,
    /// Fully signed (`signed`).
    Signed,
    /// Pending, but the account may not refuse it (`refuse_not_allowed`).
    NotAllowed,
}

impl ZapSignState {
    /// The `status` ZapSign reports for this state.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Pending | Self::NotAllowed => "pending",
            Self::Refused => "refused",
            Self::Signed => "signed",
        }
    }
}

/// The simulated ZapSign: see `SimVendor`.
#[derive(Debug)]
pub struct ZapSignSim;

impl SimVendor for ZapSignSim {
    fn name(&self) -> &'static str {
        "zapsign"
    }

    fn prefix(&self) -> &'static str {
        "/zapsign/api/v1"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[REFUSE, STATUS]
    }

    /// `/refuse/` and `/docs/{token}/`, each behind the fault layer.
    fn router(&self, sim: &Simulator) -> Router {
        Router::new()
            .route("/refuse/", sim.faulty(&SIM, REFUSE, post(refuse)))
            .route("/docs/{token}/", sim.faulty(&SIM, STATUS, get(status)))
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        requests_per_minute(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = config.vendor_options(self.name());
        Box::new(Own {
            docs: Documents::default(),
            throttle: Mutex::new(Windows::new(60)),
            requests_per_minute: requests_per_minute(options).unwrap_or(REQUESTS_PER_MINUTE),
        })
    }

    /// ZapSign's own throttling and server errors carry a `detail`.
    fn error_body(&self, text: &str) -> Value {
        json!({ "detail": text })
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("api_token", TOKEN)]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        let limit = own(sim).requests_per_minute;
        vec![format!(
            "Authorization: Bearer {TOKEN} (at most {limit} calls a minute)"
        )]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (token, state) in DEMO {
            seed(sim, token, state);
        }
    }

    /// One row per token: UUIDs do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        let labels = [
            (ZapSignState::Pending, "pending"),
            (ZapSignState::Refused, "already refused"),
            (ZapSignState::Signed, "signed"),
            (ZapSignState::NotAllowed, "refuse not allowed"),
        ];
        labels
            .into_iter()
            .flat_map(|(state, label)| {
                DEMO.iter()
                    .filter(move |(_, s)| *s == state)
                    .map(move |(token, _)| (label, (*token).to_owned()))
            })
            .collect()
    }
}

/// ZapSign's state on one simulator.
struct Own {
    docs: Documents<ZapSignState>,
    throttle: Mutex<Windows>,
    requests_per_minute: u32,
}

/// The one option (`SimConfig::set_option("zapsign", …)`): `requests_per_minute`, the limit
/// per token in each fixed one-minute window.
fn requests_per_minute(options: &VendorOptions) -> Result<u32, String> {
    let mut limit = REQUESTS_PER_MINUTE;
    for (name, value) in options {
        match name.as_str() {
            "requests_per_minute" => {
                limit = value
                    .parse()
                    .map_err(|_| format!("`{value}` is not a whole number"))?;
            }
            other => return Err(format!("the simulated ZapSign has no option `{other}`")),
        }
    }
    Ok(limit)
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds ZapSign's state from simulator::vendors()")
}

/// `POST /refuse/`: `{"doc_token", "rejected_reason", "notify_signer"}`.
async fn refuse(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refusal(&sim, &headers) {
        return refusal;
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, json!({ "error": "invalid_json" }));
    };
    let text = |name| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let Some(token) = text("doc_token") else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "missing_doc_token" }),
        );
    };
    if text("rejected_reason").is_none() {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "missing_rejected_reason" }),
        );
    }
    let unknown_in_progress = sim.unknown_in_progress();
    let mut docs = own(&sim).docs.lock();
    let state = docs
        .get(token)
        .copied()
        .or(unknown_in_progress.then_some(ZapSignState::Pending));
    match state {
        Some(ZapSignState::Pending) => {
            docs.insert(token.to_owned(), ZapSignState::Refused);
            answer(
                StatusCode::OK,
                json!({ "message": "Documento recusado com sucesso." }),
            )
        }
        Some(ZapSignState::Refused) => answer(
            StatusCode::FORBIDDEN,
            json!({
                "code": "document_already_refused",
                "message": "O documento já foi recusado.",
            }),
        ),
        Some(ZapSignState::Signed) => answer(
            StatusCode::FORBIDDEN,
            json!({ "error": "document_already_signed" }),
        ),
        Some(ZapSignState::NotAllowed) => answer(
            StatusCode::FORBIDDEN,
            json!({ "detail": "refuse_not_allowed" }),
        ),
        None => not_found(),
    }
}

/// `GET /docs/{token}/`: the document's status.
async fn status(
    State(sim): State<Simulator>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refusal(&sim, &headers) {
        return refusal;
    }
    let state = state(&sim, &token).or(sim.unknown_in_progress().then_some(ZapSignState::Pending));
    match state {
        Some(state) => answer(
            StatusCode::OK,
            json!({ "token": token, "status": state.wire() }),
        ),
        None => not_found(),
    }
}

/// The checks in front of every call, in ZapSign's order: `User-Agent`, token, rate limit.
/// Returns the answer to a call that fails one.
fn refusal(sim: &Simulator, headers: &HeaderMap) -> Option<Response> {
    let has_agent = headers
        .get(header::USER_AGENT)
        .is_some_and(|agent| !agent.is_empty());
    if !has_agent {
        return Some(answer(
            StatusCode::FORBIDDEN,
            json!({ "detail": "User-Agent header is required" }),
        ));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .filter(|token| *token == TOKEN);
    let Some(token) = token else {
        return Some(answer(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid token." }),
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let own = own(sim);
    let admitted = lock(&own.throttle).admit(token, own.requests_per_minute, now);
    admitted.err().map(|refused| {
        let mut response = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "detail": "Request was throttled." }),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(refused.retry_after));
        response
    })
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, json!({ "detail": "Not found." }))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests;
