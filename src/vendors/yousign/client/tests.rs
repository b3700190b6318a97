//! The Yousign client's tests: the classification table, the request signgate sends (against
//! wiremock), and refusals settled by the policy's status read.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{any, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::vendors::policy::{Details, Policy, Start};
use crate::vendors::testing::{adapter_at, cancel_document};
use crate::vendors::yousign::conformance::{
    cancel_path, error, read_path, signature_request, API_KEY, CONFORMANCE, DOCUMENT,
};

fn answer(status: u16, body: &str) -> RawAnswer {
    RawAnswer {
        status: StatusCode::from_u16(status).expect("valid status"),
        retry_after: None,
        body: Bytes::from(body.to_owned()),
    }
}

fn code_of(status: u16, body: &str) -> Option<ErrorCode> {
    classify(&answer(status, body), None)
        .expect("a definite answer")
        .outcome
        .error_code()
}

fn yousign_at(server: &MockServer) -> Arc<dyn Vendor> {
    adapter_at(&CONFORMANCE, &server.uri())
}

fn ctx() -> CallContext<'static> {
    CallContext {
        request_id: "t",
        deadline: Instant::now() + Duration::from_secs(10),
        priority: crate::vendors::Priority::Interactive,
    }
}

/// One cancel of the sample request through the retry policy (refusal reads included).
async fn through_policy(server: &MockServer, message: &str) -> Outcome {
    let policy = Policy::new("yousign", yousign_at(server), 3);
    let details = Details {
        message,
        email: "a@b.co",
        notify_signers: true,
        ctx: ctx(),
    };
    let codes = [DOCUMENT.to_owned()];
    let mut settled = policy.cancel(&codes, &details, Start::Fresh).await;
    settled.remove(0).outcome
}

// ---- classification ------------------------------------------------------------------------

#[test]
fn a_validation_error_is_rejected_and_any_other_400_is_a_refusal_for_the_status_read() {
    let validation = r#"{"type":"validation.error","detail":"d","invalid_params":[{"name":"reason","reason":"r"}]}"#;
    assert_eq!(code_of(400, validation), Some(ErrorCode::Rejected));
    let typed = r#"{"type":"parameters_not_valid","detail":"d"}"#;
    assert_eq!(code_of(400, typed), Some(ErrorCode::Rejected));
    let state = r#"{"type":"about:blank","detail":"not ongoing"}"#;
    assert_eq!(code_of(400, state), Some(ErrorCode::VendorRefused));
    assert_eq!(
        code_of(400, "<html></html>"),
        Some(ErrorCode::VendorRefused)
    );
}

#[test]
fn status_first_whatever_the_body_says() {
    let validation = r#"{"type":"validation.error","detail":"d"}"#;
    assert_eq!(code_of(401, validation), Some(ErrorCode::VendorAuthFailed));
    assert_eq!(code_of(403, validation), Some(ErrorCode::VendorAuthFailed));
    assert_eq!(code_of(404, validation), Some(ErrorCode::NotFound));
    assert_eq!(code_of(415, validation), Some(ErrorCode::Rejected));
    assert_eq!(code_of(201, validation), None);
    assert_eq!(code_of(200, ""), None);
}

#[test]
fn a_429_waits_for_retry_after_else_ratelimit_reset_and_5xx_is_the_shared_table() {
    let reset = Some(Duration::from_secs(42));
    let mut limited = answer(429, r#"{"message":"Too Many Requests"}"#);
    assert_eq!(
        classify(&limited, reset),
        Err(UpstreamError::RateLimited { retry_after: reset })
    );
    limited.retry_after = Some(Duration::from_secs(3));
    assert_eq!(
        classify(&limited, reset),
        Err(UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        })
    );
    assert!(matches!(
        classify(&answer(503, ""), None),
        Err(UpstreamError::Server { status: 503, .. })
    ));
}

#[test]
fn every_documented_status_is_read_and_an_unknown_one_is_a_bad_response() {
    use DocState as S;
    let expected = [
        ("ongoing", S::InProgress),
        ("approval", S::InProgress),
        ("done", S::Signed),
        ("canceled", S::Cancelled),
        ("expired", S::Closed),
        ("declined", S::Closed),
        ("rejected", S::Closed),
        ("deleted", S::Closed),
        ("draft", S::Closed),
    ];
    for (status, want) in expected {
        let body = json!({"id": DOCUMENT, "status": status}).to_string();
        assert_eq!(
            classify_status(&answer(200, &body), None),
            Ok(want),
            "{status}"
        );
    }
    let lost = answer(200, r#"{"status":"cancelled"}"#);
    assert_eq!(
        classify_status(&lost, None),
        Err(UpstreamError::BadResponse { status: 200 })
    );
    assert_eq!(classify_status(&answer(404, ""), None), Ok(S::NotFound));
}

#[test]
fn a_message_longer_than_the_custom_note_limit_is_cut_to_500_characters() {
    assert_eq!(custom_note("short"), "short");
    let exact = "é".repeat(CUSTOM_NOTE_MAX_CHARS);
    assert_eq!(custom_note(&exact), exact);
    let long = custom_note(&"é".repeat(2000));
    assert_eq!(long.chars().count(), CUSTOM_NOTE_MAX_CHARS);
    assert!(long.ends_with('…'), "{long}");
}

// ---- on the wire ---------------------------------------------------------------------------

#[tokio::test]
async fn a_cancel_posts_reason_other_and_the_message_with_the_bearer_key_and_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(cancel_path().as_str()))
        .and(header(
            "authorization",
            format!("Bearer {API_KEY}").as_str(),
        ))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(header("x-request-id", "t"))
        .and(body_json(json!({"reason": "other", "custom_note": "m"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(signature_request("canceled")))
        .expect(1)
        .mount(&server)
        .await;

    let reply = cancel_document(yousign_at(&server).as_ref(), &CONFORMANCE).await;

    assert_eq!(reply.expect("an answer").outcome, Outcome::Cancelled);
}

#[tokio::test]
async fn a_long_message_is_sent_cut_to_yousigns_limit() {
    let server = MockServer::start().await;
    let message = "x".repeat(2000);
    let note = format!("{}…", "x".repeat(CUSTOM_NOTE_MAX_CHARS - 1));
    Mock::given(method("POST"))
        .and(body_json(json!({"reason": "other", "custom_note": note})))
        .respond_with(ResponseTemplate::new(201).set_body_json(signature_request("canceled")))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = through_policy(&server, &message).await;

    assert_eq!(outcome, Outcome::Cancelled);
}

#[tokio::test]
async fn a_status_read_gets_the_request_by_id_with_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(read_path().as_str()))
        .and(header(
            "authorization",
            format!("Bearer {API_KEY}").as_str(),
        ))
        .and(header("accept", "application/json"))
        .and(header("x-request-id", "t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(signature_request("approval")))
        .expect(1)
        .mount(&server)
        .await;

    let state = yousign_at(&server).status(DOCUMENT, &ctx()).await;

    assert_eq!(state, Ok(DocState::InProgress));
}

#[tokio::test]
async fn a_refusal_is_split_by_the_status_read_into_every_outcome() {
    use ErrorCode as E;
    let expected = [
        ("canceled", E::AlreadyCancelled),
        ("done", E::AlreadySigned),
        ("expired", E::NotCancellable),
        ("declined", E::NotCancellable),
        ("rejected", E::NotCancellable),
        ("deleted", E::NotCancellable),
        ("draft", E::NotCancellable),
        ("ongoing", E::VendorRefused),
    ];
    for (status, want) in expected {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(error("about:blank", "cannot be canceled")),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(read_path().as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(signature_request(status)))
            .mount(&server)
            .await;

        let outcome = through_policy(&server, "m").await;

        assert_eq!(outcome.error_code(), Some(want), "{status}");
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    }
}

#[tokio::test]
async fn a_429_without_retry_after_waits_for_ratelimit_reset() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("RateLimit-Reset", "37")
                .insert_header("x-ratelimit-remaining-minute", "0")
                .set_body_json(json!({"message": "Too Many Requests"})),
        )
        .mount(&server)
        .await;

    let reply = cancel_document(yousign_at(&server).as_ref(), &CONFORMANCE).await;
    let read = yousign_at(&server).status(DOCUMENT, &ctx()).await;

    let wait = Some(Duration::from_secs(37));
    assert_eq!(reply, Err(UpstreamError::RateLimited { retry_after: wait }));
    assert_eq!(read, Err(UpstreamError::RateLimited { retry_after: wait }));
}

#[test]
fn the_api_key_never_shows_in_debug_output() {
    let adapter = adapter_at(&CONFORMANCE, "http://127.0.0.1:1");
    let printed = format!("{adapter:?}");
    assert!(!printed.contains(API_KEY), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}
