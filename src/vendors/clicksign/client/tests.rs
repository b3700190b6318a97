//! Clicksign's adapter: its classification of every documented answer, its codes, and the
//! exact requests it sends (against wiremock), through the retry policy where a refusal needs
//! a status read.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{any, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::vendors::clicksign::conformance::{
    document, document_path, errors, ACCESS_TOKEN, CONFORMANCE, DOCUMENT_ID, ENVELOPE,
};
use crate::vendors::conformance::Conformance;
use crate::vendors::policy::{Details, Policy, Start};
use crate::vendors::testing::{adapter_at, batch, cancel_document};

fn answer(status: u16, body: &str) -> RawAnswer {
    RawAnswer {
        status: StatusCode::from_u16(status).expect("valid status"),
        retry_after: None,
        body: Bytes::from(body.to_owned()),
    }
}

fn code_of(reply: Reply) -> Option<ErrorCode> {
    reply.expect("a definite answer").outcome.error_code()
}

fn refusal(status: u16) -> RawAnswer {
    answer(
        status,
        &errors(status, "some_code", "some detail").to_string(),
    )
}

fn clicksign_at(server: &MockServer) -> Arc<dyn Vendor> {
    adapter_at(&CONFORMANCE, &server.uri())
}

fn ctx() -> CallContext<'static> {
    CallContext {
        request_id: "t",
        deadline: Instant::now() + Duration::from_secs(10),
        priority: crate::vendors::Priority::Interactive,
    }
}

/// One cancel of `code` through the retry policy (refusal reads included).
async fn through_policy(server: &MockServer, code: &str) -> Outcome {
    let policy = Policy::new("clicksign", clicksign_at(server), 3);
    let details = Details {
        message: "m",
        email: "a@b.co",
        notify_signers: true,
        ctx: ctx(),
    };
    let codes = [code.to_owned()];
    let mut settled = policy.cancel(&codes, &details, Start::Fresh).await;
    settled.remove(0).outcome
}

#[test]
fn every_documented_status_has_its_meaning_whatever_the_body_says() {
    use ErrorCode as E;
    for (status, want) in [
        (400, E::VendorRefused),
        (422, E::VendorRefused),
        (401, E::VendorAuthFailed),
        (403, E::VendorAuthFailed),
        (404, E::NotFound),
    ] {
        assert_eq!(
            code_of(classify(&refusal(status), None)),
            Some(want),
            "{status}"
        );
        assert_eq!(
            code_of(classify(&answer(status, "<html/>"), None)),
            Some(want)
        );
    }
}

#[test]
fn any_2xx_is_the_cancel_whatever_its_body() {
    let canceled = document("canceled").to_string();
    for body in ["", "{}", "<html>ok</html>", canceled.as_str()] {
        let reply = classify(&answer(200, body), None).expect("an answer");
        assert_eq!(reply.outcome, Outcome::Cancelled, "{body:?}");
    }
}

#[test]
fn a_refusal_carries_clicksigns_code_and_detail_without_control_characters() {
    let body = errors(422, "unprocessable_entity", "status não\npode").to_string();

    let reply = classify(&answer(422, &body), None).expect("an answer");

    let Outcome::Failed(failure) = reply.outcome else {
        panic!("a refusal");
    };
    assert_eq!(
        failure.message,
        "Clicksign refused to cancel the document (unprocessable_entity: status nãopode)."
    );
}

#[test]
fn a_5xx_and_an_undocumented_status_go_through_the_shared_table() {
    assert_eq!(
        classify(&refusal(500), None),
        Err(UpstreamError::Server {
            status: 500,
            retry_after: None
        })
    );
    assert_eq!(
        classify(&refusal(409), None),
        Err(UpstreamError::BadResponse { status: 409 })
    );
}

#[test]
fn a_429_waits_for_retry_after_else_for_the_rate_limit_reset() {
    let reset = Some(Duration::from_secs(7));
    assert_eq!(
        classify(&refusal(429), reset),
        Err(UpstreamError::RateLimited { retry_after: reset })
    );
    let mut told = refusal(429);
    told.retry_after = Some(Duration::from_secs(2));
    assert_eq!(
        classify(&told, reset),
        Err(UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(2))
        })
    );
    assert_eq!(
        classify_status(&refusal(429), reset),
        Err(UpstreamError::RateLimited { retry_after: reset })
    );
}

#[test]
fn the_reset_header_is_read_with_clicksigns_spelling_only() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000);
    let mut headers = HeaderMap::new();
    headers.insert("X-RateLimit-Reset", HeaderValue::from_static("1030"));
    assert_eq!(reset_wait(&headers, now), None);
    headers.insert("X-Rate-Limit-Reset", HeaderValue::from_static("1030"));
    assert_eq!(reset_wait(&headers, now), Some(Duration::from_secs(30)));
    headers.insert("X-Rate-Limit-Reset", HeaderValue::from_static("900"));
    assert_eq!(reset_wait(&headers, now), Some(Duration::ZERO));
    headers.insert(
        "X-Rate-Limit-Reset",
        HeaderValue::from_static("18446744073709551615"),
    );
    assert_eq!(reset_wait(&headers, now), Some(http::MAX_VENDOR_WAIT));
}

#[test]
fn every_document_status_is_read_and_an_unknown_one_is_a_bad_response() {
    let read = |status: &str| classify_status(&answer(200, &document(status).to_string()), None);
    assert_eq!(read("running"), Ok(DocState::InProgress));
    assert_eq!(read("canceled"), Ok(DocState::Cancelled));
    assert_eq!(read("closed"), Ok(DocState::Signed));
    assert_eq!(read("draft"), Ok(DocState::Closed));
    assert_eq!(
        read("lost"),
        Err(UpstreamError::BadResponse { status: 200 })
    );
    for body in ["", "{}", r#"{"data": []}"#] {
        assert_eq!(
            classify_status(&answer(200, body), None),
            Err(UpstreamError::BadResponse { status: 200 }),
            "{body:?}"
        );
    }
    assert_eq!(classify_status(&refusal(404), None), Ok(DocState::NotFound));
    assert_eq!(
        classify_status(&refusal(401), None),
        Err(UpstreamError::BadResponse { status: 401 })
    );
}

#[test]
fn a_code_is_two_uuids_in_either_case_and_nothing_else() {
    let upper = "38511AC7-B079-4CA4-8F6A-D2CA00F07714:5B69AB40-D8ED-4F10-B18E-268579646FC0";
    assert!(Code::parse(CONFORMANCE.document()).is_some());
    assert_eq!(
        Code::parse(upper).map(|c| c.document),
        Some("5B69AB40-D8ED-4F10-B18E-268579646FC0")
    );
    let doc = DOCUMENT_ID;
    for bad in [
        "abc".to_owned(),
        ENVELOPE.to_owned(),
        format!("{ENVELOPE}:"),
        format!(":{doc}"),
        format!("{ENVELOPE}:{doc}:{doc}"),
        format!("{ENVELOPE}/{doc}"),
        format!("{ENVELOPE}:{}", doc.replace('-', "")),
        format!("{ENVELOPE}:{}g", &doc[..35]),
        format!("{ENVELOPE}:{doc}0"),
    ] {
        assert_eq!(Code::parse(&bad), None, "{bad}");
    }
}

#[tokio::test]
async fn a_cancel_patches_the_document_status_with_the_bare_token_and_json_api_headers() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(document_path().as_str()))
        .and(header("authorization", ACCESS_TOKEN))
        .and(header("content-type", JSON_API))
        .and(header("accept", JSON_API))
        .and(header("x-request-id", "t"))
        .and(body_json(json!({"data": {
            "id": DOCUMENT_ID, "type": "documents", "attributes": {"status": "canceled"}
        }})))
        .respond_with(ResponseTemplate::new(200).set_body_json(document("canceled")))
        .expect(1)
        .mount(&server)
        .await;

    let reply = cancel_document(clicksign_at(&server).as_ref(), &CONFORMANCE).await;

    assert_eq!(reply.expect("an answer").outcome, Outcome::Cancelled);
}

#[tokio::test]
async fn a_status_read_gets_the_document_inside_its_envelope_with_the_bare_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(document_path().as_str()))
        .and(header("authorization", ACCESS_TOKEN))
        .and(header("accept", JSON_API))
        .and(header("x-request-id", "t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(document("closed")))
        .expect(1)
        .mount(&server)
        .await;

    let state = clicksign_at(&server)
        .status(CONFORMANCE.document(), &ctx())
        .await;

    assert_eq!(state, Ok(DocState::Signed));
}

#[tokio::test]
async fn a_malformed_code_is_rejected_and_read_as_unknown_without_any_call() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let adapter = clicksign_at(&server);
    let codes = ["abc".to_owned(), format!("{ENVELOPE}:nope")];

    let replies = adapter.cancel(&batch(&codes, ctx().deadline)).await;

    for reply in replies {
        assert_eq!(code_of(reply), Some(ErrorCode::Rejected));
    }
    assert_eq!(adapter.status("abc", &ctx()).await, Ok(DocState::NotFound));
}

#[tokio::test]
async fn a_refusal_is_settled_by_the_status_read() {
    use ErrorCode as E;
    for (status, want) in [
        ("canceled", E::AlreadyCancelled),
        ("closed", E::AlreadySigned),
        ("draft", E::NotCancellable),
        ("running", E::VendorRefused),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("PATCH"))
            .respond_with(ResponseTemplate::new(422).set_body_json(errors(
                422,
                "unprocessable_entity",
                "status inválido",
            )))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(document(status)))
            .mount(&server)
            .await;

        let outcome = through_policy(&server, CONFORMANCE.document()).await;

        assert_eq!(outcome.error_code(), Some(want), "{status}");
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    }
}

#[tokio::test]
async fn a_429_waits_until_the_rate_limit_reset() {
    let server = MockServer::start().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let reset = now.as_secs() + 9;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-Rate-Limit", "50")
                .insert_header("X-Rate-Limit-Remaining", "0")
                .insert_header("X-Rate-Limit-Reset", reset.to_string().as_str())
                .set_body_json(errors(429, "too_many_requests", "Too Many Requests")),
        )
        .mount(&server)
        .await;

    let reply = cancel_document(clicksign_at(&server).as_ref(), &CONFORMANCE).await;

    let Err(UpstreamError::RateLimited {
        retry_after: Some(wait),
    }) = reply
    else {
        panic!("a rate limit with a wait: {reply:?}");
    };
    assert!(
        wait > Duration::from_secs(5) && wait <= Duration::from_secs(9),
        "{wait:?}"
    );
}

#[test]
fn the_access_token_never_shows_in_debug_output() {
    let adapter = adapter_at(&CONFORMANCE, "http://127.0.0.1:1");

    let printed = format!("{adapter:?}");

    assert!(!printed.contains(ACCESS_TOKEN), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}
