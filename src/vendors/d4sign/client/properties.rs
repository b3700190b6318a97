//! D4Sign's classification under arbitrary answers: any status, `Retry-After`, and bodies of
//! bytes, objects or one-element arrays of its fields, errors that echo the credentials back.
//! No outcome ever shows a credential.

use proptest::prelude::*;

use super::*;
use crate::vendors::testing::answers::{self, check_read, check_reply, CASES};

const TOKEN: &str = "live_token_0123456789";
const CRYPT: &str = "live_crypt_0123456789";
const UUID: &str = "8a0e6f43-7f5c-4d67-9e41-3f1b5b2c7d10";
const FIELDS: &[&str] = &[
    "message",
    "mensagem_pt",
    "uuidDoc",
    "statusId",
    "statusName",
];
const TEXTS: &[&str] = &[
    "success",
    "Documento cancelado com sucesso",
    "sem sucesso",
    "API error: Check API user.",
    "Chave de API inválida.",
    "live_token_0123456789",
    "see ?tokenAPI=live_token_0123456789&cryptKey=live_crypt_0123456789",
    "live_crypt_0123456789",
    "8a0e6f43-7f5c-4d67-9e41-3f1b5b2c7d10",
    "1",
    "4",
    "6",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_cancel_answer_has_a_defined_outcome_without_a_credential(
        status in answers::status(),
        headers in answers::headers(&[]),
        body in answers::body(FIELDS, TEXTS),
    ) {
        let reply = classify(&answers::answer(status, &headers, body), [TOKEN, CRYPT]);
        check_reply(status, &reply)?;
        if let Ok(Answer { outcome: Outcome::Failed(failure), .. }) = &reply {
            prop_assert!(!failure.message.contains(TOKEN), "{}", failure.message);
            prop_assert!(!failure.message.contains(CRYPT), "{}", failure.message);
        }
    }

    #[test]
    fn any_document_read_is_a_state_or_a_defined_error(
        status in answers::status(),
        headers in answers::headers(&[]),
        body in answers::body(FIELDS, TEXTS),
    ) {
        check_read(status, &classify_status(&answers::answer(status, &headers, body), UUID))?;
    }
}
