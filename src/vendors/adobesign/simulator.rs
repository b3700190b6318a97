//! Simulated Acrobat Sign REST v6: the refresh grant (`POST /oauth/v2/refresh`, checking the
//! app and the refresh token, issuing expiring access tokens), `GET /api/rest/v6/baseUris`,
//! and an agreement's cancel (`PUT …/agreements/{id}/state`) and read (`GET`), with
//! `{"code","message"}` failures and `429 THROTTLING_TOO_MANY_REQUESTS` with `Retry-After` and
//! `retryAfter`, as the real vendor sends. Docs:
//! <https://opensource.adobe.com/acrobat-sign/developer_guide/apiusage.html>.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};
use access::{admit, base_uris, refresh};

/// The simulated Acrobat Sign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: AdobeSignSim = AdobeSignSim;

/// The OAuth app's application ID the simulator accepts.
pub const CLIENT_ID: &str = "sim-client-id";
/// The OAuth app's secret the simulator accepts.
pub const CLIENT_SECRET: &str = "sim-client-secret";
/// The refresh token the simulator starts with.
pub const REFRESH_TOKEN: &str = "sim-refresh-token";
/// How long an issued access token lasts, unless `token_lifetime_s` says otherwise.
pub const TOKEN_LIFETIME_S: u64 = 3600;
/// Where the account's agreements live with the `moved` option (under the prefix).
pub const MOVED: &str = "/moved";
/// Calls a minute before `429`, unless `requests_per_minute` says otherwise.
pub const REQUESTS_PER_MINUTE: u32 = 600;

/// `POST /oauth/v2/refresh`, counted as `("adobesign", "refresh")`.
pub const REFRESH: Endpoint = Endpoint {
    name: "refresh",
    cancels: false,
};
/// `GET /api/rest/v6/baseUris`, counted as `("adobesign", "base_uris")`.
pub const BASE_URIS: Endpoint = Endpoint {
    name: "base_uris",
    cancels: false,
};
/// `PUT …/agreements/{id}/state`, counted as `("adobesign", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET …/agreements/{id}`, counted as `("adobesign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// An agreement's `status`, as Acrobat Sign names it (the ones the simulator keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgreementState {
    /// `OUT_FOR_SIGNATURE`: cancellable.
    OutForSignature,
    /// `OUT_FOR_APPROVAL`: cancellable.
    OutForApproval,
    /// `SIGNED`.
    Signed,
    /// `CANCELLED`.
    Cancelled,
    /// `EXPIRED`.
    Expired,
    /// `DRAFT`: never sent.
    Draft,
}

impl AgreementState {
    /// The `status` Acrobat Sign reports.
    pub fn wire(self) -> &'static str {
        match self {
            Self::OutForSignature => "OUT_FOR_SIGNATURE",
            Self::OutForApproval => "OUT_FOR_APPROVAL",
            Self::Signed => "SIGNED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Draft => "DRAFT",
        }
    }
}

/// The demo agreements `seed_demo` creates: `CBJCHBCAABAA` + `signgateDemo` + a 20-character
/// tail whose last four digits tell the state (`00NN` out for signature, `01NN` out for
/// approval, `02NN` signed, `03NN` cancelled, `04NN` expired, `05NN` draft).
pub const DEMO: [(&str, AgreementState); 8] = [
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000001",
        AgreementState::OutForSignature,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000002",
        AgreementState::OutForSignature,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000003",
        AgreementState::OutForSignature,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000101",
        AgreementState::OutForApproval,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000201",
        AgreementState::Signed,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000301",
        AgreementState::Cancelled,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000401",
        AgreementState::Expired,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000501",
        AgreementState::Draft,
    ),
];

/// Creates or overwrites an agreement on `sim`.
pub fn seed(sim: &Simulator, agreement: &str, state: AgreementState) {
    own(sim).docs.insert(agreement, state);
}

/// An agreement's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, agreement: &str) -> Option<AgreementState> {
    own(sim).docs.get(agreement)
}

/// The simulated Acrobat Sign: see `SimVendor`.
#[derive(Debug)]
pub struct AdobeSignSim;

impl SimVendor for AdobeSignSim {
    fn name(&self) -> &'static str {
        "adobesign"
    }

    fn prefix(&self) -> &'static str {
        "/adobesign"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[REFRESH, BASE_URIS, CANCEL, STATUS]
    }

    fn router(&self, sim: &Simulator) -> Router {
        let mut router = Router::new()
            .route(
                "/oauth/v2/refresh",
                sim.faulty(&SIM, REFRESH, post(refresh)),
            )
            .route(
                "/api/rest/v6/baseUris",
                sim.faulty(&SIM, BASE_URIS, get(base_uris)),
            );
        // The agreements on the prefix and under `/moved`; only one of them is the account's.
        for host in ["", MOVED] {
            router = router
                .route(
                    &format!("{host}/api/rest/v6/agreements/{{agreement}}/state"),
                    sim.faulty(&SIM, CANCEL, put(cancel)),
                )
                .route(
                    &format!("{host}/api/rest/v6/agreements/{{agreement}}"),
                    sim.faulty(&SIM, STATUS, get(status)),
                );
        }
        router.with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        Options::parse(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = Options::parse(config.vendor_options(self.name())).unwrap_or_default();
        Box::new(Own {
            docs: Documents::default(),
            tokens: Mutex::default(),
            refresh_tokens: Mutex::new(vec![REFRESH_TOKEN.to_owned()]),
            calls: Mutex::default(),
            options,
        })
    }

    /// Acrobat Sign's `{"code","message"}`.
    fn error_body(&self, text: &str) -> Value {
        json!({ "code": "MISC_SERVER_ERROR", "message": text })
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        let options = &own(sim).options;
        let rotation = if options.rotate {
            ", rotated on every use"
        } else {
            ""
        };
        vec![
            format!(
                "POST /adobesign/oauth/v2/refresh (client {CLIENT_ID}/{CLIENT_SECRET}, refresh \
                 token {REFRESH_TOKEN}{rotation}) issues Bearer tokens lasting {} s",
                options.token_lifetime_s
            ),
            format!(
                "agreements under /adobesign{}/api/rest/v6 (GET /adobesign/api/rest/v6/baseUris \
                 names them), at most {} calls a minute",
                if options.moved { MOVED } else { "" },
                options.requests_per_minute
            ),
        ]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (agreement, state) in DEMO {
            seed(sim, agreement, state);
        }
    }

    /// One row per agreement: 44-character IDs do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        DEMO.iter()
            .map(|(agreement, state)| (state.wire(), (*agreement).to_owned()))
            .collect()
    }
}

/// The options (`SimConfig::set_option("adobesign", …)`).
#[derive(Debug, Clone)]
struct Options {
    /// `token_lifetime_s`: the `expires_in` of issued access tokens.
    token_lifetime_s: u64,
    /// `requests_per_minute`: REST calls admitted in each clock minute.
    requests_per_minute: u32,
    /// `rotate_refresh_token`: each refresh answers a new refresh token and retires the old.
    rotate: bool,
    /// `moved`: the account lives under `/moved`; `baseUris` says so.
    moved: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token_lifetime_s: TOKEN_LIFETIME_S,
            requests_per_minute: REQUESTS_PER_MINUTE,
            rotate: false,
            moved: false,
        }
    }
}

impl Options {
    fn parse(options: &VendorOptions) -> Result<Self, String> {
        let mut parsed = Self::default();
        let flag = |value: &str| {
            value
                .parse::<bool>()
                .map_err(|_| format!("`{value}` is not true or false"))
        };
        let number = |value: &str| {
            value
                .parse::<u32>()
                .map_err(|_| format!("`{value}` is not a whole number"))
        };
        for (name, value) in options {
            match name.as_str() {
                "token_lifetime_s" => parsed.token_lifetime_s = number(value)?.into(),
                "requests_per_minute" => parsed.requests_per_minute = number(value)?,
                "rotate_refresh_token" => parsed.rotate = flag(value)?,
                "moved" => parsed.moved = flag(value)?,
                other => {
                    return Err(format!(
                        "the simulated Acrobat Sign has no option `{other}`"
                    ))
                }
            }
        }
        Ok(parsed)
    }
}

/// Acrobat Sign's state on one simulator.
struct Own {
    docs: Documents<AgreementState>,
    /// Issued access tokens and when they expire (seconds since the epoch).
    tokens: Mutex<HashMap<String, u64>>,
    /// Refresh tokens that are valid now.
    refresh_tokens: Mutex<Vec<String>>,
    /// REST calls per clock minute: (minute since the epoch, calls).
    calls: Mutex<(u64, u32)>,
    options: Options,
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds Acrobat Sign's state from simulator::vendors()")
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `PUT …/agreements/{id}/state`: only `CANCELLED`, with an optional cancellation info.
async fn cancel(
    State(sim): State<Simulator>,
    Path(agreement): Path<String>,
    route: MatchedPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = admit(&sim, &headers).and_then(|()| at_home(&sim, &route)) {
        return *refusal;
    }
    if let Some(problem) = invalid_state_body(&body) {
        return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENTS", &problem);
    }
    let unknown_in_progress = sim.unknown_in_progress();
    let mut docs = own(&sim).docs.lock();
    let found = docs
        .get(&agreement)
        .copied()
        .or(unknown_in_progress.then_some(AgreementState::OutForSignature));
    match found {
        Some(AgreementState::OutForSignature | AgreementState::OutForApproval) => {
            docs.insert(agreement, AgreementState::Cancelled);
            StatusCode::NO_CONTENT.into_response()
        }
        // Acrobat Sign documents no code for this; the simulator's stand-in.
        Some(state) => error(
            StatusCode::BAD_REQUEST,
            "INVALID_AGREEMENT_STATE",
            &format!("The agreement is {} and cannot be cancelled.", state.wire()),
        ),
        None => not_found(&agreement),
    }
}

/// What is wrong with a state body, if anything: it must be `{"state":"CANCELLED"}` with at
/// most `agreementCancellationInfo{comment, notifyOthers}` beside it.
fn invalid_state_body(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Some("The request body is not a JSON object.".into());
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "state" | "agreementCancellationInfo"))
    {
        return Some(format!("Unknown field '{extra}'."));
    }
    if fields.get("state").and_then(Value::as_str) != Some("CANCELLED") {
        return Some("Only the state CANCELLED is simulated.".into());
    }
    match fields.get("agreementCancellationInfo") {
        None => None,
        Some(Value::Object(info)) => {
            let fine = info.iter().all(|(key, value)| match key.as_str() {
                "comment" => value.is_string(),
                "notifyOthers" => value.is_boolean(),
                _ => false,
            });
            (!fine).then(|| "agreementCancellationInfo takes comment and notifyOthers.".into())
        }
        Some(_) => Some("agreementCancellationInfo must be an object.".into()),
    }
}

/// `GET …/agreements/{id}`: the agreement's `status`.
async fn status(
    State(sim): State<Simulator>,
    Path(agreement): Path<String>,
    route: MatchedPath,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = admit(&sim, &headers).and_then(|()| at_home(&sim, &route)) {
        return *refusal;
    }
    let found = state(&sim, &agreement).or(sim
        .unknown_in_progress()
        .then_some(AgreementState::OutForSignature));
    match found {
        Some(state) => answer(
            StatusCode::OK,
            json!({ "id": agreement, "name": "Simulated agreement", "status": state.wire() }),
        ),
        None => not_found(&agreement),
    }
}

/// Refuses a call on the host the account does not live on (`/moved` is home with the `moved`
/// option, the prefix itself otherwise) as Acrobat Sign does; its status is undocumented.
fn at_home(sim: &Simulator, route: &MatchedPath) -> Result<(), Box<Response>> {
    let on_moved = route.as_str().contains(&format!("{MOVED}/"));
    if on_moved == own(sim).options.moved {
        return Ok(());
    }
    Err(Box::new(error(
        StatusCode::BAD_REQUEST,
        "INVALID_API_ACCESS_POINT",
        "Request must be made to the correct API access point (e.g. use GET /baseUris).",
    )))
}

/// A malformed ID is `INVALID_AGREEMENT_ID`, a well-formed unknown one `RESOURCE_NOT_FOUND`.
fn not_found(agreement: &str) -> Response {
    let well_formed = agreement.len() == 44
        && agreement.starts_with("CBJCHBCAABAA")
        && agreement
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if well_formed {
        error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "Resource not found",
        )
    } else {
        error(
            StatusCode::NOT_FOUND,
            "INVALID_AGREEMENT_ID",
            "The Agreement ID specified is invalid.",
        )
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, json!({ "code": code, "message": message }))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

mod access;
#[cfg(test)]
mod tests;
