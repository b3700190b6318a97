//! Yousign's side of the conformance suite (test support): what Yousign's API v3 answers in
//! each `Scenario`, in its own dialect, and what signgate must make of it. A cancel answers
//! `201` with the signature request; refusals are `{"type", "detail"}`; a `400` that is not a
//! validation error is explained by the status read `GET /signature_requests/{id}`. Docs:
//! <https://developers.yousign.com/reference/errors-1>.

use std::time::Duration;

use serde_json::{json, Value};

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The API key test gateways send as Yousign's Bearer token.
pub const API_KEY: &str = "ys-test-key-0006";
/// Yousign's path prefix under the mock's root.
pub const BASE_PATH: &str = "/v3";

/// Yousign in the conformance suite.
#[derive(Debug)]
pub struct YousignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: YousignConformance = YousignConformance;

/// The sample signature request.
pub const DOCUMENT: &str = "9a93d3b5-fb3b-4abf-9e70-26315b33c0c0";

/// The cancel path of the sample request, base path included.
pub fn cancel_path() -> String {
    format!("{BASE_PATH}/signature_requests/{DOCUMENT}/cancel")
}

/// The status read path of the sample request, base path included.
pub fn read_path() -> String {
    format!("{BASE_PATH}/signature_requests/{DOCUMENT}")
}

fn cancel(status: u16) -> MockAnswer {
    MockAnswer::new("POST", cancel_path(), status)
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", read_path(), status)
}

/// Yousign's 4xx body.
pub fn error(kind: &str, detail: &str) -> Value {
    json!({"type": kind, "detail": detail})
}

/// The signature request with `status`, as a `201` cancel or a `200` read carries it.
pub fn signature_request(status: &str) -> Value {
    json!({"id": DOCUMENT, "status": status, "name": "Contract", "delivery_mode": "email"})
}

/// The documented success, with the rate-limit headers Yousign sends on every answer.
fn cancelled() -> MockAnswer {
    cancel(201)
        .header("x-ratelimit-limit-minute", "60")
        .header("x-ratelimit-remaining-minute", "59")
        .header("x-ratelimit-limit-hour", "1200")
        .header("x-ratelimit-remaining-hour", "1199")
        .json(signature_request("canceled"))
}

/// A refusal of a request in a state Yousign will not cancel (its `type` is undocumented).
fn refused() -> MockAnswer {
    cancel(400).json(error(
        "about:blank",
        "Only approval or ongoing Signature Requests can be canceled.",
    ))
}

fn state(status: &str) -> MockAnswer {
    read(200).json(signature_request(status))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for YousignConformance {
    fn name(&self) -> &'static str {
        "yousign"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "BASE_URL"), format!("{server}{BASE_PATH}")),
            (var(name, "API_KEY"), API_KEY.to_owned()),
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
            // A 400 says no more than "not in approval or ongoing": the status read says why.
            Scenario::AlreadyCancelled => case(
                vec![refused(), state("canceled")],
                Expected::failed(E::AlreadyCancelled, 2),
            ),
            Scenario::Signed => case(
                vec![refused(), state("done")],
                Expected::failed(E::AlreadySigned, 2),
            ),
            Scenario::NotFound => case(
                vec![cancel(404).json(error(
                    "resource.not_found",
                    "The requested resource was not found.",
                ))],
                Expected::failed(E::NotFound, 1),
            ),
            // A validation error names its parameters: no status read.
            Scenario::Invalid => case(
                vec![cancel(400).json(json!({
                    "type": "validation.error",
                    "detail": "You have some invalid params in your payload.",
                    "invalid_params": [{"name": "reason", "reason": "This value is not valid."}],
                }))],
                Expected::failed(E::Rejected, 1),
            ),
            Scenario::Unauthorized => case(
                vec![cancel(401).json(error("about:blank", "Invalid authentication."))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![cancel(403).json(error("about:blank", "Access forbidden."))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::RateLimited => case(
                vec![
                    cancel(429)
                        .header("Retry-After", "1")
                        .header("x-ratelimit-limit-minute", "60")
                        .header("x-ratelimit-remaining-minute", "0")
                        .json(json!({"message": "Too Many Requests"}))
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
            // Any 2xx is the cancel: the signature request in the body adds nothing.
            Scenario::Garbage => case(
                vec![cancel(201).text("\u{0}garbage")],
                Expected::cancelled(1),
            ),
            Scenario::Html => case(
                vec![cancel(201).text("<html>ok</html>")],
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
                vec![cancel(500).times(1), cancelled(), state("ongoing")],
                Expected::cancelled(3),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CONFORMANCE;
    use crate::vendors::conformance::runner;

    #[tokio::test]
    async fn every_conformance_scenario_passes_through_the_runner() {
        // Arrange, act
        let mismatches = runner::run_all(&CONFORMANCE).await;

        // Assert
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }
}
