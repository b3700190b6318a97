//! Acrobat Sign's answers, classified: one table for the cancel (`2xx`, then the error
//! `code`, then the status), one for the status read, and the agreement `status` values. Docs:
//! <https://secure.na1.adobesign.com/public/docs/restapi/v6#!/agreements>.

use crate::model::{ErrorCode, Outcome};
use crate::vendors::http;
use crate::vendors::{Answer, DocState, Reply, UpstreamError};

use super::{AgreementBody, Received};

/// What a `code` means, compared without case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ErrorClass {
    /// `RESOURCE_NOT_FOUND`, `INVALID_AGREEMENT_ID`.
    NotFound,
    /// `INVALID_ACCESS_TOKEN`, `PERMISSION_DENIED`.
    Auth,
    /// `THROTTLING_TOO_MANY_REQUESTS`.
    Throttled,
    /// `INVALID_API_ACCESS_POINT`: the account lives on another host.
    WrongHost,
    /// Any other code: undocumented for this call (an agreement already cancelled or signed
    /// among them), settled by a status read.
    Other,
}

pub(super) fn error_class(code: &str) -> ErrorClass {
    match code.to_ascii_uppercase().as_str() {
        "RESOURCE_NOT_FOUND" | "INVALID_AGREEMENT_ID" => ErrorClass::NotFound,
        "INVALID_ACCESS_TOKEN" | "PERMISSION_DENIED" => ErrorClass::Auth,
        "THROTTLING_TOO_MANY_REQUESTS" => ErrorClass::Throttled,
        "INVALID_API_ACCESS_POINT" => ErrorClass::WrongHost,
        _ => ErrorClass::Other,
    }
}

/// The one table for cancel answers: success by status, failures by `code`, then status.
pub(super) fn classify(received: &Received) -> Reply {
    let status = received.raw.status.as_u16();
    let failed = |code: ErrorCode, message: String| {
        Ok(Answer {
            outcome: Outcome::failed(code, message),
            http_status: status,
        })
    };
    match (status, &received.error) {
        // `204 No Content` is documented; the body of any 2xx carries nothing signgate needs.
        (200..=299, _) => Ok(Answer {
            outcome: Outcome::Cancelled,
            http_status: status,
        }),
        (400..=499, Some(error)) => {
            let code = http::excerpt(&error.code);
            match error_class(&error.code) {
                ErrorClass::NotFound => failed(
                    ErrorCode::NotFound,
                    format!("Acrobat Sign does not know this agreement ({code})."),
                ),
                ErrorClass::Auth => failed(
                    ErrorCode::VendorAuthFailed,
                    format!("Acrobat Sign refused signgate's credentials ({code})."),
                ),
                ErrorClass::Throttled => Err(UpstreamError::RateLimited {
                    retry_after: received.retry_after(),
                }),
                // Asked again after baseUris named a host: the configuration is wrong.
                ErrorClass::WrongHost => failed(
                    ErrorCode::Rejected,
                    "Acrobat Sign says the account is not on this API host, even after \
                     baseUris (INVALID_API_ACCESS_POINT)."
                        .into(),
                ),
                // Undocumented refusals: the policy's status read tells cancelled, signed,
                // expired or a draft apart.
                ErrorClass::Other => failed(
                    ErrorCode::VendorRefused,
                    format!(
                        "Acrobat Sign refused the cancel ({code}: {}).",
                        http::excerpt(&error.message)
                    ),
                ),
            }
        }
        (400, None) => failed(
            ErrorCode::Rejected,
            "Acrobat Sign rejected the request as invalid.".into(),
        ),
        (401 | 403, None) => failed(
            ErrorCode::VendorAuthFailed,
            "Acrobat Sign refused signgate's credentials.".into(),
        ),
        (429, None) => Err(UpstreamError::RateLimited {
            retry_after: received.retry_after(),
        }),
        (0..=199 | 300..=399 | 402 | 404..=428 | 430..=499 | 500..=u16::MAX, _) => {
            Err(http::common_error(&received.raw))
        }
    }
}

/// Reads a `GET …/agreements/{id}` answer.
pub(super) fn classify_status(received: &Received) -> Result<DocState, UpstreamError> {
    let status = received.raw.status.as_u16();
    match (status, received.class()) {
        (200..=299, _) => {
            let agreement: AgreementBody = serde_json::from_slice(&received.raw.body)
                .map_err(|_| UpstreamError::BadResponse { status })?;
            state_of(&agreement.status).ok_or(UpstreamError::BadResponse { status })
        }
        (400..=499, Some(ErrorClass::NotFound)) => Ok(DocState::NotFound),
        (400..=499, Some(ErrorClass::Throttled)) | (429, None) => Err(UpstreamError::RateLimited {
            retry_after: received.retry_after(),
        }),
        (400..=499, Some(ErrorClass::Auth | ErrorClass::WrongHost | ErrorClass::Other) | None) => {
            Err(UpstreamError::BadResponse { status })
        }
        (0..=199 | 300..=399 | 500..=u16::MAX, _) => Err(http::common_error(&received.raw)),
    }
}

/// An agreement `status` as a document state (the agreement's own status, not the
/// viewer-relative one of the agreement list).
fn state_of(status: &str) -> Option<DocState> {
    let status = status.to_ascii_uppercase();
    if status.starts_with("OUT_FOR_") || status.starts_with("WAITING_FOR_") {
        return Some(DocState::InProgress);
    }
    Some(match status.as_str() {
        "DOCUMENTS_NOT_YET_PROCESSED" | "WIDGET_WAITING_FOR_VERIFICATION" => DocState::InProgress,
        "SIGNED" | "APPROVED" | "ACCEPTED" | "DELIVERED" | "FORM_FILLED" => DocState::Signed,
        "CANCELLED" => DocState::Cancelled,
        // Expired, or never sent (a draft, in authoring, prefill) or kept for record only:
        // nothing to cancel.
        "EXPIRED" | "DRAFT" | "AUTHORING" | "PREFILL" | "ARCHIVED" => DocState::Closed,
        _ => return None,
    })
}
