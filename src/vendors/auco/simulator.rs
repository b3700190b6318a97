//! Simulated Auco API v1.5 (src/vendors/auco/README.md): batch cancel with the bare private key, and status read
//! with the bare public key. Mirrors <https://docs.auco.ai> as the adapter reads it.

use std::any::Any;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

/// The simulated Auco, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: AucoSim = AucoSim;

/// The `Authorization` value the simulated cancel accepts (the bare private key).
pub const PRIVATE_KEY: &str = "prk_sim";
/// The `Authorization` value the simulated status read accepts (the bare public key).
pub const PUBLIC_KEY: &str = "puk_sim";

/// `POST /document/cancel`, counted as `("auco", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET /document?code=`, counted as `("auco", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// The demo documents `seed_demo` creates (codes match `^[A-Z0-9]{9,10}$`).
pub const DEMO: [(&str, AucoState); 8] = [
    ("AUCOOPEN01", AucoState::InProgress),
    ("AUCOOPEN02", AucoState::InProgress),
    ("AUCOOPEN03", AucoState::InProgress),
    ("AUCOOPEN04", AucoState::InProgress),
    ("AUCOOPEN05", AucoState::InProgress),
    ("AUCOSIGN01", AucoState::Signed),
    ("AUCODONE01", AucoState::Cancelled),
    ("AUCOEXPD01", AucoState::Expired),
];

/// Creates or overwrites an Auco document on `sim`.
pub fn seed(sim: &Simulator, code: &str, state: AucoState) {
    own(sim).docs.insert(code, state);
}

/// An Auco document's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, code: &str) -> Option<AucoState> {
    own(sim).docs.get(code)
}

/// An Auco document's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AucoState {
    /// Being signed (`CREATED`): cancellable.
    InProgress,
    /// Cancelled or rejected (`REJECTED`).
    Cancelled,
    /// Fully signed (`FINISH`).
    Signed,
    /// Expired (`EXPIRED`).
    Expired,
}

impl AucoState {
    /// The `status` Auco reports for this state.
    pub fn wire(self) -> &'static str {
        match self {
            Self::InProgress => "CREATED",
            Self::Cancelled => "REJECTED",
            Self::Signed => "FINISH",
            Self::Expired => "EXPIRED",
        }
    }
}

/// The simulated Auco: see `SimVendor`.
#[derive(Debug)]
pub struct AucoSim;

impl SimVendor for AucoSim {
    fn name(&self) -> &'static str {
        "auco"
    }

    fn prefix(&self) -> &'static str {
        "/auco/v1.5/ext"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[CANCEL, STATUS]
    }

    /// `/document/cancel` and `/document`, each behind the fault layer.
    fn router(&self, sim: &Simulator) -> Router {
        Router::new()
            .route("/document/cancel", sim.faulty(&SIM, CANCEL, post(cancel)))
            .route("/document", sim.faulty(&SIM, STATUS, get(status)))
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        Options::read(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = Options::read(config.vendor_options(self.name())).unwrap_or_default();
        Box::new(Own {
            docs: Documents::default(),
            options,
        })
    }

    /// Auco's errors carry a `message`.
    fn error_body(&self, text: &str) -> Value {
        json!({ "message": text })
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("private_key", PRIVATE_KEY), ("public_key", PUBLIC_KEY)]
    }

    fn describe(&self, _sim: &Simulator) -> Vec<String> {
        vec![format!(
            "Authorization: {PRIVATE_KEY} (cancel), {PUBLIC_KEY} (status)"
        )]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (code, state) in DEMO {
            seed(sim, code, state);
        }
    }

    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        let labels = [
            (AucoState::InProgress, "in progress"),
            (AucoState::Cancelled, "already cancelled"),
            (AucoState::Signed, "signed"),
            (AucoState::Expired, "expired"),
        ];
        labels
            .into_iter()
            .map(|(state, label)| {
                let codes: Vec<&str> = DEMO
                    .iter()
                    .filter(|(_, s)| *s == state)
                    .map(|(code, _)| *code)
                    .collect();
                (label, codes.join(" "))
            })
            .collect()
    }
}

/// Auco's state on one simulator.
struct Own {
    docs: Documents<AucoState>,
    options: Options,
}

/// Auco's options (`SimConfig::set_option("auco", …)`).
#[derive(Debug, Default)]
struct Options {
    /// `batch_400_on_unknown`: Auco answers `400 DOCUMENT_NOT_FOUND` for a whole cancel batch
    /// (of one code or several) when any code in it is unknown, instead of listing the code
    /// in `errors.documents`.
    batch_400_on_unknown: bool,
}

impl Options {
    fn read(options: &VendorOptions) -> Result<Self, String> {
        let mut read = Self::default();
        for (name, value) in options {
            match name.as_str() {
                "batch_400_on_unknown" => {
                    read.batch_400_on_unknown = value
                        .parse()
                        .map_err(|_| format!("`{value}` is not true or false"))?;
                }
                other => return Err(format!("the simulated Auco has no option `{other}`")),
            }
        }
        Ok(read)
    }
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds Auco's state from simulator::vendors()")
}

/// `POST /document/cancel`: `{"codes", "message", "email"}` with the private key.
async fn cancel(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers, PRIVATE_KEY) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let codes = match parse_cancel(&body) {
        Ok(codes) => codes,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let unknown_in_progress = sim.unknown_in_progress();
    let own = own(&sim);
    let mut docs = own.docs.lock();
    let known = |code: &String| unknown_in_progress || docs.contains_key(code);
    if own.options.batch_400_on_unknown && !codes.iter().all(known) {
        return error(StatusCode::BAD_REQUEST, "DOCUMENT_NOT_FOUND");
    }
    let total = codes.len();
    let mut failed = Vec::new();
    for code in codes {
        let state = docs
            .get(&code)
            .copied()
            .or(unknown_in_progress.then_some(AucoState::InProgress));
        match state {
            Some(AucoState::InProgress) => {
                docs.insert(code, AucoState::Cancelled);
            }
            // Auco does not say why: signed, already cancelled, expired and unknown look alike.
            Some(AucoState::Cancelled | AucoState::Signed | AucoState::Expired) | None => {
                failed.push(code);
            }
        }
    }
    drop(docs);
    let errors = if failed.is_empty() {
        json!({ "cant": 0 })
    } else {
        json!({ "cant": failed.len(), "documents": failed })
    };
    Json(json!({ "success": total - failed.len(), "errors": errors })).into_response()
}

/// `GET /document?code=CODE` with the public key.
async fn status(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers, PUBLIC_KEY) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "CODE_REQUIRED");
    };
    let state = state(&sim, code).or(sim.unknown_in_progress().then_some(AucoState::InProgress));
    match state {
        Some(state) => Json(json!({ "code": code, "status": state.wire() })).into_response(),
        None => error(StatusCode::BAD_REQUEST, "DOCUMENT_NOT_FOUND"),
    }
}

/// Auco takes the bare key, exactly: `Bearer <key>` is refused.
fn authorized(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == key.as_bytes())
}

/// The codes of a valid cancel body, or Auco's `message` for a bad one.
fn parse_cancel(body: &[u8]) -> Result<Vec<String>, &'static str> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err("INVALID_BODY");
    };
    let codes: Vec<String> = match fields.get("codes") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("CODES_MUST_BE_STRINGS")?,
        _ => return Err("CODES_REQUIRED"),
    };
    let filled = |name| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|text| !text.trim().is_empty())
    };
    if !filled("message") {
        return Err("MESSAGE_REQUIRED");
    }
    if !filled("email") {
        return Err("EMAIL_REQUIRED");
    }
    Ok(codes)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

#[cfg(test)]
mod tests;
