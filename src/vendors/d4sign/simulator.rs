//! Simulated D4Sign API v1 (src/vendors/d4sign/README.md): `POST /documents/{uuid}/cancel` and
//! `GET /documents/{uuid}`, the credentials checked in the query string (`tokenAPI`,
//! `cryptKey`), a bad credential answered with a `200` error pair as production does, refusals
//! in D4Sign's `{"message"}` shapes, status reads as one-element arrays, and a fixed-window
//! limit per token with `429` beyond it. Docs: <https://docapi.d4sign.com.br/docs>. Nothing
//! here logs a request, so the query string is never printed.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{lock, Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

use crate::simulator::window::Windows;

/// The simulated D4Sign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: D4SignSim = D4SignSim;

/// The `tokenAPI` the simulator accepts.
pub const TOKEN_API: &str = "sim-d4sign-token";
/// The `cryptKey` the simulator accepts.
pub const CRYPT_KEY: &str = "sim-d4sign-crypt";

/// Calls per token in each fixed one-minute window, unless the `requests_per_minute` option
/// says otherwise. D4Sign documents no limit: this one only lets tests and benchmarks see a
/// `429`, well above signgate's default pace.
pub const REQUESTS_PER_MINUTE: u32 = 600;

/// `POST /documents/{uuid}/cancel`, counted as `("d4sign", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET /documents/{uuid}`, counted as `("d4sign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// The demo documents `seed_demo` creates (UUIDs; the last group tells the state).
pub const DEMO: [(&str, D4SignState); 6] = [
    (
        "d4d4d4d4-0000-4000-8000-000000000001",
        D4SignState::WaitingSignatures,
    ),
    (
        "d4d4d4d4-0000-4000-8000-000000000002",
        D4SignState::WaitingSigners,
    ),
    (
        "d4d4d4d4-0000-4000-8000-000000000003",
        D4SignState::Processing,
    ),
    (
        "d4d4d4d4-0000-4000-8000-000000000401",
        D4SignState::Finished,
    ),
    (
        "d4d4d4d4-0000-4000-8000-000000000501",
        D4SignState::Archived,
    ),
    (
        "d4d4d4d4-0000-4000-8000-000000000601",
        D4SignState::Cancelled,
    ),
];

/// Creates or overwrites a D4Sign document on `sim`.
pub fn seed(sim: &Simulator, uuid: &str, state: D4SignState) {
    own(sim).docs.insert(uuid, state);
}

/// A D4Sign document's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, uuid: &str) -> Option<D4SignState> {
    own(sim).docs.get(uuid)
}

/// A D4Sign document's phase (`statusId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum D4SignState {
    /// `1` Processando: cancellable.
    Processing,
    /// `2` Aguardando Signatários: cancellable.
    WaitingSigners,
    /// `3` Aguardando Assinaturas: cancellable.
    WaitingSignatures,
    /// `4` Finalizado: signed by everyone.
    Finished,
    /// `5` Arquivado.
    Archived,
    /// `6` Cancelado.
    Cancelled,
}

impl D4SignState {
    /// The `statusId` and (Portuguese) `statusName` D4Sign reports.
    pub fn wire(self) -> (&'static str, &'static str) {
        match self {
            Self::Processing => ("1", "Processando"),
            Self::WaitingSigners => ("2", "Aguardando Signatários"),
            Self::WaitingSignatures => ("3", "Aguardando Assinaturas"),
            Self::Finished => ("4", "Finalizado"),
            Self::Archived => ("5", "Arquivado"),
            Self::Cancelled => ("6", "Cancelado"),
        }
    }

    fn in_progress(self) -> bool {
        matches!(
            self,
            Self::Processing | Self::WaitingSigners | Self::WaitingSignatures
        )
    }
}

/// The simulated D4Sign: see `SimVendor`.
#[derive(Debug)]
pub struct D4SignSim;

impl SimVendor for D4SignSim {
    fn name(&self) -> &'static str {
        "d4sign"
    }

    fn prefix(&self) -> &'static str {
        "/d4sign/api/v1"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[CANCEL, STATUS]
    }

    /// `/documents/{uuid}/cancel` and `/documents/{uuid}`, each behind the fault layer.
    fn router(&self, sim: &Simulator) -> Router {
        Router::new()
            .route(
                "/documents/{uuid}/cancel",
                sim.faulty(&SIM, CANCEL, post(cancel)),
            )
            .route("/documents/{uuid}", sim.faulty(&SIM, STATUS, get(status)))
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        requests_per_minute(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = config.vendor_options(self.name());
        Box::new(Own {
            docs: Documents::default(),
            window: Mutex::new(Windows::new(60)),
            requests_per_minute: requests_per_minute(options).unwrap_or(REQUESTS_PER_MINUTE),
        })
    }

    /// D4Sign's documented error body, `5xx` included: `{"message": ...}`.
    fn error_body(&self, text: &str) -> Value {
        json!({ "message": text })
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("token_api", TOKEN_API), ("crypt_key", CRYPT_KEY)]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        let limit = own(sim).requests_per_minute;
        vec![format!(
            "?tokenAPI={TOKEN_API}&cryptKey={CRYPT_KEY} (at most {limit} calls a minute)"
        )]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (uuid, state) in DEMO {
            seed(sim, uuid, state);
        }
    }

    /// One row per document: UUIDs do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        DEMO.iter()
            .map(|(uuid, state)| {
                let label = match state {
                    D4SignState::Processing
                    | D4SignState::WaitingSigners
                    | D4SignState::WaitingSignatures => "in progress",
                    D4SignState::Finished => "finished",
                    D4SignState::Archived => "archived",
                    D4SignState::Cancelled => "cancelled",
                };
                (label, (*uuid).to_owned())
            })
            .collect()
    }
}

/// D4Sign's state on one simulator.
struct Own {
    docs: Documents<D4SignState>,
    window: Mutex<Windows>,
    requests_per_minute: u32,
}

/// The one option (`SimConfig::set_option("d4sign", …)`): `requests_per_minute`, the limit per
/// token in each fixed one-minute window.
fn requests_per_minute(options: &VendorOptions) -> Result<u32, String> {
    let mut limit = REQUESTS_PER_MINUTE;
    for (name, value) in options {
        match name.as_str() {
            "requests_per_minute" => {
                limit = value
                    .parse()
                    .map_err(|_| format!("`{value}` is not a whole number"))?;
            }
            other => return Err(format!("the simulated D4Sign has no option `{other}`")),
        }
    }
    Ok(limit)
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds D4Sign's state from simulator::vendors()")
}

type Params = Query<HashMap<String, String>>;

/// `POST /documents/{uuid}/cancel` with `{"comment"}` (optional).
async fn cancel(
    State(sim): State<Simulator>,
    Path(uuid): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refusal(&sim, &params) {
        return refusal;
    }
    let comment_ok = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => fields.get("comment").is_none_or(Value::is_string),
        Ok(_) | Err(_) => body.is_empty(),
    };
    if !comment_ok {
        return answer(StatusCode::BAD_REQUEST, json!({ "message": "Erro" }));
    }
    let unknown_in_progress = sim.unknown_in_progress();
    let mut docs = own(&sim).docs.lock();
    let state = docs
        .get(&uuid)
        .copied()
        .or(unknown_in_progress.then_some(D4SignState::WaitingSignatures));
    match state {
        Some(state) if state.in_progress() => {
            docs.insert(uuid, D4SignState::Cancelled);
            answer(StatusCode::OK, json!({ "message": "success" }))
        }
        // The error pair with a 200, as D4Sign answers errors in production.
        Some(D4SignState::Cancelled) => answer(
            StatusCode::OK,
            json!({
                "message": "Document already cancelled.",
                "mensagem_pt": "Documento já cancelado.",
            }),
        ),
        Some(D4SignState::Finished) => answer(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Documento finalizado não pode ser cancelado." }),
        ),
        Some(_) => answer(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Documento arquivado não pode ser cancelado." }),
        ),
        None => answer(
            StatusCode::NOT_FOUND,
            json!({ "message": "Documento não encontrado." }),
        ),
    }
}

/// `GET /documents/{uuid}`: the document in a one-element array, `[]` if unknown.
async fn status(
    State(sim): State<Simulator>,
    Path(uuid): Path<String>,
    Query(params): Params,
) -> Response {
    if let Some(refusal) = refusal(&sim, &params) {
        return refusal;
    }
    let known = state(&sim, &uuid).or(sim
        .unknown_in_progress()
        .then_some(D4SignState::WaitingSignatures));
    let Some(state) = known else {
        return answer(StatusCode::OK, json!([]));
    };
    let (id, name) = state.wire();
    let cancelled = state == D4SignState::Cancelled;
    answer(
        StatusCode::OK,
        json!([{
            "uuidDoc": uuid,
            "nameDoc": "contrato.pdf",
            "type": "application/pdf",
            "size": "118990",
            "pages": "6",
            "uuidSafe": "5afe5afe-0000-4000-8000-000000000001",
            "safeName": "Simulador",
            "statusId": id,
            "statusName": name,
            "statusComment": if cancelled { "Cancelado pela API" } else { "" },
            "whoCanceled": if cancelled { "api@d4sign.invalid" } else { "" },
        }]),
    )
}

/// The checks in front of every call: both credentials, then the rate limit. A wrong
/// credential gets `200` with the error pair, as production answers it.
fn refusal(sim: &Simulator, params: &HashMap<String, String>) -> Option<Response> {
    let given = |name: &str| params.get(name).map(String::as_str);
    if given("tokenAPI") != Some(TOKEN_API) || given("cryptKey") != Some(CRYPT_KEY) {
        return Some(answer(
            StatusCode::OK,
            json!({
                "message": "API error: Check API user.",
                "mensagem_pt": "Chave de API inválida.",
            }),
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let own = own(sim);
    let admitted = lock(&own.window).admit(TOKEN_API, own.requests_per_minute, now);
    admitted.err().map(|refused| {
        let mut response = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "message": "Too many requests." }),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(refused.retry_after));
        response
    })
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests;
