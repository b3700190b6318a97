//! Simulated ZapSign API v1 (SPEC 3.2): one refuse per call, Bearer token, mandatory
//! `User-Agent`, a fixed-window rate limit per token, and deliberately varied error bodies
//! (`detail`, `error`, `code`), as the real vendor sends. Docs: <https://docs.zapsign.com.br>.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::simulator::{faults, lock, Endpoint, Simulator};

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

/// `/refuse/` and `/docs/{token}/`, each behind the fault layer.
pub(crate) fn router(sim: Simulator) -> Router {
    let faulty = |endpoint| from_fn_with_state((sim.clone(), endpoint), faults::apply);
    Router::new()
        .route(
            "/refuse/",
            post(refuse).layer(faulty(Endpoint::ZapSignRefuse)),
        )
        .route(
            "/docs/{token}/",
            get(status).layer(faulty(Endpoint::ZapSignStatus)),
        )
        .with_state(sim)
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
    let unknown_in_progress = sim.config().unknown_in_progress;
    let mut docs = lock(&sim.inner.zapsign);
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
    let state = sim.zapsign_state(&token).or(sim
        .config()
        .unknown_in_progress
        .then_some(ZapSignState::Pending));
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
    let config = sim.config();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .filter(|token| *token == config.zapsign_token);
    let Some(token) = token else {
        return Some(answer(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Invalid token." }),
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let admitted = lock(&sim.inner.throttle).admit(token, config.zapsign_requests_per_minute, now);
    admitted.err().map(|retry_after| {
        let mut response = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "detail": "Request was throttled." }),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        response
    })
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, json!({ "detail": "Not found." }))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// ZapSign's rate limit: at most N calls per token in each fixed one-minute window
/// (window = whole minutes since the epoch).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    windows: HashMap<String, (u64, u32)>,
}

impl Throttle {
    const WINDOW_SECS: u64 = 60;

    /// Counts a call at `now` (since the epoch); beyond `limit` in this window, returns the
    /// seconds until the window ends (at least 1), for `Retry-After`.
    pub(crate) fn admit(&mut self, token: &str, limit: u32, now: Duration) -> Result<(), u64> {
        let window = now.as_secs() / Self::WINDOW_SECS;
        let entry = self.windows.entry(token.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let ends = (window + 1) * Self::WINDOW_SECS;
            return Err(ends.saturating_sub(now.as_secs()).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
