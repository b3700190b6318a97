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

impl UpstreamError {
    /// The document error code this becomes when nothing better is known.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Connect | Self::Transport | Self::Server { .. } | Self::CircuitOpen => {
                ErrorCode::VendorUnavailable
            }
            Self::Timeout => ErrorCode::VendorTimeout,
            Self::RateLimited { .. } | Self::PacingUnavailable => ErrorCode::VendorRateLimited,
            Self::BadResponse { .. } | Self::Unsupported => ErrorCode::VendorBadResponse,
            Self::BatchRejected => ErrorCode::Rejected,
            Self::Deadline => ErrorCode::DeadlineExceeded,
        }
    }

    /// Whether the vendor may have acted on the request (so it must not be re-sent blindly).
    /// A `503` says the vendor did not take the request (SPEC 3.3: safe to retry).
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Server { status, .. } => *status != 503,
            Self::Timeout | Self::Transport | Self::BadResponse { .. } => true,
            Self::Connect
            | Self::RateLimited { .. }
            | Self::BatchRejected
            | Self::CircuitOpen
            | Self::Deadline
            | Self::PacingUnavailable
            | Self::Unsupported => false,
        }
    }

    /// The HTTP status of the vendor's answer, when one came.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::RateLimited { .. } => Some(429),
            Self::Server { status, .. } | Self::BadResponse { status } => Some(*status),
            Self::BatchRejected => Some(400),
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
            _ => None,
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
            ambiguous if ambiguous.is_ambiguous() => {
                format!("{ambiguous}; whether the document was cancelled is unknown.")
            }
            other => format!("{other}."),
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
    fn a_refused_connection_says_nothing_was_sent() {
        let Outcome::Failed(f) = UpstreamError::Connect.into_outcome() else {
            panic!("a refused connection is a failure");
        };
        assert_eq!(f.code, ErrorCode::VendorUnavailable);
        assert!(f.message.contains("not sent"), "{}", f.message);
    }
}
