//! `GET /documents/cancellations?code=CODE[&limit=N]`: the audit trail of one code.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::ApiError;
use crate::model::{DocState, DocumentCode, ErrorCode};
use crate::state::AppState;
use crate::store::AuditRow;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The routes of this resource (authentication is added by the caller).
pub fn router() -> Router<AppState> {
    Router::new().route("/documents/cancellations", get(history))
}

async fn history(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<History>, ApiError> {
    let (code, limit) = parse_query(query.as_deref().unwrap_or(""))?;
    let rows = state
        .store
        .history(code.as_str(), limit)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "Audit trail could not be read.");
            ApiError::unavailable("The audit store cannot be read.")
        })?;
    Ok(Json(History {
        code: code.as_str().to_owned(),
        attempts: rows.iter().map(Attempt::from).collect(),
    }))
}

/// Reads `code` (required) and `limit` (1 to 500, default 50); any other parameter is refused.
fn parse_query(query: &str) -> Result<(DocumentCode, u32), ApiError> {
    let invalid = |m: String| ApiError::InvalidRequest(m);
    let mut code = None;
    let mut limit = DEFAULT_LIMIT;
    for (name, value) in form_urlencoded(query) {
        match name.as_str() {
            "code" => {
                code = Some(DocumentCode::parse(&value).map_err(|p| invalid(format!("code: {p}")))?)
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit: must be a whole number from 1 to 500".into()))?
            }
            other => {
                return Err(invalid(format!(
                    "{other}: unknown parameter; expected code, limit"
                )))
            }
        }
    }
    let code = code.ok_or_else(|| invalid("code: is required".into()))?;
    Ok((code, limit))
}

/// The decoded `name=value` pairs of a query string, in order.
pub(super) fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://q/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The answer: every attempt on the code, newest first.
#[derive(Debug, Serialize)]
pub struct History {
    code: String,
    attempts: Vec<Attempt>,
}

#[derive(Debug, Serialize)]
struct Attempt {
    request_id: String,
    idempotency_key: Option<String>,
    received_at: String,
    finished_at: Option<String>,
    email: String,
    message: String,
    vendor: Option<String>,
    vendor_code: Option<String>,
    status: &'static str,
    error_code: Option<&'static str>,
    error_message: Option<String>,
    vendor_status: Option<u16>,
    vendor_calls: u32,
    outcome_unknown: bool,
    /// The vendor queued the cancel and it is not confirmed yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
    recovery: Option<Recovered>,
}

/// How a row was resolved after its request could not finish it.
#[derive(Debug, Serialize)]
struct Recovered {
    recovered_at: String,
    recovered_by: Option<String>,
    vendor_state: Option<&'static str>,
}

impl From<&AuditRow> for Attempt {
    fn from(row: &AuditRow) -> Self {
        Self {
            request_id: row.request_id.clone(),
            idempotency_key: row.idempotency_key.clone(),
            received_at: row.received_at.to_rfc3339(),
            finished_at: row.finished_at.map(|t| t.to_rfc3339()),
            email: row.email.clone(),
            message: row.message.clone(),
            vendor: row.vendor.clone(),
            vendor_code: row.vendor_code.clone(),
            // A quarantined row shows its state, whatever it was when quarantined.
            status: match row.error_code {
                Some(ErrorCode::NeedsAttention) => "needs_attention",
                _ => row.status.as_str(),
            },
            error_code: row.error_code.map(ErrorCode::as_str),
            error_message: row.error_message.clone(),
            vendor_status: row.vendor_status,
            vendor_calls: row.vendor_calls,
            outcome_unknown: row.outcome_unknown,
            queued: row.queued,
            recovery: row.recovered_at.map(|at| Recovered {
                recovered_at: at.to_rfc3339(),
                recovered_by: row.recovered_by.clone(),
                vendor_state: row.vendor_state.map(DocState::as_str),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_needs_a_valid_code_and_a_limit_in_range() {
        let (code, limit) = parse_query("code=TR99AQMY31").expect("valid");
        assert_eq!((code.as_str(), limit), ("TR99AQMY31", 50));
        assert_eq!(
            parse_query("code=zapsign%3AX&limit=500").expect("valid").1,
            500
        );
        for bad in [
            "",
            "limit=5",
            "code=a%20b",
            "code=A&limit=0",
            "code=A&limit=501",
            "code=A&x=1",
        ] {
            assert_eq!(
                parse_query(bad).expect_err(bad).code(),
                "invalid_request",
                "{bad}"
            );
        }
    }
}
