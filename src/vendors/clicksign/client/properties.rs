//! Clicksign's classification under arbitrary answers: any status, `Retry-After` and the
//! `X-Rate-Limit-*` headers holding anything, and bodies of bytes or JSON:API shapes of its
//! errors and document statuses.

use proptest::prelude::*;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const HEADERS: &[&str] = &[
    "x-rate-limit-reset",
    "x-rate-limit",
    "x-rate-limit-remaining",
];
const FIELDS: &[&str] = &[
    "data",
    "attributes",
    "status",
    "errors",
    "code",
    "title",
    "detail",
    "source",
];
const TEXTS: &[&str] = &["running", "canceled", "closed", "draft", "invalid_status"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_cancel_answer_has_a_defined_outcome(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reset = reset_wait(&headers, SystemTime::now());
        let reply = classify(&answers::answer(status, &headers, body), reset);
        if (200..=299).contains(&status) {
            prop_assert_eq!(reply.as_ref().map(|a| &a.outcome), Ok(&Outcome::Cancelled));
        }
        check_reply(status, &reply)?;
    }

    #[test]
    fn any_document_read_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reset = reset_wait(&headers, SystemTime::now());
        check_read(status, &classify_status(&answers::answer(status, &headers, body), reset))?;
    }

    #[test]
    fn a_429_waits_retry_after_else_the_reset_within_the_cap(
        headers in answers::headers(HEADERS),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reset = reset_wait(&headers, SystemTime::now());
        let answer = answers::answer(429, &headers, body);
        let want = answer.retry_after.or(reset);
        prop_assert!(want.is_none_or(|wait| wait <= http::MAX_VENDOR_WAIT));
        prop_assert_eq!(classify(&answer, reset), Err(UpstreamError::RateLimited { retry_after: want }));
    }
}
