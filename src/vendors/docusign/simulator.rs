//! Simulated DocuSign eSignature REST v2.1: the JWT grant (`/oauth/token`, assertions checked
//! against a configured public key), `/oauth/userinfo`, and the envelope's void (`PUT`) and
//! read (`GET`), with `400` + `errorCode` failures and `X-RateLimit-*` headers, as the real
//! vendor sends. Docs: <https://developers.docusign.com/docs/esign-rest-api/>.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Claims, GRANT_TYPE};
use crate::simulator::{lock, Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

/// The simulated DocuSign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: DocuSignSim = DocuSignSim;

/// The access token the simulator always accepts (`Authorization: Bearer sim-token`).
pub const TOKEN: &str = "sim-token";
/// The one account, default for every user.
pub const ACCOUNT: &str = "sim-account";
/// DocuSign's hourly limit per account, unless the `requests_per_hour` option says otherwise.
pub const REQUESTS_PER_HOUR: u32 = 3000;
/// How long an issued token lasts.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// `POST /oauth/token`, counted as `("docusign", "token")`.
pub const TOKEN_ENDPOINT: Endpoint = Endpoint {
    name: "token",
    cancels: false,
};
/// `GET /oauth/userinfo`, counted as `("docusign", "userinfo")`.
pub const USERINFO: Endpoint = Endpoint {
    name: "userinfo",
    cancels: false,
};
/// `PUT …/envelopes/{id}`, counted as `("docusign", "void")`.
pub const VOID: Endpoint = Endpoint {
    name: "void",
    cancels: true,
};
/// `GET …/envelopes/{id}`, counted as `("docusign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// An envelope's state, as DocuSign's `status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeState {
    /// A draft (`created`): not voidable.
    Created,
    /// Sent to the signers (`sent`): voidable.
    Sent,
    /// Opened by a signer (`delivered`): voidable.
    Delivered,
    /// Signed by everyone (`completed`).
    Completed,
    /// A signer declined (`declined`).
    Declined,
    /// Voided (`voided`).
    Voided,
}

impl EnvelopeState {
    /// The `status` DocuSign reports.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Completed => "completed",
            Self::Declined => "declined",
            Self::Voided => "voided",
        }
    }
}

/// The demo envelopes `seed_demo` creates (the last group tells the state: `00000000000N`
/// sent, `0000000000 1N` delivered, `…01N` voided, `…02N` completed, `…03N` declined,
/// `…04N` draft).
pub const DEMO: [(&str, EnvelopeState); 9] = [
    ("d5d5d5d5-0000-4000-8000-000000000001", EnvelopeState::Sent),
    ("d5d5d5d5-0000-4000-8000-000000000002", EnvelopeState::Sent),
    ("d5d5d5d5-0000-4000-8000-000000000003", EnvelopeState::Sent),
    (
        "d5d5d5d5-0000-4000-8000-000000000011",
        EnvelopeState::Delivered,
    ),
    (
        "d5d5d5d5-0000-4000-8000-000000000012",
        EnvelopeState::Delivered,
    ),
    (
        "d5d5d5d5-0000-4000-8000-000000000101",
        EnvelopeState::Voided,
    ),
    (
        "d5d5d5d5-0000-4000-8000-000000000201",
        EnvelopeState::Completed,
    ),
    (
        "d5d5d5d5-0000-4000-8000-000000000301",
        EnvelopeState::Declined,
    ),
    (
        "d5d5d5d5-0000-4000-8000-000000000401",
        EnvelopeState::Created,
    ),
];

/// Creates or overwrites an envelope on `sim`.
pub fn seed(sim: &Simulator, envelope: &str, state: EnvelopeState) {
    own(sim).docs.insert(envelope, state);
}

/// An envelope's state on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, envelope: &str) -> Option<EnvelopeState> {
    own(sim).docs.get(envelope)
}

/// The simulated DocuSign: see `SimVendor`.
#[derive(Debug)]
pub struct DocuSignSim;

impl SimVendor for DocuSignSim {
    fn name(&self) -> &'static str {
        "docusign"
    }

    fn prefix(&self) -> &'static str {
        "/docusign"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[TOKEN_ENDPOINT, USERINFO, VOID, STATUS]
    }

    fn router(&self, sim: &Simulator) -> Router {
        let envelope =
            sim.faulty(&SIM, VOID, put(void))
                .merge(sim.faulty(&SIM, STATUS, get(status)));
        Router::new()
            .route(
                "/oauth/token",
                sim.faulty(&SIM, TOKEN_ENDPOINT, post(token)),
            )
            .route("/oauth/userinfo", sim.faulty(&SIM, USERINFO, get(userinfo)))
            .route(
                "/restapi/v2.1/accounts/{account}/envelopes/{envelope}",
                envelope,
            )
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        Options::parse(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = Options::parse(config.vendor_options(self.name())).unwrap_or_default();
        Box::new(Own {
            docs: Documents::default(),
            issued: Mutex::default(),
            calls: Mutex::default(),
            options,
        })
    }

    /// DocuSign's `errorDetails`.
    fn error_body(&self, text: &str) -> Value {
        json!({ "errorCode": "INTERNAL_SERVER_ERROR", "message": text })
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("access_token", TOKEN), ("account_id", ACCOUNT)]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        let own = own(sim);
        let grant = if own.options.public_key.is_some() {
            "JWT grant at /docusign/oauth/token checked against the configured public key"
        } else {
            "no JWT grant (start with --vendor-option docusign.public_key_file=FILE)"
        };
        vec![
            format!("Authorization: Bearer {TOKEN}, account {ACCOUNT}; {grant}"),
            format!("at most {} calls an hour", own.options.requests_per_hour),
        ]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (envelope, state) in DEMO {
            seed(sim, envelope, state);
        }
    }

    /// One row per envelope: UUIDs do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        DEMO.iter()
            .map(|(envelope, state)| (state.wire(), (*envelope).to_owned()))
            .collect()
    }
}

/// The options (`SimConfig::set_option("docusign", …)`).
#[derive(Clone)]
struct Options {
    /// `public_key_file`: the PEM public key that checks JWT assertions.
    public_key: Option<DecodingKey>,
    /// `requests_per_hour`: the account's limit in each clock hour.
    requests_per_hour: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            public_key: None,
            requests_per_hour: REQUESTS_PER_HOUR,
        }
    }
}

impl Options {
    fn parse(options: &VendorOptions) -> Result<Self, String> {
        let mut parsed = Self::default();
        for (name, value) in options {
            match name.as_str() {
                "public_key_file" => {
                    let pem = std::fs::read(value)
                        .map_err(|e| format!("`{value}` cannot be read: {e}"))?;
                    let key = DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| format!("`{value}` is not an RSA public key (PEM): {e}"))?;
                    parsed.public_key = Some(key);
                }
                "requests_per_hour" => {
                    parsed.requests_per_hour = value
                        .parse()
                        .map_err(|_| format!("`{value}` is not a whole number"))?;
                }
                other => return Err(format!("the simulated DocuSign has no option `{other}`")),
            }
        }
        Ok(parsed)
    }
}

/// DocuSign's state on one simulator.
struct Own {
    docs: Documents<EnvelopeState>,
    /// Tokens issued by the JWT grant, with when they expire (seconds since the epoch).
    issued: Mutex<HashMap<String, u64>>,
    /// REST calls per clock hour: (hour since the epoch, calls).
    calls: Mutex<(u64, u32)>,
    options: Options,
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds DocuSign's state from simulator::vendors()")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The token request's form.
#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    assertion: Option<String>,
}

/// `POST /oauth/token`: the JWT grant.
async fn token(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let oauth_error = |error: &str, description: &str| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": error, "error_description": description }),
        )
    };
    if form.grant_type.as_deref() != Some(GRANT_TYPE) {
        return oauth_error(
            "unsupported_grant_type",
            "grant_type must be the JWT bearer grant",
        );
    }
    let Some(assertion) = form.assertion.filter(|a| !a.is_empty()) else {
        return oauth_error("invalid_request", "assertion is missing");
    };
    let own = own(&sim);
    let Some(key) = &own.options.public_key else {
        return oauth_error("invalid_grant", "no_public_key_configured");
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[host]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let Ok(claims) = jsonwebtoken::decode::<Claims>(&assertion, key, &validation) else {
        return oauth_error("invalid_grant", "the assertion does not verify");
    };
    let scopes: Vec<&str> = claims.claims.scope.split(' ').collect();
    if !scopes.contains(&"signature") || !scopes.contains(&"impersonation") {
        return oauth_error("consent_required", "signature impersonation is required");
    }
    let issued = format!("sim-jwt-{}", uuid::Uuid::new_v4());
    lock(&own.issued).insert(issued.clone(), now() + TOKEN_LIFETIME.as_secs());
    answer(
        StatusCode::OK,
        json!({
            "access_token": issued,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME.as_secs(),
        }),
    )
}

/// `GET /oauth/userinfo`: the one user and account, at this simulator's own URL.
async fn userinfo(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    if !authorized(&sim, &headers) {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid_request", "error_description": "The access token provided is expired, revoked or malformed." }),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    answer(
        StatusCode::OK,
        json!({
            "sub": "sim-user",
            "name": "Simulated User",
            "email": "sim-user@example.com",
            "accounts": [{
                "account_id": ACCOUNT,
                "is_default": true,
                "account_name": "Simulated account",
                "base_uri": format!("http://{host}{}", SIM.prefix()),
            }],
        }),
    )
}

/// `PUT …/envelopes/{id}`: only `{"status":"voided","voidedReason"}` is accepted.
async fn void(
    State(sim): State<Simulator>,
    Path((account, envelope)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limits = match admit(&sim, &headers, &account) {
        Ok(limits) => limits,
        Err(refusal) => return *refusal,
    };
    let invalid = |message: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAMETER",
            message,
        )
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return with_limits(
            invalid("The request body is missing or improperly formatted."),
            limits,
        );
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "status" | "voidedReason"))
    {
        let message = format!("The request contained at least one invalid parameter: '{extra}'.");
        return with_limits(invalid(&message), limits);
    }
    if fields.get("status").and_then(Value::as_str) != Some("voided") {
        return with_limits(invalid("Only 'voided' may be set here."), limits);
    }
    let has_reason = fields
        .get("voidedReason")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.trim().is_empty());
    if !has_reason {
        return with_limits(
            invalid("Value for 'voidedReason' must be specified when voiding an envelope."),
            limits,
        );
    }
    let unknown_in_progress = sim.unknown_in_progress();
    let mut docs = own(&sim).docs.lock();
    let found = docs
        .get(&envelope)
        .copied()
        .or(unknown_in_progress.then_some(EnvelopeState::Sent));
    let response = match found {
        Some(EnvelopeState::Sent | EnvelopeState::Delivered) => {
            docs.insert(envelope.clone(), EnvelopeState::Voided);
            answer(StatusCode::OK, json!({ "envelopeId": envelope }))
        }
        Some(_) => error(
            StatusCode::BAD_REQUEST,
            "ENVELOPE_CANNOT_VOID_INVALID_STATE",
            "Only envelopes in the 'Sent' or 'Delivered' states may be voided.",
        ),
        None => does_not_exist(),
    };
    with_limits(response, limits)
}

/// `GET …/envelopes/{id}`: the envelope's `status`.
async fn status(
    State(sim): State<Simulator>,
    Path((account, envelope)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let limits = match admit(&sim, &headers, &account) {
        Ok(limits) => limits,
        Err(refusal) => return *refusal,
    };
    let found = state(&sim, &envelope).or(sim.unknown_in_progress().then_some(EnvelopeState::Sent));
    let response = match found {
        Some(state) => answer(
            StatusCode::OK,
            json!({ "envelopeId": envelope, "status": state.wire() }),
        ),
        None => does_not_exist(),
    };
    with_limits(response, limits)
}

/// The `X-RateLimit-*` values of one admitted call: limit, remaining, reset.
type Limits = (u32, u32, u64);

/// The checks in front of every REST call, in DocuSign's order: token, account, hourly limit.
fn admit(sim: &Simulator, headers: &HeaderMap, account: &str) -> Result<Limits, Box<Response>> {
    if !authorized(sim, headers) {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "USER_AUTHENTICATION_FAILED",
            "One or both of Username and Password are invalid. Invalid access token",
        )));
    }
    if account != ACCOUNT {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "USER_DOES_NOT_BELONG_TO_SPECIFIED_ACCOUNT",
            "The specified User is not a member of the specified Account.",
        )));
    }
    let own = own(sim);
    let limit = own.options.requests_per_hour;
    let now = now();
    let hour = now / 3600;
    let reset = (hour + 1) * 3600;
    let mut calls = lock(&own.calls);
    if calls.0 != hour {
        *calls = (hour, 0);
    }
    if calls.1 >= limit {
        let message = format!(
            "The maximum number of hourly API invocations has been exceeded. The hourly limit is {limit}."
        );
        let refusal = error(
            StatusCode::BAD_REQUEST,
            "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
            &message,
        );
        return Err(Box::new(with_limits(refusal, (limit, 0, reset))));
    }
    calls.1 += 1;
    Ok((limit, limit - calls.1, reset))
}

/// Whether the call carries `sim-token` or a token the grant issued that has not expired.
fn authorized(sim: &Simulator, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    token == TOKEN
        || lock(&own(sim).issued)
            .get(token)
            .is_some_and(|expires| *expires > now())
}

fn with_limits(mut response: Response, (limit, remaining, reset): Limits) -> Response {
    let headers = response.headers_mut();
    headers.insert("X-RateLimit-Limit", HeaderValue::from(limit));
    headers.insert("X-RateLimit-Remaining", HeaderValue::from(remaining));
    headers.insert("X-RateLimit-Reset", HeaderValue::from(reset));
    response
}

fn does_not_exist() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "ENVELOPE_DOES_NOT_EXIST",
        "The envelope specified either does not exist or you have no rights to the envelope.",
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, json!({ "errorCode": code, "message": message }))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests;
