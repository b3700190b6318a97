//! Bulk cancellation jobs (docs/jobs.md): `POST /documents/cancel/jobs` writes a job and its
//! documents and answers `202` at once; `GET .../{id}` watches it, `GET .../{id}/results`
//! pages its documents' results, `DELETE .../{id}` stops it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::audit;
use crate::error::ApiError;
use crate::idempotency::{self, Claim, IdempotencyKey};
use crate::jobs::callback::Policy;
use crate::jobs::view::{self, JobView};
use crate::middleware::RequestId;
use crate::routes::cancel::{parse_body, ErrorDto, ParsedBody};
use crate::routes::cancellations::form_urlencoded;
use crate::routes::pipeline::{is_json, unread_body};
use crate::state::AppState;
use crate::store::{AuditRow, Completion, NewJob, RowStatus, Timestamp};

const FIELDS: [&str; 5] = [
    "codes",
    "message",
    "email",
    "notify_signers",
    "callback_url",
];
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// The routes of this resource (authentication is added by the caller). The creation accepts
/// bodies up to `jobs.max_body_bytes`, more than a synchronous cancel.
pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/documents/cancel/jobs",
            post(create).layer(DefaultBodyLimit::max(max_body_bytes)),
        )
        .route("/documents/cancel/jobs/{id}", get(show).delete(stop))
        .route("/documents/cancel/jobs/{id}/results", get(results))
}

async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let jobs = &state.settings.jobs;
    let body = body.map_err(|e| unread_body(&e, jobs.max_body_bytes))?;
    let ParsedBody { command, fields } = parse_body(&body, &FIELDS, jobs.max_documents)?;
    drop(body);
    let callback_url = match fields.get("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => Some(
            crate::jobs::callback::check_url(url, &Policy::from(jobs))
                .map_err(|problem| ApiError::InvalidRequest(format!("callback_url: {problem}")))?
                .to_string(),
        ),
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "callback_url: must be a string".into(),
            ))
        }
    };
    let key = IdempotencyKey::from_headers(&headers)?;
    // Time-ordered, as an attempt id (`pipeline::cancel`): the job's audit rows carry it.
    let id = uuid::Uuid::now_v7().to_string();
    let fingerprinted = json!({ "endpoint": "jobs", "body": fields });
    let lease =
        match idempotency::claim(&state.store, &state.settings, key, &fingerprinted, &id).await? {
            Claim::Replay(stored) => {
                let id = serde_json::from_slice::<Value>(&stored)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
                    .ok_or(ApiError::Internal)?;
                return accepted(&state, &id, true).await;
            }
            Claim::Run(lease) => lease,
        };
    let job = NewJob {
        id: id.clone(),
        request_id,
        total: u32::try_from(command.codes.len()).unwrap_or(u32::MAX),
        email: command.email.clone(),
        message: command.message.clone(),
        notify_signers: command.notify_signers,
        created_at: Timestamp::now(),
        callback_url,
    };
    let rows = crate::jobs::rows(&state.gateway, &job, &command);
    let stored = json!({ "id": id }).to_string();
    let completion = lease.key().map(|key| Completion {
        key,
        attempt_id: &id,
        body: stored.as_bytes(),
        now: job.created_at,
    });
    if let Err(e) = state.store.create_job(&job, &rows, completion).await {
        tracing::error!(error = %e, "A job could not be stored; nothing was sent.");
        lease.finish(&Err(ApiError::Internal)).await;
        return Err(ApiError::unavailable(
            "The job could not be stored; nothing was sent.",
        ));
    }
    tracing::info!(job = %id, documents = job.total, "Job accepted.");
    accepted(&state, &id, false).await
}

/// `202` with the job's location and representation.
async fn accepted(state: &AppState, id: &str, replayed: bool) -> Result<Response, ApiError> {
    let job = load(state, id).await?;
    let mut response = (StatusCode::ACCEPTED, Json(job)).into_response();
    let location = HeaderValue::from_str(&format!("/documents/cancel/jobs/{id}"))
        .map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    if replayed {
        response
            .headers_mut()
            .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn load(state: &AppState, id: &str) -> Result<JobView, ApiError> {
    view::load(state, id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "A job could not be read.");
            ApiError::unavailable("The job store cannot be read.")
        })?
        .ok_or(ApiError::JobNotFound)
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(load(&state, &id).await?))
}

async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let stopped = state
        .store
        .abort_job(&id, Timestamp::now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "A job could not be cancelled.");
            ApiError::unavailable("The job store cannot be written; the job was not cancelled.")
        })?;
    if stopped.is_none() {
        return Err(ApiError::JobNotFound);
    }
    tracing::info!(job = %id, "Job cancelled.");
    Ok(Json(load(&state, &id).await?))
}

/// A page of a job's results.
#[derive(Debug, Serialize)]
struct Page {
    results: Vec<JobResult>,
    next_cursor: Option<String>,
}

/// One document of a job: a cancel's result, or `waiting` / `pending` while it has none.
#[derive(Debug, Serialize)]
struct JobResult {
    code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

impl From<&AuditRow> for JobResult {
    fn from(row: &AuditRow) -> Self {
        let error = audit::result_of(row).and_then(|result| match &result.outcome {
            crate::model::Outcome::Failed(failure) => {
                serde_json::to_value(ErrorDto::from(failure)).ok()
            }
            crate::model::Outcome::Cancelled | crate::model::Outcome::Queued => None,
        });
        Self {
            code: row.code.clone(),
            vendor: row.vendor.clone(),
            status: row.status.as_str(),
            queued: row.queued && row.status != RowStatus::Waiting,
            error,
        }
    }
}

async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page>, ApiError> {
    let (from, limit) = parse_page(query.as_deref().unwrap_or(""))?;
    let unreadable = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "A job's results could not be read.");
        ApiError::unavailable("The job store cannot be read.")
    };
    let Some(job) = state.store.job(&id).await.map_err(unreadable)? else {
        return Err(ApiError::JobNotFound);
    };
    let rows = state
        .store
        .job_rows(&id, from, limit)
        .await
        .map_err(unreadable)?;
    let next = from.saturating_add(limit);
    let next_cursor =
        (rows.len() as u32 == limit && next < job.job.total).then(|| next.to_string());
    Ok(Json(Page {
        results: rows.iter().map(JobResult::from).collect(),
        next_cursor,
    }))
}

/// Reads `cursor` (as a previous page gave it) and `limit` (1 to 1000, default 100).
fn parse_page(query: &str) -> Result<(u32, u32), ApiError> {
    let invalid = |m: &str| ApiError::InvalidRequest(m.to_owned());
    let (mut from, mut limit) = (0, DEFAULT_LIMIT);
    for (name, value) in form_urlencoded(query) {
        match name.as_str() {
            "cursor" => {
                from = value
                    .parse()
                    .map_err(|_| invalid("cursor: must be a cursor a previous page gave"))?
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit: must be a whole number from 1 to 1000"))?
            }
            other => {
                return Err(ApiError::InvalidRequest(format!(
                    "{other}: unknown parameter; expected cursor, limit"
                )))
            }
        }
    }
    Ok((from, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_take_a_cursor_and_a_limit_and_refuse_anything_else() {
        assert_eq!(parse_page("").expect("empty"), (0, DEFAULT_LIMIT));
        assert_eq!(parse_page("cursor=200&limit=50").expect("both"), (200, 50));
        for bad in ["cursor=x", "limit=0", "limit=1001", "page=2"] {
            assert_eq!(
                parse_page(bad).expect_err(bad).code(),
                "invalid_request",
                "{bad}"
            );
        }
    }
}
