//! Clicksign's side of the conformance suite (test support): what Clicksign's API v3 answers
//! in each `Scenario`, in its own dialect, and what signgate must make of it. A cancel is a
//! `PATCH` of the document inside its envelope; any `2xx` is the cancel; a `400` or `422`
//! refusal is explained by the status read `GET /envelopes/{envelope}/documents/{document}`.
//! Docs: <https://developers.clicksign.com/v2.0/docs/alterar-documento>.

use std::time::Duration;

use serde_json::{json, Value};

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The access token test gateways send as Clicksign's `Authorization`.
pub const ACCESS_TOKEN: &str = "cs-test-token-0005";
/// Clicksign's path prefix under the mock's root.
pub const BASE_PATH: &str = "/api/v3";
/// The sample document's envelope.
pub const ENVELOPE: &str = "38511ac7-b079-4ca4-8f6a-d2ca00f07714";
/// The sample document, inside `ENVELOPE`.
pub const DOCUMENT_ID: &str = "5b69ab40-d8ed-4f10-b18e-268579646fc0";

/// Clicksign in the conformance suite.
#[derive(Debug)]
pub struct ClicksignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: ClicksignConformance = ClicksignConformance;

/// `ENVELOPE:DOCUMENT_ID`, as a client sends it.
const DOCUMENT: &str = concat!(
    "38511ac7-b079-4ca4-8f6a-d2ca00f07714",
    ":",
    "5b69ab40-d8ed-4f10-b18e-268579646fc0"
);

/// The sample document's path, base path included.
pub fn document_path() -> String {
    format!("{BASE_PATH}/envelopes/{ENVELOPE}/documents/{DOCUMENT_ID}")
}

fn cancel(status: u16) -> MockAnswer {
    MockAnswer::new("PATCH", document_path(), status)
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", document_path(), status)
}

/// The JSON:API document with this `status`.
pub fn document(status: &str) -> Value {
    json!({"data": {
        "id": DOCUMENT_ID,
        "type": "documents",
        "attributes": {"filename": "contrato.pdf", "status": status},
        "relationships": {"envelope": {"data": {"id": ENVELOPE, "type": "envelopes"}}},
    }})
}

/// A JSON:API error body as Clicksign writes it (an integer `status`).
pub fn errors(status: u16, code: &str, detail: &str) -> Value {
    json!({"errors": [{"code": code, "status": status, "detail": detail}]})
}

fn cancelled() -> MockAnswer {
    cancel(200)
        .header("X-Rate-Limit", "50")
        .header("X-Rate-Limit-Remaining", "49")
        .json(document("canceled"))
}

/// The refusal of a document that is not running.
fn not_running() -> MockAnswer {
    cancel(422).json(errors(
        422,
        "unprocessable_entity",
        "status não pode ser alterado",
    ))
}

fn state(status: &str) -> MockAnswer {
    read(200).json(document(status))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for ClicksignConformance {
    fn name(&self) -> &'static str {
        "clicksign"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "BASE_URL"), format!("{server}{BASE_PATH}")),
            (var(name, "ACCESS_TOKEN"), ACCESS_TOKEN.to_owned()),
        ]
    }

    fn document(&self) -> &'static str {
        DOCUMENT
    }

    fn case(&self, scenario: Scenario) -> Case {
        use ErrorCode as E;
        let failing_read = || read(500).text("<html>Server Error</html>");
        match scenario {
            Scenario::Cancelled => case(vec![cancelled()], Expected::cancelled(1)),
            // A 422 says only "not running": the status read says canceled.
            Scenario::AlreadyCancelled => case(
                vec![not_running(), state("canceled")],
                Expected::failed(E::AlreadyCancelled, 2),
            ),
            Scenario::Signed => case(
                vec![not_running(), state("closed")],
                Expected::failed(E::AlreadySigned, 2),
            ),
            Scenario::NotFound => case(
                vec![cancel(404).json(errors(404, "not_found", "Documento não encontrado"))],
                Expected::failed(E::NotFound, 1),
            ),
            // A 400 for a document still running stays a refusal.
            Scenario::Invalid => case(
                vec![
                    cancel(400).json(errors(400, "bad_request", "status deve ser informado(a)")),
                    state("running"),
                ],
                Expected::failed(E::VendorRefused, 2),
            ),
            Scenario::Unauthorized => case(
                vec![cancel(401).json(errors(401, "unauthorized", "Access Token inválido"))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![cancel(403).json(errors(403, "forbidden", "Sem permissão"))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::RateLimited => case(
                vec![
                    cancel(429)
                        .header("Retry-After", "1")
                        .header("X-Rate-Limit", "50")
                        .header("X-Rate-Limit-Remaining", "0")
                        .json(errors(429, "too_many_requests", "Too Many Requests"))
                        .times(1),
                    cancelled(),
                ],
                Expected::cancelled(2).not_before(Duration::from_secs(1)),
            ),
            Scenario::ServerError => case(
                vec![
                    cancel(500).text("<html><h1>Server Error</h1></html>"),
                    failing_read(),
                ],
                Expected::failed(E::VendorUnavailable, 2),
            ),
            Scenario::Unavailable => {
                case(vec![cancel(503)], Expected::failed(E::VendorUnavailable, 3))
            }
            Scenario::Garbage => case(
                vec![cancel(200).text("\u{0}garbage")],
                Expected::cancelled(1),
            ),
            Scenario::Html => case(
                vec![cancel(200).text("<html>ok</html>")],
                Expected::cancelled(1),
            ),
            Scenario::Slow => case(
                vec![cancelled().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 2),
            ),
            Scenario::Refused => case(Vec::new(), Expected::failed(E::VendorUnavailable, 0)),
            Scenario::ReadsCancelled => {
                case(vec![cancel(500), state("canceled")], Expected::cancelled(2))
            }
            Scenario::ReadsInProgress => case(
                vec![cancel(500).times(1), cancelled(), state("running")],
                Expected::cancelled(3),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::conformance::runner;

    #[tokio::test]
    async fn every_conformance_scenario_passes_through_the_runner() {
        let mismatches = runner::run_all(&CONFORMANCE).await;

        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[tokio::test]
    async fn a_bare_pair_routes_to_clicksign_by_its_default_rule() {
        let server = wiremock::MockServer::start().await;
        for answer in CONFORMANCE.case(Scenario::Cancelled).answers {
            runner::mock(&answer).mount(&server).await;
        }
        let app = runner::gateway(CONFORMANCE.vars(&server.uri())).await;

        let (status, answer) = runner::cancel(&app, &[DOCUMENT, "clicksign:abc"]).await;

        assert_eq!(status, 200);
        let results = &answer["results"];
        assert_eq!(results[0]["vendor"], "clicksign", "{answer}");
        assert_eq!(results[0]["status"], "cancelled", "{answer}");
        assert_eq!(results[1]["error"]["code"], "rejected", "{answer}");
        let received = server.received_requests().await.expect("recorded");
        assert_eq!(received.len(), 1);
    }
}
