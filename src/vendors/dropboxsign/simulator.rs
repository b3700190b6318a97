//! Simulated Dropbox Sign API v3: HTTP Basic with the API key and an empty password, a cancel
//! that is queued (an empty `200`) and takes effect after a queue delay, `410 deleted` for a
//! cancelled request, errors as `{"error": {"error_msg", "error_name"}}`, and a fixed-window
//! rate limit per account with Dropbox Sign's `X-RateLimit-*` headers on every answer. Docs:
//! <https://developers.hellosign.com/api/reference/operation/signatureRequestCancel/>.

use std::any::Any;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{lock, Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

use crate::simulator::window::{Admitted, Window};

/// The simulated Dropbox Sign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: DropboxSignSim = DropboxSignSim;

/// The API key the simulator accepts, as the Basic user name with an empty password.
pub const API_KEY: &str = "sim-key";

/// `Authorization` for `API_KEY`: `Basic base64("sim-key:")`.
const AUTHORIZATION: &str = "Basic c2ltLWtleTo=";

/// Dropbox Sign's limit per account in each fixed one-minute window, unless the
/// `requests_per_minute` option says otherwise.
pub const REQUESTS_PER_MINUTE: u32 = 100;

/// How long a queued cancel takes to take effect, unless the `queue_delay_ms` option says
/// otherwise: short, so tests and the demo see it done.
pub const QUEUE_DELAY_MS: u64 = 200;

/// `POST /signature_request/cancel/{id}`, counted as `("dropboxsign", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET /signature_request/{id}`, counted as `("dropboxsign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// The demo documents `seed_demo` creates (ids are 40 hex characters; the last four tell the
/// state: `000N` in progress, `0101` cancelled, `0201` complete, `0301` declined, `0401`
/// expired).
pub const DEMO: [(&str, DropboxSignState); 9] = [
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50001",
        DropboxSignState::InProgress,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50002",
        DropboxSignState::InProgress,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50003",
        DropboxSignState::InProgress,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50004",
        DropboxSignState::InProgress,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50005",
        DropboxSignState::InProgress,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50101",
        DropboxSignState::Cancelled,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50201",
        DropboxSignState::Complete,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50301",
        DropboxSignState::Declined,
    ),
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50401",
        DropboxSignState::Expired,
    ),
];

/// Creates or overwrites a Dropbox Sign signature request on `sim`.
pub fn seed(sim: &Simulator, id: &str, state: DropboxSignState) {
    own(sim).docs.insert(id, state);
}

/// A signature request's state on `sim` now (a queued cancel whose delay passed is
/// `Cancelled`), if the simulator knows it.
pub fn state(sim: &Simulator, id: &str) -> Option<DropboxSignState> {
    own(sim).docs.get(id).map(|s| s.now(Instant::now()))
}

/// A Dropbox Sign signature request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropboxSignState {
    /// Sent, not signed by everyone: cancellable.
    InProgress,
    /// A cancel is queued and takes effect at `effective` (it still reads as in progress).
    Canceling {
        /// When the cancel takes effect.
        effective: Instant,
    },
    /// Cancelled: gone, every call about it answers `410 deleted`.
    Cancelled,
    /// Signed by every signer (`is_complete`).
    Complete,
    /// Declined by a signer (`is_declined`).
    Declined,
    /// Past its `expires_at` unsigned.
    Expired,
}

impl DropboxSignState {
    /// The state at `now`: a queued cancel whose time has come is done.
    pub fn now(self, now: Instant) -> Self {
        match self {
            Self::Canceling { effective } if effective <= now => Self::Cancelled,
            Self::InProgress
            | Self::Canceling { .. }
            | Self::Cancelled
            | Self::Complete
            | Self::Declined
            | Self::Expired => self,
        }
    }
}

/// The simulated Dropbox Sign: see `SimVendor`.
#[derive(Debug)]
pub struct DropboxSignSim;

impl SimVendor for DropboxSignSim {
    fn name(&self) -> &'static str {
        "dropboxsign"
    }

    fn prefix(&self) -> &'static str {
        "/dropboxsign/v3"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[CANCEL, STATUS]
    }

    /// `/signature_request/cancel/{id}` and `/signature_request/{id}`, each behind the fault
    /// layer.
    fn router(&self, sim: &Simulator) -> Router {
        Router::new()
            .route(
                "/signature_request/cancel/{id}",
                sim.faulty(&SIM, CANCEL, post(cancel)),
            )
            .route(
                "/signature_request/{id}",
                sim.faulty(&SIM, STATUS, get(status)),
            )
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        Options::read(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = Options::read(config.vendor_options(self.name())).unwrap_or_default();
        Box::new(Own {
            docs: Documents::default(),
            window: Mutex::new(Window::new(60)),
            options,
        })
    }

    /// Dropbox Sign's error shape; a throttled call is `exceeded_rate`, any other injected
    /// error a server error.
    fn error_body(&self, text: &str) -> Value {
        let name = match text {
            "Request was throttled." => "exceeded_rate",
            _ => "internal_server_error",
        };
        error_body(name, text)
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("api_key", API_KEY)]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        let options = &own(sim).options;
        vec![
            format!(
                "Authorization: Basic base64(\"{API_KEY}:\") (API key, empty password; at most \
                 {} calls a minute)",
                options.requests_per_minute
            ),
            format!(
                "a cancel is queued (empty 200) and done {} ms later (410 deleted)",
                options.queue_delay.as_millis()
            ),
        ]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (id, state) in DEMO {
            seed(sim, id, state);
        }
    }

    /// One row per id: 40 characters do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        let label = |state| match state {
            DropboxSignState::InProgress | DropboxSignState::Canceling { .. } => "in progress",
            DropboxSignState::Cancelled => "already cancelled",
            DropboxSignState::Complete => "signed",
            DropboxSignState::Declined => "declined",
            DropboxSignState::Expired => "expired",
        };
        DEMO.iter()
            .map(|(id, state)| (label(*state), (*id).to_owned()))
            .collect()
    }
}

/// Dropbox Sign's state on one simulator.
struct Own {
    docs: Documents<DropboxSignState>,
    window: Mutex<Window>,
    options: Options,
}

/// Dropbox Sign's options (`SimConfig::set_option("dropboxsign", …)`).
#[derive(Debug, Clone, Copy)]
struct Options {
    /// `requests_per_minute`: the limit per account in each fixed one-minute window.
    requests_per_minute: u32,
    /// `queue_delay_ms`: how long a queued cancel takes to take effect.
    queue_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            requests_per_minute: REQUESTS_PER_MINUTE,
            queue_delay: Duration::from_millis(QUEUE_DELAY_MS),
        }
    }
}

impl Options {
    fn read(options: &VendorOptions) -> Result<Self, String> {
        let mut read = Self::default();
        let whole = |value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{value}` is not a whole number"))
        };
        for (name, value) in options {
            match name.as_str() {
                "requests_per_minute" => {
                    read.requests_per_minute = u32::try_from(whole(value)?)
                        .map_err(|_| format!("`{value}` is too large"))?;
                }
                "queue_delay_ms" => read.queue_delay = Duration::from_millis(whole(value)?),
                other => {
                    return Err(format!(
                        "the simulated Dropbox Sign has no option `{other}`"
                    ))
                }
            }
        }
        Ok(read)
    }
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds Dropbox Sign's state from simulator::vendors()")
}

/// `POST /signature_request/cancel/{id}`: queues the cancel of an eligible request.
async fn cancel(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let limit = match admit(&sim, &headers) {
        Ok(limit) => limit,
        Err(refusal) => return refusal.into_response(),
    };
    let unknown_in_progress = sim.unknown_in_progress();
    let own = own(&sim);
    let now = Instant::now();
    let mut docs = own.docs.lock();
    let current = docs
        .get(&id)
        .map(|s| s.now(now))
        .or(unknown_in_progress.then_some(DropboxSignState::InProgress));
    let response = match current {
        Some(DropboxSignState::InProgress) => {
            let effective = now + own.options.queue_delay;
            docs.insert(id, DropboxSignState::Canceling { effective });
            // Dropbox Sign's success: an empty body.
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")]).into_response()
        }
        Some(DropboxSignState::Canceling { .. }) => error(
            StatusCode::CONFLICT,
            "conflict",
            "An identical request is already being processed.",
        ),
        Some(DropboxSignState::Cancelled) => deleted(),
        Some(DropboxSignState::Complete) => bad_request(
            "This signature request has been completed by all signers and cannot be canceled.",
        ),
        Some(DropboxSignState::Declined) => {
            bad_request("This signature request has been declined and cannot be canceled.")
        }
        Some(DropboxSignState::Expired) => {
            bad_request("This signature request has expired and cannot be canceled.")
        }
        None => not_found(),
    };
    drop(docs);
    with_limit(response, limit)
}

/// `GET /signature_request/{id}`: `{"signature_request": {...}}`, or `410` once cancelled.
async fn status(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let limit = match admit(&sim, &headers) {
        Ok(limit) => limit,
        Err(refusal) => return refusal.into_response(),
    };
    let current = state(&sim, &id).or(sim
        .unknown_in_progress()
        .then_some(DropboxSignState::InProgress));
    let response = match current {
        Some(DropboxSignState::Cancelled) => deleted(),
        Some(state) => {
            Json(json!({ "signature_request": signature_request(&id, state) })).into_response()
        }
        None => not_found(),
    };
    with_limit(response, limit)
}

/// The `SignatureRequestResponse` fields the simulator knows, for a request not cancelled.
fn signature_request(id: &str, state: DropboxSignState) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let day = 24 * 60 * 60;
    let (is_complete, is_declined, expires_at, signer) = match state {
        DropboxSignState::Complete => (true, false, None, "signed"),
        DropboxSignState::Declined => (false, true, None, "declined"),
        DropboxSignState::Expired => (false, false, Some(now - day), "awaiting_signature"),
        DropboxSignState::InProgress
        | DropboxSignState::Canceling { .. }
        | DropboxSignState::Cancelled => (false, false, Some(now + 30 * day), "awaiting_signature"),
    };
    json!({
        "signature_request_id": id,
        "test_mode": true,
        "title": "Simulated agreement",
        "created_at": now - 2 * day,
        "expires_at": expires_at,
        "is_complete": is_complete,
        "is_declined": is_declined,
        "has_error": false,
        "requester_email_address": "sender@example.com",
        "signatures": [{
            "signature_id": format!("{:.32}", id),
            "signer_email_address": "signer@example.com",
            "signer_name": "Simulated Signer",
            "status_code": signer,
        }],
    })
}

/// Why a call was refused before its handler ran.
enum Refusal {
    /// No `Authorization` for `API_KEY`.
    Unauthorised,
    /// Beyond the rate limit in this window.
    Limited(Admitted),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorised => error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized user. No credentials supplied.",
            ),
            Self::Limited(limit) => with_limit(
                error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "exceeded_rate",
                    "Too many requests.",
                ),
                limit,
            ),
        }
    }
}

/// The checks in front of every call: the API key, then the rate limit. Returns the call's
/// place in its window.
fn admit(sim: &Simulator, headers: &HeaderMap) -> Result<Admitted, Refusal> {
    let authorised = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == AUTHORIZATION.as_bytes());
    if !authorised {
        return Err(Refusal::Unauthorised);
    }
    let own = own(sim);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let admitted = lock(&own.window).admit(own.options.requests_per_minute, now);
    admitted.map_err(Refusal::Limited)
}

/// Adds Dropbox Sign's rate-limit headers (its spelling: `X-Ratelimit-Reset`).
fn with_limit(mut response: Response, limit: Admitted) -> Response {
    let headers = response.headers_mut();
    headers.insert("X-RateLimit-Limit", HeaderValue::from(limit.limit));
    headers.insert("X-RateLimit-Remaining", HeaderValue::from(limit.remaining));
    headers.insert("X-Ratelimit-Reset", HeaderValue::from(limit.reset));
    response
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn deleted() -> Response {
    error(
        StatusCode::GONE,
        "deleted",
        "This resource has been deleted.",
    )
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "Not found.")
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(error_body(name, message))).into_response()
}

fn error_body(name: &str, message: &str) -> Value {
    json!({ "error": { "error_msg": message, "error_name": name } })
}

#[cfg(test)]
mod tests;
