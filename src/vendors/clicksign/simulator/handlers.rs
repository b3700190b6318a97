//! The simulated Clicksign's two calls on a document inside its envelope (the cancel, a
//! `PATCH` of its status, and the status read), and the checks in front of both: the access
//! token, then the rate limit.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{errors, own, ClicksignState, ACCESS_TOKEN};
use crate::simulator::window::Admitted;
use crate::simulator::{lock, Simulator};
use crate::vendors::clicksign::client::JSON_API;
use crate::vendors::kind::is_uuid;

/// `PATCH /envelopes/{envelope}/documents/{document}` with
/// `{"data": {"id", "type": "documents", "attributes": {"status": "canceled" | "closed"}}}`.
pub(super) async fn cancel(
    State(sim): State<Simulator>,
    Path((envelope, document)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limit = match admit(&sim, &headers) {
        Ok(limit) => limit,
        Err(refusal) => return refusal.into_response(),
    };
    let response = match wanted_status(&headers, &body, &document) {
        Ok(wanted) => change(&sim, &envelope, &document, wanted),
        Err(refusal) => refusal.into_response(),
    };
    with_limit(response, limit)
}

/// `GET /envelopes/{envelope}/documents/{document}`: the JSON:API document.
pub(super) async fn status(
    State(sim): State<Simulator>,
    Path((envelope, document)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let limit = match admit(&sim, &headers) {
        Ok(limit) => limit,
        Err(refusal) => return refusal.into_response(),
    };
    let response = match current(&sim, &envelope, &document) {
        Some(state) => answer(StatusCode::OK, resource(&envelope, &document, state)),
        None => not_found(),
    };
    with_limit(response, limit)
}

/// The document's state, or an unseeded one as running when so configured; `None` for a pair
/// that is not two UUIDs or a document not in that envelope.
fn current(sim: &Simulator, envelope: &str, document: &str) -> Option<ClicksignState> {
    if !is_uuid(envelope) || !is_uuid(document) {
        return None;
    }
    let known = super::state(sim, &format!("{envelope}:{document}"));
    known.or(sim.unknown_in_progress().then_some(ClicksignState::Running))
}

/// Applies the change to a running document; any other status cannot change.
fn change(sim: &Simulator, envelope: &str, document: &str, wanted: ClicksignState) -> Response {
    let code = format!("{envelope}:{document}");
    let unknown_running = sim.unknown_in_progress() && is_uuid(envelope) && is_uuid(document);
    let mut docs = own(sim).docs.lock();
    let known = docs.get(&code).copied();
    match known.or(unknown_running.then_some(ClicksignState::Running)) {
        Some(ClicksignState::Running) => {
            docs.insert(code, wanted);
            answer(StatusCode::OK, resource(envelope, document, wanted))
        }
        Some(state) => answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "errors": [{
                "code": "unprocessable_entity",
                "status": 422,
                "detail": format!(
                    "status só pode ser alterado em documento em andamento (running); o documento está {}",
                    state.wire()
                ),
                "source": { "pointer": "/data/attributes/status" },
            }] }),
        ),
        None => not_found(),
    }
}

/// The status the body asks for, or the refusal of a body Clicksign would not take.
fn wanted_status(
    headers: &HeaderMap,
    body: &[u8],
    document: &str,
) -> Result<ClicksignState, Refusal> {
    let json_api = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(JSON_API));
    if !json_api {
        return Err(Refusal::NotJsonApi);
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let data = &body["data"];
    let bad = |pointer, detail| Err(Refusal::BadBody { pointer, detail });
    if data["type"] != "documents" {
        return bad("/data/type", "type deve ser documents");
    }
    if data["id"] != document {
        return bad("/data/id", "id deve ser o do documento");
    }
    match data["attributes"]["status"].as_str() {
        Some("canceled") => Ok(ClicksignState::Canceled),
        Some("closed") => Ok(ClicksignState::Closed),
        Some(_) | None => bad(
            "/data/attributes/status",
            "status deve ser canceled ou closed",
        ),
    }
}

/// The JSON:API document of `document` in `envelope`.
fn resource(envelope: &str, document: &str, state: ClicksignState) -> Value {
    json!({ "data": {
        "id": document,
        "type": "documents",
        "attributes": {
            "filename": "contrato.pdf",
            "status": state.wire(),
            "metadata": {},
            "created_at": "2026-01-05T12:00:00.000-03:00",
            "updated_at": "2026-01-05T12:00:00.000-03:00",
        },
        "relationships": { "envelope": { "data": { "id": envelope, "type": "envelopes" } } },
        "links": { "self": format!("/api/v3/envelopes/{envelope}/documents/{document}") },
    } })
}

/// The checks in front of every call: the access token, then the rate limit. Returns the
/// call's place in its window.
fn admit(sim: &Simulator, headers: &HeaderMap) -> Result<Admitted, Refusal> {
    let authorised = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == ACCESS_TOKEN.as_bytes());
    if !authorised {
        return Err(Refusal::Unauthorised);
    }
    let own = own(sim);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    lock(&own.window)
        .admit(own.options.requests_per_10s, now)
        .map_err(Refusal::Limited)
}

/// Why a call was refused before it could change or read anything.
enum Refusal {
    /// No `Authorization` with `ACCESS_TOKEN`.
    Unauthorised,
    /// Beyond the rate limit in this window.
    Limited(Admitted),
    /// A `PATCH` whose `Content-Type` is not JSON:API's.
    NotJsonApi,
    /// A `PATCH` body Clicksign would not take, and where it is wrong.
    BadBody {
        pointer: &'static str,
        detail: &'static str,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorised => answer(
                StatusCode::UNAUTHORIZED,
                errors(401, "unauthorized", "Access Token inválido"),
            ),
            Self::Limited(limit) => with_limit(
                answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    errors(429, "too_many_requests", "Too Many Requests"),
                ),
                limit,
            ),
            Self::NotJsonApi => answer(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                errors(
                    415,
                    "unsupported_media_type",
                    "Content-Type deve ser application/vnd.api+json",
                ),
            ),
            Self::BadBody { pointer, detail } => {
                let mut body = errors(400, "bad_request", detail);
                body["errors"][0]["source"] = json!({ "pointer": pointer });
                answer(StatusCode::BAD_REQUEST, body)
            }
        }
    }
}

/// Adds Clicksign's rate-limit headers (its spelling: `X-Rate-Limit-*`, with a dash).
fn with_limit(mut response: Response, limit: Admitted) -> Response {
    let headers = response.headers_mut();
    headers.insert("X-Rate-Limit", HeaderValue::from(limit.limit));
    headers.insert("X-Rate-Limit-Remaining", HeaderValue::from(limit.remaining));
    headers.insert("X-Rate-Limit-Reset", HeaderValue::from(limit.reset));
    response
}

fn not_found() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        errors(404, "not_found", "Registro não encontrado"),
    )
}

/// A JSON:API answer.
fn answer(status: StatusCode, body: Value) -> Response {
    let content_type = HeaderValue::from_static("application/vnd.api+json; charset=utf-8");
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response()
}
