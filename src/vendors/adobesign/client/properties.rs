//! Acrobat Sign's classification under arbitrary answers: any status, `Retry-After` holding
//! anything, and bodies of bytes or JSON of its error (`code`, `message`, a `retryAfter` of any
//! size) and agreement fields.

use proptest::prelude::*;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const FIELDS: &[&str] = &["code", "message", "retryAfter", "status", "id"];
const TEXTS: &[&str] = &[
    "RESOURCE_NOT_FOUND",
    "INVALID_AGREEMENT_ID",
    "INVALID_ACCESS_TOKEN",
    "PERMISSION_DENIED",
    "THROTTLING_TOO_MANY_REQUESTS",
    "INVALID_API_ACCESS_POINT",
    "AGREEMENT_NOT_EXPOSED",
    "OUT_FOR_SIGNATURE",
    "SIGNED",
    "CANCELLED",
    "EXPIRED",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_cancel_answer_has_a_defined_outcome(
        status in answers::status(),
        headers in answers::headers(&[]),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reply = classify(&Received::read(answers::answer(status, &headers, body)));
        if (200..=299).contains(&status) {
            prop_assert_eq!(reply.as_ref().map(|a| &a.outcome), Ok(&Outcome::Cancelled));
        }
        check_reply(status, &reply)?;
    }

    #[test]
    fn any_agreement_read_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(&[]),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let read = classify_status(&Received::read(answers::answer(status, &headers, body)));
        check_read(status, &read)?;
    }

    #[test]
    fn throttling_waits_retry_after_else_the_body_retry_after_within_the_cap(
        status in proptest::sample::select(&[400u16, 429][..]),
        headers in answers::headers(&[]),
        retry_after in proptest::option::of(any::<u64>()),
    ) {
        let body = serde_json::json!({"code": "THROTTLING_TOO_MANY_REQUESTS", "retryAfter": retry_after});
        let answer = answers::answer(status, &headers, serde_json::to_vec(&body).unwrap_or_default());
        let want = answer.retry_after.or(retry_after.map(http::wait_secs));
        prop_assert!(want.is_none_or(|wait| wait <= http::MAX_VENDOR_WAIT));
        let received = Received::read(answer);
        prop_assert_eq!(classify(&received), Err(UpstreamError::RateLimited { retry_after: want }));
    }
}
