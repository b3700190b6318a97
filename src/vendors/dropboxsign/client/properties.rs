//! Dropbox Sign's classification under arbitrary answers: any status, `Retry-After` and the
//! `X-RateLimit-*` headers holding anything, and bodies of bytes or JSON of its error and
//! signature-request fields (flags, `expires_at` of any size).

use proptest::prelude::*;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const HEADERS: &[&str] = &[
    "x-ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
];
const FIELDS: &[&str] = &[
    "error",
    "error_msg",
    "error_name",
    "error_path",
    "signature_request",
    "is_complete",
    "is_declined",
    "has_error",
    "expires_at",
];
const TEXTS: &[&str] = &[
    "bad_request",
    "unauthorized",
    "payment_required",
    "forbidden",
    "not_found",
    "conflict",
    "deleted",
    "exceeded_rate",
    "unprocessable_entity",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_cancel_answer_has_a_defined_outcome(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reset = http::rate_limit_reset(&headers, SystemTime::now());
        let reply = classify(&answers::answer(status, &headers, body), reset);
        if (200..=299).contains(&status) {
            prop_assert_eq!(reply.as_ref().map(|a| &a.outcome), Ok(&Outcome::Queued));
        }
        check_reply(status, &reply)?;
    }

    #[test]
    fn any_signature_request_read_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
        now in 0u64..=4_102_444_800,
    ) {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(now);
        let reset = http::rate_limit_reset(&headers, now);
        let read = classify_status(&answers::answer(status, &headers, body), reset, now);
        check_read(status, &read)?;
    }

    #[test]
    fn a_429_waits_retry_after_else_the_reset_within_the_cap(
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reset = http::rate_limit_reset(&headers, SystemTime::now());
        let answer = answers::answer(429, &headers, body);
        let want = answer.retry_after.or(reset);
        prop_assert!(want.is_none_or(|wait| wait <= http::MAX_VENDOR_WAIT));
        prop_assert_eq!(classify(&answer, reset), Err(UpstreamError::RateLimited { retry_after: want }));
    }
}
