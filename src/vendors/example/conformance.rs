//! Example Sign's side of the conformance suite (test support): what the made-up Example Sign
//! API answers in each `Scenario`, and what signgate must make of it. A refusal is a `409`
//! with an `error`; any `2xx` is a cancel; the status read is `GET /documents/{id}`.

use std::time::Duration;

use serde_json::json;

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The API token test gateways send as Example Sign's Bearer token.
pub const TOKEN: &str = "ex-test-token-0005";
/// Example Sign's path prefix under the mock's root.
pub const BASE_PATH: &str = "/v1";

/// Example Sign in the conformance suite.
#[derive(Debug)]
pub struct ExampleConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: ExampleConformance = ExampleConformance;

const DOCUMENT: &str = "EX-0000C0";

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
    cancel(200).json(json!({"id": DOCUMENT, "state": "cancelled"}))
}

fn state(state: &str) -> MockAnswer {
    read(200).json(json!({"id": DOCUMENT, "state": state}))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for ExampleConformance {
    fn name(&self) -> &'static str {
        "example"
    }

    // The kind ships no defaults, so its table is written whole, `kind` included.
    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "KIND"), "example".to_owned()),
            (var(name, "BASE_URL"), format!("{server}{BASE_PATH}")),
            (var(name, "TOKEN"), TOKEN.to_owned()),
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
            Scenario::AlreadyCancelled => case(
                vec![cancel(409).json(json!({"error": "already_cancelled"}))],
                Expected::failed(E::AlreadyCancelled, 1),
            ),
            Scenario::Signed => case(
                vec![cancel(409).json(json!({"error": "completed"}))],
                Expected::failed(E::AlreadySigned, 1),
            ),
            Scenario::NotFound => case(
                vec![cancel(404).json(json!({"error": "not_found"}))],
                Expected::failed(E::NotFound, 1),
            ),
            Scenario::Invalid => case(
                vec![cancel(400).json(json!({"error": "invalid_reason"}))],
                Expected::failed(E::Rejected, 1),
            ),
            Scenario::Unauthorized => case(
                vec![cancel(401).json(json!({"error": "unauthorized"}))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![cancel(403).json(json!({"error": "forbidden"}))],
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
            Scenario::ReadsCancelled => case(
                vec![cancel(500), state("cancelled")],
                Expected::cancelled(2),
            ),
            Scenario::ReadsInProgress => case(
                vec![cancel(500).times(1), cancelled(), state("open")],
                Expected::cancelled(3),
            ),
        }
    }
}
