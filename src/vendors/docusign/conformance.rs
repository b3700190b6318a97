//! DocuSign's side of the conformance suite (test support): what eSignature REST v2.1 answers
//! in each `Scenario`, in its own dialect, and what signgate must make of it. Failures are
//! `400` + `{"errorCode","message"}`; a refused void is told apart by a status read (`GET` on
//! the envelope). The runner uses a pasted access token and a fixed `base_url`; the JWT grant
//! and discovery are tested in `client/tests.rs`. Docs:
//! <https://developers.docusign.com/docs/esign-rest-api/reference/envelopes/envelopes/update/>.

use std::time::Duration;

use serde_json::json;

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The access token test gateways send as DocuSign's Bearer token.
pub const ACCESS_TOKEN: &str = "ds-test-token-0005";
/// The account test gateways void envelopes of.
pub const ACCOUNT_ID: &str = "conformance-account";

/// DocuSign in the conformance suite.
#[derive(Debug)]
pub struct DocuSignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: DocuSignConformance = DocuSignConformance;

const DOCUMENT: &str = "93be49ab-afa0-4adf-933c-f752070d71ec";

fn envelope_path() -> String {
    format!("/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes/{DOCUMENT}")
}

fn void(status: u16) -> MockAnswer {
    MockAnswer::new("PUT", envelope_path(), status)
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", envelope_path(), status)
}

fn voided() -> MockAnswer {
    void(200).json(json!({ "envelopeId": DOCUMENT }))
}

fn refused(code: &str, message: &str) -> MockAnswer {
    void(400).json(json!({ "errorCode": code, "message": message }))
}

fn invalid_state() -> MockAnswer {
    refused(
        "ENVELOPE_CANNOT_VOID_INVALID_STATE",
        "Only envelopes in the 'Sent' or 'Delivered' states may be voided.",
    )
}

fn state(status: &str) -> MockAnswer {
    read(200).json(json!({ "envelopeId": DOCUMENT, "status": status }))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for DocuSignConformance {
    fn name(&self) -> &'static str {
        "docusign"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "KIND"), "docusign".to_owned()),
            (var(name, "BASE_URL"), server.to_owned()),
            (var(name, "ACCESS_TOKEN"), ACCESS_TOKEN.to_owned()),
            (var(name, "ACCOUNT_ID"), ACCOUNT_ID.to_owned()),
            // No default table sets it: below the shortest deadline test gateways configure.
            (var(name, "TIMEOUT_MS"), "1000".to_owned()),
        ]
    }

    fn document(&self) -> &'static str {
        DOCUMENT
    }

    fn case(&self, scenario: Scenario) -> Case {
        use ErrorCode as E;
        let failing_read = || read(500).text("<html>Server Error</html>");
        match scenario {
            Scenario::Cancelled => case(vec![voided()], Expected::cancelled(1)),
            Scenario::AlreadyCancelled => case(
                vec![invalid_state(), state("voided")],
                Expected::failed(E::AlreadyCancelled, 2),
            ),
            Scenario::Signed => case(
                vec![invalid_state(), state("completed")],
                Expected::failed(E::AlreadySigned, 2),
            ),
            Scenario::NotFound => case(
                vec![refused(
                    "ENVELOPE_DOES_NOT_EXIST",
                    "The envelope specified either does not exist or you have no rights to the envelope.",
                )],
                Expected::failed(E::NotFound, 1),
            ),
            Scenario::Invalid => case(
                vec![refused(
                    "INVALID_REQUEST_PARAMETER",
                    "Value for 'voidedReason' must be specified when voiding an envelope.",
                )],
                Expected::failed(E::Rejected, 1),
            ),
            // A pasted token cannot be renewed: one call.
            Scenario::Unauthorized => case(
                vec![void(401).json(json!({
                    "errorCode": "AUTHORIZATION_INVALID_TOKEN",
                    "message": "The access token provided is expired, revoked or malformed.",
                }))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![void(403).text("Forbidden")],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            // DocuSign is moving its limits to 429; the 400 + errorCode form is a unit test.
            Scenario::RateLimited => case(
                vec![void(429).header("Retry-After", "1").times(1), voided()],
                Expected::cancelled(2).not_before(Duration::from_secs(1)),
            ),
            Scenario::ServerError => case(
                vec![
                    void(500).text("<html><h1>Server Error</h1></html>"),
                    failing_read(),
                ],
                Expected::failed(E::VendorUnavailable, 2),
            ),
            Scenario::Unavailable => {
                case(vec![void(503)], Expected::failed(E::VendorUnavailable, 3))
            }
            // DocuSign's `envelopeUpdateSummary` carries nothing signgate needs: any 2xx voids.
            Scenario::Garbage => case(
                vec![void(200).text("\u{0}garbage")],
                Expected::cancelled(1),
            ),
            Scenario::Html => case(
                vec![void(200).text("<html>ok</html>")],
                Expected::cancelled(1),
            ),
            Scenario::Slow => case(
                vec![voided().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 2),
            ),
            Scenario::Refused => case(Vec::new(), Expected::failed(E::VendorUnavailable, 0)),
            Scenario::ReadsCancelled => {
                case(vec![void(500), state("voided")], Expected::cancelled(2))
            }
            Scenario::ReadsInProgress => case(
                vec![void(500).times(1), voided(), state("sent")],
                Expected::cancelled(3),
            ),
        }
    }
}
