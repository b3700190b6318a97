//! ZapSign's side of the conformance suite (test support): what ZapSign's API v1 answers in
//! each `Scenario`, in its own dialect, and what signgate must make of it. A refusal is a `403`
//! with a documented code in one of several body shapes; any `2xx` is a cancel; the status read
//! is `GET /docs/{token}/`. Docs: <https://docs.zapsign.com.br>.

use std::time::Duration;

use serde_json::json;

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The API token test gateways send as ZapSign's Bearer token.
pub const API_TOKEN: &str = "zs-test-token-0004";
/// ZapSign's path prefix under the mock's root.
pub const BASE_PATH: &str = "/api/v1";

/// ZapSign in the conformance suite.
#[derive(Debug)]
pub struct ZapSignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: ZapSignConformance = ZapSignConformance;

const DOCUMENT: &str = "0a1b2c3d-0000-4000-8000-0000000000c0";

fn refuse(status: u16) -> MockAnswer {
    MockAnswer::new("POST", format!("{BASE_PATH}/refuse/"), status)
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", format!("{BASE_PATH}/docs/{DOCUMENT}/"), status)
}

fn refused() -> MockAnswer {
    refuse(200).json(json!({"message": "Documento recusado"}))
}

fn state(state: &str) -> MockAnswer {
    read(200).json(json!({"token": DOCUMENT, "status": state}))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for ZapSignConformance {
    fn name(&self) -> &'static str {
        "zapsign"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "BASE_URL"), format!("{server}{BASE_PATH}")),
            (var(name, "API_TOKEN"), API_TOKEN.to_owned()),
        ]
    }

    fn document(&self) -> &'static str {
        DOCUMENT
    }

    fn case(&self, scenario: Scenario) -> Case {
        use ErrorCode as E;
        let failing_read = || read(500).text("<html>Server Error</html>");
        match scenario {
            Scenario::Cancelled => case(vec![refused()], Expected::cancelled(1)),
            Scenario::AlreadyCancelled => case(
                vec![refuse(403).json(json!({"code": "document_already_refused"}))],
                Expected::failed(E::AlreadyCancelled, 1),
            ),
            Scenario::Signed => case(
                vec![refuse(403).json(json!({"error": "document_already_signed"}))],
                Expected::failed(E::AlreadySigned, 1),
            ),
            Scenario::NotFound => case(
                vec![refuse(404).json(json!({"detail": "Not found."}))],
                Expected::failed(E::NotFound, 1),
            ),
            Scenario::Invalid => case(
                vec![refuse(400).json(json!({"message": "INVALID"}))],
                Expected::failed(E::Rejected, 1),
            ),
            Scenario::Unauthorized => case(
                vec![refuse(401).json(json!({"detail": "Invalid token."}))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            // A 403 without a documented code is a token of the other environment.
            Scenario::Forbidden => case(
                vec![refuse(403).json(json!({"detail": "Forbidden"}))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::RateLimited => case(
                vec![refuse(429).header("Retry-After", "1").times(1), refused()],
                Expected::cancelled(2).not_before(Duration::from_secs(1)),
            ),
            Scenario::ServerError => case(
                vec![
                    refuse(500).text("<html><h1>Server Error</h1></html>"),
                    failing_read(),
                ],
                Expected::failed(E::VendorUnavailable, 2),
            ),
            Scenario::Unavailable => {
                case(vec![refuse(503)], Expected::failed(E::VendorUnavailable, 3))
            }
            // ZapSign documents no body for a successful refuse: any 2xx is a cancel.
            Scenario::Garbage => case(
                vec![refuse(200).text("\u{0}garbage")],
                Expected::cancelled(1),
            ),
            Scenario::Html => case(
                vec![refuse(200).text("<html>ok</html>")],
                Expected::cancelled(1),
            ),
            Scenario::Slow => case(
                vec![refused().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 2),
            ),
            Scenario::Refused => case(Vec::new(), Expected::failed(E::VendorUnavailable, 0)),
            Scenario::ReadsCancelled => {
                case(vec![refuse(500), state("refused")], Expected::cancelled(2))
            }
            Scenario::ReadsInProgress => case(
                vec![refuse(500).times(1), refused(), state("pending")],
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
    use wiremock::matchers::{any, body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::vendors::http::USER_AGENT;
    use crate::vendors::testing::{adapter_at, cancel_document};
    use crate::vendors::{CallContext, DocState, Priority, Vendor};

    fn zapsign_at(server: &MockServer) -> std::sync::Arc<dyn Vendor> {
        adapter_at(&CONFORMANCE, &server.uri())
    }

    /// What one refuse answer becomes: its error code, or `None` for a cancel.
    async fn code_of(status: u16, body: Value) -> Option<ErrorCode> {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let reply = cancel_document(zapsign_at(&server).as_ref(), &CONFORMANCE).await;
        reply.expect("a definite answer").outcome.error_code()
    }

    #[tokio::test]
    async fn a_refuse_posts_the_token_with_the_bearer_token_user_agent_and_request_id() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/refuse/"))
            .and(header(
                "authorization",
                format!("Bearer {API_TOKEN}").as_str(),
            ))
            .and(header("user-agent", USER_AGENT))
            .and(header("x-request-id", "t"))
            .and(body_json(json!({
                "doc_token": DOCUMENT, "rejected_reason": "m", "notify_signer": true,
            })))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;

        let reply = cancel_document(zapsign_at(&server).as_ref(), &CONFORMANCE).await;

        assert_eq!(reply.expect("an answer").outcome.error_code(), None);
    }

    #[tokio::test]
    async fn a_status_read_gets_the_document_by_token_with_the_bearer_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/docs/{DOCUMENT}/").as_str()))
            .and(header(
                "authorization",
                format!("Bearer {API_TOKEN}").as_str(),
            ))
            .and(header("x-request-id", "t"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "refused"})))
            .expect(1)
            .mount(&server)
            .await;
        let ctx = CallContext {
            request_id: "t",
            deadline: Instant::now() + Duration::from_secs(10),
            priority: Priority::Interactive,
        };

        let state = zapsign_at(&server).status(DOCUMENT, &ctx).await;

        assert_eq!(state, Ok(DocState::Cancelled));
    }

    #[tokio::test]
    async fn documented_codes_are_read_in_every_body_shape_zapsign_uses() {
        use ErrorCode as E;
        for (body, expected) in [
            (
                json!({"detail": "document_already_refused"}),
                E::AlreadyCancelled,
            ),
            (
                json!({"message": "document_already_signed"}),
                E::AlreadySigned,
            ),
            (
                json!({"error_code": "refuse_not_allowed"}),
                E::NotCancellable,
            ),
            (
                json!({"error": ["document_already_signed"]}),
                E::AlreadySigned,
            ),
        ] {
            assert_eq!(code_of(403, body.clone()).await, Some(expected), "{body}");
        }
    }

    #[tokio::test]
    async fn a_402_is_a_credentials_failure_not_a_bad_response() {
        let code = code_of(402, json!({"detail": "Payment required"})).await;

        assert_eq!(code, Some(ErrorCode::VendorAuthFailed));
    }

    #[tokio::test]
    async fn an_auco_style_refusal_is_still_a_cancel_for_zapsign() {
        let auco_refusal = json!({"success": 0, "errors": {"cant": 1, "documents": [DOCUMENT]}});

        assert_eq!(code_of(200, auco_refusal).await, None);
    }
}
