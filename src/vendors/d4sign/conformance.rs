//! D4Sign's side of the conformance suite (test support): what D4Sign's API v1 answers in each
//! `Scenario`, in its own dialect, and what signgate must make of it. D4Sign documents no
//! refusal, so every refusal (a `4xx`, or a `200` carrying `{"message", "mensagem_pt"}`) is
//! settled by the status read `GET /documents/{uuid}`, whose live answer is a one-element
//! array keyed on `statusId`. Docs: <https://docapi.d4sign.com.br/docs>.

use std::time::Duration;

use serde_json::{json, Value};

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The API token test gateways send as `tokenAPI`.
pub const TOKEN_API: &str = "d4-test-token-0007";
/// The crypt key test gateways send as `cryptKey`.
pub const CRYPT_KEY: &str = "d4-test-crypt-0007";
/// D4Sign's path prefix under the mock's root.
pub const BASE_PATH: &str = "/api/v1";

/// D4Sign in the conformance suite.
#[derive(Debug)]
pub struct D4SignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: D4SignConformance = D4SignConformance;

const DOCUMENT: &str = "0a1b2c3d-0000-4000-8000-0000000000d4";

fn cancel(status: u16) -> MockAnswer {
    MockAnswer::new(
        "POST",
        format!("{BASE_PATH}/documents/{DOCUMENT}/cancel"),
        status,
    )
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", format!("{BASE_PATH}/documents/{DOCUMENT}"), status)
}

fn cancelled() -> MockAnswer {
    cancel(200).json(json!({"message": "success"}))
}

/// The documented `4xx` body.
fn error() -> Value {
    json!({"message": "Erro"})
}

/// The live shape of a status read: one document in an array, every value a string.
fn state(status_id: &str) -> MockAnswer {
    read(200).json(json!([{
        "uuidDoc": DOCUMENT,
        "nameDoc": "contrato.pdf",
        "statusId": status_id,
        "statusName": "localised, never read",
    }]))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for D4SignConformance {
    fn name(&self) -> &'static str {
        "d4sign"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "BASE_URL"), format!("{server}{BASE_PATH}")),
            (var(name, "TOKEN_API"), TOKEN_API.to_owned()),
            (var(name, "CRYPT_KEY"), CRYPT_KEY.to_owned()),
        ]
    }

    fn document(&self) -> &'static str {
        DOCUMENT
    }

    fn case(&self, scenario: Scenario) -> Case {
        use ErrorCode as E;
        let failing_read = || read(500).json(json!({"message": "Server error."}));
        match scenario {
            Scenario::Cancelled => case(vec![cancelled()], Expected::cancelled(1)),
            // An error with a 200, as D4Sign sends them: the status read says cancelled before.
            Scenario::AlreadyCancelled => case(
                vec![
                    cancel(200).json(json!({
                        "message": "Document already cancelled.",
                        "mensagem_pt": "Documento já cancelado.",
                    })),
                    state("6"),
                ],
                Expected::failed(E::AlreadyCancelled, 2),
            ),
            Scenario::Signed => case(
                vec![cancel(400).json(error()), state("4")],
                Expected::failed(E::AlreadySigned, 2),
            ),
            Scenario::NotFound => case(
                vec![cancel(404).json(error()), read(200).json(json!([]))],
                Expected::failed(E::NotFound, 2),
            ),
            // A 400 for a document still in progress stays a refusal.
            Scenario::Invalid => case(
                vec![cancel(400).json(error()), state("3")],
                Expected::failed(E::VendorRefused, 2),
            ),
            Scenario::Unauthorized => case(
                vec![cancel(401).json(error())],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![cancel(403).json(error())],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::RateLimited => case(
                vec![cancel(429).header("Retry-After", "1").times(1), cancelled()],
                Expected::cancelled(2).not_before(Duration::from_secs(1)),
            ),
            Scenario::ServerError => case(
                vec![
                    cancel(500).text("<html><h1>Server Error</h1></html>"),
                    failing_read(),
                ],
                Expected::failed(E::VendorUnavailable, 2),
            ),
            Scenario::Unavailable => case(
                vec![cancel(503).json(json!({"message": "Server error."}))],
                Expected::failed(E::VendorUnavailable, 3),
            ),
            // A 200 is a cancel only when its body says so: this one is read, and cannot be.
            Scenario::Garbage => case(
                vec![cancel(200).text("\u{0}garbage"), failing_read()],
                Expected::failed(E::VendorBadResponse, 2),
            ),
            // A proxy's page: the status read says cancelled, so the cancel worked.
            Scenario::Html => case(
                vec![cancel(200).text("<html>ok</html>"), state("6")],
                Expected::cancelled(2),
            ),
            Scenario::Slow => case(
                vec![cancelled().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 2),
            ),
            Scenario::Refused => case(Vec::new(), Expected::failed(E::VendorUnavailable, 0)),
            Scenario::ReadsCancelled => case(vec![cancel(500), state("6")], Expected::cancelled(2)),
            Scenario::ReadsInProgress => case(
                vec![cancel(500).times(1), cancelled(), state("3")],
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
    async fn d4sign_reports_every_scenario_as_its_conformance_says() {
        let mismatches = runner::run_all(&CONFORMANCE).await;

        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }
}
