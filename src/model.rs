//! Domain types: document codes, vendor names, per-document outcomes and their stable codes.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Longest document code accepted, prefix included.
pub const MAX_CODE_LEN: usize = 128;

/// A document code as the client sent it, guaranteed to be 1 to 128 characters of
/// `A-Z a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentCode(String);

impl DocumentCode {
    /// Parses a code, or says in a sentence fragment what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("must not be empty");
        }
        if raw.chars().count() > MAX_CODE_LEN {
            return Err("must be at most 128 characters");
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if !raw.chars().all(allowed) {
            return Err("contains a character outside A-Z a-z 0-9 . _ : -");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The code exactly as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The explicit `NAME:` prefix and the rest, when the code carries one.
    pub fn split_prefix(&self) -> Option<(&str, &str)> {
        self.0.split_once(':')
    }
}

impl fmt::Display for DocumentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A configured vendor's name (a key under `[vendors]`), cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct VendorName(Arc<str>);

impl VendorName {
    /// Wraps a configured name.
    pub fn new(name: &str) -> Self {
        Self(Arc::from(name))
    }

    /// The name as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for VendorName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VendorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The status of one document in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The vendor cancelled it during this request.
    Cancelled,
    /// It was cancelled or rejected before this request.
    AlreadyCancelled,
    /// It could not be cancelled; the error code says why.
    Failed,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::AlreadyCancelled => "already_cancelled",
            Self::Failed => "failed",
        }
    }
}

/// Why a document was not cancelled: the stable codes of docs/outcomes.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    AlreadyCancelled,
    AlreadySigned,
    NotCancellable,
    NotFound,
    VendorRefused,
    Rejected,
    Unroutable,
    UnknownVendor,
    VendorNotConfigured,
    VendorAuthFailed,
    VendorRateLimited,
    VendorUnavailable,
    VendorTimeout,
    VendorBadResponse,
    DeadlineExceeded,
    Interrupted,
    StatusUnavailable,
    Aborted,
    NeedsAttention,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyCancelled => "already_cancelled",
            Self::AlreadySigned => "already_signed",
            Self::NotCancellable => "not_cancellable",
            Self::NotFound => "not_found",
            Self::VendorRefused => "vendor_refused",
            Self::Rejected => "rejected",
            Self::Unroutable => "unroutable",
            Self::UnknownVendor => "unknown_vendor",
            Self::VendorNotConfigured => "vendor_not_configured",
            Self::VendorAuthFailed => "vendor_auth_failed",
            Self::VendorRateLimited => "vendor_rate_limited",
            Self::VendorUnavailable => "vendor_unavailable",
            Self::VendorTimeout => "vendor_timeout",
            Self::VendorBadResponse => "vendor_bad_response",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Interrupted => "interrupted",
            Self::StatusUnavailable => "status_unavailable",
            Self::Aborted => "aborted",
            Self::NeedsAttention => "needs_attention",
        }
    }

    /// Whether sending the same code again later may succeed.
    pub fn retryable(self) -> bool {
        match self {
            Self::AlreadyCancelled
            | Self::AlreadySigned
            | Self::NotCancellable
            | Self::NotFound
            | Self::VendorRefused
            | Self::Rejected
            | Self::Unroutable
            | Self::UnknownVendor
            | Self::VendorNotConfigured
            | Self::VendorAuthFailed
            | Self::StatusUnavailable
            | Self::Aborted
            | Self::NeedsAttention => false,
            Self::VendorRateLimited
            | Self::VendorUnavailable
            | Self::VendorTimeout
            | Self::VendorBadResponse
            | Self::DeadlineExceeded
            | Self::Interrupted => true,
        }
    }

    /// Parses a wire name back (used when reading the audit store).
    pub fn from_wire(name: &str) -> Option<Self> {
        ALL_ERROR_CODES
            .into_iter()
            .find(|code| code.as_str() == name)
    }
}

/// Every error code, for parsing and documentation tests.
pub const ALL_ERROR_CODES: [ErrorCode; 19] = [
    ErrorCode::AlreadyCancelled,
    ErrorCode::AlreadySigned,
    ErrorCode::NotCancellable,
    ErrorCode::NotFound,
    ErrorCode::VendorRefused,
    ErrorCode::Rejected,
    ErrorCode::Unroutable,
    ErrorCode::UnknownVendor,
    ErrorCode::VendorNotConfigured,
    ErrorCode::VendorAuthFailed,
    ErrorCode::VendorRateLimited,
    ErrorCode::VendorUnavailable,
    ErrorCode::VendorTimeout,
    ErrorCode::VendorBadResponse,
    ErrorCode::DeadlineExceeded,
    ErrorCode::Interrupted,
    ErrorCode::StatusUnavailable,
    ErrorCode::Aborted,
    ErrorCode::NeedsAttention,
];

/// A document's failure: a stable code and a human message (never a credential or raw body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The stable machine code.
    pub code: ErrorCode,
    /// A sentence for humans.
    pub message: String,
}

/// What happened to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Cancelled by this request.
    Cancelled,
    /// Accepted by a vendor that applies cancels later (Dropbox Sign): answered `cancelled`
    /// with `"queued": true`; recovery confirms it with a status read later.
    Queued,
    /// Not cancelled by this request.
    Failed(Failure),
}

impl Outcome {
    /// A failure with the given code and message.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Failed(Failure {
            code,
            message: message.into(),
        })
    }

    /// signgate stopped before the vendor answered, and the vendor cannot be asked.
    pub fn interrupted() -> Self {
        Self::failed(
            ErrorCode::Interrupted,
            "signgate stopped before the vendor answered; the outcome is unknown.",
        )
    }

    /// The status shown in the answer.
    pub fn status(&self) -> Status {
        match self {
            Self::Cancelled | Self::Queued => Status::Cancelled,
            Self::Failed(f) if f.code == ErrorCode::AlreadyCancelled => Status::AlreadyCancelled,
            Self::Failed(_) => Status::Failed,
        }
    }

    /// The failure's code, if any.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Cancelled | Self::Queued => None,
            Self::Failed(f) => Some(f.code),
        }
    }
}

/// A document's state as a status read reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocState {
    /// Still being signed: cancellable.
    InProgress,
    /// Cancelled or rejected.
    Cancelled,
    /// Fully signed.
    Signed,
    /// Expired or otherwise closed.
    Closed,
    /// The vendor does not know it.
    NotFound,
}

impl DocState {
    /// The name stored in the audit trail and shown in its answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Cancelled => "cancelled",
            Self::Signed => "signed",
            Self::Closed => "closed",
            Self::NotFound => "not_found",
        }
    }

    /// Parses a stored name back.
    pub fn from_wire(name: &str) -> Option<Self> {
        [
            Self::InProgress,
            Self::Cancelled,
            Self::Signed,
            Self::Closed,
            Self::NotFound,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// The final result for one requested document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentResult {
    /// The code exactly as sent.
    pub code: DocumentCode,
    /// The vendor it was routed to, when routable.
    pub vendor: Option<VendorName>,
    /// The code sent to the vendor (prefix removed).
    pub vendor_code: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The HTTP status of the vendor's last answer about this document, if one came.
    pub vendor_status: Option<u16>,
    /// How many cancel calls carried this document.
    pub vendor_calls: u32,
    /// The vendor may have acted although the outcome says it is unknown: a recovery reads
    /// the document's status later.
    pub outcome_unknown: bool,
    /// The document's state at the vendor, when a status read settled the outcome.
    pub vendor_state: Option<DocState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_every_allowed_character() {
        assert!(DocumentCode::parse("Az09._-").is_ok());
        assert!(DocumentCode::parse("zapsign:0a1b").is_ok());
    }

    #[test]
    fn parse_rejects_empty_long_and_foreign_characters() {
        assert_eq!(DocumentCode::parse(""), Err("must not be empty"));
        assert!(DocumentCode::parse(&"A".repeat(129)).is_err());
        assert!(DocumentCode::parse(&"A".repeat(128)).is_ok());
        assert!(DocumentCode::parse("AB CD").is_err());
        assert!(DocumentCode::parse("ÄB").is_err());
    }

    #[test]
    fn already_cancelled_failures_have_their_own_status() {
        let outcome = Outcome::failed(ErrorCode::AlreadyCancelled, "x");
        assert_eq!(outcome.status(), Status::AlreadyCancelled);
        assert_eq!(Outcome::Cancelled.status(), Status::Cancelled);
    }

    #[test]
    fn error_codes_round_trip_through_their_wire_names() {
        for code in ALL_ERROR_CODES {
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
        }
    }
}
