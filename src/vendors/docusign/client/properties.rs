//! DocuSign's classification under arbitrary answers: any status, `Retry-After` and the
//! `X-RateLimit-*` / `X-BurstLimit-*` headers holding anything, and bodies of bytes or JSON of
//! DocuSign's fields with its error codes and envelope statuses.

use std::time::SystemTime;

use proptest::prelude::*;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const HEADERS: &[&str] = &[
    "x-ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-burstlimit-limit",
    "x-burstlimit-remaining",
];
const FIELDS: &[&str] = &["errorCode", "message", "status", "envelopeId"];
const TEXTS: &[&str] = &[
    "ENVELOPE_CANNOT_VOID_INVALID_STATE",
    "ENVELOPE_DOES_NOT_EXIST",
    "USER_LACKS_PERMISSIONS",
    "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
    "Burst_APIInvocation_Envelope_Limit_Exceeded",
    "INVALID_REQUEST_PARAMETER",
    "sent",
    "completed",
    "voided",
    "declined",
    "created",
];

/// Rate-limit codes in both of DocuSign's spellings.
const RATE_LIMIT_CODES: &[&str] = &[
    "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
    "Burst_APIInvocation_Envelope_Limit_Exceeded",
    "hourly_envelope_polling_limit_exceeded",
];

fn received(status: u16, headers: &reqwest::header::HeaderMap, body: Vec<u8>) -> Received {
    Received {
        raw: answers::answer(status, headers, body),
        reset_in: http::rate_limit_reset(headers, SystemTime::now()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_void_answer_has_a_defined_outcome(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reply = classify(&received(status, &headers, body));
        if (200..=299).contains(&status) {
            prop_assert_eq!(reply.as_ref().map(|a| &a.outcome), Ok(&Outcome::Cancelled));
        }
        check_reply(status, &reply)?;
    }

    #[test]
    fn any_envelope_read_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        check_read(status, &classify_status(&received(status, &headers, body)))?;
    }

    #[test]
    fn a_rate_limit_code_waits_retry_after_else_the_reset_within_the_cap(
        status in proptest::sample::select(&[400u16, 403, 404][..]),
        code in proptest::sample::select(RATE_LIMIT_CODES),
        headers in answers::headers(HEADERS),
    ) {
        let body = serde_json::to_vec(&serde_json::json!({"errorCode": code})).unwrap_or_default();
        let received = received(status, &headers, body);
        let want = received.raw.retry_after.or(received.reset_in);
        prop_assert!(want.is_none_or(|wait| wait <= http::MAX_VENDOR_WAIT));
        prop_assert_eq!(classify(&received), Err(UpstreamError::RateLimited { retry_after: want }));
    }
}
