//! Auco's classification under arbitrary answers: any status, `Retry-After`, and bodies of
//! bytes, JSON of Auco's fields, or batch answers whose counts may or may not add up.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const CODES: &[&str] = &["AUCO000001", "AUCO000002", "AUCO000003"];
const FIELDS: &[&str] = &[
    "success",
    "errors",
    "cant",
    "documents",
    "message",
    "status",
];
const TEXTS: &[&str] = &[
    "AUCO000001",
    "AUCO000002",
    "CREATED",
    "REJECTED",
    "FINISH",
    "EXPIRED",
    "DOCUMENT_NOT_FOUND",
];

/// A batch answer with small counts and named codes, so the attribution is reached.
fn batch_answer() -> impl Strategy<Value = Vec<u8>> {
    (
        0u64..=4,
        proptest::option::of((
            0u64..=4,
            proptest::collection::vec(proptest::sample::select(CODES), 0..4),
        )),
    )
        .prop_map(|(success, errors)| {
            let errors =
                errors.map(|(cant, documents)| json!({"cant": cant, "documents": documents}));
            serde_json::to_vec(&json!({"success": success, "errors": errors})).unwrap_or_default()
        })
}

fn codes() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(CODES, 1..=CODES.len())
        .prop_map(|codes| codes.into_iter().map(str::to_owned).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_cancel_answer_gives_one_defined_reply_per_code(
        status in answers::status(),
        headers in answers::headers(&[]),
        body in prop_oneof![answers::body(FIELDS, TEXTS), batch_answer()],
        codes in codes(),
    ) {
        let answer = answers::answer(status, &headers, body);
        let replies = classify(&answer, &codes);
        prop_assert_eq!(replies.len(), codes.len());
        for reply in &replies {
            check_reply(status, reply)?;
        }
    }

    #[test]
    fn any_status_answer_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(&[]),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let answer = answers::answer(status, &headers, body);
        check_read(status, &classify_status(&answer))?;
    }
}
