//! Yousign's classification under arbitrary answers: any status, `Retry-After` and the
//! `RateLimit-*` / `X-RateLimit-*` headers holding anything, and bodies of bytes or JSON of its
//! error (`type`, `detail`, `invalid_params`) and signature-request fields.

use proptest::prelude::*;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const HEADERS: &[&str] = &[
    "ratelimit-reset",
    "ratelimit-limit",
    "ratelimit-remaining",
    "x-ratelimit-remaining-minute",
    "x-ratelimit-remaining-hour",
];
const FIELDS: &[&str] = &[
    "type",
    "detail",
    "invalid_params",
    "name",
    "reason",
    "status",
];
const TEXTS: &[&str] = &[
    "invalid_request_error",
    "bad_request",
    "ongoing",
    "approval",
    "done",
    "canceled",
    "declined",
    "expired",
    "draft",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_cancel_answer_has_a_defined_outcome(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reply = classify(&answers::answer(status, &headers, body), reset_in(&headers));
        if (200..=299).contains(&status) {
            prop_assert_eq!(reply.as_ref().map(|a| &a.outcome), Ok(&Outcome::Cancelled));
        }
        check_reply(status, &reply)?;
    }

    #[test]
    fn any_signature_request_read_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let read = classify_status(&answers::answer(status, &headers, body), reset_in(&headers));
        check_read(status, &read)?;
    }

    #[test]
    fn a_429_waits_retry_after_else_the_reset_within_the_cap(
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reset = reset_in(&headers);
        let answer = answers::answer(429, &headers, body);
        let want = answer.retry_after.or(reset);
        prop_assert!(want.is_none_or(|wait| wait <= http::MAX_VENDOR_WAIT));
        prop_assert_eq!(classify(&answer, reset), Err(UpstreamError::RateLimited { retry_after: want }));
    }
}
