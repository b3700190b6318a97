//! `UpstreamError`: "we could not find out what happened" at a vendor, in vendor-neutral terms.

use std::time::Duration;

use crate::model::{ErrorCode, Outcome};

/// Why a vendor call gave no usable answer. Vendor-specific bodies never reach this type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The connection could not be made: nothing was sent, so a retry is safe.
    #[error("could not connect to the vendor")]
    Connect,
    /// No answer within the vendor timeout, after the request may have been sent.
    #[error("the vendor did not answer in time")]
    Timeout,
    /// The connection broke after the request may have been sent.
    #[error("the connection to the vendor broke")]
    Transport,
    /// `429`: the vendor is limiting signgate's rate.
    #[error("the vendor answered 429")]
    RateLimited {
        /// The vendor's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// `5xx`: the vendor failed, possibly after acting on the request.
    #[error("the vendor answered {status}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The vendor's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// An answer that cannot be understood or attributed.
    #[error("the vendor's answer ({status}) could not be understood")]
    BadResponse {
        /// The HTTP status of that answer.
        status: u16,
    },
    /// `409`: the vendor is already processing an identical request (Dropbox Sign); it may be
    /// cancelling the document right now.
    #[error("the vendor is already processing an identical request")]
    Conflict,
    /// Auco refused a batch of several codes without saying which one broke it.
    #[error("the vendor refused the batch without naming the code")]
    BatchRejected,
    /// The vendor's circuit breaker is open; no call was made.
    #[error("the vendor's circuit breaker is open")]
    CircuitOpen,
    /// The request's deadline would pass before the call could be made; nothing was sent.
    #[error("the request's deadline passed before the vendor could be called")]
    Deadline,
    /// The rate limit shared with the other replicas could not be reserved (the store did not
    /// answer in time or failed): nothing was sent, so the limit is never exceeded blindly.
    #[error("the rate limit shared with the other replicas could not be checked")]
    PacingUnavailable,
    /// The vendor cannot do what was asked (for example, it has no status read).
    #[error("the vendor does not support this operation")]
    Unsupported,
}

/// What an `UpstreamError` means to each part of signgate: one table, `UpstreamError::class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// The document error code it becomes when nothing better is known.
    pub code: ErrorCode,
    /// The vendor may have acted on the request, so it must not be re-sent blindly.
    pub ambiguous: bool,
    /// Nothing was done at the vendor, so the policy may send again at once (docs/design.md, The policy).
    pub retry_safe: bool,
    /// It counts as a vendor failure for the circuit breaker.
    pub breaker_failure: bool,
}

impl UpstreamError {
    /// The one classification table: every variant, no catch-all.
    pub fn class(&self) -> Class {
        let class = |code, ambiguous, retry_safe, breaker_failure| Class {
            code,
            ambiguous,
            retry_safe,
            breaker_failure,
        };
        use ErrorCode::{
            DeadlineExceeded, Rejected, VendorBadResponse, VendorRateLimited, VendorTimeout,
            VendorUnavailable,
        };
        match self {
            Self::Connect => class(VendorUnavailable, false, true, true),
            Self::Timeout => class(VendorTimeout, true, false, true),
            Self::Transport => class(VendorUnavailable, true, false, true),
            Self::RateLimited { .. } => class(VendorRateLimited, false, true, false),
            // A `503` says the vendor did not take the request: safe to send again.
            Self::Server { status: 503, .. } => class(VendorUnavailable, false, true, true),
            Self::Server { .. } => class(VendorUnavailable, true, false, true),
            Self::BadResponse { .. } => class(VendorBadResponse, true, false, false),
            Self::Conflict => class(VendorUnavailable, true, false, false),
            Self::BatchRejected => class(Rejected, false, false, false),
            Self::CircuitOpen => class(VendorUnavailable, false, false, false),
            Self::Deadline => class(DeadlineExceeded, false, false, false),
            Self::PacingUnavailable => class(VendorRateLimited, false, false, false),
            Self::Unsupported => class(VendorBadResponse, false, false, false),
        }
    }

    /// The document error code this becomes when nothing better is known.
    pub fn code(&self) -> ErrorCode {
        self.class().code
    }

    /// Whether the vendor may have acted on the request (so it must not be re-sent blindly).
    pub fn is_ambiguous(&self) -> bool {
        self.class().ambiguous
    }

    /// The HTTP status of the vendor's answer, when one came.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::RateLimited { .. } => Some(429),
            Self::Server { status, .. } | Self::BadResponse { status } => Some(*status),
            Self::BatchRejected => Some(400),
            Self::Conflict => Some(409),
            Self::Connect
            | Self::Timeout
            | Self::Transport
            | Self::CircuitOpen
            | Self::Deadline
            | Self::PacingUnavailable
            | Self::Unsupported => None,
        }
    }

    /// The vendor's requested wait, for `429` and `5xx`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Server { retry_after, .. } => *retry_after,
            Self::Connect
            | Self::Timeout
            | Self::Transport
            | Self::BadResponse { .. }
            | Self::Conflict
            | Self::BatchRejected
            | Self::CircuitOpen
            | Self::Deadline
            | Self::PacingUnavailable
            | Self::Unsupported => None,
        }
    }

    /// The document's final outcome when this error is the last word.
    pub fn into_outcome(self) -> Outcome {
        let message = match &self {
            Self::Connect => "Could not connect to the vendor; the cancel was not sent.".into(),
            Self::CircuitOpen => {
                "The vendor is failing; signgate is not calling it for a while.".into()
            }
            Self::RateLimited { .. } => "The vendor kept limiting signgate's rate.".into(),
            Self::Deadline => {
                "The request's deadline passed before the vendor could be called; nothing was sent."
                    .into()
            }
            Self::PacingUnavailable => {
                "The rate limit shared with the other replicas could not be checked; nothing was \
                 sent."
                    .into()
            }
            Self::Timeout
            | Self::Transport
            | Self::Server { .. }
            | Self::BadResponse { .. }
            | Self::Conflict
                if self.is_ambiguous() =>
            {
                format!("{self}; whether the document was cancelled is unknown.")
            }
            Self::Timeout
            | Self::Transport
            | Self::Server { .. }
            | Self::BadResponse { .. }
            | Self::Conflict
            | Self::BatchRejected
            | Self::Unsupported => format!("{self}."),
        };
        Outcome::failed(self.code(), capitalise(&message))
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_errors_say_the_outcome_is_unknown() {
        let Outcome::Failed(f) = UpstreamError::Timeout.into_outcome() else {
            panic!("a timeout is a failure");
        };
        assert_eq!(f.code, ErrorCode::VendorTimeout);
        assert!(f.message.contains("unknown"), "{}", f.message);
        assert!(f.code.retryable());
    }

    #[test]
    fn an_unchecked_shared_rate_limit_is_rate_limited_retryable_and_says_nothing_was_sent() {
        let Outcome::Failed(f) = UpstreamError::PacingUnavailable.into_outcome() else {
            panic!("an unchecked rate limit is a failure");
        };
        assert_eq!(f.code, ErrorCode::VendorRateLimited);
        assert!(f.code.retryable());
        assert!(f.message.contains("nothing was sent"), "{}", f.message);
    }

    #[test]
    fn only_what_the_vendor_did_not_take_is_retried_at_once_and_only_maybe_sent_is_ambiguous() {
        let server = |status| UpstreamError::Server {
            status,
            retry_after: None,
        };
        let unavailable = server(503).class();
        let failed = server(500).class();
        let limited = UpstreamError::RateLimited { retry_after: None }.class();

        assert!(unavailable.retry_safe && !unavailable.ambiguous && unavailable.breaker_failure);
        assert!(!failed.retry_safe && failed.ambiguous && failed.breaker_failure);
        assert!(limited.retry_safe && !limited.breaker_failure);
        assert!(UpstreamError::Connect.class().retry_safe);
        assert!(UpstreamError::Timeout.class().ambiguous);
        assert!(!UpstreamError::PacingUnavailable.class().retry_safe);
        assert!(!UpstreamError::CircuitOpen.class().breaker_failure);
    }

    #[test]
    fn a_refused_connection_says_nothing_was_sent() {
        let Outcome::Failed(f) = UpstreamError::Connect.into_outcome() else {
            panic!("a refused connection is a failure");
        };
        assert_eq!(f.code, ErrorCode::VendorUnavailable);
        assert!(f.message.contains("not sent"), "{}", f.message);
    }
}
