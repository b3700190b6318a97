//! `ApiError`: a whole request failed. The only place request-level statuses and codes live.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a request was refused or failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not an object.
    #[error("{0}")]
    InvalidJson(String),
    /// A field breaks a rule; the message names it.
    #[error("{0}")]
    InvalidRequest(String),
    /// A code appears twice.
    #[error("{0}")]
    DuplicateCode(String),
    /// More codes than `server.max_documents`.
    #[error("{0}")]
    TooManyDocuments(String),
    /// Missing or wrong API key.
    #[error("A valid API key is required.")]
    Unauthorized,
    /// No such route.
    #[error("No such endpoint.")]
    NotFound,
    /// No bulk job with this id (never created, or purged by the retention).
    #[error("No job with this id.")]
    JobNotFound,
    /// The route exists but not with this method.
    #[error("This endpoint does not accept this method.")]
    MethodNotAllowed,
    /// The same `Idempotency-Key` is still being processed.
    #[error("A request with this Idempotency-Key is still being processed; retry later.")]
    IdempotencyKeyInUse,
    /// The body is larger than `server.max_body_bytes`.
    #[error("The body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    /// The body did not arrive within `server.body_read_timeout_ms`.
    #[error("The request body did not arrive in time (server.body_read_timeout_ms).")]
    BodyTimeout,
    /// Not `application/json`.
    #[error("The body must be sent as Content-Type: application/json.")]
    UnsupportedMediaType,
    /// The same `Idempotency-Key` came with a different body.
    #[error("This Idempotency-Key was already used with a different request body.")]
    IdempotencyKeyReused,
    /// The inbound rate limit was reached.
    #[error("Too many requests; retry later.")]
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// Shutting down, overloaded, or the store cannot be written; no vendor was called.
    #[error("{message}")]
    Unavailable {
        /// What is unavailable.
        message: String,
        /// When to retry.
        retry_after: Duration,
    },
    /// A bug; logged in full where it happened.
    #[error("Internal error; it has been logged.")]
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_)
            | Self::InvalidRequest(_)
            | Self::DuplicateCode(_)
            | Self::TooManyDocuments(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::JobNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidRequest(_) => "invalid_request",
            Self::DuplicateCode(_) => "duplicate_code",
            Self::TooManyDocuments(_) => "too_many_documents",
            Self::Unauthorized => "unauthorized",
            Self::NotFound | Self::JobNotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::BodyTimeout => "body_timeout",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// An error standing for a status produced outside our handlers (axum or a tower layer).
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::BodyTimeout,
            413 => Self::PayloadTooLarge(0),
            415 => Self::UnsupportedMediaType,
            400 => Self::InvalidRequest("The request could not be read.".into()),
            503 => Self::unavailable("The service is overloaded; retry later."),
            0..=399 | 401..=403 | 406 | 407 | 409..=412 | 414 | 416..=502 | 504..=u16::MAX => {
                Self::Internal
            }
        }
    }

    /// `503` with the standard one-second `Retry-After`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after: Duration::from_secs(1),
        }
    }

    /// Renders the shared error body, with the request id.
    pub fn render(&self, request_id: &str) -> Response {
        let message = self.message();
        let body = Envelope {
            error: Body {
                code: self.code(),
                message: &message,
                request_id,
            },
        };
        self.with_retry_after((self.status(), axum::Json(body)).into_response())
    }

    /// Renders the body Auco's clients read, `{"message": ...}`, with the same status and
    /// `Retry-After` as `render`.
    pub fn render_message_only(&self) -> Response {
        let body = MessageOnly {
            message: &self.message(),
        };
        self.with_retry_after((self.status(), axum::Json(body)).into_response())
    }

    fn message(&self) -> String {
        match self {
            Self::PayloadTooLarge(0) => "The body is too large.".to_owned(),
            other => other.to_string(),
        }
    }

    fn with_retry_after(&self, mut response: Response) -> Response {
        let retry_after = match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => {
                Some(retry_after.as_secs().max(1))
            }
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    /// Renders without a request id and leaves the error in the extensions, where the request
    /// middleware finds it and renders it again with the id.
    fn into_response(self) -> Response {
        let mut response = self.render("");
        response.extensions_mut().insert(self);
        response
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'static str,
    message: &'a str,
    request_id: &'a str,
}

#[derive(Serialize)]
struct MessageOnly<'a> {
    message: &'a str,
}
