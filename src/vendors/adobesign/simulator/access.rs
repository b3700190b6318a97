//! The simulated Acrobat Sign's access side: the refresh grant (the app, then the refresh
//! token; expiring access tokens, rotated refresh tokens on request), `baseUris` (naming
//! `/moved` with the `moved` option), and the
//! checks in front of every REST call (the token, then the account's minute, answering
//! `429 THROTTLING_TOO_MANY_REQUESTS` with `Retry-After` and `retryAfter`). Docs:
//! <https://opensource.adobe.com/acrobat-sign/developer_guide/oauth.html>.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, error, now, own, CLIENT_ID, CLIENT_SECRET, MOVED, SIM};
use crate::simulator::{lock, SimVendor, Simulator};

/// The refresh request's form.
#[derive(Deserialize)]
pub(super) struct RefreshForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// `POST /oauth/v2/refresh`: checks the app, then the refresh token.
pub(super) async fn refresh(
    State(sim): State<Simulator>,
    Form(form): Form<RefreshForm>,
) -> Response {
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        answer(
            status,
            json!({ "error": error, "error_description": description }),
        )
    };
    if form.grant_type.as_deref() != Some("refresh_token") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type must be refresh_token",
        );
    }
    if form.client_id.as_deref() != Some(CLIENT_ID)
        || form.client_secret.as_deref() != Some(CLIENT_SECRET)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client id or secret",
        );
    }
    let own = own(&sim);
    let mut valid = lock(&own.refresh_tokens);
    let Some(used) = form.refresh_token.filter(|t| valid.contains(t)) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid, expired or revoked",
        );
    };
    let lifetime = own.options.token_lifetime_s;
    let issued = format!("sim-at-{}", uuid::Uuid::new_v4());
    lock(&own.tokens).insert(issued.clone(), now().as_secs() + lifetime);
    let mut body = json!({
        "access_token": issued,
        "token_type": "Bearer",
        "expires_in": lifetime,
    });
    if own.options.rotate {
        let rotated = format!("sim-rt-{}", uuid::Uuid::new_v4());
        valid.retain(|t| t != &used);
        valid.push(rotated.clone());
        body["refresh_token"] = Value::from(rotated);
    }
    answer(StatusCode::OK, body)
}

/// `GET /api/rest/v6/baseUris`: this simulator's own URL, ending in `/` as Acrobat Sign's does.
pub(super) async fn base_uris(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    if let Err(refusal) = admit(&sim, &headers) {
        return *refusal;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let home = if own(&sim).options.moved { MOVED } else { "" };
    let point = format!("http://{host}{}{home}/", SIM.prefix());
    answer(
        StatusCode::OK,
        json!({ "apiAccessPoint": point, "webAccessPoint": point }),
    )
}

/// The checks in front of every REST call: the token, then the account's minute.
pub(super) fn admit(sim: &Simulator, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let own = own(sim);
    let now = now().as_secs();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| lock(&own.tokens).get(t).is_some_and(|exp| *exp > now));
    if !valid {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_ACCESS_TOKEN",
            "Access token provided is invalid or has expired",
        )));
    }
    let limit = own.options.requests_per_minute;
    let minute = now / 60;
    let mut calls = lock(&own.calls);
    if calls.0 != minute {
        *calls = (minute, 0);
    }
    if calls.1 >= limit {
        let wait = (minute + 1) * 60 - now;
        let mut refusal = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "code": "THROTTLING_TOO_MANY_REQUESTS",
                "message": format!("Too many requests; retry in {wait} seconds (apiActionId=sim)"),
                "retryAfter": wait,
            }),
        );
        refusal
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Err(Box::new(refusal));
    }
    calls.1 += 1;
    Ok(())
}
