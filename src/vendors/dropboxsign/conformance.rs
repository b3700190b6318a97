//! Dropbox Sign's side of the conformance suite (test support): what Dropbox Sign's API v3
//! answers in each `Scenario`, in its own dialect, and what signgate must make of it. A cancel
//! is only queued (an empty `200`); refusals are `{"error": {"error_msg", "error_name"}}`; a
//! `400` is explained by the status read `GET /signature_request/{id}`, which answers `410` once
//! the request is cancelled. Docs:
//! <https://developers.hellosign.com/api/reference/operation/signatureRequestCancel/>.

use std::time::Duration;

use serde_json::{json, Value};

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The API key test gateways send as Dropbox Sign's Basic user name.
pub const API_KEY: &str = "dbx-test-key-0005";
/// Dropbox Sign's path prefix under the mock's root.
pub const BASE_PATH: &str = "/v3";

/// Dropbox Sign in the conformance suite.
#[derive(Debug)]
pub struct DropboxSignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: DropboxSignConformance = DropboxSignConformance;

const DOCUMENT: &str = "fa5c8a0b0f492d768749333ad6fcc214c111e9c0";

fn cancel(status: u16) -> MockAnswer {
    MockAnswer::new(
        "POST",
        format!("{BASE_PATH}/signature_request/cancel/{DOCUMENT}"),
        status,
    )
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new(
        "GET",
        format!("{BASE_PATH}/signature_request/{DOCUMENT}"),
        status,
    )
}

/// The documented error body.
fn error(name: &str, message: &str) -> Value {
    json!({"error": {"error_msg": message, "error_name": name}})
}

/// The empty `200` of a queued cancel, with the rate-limit headers Dropbox Sign sends.
fn queued() -> MockAnswer {
    cancel(200)
        .header("X-RateLimit-Limit", "100")
        .header("X-RateLimit-Remaining", "99")
}

fn bad_request() -> MockAnswer {
    cancel(400).json(error("bad_request", "This request cannot be canceled."))
}

/// A status read of the sample request with these flags.
fn state(is_complete: bool, is_declined: bool) -> MockAnswer {
    read(200).json(json!({"signature_request": {
        "signature_request_id": DOCUMENT,
        "is_complete": is_complete,
        "is_declined": is_declined,
        "has_error": false,
        "expires_at": null,
    }}))
}

fn deleted(answer: MockAnswer) -> MockAnswer {
    answer.json(error("deleted", "This resource has been deleted."))
}

fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    Case { answers, expected }
}

impl Conformance for DropboxSignConformance {
    fn name(&self) -> &'static str {
        "dropboxsign"
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
            // An empty 200 queues the cancel: reported cancelled, `"queued": true`.
            Scenario::Cancelled => case(vec![queued()], Expected::queued(1)),
            Scenario::AlreadyCancelled => case(
                vec![deleted(cancel(410))],
                Expected::failed(E::AlreadyCancelled, 1),
            ),
            // A 400 says no more than "bad request": the status read says signed.
            Scenario::Signed => case(
                vec![bad_request(), state(true, false)],
                Expected::failed(E::AlreadySigned, 2),
            ),
            Scenario::NotFound => case(
                vec![cancel(404).json(error("not_found", "Not found."))],
                Expected::failed(E::NotFound, 1),
            ),
            // A 400 for a request still in progress stays a refusal.
            Scenario::Invalid => case(
                vec![bad_request(), state(false, false)],
                Expected::failed(E::VendorRefused, 2),
            ),
            Scenario::Unauthorized => case(
                vec![cancel(401).json(error(
                    "unauthorized",
                    "Unauthorized user. No credentials supplied.",
                ))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::Forbidden => case(
                vec![cancel(403).json(error(
                    "forbidden",
                    "A paid API plan is required to access this endpoint.",
                ))],
                Expected::failed(E::VendorAuthFailed, 1),
            ),
            Scenario::RateLimited => case(
                vec![
                    cancel(429)
                        .header("Retry-After", "1")
                        .header("X-RateLimit-Limit", "100")
                        .header("X-RateLimit-Remaining", "0")
                        .json(error("exceeded_rate", "Too many requests."))
                        .times(1),
                    queued(),
                ],
                Expected::queued(2).not_before(Duration::from_secs(1)),
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
            // Dropbox Sign documents an empty body for a queued cancel: any 2xx queues it.
            Scenario::Garbage => case(vec![cancel(200).text("\u{0}garbage")], Expected::queued(1)),
            Scenario::Html => case(
                vec![cancel(200).text("<html>ok</html>")],
                Expected::queued(1),
            ),
            Scenario::Slow => case(
                vec![queued().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 2),
            ),
            Scenario::Refused => case(Vec::new(), Expected::failed(E::VendorUnavailable, 0)),
            // The read answers 410: the cancel took effect, so it is done, not queued.
            Scenario::ReadsCancelled => case(
                vec![cancel(500), deleted(read(410))],
                Expected::cancelled(2),
            ),
            Scenario::ReadsInProgress => case(
                vec![cancel(500).times(1), queued(), state(false, false)],
                Expected::queued(3),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde_json::json;
    use tokio::time::Instant;
    use wiremock::matchers::{any, body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::model::Outcome;
    use crate::vendors::policy::{Details, Policy, Start};
    use crate::vendors::testing::{adapter_at, cancel_document};
    use crate::vendors::{CallContext, DocState, Priority, UpstreamError, Vendor};

    /// `Basic base64("dbx-test-key-0005:")`: the key as user name, an empty password.
    const BASIC: &str = "Basic ZGJ4LXRlc3Qta2V5LTAwMDU6";

    fn dropboxsign_at(server: &MockServer) -> Arc<dyn Vendor> {
        adapter_at(&CONFORMANCE, &server.uri())
    }

    fn ctx() -> CallContext<'static> {
        CallContext {
            request_id: "t",
            deadline: Instant::now() + Duration::from_secs(10),
            priority: Priority::Interactive,
        }
    }

    fn cancel_path() -> String {
        format!("/v3/signature_request/cancel/{DOCUMENT}")
    }

    fn read_path() -> String {
        format!("/v3/signature_request/{DOCUMENT}")
    }

    /// One cancel through the retry policy (reconciliation and refusal reads included).
    async fn through_policy(server: &MockServer) -> Outcome {
        let policy = Policy::new("dropboxsign", dropboxsign_at(server), 3);
        let details = Details {
            message: "m",
            email: "a@b.co",
            notify_signers: true,
            ctx: ctx(),
        };
        let codes = [DOCUMENT.to_owned()];
        let mut settled = policy.cancel(&codes, &details, Start::Fresh).await;
        settled.remove(0).outcome
    }

    async fn mount_read(server: &MockServer, template: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(read_path().as_str()))
            .respond_with(template)
            .mount(server)
            .await;
    }

    fn flags(is_complete: bool, is_declined: bool) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"signature_request": {
            "is_complete": is_complete, "is_declined": is_declined, "has_error": false,
            "expires_at": null,
        }}))
    }

    #[tokio::test]
    async fn a_cancel_posts_no_body_with_the_key_as_basic_user_and_the_request_id() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(cancel_path().as_str()))
            .and(header("authorization", BASIC))
            .and(header("x-request-id", "t"))
            .and(body_string(""))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;

        let reply = cancel_document(dropboxsign_at(&server).as_ref(), &CONFORMANCE).await;

        assert_eq!(reply.expect("an answer").outcome, Outcome::Queued);
    }

    #[tokio::test]
    async fn a_status_read_gets_the_request_by_id_with_the_key() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(read_path().as_str()))
            .and(header("authorization", BASIC))
            .and(header("x-request-id", "t"))
            .respond_with(
                ResponseTemplate::new(410)
                    .set_body_json(error("deleted", "This resource has been deleted.")),
            )
            .expect(1)
            .mount(&server)
            .await;

        let state = dropboxsign_at(&server).status(DOCUMENT, &ctx()).await;

        assert_eq!(state, Ok(DocState::Cancelled));
    }

    #[tokio::test]
    async fn a_status_read_past_expires_at_is_closed() {
        let server = MockServer::start().await;
        mount_read(
            &server,
            ResponseTemplate::new(200).set_body_json(json!({"signature_request": {
                "is_complete": false, "is_declined": false, "has_error": false,
                "expires_at": 1_000_000_000,
            }})),
        )
        .await;

        let state = dropboxsign_at(&server).status(DOCUMENT, &ctx()).await;

        assert_eq!(state, Ok(DocState::Closed));
    }

    #[tokio::test]
    async fn a_conflict_reads_the_status_and_a_gone_request_is_ours() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(409).set_body_json(error(
                "conflict",
                "An identical request is already being processed.",
            )))
            .expect(1)
            .mount(&server)
            .await;
        mount_read(
            &server,
            ResponseTemplate::new(410).set_body_json(error("deleted", "gone")),
        )
        .await;

        let outcome = through_policy(&server).await;

        assert_eq!(outcome, Outcome::Cancelled);
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    }

    #[tokio::test]
    async fn a_conflict_then_a_request_in_progress_is_sent_again_and_queued() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(409).set_body_json(error("conflict", "identical request")),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        mount_read(&server, flags(false, false)).await;

        let outcome = through_policy(&server).await;

        assert_eq!(outcome, Outcome::Queued);
    }

    #[tokio::test]
    async fn a_bad_request_is_split_by_the_status_read() {
        use ErrorCode as E;
        for (read, want) in [
            (flags(true, false), E::AlreadySigned),
            (flags(false, true), E::NotCancellable),
            (flags(false, false), E::VendorRefused),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(400)
                        .set_body_json(error("bad_request", "cannot be canceled")),
                )
                .mount(&server)
                .await;
            mount_read(&server, read).await;

            let outcome = through_policy(&server).await;

            assert_eq!(outcome.error_code(), Some(want));
            assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
        }
    }

    #[tokio::test]
    async fn every_documented_error_name_gets_its_code_without_a_status_read() {
        use ErrorCode as E;
        for (status, name, want) in [
            (401, "unauthorized", E::VendorAuthFailed),
            (402, "payment_required", E::VendorAuthFailed),
            (403, "forbidden", E::VendorAuthFailed),
            (404, "not_found", E::NotFound),
            (410, "deleted", E::AlreadyCancelled),
        ] {
            let server = MockServer::start().await;
            Mock::given(any())
                .respond_with(ResponseTemplate::new(status).set_body_json(error(name, "m")))
                .mount(&server)
                .await;

            let outcome = through_policy(&server).await;

            assert_eq!(outcome.error_code(), Some(want), "{status} {name}");
            assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
        }
    }

    #[tokio::test]
    async fn a_429_waits_until_the_rate_limit_reset() {
        let server = MockServer::start().await;
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("X-RateLimit-Limit", "100")
                    .insert_header("X-RateLimit-Remaining", "0")
                    .insert_header("X-Ratelimit-Reset", reset.to_string().as_str())
                    .set_body_json(error("exceeded_rate", "Too many requests.")),
            )
            .mount(&server)
            .await;

        let reply = cancel_document(dropboxsign_at(&server).as_ref(), &CONFORMANCE).await;

        let Err(UpstreamError::RateLimited {
            retry_after: Some(wait),
        }) = reply
        else {
            panic!("a rate limit with a wait: {reply:?}");
        };
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let server = "http://127.0.0.1:1";
        let adapter = adapter_at(&CONFORMANCE, server);
        let printed = format!("{adapter:?}");
        assert!(!printed.contains(API_KEY), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}
