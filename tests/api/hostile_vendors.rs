//! A vendor's answer is input, not an instruction: a redirect is never followed (a `3xx` is
//! `vendor_bad_response`, settled like any ambiguous answer), and absurd waits in its headers
//! (`Retry-After`, `X-RateLimit-Reset`) give a defined outcome, never a panic.

use serde_json::{json, Value};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const ZAPSIGN_TOKEN: &str = "0a1b2c3d-0000-4000-8000-00000000a307";

/// A `307` to `target`'s `/internal/admin`, as a hostile or compromised vendor answers.
fn redirect_to(target: &MockServer) -> ResponseTemplate {
    ResponseTemplate::new(307).insert_header(
        "Location",
        format!("{}/internal/admin?from=vendor", target.uri()).as_str(),
    )
}

/// An internal service that would accept anything with `200 {}`.
async fn internal_service() -> MockServer {
    let internal = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&internal)
        .await;
    internal
}

fn only_result(answer: &Value) -> &Value {
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{answer}");
    &results[0]
}

#[tokio::test]
async fn a_zapsign_cancel_answered_307_is_not_followed_and_not_reported_cancelled() {
    // Arrange
    let app = spawn_app().await;
    let internal = internal_service().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(redirect_to(&internal))
        .expect(1)
        .mount(zapsign)
        .await;
    // The reconciling status read meets the same redirect.
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/docs/{ZAPSIGN_TOKEN}/")))
        .respond_with(redirect_to(&internal))
        .expect(1)
        .mount(zapsign)
        .await;

    // Act
    let answer = app.cancel_ok(&body_for(&[ZAPSIGN_TOKEN])).await;

    // Assert
    let result = only_result(&answer);
    assert_eq!(result["status"], "failed", "{answer}");
    assert_eq!(result["error"]["code"], "vendor_bad_response", "{answer}");
    assert_eq!(result["error"]["retryable"], true);
    let message = result["error"]["message"].as_str().expect("a message");
    assert!(message.contains("unknown"), "{message}");
    let reached = internal.received_requests().await.expect("recording");
    assert!(reached.is_empty(), "the redirect was followed: {reached:?}");
}

/// The largest `u64`: seconds no clock can add.
const ABSURD: &str = "18446744073709551615";
const DROPBOX_ID: &str = "fa5c8a0b0f492d768749333ad6fcc214c111e9c0";

fn dropbox_code() -> String {
    format!("dropboxsign:{DROPBOX_ID}")
}

/// `GET /documents/status` for these codes, with the API key.
async fn status_of(app: &TestApp, codes: &[&str]) -> reqwest::Response {
    let query: Vec<(&str, &str)> = codes.iter().map(|code| ("code", *code)).collect();
    app.client
        .get(app.url("/documents/status"))
        .query(&query)
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("the gateway answers")
}

fn zapsign_429() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", ABSURD)
        .set_body_json(json!({"message": "slow down"}))
}

#[tokio::test]
async fn a_zapsign_429_asking_an_absurd_wait_fails_retryable_after_one_call() {
    // Arrange
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(zapsign_429())
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;

    // Act
    let answer = app.cancel_ok(&body_for(&[ZAPSIGN_TOKEN])).await;

    // Assert: the wait is past the deadline, so nothing is waited nor sent again.
    let result = only_result(&answer);
    assert_eq!(result["error"]["code"], "vendor_rate_limited", "{answer}");
    assert_eq!(result["error"]["retryable"], true);
}

#[tokio::test]
async fn a_zapsign_status_read_429_asking_an_absurd_wait_is_a_per_code_error() {
    // Arrange
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/docs/{ZAPSIGN_TOKEN}/")))
        .respond_with(zapsign_429())
        .mount(app.vendor("zapsign"))
        .await;

    // Act
    let response = status_of(&app, &[ZAPSIGN_TOKEN]).await;

    // Assert
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("a JSON answer");
    assert_eq!(
        only_result(&answer)["error"]["code"],
        "vendor_rate_limited",
        "{answer}"
    );
}

#[tokio::test]
async fn a_dropbox_sign_200_with_an_absurd_rate_limit_reset_is_still_queued() {
    // Arrange
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/signature_request/cancel/{DROPBOX_ID}")))
        .respond_with(ResponseTemplate::new(200).insert_header("X-RateLimit-Reset", ABSURD))
        .expect(1)
        .mount(app.vendor("dropboxsign"))
        .await;

    // Act
    let answer = app.cancel_ok(&body_for(&[&dropbox_code()])).await;

    // Assert
    let result = only_result(&answer);
    assert_eq!(result["status"], "cancelled", "{answer}");
    assert_eq!(result["queued"], true, "{answer}");
}

#[tokio::test]
async fn a_dropbox_sign_status_read_with_an_absurd_reset_and_expiry_is_in_progress() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({"signature_request": {
        "signature_request_id": DROPBOX_ID, "is_complete": false, "is_declined": false,
        "has_error": false, "expires_at": u64::MAX,
    }});
    Mock::given(method("GET"))
        .and(path(format!("/v3/signature_request/{DROPBOX_ID}")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Reset", ABSURD)
                .set_body_json(request),
        )
        .expect(1)
        .mount(app.vendor("dropboxsign"))
        .await;

    // Act
    let code = dropbox_code();
    let response = status_of(&app, &[&code]).await;

    // Assert
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("a JSON answer");
    assert_eq!(only_result(&answer)["state"], "in_progress", "{answer}");
}
