//! Auco's side of the conformance suite (test support): what Auco's API v1.5 answers in each
//! `Scenario`, in its own dialect, and what signgate must make of it. A refusal is a `200`
//! naming the code in `errors.documents`; the status read (`GET /document`, public key) then
//! says why. Docs: <https://docs.auco.ai>.

use std::time::Duration;

use serde_json::json;

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The private key (`prk_...`) test gateways send as Auco's `Authorization` on cancels.
pub const PRIVATE_KEY: &str = "prk_test_private_0002";
/// The public key (`puk_...`) test gateways send on status reads.
pub const PUBLIC_KEY: &str = "puk_test_public_0003";
/// Auco's path prefix under the mock's root.
pub const BASE_PATH: &str = "/v1.5/ext";

/// Auco in the conformance suite.
#[derive(Debug)]
pub struct AucoConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: AucoConformance = AucoConformance;

const DOCUMENT: &str = "TR99AQMY31";

fn cancel(status: u16) -> MockAnswer {
    MockAnswer::new("POST", format!("{BASE_PATH}/document/cancel"), status)
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", format!("{BASE_PATH}/document"), status)
}

fn cancelled() -> MockAnswer {
    cancel(200).json(json!({"success": 1, "errors": {"cant": 0}, "message": "ok"}))
}

/// Auco's refusal: it names the code and gives no reason.
fn refused() -> MockAnswer {
    cancel(200).json(json!({"success": 0, "errors": {"cant": 1, "documents": [DOCUMENT]}}))
}

fn state(state: &str) -> MockAnswer {
    read(200).json(json!({"code": DOCUMENT, "status": state}))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for AucoConformance {
    fn name(&self) -> &'static str {
        "auco"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "BASE_URL"), format!("{server}{BASE_PATH}")),
            (var(name, "PRIVATE_KEY"), PRIVATE_KEY.to_owned()),
            (var(name, "PUBLIC_KEY"), PUBLIC_KEY.to_owned()),
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
            // The refusal, refined by a status read.
            Scenario::AlreadyCancelled => case(
                vec![refused(), state("REJECTED")],
                Expected::failed(E::AlreadyCancelled, 2),
            ),
            Scenario::Signed => case(
                vec![refused(), state("FINISH")],
                Expected::failed(E::AlreadySigned, 2),
            ),
            // Auco says "not found" only on the status read, as a 400.
            Scenario::NotFound => case(
                vec![
                    refused(),
                    read(400).json(json!({"message": "DOCUMENT_NOT_FOUND"})),
                ],
                Expected::failed(E::NotFound, 2),
            ),
            Scenario::Invalid => case(
                vec![cancel(400).json(json!({"message": "INVALID"}))],
                Expected::failed(E::Rejected, 1),
            ),
            Scenario::Unauthorized => case(
                vec![cancel(401).json(json!({"message": "Unauthorized"}))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![cancel(403).json(json!({"message": "Forbidden"}))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::RateLimited => case(
                vec![cancel(429).header("Retry-After", "1").times(1), cancelled()],
                Expected::cancelled(2).not_before(Duration::from_secs(1)),
            ),
            // Ambiguous: the status read is tried, fails, and the 500 stands.
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
            // An unreadable 200 may have cancelled: ambiguous, so a status read follows.
            Scenario::Garbage => case(
                vec![cancel(200).text("\u{0}garbage"), failing_read()],
                Expected::failed(E::VendorBadResponse, 2),
            ),
            Scenario::Html => case(
                vec![cancel(200).text("<html>ok</html>"), failing_read()],
                Expected::failed(E::VendorBadResponse, 2),
            ),
            Scenario::Slow => case(
                vec![cancelled().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 2),
            ),
            // Nothing was sent, so every attempt is spent.
            Scenario::Refused => case(Vec::new(), Expected::failed(E::VendorUnavailable, 0)),
            Scenario::ReadsCancelled => {
                case(vec![cancel(500), state("REJECTED")], Expected::cancelled(2))
            }
            Scenario::ReadsInProgress => case(
                vec![cancel(500).times(1), cancelled(), state("CREATED")],
                Expected::cancelled(3),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};
    use tokio::time::Instant;
    use wiremock::matchers::{any, body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::vendors::http::USER_AGENT;
    use crate::vendors::testing::{adapter_at, cancel_document};
    use crate::vendors::{CallContext, DocState, Priority, Reply, UpstreamError, Vendor};

    fn auco_at(server: &MockServer) -> std::sync::Arc<dyn Vendor> {
        adapter_at(&CONFORMANCE, &server.uri())
    }

    fn cancelled_template() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}}))
    }

    /// What one cancel answer becomes for a single code.
    async fn reply_to(status: u16, body: Value) -> Reply {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        cancel_document(auco_at(&server).as_ref(), &CONFORMANCE).await
    }

    #[tokio::test]
    async fn a_cancel_posts_the_codes_with_the_bare_private_key_and_the_request_id() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1.5/ext/document/cancel"))
            .and(header("authorization", PRIVATE_KEY))
            .and(header("user-agent", USER_AGENT))
            .and(header("x-request-id", "t"))
            .and(body_json(
                json!({"codes": [DOCUMENT], "message": "m", "email": "a@b.co"}),
            ))
            .respond_with(cancelled_template())
            .expect(1)
            .mount(&server)
            .await;

        let reply = cancel_document(auco_at(&server).as_ref(), &CONFORMANCE).await;

        assert_eq!(reply.expect("an answer").outcome.error_code(), None);
    }

    #[tokio::test]
    async fn a_status_read_gets_the_document_by_code_with_the_public_key() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1.5/ext/document"))
            .and(query_param("code", DOCUMENT))
            .and(header("authorization", PUBLIC_KEY))
            .and(header("x-request-id", "t"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "REJECTED"})))
            .expect(1)
            .mount(&server)
            .await;
        let ctx = CallContext {
            request_id: "t",
            deadline: Instant::now() + Duration::from_secs(10),
            priority: Priority::Interactive,
        };

        let state = auco_at(&server).status(DOCUMENT, &ctx).await;

        assert_eq!(state, Ok(DocState::Cancelled));
    }

    #[tokio::test]
    async fn undocumented_statuses_on_cancel_are_bad_responses_not_outcomes() {
        for status in [402, 404] {
            let reply = reply_to(status, json!({"detail": "Not found."})).await;

            assert_eq!(
                reply,
                Err(UpstreamError::BadResponse { status }),
                "{status}"
            );
        }
    }

    #[tokio::test]
    async fn a_403_is_a_credentials_failure_whatever_its_body_says() {
        let body = json!({"code": "document_already_refused"});

        let reply = reply_to(403, body).await.expect("a definite answer");

        assert_eq!(
            reply.outcome.error_code(),
            Some(ErrorCode::VendorAuthFailed)
        );
    }
}
